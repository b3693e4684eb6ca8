/* liburing.so.2 through dlopen: a machine without it runs files on the
 * executor, as one whose kernel refuses io_uring does. */
#include "config.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include "uring-lib.h"

/* The first major version whose functions the engine calls all exist. */
#define LIBURING_SONAME "liburing.so.2"

static struct loom__liburing table;
static const char *failure;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void open_liburing(void)
{
    void *lib = dlopen(LIBURING_SONAME, RTLD_NOW | RTLD_LOCAL);
    bool ok = lib != NULL;

    if (!ok) {
        failure = "dlopen(" LIBURING_SONAME ") failed: liburing is not installed";
        return;
    }
#define LOOM__LIBURING_LOOKUP(ret, name, params)                                                   \
    ok = ok && (*(void **)&table.name = dlsym(lib, #name)) != NULL;
    LOOM__LIBURING_FUNCTIONS(LOOM__LIBURING_LOOKUP)
#undef LOOM__LIBURING_LOOKUP
    if (!ok) {
        failure = LIBURING_SONAME " lacks a function loom calls (liburing 2.0 has them all)";
        dlclose(lib);
    }
}

const struct loom__liburing *loom__liburing(const char **why)
{
    pthread_once(&once, open_liburing);
    if (failure) {
        *why = failure;
        return NULL;
    }
    return &table;
}
