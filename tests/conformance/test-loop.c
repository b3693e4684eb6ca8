/* loom conformance suite — scheduling, timers, run/stop, close and misuse of
 * a loop. */
#include <poll.h>
#include <pthread.h>
#include <unistd.h>
#include "fixture.h"
#include "suites.h"

#define MS INT64_C(1000000)

/* Records the order in which callbacks ran. */
typedef struct order_log {
    int seen[256];
    int n;
} order_log;

typedef struct order_entry {
    order_log *log;
    int id;
} order_entry;

static void log_entry(loom_loop *loop, void *data)
{
    order_entry *e = data;

    ck_assert_int_lt(e->log->n, 256);
    e->log->seen[e->log->n++] = e->id;
}

static void assert_order(const order_log *log, const int *expected, int n)
{
    ck_assert_int_eq(log->n, n);
    for (int i = 0; i < n; i++)
        ck_assert_msg(log->seen[i] == expected[i], "position %d: callback %d ran, expected %d", i,
                      log->seen[i], expected[i]);
}

START_TEST(test_new_unknown_backend)
{
    loom_loop *loop = NULL;

    ck_assert_int_eq(loom_loop_new(&loop, "no-such-backend"), -EINVAL);
    ck_assert_ptr_null(loop);
}
END_TEST

START_TEST(test_call_soon_fifo)
{
    loom_loop *loop = host_loop_new();
    order_log log = {.n = 0};
    order_entry entries[100];
    int expected[100];

    for (int i = 0; i < 100; i++) {
        entries[i] = (order_entry){&log, i};
        expected[i] = i;
        ck_assert_int_eq(loom_call_soon(loop, log_entry, &entries[i], NULL), 0);
    }
    ck_assert_int_eq(loom_call_soon(loop, fixture_stop, NULL, NULL), 0);
    fixture_run(loop, 5000, "100 call_soon callbacks");
    assert_order(&log, expected, 100);
    fixture_free_loop(loop);
}
END_TEST

START_TEST(test_timers_equal_deadline_in_scheduling_order)
{
    loom_loop *loop = host_loop_new();
    order_log log = {.n = 0};
    order_entry entries[50];
    int expected[50];
    int64_t when = loom_loop_now(loop) + 5 * MS;

    for (int i = 0; i < 50; i++) {
        entries[i] = (order_entry){&log, i};
        expected[i] = i;
        ck_assert_int_eq(loom_call_at(loop, when, log_entry, &entries[i], NULL), 0);
    }
    ck_assert_int_eq(loom_call_at(loop, when, fixture_stop, NULL, NULL), 0);
    fixture_run(loop, 5000, "50 timers with one deadline");
    assert_order(&log, expected, 50);
    fixture_free_loop(loop);
}
END_TEST

START_TEST(test_timers_run_in_deadline_order)
{
    loom_loop *loop = host_loop_new();
    order_log log = {.n = 0};
    order_entry entries[10];
    int expected[10];
    int64_t base = loom_loop_now(loop);

    /* Scheduled latest first, so insertion order cannot explain success. */
    for (int i = 9; i >= 0; i--) {
        entries[i] = (order_entry){&log, i};
        expected[i] = i;
        ck_assert_int_eq(loom_call_at(loop, base + (i + 1) * MS, log_entry, &entries[i], NULL), 0);
    }
    ck_assert_int_eq(loom_call_at(loop, base + 11 * MS, fixture_stop, NULL, NULL), 0);
    fixture_run(loop, 5000, "10 timers");
    assert_order(&log, expected, 10);
    fixture_free_loop(loop);
}
END_TEST

START_TEST(test_cancel)
{
    loom_loop *loop = host_loop_new();
    order_log log = {.n = 0};
    order_entry entries[4] = {{&log, 0}, {&log, 1}, {&log, 2}, {&log, 3}};
    loom_handle soon[3], timer;
    const int expected[] = {0, 2};

    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(loom_call_soon(loop, log_entry, &entries[i], &soon[i]), 0);
    ck_assert_int_eq(loom_call_later(loop, 1 * MS, log_entry, &entries[3], &timer), 0);
    ck_assert_uint_ne(soon[0], 0);
    ck_assert_uint_ne(soon[0], soon[1]);
    ck_assert_int_eq(loom_cancel(loop, soon[1]), 0);
    ck_assert_int_eq(loom_cancel(loop, soon[1]), -ENOENT);
    ck_assert_int_eq(loom_cancel(loop, timer), 0);
    ck_assert_int_eq(loom_call_later(loop, 5 * MS, fixture_stop, NULL, NULL), 0);
    fixture_run(loop, 5000, "cancelled callbacks");
    assert_order(&log, expected, 2);
    ck_assert_int_eq(loom_cancel(loop, soon[0]), -ENOENT); /* already ran */
    ck_assert_int_eq(loom_cancel(loop, timer), -ENOENT);
    fixture_free_loop(loop);
}
END_TEST

