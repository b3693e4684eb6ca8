/* peer-bench — GLib's main loop on the default context, with its idioms:
 *   call_soon_chain / call_soon_batch: g_idle_add per callback;
 *   timer_add_cancel: g_timeout_add + g_source_remove;
 *   fd_pingpong: g_unix_fd_add readers on the socketpair;
 *   threadsafe_roundtrip: g_idle_add from the other thread (it wakes the
 *     context);
 *   watch_churn_*: g_unix_fd_add + g_source_remove beside quiet sources;
 *   conns_roundtrip: a g_unix_fd_add source on each end of every pair. */
#include <glib-unix.h>
#include <glib.h>
#include <unistd.h>

#include "bench-util.h"
#include "peers.h"

#define PEER "glib"

static GMainLoop *main_loop;

/* --- call_soon_chain ----------------------------------------------------------- */

static gboolean chain_step(gpointer data)
{
    uint64_t *left = data;
    if (--*left == 0)
        g_main_loop_quit(main_loop);
    else
        g_idle_add(chain_step, left);
    return G_SOURCE_REMOVE;
}

static void run_chain(void *ctx, uint64_t n)
{
    uint64_t left = n;
    g_idle_add(chain_step, &left);
    g_main_loop_run(main_loop);
}

/* --- call_soon_batch ----------------------------------------------------------- */

static gboolean count_call(gpointer data)
{
    ++*(uint64_t *)data;
    return G_SOURCE_REMOVE;
}

static void run_batch(void *ctx, uint64_t n)
{
    for (uint64_t round = 0; round < n; round++) {
        uint64_t ran = 0;
        for (unsigned i = 0; i < BENCH_BATCH; i++)
            g_idle_add(count_call, &ran);
        while (ran < BENCH_BATCH)
            g_main_context_iteration(NULL, FALSE);
    }
}

/* --- timer_add_cancel ---------------------------------------------------------- */

static gboolean never_called(gpointer data)
{
    bench_die(0, "a cancelled timer ran");
}

static void run_timers(void *ctx, uint64_t n)
{
    static guint ids[BENCH_TIMERS];
    const uint32_t *delays = bench_timer_delays_ms();

    for (uint64_t round = 0; round < n; round++) {
        for (size_t i = 0; i < BENCH_TIMERS; i++)
            ids[i] = g_timeout_add(delays[i], never_called, NULL);
        for (size_t i = 0; i < BENCH_TIMERS; i++)
            g_source_remove(ids[i]);
        g_main_context_iteration(NULL, FALSE); /* the idle iteration loom-bench has too */
    }
}

/* --- fd_pingpong --------------------------------------------------------------- */

struct pingpong {
    int sv[2];
    uint64_t left;
};

static gboolean ping_readable(gint fd, GIOCondition condition, gpointer data)
{
    struct pingpong *p = data;
    bench_read_byte(fd);
    if (--p->left == 0)
        g_main_loop_quit(main_loop);
    else
        bench_write_byte(fd);
    return G_SOURCE_CONTINUE;
}

static gboolean pong_readable(gint fd, GIOCondition condition, gpointer data)
{
    bench_read_byte(fd);
    bench_write_byte(fd);
    return G_SOURCE_CONTINUE;
}

static void run_pingpong(void *ctx, uint64_t n)
{
    struct pingpong *p = ctx;
    p->left = n;
    bench_write_byte(p->sv[0]);
    g_main_loop_run(main_loop);
}

static void measure_pingpong(void)
{
    struct pingpong p;
    guint ping, pong;

    bench_socketpair(p.sv);
    ping = g_unix_fd_add(p.sv[0], G_IO_IN, ping_readable, &p);
    pong = g_unix_fd_add(p.sv[1], G_IO_IN, pong_readable, &p);
    bench_measure(PEER, "fd_pingpong", "ns/roundtrip", 1, run_pingpong, &p);
    g_source_remove(ping);
    g_source_remove(pong);
    close(p.sv[0]);
    close(p.sv[1]);
}

/* --- threadsafe_roundtrip ------------------------------------------------------ */

static gboolean threadsafe_reply(gpointer data)
{
    if (bench_roundtrip_reply(data))
        g_main_loop_quit(main_loop);
    return G_SOURCE_REMOVE;
}

