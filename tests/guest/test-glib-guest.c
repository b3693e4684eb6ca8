/* loom — the GLib guest on every host that can carry it: a GMainContext of
 * its own driven from the loop under test (tests/conformance/host-<backend>.c;
 * on the GLib host, the loop runs on another context). GIO's async calls are
 * awaited from loom tasks; the context is pushed as the thread-default one,
 * where GIO delivers its results. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <loom/loom-glib.h>
#include "../conformance/fixture.h"

typedef struct guest_env {
    loom_loop *loop;
    GMainContext *ctx;
    loom_glib_guest *guest;
} guest_env;

static guest_env env_new(void)
{
    guest_env e = {.loop = host_loop_new(), .ctx = g_main_context_new()};

    g_main_context_push_thread_default(e.ctx);
    ck_assert_int_eq(loom_glib_guest_new(&e.guest, e.loop, e.ctx), 0);
    return e;
}

static void env_free(guest_env *e)
{
    loom_glib_guest_free(e->guest);
    g_main_context_pop_thread_default(e->ctx);
    g_main_context_unref(e->ctx);
    fixture_free_loop(e->loop);
}

/* Whether loom runs inside nested GLib loops on this host (see loom-glib.h). */
static bool nests_in_glib(loom_loop *loop)
{
    return loom_loop_get_fd(loop) >= 0;
}

static void attach(GMainContext *ctx, GSource *source, int priority, GSourceFunc fn, gpointer data)
{
    g_source_set_priority(source, priority);
    g_source_set_callback(source, fn, data, NULL);
    g_source_attach(source, ctx);
    g_source_unref(source);
}

static gboolean stop_loop(gpointer data)
{
    loom_loop_stop(data);
    return G_SOURCE_REMOVE;
}

static void stop_soon(GMainContext *ctx, loom_loop *loop)
{
    attach(ctx, g_idle_source_new(), G_PRIORITY_DEFAULT_IDLE, stop_loop, loop);
}

/* --- GIO awaited from tasks ------------------------------------------------------ */

/* A GAsyncReadyCallback that resolves the future in data with the result. */
static void resolve_result(GObject *source, GAsyncResult *res, gpointer data)
{
    loom_future_resolve(data, g_object_ref(res), g_object_unref);
}

/* Awaits the future of resolve_result; the result is the future's. */
static GAsyncResult *await_result(loom_future *f)
{
    ck_assert_int_eq(loom_await(f), 0);
    return loom_future_value(f);
}

typedef struct file_job {
    loom_loop *loop;
    const char *path;
    char *contents;
    gsize len;
} file_job;

static int read_file_task(void *arg)
{
    file_job *job = arg;
    GFile *file = g_file_new_for_path(job->path);
    loom_future *f = loom_future_new(job->loop);
    GError *error = NULL;

    g_file_load_contents_async(file, NULL, resolve_result, f);
    ck_assert_msg(g_file_load_contents_finish(file, await_result(f), &job->contents, &job->len, NULL, &error),
                  "g_file_load_contents: %s", error ? error->message : "?");
    loom_future_unref(f);
    g_object_unref(file);
    return 0;
}

START_TEST(gio_file_read_from_task)
{
    guest_env e = env_new();
    char path[] = "/tmp/loom-guest-XXXXXX";
    int fd = mkstemp(path);
    file_job job = {.loop = e.loop, .path = path};
    loom_future *task;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "hello guest", 11), 11);
    close(fd);
    task = loom_task_spawn(e.loop, read_file_task, &job);
    ck_assert_int_eq(fixture_run_until(e.loop, task, 5000, "g_file_load_contents_async"), 0);
    ck_assert_uint_eq(job.len, 11);
    ck_assert_str_eq(job.contents, "hello guest");
    ck_assert_uint_gt(loom_glib_guest_dispatches(e.guest), 0);
    g_free(job.contents);
    loom_future_unref(task);
    unlink(path);
    env_free(&e);
}
END_TEST

/* Reads up to len bytes from stream in a task; returns the count. */
static gssize task_read(loom_loop *loop, GInputStream *in, char *buf, gsize len)
{
    loom_future *f = loom_future_new(loop);
    gssize n;

    g_input_stream_read_async(in, buf, len, G_PRIORITY_DEFAULT, NULL, resolve_result, f);
    n = g_input_stream_read_finish(in, await_result(f), NULL);
    loom_future_unref(f);
    return n;
}

static void task_write(loom_loop *loop, GOutputStream *out, const char *text)
{
    loom_future *f = loom_future_new(loop);

    g_output_stream_write_all_async(out, text, strlen(text), G_PRIORITY_DEFAULT, NULL, resolve_result, f);
    ck_assert(g_output_stream_write_all_finish(out, await_result(f), NULL, NULL));
    loom_future_unref(f);
}

typedef struct peer {
    loom_loop *loop;
    GSocketConnection *conn; /* the server's: our reference */
    guint16 port;
    char reply[16];
} peer;

static int serve_task(void *arg)
{
    peer *p = arg;
    char buf[16] = {0};

    ck_assert_int_eq(task_read(p->loop, g_io_stream_get_input_stream(G_IO_STREAM(p->conn)), buf, 4), 4);
    ck_assert_str_eq(buf, "ping");
    task_write(p->loop, g_io_stream_get_output_stream(G_IO_STREAM(p->conn)), "pong");
    g_object_unref(p->conn);
    g_free(p);
    return 0;
}

