/* Conformance: what a completion engine under socket streams could break
 * (io_uring with LOOM_URING_STREAMS=1, tests/uring-streams.sh; readiness by
 * default and with LOOM_URING=0; the same results either way): abort and
 * loop close with a recv and a send in flight, a write much larger than the
 * kernel's buffer, a cancelled read, bytes read past the read limit (kept
 * in the ring's buffers), many paused streams, connections accepted while
 * nobody takes them (a multishot accept being cancelled), a server closed
 * with its accept in flight, a connect in flight at loop close. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <check.h>
#include <loom/file.h>
#include <loom/stream.h>
#include "fixture.h"
#include "suites.h"

#define WAIT_MS 10000
/* More than a socketpair's kernel buffers: a send of it stays in flight. */
#define BIG ((size_t)8 << 20)

static loom_loop *loop;
static fixture_errors errors;
static int destroyed;

static void setup(void)
{
    loop = host_loop_new();
    fixture_capture_errors(loop, &errors);
    loom_file_engine(loop); /* makes the loop's ring (and its fd) first */
    destroyed = 0;
}

static void teardown(void)
{
    if (loop)
        fixture_free_loop(loop);
    loop = NULL;
}

static void count_destroy(void *p)
{
    free(p);
    destroyed++;
}

static loom_future *check_future(loom_future *f)
{
    ck_assert_msg(f != NULL, "no future: %s", loom_strerror(-errno));
    return f;
}

static int run(loom_future *f, const char *what)
{
    return fixture_run_until(loop, check_future(f), WAIT_MS, what);
}

