/* Conformance: the I/O layer — loom_fd_wait, streams over socketpairs, TCP
 * and Unix sockets, servers (also out of fds), connects that fail, errors,
 * backpressure, and what closing the loop does to all of them. */
#define _GNU_SOURCE /* pipe2 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>
#include <check.h>
#include <loom/dgram.h>
#include <loom/file.h>
#include <loom/io.h>
#include <loom/stream.h>
#include "fixture.h"
#include "suites.h"

#define WAIT_MS 10000

static loom_loop *loop;
static fixture_errors errors;

static void setup(void)
{
    loop = host_loop_new();
    fixture_capture_errors(loop, &errors);
}

static void teardown(void)
{
    if (loop)
        fixture_free_loop(loop);
    loop = NULL;
}

static loom_future *check_future(loom_future *f)
{
    ck_assert_msg(f != NULL, "no future: %s", loom_strerror(-errno));
    return f;
}

/* Runs until f is done; its status. */
static int run(loom_future *f, const char *what)
{
    return fixture_run_until(loop, check_future(f), WAIT_MS, what);
}

static loom_bytes *bytes(loom_future *f)
{
    loom_bytes *b = loom_future_value(f);
    ck_assert_ptr_nonnull(b);
    return b;
}

/* Reads with read_fn's future, expecting text (NULL: EOF). */
static void expect_read(loom_future *f, const char *text)
{
    ck_assert_int_eq(run(f, "read"), 0);
    loom_bytes *b = bytes(f);
    if (text) {
        ck_assert_uint_eq(b->len, strlen(text));
        ck_assert_mem_eq(b->data, text, b->len);
    } else {
        ck_assert_uint_eq(b->len, 0);
        ck_assert(b->eof);
    }
    loom_future_unref(f);
}

static void write_ok(loom_stream *s, const char *text)
{
    ck_assert_int_eq(loom_stream_write(s, text, strlen(text), NULL), 0);
}

static void ignore_fd(loom_loop *l, int fd, unsigned events, void *data)
{
}

