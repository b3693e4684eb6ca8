/** @file
 * loom — the event loop.
 *
 * A loop belongs to the thread that created it. Every function here must be
 * called on that thread, except the ones named *_threadsafe and the
 * reference counting; a call from another thread fails with -EXDEV and is
 * reported to the error handler. Every call on a closed loop fails with
 * -ESHUTDOWN.
 *
 * fork: a forked child must not use a loop it inherited. There, every call
 * on it fails with -ECHILD (not reported), except loom_loop_close and the
 * last unref, which free the core's copy of the loop and touch nothing it
 * shares with the parent: no watch is removed from the parent's epoll set or
 * host loop, no fd is closed (the loop's own are close-on-exec), and no
 * callback, hook, task or destroy function runs (they are the parent's). The
 * backend's and the tasks' memory stay as they are. A child that keeps
 * running the host it inherited (its GMainContext; an event_base after
 * event_reinit, never before: libevent shares the parent's epoll set until
 * then; a Qt loop) runs none of the loop's callbacks either: the
 * loop's source, events or notifiers go quiet there, and the parent's loop
 * keeps its fds. A child makes loops of its own (and may use the executor)
 * as any process does.
 *
 * Callbacks scheduled for the same moment run in FIFO order. A tick runs the
 * callbacks that were ready when it began; what they schedule runs on the
 * next tick. Between ticks the loop polls for I/O — while callbacks keep it
 * busy, at least every 32 ticks — so a callback chain never starves I/O. */
#ifndef LOOM_LOOP_H
#define LOOM_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <loom/error.h>

LOOM_BEGIN_DECLS

/** An event loop (opaque, reference counted: see loom_loop_ref). */
typedef struct loom_loop loom_loop;
/** A result that is not there yet (opaque): see loom/future.h. */
typedef struct loom_future loom_future;

/** A scheduled callback, as returned by loom_call_soon/_later/_at. It is a
 * generation-counted id, never a pointer: cancelling a handle whose callback
 * already ran (or was cancelled) is safe and returns -ENOENT. 0 is never a
 * valid handle. */
typedef uint64_t loom_handle;

/** A scheduled callback or hook: runs on the loop's thread with the data it
 * was scheduled with. */
typedef void (*loom_callback)(loom_loop *loop, void *data);

/** Frees callback data that a loop owns (see the *_full calls). */
typedef void (*loom_destroy_fn)(void *data);

/** Durations in nanoseconds, as int64_t: LOOM_MSEC(3000) does not overflow
 * where 3000 * 1000000 (an int) would. */
///@{
#define LOOM_USEC(n) ((int64_t)(n) * INT64_C(1000))
#define LOOM_MSEC(n) ((int64_t)(n) * INT64_C(1000000))
#define LOOM_SEC(n) ((int64_t)(n) * INT64_C(1000000000))
///@}

/** Events of an fd watch (interest and delivered events). */
enum {
    LOOM_READ = 1u << 0,
    LOOM_WRITE = 1u << 1,
    LOOM_HUP = 1u << 2, /**< delivered only: the fd is hung up (POLLHUP) */
    LOOM_ERR = 1u << 3, /**< delivered only: an error is pending on the fd */
};

/** fd callbacks get the events that woke them, as their interest allows:
 * LOOM_READ and/or LOOM_WRITE, possibly with LOOM_HUP / LOOM_ERR. HUP and
 * ERR always come with READ for a reader and WRITE for a writer, so that a
 * callback testing for READ (WRITE) reads the EOF (writes, and meets the
 * error). The same on every backend. */
typedef void (*loom_fd_callback)(loom_loop *loop, int fd, unsigned events, void *data);

/** Called for failures nobody handled: an unretrieved failed future, a loop
 * closed with live handles, a loop used from a foreign thread. msg is only
 * valid during the call. */
typedef void (*loom_error_handler)(loom_loop *loop, int err, const char *msg, void *data);

/* --- life cycle --------------------------------------------------------- */

/** Creates a loop on the built-in backend and binds it to the calling thread.
 * backend: "epoll" (Linux), "poll", or NULL for $LOOM_BACKEND, else the best
 * one available. Returns 0 and a new loop the caller owns (one reference;
 * loom_loop_unref drops it), -EINVAL for an unknown backend name, or another
 * negative errno (-ENOMEM, the backend's). */
LOOM_API int loom_loop_new(loom_loop **loopp, const char *backend);

/** Name of the backend ("epoll", "poll", "glib", "libevent", "qt"). Static. */
LOOM_API const char *loom_loop_backend_name(const loom_loop *loop);

/** Whether loom_loop_run/run_until may be called from inside a callback
 * (false where the host loop cannot nest, e.g. libevent). */
LOOM_API bool loom_loop_can_nest(const loom_loop *loop);

