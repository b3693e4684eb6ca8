/* What the sync primitives share: the FIFO waiter queue, the object base,
 * and what the condition needs from the lock. Loop thread only. */
#ifndef LOOM_SYNC_PRIVATE_H
#define LOOM_SYNC_PRIVATE_H

#include <loom/sync.h>
#include "base/list.h"

typedef struct sync_waiter sync_waiter;
struct sync_waitq;

/* Called when a waiter is freed; granted is false when it leaves without
 * its grant (its future was cancelled, failed, or completed by someone
 * else). */
typedef void (*sync_waiter_release)(sync_waiter *w, bool granted);

struct sync_waiter {
    struct list_node node;
    struct sync_waitq *queue; /* NULL while in no queue */
    loom_future *future;      /* a reference */
    void *item;               /* a channel sender's item, owned */
    loom_destroy_fn destroy;
    sync_waiter_release release; /* may be NULL */
    void *owner;                 /* for release */
};

struct sync_waitq {
    struct list waiters; /* sync_waiter, oldest first */
};

/* A new future (a reference for the caller) that is resolved at once when
 * now is true, else waits in q. NULL with errno set. */
loom_future *loom__waitq_wait(struct sync_waitq *q, loom_loop *loop, bool now);

/* Queues a waiter for the pending future (it takes its own reference).
 * NULL with errno ENOMEM. */
sync_waiter *loom__waitq_add(struct sync_waitq *q, loom_future *future);

/* Appends a waiter that is in no queue (a condition waiter moving on to the
 * lock). A cancelled future takes it out of whichever queue it is in. */
void loom__waitq_append(struct sync_waitq *q, sync_waiter *w);

/* Takes the first waiter whose future is still pending out of q, or NULL.
 * Waiters whose future was completed behind our back are dropped. The
 * caller grants it with loom__waiter_resolve (or loom__waitq_append's it elsewhere). */
sync_waiter *loom__waitq_pop(struct sync_waitq *q);

/* Completes the popped waiter's future and frees the waiter. */
void loom__waiter_resolve(sync_waiter *w, void *value, loom_destroy_fn destroy);
void loom__waiter_fail(sync_waiter *w, int err);

/* Fails every waiter in q with err (-ECANCELED: cancels them). */
void loom__waitq_fail_all(struct sync_waitq *q, int err);

/* What every primitive starts with. */
struct sync_object {
    loom_loop *loop; /* an internal reference (loom__loop_hold) */
    unsigned refs;
};

/* A zeroed object of size bytes bound to loop (one reference), or NULL with
 * errno set (the loop is checked: closed, foreign thread). */
void *loom__sync_object_new(loom_loop *loop, size_t size, const char *func);
/* Drops a reference; true when it was the last: the caller tears its part
 * down, then calls loom__sync_object_free. */
bool loom__sync_object_unref(struct sync_object *o);
void loom__sync_object_free(struct sync_object *o);

struct loom_lock {
    struct sync_object base;
    bool locked;     /* free implies nobody waits: release hands it over */
    struct sync_waitq waiters;
};

/* The lock side of a condition wait: grants w the lock now if it is free,
 * else queues it for the lock. */
void loom__lock_enqueue(loom_lock *lock, sync_waiter *w);

#endif
