/* Conformance: futures and their combinators. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <check.h>
#include "fixture.h"
#include "suites.h"

#define WAIT_MS 2000

static loom_loop *loop;
static fixture_errors errors; /* what the loop's error handler saw */

static void setup(void)
{
    loop = host_loop_new();
    fixture_capture_errors(loop, &errors);
}

static void teardown(void)
{
    loom_loop_unref(loop); /* NULL when a test dropped it */
    loop = NULL;
}

static int reports(void)
{
    return atomic_load(&errors.count);
}

/* Runs the loop until future is done (bounded); returns its status. */
static int run_until(loom_future *future)
{
    return fixture_run_until(loop, future, WAIT_MS, "future");
}

static loom_future *new_future(void)
{
    loom_future *f = loom_future_new(loop);
    ck_assert_ptr_nonnull(f);
    return f;
}

/* Records the order of completion callbacks and the tick each ran in. */
static int calls;
static int order[8];
static uint64_t call_tick;

static void record(loom_future *f, void *data)
{
    ck_assert(loom_future_done(f));
    ck_assert_int_lt(calls, 8);
    order[calls++] = (int)(intptr_t)data;
    call_tick = loom_loop_ticks(loom_future_loop(f));
}

/* Runs the loop until `calls` reaches want; something must be due. */
static void run_until_calls(int want)
{
    for (int i = 0; calls < want && i < 100; i++)
        ck_assert_int_eq(loom_loop_run_once(loop, true), 0);
    ck_assert_int_eq(calls, want);
}

static int destroyed;

static void count_destroy(void *value)
{
    ck_assert_ptr_eq(value, &destroyed);
    destroyed++;
}

static void make_futures(loom_future **fs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fs[i] = new_future();
}

static void unref_futures(loom_future **fs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        loom_future_unref(fs[i]);
}

static void resolve_now_cb(loom_loop *l, void *future)
{
    loom_future_resolve_int(future, 1);
}

/* --- states ---------------------------------------------------------------- */

START_TEST(test_new_is_pending)
{
    loom_future *f = new_future();
    ck_assert_ptr_eq(loom_future_loop(f), loop);
    ck_assert_int_eq(loom_future_state_get(f), LOOM_FUTURE_PENDING);
    ck_assert(!loom_future_done(f));
    ck_assert_int_eq(loom_future_status(f), -EAGAIN);
    ck_assert_ptr_null(loom_future_value(f));
    ck_assert_ptr_null(loom_future_message(f));
    loom_future_unref(f);
}
END_TEST

START_TEST(test_resolve_once)
{
    loom_future *f = new_future();
    destroyed = 0;
    ck_assert_int_eq(loom_future_resolve(f, &destroyed, count_destroy), 0);
    ck_assert_int_eq(loom_future_state_get(f), LOOM_FUTURE_RESOLVED);
    ck_assert_int_eq(loom_future_status(f), 0);
    ck_assert_ptr_eq(loom_future_value(f), &destroyed);

    /* A second completion is refused; its value is destroyed at once. */
    ck_assert_int_eq(loom_future_resolve(f, &destroyed, count_destroy), -EINVAL);
    ck_assert_int_eq(destroyed, 1);
    ck_assert_int_eq(loom_future_resolve_int(f, 3), -EINVAL);
    ck_assert_int_eq(loom_future_fail(f, -EIO, NULL), -EINVAL);
    ck_assert(!loom_future_cancel(f));
    ck_assert_int_eq(loom_future_state_get(f), LOOM_FUTURE_RESOLVED);
    ck_assert_ptr_eq(loom_future_value(f), &destroyed);

    loom_future_unref(f);
    ck_assert_int_eq(destroyed, 2);
}
END_TEST

START_TEST(test_resolve_int)
{
    loom_future *f = new_future();
    ck_assert_int_eq(loom_future_resolve_int(f, -42), 0);
    ck_assert_int_eq(loom_future_value_int(f), -42);
    ck_assert_ptr_null(loom_future_value(f));
    ck_assert_int_eq(loom_future_resolve_int(f, 1), -EINVAL);
    ck_assert_int_eq(loom_future_value_int(f), -42);
    loom_future_unref(f);
}
END_TEST

START_TEST(test_fail_once)
{
    loom_future *f = new_future();
    char msg[] = "disk on fire";
    ck_assert_int_eq(loom_future_fail(f, 5, NULL), -EINVAL); /* not a negative errno */
    ck_assert(!loom_future_done(f));

    ck_assert_int_eq(loom_future_fail(f, -EIO, msg), 0);
    msg[0] = 'X'; /* the message was copied */
    ck_assert_int_eq(loom_future_state_get(f), LOOM_FUTURE_FAILED);
    ck_assert_str_eq(loom_future_message(f), "disk on fire");
    ck_assert_ptr_null(loom_future_value(f));

    ck_assert_int_eq(loom_future_fail(f, -EPIPE, NULL), -EINVAL);
    ck_assert_int_eq(loom_future_resolve_int(f, 1), -EINVAL);
    ck_assert(!loom_future_cancel(f));
    ck_assert_int_eq(loom_future_status(f), -EIO);
    loom_future_unref(f);
}
END_TEST

START_TEST(test_cancel_once)
{
    loom_future *f = new_future();
    ck_assert(loom_future_cancel(f));
    ck_assert_int_eq(loom_future_state_get(f), LOOM_FUTURE_CANCELLED);
    ck_assert_int_eq(loom_future_status(f), -ECANCELED);
    ck_assert(!loom_future_cancel(f));

    /* A late resolve is ignored and its value destroyed at once. */
    destroyed = 0;
    ck_assert_int_eq(loom_future_resolve(f, &destroyed, count_destroy), -EINVAL);
    ck_assert_int_eq(destroyed, 1);
    ck_assert_int_eq(loom_future_fail(f, -EIO, "late"), -EINVAL);
    ck_assert_int_eq(loom_future_state_get(f), LOOM_FUTURE_CANCELLED);
    ck_assert_ptr_null(loom_future_message(f));
    loom_future_unref(f);
    ck_assert_int_eq(reports(), 0);
}
END_TEST

/* --- values ---------------------------------------------------------------- */

START_TEST(test_steal_value)
{
    loom_future *f = new_future();
    destroyed = 0;
    loom_future_resolve(f, &destroyed, count_destroy);
    loom_destroy_fn destroy = NULL;
    void *value = loom_future_steal_value(f, &destroy);
    ck_assert_ptr_eq(value, &destroyed);
    ck_assert(destroy == count_destroy);
    ck_assert_ptr_null(loom_future_value(f));
    ck_assert_ptr_null(loom_future_steal_value(f, &destroy));
    ck_assert(destroy == NULL);
    loom_future_unref(f);
    ck_assert_int_eq(destroyed, 0);
    count_destroy(value);
}
END_TEST

