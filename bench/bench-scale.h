/* loom-bench — scale metrics (bench-scale.c): many connections, watch churn
 * beside few and many watches, timers during a thread-safe flood. */
#ifndef LOOM_BENCH_SCALE_H
#define LOOM_BENCH_SCALE_H

#include <loom/loop.h>

/* Prints watch_churn_10, watch_churn_10k, conns_roundtrip (on
 * bench_conns_wanted connections) and flood_timer_lateness, measured on loop
 * (which must be idle). */
void bench_scale(loom_loop *loop);

/* conns_roundtrip alone (e.g. under callgrind, whose instruction counts do
 * not depend on the machine's load). */
void bench_conns_roundtrip(loom_loop *loop);

#endif
