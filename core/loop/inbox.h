/* Thread-safe inbox: any thread pushes (lock-free, never blocks), the loop's
 * thread takes in push order, a bounded batch at a time: what it took from
 * the stack beyond the batch waits in its backlog for the next take. */
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
    /* The consumer's alone: taken from head, not yet handed out; oldest first. */
    struct inbox_item *backlog, *backlog_tail;
};

static inline void inbox_init(struct inbox *in)
{
    atomic_init(&in->head, NULL);
    in->backlog = in->backlog_tail = NULL;
}
/* The consumer's view: nothing pushed and nothing left over. */
static inline bool inbox_empty(struct inbox *in)
{
    return !in->backlog && atomic_load_explicit(&in->head, memory_order_relaxed) == NULL;
}
static inline bool inbox_has_backlog(const struct inbox *in) { return in->backlog != NULL; }

/* Returns false when out of memory. */
bool loom__inbox_push(struct inbox *in, loom_callback cb, void *data, void (*drop)(void *data), bool always);

/* Takes at most max items (SIZE_MAX: all), oldest first; the caller frees
 * them with loom__inbox_free, which calls each item's drop if drop_data is
 * true. Consumer only. */
struct inbox_item *loom__inbox_take(struct inbox *in, size_t max);
size_t loom__inbox_free(struct inbox_item *items, bool drop_data);

#endif
