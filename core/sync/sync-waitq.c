/* The FIFO waiter queue and the object base shared by the sync primitives.
 * A waiter is a pending future; cancelling that future takes the waiter out
 * of its queue at once (through the future's cancel hook), so a grant never
 * goes to it. */
#include <stdlib.h>
#include "future/future-private.h"
#include "loop/loop-private.h"
#include "sync-private.h"

static void waitq_unlink(sync_waiter *w)
{
    list_unlink(&w->queue->waiters, &w->node);
    w->queue = NULL;
}

static void waiter_free(sync_waiter *w, bool granted)
{
    loom__future_set_cancel_hook(w->future, NULL, NULL);
    if (w->destroy)
        w->destroy(w->item);
    if (w->release)
        w->release(w, granted);
    loom_future_unref(w->future);
    free(w);
}

static void waiter_cancelled(void *data)
{
    sync_waiter *w = data;

    waitq_unlink(w);
    waiter_free(w, false);
}

void loom__waitq_append(struct sync_waitq *q, sync_waiter *w)
{
    w->queue = q;
    list_push_back(&q->waiters, &w->node);
    loom__future_set_cancel_hook(w->future, waiter_cancelled, w);
}

sync_waiter *loom__waitq_add(struct sync_waitq *q, loom_future *future)
{
    sync_waiter *w = calloc(1, sizeof(*w));

    if (!w) {
        errno = ENOMEM;
        return NULL;
    }
    w->future = loom_future_ref(future);
    loom__waitq_append(q, w);
    return w;
}

loom_future *loom__waitq_wait(struct sync_waitq *q, loom_loop *loop, bool now)
{
    loom_future *future = loom_future_new(loop);

    if (!future)
        return NULL;
    if (now) {
        loom_future_resolve(future, NULL, NULL);
    } else if (!loom__waitq_add(q, future)) {
        loom_future_unref(future);
        return NULL;
    }
    return future;
}

sync_waiter *loom__waitq_pop(struct sync_waitq *q)
{
    struct list_node *n;

    while ((n = q->waiters.first)) {
        sync_waiter *w = list_item(n, sync_waiter, node);
        waitq_unlink(w);
        if (!loom_future_done(w->future)) {
            loom__future_set_cancel_hook(w->future, NULL, NULL);
            return w;
        }
        waiter_free(w, false); /* completed by its owner: not a taker */
    }
    return NULL;
}

void loom__waiter_resolve(sync_waiter *w, void *value, loom_destroy_fn destroy)
{
    loom_future_resolve(w->future, value, destroy);
    waiter_free(w, true);
}

void loom__waiter_fail(sync_waiter *w, int err)
{
    if (err == -ECANCELED)
        loom_future_cancel(w->future);
    else
        loom_future_fail(w->future, err, NULL);
    waiter_free(w, false);
}

void loom__waitq_fail_all(struct sync_waitq *q, int err)
{
    sync_waiter *w;

    while ((w = loom__waitq_pop(q)))
        loom__waiter_fail(w, err);
}

void *loom__sync_object_new(loom_loop *loop, size_t size, const char *func)
{
    int r = loop_check(loop, func);
    if (r < 0) {
        errno = -r;
        return NULL;
    }
    struct sync_object *o = calloc(1, size);
    if (!o)
        return NULL;
    o->loop = loop;
    loom__loop_hold(loop);
    o->refs = 1;
    return o;
}

bool loom__sync_object_unref(struct sync_object *o)
{
    return o && --o->refs == 0;
}

void loom__sync_object_free(struct sync_object *o)
{
    loom__loop_release(o->loop);
    free(o);
}
