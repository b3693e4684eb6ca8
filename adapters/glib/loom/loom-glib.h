/** @file
 * loom-glib — loom inside a GLib main loop.
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

/** Creates a loop on ctx (NULL: the calling thread's default context, see
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

/** Sets the GLib priority of the loop's source (G_PRIORITY_HIGH, ...,
 * G_PRIORITY_DEFAULT, ...): sources of a higher priority that are ready are
 * dispatched before loom's callbacks, and lower ones only while loom has
 * nothing ready. Returns 0, -EINVAL if loop is not a GLib loop, -ESHUTDOWN
 * once it is closed. */
LOOM_API int loom_glib_loop_set_priority(loom_loop *loop, int priority);

/** The context the loop runs on (borrowed: valid while the loop is open), or
 * NULL if loop is not an open GLib loop. */
LOOM_API GMainContext *loom_glib_loop_context(loom_loop *loop);

/* --- the GLib guest: a GMainContext driven from any loom loop ------------- */

/** A guest runs GLib's own protocol on a context — prepare, query, check,
 * dispatch — as work of a loom loop of any backend (epoll, poll, libevent,
 * Qt, or a GLib loop on another context), on the loop's thread: GLib's poll
 * fds become loom fd watches, its timeout one loom timer, and prepare/query
 * run again before the loop may block (a LOOM_HOOK_BEFORE_POLL hook), so a
 * source attached or made ready on this thread (from a loom callback, a task
 * or a GLib dispatch) runs with no other event; other threads wake the loop
 * through the context's wakeup fd (g_idle_add, g_main_context_invoke,
 * g_main_context_wakeup). One GLib dispatch round (sources of the highest
 * ready priority, as GLib's own loop) runs per loom tick, between loom's
 * callbacks, so neither starves the other. An idle context costs no wakeup.
 *
 * Sources attached or removed outside any loom callback (in main, between
 * two runs) are seen when the next loom_loop_run, _run_until or _run_once
 * begins, before it may wait; where the host's own API runs the loop
 * (event_base_dispatch, QCoreApplication::exec, g_main_loop_run) they are
 * seen at the loop's next tick: guest_new makes one, later ones need an
 * event or a loom callback. So an fd whose source was removed there is
 * still watched until then: closing it first makes loom report it closed
 * under its watch (run once, or a loom_call_soon, before closing it).
 *
 * Nested GLib loops (gtk_dialog_run, a nested g_main_loop_run) run by code
 * the guest dispatches iterate the context themselves. The guest notices
 * them by the context's poll function, which it sets while attached (and
 * gives back to GLib when freed; a context whose poll function is the
 * application's, set before or after the guest, keeps it, and the guest then
 * keeps its source in the context instead). On a loop that has an embedding
 * fd (loom_loop_get_fd: the built-in epoll loop) the first iteration of a
 * nested loop puts a source of the guest's own into the context (that
 * iteration returns at once, dispatching nothing), until the guest's next
 * round, so loom's callbacks, timers, fd watches and tasks keep running
 * inside the nested GLib loop. On loops without one (poll, libevent, Qt, a GLib loop on
 * another context) loom waits until the nested GLib loop returns: nothing of
 * loom's runs meanwhile, and nothing spins. While a dispatch runs, nested
 * loom loops (loom_loop_run_until) do not iterate the context.
 *
 * A GLib fd that loom already watches for someone else (loom_fd_watch fails
 * with -EEXIST) cannot wake the guest: the guest reports it to the loop's
 * error handler (-EEXIST, naming the fd), once per fd, and goes on. */
typedef struct loom_glib_guest loom_glib_guest;

/** Drives ctx (NULL: the calling thread's default context, see
 * g_main_context_ref_thread_default) from loop, which must belong to the
 * calling thread. The guest acquires ctx (g_main_context_acquire) and holds a
 * reference to it and to loop until freed. Returns 0 and a guest the caller
 * owns in *guestp; -EBUSY if another thread owns ctx or a guest drives it
 * already; -EXDEV from a thread
 * not loop's; -ESHUTDOWN for a closed loop; -ENOMEM. Closing the loop while
 * a guest is attached stops the guest (its watches, timer and hook go with
 * the loop); free it still. */
LOOM_API int loom_glib_guest_new(loom_glib_guest **guestp, loom_loop *loop, GMainContext *ctx);

/** Detaches and frees the guest: removes every fd watch, timer, hook and
 * source it added, releases the context (which stays usable, with its
 * sources, by another guest or GLib's own loop) and drops its references.
 * Call it on the loop's thread, not from inside one of the context's
 * dispatches. NULL is ignored. */
LOOM_API void loom_glib_guest_free(loom_glib_guest *guest);

/** How many GLib dispatch rounds (g_main_context_dispatch calls) the guest
 * ran; for tests and debugging. */
LOOM_API uint64_t loom_glib_guest_dispatches(const loom_glib_guest *guest);

LOOM_END_DECLS

#endif
