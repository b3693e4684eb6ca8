/* loom conformance suite — fd readiness: readers and writers, level
 * triggering, removal from callbacks, stale events for a reused fd number,
 * HUP/ERR delivery, fds closed or replaced under a watch, the one-callback
 * loom_fd_watch, an embedded epoll loop's fd, far timers, argument errors. */
#define _GNU_SOURCE /* pipe2 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <loom/backend.h>
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
    ck_assert_msg(h.events & LOOM_READ, "events 0x%x: HUP without READ", h.events);
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
    ck_assert_msg(h.events & LOOM_WRITE, "events 0x%x: ERR without WRITE", h.events);
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

/* A peer's shutdown(SHUT_WR) leaves an EOF to read: plain LOOM_READ. */
START_TEST(test_peer_shutdown_is_read)
{
    loom_loop *loop = host_loop_new();
    hangup h = {0};
    int sv[2];

    nonblocking_socketpair(sv);
    ck_assert_int_eq(shutdown(sv[1], SHUT_WR), 0);
    ck_assert_int_eq(loom_add_reader(loop, sv[0], hup_reader, &h), 0);
    fixture_run(loop, 5000, "a reader on a socket whose peer shut down writing");
    ck_assert_int_eq(h.calls, 1);
    ck_assert_msg(h.events & LOOM_READ, "events 0x%x lack LOOM_READ", h.events);
    ck_assert_int_eq(h.got, 0); /* EOF */
    /* KNOWN FAILURE on libevent until its adapter stops mapping EV_CLOSED
     * (a half-close) to LOOM_HUP (the "hosts" helper's part of issue 7). */
    ck_assert_msg(!(h.events & LOOM_HUP), "events 0x%x: a half-close is not a hang-up", h.events);
    fixture_free_loop(loop);
    close_pair(sv);
}
END_TEST

/* --- fds closed or replaced under a watch ---------------------------------- */

typedef struct dead_watch {
    int calls;
    unsigned events; /* of every call, or-ed */
} dead_watch;

static void dead_reader(loom_loop *loop, int fd, unsigned events, void *data)
{
    dead_watch *d = data;

    d->calls++;
    d->events |= events;
}

/* Runs loop for 100 ms, then checks that a watch found dead stopped being
 * called: suspended, told with LOOM_ERR, reported. False where the host
 * hides it (see below). */
static bool check_watch_suspended(loom_loop *loop, dead_watch *d, fixture_errors *errors)
{
    uint64_t ticks = loom_loop_ticks(loop);

    *d = (dead_watch){0};
    ck_assert_int_eq(loom_call_later(loop, 100 * MS, fixture_stop, NULL, NULL), 0);
    fixture_run(loop, 5000, "100 ms with a dead fd under watch");
    ck_assert_msg(d->calls < 200 && loom_loop_ticks(loop) - ticks < 400,
                  "reader called %d times, %llu ticks in 100 ms", d->calls,
                  (unsigned long long)(loom_loop_ticks(loop) - ticks));
    /* KNOWN FAILURE on Qt in the per-fd mode (LOOM_ONE_FD=0), skipped: its
     * dispatcher disables a notifier on a closed fd by itself
     * ("QSocketNotifier: Invalid socket") and tells no one, so the adapter
     * cannot pass LOOM_BACKEND_NVAL on. With one fd for all, the core finds
     * it. */
    const char *one_fd = getenv("LOOM_ONE_FD");
    bool per_fd = one_fd && strcmp(one_fd, "0") == 0;
    if (strcmp(loom_loop_backend_name(loop), "qt") == 0 && per_fd && !d->events)
        return false;
    ck_assert_msg(d->events & LOOM_ERR, "events 0x%x: the last call lacks LOOM_ERR", d->events);
    ck_assert_int_ge(atomic_load(&errors->count), 1);
    ck_assert_int_eq(atomic_load(&errors->last_err), -EBADF);
    return true;
}

/* epoll watches the file: a dup keeps it alive and readable after the
 * watched fd is closed. */
