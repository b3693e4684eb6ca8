/* loom conformance suite — living inside the host loop: work scheduled from
 * native host callbacks, nested native loops, no idle wakeups, nothing left
 * behind in the host. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "fixture.h"
#include "suites.h"

#define MS INT64_C(1000000)

static void stop_natively(void *data)
{
    ck_assert_int_eq(loom_call_soon(data, fixture_stop, NULL, NULL), 0);
}

/* Scheduling from a native callback must arm the host by itself: nothing else
 * will wake the loop. */
START_TEST(test_call_soon_from_native_callback)
{
    loom_loop *loop = host_loop_new();

    host_native_timeout(loop, 10, stop_natively, loop);
    fixture_run(loop, 5000, "a callback scheduled from a native callback");
    fixture_free_loop(loop);
}
END_TEST

static void resolve_natively(void *data)
{
    ck_assert_int_eq(loom_future_resolve_int(data, 7), 0);
}

static void continuation_stops(loom_future *future, void *data)
{
    (*(int *)data)++;
    ck_assert_int_eq(loom_future_value_int(future), 7);
    fixture_stop(loom_future_loop(future), NULL);
}

START_TEST(test_future_resolved_from_native_callback)
{
    loom_loop *loop = host_loop_new();
    loom_future *future = loom_future_new(loop);
    int runs = 0;

    ck_assert_ptr_nonnull(future);
    ck_assert_int_eq(loom_future_on_done(future, continuation_stops, &runs), 0);
    host_native_timeout(loop, 10, resolve_natively, future);
    fixture_run(loop, 5000, "the continuation of a future resolved from a native callback");
    ck_assert_int_eq(runs, 1);
    loom_future_unref(future);
    fixture_free_loop(loop);
}
END_TEST

/* A loom callback runs a nested native loop (a modal dialog). Inside it,
 * timers, fd callbacks, thread-safe calls and future continuations keep
 * running; then it quits and the outer loop goes on. Every step logs one
 * letter:
 *   A  outer callback, which nests     B  scheduled right after A
 *   X, Y  call_soon from A             T  timer      R  reader
 *   S  thread-safe call  C  future continuation      a  A after the nest
 *   Z  scheduled by A after the nest: stops the outer loop */
typedef struct nest {
    loom_loop *loop;
    char log[32];
    size_t n;
    bool nested;
    int inner_pending; /* T, R, S, C still to come */
    int sv[2];
    pthread_t thread;
    loom_future *future;
} nest;

static void nest_log(nest *n, char step)
{
    ck_assert_uint_lt(n->n, sizeof(n->log) - 1);
    n->log[n->n++] = step;
}

static void nest_inner_step(nest *n, char step)
{
    ck_assert_msg(n->nested, "%c ran outside the nested loop", step);
    nest_log(n, step);
    if (--n->inner_pending == 0)
        host_quit_nested(n->loop);
}

static void nest_log_x(loom_loop *loop, void *data) { nest_log(data, 'X'); }
static void nest_log_y(loom_loop *loop, void *data) { nest_log(data, 'Y'); }
static void nest_log_b(loom_loop *loop, void *data) { nest_log(data, 'B'); }
static void nest_timer(loom_loop *loop, void *data) { nest_inner_step(data, 'T'); }
static void nest_threadsafe(loom_loop *loop, void *data) { nest_inner_step(data, 'S'); }

static void nest_continuation(loom_future *future, void *data)
{
    nest_inner_step(data, 'C');
}

static void nest_reader(loom_loop *loop, int fd, unsigned events, void *data)
{
    char c;

    ck_assert_int_eq(read(fd, &c, 1), 1);
    ck_assert_int_eq(loom_remove_reader(loop, fd), 0);
    nest_inner_step(data, 'R');
}

static void nest_resolve(loom_loop *loop, void *data)
{
    nest *n = data;

    ck_assert_int_eq(loom_future_resolve_int(n->future, 1), 0);
}

static void nest_final(loom_loop *loop, void *data)
{
    nest_log(data, 'Z');
    fixture_stop(loop, NULL);
}

