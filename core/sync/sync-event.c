/* Event: a flag; waiters are resolved when it is set. */
#include "loop/loop-private.h"
#include "sync-private.h"

struct loom_event {
    struct sync_object base;
    bool set;
    struct sync_waitq waiters;
};

loom_event *loom_event_new(loom_loop *loop)
{
    return loom__sync_object_new(loop, sizeof(loom_event), __func__);
}

loom_event *loom_event_ref(loom_event *event)
{
    if (event)
        event->base.refs++;
    return event;
}

void loom_event_unref(loom_event *event)
{
    if (!event || !loom__sync_object_unref(&event->base))
        return;
    loom__waitq_fail_all(&event->waiters, -ECANCELED);
    loom__sync_object_free(&event->base);
}

int loom_event_set(loom_event *event)
{
    sync_waiter *w;

    if (!event)
        return -EINVAL;
    LOOP_CHECK(event->base.loop);
    event->set = true;
    while ((w = loom__waitq_pop(&event->waiters)))
        loom__waiter_resolve(w, NULL, NULL);
    return 0;
}

int loom_event_clear(loom_event *event)
{
    if (!event)
        return -EINVAL;
    LOOP_CHECK(event->base.loop);
    event->set = false;
    return 0;
}

bool loom_event_is_set(const loom_event *event)
{
    return event && event->set;
}

loom_future *loom_event_wait(loom_event *event)
{
    if (!event) {
        errno = EINVAL;
        return NULL;
    }
    return loom__waitq_wait(&event->waiters, event->base.loop, event->set);
}