///@{
/** Reference counting; safe from any thread. ref returns loop, with one
 * more reference the caller owns; unref drops one. These are the users'
 * references: the last unref closes the loop if it is still open (dropping
 * queued work and releasing what it holds). The loop's own objects —
 * futures, tasks, sync objects, task groups — hold only its memory, not the
 * loop open, so queued work can never keep a dropped loop alive; the memory
 * goes once they are gone too. Closing happens on the loop's own thread:
 * the last reference of an open loop dropped on another thread is handed to
 * the loop's thread, which drops it on its next tick. loom_loop_run and
 * run_until hold a reference while they run (as g_main_loop_run does): an
 * unref made in one of their callbacks is never the last; the run goes on
 * until loom_loop_stop (which the callback may call on the loop it was
 * given), and the loop closes when the run returns. */
LOOM_API loom_loop *loom_loop_ref(loom_loop *loop);
LOOM_API void loom_loop_unref(loom_loop *loop);
///@}

/** Closes the loop: its CLOSE hooks run, suspended tasks are resumed with
 * -ESHUTDOWN, pending callbacks, timers and fd watches are dropped (their
 * destroy functions run; a drop is reported to the error handler), the
 * backend is released, and every later call fails with -ESHUTDOWN. Returns 0,
 * -EBUSY while the loop is running (nothing is closed), or -EALREADY.
 * References stay valid. */
LOOM_API int loom_loop_close(loom_loop *loop);

/** How many callbacks, timers and thread-safe calls closing the loop dropped
 * (0 while it is open). */
LOOM_API size_t loom_loop_dropped_calls(const loom_loop *loop);

/* --- running -------------------------------------------------------------- */

/** Runs until loom_loop_stop. Returns 0, -EDEADLK if called from a callback
 * on a backend that cannot nest, -ENOTSUP if the backend cannot be driven by
 * loom (its host program runs the loop). */
LOOM_API int loom_loop_run(loom_loop *loop);

/** Runs until the future completes and the callbacks added to it before
 * then have run (or loom_loop_stop). Returns the future's status: 0 if
 * resolved, its negative errno if failed or cancelled, -EINTR if stopped
 * before. May nest inside a callback where the backend allows it.
 * The caller keeps its reference to the future. */
LOOM_API int loom_loop_run_until(loom_loop *loop, loom_future *future);

/** Runs one iteration: waits for I/O (only if block and nothing is ready),
 * then runs what is due. Returns 0 or a negative errno (-EDEADLK, -ENOTSUP
 * as loom_loop_run; the backend's iteration errors). */
LOOM_API int loom_loop_run_once(loom_loop *loop, bool block);

/** Makes the innermost loom_loop_run/_run_until return once the current tick
 * has run its callbacks. -EINVAL when loom is not running the loop. */
LOOM_API int loom_loop_stop(loom_loop *loop);

/* --- time --------------------------------------------------------------- */

/** Monotonic time (CLOCK_MONOTONIC) in nanoseconds, the clock of every
 * deadline and timer; loop may be NULL (adapters read it so). */
LOOM_API int64_t loom_loop_now(const loom_loop *loop);

/** Number of ticks the loop has run; an idle loop does not tick. */
LOOM_API uint64_t loom_loop_ticks(const loom_loop *loop);

/* --- callbacks and timers ---------------------------------------------- */

/** Schedules cb(loop, data) on the next tick. handlep (may be NULL) receives
 * a handle for loom_cancel. data is borrowed: it must stay valid until the
 * callback runs or is cancelled. Returns 0, -EINVAL for a NULL cb, or
 * -ENOMEM. */
LOOM_API int loom_call_soon(loom_loop *loop, loom_callback cb, void *data, loom_handle *handlep);

/** Schedules cb at least delay_ns from now (a negative delay is 0). Errors
 * as loom_call_soon; -EINVAL also for a delay of more than 146 years. */
LOOM_API int loom_call_later(loom_loop *loop, int64_t delay_ns, loom_callback cb, void *data,
                             loom_handle *handlep);

/** Schedules cb at the absolute monotonic time when_ns (see loom_loop_now).
 * Timers with equal deadlines run in the order they were scheduled. Errors
 * as loom_call_soon. */
LOOM_API int loom_call_at(loom_loop *loop, int64_t when_ns, loom_callback cb, void *data,
                          loom_handle *handlep);

///@{
/** The same, with data owned by the loop: destroy(data) runs exactly once, on
 * the loop's thread, after cb ran, or when the call is cancelled, or when the
 * loop closes with it pending. destroy may be NULL. If the call fails, nothing
 * was taken: the caller still owns data. */
LOOM_API int loom_call_soon_full(loom_loop *loop, loom_callback cb, void *data, loom_destroy_fn destroy,
                                 loom_handle *handlep);
