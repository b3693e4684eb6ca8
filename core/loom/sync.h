/** @file
 * loom — synchronisation primitives: event, lock, semaphore, condition,
 * channel.
 *
 * They coordinate callbacks and tasks running on one loop (they are not for
 * threads: every call must be made on the loop's thread). Waiting returns a
 * future, so the same primitive serves a callback (loom_future_on_done) and a
 * task (loom_await). Waiters are served in FIFO order, and a grant is handed
 * over directly: a released lock goes to the first waiter, nobody can barge
 * in between.
 *
 * A grant happens when the waiter's future is resolved: from then on the
 * lock, permit or item belongs to whoever holds that future, even though its
 * callbacks run later (loom_future_cancel then returns false, and the owner
 * must release what it got). A waiter whose future is cancelled (or times
 * out) before the grant leaves the queue at once, and the grant goes to the
 * next one: nothing is ever held by nobody.
 *
 * In a task, a cancellation that arrives after the grant but before the task
 * resumed does not lose the grant: loom_await (and loom_await_timeout)
 * return 0, and -ECANCELED comes at the task's next await point:
 *
 *     loom_future *f = loom_lock_acquire(lock);
 *     int r = loom_await(f);
 *     loom_future_unref(f);
 *     if (r == 0) { ...critical section...; loom_lock_release(lock); }
 *
 * Every primitive is reference counted and holds a reference to its loop.
 * Functions returning a future return a new reference the caller owns, or
 * NULL with errno set (ESHUTDOWN for a closed loop, EXDEV for a foreign
 * thread, ENOMEM, EINVAL). When the last reference to a primitive goes, the
 * futures still waiting on it are cancelled. */
#ifndef LOOM_SYNC_H
#define LOOM_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <loom/future.h>

LOOM_BEGIN_DECLS

/* --- event: a flag that can be waited for ------------------------------- */

/** A flag that can be waited for (opaque, reference counted). */
typedef struct loom_event loom_event;

/** A new, clear event (one reference), or NULL with errno set. */
LOOM_API loom_event *loom_event_new(loom_loop *loop);
/** Reference counting (on the loop's thread): ref returns the object with
 * one more reference the caller owns; unref drops one, and the last one
 * frees it and cancels the futures still waiting on it. */
///@{
LOOM_API loom_event *loom_event_ref(loom_event *event);
LOOM_API void loom_event_unref(loom_event *event);
///@}

/** Sets the flag and resolves every waiter. Returns 0 or a negative errno
 * (-EINVAL for NULL, -EXDEV, -ESHUTDOWN). */
LOOM_API int loom_event_set(loom_event *event);
/** Clears the flag; later waits block again. 0, -EINVAL, -EXDEV, -ESHUTDOWN. */
LOOM_API int loom_event_clear(loom_event *event);
/** Whether the flag is set (false for NULL). */
LOOM_API bool loom_event_is_set(const loom_event *event);

/** A future resolved (no value) once the flag is set: at once if it is. A
 * new reference, or NULL with errno set (see above). */
LOOM_API loom_future *loom_event_wait(loom_event *event);

/* --- lock: mutual exclusion between callbacks or tasks ----------------- */

/** A lock (opaque, reference counted). */
typedef struct loom_lock loom_lock;

/** A new, free lock (one reference), or NULL with errno set. */
LOOM_API loom_lock *loom_lock_new(loom_loop *loop);
/** Reference counting, as loom_event_ref / loom_event_unref. */
///@{
LOOM_API loom_lock *loom_lock_ref(loom_lock *lock);
LOOM_API void loom_lock_unref(loom_lock *lock);
///@}

/** A future resolved (no value) when the lock is held for the caller: at once
 * if it is free and nobody waits. Resolved means held, whatever happens to
 * the future afterwards: its owner must call loom_lock_release. A new
 * reference, or NULL with errno set (see above). */
LOOM_API loom_future *loom_lock_acquire(loom_lock *lock);

/** Releases the lock; the first waiter gets it. -EPERM if it is not held.
 * Like asyncio (and unlike a pthread mutex), any holder of the lock object
 * may release it: the lock does not know which callback acquired it.
 * Also -EINVAL for NULL, -EXDEV, -ESHUTDOWN. */
LOOM_API int loom_lock_release(loom_lock *lock);
/** Whether the lock is held (false for NULL). */
LOOM_API bool loom_lock_locked(const loom_lock *lock);

/* --- bounded semaphore ------------------------------------------------------ */

/** A bounded semaphore (opaque, reference counted). */
typedef struct loom_semaphore loom_semaphore;

/** A semaphore with value permits available out of bound (value <= bound,
 * bound >= 1; else NULL with errno EINVAL). One reference. */
