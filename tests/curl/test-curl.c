/* tests/curl — the libcurl bridge (loom/loom-curl.h) on the backend this
 * binary was built for, against the loopback server of http-server.c. Every
 * test also checks that nothing was reported to the loop's error handler (a
 * watch on a socket curl closed would be) and that no fd is left once the
 * loop is closed. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <loom/loom-curl.h>
#include "fixture.h"
#include "http-server.h"

#define TRANSFER_MS 10000
/* The scale tests' limits (Check's and the watchdog's, both scaled by
 * $CK_TIMEOUT_MULTIPLIER), generous for a loaded CI machine and ASan. */
#define SCALE_TEST_TIMEOUT 240
#define SCALE_MS 200000

typedef struct ctx {
    loom_loop *loop;
    http_server *server;
    fixture_errors errors;
    int fds;
} ctx;

static void ctx_start(ctx *c)
{
    c->fds = fixture_count_open_fds();
    c->server = http_server_start();
    c->loop = host_loop_new();
    fixture_capture_errors(c->loop, &c->errors);
}

static void check_no_reports(ctx *c)
{
    int n = atomic_load(&c->errors.count);

    ck_assert_msg(n == 0, "%d failures reported, the last: %s", n, loom_strerror(atomic_load(&c->errors.last_err)));
}

static void ctx_finish(ctx *c)
{
    fixture_settle(c->loop);
    check_no_reports(c);
    fixture_free_loop(c->loop);
    http_server_stop(c->server);
    ck_assert_int_eq(fixture_count_open_fds(), c->fds);
}

static CURL *easy_to(int port, const char *path)
{
    char url[128];
    CURL *easy = curl_easy_init();

    ck_assert_ptr_nonnull(easy);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    ck_assert_int_eq(curl_easy_setopt(easy, CURLOPT_URL, url), CURLE_OK);
    ck_assert_int_eq(curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L), CURLE_OK);
    return easy;
}

static loom_future *fetch_full(ctx *c, const char *path, loom_curl_write_fn write, void *data)
{
    loom_future *future = loom_curl_fetch(c->loop, easy_to(http_server_port(c->server), path), write, data);

    ck_assert_ptr_nonnull(future);
    return future;
}

static loom_future *fetch(ctx *c, const char *path)
{
    return fetch_full(c, path, NULL, NULL);
}

static void await(ctx *c, loom_future *future, int expected)
{
    ck_assert_int_eq(fixture_run_until(c->loop, future, TRANSFER_MS, "transfer"), expected);
}

static void check_body(loom_future *future, size_t n)
{
    size_t len;
    const char *body = loom_curl_body(future, &len);

    ck_assert_uint_eq(len, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg((unsigned char)body[i] == http_body_byte(i), "byte %zu of %zu differs", i, n);
}

START_TEST(test_curl_200_body)
{
    ctx c;
    loom_future *future;
    size_t len;
    char *body;

    ctx_start(&c);
    future = fetch(&c, "/body/300000");
    await(&c, future, 0);
    ck_assert_int_eq(loom_curl_result(future), CURLE_OK);
    ck_assert_int_eq(loom_curl_http_status(future), 200);
    check_body(future, 300000);
    body = loom_curl_take_body(future, &len);
    ck_assert_uint_eq(len, 300000);
    ck_assert_int_eq(body[len], '\0');
    free(body);
    ck_assert_ptr_null(loom_curl_take_body(future, &len));
    ck_assert_uint_eq(len, 0);
    loom_future_unref(future);
    ctx_finish(&c);
}
END_TEST

START_TEST(test_curl_404)
{
    ctx c;
    loom_future *future;

    ctx_start(&c);
    future = fetch(&c, "/missing");
    await(&c, future, 0);
    ck_assert_int_eq(loom_curl_result(future), CURLE_OK);
    ck_assert_int_eq(loom_curl_http_status(future), 404);
    loom_future_unref(future);
    ctx_finish(&c);
}
END_TEST

START_TEST(test_curl_refused)
{
    ctx c;
    loom_future *future;
    http_server *closed;
    int port;

    ctx_start(&c);
    closed = http_server_start(); /* a port nobody listens on any more */
    port = http_server_port(closed);
    http_server_stop(closed);
    future = loom_curl_fetch(c.loop, easy_to(port, "/body/1"), NULL, NULL);
    ck_assert_ptr_nonnull(future);
    await(&c, future, 0);
    ck_assert_int_eq(loom_curl_result(future), CURLE_COULDNT_CONNECT);
    ck_assert_int_eq(loom_curl_http_status(future), 0);
    loom_future_unref(future);
    ctx_finish(&c);
}
END_TEST

/* curl's own timeout runs on loom's timer: the slow response never ends. */
START_TEST(test_curl_timeout)
{
    ctx c;
    CURL *easy;
    loom_future *future;

    ctx_start(&c);
    easy = easy_to(http_server_port(c.server), "/slow");
    ck_assert_int_eq(curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 300L), CURLE_OK);
    future = loom_curl_fetch(c.loop, easy, NULL, NULL);
    ck_assert_ptr_nonnull(future);
    await(&c, future, 0);
    ck_assert_int_eq(loom_curl_result(future), CURLE_OPERATION_TIMEDOUT);
    ck_assert_int_eq(loom_curl_http_status(future), 200);
    loom_future_unref(future);
    ctx_finish(&c);
}
END_TEST

