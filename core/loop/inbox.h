/* Thread-safe inbox: any thread pushes (lock-free, never blocks), the loop's
 * thread takes everything at once in push order. */
#ifndef LOOM_INBOX_H
#define LOOM_INBOX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <loom/loop.h>

struct inbox_item {
    struct inbox_item *next;
    loom_callback cb;
    void *data;
    void (*drop)(void *data); /* see loom__loop_call_soon_owned; may be NULL */
    bool always;              /* drop runs after cb too (loom_call_soon_threadsafe_full) */
};

struct inbox {
    _Atomic(struct inbox_item *) head; /* newest first */
};

static inline void inbox_init(struct inbox *in) { atomic_init(&in->head, NULL); }
static inline bool inbox_empty(struct inbox *in)
{
    return atomic_load_explicit(&in->head, memory_order_relaxed) == NULL;
}

/* Returns false when out of memory. */
bool loom__inbox_push(struct inbox *in, loom_callback cb, void *data, void (*drop)(void *data), bool always);

/* Takes every item, oldest first; the caller frees them with loom__inbox_free,
 * which calls each item's drop if drop_data is true. */
struct inbox_item *loom__inbox_take(struct inbox *in);
size_t loom__inbox_free(struct inbox_item *items, bool drop_data);

#endif