START_TEST(test_steal_value_pending)
{
    loom_future *f = new_future();
    loom_destroy_fn destroy = count_destroy;
    ck_assert_ptr_null(loom_future_steal_value(f, &destroy));
    ck_assert(destroy == NULL);
    loom_future_unref(f);
}
END_TEST

/* --- callbacks ------------------------------------------------------------- */

START_TEST(test_callbacks_run_later_in_order)
{
    loom_future *f = new_future();
    calls = 0;
    for (intptr_t i = 0; i < 5; i++)
        ck_assert_int_eq(loom_future_on_done(f, record, (void *)i), 0);
    ck_assert_int_eq(loom_future_resolve_int(f, 1), 0);
    ck_assert_int_eq(calls, 0); /* never inside resolve */
    run_until_calls(5);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(order[i], i);
    loom_future_unref(f);
}
END_TEST

static loom_future *resolved_in_callback;
static uint64_t resolve_tick;

static void resolve_now(loom_loop *l, void *data)
{
    resolve_tick = loom_loop_ticks(l);
    loom_future_resolve_int(resolved_in_callback, 1);
    ck_assert_int_eq(calls, 0);
}

START_TEST(test_callback_runs_on_a_later_tick)
{
    resolved_in_callback = new_future();
    calls = 0;
    loom_future_on_done(resolved_in_callback, record, NULL);
    ck_assert_int_eq(loom_call_soon(loop, resolve_now, NULL, NULL), 0);
    run_until_calls(1);
    ck_assert_uint_gt(call_tick, resolve_tick);
    loom_future_unref(resolved_in_callback);
}
END_TEST

START_TEST(test_on_done_after_completion)
{
    loom_future *f = new_future();
    calls = 0;
    loom_future_on_done(f, record, (void *)0);
    loom_future_fail(f, -EIO, NULL);
    run_until_calls(1);

    ck_assert_int_eq(loom_future_on_done(f, record, (void *)1), 0);
    ck_assert_int_eq(loom_future_on_done(f, record, (void *)2), 0);
    ck_assert_int_eq(calls, 1); /* not synchronous either */
    run_until_calls(3);
    ck_assert_int_eq(order[1], 1);
    ck_assert_int_eq(order[2], 2);
    ck_assert_int_eq(loom_future_status(f), -EIO);
    loom_future_unref(f);
}
END_TEST

static void record_call(loom_loop *l, void *data)
{
    ck_assert_int_lt(calls, 8);
    order[calls++] = (int)(intptr_t)data;
}

START_TEST(test_late_callbacks_keep_fifo_order)
{
    loom_future *f = new_future();
    loom_future_cancel(f);
    calls = 0;
    /* Each callback added to a done future takes its own place in the loop's
     * FIFO, among other scheduled calls. */
    loom_future_on_done(f, record, (void *)0);
    loom_call_soon(loop, record_call, (void *)1, NULL);
    loom_future_on_done(f, record, (void *)2);
    run_until_calls(3);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(order[i], i);
    loom_future_unref(f);
}
END_TEST

static void check_value_alive(loom_future *f, void *data)
{
    ck_assert_int_eq(destroyed, 0);
    ck_assert_ptr_eq(loom_future_value(f), &destroyed);
    calls++;
}

START_TEST(test_callback_keeps_future_alive)
{
    loom_future *f = new_future();
    calls = 0;
    destroyed = 0;
    loom_future_on_done(f, check_value_alive, NULL);
    loom_future_resolve(f, &destroyed, count_destroy);
    loom_future_unref(f); /* the pending callback still holds it */
    ck_assert_int_eq(destroyed, 0);
    run_until_calls(1);
    ck_assert_int_eq(destroyed, 1);
}
END_TEST

static void run_thread(void *(*fn)(void *), void *data)
{
    pthread_t thread;
    ck_assert_int_eq(pthread_create(&thread, NULL, fn, data), 0);
    ck_assert_int_eq(pthread_join(thread, NULL), 0);
}

/* The value's destroy records whether it ran on the loop's thread. */
static pthread_t loop_thread;
static bool destroyed_elsewhere;

static void count_destroy_where(void *value)
{
    if (!pthread_equal(pthread_self(), loop_thread))
        destroyed_elsewhere = true;
    count_destroy(value);
}

static loom_future *resolved_with_callback(loom_future_callback cb)
{
    loom_future *f = new_future();
    calls = 0;
    destroyed = 0;
    loop_thread = pthread_self();
    destroyed_elsewhere = false;
    ck_assert_int_eq(loom_future_on_done(f, cb, NULL), 0);
    ck_assert_int_eq(loom_future_resolve(f, &destroyed, count_destroy_where), 0);
    return f;
}

static void *unref_in_thread(void *future)
{
    loom_future_unref(future);
    return NULL;
}

/* Ticks without blocking until the value was destroyed (bounded). */
static void run_until_destroyed(void)
{
    for (int i = 0; !destroyed && i < 100; i++)
        ck_assert_int_ge(loom_loop_run_once(loop, false), 0);
    ck_assert_int_eq(destroyed, 1);
    ck_assert(!destroyed_elsewhere);
}

/* Another thread drops the last reference while the callbacks are queued:
 * they still run, and the future goes after them, on the loop's thread. */
START_TEST(test_last_reference_dropped_elsewhere_while_queued)
{
    loom_future *f = resolved_with_callback(check_value_alive);
    loom_future_ref(f);
    loom_future_unref(f);
    run_thread(unref_in_thread, f);
    ck_assert_int_eq(destroyed, 0);
    run_until_calls(1);
    run_until_destroyed();
}
END_TEST

static loom_future *kept;

static void keep_future(loom_future *f, void *data)
{
    check_value_alive(f, data);
    kept = loom_future_ref(f);
}

/* A callback may keep the future whose last reference went before it ran. */
START_TEST(test_callback_keeps_orphaned_future)
{
    loom_future *f = resolved_with_callback(keep_future);
    loom_future_unref(f);
    run_until_calls(1);
    fixture_settle(loop);
    ck_assert_int_eq(destroyed, 0);
    ck_assert_ptr_eq(loom_future_value(kept), &destroyed);
    loom_future_unref(kept);
    ck_assert_int_eq(destroyed, 1);
}
END_TEST

static void keep_and_drop_elsewhere(loom_future *f, void *data)
{
    keep_future(f, data);
    run_thread(unref_in_thread, kept); /* while the dispatch runs */
    ck_assert_int_eq(destroyed, 0);
}

/* The reference a callback took goes on another thread, during the dispatch
 * or after it: the future goes on the loop's thread, once. */
START_TEST(test_kept_future_dropped_elsewhere)
{
    loom_future *f = resolved_with_callback(keep_and_drop_elsewhere);
    loom_future_unref(f);
    run_until_calls(1);
    run_until_destroyed();

    f = resolved_with_callback(keep_future);
    loom_future_unref(f);
    run_until_calls(1);
    run_thread(unref_in_thread, kept);
    ck_assert_int_eq(destroyed, 0);
    run_until_destroyed();
}
END_TEST

