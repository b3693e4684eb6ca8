/* loom — what only the GLib adapter has: the priority of loom's source among
 * GLib's, the context a loop runs on, and the adapter's own API. A program of
 * its own (not part of the shared suite); each test gets a fresh context
 * pushed as the thread-default one. */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <check.h>
#include <glib-unix.h>
#include <loom/process.h>
#include <loom/signal.h>
#include <loom/loom-glib.h>

static GMainContext *context;

static void setup(void)
{
    context = g_main_context_new();
    g_main_context_push_thread_default(context);
}

static void teardown(void)
{
    g_main_context_pop_thread_default(context);
    g_main_context_unref(context);
}

static loom_loop *glib_loop_new(void)
{
    loom_loop *loop = NULL;

    ck_assert_int_eq(loom_glib_loop_new(&loop, NULL), 0);
    return loop;
}

static void free_loop(loom_loop *loop)
{
    ck_assert_int_eq(loom_loop_close(loop), 0);
    loom_loop_unref(loop);
}

/* Who ran, in order: one letter each. */
typedef struct trace {
    char seen[64];
    int n;
} trace;

typedef struct trace_entry {
    trace *trace;
    char letter;
} trace_entry;

static void record(trace_entry *e)
{
    ck_assert_int_lt(e->trace->n, (int)sizeof(e->trace->seen) - 1);
    e->trace->seen[e->trace->n++] = e->letter;
}

static void record_loom(loom_loop *loop, void *data)
{
    record(data);
}

static gboolean record_once(gpointer data)
{
    record(data);
    return G_SOURCE_REMOVE;
}

static void add_idle(int priority, GSourceFunc fn, void *data)
{
    GSource *idle = g_idle_source_new();

    g_source_set_priority(idle, priority);
    g_source_set_callback(idle, fn, data, NULL);
    g_source_attach(idle, context);
    g_source_unref(idle);
}

/* Iterates the context without blocking until trace holds n entries. */
static void iterate_until_traced(const trace *t, int n)
{
    for (int i = 0; i < 1000 && t->n < n; i++)
        g_main_context_iteration(context, FALSE);
    ck_assert_int_eq(t->n, n);
}

/* By default loom's source is at G_PRIORITY_DEFAULT: one step higher runs
 * first, one step lower after, whatever the order they were scheduled in. */
START_TEST(test_default_priority)
{
    loom_loop *loop = glib_loop_new();
    trace t = {.n = 0};
    trace_entry lower = {&t, 'l'}, loom = {&t, 'L'}, higher = {&t, 'h'};

    add_idle(G_PRIORITY_DEFAULT + 1, record_once, &lower);
    ck_assert_int_eq(loom_call_soon(loop, record_loom, &loom, NULL), 0);
    add_idle(G_PRIORITY_DEFAULT - 1, record_once, &higher);
    iterate_until_traced(&t, 3);
    ck_assert_str_eq(t.seen, "hLl");
    free_loop(loop);
}
END_TEST

typedef struct traced_reader {
    trace_entry entry;
    int fd;
} traced_reader;

static void record_read(loom_loop *loop, int fd, unsigned events, void *data)
{
    char c;

    ck_assert_int_eq(read(fd, &c, 1), 1);
    ck_assert_int_eq(loom_remove_reader(loop, fd), 0);
    record(data);
}

/* The same for an fd event, which loom's source sees only when GLib polls:
 * sources above it still run first, those below after. */
