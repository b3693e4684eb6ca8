/* epoll-registered — what an fd's registration in an epoll set costs each
 * write that wakes it, with nobody in epoll_wait: the kernel then runs the
 * set's wakeup callback on every write. That is the floor under a guest
 * (the GLib guest's fds, GLib's own wakeup eventfd among them, sit in the
 * loop's epoll set) against its native loop, whose poll(2) registers its fds
 * only while it waits. Prints, best of 5 runs of N operations each:
 *
 *   epoll_registered.socket_write_read{,_plain} ns/op   1 byte over a socketpair
 *   epoll_registered.eventfd_write{,_plain} ns/op       one eventfd write (and a
 *                                                       read every second one)
 *
 * `_plain`: the same without the registration. Not a loom measurement: no
 * loom code runs. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RUNS 5

static void die(const char *what)
{
    fprintf(stderr, "epoll-registered: %s: %s\n", what, strerror(errno));
    exit(1);
}

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static double socket_round(int sv[2], long n)
{
    char c = 'x';
    double t0 = now_ns();
    for (long i = 0; i < n; i++)
        if (write(sv[0], &c, 1) != 1 || read(sv[1], &c, 1) != 1)
            die("socketpair write/read");
    return (now_ns() - t0) / (double)n;
}

static double eventfd_round(int efd, long n)
{
    uint64_t one = 1, v;
    double t0 = now_ns();
    for (long i = 0; i < n; i += 2)
        if (write(efd, &one, sizeof(one)) != sizeof(one) || write(efd, &one, sizeof(one)) != sizeof(one) ||
            read(efd, &v, sizeof(v)) != sizeof(v))
            die("eventfd write/read");
    return (now_ns() - t0) / (double)n;
}

/* Best of RUNS, with or without the fds in an epoll set. */
static void measure(int registered, long n, double *sock, double *evfd)
{
    int sv[2], efd = eventfd(0, EFD_CLOEXEC), ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN};

    if (efd < 0 || ep < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        die("setup");
    if (registered && (epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev) < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) < 0))
        die("epoll_ctl");
    *sock = *evfd = 1e30;
    for (int r = 0; r < RUNS; r++) {
        double s = socket_round(sv, n), e = eventfd_round(efd, n);
        *sock = s < *sock ? s : *sock;
        *evfd = e < *evfd ? e : *evfd;
    }
    close(sv[0]);
    close(sv[1]);
    close(efd);
    close(ep);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
    double sock[2], evfd[2];

    if (n < 2)
        n = 2;
    measure(0, n, &sock[0], &evfd[0]);
    measure(1, n, &sock[1], &evfd[1]);
    printf("# epoll-registered (no loom code: the kernel's cost of an epoll registration per wakeup)\n");
    printf("epoll_registered.socket_write_read %.1f ns/op\n", sock[1]);
    printf("epoll_registered.socket_write_read_plain %.1f ns/op\n", sock[0]);
    printf("epoll_registered.eventfd_write %.1f ns/op\n", evfd[1]);
    printf("epoll_registered.eventfd_write_plain %.1f ns/op\n", evfd[0]);
    return 0;
}