static void threadsafe_send(void *peer)
{
    g_idle_add(threadsafe_reply, peer);
}

static void threadsafe_run(void *peer)
{
    g_main_loop_run(main_loop);
}

static void measure_threadsafe(void)
{
    bench_roundtrip rt = { .send = threadsafe_send, .run = threadsafe_run };
    rt.peer = &rt;
    bench_roundtrip_measure(PEER, &rt);
}

/* --- conns_roundtrip: a g_unix_fd_add source on each end ---------------------- */

struct conn {
    int id, trip;
    int *sv;
    int *left;
};

static gboolean echo_readable(gint fd, GIOCondition condition, gpointer data)
{
    bench_write_char(fd, bench_read_char(fd));
    return G_SOURCE_CONTINUE;
}

static gboolean reply_readable(gint fd, GIOCondition condition, gpointer data)
{
    struct conn *c = data;
    bench_conn_check(c->id, c->trip, bench_read_char(fd));
    if (++c->trip < BENCH_CONN_TRIPS)
        bench_write_char(fd, bench_conn_byte(c->id, c->trip));
    else if (--*c->left == 0)
        g_main_loop_quit(main_loop);
    return G_SOURCE_CONTINUE;
}

static void measure_conns(void)
{
    bench_conns cs;
    int left;

    bench_conns_open(&cs);
    left = cs.n;
    struct conn *conns = g_new0(struct conn, cs.n);
    guint *ids = g_new(guint, 2 * (gsize)cs.n);
    for (int i = 0; i < cs.n; i++) {
        conns[i] = (struct conn){ .id = i, .sv = cs.sv[i], .left = &left };
        ids[2 * i] = g_unix_fd_add(cs.sv[i][0], G_IO_IN, reply_readable, &conns[i]);
        ids[2 * i + 1] = g_unix_fd_add(cs.sv[i][1], G_IO_IN, echo_readable, NULL);
    }
    int64_t start = bench_now_ns();
    for (int i = 0; i < cs.n; i++)
        bench_write_char(cs.sv[i][0], bench_conn_byte(i, 0));
    g_main_loop_run(main_loop);
    bench_conns_report(PEER, &cs, bench_now_ns() - start);
    for (int i = 0; i < 2 * cs.n; i++)
        g_source_remove(ids[i]);
    g_free(ids);
    g_free(conns);
    bench_conns_close(&cs);
}

/* --- watch_churn: g_unix_fd_add + g_source_remove beside quiet sources -------- */

static gboolean never_readable(gint fd, GIOCondition condition, gpointer data)
{
    bench_die(0, "a quiet fd was reported readable");
}

static void run_churn(void *ctx, uint64_t n)
{
    int fd = *(int *)ctx;
    for (uint64_t i = 0; i < n; i++)
        g_source_remove(g_unix_fd_add(fd, G_IO_IN, never_readable, NULL));
    g_main_context_iteration(NULL, FALSE); /* the idle iteration loom-bench has too */
}

static void measure_churn(const char *name, int background)
{
    int *quiet = bench_quiet_fds(background + 1);
    guint *ids = g_new(guint, (gsize)background);

    for (int i = 0; i < background; i++)
        ids[i] = g_unix_fd_add(quiet[i], G_IO_IN, never_readable, NULL);
    g_main_context_iteration(NULL, FALSE);
    bench_measure(PEER, name, "ns/op", 1, run_churn, &quiet[background]);
    for (int i = 0; i < background; i++)
        g_source_remove(ids[i]);
    g_free(ids);
    bench_quiet_fds_close(quiet, background + 1);
}

void peer_glib(void)
{
    main_loop = g_main_loop_new(NULL, FALSE);
    bench_measure(PEER, "call_soon_chain", "ns/op", 1, run_chain, NULL);
    bench_measure(PEER, "call_soon_batch", "ns/op", BENCH_BATCH, run_batch, NULL);
    bench_measure(PEER, "timer_add_cancel", "ns/op", BENCH_TIMERS, run_timers, NULL);
    measure_pingpong();
    measure_threadsafe();
    measure_churn("watch_churn_10", BENCH_FEW_WATCHES);
    measure_churn("watch_churn_10k", BENCH_MANY_WATCHES);
    measure_conns();
    g_main_loop_unref(main_loop);
}
