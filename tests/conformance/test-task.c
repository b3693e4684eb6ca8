/* Conformance: tasks (fibers awaiting futures) and task groups. */
#include "config.h"
#include <stdlib.h>
#include <string.h>
#include <check.h>
#include <loom/task.h>
#include "fixture.h"
#include "suites.h"
#if HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

#define WAIT_MS 5000
#define MS INT64_C(1000000)
#define LONG_SLEEP (60 * 1000 * MS) /* never reached: the test cancels it */

static loom_loop *loop;
static fixture_errors errors;

static void setup(void)
{
    loop = host_loop_new();
    fixture_capture_errors(loop, &errors);
}

static void teardown(void)
{
    loom_loop_unref(loop);
    loop = NULL;
}

static loom_future *spawn(loom_task_fn fn, void *arg)
{
    loom_future *task = loom_task_spawn(loop, fn, arg);
    ck_assert_msg(task != NULL, "loom_task_spawn: %s", strerror(errno));
    return task;
}

static loom_future *new_future(void)
{
    loom_future *f = loom_future_new(loop);
    ck_assert_ptr_nonnull(f);
    return f;
}

/* Runs the loop until f is done (bounded); returns its status. */
static int run_until(loom_future *f)
{
    return fixture_run_until(loop, f, WAIT_MS, "task");
}

static void flag_not_set(loom_loop *l, void *data)
{
    ck_abort_msg("flag not set after %d ms", fixture_scaled_ms(WAIT_MS));
}

/* Runs the loop until *flag (bounded). */
static void run_until_flag(const bool *flag)
{
    loom_handle dog;
    ck_assert_int_eq(loom_call_later(loop, fixture_scaled_ms(WAIT_MS) * MS, flag_not_set, NULL, &dog), 0);
    while (!*flag)
        ck_assert_int_eq(loom_loop_run_once(loop, true), 0);
    loom_cancel(loop, dog);
}

static void mark(loom_loop *l, void *data)
{
    *(bool *)data = true;
}

/* Runs two more ticks, so that what is scheduled already (callbacks of
 * cancelled futures, wakeups of returning tasks) has run. */
static void settle(void)
{
    for (int i = 0; i < 2; i++) {
        bool ran = false;
        ck_assert_int_eq(loom_call_soon(loop, mark, &ran, NULL), 0);
        run_until_flag(&ran);
    }
}

/* --- basics ---------------------------------------------------------------------- */

static int ran_count;

static int return_seven(void *arg)
{
    ran_count++;
    ck_assert_ptr_eq(arg, &ran_count);
    ck_assert_ptr_nonnull(loom_task_current());
    return 7;
}

START_TEST(test_spawn_starts_on_next_tick)
{
    ran_count = 0;
    loom_future *task = spawn(return_seven, &ran_count);
    ck_assert_int_eq(ran_count, 0); /* not inside spawn */
    ck_assert_int_eq(loom_future_state_get(task), LOOM_FUTURE_PENDING);
    ck_assert_int_eq(run_until(task), 0);
    ck_assert_int_eq(ran_count, 1);
    ck_assert_int_eq(loom_future_value_int(task), 7);
    ck_assert_ptr_null(loom_task_current());
    loom_future_unref(task);
}
END_TEST

static int return_value(void *arg)
{
    char *s = strdup("hello");
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(loom_task_set_value(s, free), 0);
    return 0;
}

static int fail_with_message(void *arg)
{
    return loom_task_fail(-EPROTO, "bad header");
}

START_TEST(test_task_result)
{
    loom_future *ok = spawn(return_value, NULL);
    loom_future *bad = spawn(fail_with_message, NULL);
    ck_assert_int_eq(run_until(ok), 0);
    ck_assert_str_eq(loom_future_value(ok), "hello");
    ck_assert_int_eq(run_until(bad), -EPROTO);
    ck_assert_str_eq(loom_future_message(bad), "bad header");
    loom_future_unref(ok);
    loom_future_unref(bad);
    ck_assert_int_eq(atomic_load(&errors.count), 0);
}
END_TEST

/* --- await ------------------------------------------------------------------------- */

struct awaiter {
    loom_future *first, *second, *failing;
    char log[16];
    int n;
};

static void note(struct awaiter *a, char c)
{
    ck_assert_int_lt(a->n, (int)sizeof(a->log) - 1);
    a->log[a->n++] = c;
}

static int await_in_order(void *arg)
{
    struct awaiter *a = arg;
    note(a, 's');
    ck_assert_int_eq(loom_await(a->first), 0);
    note(a, '1');
    ck_assert_int_eq(loom_future_value_int(a->first), 10);
    ck_assert_int_eq(loom_await(a->second), 0); /* done already: no suspension */
    note(a, '2');
    ck_assert_int_eq(loom_await(a->failing), -EIO);
    note(a, 'f');
    return 0;
}

static void resolve_second(loom_loop *l, void *data)
{
    struct awaiter *a = data;
    note(a, 'B');
    loom_future_resolve_int(a->second, 20);
}

static void resolve_first(loom_loop *l, void *data)
{
    struct awaiter *a = data;
    note(a, 'A');
    loom_future_resolve_int(a->first, 10);
    loom_future_fail(a->failing, -EIO, NULL);
}

