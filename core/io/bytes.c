/* A read's result: one block, loom_bytes then its bytes and a NUL. Blocks of
 * up to 4 KiB are sized to a power of two and cached per thread
 * (base/thread-cache.h), so a stream read's malloc and free (a quarter of a
 * 1 KiB echo's instructions) happen once per thread, not once per read. */
#include <stdlib.h>
#include "base/thread-cache.h"
#include "io-private.h"

enum { SMALLEST = 64, CACHED_PER_CLASS = 8 };

/* The class of a block of total bytes (SMALLEST << class), or
 * LOOM__BYTES_CLASSES if larger than the largest. */
static unsigned block_class(size_t total)
{
    unsigned c = 0;
    while (c < LOOM__BYTES_CLASSES && ((size_t)SMALLEST << c) < total)
        c++;
    return c;
}

static size_t block_total(size_t len)
{
    return sizeof(loom_bytes) + len + 1;
}

loom_bytes *loom__bytes_new(size_t len)
{
    unsigned c = block_class(block_total(len));
    loom_bytes *b = NULL;

    if (c < LOOM__BYTES_CLASSES && !(b = loom__thread_cache_take(&loom__thread_caches.bytes[c])))
        b = malloc((size_t)SMALLEST << c);
    else if (c == LOOM__BYTES_CLASSES)
        b = malloc(block_total(len));
    if (!b)
        return NULL;
    *b = (loom_bytes){.data = (unsigned char *)(b + 1), .len = len};
    b->data[len] = 0;
    return b;
}

/* A block's class from its len, which only ever shrinks: the block is at
 * least that class's size. */
void loom__bytes_free(void *bytes)
{
    loom_bytes *b = bytes;
    unsigned c = block_class(block_total(b->len));

    if (c < LOOM__BYTES_CLASSES && loom__thread_cache_give(&loom__thread_caches.bytes[c], b, CACHED_PER_CLASS))
        return;
    free(b);
}