/* A cancels B, which was ready in the same tick: B must not run. */
typedef struct cancel_peer {
    loom_handle victim;
    int victim_runs;
} cancel_peer;

static void cancel_victim(loom_loop *loop, void *data)
{
    cancel_peer *peer = data;

    ck_assert_int_eq(loom_cancel(loop, peer->victim), 0);
}

static void count_victim(loom_loop *loop, void *data)
{
    cancel_peer *peer = data;

    peer->victim_runs++;
}

START_TEST(test_cancel_from_same_tick)
{
    loom_loop *loop = host_loop_new();
    cancel_peer peer = {0, 0};

    ck_assert_int_eq(loom_call_soon(loop, cancel_victim, &peer, NULL), 0);
    ck_assert_int_eq(loom_call_soon(loop, count_victim, &peer, &peer.victim), 0);
    ck_assert_int_eq(loom_call_soon(loop, fixture_stop, NULL, NULL), 0);
    fixture_run(loop, 5000, "callbacks of one tick");
    ck_assert_int_eq(peer.victim_runs, 0);
    fixture_free_loop(loop);
}
END_TEST

/* 600 call_soon callbacks queued at once (past the ready queue's first
 * size), every third cancelled: the rest run once, in order; a destroy runs
 * once, at the cancel. Handles that ran or were cancelled stay -ENOENT after
 * 600 later callbacks reuse their places in the queue, and no two handles of
 * callbacks or timers are equal. */
enum { MANY_CALLS = 600 };

typedef struct many_calls {
    int ran[MANY_CALLS];
    int last;
    int destroyed;
} many_calls;

typedef struct many_entry {
    many_calls *m;
    int id;
} many_entry;

static void many_run(loom_loop *loop, void *data)
{
    many_entry *e = data;

    ck_assert_int_gt(e->id, e->m->last);
    e->m->last = e->id;
    e->m->ran[e->id]++;
}

static void many_timer(loom_loop *loop, void *data)
{
    ck_abort_msg("the timer ran");
}

static void many_destroy(void *data)
{
    ((many_entry *)data)->m->destroyed++;
}

static void many_schedule(loom_loop *loop, many_entry *entries, loom_handle *handles)
{
    for (int i = 0; i < MANY_CALLS; i++) {
        if (i % 2)
            ck_assert_int_eq(loom_call_soon(loop, many_run, &entries[i], &handles[i]), 0);
        else
            ck_assert_int_eq(loom_call_soon_full(loop, many_run, &entries[i], many_destroy, &handles[i]), 0);
        ck_assert_uint_ne(handles[i], 0);
    }
}

START_TEST(test_cancel_many_across_queue_growth)
{
    loom_loop *loop = host_loop_new();
    many_calls m = {.last = -1}, later = {.last = -1};
    many_entry entries[MANY_CALLS], later_entries[MANY_CALLS];
    loom_handle handles[MANY_CALLS], later_handles[MANY_CALLS], timer;

    for (int i = 0; i < MANY_CALLS; i++) {
        entries[i] = (many_entry){&m, i};
        later_entries[i] = (many_entry){&later, i};
    }
    many_schedule(loop, entries, handles);
    ck_assert_int_eq(loom_call_later(loop, 3600000 * MS, many_timer, &entries[0], &timer), 0);
    for (int i = 0; i < MANY_CALLS; i += 3)
        ck_assert_int_eq(loom_cancel(loop, handles[i]), 0);
    ck_assert_int_eq(m.destroyed, MANY_CALLS / 6); /* the even ones among them */
    ck_assert_int_eq(loom_call_soon(loop, fixture_stop, NULL, NULL), 0);
    fixture_run(loop, 5000, "600 callbacks, 200 cancelled");
    for (int i = 0; i < MANY_CALLS; i++)
        ck_assert_int_eq(m.ran[i], i % 3 != 0);
    ck_assert_int_eq(m.destroyed, MANY_CALLS / 2); /* and after each even one that ran */

    many_schedule(loop, later_entries, later_handles);
    int equal = 0; /* counted, not asserted each: 360,000 assertions take seconds */
    for (int i = 0; i < MANY_CALLS; i++) {
        ck_assert_int_eq(loom_cancel(loop, handles[i]), -ENOENT);
        for (int j = 0; j < MANY_CALLS; j++)
            equal += handles[i] == later_handles[j];
        equal += later_handles[i] == timer;
    }
    ck_assert_int_eq(equal, 0);
    ck_assert_int_eq(loom_call_soon(loop, fixture_stop, NULL, NULL), 0);
    fixture_run(loop, 5000, "600 later callbacks");
    for (int i = 0; i < MANY_CALLS; i++)
        ck_assert_int_eq(later.ran[i], 1);
    ck_assert_int_eq(loom_cancel(loop, timer), 0);
    fixture_free_loop(loop);
}
END_TEST