START_TEST(test_closed_fd_with_dup_is_suspended)
{
    loom_loop *loop = host_loop_new();
    fixture_errors errors;
    dead_watch d = {0};
    int fds[2];
    int keep;

    fixture_capture_errors(loop, &errors);
    nonblocking_pipe(fds);
    keep = dup(fds[0]);
    ck_assert_int_ge(keep, 0);
    ck_assert_int_eq(write(fds[1], "x", 1), 1); /* never read: stays readable */
    ck_assert_int_eq(loom_add_reader(loop, fds[0], dead_reader, &d), 0);
    ck_assert_int_eq(loom_loop_run_once(loop, false), 0); /* the watch is installed */
    close(fds[0]);
    check_watch_suspended(loop, &d, &errors);
    ck_assert_int_eq(loom_remove_reader(loop, fds[0]), 0);
    fixture_free_loop(loop);
    close(keep);
    close(fds[1]);
}
END_TEST

/* dup2 puts another (readable) file under a watched number while the old
 * one lives on (and stays readable) through a dup. */
START_TEST(test_dup2_over_watched_fd)
{
    loom_loop *loop = host_loop_new();
    fixture_errors errors;
    dead_watch d = {0};
    int old[2], other[2];
    int keep, dummy = 0;

    fixture_capture_errors(loop, &errors);
    nonblocking_pipe(old);
    nonblocking_pipe(other);
    keep = dup(old[0]);
    ck_assert_int_ge(keep, 0);
    ck_assert_int_eq(write(old[1], "x", 1), 1);
    ck_assert_int_eq(write(other[1], "y", 1), 1);
    ck_assert_int_eq(loom_add_reader(loop, old[0], dead_reader, &d), 0);
    ck_assert_int_eq(loom_loop_run_once(loop, false), 0);
    ck_assert_int_eq(dup2(other[0], old[0]), old[0]);
    ck_assert(check_watch_suspended(loop, &d, &errors));
    /* The suspended watch does not block a new one on the number, even with
     * the file it watched back under it. */
    ck_assert_int_eq(dup2(keep, old[0]), old[0]);
    ck_assert_int_eq(loom_add_reader(loop, old[0], count_fd_call, &dummy), 0);
    ck_assert_int_eq(loom_remove_reader(loop, old[0]), 0);
    fixture_free_loop(loop);
    close(keep);
    close_pair(old);
    close_pair(other);
}
END_TEST

/* A connected TCP socket on loopback whose peer reset the connection: it
 * polls with an error pending (and readable: read fails). */
static int reset_socket(void)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    struct linger abort_on_close = {1, 0};
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int server;

    ck_assert_int_ge(listener, 0);
    ck_assert_int_ge(client, 0);
    ck_assert_int_eq(bind(listener, (struct sockaddr *)&addr, sizeof(addr)), 0);
    ck_assert_int_eq(listen(listener, 1), 0);
    ck_assert_int_eq(getsockname(listener, (struct sockaddr *)&addr, &len), 0);
    ck_assert_int_eq(connect(client, (struct sockaddr *)&addr, sizeof(addr)), 0);
    server = accept(listener, NULL, NULL);
    ck_assert_int_ge(server, 0);
    ck_assert_int_eq(setsockopt(server, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof(abort_on_close)), 0);
    close(server); /* sends a RST */
    close(listener);
    return client;
}

typedef struct closing_reader {
    int calls;
    unsigned events;
} closing_reader;

/* Closes its fd without removing itself. */
static void close_in_reader(loom_loop *loop, int fd, unsigned events, void *data)
{
    closing_reader *c = data;

    c->calls++;
    c->events = events;
    ck_assert_int_eq(close(fd), 0);
    fixture_stop(loop, NULL);
}

static void stop_writer(loom_loop *loop, int fd, unsigned events, void *data)
{
    (*(int *)data)++;
    ck_assert_int_eq(loom_remove_writer(loop, fd), 0);
    fixture_stop(loop, NULL);
}

/* A reader gets READ with ERR and closes its fd inside the callback; a new
 * socket then gets the same number. The dead watch must neither block new
 * watches on it nor be called for the new socket. */
