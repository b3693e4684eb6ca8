/* echo-server on a hand-written epoll loop: the floor. One read per readable
 * event into a shared buffer, written straight back; a short write keeps the
 * rest and waits for EPOLLOUT instead of reading more. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench-util.h"
#include "echo-server.h"

struct conn {
    int fd;
    char *pending; /* unwritten echo, owned; NULL when all was written */
    size_t len, off;
};

static char scratch[ECHO_READ_SIZE];

static void set_interest(int ep, struct conn *c, uint32_t events, int op)
{
    struct epoll_event ev = { .events = events, .data.ptr = c };
    if (epoll_ctl(ep, op, c->fd, &ev) < 0)
        bench_die(errno, "epoll_ctl");
}

static void conn_close(struct conn *c)
{
    close(c->fd); /* also leaves the epoll set */
    free(c->pending);
    free(c);
}

static void accept_all(int ep, int lfd)
{
    int fd;
    while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        struct conn *c = calloc(1, sizeof *c);
        if (!c)
            bench_die(ENOMEM, "accept");
        c->fd = fd;
        echo_set_nodelay(fd);
        set_interest(ep, c, EPOLLIN, EPOLL_CTL_ADD);
    }
    if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
        bench_die(errno, "accept4");
}

/* Writes buf; keeps what the kernel did not take. false: the peer is gone. */
static bool echo_write(int ep, struct conn *c, const char *buf, size_t len)
{
    ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN)
        return false;
    size_t done = n < 0 ? 0 : (size_t)n;
    if (done == len)
        return true;
    if (!(c->pending = malloc(len - done)))
        bench_die(ENOMEM, "echo");
    memcpy(c->pending, buf + done, len - done);
    c->len = len - done;
    c->off = 0;
    set_interest(ep, c, EPOLLOUT, EPOLL_CTL_MOD);
    return true;
}

static bool on_readable(int ep, struct conn *c)
{
    ssize_t n = read(c->fd, scratch, sizeof scratch);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR;
    return n > 0 && echo_write(ep, c, scratch, (size_t)n);
}

static bool on_writable(int ep, struct conn *c)
{
    ssize_t n = send(c->fd, c->pending + c->off, c->len - c->off, MSG_NOSIGNAL);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR;
    c->off += (size_t)n;
    if (c->off == c->len) {
        free(c->pending);
        c->pending = NULL;
        set_interest(ep, c, EPOLLIN, EPOLL_CTL_MOD);
    }
    return true;
}

int echo_run_raw_epoll(uint16_t port, const char *backend)
{
    struct conn listener = { .fd = echo_listen_socket(port) };
    struct epoll_event evs[256];
    int ep = epoll_create1(EPOLL_CLOEXEC);

    if (ep < 0)
        return -errno;
    set_interest(ep, &listener, EPOLLIN, EPOLL_CTL_ADD);
    echo_server_ready();
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0 && errno != EINTR)
            return -errno;
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c == &listener)
                accept_all(ep, listener.fd);
            else if (!(c->pending ? on_writable(ep, c) : on_readable(ep, c)))
                conn_close(c);
        }
    }
}