static gboolean on_incoming(GSocketService *service, GSocketConnection *conn, GObject *source, gpointer data)
{
    peer *p = g_new0(peer, 1);

    *p = (peer){.loop = data, .conn = g_object_ref(conn)};
    loom_future_unref(loom_task_spawn(p->loop, serve_task, p));
    return TRUE;
}

static int client_task(void *arg)
{
    peer *p = arg;
    GSocketClient *client = g_socket_client_new();
    loom_future *f = loom_future_new(p->loop);
    GSocketConnection *conn;

    g_socket_client_connect_to_host_async(client, "127.0.0.1", p->port, NULL, resolve_result, f);
    conn = g_socket_client_connect_to_host_finish(client, await_result(f), NULL);
    ck_assert_ptr_nonnull(conn);
    task_write(p->loop, g_io_stream_get_output_stream(G_IO_STREAM(conn)), "ping");
    ck_assert_int_eq(task_read(p->loop, g_io_stream_get_input_stream(G_IO_STREAM(conn)), p->reply, 4), 4);
    g_object_unref(conn);
    loom_future_unref(f);
    g_object_unref(client);
    return 0;
}

START_TEST(gio_socket_exchange_on_loopback)
{
    guest_env e = env_new();
    GSocketService *service = g_socket_service_new();
    GInetAddress *lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    GSocketAddress *addr = g_inet_socket_address_new(lo, 0), *bound = NULL;
    peer client = {.loop = e.loop};
    loom_future *task;

    ck_assert(g_socket_listener_add_address(G_SOCKET_LISTENER(service), addr, G_SOCKET_TYPE_STREAM,
                                            G_SOCKET_PROTOCOL_TCP, NULL, &bound, NULL));
    client.port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
    g_signal_connect(service, "incoming", G_CALLBACK(on_incoming), e.loop);
    g_socket_service_start(service);
    task = loom_task_spawn(e.loop, client_task, &client);
    ck_assert_int_eq(fixture_run_until(e.loop, task, 5000, "ping/pong over GIO"), 0);
    ck_assert_str_eq(client.reply, "pong");
    g_socket_service_stop(service);
    fixture_settle(e.loop); /* the guest drops the listener's fd before it is closed */
    g_socket_listener_close(G_SOCKET_LISTENER(service));
    g_object_unref(service);
    g_object_unref(bound);
    g_object_unref(addr);
    g_object_unref(lo);
    loom_future_unref(task);
    fixture_settle(e.loop);
    env_free(&e);
}
END_TEST

/* --- ordering, priorities, fairness ---------------------------------------------- */

typedef struct trace {
    char seen[32];
    int n;
    loom_loop *loop;
} trace;

typedef struct mark {
    trace *trace;
    char letter;
    bool last;
} mark;

static void record(mark *m)
{
    ck_assert_int_lt(m->trace->n, (int)sizeof(m->trace->seen) - 1);
    m->trace->seen[m->trace->n++] = m->letter;
    if (m->last)
        loom_loop_stop(m->trace->loop);
}

static gboolean record_glib(gpointer data)
{
    record(data);
    return G_SOURCE_REMOVE;
}

static void record_loom(loom_loop *loop, void *data)
{
    record(data);
}

START_TEST(timeouts_idles_and_priorities_in_glib_order)
{
    guest_env e = env_new();
    trace t = {.loop = e.loop};
    mark idle = {&t, 'i', false}, high = {&t, 'h', false}, zero = {&t, 't', false};
    mark later = {&t, 'T', true}, loom = {&t, 'L', false};

    attach(e.ctx, g_idle_source_new(), G_PRIORITY_DEFAULT_IDLE, record_glib, &idle);
    attach(e.ctx, g_idle_source_new(), G_PRIORITY_HIGH, record_glib, &high);
    attach(e.ctx, g_timeout_source_new(0), G_PRIORITY_DEFAULT, record_glib, &zero);
    attach(e.ctx, g_timeout_source_new(60), G_PRIORITY_DEFAULT, record_glib, &later);
    ck_assert_int_eq(loom_call_later(e.loop, LOOM_MSEC(30), record_loom, &loom, NULL), 0);
    fixture_run(e.loop, 5000, "GLib timeouts and idles");
    ck_assert_str_eq(t.seen, "htiLT");
    env_free(&e);
}
END_TEST

typedef struct pair {
    loom_loop *loop;
    bool idle, fd;
} pair;

static void pair_done(pair *p)
{
    if (p->idle && p->fd)
        loom_loop_stop(p->loop);
}

static gboolean pair_idle(gpointer data)
{
    ((pair *)data)->idle = true;
    pair_done(data);
    return G_SOURCE_REMOVE;
}

static gboolean pair_fd(gint fd, GIOCondition cond, gpointer data)
{
    ((pair *)data)->fd = true;
    pair_done(data);
    return G_SOURCE_REMOVE;
}

/* GLib polls (without waiting) even when a source is ready at prepare, so a
 * ready fd source of the same priority is dispatched in the same round. */