START_TEST(test_close_in_reader_with_err_then_reuse)
{
    loom_loop *loop = host_loop_new();
    fixture_errors errors;
    closing_reader c = {0};
    int fd = reset_socket();
    int sv[2], writes = 0, reads = 0;

    fixture_capture_errors(loop, &errors);
    ck_assert_int_eq(loom_add_reader(loop, fd, close_in_reader, &c), 0);
    fixture_run(loop, 5000, "a reader on a reset socket");
    ck_assert_int_eq(c.calls, 1);
    ck_assert_msg(c.events & LOOM_READ, "events 0x%x lack LOOM_READ", c.events);
    /* libevent cannot tell an error on a socket from readability. */
    if (strcmp(loom_loop_backend_name(loop), "libevent") != 0)
        ck_assert_msg(c.events & LOOM_ERR, "events 0x%x lack LOOM_ERR", c.events);

    nonblocking_socketpair(sv);
    if (sv[1] == fd) { /* watch the end with the dead number */
        sv[1] = sv[0];
        sv[0] = fd;
    } else if (sv[0] != fd) { /* put the new socket under the dead number */
        ck_assert_int_eq(dup2(sv[0], fd), fd);
        close(sv[0]);
        sv[0] = fd;
    }
    ck_assert_int_eq(write(sv[1], "x", 1), 1); /* readable: the dead reader would run */
    ck_assert_int_eq(loom_add_writer(loop, sv[0], stop_writer, &writes), 0);
    ck_assert_int_eq(loom_add_reader(loop, sv[0], count_fd_call, &reads), 0);
    fixture_run(loop, 5000, "a writer on a reused fd number");
    ck_assert_int_eq(writes, 1);
    ck_assert_int_eq(c.calls, 1);
    ck_assert_int_eq(atomic_load(&errors.last_err), -EBADF);
    ck_assert_int_eq(loom_remove_reader(loop, sv[0]), 0);
    fixture_free_loop(loop);
    close_pair(sv);
}
END_TEST

/* --- one callback per fd ------------------------------------------------------ */

typedef struct watch_probe {
    int calls;
    unsigned events; /* of every call, or-ed */
    int destroyed;
} watch_probe;

static void watch_cb(loom_loop *loop, int fd, unsigned events, void *data)
{
    watch_probe *w = data;

    w->calls++;
    w->events |= events;
}

static void watch_destroy(void *data)
{
    ((watch_probe *)data)->destroyed++;
}

/* Runs the loop until the watch got every event in want (bounded; some
 * hosts deliver each direction in a call of its own), and returns the
 * events it got besides HUP and ERR. */
static unsigned watch_next(loom_loop *loop, watch_probe *w, unsigned want)
{
    w->events = 0;
    for (int i = 0; i < 100 && (w->events & want) != want; i++)
        ck_assert_int_eq(loom_loop_run_once(loop, true), 0);
    return w->events & (LOOM_READ | LOOM_WRITE);
}

static void check_watch_quiet(loom_loop *loop, watch_probe *w)
{
    w->calls = 0;
    ck_assert_int_eq(loom_loop_run_once(loop, false), 0);
    ck_assert_int_eq(loom_loop_run_once(loop, false), 0);
    ck_assert_int_eq(w->calls, 0);
}

START_TEST(test_fd_watch_interest)
{
    loom_loop *loop = host_loop_new();
    watch_probe w = {0};
    int sv[2];

    nonblocking_socketpair(sv);
    ck_assert_int_eq(write(sv[1], "x", 1), 1); /* readable and writable from now on */
    ck_assert_int_eq(loom_fd_watch(loop, sv[0], 0, watch_cb, &w, watch_destroy), 0);
    check_watch_quiet(loop, &w);
    ck_assert_int_eq(loom_fd_set_events(loop, sv[0], LOOM_WRITE), 0);
    ck_assert_uint_eq(watch_next(loop, &w, LOOM_WRITE), LOOM_WRITE);
    ck_assert_int_eq(loom_fd_set_events(loop, sv[0], LOOM_READ), 0);
    ck_assert_uint_eq(watch_next(loop, &w, LOOM_READ), LOOM_READ);
    ck_assert_int_eq(loom_fd_set_events(loop, sv[0], LOOM_READ | LOOM_WRITE), 0);
    ck_assert_int_eq(loom_fd_set_events(loop, sv[0], LOOM_READ | LOOM_WRITE), 0); /* no change */
    ck_assert_uint_eq(watch_next(loop, &w, LOOM_READ | LOOM_WRITE), LOOM_READ | LOOM_WRITE);
    ck_assert_int_eq(loom_fd_set_events(loop, sv[0], 0), 0);
    check_watch_quiet(loop, &w);
    ck_assert_int_eq(w.destroyed, 0);
    ck_assert_int_eq(loom_fd_unwatch(loop, sv[0]), 0);
    ck_assert_int_eq(w.destroyed, 1);
    ck_assert_int_eq(loom_fd_unwatch(loop, sv[0]), -ENOENT);
    ck_assert_int_eq(loom_fd_set_events(loop, sv[0], LOOM_READ), -ENOENT);
    fixture_free_loop(loop);
    ck_assert_int_eq(w.destroyed, 1);
    close_pair(sv);
}
END_TEST

