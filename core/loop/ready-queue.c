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
    struct ready_entry *ring = malloc(cap * sizeof(*ring));
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

size_t loom__ready_queue_live(const struct ready_queue *q)
{
    size_t live = 0;
    for (uint64_t pos = q->head; pos != q->tail; pos++)
        live += q->ring[pos & (q->cap - 1)].cb != NULL;
    return live;
}

void loom__ready_queue_drop_all(struct ready_queue *q)
{
    for (uint64_t pos = q->head; pos != q->tail; pos++) {
        const struct ready_entry *e = &q->ring[pos & (q->cap - 1)];
        if (e->cb && e->drop)
            e->drop(e->data);
    }
    loom__ready_queue_fini(q);
}