START_TEST(test_fd_event_priority)
{
    loom_loop *loop = glib_loop_new();
    trace t = {.n = 0};
    trace_entry lower = {&t, 'l'}, higher = {&t, 'h'};
    trace_entry reader = {&t, 'R'};
    int sv[2];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(write(sv[1], "x", 1), 1);
    add_idle(G_PRIORITY_DEFAULT + 1, record_once, &lower);
    ck_assert_int_eq(loom_add_reader(loop, sv[0], record_read, &reader), 0);
    add_idle(G_PRIORITY_DEFAULT - 1, record_once, &higher);
    iterate_until_traced(&t, 3);
    ck_assert_str_eq(t.seen, "hRl");
    free_loop(loop);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

START_TEST(test_set_priority)
{
    loom_loop *loop = glib_loop_new();
    trace t = {.n = 0};
    trace_entry idle = {&t, 'i'}, loom = {&t, 'L'};

    ck_assert_int_eq(loom_glib_loop_set_priority(loop, G_PRIORITY_LOW), 0);
    ck_assert_int_eq(loom_call_soon(loop, record_loom, &loom, NULL), 0);
    add_idle(G_PRIORITY_DEFAULT_IDLE, record_once, &idle);
    iterate_until_traced(&t, 2);
    ck_assert_str_eq(t.seen, "iL");
    free_loop(loop);
}
END_TEST

/* A chain of callbacks, each scheduling the next: loom stays ready. */
typedef struct chain {
    int left;
    int busy_at_end; /* the busy idle's count when the chain ended */
    const int *busy;
} chain;

static void chain_step(loom_loop *loop, void *data)
{
    chain *c = data;

    if (--c->left > 0)
        ck_assert_int_eq(loom_call_soon(loop, chain_step, c, NULL), 0);
    else
        c->busy_at_end = *c->busy;
}

static gboolean count_busy(gpointer data)
{
    ++*(int *)data;
    return G_SOURCE_CONTINUE;
}

static void count_reads(loom_loop *loop, int fd, unsigned events, void *data)
{
    ++*(int *)data; /* the byte stays: the watch stays ready */
}

/* More ready watches than the core's epoll set gives in one batch (128): one
 * GLib iteration delivers several batches, so the host's iteration is paid
 * once for them, yet loom's dispatch returns while every watch stays ready,
 * and a GLib source of the same priority runs in that iteration too. */
START_TEST(test_many_ready_watches)
{
    enum { PAIRS = 200 };
    loom_loop *loop = glib_loop_new();
    int sv[PAIRS][2], reads = 0, idles = 0;

    for (int i = 0; i < PAIRS; i++) {
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv[i]), 0);
        ck_assert_int_eq(write(sv[i][1], "x", 1), 1);
        ck_assert_int_eq(loom_add_reader(loop, sv[i][0], count_reads, &reads), 0);
    }
    add_idle(G_PRIORITY_DEFAULT, count_busy, &idles);
    for (int i = 0; i < 1000 && reads == 0; i++)
        g_main_context_iteration(context, FALSE);
    ck_assert_int_gt(reads, 128);
    ck_assert_int_eq(idles, 1);
    for (int i = 0; i < PAIRS; i++) {
        ck_assert_int_eq(loom_remove_reader(loop, sv[i][0]), 0);
        close(sv[i][0]);
        close(sv[i][1]);
    }
    free_loop(loop);
}
END_TEST

/* A lower-priority source that is always ready runs only while loom has
 * nothing ready, and then it does run. */
START_TEST(test_lower_priority_runs_after)
{
    loom_loop *loop = glib_loop_new();
    int busy = 0;
    chain c = {.left = 10, .busy_at_end = -1, .busy = &busy};

    add_idle(G_PRIORITY_LOW, count_busy, &busy);
    ck_assert_int_eq(loom_call_soon(loop, chain_step, &c, NULL), 0);
    for (int i = 0; i < 1000 && c.left > 0; i++)
        g_main_context_iteration(context, FALSE);
    ck_assert_int_eq(c.left, 0);
    ck_assert_int_eq(c.busy_at_end, 0);
    g_main_context_iteration(context, FALSE);
    ck_assert_int_gt(busy, 0);
    free_loop(loop);
}
END_TEST

static void stop(loom_loop *loop, void *data)
{
    ck_assert_int_eq(loom_loop_stop(loop), 0);
}

/* ...and it does not starve loom's timers, which need no poll timeout to
 * fire (the test's time limit fails it if the timer never runs), while the
 * lower source does run between the timer's arming and its firing. That
 * needs the timer not to be due at loom's first poll already: after a slow
 * iteration (valgrind) it may be, so the wait is tried again, twice as
 * long each time, a few times. */
typedef struct timed_wait {
    const int *busy;
    int busy_at_arm;
    int64_t delay_ns;
    int tries;
    bool busy_meanwhile;
} timed_wait;

static void arm_wait(loom_loop *loop, timed_wait *w);

static void wait_over(loom_loop *loop, void *data)
{
    timed_wait *w = data;

    w->busy_meanwhile = *w->busy > w->busy_at_arm;
    if (w->busy_meanwhile || w->tries == 6)
        ck_assert_int_eq(loom_loop_stop(loop), 0);
    else
        arm_wait(loop, w);
}