START_TEST(test_await_order)
{
    struct awaiter a = {.first = new_future(), .second = new_future(), .failing = new_future()};
    loom_future *task = spawn(await_in_order, &a);
    ck_assert_int_eq(loom_call_later(loop, 5 * MS, resolve_second, &a, NULL), 0);
    ck_assert_int_eq(loom_call_later(loop, 20 * MS, resolve_first, &a, NULL), 0);
    ck_assert_int_eq(run_until(task), 0);
    ck_assert_str_eq(a.log, "sBA12f");
    loom_future_unref(task);
    loom_future_unref(a.first);
    loom_future_unref(a.second);
    loom_future_unref(a.failing);
    ck_assert_int_eq(atomic_load(&errors.count), 0); /* awaiting retrieved the failure */
}
END_TEST

static int await_itself(void *arg)
{
    ck_assert_int_eq(loom_await(loom_task_current()), -EDEADLK);
    /* Its text names this case, not only a loop's nesting. */
    ck_assert_msg(strstr(loom_strerror(-EDEADLK), "task") != NULL, "%s", loom_strerror(-EDEADLK));
    ck_assert_int_eq(loom_await(NULL), -EINVAL);
    return 0;
}

START_TEST(test_await_errors)
{
    loom_future *f = new_future();
    ck_assert_int_eq(loom_await(f), -EPERM);
    ck_assert_int_eq(loom_await_timeout(f, MS), -EPERM);
    ck_assert_int_eq(loom_sleep(MS), -EPERM);
    ck_assert_int_eq(loom_yield(), -EPERM);
    ck_assert_ptr_null(loom_task_current());
    ck_assert_int_eq(loom_task_set_value(NULL, NULL), -EPERM);
    ck_assert_int_eq(loom_task_fail(-EIO, "x"), -EIO);
    ck_assert_int_eq(loom_future_state_get(f), LOOM_FUTURE_PENDING); /* untouched */
    ck_assert_ptr_null(loom_task_spawn(loop, NULL, NULL));
    ck_assert_int_eq(errno, EINVAL);

    loom_future *task = spawn(await_itself, NULL);
    ck_assert_int_eq(run_until(task), 0);
    loom_future_unref(task);
    loom_future_unref(f);
}
END_TEST

/* --- sleep and yield ---------------------------------------------------------------- */

struct sleeper {
    int64_t ns;
    int64_t deadline; /* when it asked to wake, by the test's clock */
    int64_t slept;
    int woke;         /* its place in the order of wakeups */
    int *next;
};

static int sleep_and_measure(void *arg)
{
    struct sleeper *s = arg;
    int64_t start = fixture_now();
    s->deadline = start + s->ns;
    ck_assert_int_eq(loom_sleep(s->ns), 0);
    s->slept = fixture_now() - start;
    s->woke = (*s->next)++;
    return 0;
}

/* Each sleeper wakes no earlier than asked, and in the order of the
 * deadlines. The tasks start one after another, so a short sleep that
 * started first may be due before a shorter one that started later (under
 * Valgrind or TSan a task start takes a while): the order is that of the
 * deadlines, not of the durations. Deadlines closer than the skew between
 * the test's clock read and loom's own may come either way. */
START_TEST(test_sleep_never_early)
{
    static const int ms[] = {30, 1, 10, 0, 20};
    enum { N = sizeof(ms) / sizeof(ms[0]) };
    const int64_t skew = 200000; /* 0.2 ms */
    struct sleeper s[N];
    loom_future *tasks[N];
    int next = 0;
    for (int i = 0; i < N; i++) {
        s[i] = (struct sleeper){.ns = ms[i] * MS, .next = &next};
        tasks[i] = spawn(sleep_and_measure, &s[i]);
    }
    loom_future *all = loom_future_all(loop, tasks, N);
    ck_assert_int_eq(run_until(all), 0);
    for (int i = 0; i < N; i++) {
        ck_assert_msg(s[i].slept >= s[i].ns, "slept %lld ns of %lld", (long long)s[i].slept,
                      (long long)s[i].ns);
        for (int j = 0; j < N; j++)
            ck_assert_msg(!(s[i].woke < s[j].woke && s[i].deadline > s[j].deadline + skew),
                          "the %d ms sleep woke before the %d ms one, whose deadline was %lld ns earlier", ms[i],
                          ms[j], (long long)(s[i].deadline - s[j].deadline));
        loom_future_unref(tasks[i]);
    }
    loom_future_unref(all);
}
END_TEST

struct yielder {
    char *log;
    int *n;
    char name;
};

static int yield_and_log(void *arg)
{
    struct yielder *y = arg;
    for (int i = 0; i < 4; i++) {
        y->log[(*y->n)++] = y->name;
        uint64_t tick = loom_loop_ticks(loop);
        ck_assert_int_eq(loom_yield(), 0);
        ck_assert_uint_gt(loom_loop_ticks(loop), tick); /* resumed on a later tick */
    }
    return 0;
}

