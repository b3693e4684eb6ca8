/* Channel: a bounded FIFO of items (value + destroy function). Senders wait
 * while the buffer is full, receivers while it is empty; an item goes
 * straight to a waiting receiver, and a receive refills the buffer from the
 * first waiting sender. */
#include <stdlib.h>
#include "loop/loop-private.h"
#include "sync-private.h"

struct channel_item {
    void *value;
    loom_destroy_fn destroy;
};

struct loom_channel {
    struct sync_object base;
    bool closed;
    size_t capacity, head, length; /* a ring of capacity items */
    struct channel_item *items;
    struct sync_waitq senders; /* each holds its item */
    struct sync_waitq receivers;
};

loom_channel *loom_channel_new(loom_loop *loop, size_t capacity)
{
    loom_channel *chan = loom__sync_object_new(loop, sizeof(*chan), __func__);
    if (!chan)
        return NULL;
    chan->capacity = capacity;
    if (capacity && !(chan->items = calloc(capacity, sizeof(*chan->items)))) {
        loom__sync_object_free(&chan->base);
        errno = ENOMEM;
        return NULL;
    }
    return chan;
}

loom_channel *loom_channel_ref(loom_channel *chan)
{
    if (chan)
        chan->base.refs++;
    return chan;
}

static struct channel_item channel_shift(loom_channel *chan)
{
    struct channel_item item = chan->items[chan->head];

    chan->head = (chan->head + 1) % chan->capacity;
    chan->length--;
    return item;
}

static void channel_push(loom_channel *chan, void *value, loom_destroy_fn destroy)
{
    chan->items[(chan->head + chan->length) % chan->capacity] = (struct channel_item){value, destroy};
    chan->length++;
}

void loom_channel_unref(loom_channel *chan)
{
    if (!chan || !loom__sync_object_unref(&chan->base))
        return;
    loom__waitq_fail_all(&chan->senders, -ECANCELED);
    loom__waitq_fail_all(&chan->receivers, -ECANCELED);
    while (chan->length) {
        struct channel_item item = channel_shift(chan);
        if (item.destroy)
            item.destroy(item.value);
    }
    free(chan->items);
    loom__sync_object_free(&chan->base);
}

loom_future *loom_channel_send(loom_channel *chan, void *value, loom_destroy_fn destroy)
{
    loom_future *future = chan ? loom_future_new(chan->base.loop) : NULL;
    if (!future) {
        if (!chan)
            errno = EINVAL;
        if (destroy)
            destroy(value);
        return NULL;
    }
    sync_waiter *receiver;
    if (chan->closed) {
        if (destroy)
            destroy(value);
        loom_future_fail(future, -EPIPE, NULL);
    } else if ((receiver = loom__waitq_pop(&chan->receivers))) {
        loom__waiter_resolve(receiver, value, destroy);
        loom_future_resolve(future, NULL, NULL);
    } else if (chan->length < chan->capacity) {
        channel_push(chan, value, destroy);
        loom_future_resolve(future, NULL, NULL);
    } else {
        sync_waiter *sender = loom__waitq_add(&chan->senders, future);
        if (!sender) {
            if (destroy)
                destroy(value);
            loom_future_unref(future);
            return NULL;
        }
        sender->item = value;
        sender->destroy = destroy;
    }
    return future;
}

/* Takes the first waiting sender's item (its send is accepted), or false. */
static bool channel_take_sender(loom_channel *chan, struct channel_item *item)
{
    sync_waiter *sender = loom__waitq_pop(&chan->senders);

    if (!sender)
        return false;
    *item = (struct channel_item){sender->item, sender->destroy};
    sender->item = NULL;
    sender->destroy = NULL;
    loom__waiter_resolve(sender, NULL, NULL);
    return true;
}

loom_future *loom_channel_receive(loom_channel *chan)
{
    if (!chan) {
        errno = EINVAL;
        return NULL;
    }
    loom_future *future = loom_future_new(chan->base.loop);
    if (!future)
        return NULL;
    struct channel_item item;
    if (chan->length) {
        item = channel_shift(chan);
        struct channel_item refill;
        if (channel_take_sender(chan, &refill))
            channel_push(chan, refill.value, refill.destroy);
        loom_future_resolve(future, item.value, item.destroy);
    } else if (channel_take_sender(chan, &item)) { /* a rendezvous */
        loom_future_resolve(future, item.value, item.destroy);
    } else if (chan->closed) {
        loom_future_fail(future, -EPIPE, NULL);
    } else if (!loom__waitq_add(&chan->receivers, future)) {
        loom_future_unref(future);
        return NULL;
    }
    return future;
}

int loom_channel_close(loom_channel *chan)
{
    if (!chan)
        return -EINVAL;
    LOOP_CHECK(chan->base.loop);
    if (chan->closed)
        return -EALREADY;
    chan->closed = true;
    loom__waitq_fail_all(&chan->senders, -EPIPE);
    loom__waitq_fail_all(&chan->receivers, -EPIPE);
    return 0;
}

bool loom_channel_closed(const loom_channel *chan)
{
    return chan && chan->closed;
}

size_t loom_channel_length(const loom_channel *chan)
{
    return chan ? chan->length : 0;
}