static void socketpair_streams(loom_stream *s[2])
{
    int fds[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    for (int i = 0; i < 2; i++)
        ck_assert_ptr_nonnull(s[i] = loom_stream_new(loop, fds[i]));
}

static void close_stream(loom_stream *s)
{
    loom_future *f = check_future(loom_stream_close(s));
    ck_assert_int_eq(run(f, "close"), 0);
    loom_future_unref(f);
}

/* A TCP connection over loopback through a loom server: s[0] the client. */
static void tcp_streams(loom_stream *s[2], const loom_connect_opts *opts)
{
    loom_server *srv;
    ck_assert_int_eq(loom_tcp_listen(loop, "127.0.0.1", "0", NULL, &srv), 0);
    char port[16];
    snprintf(port, sizeof(port), "%d", loom_server_port(srv));
    loom_future *accepted = check_future(loom_server_accept(srv));
    loom_future *connected = check_future(loom_tcp_connect(loop, "127.0.0.1", port, opts));
    ck_assert_int_eq(run(connected, "connect"), 0);
    ck_assert_int_eq(run(accepted, "accept"), 0);
    ck_assert_ptr_nonnull(s[0] = loom_stream_take(connected));
    ck_assert_ptr_nonnull(s[1] = loom_stream_take(accepted));
    ck_assert_ptr_null(loom_stream_take(accepted)); /* taken once */
    loom_future_unref(connected);
    loom_future_unref(accepted);
    loom_server_close(srv);
}

/* --- fd_wait -------------------------------------------------------------------- */

START_TEST(test_fd_wait_waiters_and_cancel)
{
    int p[2];
    ck_assert_int_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    loom_future *w[3];
    for (int i = 0; i < 3; i++)
        w[i] = check_future(loom_fd_wait(loop, p[0], LOOM_READ));
    loom_future *out = check_future(loom_fd_wait(loop, p[1], LOOM_WRITE));
    ck_assert_int_eq(run(out, "writable"), 0);
    ck_assert_uint_eq(loom_future_value_int(out), LOOM_WRITE);
    ck_assert(loom_future_cancel(w[1]));
    fixture_settle(loop);
    for (int i = 0; i < 3; i++)
        ck_assert(!loom_future_done(w[i]) || i == 1);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    ck_assert_int_eq(run(w[2], "readable"), 0);
    ck_assert(loom_future_done(w[0]));
    ck_assert_uint_eq(loom_future_value_int(w[0]), LOOM_READ);
    ck_assert_int_eq(loom_future_status(w[1]), -ECANCELED);
    /* The last waiter gone, the fd is free for a reader. */
    ck_assert_int_eq(loom_add_reader(loop, p[0], ignore_fd, NULL), 0);
    ck_assert_int_eq(loom_remove_reader(loop, p[0]), 0);
    ck_assert_ptr_null(loom_fd_wait(loop, p[0], 0));
    ck_assert_int_eq(errno, EINVAL);
    for (int i = 0; i < 3; i++)
        loom_future_unref(w[i]);
    loom_future_unref(out);
    close(p[0]);
    close(p[1]);
}
END_TEST

static int reader_calls;

static void count_and_drain(loom_loop *l, int fd, unsigned events, void *data)
{
    char buf[16];
    reader_calls++;
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
}

/* Waiters share an fd with its watch: beside a reader (which still gets its
 * events), before one, beside a loom_fd_watch that wants nothing now,
 * beside a stream with a read pending and before one; when the watch they
 * ride on goes, they get LOOM_ERR. */
START_TEST(test_fd_wait_beside_a_watch)
{
    int p[2];
    ck_assert_int_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    reader_calls = 0;
    ck_assert_int_eq(loom_add_reader(loop, p[0], count_and_drain, NULL), 0);
    loom_future *w[3];
    for (int i = 0; i < 3; i++)
        w[i] = check_future(loom_fd_wait(loop, p[0], LOOM_READ));
    ck_assert(loom_future_cancel(w[1]));
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    ck_assert_int_eq(run(w[2], "readable beside a reader"), 0);
    ck_assert(loom_future_done(w[0]));
    ck_assert_uint_eq(loom_future_value_int(w[0]), LOOM_READ);
    ck_assert_int_eq(reader_calls, 1);
    for (int i = 0; i < 3; i++)
        loom_future_unref(w[i]);
    ck_assert_int_eq(write(p[1], "y", 1), 1); /* the reader alone again */
    while (reader_calls < 2)
        ck_assert_int_eq(loom_loop_run_once(loop, true), 0);
    /* A waiter first, then a reader: they share the fd. */
    ck_assert_int_eq(loom_remove_reader(loop, p[0]), 0);
    loom_future *first = check_future(loom_fd_wait(loop, p[0], LOOM_READ));
    ck_assert_int_eq(loom_add_reader(loop, p[0], count_and_drain, NULL), 0);
    ck_assert_int_eq(write(p[1], "z", 1), 1);
    ck_assert_int_eq(run(first, "readable, waited for before the reader came"), 0);
    ck_assert_uint_eq(loom_future_value_int(first), LOOM_READ);
    ck_assert_int_eq(reader_calls, 3);
    loom_future_unref(first);
    /* The reader goes while a waiter waits. */
    loom_future *orphan = check_future(loom_fd_wait(loop, p[0], LOOM_READ));
    ck_assert_int_eq(loom_remove_reader(loop, p[0]), 0);
    ck_assert_int_eq(run(orphan, "watch gone"), 0);
    ck_assert(loom_future_value_int(orphan) & LOOM_ERR);
    loom_future_unref(orphan);
    /* Beside a watch that wants nothing now. */
    ck_assert_int_eq(loom_fd_watch(loop, p[1], 0, ignore_fd, NULL, NULL), 0);
    loom_future *out = check_future(loom_fd_wait(loop, p[1], LOOM_WRITE));
    ck_assert_int_eq(run(out, "writable beside an idle watch"), 0);
    ck_assert_uint_eq(loom_future_value_int(out), LOOM_WRITE);
    loom_future_unref(out);
    ck_assert_int_eq(loom_fd_unwatch(loop, p[1]), 0);
    close(p[0]);
    close(p[1]);
    /* Beside a stream that reads, made while a waiter waits. */
    int sp[2];
    loom_stream *s[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    loom_future *early = check_future(loom_fd_wait(loop, sp[1], LOOM_WRITE));
    for (int i = 0; i < 2; i++)
        ck_assert_ptr_nonnull(s[i] = loom_stream_new(loop, sp[i]));
    ck_assert_int_eq(run(early, "writable, waited for before the stream came"), 0);
    loom_future_unref(early);
    loom_future *got = check_future(loom_stream_read(s[1], 100));
    loom_future *wr = check_future(loom_fd_wait(loop, loom_stream_fd(s[1]), LOOM_WRITE));
    ck_assert_int_eq(run(wr, "writable beside a stream"), 0);
    ck_assert_uint_eq(loom_future_value_int(wr), LOOM_WRITE);
    loom_future_unref(wr);
    write_ok(s[0], "ping");
    expect_read(got, "ping");
    loom_future *rd = check_future(loom_fd_wait(loop, loom_stream_fd(s[1]), LOOM_READ));
    loom_stream_abort(s[1]);
    ck_assert_int_eq(run(rd, "stream gone"), 0);
    ck_assert(loom_future_value_int(rd) & LOOM_ERR);
    loom_future_unref(rd);
    loom_stream_abort(s[0]);
}
END_TEST

START_TEST(test_fd_wait_hup_and_close)
{
    int p[2];
    ck_assert_int_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    loom_future *w = check_future(loom_fd_wait(loop, p[0], LOOM_READ));
    close(p[1]);
    ck_assert_int_eq(run(w, "hup"), 0);
    ck_assert(loom_future_value_int(w) & LOOM_READ);
    loom_future_unref(w);
    w = check_future(loom_fd_wait(loop, p[0], LOOM_WRITE)); /* never writable */
    fixture_free_loop(loop);
    ck_assert_int_eq(loom_future_status(w), -ESHUTDOWN);
    loop = NULL;
    loom_future_unref(w);
    close(p[0]);
}
END_TEST

/* An fd closed while waited for, its number reused by a new watch: the
 * waiter learns it (LOOM_ERR), and the new watch is not disturbed. */
START_TEST(test_fd_wait_fd_reused)
{
    int p[2], q[2];
    ck_assert_int_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    loom_future *w = check_future(loom_fd_wait(loop, p[0], LOOM_READ));
    close(p[0]);
    ck_assert_int_eq(pipe2(q, O_NONBLOCK | O_CLOEXEC), 0);
    ck_assert_int_eq(q[0], p[0]); /* the lowest free number */
    loom_stream *s = loom_stream_new(loop, q[0]);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(run(w, "waiter of a reused fd"), 0);
    ck_assert(loom_future_value_int(w) & LOOM_ERR);
    loom_future_unref(w);
    ck_assert_int_eq(write(q[1], "ok", 2), 2);
    expect_read(loom_stream_read(s, 10), "ok");
    loom_stream_abort(s);
    close(q[1]);
    close(p[1]);
}
END_TEST

/* --- echo ------------------------------------------------------------------------ */

/* The bench's callback-style echo (bench/echo-loom.c): each read's future
 * writes the bytes back and starts the next read. */
static void echo_next(loom_stream *s);
static int echo_ended; /* streams whose echo saw EOF or an error */

static void echo_on_read(loom_future *f, void *data)
{
    loom_stream *s = data;
    loom_bytes *b = loom_future_status(f) == 0 ? loom_future_value(f) : NULL;
    bool more = b && b->len && loom_stream_write(s, b->data, b->len, NULL) == 0;
    loom_future_unref(f);
    if (more)
        echo_next(s);
    else
        echo_ended++;
}

static void echo_next(loom_stream *s)
{
    loom_future *f = check_future(loom_stream_read(s, 65536));
    ck_assert_int_eq(loom_future_on_done(f, echo_on_read, s), 0);
}

/* Bytes waiting on fd, read without blocking. */
static size_t drain_fd(int fd)
{
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    return n > 0 ? (size_t)n : 0;
}

enum { ECHO_CONNS = 16, ECHO_ROUNDS = 50, ECHO_MSG = 1024 };

/* Runs blocking iterations until every client has its echo; how many it took. */
static int echo_iterations(const int *client)
{
    size_t got[ECHO_CONNS] = {0};
    int left = ECHO_CONNS, iterations = 0;
    while (left && iterations < 10 * ECHO_CONNS) {
        ck_assert_int_eq(loom_loop_run_once(loop, true), 0);
        iterations++;
        for (int i = 0; i < ECHO_CONNS; i++)
            if (got[i] < ECHO_MSG && (got[i] += drain_fd(client[i])) >= ECHO_MSG)
                left--;
    }
    ck_assert_int_eq(left, 0);
    return iterations;
}

/* Many streams ready at once are all served in the iteration that saw them:
 * an echo that waited on a later fd event (or a later poll) stalls its
 * connection for as long as the others take to send again (issue 9's p99). */
START_TEST(test_echo_many_ready_one_iteration)
{
    int client[ECHO_CONNS];
    loom_stream *server[ECHO_CONNS];
    char msg[ECHO_MSG];
    memset(msg, 'e', sizeof msg);
    for (int i = 0; i < ECHO_CONNS; i++) {
        int fds[2];
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        client[i] = fds[0];
        ck_assert_ptr_nonnull(server[i] = loom_stream_new(loop, fds[1]));
        echo_next(server[i]);
    }
    int worst = 0;
    for (int round = 0; round < ECHO_ROUNDS; round++) {
        for (int i = 0; i < ECHO_CONNS; i++)
            ck_assert_int_eq(send(client[i], msg, sizeof msg, MSG_NOSIGNAL), (ssize_t)sizeof msg);
        int n = echo_iterations(client);
        worst = n > worst ? n : worst;
    }
    /* One iteration, or two where a host splits its poll and its dispatch. */
    ck_assert_int_le(worst, 2);
    echo_ended = 0;
    for (int i = 0; i < ECHO_CONNS; i++)
        close(client[i]);
    while (echo_ended < ECHO_CONNS) /* each read's future ends at EOF, and is let go */
        ck_assert_int_eq(loom_loop_run_once(loop, true), 0);
    for (int i = 0; i < ECHO_CONNS; i++)
        close_stream(server[i]);
}
END_TEST

static loom_future *pair_reads[2];
static int pair_first = -1; /* the read whose callback ran first */
static bool pair_other_done;

static void on_pair_read(loom_future *f, void *data)
{
    int i = (int)(intptr_t)data;
    if (pair_first < 0) {
        pair_first = i;
        pair_other_done = loom_future_done(pair_reads[1 - i]);
    }
}

/* A read's completion runs right after its fd event, before the next ready
 * fd is read: an echo server's reply goes out while its peer waits, not
 * behind every other connection's read (issue 9's 10-connection echo). */
START_TEST(test_read_completion_before_next_fd)
{
    int client[2];
    loom_stream *server[2];
    pair_first = -1;
    for (int i = 0; i < 2; i++) {
        int fds[2];
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        client[i] = fds[0];
        ck_assert_ptr_nonnull(server[i] = loom_stream_new(loop, fds[1]));
        pair_reads[i] = check_future(loom_stream_read(server[i], 100));
        ck_assert_int_eq(loom_future_on_done(pair_reads[i], on_pair_read, (void *)(intptr_t)i), 0);
        ck_assert_int_eq(send(client[i], "ping", 4, MSG_NOSIGNAL), 4);
    }
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(run(pair_reads[i], "read"), 0);
    ck_assert_int_ge(pair_first, 0);
    ck_assert_msg(!pair_other_done, "the second fd was read before the first read's callback ran");
    for (int i = 0; i < 2; i++) {
        expect_read(pair_reads[i], "ping");
        close(client[i]);
        loom_stream_abort(server[i]);
    }
}
END_TEST

/* One round trip each way over s, then both ends closed. */
static void echo_round_trip(loom_stream *s[2])
{
    write_ok(s[0], "hello");
    expect_read(loom_stream_read_exactly(s[1], 5), "hello");
    loom_future *done;
    ck_assert_int_eq(loom_stream_write(s[1], "world!", 6, &done), 0);
    expect_read(loom_stream_read(s[0], 100), "world!");
    ck_assert_int_eq(run(done, "write"), 0);
    ck_assert_int_eq(loom_future_value_int(done), 6);
    loom_future_unref(done);
    close_stream(s[0]);
    expect_read(loom_stream_read(s[1], 100), NULL);
    close_stream(s[1]);
}

START_TEST(test_echo_socketpair)
{
    loom_stream *s[2];
    socketpair_streams(s);
    echo_round_trip(s);
}
END_TEST

/* Whether the TCP stream's socket has TCP_NODELAY. */
static bool nodelay(const loom_stream *s)
{
    int on = 0;
    socklen_t len = sizeof(on);
    ck_assert_int_eq(getsockopt(loom_stream_fd(s), IPPROTO_TCP, TCP_NODELAY, &on, &len), 0);
    return on != 0;
}

/* Connected and accepted TCP streams come with TCP_NODELAY (asyncio's
 * default; the echo benchmark's peers all set it). */
START_TEST(test_echo_tcp)
{
    loom_file_engine(loop); /* the loop's io_uring fd, if it runs, stays with the loop */
    int fds = fixture_count_open_fds();
    loom_stream *s[2];
    tcp_streams(s, NULL);
    ck_assert(nodelay(s[0]));
    ck_assert(nodelay(s[1]));
    echo_round_trip(s);
    loom_executor_shutdown();
    ck_assert_int_eq(fixture_count_open_fds(), fds);
}
END_TEST

static void unix_echo(const char *path)
{
    loom_server *srv;
    ck_assert_int_eq(loom_unix_listen(loop, path, NULL, &srv), 0);
    ck_assert_int_eq(loom_server_port(srv), -EAFNOSUPPORT);
    loom_future *accepted = check_future(loom_server_accept(srv));
    loom_future *connected = check_future(loom_unix_connect(loop, path, 0));
    ck_assert_int_eq(run(connected, "unix connect"), 0);
    ck_assert_int_eq(run(accepted, "unix accept"), 0);
    loom_stream *s[2] = {loom_stream_take(connected), loom_stream_take(accepted)};
    loom_future_unref(connected);
    loom_future_unref(accepted);
    loom_server_close(srv);
    echo_round_trip(s);
}

START_TEST(test_echo_unix)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/loom-test-%d.sock", (int)getpid());
    unix_echo(path);
    ck_assert_int_eq(access(path, F_OK), -1); /* removed by loom_server_close */
    snprintf(path, sizeof(path), "@loom-test-%d", (int)getpid());
    unix_echo(path);
    /* A stale socket file is replaced. */
    snprintf(path, sizeof(path), "/tmp/loom-stale-%d.sock", (int)getpid());
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    strcpy(sun.sun_path, path);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    close(fd);
    unix_echo(path);
}
END_TEST

/* --- partial reads and writes ------------------------------------------------------- */

/* 1-byte SO_SNDBUF / SO_RCVBUF (the kernel's minimum, a few KiB): every
 * write and read is partial. */
static void small_buffers(loom_stream *s[2], size_t len)
{
    int one = 1;
    ck_assert_int_eq(setsockopt(loom_stream_fd(s[0]), SOL_SOCKET, SO_SNDBUF, &one, sizeof(one)), 0);
    ck_assert_int_eq(setsockopt(loom_stream_fd(s[1]), SOL_SOCKET, SO_RCVBUF, &one, sizeof(one)), 0);
    unsigned char *data = malloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = (unsigned char)(i * 7 + i / 251);
    struct iovec iov[2] = {{data, len / 2}, {data + len / 2, len - len / 2}};
    loom_future *written;
    ck_assert_int_eq(loom_stream_writev(s[0], iov, 2, &written), 0);
    ck_assert_uint_gt(loom_stream_write_queued(s[0]), 0);
    loom_future *got = check_future(loom_stream_read_exactly(s[1], len));
    ck_assert_int_eq(run(got, "read through small buffers"), 0);
    ck_assert_mem_eq(bytes(got)->data, data, len);
    ck_assert_int_eq(run(written, "write through small buffers"), 0);
    ck_assert_int_eq(loom_future_value_int(written), (int64_t)len);
    ck_assert_uint_eq(loom_stream_write_queued(s[0]), 0);
    loom_future_unref(got);
    loom_future_unref(written);
    free(data);
    close_stream(s[0]);
    close_stream(s[1]);
}

START_TEST(test_small_kernel_buffers)
{
    loom_stream *s[2];
    socketpair_streams(s);
    small_buffers(s, 256 * 1024);
    tcp_streams(s, NULL);
    small_buffers(s, 64 * 1024);
}
END_TEST

static int destroyed;

static void count_destroy(void *data)
{
    destroyed++;
    free(data);
}

/* Many writes in a row arrive in order, their futures complete in order, and
 * abort destroys what was handed over and never sent. */
START_TEST(test_write_order_and_abort)
{
    loom_stream *s[2];
    socketpair_streams(s);
    enum { N = 300 };
    loom_future *done[N];
    char expect[N * 4 + 1] = "";
    for (int i = 0; i < N; i++) {
        char *text = malloc(5);
        snprintf(text, 5, "%04d", i);
        strcat(expect, text);
        ck_assert_int_eq(loom_stream_write_take(s[0], text, 4, count_destroy, &done[i]), 0);
    }
    loom_future *got = check_future(loom_stream_read_exactly(s[1], N * 4));
    ck_assert_int_eq(run(got, "ordered writes"), 0);
    ck_assert_mem_eq(bytes(got)->data, expect, N * 4);
    loom_future_unref(got);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(run(done[i], "write future"), 0);
        ck_assert_int_eq(loom_future_value_int(done[i]), 4);
        loom_future_unref(done[i]);
    }
    ck_assert_int_eq(destroyed, N);
    /* Queued behind a full kernel buffer, then aborted. */
    destroyed = 0;
    size_t big = 4 << 20;
    ck_assert_int_eq(loom_stream_write_take(s[0], calloc(1, big), big, count_destroy, NULL), 0);
    loom_future *last;
    ck_assert_int_eq(loom_stream_write_take(s[0], strdup("x"), 1, count_destroy, &last), 0);
    ck_assert_uint_gt(loom_stream_write_queued(s[0]), 0);
    loom_stream_abort(s[0]);
    while (destroyed < 2) /* on io_uring: the big write's at its send's CQE */
        ck_assert_int_eq(loom_loop_run_once(loop, true), 0);
    ck_assert_int_eq(loom_future_state_get(last), LOOM_FUTURE_CANCELLED);
    loom_future_unref(last);
    loom_stream_abort(s[1]);
}
END_TEST

