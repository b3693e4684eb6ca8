/* Conformance: the executor (blocking work on the thread pool, results on
 * the loop's thread) and loom_getaddrinfo. */
#define _GNU_SOURCE /* pthread_getattr_default_np */
#include <arpa/inet.h>
#include <dirent.h>
#include <netdb.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <check.h>
#include <loom/executor.h>
#include "fixture.h"
#include "suites.h"

#define WAIT_MS 5000

static loom_loop *loop;
static fixture_errors errors;
static pthread_t loop_thread;

static void setup(void)
{
    loop = host_loop_new();
    fixture_capture_errors(loop, &errors);
    loop_thread = pthread_self();
}

static void teardown(void)
{
    loom_executor_shutdown();
    loom_loop_unref(loop);
    loop = NULL;
}

static loom_future *check_future(loom_future *f)
{
    ck_assert_msg(f != NULL, "no future: %s", loom_strerror(-errno));
    return f;
}

/* A one-shot signal between threads. */
typedef struct gate {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    bool open;
} gate;

static void gate_init(gate *g)
{
    pthread_mutex_init(&g->mutex, NULL);
    pthread_cond_init(&g->cond, NULL);
    g->open = false;
}

static void gate_open(gate *g)
{
    pthread_mutex_lock(&g->mutex);
    g->open = true;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->mutex);
}

static void gate_wait(gate *g)
{
    pthread_mutex_lock(&g->mutex);
    while (!g->open)
        pthread_cond_wait(&g->cond, &g->mutex);
    pthread_mutex_unlock(&g->mutex);
}

/* A job that tells it started, waits for its gate, then returns a value
 * whose destruction is counted. */
typedef struct blocker {
    gate started, proceed;
    atomic_int runs;
    atomic_int value_destroyed;
    atomic_int arg_destroyed;
    atomic_bool destroyed_on_loop_thread;
    bool stop_on_destroy;
} blocker;

static int count(atomic_int *counter)
{
    return atomic_load(counter);
}

static bool flag(atomic_bool *f)
{
    return atomic_load(f);
}

static void blocker_init(blocker *b)
{
    gate_init(&b->started);
    gate_init(&b->proceed);
    atomic_init(&b->runs, 0);
    atomic_init(&b->value_destroyed, 0);
    atomic_init(&b->arg_destroyed, 0);
    atomic_init(&b->destroyed_on_loop_thread, false);
    b->stop_on_destroy = false;
}

static void blocker_value_destroy(void *value)
{
    blocker *b = value;

    atomic_store(&b->destroyed_on_loop_thread, pthread_equal(pthread_self(), loop_thread));
    atomic_fetch_add(&b->value_destroyed, 1);
    if (b->stop_on_destroy)
        loom_loop_stop(loop);
}

static void blocker_arg_destroy(void *arg)
{
    blocker *b = arg;
    atomic_fetch_add(&b->arg_destroyed, 1);
}

static int blocker_work(void *arg, loom_work_result *result)
{
    blocker *b = arg;

    atomic_fetch_add(&b->runs, 1);
    gate_open(&b->started);
    gate_wait(&b->proceed);
    result->value = b;
    result->destroy = blocker_value_destroy;
    return 0;
}

static loom_future *run_blocker(blocker *b)
{
    return check_future(loom_run_in_thread(loop, blocker_work, b, blocker_arg_destroy));
}

/* --- results ------------------------------------------------------------------ */

static int square_work(void *arg, loom_work_result *result)
{
    intptr_t *n = arg;
    intptr_t *out = malloc(sizeof(*out));

    if (!out)
        return -ENOMEM;
    *out = *n * *n;
    result->value = out;
    result->destroy = free;
    return pthread_equal(pthread_self(), loop_thread) ? -EDEADLK : 0;
}

START_TEST(test_result_on_loop_thread)
{
    intptr_t n = 12;
    loom_future *f = check_future(loom_run_in_thread(loop, square_work, &n, NULL));
    ck_assert_int_eq(fixture_run_until(loop, f, WAIT_MS, "job"), 0); /* not run on the loop's thread */
    ck_assert_int_eq(*(intptr_t *)loom_future_value(f), 144);
    loom_future_unref(f);
    ck_assert_int_eq(count(&errors.count), 0);
}
END_TEST

static int failing_work(void *arg, loom_work_result *result)
{
    result->value = arg; /* destroyed because the job fails */
    result->destroy = blocker_arg_destroy;
    result->message = "the disk is on fire";
    return -EIO;
}