/* A hung-up pipe: the watch for READ gets READ with HUP. */
START_TEST(test_fd_watch_hup_comes_with_read)
{
    loom_loop *loop = host_loop_new();
    watch_probe w = {0};
    int fds[2];

    nonblocking_pipe(fds);
    close(fds[1]);
    ck_assert_int_eq(loom_fd_watch(loop, fds[0], LOOM_READ, watch_cb, &w, NULL), 0);
    ck_assert_uint_eq(watch_next(loop, &w, LOOM_READ), LOOM_READ);
    ck_assert_msg(w.events & LOOM_HUP, "events 0x%x lack LOOM_HUP", w.events);
    ck_assert_int_eq(loom_fd_unwatch(loop, fds[0]), 0);
    fixture_free_loop(loop);
    close(fds[0]);
}
END_TEST

START_TEST(test_fd_watch_errors)
{
    loom_loop *loop = host_loop_new();
    watch_probe w = {0};
    int fds[2], closed_fd, dummy = 0;

    nonblocking_pipe(fds);
    ck_assert_int_eq(loom_fd_watch(loop, fds[0], LOOM_READ, NULL, &w, watch_destroy), -EINVAL);
    ck_assert_int_eq(loom_fd_watch(loop, fds[0], LOOM_HUP, watch_cb, &w, watch_destroy), -EINVAL);
    ck_assert_int_eq(loom_fd_watch(loop, -1, LOOM_READ, watch_cb, &w, watch_destroy), -EBADF);
    closed_fd = dup(fds[0]);
    close(closed_fd);
    ck_assert_int_eq(loom_fd_watch(loop, closed_fd, LOOM_READ, watch_cb, &w, watch_destroy), -EBADF);

    /* Readers and writers and watches exclude each other. */
    ck_assert_int_eq(loom_add_reader(loop, fds[0], count_fd_call, &dummy), 0);
    ck_assert_int_eq(loom_fd_watch(loop, fds[0], LOOM_READ, watch_cb, &w, watch_destroy), -EEXIST);
    ck_assert_int_eq(loom_fd_set_events(loop, fds[0], LOOM_READ), -ENOENT);
    ck_assert_int_eq(loom_fd_unwatch(loop, fds[0]), -ENOENT);
    ck_assert_int_eq(loom_remove_reader(loop, fds[0]), 0);
    ck_assert_int_eq(loom_fd_watch(loop, fds[1], 0, watch_cb, &w, watch_destroy), 0);
    ck_assert_int_eq(loom_fd_watch(loop, fds[1], LOOM_WRITE, watch_cb, &w, watch_destroy), -EEXIST);
    ck_assert_int_eq(loom_add_writer(loop, fds[1], count_fd_call, &dummy), -EEXIST);
    ck_assert_int_eq(loom_add_reader(loop, fds[1], count_fd_call, &dummy), -EEXIST);
    ck_assert_int_eq(loom_remove_writer(loop, fds[1]), -ENOENT);
    ck_assert_int_eq(loom_fd_set_events(loop, fds[1], LOOM_ERR), -EINVAL);
    ck_assert_int_eq(loom_fd_set_events(loop, -1, LOOM_READ), -EBADF);
    ck_assert_int_eq(loom_fd_unwatch(loop, -1), -EBADF);
    ck_assert_int_eq(w.destroyed, 0); /* failed calls keep their data */
    ck_assert_int_eq(loom_fd_unwatch(loop, fds[1]), 0);
    ck_assert_int_eq(w.destroyed, 1);
    fixture_free_loop(loop);
    close_pair(fds);
    ck_assert_int_eq(dummy, 0);
}
END_TEST

START_TEST(test_fd_watch_destroyed_at_close)
{
    loom_loop *loop = host_loop_new();
    fixture_errors errors;
    watch_probe w = {0};
    int fds[2];

    fixture_capture_errors(loop, &errors); /* the close reports the watch */
    nonblocking_pipe(fds);
    ck_assert_int_eq(loom_fd_watch(loop, fds[0], LOOM_READ, watch_cb, &w, watch_destroy), 0);
    ck_assert_int_eq(loom_loop_run_once(loop, false), 0);
    ck_assert_int_eq(w.destroyed, 0);
    fixture_free_loop(loop);
    ck_assert_int_eq(w.destroyed, 1);
    ck_assert_int_eq(w.calls, 0);
    close_pair(fds);
}
END_TEST