static void *nest_thread(void *data)
{
    nest *n = data;

    ck_assert_int_eq(loom_call_soon_threadsafe(n->loop, nest_threadsafe, n), 0);
    return NULL;
}

static void nest_outer(loom_loop *loop, void *data)
{
    nest *n = data;

    nest_log(n, 'A');
    ck_assert_int_eq(loom_call_soon(loop, nest_log_x, n, NULL), 0);
    ck_assert_int_eq(loom_call_soon(loop, nest_log_y, n, NULL), 0);
    ck_assert_int_eq(loom_call_later(loop, 2 * MS, nest_timer, n, NULL), 0);
    ck_assert_int_eq(write(n->sv[1], "x", 1), 1);
    ck_assert_int_eq(loom_add_reader(loop, n->sv[0], nest_reader, n), 0);
    n->future = loom_future_new(loop);
    ck_assert_ptr_nonnull(n->future);
    ck_assert_int_eq(loom_future_on_done(n->future, nest_continuation, n), 0);
    ck_assert_int_eq(loom_call_soon(loop, nest_resolve, n, NULL), 0);
    ck_assert_int_eq(pthread_create(&n->thread, NULL, nest_thread, n), 0);

    n->nested = true;
    host_run_nested(loop);
    n->nested = false;
    nest_log(n, 'a');
    ck_assert_int_eq(loom_call_soon(loop, nest_final, n, NULL), 0);
}

static size_t position(const nest *n, char step)
{
    const char *at = memchr(n->log, step, n->n);

    ck_assert_msg(at != NULL, "%c never ran (log \"%s\")", step, n->log);
    ck_assert_msg(memchr(at + 1, step, n->n - (size_t)(at + 1 - n->log)) == NULL,
                  "%c ran twice (log \"%s\")", step, n->log);
    return (size_t)(at - n->log);
}

static void assert_before(const nest *n, char first, char then)
{
    ck_assert_msg(position(n, first) < position(n, then), "%c ran after %c (log \"%s\")", first,
                  then, n->log);
}

START_TEST(test_nested_native_loop)
{
    nest n = {.inner_pending = 4};

    if (!host_can_nest())
        return; /* this host cannot run a nested loop */
    n.loop = host_loop_new();
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, n.sv), 0);
    ck_assert_int_eq(loom_call_soon(n.loop, nest_outer, &n, NULL), 0);
    ck_assert_int_eq(loom_call_soon(n.loop, nest_log_b, &n, NULL), 0);
    fixture_run(n.loop, 5000, "the outer loop around a nested native loop");
    ck_assert_int_eq(pthread_join(n.thread, NULL), 0);

    ck_assert_uint_eq(n.n, 10); /* each step once, none missing */
    ck_assert_int_eq(position(&n, 'A'), 0);
    assert_before(&n, 'B', 'X'); /* FIFO holds across the nesting */
    assert_before(&n, 'X', 'Y');
    for (const char *inner = "TRSCXY"; *inner; inner++)
        assert_before(&n, *inner, 'a');
    ck_assert_int_eq(position(&n, 'Z'), 9);

    loom_future_unref(n.future);
    fixture_free_loop(n.loop);
    close(n.sv[0]);
    close(n.sv[1]);
}
END_TEST

typedef struct idle_stopper {
    loom_loop *loop;
    pthread_t thread;
} idle_stopper;

static void *stop_after_a_second(void *data)
{
    idle_stopper *s = data;
    struct timespec second = {1, 0};

    nanosleep(&second, NULL);
    ck_assert_int_eq(loom_call_soon_threadsafe(s->loop, fixture_stop, NULL), 0);
    return NULL;
}

static void never_readable(loom_loop *loop, int fd, unsigned events, void *data)
{
    ck_abort_msg("a never-readable fd was reported readable");
}

/* For one second a loop watches n quiet sockets (unbound datagram sockets:
 * one fd each, never readable; dups of one file would hit the kernel's limit
 * on paths to a file through nested epoll sets) and has a far timer: it must
 * not wake except for the thread-safe call that ends the second. */