LOOM_API int loom_call_later_full(loom_loop *loop, int64_t delay_ns, loom_callback cb, void *data,
                                  loom_destroy_fn destroy, loom_handle *handlep);
LOOM_API int loom_call_at_full(loom_loop *loop, int64_t when_ns, loom_callback cb, void *data,
                               loom_destroy_fn destroy, loom_handle *handlep);
///@}

/** Cancels a scheduled callback (its destroy, if any, runs now). Returns 0, or
 * -ENOENT if it already ran or was cancelled. */
LOOM_API int loom_cancel(loom_loop *loop, loom_handle handle);

/** Schedules cb on the loop from any thread. Never blocks, never drops a call:
 * every call accepted (return 0) runs exactly once on the loop's thread, in
 * the order it was accepted, unless the loop is closed first, in which case
 * it is dropped and reported. Fails with -ESHUTDOWN once the loop is closed.
 * The caller must hold a reference to the loop for the duration of the call. */
LOOM_API int loom_call_soon_threadsafe(loom_loop *loop, loom_callback cb, void *data);

/** The same with data owned by the loop once the call is accepted: destroy
 * runs exactly once on the loop's thread, after cb ran or when the loop
 * closes first. On failure the caller still owns data. Errors as
 * loom_call_soon_threadsafe. */
LOOM_API int loom_call_soon_threadsafe_full(loom_loop *loop, loom_callback cb, void *data,
                                            loom_destroy_fn destroy);

/* --- hooks ---------------------------------------------------------------- */

/** Where a hook runs. Every tick of the loop (one round of due timers,
 * thread-safe calls and ready callbacks, on every backend) begins with the
 * AFTER_POLL hooks (the I/O events that woke the loop were delivered just
 * before) and ends with the BEFORE_POLL hooks, after which the loop may block
 * waiting for I/O: what a BEFORE_POLL hook schedules keeps it from blocking.
 * They also run when loom_loop_run, _run_until or a blocking _run_once
 * begins, before its first wait, so what the program changed between two
 * runs is seen. These are libuv's check and prepare handles; a GLib context pump, c-ares'
 * timer re-arm or a toolkit's flush belongs in BEFORE_POLL. CLOSE hooks run
 * once, when the loop closes (loom_loop_close or the last unref), newest
 * first and before anything is dropped: the loop is still open during the
 * call, so a hook may remove its fd watches and cancel its timers; what it
 * schedules is dropped. */
typedef enum loom_hook_kind {
    LOOM_HOOK_BEFORE_POLL,
    LOOM_HOOK_AFTER_POLL,
    LOOM_HOOK_CLOSE,
} loom_hook_kind;

/** Adds cb(loop, data) as a hook of that kind; hooks of one kind run in the
 * order they were added (CLOSE: the reverse). destroy(data) (may be NULL)
 * runs once the hook is removed, after a CLOSE hook ran, or when the loop
 * closes. hookp (may be NULL) receives a handle for loom_hook_remove. A hook
 * may remove itself or any other hook while running. On failure the caller
 * still owns data. Returns 0, -EINVAL (NULL cb, an unknown kind), -ESHUTDOWN
 * for a CLOSE hook added while the loop closes (it would never run), or
 * -ENOMEM. */
LOOM_API int loom_hook_add(loom_loop *loop, loom_hook_kind kind, loom_callback cb, void *data,
                           loom_destroy_fn destroy, loom_handle *hookp);
/** Removes a hook; -ENOENT if it is gone already. */
LOOM_API int loom_hook_remove(loom_loop *loop, loom_handle hook);

/* --- per-loop data -------------------------------------------------------- */

/** Attaches data to the loop under key (any address an integration owns,
 * e.g. of a static variable), so integrations need no loop->state tables.
 * Replaces an earlier value under the same key, destroying it; data NULL
 * removes it. destroy(data) (may be NULL) runs when the value is replaced or
 * removed, or when the loop closes (after its CLOSE hooks). Returns 0,
 * -EINVAL for a NULL key, or -ENOMEM (the caller still owns data). */
LOOM_API int loom_loop_set_data(loom_loop *loop, const void *key, void *data, loom_destroy_fn destroy);
/** The value under key, or NULL (also for a closed loop or a foreign thread). */
LOOM_API void *loom_loop_get_data(const loom_loop *loop, const void *key);

/* --- fd readiness ------------------------------------------------------- */

