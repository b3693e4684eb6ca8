/* loom on libevent — what the shared conformance suite cannot express: loom
 * inside the host program's own event_base_dispatch, what libevent's loop
 * refuses (nesting), what its event methods (epoll, poll) report for fds,
 * and that a closed loop leaves the base empty. A program of its own. */
#define _GNU_SOURCE /* pipe2 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <check.h>
#include <event2/event.h>
#include <loom/loom.h>
#include <loom/loom-event.h>

#define MS INT64_C(1000000)

/* An event_base on the named method ("epoll" or "poll"). */
static struct event_base *base_with_method(const char *method)
{
    static const char *const methods[] = {"epoll", "poll", "select"};
    struct event_config *cfg = event_config_new();
    struct event_base *base;

    ck_assert_ptr_nonnull(cfg);
    ck_assert_int_eq(event_config_set_flag(cfg, EVENT_BASE_FLAG_IGNORE_ENV), 0);
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strcmp(methods[i], method) != 0)
            ck_assert_int_eq(event_config_avoid_method(cfg, methods[i]), 0);
    base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    ck_assert_ptr_nonnull(base);
    ck_assert_str_eq(event_base_get_method(base), method);
    return base;
}

static loom_loop *loop_on(struct event_base *base)
{
    loom_loop *loop = NULL;

    ck_assert_int_eq(loom_event_loop_new(&loop, base), 0);
    return loop;
}

static void free_loop(loom_loop *loop)
{
    ck_assert_int_eq(loom_loop_close(loop), 0);
    loom_loop_unref(loop);
}

/* Whether base holds any event: a non-blocking loop on an empty base
 * returns 1 at once. */
static bool base_is_empty(struct event_base *base)
{
    return event_base_loop(base, EVLOOP_NONBLOCK) == 1;
}

static void stop(loom_loop *loop, void *data)
{
    ck_assert_int_eq(loom_loop_stop(loop), 0);
}

/* Counts what libevent logs (its warnings and errors). */
static int libevent_logs;

static void count_log(int severity, const char *msg)
{
    libevent_logs++;
}

/* Counts what loom reports; data: int counter. */
static void count_reports(loom_loop *loop, int err, const char *msg, void *data)
{
    (*(int *)data)++;
}

/* Runs loom_loop_run with a 5 s watchdog. */
static void watchdog_fired(loom_loop *loop, void *data)
{
    ck_abort_msg("%s: not done after 5 s", (const char *)data);
}

static void run(loom_loop *loop, const char *what)
{
    loom_handle dog;

    ck_assert_int_eq(loom_call_later(loop, 5000 * MS, watchdog_fired, (void *)what, &dog), 0);
    ck_assert_int_eq(loom_loop_run(loop), 0);
    ck_assert_int_eq(loom_cancel(loop, dog), 0);
}

/* --- loom inside the host's event_base_dispatch ----------------------------- */

typedef struct hosted {
    struct event_base *base;
    loom_loop *loop;
    int sv[2];
    int left; /* call_soon, timer, reader, native callback */
    int native_run_result;
    int native_reports; /* what loom reported during the native callback's try */
    int reports;
} hosted;

static void hosted_step_done(hosted *h)
{
    if (--h->left == 0)
        ck_assert_int_eq(event_base_loopbreak(h->base), 0);
}

static void hosted_soon(loom_loop *loop, void *data)
{
    /* libevent's loop does not nest: loom refuses to run it from here. */
    ck_assert_int_eq(loom_loop_run_once(loop, false), -EDEADLK);
    hosted_step_done(data);
}

static void hosted_timer(loom_loop *loop, void *data)
{
    hosted_step_done(data);
}

static void hosted_reader(loom_loop *loop, int fd, unsigned events, void *data)
{
    char c;

    ck_assert_uint_eq(events & LOOM_READ, LOOM_READ);
    ck_assert_int_eq(read(fd, &c, 1), 1);
    ck_assert_int_eq(loom_remove_reader(loop, fd), 0);
    hosted_step_done(data);
}

