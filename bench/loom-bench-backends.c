/* loom-bench — loop factories, one per backend compiled in. */
#include "loom-bench-backends.h"

#include <stddef.h>

#ifdef BENCH_LOOM_GLIB
#include <loom/loom-glib.h>
#endif
#ifdef BENCH_LOOM_LIBEVENT
#include <event2/event.h>
#include <loom/loom-event.h>
#endif

static int make_builtin(loom_loop **loopp, const char *name)
{
    return loom_loop_new(loopp, name);
}

#ifdef BENCH_LOOM_GLIB
static int make_glib(loom_loop **loopp, const char *name)
{
    return loom_glib_loop_new(loopp, NULL);
}
#endif

#ifdef BENCH_LOOM_LIBEVENT
static int make_libevent(loom_loop **loopp, const char *name)
{
    /* One base for the whole run: it must outlive every loop made on it. */
    static struct event_base *base;
    if (!base && !(base = event_base_new()))
        return -ENOMEM;
    return loom_event_loop_new(loopp, base);
}
#endif

const struct bench_backend bench_backends[] = {
    { "epoll", make_builtin, NULL },
    { "poll", make_builtin, NULL },
#ifdef BENCH_LOOM_GLIB
    { "glib", make_glib, NULL },
#endif
#ifdef BENCH_LOOM_LIBEVENT
    { "libevent", make_libevent, NULL },
#endif
#ifdef BENCH_LOOM_QT
    { "qt", bench_make_qt_loop, bench_qt_loop_note },
#endif
    { NULL, NULL, NULL },
};