START_TEST(ready_fd_source_dispatched_with_ready_idle)
{
    guest_env e = env_new();
    pair p = {.loop = e.loop};
    GSource *fd_source;
    int pipefd[2];

    ck_assert_int_eq(pipe(pipefd), 0);
    ck_assert_int_eq(write(pipefd[1], "x", 1), 1);
    attach(e.ctx, g_idle_source_new(), G_PRIORITY_DEFAULT, pair_idle, &p);
    fd_source = g_unix_fd_source_new(pipefd[0], G_IO_IN);
    attach(e.ctx, fd_source, G_PRIORITY_DEFAULT, (GSourceFunc)(void (*)(void))pair_fd, &p);
    fixture_run(e.loop, 2000, "an idle and a readable fd");
    ck_assert_uint_eq(loom_glib_guest_dispatches(e.guest), 1);
    env_free(&e);
    close(pipefd[0]);
    close(pipefd[1]);
}
END_TEST

static gboolean stop_on_fd(gint fd, GIOCondition cond, gpointer data)
{
    loom_loop_stop(data);
    return G_SOURCE_REMOVE;
}

/* epoll refuses regular files; poll() finds them always ready, and so must the guest. */
START_TEST(regular_file_fd_source_is_ready)
{
    guest_env e = env_new();
    fixture_errors errors;
    char path[] = "/tmp/loom-guest-XXXXXX";
    int fd = mkstemp(path);

    ck_assert_int_ge(fd, 0);
    fixture_capture_errors(e.loop, &errors);
    attach(e.ctx, g_unix_fd_source_new(fd, G_IO_IN), G_PRIORITY_DEFAULT, (GSourceFunc)(void (*)(void))stop_on_fd,
           e.loop);
    fixture_run(e.loop, 2000, "a GLib source on a regular file");
    ck_assert_int_eq(atomic_load(&errors.count), 0);
    env_free(&e);
    close(fd);
    unlink(path);
}
END_TEST

static gboolean never(gint fd, GIOCondition cond, gpointer data);

typedef struct reuse {
    guest_env *env;
    int old[2], fresh[2];
    guint old_source;
    bool late; /* the new pipe's data comes once loom waits */
} reuse;

static void write_fresh(loom_loop *loop, void *data)
{
    ck_assert_int_eq(write(((reuse *)data)->fresh[1], "x", 1), 1);
}

/* In one dispatch: the old pipe's source goes, its fds close, a new pipe
 * takes the same fd numbers and gets a source, and has data (now or later). */
static gboolean swap_pipes(gpointer data)
{
    reuse *r = data;

    g_source_destroy(g_main_context_find_source_by_id(r->env->ctx, r->old_source));
    close(r->old[0]);
    close(r->old[1]);
    ck_assert_int_eq(pipe(r->fresh), 0);
    ck_assert_int_eq(r->fresh[0], r->old[0]); /* the lowest free numbers */
    attach(r->env->ctx, g_unix_fd_source_new(r->fresh[0], G_IO_IN), G_PRIORITY_DEFAULT,
           (GSourceFunc)(void (*)(void))stop_on_fd, r->env->loop);
    if (r->late)
        ck_assert_int_eq(loom_call_later(r->env->loop, LOOM_MSEC(20), write_fresh, r, NULL), 0);
    else
        write_fresh(r->env->loop, r);
    return G_SOURCE_REMOVE;
}

static void fd_number_reused(bool late)
{
    guest_env e = env_new();
    reuse r = {.env = &e, .late = late};
    GSource *old;

    ck_assert_int_eq(pipe(r.old), 0);
    old = g_unix_fd_source_new(r.old[0], G_IO_IN);
    g_source_set_callback(old, (GSourceFunc)(void (*)(void))never, NULL, NULL);
    r.old_source = g_source_attach(old, e.ctx);
    g_source_unref(old);
    attach(e.ctx, g_timeout_source_new(10), G_PRIORITY_DEFAULT, swap_pipes, &r);
    fixture_run(e.loop, 2000, "a source on a reused fd number");
    env_free(&e);
    close(r.fresh[0]);
    close(r.fresh[1]);
}

START_TEST(fd_number_reused_within_one_dispatch)
{
    fd_number_reused(false);
}
END_TEST

/* The guest's poll by number sees the new file at once; loom, which waits
 * here, must have been told of it first. */
START_TEST(fd_number_reused_then_data_while_loom_waits)
{
    fd_number_reused(true);
}
END_TEST

static void count_down(loom_loop *loop, void *data)
{
    int *n = data;

    if (--*n > 0)
        ck_assert_int_eq(loom_call_soon(loop, count_down, n, NULL), 0);
    else
        loom_loop_stop(loop);
}

/* The guest's own source (loom inside nested GLib loops) is not GLib work. */
START_TEST(empty_context_dispatches_nothing)
{
    guest_env e = env_new();
    int n = 10;

    ck_assert_int_eq(loom_call_soon(e.loop, count_down, &n, NULL), 0);
    fixture_run(e.loop, 2000, "loom work beside an empty context");
    ck_assert_int_eq(n, 0);
    ck_assert_uint_eq(loom_glib_guest_dispatches(e.guest), 0);
    env_free(&e);
}
END_TEST

typedef struct race {
    loom_loop *loop;
    int glib, loom;
} race;

static gboolean glib_runner(gpointer data)
{
    race *r = data;

    if (++r->glib == 200)
        loom_loop_stop(r->loop);
    return r->glib < 200;
}

static void loom_runner(loom_loop *loop, void *data)
{
    race *r = data;

    r->loom++;
    if (r->glib < 200)
        ck_assert_int_eq(loom_call_soon(loop, loom_runner, r, NULL), 0);
}