/* A native callback of the running base tries to run the loop. */
static void native_tries_to_run(evutil_socket_t fd, short what, void *arg)
{
    hosted *h = arg;
    int before = h->reports;

    h->native_run_result = loom_loop_run_once(h->loop, false);
    h->native_reports = h->reports - before;
    hosted_step_done(h);
}

static void host_watchdog(evutil_socket_t fd, short what, void *arg)
{
    ck_abort_msg("event_base_dispatch: loom's callbacks did not all run in 5 s");
}

START_TEST(test_runs_inside_host_dispatch)
{
    hosted h = {.base = event_base_new(), .left = 4, .native_run_result = 1};
    struct timeval five_s = {5, 0}, now = {0, 0};
    struct event *dog, *native;

    ck_assert_ptr_nonnull(h.base);
    libevent_logs = 0;
    event_set_log_callback(count_log);
    h.loop = loop_on(h.base);
    ck_assert_int_eq(loom_loop_set_error_handler(h.loop, count_reports, &h.reports), 0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, h.sv), 0);
    ck_assert_int_eq(write(h.sv[1], "x", 1), 1);
    ck_assert_int_eq(loom_call_soon(h.loop, hosted_soon, &h, NULL), 0);
    ck_assert_int_eq(loom_call_later(h.loop, 5 * MS, hosted_timer, &h, NULL), 0);
    ck_assert_int_eq(loom_add_reader(h.loop, h.sv[0], hosted_reader, &h), 0);
    dog = evtimer_new(h.base, host_watchdog, NULL);
    native = evtimer_new(h.base, native_tries_to_run, &h);
    ck_assert_int_eq(evtimer_add(dog, &five_s), 0);
    ck_assert_int_eq(evtimer_add(native, &now), 0);

    ck_assert_int_eq(event_base_dispatch(h.base), 0);
    ck_assert_int_eq(h.left, 0);
    ck_assert_int_eq(h.native_run_result, -EDEADLK);
    ck_assert_int_eq(libevent_logs, 1);    /* it was libevent that refused */
    ck_assert_int_eq(h.native_reports, 1); /* and loom said so */
    ck_assert_int_eq(h.reports, 2);        /* loom refused (and said so) in hosted_soon too */
    event_set_log_callback(NULL);

    event_free(dog);
    event_free(native);
    ck_assert(!base_is_empty(h.base)); /* the loop's own wakeup fd */
    free_loop(h.loop);
    ck_assert(base_is_empty(h.base));
    close(h.sv[0]);
    close(h.sv[1]);
    event_base_free(h.base);
}
END_TEST

/* --- creation ------------------------------------------------------------------- */

/* A loom callback drops the last reference while the host dispatches: the
 * loop closes once the tick is over, leaving nothing in the base, so
 * event_base_dispatch returns by itself. */
static void drop_last_reference(loom_loop *loop, void *data)
{
    loom_loop_unref(loop);
}

START_TEST(test_last_unref_inside_host_dispatch)
{
    struct event_base *base = event_base_new();
    loom_loop *loop = loop_on(base);
    ck_assert_int_eq(loom_call_soon(loop, drop_last_reference, NULL, NULL), 0);
    /* Returns once no event is left (1); if loom left one, the test times out. */
    ck_assert_int_eq(event_base_dispatch(base), 1);
    ck_assert(base_is_empty(base));
    event_base_free(base);
}
END_TEST

START_TEST(test_new_argument_errors)
{
    struct event_base *base = event_base_new();
    loom_loop *loop = NULL;

    ck_assert_int_eq(loom_event_loop_new(&loop, NULL), -EINVAL);
    ck_assert_ptr_null(loop);
    ck_assert_int_eq(loom_event_loop_new(NULL, base), -EINVAL);
    ck_assert(base_is_empty(base));
    event_base_free(base);
}
END_TEST

