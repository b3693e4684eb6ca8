/* The one clock of loom: CLOCK_MONOTONIC in nanoseconds. Timers, deadlines
 * and loom_loop_now all read it, so they agree (adapters use loom_loop_now). */
#ifndef LOOM_BASE_CLOCK_H
#define LOOM_BASE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t clock_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif
