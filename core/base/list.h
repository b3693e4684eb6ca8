/* An intrusive doubly-linked list: the node lives inside the element, so
 * linking and unlinking never allocate, and an element unlinks itself in
 * O(1). A zeroed list is empty and a zeroed node is unlinked, so neither
 * needs an init call (thread-locals and calloc'ed objects use them as is). */
#ifndef LOOM_BASE_LIST_H
#define LOOM_BASE_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list_node {
    struct list_node *prev, *next;
};

struct list {
    struct list_node *first, *last;
};

/* The element that holds node, e.g. list_item(n, struct job, node). */
#define list_item(node, type, member) ((type *)(void *)((char *)(node)-offsetof(type, member)))

static inline bool list_empty(const struct list *l)
{
    return l->first == NULL;
}

static inline void list_push_front(struct list *l, struct list_node *n)
{
    n->prev = NULL;
    n->next = l->first;
    if (l->first)
        l->first->prev = n;
    else
        l->last = n;
    l->first = n;
}

static inline void list_push_back(struct list *l, struct list_node *n)
{
    n->next = NULL;
    n->prev = l->last;
    if (l->last)
        l->last->next = n;
    else
        l->first = n;
    l->last = n;
}

static inline void list_unlink(struct list *l, struct list_node *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        l->first = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        l->last = n->prev;
    n->prev = n->next = NULL;
}

/* Removes and returns the first node, or NULL. */
static inline struct list_node *list_pop_front(struct list *l)
{
    struct list_node *n = l->first;
    if (n)
        list_unlink(l, n);
    return n;
}

#endif