typedef struct timer_probe {
    int64_t deadline;
    int64_t loop_now_at_run;
    int64_t clock_at_run;
    uint64_t ticks_at_run;
    int runs;
} timer_probe;

static void probe_fired(loom_loop *loop, void *data)
{
    timer_probe *p = data;

    p->clock_at_run = fixture_now();
    p->loop_now_at_run = loom_loop_now(loop);
    p->ticks_at_run = loom_loop_ticks(loop);
    p->runs++;
}

static void probe_fired_and_stop(loom_loop *loop, void *data)
{
    probe_fired(loop, data);
    fixture_stop(loop, NULL);
}

static void assert_not_early(const timer_probe *p)
{
    ck_assert_int_eq(p->runs, 1);
    ck_assert_msg(p->loop_now_at_run >= p->deadline, "loom_loop_now %lld ns before the deadline",
                  (long long)(p->deadline - p->loop_now_at_run));
    ck_assert_msg(p->clock_at_run >= p->deadline, "CLOCK_MONOTONIC %lld ns before the deadline",
                  (long long)(p->deadline - p->clock_at_run));
}

START_TEST(test_timers_never_fire_early)
{
    static const int64_t delays[] = {0, 1 * MS, 2 * MS, 5 * MS, 10 * MS, 25 * MS};
    enum { N = sizeof(delays) / sizeof(delays[0]) };
    loom_loop *loop = host_loop_new();
    timer_probe at[N] = {{0}}, later[N] = {{0}};

    for (int i = 0; i < N; i++) {
        at[i].deadline = loom_loop_now(loop) + delays[i];
        ck_assert_int_eq(loom_call_at(loop, at[i].deadline, probe_fired, &at[i], NULL), 0);
        later[i].deadline = loom_loop_now(loop) + delays[i];
        ck_assert_int_eq(loom_call_later(loop, delays[i], probe_fired, &later[i], NULL), 0);
    }
    ck_assert_int_eq(loom_call_later(loop, 30 * MS, fixture_stop, NULL, NULL), 0);
    fixture_run(loop, 5000, "timers up to 30 ms");
    for (int i = 0; i < N; i++) {
        assert_not_early(&at[i]);
        assert_not_early(&later[i]);
    }
    fixture_free_loop(loop);
}
END_TEST

/* A 200 µs timer must neither fire early (a backend rounding down to whole
 * ms) nor make the loop spin until it is due (rounding down to 0). */
START_TEST(test_sub_millisecond_timer)
{
    loom_loop *loop = host_loop_new();

    for (int round = 0; round < 5; round++) {
        timer_probe p = {0};
        uint64_t ticks_before = loom_loop_ticks(loop);

        p.deadline = loom_loop_now(loop) + 200000;
        ck_assert_int_eq(loom_call_at(loop, p.deadline, probe_fired_and_stop, &p, NULL), 0);
        fixture_run(loop, 5000, "a 200 us timer");
        assert_not_early(&p);
        ck_assert_msg(loom_loop_ticks(loop) - ticks_before <= 4,
                      "round %d: %llu ticks for one 200 us timer", round,
                      (unsigned long long)(loom_loop_ticks(loop) - ticks_before));
    }
    fixture_free_loop(loop);
}
END_TEST

typedef struct tick_trace {
    uint64_t first, sibling, child;
    order_log log;
    order_entry child_entry, sibling_entry;
} tick_trace;

static void trace_child(loom_loop *loop, void *data)
{
    tick_trace *t = data;

    t->child = loom_loop_ticks(loop);
    log_entry(loop, &t->child_entry);
    fixture_stop(loop, NULL);
}

static void trace_first(loom_loop *loop, void *data)
{
    tick_trace *t = data;

    t->first = loom_loop_ticks(loop);
    ck_assert_int_eq(loom_call_soon(loop, trace_child, t, NULL), 0);
}

