#include <pthread.h>
#include <stdlib.h>
#include "thread-cache.h"

_Thread_local struct loom__thread_caches loom__thread_caches __attribute__((tls_model("initial-exec")));

static pthread_key_t key;
static bool key_ok;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void drain(struct loom__thread_cache *c)
{
    void *block;
    while ((block = loom__thread_cache_take(c)))
        free(block);
}

static void drain_all(void *data)
{
    struct loom__thread_caches *t = data;
    drain(&t->future);
    for (int i = 0; i < LOOM__BYTES_CLASSES; i++)
        drain(&t->bytes[i]);
    t->registered = false; /* a later give registers again */
}

static void make_key(void)
{
    key_ok = pthread_key_create(&key, drain_all) == 0;
}

/* At exit (or unload) the exiting thread's caches are freed here, since
 * exit() runs no thread-exit destructor for it; were libloom unloaded,
 * threads exiting later must not call into it. */
__attribute__((destructor)) static void delete_key(void)
{
    drain_all(&loom__thread_caches);
    if (key_ok)
        pthread_key_delete(key);
}

bool loom__thread_caches_register(void)
{
    struct loom__thread_caches *t = &loom__thread_caches;
    pthread_once(&key_once, make_key);
    t->registered = key_ok && pthread_setspecific(key, t) == 0;
    return t->registered;
}
