/* loom conformance suite — fd readiness: readers and writers, level
 * triggering, removal from callbacks, stale events for a reused fd number,
 * HUP/ERR-only delivery, fds closed under a watch, argument errors. */
#define _GNU_SOURCE /* pipe2 */
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include "fixture.h"
#include "suites.h"

#define MS INT64_C(1000000)

static void nonblocking_pipe(int fds[2])
{
    ck_assert_int_eq(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
}

static void nonblocking_socketpair(int fds[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
}

static void close_pair(const int fds[2])
{
    close(fds[0]);
    close(fds[1]);
}

/* Writes until the kernel buffer is full. */
static void fill(int fd)
{
    char buf[4096] = {0};

    while (write(fd, buf, sizeof(buf)) > 0)
        ;
    ck_assert_int_eq(errno, EAGAIN);
}

static void drain(int fd)
{
    char buf[4096];

    while (read(fd, buf, sizeof(buf)) > 0)
        ;
}

typedef struct fd_probe {
    int calls;
    unsigned events;
    bool armed; /* the test made the fd ready */
    int stop_after; /* calls before the callback removes itself and stops */
} fd_probe;

static void probe_reader(loom_loop *loop, int fd, unsigned events, void *data)
{
    fd_probe *p = data;

    ck_assert_msg(p->armed, "reader called before its fd was readable");
    p->calls++;
    p->events = events;
    if (p->calls == p->stop_after) {
        ck_assert_int_eq(loom_remove_reader(loop, fd), 0);
        fixture_stop(loop, NULL);
    }
}

static void probe_writer(loom_loop *loop, int fd, unsigned events, void *data)
{
    fd_probe *p = data;

    ck_assert_msg(p->armed, "writer called before its fd was writable");
    p->calls++;
    p->events = events;
    if (p->calls == p->stop_after) {
        ck_assert_int_eq(loom_remove_writer(loop, fd), 0);
        fixture_stop(loop, NULL);
    }
}

typedef struct arm_write {
    fd_probe *probe;
    int fd;
} arm_write;

static void write_byte(loom_loop *loop, void *data)
{
    arm_write *a = data;

    a->probe->armed = true;
    ck_assert_int_eq(write(a->fd, "x", 1), 1);
}

static void drain_peer(loom_loop *loop, void *data)
{
    arm_write *a = data;

    a->probe->armed = true;
    drain(a->fd);
}

START_TEST(test_reader_called_when_readable)
{
    loom_loop *loop = host_loop_new();
    fd_probe p = {.stop_after = 1};
    int sv[2];
    arm_write arm;
    char c;

    nonblocking_socketpair(sv);
    arm = (arm_write){&p, sv[1]};
    ck_assert_int_eq(loom_add_reader(loop, sv[0], probe_reader, &p), 0);
    ck_assert_int_eq(loom_call_later(loop, 5 * MS, write_byte, &arm, NULL), 0);
    fixture_run(loop, 5000, "a reader");
    ck_assert_int_eq(p.calls, 1);
    ck_assert_uint_eq(p.events & (LOOM_READ | LOOM_WRITE), LOOM_READ);
    ck_assert_int_eq(read(sv[0], &c, 1), 1);
    fixture_free_loop(loop);
    close_pair(sv);
}
END_TEST

START_TEST(test_writer_called_when_writable)
{
    loom_loop *loop = host_loop_new();
    fd_probe p = {.stop_after = 1};
    int sv[2];
    arm_write arm;

    nonblocking_socketpair(sv);
    fill(sv[0]);
    arm = (arm_write){&p, sv[1]};
    ck_assert_int_eq(loom_add_writer(loop, sv[0], probe_writer, &p), 0);
    ck_assert_int_eq(loom_call_later(loop, 5 * MS, drain_peer, &arm, NULL), 0);
    fixture_run(loop, 5000, "a writer");
    ck_assert_int_eq(p.calls, 1);
    ck_assert_uint_eq(p.events & (LOOM_READ | LOOM_WRITE), LOOM_WRITE);
    fixture_free_loop(loop);
    close_pair(sv);
}
END_TEST

START_TEST(test_level_triggered)
{
    loom_loop *loop = host_loop_new();
    fd_probe p = {.armed = true, .stop_after = 3};
    int fds[2];

    nonblocking_pipe(fds);
    ck_assert_int_eq(write(fds[1], "x", 1), 1); /* never read: stays readable */
    ck_assert_int_eq(loom_add_reader(loop, fds[0], probe_reader, &p), 0);
    fixture_run(loop, 5000, "three calls of a reader on a readable pipe");
    ck_assert_int_eq(p.calls, 3);
    fixture_free_loop(loop);
    close_pair(fds);
}
END_TEST

/* Reader and writer on one fd each get their own event. */
typedef struct both_ways {
    unsigned reader_events, writer_events;
    int pending; /* callbacks that have not run yet */
} both_ways;

static void both_done(loom_loop *loop, both_ways *b)
{
    if (--b->pending == 0)
        fixture_stop(loop, NULL);
}

static void both_reader(loom_loop *loop, int fd, unsigned events, void *data)
{
    both_ways *b = data;

    b->reader_events = events;
    ck_assert_int_eq(loom_remove_reader(loop, fd), 0);
    both_done(loop, b);
}

static void both_writer(loom_loop *loop, int fd, unsigned events, void *data)
{
    both_ways *b = data;

    b->writer_events = events;
    ck_assert_int_eq(loom_remove_writer(loop, fd), 0);
    both_done(loop, b);
}

START_TEST(test_reader_and_writer_on_one_fd)
{
    loom_loop *loop = host_loop_new();
    both_ways b = {0, 0, 2};
    int sv[2];

    nonblocking_socketpair(sv);
    ck_assert_int_eq(write(sv[1], "x", 1), 1);
    ck_assert_int_eq(loom_add_writer(loop, sv[0], both_writer, &b), 0);
    ck_assert_int_eq(loom_add_reader(loop, sv[0], both_reader, &b), 0);
    fixture_run(loop, 5000, "reader and writer on one socket");
    ck_assert_uint_eq(b.reader_events & (LOOM_READ | LOOM_WRITE), LOOM_READ);
    ck_assert_uint_eq(b.writer_events & (LOOM_READ | LOOM_WRITE), LOOM_WRITE);
    fixture_free_loop(loop);
    close_pair(sv);
}
END_TEST

/* Both directions are ready at once; whichever callback runs first removes
 * the other, which must then not run. */
typedef struct rivals {
    int reader_calls, writer_calls;
} rivals;

static void rival_reader(loom_loop *loop, int fd, unsigned events, void *data)
{
    rivals *r = data;

    r->reader_calls++;
    loom_remove_writer(loop, fd);
    ck_assert_int_eq(loom_remove_reader(loop, fd), 0);
    ck_assert_int_eq(loom_call_soon(loop, fixture_stop, NULL, NULL), 0);
}

static void rival_writer(loom_loop *loop, int fd, unsigned events, void *data)
{
    rivals *r = data;

    r->writer_calls++;
    loom_remove_reader(loop, fd);
    ck_assert_int_eq(loom_remove_writer(loop, fd), 0);
    ck_assert_int_eq(loom_call_soon(loop, fixture_stop, NULL, NULL), 0);
}

START_TEST(test_remove_in_own_callback)
{
    loom_loop *loop = host_loop_new();
    rivals r = {0, 0};
    int sv[2];

    nonblocking_socketpair(sv);
    ck_assert_int_eq(write(sv[1], "x", 1), 1); /* readable and writable */
    ck_assert_int_eq(loom_add_reader(loop, sv[0], rival_reader, &r), 0);
    ck_assert_int_eq(loom_add_writer(loop, sv[0], rival_writer, &r), 0);
    fixture_run(loop, 5000, "a reader or writer removing both");
    /* Still readable and writable: a second round would run if either stayed. */
    ck_assert_int_eq(loom_loop_run_once(loop, false), 0);
    ck_assert_int_eq(loom_loop_run_once(loop, false), 0);
    ck_assert_int_eq(r.reader_calls + r.writer_calls, 1);
    ck_assert_int_eq(loom_remove_reader(loop, sv[0]), -ENOENT);
    ck_assert_int_eq(loom_remove_writer(loop, sv[0]), -ENOENT);
    fixture_free_loop(loop);
    close_pair(sv);
}
END_TEST

/* Two readable pipes A and B, collected in one poll. The first reader to
 * run removes the other's reader, closes that fd and puts a never-readable
 * fd under the same number with a new reader: the event collected for the
 * old fd must not reach the new reader. */
typedef struct reuse {
    int read_ends[2];
    int quiet[2]; /* a pipe nobody writes to */
    int reused_fd;
    int first_calls;
    int impostor_calls;
} reuse;

static void impostor_reader(loom_loop *loop, int fd, unsigned events, void *data)
{
    reuse *r = data;

    r->impostor_calls++;
}

static void reuse_reader(loom_loop *loop, int fd, unsigned events, void *data)
{
    reuse *r = data;
    int victim = fd == r->read_ends[0] ? r->read_ends[1] : r->read_ends[0];
    char c;

    r->first_calls++;
    ck_assert_int_eq(read(fd, &c, 1), 1);
    ck_assert_int_eq(loom_remove_reader(loop, fd), 0);
    ck_assert_int_eq(loom_remove_reader(loop, victim), 0);
    ck_assert_int_eq(close(victim), 0);
    ck_assert_int_eq(dup2(r->quiet[0], victim), victim);
    r->reused_fd = victim;
    ck_assert_int_eq(loom_add_reader(loop, victim, impostor_reader, r), 0);
    ck_assert_int_eq(loom_call_soon(loop, fixture_stop, NULL, NULL), 0);
}

START_TEST(test_stale_event_for_reused_fd)
{
    loom_loop *loop = host_loop_new();
    reuse r = {.reused_fd = -1};
    int a[2], b[2];

    nonblocking_pipe(a);
    nonblocking_pipe(b);
    nonblocking_pipe(r.quiet);
    r.read_ends[0] = a[0];
    r.read_ends[1] = b[0];
    ck_assert_int_eq(write(a[1], "a", 1), 1);
    ck_assert_int_eq(write(b[1], "b", 1), 1);
    ck_assert_int_eq(loom_add_reader(loop, a[0], reuse_reader, &r), 0);
    ck_assert_int_eq(loom_add_reader(loop, b[0], reuse_reader, &r), 0);
    fixture_run(loop, 5000, "two readable pipes");
    ck_assert_int_eq(r.first_calls, 1);
    ck_assert_int_eq(r.impostor_calls, 0);
    /* The new fd is not readable; later polls must not call it either. */
    ck_assert_int_eq(loom_loop_run_once(loop, false), 0);
    ck_assert_int_eq(r.impostor_calls, 0);
    ck_assert_int_eq(loom_remove_reader(loop, r.reused_fd), 0);
    fixture_free_loop(loop);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
    close_pair(r.quiet);
}
END_TEST

typedef struct hangup {
    int calls;
    unsigned events;
    ssize_t got;
} hangup;

static void hup_reader(loom_loop *loop, int fd, unsigned events, void *data)
{
    hangup *h = data;
    char c;

    h->calls++;
    h->events = events;
    h->got = read(fd, &c, 1);
    ck_assert_int_eq(loom_remove_reader(loop, fd), 0);
    fixture_stop(loop, NULL);
}

/* The read end of an empty pipe whose writer is gone polls as HUP only. */
START_TEST(test_hup_only)
{
    loom_loop *loop = host_loop_new();
    hangup h = {0};
    int fds[2];

    nonblocking_pipe(fds);
    close(fds[1]);
    ck_assert_int_eq(loom_add_reader(loop, fds[0], hup_reader, &h), 0);
    fixture_run(loop, 5000, "a reader on a hung-up pipe");
    ck_assert_int_eq(h.calls, 1);
    ck_assert_msg(h.events & LOOM_HUP, "events 0x%x lack LOOM_HUP", h.events);
    ck_assert_int_eq(h.got, 0); /* EOF */
    fixture_free_loop(loop);
    close(fds[0]);
}
END_TEST

static void err_writer(loom_loop *loop, int fd, unsigned events, void *data)
{
    hangup *h = data;

    h->calls++;
    h->events = events;
    h->got = write(fd, "x", 1) < 0 ? -errno : 1;
    ck_assert_int_eq(loom_remove_writer(loop, fd), 0);
    fixture_stop(loop, NULL);
}

/* The write end of a full pipe whose reader is gone polls as ERR only. */
START_TEST(test_err_only)
{
    loom_loop *loop = host_loop_new();
    hangup h = {0};
    int fds[2];

    signal(SIGPIPE, SIG_IGN);
    nonblocking_pipe(fds);
    fill(fds[1]);
    close(fds[0]);
    ck_assert_int_eq(loom_add_writer(loop, fds[1], err_writer, &h), 0);
    fixture_run(loop, 5000, "a writer on a pipe without reader");
    ck_assert_int_eq(h.calls, 1);
    ck_assert_msg(h.events & LOOM_ERR, "events 0x%x lack LOOM_ERR", h.events);
    ck_assert_int_eq(h.got, -EPIPE);
    fixture_free_loop(loop);
    close(fds[1]);
}
END_TEST

static void count_fd_call(loom_loop *loop, int fd, unsigned events, void *data)
{
    (*(int *)data)++;
}

/* A watched fd closed behind the loop's back (poll: POLLNVAL forever) must
 * not make the loop spin. */
START_TEST(test_closed_watched_fd_does_not_spin)
{
    loom_loop *loop = host_loop_new();
    fixture_errors errors;
    int calls = 0;
    int fds[2];
    uint64_t ticks;

    fixture_capture_errors(loop, &errors); /* the backend may report the dead fd */
    nonblocking_pipe(fds);
    ck_assert_int_eq(loom_add_reader(loop, fds[0], count_fd_call, &calls), 0);
    ck_assert_int_eq(loom_loop_run_once(loop, false), 0); /* the watch is installed */
    close(fds[0]);
    ticks = loom_loop_ticks(loop);
    ck_assert_int_eq(loom_call_later(loop, 100 * MS, fixture_stop, NULL, NULL), 0);
    fixture_run(loop, 5000, "100 ms with a closed fd under watch");
    ck_assert_msg(loom_loop_ticks(loop) - ticks <= 5, "%llu ticks in 100 ms (reader called %d times)",
                  (unsigned long long)(loom_loop_ticks(loop) - ticks), calls);
    loom_remove_reader(loop, fds[0]); /* 0 or an error: the fd is gone */
    fixture_free_loop(loop);
    close(fds[1]);
}
END_TEST

START_TEST(test_argument_errors)
{
    loom_loop *loop = host_loop_new();
    int fds[2];
    int closed_fd;
    int dummy = 0;

    nonblocking_pipe(fds);
    ck_assert_int_eq(loom_add_reader(loop, fds[0], count_fd_call, &dummy), 0);
    ck_assert_int_eq(loom_add_reader(loop, fds[0], count_fd_call, &dummy), -EEXIST);
    ck_assert_int_eq(loom_add_writer(loop, fds[1], count_fd_call, &dummy), 0);
    ck_assert_int_eq(loom_add_writer(loop, fds[1], count_fd_call, &dummy), -EEXIST);
    ck_assert_int_eq(loom_remove_writer(loop, fds[0]), -ENOENT);
    ck_assert_int_eq(loom_remove_reader(loop, fds[1]), -ENOENT);
    ck_assert_int_eq(loom_remove_reader(loop, fds[0]), 0);
    ck_assert_int_eq(loom_remove_reader(loop, fds[0]), -ENOENT);
    ck_assert_int_eq(loom_remove_writer(loop, fds[1]), 0);

    ck_assert_int_eq(loom_add_reader(loop, -1, count_fd_call, &dummy), -EBADF);
    ck_assert_int_eq(loom_add_writer(loop, -1, count_fd_call, &dummy), -EBADF);
    closed_fd = dup(fds[0]);
    ck_assert_int_ge(closed_fd, 0);
    close(closed_fd);
    ck_assert_int_eq(loom_add_reader(loop, closed_fd, count_fd_call, &dummy), -EBADF);
    ck_assert_int_eq(loom_add_writer(loop, closed_fd, count_fd_call, &dummy), -EBADF);
    fixture_free_loop(loop);
    close_pair(fds);
    ck_assert_int_eq(dummy, 0);
}
END_TEST

Suite *fd_suite(void)
{
    Suite *s = suite_create("fd");
    TCase *tc;

    tc = fixture_tcase(s, "readiness");
    tcase_add_test(tc, test_reader_called_when_readable);
    tcase_add_test(tc, test_writer_called_when_writable);
    tcase_add_test(tc, test_level_triggered);
    tcase_add_test(tc, test_reader_and_writer_on_one_fd);
    tcase_add_test(tc, test_hup_only);
    tcase_add_test(tc, test_err_only);

    tc = fixture_tcase(s, "changes under dispatch");
    tcase_add_test(tc, test_remove_in_own_callback);
    tcase_add_test(tc, test_stale_event_for_reused_fd);
    tcase_add_test(tc, test_closed_watched_fd_does_not_spin);

    tc = fixture_tcase(s, "errors");
    tcase_add_test(tc, test_argument_errors);
    return s;
}