/* Two loops share one base; closing one leaves the other working. */
START_TEST(test_two_loops_on_one_base)
{
    struct event_base *base = event_base_new();
    loom_loop *first = loop_on(base), *second = loop_on(base);
    int reports = 0;

    ck_assert_int_eq(loom_loop_set_error_handler(first, count_reports, &reports), 0);
    ck_assert_int_eq(loom_call_soon(first, stop, NULL, NULL), 0);
    free_loop(first);
    ck_assert_int_eq(reports, 1); /* its call, dropped */
    ck_assert_int_eq(loom_call_later(second, 1 * MS, stop, NULL, NULL), 0);
    run(second, "a timer of the second loop");
    free_loop(second);
    ck_assert(base_is_empty(base));
    event_base_free(base);
}
END_TEST

/* --- the deadline --------------------------------------------------------------- */

typedef struct spinner {
    int spins;
    bool read;
} spinner;

static void spin(loom_loop *loop, void *data)
{
    spinner *s = data;

    s->spins++;
    ck_assert_int_eq(loom_call_soon(loop, spin, s, NULL), 0);
}

static void spinner_reader(loom_loop *loop, int fd, unsigned events, void *data)
{
    spinner *s = data;

    s->read = true;
    ck_assert_int_eq(loom_remove_reader(loop, fd), 0);
    ck_assert_int_eq(loom_loop_stop(loop), 0);
}

/* "As soon as possible" still polls I/O first: a callback that keeps
 * rescheduling itself neither starves a reader nor keeps one iteration
 * (run_once) from returning. */
START_TEST(test_rescheduling_callback_does_not_starve_io)
{
    struct event_base *base = event_base_new();
    loom_loop *loop = loop_on(base);
    spinner s = {0};
    int reports = 0;
    int sv[2];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(loom_call_soon(loop, spin, &s, NULL), 0);
    ck_assert_int_eq(loom_loop_run_once(loop, false), 0);
    ck_assert_int_eq(loom_loop_run_once(loop, false), 0);
    ck_assert_int_ge(s.spins, 1);
    ck_assert_int_le(s.spins, 2);

    ck_assert_int_eq(write(sv[1], "x", 1), 1);
    ck_assert_int_eq(loom_add_reader(loop, sv[0], spinner_reader, &s), 0);
    run(loop, "a reader beside a rescheduling callback");
    ck_assert(s.read);

    ck_assert_int_eq(loom_loop_set_error_handler(loop, count_reports, &reports), 0);
    free_loop(loop);
    ck_assert_int_eq(reports, 1); /* the spinner, still scheduled, dropped */
    close(sv[0]);
    close(sv[1]);
    event_base_free(base);
}
END_TEST

/* libevent's clock (CLOCK_MONOTONIC_COARSE, cached per iteration) runs
 * behind CLOCK_MONOTONIC, so its timer may fire before loom's deadline when
 * the base wakes for something else just after the coarse clock jumped.
 * The adapter waits out the rest itself: each timer costs exactly the one
 * tick that runs it, never an early, empty one. */
typedef struct timer_probe {
    int64_t deadline;
    uint64_t ticks_at_run;
    bool early;
} timer_probe;

static void probe_fired(loom_loop *loop, void *data)
{
    timer_probe *p = data;
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    p->early = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec < p->deadline;
    p->ticks_at_run = loom_loop_ticks(loop);
    ck_assert_int_eq(loom_loop_stop(loop), 0);
}

/* Native events that keep the base busy: they echo one byte forever. */
static void native_echo(evutil_socket_t fd, short what, void *arg)
{
    char c;

    ck_assert_int_eq(read(fd, &c, 1), 1);
    ck_assert_int_eq(write(fd, &c, 1), 1);
}

