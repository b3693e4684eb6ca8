/* The GIO bridge: a GAsyncReadyCallback that completes a loom future, a
 * GCancellable linked to it both ways, and a check that someone drives the
 * context GIO will call back on. */
#include "config.h"
#include <errno.h>
#include <loom/loom-gio.h>
#include "glib-private.h"

/* One GIO call in flight. Two references: the GIO callback's and the
 * future callback's (which cancels the GCancellable). */
typedef struct gio_op {
    gint refs;
    loom_future *future; /* our reference */
    GCancellable *cancellable;
    loom_gio_finish_fn finish;
    GDestroyNotify destroy;
    bool returned; /* GIO called back: nothing left to cancel */
} gio_op;

static void op_unref(void *data)
{
    gio_op *op = data;

    if (!g_atomic_int_dec_and_test(&op->refs))
        return;
    loom_future_unref(op->future);
    g_object_unref(op->cancellable);
    g_free(op);
}

int loom_gio_errno(const GError *error)
{
    static const struct {
        GIOErrorEnum code;
        int err;
    } map[] = {
        {G_IO_ERROR_NOT_FOUND, ENOENT},
        {G_IO_ERROR_EXISTS, EEXIST},
        {G_IO_ERROR_IS_DIRECTORY, EISDIR},
        {G_IO_ERROR_NOT_DIRECTORY, ENOTDIR},
        {G_IO_ERROR_NOT_EMPTY, ENOTEMPTY},
        {G_IO_ERROR_FILENAME_TOO_LONG, ENAMETOOLONG},
        {G_IO_ERROR_INVALID_ARGUMENT, EINVAL},
        {G_IO_ERROR_PERMISSION_DENIED, EACCES},
        {G_IO_ERROR_NO_SPACE, ENOSPC},
        {G_IO_ERROR_NOT_SUPPORTED, ENOTSUP},
        {G_IO_ERROR_CANCELLED, ECANCELED},
        {G_IO_ERROR_READ_ONLY, EROFS},
        {G_IO_ERROR_TIMED_OUT, ETIMEDOUT},
        {G_IO_ERROR_BUSY, EBUSY},
        {G_IO_ERROR_WOULD_BLOCK, EAGAIN},
        {G_IO_ERROR_TOO_MANY_OPEN_FILES, EMFILE},
        {G_IO_ERROR_ADDRESS_IN_USE, EADDRINUSE},
        {G_IO_ERROR_HOST_UNREACHABLE, EHOSTUNREACH},
        {G_IO_ERROR_NETWORK_UNREACHABLE, ENETUNREACH},
        {G_IO_ERROR_CONNECTION_REFUSED, ECONNREFUSED},
        {G_IO_ERROR_BROKEN_PIPE, EPIPE},
        {G_IO_ERROR_NOT_CONNECTED, ENOTCONN},
        {G_IO_ERROR_MESSAGE_TOO_LARGE, EMSGSIZE},
    };

    if (!error)
        return 0;
    if (error->domain == G_IO_ERROR) {
        for (size_t i = 0; i < G_N_ELEMENTS(map); i++) {
            if (map[i].code == (GIOErrorEnum)error->code)
                return -map[i].err;
        }
    }
    return -EIO;
}

int loom_gio_fail(loom_future *future, const GError *error)
{
    if (!future || !error)
        return -EINVAL;
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return loom_future_cancel(future) ? 0 : -EINVAL;
    return loom_future_fail(future, loom_gio_errno(error), error->message);
}

/* The GAsyncReadyCallback: runs on the loop's thread (its context is driven
 * there), so the future is completed directly. */
static void on_ready(GObject *source, GAsyncResult *result, gpointer data)
{
    gio_op *op = data;
    GError *error = NULL;
    gpointer value;

    op->returned = true;
    if (!op->finish) {
        if (g_cancellable_is_cancelled(op->cancellable))
            loom_future_cancel(op->future);
        else
            loom_future_resolve(op->future, g_object_ref(result), g_object_unref);
    } else if ((value = op->finish(source, result, &error)) || !error) {
        if (g_cancellable_is_cancelled(op->cancellable)) {
            if (value && op->destroy)
                op->destroy(value);
            loom_future_cancel(op->future);
        } else {
            loom_future_resolve(op->future, value, op->destroy);
        }
    } else {
        loom_gio_fail(op->future, error);
        g_error_free(error);
    }
    op_unref(op);
}

/* Cancelling the future cancels the GIO call. */
static void on_future_done(loom_future *future, void *data)
{
    gio_op *op = data;

    if (!op->returned && loom_future_state_get(future) == LOOM_FUTURE_CANCELLED)
        g_cancellable_cancel(op->cancellable);
}