static void arm_wait(loom_loop *loop, timed_wait *w)
{
    w->busy_at_arm = *w->busy;
    w->delay_ns = w->tries++ ? w->delay_ns * 2 : 5 * INT64_C(1000000);
    ck_assert_int_eq(loom_call_later(loop, w->delay_ns, wait_over, w, NULL), 0);
}

START_TEST(test_lower_priority_does_not_starve_timers)
{
    loom_loop *loop = glib_loop_new();
    int busy = 0;
    timed_wait w = {.busy = &busy};

    add_idle(G_PRIORITY_LOW, count_busy, &busy);
    arm_wait(loop, &w);
    ck_assert_int_eq(loom_loop_run(loop), 0);
    ck_assert_msg(w.busy_meanwhile, "the lower source never ran while loom waited for its timer");
    free_loop(loop);
}
END_TEST

/* A loom callback dispatched by GLib runs a nested main loop on the same
 * context (a modal dialog would): loom's source must be allowed to recurse,
 * or nothing of loom's runs until the nested loop ends. */
typedef struct nested {
    GMainLoop *main_loop;
    bool timer_ran_inside, gave_up;
} nested;

static void quit_nested(loom_loop *loop, void *data)
{
    nested *n = data;

    n->timer_ran_inside = true;
    g_main_loop_quit(n->main_loop);
}

static gboolean give_up(gpointer data)
{
    nested *n = data;

    n->gave_up = true;
    g_main_loop_quit(n->main_loop);
    return G_SOURCE_REMOVE;
}

static void run_nested(loom_loop *loop, void *data)
{
    nested *n = data;
    GSource *guard = g_timeout_source_new(2000);

    g_source_set_callback(guard, give_up, n, NULL);
    g_source_attach(guard, context);
    ck_assert_int_eq(loom_call_later(loop, 1000000, quit_nested, n, NULL), 0);
    g_main_loop_run(n->main_loop);
    g_source_destroy(guard);
    g_source_unref(guard);
}

START_TEST(test_runs_inside_nested_main_loop)
{
    loom_loop *loop = glib_loop_new();
    nested n = {.main_loop = g_main_loop_new(context, FALSE)};

    ck_assert_int_eq(loom_call_soon(loop, run_nested, &n, NULL), 0);
    for (int i = 0; i < 1000 && !n.timer_ran_inside && !n.gave_up; i++)
        g_main_context_iteration(context, FALSE);
    ck_assert_msg(!n.gave_up, "loom's timer did not run inside the nested main loop");
    ck_assert(n.timer_ran_inside);
    g_main_loop_unref(n.main_loop);
    free_loop(loop);
}
END_TEST

static void ignore_fd(loom_loop *loop, int fd, unsigned events, void *data)
{
}

static void count_errors(loom_loop *loop, int err, const char *msg, void *data)
{
    ++*(int *)data;
}

static gboolean set_flag(gpointer data)
{
    *(bool *)data = true;
    return G_SOURCE_REMOVE;
}

/* Whether this run keeps every watch with GLib (LOOM_ONE_FD=0, backend.h). */
static bool per_fd_mode(void)
{
    const char *env = getenv("LOOM_ONE_FD");

    return env && strcmp(env, "0") == 0;
}

/* An fd closed under its watch is reported once and then no longer polled:
 * poll would report it invalid at once, every time, and the context would
 * spin without ever dispatching loom. Counts blocking iterations in 50 ms.
 * With one fd for all watches, epoll forgets the closed file by itself:
 * nothing to report, nothing to spin on. */
START_TEST(test_closed_fd_leaves_poll)
{
    loom_loop *loop = glib_loop_new();
    int fds[2], errors = 0, iterations = 0;
    int reported = per_fd_mode() ? 1 : 0;
    bool done = false;
    GSource *timeout = g_timeout_source_new(50);

    ck_assert_int_eq(loom_loop_set_error_handler(loop, count_errors, &errors), 0);
    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(loom_add_reader(loop, fds[0], ignore_fd, NULL), 0);
    close(fds[0]);
    for (int i = 0; i < 1000 && errors < reported; i++)
        g_main_context_iteration(context, FALSE);
    ck_assert_int_eq(errors, reported);
    g_source_set_callback(timeout, set_flag, &done, NULL);
    g_source_attach(timeout, context);
    g_source_unref(timeout);
    while (!done) {
        g_main_context_iteration(context, TRUE);
        ck_assert_int_lt(++iterations, 100);
    }
    ck_assert_int_eq(errors, reported);
    ck_assert_int_eq(loom_remove_reader(loop, fds[0]), 0);
    close(fds[1]);
    free_loop(loop);
}
END_TEST

