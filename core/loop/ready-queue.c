#include <stdlib.h>
#include "ready-queue.h"

void loom__ready_queue_init(struct ready_queue *q)
{
    *q = (struct ready_queue){0};
}

void loom__ready_queue_fini(struct ready_queue *q)
{
    free(q->ring);
    loom__ready_queue_init(q);
}

bool loom__ready_queue_grow(struct ready_queue *q)
{
    uint64_t cap = q->cap ? q->cap * 2 : 256;
    loom_handle *ring = malloc(cap * sizeof(*ring));
    if (!ring)
        return false;
    /* Keep every element at its absolute position modulo the new capacity. */
    for (uint64_t pos = q->head; pos != q->tail; pos++)
        ring[pos & (cap - 1)] = q->ring[pos & (q->cap - 1)];
    free(q->ring);
    q->ring = ring;
    q->cap = cap;
    return true;
}