START_TEST(test_yield_alternates)
{
    char log[16] = {0};
    int n = 0;
    struct yielder a = {log, &n, 'a'}, b = {log, &n, 'b'};
    loom_future *ta = spawn(yield_and_log, &a);
    loom_future *tb = spawn(yield_and_log, &b);
    ck_assert_int_eq(run_until(ta), 0);
    ck_assert_int_eq(run_until(tb), 0);
    ck_assert_str_eq(log, "abababab");
    loom_future_unref(ta);
    loom_future_unref(tb);
}
END_TEST

/* --- cancellation ------------------------------------------------------------------- */

enum await_kind { AWAIT_FUTURE, AWAIT_SLEEP, AWAIT_YIELD };

struct victim {
    enum await_kind kind;
    loom_future *awaited;
    int first;        /* what the await point returned */
    int later;        /* what an await after it returned */
    int resumes;      /* times the first await point returned */
    bool at_await;    /* about to suspend at the first await point */
    bool returned;
};

static int await_once(struct victim *v)
{
    switch (v->kind) {
    case AWAIT_FUTURE:
        return loom_await(v->awaited);
    case AWAIT_SLEEP:
        return loom_sleep(LONG_SLEEP);
    default:
        return loom_yield();
    }
}

static int victim_body(void *arg)
{
    struct victim *v = arg;
    v->at_await = true;
    v->first = await_once(v);
    v->resumes++;
    v->later = loom_sleep(MS); /* cleanup still awaits */
    v->returned = true;
    return 1;
}

static void cancel_task(loom_future *task)
{
    ck_assert(loom_future_cancel(task));
    ck_assert(!loom_future_cancel(task)); /* a second cancel changes nothing */
}

static void check_cancel_at(enum await_kind kind)
{
    struct victim v = {.kind = kind, .awaited = new_future()};
    loom_future *task = spawn(victim_body, &v);
    run_until_flag(&v.at_await); /* the task is suspended there now */
    ck_assert_int_eq(v.resumes, 0);
    cancel_task(task);
    ck_assert_int_eq(loom_future_status(task), -ECANCELED); /* the future completes at once */
    run_until_flag(&v.returned);
    ck_assert_int_eq(v.first, -ECANCELED);
    ck_assert_int_eq(v.resumes, 1);
    ck_assert_int_eq(v.later, 0);
    if (kind == AWAIT_FUTURE) /* cancelled along */
        ck_assert_int_eq(loom_future_state_get(v.awaited), LOOM_FUTURE_CANCELLED);
    settle();
    ck_assert_int_eq(loom_future_state_get(task), LOOM_FUTURE_CANCELLED); /* return value ignored */
    loom_future_unref(task);
    loom_future_unref(v.awaited);
}

START_TEST(test_cancel_at_await)
{
    check_cancel_at(AWAIT_FUTURE);
}
END_TEST

START_TEST(test_cancel_at_sleep)
{
    int64_t start = fixture_now();
    check_cancel_at(AWAIT_SLEEP);
    ck_assert_int_lt(fixture_now() - start, WAIT_MS * MS); /* woken, not timed out */
}
END_TEST

START_TEST(test_cancel_at_yield)
{
    check_cancel_at(AWAIT_YIELD);
}
END_TEST

START_TEST(test_cancel_before_start)
{
    struct victim v = {.kind = AWAIT_SLEEP};
    loom_future *task = spawn(victim_body, &v);
    ck_assert(loom_future_cancel(task));
    run_until_flag(&v.returned);
    ck_assert_int_eq(v.first, -ECANCELED); /* delivered at the first await point */
    ck_assert_int_eq(v.later, 0);
    loom_future_unref(task);
}
END_TEST

/* The awaited future completes, and the task is cancelled before its wakeup
 * runs: it is resumed once, with the result (which must not be lost), and
 * the cancellation arrives at its next await point. */
static struct victim race_victim;
static loom_future *race_task;

static void complete_and_cancel(loom_loop *l, void *data)
{
    loom_future_resolve_int(race_victim.awaited, 1);
    ck_assert(loom_future_cancel(race_task));
}

START_TEST(test_cancel_after_wakeup_queued)
{
    race_victim = (struct victim){.kind = AWAIT_FUTURE, .awaited = new_future()};
    race_task = spawn(victim_body, &race_victim);
    run_until_flag(&race_victim.at_await);
    ck_assert_int_eq(loom_call_soon(loop, complete_and_cancel, NULL, NULL), 0);
    run_until_flag(&race_victim.returned);
    ck_assert_int_eq(race_victim.first, 0);
    ck_assert_int_eq(race_victim.resumes, 1);
    ck_assert_int_eq(race_victim.later, -ECANCELED);
    ck_assert_int_eq(loom_future_state_get(race_victim.awaited), LOOM_FUTURE_RESOLVED);
    settle();
    loom_future_unref(race_task);
    loom_future_unref(race_victim.awaited);
}
END_TEST

static int cancel_itself(void *arg)
{
    ck_assert(loom_future_cancel(loom_task_current()));
    ck_assert_int_eq(loom_yield(), -ECANCELED);
    ck_assert_int_eq(loom_yield(), 0);
    *(bool *)arg = true;
    return 0;
}

