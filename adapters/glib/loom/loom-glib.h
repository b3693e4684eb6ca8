/* loom-glib — loom inside a GLib main loop.
 *
 * A loop made here runs on a GMainContext that the host program iterates
 * (gtk_main, g_main_loop_run, g_application_run), through one GSource of its
 * own: it polls loom's fd watches (on Linux as one fd, an epoll set of
 * loom's, so a GLib iteration costs what is ready, not what is watched;
 * LOOM_ONE_FD=0 in the environment at loop creation gives every watch a
 * GPollFD of its own, see loom/backend.h), becomes ready at loom's
 * earliest deadline and on loom_call_soon_threadsafe, and dispatches loom's
 * tick. The source may recurse, so loom keeps running inside a nested main
 * loop (gtk_dialog_run, a nested g_main_loop_run) and loom_loop_run_until
 * may nest. loom_loop_run* iterate the context, so a program without a GLib main
 * loop of its own can still drive it.
 *
 * Create and use the loop on the thread that iterates its context. */
#ifndef LOOM_GLIB_H
#define LOOM_GLIB_H

#include <glib.h>
#include <loom/loom.h>

LOOM_BEGIN_DECLS

/* Creates a loop on ctx (NULL: the calling thread's default context, see
 * g_main_context_ref_thread_default) and binds it to the calling thread. The
 * loop holds a reference to the context until it is closed — or, closed
 * while a GLib dispatch runs on the thread (its last reference dropped in a
 * callback), until no dispatch runs: at the thread's next
 * loom_glib_loop_new, run of a GLib loop or close outside a dispatch, or at
 * its exit; so a host may finish the iteration it was running on the
 * context with no reference of its own. Its source is
 * attached at G_PRIORITY_DEFAULT and named "loom" (g_source_get_name), and is
 * destroyed when the loop is closed. Returns 0 and a new loop the caller owns
 * (one reference), or a negative errno. */
LOOM_API int loom_glib_loop_new(loom_loop **loopp, GMainContext *ctx);

/* Sets the GLib priority of the loop's source (G_PRIORITY_HIGH, ...,
 * G_PRIORITY_DEFAULT, ...): sources of a higher priority that are ready are
 * dispatched before loom's callbacks, and lower ones only while loom has
 * nothing ready. Returns 0, -EINVAL if loop is not a GLib loop, -ESHUTDOWN
 * once it is closed. */
LOOM_API int loom_glib_loop_set_priority(loom_loop *loop, int priority);

/* The context the loop runs on (borrowed: valid while the loop is open), or
 * NULL if loop is not an open GLib loop. */
LOOM_API GMainContext *loom_glib_loop_context(loom_loop *loop);

LOOM_END_DECLS

#endif