START_TEST(test_timer_costs_one_tick)
{
    struct event_base *base = event_base_new();
    loom_loop *loop = loop_on(base);
    struct event *busy[2];
    int sv[2];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    for (int i = 0; i < 2; i++) {
        busy[i] = event_new(base, sv[i], EV_READ | EV_PERSIST, native_echo, NULL);
        ck_assert_int_eq(event_add(busy[i], NULL), 0);
    }
    ck_assert_int_eq(write(sv[0], "x", 1), 1); /* starts the ping-pong */

    for (int round = 0; round < 200; round++) {
        timer_probe p = {.deadline = loom_loop_now(loop) + (100 + round % 40 * 150) * INT64_C(1000)};
        uint64_t ticks = loom_loop_ticks(loop);

        ck_assert_int_eq(loom_call_at(loop, p.deadline, probe_fired, &p, NULL), 0);
        ck_assert_int_eq(loom_loop_run(loop), 0);
        ck_assert_msg(!p.early, "round %d: the timer ran early", round);
        ck_assert_msg(p.ticks_at_run == ticks + 1, "round %d: %llu ticks for one timer", round,
                      (unsigned long long)(p.ticks_at_run - ticks));
    }
    for (int i = 0; i < 2; i++) {
        event_free(busy[i]);
        close(sv[i]);
    }
    free_loop(loop);
    event_base_free(base);
}
END_TEST

/* --- fds, per event method ------------------------------------------------------ */

static const char *const tested_methods[] = {"epoll", "poll"};

typedef struct fd_probe {
    int calls;
    unsigned events;
    ssize_t got;
} fd_probe;

static void probe_reader(loom_loop *loop, int fd, unsigned events, void *data)
{
    fd_probe *p = data;
    char c;

    p->calls++;
    p->events = events;
    p->got = read(fd, &c, 1);
    ck_assert_int_eq(loom_remove_reader(loop, fd), 0);
    ck_assert_int_eq(loom_loop_stop(loop), 0);
}

static void probe_writer(loom_loop *loop, int fd, unsigned events, void *data)
{
    fd_probe *p = data;

    p->calls++;
    p->events = events;
    p->got = write(fd, "x", 1) < 0 ? -errno : 1;
    ck_assert_int_eq(loom_remove_writer(loop, fd), 0);
    ck_assert_int_eq(loom_loop_stop(loop), 0);
}

/* A pipe's hang-up (read end) and error (write end) reach loom although
 * libevent reports both as plain EV_READ|EV_WRITE. */