/* A loop on a context of its own keeps it alive and leaves the thread's
 * default context alone. */
START_TEST(test_explicit_context)
{
    GMainContext *own = g_main_context_new();
    loom_loop *loop = NULL;

    ck_assert_int_eq(loom_glib_loop_new(&loop, own), 0);
    ck_assert_ptr_eq(loom_glib_loop_context(loop), own);
    g_main_context_unref(own); /* the loop's reference remains */
    ck_assert_int_eq(loom_call_soon(loop, stop, NULL, NULL), 0);
    ck_assert(!g_main_context_pending(context));
    ck_assert_int_eq(loom_loop_run(loop), 0);
    free_loop(loop);
}
END_TEST

/* The loop holds the last reference to its context and drops it while
 * its source dispatches (a callback drops the last loom reference while the
 * host iterates the context it got from the loop): the context must outlive
 * that dispatch, or GLib goes on in freed memory (or hangs), and go once no
 * dispatch runs. A source of the test's own tells when the context went. */
static void drop_last_loom_reference(loom_loop *loop, void *data)
{
    *(bool *)data = true;
    loom_loop_unref(loop);
}

typedef struct probe_source {
    GSource source;
    bool *finalized;
} probe_source;

static void probe_finalize(GSource *source)
{
    *((probe_source *)source)->finalized = true;
}

static GSourceFuncs probe_funcs = {.finalize = probe_finalize};

START_TEST(test_last_reference_to_context_dropped_in_dispatch)
{
    GMainContext *own = g_main_context_new();
    loom_loop *loop = NULL;
    bool dropped = false, context_gone = false;
    GSource *probe = g_source_new(&probe_funcs, sizeof(probe_source));

    ((probe_source *)probe)->finalized = &context_gone;
    g_source_attach(probe, own);
    g_source_unref(probe); /* the context's now */
    ck_assert_int_eq(loom_glib_loop_new(&loop, own), 0);
    g_main_context_unref(own); /* the loop's reference is the last */
    ck_assert_int_eq(loom_call_soon(loop, drop_last_loom_reference, &dropped, NULL), 0);
    GMainContext *borrowed = loom_glib_loop_context(loop);
    while (!dropped)
        g_main_context_iteration(borrowed, FALSE);
    ck_assert(!context_gone);
    free_loop(glib_loop_new()); /* loom, outside any dispatch */
    ck_assert(context_gone);
}
END_TEST

START_TEST(test_thread_default_context)
{
    loom_loop *loop = glib_loop_new();

    ck_assert_str_eq(loom_loop_backend_name(loop), "glib");
    ck_assert(loom_loop_can_nest(loop));
    ck_assert_ptr_eq(loom_glib_loop_context(loop), context);
    free_loop(loop);
}
END_TEST

START_TEST(test_api_errors)
{
    loom_loop *builtin = NULL;
    loom_loop *loop = glib_loop_new();

    ck_assert_int_eq(loom_glib_loop_new(NULL, NULL), -EINVAL);
    ck_assert_int_eq(loom_glib_loop_set_priority(NULL, G_PRIORITY_HIGH), -EINVAL);
    ck_assert_ptr_null(loom_glib_loop_context(NULL));

    ck_assert_int_eq(loom_loop_new(&builtin, "poll"), 0);
    ck_assert_int_eq(loom_glib_loop_set_priority(builtin, G_PRIORITY_HIGH), -EINVAL);
    ck_assert_ptr_null(loom_glib_loop_context(builtin));
    free_loop(builtin);

    ck_assert_int_eq(loom_loop_close(loop), 0);
    ck_assert_int_eq(loom_glib_loop_set_priority(loop, G_PRIORITY_HIGH), -ESHUTDOWN);
    ck_assert_ptr_null(loom_glib_loop_context(loop));
    loom_loop_unref(loop);
}
END_TEST

/* After a burst of work the context settles: nothing of loom's stays ready,
 * so an idle program sleeps in poll and loom does not tick. */