START_TEST(test_cancel_itself)
{
    bool returned = false;
    loom_future *task = spawn(cancel_itself, &returned);
    run_until_flag(&returned);
    ck_assert_int_eq(loom_future_state_get(task), LOOM_FUTURE_CANCELLED);
    settle();
    loom_future_unref(task);
}
END_TEST

struct chain {
    loom_future *inner;
    bool outer_at_await;
    int inner_result;
    int outer_result;
    bool inner_returned;
};

static int chain_inner(void *arg)
{
    struct chain *c = arg;
    c->inner_result = loom_sleep(LONG_SLEEP);
    c->inner_returned = true;
    return 0;
}

static int chain_outer(void *arg)
{
    struct chain *c = arg;
    c->outer_at_await = true;
    c->outer_result = loom_await(c->inner);
    return 0;
}

START_TEST(test_cancel_propagates_to_awaited_task)
{
    struct chain c = {0};
    c.inner = spawn(chain_inner, &c);
    loom_future *outer = spawn(chain_outer, &c);
    run_until_flag(&c.outer_at_await);
    cancel_task(outer);
    run_until_flag(&c.inner_returned);
    ck_assert_int_eq(c.outer_result, -ECANCELED);
    ck_assert_int_eq(c.inner_result, -ECANCELED);
    ck_assert_int_eq(loom_future_state_get(c.inner), LOOM_FUTURE_CANCELLED);
    settle();
    loom_future_unref(outer);
    loom_future_unref(c.inner);
}
END_TEST

/* --- lifetime and reporting ---------------------------------------------------------- */

/* Closing the loop resumes a suspended task with -ESHUTDOWN; later await
 * points fail the same way without suspending, and the function returns. */
struct closing {
    loom_future *never; /* awaited, never completed */
    int first, second;
    bool returned;
};

static int await_forever(void *arg)
{
    struct closing *c = arg;
    c->first = loom_await(c->never);
    c->second = loom_sleep(MS);
    c->returned = true;
    return 0;
}

START_TEST(test_close_resumes_suspended_tasks)
{
    struct closing c = {.never = new_future(), .first = 1, .second = 1};
    loom_future *task = spawn(await_forever, &c);
    settle(); /* started and suspended */
    ck_assert(!c.returned);
    ck_assert_int_eq(loom_loop_close(loop), 0);
    ck_assert(c.returned);
    ck_assert_int_eq(c.first, -ESHUTDOWN);
    ck_assert_int_eq(c.second, -ESHUTDOWN);
    ck_assert(loom_future_done(task));
    loom_future_unref(task);
    loom_future_unref(c.never);
}
END_TEST

static int sleep_then_resolve(void *arg)
{
    ck_assert_int_eq(loom_sleep(2 * MS), 0);
    loom_future_resolve_int(arg, 1);
    return 0;
}

START_TEST(test_dropped_task_keeps_running)
{
    loom_future *done = new_future();
    loom_future_unref(spawn(sleep_then_resolve, done));
    ck_assert_int_eq(run_until(done), 0);
    settle();
    loom_future_unref(done);
}
END_TEST

static int fail_later(void *arg)
{
    loom_sleep(MS);
    return -EIO;
}

static int await_task(void *arg)
{
    return loom_await(arg) == -EIO ? 0 : -EINVAL;
}

/* The dropped task sleeps first: its timer is due no later than the awaited
 * one's, so it has failed by the time the checker ends (spawned after the
 * others, its 1 ms could still be running then on a loaded machine). */
START_TEST(test_unawaited_failure_reported_once)
{
    loom_future *dropped = spawn(fail_later, NULL);
    loom_future *awaited = spawn(fail_later, NULL);
    loom_future *checker = spawn(await_task, awaited);
    loom_future_unref(dropped);
    ck_assert_int_eq(run_until(checker), 0);
    settle();
    ck_assert_int_eq(atomic_load(&errors.count), 1);
    ck_assert_int_eq(atomic_load(&errors.last_err), -EIO);
    loom_future_unref(checker);
    loom_future_unref(awaited); /* retrieved by the awaiting task: not reported */
    ck_assert_int_eq(atomic_load(&errors.count), 1);
}
END_TEST

/* A task that awaits another task when the loop closes: both end with
 * -ESHUTDOWN, and a caller who retrieves both sees no report. */
static int await_never_result(void *arg)
{
    return loom_await(((struct closing *)arg)->never);
}

static int await_arg(void *arg)
{
    return loom_await(arg);
}

START_TEST(test_close_while_task_awaits_task)
{
    struct closing c = {.never = new_future()};
    loom_future *inner = spawn(await_never_result, &c);
    loom_future *outer = spawn(await_arg, inner);
    settle();
    ck_assert_int_eq(loom_loop_close(loop), 0);
    ck_assert_int_eq(loom_future_status(inner), -ESHUTDOWN);
    ck_assert_int_eq(loom_future_status(outer), -ESHUTDOWN);
    ck_assert_int_eq(atomic_load(&errors.count), 0);
    loom_future_unref(outer);
    loom_future_unref(inner);
    loom_future_unref(c.never);
    ck_assert_int_eq(atomic_load(&errors.count), 0);
}
END_TEST

