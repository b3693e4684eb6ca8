#include <stdlib.h>
#include "timer-heap.h"

void loom__timer_heap_init(struct timer_heap *h)
{
    *h = (struct timer_heap){0};
}

void loom__timer_heap_fini(struct timer_heap *h)
{
    free(h->v);
    loom__timer_heap_init(h);
}

static inline bool before(const struct timer_entry *a, const struct timer_entry *b)
{
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void sift_up(struct timer_entry *v, size_t i)
{
    struct timer_entry e = v[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(&e, &v[parent]))
            break;
        v[i] = v[parent];
        i = parent;
    }
    v[i] = e;
}

static void sift_down(struct timer_entry *v, size_t len, size_t i)
{
    struct timer_entry e = v[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= len)
            break;
        if (child + 1 < len && before(&v[child + 1], &v[child]))
            child++;
        if (!before(&v[child], &e))
            break;
        v[i] = v[child];
        i = child;
    }
    v[i] = e;
}

bool loom__timer_heap_push(struct timer_heap *h, int64_t when, loom_handle handle)
{
    if (h->len == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        struct timer_entry *v = realloc(h->v, cap * sizeof(*v));
        if (!v)
            return false;
        h->v = v;
        h->cap = cap;
    }
    h->v[h->len] = (struct timer_entry){when, h->next_seq++, handle};
    sift_up(h->v, h->len++);
    return true;
}

void loom__timer_heap_pop(struct timer_heap *h)
{
    h->v[0] = h->v[--h->len];
    if (h->len)
        sift_down(h->v, h->len, 0);
}

void loom__timer_heap_compact(struct timer_heap *h, bool (*is_live)(loom_handle, void *), void *ctx)
{
    if (h->stale == h->len) { /* all cancelled: nothing to look at */
        h->len = h->stale = 0;
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < h->len; i++)
        if (is_live(h->v[i].handle, ctx))
            h->v[n++] = h->v[i];
    h->len = n;
    h->stale = 0;
    for (size_t i = n / 2; i-- > 0;)
        sift_down(h->v, n, i);
}