/* Unwatches and closes its own fd. */
static void unwatch_self(loom_loop *loop, int fd, unsigned events, void *data)
{
    watch_probe *w = data;

    w->calls++;
    ck_assert_int_eq(loom_fd_unwatch(loop, fd), 0);
    ck_assert_int_eq(w->destroyed, 1);
    ck_assert_int_eq(close(fd), 0);
    fixture_stop(loop, NULL);
}

START_TEST(test_fd_unwatch_and_close_in_own_callback)
{
    loom_loop *loop = host_loop_new();
    watch_probe w = {0};
    int fds[2];

    nonblocking_pipe(fds);
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    ck_assert_int_eq(loom_fd_watch(loop, fds[0], LOOM_READ, unwatch_self, &w, watch_destroy), 0);
    fixture_run(loop, 5000, "a watch that unwatches and closes its fd");
    ck_assert_int_eq(loom_loop_run_once(loop, false), 0);
    ck_assert_int_eq(loom_loop_run_once(loop, false), 0);
    ck_assert_int_eq(w.calls, 1);
    ck_assert_int_eq(w.destroyed, 1);
    ck_assert_int_eq(loom_fd_unwatch(loop, fds[0]), -ENOENT);
    fixture_free_loop(loop);
    close(fds[1]);
}
END_TEST

/* Two readable pipes collected in one poll: the first watch to run
 * unwatches the other, closes it and puts a quiet pipe under its number
 * with a new watch, which the collected event must not reach. */
typedef struct batch {
    int read_ends[2];
    int quiet[2];
    int victim;
    int first_calls;
    int destroyed;
    watch_probe impostor;
} batch;

static void batch_destroy(void *data)
{
    ((batch *)data)->destroyed++;
}

static void unwatch_other(loom_loop *loop, int fd, unsigned events, void *data)
{
    batch *b = data;

    b->victim = fd == b->read_ends[0] ? b->read_ends[1] : b->read_ends[0];
    b->first_calls++;
    ck_assert_int_eq(loom_fd_unwatch(loop, fd), 0);
    ck_assert_int_eq(loom_fd_unwatch(loop, b->victim), 0);
    ck_assert_int_eq(close(b->victim), 0);
    ck_assert_int_eq(dup2(b->quiet[0], b->victim), b->victim);
    ck_assert_int_eq(loom_fd_watch(loop, b->victim, LOOM_READ, watch_cb, &b->impostor, watch_destroy), 0);
    ck_assert_int_eq(loom_call_soon(loop, fixture_stop, NULL, NULL), 0);
}

START_TEST(test_fd_unwatch_other_in_same_batch)
{
    loom_loop *loop = host_loop_new();
    batch b = {.victim = -1};
    int a[2], c[2];

    nonblocking_pipe(a);
    nonblocking_pipe(c);
    nonblocking_pipe(b.quiet);
    b.read_ends[0] = a[0];
    b.read_ends[1] = c[0];
    ck_assert_int_eq(write(a[1], "a", 1), 1);
    ck_assert_int_eq(write(c[1], "c", 1), 1);
    ck_assert_int_eq(loom_fd_watch(loop, a[0], LOOM_READ, unwatch_other, &b, batch_destroy), 0);
    ck_assert_int_eq(loom_fd_watch(loop, c[0], LOOM_READ, unwatch_other, &b, batch_destroy), 0);
    fixture_run(loop, 5000, "two readable watched pipes");
    ck_assert_int_eq(loom_loop_run_once(loop, false), 0);
    ck_assert_int_eq(b.first_calls, 1);
    ck_assert_int_eq(b.destroyed, 2);
    ck_assert_int_eq(b.impostor.calls, 0);
    ck_assert_int_eq(loom_fd_unwatch(loop, b.victim), 0);
    ck_assert_int_eq(b.impostor.destroyed, 1);
    fixture_free_loop(loop);
    close_pair(a);
    close_pair(c);
    close_pair(b.quiet);
}
END_TEST

/* --- embedding: the epoll loop's fd ------------------------------------------ */

typedef struct embed {
    loom_loop *host, *inner;
    int runs; /* of the inner loop, from the host's reader */
    bool called;
} embed;

static void never_called_fd(loom_loop *loop, int fd, unsigned events, void *data)
{
    ck_abort_msg("a removed reader was called");
}

