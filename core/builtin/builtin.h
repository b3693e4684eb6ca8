/* The built-in loop's backends, and what they share. */
#ifndef LOOM_BUILTIN_H
#define LOOM_BUILTIN_H

#include <stdbool.h>
#include <time.h>
#include <loom/backend.h>

int loom__epoll_backend_new(loom_loop **loopp);
int loom__poll_backend_new(loom_loop **loopp);

/* The epoll set that carries a LOOM_BACKEND_ONE_FD host's fd watches: the
 * epoll backend's watch ops on a set of its own, without a loop. Its
 * get_fd is the one fd the host watches (stable for the set's life); when
 * it is readable, loom__epoll_set_deliver reports what is ready to loop through
 * loom_backend_fd_ready, without waiting or ticking, and returns whether it
 * took a full batch (more may be ready). */
int loom__epoll_set_new(loom_loop *loop, const loom_backend_ops **opsp, void **selfp);
bool loom__epoll_set_deliver(void *self);

/* The events one epoll_wait takes, on the built-in loop and from a one-fd
 * host's set: one batch, then a tick. */
enum { LOOM__EPOLL_BATCH = 128 };

/* loom_backend_fd_ready (core/loop/fd.c), telling whether a live watch wanted
 * the events: false for a stale token, a suspended watch or one with no
 * interest, which is how the epoll backend finds a closed fd's registration
 * still firing. */
bool loom__fd_ready(loom_loop *loop, uint64_t token, unsigned events);

/* How long iterate may sleep: false for "until an event" (no deadline),
 * else *ts holds the time left, rounded so a wait never ends early. */
bool loom__builtin_wait_time(int64_t deadline, bool block, struct timespec *ts);

#endif
