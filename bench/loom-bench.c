/* loom-bench — loom's hot paths on one backend.
 *
 *   loom-bench --backend=NAME   measure on backend NAME (default: epoll)
 *   loom-bench --list           print the backends that work here, one a line
 *   --task-memory=N             task_memory at N suspended tasks (default 100000)
 *   --conns=N                   conns_roundtrip on N connections (default 10000)
 *   --only=scale                only the scale metrics (bench-scale.h)
 *   --only=conns                only conns_roundtrip
 *
 * Prints a "# ..." header naming the backend, then "metric value unit" lines
 * (see bench-util.h for how values are taken). */
#include "bench-util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <loom/loom.h>

#include "bench-scale.h"
#include "bench-task.h"
#include "loom-bench-backends.h"

/* --- call_soon_chain: each callback schedules the next ----------------------- */

struct chain {
    uint64_t left;
};

static void chain_step(loom_loop *loop, void *data)
{
    struct chain *c = data;
    if (--c->left == 0)
        loom_loop_stop(loop);
    else
        bench_check(loom_call_soon(loop, chain_step, c, NULL), "loom_call_soon");
}

static void run_chain(void *ctx, uint64_t n)
{
    loom_loop *loop = ctx;
    struct chain c = { .left = n };
    bench_check(loom_call_soon(loop, chain_step, &c, NULL), "loom_call_soon");
    bench_check(loom_loop_run(loop), "loom_loop_run");
}

/* --- call_soon_batch: BENCH_BATCH callbacks scheduled at once, then run ------ */

static void count_call(loom_loop *loop, void *data)
{
    ++*(uint64_t *)data;
}

static void run_batch(void *ctx, uint64_t n)
{
    loom_loop *loop = ctx;
    for (uint64_t round = 0; round < n; round++) {
        uint64_t ran = 0;
        for (unsigned i = 0; i < BENCH_BATCH; i++)
            bench_check(loom_call_soon(loop, count_call, &ran, NULL), "loom_call_soon");
        while (ran < BENCH_BATCH)
            bench_check(loom_loop_run_once(loop, false), "loom_loop_run_once");
    }
}

/* --- timer_add_cancel: count random timers added, then cancelled ------------ */

struct timers {
    loom_loop *loop;
    size_t count; /* BENCH_TIMERS, or BENCH_FEW_TIMERS */
};

static void never_called(loom_loop *loop, void *data)
{
    bench_die(0, "a cancelled timer ran");
}

static void run_timers(void *ctx, uint64_t n)
{
    static loom_handle handles[BENCH_TIMERS];
    struct timers *t = ctx;
    const uint32_t *delays = bench_timer_delays_ms();

    for (uint64_t round = 0; round < n; round++) {
        for (size_t i = 0; i < t->count; i++)
            bench_check(loom_call_later(t->loop, (int64_t)delays[i] * 1000000, never_called, NULL,
                                        &handles[i]),
                        "loom_call_later");
        for (size_t i = 0; i < t->count; i++)
            bench_check(loom_cancel(t->loop, handles[i]), "loom_cancel");
        /* One idle iteration, as a live program would have: lets a core that
         * drops cancelled timers lazily do so. */
        bench_check(loom_loop_run_once(t->loop, false), "loom_loop_run_once");
    }
}

/* --- fd_pingpong: one byte between two readers of a socketpair --------------- */

struct pingpong {
    int sv[2];
    uint64_t left;
};

/* Side A (sv[0]): a byte back from B completes a round trip. */
static void ping_readable(loom_loop *loop, int fd, unsigned events, void *data)
{
    struct pingpong *p = data;
    bench_read_byte(fd);
    if (--p->left == 0)
        loom_loop_stop(loop);
    else
        bench_write_byte(fd);
}

/* Side B (sv[1]): echoes. */
static void pong_readable(loom_loop *loop, int fd, unsigned events, void *data)
{
    bench_read_byte(fd);
    bench_write_byte(fd);
}

struct pingpong_ctx {
    loom_loop *loop;
    struct pingpong p;
};

static void run_pingpong(void *ctx, uint64_t n)
{
    struct pingpong_ctx *c = ctx;
    c->p.left = n;
    bench_write_byte(c->p.sv[0]);
    bench_check(loom_loop_run(c->loop), "loom_loop_run");
}

static void measure_pingpong(loom_loop *loop)
{
    struct pingpong_ctx c = { .loop = loop };

    bench_socketpair(c.p.sv);
    bench_check(loom_add_reader(loop, c.p.sv[0], ping_readable, &c.p), "loom_add_reader");
    bench_check(loom_add_reader(loop, c.p.sv[1], pong_readable, &c.p), "loom_add_reader");
    bench_measure(NULL, "fd_pingpong", "ns/roundtrip", 1, run_pingpong, &c);
    bench_check(loom_remove_reader(loop, c.p.sv[0]), "loom_remove_reader");
    bench_check(loom_remove_reader(loop, c.p.sv[1]), "loom_remove_reader");
    close(c.p.sv[0]);
    close(c.p.sv[1]);
}

/* --- future_resolve_callback: create, add a callback, resolve, run it, unref;
 * each callback starts the next future, so the loop runs as in a program ----- */

static void start_future(loom_loop *loop, uint64_t *left);

