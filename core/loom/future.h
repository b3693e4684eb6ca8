/** @file
 * loom — futures.
 *
 * A future is a result that is not there yet: pending, then exactly once
 * resolved (with a value), failed (with a negative errno and an optional
 * message) or cancelled (-ECANCELED). It belongs to a loop and is used on that
 * loop's thread: every function that changes or inspects its state, called
 * from another thread, returns -EXDEV (false, NULL), changes nothing and is
 * reported; complete it from another thread with the *_threadsafe calls.
 * Completion callbacks are always scheduled through the loop's ready queue,
 * never run inside resolve/fail/cancel.
 *
 * Futures are reference counted (loom_future_ref/unref are safe from any
 * thread). A future keeps its loop's memory alive, not the loop open: the
 * last loom_loop_unref closes the loop even while futures exist, and they
 * stay usable as objects (completing one then runs no callbacks). At close,
 * callbacks that can no longer run are dropped, and what the combinators
 * hold is released. A failure that nobody retrieved (with
 * loom_future_status or a combinator) is reported once to the loop's error
 * handler when the last reference goes, naming the future if it has a name. */
#ifndef LOOM_FUTURE_H
#define LOOM_FUTURE_H

#include <stddef.h>
#include <loom/loop.h>

LOOM_BEGIN_DECLS

/** Where a future is in its life (loom_future_state_get). */
typedef enum loom_future_state {
    LOOM_FUTURE_PENDING,
    LOOM_FUTURE_RESOLVED,
    LOOM_FUTURE_FAILED,
    LOOM_FUTURE_CANCELLED,
} loom_future_state;

/** Runs on the loop's thread once the future is done. The future is borrowed
 * for the duration of the call (loom_future_ref it to keep it). */
typedef void (*loom_future_callback)(loom_future *future, void *data);

/** Creates a pending future on loop. Returns a new reference, or NULL (errno
 * set: ESHUTDOWN for a closed loop, ENOMEM, EINVAL). */
LOOM_API loom_future *loom_future_new(loom_loop *loop);

/** Reference counting, safe from any thread: ref returns future with one
 * more reference the caller owns; unref drops one, and the last one frees
 * the future (its value's destroy runs then). Dropped on another thread
 * while the loop is open, the last one hands the future to the loop's
 * thread, which frees it at its next tick (after callbacks still queued for
 * it); once the loop is closed, it frees at once. */
///@{
LOOM_API loom_future *loom_future_ref(loom_future *future);
LOOM_API void loom_future_unref(loom_future *future);
///@}

/** The loop the future belongs to (borrowed). */
LOOM_API loom_loop *loom_future_loop(const loom_future *future);

/** Completes a pending future. resolve takes ownership of value: destroy (may
 * be NULL) is called on it when the future is freed. They return 0, or
 * -EINVAL if the future is already done (a cancelled future ignores a late
 * resolve or fail this way; value is then destroyed at once). fail takes a
 * negative errno and copies msg (may be NULL): -EINVAL for err >= 0, -ENOMEM
 * if msg cannot be copied. -EXDEV from another thread. */
///@{
LOOM_API int loom_future_resolve(loom_future *future, void *value, loom_destroy_fn destroy);
LOOM_API int loom_future_resolve_int(loom_future *future, int64_t value);
LOOM_API int loom_future_fail(loom_future *future, int err, const char *msg);
///@}

/** The same from any thread (asyncio's call_soon_threadsafe(fut.set_result)):
 * the completion is applied on the loop's thread, in the order of accepted
 * thread-safe calls; a future that is done by then ignores it (value is then
 * destroyed there). They take their own reference to future, which the
 * caller must hold for the duration of the call. Return 0, -EINVAL (NULL,
 * err >= 0), -ENOMEM, or -ESHUTDOWN once the loop is closed; on failure
 * value is destroyed at once. */
///@{
LOOM_API int loom_future_resolve_threadsafe(loom_future *future, void *value, loom_destroy_fn destroy);
LOOM_API int loom_future_resolve_int_threadsafe(loom_future *future, int64_t value);
LOOM_API int loom_future_fail_threadsafe(loom_future *future, int err, const char *msg);
///@}

/** Cancels a pending future (its state becomes CANCELLED, error -ECANCELED)
 * and returns true; false if it was already done. Cancelling a future made by
 * a combinator cancels what it waits for. false (and reported) from another
 * thread. */
LOOM_API bool loom_future_cancel(loom_future *future);