/* A task resumed by the loop's close cancels itself and awaits
 * loom_future_any: the await cancels the combinator, which cancels each input, and on the closed loop
 * each input's callback is released at once instead of run; the last
 * release must not free the group under its walk (a use-after-free the
 * fuzzer found; ASan and Valgrind see it). */
struct any_at_close {
    loom_future *never, *any;
    int first, second;
};

static int await_never_then_any(void *arg)
{
    struct any_at_close *c = arg;
    c->first = loom_await(c->never);
    loom_future_cancel(loom_task_current()); /* the await below cancels any */
    c->second = loom_await(c->any);
    return 0;
}

START_TEST(test_close_then_await_any)
{
    loom_future *in[2] = {new_future(), new_future()};
    struct any_at_close c = {.never = new_future(), .any = loom_future_any(loop, in, 2)};
    ck_assert_ptr_nonnull(c.any);
    loom_future *task = spawn(await_never_then_any, &c);
    settle();
    ck_assert_int_eq(loom_loop_close(loop), 0);
    ck_assert(loom_future_done(task));
    ck_assert_int_eq(c.first, -ESHUTDOWN);
    ck_assert_int_eq(c.second, -ECANCELED);
    ck_assert_int_eq(loom_future_state_get(c.any), LOOM_FUTURE_CANCELLED);
    loom_future_unref(task);
    loom_future_unref(c.any);
    loom_future_unref(c.never);
    loom_future_unref(in[0]);
    loom_future_unref(in[1]);
}
END_TEST

/* A task nobody holds that is still waiting when the loop closes fails
 * with -ESHUTDOWN, and that failure is reported. */
START_TEST(test_dropped_pending_task_reported)
{
    struct closing c = {.never = new_future()};
    loom_future_unref(spawn(await_never_result, &c));
    settle();
    ck_assert_int_eq(atomic_load(&errors.count), 0);
    ck_assert_int_eq(loom_loop_close(loop), 0);
    ck_assert_int_eq(atomic_load(&errors.count), 1);
    ck_assert_int_eq(atomic_load(&errors.last_err), -ESHUTDOWN);
    loom_future_unref(c.never);
}
END_TEST

/* --- timeouts ---------------------------------------------------------------------------- */

struct timed {
    loom_future *never, *soon;
    int never_result, soon_result;
    int64_t waited;
};

static int await_with_timeouts(void *arg)
{
    struct timed *t = arg;
    int64_t start = fixture_now();
    t->never_result = loom_await_timeout(t->never, 20 * MS);
    t->waited = fixture_now() - start;
    t->soon_result = loom_await_timeout(t->soon, WAIT_MS * MS);
    return 0;
}

static void resolve_soon(loom_loop *l, void *data)
{
    loom_future_resolve_int(data, 3);
}

START_TEST(test_await_timeout)
{
    struct timed t = {.never = new_future(), .soon = new_future()};
    loom_future *task = spawn(await_with_timeouts, &t);
    ck_assert_int_eq(loom_call_later(loop, 40 * MS, resolve_soon, t.soon, NULL), 0);
    ck_assert_int_eq(run_until(task), 0);
    ck_assert_int_eq(t.never_result, -ETIMEDOUT);
    ck_assert_int_ge(t.waited, 20 * MS);
    ck_assert_int_eq(loom_future_state_get(t.never), LOOM_FUTURE_CANCELLED);
    ck_assert_int_eq(t.soon_result, 0);
    ck_assert_int_eq(loom_future_value_int(t.soon), 3);
    settle();
    loom_future_unref(task);
    loom_future_unref(t.never);
    loom_future_unref(t.soon);
}
END_TEST

/* --- groups --------------------------------------------------------------------------------- */

struct child {
    int64_t sleep_ns;
    int fail_with;     /* returned after the sleep, if it was not cancelled */
    int64_t cleanup_ns; /* slept after a cancellation */
    int sleep_result;
    bool returned;
};

static int child_body(void *arg)
{
    struct child *c = arg;
    c->sleep_result = loom_sleep(c->sleep_ns);
    if (c->sleep_result == -ECANCELED && c->cleanup_ns)
        ck_assert_int_eq(loom_sleep(c->cleanup_ns), 0);
    c->returned = true;
    return c->sleep_result < 0 ? c->sleep_result : c->fail_with;
}

struct waiter {
    loom_task_group *group;
    struct child *children;
    int n;
    int result;
    bool all_returned_at_end; /* every child had returned when the wait ended */
    int64_t ended;            /* fixture_now() then */
};

static int wait_group(void *arg)
{
    struct waiter *w = arg;
    w->result = loom_task_group_wait(w->group);
    w->ended = fixture_now();
    w->all_returned_at_end = loom_task_group_running(w->group) == 0;
    for (int i = 0; i < w->n; i++)
        w->all_returned_at_end = w->all_returned_at_end && w->children[i].returned;
    return 0;
}

