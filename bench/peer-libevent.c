/* peer-bench — libevent 2.1, with its own idioms:
 *   call_soon_chain / call_soon_batch: event_base_once with no timeout, which
 *     libevent activates at once ("one idiom for scheduling a callback");
 *     note it runs callbacks activated by a callback in the same iteration;
 *   timer_add_cancel: evtimer_new + evtimer_add, cancelled with event_free;
 *   fd_pingpong: EV_READ|EV_PERSIST events on the socketpair;
 *   threadsafe_roundtrip: event_active from the other thread, on a base made
 *     after evthread_use_pthreads (the other metrics use a base without locks,
 *     as a single-threaded libevent program would). */
#include <event2/event.h>
#include <event2/thread.h>
#include <unistd.h>

#include "bench-util.h"
#include "peers.h"

#define PEER "libevent"

static struct event_base *new_base(void)
{
    struct event_base *base = event_base_new();
    if (!base)
        bench_die(0, "event_base_new failed");
    return base;
}

static void schedule_once(struct event_base *base, event_callback_fn cb, void *arg)
{
    if (event_base_once(base, -1, EV_TIMEOUT, cb, arg, NULL) < 0)
        bench_die(0, "event_base_once failed");
}

/* --- call_soon_chain ----------------------------------------------------------- */

struct chain {
    struct event_base *base;
    uint64_t left;
};

static void chain_step(evutil_socket_t fd, short what, void *arg)
{
    struct chain *c = arg;
    if (--c->left)
        schedule_once(c->base, chain_step, c);
}

static void run_chain(void *ctx, uint64_t n)
{
    struct chain c = { .base = ctx, .left = n };
    schedule_once(c.base, chain_step, &c);
    event_base_dispatch(c.base); /* returns once nothing is scheduled */
}

/* --- call_soon_batch ----------------------------------------------------------- */

static void count_call(evutil_socket_t fd, short what, void *arg)
{
    ++*(uint64_t *)arg;
}

static void run_batch(void *ctx, uint64_t n)
{
    struct event_base *base = ctx;
    for (uint64_t round = 0; round < n; round++) {
        uint64_t ran = 0;
        for (unsigned i = 0; i < BENCH_BATCH; i++)
            schedule_once(base, count_call, &ran);
        while (ran < BENCH_BATCH)
            event_base_loop(base, EVLOOP_NONBLOCK);
    }
}

/* --- timer_add_cancel ---------------------------------------------------------- */

static void never_called(evutil_socket_t fd, short what, void *arg)
{
    bench_die(0, "a cancelled timer ran");
}

static void run_timers(void *ctx, uint64_t n)
{
    static struct event *timers[BENCH_TIMERS];
    struct event_base *base = ctx;
    const uint32_t *delays = bench_timer_delays_ms();

    for (uint64_t round = 0; round < n; round++) {
        for (size_t i = 0; i < BENCH_TIMERS; i++) {
            struct timeval tv = { .tv_sec = delays[i] / 1000, .tv_usec = delays[i] % 1000 * 1000 };
            timers[i] = evtimer_new(base, never_called, NULL);
            if (!timers[i] || evtimer_add(timers[i], &tv) < 0)
                bench_die(0, "evtimer_new/evtimer_add failed");
        }
        for (size_t i = 0; i < BENCH_TIMERS; i++)
            event_free(timers[i]);
        event_base_loop(base, EVLOOP_NONBLOCK); /* the idle iteration loom-bench has too */
    }
}

/* --- fd_pingpong --------------------------------------------------------------- */

struct pingpong {
    struct event_base *base;
    int sv[2];
    uint64_t left;
};

static void ping_readable(evutil_socket_t fd, short what, void *arg)
{
    struct pingpong *p = arg;
    bench_read_byte(fd);
    if (--p->left == 0)
        event_base_loopbreak(p->base);
    else
        bench_write_byte(fd);
}

static void pong_readable(evutil_socket_t fd, short what, void *arg)
{
    bench_read_byte(fd);
    bench_write_byte(fd);
}

static void run_pingpong(void *ctx, uint64_t n)
{
    struct pingpong *p = ctx;
    p->left = n;
    bench_write_byte(p->sv[0]);
    event_base_dispatch(p->base);
}

static struct event *add_reader(struct event_base *base, int fd, event_callback_fn cb, void *arg)
{
    struct event *ev = event_new(base, fd, EV_READ | EV_PERSIST, cb, arg);
    if (!ev || event_add(ev, NULL) < 0)
        bench_die(0, "event_new/event_add failed");
    return ev;
}

static void measure_pingpong(struct event_base *base)
{
    struct pingpong p = { .base = base };
    struct event *ping, *pong;

    bench_socketpair(p.sv);
    ping = add_reader(base, p.sv[0], ping_readable, &p);
    pong = add_reader(base, p.sv[1], pong_readable, &p);
    bench_measure(PEER, "fd_pingpong", "ns/roundtrip", 1, run_pingpong, &p);
    event_free(ping);
    event_free(pong);
    close(p.sv[0]);
    close(p.sv[1]);
}

/* --- threadsafe_roundtrip ------------------------------------------------------ */

struct threadsafe_peer {
    struct event_base *base;
    struct event *ev;
    bench_roundtrip rt;
};

static void threadsafe_reply(evutil_socket_t fd, short what, void *arg)
{
    struct threadsafe_peer *p = arg;
    if (bench_roundtrip_reply(&p->rt))
        event_base_loopbreak(p->base);
}

static void threadsafe_send(void *peer)
{
    struct threadsafe_peer *p = peer;
    event_active(p->ev, EV_READ, 0);
}

static void threadsafe_run(void *peer)
{
    struct threadsafe_peer *p = peer;
    /* Nothing is pending between round trips: keep waiting anyway. */
    event_base_loop(p->base, EVLOOP_NO_EXIT_ON_EMPTY);
}

static void measure_threadsafe(void)
{
    struct threadsafe_peer p = {
        .rt = { .send = threadsafe_send, .run = threadsafe_run, .peer = &p },
    };

    if (evthread_use_pthreads() < 0)
        bench_die(0, "evthread_use_pthreads failed");
    p.base = new_base();
    p.ev = event_new(p.base, -1, 0, threadsafe_reply, &p);
    if (!p.ev)
        bench_die(0, "event_new failed");
    bench_roundtrip_measure(PEER, &p.rt);
    event_free(p.ev);
    event_base_free(p.base);
}

void peer_libevent(void)
{
    struct event_base *base = new_base();

    bench_measure(PEER, "call_soon_chain", "ns/op", 1, run_chain, base);
    bench_measure(PEER, "call_soon_batch", "ns/op", BENCH_BATCH, run_batch, base);
    bench_measure(PEER, "timer_add_cancel", "ns/op", BENCH_TIMERS, run_timers, base);
    measure_pingpong(base);
    event_base_free(base);
    measure_threadsafe(); /* last: it turns on locking for every later base */
}