/* Once the loop is closed, a last reference dropped elsewhere frees at once. */
START_TEST(test_last_reference_dropped_elsewhere_after_close)
{
    loom_future *f = resolved_with_callback(check_value_alive);
    ck_assert_int_eq(loom_loop_close(loop), 0);
    run_thread(unref_in_thread, f);
    ck_assert_int_eq(destroyed, 1);
    ck_assert_int_eq(calls, 0);
}
END_TEST

/* Threads drop references to futures whose callbacks are queued or running,
 * while the loop runs them: every callback runs once, every value goes once,
 * on the loop's thread. */
enum { DROPPERS = 4, DROPPED = 2000 };

static loom_future *dropped[DROPPERS][DROPPED];
static atomic_int dropped_ready;

static void *drop_all(void *data)
{
    loom_future **fs = data;
    while (atomic_load(&dropped_ready) < DROPPED)
        sched_yield();
    for (int i = 0; i < DROPPED; i++)
        loom_future_unref(fs[i]);
    return NULL;
}

static void count_call(loom_future *f, void *data)
{
    ck_assert_ptr_eq(loom_future_value(f), &destroyed);
    calls++;
}

START_TEST(test_references_dropped_elsewhere_under_load)
{
    pthread_t threads[DROPPERS];
    calls = 0;
    destroyed = 0;
    loop_thread = pthread_self();
    destroyed_elsewhere = false;
    atomic_store(&dropped_ready, 0);
    for (int t = 0; t < DROPPERS; t++)
        ck_assert_int_eq(pthread_create(&threads[t], NULL, drop_all, dropped[t]), 0);
    for (int i = 0; i < DROPPED; i++) {
        for (int t = 0; t < DROPPERS; t++) {
            loom_future *f = dropped[t][i] = new_future();
            ck_assert_int_eq(loom_future_on_done(f, count_call, NULL), 0);
            loom_future_ref(f);
            ck_assert_int_eq(loom_future_resolve(f, &destroyed, count_destroy_where), 0);
            loom_future_unref(f);
        }
        atomic_fetch_add(&dropped_ready, 1);
        if (i % 64 == 0)
            ck_assert_int_ge(loom_loop_run_once(loop, false), 0);
    }
    for (int t = 0; t < DROPPERS; t++)
        ck_assert_int_eq(pthread_join(threads[t], NULL), 0);
    for (int i = 0; calls < DROPPERS * DROPPED && i < 1000; i++)
        ck_assert_int_ge(loom_loop_run_once(loop, false), 0);
    ck_assert_int_eq(calls, DROPPERS * DROPPED);
    /* Every value goes on the loop's thread: the last drops were handed to it. */
    for (int i = 0; destroyed < DROPPERS * DROPPED && i < 1000; i++)
        ck_assert_int_ge(loom_loop_run_once(loop, false), 0);
    ck_assert_int_eq(destroyed, DROPPERS * DROPPED);
    ck_assert(!destroyed_elsewhere);
}
END_TEST

START_TEST(test_on_done_invalid)
{
    loom_future *f = new_future();
    ck_assert_int_eq(loom_future_on_done(f, NULL, NULL), -EINVAL);
    ck_assert_int_eq(loom_future_on_done(NULL, record, NULL), -EINVAL);
    loom_future_unref(f);
}
END_TEST

/* loom_loop_run_until returns once the callbacks added before completion
 * have run, so the caller sees what they did. */
START_TEST(test_run_until_runs_callbacks)
{
    loom_future *f = new_future();
    calls = 0;
    loom_future_on_done(f, record, (void *)0);
    loom_future_on_done(f, record, (void *)1);
    loom_future_resolve_int(f, 1);
    ck_assert_int_eq(run_until(f), 0);
    ck_assert_int_eq(calls, 2);
    loom_future_unref(f);
}
END_TEST

/* The first callback runs a nested loop, after adding one more callback: the
 * nested loop runs the second callback before the one added later. */
static loom_future *nesting_future;

static void nest_then_record(loom_future *f, void *data)
{
    record(f, data);
    ck_assert_int_eq(loom_future_on_done(f, record, (void *)2), 0);
    loom_future *g = new_future();
    ck_assert_int_eq(loom_call_soon(loop, resolve_now_cb, g, NULL), 0);
    ck_assert_int_eq(run_until(g), 0);
    ck_assert_int_eq(calls, 3); /* the nested loop ran both, in order */
    loom_future_unref(g);
}

/* The same with the host's own nested loop (a modal dialog). */
static void quit_nested(loom_loop *l, void *data)
{
    host_quit_nested(l);
}

static void nest_host_then_record(loom_future *f, void *data)
{
    record(f, data);
    ck_assert_int_eq(loom_future_on_done(f, record, (void *)2), 0);
    ck_assert_int_eq(loom_call_soon(loop, quit_nested, NULL, NULL), 0);
    host_run_nested(loop);
}

static void check_order_under_nesting(loom_future_callback first)
{
    if (!loom_loop_can_nest(loop) || !host_can_nest())
        return;
    nesting_future = new_future();
    calls = 0;
    loom_future_on_done(nesting_future, first, (void *)0);
    loom_future_on_done(nesting_future, record, (void *)1);
    loom_future_resolve_int(nesting_future, 1);
    run_until_calls(3);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(order[i], i);
    loom_future_unref(nesting_future);
}

START_TEST(test_order_kept_under_nesting)
{
    check_order_under_nesting(nest_then_record);
}
END_TEST

START_TEST(test_order_kept_under_host_nesting)
{
    check_order_under_nesting(nest_host_then_record);
}
END_TEST

/* --- unretrieved failures ------------------------------------------------ */

START_TEST(test_unretrieved_failure_reported_once)
{
    loom_future *f = new_future();
    loom_future_fail(f, -EPIPE, "nobody listens");
    loom_future_ref(f);
    loom_future_unref(f);
    ck_assert_int_eq(reports(), 0); /* only when the last reference goes */
    loom_future_unref(f);
    ck_assert_int_eq(reports(), 1);
    ck_assert_int_eq(atomic_load(&errors.last_err), -EPIPE);
}
END_TEST

START_TEST(test_retrieved_failure_not_reported)
{
    loom_future *f = new_future();
    loom_future_fail(f, -EPIPE, NULL);
    ck_assert_int_eq(loom_future_status(f), -EPIPE);
    loom_future_unref(f);

    f = new_future();
    loom_future_cancel(f);
    loom_future_unref(f);
    ck_assert_int_eq(reports(), 0);
}
END_TEST

/* --- loop life cycle ------------------------------------------------------ */

START_TEST(test_new_on_closed_loop)
{
    ck_assert_int_eq(loom_loop_close(loop), 0);
    errno = 0;
    ck_assert_ptr_null(loom_future_new(loop));
    ck_assert_int_eq(errno, ESHUTDOWN);
    errno = 0;
    ck_assert_ptr_null(loom_future_all(loop, NULL, 0));
    ck_assert_int_eq(errno, ESHUTDOWN);
}
END_TEST

