/* bench — shared harness: timing, medians, output, fixtures.
 *
 * A measurement runs a body n times; n is scaled until one repetition takes at
 * least BENCH_MIN_REP_NS, and the printed value is the median of BENCH_REPS
 * repetitions, as one "name value unit" line. */
#ifndef LOOM_BENCH_UTIL_H
#define LOOM_BENCH_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
#define BENCH_NORETURN [[noreturn]] /* peer-qt.cpp is C++ */
extern "C" {
#else
#define BENCH_NORETURN _Noreturn
#endif

#define BENCH_REPS 5
#define BENCH_MIN_REP_NS 300000000LL

/* Timer metric: this many timers per round, with deadlines of 1..10,000 ms. */
#define BENCH_TIMERS 1000000u
#define BENCH_TIMER_MAX_MS 10000u

/* timer_add_cancel_10k: the first 10,000 of the same delays. Qt keeps its
 * timers in a sorted list (linear insert and remove): BENCH_TIMERS would take
 * it minutes per round. */
#define BENCH_FEW_TIMERS 10000u

/* flood_timer_lateness: the worst lateness of a timer of this period, re-armed
 * each time, while this many threads make this many thread-safe calls. */
#define BENCH_FLOOD_THREADS 8
#define BENCH_FLOOD_CALLS 1000000
#define BENCH_FLOOD_TIMER_NS 5000000

/* Batch metric: callbacks scheduled at once per round. */
#define BENCH_BATCH 1000u

/* Runs the measured operation n times (n rounds for batched metrics). */
typedef void (*bench_fn)(void *ctx, uint64_t n);

/* Measures fn and prints "[prefix.]name value unit", value in ns per op, where
 * one call with n runs n * ops_per_iter ops. prefix may be NULL. */
void bench_measure(const char *prefix, const char *name, const char *unit, uint64_t ops_per_iter,
                   bench_fn fn, void *ctx);

/* CLOCK_MONOTONIC in ns. */
int64_t bench_now_ns(void);

/* Prints a message with the reason (strerror of err, if err != 0) and exits:
 * a bench that cannot run its setup has nothing to measure. */
BENCH_NORETURN void bench_die(int err, const char *what);

/* Dies on a negative errno result; returns it otherwise. */
int bench_check(int ret, const char *what);

/* A non-blocking AF_UNIX stream socket pair. */
void bench_socketpair(int sv[2]);

/* Writes / reads exactly one byte; dies on anything else. */
void bench_write_byte(int fd);
void bench_read_byte(int fd);
/* The same with a given byte, and returning the byte read. */
void bench_write_char(int fd, char c);
char bench_read_char(int fd);

/* BENCH_TIMERS delays in ms, uniform in 1..BENCH_TIMER_MAX_MS, from a fixed
 * seed so every loop gets the same sequence. Static storage. */
const uint32_t *bench_timer_delays_ms(void);

/* --- thread -> loop -> thread round trips ------------------------------------
 *
 * A second thread posts to the loop with the peer's thread-safe idiom (send),
 * then blocks on an eventfd until the loop's callback answers through
 * bench_roundtrip_reply. The loop side (run) runs the loop until the reply
 * that completes the n-th round trip, which returns true. */
typedef struct bench_roundtrip {
    void (*send)(void *peer);
    void (*run)(void *peer);
    void *peer;
    const char *name; /* the metric's name: NULL for threadsafe_roundtrip */
    /* Owned by the harness. */
    int reply_fd;
    uint64_t n, done;
    bool pinned;
} bench_roundtrip;

/* Answers the current round trip; true when it was the last one, and the
 * loop should stop. Loop side only. */
bool bench_roundtrip_reply(bench_roundtrip *rt);

/* Measures rt unpinned and with both threads pinned to CPU 0, printing
 * NAME and NAME_pinned (NAME: rt->name, or threadsafe_roundtrip). */
void bench_roundtrip_measure(const char *prefix, bench_roundtrip *rt);

/* --- many connections: BENCH_CONN_TRIPS round trips on each of n socketpairs
 *
 * The loop under test echoes every byte that arrives on sv[1] and checks on
 * sv[0] that trip t of connection i brings back bench_conn_byte(i, t) before
 * it sends the next. One run, timed whole: at this size a run takes seconds
 * on the slow loops, and what is measured is the loop's cost per watch. */
#define BENCH_CONNS 10000
#define BENCH_CONN_TRIPS 10

typedef struct bench_conns {
    int n;
    int (*sv)[2];
} bench_conns;

/* How many connections bench_conns_open opens: BENCH_CONNS, or --conns=N. */
extern int bench_conns_wanted;

/* Opens bench_conns_wanted pairs, or as many as the fd limit (raised to its
 * hard limit) allows with room for the loop's own fds; then prints
 * "# conns=N". */
void bench_conns_open(bench_conns *c);
void bench_conns_close(bench_conns *c);
char bench_conn_byte(int conn, int trip);
/* Dies unless got is trip's byte of conn. */
void bench_conn_check(int conn, int trip, char got);
/* Prints "[prefix.]conns_roundtrip ns unit" for c->n * BENCH_CONN_TRIPS round
 * trips in elapsed_ns. */
void bench_conns_report(const char *prefix, const bench_conns *c, int64_t elapsed_ns);

/* --- watch churn: adding and removing one watch beside `background` others --
 *
 * bench_quiet_fds opens n fds that never become readable (unbound datagram
 * sockets, one file each); the caller watches them, and closes them with
 * bench_quiet_fds_close. */
#define BENCH_FEW_WATCHES 10
#define BENCH_MANY_WATCHES 10000
int *bench_quiet_fds(int n);
void bench_quiet_fds_close(int *fds, int n);

#ifdef __cplusplus
}
#endif

#endif