static void run_inner(loom_loop *host, int fd, unsigned events, void *data)
{
    embed *m = data;

    m->runs++;
    ck_assert_int_eq(loom_loop_run_once(m->inner, false), 0);
}

static void inner_called(loom_loop *inner, void *data)
{
    embed *m = data;

    m->called = true;
    fixture_stop(m->host, NULL);
}

static void *call_inner_later(void *data)
{
    embed *m = data;
    struct timespec delay = {0, 20 * MS};

    nanosleep(&delay, NULL);
    if (loom_call_soon_threadsafe(m->inner, inner_called, m) < 0)
        abort();
    return NULL;
}

/* The host loop watches an epoll loop's fd; a watched fd of the inner loop
 * is closed (its file kept alive by a dup) and then removed. The fd the
 * host registered must still wake it for a thread-safe call. */
START_TEST(test_embedded_epoll_fd_survives_close_then_remove)
{
    loom_loop *host = host_loop_new();
    embed m = {.host = host};
    int fds[2], keep, ifd, runs;
    pthread_t thread;

    if (loom_loop_new(&m.inner, "epoll") == -EINVAL) { /* no epoll on this system */
        fixture_free_loop(host);
        return;
    }
    ifd = loom_loop_get_fd(m.inner);
    ck_assert_int_ge(ifd, 0);
    nonblocking_pipe(fds);
    keep = dup(fds[0]);
    ck_assert_int_ge(keep, 0);
    ck_assert_int_eq(loom_add_reader(m.inner, fds[0], never_called_fd, NULL), 0);
    ck_assert_int_eq(loom_add_reader(host, ifd, run_inner, &m), 0);
    ck_assert_int_eq(loom_loop_run_once(host, false), 0); /* the host's watch is installed */
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    close(fds[0]);
    ck_assert_int_eq(loom_remove_reader(m.inner, fds[0]), 0);

    ck_assert_int_eq(pthread_create(&thread, NULL, call_inner_later, &m), 0);
    fixture_run(host, 5000, "a thread-safe call to the embedded loop");
    ck_assert_int_eq(pthread_join(thread, NULL), 0);
    ck_assert(m.called);
    ck_assert_int_eq(loom_loop_get_fd(m.inner), ifd);
    /* The closed fd's registration is gone too: the inner loop's fd is quiet. */
    runs = m.runs;
    ck_assert_int_eq(loom_loop_run_once(host, false), 0);
    ck_assert_int_eq(loom_loop_run_once(host, false), 0);
    ck_assert_int_eq(m.runs, runs);
    ck_assert_int_eq(loom_remove_reader(host, ifd), 0);
    fixture_free_loop(host);
    fixture_free_loop(m.inner);
    close(keep);
    close(fds[1]);
}
END_TEST

/* --- a host that watches one fd (LOOM_BACKEND_ONE_FD) ------------------------ */

/* A minimal poll(2) host that asks for one fd: it counts the watches it
 * holds (the core's wakeup and the set of fd watches, unless LOOM_ONE_FD=0)
 * and fails the test beyond its room. */
#define ONE_FD_WATCHES 8
typedef struct one_fd_host {
    struct pollfd pfds[ONE_FD_WATCHES]; /* fd -1: free or no interest */
    uint64_t tokens[ONE_FD_WATCHES];
    bool used[ONE_FD_WATCHES];
    int held, most_held;
    int64_t deadline;
    loom_loop *loop;
} one_fd_host;

static short one_fd_events(unsigned events)
{
    return (short)((events & LOOM_READ ? POLLIN : 0) | (events & LOOM_WRITE ? POLLOUT : 0));
}

static int one_fd_watch_set(void *self, void *watch, int fd, unsigned events)
{
    struct pollfd *p = watch;

    *p = (struct pollfd){events ? fd : -1, one_fd_events(events), 0};
    return 0;
}

static int one_fd_watch_add(void *self, int fd, uint64_t token, unsigned events, void **watchp)
{
    one_fd_host *h = self;

    for (int i = 0; i < ONE_FD_WATCHES; i++)
        if (!h->used[i]) {
            h->used[i] = true;
            h->tokens[i] = token;
            if (++h->held > h->most_held)
                h->most_held = h->held;
            *watchp = &h->pfds[i];
            return one_fd_watch_set(self, &h->pfds[i], fd, events);
        }
    ck_abort_msg("a host with room for %d watches got one for fd %d too", ONE_FD_WATCHES, fd);
    return -ENOSPC;
}