/* A write the kernel takes in full is done when the call returns (its
 * future resolved, a handed-over buffer destroyed); an empty one completes
 * at once with nothing queued, and behind a queued write only after it. */
START_TEST(test_write_sent_at_once)
{
    loom_stream *s[2];
    socketpair_streams(s);
    loom_future *done, *empty;
    ck_assert_int_eq(loom_stream_write(s[0], "abc", 3, &done), 0);
    ck_assert_int_eq(loom_future_state_get(done), LOOM_FUTURE_RESOLVED);
    ck_assert_int_eq(loom_future_value_int(done), 3);
    loom_future_unref(done);
    destroyed = 0;
    ck_assert_int_eq(loom_stream_write_take(s[0], strdup("de"), 2, count_destroy, &done), 0);
    ck_assert_int_eq(destroyed, 1);
    ck_assert_int_eq(loom_future_value_int(done), 2);
    loom_future_unref(done);
    ck_assert_int_eq(loom_stream_write(s[0], "", 0, &empty), 0);
    ck_assert_int_eq(loom_future_state_get(empty), LOOM_FUTURE_RESOLVED);
    loom_future_unref(empty);
    ck_assert_uint_eq(loom_stream_write_queued(s[0]), 0);
    expect_read(loom_stream_read_exactly(s[1], 5), "abcde");
    size_t big = 4 << 20; /* more than the kernel buffers: queued */
    ck_assert_int_eq(loom_stream_write_take(s[0], calloc(1, big), big, free, &done), 0);
    ck_assert_int_eq(loom_stream_write(s[0], "", 0, &empty), 0);
    ck_assert_int_eq(loom_future_state_get(empty), LOOM_FUTURE_PENDING);
    loom_future *got = check_future(loom_stream_read_exactly(s[1], big));
    ck_assert_int_eq(run(got, "big write"), 0);
    ck_assert_int_eq(run(empty, "empty write behind it"), 0);
    ck_assert_int_eq(loom_future_state_get(done), LOOM_FUTURE_RESOLVED);
    loom_future_unref(got);
    loom_future_unref(empty);
    loom_future_unref(done);
    loom_stream_abort(s[0]);
    loom_stream_abort(s[1]);
}
END_TEST

