/* FIFO of callbacks ready to run. Positions are absolute counters, so a tick
 * can remember where the queue ended when it began ("run what was ready
 * then") even if the ring grows or a nested tick drains it meanwhile.
 *
 * A call_soon lives in the ring itself (callback, data, drop): its handle is
 * its position with READY_HANDLE_BIT set, which stays unique because
 * positions never wrap. Calls that need the call table (timers come due,
 * calls with a public destroy) are entries naming their table handle. */
#ifndef LOOM_READY_QUEUE_H
#define LOOM_READY_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <loom/loop.h>

/* Set in the handles of ring calls only: call-table handles keep it clear. */
#define READY_HANDLE_BIT ((loom_handle)1 << 63)

struct ready_entry {
    loom_callback cb; /* NULL: a table call (h != 0) or cancelled (h == 0) */
    union {
        void *data;
        loom_handle h;
    };
    void (*drop)(void *data); /* frees data if cb never runs; may be NULL */
};

struct ready_queue {
    struct ready_entry *ring;
    uint64_t cap; /* a power of two, or 0 */
    uint64_t head, tail;
};

void loom__ready_queue_init(struct ready_queue *q);
void loom__ready_queue_fini(struct ready_queue *q);
bool loom__ready_queue_grow(struct ready_queue *q);

/* Ring calls not cancelled yet. */
size_t loom__ready_queue_live(const struct ready_queue *q);

/* Calls drop(data) for every live ring call that has one, then frees the ring. */
void loom__ready_queue_drop_all(struct ready_queue *q);

static inline bool ready_queue_empty(const struct ready_queue *q) { return q->head == q->tail; }

static inline bool ready_queue_push_entry(struct ready_queue *q, struct ready_entry e)
{
    if (q->tail - q->head == q->cap && !loom__ready_queue_grow(q))
        return false;
    q->ring[q->tail++ & (q->cap - 1)] = e;
    return true;
}

/* A ring call; its handle is then ready_queue_last_handle(q). */
static inline bool ready_queue_push(struct ready_queue *q, loom_callback cb, void *data, void (*drop)(void *))
{
    return ready_queue_push_entry(q, (struct ready_entry){.cb = cb, .data = data, .drop = drop});
}

/* A call that lives in the call table under h. */
static inline bool ready_queue_push_call(struct ready_queue *q, loom_handle h)
{
    return ready_queue_push_entry(q, (struct ready_entry){.h = h});
}

static inline loom_handle ready_queue_last_handle(const struct ready_queue *q)
{
    return READY_HANDLE_BIT | (q->tail - 1);
}

/* The ring call that h names if it is still queued and not cancelled, else NULL. */
static inline struct ready_entry *ready_queue_find(struct ready_queue *q, loom_handle h)
{
    uint64_t pos = h & ~READY_HANDLE_BIT;
    if (pos - q->head >= q->tail - q->head)
        return NULL; /* ran already, or never issued */
    struct ready_entry *e = &q->ring[pos & (q->cap - 1)];
    return e->cb ? e : NULL;
}

/* Caller checks !ready_queue_empty first. */
static inline struct ready_entry ready_queue_pop(struct ready_queue *q)
{
    return q->ring[q->head++ & (q->cap - 1)];
}

#endif