static void check_idle_with_watches(int n)
{
    idle_stopper s = {.loop = host_loop_new()};
    loom_handle far_timer;
    uint64_t ticks;
    int *watched = malloc((size_t)n * sizeof(*watched));

    ck_assert_ptr_nonnull(watched);
    for (int i = 0; i < n; i++) {
        watched[i] = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(watched[i], 0);
        ck_assert_int_eq(loom_add_reader(s.loop, watched[i], never_readable, NULL), 0);
    }
    ck_assert_int_eq(loom_call_later(s.loop, 60000 * MS, fixture_stop, NULL, &far_timer), 0);
    ck_assert_int_eq(loom_loop_run_once(s.loop, false), 0); /* settle what setup scheduled */
    ticks = loom_loop_ticks(s.loop);
    ck_assert_int_eq(pthread_create(&s.thread, NULL, stop_after_a_second, &s), 0);
    fixture_run(s.loop, 5000, "an idle loop stopped by a thread-safe call after 1 s");
    ck_assert_int_eq(pthread_join(s.thread, NULL), 0);
    ck_assert_msg(loom_loop_ticks(s.loop) - ticks <= 2, "an idle loop with %d watches ticked %llu times in 1 s", n,
                  (unsigned long long)(loom_loop_ticks(s.loop) - ticks));
    ck_assert_int_eq(loom_cancel(s.loop, far_timer), 0);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(loom_remove_reader(s.loop, watched[i]), 0);
        close(watched[i]);
    }
    fixture_free_loop(s.loop);
    free(watched);
}

START_TEST(test_idle_loop_does_not_wake)
{
    check_idle_with_watches(1);
}
END_TEST

/* Hosts that carry all watches as one fd must stay as quiet with many. */
START_TEST(test_idle_loop_with_10000_watches_does_not_wake)
{
    check_idle_with_watches(10000);
}
END_TEST

/* --- a modal-style nested loop with many watches ---------------------------- */

#define MODAL_PAIRS 1000

/* Half the readers are added before the first nested loop, the rest inside
 * a second one nested in it, which writes a byte to every pair: all of them
 * must run inside the innermost loop. */
typedef struct modal {
    loom_loop *loop;
    int sv[MODAL_PAIRS][2];
    int read, depth, deepest_read; /* deepest_read: reads done at depth 2 */
    bool gave_up, returned;
} modal;

static void modal_reader(loom_loop *loop, int fd, unsigned events, void *data)
{
    modal *m = data;
    int i = 0;
    char c;

    while (i < MODAL_PAIRS && m->sv[i][0] != fd)
        i++;
    ck_assert_int_lt(i, MODAL_PAIRS);
    ck_assert_int_eq(read(fd, &c, 1), 1);
    ck_assert_int_eq(c, 'a' + i % 26); /* its own byte, not another pair's */
    ck_assert_int_eq(loom_remove_reader(loop, fd), 0);
    m->deepest_read += m->depth == 2;
    if (++m->read == MODAL_PAIRS)
        host_quit_nested(loop);
}

static void modal_add_readers(modal *m, int from, int to)
{
    for (int i = from; i < to; i++)
        ck_assert_int_eq(loom_add_reader(m->loop, m->sv[i][0], modal_reader, m), 0);
}

static void modal_give_up(loom_loop *loop, void *data)
{
    modal *m = data;

    m->gave_up = true;
    host_quit_nested(loop);
}

static void modal_open(loom_loop *loop, void *data);

/* The innermost dialog: the rest of the watches, then every byte. */
static void modal_fill(modal *m)
{
    modal_add_readers(m, MODAL_PAIRS / 2, MODAL_PAIRS);
    for (int i = 0; i < MODAL_PAIRS; i++)
        ck_assert_int_eq(write(m->sv[i][1], &(char){(char)('a' + i % 26)}, 1), 1);
}

