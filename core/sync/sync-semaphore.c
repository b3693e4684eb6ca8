/* Bounded semaphore: value permits out of bound; a release hands the permit
 * straight to the first waiter. */
#include "loop/loop-private.h"
#include "sync-private.h"

struct loom_semaphore {
    struct sync_object base;
    unsigned value; /* > 0 implies nobody waits */
    unsigned bound;
    struct sync_waitq waiters;
};

loom_semaphore *loom_semaphore_new(loom_loop *loop, unsigned value, unsigned bound)
{
    if (bound == 0 || value > bound) {
        errno = EINVAL;
        return NULL;
    }
    loom_semaphore *sem = loom__sync_object_new(loop, sizeof(*sem), __func__);
    if (sem) {
        sem->value = value;
        sem->bound = bound;
    }
    return sem;
}

loom_semaphore *loom_semaphore_ref(loom_semaphore *sem)
{
    if (sem)
        sem->base.refs++;
    return sem;
}

void loom_semaphore_unref(loom_semaphore *sem)
{
    if (!sem || !loom__sync_object_unref(&sem->base))
        return;
    loom__waitq_fail_all(&sem->waiters, -ECANCELED);
    loom__sync_object_free(&sem->base);
}

loom_future *loom_semaphore_acquire(loom_semaphore *sem)
{
    if (!sem) {
        errno = EINVAL;
        return NULL;
    }
    bool now = sem->value > 0;
    loom_future *future = loom__waitq_wait(&sem->waiters, sem->base.loop, now);
    if (future && now)
        sem->value--;
    return future;
}

int loom_semaphore_release(loom_semaphore *sem)
{
    if (!sem)
        return -EINVAL;
    LOOP_CHECK(sem->base.loop);
    sync_waiter *w = loom__waitq_pop(&sem->waiters);
    if (w)
        loom__waiter_resolve(w, NULL, NULL);
    else if (sem->value >= sem->bound)
        return -EOVERFLOW;
    else
        sem->value++;
    return 0;
}

unsigned loom_semaphore_value(const loom_semaphore *sem)
{
    return sem ? sem->value : 0;
}