START_TEST(test_failure)
{
    blocker b;
    blocker_init(&b);
    loom_future *f = check_future(loom_run_in_thread(loop, failing_work, &b, NULL));
    ck_assert_int_eq(fixture_run_until(loop, f, WAIT_MS, "job"), -EIO);
    ck_assert_str_eq(loom_future_message(f), "the disk is on fire");
    ck_assert_int_eq(count(&b.arg_destroyed), 1);
    loom_future_unref(f);

    errno = 0;
    ck_assert_ptr_null(loom_run_in_thread(loop, NULL, NULL, NULL));
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* Many jobs at once on several threads: every completion callback runs on the
 * loop's thread, and each gets its own result. */
#define MANY 200

static intptr_t inputs[MANY];
static int completions;
static bool foreign_completion;

static void on_square(loom_future *f, void *data)
{
    intptr_t i = (intptr_t)data;

    if (!pthread_equal(pthread_self(), loop_thread))
        foreign_completion = true;
    ck_assert_int_eq(loom_future_status(f), 0);
    ck_assert_int_eq(*(intptr_t *)loom_future_value(f), i * i);
    completions++;
}

START_TEST(test_many_jobs)
{
    ck_assert_int_eq(loom_executor_set_threads(4), 0);
    loom_future *fs[MANY];
    completions = 0;
    foreign_completion = false;
    for (intptr_t i = 0; i < MANY; i++) {
        inputs[i] = i;
        fs[i] = check_future(loom_run_in_thread(loop, square_work, &inputs[i], NULL));
        ck_assert_int_eq(loom_future_on_done(fs[i], on_square, (void *)i), 0);
    }
    ck_assert_int_eq(loom_executor_set_threads(2), -EBUSY);
    loom_future *all = check_future(loom_future_all(loop, fs, MANY));
    ck_assert_int_eq(fixture_run_until(loop, all, WAIT_MS, "all jobs"), 0);
    ck_assert_int_eq(completions, MANY); /* each ran before all's own callback */
    ck_assert(!foreign_completion);
    for (int i = 0; i < MANY; i++)
        loom_future_unref(fs[i]);
    loom_future_unref(all);
}
END_TEST

/* --- cancellation --------------------------------------------------------------- */

START_TEST(test_cancel_before_start)
{
    ck_assert_int_eq(loom_executor_set_threads(1), 0);
    blocker busy, queued;
    blocker_init(&busy);
    blocker_init(&queued);

    loom_future *a = run_blocker(&busy);
    gate_wait(&busy.started); /* the only thread is taken */
    loom_future *b = run_blocker(&queued);
    ck_assert(loom_future_cancel(b));
    ck_assert_int_eq(count(&queued.arg_destroyed), 1); /* it will never run */

    gate_open(&busy.proceed);
    gate_open(&queued.proceed);
    ck_assert_int_eq(fixture_run_until(loop, a, WAIT_MS, "busy job"), 0);
    loom_executor_shutdown(); /* whatever was queued has run by now */
    ck_assert_int_eq(count(&queued.runs), 0);
    ck_assert_int_eq(loom_future_status(b), -ECANCELED);
    ck_assert_int_eq(count(&busy.runs), 1);
    ck_assert_int_eq(count(&busy.arg_destroyed), 1);

    loom_future_unref(a);
    ck_assert_int_eq(count(&busy.value_destroyed), 1);
    loom_future_unref(b);
}
END_TEST

START_TEST(test_cancel_while_running)
{
    blocker b;
    blocker_init(&b);
    b.stop_on_destroy = true;
    loom_future *f = run_blocker(&b);
    gate_wait(&b.started);
    ck_assert(loom_future_cancel(f));
    gate_open(&b.proceed);

    /* The result comes back to the loop's thread and is destroyed there. */
    fixture_run(loop, WAIT_MS, "result destroyed");
    ck_assert_int_eq(count(&b.value_destroyed), 1);
    ck_assert(flag(&b.destroyed_on_loop_thread));
    ck_assert_int_eq(count(&b.arg_destroyed), 1);
    ck_assert_int_eq(loom_future_status(f), -ECANCELED);
    loom_future_unref(f);
}
END_TEST

/* On a pool of one thread: a job that runs (blocked until released) and one
 * queued behind it. */
static void one_running_one_queued(blocker *running, loom_future **a, blocker *queued, loom_future **b)
{
    ck_assert_int_eq(loom_executor_set_threads(1), 0);
    blocker_init(running);
    blocker_init(queued);
    *a = run_blocker(running);
    gate_wait(&running->started);
    *b = run_blocker(queued);
}

/* After the loop closed: lets both jobs end; the queued one never ran, the
 * running one's result was destroyed, nothing leaks. */
static void finish_after_close(blocker *running, loom_future *a, blocker *queued, loom_future *b)
{
    gate_open(&running->proceed);
    gate_open(&queued->proceed);
    loom_executor_shutdown(); /* joins: both jobs are over */
    ck_assert_int_eq(count(&running->runs), 1);
    ck_assert_int_eq(count(&running->value_destroyed), 1);
    ck_assert_int_eq(count(&running->arg_destroyed), 1);
    ck_assert_int_eq(count(&queued->runs), 0);
    ck_assert_int_eq(count(&queued->arg_destroyed), 1);
    loom_future_unref(a);
    loom_future_unref(b);
}

/* The loop is closed while its jobs are queued and running: the queued one
 * never runs, the running one's result is destroyed, nothing leaks. */
START_TEST(test_loop_closed_with_work)
{
    blocker running, queued;
    loom_future *a, *b;
    one_running_one_queued(&running, &a, &queued, &b);

    ck_assert_int_eq(loom_loop_close(loop), 0);
    finish_after_close(&running, a, &queued, b);
}
END_TEST

static void note_close(loom_loop *l, void *data)
{
    *(bool *)data = true;
}

/* Jobs hold the loop's memory, not the loop open: the program's last unref
 * closes it at once, its jobs queued and running. */
START_TEST(test_last_unref_with_work_closes)
{
    blocker running, queued;
    loom_future *a, *b;
    bool closed = false;
    one_running_one_queued(&running, &a, &queued, &b);
    ck_assert_int_eq(loom_hook_add(loop, LOOM_HOOK_CLOSE, note_close, &closed, NULL, NULL), 0);

    loom_loop_unref(loop);
    loop = NULL; /* (teardown's unref) */
    ck_assert_msg(closed, "the last unref left the loop open while a job ran");
    ck_assert_int_eq(loom_future_state_get(b), LOOM_FUTURE_PENDING); /* never runs */
    finish_after_close(&running, a, &queued, b);
}
END_TEST

/* --- shutdown ------------------------------------------------------------------- */

/* The pool's threads alive now (they are named loom-worker). */
static int count_workers(void)
{
    DIR *dir = opendir("/proc/self/task");
    int n = 0;
    struct dirent *e;

    ck_assert_ptr_nonnull(dir);
    while ((e = readdir(dir))) {
        char path[300], name[32] = "";
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
        FILE *comm = fopen(path, "r");
        if (!comm)
            continue; /* the thread is gone */
        if (fgets(name, sizeof(name), comm) && strcmp(name, "loom-worker\n") == 0)
            n++;
        fclose(comm);
    }
    closedir(dir);
    return n;
}

/* count_workers once the kernel has reaped the joined ones: pthread_join
 * returns when a thread clears its tid, a moment before its /proc entry goes. */
static int count_workers_settled(int expected)
{
    int n = count_workers();
    for (int i = 0; i < 200 && n != expected; i++) {
        usleep(10 * 1000);
        n = count_workers();
    }
    return n;
}

static void *open_later(void *g)
{
    struct timespec delay = {0, 50 * 1000 * 1000};

    nanosleep(&delay, NULL);
    gate_open(g);
    return NULL;
}

START_TEST(test_shutdown_joins_and_cancels)
{
    blocker running, queued;
    loom_future *a, *b;
    one_running_one_queued(&running, &a, &queued, &b);
    ck_assert_int_eq(count_workers(), 1);

    /* Shutdown waits for the running job, let go a little later. */
    pthread_t opener;
    ck_assert_int_eq(pthread_create(&opener, NULL, open_later, &running.proceed), 0);
    loom_executor_shutdown();
    ck_assert_int_eq(count(&running.runs), 1);
    ck_assert_int_eq(count(&running.arg_destroyed), 1);
    pthread_join(opener, NULL);
    ck_assert_int_eq(count_workers_settled(0), 0);

    /* The results still arrive on the loop: a resolved, b cancelled. */
    ck_assert_int_eq(fixture_run_until(loop, a, WAIT_MS, "running job"), 0);
    ck_assert_int_eq(fixture_run_until(loop, b, WAIT_MS, "queued job"), -ECANCELED);
    ck_assert_int_eq(count(&queued.runs), 0);
    ck_assert_int_eq(count(&queued.arg_destroyed), 1);

    /* The pool starts again when used again. */
    intptr_t n = 3;
    loom_future *c = check_future(loom_run_in_thread(loop, square_work, &n, NULL));
    ck_assert_int_eq(fixture_run_until(loop, c, WAIT_MS, "job after shutdown"), 0);
    ck_assert_int_eq(*(intptr_t *)loom_future_value(c), 9);

    loom_future_unref(a);
    loom_future_unref(b);
    loom_future_unref(c);
}
END_TEST

/* --- thread failures and fork ----------------------------------------------------- */

/* Makes every pthread_create of this process fail (honestly: glibc cannot
 * map a stack larger than the address space); *normal keeps the default
 * attributes for threads_work_again. */
static void threads_fail(pthread_attr_t *normal)
{
    pthread_attr_t huge;

    ck_assert_int_eq(pthread_getattr_default_np(normal), 0);
    ck_assert_int_eq(pthread_attr_init(&huge), 0);
    ck_assert_int_eq(pthread_attr_setstacksize(&huge, (size_t)1 << 48), 0);
    ck_assert_int_eq(pthread_setattr_default_np(&huge), 0);
    pthread_attr_destroy(&huge);
}

static void threads_work_again(pthread_attr_t *normal)
{
    ck_assert_int_eq(pthread_setattr_default_np(normal), 0);
    pthread_attr_destroy(normal);
}

/* The first worker cannot start: the pool stays unstarted, so it may be
 * given more threads, and it then runs that many (it once kept the list
 * sized for the old count and wrote past it). */
#define WIDE 8

START_TEST(test_set_threads_after_failed_start)
{
    pthread_attr_t normal;
    intptr_t n = 2;

    ck_assert_int_eq(loom_executor_set_threads(1), 0);
    threads_fail(&normal);
    errno = 0;
    loom_future *f = loom_run_in_thread(loop, square_work, &n, NULL);
    int err = errno;
    threads_work_again(&normal);
    ck_assert_ptr_null(f);
    ck_assert_msg(err == EAGAIN || err == EINVAL, "errno %d", err); /* glibc's; valgrind's */

    ck_assert_int_eq(loom_executor_set_threads(WIDE), 0);
    blocker b[WIDE];
    loom_future *fs[WIDE];
    for (int i = 0; i < WIDE; i++) {
        blocker_init(&b[i]);
        fs[i] = run_blocker(&b[i]);
    }
    for (int i = 0; i < WIDE; i++) /* all at once: WIDE threads */
        gate_wait(&b[i].started);
    ck_assert_int_eq(count_workers(), WIDE);
    for (int i = 0; i < WIDE; i++)
        gate_open(&b[i].proceed);
    loom_future *all = check_future(loom_future_all(loop, fs, WIDE));
    ck_assert_int_eq(fixture_run_until(loop, all, WAIT_MS, "all jobs"), 0);
    for (int i = 0; i < WIDE; i++)
        loom_future_unref(fs[i]);
    loom_future_unref(all);
}
END_TEST

/* In a forked child: a new loop's job runs on the child's own pool, and the
 * parent's queued job does not (it would also take the only thread). Exit
 * status 0 when so, 1 when the job did not run in time, 2 on a failed
 * call, 3 when the parent's job ran. */
static void child_job_done(loom_future *f, void *child_loop)
{
    loom_loop_stop(child_loop);
}

static void child_gives_up(loom_loop *child_loop, void *data)
{
    loom_loop_stop(child_loop);
}

static int child_uses_executor(blocker *parents_queued)
{
    loom_loop *child_loop;
    loom_handle limit;
    intptr_t n = 7;

    if (loom_loop_new(&child_loop, NULL) < 0)
        return 2;
    loom_future *f = loom_run_in_thread(child_loop, square_work, &n, NULL);
    if (!f || loom_future_on_done(f, child_job_done, child_loop) < 0 ||
        loom_call_later(child_loop, fixture_scaled_ms(WAIT_MS) * INT64_C(1000000), child_gives_up, NULL,
                        &limit) < 0)
        return 2;
    loom_loop_run(child_loop);
    loom_cancel(child_loop, limit);
    int r = loom_future_done(f) && loom_future_status(f) == 0 && *(intptr_t *)loom_future_value(f) == 49 ? 0 : 1;
    loom_future_unref(f);
    loom_executor_shutdown();
    if (count(&parents_queued->runs) != 0)
        r = 3;
    loom_loop_close(child_loop);
    loom_loop_unref(child_loop);
    return r;
}

/* The parent's pool is busy (a job running, one queued) when it forks. */
START_TEST(test_fork_child_has_own_pool)
{
#ifdef __SANITIZE_THREAD__
    /* ThreadSanitizer ends a child that starts threads after a fork of a
     * multi-threaded process; the other builds run this test. */
    fprintf(stderr, "test_fork_child_has_own_pool: not run under ThreadSanitizer\n");
    return;
#endif
    blocker running, queued;
    loom_future *a, *b;
    one_running_one_queued(&running, &a, &queued, &b);

    /* The child reports through a pipe: under Valgrind its exit status is
     * Valgrind's, which counts what a child leaves of its parent's loops. */
    int report[2];
    ck_assert_int_eq(pipe(report), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        unsigned char step = (unsigned char)child_uses_executor(&queued);
        _exit(write(report[1], &step, 1) == 1 ? 0 : 1);
    }
    close(report[1]);
    unsigned char step = 255;
    ssize_t got = read(report[0], &step, 1);
    close(report[0]);
    waitpid(pid, NULL, 0);
    /* The parent's jobs go on before any assertion: a failure must not leave
     * a worker blocked for the teardown to join (CK_FORK=no). */
    gate_open(&running.proceed);
    gate_open(&queued.proceed);
    static const char *const failures[] = {"", "its job did not run", "a call failed", "the parent's job ran"};
    ck_assert_msg(got == 1, "the child died before it reported");
    ck_assert_msg(step == 0, "in the child, %s", failures[step & 3]);

    /* The parent's jobs are still its own. */
    ck_assert_int_eq(fixture_run_until(loop, b, WAIT_MS, "queued job"), 0);
    ck_assert_int_eq(count(&running.runs), 1);
    ck_assert_int_eq(count(&queued.runs), 1);
    loom_future_unref(a);
    loom_future_unref(b);
}
END_TEST

/* --- getaddrinfo ---------------------------------------------------------------- */

START_TEST(test_getaddrinfo_numeric)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST};
    loom_future *f = check_future(loom_getaddrinfo(loop, "127.0.0.1", "8080", &hints));
    ck_assert_int_eq(fixture_run_until(loop, f, WAIT_MS, "getaddrinfo"), 0);

    const struct addrinfo *ai = loom_future_value(f);
    ck_assert_ptr_nonnull(ai);
    ck_assert_int_eq(ai->ai_family, AF_INET);
    ck_assert_int_eq(ai->ai_socktype, SOCK_STREAM);
    const struct sockaddr_in *sin = (const struct sockaddr_in *)ai->ai_addr;
    ck_assert_uint_eq(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
    ck_assert_uint_eq(ntohs(sin->sin_port), 8080);
    loom_future_unref(f);
}
END_TEST