static void trace_sibling(loom_loop *loop, void *data)
{
    tick_trace *t = data;

    t->sibling = loom_loop_ticks(loop);
    log_entry(loop, &t->sibling_entry);
}

START_TEST(test_callback_added_in_tick_runs_next_tick)
{
    loom_loop *loop = host_loop_new();
    tick_trace t = {.log.n = 0};
    const int expected[] = {1, 2};

    t.sibling_entry = (order_entry){&t.log, 1};
    t.child_entry = (order_entry){&t.log, 2};
    ck_assert_int_eq(loom_call_soon(loop, trace_first, &t, NULL), 0);
    ck_assert_int_eq(loom_call_soon(loop, trace_sibling, &t, NULL), 0);
    fixture_run(loop, 5000, "a callback scheduled by a callback");
    assert_order(&t.log, expected, 2);
    ck_assert_uint_eq(t.first, t.sibling);
    ck_assert_uint_gt(t.child, t.first);
    fixture_free_loop(loop);
}
END_TEST

/* Stop returns after the current callback: the rest of the tick waits for
 * the next run. */
/* Logs, then schedules the next entry and a stop for the next tick. */
static void log_then_schedule_next(loom_loop *loop, void *data)
{
    order_entry *e = data;
    log_entry(loop, e);
    ck_assert_int_eq(loom_call_soon(loop, log_entry, e + 1, NULL), 0);
    ck_assert_int_eq(loom_call_soon(loop, fixture_stop, NULL, NULL), 0);
}

START_TEST(test_stop)
{
    /* Like asyncio: stop lets the current tick finish its callbacks, and what
     * they schedule waits for the next run. */
    loom_loop *loop = host_loop_new();
    order_log log = {.n = 0};
    order_entry entries[3] = {{&log, 0}, {&log, 1}, {&log, 2}};
    const int expected[] = {0, 1, 2};

    ck_assert_int_eq(loom_call_soon(loop, log_entry, &entries[0], NULL), 0);
    ck_assert_int_eq(loom_call_soon(loop, fixture_stop, NULL, NULL), 0);
    ck_assert_int_eq(loom_call_soon(loop, log_then_schedule_next, &entries[1], NULL), 0);
    fixture_run(loop, 5000, "first stop");
    assert_order(&log, expected, 2);
    fixture_run(loop, 5000, "second stop");
    assert_order(&log, expected, 3);
    fixture_free_loop(loop);
}
END_TEST

typedef struct complete_at {
    loom_future *future;
    int err; /* 0: resolve, -ECANCELED: cancel, else fail */
} complete_at;

static void complete_future(loom_loop *loop, void *data)
{
    complete_at *c = data;

    if (c->err == 0)
        ck_assert_int_eq(loom_future_resolve_int(c->future, 42), 0);
    else if (c->err == -ECANCELED)
        ck_assert(loom_future_cancel(c->future));
    else
        ck_assert_int_eq(loom_future_fail(c->future, c->err, "on purpose"), 0);
}

START_TEST(test_run_until_returns_status)
{
    static const int outcomes[] = {0, -EPIPE, -ECANCELED};
    loom_loop *loop = host_loop_new();

    for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++) {
        complete_at c = {loom_future_new(loop), outcomes[i]};

        ck_assert_ptr_nonnull(c.future);
        ck_assert_int_eq(loom_call_later(loop, 2 * MS, complete_future, &c, NULL), 0);
        ck_assert_int_eq(fixture_run_until(loop, c.future, 5000, "a future completed by a timer"),
                         outcomes[i]);
        ck_assert(loom_future_done(c.future));
        /* Already done: returns at once with the same status. */
        ck_assert_int_eq(loom_loop_run_until(loop, c.future), outcomes[i]);
        loom_future_unref(c.future);
    }
    fixture_free_loop(loop);
}
END_TEST

START_TEST(test_run_until_stopped_returns_eintr)
{
    loom_loop *loop = host_loop_new();
    loom_future *never = loom_future_new(loop);

    ck_assert_ptr_nonnull(never);
    ck_assert_int_eq(loom_call_later(loop, 1 * MS, fixture_stop, NULL, NULL), 0);
    ck_assert_int_eq(fixture_run_until(loop, never, 5000, "a stopped run_until"), -EINTR);
    ck_assert_int_eq(loom_future_state_get(never), LOOM_FUTURE_PENDING);
    loom_future_unref(never);
    fixture_free_loop(loop);
}
END_TEST

/* Inside a callback: nest run_until where the host can nest, else -EDEADLK. */
typedef struct nest_probe {
    order_log log;
    order_entry inner, after;
    complete_at resolve;
    int result;
} nest_probe;

