/* Condition: a waiter releases the lock, waits for a notification, then
 * queues for the lock like any acquirer; its future resolves once it holds
 * the lock again. */
#include <limits.h>
#include "loop/loop-private.h"
#include "sync-private.h"

struct loom_condition {
    struct sync_object base;
    loom_lock *lock; /* a reference */
    struct sync_waitq waiters; /* not notified yet */
};

loom_condition *loom_condition_new(loom_loop *loop, loom_lock *lock)
{
    if (lock && lock->base.loop != loop) {
        errno = EINVAL;
        return NULL;
    }
    loom_condition *cond = loom__sync_object_new(loop, sizeof(*cond), __func__);
    if (!cond)
        return NULL;
    cond->lock = lock ? loom_lock_ref(lock) : loom_lock_new(loop);
    if (!cond->lock) {
        loom__sync_object_free(&cond->base);
        return NULL;
    }
    return cond;
}

loom_condition *loom_condition_ref(loom_condition *cond)
{
    if (cond)
        cond->base.refs++;
    return cond;
}

void loom_condition_unref(loom_condition *cond)
{
    if (!cond || !loom__sync_object_unref(&cond->base))
        return;
    loom__waitq_fail_all(&cond->waiters, -ECANCELED);
    loom_lock_unref(cond->lock);
    loom__sync_object_free(&cond->base);
}

loom_lock *loom_condition_lock(const loom_condition *cond)
{
    return cond ? cond->lock : NULL;
}

loom_future *loom_condition_wait(loom_condition *cond)
{
    if (!cond) {
        errno = EINVAL;
        return NULL;
    }
    if (!cond->lock->locked) {
        errno = EPERM;
        return NULL;
    }
    loom_future *future = loom_future_new(cond->base.loop);
    if (!future)
        return NULL;
    if (!loom__waitq_add(&cond->waiters, future)) {
        loom_future_unref(future);
        return NULL;
    }
    loom_lock_release(cond->lock);
    return future;
}

static unsigned condition_wake(loom_condition *cond, unsigned n);

/* A notified waiter leaves the lock's queue: if it goes without the lock, its
 * notification passes on to the next waiter (else it would be lost). */
static void condition_waiter_released(sync_waiter *w, bool granted)
{
    loom_condition *cond = w->owner;

    if (!granted)
        condition_wake(cond, 1);
    loom_condition_unref(cond);
}

static unsigned condition_wake(loom_condition *cond, unsigned n)
{
    unsigned woken = 0;
    sync_waiter *w;

    while (woken < n && (w = loom__waitq_pop(&cond->waiters))) {
        w->release = condition_waiter_released;
        w->owner = loom_condition_ref(cond); /* for the notification's hand-on */
        loom__lock_enqueue(cond->lock, w);
        woken++;
    }
    return woken;
}

int loom_condition_notify(loom_condition *cond, unsigned n)
{
    if (!cond)
        return -EINVAL;
    LOOP_CHECK(cond->base.loop);
    if (!cond->lock->locked)
        return -EPERM;
    unsigned woken = condition_wake(cond, n < INT_MAX ? n : INT_MAX);
    return (int)woken;
}

int loom_condition_notify_all(loom_condition *cond)
{
    return loom_condition_notify(cond, UINT_MAX);
}
