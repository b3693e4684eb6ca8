/** @file
 * loom — the backend contract: what a host loop adapter implements.
 *
 * The core owns all scheduling (ready queue, timer heap, fd table). A backend
 * translates three primitives into its host loop's sources:
 *   1. fd watches, level-triggered, at most one per fd;
 *   2. one deadline (absolute monotonic ns), or "as soon as possible";
 *   3. a thread-safe wakeup (optional: the core falls back to an eventfd
 *      watched through 1).
 * and, optionally, one iteration of the host loop for programs that let loom
 * drive. Every host callback enters the core through the loom_backend_*
 * functions at the end of this header; those run the core's tick, which may
 * re-enter (a callback may run a nested host loop). */
#ifndef LOOM_BACKEND_H
#define LOOM_BACKEND_H

#include <loom/loop.h>

LOOM_BEGIN_DECLS

/** set_deadline: no deadline. */
#define LOOM_DEADLINE_NONE INT64_MAX

/** Delivered with LOOM_ERR by loom_backend_fd_ready when the host found the
 * fd closed under its watch (poll's POLLNVAL, G_IO_NVAL): the core then stops
 * the watch (watch_set with 0) so the loop does not spin, and reports it. */
#define LOOM_BACKEND_NVAL (1u << 8)

/** Capabilities. */
enum {
    /** The host loop may be run from inside one of its own callbacks, so
     * loom_loop_run_until may nest. */
    LOOM_BACKEND_CAN_NEST = 1u << 0,
    /** The host would rather watch one fd than many: the core then keeps the
     * loop's fd watches in an epoll set of its own and asks the backend to
     * watch only that set's fd, which stays the same for the loop's life.
     * For hosts whose own fd sets cost O(watches) per iteration, or keep
     * reporting fds closed under a watch (libevent's epoll method). epoll's
     * limits then apply (regular files fail with -EPERM). Ignored where
     * there is no epoll: the backend then gets every watch. The GLib and Qt
     * hosts ask for it, libevent's epoll method too. LOOM_ONE_FD=0 in the
     * environment when a loop is created gives that loop's backend every
     * watch anyway (the per-fd mode, for tests and for comparing; libevent's
     * epoll method then spins on an fd closed under its watch). */
    LOOM_BACKEND_ONE_FD = 1u << 1,
};

/** The functions a backend implements; self is the backend's own state,
 * given to loom_loop_new_with_backend. */
typedef struct loom_backend_ops {
    const char *name; /**< what loom_loop_backend_name returns (static) */
    unsigned caps;    /**< LOOM_BACKEND_CAN_NEST | LOOM_BACKEND_ONE_FD */

    /** Starts watching fd for events (LOOM_READ|LOOM_WRITE, never 0). The
     * backend reports readiness with loom_backend_fd_ready(loop, token, ...),
     * where token is the value given here, and stores its own per-watch state
     * in *watchp. Returns 0 or a negative errno (-EBADF, -EPERM for files the
     * host cannot poll). */
    int (*watch_add)(void *self, int fd, uint64_t token, unsigned events, void **watchp);
    /** Changes the interest of a watch (events may be 0: watch nothing). */
    int (*watch_set)(void *self, void *watch, int fd, unsigned events);
    /** Stops and frees a watch. fd may already be closed. */
    void (*watch_del)(void *self, void *watch, int fd);

    /** Arms the single deadline: call loom_backend_tick at or after when_ns
     * (CLOCK_MONOTONIC ns); a time in the past means as soon as possible;
     * LOOM_DEADLINE_NONE disarms. Must never fire early. A deadline fires
     * once: the tick it causes sets the next one (a tick that starts with
     * callbacks queued arms "as soon as possible" first, so that a nested
     * host loop run by one of them finds the rest due). */
    void (*set_deadline)(void *self, int64_t when_ns);

    /** Thread-safe: make the host call loom_backend_tick soon. NULL: the core
     * watches an eventfd of its own instead. */
    void (*wakeup)(void *self);

    /** Optional: one iteration of the host loop, blocking for events when
     * block is true. Needed for loom_loop_run*; NULL: only the host program
     * runs the loop. Returns 0 or a negative errno. */
    int (*iterate)(void *self, bool block);

    /** Optional (built-in loop only): pollable fd for embedding, or -ENOTSUP. */
    int (*get_fd)(void *self);

    /** Releases the backend. Every watch has been deleted and the deadline
     * disarmed before this is called. */
    void (*destroy)(void *self);
} loom_backend_ops;

/** Creates a loop on a backend, bound to the calling thread. ops must outlive
 * the loop; self is owned by the loop from now on (destroy is called on
 * failure too). Returns 0 and a new loop (one reference) or a negative errno. */
LOOM_API int loom_loop_new_with_backend(loom_loop **loopp, const loom_backend_ops *ops, void *self);

/** The self a loop was created with, if it runs on ops and is still open;
 * else NULL. For an adapter's own API (e.g. loom_glib_loop_context). */
LOOM_API void *loom_loop_backend_self(const loom_loop *loop, const loom_backend_ops *ops);

/* --- entry points for the backend's host callbacks ------------------------ */

/** fd events for the watch added with token. Stale tokens (a watch deleted or
 * replaced since the event was collected) are ignored, so a backend may
 * collect events first and deliver them afterwards. Runs the fd callbacks;
 * call loom_backend_tick once after the last of a batch. */
LOOM_API void loom_backend_fd_ready(loom_loop *loop, uint64_t token, unsigned events);

/** The deadline passed, a wakeup arrived, or fd events were delivered: runs
 * the core's tick (due timers, thread-safe calls, ready callbacks) and
 * re-arms the deadline. Re-entrant. */
LOOM_API void loom_backend_tick(loom_loop *loop);

/** The deadline the core has armed (LOOM_DEADLINE_NONE if none); for hosts
 * that must ask, e.g. a GSource's prepare. */
LOOM_API int64_t loom_backend_deadline(const loom_loop *loop);

/** Whether loop is a forked child's copy (loop.h: the child must not use
 * it). The core ignores loom_backend_fd_ready and loom_backend_tick there,
 * so none of the parent's callbacks runs, and loom_backend_deadline is
 * LOOM_DEADLINE_NONE; a host the child keeps running
 * (its GMainContext, event_base, Qt loop) should stop dispatching to it
 * when a callback meets it: remove the GSource, delete the event, disable
 * the notifier, in the child's own host state, never in a kernel object it
 * shares with the parent (an epoll set: libevent's is the child's own only
 * after event_reinit, which libevent requires after fork anyway; GLib's
 * wakeup eventfd may be written once, costing the parent one iteration). */
LOOM_API bool loom_backend_inherited(const loom_loop *loop);

LOOM_END_DECLS

#endif
