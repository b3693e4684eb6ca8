/* loom conformance suite — runs every suite against the backend this binary
 * was built for, each test in its own forked child (CK_FORK=no to disable)
 * with a time limit. Exits non-zero if any test failed. */
#include <dirent.h>
#include <stdlib.h>
#include <time.h>
#include "fixture.h"
#include "suites.h"

TCase *fixture_tcase(Suite *suite, const char *name)
{
    TCase *tc = tcase_create(name);

    tcase_add_checked_fixture(tc, host_setup, host_teardown);
    tcase_set_timeout(tc, FIXTURE_TEST_TIMEOUT);
    suite_add_tcase(suite, tc);
    return tc;
}

int fixture_scaled_ms(int ms)
{
    const char *env = getenv("CK_TIMEOUT_MULTIPLIER");
    double factor = env ? strtod(env, NULL) : 1.0;

    return factor > 1.0 ? (int)(ms * factor) : ms;
}

int64_t fixture_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

typedef struct watchdog {
    const char *what;
    int timeout_ms;
    loom_handle handle;
} watchdog;

static void watchdog_fired(loom_loop *loop, void *data)
{
    const watchdog *dog = data;

    ck_abort_msg("%s: not done after %d ms", dog->what, dog->timeout_ms);
}

static void watchdog_start(watchdog *dog, loom_loop *loop, int timeout_ms, const char *what)
{
    dog->what = what;
    dog->timeout_ms = fixture_scaled_ms(timeout_ms);
    ck_assert_int_eq(loom_call_later(loop, dog->timeout_ms * INT64_C(1000000), watchdog_fired, dog,
                                     &dog->handle),
                     0);
}

void fixture_run(loom_loop *loop, int timeout_ms, const char *what)
{
    watchdog dog;

    watchdog_start(&dog, loop, timeout_ms, what);
    ck_assert_int_eq(loom_loop_run(loop), 0);
    loom_cancel(loop, dog.handle);
}

int fixture_run_until(loom_loop *loop, loom_future *future, int timeout_ms, const char *what)
{
    watchdog dog;
    int r;

    watchdog_start(&dog, loop, timeout_ms, what);
    r = loom_loop_run_until(loop, future);
    loom_cancel(loop, dog.handle);
    return r;
}

void fixture_stop(loom_loop *loop, void *data)
{
    ck_assert_int_eq(loom_loop_stop(loop), 0);
}

static void mark_settled(loom_loop *loop, void *data)
{
    *(bool *)data = true;
}

void fixture_settle(loom_loop *loop)
{
    bool settled = false;
    ck_assert_int_eq(loom_call_soon(loop, mark_settled, &settled, NULL), 0);
    for (int i = 0; !settled && i < 100; i++)
        ck_assert_int_eq(loom_loop_run_once(loop, true), 0);
    ck_assert_msg(settled, "the loop did not settle");
}

void fixture_free_loop(loom_loop *loop)
{
    ck_assert_int_eq(loom_loop_close(loop), 0);
    loom_loop_unref(loop);
}

int fixture_count_open_fds(void)
{
    DIR *dir = opendir("/proc/self/fd");
    int n = 0;

    ck_assert_msg(dir != NULL, "cannot list /proc/self/fd");
    while (readdir(dir))
        n++;
    closedir(dir);
    return n;
}

static void record_error(loom_loop *loop, int err, const char *msg, void *data)
{
    fixture_errors *errors = data;

    atomic_store(&errors->last_err, err);
    atomic_fetch_add(&errors->count, 1);
}

void fixture_capture_errors(loom_loop *loop, fixture_errors *errors)
{
    atomic_init(&errors->count, 0);
    atomic_init(&errors->last_err, 0);
    ck_assert_int_eq(loom_loop_set_error_handler(loop, record_error, errors), 0);
}

/* Other Check programs (tests/curl) reuse the fixture with a main of their own. */
#ifndef FIXTURE_NO_MAIN
int main(void)
{
    SRunner *runner = srunner_create(loop_suite());
    int failed;

    srunner_add_suite(runner, threadsafe_suite());
    srunner_add_suite(runner, fd_suite());
    srunner_add_suite(runner, future_suite());
    srunner_add_suite(runner, host_suite());
    srunner_add_suite(runner, task_suite());
    srunner_add_suite(runner, sync_suite());
    srunner_add_suite(runner, executor_suite());
    srunner_add_suite(runner, hooks_suite());
    srunner_add_suite(runner, fork_suite());
    srunner_add_suite(runner, stream_suite());
    srunner_add_suite(runner, faults_suite());
    srunner_run_all(runner, CK_ENV);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
#endif