/* --- framing --------------------------------------------------------------------------- */

START_TEST(test_readline_limit)
{
    loom_stream *s[2];
    socketpair_streams(s);
    write_ok(s[0], "abc\r\nthis line is too long\nend");
    expect_read(loom_stream_read_until(s[1], "\r\n", 2, 10), "abc\r\n");
    loom_future *f = check_future(loom_stream_read_line(s[1], 8));
    ck_assert_int_eq(run(f, "long line"), -EMSGSIZE);
    ck_assert_ptr_nonnull(strstr(loom_future_message(f), "8 bytes"));
    loom_future_unref(f);
    ck_assert_uint_le(loom_stream_buffered(s[1]), LOOM_STREAM_READ_LIMIT);
    expect_read(loom_stream_read_exactly(s[1], 8), "this lin");
    expect_read(loom_stream_read_line(s[1], 100), "e is too long\n");
    ck_assert_ptr_null(loom_stream_read(s[1], 0));
    ck_assert_int_eq(errno, EINVAL);
    /* The last line has no newline: it comes with EOF, as asyncio's readline. */
    close_stream(s[0]);
    f = check_future(loom_stream_read_line(s[1], 100));
    ck_assert_int_eq(run(f, "last line"), 0);
    ck_assert_str_eq((char *)bytes(f)->data, "end");
    ck_assert(bytes(f)->eof);
    loom_future_unref(f);
    close_stream(s[1]);
}
END_TEST