static void one_fd_watch_del(void *self, void *watch, int fd)
{
    one_fd_host *h = self;
    struct pollfd *p = watch;

    h->used[p - h->pfds] = false;
    h->held--;
    p->fd = -1;
}

static void one_fd_set_deadline(void *self, int64_t when_ns)
{
    ((one_fd_host *)self)->deadline = when_ns;
}

static int one_fd_iterate(void *self, bool block)
{
    one_fd_host *h = self;
    int64_t left = h->deadline - fixture_now();
    int ms = !block ? 0 : h->deadline == LOOM_DEADLINE_NONE ? -1 : left <= 0 ? 0 : (int)((left + MS - 1) / MS);
    uint64_t ready[ONE_FD_WATCHES];
    int n = 0;

    if (poll(h->pfds, ONE_FD_WATCHES, ms) < 0)
        return -errno;
    for (int i = 0; i < ONE_FD_WATCHES; i++)
        if (h->pfds[i].fd >= 0 && h->pfds[i].revents)
            ready[n++] = h->tokens[i];
    for (int i = 0; i < n; i++) /* collected first: the callbacks change pfds */
        loom_backend_fd_ready(h->loop, ready[i], LOOM_READ);
    loom_backend_tick(h->loop);
    return 0;
}

static const loom_backend_ops one_fd_ops = {
    .name = "one-fd",
    .caps = LOOM_BACKEND_CAN_NEST | LOOM_BACKEND_ONE_FD,
    .watch_add = one_fd_watch_add,
    .watch_set = one_fd_watch_set,
    .watch_del = one_fd_watch_del,
    .set_deadline = one_fd_set_deadline,
    .iterate = one_fd_iterate,
    .destroy = free,
};

/* A loop on a new one-fd host, made with LOOM_ONE_FD set to one_fd (NULL:
 * unset) and the environment restored after. */
static loom_loop *one_fd_loop_new(one_fd_host **hp, const char *one_fd)
{
    one_fd_host *h = calloc(1, sizeof(*h));
    const char *env = getenv("LOOM_ONE_FD");
    char *saved = env ? strdup(env) : NULL;
    loom_loop *loop;

    ck_assert_ptr_nonnull(h);
    h->deadline = LOOM_DEADLINE_NONE;
    for (int i = 0; i < ONE_FD_WATCHES; i++)
        h->pfds[i].fd = -1;
    ck_assert_int_eq(one_fd ? setenv("LOOM_ONE_FD", one_fd, 1) : unsetenv("LOOM_ONE_FD"), 0);
    ck_assert_int_eq(loom_loop_new_with_backend(&loop, &one_fd_ops, h), 0);
    ck_assert_int_eq(saved ? setenv("LOOM_ONE_FD", saved, 1) : unsetenv("LOOM_ONE_FD"), 0);
    free(saved);
    h->loop = loop;
    *hp = h;
    return loop;
}

/* Three pipes with a reader each; the second one's runs once. */
static void one_fd_readers(loom_loop *loop, int fds[3][2], fd_probe *p)
{
    for (int i = 0; i < 3; i++) {
        nonblocking_pipe(fds[i]);
        ck_assert_int_eq(loom_add_reader(loop, fds[i][0], i == 1 ? probe_reader : never_called_fd, p), 0);
    }
    ck_assert_int_eq(write(fds[1][1], "x", 1), 1);
    fixture_run(loop, 5000, "a reader behind a one-fd host");
    ck_assert_int_eq(p->calls, 1);
}

/* The host sees one fd however many the loop watches, and a dup'd fd closed
 * then removed does not keep it busy. */
START_TEST(test_one_fd_host_carries_every_watch)
{
    one_fd_host *h;
    loom_loop *loop = one_fd_loop_new(&h, NULL);
    fd_probe p = {.armed = true, .stop_after = 1};
    int fds[3][2], keep;
    uint64_t ticks;
    pthread_t thread;
    embed m = {0};

    one_fd_readers(loop, fds, &p);
    ck_assert_int_eq(h->most_held, 2); /* the core's wakeup and the set */

    keep = dup(fds[2][0]);
    ck_assert_int_ge(keep, 0);
    ck_assert_int_eq(write(fds[2][1], "x", 1), 1);
    close(fds[2][0]);
    ck_assert_int_eq(loom_remove_reader(loop, fds[2][0]), 0);
    ticks = loom_loop_ticks(loop);
    ck_assert_int_eq(loom_call_later(loop, 50 * MS, fixture_stop, NULL, NULL), 0);
    fixture_run(loop, 5000, "50 ms after a close-then-remove");
    ck_assert_uint_le(loom_loop_ticks(loop) - ticks, 5);

    m.host = m.inner = loop; /* and a thread-safe call still wakes it */
    ck_assert_int_eq(pthread_create(&thread, NULL, call_inner_later, &m), 0);
    fixture_run(loop, 5000, "a thread-safe call behind a one-fd host");
    ck_assert_int_eq(pthread_join(thread, NULL), 0);
    ck_assert(m.called);
    ck_assert_int_eq(loom_remove_reader(loop, fds[0][0]), 0);
    fixture_free_loop(loop);
    for (int i = 0; i < 3; i++)
        close_pair(fds[i]);
    close(keep);
}
END_TEST

