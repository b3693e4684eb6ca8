/* bench — shared harness: timing, medians, output, fixtures. */
#define _GNU_SOURCE
#include "bench-util.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

_Noreturn void bench_die(int err, const char *what)
{
    if (err)
        fprintf(stderr, "bench: %s: %s\n", what, strerror(err < 0 ? -err : err));
    else
        fprintf(stderr, "bench: %s\n", what);
    exit(1);
}

int bench_check(int ret, const char *what)
{
    if (ret < 0)
        bench_die(ret, what);
    return ret;
}

static int64_t time_run(bench_fn fn, void *ctx, uint64_t n)
{
    int64_t start = bench_now_ns();
    fn(ctx, n);
    return bench_now_ns() - start;
}

/* Grows n until one run takes BENCH_MIN_REP_NS, aiming 20% above it so the
 * repetitions that follow rarely fall short. */
static uint64_t calibrate(bench_fn fn, void *ctx)
{
    uint64_t n = 1;
    for (;;) {
        int64_t t = time_run(fn, ctx, n);
        if (t >= BENCH_MIN_REP_NS)
            return n;
        if (t < BENCH_MIN_REP_NS / 100)
            n *= 10;
        else
            n = (uint64_t)((double)n * 1.2 * BENCH_MIN_REP_NS / (double)t) + 1;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void bench_measure(const char *prefix, const char *name, const char *unit, uint64_t ops_per_iter,
                   bench_fn fn, void *ctx)
{
    uint64_t n = calibrate(fn, ctx);
    double per_op[BENCH_REPS];

    for (int i = 0; i < BENCH_REPS;) {
        int64_t t = time_run(fn, ctx, n);
        if (t < BENCH_MIN_REP_NS) { /* too short after all: lengthen, retry */
            n += n / 4 + 1;
            continue;
        }
        per_op[i++] = (double)t / ((double)n * (double)ops_per_iter);
    }
    qsort(per_op, BENCH_REPS, sizeof per_op[0], cmp_double);
    printf("%s%s%s %.1f %s\n", prefix ? prefix : "", prefix ? "." : "", name, per_op[BENCH_REPS / 2],
           unit);
    fflush(stdout);
}

void bench_socketpair(int sv[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        bench_die(errno, "socketpair");
}

void bench_write_char(int fd, char c)
{
    if (write(fd, &c, 1) != 1)
        bench_die(errno, "write");
}

char bench_read_char(int fd)
{
    char c;
    if (read(fd, &c, 1) != 1)
        bench_die(errno, "read");
    return c;
}

void bench_write_byte(int fd)
{
    bench_write_char(fd, 'x');
}

void bench_read_byte(int fd)
{
    bench_read_char(fd);
}

const uint32_t *bench_timer_delays_ms(void)
{
    static uint32_t delays[BENCH_TIMERS];
    static bool ready;
    uint64_t x = 0x9e3779b97f4a7c15u; /* xorshift64: fixed seed, same on every run */

    if (ready)
        return delays;
    for (size_t i = 0; i < BENCH_TIMERS; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        delays[i] = 1 + (uint32_t)(x % BENCH_TIMER_MAX_MS);
    }
    ready = true;
    return delays;
}

/* --- thread -> loop -> thread round trips --------------------------------- */

bool bench_roundtrip_reply(bench_roundtrip *rt)
{
    uint64_t one = 1;
    if (write(rt->reply_fd, &one, sizeof one) != sizeof one)
        bench_die(errno, "eventfd write");
    return ++rt->done == rt->n;
}

static void pin_to_cpu0(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    if (sched_setaffinity(0, sizeof set, &set) < 0) /* 0: the calling thread */
        bench_die(errno, "sched_setaffinity");
}

static void *roundtrip_sender(void *arg)
{
    bench_roundtrip *rt = arg;
    uint64_t v;

    if (rt->pinned)
        pin_to_cpu0();
    for (uint64_t i = 0; i < rt->n; i++) {
        rt->send(rt->peer);
        if (read(rt->reply_fd, &v, sizeof v) != sizeof v)
            bench_die(errno, "eventfd read");
    }
    return NULL;
}

static void roundtrip_run(void *ctx, uint64_t n)
{
    bench_roundtrip *rt = ctx;
    cpu_set_t saved;
    pthread_t thread;
    int err;

    rt->n = n;
    rt->done = 0;
    if (rt->pinned) {
        if (sched_getaffinity(0, sizeof saved, &saved) < 0)
            bench_die(errno, "sched_getaffinity");
        pin_to_cpu0();
    }
    if ((err = pthread_create(&thread, NULL, roundtrip_sender, rt)))
        bench_die(err, "pthread_create");
    rt->run(rt->peer);
    pthread_join(thread, NULL);
    if (rt->pinned && sched_setaffinity(0, sizeof saved, &saved) < 0)
        bench_die(errno, "sched_setaffinity");
}

void bench_roundtrip_measure(const char *prefix, bench_roundtrip *rt)
{
    rt->reply_fd = eventfd(0, EFD_CLOEXEC);
    if (rt->reply_fd < 0)
        bench_die(errno, "eventfd");
    const char *name = rt->name ? rt->name : "threadsafe_roundtrip";
    char pinned[128];
    snprintf(pinned, sizeof pinned, "%s_pinned", name);
    rt->pinned = false;
    bench_measure(prefix, name, "ns/roundtrip", 1, roundtrip_run, rt);
    rt->pinned = true;
    bench_measure(prefix, pinned, "ns/roundtrip", 1, roundtrip_run, rt);
    close(rt->reply_fd);
}

/* --- many connections ---------------------------------------------------------- */

/* fds a loop may need beside the pairs: its sets, wakeups, stdio. */
#define CONN_SPARE_FDS 64

int bench_conns_wanted = BENCH_CONNS;

void bench_conns_open(bench_conns *c)
{
    int want = bench_conns_wanted;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (rlim_t)want * 2 + CONN_SPARE_FDS > rl.rlim_cur) {
        want = (int)((rl.rlim_cur - CONN_SPARE_FDS) / 2);
        printf("# conns=%d (the fd limit allows no more)\n", want);
    }
    c->n = want;
    c->sv = malloc((size_t)want * sizeof(*c->sv));
    if (!c->sv)
        bench_die(ENOMEM, "bench_conns_open");
    for (int i = 0; i < want; i++)
        bench_socketpair(c->sv[i]);
}

void bench_conns_close(bench_conns *c)
{
    for (int i = 0; i < c->n; i++) {
        close(c->sv[i][0]);
        close(c->sv[i][1]);
    }
    free(c->sv);
    c->sv = NULL;
}

char bench_conn_byte(int conn, int trip)
{
    return (char)('A' + (conn * 7 + trip) % 53);
}

void bench_conn_check(int conn, int trip, char got)
{
    if (got != bench_conn_byte(conn, trip))
        bench_die(0, "a connection got another byte than it sent");
}

void bench_conns_report(const char *prefix, const bench_conns *c, int64_t elapsed_ns)
{
    printf("%s%sconns_roundtrip %.1f ns/roundtrip\n", prefix ? prefix : "", prefix ? "." : "",
           (double)elapsed_ns / ((double)c->n * BENCH_CONN_TRIPS));
    fflush(stdout);
}

/* --- watch churn ------------------------------------------------------------------ */

int *bench_quiet_fds(int n)
{
    int *fds = malloc((size_t)n * sizeof(*fds));
    if (!fds)
        bench_die(ENOMEM, "bench_quiet_fds");
    for (int i = 0; i < n; i++)
        if ((fds[i] = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
            bench_die(errno, "socket");
    return fds;
}

void bench_quiet_fds_close(int *fds, int n)
{
    for (int i = 0; i < n; i++)
        close(fds[i]);
    free(fds);
}
