/* The built-in loop's backends, and what they share. */
#ifndef LOOM_BUILTIN_H
#define LOOM_BUILTIN_H

#include <stdbool.h>
#include <time.h>
#include <loom/backend.h>

int epoll_backend_new(loom_loop **loopp);
int poll_backend_new(loom_loop **loopp);

/* How long iterate may sleep: false for "until an event" (no deadline),
 * else *ts holds the time left, rounded so a wait never ends early. */
bool builtin_wait_time(int64_t deadline, bool block, struct timespec *ts);

#endif