START_TEST(glib_and_loom_work_interleave)
{
    guest_env e = env_new();
    race r = {.loop = e.loop};

    attach(e.ctx, g_idle_source_new(), G_PRIORITY_DEFAULT, glib_runner, &r);
    ck_assert_int_eq(loom_call_soon(e.loop, loom_runner, &r, NULL), 0);
    fixture_run(e.loop, 5000, "a GLib idle beside a loom callback chain");
    ck_assert_int_ge(r.loom, 100); /* one GLib round per tick: neither starves */
    fixture_settle(e.loop);
    env_free(&e);
}
END_TEST

/* --- wakeups from other threads ---------------------------------------------------- */

typedef struct poke {
    GMainContext *ctx;
    loom_loop *loop;
    atomic_bool flag;
    int how;
} poke;

enum { POKE_IDLE, POKE_INVOKE, POKE_WAKEUP };

/* A source ready when another thread raised the flag: only a wakeup tells. */
typedef struct flag_source {
    GSource source;
    poke *poke;
} flag_source;

static gboolean flag_prepare(GSource *source, gint *timeout)
{
    *timeout = -1;
    return atomic_load(&((flag_source *)source)->poke->flag);
}

static gboolean flag_check(GSource *source)
{
    return atomic_load(&((flag_source *)source)->poke->flag);
}

static gboolean flag_dispatch(GSource *source, GSourceFunc cb, gpointer data)
{
    loom_loop_stop(((flag_source *)source)->poke->loop);
    return G_SOURCE_REMOVE;
}

static GSourceFuncs flag_funcs = {flag_prepare, flag_check, flag_dispatch, NULL, NULL, NULL};

static void *poke_thread(void *data)
{
    poke *p = data;

    g_usleep(20000); /* the loop is asleep by now */
    if (p->how == POKE_IDLE) {
        attach(p->ctx, g_idle_source_new(), G_PRIORITY_DEFAULT, stop_loop, p->loop);
    } else if (p->how == POKE_INVOKE) {
        g_main_context_invoke(p->ctx, stop_loop, p->loop);
    } else {
        atomic_store(&p->flag, true);
        g_main_context_wakeup(p->ctx);
    }
    return NULL;
}

static void run_poked(int how, const char *what)
{
    guest_env e = env_new();
    poke p = {.ctx = e.ctx, .loop = e.loop, .how = how};
    flag_source *fs = (flag_source *)g_source_new(&flag_funcs, sizeof(flag_source));
    pthread_t thread;

    fs->poke = &p;
    g_source_attach(&fs->source, e.ctx);
    g_source_unref(&fs->source);
    ck_assert_int_eq(pthread_create(&thread, NULL, poke_thread, &p), 0);
    fixture_run(e.loop, 5000, what);
    pthread_join(thread, NULL);
    env_free(&e);
}

START_TEST(g_idle_add_from_another_thread_wakes_loom)
{
    run_poked(POKE_IDLE, "an idle attached from another thread");
}
END_TEST

START_TEST(g_main_context_invoke_from_another_thread_wakes_loom)
{
    run_poked(POKE_INVOKE, "g_main_context_invoke from another thread");
}
END_TEST

START_TEST(g_main_context_wakeup_from_another_thread_wakes_loom)
{
    run_poked(POKE_WAKEUP, "g_main_context_wakeup from another thread");
}
END_TEST

/* --- no missed wakeups on the owner thread ---------------------------------------- */

static void attach_stopper(loom_loop *loop, void *data)
{
    stop_soon(data, loop);
}

START_TEST(source_attached_from_loom_callback_runs)
{
    guest_env e = env_new();

    fixture_settle(e.loop);
    ck_assert_int_eq(loom_call_later(e.loop, LOOM_MSEC(5), attach_stopper, e.ctx, NULL), 0);
    fixture_run(e.loop, 2000, "an idle attached from a loom timer");
    env_free(&e);
}
END_TEST

static void do_nothing(loom_loop *loop, void *data)
{
}

static gboolean set_flag(gpointer data)
{
    *(bool *)data = true;
    return G_SOURCE_REMOVE;
}

/* In main, outside any loom callback: GLib writes no wakeup for it, so the
 * run must look before it first waits (loom_loop_run and _run_once). */
START_TEST(source_attached_between_runs_runs)
{
    guest_env e = env_new();
    loom_handle bound;
    bool ran = false;

    fixture_settle(e.loop);
    stop_soon(e.ctx, e.loop);
    fixture_run(e.loop, 2000, "an idle attached in main between two runs");
    attach(e.ctx, g_idle_source_new(), G_PRIORITY_DEFAULT_IDLE, set_flag, &ran);
    ck_assert_int_eq(loom_call_later(e.loop, LOOM_MSEC(2000), do_nothing, NULL, &bound), 0);
    ck_assert_int_eq(loom_loop_run_once(e.loop, true), 0);
    ck_assert_msg(ran, "the idle waited for another event");
    loom_cancel(e.loop, bound);
    env_free(&e);
}
END_TEST

static int attach_from_task(void *arg)
{
    guest_env *e = arg;

    ck_assert_int_eq(loom_sleep(LOOM_MSEC(5)), 0);
    stop_soon(e->ctx, e->loop);
    return 0;
}