static void stream_pair(loom_stream *s[2])
{
    int fds[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    for (int i = 0; i < 2; i++)
        ck_assert_ptr_nonnull(s[i] = loom_stream_new(loop, fds[i]));
}

/* Runs the loop until the handed-over buffers of n writes were destroyed
 * (on the ring, at their send's CQE). */
static void wait_destroyed(int n)
{
    while (destroyed < n)
        ck_assert_int_eq(loom_loop_run_once(loop, true), 0);
}

/* A stream with a read and a write pending (a recv and a send in flight on
 * the ring); the write's future in *writing. */
static loom_future *busy_stream(loom_stream *s, loom_future **writing)
{
    loom_future *reading = check_future(loom_stream_read(s, 100));
    ck_assert_int_eq(loom_stream_write_take(s, calloc(1, BIG), BIG, count_destroy, writing), 0);
    fixture_settle(loop);
    ck_assert(!loom_future_done(reading));
    ck_assert(!loom_future_done(*writing));
    return reading;
}

START_TEST(test_abort_with_recv_and_send_in_flight)
{
    int fds = fixture_count_open_fds();
    loom_stream *s[2];
    stream_pair(s);
    loom_future *writing, *reading = busy_stream(s[1], &writing);
    loom_stream_abort(s[1]);
    ck_assert_int_eq(loom_future_state_get(reading), LOOM_FUTURE_CANCELLED);
    ck_assert_int_eq(loom_future_state_get(writing), LOOM_FUTURE_CANCELLED);
    wait_destroyed(1);
    /* The socket really went (a recv left in flight would hold it open):
     * the peer reads what was sent, then EOF. */
    size_t got = 0;
    for (;;) {
        loom_future *f = check_future(loom_stream_read(s[0], 1 << 20));
        ck_assert_int_eq(run(f, "the aborted peer's bytes, then EOF"), 0);
        loom_bytes *b = loom_future_value(f);
        bool eof = b->eof;
        got += b->len;
        loom_future_unref(f);
        if (eof)
            break;
    }
    ck_assert_uint_le(got, BIG);
    loom_future_unref(reading);
    loom_future_unref(writing);
    loom_stream_abort(s[0]);
    ck_assert_int_eq(fixture_count_open_fds(), fds);
}
END_TEST

/* Every future fails with -ESHUTDOWN, every buffer is returned, no fd stays
 * (the ring's included). */
START_TEST(test_loop_close_with_recv_and_send_in_flight)
{
    loom_stream *s[2];
    fixture_free_loop(loop);
    int fds = fixture_count_open_fds();
    loop = host_loop_new();
    stream_pair(s);
    loom_future *writing, *reading = busy_stream(s[1], &writing);
    loom_future *idle = check_future(loom_stream_read(s[0], 1));
    fixture_free_loop(loop);
    loop = NULL;
    ck_assert_int_eq(loom_future_status(reading), -ESHUTDOWN);
    ck_assert_int_eq(loom_future_status(writing), -ESHUTDOWN);
    ck_assert_int_eq(loom_future_status(idle), -ESHUTDOWN);
    ck_assert_int_eq(destroyed, 1);
    ck_assert_int_eq(loom_stream_fd(s[1]), -EBADF);
    loom_future_unref(reading);
    loom_future_unref(writing);
    loom_future_unref(idle);
    loom_stream_abort(s[0]);
    loom_stream_abort(s[1]);
    ck_assert_int_eq(fixture_count_open_fds(), fds);
}
END_TEST

/* A write far larger than the kernel's buffer goes out in many partial
 * sends, each resubmitting the rest: the peer gets every byte in order. */
START_TEST(test_large_write_partial_sends)
{
    int fds[2], small = 4096;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    ck_assert_int_eq(setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    loom_stream *w = loom_stream_new(loop, fds[0]), *r = loom_stream_new(loop, fds[1]);
    ck_assert_ptr_nonnull(w);
    ck_assert_ptr_nonnull(r);
    size_t len = (size_t)3 << 20;
    unsigned char *data = malloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = (unsigned char)(i * 7 + i / 4093);
    loom_future *done;
    ck_assert_int_eq(loom_stream_write(w, data, len, &done), 0);
    ck_assert_int_eq(loom_stream_write(w, "!", 1, NULL), 0);
    loom_future *got = check_future(loom_stream_read_exactly(r, len + 1));
    ck_assert_int_eq(run(got, "the large write"), 0);
    loom_bytes *b = loom_future_value(got);
    ck_assert_uint_eq(b->len, len + 1);
    ck_assert(memcmp(b->data, data, len) == 0);
    ck_assert_int_eq(b->data[len], '!');
    ck_assert_int_eq(run(done, "the large write's future"), 0);
    ck_assert_int_eq(loom_future_value_int(done), (int64_t)len);
    ck_assert_uint_eq(loom_stream_write_queued(w), 0);
    loom_future_unref(got);
    loom_future_unref(done);
    free(data);
    loom_stream_abort(w);
    loom_stream_abort(r);
}
END_TEST

/* A cancelled read consumes nothing: the bytes its recv brought go to the
 * next read, once, and a new read may start at once. */
START_TEST(test_cancel_read_future)
{
    loom_stream *s[2];
    stream_pair(s);
    loom_future *first = check_future(loom_stream_read(s[1], 100));
    fixture_settle(loop);
    ck_assert(loom_future_cancel(first));
    loom_future *second = check_future(loom_stream_read(s[1], 100));
    ck_assert(loom_future_cancel(second));
    ck_assert_int_eq(loom_stream_write(s[0], "abc", 3, NULL), 0);
    loom_future *third = check_future(loom_stream_read_exactly(s[1], 3));
    ck_assert_int_eq(run(third, "the read after the cancelled ones"), 0);
    loom_bytes *b = loom_future_value(third);
    ck_assert_uint_eq(b->len, 3);
    ck_assert_mem_eq(b->data, "abc", 3);
    ck_assert_int_eq(loom_stream_write(s[0], "d", 1, NULL), 0);
    loom_future *fourth = check_future(loom_stream_read(s[1], 100));
    ck_assert_int_eq(run(fourth, "the next byte"), 0);
    b = loom_future_value(fourth);
    ck_assert_uint_eq(b->len, 1);
    ck_assert_int_eq(b->data[0], 'd');
    ck_assert_int_eq(loom_future_state_get(first), LOOM_FUTURE_CANCELLED);
    for (loom_future **f = (loom_future *[]){first, second, third, fourth, NULL}; *f; f++)
        loom_future_unref(*f);
    loom_stream_abort(s[0]);
    loom_stream_abort(s[1]);
}
END_TEST

/* Reads s to EOF with reads of up to max bytes: every byte in *got. */
static size_t read_to_eof(loom_stream *s, unsigned char *got, size_t cap, size_t max)
{
    size_t n = 0;
    for (;;) {
        loom_future *f = check_future(loom_stream_read(s, max));
        ck_assert_int_eq(run(f, "read"), 0);
        loom_bytes *b = loom_future_value(f);
        ck_assert_ptr_nonnull(b);
        ck_assert_uint_le(n + b->len, cap);
        memcpy(got + n, b->data, b->len);
        n += b->len;
        bool eof = b->eof;
        ck_assert(eof || b->len > 0);
        loom_future_unref(f);
        if (eof)
            return n;
    }
}

/* Bytes the kernel took past the read limit (on the ring: a recv into one
 * of its buffers brings up to 4 KiB whatever the target) stay out of the buffer until read,
 * in order, and the peer's EOF behind them comes only after them. */
START_TEST(test_read_limit_then_eof)
{
    enum { TOTAL = 24000 };
    static unsigned char sent[TOTAL], got[TOTAL];
    loom_stream *s[2];
    stream_pair(s);
    for (size_t i = 0; i < TOTAL; i++)
        sent[i] = (unsigned char)(i % 251);
    ck_assert_int_eq(loom_stream_set_read_limit(s[1], 1000), 0);
    for (size_t off = 0; off < TOTAL; off += 3000)
        ck_assert_int_eq(loom_stream_write(s[0], sent + off, 3000, NULL), 0);
    loom_future *shut = check_future(loom_stream_shutdown(s[0]));
    ck_assert_int_eq(run(shut, "shutdown"), 0);
    loom_future_unref(shut);
    loom_future *first = check_future(loom_stream_read(s[1], 1));
    ck_assert_int_eq(run(first, "first byte"), 0);
    loom_future_unref(first);
    fixture_settle(loop);
    ck_assert_uint_le(loom_stream_buffered(s[1]), 1000);
    ck_assert(!loom_stream_at_eof(s[1]));
    got[0] = sent[0];
    ck_assert_uint_eq(1 + read_to_eof(s[1], got + 1, TOTAL - 1, 700), TOTAL);
    ck_assert(memcmp(sent, got, TOTAL) == 0);
    loom_stream_abort(s[0]);
    loom_stream_abort(s[1]);
}
END_TEST

/* Streams paused at their read limit with bytes waiting hold what the
 * kernel read for them (on the ring: more of its shared receive buffers
 * than it has): another stream still reads, and each paused one gets every
 * byte once read. */
START_TEST(test_many_paused_streams)
{
    enum { PAUSED = 300, EACH = 6000 };
    static loom_stream *p[PAUSED][2];
    static unsigned char msg[EACH], got[EACH];
    loom_stream *s[2];
    for (size_t i = 0; i < EACH; i++)
        msg[i] = (unsigned char)(i % 253);
    for (int i = 0; i < PAUSED; i++) {
        stream_pair(p[i]);
        ck_assert_int_eq(loom_stream_set_read_limit(p[i][1], 100), 0);
        ck_assert_int_eq(loom_stream_write(p[i][0], msg, EACH, NULL), 0);
        loom_future *f = check_future(loom_stream_read(p[i][1], 1));
        ck_assert_int_eq(run(f, "a paused stream's first byte"), 0);
        loom_future_unref(f);
    }
    fixture_settle(loop);
    stream_pair(s);
    ck_assert_int_eq(loom_stream_write(s[0], "ping", 4, NULL), 0);
    loom_future *f = check_future(loom_stream_read_exactly(s[1], 4));
    ck_assert_int_eq(run(f, "a read beside the paused streams"), 0);
    ck_assert(memcmp(((loom_bytes *)loom_future_value(f))->data, "ping", 4) == 0);
    loom_future_unref(f);
    for (int i = 0; i < PAUSED; i++) {
        loom_future *rest = check_future(loom_stream_read_exactly(p[i][1], EACH - 1));
        ck_assert_int_eq(run(rest, "a paused stream's rest"), 0);
        got[0] = msg[0];
        memcpy(got + 1, ((loom_bytes *)loom_future_value(rest))->data, EACH - 1);
        ck_assert(memcmp(msg, got, EACH) == 0);
        loom_future_unref(rest);
        loom_stream_abort(p[i][0]);
        loom_stream_abort(p[i][1]);
    }
    loom_stream_abort(s[0]);
    loom_stream_abort(s[1]);
}
END_TEST

/* --- servers and connects ------------------------------------------------------ */

/* Whether this run's servers accept on the ring: streams on it
 * (LOOM_URING_STREAMS=1) with task work deferred (the default from Linux
 * 6.1; multishot accept came in 5.19). */
static bool accepts_on_ring(void)
{
    const char *streams = getenv("LOOM_URING_STREAMS"), *defer = getenv("LOOM_URING_DEFER");
    const char *engine = loom_file_engine(loop);
    struct utsname u;
    int major = 0, minor = 0;
    if (uname(&u) == 0)
        sscanf(u.release, "%d.%d", &major, &minor);
    return streams && !strcmp(streams, "1") && engine && !strcmp(engine, "io_uring") && !(defer && !strcmp(defer, "0")) &&
           (major > 6 || (major == 6 && minor >= 1));
}

static int blocking_connect(int port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

#define BURST 6

/* Connections that come while nobody takes any (on the ring: accepted by
 * the multishot accept before its cancel) go, each once and in order, to
 * the accept futures asked for later. */
START_TEST(test_accepts_between_takers)
{
    int fds = fixture_count_open_fds();
    loom_server *srv;
    ck_assert_int_eq(loom_tcp_listen(loop, "127.0.0.1", "0", NULL, &srv), 0);
    int port = loom_server_port(srv), clients[BURST];
    for (int i = 0; i < BURST; i++) {
        ck_assert_int_ge(clients[i] = blocking_connect(port), 0);
        unsigned char tag = (unsigned char)i;
        ck_assert_int_eq(write(clients[i], &tag, 1), 1);
    }
    for (int i = 0; i < BURST; i++) {
        loom_future *accepted = check_future(loom_server_accept(srv));
        ck_assert_int_eq(run(accepted, "accept"), 0);
        if (i == 0)
            ck_assert_int_eq(fixture_dump_has(loop, "(io_uring), accepting"), accepts_on_ring());
        loom_stream *s = loom_stream_take(accepted);
        loom_future_unref(accepted);
        fixture_settle(loop); /* nobody takes connections now */
        loom_future *tag = check_future(loom_stream_read_exactly(s, 1));
        ck_assert_int_eq(run(tag, "the client's tag"), 0);
        ck_assert_int_eq(((loom_bytes *)loom_future_value(tag))->data[0], i); /* in order, each once */
        loom_future_unref(tag);
        loom_stream_abort(s);
    }
    loom_server_close(srv);
    for (int i = 0; i < BURST; i++)
        close(clients[i]);
    fixture_settle(loop);
    ck_assert_int_eq(fixture_count_open_fds(), fds);
}
END_TEST

static void abort_accepted(loom_server *server, loom_stream *stream, void *data)
{
    (*(int *)data)++;
    loom_stream_abort(stream);
}

static void close_at_first(loom_server *server, loom_stream *stream, void *data)
{
    abort_accepted(server, stream, data);
    loom_server_close(server);
}

/* Closing a server that is accepting really closes its socket (an accept
 * left armed on the ring would keep it listening), from outside its
 * callback and from inside it. */
START_TEST(test_server_close_while_accepting)
{
    int fds = fixture_count_open_fds(), accepted = 0;
    loom_server *srv;
    ck_assert_int_eq(loom_tcp_listen(loop, "127.0.0.1", "0", NULL, &srv), 0);
    ck_assert_int_eq(loom_server_on_accept(srv, abort_accepted, &accepted, NULL), 0);
    int port = loom_server_port(srv);
    fixture_settle(loop);
    loom_server_close(srv);
    fixture_settle(loop);
    ck_assert_int_eq(blocking_connect(port), -ECONNREFUSED);
    ck_assert_int_eq(accepted, 0);
    /* Closed by its callback at the first of two connections. */
    ck_assert_int_eq(loom_tcp_listen(loop, "127.0.0.1", "0", NULL, &srv), 0);
    port = loom_server_port(srv);
    int clients[2] = {blocking_connect(port), blocking_connect(port)};
    ck_assert_int_ge(clients[0], 0);
    ck_assert_int_ge(clients[1], 0);
    ck_assert_int_eq(loom_server_on_accept(srv, close_at_first, &accepted, NULL), 0);
    for (int i = 0; i < 10 && !accepted; i++) {
        loom_call_later(loop, LOOM_MSEC(20), fixture_stop, NULL, NULL);
        fixture_run(loop, WAIT_MS, "the first connection");
    }
    fixture_settle(loop);
    ck_assert_int_eq(accepted, 1);
    ck_assert_int_eq(blocking_connect(port), -ECONNREFUSED);
    close(clients[0]);
    close(clients[1]);
    ck_assert_int_eq(atomic_load(&errors.count), 0);
    ck_assert_int_eq(fixture_count_open_fds(), fds);
}
END_TEST

struct nesting {
    int calls;
    loom_future *extra;
};

/* The first connection asks for one more through a future and runs the loop
 * inside the callback. */
static void accept_nesting(loom_server *server, loom_stream *stream, void *data)
{
    struct nesting *n = data;
    loom_stream_abort(stream);
    if (n->calls++ == 0) {
        n->extra = check_future(loom_server_accept(server));
        ck_assert_int_eq(loom_loop_run_once(loop, false), host_can_nest() ? 0 : -EDEADLK);
    }
}

/* Connections waiting for a taker (on the ring: accepted while its accept
 * was being cancelled) are each handed out once even when a taker runs
 * the loop inside its callback. */
START_TEST(test_accept_callback_runs_loop)
{
    int fds = fixture_count_open_fds();
    loom_server *srv;
    ck_assert_int_eq(loom_tcp_listen(loop, "127.0.0.1", "0", NULL, &srv), 0);
    int port = loom_server_port(srv), clients[5];
    for (int i = 0; i < 5; i++)
        ck_assert_int_ge(clients[i] = blocking_connect(port), 0);
    loom_future *first = check_future(loom_server_accept(srv));
    ck_assert_int_eq(run(first, "the first connection"), 0);
    loom_future_unref(first);
    fixture_settle(loop);
    struct nesting n = {0};
    ck_assert_int_eq(loom_server_on_accept(srv, accept_nesting, &n, NULL), 0);
    for (int i = 0; i < 50 && (n.calls < 3 || !n.extra || !loom_future_done(n.extra)); i++) {
        loom_call_later(loop, LOOM_MSEC(20), fixture_stop, NULL, NULL);
        fixture_run(loop, WAIT_MS, "the other four");
    }
    ck_assert_int_eq(n.calls, 3); /* and the extra future: 4, each once */
    ck_assert_int_eq(loom_future_status(n.extra), 0);
    loom_future_unref(n.extra);
    ck_assert_uint_eq(loom_server_accept_errors(srv), 0);
    ck_assert_int_eq(atomic_load(&errors.count), host_can_nest() ? 0 : 1); /* the -EDEADLK, reported */
    loom_server_close(srv);
    for (int i = 0; i < 5; i++)
        close(clients[i]);
    fixture_settle(loop);
    ck_assert_int_eq(fixture_count_open_fds(), fds);
}
END_TEST

/* A connect in flight (to a full accept queue, so it hangs) when the loop
 * closes: its future fails with -ESHUTDOWN and its socket goes. */
START_TEST(test_loop_close_with_connect_in_flight)
{
    fixture_free_loop(loop);
    int fds = fixture_count_open_fds();
    loop = host_loop_new();
    fixture_full_listener full;
    fixture_full_listener_open(&full);
    loom_future *f = check_future(loom_tcp_connect(loop, "127.0.0.1", full.port, NULL));
    loom_call_later(loop, LOOM_MSEC(100), fixture_stop, NULL, NULL);
    fixture_run(loop, WAIT_MS, "connect under way");
    ck_assert(!loom_future_done(f));
    fixture_free_loop(loop);
    loop = NULL;
    ck_assert_int_eq(loom_future_status(f), -ESHUTDOWN);
    loom_future_unref(f);
    loom_executor_shutdown();
    fixture_full_listener_close(&full);
    ck_assert_int_eq(fixture_count_open_fds(), fds); /* the ring's too */
}
END_TEST

Suite *stream_engine_suite(void)
{
    Suite *s = suite_create("stream-engine");
    TCase *tc = fixture_tcase(s, "stream-engine");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_abort_with_recv_and_send_in_flight);
    tcase_add_test(tc, test_loop_close_with_recv_and_send_in_flight);
    tcase_add_test(tc, test_large_write_partial_sends);
    tcase_add_test(tc, test_cancel_read_future);
    tcase_add_test(tc, test_read_limit_then_eof);
    tcase_add_test(tc, test_many_paused_streams);
    tcase_add_test(tc, test_accepts_between_takers);
    tcase_add_test(tc, test_server_close_while_accepting);
    tcase_add_test(tc, test_accept_callback_runs_loop);
    tcase_add_test(tc, test_loop_close_with_connect_in_flight);
    return s;
}