START_TEST(test_pipe_hangup_and_error)
{
    struct event_base *base = base_with_method(tested_methods[_i]);
    loom_loop *loop = loop_on(base);
    fd_probe hup = {0}, err = {0};
    int a[2], b[2];

    ck_assert_int_eq(pipe2(a, O_NONBLOCK | O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(b, O_NONBLOCK | O_CLOEXEC), 0);
    close(a[1]);
    close(b[0]);
    signal(SIGPIPE, SIG_IGN);
    ck_assert_int_eq(loom_add_reader(loop, a[0], probe_reader, &hup), 0);
    run(loop, "a reader on a hung-up pipe");
    ck_assert_int_eq(loom_add_writer(loop, b[1], probe_writer, &err), 0);
    run(loop, "a writer on a pipe without reader");

    ck_assert_int_eq(hup.calls, 1);
    ck_assert_uint_eq(hup.events, LOOM_READ | LOOM_HUP);
    ck_assert_int_eq(hup.got, 0);
    ck_assert_int_eq(err.calls, 1);
    ck_assert_uint_eq(err.events, LOOM_WRITE | LOOM_ERR);
    ck_assert_int_eq(err.got, -EPIPE);
    free_loop(loop);
    close(a[0]);
    close(b[1]);
    event_base_free(base);
}
END_TEST

/* A pipe with data and a live writer is readable, nothing more. */
START_TEST(test_pipe_data_is_not_a_hangup)
{
    struct event_base *base = base_with_method(tested_methods[_i]);
    loom_loop *loop = loop_on(base);
    fd_probe p = {0};
    int fds[2];

    ck_assert_int_eq(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    ck_assert_int_eq(loom_add_reader(loop, fds[0], probe_reader, &p), 0);
    run(loop, "a reader on a pipe with data");
    ck_assert_uint_eq(p.events, LOOM_READ);
    ck_assert_int_eq(p.got, 1);
    free_loop(loop);
    close(fds[0]);
    close(fds[1]);
    event_base_free(base);
}
END_TEST

/* A socket reader learns of the hang-up (a closed AF_UNIX peer leaves
 * neither direction: POLLHUP) on both methods. */
START_TEST(test_socket_peer_hangup)
{
    struct event_base *base = base_with_method(tested_methods[_i]);
    loom_loop *loop = loop_on(base);
    fd_probe p = {0};
    int sv[2];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    close(sv[1]);
    ck_assert_int_eq(loom_add_reader(loop, sv[0], probe_reader, &p), 0);
    run(loop, "a reader on a socket whose peer is gone");
    ck_assert_int_eq(p.calls, 1);
    ck_assert_uint_eq(p.events, LOOM_READ | LOOM_HUP);
    ck_assert_int_eq(p.got, 0);
    free_loop(loop);
    close(sv[0]);
    event_base_free(base);
}
END_TEST

/* A peer's shutdown(SHUT_WR) is EOF to read, not a hang-up (the socket
 * still writes): plain LOOM_READ, on every method as on every backend. */
START_TEST(test_socket_half_close_is_read)
{
    struct event_base *base = base_with_method(tested_methods[_i]);
    loom_loop *loop = loop_on(base);
    fd_probe p = {0};
    int sv[2];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(shutdown(sv[1], SHUT_WR), 0);
    ck_assert_int_eq(loom_add_reader(loop, sv[0], probe_reader, &p), 0);
    run(loop, "a reader on a socket whose peer shut down writing");
    ck_assert_int_eq(p.calls, 1);
    ck_assert_uint_eq(p.events, LOOM_READ);
    ck_assert_int_eq(p.got, 0);
    ck_assert_int_eq(write(sv[0], "x", 1), 1);
    free_loop(loop);
    close(sv[0]);
    close(sv[1]);
    event_base_free(base);
}
END_TEST

static void count_call(loom_loop *loop, int fd, unsigned events, void *data)
{
    (*(int *)data)++;
}

/* Regular files: epoll cannot watch them (-EPERM, without libevent logging
 * a failure), poll reports them always ready. */
START_TEST(test_regular_file)
{
    struct event_base *base = base_with_method(tested_methods[_i]);
    loom_loop *loop = loop_on(base);
    char path[] = "/tmp/loom-libevent-XXXXXX";
    int fd = mkstemp(path);
    int calls = 0;

    ck_assert_int_ge(fd, 0);
    unlink(path);
    libevent_logs = 0;
    event_set_log_callback(count_log);
    if (strcmp(tested_methods[_i], "epoll") == 0) {
        ck_assert_int_eq(loom_add_reader(loop, fd, count_call, &calls), -EPERM);
    } else {
        ck_assert_int_eq(loom_add_reader(loop, fd, count_call, &calls), 0);
        ck_assert_int_eq(loom_loop_run_once(loop, true), 0);
        ck_assert_int_eq(calls, 1);
        ck_assert_int_eq(loom_remove_reader(loop, fd), 0);
    }
    event_set_log_callback(NULL);
    ck_assert_int_eq(libevent_logs, 0);
    free_loop(loop);
    close(fd);
    event_base_free(base);
}
END_TEST

static void count_ebadf(loom_loop *loop, int err, const char *msg, void *data)
{
    if (err == -EBADF)
        (*(int *)data)++;
}

/* poll reports an fd closed under its watch forever (POLLNVAL): the watch is
 * suspended and reported instead of spinning; epoll just forgets the fd. */
START_TEST(test_closed_fd_is_suspended)
{
    struct event_base *base = base_with_method(tested_methods[_i]);
    loom_loop *loop = loop_on(base);
    int calls = 0, errors = 0;
    int fds[2];
    uint64_t ticks;

    ck_assert_int_eq(loom_loop_set_error_handler(loop, count_ebadf, &errors), 0);
    ck_assert_int_eq(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    ck_assert_int_eq(loom_add_reader(loop, fds[0], count_call, &calls), 0);
    close(fds[0]);
    ticks = loom_loop_ticks(loop);
    ck_assert_int_eq(loom_call_later(loop, 50 * MS, stop, NULL, NULL), 0);
    run(loop, "50 ms with a closed fd under watch");
    ck_assert_uint_le(loom_loop_ticks(loop) - ticks, 3);
    ck_assert_int_le(calls, 1);
    if (strcmp(tested_methods[_i], "poll") == 0)
        ck_assert_int_eq(errors, 1);
    loom_remove_reader(loop, fds[0]); /* 0 or an error: the fd is gone */
    free_loop(loop);
    close(fds[1]);
    event_base_free(base);
}
END_TEST

static int dispatch_rounds;

/* libevent's debug log names each round of its backend ("epoll_dispatch",
 * "poll_dispatch"): a count of iterations that needs no clock. */
static void count_dispatch(int severity, const char *msg)
{
    if (strstr(msg, "_dispatch"))
        dispatch_rounds++;
}

/* A watched fd closed while a dup keeps its file open, then removed: the
 * removal cannot reach libevent's epoll set (the fd is gone), and the file
 * keeps firing there. libevent must not spin on it: the loop below sleeps
 * 100 ms on one timer, so a handful of rounds, not thousands. */
START_TEST(test_dup_closed_then_removed_does_not_spin)
{
    struct event_base *base = base_with_method(tested_methods[_i]);
    loom_loop *loop = loop_on(base);
    int calls = 0;
    int fds[2];

    ck_assert_int_eq(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    int keep = dup(fds[0]);
    ck_assert_int_ge(keep, 0);
    ck_assert_int_eq(write(fds[1], "x", 1), 1); /* readable for good */
    ck_assert_int_eq(loom_add_reader(loop, fds[0], count_call, &calls), 0);
    ck_assert_int_eq(loom_loop_run_once(loop, false), 0);
    close(fds[0]);
    loom_remove_reader(loop, fds[0]); /* 0 or -EBADF: the fd is gone */

    dispatch_rounds = 0;
    event_set_log_callback(count_dispatch);
    event_enable_debug_logging(EVENT_DBG_ALL);
    ck_assert_int_eq(loom_call_later(loop, 100 * MS, stop, NULL, NULL), 0);
    run(loop, "100 ms after close-then-remove of a dup'd fd");
    event_enable_debug_logging(EVENT_DBG_NONE);
    event_set_log_callback(NULL);
    ck_assert_msg(dispatch_rounds > 0, "libevent wrote no debug log: cannot count its rounds");
    ck_assert_msg(dispatch_rounds < 50, "%d rounds of libevent's loop in 100 ms: it spins", dispatch_rounds);
    free_loop(loop);
    close(keep);
    close(fds[1]);
    event_base_free(base);
}
END_TEST

static Suite *libevent_suite(void)
{
    Suite *s = suite_create("libevent");
    TCase *tc = tcase_create("host");
    int n = sizeof(tested_methods) / sizeof(tested_methods[0]);

    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_runs_inside_host_dispatch);
    tcase_add_test(tc, test_new_argument_errors);
    tcase_add_test(tc, test_last_unref_inside_host_dispatch);
    tcase_add_test(tc, test_two_loops_on_one_base);
    tcase_add_test(tc, test_rescheduling_callback_does_not_starve_io);
    tcase_add_test(tc, test_timer_costs_one_tick);
    suite_add_tcase(s, tc);

    tc = tcase_create("methods");
    tcase_set_timeout(tc, 20);
    tcase_add_loop_test(tc, test_pipe_hangup_and_error, 0, n);
    tcase_add_loop_test(tc, test_pipe_data_is_not_a_hangup, 0, n);
    tcase_add_loop_test(tc, test_socket_peer_hangup, 0, n);
    tcase_add_loop_test(tc, test_socket_half_close_is_read, 0, n);
    tcase_add_loop_test(tc, test_regular_file, 0, n);
    tcase_add_loop_test(tc, test_closed_fd_is_suspended, 0, n);
    tcase_add_loop_test(tc, test_dup_closed_then_removed_does_not_spin, 0, n);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(libevent_suite());
    int failed;

    srunner_run_all(runner, CK_ENV);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