static loom_task_group *new_group(struct child *children, int n)
{
    loom_task_group *g = loom_task_group_new(loop);
    ck_assert_ptr_nonnull(g);
    for (int i = 0; i < n; i++) {
        loom_future *f = loom_task_group_spawn(g, child_body, &children[i]);
        ck_assert_ptr_nonnull(f);
        loom_future_unref(f);
    }
    ck_assert_uint_eq(loom_task_group_running(g), (size_t)n);
    return g;
}

static void run_waiter(struct waiter *w)
{
    loom_future *task = spawn(wait_group, w);
    ck_assert_int_eq(run_until(task), 0);
    loom_future_unref(task);
}

START_TEST(test_group_success)
{
    struct child c[3] = {{.sleep_ns = 3 * MS}, {.sleep_ns = 1 * MS}, {.sleep_ns = 0}};
    struct waiter w = {.group = new_group(c, 3), .children = c, .n = 3};
    run_waiter(&w);
    ck_assert_int_eq(w.result, 0);
    ck_assert(w.all_returned_at_end);
    loom_task_group_free(w.group);
    ck_assert_int_eq(atomic_load(&errors.count), 0);
}
END_TEST

START_TEST(test_group_first_failure_cancels_siblings)
{
    struct child c[3] = {
        {.sleep_ns = LONG_SLEEP, .cleanup_ns = 10 * MS},
        {.sleep_ns = 5 * MS, .fail_with = -EIO},
        {.sleep_ns = LONG_SLEEP},
    };
    struct waiter w = {.group = new_group(c, 3), .children = c, .n = 3};
    run_waiter(&w);
    ck_assert_int_eq(w.result, -EIO);
    ck_assert(w.all_returned_at_end); /* including the one cleaning up */
    ck_assert_int_eq(c[0].sleep_result, -ECANCELED);
    ck_assert_int_eq(c[2].sleep_result, -ECANCELED);
    ck_assert_int_eq(loom_task_group_status(w.group), -EIO);
    ck_assert_ptr_null(loom_task_group_spawn(w.group, child_body, &c[0]));
    ck_assert_int_eq(errno, ECANCELED); /* a failed group takes no more children */
    loom_task_group_free(w.group);
    settle();
    ck_assert_int_eq(atomic_load(&errors.count), 0); /* the failure was waited for */
}
END_TEST

static int fail_with_message_child(void *arg)
{
    return loom_task_fail(-EBADMSG, "child message");
}

START_TEST(test_group_failure_message_and_report)
{
    loom_task_group *g = loom_task_group_new(loop);
    ck_assert_ptr_nonnull(g);
    loom_future *f = loom_task_group_spawn(g, fail_with_message_child, NULL);
    ck_assert_int_eq(run_until(f), -EBADMSG);
    settle();
    ck_assert_int_eq(loom_task_group_running(g), 0);
    ck_assert_int_eq(loom_task_group_status(g), -EBADMSG);
    ck_assert_str_eq(loom_task_group_message(g), "child message");
    loom_future_unref(f);
    ck_assert_int_eq(atomic_load(&errors.count), 0);
    loom_task_group_free(g); /* nobody waited: reported now */
    ck_assert_int_eq(atomic_load(&errors.count), 1);
    ck_assert_int_eq(atomic_load(&errors.last_err), -EBADMSG);
}
END_TEST

static void cancel_future(loom_loop *l, void *data)
{
    ck_assert(loom_future_cancel(data));
}

START_TEST(test_group_wait_outlasts_cancellation)
{
    struct child c[2] = {
        {.sleep_ns = LONG_SLEEP, .cleanup_ns = 20 * MS},
        {.sleep_ns = LONG_SLEEP, .cleanup_ns = 5 * MS},
    };
    struct waiter w = {.group = new_group(c, 2), .children = c, .n = 2};
    int64_t start = fixture_now();
    loom_future *task = spawn(wait_group, &w);
    ck_assert_int_eq(loom_call_later(loop, 5 * MS, cancel_future, task, NULL), 0);
    ck_assert_int_eq(run_until(task), -ECANCELED);
    /* The waiter's future is cancelled at once; its wait goes on. */
    run_until_flag(&c[0].returned);
    settle();
    ck_assert_int_eq(w.result, -ECANCELED);
    ck_assert(w.all_returned_at_end);
    ck_assert_int_ge(w.ended - start, 25 * MS); /* the cancel, then the cleanup */
    loom_future_unref(task);
    loom_task_group_free(w.group);
    ck_assert_int_eq(atomic_load(&errors.count), 0); /* cancellation is not a failure */
}
END_TEST

START_TEST(test_group_deadline)
{
    struct child c[2] = {{.sleep_ns = LONG_SLEEP}, {.sleep_ns = 1 * MS}};
    struct waiter w = {.group = new_group(c, 2), .children = c, .n = 2};
    /* Long enough for the 1 ms child to finish first, also under TSan. */
    int64_t deadline = fixture_scaled_ms(50) * MS;
    int64_t start = fixture_now();
    ck_assert_int_eq(loom_task_group_set_deadline(w.group, loom_loop_now(loop) + deadline), 0);
    run_waiter(&w);
    ck_assert_int_eq(w.result, -ETIMEDOUT);
    ck_assert_int_ge(w.ended - start, deadline);
    ck_assert(w.all_returned_at_end);
    ck_assert_int_eq(c[0].sleep_result, -ECANCELED);
    ck_assert_int_eq(c[1].sleep_result, 0);
    loom_task_group_free(w.group);
}
END_TEST

