/* peer-bench — libuv, with the idioms a libuv user would pick:
 *   call_soon_chain: one uv_idle_t kept running (an idle handle is libuv's way
 *     to run again on the next iteration; it polls with a zero timeout);
 *   call_soon_batch: BENCH_BATCH uv_idle_t started at once, each stopping
 *     itself (uv_async_t would coalesce them into one call);
 *   timer_add_cancel: uv_timer_start / uv_timer_stop on handles initialised
 *     once beforehand (libuv handles are caller-allocated);
 *   fd_pingpong: uv_poll_t readers on the socketpair;
 *   threadsafe_roundtrip: uv_async_send. */
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

#include "bench-util.h"
#include "peers.h"

#define PEER "libuv"

static uv_loop_t loop;

/* Closes every handle left and lets the loop finish closing them. */
static void close_walk(uv_handle_t *handle, void *arg)
{
    if (!uv_is_closing(handle))
        uv_close(handle, NULL);
}

static void drain_loop(void)
{
    uv_walk(&loop, close_walk, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
}

/* --- call_soon_chain ----------------------------------------------------------- */

static void chain_step(uv_idle_t *idle)
{
    uint64_t *left = idle->data;
    if (--*left == 0)
        uv_idle_stop(idle);
}

static void run_chain(void *ctx, uint64_t n)
{
    uv_idle_t *idle = ctx;
    uint64_t left = n;
    idle->data = &left;
    bench_check(uv_idle_start(idle, chain_step), "uv_idle_start");
    uv_run(&loop, UV_RUN_DEFAULT);
}

/* --- call_soon_batch ----------------------------------------------------------- */

static void batch_call(uv_idle_t *idle)
{
    ++*(uint64_t *)idle->data;
    uv_idle_stop(idle);
}

static void run_batch(void *ctx, uint64_t n)
{
    uv_idle_t *idles = ctx;
    for (uint64_t round = 0; round < n; round++) {
        uint64_t ran = 0;
        for (unsigned i = 0; i < BENCH_BATCH; i++) {
            idles[i].data = &ran;
            bench_check(uv_idle_start(&idles[i], batch_call), "uv_idle_start");
        }
        while (ran < BENCH_BATCH)
            uv_run(&loop, UV_RUN_NOWAIT);
    }
}

static void measure_calls(void)
{
    uv_idle_t *idles = calloc(BENCH_BATCH, sizeof *idles);

    if (!idles)
        bench_die(0, "out of memory");
    for (unsigned i = 0; i < BENCH_BATCH; i++)
        bench_check(uv_idle_init(&loop, &idles[i]), "uv_idle_init");
    bench_measure(PEER, "call_soon_chain", "ns/op", 1, run_chain, &idles[0]);
    bench_measure(PEER, "call_soon_batch", "ns/op", BENCH_BATCH, run_batch, idles);
    drain_loop();
    free(idles);
}

/* --- timer_add_cancel ---------------------------------------------------------- */

static void never_called(uv_timer_t *timer)
{
    bench_die(0, "a cancelled timer ran");
}

static void run_timers(void *ctx, uint64_t n)
{
    uv_timer_t *timers = ctx;
    const uint32_t *delays = bench_timer_delays_ms();

    for (uint64_t round = 0; round < n; round++) {
        for (size_t i = 0; i < BENCH_TIMERS; i++)
            bench_check(uv_timer_start(&timers[i], never_called, delays[i], 0), "uv_timer_start");
        for (size_t i = 0; i < BENCH_TIMERS; i++)
            uv_timer_stop(&timers[i]);
        uv_run(&loop, UV_RUN_NOWAIT); /* the idle iteration loom-bench has too */
    }
}

static void measure_timers(void)
{
    uv_timer_t *timers = calloc(BENCH_TIMERS, sizeof *timers);

    if (!timers)
        bench_die(0, "out of memory");
    for (size_t i = 0; i < BENCH_TIMERS; i++)
        bench_check(uv_timer_init(&loop, &timers[i]), "uv_timer_init");
    bench_measure(PEER, "timer_add_cancel", "ns/op", BENCH_TIMERS, run_timers, timers);
    drain_loop();
    free(timers);
}

/* --- fd_pingpong --------------------------------------------------------------- */

struct pingpong {
    int sv[2];
    uv_poll_t ping, pong;
    uint64_t left;
};

static void ping_readable(uv_poll_t *poll, int status, int events)
{
    struct pingpong *p = poll->data;
    bench_read_byte(p->sv[0]);
    if (--p->left == 0)
        uv_stop(&loop);
    else
        bench_write_byte(p->sv[0]);
}

static void pong_readable(uv_poll_t *poll, int status, int events)
{
    struct pingpong *p = poll->data;
    bench_read_byte(p->sv[1]);
    bench_write_byte(p->sv[1]);
}

static void run_pingpong(void *ctx, uint64_t n)
{
    struct pingpong *p = ctx;
    p->left = n;
    bench_write_byte(p->sv[0]);
    uv_run(&loop, UV_RUN_DEFAULT);
}

static void measure_pingpong(void)
{
    struct pingpong p;

    bench_socketpair(p.sv);
    bench_check(uv_poll_init(&loop, &p.ping, p.sv[0]), "uv_poll_init");
    bench_check(uv_poll_init(&loop, &p.pong, p.sv[1]), "uv_poll_init");
    p.ping.data = p.pong.data = &p;
    bench_check(uv_poll_start(&p.ping, UV_READABLE, ping_readable), "uv_poll_start");
    bench_check(uv_poll_start(&p.pong, UV_READABLE, pong_readable), "uv_poll_start");
    bench_measure(PEER, "fd_pingpong", "ns/roundtrip", 1, run_pingpong, &p);
    drain_loop();
    close(p.sv[0]);
    close(p.sv[1]);
}

/* --- threadsafe_roundtrip ------------------------------------------------------ */

struct threadsafe_peer {
    uv_async_t async;
    bench_roundtrip rt;
};

static void threadsafe_reply(uv_async_t *async)
{
    struct threadsafe_peer *p = async->data;
    if (bench_roundtrip_reply(&p->rt))
        uv_stop(&loop);
}

/* uv_async_send coalesces, but the sender waits for each reply, and libuv
 * clears the pending flag before calling back, so no send is lost. */
static void threadsafe_send(void *peer)
{
    struct threadsafe_peer *p = peer;
    bench_check(uv_async_send(&p->async), "uv_async_send");
}

static void threadsafe_run(void *peer)
{
    uv_run(&loop, UV_RUN_DEFAULT);
}

static void measure_threadsafe(void)
{
    struct threadsafe_peer p = {
        .rt = { .send = threadsafe_send, .run = threadsafe_run, .peer = &p },
    };

    bench_check(uv_async_init(&loop, &p.async, threadsafe_reply), "uv_async_init");
    p.async.data = &p;
    bench_roundtrip_measure(PEER, &p.rt);
    drain_loop();
}

void peer_libuv(void)
{
    bench_check(uv_loop_init(&loop), "uv_loop_init");
    measure_calls();
    measure_timers();
    measure_pingpong();
    measure_threadsafe();
    bench_check(uv_loop_close(&loop), "uv_loop_close");
}