static void nest_outer(loom_loop *loop, void *data)
{
    nest_probe *n = data;

    if (!host_can_nest()) {
        loom_future *f = loom_future_new(loop);

        ck_assert_int_eq(loom_loop_run_until(loop, f), -EDEADLK);
        ck_assert_int_eq(loom_loop_run(loop), -EDEADLK);
        loom_future_unref(f);
        n->result = -EDEADLK;
        fixture_stop(loop, NULL);
        return;
    }
    n->resolve.future = loom_future_new(loop);
    ck_assert_int_eq(loom_call_soon(loop, log_entry, &n->inner, NULL), 0);
    ck_assert_int_eq(loom_call_later(loop, 2 * MS, complete_future, &n->resolve, NULL), 0);
    n->result = fixture_run_until(loop, n->resolve.future, 5000, "a nested run_until");
    loom_future_unref(n->resolve.future);
    ck_assert_int_eq(loom_call_soon(loop, log_entry, &n->after, NULL), 0);
    ck_assert_int_eq(loom_call_soon(loop, fixture_stop, NULL, NULL), 0);
}

START_TEST(test_nested_run_until)
{
    loom_loop *loop = host_loop_new();
    nest_probe n = {.log.n = 0};
    const int expected[] = {1, 2};
    fixture_errors errors;

    fixture_capture_errors(loop, &errors); /* a refused nesting may be reported */
    n.inner = (order_entry){&n.log, 1};
    n.after = (order_entry){&n.log, 2};
    ck_assert(loom_loop_can_nest(loop) == host_can_nest());
    ck_assert_int_eq(loom_call_soon(loop, nest_outer, &n, NULL), 0);
    fixture_run(loop, 5000, "the outer run");
    if (host_can_nest()) {
        ck_assert_int_eq(n.result, 0);
        assert_order(&n.log, expected, 2);
    } else {
        ck_assert_int_eq(n.result, -EDEADLK);
    }
    fixture_free_loop(loop);
}
END_TEST

/* Ready-queue handles across a nested run: A (first of A B C D) nests a
 * run_until; inside it B cancels D and C resolves the future. After the nest
 * C's handle is stale (it ran), D never runs, and what A schedules then runs. */
typedef struct nest_cancel {
    order_log log;
    order_entry b, c, e;
    loom_handle hc, hd;
    loom_future *future;
    int cancel_d, cancel_c_after, result;
} nest_cancel;

static void nest_cancel_b(loom_loop *loop, void *data)
{
    nest_cancel *n = data;

    log_entry(loop, &n->b);
    n->cancel_d = loom_cancel(loop, n->hd);
}

static void nest_cancel_c(loom_loop *loop, void *data)
{
    nest_cancel *n = data;

    log_entry(loop, &n->c);
    ck_assert_int_eq(loom_future_resolve(n->future, NULL, NULL), 0);
}

static void nest_cancel_d(loom_loop *loop, void *data)
{
    ck_abort_msg("a cancelled callback ran");
}

static void nest_cancel_a(loom_loop *loop, void *data)
{
    nest_cancel *n = data;

    n->result = fixture_run_until(loop, n->future, 5000, "a nested run_until");
    n->cancel_c_after = loom_cancel(loop, n->hc);
    ck_assert_int_eq(loom_call_soon(loop, log_entry, &n->e, NULL), 0);
    ck_assert_int_eq(loom_call_soon(loop, fixture_stop, NULL, NULL), 0);
}

START_TEST(test_cancel_inside_nested_run)
{
    if (!host_can_nest())
        return; /* test_nested_run_until covers the refusal */
    loom_loop *loop = host_loop_new();
    nest_cancel n = {.log.n = 0};
    const int expected[] = {2, 3, 5};

    n.b = (order_entry){&n.log, 2};
    n.c = (order_entry){&n.log, 3};
    n.e = (order_entry){&n.log, 5};
    n.future = loom_future_new(loop);
    ck_assert_int_eq(loom_call_soon(loop, nest_cancel_a, &n, NULL), 0);
    ck_assert_int_eq(loom_call_soon(loop, nest_cancel_b, &n, NULL), 0);
    ck_assert_int_eq(loom_call_soon(loop, nest_cancel_c, &n, &n.hc), 0);
    ck_assert_int_eq(loom_call_soon(loop, nest_cancel_d, &n, &n.hd), 0);
    fixture_run(loop, 5000, "the outer run");
    ck_assert_int_eq(n.result, 0);
    ck_assert_int_eq(n.cancel_d, 0);
    ck_assert_int_eq(n.cancel_c_after, -ENOENT);
    ck_assert_int_eq(loom_cancel(loop, n.hd), -ENOENT);
    assert_order(&n.log, expected, 3);
    loom_future_unref(n.future);
    fixture_free_loop(loop);
}
END_TEST

