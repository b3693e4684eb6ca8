/* The built-in loop: choose a backend by name. */
#include "config.h"
#include <stdlib.h>
#include <string.h>
#include <loom/loop.h>
#include "base/clock.h"
#include "builtin.h"

bool loom__builtin_wait_time(int64_t deadline, bool block, struct timespec *ts)
{
    int64_t left = 0;
    if (block && deadline != 0) { /* 0: at once, as while callbacks are queued; no clock read */
        if (deadline == LOOM_DEADLINE_NONE)
            return false;
        int64_t now = clock_now_ns();
        left = deadline > now ? deadline - now : 0; /* deadlines are >= 0: no overflow */
    }
    ts->tv_sec = left / 1000000000;
    ts->tv_nsec = left % 1000000000;
    return true;
}

static const struct {
    const char *name;
    int (*create)(loom_loop **loopp);
} backends[] = {
#ifdef HAVE_SYS_EPOLL_H
    {"epoll", loom__epoll_backend_new},
#endif
    {"poll", loom__poll_backend_new},
};

int loom_loop_new(loom_loop **loopp, const char *backend)
{
    if (!loopp)
        return -EINVAL;
    if (!backend || !*backend)
        backend = getenv("LOOM_BACKEND");
    if (!backend || !*backend)
        return backends[0].create(loopp);
    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
        if (strcmp(backends[i].name, backend) == 0)
            return backends[i].create(loopp);
    return -EINVAL;
}