START_TEST(test_settles_after_work)
{
    loom_loop *loop = glib_loop_new();
    int busy = 0;
    chain c = {.left = 10, .busy_at_end = -1, .busy = &busy};
    trace t = {.n = 0};
    trace_entry timer = {&t, 'T'};
    uint64_t ticks;

    ck_assert_int_eq(loom_call_soon(loop, chain_step, &c, NULL), 0);
    ck_assert_int_eq(loom_call_later(loop, 1000, record_loom, &timer, NULL), 0);
    for (int i = 0; i < 1000 && (c.left > 0 || t.n < 1); i++)
        g_main_context_iteration(context, FALSE);
    ck_assert(c.left == 0 && t.n == 1);
    ticks = loom_loop_ticks(loop);
    ck_assert(!g_main_context_pending(context));
    for (int i = 0; i < 10; i++)
        g_main_context_iteration(context, FALSE);
    ck_assert_uint_eq(loom_loop_ticks(loop), ticks);
    free_loop(loop);
}
END_TEST

/* The host gives its loop to a worker thread, which drops the last
 * reference while the host keeps iterating the context: the close happens on
 * the host's thread (never under its dispatch), and loom's source goes. */
static int loom_sources(void)
{
    GSource *probe = g_idle_source_new(); /* its id bounds the ids in use */
    guint next = g_source_attach(probe, context);
    g_source_destroy(probe);
    g_source_unref(probe);
    int n = 0;
    for (guint id = 1; id < next; id++) {
        GSource *source = g_main_context_find_source_by_id(context, id);
        if (source && g_strcmp0(g_source_get_name(source), "loom") == 0)
            n++;
    }
    return n;
}

static void keep_busy(loom_loop *loop, void *data)
{
    loom_call_soon(loop, keep_busy, NULL, NULL);
}

static void *drop_reference(void *loop)
{
    usleep((useconds_t)(rand() % 2000));
    loom_loop_unref(loop);
    return NULL;
}

START_TEST(test_last_unref_on_another_thread)
{
    for (int round = 0; round < 50; round++) {
        loom_loop *loop = glib_loop_new();
        loom_loop_set_error_handler(loop, NULL, NULL);
        ck_assert_int_eq(loom_call_soon(loop, keep_busy, NULL, NULL), 0);
        pthread_t worker;
        ck_assert_int_eq(pthread_create(&worker, NULL, drop_reference, loom_loop_ref(loop)), 0);
        loom_loop_unref(loop); /* the worker's reference is the last */
        gint64 limit = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
        while (loom_sources() > 0 && g_get_monotonic_time() < limit)
            g_main_context_iteration(context, FALSE);
        ck_assert_int_eq(loom_sources(), 0);
        pthread_join(worker, NULL);
    }
    /* Each loop closed inside its own tick, so inside a GLib dispatch: its
     * context reference waits for the thread's next loom GLib call outside a
     * dispatch (loom-glib.h). Make one, or the last context outlives the test. */
    free_loop(glib_loop_new());
}
END_TEST

/* GLib's g_unix_signal_add never chains to an earlier handler: with its
 * source made first and loom's watch after, loom's handler chains to GLib's
 * and both see each signal; removing loom's watch gives GLib its handler
 * back. */
typedef struct signal_seen {
    int glib, loom;
} signal_seen;

static gboolean glib_saw_signal(gpointer data)
{
    ((signal_seen *)data)->glib++;
    return G_SOURCE_CONTINUE;
}

static void loom_saw_signal(loom_loop *loop, int signo, unsigned count, void *data)
{
    ((signal_seen *)data)->loom += (int)count;
}

static void iterate_until_seen(const signal_seen *seen, int glib, int loom)
{
    gint64 limit = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    while ((seen->glib < glib || seen->loom < loom) && g_get_monotonic_time() < limit)
        g_main_context_iteration(context, TRUE);
    ck_assert_int_eq(seen->glib, glib);
    ck_assert_int_eq(seen->loom, loom);
}

START_TEST(test_signal_beside_g_unix_signal_add)
{
    loom_loop *loop = glib_loop_new();
    signal_seen seen = {0, 0};
    GSource *source = g_unix_signal_source_new(SIGUSR1);

    g_source_set_callback(source, glib_saw_signal, &seen, NULL);
    g_source_attach(source, context);
    ck_assert_int_eq(loom_signal_watch(loop, SIGUSR1, loom_saw_signal, &seen, NULL), 0);
    ck_assert_int_eq(raise(SIGUSR1), 0);
    iterate_until_seen(&seen, 1, 1);
    ck_assert_int_eq(raise(SIGUSR1), 0);
    iterate_until_seen(&seen, 2, 2);
    ck_assert_int_eq(loom_signal_unwatch(loop, SIGUSR1), 0);
    ck_assert_int_eq(raise(SIGUSR1), 0);
    iterate_until_seen(&seen, 3, 2);
    g_source_destroy(source);
    g_source_unref(source);
    free_loop(loop);
}
END_TEST