START_TEST(test_read_exactly_at_eof)
{
    loom_stream *s[2];
    socketpair_streams(s);
    write_ok(s[0], "abc");
    loom_future *f = check_future(loom_stream_read_exactly(s[1], 5));
    ck_assert_ptr_null(loom_stream_read(s[1], 5)); /* one read at a time */
    ck_assert_int_eq(errno, EBUSY);
    close_stream(s[0]);
    ck_assert_int_eq(run(f, "short read"), -EPIPE);
    ck_assert_str_eq(loom_future_message(f), "short read: got 3 of 5 bytes");
    loom_future_unref(f);
    ck_assert(loom_stream_at_eof(s[1]));
    expect_read(loom_stream_read(s[1], 5), "abc");
    expect_read(loom_stream_read(s[1], 5), NULL);
    expect_read(loom_stream_read(s[1], 5), NULL); /* EOF again */
    close_stream(s[1]);
}
END_TEST

/* A stream over an fd the loop cannot poll (epoll refuses regular files
 * with EPERM) fails its reads with the loop's error instead of waiting for
 * readiness that never comes; where the loop can poll it (poll(2)), it
 * reads. */
START_TEST(test_unpollable_fd_fails_reads)
{
    char path[] = "/tmp/loom-stream-file-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    ck_assert_int_eq(write(fd, "abc", 3), 3);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    loom_stream *st = loom_stream_new(loop, fd);
    ck_assert_ptr_nonnull(st);
    loom_future *f = check_future(loom_stream_read(st, 5));
    int r = run(f, "a read from a regular file");
    if (r == 0) {
        ck_assert_str_eq((const char *)bytes(f)->data, "abc");
    } else {
        ck_assert_int_eq(r, -EPERM);
        ck_assert_int_eq(loom_stream_error(st), -EPERM);
        ck_assert_int_eq(loom_stream_write(st, "x", 1, NULL), -EPERM);
    }
    loom_future_unref(f);
    loom_stream_abort(st);
}
END_TEST

START_TEST(test_read_limit_pauses)
{
    loom_stream *s[2];
    socketpair_streams(s);
    ck_assert_int_eq(loom_stream_set_read_limit(s[1], 1000), 0);
    char chunk[4000];
    memset(chunk, 'r', sizeof(chunk));
    ck_assert_int_eq(loom_stream_write(s[0], chunk, sizeof(chunk), NULL), 0);
    expect_read(loom_stream_read(s[1], 1), "r");
    uint64_t ticks = loom_loop_ticks(loop);
    loom_call_later(loop, LOOM_MSEC(50), fixture_stop, NULL, NULL);
    fixture_run(loop, WAIT_MS, "read ahead");
    ck_assert_uint_le(loom_stream_buffered(s[1]), 1000); /* paused at the limit */
    ck_assert_uint_lt(loom_loop_ticks(loop) - ticks, 20);  /* not woken by the fd meanwhile */
    ck_assert_uint_gt(loom_stream_buffered(s[1]), 0);
    loom_future *f = check_future(loom_stream_read_exactly(s[1], 3999)); /* beyond the limit */
    ck_assert_int_eq(run(f, "read the rest"), 0);
    ck_assert_uint_eq(bytes(f)->len, 3999);
    loom_future_unref(f);
    close_stream(s[0]);
    close_stream(s[1]);
}
END_TEST

/* --- backpressure ------------------------------------------------------------------------ */

typedef struct pressure {
    loom_stream *writer, *reader;
    size_t max_queued, queued_at_drain, total;
    bool drained_at_low;
} pressure;

static int pressure_writer(void *arg)
{
    pressure *p = arg;
    char chunk[1024];
    memset(chunk, 'p', sizeof(chunk));
    for (int i = 0; i < 2000; i++) {
        ck_assert_int_eq(loom_stream_write(p->writer, chunk, sizeof(chunk), NULL), 0);
        size_t q = loom_stream_write_queued(p->writer);
        if (q > p->max_queued)
            p->max_queued = q;
        bool above = q > LOOM_STREAM_HIGH_WATER;
        ck_assert_int_eq(loom_await_drain(p->writer), 0);
        if (above) {
            p->queued_at_drain = loom_stream_write_queued(p->writer);
            p->drained_at_low = p->queued_at_drain <= LOOM_STREAM_LOW_WATER;
            ck_assert(p->drained_at_low);
        }
    }
    return 0;
}