static int wait_own_group(void *arg)
{
    return loom_task_group_wait(arg);
}

START_TEST(test_group_child_cannot_wait_for_it)
{
    loom_task_group *g = loom_task_group_new(loop);
    ck_assert_ptr_nonnull(g);
    loom_future *child = loom_task_group_spawn(g, wait_own_group, g);
    ck_assert_ptr_nonnull(child);
    ck_assert_int_eq(run_until(child), -EDEADLK);
    settle();
    ck_assert_int_eq(loom_task_group_running(g), 0);
    loom_future_unref(child);
    loom_task_group_free(g); /* the group failed and nobody waited for it */
    ck_assert_int_eq(atomic_load(&errors.count), 1);
}
END_TEST

START_TEST(test_group_free_cancels_children)
{
    struct child c[2] = {{.sleep_ns = LONG_SLEEP}, {.sleep_ns = LONG_SLEEP, .cleanup_ns = MS}};
    loom_task_group *g = new_group(c, 2);
    ck_assert_int_eq(loom_loop_run_once(loop, false), 0);
    loom_task_group_free(g); /* the children finish on their own */
    run_until_flag(&c[1].returned);
    ck_assert(c[0].returned);
    settle();
    ck_assert_int_eq(atomic_load(&errors.count), 0);
}
END_TEST

/* Nested groups: an outer child waits for an inner group whose children
 * sleep. Cancelling the outer group, from outside or from an inner child,
 * reaches every level, and every function returns. */
static struct nested_groups {
    loom_task_group *outer;
    bool cancel_from_inside;
    int inner_wait;
    int sleep_result[2];
    bool returned[2];
    bool outer_child_returned;
} nested;

static int inner_child(void *arg)
{
    intptr_t i = (intptr_t)arg;
    if (i == 0 && nested.cancel_from_inside) {
        ck_assert_int_eq(loom_sleep(MS), 0);
        loom_task_group_cancel(nested.outer);
    }
    nested.sleep_result[i] = loom_sleep(LONG_SLEEP);
    nested.returned[i] = true;
    return nested.sleep_result[i];
}

static int outer_child(void *arg)
{
    loom_task_group *inner = loom_task_group_new(loop);
    ck_assert_ptr_nonnull(inner);
    for (intptr_t i = 0; i < 2; i++)
        loom_future_unref(loom_task_group_spawn(inner, inner_child, (void *)i));
    nested.inner_wait = loom_task_group_wait(inner);
    loom_task_group_free(inner);
    nested.outer_child_returned = true;
    return nested.inner_wait;
}

static void run_nested_groups(bool from_inside)
{
    nested = (struct nested_groups){.cancel_from_inside = from_inside, .inner_wait = 1};
    nested.outer = loom_task_group_new(loop);
    ck_assert_ptr_nonnull(nested.outer);
    loom_future_unref(loom_task_group_spawn(nested.outer, outer_child, NULL));
    loom_future *waiter = spawn(wait_own_group, nested.outer);
    if (!from_inside) {
        settle(); /* everyone waits or sleeps */
        loom_task_group_cancel(nested.outer);
    }
    ck_assert_int_eq(run_until(waiter), -ECANCELED);
    settle();
    ck_assert(nested.outer_child_returned);
    ck_assert_int_eq(nested.inner_wait, -ECANCELED);
    for (int i = 0; i < 2; i++) {
        ck_assert(nested.returned[i]);
        ck_assert_int_eq(nested.sleep_result[i], -ECANCELED);
    }
    ck_assert_uint_eq(loom_task_group_running(nested.outer), 0);
    loom_future_unref(waiter);
    loom_task_group_free(nested.outer);
    ck_assert_int_eq(atomic_load(&errors.count), 0);
}

START_TEST(test_nested_groups_cancelled_from_outside)
{
    run_nested_groups(false);
}
END_TEST

START_TEST(test_nested_groups_cancelled_from_inside)
{
    run_nested_groups(true);
}
END_TEST

/* --- scale ------------------------------------------------------------------------------------- */

struct many {
    int n, started, done;
    loom_future *all_done;
};

static int sleep_and_count(void *arg)
{
    struct many *m = arg;
    m->started++;
    ck_assert_int_eq(loom_sleep((int64_t)(m->started % 20 + 1) * MS), 0);
    ck_assert_int_eq(m->started, m->n); /* all were suspended at once */
    if (++m->done == m->n)
        loom_future_resolve_int(m->all_done, 0);
    return 0;
}