START_TEST(source_attached_from_task_runs)
{
    guest_env e = env_new();

    fixture_settle(e.loop);
    loom_future_unref(loom_task_spawn(e.loop, attach_from_task, &e));
    fixture_run(e.loop, 2000, "an idle attached from a task");
    fixture_settle(e.loop);
    env_free(&e);
}
END_TEST

static gboolean attach_from_glib(gpointer data)
{
    guest_env *e = data;

    stop_soon(e->ctx, e->loop);
    return G_SOURCE_REMOVE;
}

START_TEST(source_attached_from_glib_dispatch_runs)
{
    guest_env e = env_new();

    attach(e.ctx, g_timeout_source_new(5), G_PRIORITY_DEFAULT, attach_from_glib, &e);
    fixture_run(e.loop, 2000, "an idle attached from a GLib timeout");
    env_free(&e);
}
END_TEST

/* --- nested GLib loops --------------------------------------------------------------- */

typedef struct nested {
    guest_env *env;
    GMainLoop *inner;
    int loom_fired;       /* loom timers that ran while the nested loop ran */
    int task_steps;       /* a task's sleeps, done while the nested loop ran */
    bool inside;
    guint64 ticks_inside; /* loom ticks while the nested loop ran */
    int prepares;         /* iterations of the context (a spin shows here) */
    int prepares_inside;
    loom_future *task;
} nested;

static void loom_in_nested(loom_loop *loop, void *data)
{
    nested *n = data;

    if (n->inside)
        n->loom_fired++;
}

static int stepping_task(void *arg)
{
    nested *n = arg;

    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(loom_sleep(LOOM_MSEC(2)), 0);
        n->task_steps += n->inside;
    }
    return 0;
}

static void quit_inner_loom(loom_loop *loop, void *data)
{
    nested *n = data;

    if (n->loom_fired && n->task_steps == 3)
        g_main_loop_quit(n->inner);
    else
        ck_assert_int_eq(loom_call_later(loop, LOOM_MSEC(2), quit_inner_loom, n, NULL), 0);
}

static gboolean quit_inner_glib(gpointer data)
{
    g_main_loop_quit(((nested *)data)->inner);
    return G_SOURCE_REMOVE;
}

static gboolean counting_prepare(GSource *source, gint *timeout)
{
    (*(int **)(source + 1))[0]++;
    *timeout = -1;
    return FALSE;
}

static GSourceFuncs counting_funcs = {counting_prepare, NULL, NULL, NULL, NULL, NULL};

static void count_iterations(GMainContext *ctx, int *counter)
{
    GSource *s = g_source_new(&counting_funcs, sizeof(GSource) + sizeof(int *));

    *(int **)(s + 1) = counter;
    g_source_attach(s, ctx);
    g_source_unref(s);
}

/* Runs a nested GLib loop: loom runs inside it where the host allows (a loom
 * timer quits it once loom's timers and a task moved), else a GLib timeout
 * quits it and loom neither ran nor spun meanwhile. */
static void run_nested(nested *n)
{
    guest_env *e = n->env;
    uint64_t ticks = loom_loop_ticks(e->loop);
    int prepares = n->prepares;

    n->inner = g_main_loop_new(e->ctx, FALSE);
    ck_assert_int_eq(loom_call_later(e->loop, LOOM_MSEC(1), loom_in_nested, n, NULL), 0);
    n->task = loom_task_spawn(e->loop, stepping_task, n);
    if (nests_in_glib(e->loop))
        ck_assert_int_eq(loom_call_soon(e->loop, quit_inner_loom, n, NULL), 0);
    else
        attach(e->ctx, g_timeout_source_new(100), G_PRIORITY_DEFAULT, quit_inner_glib, n);
    n->inside = true;
    g_main_loop_run(n->inner);
    n->inside = false;
    n->ticks_inside = loom_loop_ticks(e->loop) - ticks;
    n->prepares_inside = n->prepares - prepares;
    g_main_loop_unref(n->inner);
    loom_loop_stop(e->loop);
}

static gboolean nested_from_glib(gpointer data)
{
    run_nested(data);
    return G_SOURCE_REMOVE;
}

static void nested_from_loom(loom_loop *loop, void *data)
{
    run_nested(data);
}

static void check_nested(nested *n)
{
    guest_env *e = n->env;

    if (nests_in_glib(e->loop)) {
        ck_assert_int_ge(n->loom_fired, 1);
        ck_assert_int_eq(n->task_steps, 3);
    } else {
        ck_assert_int_eq(n->loom_fired, 0);
        ck_assert_uint_eq(n->ticks_inside, 0);
        ck_assert_int_lt(n->prepares_inside, 50); /* it slept: no spin */
    }
    ck_assert_int_eq(fixture_run_until(e->loop, n->task, 2000, "the task after the nested loop"), 0);
    loom_future_unref(n->task);
    fixture_settle(e->loop);
}

static void nested_test(bool from_glib)
{
    guest_env e = env_new();
    nested n = {.env = &e};

    count_iterations(e.ctx, &n.prepares);
    if (from_glib)
        attach(e.ctx, g_idle_source_new(), G_PRIORITY_DEFAULT, nested_from_glib, &n);
    else
        ck_assert_int_eq(loom_call_soon(e.loop, nested_from_loom, &n, NULL), 0);
    fixture_run(e.loop, 5000, "a nested g_main_loop_run");
    check_nested(&n);
    env_free(&e);
}