static void modal_open(loom_loop *loop, void *data)
{
    modal *m = data;

    if (++m->depth == 1)
        ck_assert_int_eq(loom_call_soon(loop, modal_open, m, NULL), 0);
    else
        modal_fill(m);
    host_run_nested(loop);
    if (--m->depth == 1)
        host_quit_nested(loop); /* the outer dialog closes with the inner one */
    else
        m->returned = true;
    if (m->depth == 0)
        fixture_stop(loop, NULL);
}

START_TEST(test_nested_loops_with_1000_watches)
{
    loom_handle guard;
    modal *m;

    if (!host_can_nest())
        return; /* this host cannot run a nested loop */
    m = calloc(1, sizeof(*m));
    ck_assert_ptr_nonnull(m);
    m->loop = host_loop_new();
    for (int i = 0; i < MODAL_PAIRS; i++)
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, m->sv[i]), 0);
    modal_add_readers(m, 0, MODAL_PAIRS / 2);
    ck_assert_int_eq(loom_call_later(m->loop, 5000 * MS, modal_give_up, m, &guard), 0);
    ck_assert_int_eq(loom_call_soon(m->loop, modal_open, m, NULL), 0);
    fixture_run(m->loop, 10000, "two nested loops with 1,000 watches");
    ck_assert_msg(!m->gave_up, "%d of %d readers ran in 5 s", m->read, MODAL_PAIRS);
    ck_assert(m->returned);
    ck_assert_int_eq(m->deepest_read, MODAL_PAIRS);
    ck_assert_int_eq(loom_cancel(m->loop, guard), 0);
    fixture_settle(m->loop);
    fixture_free_loop(m->loop);
    for (int i = 0; i < MODAL_PAIRS; i++) {
        close(m->sv[i][0]);
        close(m->sv[i][1]);
    }
    free(m);
}
END_TEST

static void read_one(loom_loop *loop, int fd, unsigned events, void *data)
{
    char c;

    ck_assert_int_eq(read(fd, &c, 1), 1);
}

static void *stop_threadsafe(void *data)
{
    ck_assert_int_eq(loom_call_soon_threadsafe(data, fixture_stop, NULL), 0);
    return NULL;
}

/* A second loop, used (timer, fd, thread-safe call) and destroyed, leaves the
 * host holding what it held before. */
START_TEST(test_destroyed_loop_leaves_no_sources)
{
    loom_loop *observer = host_loop_new();
    int before = host_count_sources(observer);
    loom_loop *loop;
    fixture_errors errors;
    pthread_t thread;
    int fds[2];

    if (before < 0) {
        fixture_free_loop(observer);
        return; /* this host cannot count its sources */
    }
    loop = host_loop_new();
    fixture_capture_errors(loop, &errors); /* the live timer and reader are reported at close */
    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    ck_assert_int_eq(loom_add_reader(loop, fds[0], read_one, NULL), 0);
    ck_assert_int_eq(loom_call_later(loop, 60000 * MS, fixture_stop, NULL, NULL), 0);
    ck_assert_int_gt(host_count_sources(observer), before);
    ck_assert_int_eq(pthread_create(&thread, NULL, stop_threadsafe, loop), 0);
    fixture_run(loop, 5000, "a thread-safe stop");
    ck_assert_int_eq(pthread_join(thread, NULL), 0);
    fixture_free_loop(loop);
    ck_assert_int_eq(host_count_sources(observer), before);
    fixture_free_loop(observer);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

Suite *host_suite(void)
{
    Suite *s = suite_create("host");
    TCase *tc;

    tc = fixture_tcase(s, "native callbacks");
    tcase_add_test(tc, test_call_soon_from_native_callback);
    tcase_add_test(tc, test_future_resolved_from_native_callback);
    tcase_add_test(tc, test_nested_native_loop);
    tcase_add_test(tc, test_nested_loops_with_1000_watches);

    tc = fixture_tcase(s, "footprint");
    tcase_add_test(tc, test_idle_loop_does_not_wake);
    tcase_add_test(tc, test_idle_loop_with_10000_watches_does_not_wake);
    tcase_add_test(tc, test_destroyed_loop_leaves_no_sources);
    return s;
}