/* Whether GIO's results for a call made now reach loop: the thread-default
 * context is loop's own (a GLib loop) or a guest drives it from loop. */
static bool context_driven(loom_loop *loop)
{
    GMainContext *ctx = g_main_context_ref_thread_default();
    bool driven = loom_glib_loop_context(loop) == ctx || loom__glib_guest_drives(loop, ctx);

    g_main_context_unref(ctx);
    return driven;
}

static const char undriven_msg[] =
    "GIO: nobody drives the thread-default GMainContext from this loop (not a GLib loop on it, no "
    "loom_glib_guest_new on it): the GIO callback would never run";

int loom_gio_call_init(loom_gio_call *call, loom_loop *loop, loom_gio_finish_fn finish, GDestroyNotify destroy)
{
    gio_op *op;
    int r;

    if (!call || !loop)
        return -EINVAL;
    *call = (loom_gio_call){.future = loom_future_new(loop)};
    if (!call->future)
        return -errno;
    if (!context_driven(loop)) {
        loom_future_fail(call->future, -ENOTCONN, undriven_msg);
        return -ENOTCONN;
    }
    op = g_new0(gio_op, 1);
    *op = (gio_op){.refs = 2, .future = loom_future_ref(call->future), .cancellable = g_cancellable_new(),
                   .finish = finish, .destroy = destroy};
    r = loom_future_on_done_full(call->future, on_future_done, op, op_unref);
    if (r < 0) {
        op->refs = 1;
        op_unref(op);
        loom_future_unref(call->future);
        call->future = NULL;
        return r;
    }
    call->cancellable = op->cancellable;
    call->callback = on_ready;
    call->user_data = op;
    return 0;
}

/* Starts a convenience call: a future for it, or NULL (errno set). On
 * -ENOTCONN the returned future is already failed and *callp unusable. */
static loom_future *start(loom_gio_call *callp, loom_loop *loop, loom_gio_finish_fn finish, GDestroyNotify destroy)
{
    int r;

    callp->future = NULL;
    r = loom_gio_call_init(callp, loop, finish, destroy);
    if (r < 0 && r != -ENOTCONN)
        errno = -r;
    return r < 0 ? NULL : callp->future;
}

static gpointer finish_contents(GObject *source, GAsyncResult *result, GError **error)
{
    char *contents;
    gsize len;

    if (!g_file_load_contents_finish(G_FILE(source), result, &contents, &len, NULL, error))
        return NULL;
    return g_bytes_new_take(contents, len);
}

loom_future *loom_gio_load_contents(loom_loop *loop, GFile *file)
{
    loom_gio_call c;

    if (!G_IS_FILE(file)) {
        errno = EINVAL;
        return NULL;
    }
    if (!start(&c, loop, finish_contents, (GDestroyNotify)g_bytes_unref))
        return c.future;
    g_file_load_contents_async(file, c.cancellable, c.callback, c.user_data);
    return c.future;
}

static gpointer finish_connect(GObject *source, GAsyncResult *result, GError **error)
{
    return g_socket_client_connect_finish(G_SOCKET_CLIENT(source), result, error);
}

loom_future *loom_gio_connect(loom_loop *loop, GSocketClient *client, GSocketConnectable *connectable)
{
    loom_gio_call c;

    if (!G_IS_SOCKET_CLIENT(client) || !G_IS_SOCKET_CONNECTABLE(connectable)) {
        errno = EINVAL;
        return NULL;
    }
    if (!start(&c, loop, finish_connect, g_object_unref))
        return c.future;
    g_socket_client_connect_async(client, connectable, c.cancellable, c.callback, c.user_data);
    return c.future;
}

static gpointer finish_dbus_call(GObject *source, GAsyncResult *result, GError **error)
{
    return g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, error);
}

loom_future *loom_gio_dbus_call(loom_loop *loop, GDBusConnection *connection, const char *bus_name,
                                const char *object_path, const char *interface_name, const char *method_name,
                                GVariant *parameters, const GVariantType *reply_type, GDBusCallFlags flags,
                                int timeout_msec)
{
    loom_gio_call c = {0};

    if (!G_IS_DBUS_CONNECTION(connection) || !object_path || !interface_name || !method_name)
        errno = EINVAL;
    else if (start(&c, loop, finish_dbus_call, (GDestroyNotify)g_variant_unref)) {
        g_dbus_connection_call(connection, bus_name, object_path, interface_name, method_name, parameters,
                               reply_type, flags, timeout_msec, c.cancellable, c.callback, c.user_data);
        return c.future;
    }
    /* Not called: a floating parameters is ours to sink, as GIO would have. */
    if (parameters)
        g_variant_unref(g_variant_ref_sink(parameters));
    return c.future;
}