LOOM_API loom_semaphore *loom_semaphore_new(loom_loop *loop, unsigned value, unsigned bound);
/** Reference counting, as loom_event_ref / loom_event_unref. */
///@{
LOOM_API loom_semaphore *loom_semaphore_ref(loom_semaphore *sem);
LOOM_API void loom_semaphore_unref(loom_semaphore *sem);
///@}

/** A future resolved (no value) once a permit is taken for the caller. A
 * new reference, or NULL with errno set (see above). */
LOOM_API loom_future *loom_semaphore_acquire(loom_semaphore *sem);

/** Returns a permit: to the first waiter, else to the semaphore. -EOVERFLOW
 * if that would make more than bound permits available (a release without
 * an acquire). Also -EINVAL for NULL, -EXDEV, -ESHUTDOWN. */
LOOM_API int loom_semaphore_release(loom_semaphore *sem);

/** Permits available right now. */
LOOM_API unsigned loom_semaphore_value(const loom_semaphore *sem);

/* --- condition: wait for a notification while holding a lock ------------- */

/** A condition variable bound to a lock (opaque, reference counted). */
typedef struct loom_condition loom_condition;

/** A condition bound to lock (the condition takes a reference), or to a new
 * lock of its own when lock is NULL. Binding at creation makes every waiter
 * use the same lock. One reference, or NULL with errno set. */
LOOM_API loom_condition *loom_condition_new(loom_loop *loop, loom_lock *lock);
/** Reference counting, as loom_event_ref / loom_event_unref; the last unref
 * drops the condition's reference to its lock. */
///@{
LOOM_API loom_condition *loom_condition_ref(loom_condition *cond);
LOOM_API void loom_condition_unref(loom_condition *cond);
///@}

/** The condition's lock (borrowed). */
LOOM_API loom_lock *loom_condition_lock(const loom_condition *cond);

/** The caller holds the lock. Releases it and returns a future resolved once
 * the waiter has been notified AND holds the lock again. If the future is
 * cancelled (or fails) the caller does not hold the lock; a notification
 * consumed by a waiter cancelled before it got the lock passes on to the
 * next waiter. NULL with errno EPERM if the lock is not held. */
LOOM_API loom_future *loom_condition_wait(loom_condition *cond);

/** Wakes up to n waiters (in FIFO order); each then queues for the lock.
 * The lock must be held: -EPERM otherwise. Returns how many were woken.
 * Also -EINVAL for NULL, -EXDEV, -ESHUTDOWN. */
LOOM_API int loom_condition_notify(loom_condition *cond, unsigned n);
/** Wakes every waiter, as loom_condition_notify. */
LOOM_API int loom_condition_notify_all(loom_condition *cond);

/* --- channel: a bounded FIFO queue of items ---------------------------- */

/** A bounded FIFO queue of items (opaque, reference counted). */
typedef struct loom_channel loom_channel;

/** A channel buffering up to capacity items. Capacity 0 is a rendezvous: a
 * send is accepted only when a receiver takes the item. One reference, or
 * NULL with errno set. */
LOOM_API loom_channel *loom_channel_new(loom_loop *loop, size_t capacity);
/** One more reference the caller owns, as loom_event_ref. */
LOOM_API loom_channel *loom_channel_ref(loom_channel *chan);
/** The last unref destroys the items still buffered. */
LOOM_API void loom_channel_unref(loom_channel *chan);

/** Sends an item; the channel takes ownership of value (destroy may be NULL)
 * in every case. Returns a future resolved (no value) when the item is
 * accepted (buffered or handed to a receiver). If the send fails (-EPIPE:
 * the channel is closed) or its future is cancelled before it was
 * accepted, the item is destroyed. */
LOOM_API loom_future *loom_channel_send(loom_channel *chan, void *value, loom_destroy_fn destroy);

/** A future resolved with the next item: it owns the item (value and destroy
 * function) until someone takes it with loom_future_steal_value. Fails with
 * -EPIPE once the channel is closed and drained. */
LOOM_API loom_future *loom_channel_receive(loom_channel *chan);

/** Closes the channel: pending and later sends fail with -EPIPE, receives
 * drain what is buffered and then fail with -EPIPE. -EALREADY if closed.
 * Also -EINVAL for NULL, -EXDEV, -ESHUTDOWN. */
LOOM_API int loom_channel_close(loom_channel *chan);
/** Whether loom_channel_close was called. */
LOOM_API bool loom_channel_closed(const loom_channel *chan);

/** Items buffered right now. */
LOOM_API size_t loom_channel_length(const loom_channel *chan);

LOOM_END_DECLS

#endif
