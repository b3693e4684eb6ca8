/** @file
 * loom-event — loom inside a libevent event_base.
 *
 * The loop's callbacks, timers and fd watches become events of the base, so
 * they run while the host program runs the base as usual
 * (event_base_dispatch, event_base_loop).
 *
 *     #include <loom/loom-event.h>      pkg-config: loom-event */
#ifndef LOOM_EVENT_H
#define LOOM_EVENT_H

#include <loom/loop.h>

struct event_base;

LOOM_BEGIN_DECLS

/** Creates a loop on base, bound to the calling thread (the thread that runs
 * base). base is borrowed, not owned: the caller keeps it alive longer than
 * the loop — close the loop (loom_loop_close or the last loom_loop_unref)
 * before event_base_free(base). A closed loop leaves no event in base.
 *
 * base needs no thread support (evthread_use_pthreads is not required):
 * loom_call_soon_threadsafe wakes the base through an fd of loom's own.
 *
 * libevent reports a hang-up or an error on an fd as plain readability and
 * writability; loom still passes LOOM_HUP to a socket's reader once both
 * directions are gone and LOOM_HUP / LOOM_ERR for pipes (on epoll and
 * poll); elsewhere readers and writers learn of them from read and write.
 * A peer's shutdown(SHUT_WR) alone is plain LOOM_READ (EOF to read), as on
 * every backend.
 *
 * loom_loop_run, _run_until and _run_once iterate base themselves; as
 * libevent's loop does not nest, they fail with -EDEADLK, reported to the
 * loop's error handler, when called while base is already running (from
 * inside any callback, loom's or the host's own), and loom_loop_can_nest is
 * false.
 *
 * Returns 0 and a new loop (one reference) in *loopp, -EINVAL if loopp or
 * base is NULL, or another negative errno (-ENOMEM). */
LOOM_API int loom_event_loop_new(loom_loop **loopp, struct event_base *base);

LOOM_END_DECLS

#endif
