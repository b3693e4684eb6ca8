#include <stdint.h>
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

/* Moves the pushed stack behind the backlog. One consumer takes the whole
 * stack, so there is no ABA problem; it is reversed to restore push order
 * (each item once: O(1) per item however the takes are cut). */
static void inbox_collect(struct inbox *in)
{
    struct inbox_item *item = atomic_exchange_explicit(&in->head, NULL, memory_order_acquire);
    struct inbox_item *oldest_first = NULL, *newest = item;
    while (item) {
        struct inbox_item *next = item->next;
        item->next = oldest_first;
        oldest_first = item;
        item = next;
    }
    if (!oldest_first)
        return;
    if (in->backlog)
        in->backlog_tail->next = oldest_first;
    else
        in->backlog = oldest_first;
    in->backlog_tail = newest;
}

struct inbox_item *loom__inbox_take(struct inbox *in, size_t max)
{
    inbox_collect(in);
    struct inbox_item *batch = in->backlog, *last = NULL, *item = batch;
    for (size_t n = 0; item && n < max; n++) {
        last = item;
        item = item->next;
    }
    if (!last)
        return NULL;
    in->backlog = item;
    if (!item)
        in->backlog_tail = NULL;
    last->next = NULL;
    return batch;
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
