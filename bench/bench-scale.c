/* loom-bench — scale: what a loop costs per watch and under a flood.
 *
 * conns_roundtrip: n socketpairs, one task per connection sending
 *   BENCH_CONN_TRIPS bytes one at a time, each echoed by a reader on the other
 *   end and checked by the task (woken by its own reader through a future);
 * watch_churn_10, watch_churn_10k: loom_add_reader + loom_remove_reader of
 *   one fd beside 10 or 10,000 quiet watches;
 * flood_timer_lateness: the worst lateness of a 5 ms timer, re-armed each
 *   time it fires, while 8 threads send 1,000,000 loom_call_soon_threadsafe
 *   (one run); peer-bench's raw_epoll.flood_timer_lateness is the same flood
 *   on a hand-rolled epoll loop: what the scheduler alone costs, nine busy
 *   threads on the machine's CPUs. */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include "bench-util.h"
#include "bench-scale.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <loom/loom.h>
#include <loom/task.h>

/* --- conns_roundtrip ------------------------------------------------------------ */

struct conn {
    loom_loop *loop;
    int id, fd;        /* fd: the client end, sv[0] */
    bool replied;
    char reply;
    loom_future *wait; /* the task's, while it waits for a reply */
    int *left;         /* connections still running */
};

static void echo_readable(loom_loop *loop, int fd, unsigned events, void *data)
{
    bench_write_char(fd, bench_read_char(fd));
}

static void reply_readable(loom_loop *loop, int fd, unsigned events, void *data)
{
    struct conn *c = data;
    c->reply = bench_read_char(fd);
    c->replied = true;
    if (c->wait)
        bench_check(loom_future_resolve(c->wait, NULL, NULL), "loom_future_resolve");
}

static int conn_task(void *arg)
{
    struct conn *c = arg;
    for (int trip = 0; trip < BENCH_CONN_TRIPS; trip++) {
        c->replied = false;
        bench_write_char(c->fd, bench_conn_byte(c->id, trip));
        if (!c->replied) {
            if (!(c->wait = loom_future_new(c->loop)))
                bench_die(errno, "loom_future_new");
            bench_check(loom_await(c->wait), "loom_await");
            loom_future_unref(c->wait);
            c->wait = NULL;
        }
        bench_conn_check(c->id, trip, c->reply);
    }
    if (--*c->left == 0)
        loom_loop_stop(c->loop);
    return 0;
}

void bench_conns_roundtrip(loom_loop *loop)
{
    bench_conns cs;
    int left;

    bench_conns_open(&cs);
    left = cs.n;
    struct conn *conns = calloc((size_t)cs.n, sizeof(*conns));
    if (!conns)
        bench_die(ENOMEM, "conns");
    for (int i = 0; i < cs.n; i++) {
        conns[i] = (struct conn){.loop = loop, .id = i, .fd = cs.sv[i][0], .left = &left};
        bench_check(loom_add_reader(loop, cs.sv[i][0], reply_readable, &conns[i]), "loom_add_reader");
        bench_check(loom_add_reader(loop, cs.sv[i][1], echo_readable, NULL), "loom_add_reader");
    }
    int64_t start = bench_now_ns();
    for (int i = 0; i < cs.n; i++) {
        loom_future *task = loom_task_spawn(loop, conn_task, &conns[i]);
        if (!task)
            bench_die(errno, "loom_task_spawn");
        loom_future_unref(task);
    }
    bench_check(loom_loop_run(loop), "loom_loop_run");
    bench_conns_report(NULL, &cs, bench_now_ns() - start);
    for (int i = 0; i < cs.n; i++) {
        bench_check(loom_remove_reader(loop, cs.sv[i][0]), "loom_remove_reader");
        bench_check(loom_remove_reader(loop, cs.sv[i][1]), "loom_remove_reader");
    }
    free(conns);
    bench_conns_close(&cs);
}

/* --- watch_churn ---------------------------------------------------------------- */

struct churn {
    loom_loop *loop;
    int fd;
};

static void never_readable(loom_loop *loop, int fd, unsigned events, void *data)
{
    bench_die(0, "a quiet fd was reported readable");
}

