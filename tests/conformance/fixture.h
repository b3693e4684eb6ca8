/* loom conformance suite — helpers shared by every test file (defined in
 * main.c). Each test case is made with fixture_tcase, so every test runs
 * between host_setup and host_teardown (inside the forked child) and under a
 * time limit. Waits are bounded: a loop that does not stop in time fails the
 * test with a message saying what was awaited, instead of hanging. */
#ifndef LOOM_TEST_FIXTURE_H
#define LOOM_TEST_FIXTURE_H

#include <stdatomic.h>
#include <check.h>
#include "host.h"

/* Per-test limit in seconds; Check scales it by $CK_TIMEOUT_MULTIPLIER. */
#define FIXTURE_TEST_TIMEOUT 20

/* A new test case in suite, with the host fixture and the time limit. */
TCase *fixture_tcase(Suite *suite, const char *name);

/* ms scaled by $CK_TIMEOUT_MULTIPLIER (for slow runs such as valgrind). */
int fixture_scaled_ms(int ms);

/* CLOCK_MONOTONIC in ns, read directly (not through loom). */
int64_t fixture_now(void);

/* Runs loop until loom_loop_stop; fails the test ("<what>: ...") if it is
 * still running after timeout_ms (scaled). */
void fixture_run(loom_loop *loop, int timeout_ms, const char *what);

/* loom_loop_run_until with the same bound; returns its result. */
int fixture_run_until(loom_loop *loop, loom_future *future, int timeout_ms, const char *what);

/* A loom_callback that stops the loop. */
void fixture_stop(loom_loop *loop, void *data);

/* Closes the loop (asserting success) and drops the caller's reference. */
void fixture_free_loop(loom_loop *loop);

/* Runs what is scheduled already (completion callbacks, cancelled inputs'
 * callbacks), so that a test ends with nothing pending. */
void fixture_settle(loom_loop *loop);

/* Whether loom_loop_dump of loop has want in it. */
bool fixture_dump_has(loom_loop *loop, const char *want);

/* Number of fds open in this process. */
int fixture_count_open_fds(void);

/* A loopback TCP listener whose accept queue is full (four connections
 * fill it), so that a connect to port hangs: the kernel drops its SYNs. */
typedef struct fixture_full_listener {
    int fd, fill[4];
    char port[16];
} fixture_full_listener;
void fixture_full_listener_open(fixture_full_listener *l);
void fixture_full_listener_close(fixture_full_listener *l);

/* What the error handler saw; the handler may run on any thread. */
typedef struct fixture_errors {
    atomic_int count;
    atomic_int last_err;
} fixture_errors;

/* Installs an error handler on loop that records into errors (zeroed here). */
void fixture_capture_errors(loom_loop *loop, fixture_errors *errors);

#endif
