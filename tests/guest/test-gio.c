/* loom — the GIO bridge (loom-gio.h) on every host: GIO's results reach the
 * loop under test (tests/conformance/host-<backend>.c) through a GLib guest
 * on a context of the test's own, pushed as the thread-default one; a GLib
 * loop on the thread-default context needs no guest; a context nobody drives
 * fails at once with -ENOTCONN. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <gio/gio.h>
#include <loom/loom-gio.h>
#include "../conformance/fixture.h"

typedef struct gio_env {
    loom_loop *loop;
    GMainContext *ctx;
    loom_glib_guest *guest; /* NULL: nobody drives ctx */
} gio_env;

static gio_env env_new(bool with_guest)
{
    gio_env e = {.loop = host_loop_new(), .ctx = g_main_context_new()};

    g_main_context_push_thread_default(e.ctx);
    if (with_guest)
        ck_assert_int_eq(loom_glib_guest_new(&e.guest, e.loop, e.ctx), 0);
    return e;
}

/* GIO finishes some work in idles of the context (a stopped GSocketService's
 * accept, a closed GDBusConnection's messages), each holding a reference to
 * the context: run them before letting it go. */
static void drain(GMainContext *ctx)
{
    while (g_main_context_iteration(ctx, FALSE))
        ;
}

static void env_free(gio_env *e)
{
    loom_glib_guest_free(e->guest);
    drain(e->ctx);
    fixture_free_loop(e->loop);
    g_main_context_pop_thread_default(e->ctx);
    g_main_context_unref(e->ctx);
}

/* A file of the test's own holding text; the caller frees the path. */
static char *temp_file(const char *text)
{
    char *path = g_strdup("/tmp/loom-gio-XXXXXX");
    int fd = g_mkstemp(path);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

/* --- the call bridge: the caller finishes ---------------------------------------- */

typedef struct read_job {
    loom_loop *loop;
    GFile *file;
    char *contents;
} read_job;

static int read_with_call_task(void *arg)
{
    read_job *job = arg;
    loom_gio_call call;
    GError *error = NULL;

    ck_assert_int_eq(loom_gio_call_init(&call, job->loop, NULL, NULL), 0);
    g_file_load_contents_async(job->file, call.cancellable, call.callback, call.user_data);
    ck_assert_int_eq(loom_await(call.future), 0);
    ck_assert_msg(g_file_load_contents_finish(job->file, loom_future_value(call.future), &job->contents, NULL,
                                              NULL, &error),
                  "g_file_load_contents_finish: %s", error ? error->message : "?");
    loom_future_unref(call.future);
    return 0;
}

static void run_read_task(loom_loop *loop, const char *text)
{
    char *path = temp_file(text);
    read_job job = {.loop = loop, .file = g_file_new_for_path(path)};
    loom_future *task = loom_task_spawn(loop, read_with_call_task, &job);

    ck_assert_int_eq(fixture_run_until(loop, task, 5000, "a GIO file read awaited in a task"), 0);
    ck_assert_str_eq(job.contents, text);
    g_free(job.contents);
    loom_future_unref(task);
    g_object_unref(job.file);
    unlink(path);
    g_free(path);
}

START_TEST(file_read_awaited_in_task)
{
    gio_env e = env_new(true);

    run_read_task(e.loop, "hello gio");
    ck_assert_uint_gt(loom_glib_guest_dispatches(e.guest), 0);
    env_free(&e);
}
END_TEST

/* A GLib loop on the thread-default context is driven already. */
START_TEST(glib_loop_on_thread_default_needs_no_guest)
{
    GMainContext *ctx = g_main_context_new();
    loom_loop *loop = NULL;

    g_main_context_push_thread_default(ctx);
    ck_assert_int_eq(loom_glib_loop_new(&loop, ctx), 0);
    run_read_task(loop, "no guest");
    fixture_free_loop(loop);
    g_main_context_pop_thread_default(ctx);
    g_main_context_unref(ctx);
}
END_TEST

/* --- convenience futures and errors ---------------------------------------------- */

START_TEST(load_contents_resolves_with_bytes)
{
    gio_env e = env_new(true);
    char *path = temp_file("whole file");
    GFile *file = g_file_new_for_path(path);
    loom_future *f = loom_gio_load_contents(e.loop, file);
    gsize len;
    const char *data;

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fixture_run_until(e.loop, f, 5000, "loom_gio_load_contents"), 0);
    data = g_bytes_get_data(loom_future_value(f), &len);
    ck_assert_uint_eq(len, 10);
    ck_assert_int_eq(memcmp(data, "whole file", len), 0);
    loom_future_unref(f);
    g_object_unref(file);
    unlink(path);
    g_free(path);
    env_free(&e);
}
END_TEST

