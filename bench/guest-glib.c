/* guest-glib-bench — the same GLib workloads on a GMainContext run two ways:
 * by the GLib guest on loom's epoll loop (side loom_glib_guest) and by
 * g_main_loop_run (side glib), so compare.awk prints their ratio:
 *   guest_idle_chain: g_idle_add from each idle callback;
 *   guest_timeout_add_remove: each round adds a 1 s timeout and removes the
 *     last one, so each iteration re-arms GLib's timeout;
 *   guest_fd_pingpong: two g_unix_fd sources pass a byte over a socketpair;
 *   guest_threadsafe_roundtrip (and _pinned): another thread attaches an
 *     idle source (GLib's thread-safe idiom: it wakes the context), whose
 *     callback answers it.
 * `guest-glib-bench SIDE METRIC N` (SIDE guest or glib) runs one workload N
 * times, untimed: for instruction counts (valgrind --tool=callgrind). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <glib-unix.h>
#include <loom/loom-glib.h>

#include "bench-util.h"

/* One way of running a context until the workload says it is done. */
typedef struct runner {
    const char *side; /* NULL: the loom side (printed under its header) */
    void (*run)(struct runner *r, GMainContext *ctx);
    void (*quit)(struct runner *r);
    loom_loop *loop;
    GMainLoop *main_loop;
} runner;

static void guest_run(runner *r, GMainContext *ctx)
{
    loom_glib_guest *guest;

    bench_check(loom_glib_guest_new(&guest, r->loop, ctx), "loom_glib_guest_new");
    bench_check(loom_loop_run(r->loop), "loom_loop_run");
    loom_glib_guest_free(guest);
}

static void guest_quit(runner *r)
{
    loom_loop_stop(r->loop);
}

static void native_run(runner *r, GMainContext *ctx)
{
    r->main_loop = g_main_loop_new(ctx, FALSE);
    g_main_loop_run(r->main_loop);
    g_main_loop_unref(r->main_loop);
}

static void native_quit(runner *r)
{
    g_main_loop_quit(r->main_loop);
}

typedef struct work {
    runner *runner;
    GMainContext *ctx;
    uint64_t left;
    guint last_timeout;
    int sv[2];
} work;

static void add(GMainContext *ctx, GSource *source, GSourceFunc fn, gpointer data)
{
    g_source_set_callback(source, fn, data, NULL);
    g_source_attach(source, ctx);
    g_source_unref(source);
}

static bool step(work *w)
{
    if (--w->left)
        return true;
    w->runner->quit(w->runner);
    return false;
}

/* Runs body's sources on a fresh context with the runner. */
static void run_on_context(runner *r, work *w, void (*setup)(work *w))
{
    w->runner = r;
    w->ctx = g_main_context_new();
    setup(w);
    r->run(r, w->ctx);
    g_main_context_unref(w->ctx);
}

/* --- guest_idle_chain ---------------------------------------------------------- */

static gboolean chain_step(gpointer data)
{
    work *w = data;

    if (step(w))
        add(w->ctx, g_idle_source_new(), chain_step, w);
    return G_SOURCE_REMOVE;
}

static void chain_setup(work *w)
{
    add(w->ctx, g_idle_source_new(), chain_step, w);
}

static void run_chain(void *ctx, uint64_t n)
{
    work w = {.left = n};

    run_on_context(ctx, &w, chain_setup);
}

/* --- guest_timeout_add_remove ---------------------------------------------------- */

static gboolean never(gpointer data)
{
    bench_die(0, "a 1 s timeout fired");
}

static gboolean timeout_step(gpointer data)
{
    work *w = data;
    GSource *timeout = g_timeout_source_new(1000);

    if (w->last_timeout)
        g_source_destroy(g_main_context_find_source_by_id(w->ctx, w->last_timeout));
    g_source_set_callback(timeout, never, NULL, NULL);
    w->last_timeout = g_source_attach(timeout, w->ctx);
    g_source_unref(timeout);
    if (step(w))
        return G_SOURCE_CONTINUE;
    g_source_destroy(g_main_context_find_source_by_id(w->ctx, w->last_timeout));
    return G_SOURCE_REMOVE;
}