/* LOOM_ONE_FD=0 at creation: the same host gets every watch. */
START_TEST(test_one_fd_off_gives_the_host_every_watch)
{
    one_fd_host *h;
    loom_loop *loop = one_fd_loop_new(&h, "0");
    fd_probe p = {.armed = true, .stop_after = 1};
    int fds[3][2];

    one_fd_readers(loop, fds, &p);
    ck_assert_int_eq(h->most_held, 4); /* the core's wakeup and three readers */
    ck_assert_int_eq(loom_remove_reader(loop, fds[0][0]), 0);
    ck_assert_int_eq(loom_remove_reader(loop, fds[2][0]), 0); /* the probe removed itself */
    fixture_free_loop(loop);
    for (int i = 0; i < 3; i++)
        close_pair(fds[i]);
}
END_TEST

/* --- far timers ------------------------------------------------------------------ */

static void set_flag(void *data)
{
    *(bool *)data = true;
}

static void never_called(loom_loop *loop, void *data)
{
    ck_abort_msg("a timer 49.7 days away ran");
}

/* A timer 2^32 ms (49.7 days) + 20 ms away: an int millisecond wait wraps
 * to 20 ms, then to 0. A blocking run_once must wait for the event that
 * comes instead of returning empty-handed again and again. */
START_TEST(test_far_timer_does_not_cut_waits)
{
    loom_loop *loop = host_loop_new();
    bool woken = false;
    int iterations = 0;
    loom_handle h;

    ck_assert_int_eq(loom_call_later(loop, ((INT64_C(1) << 32) + 20) * MS, never_called, NULL, &h), 0);
    host_native_timeout(loop, 100, set_flag, &woken);
    while (!woken && iterations < 1000) {
        ck_assert_int_eq(loom_loop_run_once(loop, true), 0);
        iterations++;
    }
    ck_assert_msg(iterations <= 3, "%d blocking iterations in 100 ms", iterations);
    ck_assert_int_eq(loom_cancel(loop, h), 0);
    fixture_free_loop(loop);
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
    tcase_add_test(tc, test_peer_shutdown_is_read);

    tc = fixture_tcase(s, "changes under dispatch");
    tcase_add_test(tc, test_remove_in_own_callback);
    tcase_add_test(tc, test_stale_event_for_reused_fd);
    tcase_add_test(tc, test_closed_watched_fd_does_not_spin);
    tcase_add_test(tc, test_closed_fd_with_dup_is_suspended);
    tcase_add_test(tc, test_dup2_over_watched_fd);
    tcase_add_test(tc, test_close_in_reader_with_err_then_reuse);

    tc = fixture_tcase(s, "one callback per fd");
    tcase_add_test(tc, test_fd_watch_interest);
    tcase_add_test(tc, test_fd_watch_hup_comes_with_read);
    tcase_add_test(tc, test_fd_watch_errors);
    tcase_add_test(tc, test_fd_watch_destroyed_at_close);
    tcase_add_test(tc, test_fd_unwatch_and_close_in_own_callback);
    tcase_add_test(tc, test_fd_unwatch_other_in_same_batch);

    tc = fixture_tcase(s, "embedding and waits");
    tcase_add_test(tc, test_embedded_epoll_fd_survives_close_then_remove);
    tcase_add_test(tc, test_one_fd_host_carries_every_watch);
    tcase_add_test(tc, test_one_fd_off_gives_the_host_every_watch);
    tcase_add_test(tc, test_far_timer_does_not_cut_waits);

    tc = fixture_tcase(s, "errors");
    tcase_add_test(tc, test_argument_errors);
    return s;
}