START_TEST(test_future_outlives_loop)
{
    loom_future *f = new_future();
    loom_future_on_done(f, record, NULL);
    ck_assert_int_eq(loom_loop_close(loop), 0);
    loom_loop_unref(loop);
    /* The future keeps the loop object alive; completing it still works,
     * though its callbacks can no longer run. */
    ck_assert_ptr_eq(loom_future_loop(f), loop);
    loop = NULL;
    ck_assert_int_eq(loom_future_resolve_int(f, 9), 0);
    ck_assert_int_eq(loom_future_value_int(f), 9);
    loom_future_unref(f);
}
END_TEST

/* The last user reference closes the loop even while a completed future's
 * dispatch is queued (it holds the future, which holds the loop): the
 * queued work is dropped and reported, and the loop's fds are closed. */
START_TEST(test_last_unref_closes_with_dispatch_queued)
{
    fixture_settle(loop);
    loom_loop_unref(loop);
    loop = NULL;
    int fds = fixture_count_open_fds();
    loom_loop *l = host_loop_new();
    fixture_capture_errors(l, &errors);
    loom_future *f = loom_future_new(l);
    calls = 0;
    ck_assert_int_eq(loom_future_on_done(f, record, NULL), 0);
    ck_assert_int_eq(loom_future_resolve_int(f, 1), 0);
    loom_future_unref(f);
    loom_loop_unref(l);
    ck_assert_int_eq(reports(), 1); /* closed: the queued dispatch was dropped */
    ck_assert_int_eq(calls, 0);
    ck_assert_int_eq(fixture_count_open_fds(), fds);
}
END_TEST

/* A user who keeps a future but drops the loop: the loop closes, the future
 * stays usable, and completing it runs nothing. */
START_TEST(test_last_unref_closes_with_future_alive)
{
    loom_future *f = new_future();
    calls = 0;
    loom_future_on_done(f, record, NULL);
    loom_loop_unref(loop);
    loop = NULL;
    ck_assert_int_eq(loom_future_on_done(f, record, NULL), -ESHUTDOWN);
    ck_assert_int_eq(loom_future_resolve_int(f, 3), 0);
    ck_assert_int_eq(loom_future_value_int(f), 3);
    ck_assert_int_eq(calls, 0);
    loom_future_unref(f);
}
END_TEST

/* Combinators waiting on still-pending futures when the loop closes: their
 * state is released at close, so completing the inputs afterwards frees
 * everything (down to each input's value) and the loop goes too. */
static loom_future *then_same(loom_future *input, void *data)
{
    return loom_future_ref(input);
}

START_TEST(test_close_releases_waiting_combinators)
{
    fixture_settle(loop);
    loom_loop_unref(loop);
    loop = NULL;
    int fds = fixture_count_open_fds();
    loom_loop *l = host_loop_new();
    fixture_capture_errors(l, &errors); /* the timeout's timer is dropped */
    loom_future *in[5];
    for (int i = 0; i < 5; i++)
        ck_assert_ptr_nonnull(in[i] = loom_future_new(l));
    loom_future *results[] = {
        loom_future_then(in[0], then_same, NULL),
        loom_future_all(l, &in[1], 2),
        loom_future_any(l, &in[2], 2),
        loom_future_timeout(in[4], 60 * INT64_C(1000000000)),
    };
    for (int i = 0; i < 4; i++) {
        ck_assert_ptr_nonnull(results[i]);
        loom_future_unref(results[i]);
    }
    ck_assert_int_eq(loom_loop_close(l), 0);
    loom_loop_unref(l);
    destroyed = 0;
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(loom_future_resolve(in[i], &destroyed, count_destroy), 0);
        loom_future_unref(in[i]);
    }
    ck_assert_int_eq(destroyed, 5);
    ck_assert_int_eq(fixture_count_open_fds(), fds);
}
END_TEST

/* The same, with nobody completing the pending inputs after close: only the
 * close can break the input -> callback -> state -> input cycles. all and
 * any also hold a resolved input each, whose value shows that they went. */
START_TEST(test_close_breaks_combinator_cycles)
{
    loom_future *in[6];
    make_futures(in, 6);
    destroyed = 0;
    loom_future_resolve(in[2], &destroyed, count_destroy);
    loom_future_resolve(in[4], &destroyed, count_destroy);
    loom_future *results[] = {
        loom_future_then(in[0], then_same, NULL),
        loom_future_all(loop, &in[1], 2),
        loom_future_any(loop, &in[3], 2),
        loom_future_timeout(in[5], 60 * INT64_C(1000000000)),
    };
    for (int i = 0; i < 4; i++) {
        ck_assert_ptr_nonnull(results[i]);
        loom_future_unref(results[i]);
    }
    unref_futures(in, 6);
    ck_assert_int_eq(destroyed, 0);
    ck_assert_int_eq(loom_loop_close(loop), 0);
    ck_assert_int_eq(destroyed, 2);
}
END_TEST

/* A name travels with the future and into the unretrieved-failure report. */
static char reported_msg[512];

static void record_message(loom_loop *l, int err, const char *msg, void *data)
{
    snprintf(reported_msg, sizeof(reported_msg), "%s", msg);
}

START_TEST(test_name_in_report)
{
    loom_future *f = new_future();
    ck_assert_ptr_null(loom_future_get_name(f));
    char name[] = "fetch config";
    ck_assert_int_eq(loom_future_set_name(f, name), 0);
    name[0] = 'X'; /* copied */
    ck_assert_str_eq(loom_future_get_name(f), "fetch config");
    loom_loop_set_error_handler(loop, record_message, NULL);
    reported_msg[0] = 0;
    loom_future_fail(f, -EIO, NULL);
    loom_future_unref(f);
    ck_assert_msg(strstr(reported_msg, "fetch config") != NULL, "report: %s", reported_msg);
}
END_TEST

/* --- completion from other threads ---------------------------------------- */

struct foreign_call {
    loom_future *future;
    int resolve, fail, on_done, set_name;
    bool cancel;
};

static void *complete_from_thread(void *data)
{
    struct foreign_call *c = data;
    c->resolve = loom_future_resolve_int(c->future, 1);
    c->fail = loom_future_fail(c->future, -EIO, NULL);
    c->cancel = loom_future_cancel(c->future);
    c->on_done = loom_future_on_done(c->future, record, NULL);
    c->set_name = loom_future_set_name(c->future, "x");
    return NULL;
}

