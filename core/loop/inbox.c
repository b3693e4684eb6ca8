#include <stdlib.h>
#include "inbox.h"

bool loom__inbox_push(struct inbox *in, loom_callback cb, void *data, void (*drop)(void *data), bool always)
{
    struct inbox_item *item = malloc(sizeof(*item));
    if (!item)
        return false;
    item->cb = cb;
    item->data = data;
    item->drop = drop;
    item->always = always;
    item->next = atomic_load_explicit(&in->head, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&in->head, &item->next, item,
                                                  memory_order_release, memory_order_relaxed))
        ;
    return true;
}

struct inbox_item *loom__inbox_take(struct inbox *in)
{
    /* One consumer takes the whole stack, so there is no ABA problem; it is
     * reversed to restore push order. */
    struct inbox_item *item = atomic_exchange_explicit(&in->head, NULL, memory_order_acquire);
    struct inbox_item *oldest_first = NULL;
    while (item) {
        struct inbox_item *next = item->next;
        item->next = oldest_first;
        oldest_first = item;
        item = next;
    }
    return oldest_first;
}

size_t loom__inbox_free(struct inbox_item *items, bool drop_data)
{
    size_t n = 0;
    for (; items; n++) {
        struct inbox_item *next = items->next;
        if (drop_data && items->drop)
            items->drop(items->data);
        free(items);
        items = next;
    }
    return n;
}
