/** @file
 * loom — Unix signals delivered to a loop.
 *
 * loom_signal_watch makes a signal (SIGINT, SIGTERM, SIGHUP, SIGUSR1, ...,
 * real-time signals) call a callback on the loop's thread, from the loop's
 * ready queue like any fd callback, never inside the signal handler. Several
 * loops (on any threads) may watch the same signal; each is told.
 *
 * How: the first watch of a signal in the process installs loom's handler
 * with sigaction. The handler is async-signal-safe: it counts the delivery
 * for every loop watching it and writes to that loop's eventfd (a pipe where
 * there is none), which the loop watches with loom_fd_watch.
 *
 * Coalescing: the callback gets the number of deliveries loom's handler saw
 * since its last call (at least 1). A signal that arrives while the callback
 * runs is never lost: it makes a later call. The kernel merges a standard
 * (non real-time) signal that is raised again while still pending, so the
 * count is a lower bound of how often it was sent.
 *
 * Handlers installed before loom's are chained, not stolen: loom's handler
 * calls the previous one (a function; SIG_IGN does nothing; SIG_DFL's action
 * is replaced by the watch while loops of this process watch the signal, and
 * taken again in a forked child whose loops do not). When the last watch of
 * a signal goes, the previous disposition is put back, unless someone
 * installed another handler over loom's since (that one is left alone).
 * A handler installed over loom's with sigaction takes the signal from loom
 * unless it chains to it. GLib's g_unix_signal_add is such a handler (it
 * never chains and resets SIG_DFL when its last source goes): make the GLib
 * sources first and the loom watches after, then both see every signal.
 * loom_signal_watch re-asserts loom's handler (chaining to whatever is
 * installed then) each time it is called.
 *
 * Not watchable: SIGKILL, SIGSTOP, and the synchronous fault signals
 * (SIGSEGV, SIGBUS, SIGFPE, SIGILL), which a handler cannot return from. */
#ifndef LOOM_SIGNAL_H
#define LOOM_SIGNAL_H

#include <loom/loop.h>

LOOM_BEGIN_DECLS

/** Called on the loop's thread with the signal and the number of deliveries
 * since the last call (>= 1). It may unwatch any signal, its own included. */
typedef void (*loom_signal_callback)(loom_loop *loop, int signo, unsigned count, void *data);

/** Watches signo on loop: cb(loop, signo, count, data) runs after each
 * delivery (coalesced, see above). One watch per signal per loop. The watch
 * owns data from a successful call on: destroy(data) (may be NULL) runs
 * exactly once, when the watch is removed or the loop closes; never on
 * failure. Returns 0, -EINVAL (NULL cb, a signal that cannot be watched),
 * -EEXIST (loop watches signo already), -ENOMEM or another negative errno
 * (the eventfd, sigaction), -EXDEV / -ESHUTDOWN as every loop call. The first
 * watch on a loop opens one eventfd (close-on-exec), kept until the loop
 * closes. */
LOOM_API int loom_signal_watch(loom_loop *loop, int signo, loom_signal_callback cb, void *data,
                               loom_destroy_fn destroy);

/** Removes the loop's watch of signo and runs its destroy (inside this call).
 * Deliveries not yet reported to the callback are dropped. If it was the
 * process's last watch of signo, the previous disposition is restored (see
 * above). Returns 0, -ENOENT if the loop does not watch signo, -EINVAL for
 * an invalid signal, -EXDEV / -ESHUTDOWN. Safe from any signal callback. */
LOOM_API int loom_signal_unwatch(loom_loop *loop, int signo);

LOOM_END_DECLS

#endif
