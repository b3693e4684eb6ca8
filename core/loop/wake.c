/* A wakeup fd for backends without a native thread-safe wakeup: an eventfd
 * where there is one, else a non-blocking pipe. fds[0] is watched for
 * reading, fds[1] written to. */
#include "config.h"
#include <fcntl.h>
#include <unistd.h>
#ifdef HAVE_SYS_EVENTFD_H
#include <sys/eventfd.h>
#endif
#include "loop-private.h"

int loom__wake_open(int fds[2])
{
#ifdef HAVE_SYS_EVENTFD_H
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0)
        return -errno;
    fds[0] = fds[1] = fd;
#else
    if (pipe(fds) < 0)
        return -errno;
    for (int i = 0; i < 2; i++) {
        fcntl(fds[i], F_SETFD, FD_CLOEXEC);
        fcntl(fds[i], F_SETFL, O_NONBLOCK);
    }
#endif
    return 0;
}

void loom__wake_signal(const int fds[2])
{
    uint64_t one = 1;
    /* EAGAIN means the counter is saturated or the pipe full: already awake. */
    ssize_t r = write(fds[1], &one, fds[0] == fds[1] ? sizeof(one) : 1);
    (void)r;
}

void loom__wake_drain(const int fds[2])
{
    uint64_t buf[16];
    while (read(fds[0], buf, fds[0] == fds[1] ? sizeof(buf[0]) : sizeof(buf)) > 0 && fds[0] != fds[1])
        ;
}

void loom__wake_close(int fds[2])
{
    close(fds[0]);
    if (fds[1] != fds[0])
        close(fds[1]);
    fds[0] = fds[1] = -1;
}
