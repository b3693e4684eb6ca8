/* Min-heap of timers ordered by (deadline, scheduling order). Cancelling
 * does not search the heap: the handle goes stale and its entry is dropped
 * when it surfaces, or all at once when the loop purges them (at the end of a
 * tick, once they outnumber live ones) — so add and cancel are both O(1) on
 * average and memory stays bounded by what one tick scheduled. */
#ifndef LOOM_TIMER_HEAP_H
#define LOOM_TIMER_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <loom/loop.h>

struct timer_entry {
    int64_t when;
    uint64_t seq;
    loom_handle handle;
};

struct timer_heap {
    struct timer_entry *v;
    size_t len, cap;
    size_t stale; /* entries whose handle was cancelled */
    uint64_t next_seq;
};

void loom__timer_heap_init(struct timer_heap *h);
void loom__timer_heap_fini(struct timer_heap *h);
bool loom__timer_heap_push(struct timer_heap *h, int64_t when, loom_handle handle);
/* Removes the earliest entry (h->len > 0). */
void loom__timer_heap_pop(struct timer_heap *h);

static inline const struct timer_entry *timer_heap_top(const struct timer_heap *h)
{
    return h->len ? &h->v[0] : NULL;
}

/* Drops every entry for which is_live(handle, ctx) is false, in O(n). */
void loom__timer_heap_compact(struct timer_heap *h, bool (*is_live)(loom_handle, void *), void *ctx);

#endif