/** The future's state, and whether it is no longer pending. */
///@{
LOOM_API loom_future_state loom_future_state_get(const loom_future *future);
LOOM_API bool loom_future_done(const loom_future *future);
///@}

/** 0 if resolved, the negative errno if failed or cancelled, -EAGAIN if still
 * pending. Marks a failure as retrieved. */
LOOM_API int loom_future_status(loom_future *future);

/** The failure message, or NULL; owned by the future. */
LOOM_API const char *loom_future_message(const loom_future *future);

/** The value of a resolved future (borrowed; NULL otherwise) and its integer
 * (0 otherwise). */
///@{
LOOM_API void *loom_future_value(const loom_future *future);
LOOM_API int64_t loom_future_value_int(const loom_future *future);
///@}

/** Takes the value out of a resolved future: the caller now owns it and its
 * destroy function (*destroyp, may be NULL). NULL if it is not resolved or
 * has no value of its own (see the combinators). */
LOOM_API void *loom_future_steal_value(loom_future *future, loom_destroy_fn *destroyp);

/** Calls cb(future, data) once the future is done, through the ready queue
 * (also when it is done already). Callbacks run in the order they were
 * added, also when one of them runs a nested loop (that loop runs the later
 * ones first). data is borrowed until cb runs. Returns 0 or a negative errno
 * (-ESHUTDOWN: the loop is closed, cb will never run; -EINVAL for a NULL cb;
 * -ENOMEM; -EXDEV). */
LOOM_API int loom_future_on_done(loom_future *future, loom_future_callback cb, void *data);

/** The same, with data owned by the callback: destroy(data) (may be NULL)
 * runs exactly once, after cb ran, or when the loop closes before cb could
 * run. On failure the caller still owns data. Errors as loom_future_on_done. */
LOOM_API int loom_future_on_done_full(loom_future *future, loom_future_callback cb, void *data,
                                      loom_destroy_fn destroy);

/** A name for reports and debugging (copied; NULL removes it). Returns 0,
 * -ENOMEM or -EXDEV. get_name returns it (owned by the future) or NULL. */
///@{
LOOM_API int loom_future_set_name(loom_future *future, const char *name);
LOOM_API const char *loom_future_get_name(const loom_future *future);
///@}

/** @name Combinators
 * Each returns a new future (a new reference) or NULL with
 * errno set; the inputs are borrowed (the combinator takes its own
 * references).
 *
 * A combinator's result that completes like another future shares that
 * future's value (keeping it alive) and integer: loom_future_value works on
 * it as on the original; loom_future_steal_value returns NULL there. */
///@{

/** Chains: once future is done, fn(future, data) runs (on the loop) and
 * returns a new future reference (or NULL, failing the chain with errno);
 * the result completes like that one. Cancelling the result cancels
 * future, or the one fn returned. */
typedef loom_future *(*loom_then_fn)(loom_future *future, void *data);
/** Runs fn once future is done (see loom_then_fn). Returns a new reference
 * to the chain's result, or NULL with errno set (EINVAL for a NULL future or
 * fn, ENOMEM, ESHUTDOWN, EXDEV). data is borrowed until fn ran. */
LOOM_API loom_future *loom_future_then(loom_future *future, loom_then_fn fn, void *data);

/** Resolves (with no value) when all n futures resolved; fails or is
 * cancelled like the first of them that fails or is cancelled, and then
 * cancels the rest. n == 0 resolves at once. NULL with errno set, every
 * input left as it was: EINVAL (a NULL future), ENOMEM, ESHUTDOWN (loop or
 * an input's loop closed), EXDEV (called from a thread that does not own
 * loop, or an input's loop). Out of memory while attaching to the inputs,
 * the result fails with -ENOMEM and the inputs are cancelled. */
LOOM_API loom_future *loom_future_all(loom_loop *loop, loom_future *const *futures, size_t n);

/** Completes like the first of the n futures to finish and cancels the rest.
 * When the winner resolved, the result shares its value and its integer value
 * is the winner's index. n == 0 is EINVAL; other errors as loom_future_all. */
LOOM_API loom_future *loom_future_any(loom_loop *loop, loom_future *const *futures, size_t n);

/** Completes like future, or fails with -ETIMEDOUT after timeout_ns (and then
 * cancels future). NULL with errno set: EINVAL, ENOMEM, ESHUTDOWN, EXDEV. */
LOOM_API loom_future *loom_future_timeout(loom_future *future, int64_t timeout_ns);
///@}

LOOM_END_DECLS

#endif