START_TEST(test_getaddrinfo_failure)
{
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST};
    loom_future *f = check_future(loom_getaddrinfo(loop, "not-an-address", NULL, &hints));
    ck_assert_int_eq(fixture_run_until(loop, f, WAIT_MS, "getaddrinfo"), -ENOENT);
    ck_assert_str_eq(loom_future_message(f), gai_strerror(EAI_NONAME));
    loom_future_unref(f);

    struct addrinfo bad = {.ai_family = 12345};
    f = check_future(loom_getaddrinfo(loop, "127.0.0.1", NULL, &bad));
    ck_assert_int_eq(fixture_run_until(loop, f, WAIT_MS, "getaddrinfo"), -EAFNOSUPPORT);
    ck_assert_ptr_nonnull(loom_future_message(f));
    loom_future_unref(f);
}
END_TEST

Suite *executor_suite(void)
{
    Suite *s = suite_create("executor");
    TCase *tc = fixture_tcase(s, "executor");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_result_on_loop_thread);
    tcase_add_test(tc, test_failure);
    tcase_add_test(tc, test_many_jobs);
    tcase_add_test(tc, test_cancel_before_start);
    tcase_add_test(tc, test_cancel_while_running);
    tcase_add_test(tc, test_loop_closed_with_work);
    tcase_add_test(tc, test_last_unref_with_work_closes);
    tcase_add_test(tc, test_shutdown_joins_and_cancels);
    tcase_add_test(tc, test_set_threads_after_failed_start);
    tcase_add_test(tc, test_fork_child_has_own_pool);
    tcase_add_test(tc, test_getaddrinfo_numeric);
    tcase_add_test(tc, test_getaddrinfo_failure);
    return s;
}
