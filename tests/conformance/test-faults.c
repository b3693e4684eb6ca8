/* loom conformance suite — faults found by review, each kept from coming
 * back: nested runs from fd callbacks, a group freed under its waiter,
 * combinator state at close, deadlines in the far past, grants kept by
 * loom_await_timeout, and closed fds whose file lives on. */
#include <unistd.h>
#include "fixture.h"
#include "suites.h"

#define MS INT64_C(1000000)

static loom_loop *loop;

static void setup(void)
{
    loop = host_loop_new();
}

static void teardown(void)
{
    loom_loop_close(loop); /* some tests close it themselves */
    loom_loop_unref(loop);
    loop = NULL;
}

static void resolve(loom_loop *l, void *future)
{
    loom_future_resolve_int(future, 1);
}

/* --- what an fd callback schedules is armed, for a nested run ------------- */

struct nest_from_fd {
    loom_future *timer_done;
    int status;
    bool ran;
};

static void nest_in_reader(loom_loop *l, int fd, unsigned events, void *data)
{
    struct nest_from_fd *n = data;
    char byte;
    ck_assert_int_eq(read(fd, &byte, 1), 1);
    loom_remove_reader(l, fd);
    ck_assert_int_eq(loom_call_later(l, 10 * MS, resolve, n->timer_done, NULL), 0);
    n->status = loom_loop_run_until(l, n->timer_done);
    n->ran = true;
}

START_TEST(test_nested_run_from_fd_callback)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    struct nest_from_fd n = {.timer_done = loom_future_new(loop), .status = 1};
    ck_assert_int_eq(loom_add_reader(loop, p[0], nest_in_reader, &n), 0);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    for (int i = 0; i < 100 && !n.ran; i++)
        ck_assert_int_eq(loom_loop_run_once(loop, true), 0);
    ck_assert(n.ran);
    /* Where the host cannot nest, the nested run is refused, not hung. */
    ck_assert_int_eq(n.status, host_can_nest() ? 0 : -EDEADLK);
    fixture_run_until(loop, n.timer_done, 5000, "the timer");
    fixture_settle(loop);
    loom_future_unref(n.timer_done);
    close(p[0]);
    close(p[1]);
}
END_TEST

/* --- a group freed while a task waits for it ------------------------------ */

static loom_task_group *freed_group;

static int sleep_long(void *arg)
{
    return loom_sleep(5000 * MS);
}

static int wait_for_group(void *arg)
{
    return loom_task_group_wait(freed_group);
}

static void free_group(loom_loop *l, void *data)
{
    loom_task_group_free(freed_group);
}

START_TEST(test_group_freed_while_waited_for)
{
    freed_group = loom_task_group_new(loop);
    loom_future_unref(loom_task_group_spawn(freed_group, sleep_long, NULL));
    loom_future *waiter = loom_task_spawn(loop, wait_for_group, NULL);
    ck_assert_int_eq(loom_call_later(loop, 10 * MS, free_group, NULL, NULL), 0);
    /* The child is cancelled, the wait ends, and the waiter frees the group. */
    ck_assert_int_eq(fixture_run_until(loop, waiter, 5000, "the waiter"), -ECANCELED);
    loom_future_unref(waiter);
    fixture_settle(loop);
}
END_TEST

/* --- combinator state goes with a closed loop ------------------------------ */

static int values_destroyed;

static void count_destroy(void *value)
{
    values_destroyed++;
}

static loom_future *then_same(loom_future *input, void *data)
{
    return loom_future_ref(input);
}

/* Each combinator waits on a future whose callbacks are queued when the loop
 * closes: what they hold is released, down to the input's value. */
START_TEST(test_close_releases_combinator_state)
{
    values_destroyed = 0;
    loom_future *inputs[3];
    for (int i = 0; i < 3; i++)
        inputs[i] = loom_future_new(loop);
    loom_future *results[] = {
        loom_future_then(inputs[0], then_same, NULL),
        loom_future_all(loop, &inputs[1], 1),
        loom_future_timeout(inputs[2], 5000 * MS),
    };
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_nonnull(results[i]);
        ck_assert_int_eq(loom_future_resolve(inputs[i], &values_destroyed, count_destroy), 0);
        loom_future_unref(inputs[i]);
        loom_future_unref(results[i]);
    }
    ck_assert_int_eq(values_destroyed, 0); /* the callbacks have not run */
    ck_assert_int_eq(loom_loop_close(loop), 0);
    ck_assert_int_eq(values_destroyed, 3);
}
END_TEST

