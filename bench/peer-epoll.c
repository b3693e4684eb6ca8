/* peer-bench — a hand-written epoll loop: the floor for fd readiness and
 * cross-thread wakeups (epoll_wait + read/write, nothing else). */
#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bench-util.h"
#include "peers.h"

#define PEER "raw_epoll"

static void epoll_watch(int ep, int fd)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
        bench_die(errno, "epoll_ctl");
}

static int epoll_wait_some(int ep, struct epoll_event *evs, int max)
{
    int n = epoll_wait(ep, evs, max, -1);
    if (n < 0 && errno != EINTR)
        bench_die(errno, "epoll_wait");
    return n < 0 ? 0 : n;
}

/* --- fd_pingpong ------------------------------------------------------------- */

struct pingpong {
    int ep;
    int sv[2];
};

static void run_pingpong(void *ctx, uint64_t n)
{
    struct pingpong *p = ctx;
    struct epoll_event evs[2];
    uint64_t left = n;

    bench_write_byte(p->sv[0]);
    while (left) {
        int ready = epoll_wait_some(p->ep, evs, 2);
        for (int i = 0; i < ready && left; i++) {
            int fd = evs[i].data.fd;
            bench_read_byte(fd);
            /* sv[0] getting the echo back completes a round trip. */
            if (fd != p->sv[0] || --left)
                bench_write_byte(fd);
        }
    }
}

static void measure_pingpong(void)
{
    struct pingpong p = { .ep = epoll_create1(EPOLL_CLOEXEC) };

    if (p.ep < 0)
        bench_die(errno, "epoll_create1");
    bench_socketpair(p.sv);
    epoll_watch(p.ep, p.sv[0]);
    epoll_watch(p.ep, p.sv[1]);
    bench_measure(PEER, "fd_pingpong", "ns/roundtrip", 1, run_pingpong, &p);
    close(p.sv[0]);
    close(p.sv[1]);
    close(p.ep);
}

/* --- threadsafe_roundtrip: the thread writes an eventfd the loop polls ------- */

struct threadsafe_peer {
    int ep, efd;
    bench_roundtrip rt;
};

static void threadsafe_send(void *peer)
{
    struct threadsafe_peer *p = peer;
    uint64_t one = 1;
    if (write(p->efd, &one, sizeof one) != sizeof one)
        bench_die(errno, "eventfd write");
}

static void threadsafe_run(void *peer)
{
    struct threadsafe_peer *p = peer;
    struct epoll_event ev;
    uint64_t count;
    bool last = false;

    while (!last) {
        if (epoll_wait_some(p->ep, &ev, 1) == 0)
            continue;
        if (read(p->efd, &count, sizeof count) != sizeof count)
            bench_die(errno, "eventfd read");
        last = bench_roundtrip_reply(&p->rt);
    }
}

static void measure_threadsafe(void)
{
    struct threadsafe_peer p = {
        .ep = epoll_create1(EPOLL_CLOEXEC),
        .efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK),
        .rt = { .send = threadsafe_send, .run = threadsafe_run, .peer = &p },
    };

    if (p.ep < 0 || p.efd < 0)
        bench_die(errno, "epoll_create1/eventfd");
    epoll_watch(p.ep, p.efd);
    bench_roundtrip_measure(PEER, &p.rt);
    close(p.efd);
    close(p.ep);
}

void peer_raw_epoll(void)
{
    measure_pingpong();
    measure_threadsafe();
}
