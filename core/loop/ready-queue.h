/* FIFO of handles ready to run. Positions are absolute counters, so a tick
 * can remember where the queue ended when it began ("run what was ready
 * then") even if the ring grows or a nested tick drains it meanwhile. */
#ifndef LOOM_READY_QUEUE_H
#define LOOM_READY_QUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <loom/loop.h>

struct ready_queue {
    loom_handle *ring;
    uint64_t cap; /* a power of two, or 0 */
    uint64_t head, tail;
};

void loom__ready_queue_init(struct ready_queue *q);
void loom__ready_queue_fini(struct ready_queue *q);
bool loom__ready_queue_grow(struct ready_queue *q);

static inline bool ready_queue_empty(const struct ready_queue *q) { return q->head == q->tail; }

static inline bool ready_queue_push(struct ready_queue *q, loom_handle h)
{
    if (q->tail - q->head == q->cap && !loom__ready_queue_grow(q))
        return false;
    q->ring[q->tail++ & (q->cap - 1)] = h;
    return true;
}

/* Caller checks !ready_queue_empty first. */
static inline loom_handle ready_queue_pop(struct ready_queue *q)
{
    return q->ring[q->head++ & (q->cap - 1)];
}

#endif