static gboolean quit_main_loop(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_REMOVE;
}

typedef struct blocked {
    guest_env *env;
    int pipefd[2];
    int prepares;
    uint64_t ticks;
} blocked;

/* Runs a nested loop for 50 ms from the callback of a readable fd's source:
 * GLib blocks the source meanwhile, but loom still watches its fd. */
static gboolean nested_from_fd(gint fd, GIOCondition cond, gpointer data)
{
    blocked *b = data;
    GMainLoop *inner = g_main_loop_new(b->env->ctx, FALSE);
    int prepares = b->prepares;
    uint64_t ticks = loom_loop_ticks(b->env->loop);
    char byte;

    attach(b->env->ctx, g_timeout_source_new(50), G_PRIORITY_DEFAULT, quit_main_loop, inner);
    g_main_loop_run(inner);
    g_main_loop_unref(inner);
    b->prepares -= prepares;
    b->ticks = loom_loop_ticks(b->env->loop) - ticks;
    ck_assert_int_eq(read(fd, &byte, 1), 1);
    loom_loop_stop(b->env->loop);
    return G_SOURCE_REMOVE;
}

START_TEST(nested_loop_in_readable_fd_source_does_not_spin)
{
    guest_env e = env_new();
    blocked b = {.env = &e};

    ck_assert_int_eq(pipe(b.pipefd), 0);
    ck_assert_int_eq(write(b.pipefd[1], "x", 1), 1);
    count_iterations(e.ctx, &b.prepares);
    attach(e.ctx, g_unix_fd_source_new(b.pipefd[0], G_IO_IN), G_PRIORITY_DEFAULT,
           (GSourceFunc)(void (*)(void))nested_from_fd, &b);
    fixture_run(e.loop, 2000, "a nested loop in an fd source's callback");
    ck_assert_int_lt(b.prepares, 50);
    ck_assert_uint_lt(b.ticks, 50);
    env_free(&e);
    close(b.pipefd[0]);
    close(b.pipefd[1]);
}
END_TEST

START_TEST(nested_glib_loop_from_glib_dispatch)
{
    nested_test(true);
}
END_TEST

static int app_polls;

/* A poll function of the application's own, as some set on their context. */
static gint app_poll(GPollFD *fds, guint n_fds, gint timeout)
{
    app_polls++;
    return g_poll(fds, n_fds, timeout);
}

/* The guest finds foreign iterations by the context's poll function; one
 * the application set instead (before the guest or after it) is kept, and
 * nested loops still run loom where the host nests. */
static void nested_with_app_poll(bool before_guest)
{
    guest_env e = {.loop = host_loop_new(), .ctx = g_main_context_new()};
    nested n = {.env = &e};

    g_main_context_push_thread_default(e.ctx);
    if (before_guest)
        g_main_context_set_poll_func(e.ctx, app_poll);
    ck_assert_int_eq(loom_glib_guest_new(&e.guest, e.loop, e.ctx), 0);
    if (!before_guest)
        g_main_context_set_poll_func(e.ctx, app_poll);
    app_polls = 0;
    count_iterations(e.ctx, &n.prepares);
    attach(e.ctx, g_idle_source_new(), G_PRIORITY_DEFAULT, nested_from_glib, &n);
    fixture_run(e.loop, 5000, "a nested g_main_loop_run");
    check_nested(&n);
    ck_assert_int_ge(app_polls, 1); /* the nested loop polled through it */
    loom_glib_guest_free(e.guest);
    ck_assert_ptr_eq((void *)g_main_context_get_poll_func(e.ctx), (void *)app_poll);
    g_main_context_set_poll_func(e.ctx, NULL);
    ck_assert_int_eq(loom_glib_guest_new(&e.guest, e.loop, e.ctx), 0); /* for env_free */
    env_free(&e);
}

START_TEST(nested_loop_with_app_poll_func_set_before_guest)
{
    nested_with_app_poll(true);
}
END_TEST

START_TEST(nested_loop_with_app_poll_func_set_after_guest)
{
    nested_with_app_poll(false);
}
END_TEST

/* The guest's poll function is its own business: the context gets GLib's
 * back when the guest goes. */
START_TEST(free_restores_glib_poll_func)
{
    guest_env e = env_new();

    fixture_settle(e.loop);
    loom_glib_guest_free(e.guest);
    ck_assert_ptr_eq((void *)g_main_context_get_poll_func(e.ctx), (void *)g_poll);
    ck_assert_int_eq(loom_glib_guest_new(&e.guest, e.loop, e.ctx), 0);
    env_free(&e);
}
END_TEST

START_TEST(nested_glib_loop_from_loom_callback)
{
    nested_test(false);
}
END_TEST

/* --- idle, teardown, errors ------------------------------------------------------ */

static gboolean never(gint fd, GIOCondition cond, gpointer data)
{
    ck_abort_msg("a silent pipe became readable");
    return G_SOURCE_REMOVE;
}

/* A GLib fd source on ctx for the read end of a pipe nobody writes to. */
static void watch_silent(GMainContext *ctx, int fd)
{
    GSource *source = g_unix_fd_source_new(fd, G_IO_IN);

    g_source_set_callback(source, (GSourceFunc)(void (*)(void))never, NULL, NULL);
    g_source_attach(source, ctx);
    g_source_unref(source);
}