START_TEST(not_found_fails_with_enoent_and_message)
{
    gio_env e = env_new(true);
    GFile *file = g_file_new_for_path("/nonexistent/loom-gio-missing");
    loom_future *f = loom_gio_load_contents(e.loop, file);

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fixture_run_until(e.loop, f, 5000, "a missing file"), -ENOENT);
    ck_assert_int_eq(loom_future_state_get(f), LOOM_FUTURE_FAILED);
    ck_assert_ptr_nonnull(loom_future_message(f));
    ck_assert_msg(strstr(loom_future_message(f), "loom-gio-missing"), "message: %s", loom_future_message(f));
    loom_future_unref(f);
    g_object_unref(file);
    env_free(&e);
}
END_TEST

START_TEST(gio_errors_map_to_errno)
{
    GError *refused = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED, "refused");
    GError *other = g_error_new_literal(G_FILE_ERROR, G_FILE_ERROR_FAILED, "other");

    ck_assert_int_eq(loom_gio_errno(refused), -ECONNREFUSED);
    ck_assert_int_eq(loom_gio_errno(other), -EIO);
    ck_assert_int_eq(loom_gio_errno(NULL), 0);
    g_error_free(refused);
    g_error_free(other);
}
END_TEST

/* --- cancellation, both ways ------------------------------------------------------ */

static int accept_error;          /* the GError code the accept's finish saw, or -1 */
static loom_future *accept_ended; /* resolved by the accept's finish, if set */

static gpointer finish_accept(GObject *source, GAsyncResult *result, GError **error)
{
    gpointer conn = g_socket_listener_accept_finish(G_SOCKET_LISTENER(source), result, NULL, error);

    accept_error = *error ? (*error)->code : -1;
    if (accept_ended)
        loom_future_resolve(accept_ended, NULL, NULL);
    return conn;
}

/* A listener on loopback that nobody connects to: its accept never ends by
 * itself. */
static GSocketListener *idle_listener(void)
{
    GSocketListener *listener = g_socket_listener_new();
    GInetAddress *lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    GSocketAddress *addr = g_inet_socket_address_new(lo, 0);

    ck_assert(g_socket_listener_add_address(listener, addr, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL,
                                            NULL, NULL));
    g_object_unref(addr);
    g_object_unref(lo);
    return listener;
}

static void cancel_later(loom_loop *loop, void *data)
{
    loom_future_cancel(data);
}

START_TEST(future_cancel_cancels_gio_call)
{
    gio_env e = env_new(true);
    GSocketListener *listener = idle_listener();
    loom_gio_call call;
    GCancellable *cancellable;

    accept_ended = loom_future_new(e.loop);
    ck_assert_int_eq(loom_gio_call_init(&call, e.loop, finish_accept, g_object_unref), 0);
    cancellable = g_object_ref(call.cancellable);
    g_socket_listener_accept_async(listener, call.cancellable, call.callback, call.user_data);
    ck_assert_int_eq(loom_call_later(e.loop, LOOM_MSEC(10), cancel_later, call.future, NULL), 0);
    ck_assert_int_eq(fixture_run_until(e.loop, call.future, 5000, "the cancelled future"), -ECANCELED);
    /* GIO reports the cancellation back through the guest. */
    ck_assert_int_eq(fixture_run_until(e.loop, accept_ended, 5000, "GIO's cancelled callback"), 0);
    ck_assert(g_cancellable_is_cancelled(cancellable));
    ck_assert_int_eq(accept_error, G_IO_ERROR_CANCELLED);
    g_object_unref(cancellable);
    g_clear_pointer(&accept_ended, loom_future_unref);
    loom_future_unref(call.future);
    g_object_unref(listener);
    env_free(&e);
}
END_TEST

static gboolean cancel_cancellable(gpointer data)
{
    g_cancellable_cancel(data);
    return G_SOURCE_REMOVE;
}

/* Cancelled by GIO's side (a GLib timeout on the guest's context). */
static void check_gio_side_cancel(loom_gio_finish_fn finish, GDestroyNotify destroy)
{
    gio_env e = env_new(true);
    GSocketListener *listener = idle_listener();
    GSource *timeout = g_timeout_source_new(10);
    loom_gio_call call;

    ck_assert_int_eq(loom_gio_call_init(&call, e.loop, finish, destroy), 0);
    g_socket_listener_accept_async(listener, call.cancellable, call.callback, call.user_data);
    g_source_set_callback(timeout, cancel_cancellable, g_object_ref(call.cancellable), g_object_unref);
    g_source_attach(timeout, e.ctx);
    g_source_unref(timeout);
    ck_assert_int_eq(fixture_run_until(e.loop, call.future, 5000, "GIO's cancellation"), -ECANCELED);
    ck_assert_int_eq(loom_future_state_get(call.future), LOOM_FUTURE_CANCELLED);
    loom_future_unref(call.future);
    g_object_unref(listener);
    env_free(&e);
}