typedef struct cancel_state {
    loom_future *future;
    int writes_after_cancel;
    bool cancelled;
} cancel_state;

/* Cancels the transfer at its first bytes, from inside curl's write. */
static size_t cancel_on_write(const char *ptr, size_t n, void *data)
{
    cancel_state *s = data;

    if (s->cancelled) {
        s->writes_after_cancel++;
        return n;
    }
    s->cancelled = true;
    ck_assert(loom_future_cancel(s->future));
    return n;
}

START_TEST(test_curl_cancel_mid_transfer)
{
    ctx c;
    cancel_state s = {0};
    loom_handle handle;

    ctx_start(&c);
    s.future = fetch_full(&c, "/body/4000000", cancel_on_write, &s);
    await(&c, s.future, -ECANCELED);
    /* the rest of the 4 MB keeps coming until the removal: none reaches the callback */
    ck_assert_int_eq(loom_call_later(c.loop, LOOM_MSEC(100), fixture_stop, NULL, &handle), 0);
    fixture_run(c.loop, TRANSFER_MS, "after the cancel");
    ck_assert(s.cancelled);
    ck_assert_int_eq(s.writes_after_cancel, 0);
    ck_assert_int_eq(loom_curl_result(s.future), -ECANCELED);
    ck_assert_ptr_null(loom_curl_easy(s.future));
    loom_future_unref(s.future);
    ctx_finish(&c);
}
END_TEST

START_TEST(test_curl_parallel)
{
    enum { N = 20 };
    ctx c;
    loom_future *futures[N], *all;
    char path[64];

    ctx_start(&c);
    for (int i = 0; i < N; i++) {
        snprintf(path, sizeof(path), "/body/%d", 5000 * i + 1);
        futures[i] = fetch(&c, path);
    }
    all = loom_future_all(c.loop, futures, N);
    ck_assert_ptr_nonnull(all);
    await(&c, all, 0);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(loom_curl_result(futures[i]), CURLE_OK);
        check_body(futures[i], (size_t)(5000 * i + 1));
        loom_future_unref(futures[i]);
    }
    loom_future_unref(all);
    ck_assert_int_eq(http_server_connections(c.server), N);
    ctx_finish(&c);
}
END_TEST

/* The multi handle keeps the connection: the second request reuses it. */
START_TEST(test_curl_keepalive)
{
    ctx c;
    loom_future *first, *second;
    long connects = -1;

    ctx_start(&c);
    first = fetch(&c, "/body/10");
    await(&c, first, 0);
    second = fetch(&c, "/body/20");
    await(&c, second, 0);
    check_body(first, 10);
    check_body(second, 20);
    ck_assert_int_eq(curl_easy_getinfo(loom_curl_easy(second), CURLINFO_NUM_CONNECTS, &connects), CURLE_OK);
    ck_assert_int_eq(connects, 0);
    ck_assert_int_eq(http_server_connections(c.server), 1);
    loom_future_unref(first);
    loom_future_unref(second);
    ctx_finish(&c);
}
END_TEST

