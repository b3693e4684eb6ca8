/* loom-bench — the loops it can measure: the built-in backends, and each host
 * adapter that was built. */
#ifndef LOOM_BENCH_BACKENDS_H
#define LOOM_BENCH_BACKENDS_H

#include <loom/loop.h>

LOOM_BEGIN_DECLS

/* Creates a loop on one backend (name is its table entry's). Returns 0 or a
 * negative errno (the backend does not work here). */
typedef int (*bench_loop_factory)(loom_loop **loopp, const char *name);

struct bench_backend {
    const char *name;
    bench_loop_factory make;
    /* What the header line adds after the name, or NULL; asked after make. */
    const char *(*note)(void);
};

/* Terminated by an entry with a NULL name. */
extern const struct bench_backend bench_backends[];

/* The Qt loop, made under a QCoreApplication of its own (C++ side). */
int bench_make_qt_loop(loom_loop **loopp, const char *name);

/* " (QT_NO_GLIB=1)" when Qt runs its Unix dispatcher rather than its GLib one,
 * else "". */
const char *bench_qt_loop_note(void);

LOOM_END_DECLS

#endif