static void future_done(loom_future *future, void *data)
{
    uint64_t *left = data;
    if (--*left == 0)
        loom_loop_stop(loom_future_loop(future));
    else
        start_future(loom_future_loop(future), left);
}

static void start_future(loom_loop *loop, uint64_t *left)
{
    loom_future *f = loom_future_new(loop);
    if (!f)
        bench_die(errno, "loom_future_new");
    bench_check(loom_future_on_done(f, future_done, left), "loom_future_on_done");
    bench_check(loom_future_resolve(f, NULL, NULL), "loom_future_resolve");
    loom_future_unref(f); /* the scheduled callback holds its own reference */
}

static void run_futures(void *ctx, uint64_t n)
{
    loom_loop *loop = ctx;
    uint64_t left = n;
    start_future(loop, &left);
    bench_check(loom_loop_run(loop), "loom_loop_run");
}

/* --- threadsafe_roundtrip: thread -> loom_call_soon_threadsafe -> thread ------ */

struct threadsafe_peer {
    loom_loop *loop;
    bench_roundtrip rt;
};

static void threadsafe_reply(loom_loop *loop, void *data)
{
    struct threadsafe_peer *p = data;
    if (bench_roundtrip_reply(&p->rt))
        loom_loop_stop(loop);
}

static void threadsafe_send(void *peer)
{
    struct threadsafe_peer *p = peer;
    bench_check(loom_call_soon_threadsafe(p->loop, threadsafe_reply, p),
                "loom_call_soon_threadsafe");
}

static void threadsafe_run(void *peer)
{
    struct threadsafe_peer *p = peer;
    bench_check(loom_loop_run(p->loop), "loom_loop_run");
}

static void measure_threadsafe(loom_loop *loop)
{
    struct threadsafe_peer p = {
        .loop = loop,
        .rt = { .send = threadsafe_send, .run = threadsafe_run, .peer = &p },
    };
    bench_roundtrip_measure(NULL, &p.rt);
}

/* --- driver ------------------------------------------------------------------ */

enum only { ALL, SCALE, CONNS };

static void measure_all(loom_loop *loop, unsigned memory_tasks, enum only only)
{
    struct timers many = { loop, BENCH_TIMERS }, few = { loop, BENCH_FEW_TIMERS };

    if (only != ALL) {
        (only == SCALE ? bench_scale : bench_conns_roundtrip)(loop);
        return;
    }

    bench_measure(NULL, "call_soon_chain", "ns/op", 1, run_chain, loop);
    bench_measure(NULL, "call_soon_batch", "ns/op", BENCH_BATCH, run_batch, loop);
    bench_measure(NULL, "timer_add_cancel", "ns/op", BENCH_TIMERS, run_timers, &many);
    bench_measure(NULL, "timer_add_cancel_10k", "ns/op", BENCH_FEW_TIMERS, run_timers, &few);
    measure_pingpong(loop);
    bench_measure(NULL, "future_resolve_callback", "ns/op", 1, run_futures, loop);
    measure_threadsafe(loop);
    bench_tasks(loop, memory_tasks);
    bench_scale(loop);
}

static int list_backends(void)
{
    for (const struct bench_backend *b = bench_backends; b->name; b++) {
        loom_loop *loop;
        if (b->make(&loop, b->name) == 0) {
            puts(b->name);
            loom_loop_unref(loop);
        }
    }
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: loom-bench [--backend=NAME] [--task-memory=TASKS] [--conns=N]\n"
                 "                  [--only=scale|conns] | --list\nbackends:");
    for (const struct bench_backend *b = bench_backends; b->name; b++)
        fprintf(out, " %s", b->name);
    fputc('\n', out);
}

int main(int argc, char **argv)
{
    const char *name = "epoll";
    unsigned memory_tasks = 100000;
    enum only only = ALL;
    const struct bench_backend *backend = NULL;
    loom_loop *loop;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--list") == 0)
            return list_backends();
        else if (strncmp(argv[i], "--backend=", 10) == 0)
            name = argv[i] + 10;
        else if (strncmp(argv[i], "--task-memory=", 14) == 0 && atoi(argv[i] + 14) > 0)
            memory_tasks = (unsigned)atoi(argv[i] + 14);
        else if (strncmp(argv[i], "--conns=", 8) == 0 && atoi(argv[i] + 8) > 0)
            bench_conns_wanted = atoi(argv[i] + 8);
        else if (strcmp(argv[i], "--only=scale") == 0)
            only = SCALE;
        else if (strcmp(argv[i], "--only=conns") == 0)
            only = CONNS;
        else {
            usage(strcmp(argv[i], "--help") == 0 ? stdout : stderr);
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    for (const struct bench_backend *b = bench_backends; b->name; b++)
        if (strcmp(b->name, name) == 0)
            backend = b;
    if (!backend) {
        fprintf(stderr, "loom-bench: unknown backend '%s'\n", name);
        usage(stderr);
        return 2;
    }
    bench_check(backend->make(&loop, backend->name), backend->name);
    printf("# loom-bench backend=%s%s\n", loom_loop_backend_name(loop),
           backend->note ? backend->note() : "");
    measure_all(loop, memory_tasks, only);
    loom_loop_unref(loop);
    return 0;
}