START_TEST(test_curl_server_closes_mid_body)
{
    ctx c;
    loom_future *future;

    ctx_start(&c);
    future = fetch(&c, "/cut");
    await(&c, future, 0);
    ck_assert_int_eq(loom_curl_result(future), CURLE_PARTIAL_FILE);
    loom_future_unref(future);
    ctx_finish(&c);
}
END_TEST

/* Each response closes its connection, so curl closes its socket and the next
 * transfer's socket often gets the same number: no stale watch may be met
 * (ctx_finish checks that no closed fd was reported). */
START_TEST(test_curl_closed_sockets_reused)
{
    ctx c;

    ctx_start(&c);
    for (int i = 0; i < 10; i++) {
        loom_future *future = fetch(&c, "/close/1000");

        await(&c, future, 0);
        ck_assert_int_eq(loom_curl_result(future), CURLE_OK);
        check_body(future, 1000);
        loom_future_unref(future);
    }
    ck_assert_int_eq(http_server_connections(c.server), 10);
    ctx_finish(&c);
}
END_TEST

static size_t stop_on_write(const char *ptr, size_t n, void *data)
{
    ck_assert_int_eq(loom_loop_stop(data), 0);
    return n;
}

/* Closing the loop fails the running transfer and leaves no fd behind. */
START_TEST(test_curl_loop_close_fails_pending)
{
    ctx c;
    loom_future *future;

    ctx_start(&c);
    future = fetch_full(&c, "/slow", stop_on_write, c.loop);
    fixture_run(c.loop, TRANSFER_MS, "the first bytes");
    ck_assert_int_eq(loom_loop_close(c.loop), 0);
    ck_assert_int_eq(loom_future_status(future), -ESHUTDOWN);
    ck_assert_int_eq(loom_curl_result(future), -ESHUTDOWN);
    loom_future_unref(future);
    check_no_reports(&c);
    loom_loop_unref(c.loop);
    http_server_stop(c.server);
    ck_assert_int_eq(fixture_count_open_fds(), c.fds);
}
END_TEST

/* A refused fetch leaves the easy handle to the caller. */
START_TEST(test_curl_fetch_errors)
{
    loom_loop *loop = host_loop_new();
    CURL *easy = easy_to(1, "/");

    errno = 0;
    ck_assert_ptr_null(loom_curl_fetch(loop, NULL, NULL, NULL));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_null(loom_curl_fetch(NULL, easy, NULL, NULL));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(loom_loop_close(loop), 0);
    ck_assert_ptr_null(loom_curl_fetch(loop, easy, NULL, NULL));
    ck_assert_int_eq(errno, ESHUTDOWN);
    ck_assert_int_eq(loom_curl_result(NULL), -EINVAL);
    curl_easy_cleanup(easy);
    loom_loop_unref(loop);
}
END_TEST

/* The scale tests' transfer count: a tenth under Valgrind, where the full
 * counts take many minutes (valgrind-check.sh sets CK_TIMEOUT_MULTIPLIER=10;
 * Valgrind's own RUNNING_ON_VALGRIND needs its headers). */
static int scaled_count(int n)
{
    const char *env = getenv("CK_TIMEOUT_MULTIPLIER");

    return env && strtod(env, NULL) >= 10 ? n / 10 : n;
}

typedef struct stream_check {
    unsigned seed;
    size_t received;
    size_t first_bad; /* SIZE_MAX while every byte matched */
} stream_check;

/* Checks each byte of /seed/S/N as it arrives (no 200 MiB of buffers). */
static size_t check_on_write(const char *ptr, size_t n, void *data)
{
    stream_check *s = data;

    for (size_t i = 0; i < n && s->first_bad == SIZE_MAX; i++)
        if ((unsigned char)ptr[i] != http_seeded_byte(s->seed, s->received + i))
            s->first_bad = s->received + i;
    s->received += n;
    return n;
}