START_TEST(gcancellable_cancel_cancels_future)
{
    check_gio_side_cancel(NULL, NULL);
}
END_TEST

START_TEST(gcancellable_cancel_cancels_future_with_finish)
{
    check_gio_side_cancel(finish_accept, g_object_unref);
}
END_TEST

/* --- sockets ---------------------------------------------------------------------- */

static gboolean on_incoming(GSocketService *service, GSocketConnection *conn, GObject *source, gpointer data)
{
    GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(conn));

    ck_assert(g_output_stream_write_all(out, "hi", 2, NULL, NULL, NULL));
    *(GSocketConnection **)data = g_object_ref(conn);
    return TRUE;
}

static gpointer finish_read(GObject *source, GAsyncResult *result, GError **error)
{
    return GSIZE_TO_POINTER(g_input_stream_read_finish(G_INPUT_STREAM(source), result, error));
}

START_TEST(socket_client_connects_on_loopback)
{
    gio_env e = env_new(true);
    GSocketService *service = g_socket_service_new();
    GSocketConnection *served = NULL, *conn;
    GSocketClient *client = g_socket_client_new();
    guint16 port = g_socket_listener_add_any_inet_port(G_SOCKET_LISTENER(service), NULL, NULL);
    GSocketConnectable *addr = g_network_address_new("127.0.0.1", port);
    loom_future *f;
    loom_gio_call call;
    char buf[4] = {0};

    ck_assert_uint_gt(port, 0);
    g_signal_connect(service, "incoming", G_CALLBACK(on_incoming), &served);
    f = loom_gio_connect(e.loop, client, addr);
    ck_assert_int_eq(fixture_run_until(e.loop, f, 5000, "loom_gio_connect"), 0);
    conn = loom_future_value(f);
    ck_assert(G_IS_SOCKET_CONNECTION(conn));
    ck_assert_int_eq(loom_gio_call_init(&call, e.loop, finish_read, NULL), 0);
    g_input_stream_read_async(g_io_stream_get_input_stream(G_IO_STREAM(conn)), buf, 2, G_PRIORITY_DEFAULT,
                              call.cancellable, call.callback, call.user_data);
    ck_assert_int_eq(fixture_run_until(e.loop, call.future, 5000, "the server's greeting"), 0);
    ck_assert_int_eq(GPOINTER_TO_SIZE(loom_future_value(call.future)), 2);
    ck_assert_str_eq(buf, "hi");
    ck_assert_ptr_nonnull(served);
    loom_future_unref(call.future);
    loom_future_unref(f);
    g_object_unref(served);
    g_socket_service_stop(service);
    g_socket_listener_close(G_SOCKET_LISTENER(service));
    g_object_unref(service);
    g_object_unref(addr);
    g_object_unref(client);
    env_free(&e);
}
END_TEST

START_TEST(connect_refused_fails_with_econnrefused)
{
    gio_env e = env_new(true);
    GSocketListener *listener = g_socket_listener_new();
    GSocketClient *client = g_socket_client_new();
    guint16 port = g_socket_listener_add_any_inet_port(listener, NULL, NULL); /* then closed: refused */
    GSocketConnectable *addr;
    loom_future *f;

    g_socket_listener_close(listener);
    addr = g_network_address_new("127.0.0.1", port);
    f = loom_gio_connect(e.loop, client, addr);
    ck_assert_int_eq(fixture_run_until(e.loop, f, 5000, "a refused connect"), -ECONNREFUSED);
    ck_assert_ptr_nonnull(loom_future_message(f));
    loom_future_unref(f);
    g_object_unref(addr);
    g_object_unref(client);
    g_object_unref(listener);
    env_free(&e);
}
END_TEST

/* --- D-Bus: a private bus of the test's own ------------------------------------ */

static const char dbus_daemon[] = "/usr/bin/dbus-daemon";

