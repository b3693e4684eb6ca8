/* Freed blocks kept for reuse by the thread that freed them, one cache per
 * kind of block: malloc and free cost more than the rest of a short-lived
 * future's or read result's life. A cached block links to the next through
 * its first word. A thread's caches are freed when it exits. */
#ifndef LOOM_THREAD_CACHE_H
#define LOOM_THREAD_CACHE_H

#include <stdbool.h>
#include <stddef.h>

struct loom__thread_cache {
    void *head;
    unsigned len;
};

/* A read's loom_bytes come in blocks of 64 << class bytes (io/bytes.c). */
#define LOOM__BYTES_CLASSES 7

struct loom__thread_caches {
    struct loom__thread_cache future; /* loom_future */
    struct loom__thread_cache bytes[LOOM__BYTES_CLASSES];
    bool registered; /* the thread-exit destructor will drain them */
};

/* initial-exec: a general-dynamic access from the shared library costs a
 * __tls_get_addr call (33 instructions) on every block taken and given. */
extern _Thread_local struct loom__thread_caches loom__thread_caches __attribute__((tls_model("initial-exec")));

/* Registers the calling thread's caches for draining at its exit: false if
 * that cannot be done (then nothing may be cached). */
bool loom__thread_caches_register(void);

/* A cached block, or NULL. */
static inline void *loom__thread_cache_take(struct loom__thread_cache *c)
{
    void *block = c->head;
    if (block) {
        c->head = *(void **)block;
        c->len--;
    }
    return block;
}

/* Keeps block (at least a pointer's size) unless c holds max already or the
 * thread cannot drain it at exit: false then, the caller frees it. */
static inline bool loom__thread_cache_give(struct loom__thread_cache *c, void *block, unsigned max)
{
    if (c->len == max || (!loom__thread_caches.registered && !loom__thread_caches_register()))
        return false;
    *(void **)block = c->head;
    c->head = block;
    c->len++;
    return true;
}

#endif
