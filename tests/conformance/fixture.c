/* loom conformance suite — the helpers of fixture.h, shared by every program
 * built on a host-<backend>.c (the conformance suite, the guest suites). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "fixture.h"

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

bool fixture_dump_has(loom_loop *loop, const char *want)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(loom_loop_dump(loop, out), 0);
    fclose(out);
    bool has = strstr(text, want) != NULL;
    free(text);
    return has;
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

void fixture_full_listener_open(fixture_full_listener *l)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    l->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(l->fd, 0);
    ck_assert_int_eq(bind(l->fd, (struct sockaddr *)&sin, len), 0);
    ck_assert_int_eq(listen(l->fd, 0), 0);
    ck_assert_int_eq(getsockname(l->fd, (struct sockaddr *)&sin, &len), 0);
    for (int i = 0; i < 4; i++) {
        l->fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(l->fill[i], 0);
        connect(l->fill[i], (struct sockaddr *)&sin, len); /* in progress, or queued */
    }
    snprintf(l->port, sizeof(l->port), "%d", ntohs(sin.sin_port));
}

void fixture_full_listener_close(fixture_full_listener *l)
{
    for (int i = 0; i < 4; i++)
        close(l->fill[i]);
    close(l->fd);
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