static int pressure_reader(void *arg)
{
    pressure *p = arg;
    while (p->total < 2000 * 1024) {
        loom_future *f = loom_stream_read(p->reader, 512);
        ck_assert_int_eq(loom_await(f), 0);
        p->total += bytes(f)->len;
        loom_future_unref(f);
        loom_yield(); /* half the writer's pace */
    }
    return 0;
}

START_TEST(test_backpressure)
{
    pressure p = {0};
    loom_stream *s[2];
    socketpair_streams(s);
    p.writer = s[0];
    p.reader = s[1];
    loom_future *w = check_future(loom_task_spawn(loop, pressure_writer, &p));
    loom_future *r = check_future(loom_task_spawn(loop, pressure_reader, &p));
    ck_assert_int_eq(run(r, "reader"), 0);
    ck_assert_int_eq(run(w, "writer"), 0);
    ck_assert_uint_eq(p.total, 2000 * 1024);
    ck_assert_uint_le(p.max_queued, LOOM_STREAM_HIGH_WATER + 1024);
    ck_assert_uint_gt(p.max_queued, LOOM_STREAM_HIGH_WATER); /* the marks were reached */
    ck_assert(p.drained_at_low);
    loom_future_unref(w);
    loom_future_unref(r);
    close_stream(s[0]);
    close_stream(s[1]);
}
END_TEST

/* --- ending ----------------------------------------------------------------------------- */

START_TEST(test_half_close)
{
    loom_stream *s[2];
    tcp_streams(s, NULL);
    write_ok(s[0], "question");
    loom_future *shut = check_future(loom_stream_shutdown(s[0]));
    ck_assert_int_eq(loom_stream_write(s[0], "x", 1, NULL), -EPIPE);
    ck_assert_ptr_null(loom_stream_shutdown(s[0]));
    ck_assert_int_eq(errno, EPIPE);
    ck_assert_int_eq(run(shut, "shutdown"), 0);
    loom_future_unref(shut);
    expect_read(loom_stream_read_exactly(s[1], 8), "question");
    expect_read(loom_stream_read(s[1], 8), NULL);
    write_ok(s[1], "answer"); /* the other way still works */
    close_stream(s[1]);
    expect_read(loom_stream_read_exactly(s[0], 6), "answer");
    expect_read(loom_stream_read(s[0], 8), NULL);
    close_stream(s[0]);
    /* A pipe's write end is closed by shutdown (a child's stdin, say). */
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    loom_stream *in = loom_stream_new(loop, p[0]), *out = loom_stream_new(loop, p[1]);
    write_ok(out, "last words");
    shut = check_future(loom_stream_shutdown(out));
    ck_assert_int_eq(run(shut, "pipe shutdown"), 0);
    loom_future_unref(shut);
    ck_assert_int_eq(loom_stream_fd(out), -EBADF);
    expect_read(loom_stream_read_exactly(in, 10), "last words");
    expect_read(loom_stream_read(in, 10), NULL);
    close_stream(out);
    close_stream(in);
}
END_TEST

/* A stream closed with a read pending has let go of its socket once the
 * close resolved: the peer reads EOF then (on the ring engine, the recv in
 * flight held the socket open until the loop next polled). */
