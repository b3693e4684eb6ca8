/* loom conformance suite — what each backend under test provides.
 *
 * The suite is written only against the public API and these hooks. Each
 * backend implements them once, in tests/conformance/host-<backend>.c, and the
 * same test sources are compiled once per backend. */
#ifndef LOOM_TEST_HOST_H
#define LOOM_TEST_HOST_H

#include <stdbool.h>
#include <loom/loom.h>

/* Called once per test (inside the forked child) before the first loop:
 * sets up what the host needs (a QCoreApplication, an event_base, ...). */
void host_setup(void);
/* Undoes host_setup at the end of each test. */
void host_teardown(void);

/* A new loop on the backend under test (one reference); fails the test if
 * it cannot be created. */
loom_loop *host_loop_new(void);

/* Whether loom_loop_run_until may nest on this backend. */
bool host_can_nest(void);

/* Runs a nested *native* host loop (GLib: g_main_loop_run on the loop's
 * context; Qt: QEventLoop::exec; built-in: loom_loop_run) from inside a loom
 * callback, until host_quit_nested is called. Not called when
 * host_can_nest() is false. */
void host_run_nested(loom_loop *loop);
void host_quit_nested(loom_loop *loop);

/* Calls fn(data) once from a *native* host callback (g_timeout_add, an
 * evtimer, a QTimer; built-in: a thread-safe call) after about delay_ms,
 * without going through loom's own scheduling. */
void host_native_timeout(loom_loop *loop, int delay_ms, void (*fn)(void *data), void *data);

/* Number of sources, events, timers or notifiers the host holds for loom
 * right now, or -1 where the host cannot tell. Used to check that a closed
 * loop leaves nothing behind. */
int host_count_sources(loom_loop *loop);

/* In a forked child: runs the host's own loop (blocking iterations, no loom
 * call) until a native timer of ms fires, preparing the host for the child
 * as its documentation asks (libevent: event_reinit); returns how many
 * iterations that took, or -1 where the host is loom itself. */
int host_native_iterations(int ms);

#endif
