/* loom-bench — tasks: spawn and finish, yield, the raw fiber switch, await of
 * a done future, and the memory a suspended task costs.
 *
 * task_switch measures the switch of fiber.h alone, which libloom does not
 * export: loom-bench compiles the switch in itself (core/fiber-<arch>.S or
 * core/fiber-ucontext.c). */
#include "config.h"
#include "bench-util.h"
#include "bench-task.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <loom/loom.h>
#include <loom/task.h>

#include "fiber/fiber.h"

#define SPAWN_BATCH 1000
#define SWITCH_STACK (64 * 1024)

static loom_future *spawn_or_die(loom_loop *loop, loom_task_fn fn, void *arg)
{
    loom_future *task = loom_task_spawn(loop, fn, arg);
    if (!task)
        bench_die(errno, "loom_task_spawn");
    return task;
}

/* Runs the loop until future is done, and drops it. */
static void run_until_done(loom_loop *loop, loom_future *future)
{
    bench_check(loom_loop_run_until(loop, future), "loom_loop_run_until");
    loom_future_unref(future);
}

/* --- task_spawn_join: SPAWN_BATCH tasks spawned, then run to their end ------- */

struct batch {
    unsigned left;
    loom_future *all_done;
};

static int count_down(void *arg)
{
    struct batch *b = arg;
    if (--b->left == 0)
        bench_check(loom_future_resolve_int(b->all_done, 0), "loom_future_resolve_int");
    return 0;
}

static void run_spawn_join(void *ctx, uint64_t n)
{
    loom_loop *loop = ctx;
    for (uint64_t round = 0; round < n; round++) {
        struct batch b = {.left = SPAWN_BATCH, .all_done = loom_future_new(loop)};
        if (!b.all_done)
            bench_die(errno, "loom_future_new");
        for (unsigned i = 0; i < SPAWN_BATCH; i++)
            loom_future_unref(spawn_or_die(loop, count_down, &b));
        run_until_done(loop, b.all_done);
    }
}

/* --- task_yield: one task yields n times (task -> loop -> task) ------------- */

static int yield_n(void *arg)
{
    for (uint64_t i = 0, n = *(uint64_t *)arg; i < n; i++)
        bench_check(loom_yield(), "loom_yield");
    return 0;
}

static void run_yield(void *ctx, uint64_t n)
{
    run_until_done(ctx, spawn_or_die(ctx, yield_n, &n));
}

/* --- task_switch: two fibers switch to each other; ns per one-way switch --- */

struct pingpong {
    struct fiber main, fiber;
};

static void pong(void *arg)
{
    struct pingpong *p = arg;
    fiber_enter(&p->fiber);
    for (;;)
        fiber_switch(&p->fiber, p->fiber.resumer);
}

static void run_switch(void *ctx, uint64_t n)
{
    struct pingpong *p = ctx;
    for (uint64_t i = 0; i < n; i++)
        fiber_switch(&p->main, &p->fiber); /* and back: two switches */
}

static void measure_switch(void)
{
    struct pingpong p;
    void *stack = aligned_alloc(64, SWITCH_STACK);
    if (!stack)
        bench_die(errno, "aligned_alloc");
    fiber_init_current(&p.main);
    fiber_init(&p.fiber, stack, SWITCH_STACK, pong, &p);
    bench_measure(NULL, "task_switch", "ns/switch", 2, run_switch, &p);
    /* The fiber stays suspended in pong: drop it. */
    fiber_fini(&p.fiber);
    free(stack);
}

/* --- await_resolved: loom_await of a future that is done already ------------ */

struct awaits {
    loom_future *resolved;
    uint64_t n;
};

static int await_n(void *arg)
{
    struct awaits *a = arg;
    for (uint64_t i = 0; i < a->n; i++)
        bench_check(loom_await(a->resolved), "loom_await");
    return 0;
}

static void run_await_resolved(void *ctx, uint64_t n)
{
    struct awaits *a = ctx;
    a->n = n;
    loom_loop *loop = loom_future_loop(a->resolved);
    run_until_done(loop, spawn_or_die(loop, await_n, a));
}

/* --- task_memory: resident bytes per suspended task, n of them ------------- */

static long resident_bytes(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "re");
    if (!f || fscanf(f, "%ld %ld", &pages, &resident) != 2)
        bench_die(errno, "/proc/self/statm");
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

struct parked {
    loom_future *gate;
    unsigned started;
};

static int park(void *arg)
{
    struct parked *p = arg;
    p->started++;
    bench_check(loom_await(p->gate), "loom_await");
    return 0;
}

static void measure_memory(loom_loop *loop, unsigned n)
{
    struct parked p = {.gate = loom_future_new(loop)};
    if (!p.gate)
        bench_die(errno, "loom_future_new");
    long before = resident_bytes();
    loom_future *last = NULL;
    for (unsigned i = 0; i < n; i++) {
        loom_future_unref(last);
        last = spawn_or_die(loop, park, &p);
    }
    while (p.started < n) /* all suspended */
        bench_check(loom_loop_run_once(loop, false), "loom_loop_run_once");
    long during = resident_bytes();
    printf("task_memory %.0f bytes/task\n", (double)(during - before) / n);
    fflush(stdout);
    bench_check(loom_future_resolve_int(p.gate, 0), "loom_future_resolve_int");
    run_until_done(loop, last); /* the last one resumes last */
    loom_future_unref(p.gate);
}

void bench_tasks(loom_loop *loop, unsigned memory_tasks)
{
    bench_measure(NULL, "task_spawn_join", "ns/task", SPAWN_BATCH, run_spawn_join, loop);
    bench_measure(NULL, "task_yield", "ns/yield", 1, run_yield, loop);
    measure_switch();
    struct awaits a = {.resolved = loom_future_new(loop)};
    if (!a.resolved)
        bench_die(errno, "loom_future_new");
    bench_check(loom_future_resolve_int(a.resolved, 1), "loom_future_resolve_int");
    bench_measure(NULL, "await_resolved", "ns/await", 1, run_await_resolved, &a);
    loom_future_unref(a.resolved);
    measure_memory(loop, memory_tasks);
}