START_TEST(test_close_with_read_pending_releases_socket)
{
    int fds[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    loom_stream *s = loom_stream_new(loop, fds[0]);
    ck_assert_ptr_nonnull(s);
    loom_future *reading = check_future(loom_stream_read(s, 100));
    fixture_settle(loop); /* the read is in flight */
    close_stream(s);
    char c;
    ck_assert_int_eq(recv(fds[1], &c, 1, MSG_DONTWAIT), 0); /* EOF, not EAGAIN */
    ck_assert(loom_future_done(reading));
    loom_future_unref(reading);
    close(fds[1]);
}
END_TEST

START_TEST(test_peer_reset_mid_write)
{
    loom_stream *s[2];
    tcp_streams(s, NULL);
    size_t len = 8 << 20;
    loom_future *w1, *w2;
    ck_assert_int_eq(loom_stream_write_take(s[0], calloc(1, len), len, free, &w1), 0);
    ck_assert_int_eq(loom_stream_write(s[0], "tail", 4, &w2), 0);
    loom_future *reading = check_future(loom_stream_read(s[0], 10));
    fixture_settle(loop);
    struct linger lin = {.l_onoff = 1, .l_linger = 0};
    setsockopt(loom_stream_fd(s[1]), SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
    loom_stream_abort(s[1]); /* an RST */
    int r = run(w1, "write into a reset");
    ck_assert_msg(r == -ECONNRESET || r == -EPIPE, "write failed with %s", loom_strerror(r));
    ck_assert_int_eq(run(w2, "queued write"), r);
    ck_assert_int_eq(run(reading, "read"), r);
    ck_assert_int_eq(loom_stream_error(s[0]), r);
    ck_assert_int_eq(loom_stream_write(s[0], "x", 1, NULL), r);
    loom_future *more = check_future(loom_stream_read(s[0], 10));
    ck_assert_int_eq(run(more, "read after reset"), r);
    loom_future_unref(more);
    ck_assert_int_eq(atomic_load(&errors.count), 0); /* the futures carry it */
    loom_future_unref(w1);
    loom_future_unref(w2);
    loom_future_unref(reading);
    loom_future *c = loom_stream_close(s[0]);
    ck_assert_int_eq(run(c, "close"), 0);
    loom_future_unref(c);
}
END_TEST

START_TEST(test_epipe_without_sigpipe)
{
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would end the test */
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    loom_stream *s = loom_stream_new(loop, p[1]);
    ck_assert_ptr_nonnull(s);
    close(p[0]);
    loom_future *f;
    ck_assert_int_eq(loom_stream_write(s, "x", 1, &f), -EPIPE);
    ck_assert_int_eq(loom_stream_error(s), -EPIPE);
    loom_stream_abort(s);
    loom_stream *pair[2];
    socketpair_streams(pair);
    loom_stream_abort(pair[1]);
    ck_assert_int_eq(loom_stream_write(pair[0], "x", 1, NULL), -EPIPE);
    loom_stream_abort(pair[0]);
}
END_TEST

/* --- servers and connects ---------------------------------------------------------------------- */

/* Valgrind closes what accept returns above the fd limit it keeps for the
 * program, so there a connection refused for EMFILE is lost for good. */
static bool under_valgrind(void)
{
    const char *preload = getenv("LD_PRELOAD");
    return preload && strstr(preload, "vgpreload");
}

typedef struct acceptor {
    int accepted;
} acceptor;

static void count_accept(loom_server *server, loom_stream *stream, void *data)
{
    acceptor *a = data;
    a->accepted++;
    loom_stream_abort(stream);
}

START_TEST(test_accept_emfile_does_not_spin)
{
    loom_server *srv;
    acceptor a = {0};
    /* Both families where there are two (IPv6 and IPv4): their accepts may fail together. */
    ck_assert_int_eq(loom_tcp_listen(loop, NULL, "0", NULL, &srv), 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)loom_server_port(srv)),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int clients[4]; /* the last one connects once fds are free again */
    for (int i = 0; i < 4; i++)
        clients[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int spare = dup(clients[3]); /* freed later: a number to accept into */
    struct rlimit old, low;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = (rlim_t)spare + 1; /* no fd number left to accept into */
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    /* Accepting from here (an accept on the ring takes the limit when submitted). */
    ck_assert_int_eq(loom_server_on_accept(srv, count_accept, &a, NULL), 0);
    if (under_valgrind() && fixture_dump_has(loop, "(io_uring), accepting")) {
        /* Valgrind keeps the limit in itself, unseen by the ring's accepts. */
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
        for (int i = 0; i < 4; i++)
            close(clients[i]);
        close(spare);
        loom_server_close(srv);
        return;
    }
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(connect(clients[i], (struct sockaddr *)&sin, sizeof(sin)), 0);
    uint64_t ticks = loom_loop_ticks(loop);
    loom_call_later(loop, LOOM_MSEC(350), fixture_stop, NULL, NULL);
    fixture_run(loop, WAIT_MS, "out of fds");
    ck_assert_int_eq(a.accepted, 0);
    uint64_t paused = loom_server_accept_errors(srv);
    ck_assert_uint_ge(paused, 1);
    ck_assert_uint_le(paused, 5); /* 100 ms apart, not a spin */
    ck_assert_uint_lt(loom_loop_ticks(loop) - ticks, 100);
    ck_assert_int_ge(atomic_load(&errors.count), 1);
    ck_assert_int_eq(atomic_load(&errors.last_err), -EMFILE);
    close(spare); /* each accepted stream is closed at once: one number is enough */
    ck_assert_int_eq(connect(clients[3], (struct sockaddr *)&sin, sizeof(sin)), 0);
    int expected = under_valgrind() ? 1 : 4;
    for (int i = 0; i < 100 && a.accepted < expected; i++) {
        loom_call_later(loop, LOOM_MSEC(20), fixture_stop, NULL, NULL);
        fixture_run(loop, WAIT_MS, "accepting again");
    }
    ck_assert_int_ge(a.accepted, expected);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    for (int i = 0; i < 4; i++)
        close(clients[i]);
    loom_server_close(srv);
}
END_TEST

START_TEST(test_connect_refused)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, len), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    char port[16];
    snprintf(port, sizeof(port), "%d", ntohs(sin.sin_port));
    loom_future *f = check_future(loom_tcp_connect(loop, "127.0.0.1", port, NULL));
    ck_assert_int_eq(run(f, "connect refused"), -ECONNREFUSED);
    ck_assert_ptr_nonnull(strstr(loom_future_message(f), "127.0.0.1"));
    ck_assert_ptr_null(loom_stream_take(f));
    loom_future_unref(f);
    close(fd);
    f = check_future(loom_unix_connect(loop, "@loom-nobody-listens-here", 0));
    ck_assert_int_eq(run(f, "unix connect refused"), -ECONNREFUSED);
    loom_future_unref(f);
    f = check_future(loom_unix_connect(loop, "/nonexistent/loom.sock", 0));
    ck_assert_int_eq(run(f, "no such socket"), -ENOENT);
    loom_future_unref(f);
    loom_executor_shutdown();
}
END_TEST

START_TEST(test_connect_timeout)
{
    /* A full accept queue drops SYNs, so the connect hangs until timed out. */
    fixture_full_listener full;
    fixture_full_listener_open(&full);
    loom_file_engine(loop); /* the loop's io_uring fd, if it runs, stays with the loop */
    int fds = fixture_count_open_fds();
    loom_connect_opts opts = {.timeout_ns = LOOM_MSEC(300)};
    loom_future *f = check_future(loom_tcp_connect(loop, "127.0.0.1", full.port, &opts));
    ck_assert_int_eq(run(f, "connect timeout"), -ETIMEDOUT);
    loom_future_unref(f);
    /* Cancelled while it hangs: the attempt goes too. */
    f = check_future(loom_tcp_connect(loop, "127.0.0.1", full.port, NULL));
    loom_call_later(loop, LOOM_MSEC(100), fixture_stop, NULL, NULL);
    fixture_run(loop, WAIT_MS, "connect under way");
    ck_assert(!loom_future_done(f));
    ck_assert(loom_future_cancel(f));
    fixture_settle(loop);
    loom_future_unref(f);
    loom_executor_shutdown();
    ck_assert_int_eq(fixture_count_open_fds(), fds); /* the attempt's socket went */
    fixture_full_listener_close(&full);
}
END_TEST

START_TEST(test_connect_unresolvable)
{
    loom_future *f = check_future(loom_tcp_connect(loop, "name-that-does-not-resolve.invalid", "80", NULL));
    int r = run(f, "unresolvable");
    ck_assert_msg(r == -ENOENT || r == -EAGAIN, "failed with %s", loom_strerror(r));
    ck_assert_ptr_nonnull(loom_future_message(f));
    loom_future_unref(f);
    ck_assert_ptr_null(loom_tcp_connect(loop, NULL, "80", NULL));
    ck_assert_int_eq(errno, EINVAL);
    loom_executor_shutdown();
}
END_TEST

/* --- teardown -------------------------------------------------------------------------------- */