static void run_churn(void *ctx, uint64_t n)
{
    struct churn *c = ctx;
    for (uint64_t i = 0; i < n; i++) {
        bench_check(loom_add_reader(c->loop, c->fd, never_readable, NULL), "loom_add_reader");
        bench_check(loom_remove_reader(c->loop, c->fd), "loom_remove_reader");
    }
    /* One idle iteration, as a live program would have between changes. */
    bench_check(loom_loop_run_once(c->loop, false), "loom_loop_run_once");
}

static void measure_churn(loom_loop *loop, const char *name, int background)
{
    int *quiet = bench_quiet_fds(background + 1);
    struct churn c = {loop, quiet[background]};

    for (int i = 0; i < background; i++)
        bench_check(loom_add_reader(loop, quiet[i], never_readable, NULL), "loom_add_reader");
    bench_check(loom_loop_run_once(loop, false), "loom_loop_run_once");
    bench_measure(NULL, name, "ns/op", 1, run_churn, &c);
    for (int i = 0; i < background; i++)
        bench_check(loom_remove_reader(loop, quiet[i]), "loom_remove_reader");
    bench_quiet_fds_close(quiet, background + 1);
}

/* --- flood_timer_lateness --------------------------------------------------------- */


struct flood {
    loom_loop *loop;
    atomic_long delivered;
    int64_t due, worst_late;
    loom_handle timer; /* the pending one: it re-arms itself */
    pthread_t threads[BENCH_FLOOD_THREADS];
};

static void flood_call(loom_loop *loop, void *data)
{
    struct flood *f = data;
    if (atomic_fetch_add_explicit(&f->delivered, 1, memory_order_relaxed) + 1 == BENCH_FLOOD_CALLS)
        loom_loop_stop(loop);
}

static void flood_timer(loom_loop *loop, void *data);

static void flood_arm(struct flood *f)
{
    f->due = bench_now_ns() + BENCH_FLOOD_TIMER_NS;
    bench_check(loom_call_later(f->loop, BENCH_FLOOD_TIMER_NS, flood_timer, f, &f->timer), "loom_call_later");
}

static void flood_timer(loom_loop *loop, void *data)
{
    struct flood *f = data;
    int64_t late = bench_now_ns() - f->due;
    if (late > f->worst_late)
        f->worst_late = late;
    flood_arm(f);
}

static void *flood_send(void *data)
{
    struct flood *f = data;
    for (int i = 0; i < BENCH_FLOOD_CALLS / BENCH_FLOOD_THREADS; i++)
        bench_check(loom_call_soon_threadsafe(f->loop, flood_call, f), "loom_call_soon_threadsafe");
    return NULL;
}

static void measure_flood(loom_loop *loop)
{
    struct flood f = {.loop = loop};

    atomic_init(&f.delivered, 0);
    flood_arm(&f);
    for (int i = 0; i < BENCH_FLOOD_THREADS; i++)
        if (pthread_create(&f.threads[i], NULL, flood_send, &f) != 0)
            bench_die(0, "pthread_create");
#ifdef RUSAGE_THREAD
    struct rusage before, after;
    getrusage(RUSAGE_THREAD, &before);
#endif
    bench_check(loom_loop_run(loop), "loom_loop_run");
#ifdef RUSAGE_THREAD
    /* Few voluntary switches: the loop thread never waited on a lock; its
     * lateness is the time it was preempted. */
    getrusage(RUSAGE_THREAD, &after);
    printf("# flood: the loop thread was switched out %ld times voluntarily, %ld preempted\n",
           after.ru_nvcsw - before.ru_nvcsw, after.ru_nivcsw - before.ru_nivcsw);
#endif
    for (int i = 0; i < BENCH_FLOOD_THREADS; i++)
        pthread_join(f.threads[i], NULL);
    bench_check(loom_cancel(loop, f.timer), "loom_cancel");
    printf("flood_timer_lateness %.3f ms\n", (double)f.worst_late / 1e6);
    fflush(stdout);
}

void bench_scale(loom_loop *loop)
{
    measure_churn(loop, "watch_churn_10", BENCH_FEW_WATCHES);
    measure_churn(loop, "watch_churn_10k", BENCH_MANY_WATCHES);
    bench_conns_roundtrip(loop);
    measure_flood(loop);
}