START_TEST(test_many_concurrent_tasks)
{
    struct many m = {.n = 100000, .all_done = new_future()};
#if HAVE_VALGRIND_VALGRIND_H
    /* Valgrind looks stacks up in a list on every switch: quadratic. */
    if (RUNNING_ON_VALGRIND)
        m.n = 5000;
#endif
#if defined(__SANITIZE_THREAD__)
    m.n = 5000; /* ThreadSanitizer counts each fiber as a thread, up to 8,128 */
#endif
#if LOOM_FIBER_UCONTEXT
    /* Each ucontext switch is a sigprocmask system call: 100,000 tasks took
     * 11 s of the test's 20 s limit under ASan, and timed out on a busy machine. */
    m.n = 20000;
#endif
    for (int i = 0; i < m.n; i++)
        loom_future_unref(spawn(sleep_and_count, &m));
    ck_assert_int_eq(fixture_run_until(loop, m.all_done, 3 * WAIT_MS, "100,000 tasks"), 0);
    ck_assert_int_eq(m.done, m.n);
    settle();
    loom_future_unref(m.all_done);
}
END_TEST

/* --- nested host loops ------------------------------------------------------------------------ */

struct nested {
    bool in_nest;
    bool task_done_in_nest;
    bool quit;
};

/* Resumed inside the nested loop, awaits again there, and ends the nest. */
static int task_across_nest(void *arg)
{
    struct nested *n = arg;
    ck_assert_int_eq(loom_sleep(5 * MS), 0);
    ck_assert(n->in_nest);
    ck_assert_int_eq(loom_yield(), 0);
    ck_assert_int_eq(loom_sleep(MS), 0);
    n->task_done_in_nest = n->in_nest;
    host_quit_nested(loop);
    return 3;
}

static void run_nest(loom_loop *l, void *data)
{
    struct nested *n = data;
    n->in_nest = true;
    host_run_nested(l);
    n->in_nest = false;
}

START_TEST(test_task_across_nested_loop)
{
    if (!host_can_nest())
        return;
    struct nested n = {0};
    loom_future *task = spawn(task_across_nest, &n);
    ck_assert_int_eq(loom_call_soon(loop, run_nest, &n, NULL), 0);
    ck_assert_int_eq(run_until(task), 0);
    ck_assert(n.task_done_in_nest);
    ck_assert_int_eq(loom_future_value_int(task), 3);
    loom_future_unref(task);
}
END_TEST

static int quit_nest_later(void *arg)
{
    struct nested *n = arg;
    ck_assert_int_eq(loom_sleep(5 * MS), 0);
    ck_assert_int_eq(loom_yield(), 0);
    n->quit = true;
    host_quit_nested(loop);
    return 0;
}

/* A task runs the nested loop itself: other tasks run inside it. */
static int task_running_nest(void *arg)
{
    struct nested *n = arg;
    loom_future *other = spawn(quit_nest_later, n);
    host_run_nested(loop);
    ck_assert(n->quit);
    ck_assert_int_eq(loom_await(other), 0);
    loom_future_unref(other);
    ck_assert_int_eq(loom_sleep(MS), 0);
    return 0;
}

START_TEST(test_task_runs_nested_loop)
{
    if (!host_can_nest())
        return;
    struct nested n = {0};
    loom_future *task = spawn(task_running_nest, &n);
    ck_assert_int_eq(run_until(task), 0);
    loom_future_unref(task);
}
END_TEST

Suite *task_suite(void)
{
    Suite *s = suite_create("task");
    TCase *tc = fixture_tcase(s, "task");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_spawn_starts_on_next_tick);
    tcase_add_test(tc, test_task_result);
    tcase_add_test(tc, test_await_order);
    tcase_add_test(tc, test_await_errors);
    tcase_add_test(tc, test_sleep_never_early);
    tcase_add_test(tc, test_yield_alternates);
    tcase_add_test(tc, test_cancel_at_await);
    tcase_add_test(tc, test_cancel_at_sleep);
    tcase_add_test(tc, test_cancel_at_yield);
    tcase_add_test(tc, test_cancel_before_start);
    tcase_add_test(tc, test_cancel_after_wakeup_queued);
    tcase_add_test(tc, test_cancel_itself);
    tcase_add_test(tc, test_cancel_propagates_to_awaited_task);
    tcase_add_test(tc, test_dropped_task_keeps_running);
    tcase_add_test(tc, test_close_resumes_suspended_tasks);
    tcase_add_test(tc, test_unawaited_failure_reported_once);
    tcase_add_test(tc, test_close_while_task_awaits_task);
    tcase_add_test(tc, test_close_then_await_any);
    tcase_add_test(tc, test_dropped_pending_task_reported);
    tcase_add_test(tc, test_await_timeout);
    tcase_add_test(tc, test_group_success);
    tcase_add_test(tc, test_group_first_failure_cancels_siblings);
    tcase_add_test(tc, test_group_failure_message_and_report);
    tcase_add_test(tc, test_group_wait_outlasts_cancellation);
    tcase_add_test(tc, test_group_deadline);
    tcase_add_test(tc, test_group_child_cannot_wait_for_it);
    tcase_add_test(tc, test_group_free_cancels_children);
    tcase_add_test(tc, test_nested_groups_cancelled_from_outside);
    tcase_add_test(tc, test_nested_groups_cancelled_from_inside);
    tcase_add_test(tc, test_many_concurrent_tasks);
    tcase_add_test(tc, test_task_across_nested_loop);
    tcase_add_test(tc, test_task_runs_nested_loop);
    return s;
}