/** @name fd readiness
 * Watches are level-triggered and keyed by fd number, at most one kind per
 * fd: a reader and/or a writer, or one loom_fd_watch. Any watch may be
 * removed (and its fd closed) from inside any fd callback, its own included;
 * an event already collected for it is then dropped.
 *
 * A peer's shutdown(SHUT_WR) on a socket is plain LOOM_READ (read returns
 * EOF); LOOM_HUP means the fd itself is hung up (a pipe without writers, a
 * socket shut down both ways).
 *
 * Closing a watched fd first and removing its watch after is allowed. An fd
 * closed while still watched, or replaced by dup2 with another file, is
 * found out (by the backend, or by loom's own check of the file every few
 * events and at every add on that number): its watch is suspended (it is not
 * re-registered on the new file), its callbacks get one last call with
 * LOOM_ERR, and -EBADF is reported to the error handler. A suspended watch,
 * or one whose fd number now names another file, never blocks a new add on
 * that number: the new add drops it (without calling it again) and starts
 * afresh. (Files without an inode of their own, e.g. eventfds, cannot be
 * told from one another.) */
///@{

/** Calls cb whenever fd is readable until removed. One reader per fd: a
 * second one fails with -EEXIST. -EBADF for an invalid fd. data is borrowed:
 * it must stay valid until the reader is removed. Also -EINVAL for a NULL
 * cb, -ENOMEM, or the backend's error (-EPERM: a file epoll cannot watch). */
LOOM_API int loom_add_reader(loom_loop *loop, int fd, loom_fd_callback cb, void *data);
LOOM_API int loom_remove_reader(loom_loop *loop, int fd); /**< -ENOENT if none */

/** The same for writability. */
LOOM_API int loom_add_writer(loom_loop *loop, int fd, loom_fd_callback cb, void *data);
/** Removes the writer; -ENOENT if none. */
LOOM_API int loom_remove_writer(loom_loop *loop, int fd);

/** One callback for fd with an interest mask: LOOM_READ, LOOM_WRITE, both,
 * or 0 (watch nothing yet); cb gets the delivered events. -EEXIST if fd
 * already has a watch or a reader or writer (and add_reader/add_writer fail
 * the same way on an fd watched here; loom_fd_wait's waiters never count,
 * they share the fd), -EINVAL for a NULL cb or other bits,
 * -EBADF for an invalid fd. The watch owns data from a successful call on:
 * destroy(data) (may be NULL) runs exactly once, when the watch is removed
 * (loom_fd_unwatch, or a new add that drops it as dead) or the loop closes;
 * never on failure. */
LOOM_API int loom_fd_watch(loom_loop *loop, int fd, unsigned events, loom_fd_callback cb, void *data,
                           loom_destroy_fn destroy);

/** Changes a watch's interest mask. Cheap: never an fstat or fcntl, and no
 * system call at all when the mask did not change. -ENOENT if fd has no
 * loom_fd_watch, -EBADF if its watch is suspended (the fd was found closed),
 * -EINVAL for other bits. */
LOOM_API int loom_fd_set_events(loom_loop *loop, int fd, unsigned events);

/** Removes the watch and runs its destroy. -ENOENT if fd has none. Safe
 * from its own callback. */
LOOM_API int loom_fd_unwatch(loom_loop *loop, int fd);
///@}

/* --- debugging ------------------------------------------------------------ */

/** Prints what the loop holds to out, one line each: ready callbacks, timers
 * (with the time left), fd watches (with the loom_fd_wait waiters riding on
 * them), hooks, tasks (with their names and what each awaits) and per-loop
 * data. Callbacks are named where they are exported symbols (link with
 * -rdynamic to name a program's own), else shown as addresses. Returns 0,
 * or -EIO if out failed. */
LOOM_API int loom_loop_dump(loom_loop *loop, FILE *out);

/* --- failures ------------------------------------------------------------- */

/** Replaces the error handler (NULL restores the default, which prints one
 * line on stderr). data is borrowed for as long as handler is set. Returns 0
 * (or -EXDEV, -ESHUTDOWN as every loop call). */
LOOM_API int loom_loop_set_error_handler(loom_loop *loop, loom_error_handler handler, void *data);

/** Reports a failure to the loop's error handler, as loom itself does. */
LOOM_API void loom_loop_report(loom_loop *loop, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* --- embedding the built-in loop (guests) ------------------------------- */

/** A pollable fd that becomes readable when the built-in loop has work, and
 * the time until its next deadline. A foreign loop watches the fd, waits at
 * most that long, then calls loom_loop_run_once(loop, false). get_fd returns
 * the fd or -ENOTSUP on backends without one (poll, and the host adapters);
 * the fd is the same, and stays registered wherever the host put it (e.g. its
 * own epoll set), for the loop's life. get_timeout stores the time left in
 * *timeout_ns (ns; -1: no deadline; 0: now) and returns 0, or a negative
 * errno (then *timeout_ns is untouched). */
///@{
LOOM_API int loom_loop_get_fd(loom_loop *loop);
LOOM_API int loom_loop_get_timeout(loom_loop *loop, int64_t *timeout_ns);
///@}

LOOM_END_DECLS

#endif