/* The plain mutators refuse another thread before they change anything. */
START_TEST(test_mutators_refuse_foreign_thread)
{
    struct foreign_call c = {.future = new_future()};
    run_thread(complete_from_thread, &c);
    ck_assert_int_eq(c.resolve, -EXDEV);
    ck_assert_int_eq(c.fail, -EXDEV);
    ck_assert(!c.cancel);
    ck_assert_int_eq(c.on_done, -EXDEV);
    ck_assert_int_eq(c.set_name, -EXDEV);
    ck_assert_int_eq(loom_future_state_get(c.future), LOOM_FUTURE_PENDING);
    ck_assert_ptr_null(loom_future_get_name(c.future));
    ck_assert_int_eq(reports(), 5);
    ck_assert_int_eq(atomic_load(&errors.last_err), -EXDEV);
    loom_future_unref(c.future);
}
END_TEST

static loom_future *remote[3];
static int remote_result[3];

static void *complete_threadsafe(void *data)
{
    remote_result[0] = loom_future_resolve_int_threadsafe(remote[0], 42);
    remote_result[1] = loom_future_resolve_threadsafe(remote[1], &destroyed, count_destroy);
    remote_result[2] = loom_future_fail_threadsafe(remote[2], -EPIPE, "peer left");
    return NULL;
}

static int await_remote(void *arg)
{
    int r = loom_await(remote[0]);
    return r < 0 ? r : (int)loom_future_value_int(remote[0]);
}