START_TEST(idle_guest_costs_no_wakeup)
{
    guest_env e = env_new();
    int pipefd[2];
    uint64_t ticks, dispatches;

    ck_assert_int_eq(pipe(pipefd), 0);
    watch_silent(e.ctx, pipefd[0]);
    attach(e.ctx, g_timeout_source_new_seconds(60), G_PRIORITY_DEFAULT, stop_loop, e.loop);
    fixture_settle(e.loop);
    ticks = loom_loop_ticks(e.loop);
    dispatches = loom_glib_guest_dispatches(e.guest);
    ck_assert_int_eq(loom_call_later(e.loop, LOOM_MSEC(100), fixture_stop, NULL, NULL), 0);
    fixture_run(e.loop, 2000, "100 ms of idleness");
    ck_assert_uint_le(loom_loop_ticks(e.loop) - ticks, 2); /* the stop timer's tick */
    ck_assert_uint_eq(loom_glib_guest_dispatches(e.guest) - dispatches, 0);
    env_free(&e);
    close(pipefd[0]);
    close(pipefd[1]);
}
END_TEST

/* The loop's dump, with every pointer as printed. */
static char *dump(loom_loop *loop)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    ck_assert_int_eq(loom_loop_dump(loop, out), 0);
    fclose(out);
    return text;
}

static void nothing(loom_loop *loop, int fd, unsigned events, void *data)
{
}

START_TEST(free_with_sources_attached_leaves_nothing)
{
    guest_env e = env_new();
    int pipefd[2];
    char guest_ptr[32];
    char *text;

    ck_assert_int_eq(pipe(pipefd), 0);
    watch_silent(e.ctx, pipefd[0]);
    attach(e.ctx, g_timeout_source_new_seconds(60), G_PRIORITY_DEFAULT, stop_loop, e.loop);
    fixture_settle(e.loop);
    snprintf(guest_ptr, sizeof(guest_ptr), "(data %p)", (void *)e.guest);
    text = dump(e.loop);
    ck_assert_msg(strstr(text, guest_ptr), "the guest holds nothing in the loop? %s", text);
    free(text);
    loom_glib_guest_free(e.guest);
    text = dump(e.loop);
    ck_assert_msg(!strstr(text, guest_ptr), "left behind: %s", text);
    free(text);
    ck_assert_int_eq(loom_fd_watch(e.loop, pipefd[0], LOOM_READ, nothing, NULL, NULL), 0);
    ck_assert_int_eq(loom_fd_unwatch(e.loop, pipefd[0]), 0);
    /* The context is usable again, by GLib itself and by a new guest. */
    attach(e.ctx, g_idle_source_new(), G_PRIORITY_DEFAULT, stop_loop, e.loop);
    ck_assert(g_main_context_iteration(e.ctx, FALSE));
    ck_assert_int_eq(loom_glib_guest_new(&e.guest, e.loop, e.ctx), 0);
    stop_soon(e.ctx, e.loop);
    fixture_run(e.loop, 2000, "a second guest on the same context");
    env_free(&e);
    close(pipefd[0]);
    close(pipefd[1]);
}
END_TEST

typedef struct owner {
    GMainContext *ctx;
    GMutex lock;
    GCond cond;
    int state; /* 1: acquired, 2: may release */
} owner;

static void *owner_thread(void *data)
{
    owner *o = data;

    ck_assert(g_main_context_acquire(o->ctx));
    g_mutex_lock(&o->lock);
    o->state = 1;
    g_cond_broadcast(&o->cond);
    while (o->state != 2)
        g_cond_wait(&o->cond, &o->lock);
    g_mutex_unlock(&o->lock);
    g_main_context_release(o->ctx);
    return NULL;
}

/* One guest drives a context: a second one, on the same loop or another,
 * is refused (it would dispatch nothing: the first takes every fd); once
 * the first is freed, or its loop closed, another may attach. */
START_TEST(second_guest_on_context_is_ebusy)
{
    loom_loop *loop = host_loop_new(), *other = host_loop_new();
    GMainContext *ctx = g_main_context_new();
    loom_glib_guest *first = NULL, *second = NULL;

    ck_assert_int_eq(loom_glib_guest_new(&first, loop, ctx), 0);
    ck_assert_int_eq(loom_glib_guest_new(&second, loop, ctx), -EBUSY);
    ck_assert_int_eq(loom_glib_guest_new(&second, other, ctx), -EBUSY);
    ck_assert_ptr_null(second);
    loom_glib_guest_free(first);
    ck_assert_int_eq(loom_glib_guest_new(&second, other, ctx), 0);
    ck_assert_int_eq(loom_loop_close(other), 0);
    ck_assert_int_eq(loom_glib_guest_new(&first, loop, ctx), 0);
    loom_glib_guest_free(first);
    loom_glib_guest_free(second);
    g_main_context_unref(ctx);
    loom_loop_unref(other);
    fixture_free_loop(loop);
}
END_TEST