static void close_while_running(loom_loop *loop, void *data)
{
    int *result = data;

    *result = loom_loop_close(loop);
    ck_assert_int_eq(loom_call_soon(loop, fixture_stop, NULL, NULL), 0);
}

START_TEST(test_close_while_running)
{
    loom_loop *loop = host_loop_new();
    int result = 0;

    ck_assert_int_eq(loom_call_soon(loop, close_while_running, &result, NULL), 0);
    fixture_run(loop, 5000, "a loop that refused to close");
    ck_assert_int_eq(result, -EBUSY);
    fixture_free_loop(loop);
}
END_TEST

static void never_called(loom_loop *loop, void *data)
{
    ck_abort_msg("a callback of a closed loop ran");
}

static void never_called_fd(loom_loop *loop, int fd, unsigned events, void *data)
{
    ck_abort_msg("an fd callback of a closed loop ran");
}

START_TEST(test_close_with_pending_is_reported)
{
    loom_loop *loop = host_loop_new();
    fixture_errors errors;
    int fds[2];

    fixture_capture_errors(loop, &errors);
    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(loom_call_soon(loop, never_called, NULL, NULL), 0);
    ck_assert_int_eq(loom_call_later(loop, 1000 * MS, never_called, NULL, NULL), 0);
    ck_assert_int_eq(loom_add_reader(loop, fds[0], never_called_fd, NULL), 0);
    ck_assert_int_eq(loom_loop_close(loop), 0);
    ck_assert_int_ge(atomic_load(&errors.count), 1);
    ck_assert_int_eq(loom_loop_close(loop), -EALREADY);
    loom_loop_unref(loop);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

START_TEST(test_close_idle_is_not_reported)
{
    loom_loop *loop = host_loop_new();
    fixture_errors errors;

    fixture_capture_errors(loop, &errors);
    ck_assert_int_eq(loom_call_soon(loop, fixture_stop, NULL, NULL), 0);
    fixture_run(loop, 5000, "one callback");
    ck_assert_int_eq(loom_loop_close(loop), 0);
    ck_assert_int_eq(atomic_load(&errors.count), 0);
    loom_loop_unref(loop);
}
END_TEST

START_TEST(test_calls_on_closed_loop)
{
    loom_loop *loop = host_loop_new();
    fixture_errors errors;
    loom_handle handle;
    int fds[2];

    ck_assert_int_eq(pipe(fds), 0);
    fixture_capture_errors(loop, &errors); /* the pending callback is reported */
    ck_assert_int_eq(loom_call_soon(loop, never_called, NULL, &handle), 0);
    ck_assert_int_eq(loom_loop_close(loop), 0);
    ck_assert_int_eq(loom_call_soon(loop, never_called, NULL, NULL), -ESHUTDOWN);
    ck_assert_int_eq(loom_call_later(loop, MS, never_called, NULL, NULL), -ESHUTDOWN);
    ck_assert_int_eq(loom_call_at(loop, 0, never_called, NULL, NULL), -ESHUTDOWN);
    ck_assert_int_eq(loom_cancel(loop, handle), -ESHUTDOWN);
    ck_assert_int_eq(loom_add_reader(loop, fds[0], never_called_fd, NULL), -ESHUTDOWN);
    ck_assert_int_eq(loom_add_writer(loop, fds[1], never_called_fd, NULL), -ESHUTDOWN);
    ck_assert_int_eq(loom_remove_reader(loop, fds[0]), -ESHUTDOWN);
    ck_assert_int_eq(loom_remove_writer(loop, fds[1]), -ESHUTDOWN);
    ck_assert_int_eq(loom_loop_run(loop), -ESHUTDOWN);
    ck_assert_int_eq(loom_loop_run_once(loop, false), -ESHUTDOWN);
    ck_assert_int_eq(loom_loop_stop(loop), -ESHUTDOWN);
    ck_assert_ptr_null(loom_future_new(loop));
    ck_assert_int_eq(errno, ESHUTDOWN);
    ck_assert_int_eq(loom_loop_close(loop), -EALREADY);
    ck_assert_int_eq(loom_loop_set_error_handler(loop, NULL, NULL), -ESHUTDOWN);
    loom_loop_unref(loop);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

/* Every non-thread-safe call from a foreign thread fails with -EXDEV and is
 * reported. */
typedef struct foreign_calls {
    loom_loop *loop;
    int fd;
    int results[8];
} foreign_calls;

static void *call_from_foreign_thread(void *data)
{
    foreign_calls *c = data;
    int i = 0;

    c->results[i++] = loom_call_soon(c->loop, never_called, NULL, NULL);
    c->results[i++] = loom_call_later(c->loop, MS, never_called, NULL, NULL);
    c->results[i++] = loom_call_at(c->loop, 0, never_called, NULL, NULL);
    c->results[i++] = loom_add_reader(c->loop, c->fd, never_called_fd, NULL);
    c->results[i++] = loom_loop_run_once(c->loop, false);
    c->results[i++] = loom_loop_run(c->loop);
    c->results[i++] = loom_loop_stop(c->loop);
    c->results[i++] = loom_loop_close(c->loop);
    return NULL;
}

/* The reports, in order (the foreign thread makes them one by one). */
static char foreign_reports[8][256];
static int n_foreign_reports;

static void record_foreign_report(loom_loop *l, int err, const char *msg, void *data)
{
    ck_assert_int_eq(err, -EXDEV);
    if (n_foreign_reports < 8)
        snprintf(foreign_reports[n_foreign_reports], sizeof(foreign_reports[0]), "%s", msg);
    n_foreign_reports++;
}

START_TEST(test_foreign_thread_is_refused_and_reported)
{
    loom_loop *loop = host_loop_new();
    foreign_calls c = {loop, -1, {0}};
    int fds[2];
    pthread_t thread;
    /* Each report names the public call the program made. */
    static const char *const names[8] = {"loom_call_soon",     "loom_call_later", "loom_call_at",
                                         "loom_add_reader",    "loom_loop_run_once", "loom_loop_run",
                                         "loom_loop_stop",     "loom_loop_close"};

    ck_assert_int_eq(pipe(fds), 0);
    c.fd = fds[0];
    n_foreign_reports = 0;
    ck_assert_int_eq(loom_loop_set_error_handler(loop, record_foreign_report, NULL), 0);
    ck_assert_int_eq(pthread_create(&thread, NULL, call_from_foreign_thread, &c), 0);
    ck_assert_int_eq(pthread_join(thread, NULL), 0);
    for (int i = 0; i < 8; i++)
        ck_assert_msg(c.results[i] == -EXDEV, "foreign call %d returned %d", i, c.results[i]);
    /* The loop is untouched and still works for its own thread. */
    ck_assert_int_eq(loom_call_soon(loop, fixture_stop, NULL, NULL), 0);
    fixture_run(loop, 5000, "the loop after foreign calls");
    ck_assert_int_eq(n_foreign_reports, 8);
    for (int i = 0; i < 8; i++) {
        size_t len = strlen(names[i]);
        ck_assert_msg(strncmp(foreign_reports[i], names[i], len) == 0 && foreign_reports[i][len] == ' ',
                      "report %d: \"%s\"", i, foreign_reports[i]);
    }
    fixture_free_loop(loop);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

/* Threads, eventfds, epoll fds, pipes: nothing survives the loop. */
static void *call_stop_threadsafe(void *data)
{
    ck_assert_int_eq(loom_call_soon_threadsafe(data, fixture_stop, NULL), 0);
    return NULL;
}

static void drain_and_remove(loom_loop *loop, int fd, unsigned events, void *data)
{
    char buf[16];

    ck_assert_int_gt(read(fd, buf, sizeof(buf)), 0);
    ck_assert_int_eq(loom_remove_reader(loop, fd), 0);
}

static void remove_own_writer(loom_loop *loop, int fd, unsigned events, void *data)
{
    ck_assert_int_eq(loom_remove_writer(loop, fd), 0);
}

START_TEST(test_no_fd_left_open)
{
    int before = fixture_count_open_fds();
    loom_loop *loop = host_loop_new();
    fixture_errors errors;
    pthread_t thread;
    int fds[2];

    fixture_capture_errors(loop, &errors); /* the pending timer is reported at close */
    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    ck_assert_int_eq(loom_add_reader(loop, fds[0], drain_and_remove, NULL), 0);
    ck_assert_int_eq(loom_add_writer(loop, fds[1], remove_own_writer, NULL), 0);
    ck_assert_int_eq(loom_call_later(loop, 1000 * MS, never_called, NULL, NULL), 0);
    ck_assert_int_eq(pthread_create(&thread, NULL, call_stop_threadsafe, loop), 0);
    fixture_run(loop, 5000, "a thread-safe stop");
    ck_assert_int_eq(pthread_join(thread, NULL), 0);
    close(fds[0]);
    close(fds[1]);
    fixture_free_loop(loop);
    ck_assert_int_eq(fixture_count_open_fds(), before);
}
END_TEST

/* --- embedding: one pollable fd and a timeout (the built-in epoll loop) --- */

static void set_flag(loom_loop *loop, void *data)
{
    *(bool *)data = true;
}

static bool called_from_thread;

static void *call_from_thread(void *loop)
{
    usleep(20 * 1000);
    ck_assert_int_eq(loom_call_soon_threadsafe(loop, set_flag, &called_from_thread), 0);
    return NULL;
}

/* loom_loop_get_timeout's value, asserting the call succeeded. */
static int64_t timeout_of(loom_loop *loop)
{
    int64_t timeout = -2;
    ck_assert_int_eq(loom_loop_get_timeout(loop, &timeout), 0);
    return timeout;
}

START_TEST(test_embed_fd_and_timeout)
{
    loom_loop *loop = host_loop_new();
    int fd = loom_loop_get_fd(loop);
    if (fd == -ENOTSUP) { /* one fd only where the backend has one: epoll */
        ck_assert_int_eq(timeout_of(loop), -1);
        fixture_free_loop(loop);
        return;
    }
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(timeout_of(loop), -1); /* nothing scheduled */

    /* A foreign loop waits on the fd for the timeout, then runs loom once. */
    bool fired = false;
    int64_t start = fixture_now(); /* before the timer starts: it is never early from here */
    ck_assert_int_eq(loom_call_later(loop, 30 * MS, set_flag, &fired, NULL), 0);
    int64_t timeout = timeout_of(loop);
    ck_assert_int_gt(timeout, 0);
    ck_assert_int_le(timeout, 30 * MS);
    while (!fired) {
        timeout = timeout_of(loop);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ck_assert_int_ge(poll(&p, 1, timeout < 0 ? -1 : (int)((timeout + MS - 1) / MS)), 0);
        ck_assert_int_eq(loom_loop_run_once(loop, false), 0);
    }
    ck_assert_int_ge(fixture_now() - start, 30 * MS);

    /* A thread-safe call makes the fd readable. */
    pthread_t thread;
    pthread_create(&thread, NULL, call_from_thread, loop);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    ck_assert_int_eq(poll(&p, 1, fixture_scaled_ms(5000)), 1);
    pthread_join(thread, NULL);
    ck_assert_int_eq(loom_loop_run_once(loop, false), 0);
    ck_assert(called_from_thread);
    ck_assert_int_eq(loom_call_soon(loop, set_flag, &fired, NULL), 0);
    ck_assert_int_eq(timeout_of(loop), 0); /* ready: do not sleep */
    fixture_settle(loop);
    fixture_free_loop(loop);
}
END_TEST

Suite *loop_suite(void)
{
    Suite *s = suite_create("loop");
    TCase *tc;

    tc = fixture_tcase(s, "scheduling");
    tcase_add_test(tc, test_new_unknown_backend);
    tcase_add_test(tc, test_call_soon_fifo);
    tcase_add_test(tc, test_cancel);
    tcase_add_test(tc, test_cancel_from_same_tick);
    tcase_add_test(tc, test_cancel_many_across_queue_growth);
    tcase_add_test(tc, test_callback_added_in_tick_runs_next_tick);

    tc = fixture_tcase(s, "timers");
    tcase_add_test(tc, test_timers_equal_deadline_in_scheduling_order);
    tcase_add_test(tc, test_timers_run_in_deadline_order);
    tcase_add_test(tc, test_timers_never_fire_early);
    tcase_add_test(tc, test_sub_millisecond_timer);

    tc = fixture_tcase(s, "running");
    tcase_add_test(tc, test_stop);
    tcase_add_test(tc, test_run_until_returns_status);
    tcase_add_test(tc, test_run_until_stopped_returns_eintr);
    tcase_add_test(tc, test_nested_run_until);
    tcase_add_test(tc, test_cancel_inside_nested_run);

    tc = fixture_tcase(s, "embedding");
    tcase_add_test(tc, test_embed_fd_and_timeout);

    tc = fixture_tcase(s, "life cycle");
    tcase_add_test(tc, test_close_while_running);
    tcase_add_test(tc, test_close_with_pending_is_reported);
    tcase_add_test(tc, test_close_idle_is_not_reported);
    tcase_add_test(tc, test_calls_on_closed_loop);
    tcase_add_test(tc, test_foreign_thread_is_refused_and_reported);
    tcase_add_test(tc, test_no_fd_left_open);
    return s;
}