/* Children of GLib (g_child_watch_add) and of loom side by side: each is
 * reaped once, by its owner, with its own status. Without pidfds loom
 * chains to GLib's SIGCHLD handler, so GLib's watches come first there. */
#define SIDE_BY_SIDE 5

typedef struct child_seen {
    int glib_calls, glib_bad;
} child_seen;

static void glib_child_exited(GPid pid, gint status, gpointer data)
{
    child_seen *seen = data;

    seen->glib_calls++;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 9)
        seen->glib_bad++;
    g_spawn_close_pid(pid);
}

static void children_side_by_side(void)
{
    loom_loop *loop = glib_loop_new();
    child_seen seen = {0, 0};
    char *glib_argv[] = {"sh", "-c", "exit 9", NULL};
    const char *loom_argv[] = {"sh", "-c", "exit 7", NULL};
    loom_process *children[SIDE_BY_SIDE];
    loom_future *exits[SIDE_BY_SIDE];

    for (int i = 0; i < SIDE_BY_SIDE; i++) {
        GPid pid;
        ck_assert(g_spawn_async(NULL, glib_argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH, NULL,
                                NULL, &pid, NULL));
        GSource *watch = g_child_watch_source_new(pid);
        g_source_set_callback(watch, (GSourceFunc)(void (*)(void))glib_child_exited, &seen, NULL);
        g_source_attach(watch, context);
        g_source_unref(watch);
    }
    for (int i = 0; i < SIDE_BY_SIDE; i++) {
        ck_assert_int_eq(loom_process_spawn(loop, loom_argv, NULL, &children[i]), 0);
        exits[i] = loom_process_exit_future(children[i]);
    }
    gint64 limit = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    bool loom_done = false;
    while ((seen.glib_calls < SIDE_BY_SIDE || !loom_done) && g_get_monotonic_time() < limit) {
        g_main_context_iteration(context, TRUE);
        loom_done = true;
        for (int i = 0; i < SIDE_BY_SIDE; i++)
            loom_done = loom_done && loom_future_done(exits[i]);
    }
    ck_assert_int_eq(seen.glib_calls, SIDE_BY_SIDE);
    ck_assert_int_eq(seen.glib_bad, 0);
    for (int i = 0; i < SIDE_BY_SIDE; i++) {
        ck_assert_int_eq(loom_future_status(exits[i]), 0);
        ck_assert_int_eq(loom_future_value_int(exits[i]), 7);
        loom_future_unref(exits[i]);
        loom_process_free(children[i]);
    }
    free_loop(loop);
}

START_TEST(test_children_beside_g_child_watch)
{
    children_side_by_side();
}
END_TEST

START_TEST(test_children_beside_g_child_watch_fallback)
{
    ck_assert_int_eq(setenv("LOOM_NO_PIDFD", "1", 1), 0);
    children_side_by_side();
    unsetenv("LOOM_NO_PIDFD");
}
END_TEST

static Suite *glib_only_suite(void)
{
    Suite *s = suite_create("glib-only");
    TCase *tc = tcase_create("glib");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_default_priority);
    tcase_add_test(tc, test_set_priority);
    tcase_add_test(tc, test_fd_event_priority);
    tcase_add_test(tc, test_lower_priority_runs_after);
    tcase_add_test(tc, test_lower_priority_does_not_starve_timers);
    tcase_add_test(tc, test_many_ready_watches);
    tcase_add_test(tc, test_runs_inside_nested_main_loop);
    tcase_add_test(tc, test_closed_fd_leaves_poll);
    tcase_add_test(tc, test_explicit_context);
    tcase_add_test(tc, test_thread_default_context);
    tcase_add_test(tc, test_last_reference_to_context_dropped_in_dispatch);
    tcase_add_test(tc, test_api_errors);
    tcase_add_test(tc, test_settles_after_work);
    tcase_add_test(tc, test_last_unref_on_another_thread);
    tcase_add_test(tc, test_signal_beside_g_unix_signal_add);
    tcase_add_test(tc, test_children_beside_g_child_watch);
    tcase_add_test(tc, test_children_beside_g_child_watch_fallback);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(glib_only_suite());
    int failed;

    srunner_run_all(runner, CK_ENV);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
