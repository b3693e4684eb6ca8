/* loom conformance suite — what a forked child may do with a loop it
 * inherited (close it, harmlessly for the parent) and may not (anything
 * else: -ECHILD). */
#include <fcntl.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>
#include "fixture.h"
#include "suites.h"

static void count_read(loom_loop *loop, int fd, unsigned events, void *data)
{
    char c;
    if (read(fd, &c, 1) == 1)
        ++*(int *)data;
    ck_assert_int_eq(loom_loop_stop(loop), 0);
}

static void never_called(loom_loop *loop, void *data)
{
    _exit(90); /* the parent's callback ran in the child */
}

static void child_stop(loom_loop *loop, void *data)
{
    loom_loop_stop(loop);
}

/* In a child: refused calls; returns the exit status (0: all held). */
static int child_refused(loom_loop *inherited, int fd)
{
    if (loom_call_soon(inherited, never_called, NULL, NULL) != -ECHILD)
        return 1;
    if (loom_call_soon_threadsafe(inherited, never_called, NULL) != -ECHILD)
        return 2;
    if (loom_remove_reader(inherited, fd) != -ECHILD)
        return 3;
    if (loom_loop_run_once(inherited, false) != -ECHILD)
        return 4;
    return 0;
}

static void *unref_elsewhere(void *future)
{
    loom_future_unref(future);
    return NULL;
}

/* A destroy function of the parent's values: never in a child. */
static pid_t parent_pid;
static int parent_destroys;

static void parent_destroy(void *data)
{
    if (getpid() != parent_pid)
        _exit(91);
    parent_destroys++;
}

static void ignore_done(loom_future *future, void *data)
{
}

/* The parent's future whose callbacks are queued: the child drops its
 * reference (the last one in the child's copy). */
static loom_future *queued;

/* In a child: closes the inherited loop, then uses one of its own. */
static int child_closes(loom_loop *inherited)
{
    loom_future_unref(queued);
    if (loom_loop_close(inherited) != 0)
        return 5;
    loom_loop_unref(inherited);
    loom_loop *mine = NULL;
    if (loom_loop_new(&mine, NULL) != 0)
        return 6;
    if (loom_call_later(mine, LOOM_MSEC(1), child_stop, NULL, NULL) != 0)
        return 7;
    if (loom_loop_run(mine) != 0)
        return 8;
    if (loom_loop_close(mine) != 0)
        return 9;
    loom_loop_unref(mine);
    return 0;
}

static int child_closes_it(loom_loop *inherited, int fd)
{
    return child_closes(inherited);
}

/* The parent's watched pipe (non-blocking), for child_runs_host. */
static int watched[2];

/* In a child that keeps running its copy of the host: a byte for the
 * parent's reader stays unread, no callback of the parent's runs (they
 * _exit), and the host does not spin on what the parent's loop watches. */
static int child_runs_host(loom_loop *inherited, int fd)
{
    if (write(watched[1], "x", 1) != 1)
        return 10;
    int n = host_native_iterations(100);
    char c;
    if (read(watched[0], &c, 1) != 1)
        return 11;
    return n > 20 ? 12 : 0; /* a few: the timer's, a wakeup or two */
}

/* Forks; the child reports the step it failed at (0: none) through a pipe,
 * not its exit status: under Valgrind that is Valgrind's, which counts the
 * memory a child leaves on purpose (the backend's, see loop.h) as a leak.
 * _exit: no Check or toolkit teardown there. */
static void in_child(loom_loop *loop, int fd, int (*child)(loom_loop *inherited, int fd))
{
    int report[2];
    ck_assert_int_eq(pipe(report), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        unsigned char step = (unsigned char)child(loop, fd);
        _exit(write(report[1], &step, 1) == 1 ? 0 : 1);
    }
    close(report[1]);
    unsigned char step = 255;
    ck_assert_int_eq(read(report[0], &step, 1), 1);
    close(report[0]);
    ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
    ck_assert_msg(step == 0, "child failed at step %d", step);
}

START_TEST(test_fork_child_close_leaves_parent_intact)
{
    loom_loop *loop = host_loop_new();
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    int reads = 0;
    ck_assert_int_eq(loom_add_reader(loop, p[0], count_read, &reads), 0);
    loom_handle timer;
    ck_assert_int_eq(loom_call_later(loop, LOOM_SEC(60), never_called, NULL, &timer), 0);

    /* Futures a child must not free (that would run the parent's destroy
     * there): one whose last reference went on another thread and that the
     * loop's thread has not reaped yet, and one whose callbacks are queued. */
    parent_pid = getpid();
    parent_destroys = 0;
    loom_future *dropped = loom_future_new(loop);
    queued = loom_future_new(loop);
    ck_assert_int_eq(loom_future_on_done(queued, ignore_done, NULL), 0);
    ck_assert_int_eq(loom_future_resolve(dropped, NULL, parent_destroy), 0);
    ck_assert_int_eq(loom_future_resolve(queued, NULL, parent_destroy), 0);
    pthread_t thread;
    ck_assert_int_eq(pthread_create(&thread, NULL, unref_elsewhere, dropped), 0);
    ck_assert_int_eq(pthread_join(thread, NULL), 0);

    in_child(loop, p[0], child_refused);
    in_child(loop, p[0], child_closes_it);
    ck_assert_int_eq(parent_destroys, 0);
    loom_future_unref(queued);

    /* The parent's watch is still registered: its reader fires. */
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    fixture_run(loop, 5000, "the parent's reader after the child closed its copy");
    ck_assert_int_eq(reads, 1);
    ck_assert_int_eq(parent_destroys, 2); /* both went in the parent */
    ck_assert_int_eq(loom_cancel(loop, timer), 0);
    ck_assert_int_eq(loom_remove_reader(loop, p[0]), 0);
    close(p[0]);
    close(p[1]);
    fixture_free_loop(loop);
}
END_TEST

/* A child that iterates the host it inherited (a GMainContext, an
 * event_base, a Qt loop) runs nothing of the parent's loop: no due call,
 * timer or fd callback, and no spin on the parent's fds. */
START_TEST(test_fork_child_host_runs_nothing_of_parent)
{
    loom_loop *loop = host_loop_new();
    ck_assert_int_eq(pipe(watched), 0);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(fcntl(watched[i], F_SETFL, O_NONBLOCK), 0);
    int reads = 0;
    ck_assert_int_eq(loom_add_reader(loop, watched[0], count_read, &reads), 0);
    loom_handle soon, timer;
    ck_assert_int_eq(loom_call_soon(loop, never_called, NULL, &soon), 0);
    ck_assert_int_eq(loom_call_later(loop, LOOM_MSEC(1), never_called, NULL, &timer), 0);

    in_child(loop, watched[0], child_runs_host);

    ck_assert_int_eq(loom_cancel(loop, soon), 0);
    ck_assert_int_eq(loom_cancel(loop, timer), 0);
    ck_assert_int_eq(write(watched[1], "x", 1), 1);
    fixture_run(loop, 5000, "the parent's reader after the child ran its host");
    ck_assert_int_eq(reads, 1);
    ck_assert_int_eq(loom_remove_reader(loop, watched[0]), 0);
    close(watched[0]);
    close(watched[1]);
    fixture_free_loop(loop);
}
END_TEST

Suite *fork_suite(void)
{
    Suite *s = suite_create("fork");
    TCase *tc = fixture_tcase(s, "fork");
    tcase_add_test(tc, test_fork_child_close_leaves_parent_intact);
    tcase_add_test(tc, test_fork_child_host_runs_nothing_of_parent);
    return s;
}