START_TEST(context_owned_by_another_thread_is_ebusy)
{
    loom_loop *loop = host_loop_new();
    owner o = {.ctx = g_main_context_new()};
    loom_glib_guest *guest = NULL;
    pthread_t thread;

    g_mutex_init(&o.lock);
    g_cond_init(&o.cond);
    ck_assert_int_eq(pthread_create(&thread, NULL, owner_thread, &o), 0);
    g_mutex_lock(&o.lock);
    while (o.state != 1)
        g_cond_wait(&o.cond, &o.lock);
    ck_assert_int_eq(loom_glib_guest_new(&guest, loop, o.ctx), -EBUSY);
    ck_assert_ptr_null(guest);
    o.state = 2;
    g_cond_broadcast(&o.cond);
    g_mutex_unlock(&o.lock);
    pthread_join(thread, NULL);
    ck_assert_int_eq(loom_glib_guest_new(&guest, loop, o.ctx), 0);
    loom_glib_guest_free(guest);
    g_mutex_clear(&o.lock);
    g_cond_clear(&o.cond);
    g_main_context_unref(o.ctx);
    fixture_free_loop(loop);
}
END_TEST

START_TEST(fd_watched_by_loom_already_is_reported)
{
    loom_loop *loop = host_loop_new();
    GMainContext *ctx = g_main_context_new();
    loom_glib_guest *guest;
    fixture_errors errors;
    int pipefd[2];

    ck_assert_int_eq(pipe(pipefd), 0);
    fixture_capture_errors(loop, &errors);
    ck_assert_int_eq(loom_fd_watch(loop, pipefd[0], LOOM_READ, nothing, NULL, NULL), 0);
    ck_assert_int_eq(loom_glib_guest_new(&guest, loop, ctx), 0);
    watch_silent(ctx, pipefd[0]);
    ck_assert_int_eq(loom_call_later(loop, LOOM_MSEC(20), fixture_stop, NULL, NULL), 0);
    fixture_run(loop, 2000, "a guest with a refused fd");
    ck_assert_int_eq(atomic_load(&errors.count), 1);
    ck_assert_int_eq(atomic_load(&errors.last_err), -EEXIST);
    loom_glib_guest_free(guest);
    ck_assert_int_eq(loom_fd_unwatch(loop, pipefd[0]), 0);
    g_main_context_unref(ctx);
    fixture_free_loop(loop);
    close(pipefd[0]);
    close(pipefd[1]);
}
END_TEST

START_TEST(loop_closed_under_guest)
{
    guest_env e = env_new();

    stop_soon(e.ctx, e.loop);
    fixture_run(e.loop, 2000, "a first dispatch");
    ck_assert_int_eq(loom_loop_close(e.loop), 0);
    loom_glib_guest_free(e.guest);
    attach(e.ctx, g_idle_source_new(), G_PRIORITY_DEFAULT, stop_loop, e.loop);
    ck_assert(g_main_context_iteration(e.ctx, FALSE)); /* released: GLib runs it */
    g_main_context_pop_thread_default(e.ctx);
    g_main_context_unref(e.ctx);
    loom_loop_unref(e.loop);
}
END_TEST

static Suite *guest_suite(void)
{
    Suite *s = suite_create("glib-guest");
    TCase *tc = fixture_tcase(s, "gio");

    tcase_add_test(tc, gio_file_read_from_task);
    tcase_add_test(tc, gio_socket_exchange_on_loopback);
    tc = fixture_tcase(s, "order");
    tcase_add_test(tc, timeouts_idles_and_priorities_in_glib_order);
    tcase_add_test(tc, glib_and_loom_work_interleave);
    tcase_add_test(tc, ready_fd_source_dispatched_with_ready_idle);
    tcase_add_test(tc, empty_context_dispatches_nothing);
    tcase_add_test(tc, regular_file_fd_source_is_ready);
    tcase_add_test(tc, fd_number_reused_within_one_dispatch);
    tcase_add_test(tc, fd_number_reused_then_data_while_loom_waits);
    tc = fixture_tcase(s, "threads");
    tcase_add_test(tc, g_idle_add_from_another_thread_wakes_loom);
    tcase_add_test(tc, g_main_context_invoke_from_another_thread_wakes_loom);
    tcase_add_test(tc, g_main_context_wakeup_from_another_thread_wakes_loom);
    tc = fixture_tcase(s, "missed-wakeup");
    tcase_add_test(tc, source_attached_from_loom_callback_runs);
    tcase_add_test(tc, source_attached_between_runs_runs);
    tcase_add_test(tc, source_attached_from_task_runs);
    tcase_add_test(tc, source_attached_from_glib_dispatch_runs);
    tc = fixture_tcase(s, "nested");
    tcase_add_test(tc, nested_glib_loop_from_glib_dispatch);
    tcase_add_test(tc, nested_glib_loop_from_loom_callback);
    tcase_add_test(tc, nested_loop_in_readable_fd_source_does_not_spin);
    tcase_add_test(tc, nested_loop_with_app_poll_func_set_before_guest);
    tcase_add_test(tc, nested_loop_with_app_poll_func_set_after_guest);
    tcase_add_test(tc, free_restores_glib_poll_func);
    tc = fixture_tcase(s, "lifecycle");
    tcase_add_test(tc, idle_guest_costs_no_wakeup);
    tcase_add_test(tc, free_with_sources_attached_leaves_nothing);
    tcase_add_test(tc, second_guest_on_context_is_ebusy);
    tcase_add_test(tc, context_owned_by_another_thread_is_ebusy);
    tcase_add_test(tc, fd_watched_by_loom_already_is_reported);
    tcase_add_test(tc, loop_closed_under_guest);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(guest_suite());
    int failed;

    srunner_run_all(runner, CK_ENV);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