START_TEST(test_complete_threadsafe)
{
    make_futures(remote, 3);
    destroyed = 0;
    loom_future *task = loom_task_spawn(loop, await_remote, NULL);
    fixture_settle(loop); /* the task waits */
    pthread_t thread;
    ck_assert_int_eq(pthread_create(&thread, NULL, complete_threadsafe, NULL), 0);
    ck_assert_int_eq(run_until(task), 0);
    ck_assert_int_eq(loom_future_value_int(task), 42);
    ck_assert_int_eq(pthread_join(thread, NULL), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(remote_result[i], 0);
    ck_assert_int_eq(run_until(remote[1]), 0);
    ck_assert_ptr_eq(loom_future_value(remote[1]), &destroyed);
    ck_assert_int_eq(run_until(remote[2]), -EPIPE);
    ck_assert_str_eq(loom_future_message(remote[2]), "peer left");
    ck_assert_int_eq(reports(), 0);
    loom_future_unref(task);
    unref_futures(remote, 3);
    ck_assert_int_eq(destroyed, 1);
}
END_TEST

static void *resolve_done_threadsafe(void *data)
{
    remote_result[0] = loom_future_resolve_threadsafe(remote[0], &destroyed, count_destroy);
    return NULL;
}

/* A future done by the time the completion arrives keeps its result; the
 * late value is destroyed. A closed loop refuses at once. */
START_TEST(test_complete_threadsafe_done_or_closed)
{
    remote[0] = new_future();
    destroyed = 0;
    loom_future_cancel(remote[0]);
    run_thread(resolve_done_threadsafe, NULL);
    ck_assert_int_eq(remote_result[0], 0);
    fixture_settle(loop);
    ck_assert_int_eq(destroyed, 1);
    ck_assert_int_eq(loom_future_state_get(remote[0]), LOOM_FUTURE_CANCELLED);
    loom_future_unref(remote[0]);

    remote[0] = new_future();
    ck_assert_int_eq(loom_loop_close(loop), 0);
    run_thread(resolve_done_threadsafe, NULL);
    ck_assert_int_eq(remote_result[0], -ESHUTDOWN);
    ck_assert_int_eq(destroyed, 2);
    ck_assert_int_eq(loom_future_resolve_int_threadsafe(remote[0], 1), -ESHUTDOWN);
    ck_assert_int_eq(loom_future_fail_threadsafe(remote[0], 1, NULL), -EINVAL);
    ck_assert_int_eq(loom_future_state_get(remote[0]), LOOM_FUTURE_PENDING);
    loom_future_unref(remote[0]);
}
END_TEST

/* --- then ------------------------------------------------------------------ */

static int then_calls;
static loom_future *then_inner;

/* Returns a new future resolved with the input's integer plus one. */
static loom_future *add_one(loom_future *input, void *data)
{
    then_calls++;
    loom_future *next = loom_future_new(loom_future_loop(input));
    loom_future_resolve_int(next, loom_future_value_int(input) + 1);
    return next;
}

/* Returns the input itself: the chain completes like it. */
static loom_future *pass_through(loom_future *input, void *data)
{
    then_calls++;
    return loom_future_ref(input);
}

/* Returns a pending future the test completes or cancels. */
static loom_future *return_inner(loom_future *input, void *data)
{
    then_calls++;
    then_inner = loom_future_new(loom_future_loop(input));
    return loom_future_ref(then_inner);
}

static loom_future *return_null(loom_future *input, void *data)
{
    then_calls++;
    errno = ENOENT;
    return NULL;
}

START_TEST(test_then_chains)
{
    loom_future *f = new_future();
    then_calls = 0;
    loom_future *r = loom_future_then(f, add_one, NULL);
    ck_assert_ptr_nonnull(r);
    loom_future *r2 = loom_future_then(r, add_one, NULL);
    loom_future_resolve_int(f, 40);
    ck_assert_int_eq(then_calls, 0);
    ck_assert_int_eq(run_until(r2), 0);
    ck_assert_int_eq(then_calls, 2);
    ck_assert_int_eq(loom_future_value_int(r), 41);
    ck_assert_int_eq(loom_future_value_int(r2), 42);
    loom_future_unref(f);
    loom_future_unref(r);
    loom_future_unref(r2);
}
END_TEST

START_TEST(test_then_shares_value)
{
    loom_future *f = new_future();
    destroyed = 0;
    then_calls = 0;
    loom_future *r = loom_future_then(f, pass_through, NULL);
    loom_future_resolve(f, &destroyed, count_destroy);
    loom_future_unref(f); /* the result keeps the value alive */
    ck_assert_int_eq(run_until(r), 0);
    ck_assert_int_eq(destroyed, 0);
    ck_assert_ptr_eq(loom_future_value(r), &destroyed);
    loom_destroy_fn destroy = count_destroy;
    ck_assert_ptr_null(loom_future_steal_value(r, &destroy));
    ck_assert(destroy == NULL);
    ck_assert_ptr_eq(loom_future_value(r), &destroyed);
    loom_future_unref(r);
    ck_assert_int_eq(destroyed, 1);
}
END_TEST

START_TEST(test_then_failure_propagates)
{
    loom_future *f = new_future();
    loom_future *r = loom_future_then(f, pass_through, NULL);
    loom_future_fail(f, -EIO, "read error");
    ck_assert_int_eq(run_until(r), -EIO);
    ck_assert_int_eq(loom_future_state_get(r), LOOM_FUTURE_FAILED);
    ck_assert_str_eq(loom_future_message(r), "read error");
    loom_future_unref(f);
    loom_future_unref(r);
    ck_assert_int_eq(reports(), 0);
}
END_TEST

START_TEST(test_then_null_fails_with_errno)
{
    loom_future *f = new_future();
    loom_future *r = loom_future_then(f, return_null, NULL);
    loom_future_resolve_int(f, 1);
    ck_assert_int_eq(run_until(r), -ENOENT);
    loom_future_unref(f);
    loom_future_unref(r);
}
END_TEST

START_TEST(test_then_input_cancelled)
{
    loom_future *f = new_future();
    then_calls = 0;
    loom_future *r = loom_future_then(f, pass_through, NULL);
    loom_future_cancel(f);
    ck_assert_int_eq(run_until(r), -ECANCELED);
    ck_assert_int_eq(then_calls, 1);
    ck_assert_int_eq(loom_future_state_get(r), LOOM_FUTURE_CANCELLED);
    loom_future_unref(f);
    loom_future_unref(r);
}
END_TEST

START_TEST(test_then_cancel_cancels_input)
{
    loom_future *f = new_future();
    then_calls = 0;
    calls = 0;
    loom_future *r = loom_future_then(f, add_one, NULL);
    loom_future_on_done(f, record, NULL);
    ck_assert(loom_future_cancel(r));
    ck_assert_int_eq(loom_future_state_get(f), LOOM_FUTURE_CANCELLED);
    run_until_calls(1);
    ck_assert_int_eq(then_calls, 0); /* fn does not run for a cancelled chain */
    loom_future_unref(f);
    loom_future_unref(r);
}
END_TEST

START_TEST(test_then_cancel_cancels_inner)
{
    loom_future *f = new_future();
    then_inner = NULL;
    calls = 0;
    loom_future *r = loom_future_then(f, return_inner, NULL);
    loom_future_on_done(f, record, NULL);
    loom_future_resolve_int(f, 1);
    run_until_calls(1); /* fn ran before the recorder: it was added first */
    ck_assert_ptr_nonnull(then_inner);
    ck_assert(loom_future_cancel(r));
    ck_assert_int_eq(loom_future_state_get(then_inner), LOOM_FUTURE_CANCELLED);
    loom_future_unref(then_inner);
    loom_future_unref(f);
    loom_future_unref(r);
}
END_TEST

/* --- all ------------------------------------------------------------------ */

START_TEST(test_all_resolves_when_all_did)
{
    loom_future *fs[3];
    make_futures(fs, 3);
    loom_future *r = loom_future_all(loop, fs, 3);
    ck_assert_ptr_nonnull(r);
    loom_future_resolve_int(fs[2], 1);
    loom_future_resolve_int(fs[0], 1);
    calls = 0;
    loom_future_on_done(fs[0], record, NULL);
    run_until_calls(1);
    ck_assert(!loom_future_done(r));
    loom_future_resolve_int(fs[1], 1);
    ck_assert_int_eq(run_until(r), 0);
    ck_assert_ptr_null(loom_future_value(r));
    unref_futures(fs, 3);
    loom_future_unref(r);
}
END_TEST

START_TEST(test_all_empty)
{
    loom_future *r = loom_future_all(loop, NULL, 0);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(loom_future_state_get(r), LOOM_FUTURE_RESOLVED);
    loom_future_unref(r);
}
END_TEST

START_TEST(test_all_first_failure_cancels_rest)
{
    loom_future *fs[3];
    make_futures(fs, 3);
    loom_future *r = loom_future_all(loop, fs, 3);
    loom_future_resolve_int(fs[0], 1);
    loom_future_fail(fs[1], -EIO, "second broke");
    ck_assert_int_eq(run_until(r), -EIO);
    ck_assert_str_eq(loom_future_message(r), "second broke");
    ck_assert_int_eq(loom_future_state_get(fs[0]), LOOM_FUTURE_RESOLVED);
    ck_assert_int_eq(loom_future_state_get(fs[2]), LOOM_FUTURE_CANCELLED);
    fixture_settle(loop);
    unref_futures(fs, 3);
    loom_future_unref(r);
    ck_assert_int_eq(reports(), 0); /* all consumed the failure */
}
END_TEST

START_TEST(test_all_input_cancelled)
{
    loom_future *fs[2];
    make_futures(fs, 2);
    loom_future *r = loom_future_all(loop, fs, 2);
    loom_future_cancel(fs[1]);
    ck_assert_int_eq(run_until(r), -ECANCELED);
    ck_assert_int_eq(loom_future_state_get(r), LOOM_FUTURE_CANCELLED);
    ck_assert_int_eq(loom_future_state_get(fs[0]), LOOM_FUTURE_CANCELLED);
    fixture_settle(loop);
    unref_futures(fs, 2);
    loom_future_unref(r);
}
END_TEST

START_TEST(test_all_cancel_cancels_inputs)
{
    loom_future *fs[2];
    make_futures(fs, 2);
    loom_future_resolve_int(fs[0], 1);
    loom_future *r = loom_future_all(loop, fs, 2);
    ck_assert(loom_future_cancel(r));
    ck_assert_int_eq(loom_future_state_get(fs[0]), LOOM_FUTURE_RESOLVED);
    ck_assert_int_eq(loom_future_state_get(fs[1]), LOOM_FUTURE_CANCELLED);
    calls = 0;
    loom_future_on_done(fs[1], record, NULL);
    run_until_calls(1);
    unref_futures(fs, 2);
    loom_future_unref(r);
}
END_TEST

/* A result dropped by everyone no longer acts: a later failure (or win)
 * leaves the caller's other futures alone. */
static void check_group_dropped(loom_future *(*combine)(loom_loop *, loom_future *const *, size_t), bool fail)
{
    loom_future *fs[3];
    make_futures(fs, 3);
    loom_future_unref(combine(loop, fs, 3));
    if (fail)
        loom_future_fail(fs[0], -EIO, NULL);
    else
        loom_future_resolve_int(fs[0], 1);
    fixture_settle(loop);
    ck_assert_int_eq(loom_future_state_get(fs[1]), LOOM_FUTURE_PENDING);
    ck_assert_int_eq(loom_future_state_get(fs[2]), LOOM_FUTURE_PENDING);
    loom_future_resolve_int(fs[1], 1);
    loom_future_resolve_int(fs[2], 1);
    fixture_settle(loop);
    unref_futures(fs, 3);
    ck_assert_int_eq(reports(), 0);
}

START_TEST(test_all_stops_once_result_dropped)
{
    check_group_dropped(loom_future_all, true);
}
END_TEST

START_TEST(test_any_stops_once_result_dropped)
{
    check_group_dropped(loom_future_any, false);
}
END_TEST

/* loom_await of another loop's future fails with -EXDEV and says why. */
static loom_future *foreign_loop_future;
static char await_report[512];

static void keep_report(loom_loop *l, int err, const char *msg, void *data)
{
    snprintf(await_report, sizeof(await_report), "%s", msg);
}

static int await_foreign(void *arg)
{
    return loom_await(foreign_loop_future);
}

START_TEST(test_await_other_loop_reported)
{
    loom_loop *other;
    ck_assert_int_eq(loom_loop_new(&other, NULL), 0);
    foreign_loop_future = loom_future_new(other);
    loom_loop_set_error_handler(loop, keep_report, NULL);
    await_report[0] = 0;
    loom_future *task = loom_task_spawn(loop, await_foreign, NULL);
    ck_assert_int_eq(run_until(task), -EXDEV);
    ck_assert_msg(strstr(await_report, "another loop") != NULL, "report: %s", await_report);
    ck_assert_msg(strstr(loom_strerror(-EXDEV), "another loop") != NULL, "%s", loom_strerror(-EXDEV));
    loom_future_unref(task);
    loom_future_unref(foreign_loop_future);
    loom_loop_unref(other);
}
END_TEST

/* A group that cannot attach to one of its inputs (its loop closed) is
 * refused before it touches the others: they stay pending, not cancelled. */
START_TEST(test_group_refused_leaves_inputs)
{
    loom_loop *other;
    ck_assert_int_eq(loom_loop_new(&other, NULL), 0);
    loom_future *fs[2] = {new_future(), loom_future_new(other)};
    ck_assert_int_eq(loom_loop_close(other), 0);
    loom_future *(*groups[])(loom_loop *, loom_future *const *, size_t) = {loom_future_all,
                                                                          loom_future_any};
    for (size_t i = 0; i < 2; i++) {
        errno = 0;
        ck_assert_ptr_null(groups[i](loop, fs, 2));
        ck_assert_int_eq(errno, ESHUTDOWN);
        ck_assert_int_eq(loom_future_state_get(fs[0]), LOOM_FUTURE_PENDING);
    }
    /* Nothing of the groups' is attached: the input's only callback runs. */
    calls = 0;
    ck_assert_int_eq(loom_future_on_done(fs[0], record, NULL), 0);
    loom_future_resolve(fs[0], NULL, NULL);
    run_until_calls(1);
    fixture_settle(loop);
    ck_assert_int_eq(calls, 1);
    unref_futures(fs, 2);
    loom_loop_unref(other);
    ck_assert_int_eq(reports(), 0);
}
END_TEST

/* --- any ------------------------------------------------------------------ */

START_TEST(test_any_first_wins)
{
    loom_future *fs[3];
    make_futures(fs, 3);
    loom_future *r = loom_future_any(loop, fs, 3);
    ck_assert_ptr_nonnull(r);
    destroyed = 0;
    loom_future_resolve(fs[1], &destroyed, count_destroy);
    ck_assert_int_eq(run_until(r), 0);
    ck_assert_ptr_eq(loom_future_value(r), &destroyed);
    ck_assert_int_eq(loom_future_value_int(r), 1);
    ck_assert_int_eq(loom_future_state_get(fs[0]), LOOM_FUTURE_CANCELLED);
    ck_assert_int_eq(loom_future_state_get(fs[2]), LOOM_FUTURE_CANCELLED);
    /* Once the losers' callbacks ran, only the result holds the value. */
    calls = 0;
    loom_future_on_done(fs[2], record, NULL);
    run_until_calls(1);
    unref_futures(fs, 3);
    ck_assert_int_eq(destroyed, 0);
    loom_future_unref(r);
    ck_assert_int_eq(destroyed, 1);
}
END_TEST

START_TEST(test_any_failure_wins)
{
    loom_future *fs[2];
    make_futures(fs, 2);
    loom_future *r = loom_future_any(loop, fs, 2);
    loom_future_fail(fs[0], -ECONNREFUSED, NULL);
    ck_assert_int_eq(run_until(r), -ECONNREFUSED);
    ck_assert_int_eq(loom_future_state_get(fs[1]), LOOM_FUTURE_CANCELLED);
    fixture_settle(loop);
    unref_futures(fs, 2);
    loom_future_unref(r);
    ck_assert_int_eq(reports(), 0);
}
END_TEST

START_TEST(test_any_empty_is_invalid)
{
    errno = 0;
    ck_assert_ptr_null(loom_future_any(loop, NULL, 0));
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(test_combinators_reject_null)
{
    loom_future *fs[2] = {new_future(), NULL};
    errno = 0;
    ck_assert_ptr_null(loom_future_all(loop, fs, 2));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(loom_future_any(loop, NULL, 1));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(loom_future_then(fs[0], NULL, NULL));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(loom_future_timeout(NULL, 1));
    ck_assert_int_eq(errno, EINVAL);
    loom_future_unref(fs[0]);
}
END_TEST

START_TEST(test_any_cancel_cancels_inputs)
{
    loom_future *fs[2];
    make_futures(fs, 2);
    loom_future *r = loom_future_any(loop, fs, 2);
    ck_assert(loom_future_cancel(r));
    ck_assert_int_eq(loom_future_state_get(fs[0]), LOOM_FUTURE_CANCELLED);
    ck_assert_int_eq(loom_future_state_get(fs[1]), LOOM_FUTURE_CANCELLED);
    fixture_settle(loop);
    unref_futures(fs, 2);
    loom_future_unref(r);
}
END_TEST

/* --- timeout -------------------------------------------------------------- */

/* The combinator's timer was cancelled, where the backend can tell. */
static void assert_no_timer(void)
{
    int64_t timeout = -2;
    ck_assert_int_eq(loom_loop_get_timeout(loop, &timeout), 0);
    ck_assert_int_eq(timeout, -1);
}

START_TEST(test_timeout_expires)
{
    loom_future *f = new_future();
    loom_future *r = loom_future_timeout(f, 1000000); /* 1 ms */
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(run_until(r), -ETIMEDOUT);
    ck_assert_int_eq(loom_future_state_get(r), LOOM_FUTURE_FAILED);
    ck_assert_int_eq(loom_future_state_get(f), LOOM_FUTURE_CANCELLED);
    fixture_settle(loop);
    loom_future_unref(f);
    loom_future_unref(r);
}
END_TEST

START_TEST(test_timeout_completes_like_input)
{
    loom_future *f = new_future();
    /* 60 s: the test would time out if the result waited for the timer. */
    loom_future *r = loom_future_timeout(f, 60 * INT64_C(1000000000));
    loom_future_resolve_int(f, 7);
    ck_assert_int_eq(run_until(r), 0);
    ck_assert_int_eq(loom_future_value_int(r), 7);
    assert_no_timer();
    loom_future_unref(f);
    loom_future_unref(r);
}
END_TEST

START_TEST(test_timeout_failure_propagates)
{
    loom_future *f = new_future();
    loom_future *r = loom_future_timeout(f, 60 * INT64_C(1000000000));
    loom_future_fail(f, -EIO, NULL);
    ck_assert_int_eq(run_until(r), -EIO);
    loom_future_unref(f);
    loom_future_unref(r);
    ck_assert_int_eq(reports(), 0);
}
END_TEST

START_TEST(test_timeout_cancel_cancels_input)
{
    loom_future *f = new_future();
    loom_future *r = loom_future_timeout(f, 1000000);
    ck_assert(loom_future_cancel(r));
    ck_assert_int_eq(loom_future_state_get(f), LOOM_FUTURE_CANCELLED);
    calls = 0;
    loom_future_on_done(f, record, NULL);
    run_until_calls(1);
    assert_no_timer();
    loom_future_unref(f);
    loom_future_unref(r);
}
END_TEST

/* A combinator whose result is done before an input (a timeout that fired,
 * any's losers, all after a failure, a result the user cancelled, an input
 * given twice) cancels
 * the input detached: nothing of its own is left queued, so closing the
 * loop right after drops nothing and reports nothing. */
START_TEST(test_combinators_leave_nothing_queued)
{
    loom_future *in[8];
    make_futures(in, 8);
    loom_future *timed = loom_future_timeout(in[0], 1000000); /* 1 ms */
    loom_future *any = loom_future_any(loop, &in[1], 2);
    loom_future *all = loom_future_all(loop, &in[3], 2);
    loom_future *then = loom_future_then(in[5], then_same, NULL);
    loom_future *cancelled = loom_future_timeout(in[6], 60 * INT64_C(1000000000));
    loom_future *twice[] = {in[7], in[7]};
    loom_future *dup = loom_future_any(loop, twice, 2); /* one input, two callbacks */
    ck_assert(timed && any && all && then && cancelled && dup);
    ck_assert(loom_future_cancel(then));
    ck_assert(loom_future_cancel(cancelled));
    loom_future_resolve_int(in[1], 1);
    loom_future_fail(in[3], -EIO, NULL);
    ck_assert_int_eq(run_until(timed), -ETIMEDOUT);
    ck_assert_int_eq(run_until(any), 0);
    ck_assert_int_eq(run_until(all), -EIO);
    ck_assert_int_eq(run_until(then), -ECANCELED);
    ck_assert_int_eq(run_until(cancelled), -ECANCELED);
    ck_assert(loom_future_cancel(dup)); /* and the loop does not run again */
    const int cancelled_inputs[] = {0, 2, 4, 5, 6, 7};
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(loom_future_state_get(in[cancelled_inputs[i]]), LOOM_FUTURE_CANCELLED);
    assert_no_timer();
    loom_future *results[] = {timed, any, all, then, cancelled, dup};
    unref_futures(results, 6);
    unref_futures(in, 8);
    ck_assert_int_eq(loom_loop_close(loop), 0);
    ck_assert_uint_eq(loom_loop_dropped_calls(loop), 0);
    ck_assert_int_eq(reports(), 0);
}
END_TEST

static TCase *future_tcase(Suite *s, const char *name)
{
    TCase *tc = fixture_tcase(s, name);
    tcase_add_checked_fixture(tc, setup, teardown);
    return tc;
}

Suite *future_suite(void)
{
    Suite *s = suite_create("future");
    TCase *tc;

    tc = future_tcase(s, "state");
    tcase_add_test(tc, test_new_is_pending);
    tcase_add_test(tc, test_resolve_once);
    tcase_add_test(tc, test_resolve_int);
    tcase_add_test(tc, test_fail_once);
    tcase_add_test(tc, test_cancel_once);
    tcase_add_test(tc, test_steal_value);
    tcase_add_test(tc, test_steal_value_pending);
    tcase_add_test(tc, test_unretrieved_failure_reported_once);
    tcase_add_test(tc, test_retrieved_failure_not_reported);
    tcase_add_test(tc, test_new_on_closed_loop);
    tcase_add_test(tc, test_future_outlives_loop);
    tcase_add_test(tc, test_last_unref_closes_with_dispatch_queued);
    tcase_add_test(tc, test_last_unref_closes_with_future_alive);
    tcase_add_test(tc, test_close_releases_waiting_combinators);
    tcase_add_test(tc, test_close_breaks_combinator_cycles);
    tcase_add_test(tc, test_name_in_report);
    tcase_add_test(tc, test_mutators_refuse_foreign_thread);
    tcase_add_test(tc, test_complete_threadsafe);
    tcase_add_test(tc, test_complete_threadsafe_done_or_closed);

    tc = future_tcase(s, "callbacks");
    tcase_add_test(tc, test_callbacks_run_later_in_order);
    tcase_add_test(tc, test_callback_runs_on_a_later_tick);
    tcase_add_test(tc, test_on_done_after_completion);
    tcase_add_test(tc, test_late_callbacks_keep_fifo_order);
    tcase_add_test(tc, test_callback_keeps_future_alive);
    tcase_add_test(tc, test_last_reference_dropped_elsewhere_while_queued);
    tcase_add_test(tc, test_callback_keeps_orphaned_future);
    tcase_add_test(tc, test_kept_future_dropped_elsewhere);
    tcase_add_test(tc, test_last_reference_dropped_elsewhere_after_close);
    tcase_add_test(tc, test_references_dropped_elsewhere_under_load);
    tcase_add_test(tc, test_on_done_invalid);
    tcase_add_test(tc, test_run_until_runs_callbacks);
    tcase_add_test(tc, test_order_kept_under_nesting);
    tcase_add_test(tc, test_order_kept_under_host_nesting);

    tc = future_tcase(s, "combinators");
    tcase_add_test(tc, test_then_chains);
    tcase_add_test(tc, test_then_shares_value);
    tcase_add_test(tc, test_then_failure_propagates);
    tcase_add_test(tc, test_then_null_fails_with_errno);
    tcase_add_test(tc, test_then_input_cancelled);
    tcase_add_test(tc, test_then_cancel_cancels_input);
    tcase_add_test(tc, test_then_cancel_cancels_inner);
    tcase_add_test(tc, test_all_resolves_when_all_did);
    tcase_add_test(tc, test_all_empty);
    tcase_add_test(tc, test_all_first_failure_cancels_rest);
    tcase_add_test(tc, test_all_input_cancelled);
    tcase_add_test(tc, test_all_cancel_cancels_inputs);
    tcase_add_test(tc, test_all_stops_once_result_dropped);
    tcase_add_test(tc, test_any_stops_once_result_dropped);
    tcase_add_test(tc, test_await_other_loop_reported);
    tcase_add_test(tc, test_any_first_wins);
    tcase_add_test(tc, test_any_failure_wins);
    tcase_add_test(tc, test_any_empty_is_invalid);
    tcase_add_test(tc, test_any_cancel_cancels_inputs);
    tcase_add_test(tc, test_combinators_reject_null);
    tcase_add_test(tc, test_group_refused_leaves_inputs);
    tcase_add_test(tc, test_timeout_expires);
    tcase_add_test(tc, test_timeout_completes_like_input);
    tcase_add_test(tc, test_timeout_failure_propagates);
    tcase_add_test(tc, test_timeout_cancel_cancels_input);
    tcase_add_test(tc, test_combinators_leave_nothing_queued);
    return s;
}