static void timeout_setup(work *w)
{
    add(w->ctx, g_idle_source_new(), timeout_step, w);
}

static void run_timeouts(void *ctx, uint64_t n)
{
    work w = {.left = n};

    run_on_context(ctx, &w, timeout_setup);
}

/* --- guest_fd_pingpong ------------------------------------------------------------ */

static gboolean ping(gint fd, GIOCondition cond, gpointer data)
{
    work *w = data;

    bench_read_byte(fd);
    if (fd == w->sv[1] || step(w))
        bench_write_byte(fd);
    return G_SOURCE_CONTINUE;
}

static void pingpong_setup(work *w)
{
    bench_socketpair(w->sv);
    for (int i = 0; i < 2; i++)
        add(w->ctx, g_unix_fd_source_new(w->sv[i], G_IO_IN), (GSourceFunc)(void (*)(void))ping, w);
    bench_write_byte(w->sv[0]);
}

static void run_pingpong(void *ctx, uint64_t n)
{
    work w = {.left = n};

    run_on_context(ctx, &w, pingpong_setup);
    close(w.sv[0]);
    close(w.sv[1]);
}

static const struct metric {
    const char *name, *unit;
    bench_fn fn;
} metrics[] = {
    {"guest_idle_chain", "ns/op", run_chain},
    {"guest_timeout_add_remove", "ns/op", run_timeouts},
    {"guest_fd_pingpong", "ns/roundtrip", run_pingpong},
};

/* --- guest_threadsafe_roundtrip ----------------------------------------------------- */

/* One context for all runs: the other thread may attach before a run begins. */
typedef struct roundtrip_peer {
    runner *runner;
    GMainContext *ctx;
    bench_roundtrip rt;
} roundtrip_peer;

static gboolean roundtrip_reply(gpointer data)
{
    roundtrip_peer *p = data;

    if (bench_roundtrip_reply(&p->rt))
        p->runner->quit(p->runner);
    return G_SOURCE_REMOVE;
}

static void roundtrip_send(void *peer)
{
    roundtrip_peer *p = peer;

    add(p->ctx, g_idle_source_new(), roundtrip_reply, p);
}

static void roundtrip_run(void *peer)
{
    roundtrip_peer *p = peer;

    p->runner->run(p->runner, p->ctx);
}

static void measure_roundtrip(runner *r)
{
    roundtrip_peer p = {
        .runner = r,
        .ctx = g_main_context_new(),
        .rt = {.send = roundtrip_send, .run = roundtrip_run, .name = "guest_threadsafe_roundtrip"},
    };

    p.rt.peer = &p;
    bench_roundtrip_measure(r->side, &p.rt);
    g_main_context_unref(p.ctx);
}

static void measure(runner *r)
{
    for (size_t i = 0; i < G_N_ELEMENTS(metrics); i++)
        bench_measure(r->side, metrics[i].name, metrics[i].unit, 1, metrics[i].fn, r);
    measure_roundtrip(r);
}

/* One untimed run of one workload: argv is SIDE METRIC N. */
static int run_one(runner *guest, runner *native, char **argv)
{
    runner *r = strcmp(argv[1], "glib") == 0 ? native : guest;

    for (size_t i = 0; i < G_N_ELEMENTS(metrics); i++) {
        if (strcmp(argv[2], metrics[i].name) == 0) {
            metrics[i].fn(r, strtoull(argv[3], NULL, 10));
            return 0;
        }
    }
    bench_die(0, "unknown metric");
}

int main(int argc, char **argv)
{
    runner guest = {.run = guest_run, .quit = guest_quit};
    runner native = {.side = "glib", .run = native_run, .quit = native_quit};

    bench_check(loom_loop_new(&guest.loop, "epoll"), "loom_loop_new");
    if (argc == 4)
        return run_one(&guest, &native, argv);
    printf("# loom-bench backend=glib_guest\n");
    measure(&guest);
    printf("# peer-bench (GLib's own loop on the same workloads)\n");
    measure(&native);
    loom_loop_close(guest.loop);
    loom_loop_unref(guest.loop);
    return 0;
}