/* Starts a private session bus; returns its address (the caller frees it). */
static char *bus_start(GSubprocess **daemonp)
{
    GError *error = NULL;
    GDataInputStream *out;
    char *address;

    *daemonp = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, dbus_daemon, "--session", "--nofork",
                                "--print-address", NULL);
    ck_assert_msg(*daemonp, "dbus-daemon: %s", error ? error->message : "?");
    out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(*daemonp));
    address = g_data_input_stream_read_line(out, NULL, NULL, &error);
    ck_assert_msg(address, "dbus-daemon printed no address: %s", error ? error->message : "EOF");
    g_object_unref(out);
    return address;
}

static GDBusConnection *bus_connect(const char *address)
{
    GError *error = NULL;
    GDBusConnection *conn = g_dbus_connection_new_for_address_sync(
        address, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
        NULL, NULL, &error);

    ck_assert_msg(conn, "connecting to %s: %s", address, error ? error->message : "?");
    return conn;
}

static loom_future *bus_call(loom_loop *loop, GDBusConnection *conn, const char *method)
{
    return loom_gio_dbus_call(loop, conn, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                              method, NULL, G_VARIANT_TYPE("(s)"), G_DBUS_CALL_FLAGS_NONE, -1);
}

START_TEST(dbus_call_on_private_bus)
{
    gio_env e;
    GSubprocess *daemon;
    GDBusConnection *conn;
    char *address;
    const char *id;
    loom_future *f, *bad;

    if (access(dbus_daemon, X_OK) != 0) {
        fprintf(stderr, "SKIP dbus_call_on_private_bus: no %s (Debian package dbus-daemon)\n", dbus_daemon);
        return;
    }
    e = env_new(true);
    address = bus_start(&daemon);
    conn = bus_connect(address);
    f = bus_call(e.loop, conn, "GetId");
    bad = bus_call(e.loop, conn, "NoSuchMethod");
    ck_assert_int_eq(fixture_run_until(e.loop, f, 5000, "org.freedesktop.DBus.GetId"), 0);
    g_variant_get(loom_future_value(f), "(&s)", &id);
    ck_assert_uint_eq(strlen(id), 32);
    ck_assert_int_eq(fixture_run_until(e.loop, bad, 5000, "an unknown D-Bus method"), -EIO);
    ck_assert_msg(strstr(loom_future_message(bad), "UnknownMethod"), "message: %s", loom_future_message(bad));
    loom_future_unref(bad);
    loom_future_unref(f);
    ck_assert(g_dbus_connection_close_sync(conn, NULL, NULL));
    g_object_unref(conn);
    g_subprocess_force_exit(daemon);
    ck_assert(g_subprocess_wait(daemon, NULL, NULL));
    g_object_unref(daemon);
    g_free(address);
    env_free(&e);
}
END_TEST

/* --- nobody drives the context ------------------------------------------------ */

START_TEST(undriven_context_fails_with_enotconn)
{
    gio_env e = env_new(false);
    GFile *file = g_file_new_for_path("/dev/null");
    loom_future *f = loom_gio_load_contents(e.loop, file);
    loom_gio_call call;

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(loom_future_status(f), -ENOTCONN);
    ck_assert_ptr_nonnull(strstr(loom_future_message(f), "GMainContext"));
    ck_assert_int_eq(loom_gio_call_init(&call, e.loop, NULL, NULL), -ENOTCONN);
    ck_assert_int_eq(loom_future_status(call.future), -ENOTCONN);
    loom_future_unref(call.future);
    loom_future_unref(f);
    g_object_unref(file);
    env_free(&e);
}
END_TEST

static Suite *gio_suite(void)
{
    Suite *s = suite_create("gio");
    TCase *tc = fixture_tcase(s, "call");

    tcase_add_test(tc, file_read_awaited_in_task);
    tcase_add_test(tc, glib_loop_on_thread_default_needs_no_guest);
    tcase_add_test(tc, undriven_context_fails_with_enotconn);
    tc = fixture_tcase(s, "errors");
    tcase_add_test(tc, load_contents_resolves_with_bytes);
    tcase_add_test(tc, not_found_fails_with_enoent_and_message);
    tcase_add_test(tc, gio_errors_map_to_errno);
    tc = fixture_tcase(s, "cancel");
    tcase_add_test(tc, future_cancel_cancels_gio_call);
    tcase_add_test(tc, gcancellable_cancel_cancels_future);
    tcase_add_test(tc, gcancellable_cancel_cancels_future_with_finish);
    tc = fixture_tcase(s, "sockets");
    tcase_add_test(tc, socket_client_connects_on_loopback);
    tcase_add_test(tc, connect_refused_fails_with_econnrefused);
    tc = fixture_tcase(s, "dbus");
    tcase_add_test(tc, dbus_call_on_private_bus);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(gio_suite());
    int failed;

    srunner_run_all(runner, CK_ENV);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
