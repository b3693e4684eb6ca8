/* Lock: held or free; release hands it straight to the first waiter. */
#include "loop/loop-private.h"
#include "sync-private.h"

loom_lock *loom_lock_new(loom_loop *loop)
{
    return loom__sync_object_new(loop, sizeof(loom_lock), __func__);
}

loom_lock *loom_lock_ref(loom_lock *lock)
{
    if (lock)
        lock->base.refs++;
    return lock;
}

void loom_lock_unref(loom_lock *lock)
{
    if (!lock || !loom__sync_object_unref(&lock->base))
        return;
    loom__waitq_fail_all(&lock->waiters, -ECANCELED);
    loom__sync_object_free(&lock->base);
}

loom_future *loom_lock_acquire(loom_lock *lock)
{
    if (!lock) {
        errno = EINVAL;
        return NULL;
    }
    bool now = !lock->locked;
    loom_future *future = loom__waitq_wait(&lock->waiters, lock->base.loop, now);
    if (future && now)
        lock->locked = true;
    return future;
}

void loom__lock_enqueue(loom_lock *lock, sync_waiter *w)
{
    if (lock->locked) {
        loom__waitq_append(&lock->waiters, w);
    } else {
        lock->locked = true;
        loom__waiter_resolve(w, NULL, NULL);
    }
}

int loom_lock_release(loom_lock *lock)
{
    if (!lock)
        return -EINVAL;
    LOOP_CHECK(lock->base.loop);
    if (!lock->locked)
        return -EPERM;
    sync_waiter *w = loom__waitq_pop(&lock->waiters);
    if (w)
        loom__waiter_resolve(w, NULL, NULL); /* still locked: now on w's behalf */
    else
        lock->locked = false;
    return 0;
}

bool loom_lock_locked(const loom_lock *lock)
{
    return lock && lock->locked;
}