/* --- a deadline in the far past means "now" -------------------------------- */

START_TEST(test_call_at_far_past)
{
    loom_future *done = loom_future_new(loop);
    ck_assert_int_eq(loom_call_at(loop, INT64_MIN + 1, resolve, done, NULL), 0);
    ck_assert_int_eq(fixture_run_until(loop, done, 2000, "a timer due long ago"), 0);
    loom_future_unref(done);
}
END_TEST

/* --- loom_await_timeout keeps a grant that arrived before a cancel ------- */

static loom_lock *granted_lock;
static loom_future *grantee;
static int grantee_result, grantee_next;

static int acquire_with_timeout(void *arg)
{
    loom_future *acquired = loom_lock_acquire(granted_lock);
    grantee_result = loom_await_timeout(acquired, 5000 * MS);
    loom_future_unref(acquired);
    grantee_next = loom_yield(); /* the cancellation arrives here */
    if (grantee_result == 0)
        loom_lock_release(granted_lock);
    return 0;
}

static void release_then_cancel(loom_loop *l, void *data)
{
    ck_assert_int_eq(loom_lock_release(granted_lock), 0); /* granted to the task */
    ck_assert(loom_future_cancel(grantee));
}

START_TEST(test_await_timeout_keeps_grant)
{
    granted_lock = loom_lock_new(loop);
    loom_future *mine = loom_lock_acquire(granted_lock);
    ck_assert_int_eq(loom_future_status(mine), 0);
    grantee_result = grantee_next = 1;
    grantee = loom_task_spawn(loop, acquire_with_timeout, NULL);
    ck_assert_int_eq(loom_call_later(loop, 10 * MS, release_then_cancel, NULL, NULL), 0);
    for (int i = 0; i < 1000 && grantee_next == 1; i++)
        ck_assert_int_eq(loom_loop_run_once(loop, true), 0);
    ck_assert_int_eq(grantee_result, 0);
    ck_assert_int_eq(grantee_next, -ECANCELED);
    fixture_settle(loop);
    ck_assert(!loom_lock_locked(granted_lock)); /* released by the task */
    loom_future_unref(mine);
    loom_future_unref(grantee);
    loom_lock_unref(granted_lock);
}
END_TEST

/* --- a closed fd whose file lives on (a dup) does not spin the loop ------- */

static void never_read(loom_loop *l, int fd, unsigned events, void *data)
{
    ck_abort_msg("a removed reader was called");
}

START_TEST(test_closed_dup_fd_does_not_spin)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    int keep = dup(p[0]); /* the file outlives p[0] */
    ck_assert_int_ge(keep, 0);
    ck_assert_int_eq(loom_add_reader(loop, p[0], never_read, NULL), 0);
    ck_assert_int_eq(write(p[1], "x", 1), 1); /* readable, and stays so */
    close(p[0]);
    ck_assert_int_eq(loom_remove_reader(loop, p[0]), 0);

    loom_future *later = loom_future_new(loop);
    ck_assert_int_eq(loom_call_later(loop, 100 * MS, resolve, later, NULL), 0);
    uint64_t ticks = loom_loop_ticks(loop);
    ck_assert_int_eq(fixture_run_until(loop, later, 5000, "100 ms"), 0);
    ck_assert_uint_le(loom_loop_ticks(loop) - ticks, 5);
    loom_future_unref(later);
    close(keep);
    close(p[1]);
}
END_TEST

Suite *faults_suite(void)
{
    Suite *s = suite_create("faults");
    TCase *tc = fixture_tcase(s, "faults");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_nested_run_from_fd_callback);
    tcase_add_test(tc, test_group_freed_while_waited_for);
    tcase_add_test(tc, test_close_releases_combinator_state);
    tcase_add_test(tc, test_call_at_far_past);
    tcase_add_test(tc, test_await_timeout_keeps_grant);
    tcase_add_test(tc, test_closed_dup_fd_does_not_spin);
    return s;
}
