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
};

/* Terminated by an entry with a NULL name. */
extern const struct bench_backend bench_backends[];

/* The Qt loop, made under a QCoreApplication of its own (C++ side). */
int bench_make_qt_loop(loom_loop **loopp, const char *name);

LOOM_END_DECLS

#endif
