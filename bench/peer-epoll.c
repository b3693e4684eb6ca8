/* peer-bench — a hand-written epoll loop: the floor for fd readiness and
 * cross-thread wakeups (epoll_wait + read/write, nothing else). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
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

/* --- conns_roundtrip: the connection's index and side in each event -------- */

static void run_conns(const bench_conns *c, int ep)
{
    int *trip = calloc((size_t)c->n, sizeof(*trip));
    struct epoll_event evs[256];
    int left = c->n;

    if (!trip)
        bench_die(ENOMEM, "conns");
    for (int i = 0; i < c->n; i++)
        bench_write_char(c->sv[i][0], bench_conn_byte(i, 0));
    while (left) {
        int ready = epoll_wait_some(ep, evs, 256);
        for (int e = 0; e < ready; e++) {
            int i = (int)(evs[e].data.u64 >> 1);
            int fd = c->sv[i][evs[e].data.u64 & 1];
            char got = bench_read_char(fd);
            if (evs[e].data.u64 & 1) { /* the echo side */
                bench_write_char(fd, got);
                continue;
            }
            bench_conn_check(i, trip[i], got);
            if (++trip[i] < BENCH_CONN_TRIPS)
                bench_write_char(fd, bench_conn_byte(i, trip[i]));
            else
                left--;
        }
    }
    free(trip);
}

static void measure_conns(void)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    bench_conns c;

    if (ep < 0)
        bench_die(errno, "epoll_create1");
    bench_conns_open(&c);
    for (int i = 0; i < c.n; i++)
        for (int side = 0; side < 2; side++) {
            struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)i << 1 | (uint64_t)side };
            if (epoll_ctl(ep, EPOLL_CTL_ADD, c.sv[i][side], &ev) < 0)
                bench_die(errno, "epoll_ctl");
        }
    int64_t start = bench_now_ns();
    run_conns(&c, ep);
    bench_conns_report(PEER, &c, bench_now_ns() - start);
    bench_conns_close(&c);
    close(ep);
}

/* --- watch_churn: EPOLL_CTL_ADD + DEL beside quiet watches -------------------- */

struct churn {
    int ep, fd;
};

static void run_churn(void *ctx, uint64_t n)
{
    struct churn *c = ctx;
    for (uint64_t i = 0; i < n; i++) {
        epoll_watch(c->ep, c->fd);
        if (epoll_ctl(c->ep, EPOLL_CTL_DEL, c->fd, NULL) < 0)
            bench_die(errno, "epoll_ctl");
    }
}

static void measure_churn(const char *name, int background)
{
    int *quiet = bench_quiet_fds(background + 1);
    struct churn c = { epoll_create1(EPOLL_CLOEXEC), quiet[background] };

    if (c.ep < 0)
        bench_die(errno, "epoll_create1");
    for (int i = 0; i < background; i++)
        epoll_watch(c.ep, quiet[i]);
    bench_measure(PEER, name, "ns/op", 1, run_churn, &c);
    close(c.ep);
    bench_quiet_fds_close(quiet, background + 1);
}

/* --- flood_timer_lateness: a lock-free stack of calls, an eventfd, a timerfd ---
 *
 * The hand-rolled idiom: each thread pushes a malloc'd call and writes the
 * eventfd when the stack was empty; the loop takes the whole stack at once.
 * Its lateness is mostly the scheduler's: nine busy threads on the CPUs. */

struct flood_call {
    struct flood_call *next;
};

struct flood_peer {
    _Atomic(struct flood_call *) head;
    int efd;
};

static void *flood_send(void *data)
{
    struct flood_peer *f = data;
    for (int i = 0; i < BENCH_FLOOD_CALLS / BENCH_FLOOD_THREADS; i++) {
        struct flood_call *c = malloc(sizeof *c);
        uint64_t one = 1;

        if (!c)
            bench_die(ENOMEM, "flood");
        c->next = atomic_load_explicit(&f->head, memory_order_relaxed);
        while (!atomic_compare_exchange_weak_explicit(&f->head, &c->next, c, memory_order_release,
                                                      memory_order_relaxed))
            ;
        if (!c->next && write(f->efd, &one, sizeof one) != sizeof one)
            bench_die(errno, "eventfd write");
    }
    return NULL;
}

static void flood_arm(int tfd, int64_t *due)
{
    struct itimerspec in = { .it_value = { 0, BENCH_FLOOD_TIMER_NS } };

    *due = bench_now_ns() + BENCH_FLOOD_TIMER_NS;
    if (timerfd_settime(tfd, 0, &in, NULL) < 0)
        bench_die(errno, "timerfd_settime");
}

static void measure_flood(void)
{
    struct flood_peer f = { .efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) };
    int ep = epoll_create1(EPOLL_CLOEXEC), tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    pthread_t threads[BENCH_FLOOD_THREADS];
    int64_t due, worst = 0;
    long delivered = 0;

    if (ep < 0 || tfd < 0 || f.efd < 0)
        bench_die(errno, "epoll_create1/timerfd/eventfd");
    epoll_watch(ep, f.efd);
    epoll_watch(ep, tfd);
    flood_arm(tfd, &due);
    for (int i = 0; i < BENCH_FLOOD_THREADS; i++)
        if (pthread_create(&threads[i], NULL, flood_send, &f) != 0)
            bench_die(0, "pthread_create");
    while (delivered < BENCH_FLOOD_CALLS) {
        struct epoll_event evs[2];
        int ready = epoll_wait_some(ep, evs, 2);
        uint64_t count;

        for (int i = 0; i < ready; i++) {
            if (read(evs[i].data.fd, &count, sizeof count) != sizeof count)
                bench_die(errno, "eventfd/timerfd read");
            if (evs[i].data.fd == tfd) {
                int64_t late = bench_now_ns() - due;
                worst = late > worst ? late : worst;
                flood_arm(tfd, &due);
                continue;
            }
            for (struct flood_call *c = atomic_exchange(&f.head, NULL), *next; c; c = next) {
                next = c->next;
                free(c);
                delivered++;
            }
        }
    }
    for (int i = 0; i < BENCH_FLOOD_THREADS; i++)
        pthread_join(threads[i], NULL);
    printf(PEER ".flood_timer_lateness %.3f ms\n", (double)worst / 1e6);
    fflush(stdout);
    close(tfd);
    close(f.efd);
    close(ep);
}

void peer_raw_epoll(void)
{
    measure_pingpong();
    measure_threadsafe();
    measure_churn("watch_churn_10", BENCH_FEW_WATCHES);
    measure_churn("watch_churn_10k", BENCH_MANY_WATCHES);
    measure_conns();
    measure_flood();
}