static void check_seeded_body(loom_future *future, unsigned seed, size_t n)
{
    size_t len;
    const char *body = loom_curl_body(future, &len);

    ck_assert_uint_eq(len, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg((unsigned char)body[i] == http_seeded_byte(seed, i), "byte %zu of %zu differs (seed %u)", i,
                      n, seed);
}

static void check_resolved_ok(loom_future *future)
{
    ck_assert_int_eq(loom_curl_result(future), CURLE_OK);
    ck_assert_int_eq(loom_curl_http_status(future), 200);
}

/* 200 1 MiB downloads at once, one connection each, each body its own. */
START_TEST(test_curl_scale_large)
{
    enum { SIZE = 1 << 20 };
    int n = scaled_count(200);
    ctx c;
    loom_future **futures = calloc((size_t)n, sizeof(*futures)), *all;
    stream_check *checks = calloc((size_t)n, sizeof(*checks));
    char path[64];

    ck_assert(futures && checks);
    ctx_start(&c);
    for (int i = 0; i < n; i++) {
        checks[i] = (stream_check){(unsigned)i, 0, SIZE_MAX};
        snprintf(path, sizeof(path), "/seed/%d/%d", i, SIZE);
        futures[i] = fetch_full(&c, path, check_on_write, &checks[i]);
    }
    all = loom_future_all(c.loop, futures, (size_t)n);
    ck_assert_ptr_nonnull(all);
    ck_assert_int_eq(fixture_run_until(c.loop, all, SCALE_MS, "the large downloads"), 0);
    for (int i = 0; i < n; i++) {
        check_resolved_ok(futures[i]);
        ck_assert_uint_eq(checks[i].received, SIZE);
        ck_assert_msg(checks[i].first_bad == SIZE_MAX, "download %d: byte %zu differs", i, checks[i].first_bad);
        loom_future_unref(futures[i]);
    }
    loom_future_unref(all);
    ck_assert_int_eq(http_server_connections(c.server), n);
    free(checks);
    free(futures);
    ctx_finish(&c);
}
END_TEST

/* 2,000 small downloads in waves of 100 at once (bounded fds and server
 * threads), bodies collected by the bridge. */
START_TEST(test_curl_scale_small)
{
    enum { WAVE = 100 };
    int n = scaled_count(2000);
    ctx c;
    loom_future *futures[WAVE], *all;
    char path[64];

    ctx_start(&c);
    for (int first = 0; first < n; first += WAVE) {
        for (int i = 0; i < WAVE; i++) {
            snprintf(path, sizeof(path), "/seed/%d/%d", first + i, 1 + (first + i) % 3000);
            futures[i] = fetch(&c, path);
        }
        all = loom_future_all(c.loop, futures, WAVE);
        ck_assert_ptr_nonnull(all);
        ck_assert_int_eq(fixture_run_until(c.loop, all, SCALE_MS, "a wave of small downloads"), 0);
        for (int i = 0; i < WAVE; i++) {
            check_resolved_ok(futures[i]);
            check_seeded_body(futures[i], (unsigned)(first + i), (size_t)(1 + (first + i) % 3000));
            loom_future_unref(futures[i]);
        }
        loom_future_unref(all);
    }
    ctx_finish(&c);
}
END_TEST

static Suite *curl_suite(void)
{
    Suite *suite = suite_create("curl");
    TCase *tc = fixture_tcase(suite, "curl");

    tcase_add_test(tc, test_curl_200_body);
    tcase_add_test(tc, test_curl_404);
    tcase_add_test(tc, test_curl_refused);
    tcase_add_test(tc, test_curl_timeout);
    tcase_add_test(tc, test_curl_cancel_mid_transfer);
    tcase_add_test(tc, test_curl_parallel);
    tcase_add_test(tc, test_curl_keepalive);
    tcase_add_test(tc, test_curl_server_closes_mid_body);
    tcase_add_test(tc, test_curl_closed_sockets_reused);
    tcase_add_test(tc, test_curl_loop_close_fails_pending);
    tcase_add_test(tc, test_curl_fetch_errors);
    tc = fixture_tcase(suite, "curl-scale");
    tcase_set_timeout(tc, SCALE_TEST_TIMEOUT);
    tcase_add_test(tc, test_curl_scale_large);
    tcase_add_test(tc, test_curl_scale_small);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(curl_suite());
    int failed;

    srunner_run_all(runner, CK_ENV);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
