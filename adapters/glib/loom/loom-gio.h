/** @file
 * loom-gio — GIO's async calls as loom futures (part of libloom-glib when
 * GIO is available).
 *
 * A GIO *_async call delivers its result on the thread-default GMainContext
 * of the thread that made it, so that context must be driven for the result
 * ever to arrive: either the loop is a GLib loop on that context
 * (loom_glib_loop_new), or a GLib guest (loom_glib_guest_new) drives it from
 * the loop. loom_gio_call_init and the convenience futures check this when
 * called (on the loop's thread, with the context the GIO call will use
 * pushed as thread-default) and fail with -ENOTCONN, with a message saying
 * why, where nobody drives it: the GIO callback would otherwise never run
 * and an await would hang.
 *
 * Cancellation is linked both ways: cancelling the future cancels the
 * GCancellable given to GIO (one loop tick later, through the future's
 * callbacks); a GIO result that arrives once the GCancellable is cancelled
 * (whoever cancelled it), or a G_IO_ERROR_CANCELLED error, completes the
 * future as cancelled (-ECANCELED). */
#ifndef LOOM_GIO_H
#define LOOM_GIO_H

#include <gio/gio.h>
#include <loom/loom-glib.h>

LOOM_BEGIN_DECLS

/** Turns a GAsyncResult into the future's value, on the loop's thread, inside
 * the GAsyncReadyCallback: returns the value (owned by the future from then
 * on, freed with the destroy function given with it), or NULL with *error
 * set to fail the future. NULL with no error resolves it with NULL. source
 * and result are borrowed. */
typedef gpointer (*loom_gio_finish_fn)(GObject *source, GAsyncResult *result, GError **error);

/** What to pass to a GIO *_async call. */
typedef struct loom_gio_call {
    loom_future *future;          /**< the caller's reference */
    /** borrowed: pass it to the call. The bridge's reference goes once the
     * GIO callback ran, which may be right after the future is cancelled
     * (or timed out), while the future lives on: g_object_ref it to keep it. */
    GCancellable *cancellable;
    GAsyncReadyCallback callback; /**< pass these two as its callback and user data */
    gpointer user_data;           /**< the bridge's, released by callback */
} loom_gio_call;

/** Prepares one GIO call on loop. Pass call->cancellable, call->callback and
 * call->user_data to exactly one *_async call (its callback runs exactly
 * once, which releases what the bridge holds). With finish NULL, the future
 * resolves with a reference to the GAsyncResult (loom_future_value: borrowed;
 * the future unrefs it): call the GIO finish function on it yourself, on the
 * loop's thread (after loom_await in a task, or in a future callback); GIO
 * errors then come from that finish call, but a cancelled GCancellable still
 * cancels the future. With finish set, the bridge calls it and the future
 * resolves with its value (freed with destroy, may be NULL) or fails with
 * the GError: errno from loom_gio_errno, the message kept. The bridge holds
 * a reference to the GCancellable and the future until the callback ran;
 * the source object is GIO's business (it keeps it alive for the call).
 * Returns 0; -ENOTCONN if nobody drives the thread-default context (see
 * above; then call->future is a failed future with the explanation, the
 * caller's reference, and no GIO call must be made); -EINVAL, -ESHUTDOWN
 * for a closed loop, -ENOMEM (then call->future is NULL). */
LOOM_API int loom_gio_call_init(loom_gio_call *call, loom_loop *loop, loom_gio_finish_fn finish,
                                GDestroyNotify destroy);

/** The negative errno for a GError: G_IO_ERROR codes that have one map to it
 * (G_IO_ERROR_NOT_FOUND -> -ENOENT, G_IO_ERROR_CONNECTION_REFUSED ->
 * -ECONNREFUSED, G_IO_ERROR_CANCELLED -> -ECANCELED, ...), everything else
 * to -EIO. error is borrowed; NULL gives 0. */
LOOM_API int loom_gio_errno(const GError *error);

/** Completes future from a GError (borrowed): G_IO_ERROR_CANCELLED cancels
 * it, any other error fails it with loom_gio_errno and error->message.
 * Returns 0, -EINVAL (NULL error, or the future is already done). */
LOOM_API int loom_gio_fail(loom_future *future, const GError *error);

/** @name Convenience futures
 * Each returns a new future reference, or NULL with
 * errno set (EINVAL, ESHUTDOWN, ENOMEM); a context nobody drives gives a
 * future failed with -ENOTCONN. Arguments are borrowed (GIO takes its own
 * references for the call). */
///@{

/** g_file_load_contents_async: resolves with a GBytes of the whole file
 * (owned by the future: loom_future_steal_value to keep it, then
 * g_bytes_unref). */
LOOM_API loom_future *loom_gio_load_contents(loom_loop *loop, GFile *file);

/** g_socket_client_connect_async: resolves with the GSocketConnection (owned
 * by the future; steal it or g_object_ref it to keep it). */
LOOM_API loom_future *loom_gio_connect(loom_loop *loop, GSocketClient *client, GSocketConnectable *connectable);

/** g_dbus_connection_call: resolves with the reply GVariant (owned by the
 * future; steal it, then g_variant_unref). parameters may be floating: GIO
 * sinks it, as g_dbus_connection_call does. A D-Bus error fails the future
 * with -EIO and its message (the D-Bus error name is in it). */
LOOM_API loom_future *loom_gio_dbus_call(loom_loop *loop, GDBusConnection *connection, const char *bus_name,
                                         const char *object_path, const char *interface_name,
                                         const char *method_name, GVariant *parameters,
                                         const GVariantType *reply_type, GDBusCallFlags flags,
                                         int timeout_msec);
///@}

LOOM_END_DECLS

#endif