static int read_forever(void *arg)
{
    loom_future *f = loom_stream_read(arg, 10);
    int r = loom_await(f);
    loom_future_unref(f);
    return r;
}

START_TEST(test_loop_close_mid_read)
{
    int fds = fixture_count_open_fds();
    loom_stream *s[2], *t[2];
    socketpair_streams(s);
    tcp_streams(t, NULL);
    loom_server *srv;
    ck_assert_int_eq(loom_tcp_listen(loop, NULL, "0", NULL, &srv), 0);
    loom_future *accepting = check_future(loom_server_accept(srv));
    loom_future *task = check_future(loom_task_spawn(loop, read_forever, s[0]));
    loom_future *reading = check_future(loom_stream_read_exactly(t[1], 10));
    size_t len = 32 << 20; /* more than the kernel buffers */
    loom_future *writing;
    ck_assert_int_eq(loom_stream_write_take(t[1], calloc(1, len), len, free, &writing), 0);
    loom_future *draining = check_future(loom_stream_drain(t[1]));
    fixture_settle(loop);
    fixture_free_loop(loop);
    loop = NULL;
    ck_assert_int_eq(loom_future_status(task), -ESHUTDOWN);
    ck_assert_int_eq(loom_future_status(reading), -ESHUTDOWN);
    ck_assert_int_eq(loom_future_status(accepting), -ESHUTDOWN);
    ck_assert_int_eq(loom_future_status(writing), -ESHUTDOWN);
    ck_assert_int_eq(loom_future_status(draining), -ESHUTDOWN);
    ck_assert_int_eq(loom_stream_fd(s[0]), -EBADF);
    ck_assert_ptr_null(loom_stream_read(s[1], 1));
    ck_assert_int_eq(errno, ESHUTDOWN);
    ck_assert_ptr_null(loom_stream_close(s[0]));
    ck_assert_int_eq(errno, ESHUTDOWN);
    loom_stream_abort(s[1]);
    loom_stream_abort(t[0]);
    loom_stream_abort(t[1]);
    loom_server_close(srv);
    loom_future_unref(task);
    loom_future_unref(reading);
    loom_future_unref(accepting);
    loom_future_unref(writing);
    loom_future_unref(draining);
    loom_executor_shutdown();
    loop = host_loop_new(); /* a loop like the first: the same fds open as at the start */
    ck_assert_int_eq(fixture_count_open_fds(), fds);
}
END_TEST

/* What is still open when the loop closes goes with the I/O layer's own
 * shutdown: no "fd watches pending; dropped" report, no fd left behind. */
START_TEST(test_loop_close_leaves_no_watch)
{
    int fds = fixture_count_open_fds();
    loom_stream *s[2];
    socketpair_streams(s);
    loom_server *srv;
    ck_assert_int_eq(loom_tcp_listen(loop, "127.0.0.1", "0", NULL, &srv), 0);
    loom_future *accepting = check_future(loom_server_accept(srv));
    loom_dgram *d;
    ck_assert_int_eq(loom_dgram_new(loop, AF_INET, &d), 0);
    loom_future *receiving = check_future(loom_dgram_recv_from(d, 16));
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    loom_future *waiting = check_future(loom_fd_wait(loop, p[0], LOOM_READ));
    fixture_settle(loop);
    fixture_free_loop(loop);
    loop = NULL;
    int reports = atomic_load(&errors.count);
    ck_assert_msg(reports == 0, "%d reports at close, the last %s", reports,
                  loom_strerror(atomic_load(&errors.last_err)));
    ck_assert_int_eq(loom_future_status(accepting), -ESHUTDOWN);
    ck_assert_int_eq(loom_future_status(receiving), -ESHUTDOWN);
    ck_assert_int_eq(loom_future_status(waiting), -ESHUTDOWN);
    ck_assert_int_eq(loom_stream_fd(s[0]), -EBADF);
    loom_stream_abort(s[0]);
    loom_stream_abort(s[1]);
    loom_server_close(srv);
    loom_dgram_close(d);
    loom_future_unref(accepting);
    loom_future_unref(receiving);
    loom_future_unref(waiting);
    close(p[0]);
    close(p[1]);
    loop = host_loop_new(); /* a loop like the first: the same fds open as at the start */
    fixture_capture_errors(loop, &errors);
    ck_assert_int_eq(fixture_count_open_fds(), fds);
}
END_TEST

Suite *stream_suite(void)
{
    Suite *s = suite_create("stream");
    TCase *tc = fixture_tcase(s, "stream");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_fd_wait_waiters_and_cancel);
    tcase_add_test(tc, test_fd_wait_beside_a_watch);
    tcase_add_test(tc, test_fd_wait_hup_and_close);
    tcase_add_test(tc, test_fd_wait_fd_reused);
    tcase_add_test(tc, test_echo_socketpair);
    tcase_add_test(tc, test_echo_tcp);
    tcase_add_test(tc, test_echo_unix);
    tcase_add_test(tc, test_echo_many_ready_one_iteration);
    tcase_add_test(tc, test_read_completion_before_next_fd);
    tcase_add_test(tc, test_small_kernel_buffers);
    tcase_add_test(tc, test_write_order_and_abort);
    tcase_add_test(tc, test_write_sent_at_once);
    tcase_add_test(tc, test_readline_limit);
    tcase_add_test(tc, test_read_exactly_at_eof);
    tcase_add_test(tc, test_read_limit_pauses);
    tcase_add_test(tc, test_unpollable_fd_fails_reads);
    tcase_add_test(tc, test_backpressure);
    tcase_add_test(tc, test_half_close);
    tcase_add_test(tc, test_close_with_read_pending_releases_socket);
    tcase_add_test(tc, test_peer_reset_mid_write);
    tcase_add_test(tc, test_epipe_without_sigpipe);
    tcase_add_test(tc, test_accept_emfile_does_not_spin);
    tcase_add_test(tc, test_connect_refused);
    tcase_add_test(tc, test_connect_timeout);
    tcase_add_test(tc, test_connect_unresolvable);
    tcase_add_test(tc, test_loop_close_mid_read);
    tcase_add_test(tc, test_loop_close_leaves_no_watch);
    return s;
}
