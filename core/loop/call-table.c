#include <stdlib.h>
#include "call-table.h"

void loom__call_table_init(struct call_table *t)
{
    *t = (struct call_table){.free_head = UINT32_MAX};
}

void loom__call_table_fini(struct call_table *t)
{
    free(t->slots);
    loom__call_table_init(t);
}

bool loom__call_table_grow(struct call_table *t)
{
    uint32_t size = t->size ? t->size * 2 : 256;
    if (size <= t->size || size > UINT32_MAX / 2)
        return false;
    struct call *slots = realloc(t->slots, size * sizeof(*slots));
    if (!slots)
        return false;
    /* New slots join the free list in index order; gen starts at 1 so that no
     * handle is ever 0. */
    for (uint32_t i = size; i-- > t->size;) {
        slots[i] = (struct call){.gen = 1, .place = CALL_FREE,
                                 .data = (void *)(uintptr_t)t->free_head};
        t->free_head = i;
    }
    t->slots = slots;
    t->size = size;
    return true;
}

void loom__call_table_drop_all(struct call_table *t)
{
    for (uint32_t i = 0; i < t->size; i++)
        if (t->slots[i].place != CALL_FREE && t->slots[i].drop)
            t->slots[i].drop(t->slots[i].data);
    loom__call_table_fini(t);
}
