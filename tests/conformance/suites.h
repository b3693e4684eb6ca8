/* loom conformance suite — one Check suite per test file; main.c runs them
 * all against the backend chosen at build time (host-<backend>.c). */
#ifndef LOOM_TEST_SUITES_H
#define LOOM_TEST_SUITES_H

#include <check.h>

Suite *loop_suite(void);       /* test-loop.c: scheduling, timers, run/stop, close, errors */
Suite *threadsafe_suite(void); /* test-threadsafe.c */
Suite *fd_suite(void);         /* test-fd.c */
Suite *future_suite(void);     /* test-future.c */
Suite *host_suite(void);       /* test-host.c: native callbacks, nesting, idle, teardown */
Suite *task_suite(void);       /* test-task.c: tasks, cancellation, groups */
Suite *sync_suite(void);       /* test-sync.c: event, lock, semaphore, condition, channel */
Suite *executor_suite(void);   /* test-executor.c: the thread pool, getaddrinfo */
Suite *hooks_suite(void);      /* test-hooks.c: hooks, per-loop data, destroy functions */
Suite *fork_suite(void);       /* test-fork.c: a loop inherited by a forked child */
Suite *stream_suite(void);     /* test-stream.c: fd_wait, streams, servers, connects */
Suite *stream_engine_suite(void); /* test-stream-engine.c: streams over io_uring or readiness */
Suite *faults_suite(void);     /* test-faults.c: regressions found by review */
Suite *signal_suite(void);     /* test-signal.c: signal watches, chaining, restoring */
Suite *dgram_suite(void);      /* test-dgram.c: UDP and Unix datagram sockets */
Suite *process_suite(void);    /* test-process.c: subprocesses, pipes, reaping */
Suite *file_suite(void);       /* test-file.c: loom_file_* on io_uring or the executor */

#endif
