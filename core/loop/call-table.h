/* The scheduled callbacks of one loop, addressed by generation-counted
 * handles so that a stale handle (already run or cancelled) is detected, not
 * dereferenced. Slots are recycled through a free list: no allocation per
 * call once the table has grown. */
#ifndef LOOM_CALL_TABLE_H
#define LOOM_CALL_TABLE_H

#include <stdbool.h>
#include <stdint.h>
#include <loom/loop.h>

enum call_place { CALL_FREE, CALL_READY, CALL_TIMER };

/* The last generation of a slot: handles keep bit 63 clear, which marks the
 * ready queue's own handles (ready-queue.h). */
#define CALL_GEN_LAST UINT32_C(0x7fffffff)

struct call {
    loom_callback cb;
    void *data;        /* a free slot keeps the next free index here */
    void (*drop)(void *data); /* frees data if cb never runs; may be NULL */
    uint32_t gen;      /* bumped whenever the slot is freed; stays <= CALL_GEN_LAST */
    uint16_t place;    /* enum call_place */
    bool always;       /* drop runs after cb too: the public destroy */
};

struct call_table {
    struct call *slots;
    uint32_t size, used;
    uint32_t free_head; /* UINT32_MAX: none */
};

void loom__call_table_init(struct call_table *t);
void loom__call_table_fini(struct call_table *t);

bool loom__call_table_grow(struct call_table *t);

/* A new slot, or 0 when out of memory. Inline: it is on every call_soon. */
static inline loom_handle call_table_alloc(struct call_table *t, loom_callback cb, void *data,
                                           enum call_place place)
{
    if (t->free_head == UINT32_MAX && !loom__call_table_grow(t))
        return 0;
    uint32_t i = t->free_head;
    struct call *c = &t->slots[i];
    t->free_head = (uint32_t)(uintptr_t)c->data;
    *c = (struct call){.cb = cb, .data = data, .gen = c->gen, .place = place};
    t->used++;
    return ((loom_handle)c->gen << 32) | (i + 1);
}

/* Calls drop(data) for every live call that has one, then frees the table. */
void loom__call_table_drop_all(struct call_table *t);

static inline uint32_t call_handle_index(loom_handle h) { return (uint32_t)h - 1; }
static inline uint32_t call_handle_gen(loom_handle h) { return (uint32_t)(h >> 32); }

/* The live call behind h, or NULL if h is stale. */
static inline struct call *call_table_get(struct call_table *t, loom_handle h)
{
    uint32_t i = call_handle_index(h);
    if (i >= t->size || t->slots[i].gen != call_handle_gen(h) || t->slots[i].place == CALL_FREE)
        return NULL;
    return &t->slots[i];
}

/* Frees the slot of a live call: its handle becomes stale. A slot at its
 * last generation is retired instead (never reused, 40 bytes per 2^31 calls
 * through it): a wrapped one would make its oldest handles live again. */
static inline void call_table_free(struct call_table *t, loom_handle h)
{
    uint32_t i = call_handle_index(h);
    struct call *c = &t->slots[i];
    c->place = CALL_FREE;
    t->used--;
    if (c->gen == CALL_GEN_LAST)
        return;
    c->gen++;
    c->data = (void *)(uintptr_t)t->free_head;
    t->free_head = i;
}

#endif
