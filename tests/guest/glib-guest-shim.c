/* An LD_PRELOAD shim that routes GLib's main-loop entry points through a
 * GLib guest on a built-in (epoll) loom loop, so GLib's own test programs
 * exercise the guest: g_main_context_iteration and g_main_loop_run run the
 * context as a guest of a per-thread loom loop. Calls the guest cannot take
 * (the context owned by another thread, or made from inside a loom iteration
 * of the shim: GLib's nested loops, which the guest's own source keeps loom
 * running in) go to GLib's own functions. Set GLIB_GUEST_SHIM_LOG to a file
 * to get, at exit, a line with how many calls went through a guest. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <loom/loom-glib.h>

/* GMainLoop's layout in GLib 2.x (gmain.c): there is no public way to mark
 * a loop running, which g_main_loop_run must do before it iterates. */
typedef struct shim_main_loop {
    GMainContext *context;
    gboolean is_running; /* atomic */
    gint ref_count;
} shim_main_loop;

static gboolean (*real_iteration)(GMainContext *, gboolean);
static gboolean (*real_check)(GMainContext *, gint, GPollFD *, gint);
static void (*real_run)(GMainLoop *);
static pthread_once_t resolve_once = PTHREAD_ONCE_INIT;
static pthread_key_t loop_key;
static atomic_ulong routed, passed_on;

static __thread loom_loop *thread_loop;
static __thread int depth; /* inside one of our loom iterations */
static __thread bool round_done, round_woke; /* the guest checked; its poll found events */

static void close_loop(void *loop)
{
    loom_loop_close(loop);
    loom_loop_unref(loop);
}

static void resolve(void)
{
    real_iteration = (gboolean(*)(GMainContext *, gboolean))dlsym(RTLD_NEXT, "g_main_context_iteration");
    real_run = (void (*)(GMainLoop *))dlsym(RTLD_NEXT, "g_main_loop_run");
    real_check = (gboolean(*)(GMainContext *, gint, GPollFD *, gint))dlsym(RTLD_NEXT, "g_main_context_check");
    pthread_key_create(&loop_key, close_loop);
}

static loom_loop *shim_loop(void)
{
    if (!thread_loop && loom_loop_new(&thread_loop, "epoll") == 0)
        pthread_setspecific(loop_key, thread_loop);
    return thread_loop;
}

/* A guest for ctx on this thread's loop for the time of one call (GLib too
 * owns the context only while it iterates), or NULL: call GLib's own. */
static loom_glib_guest *guest_begin(GMainContext *ctx)
{
    loom_glib_guest *guest = NULL;
    loom_loop *loop;

    pthread_once(&resolve_once, resolve);
    if (depth || !(loop = shim_loop()) || loom_glib_guest_new(&guest, loop, ctx ? ctx : g_main_context_default()) < 0) {
        atomic_fetch_add(&passed_on, 1);
        return NULL;
    }
    atomic_fetch_add(&routed, 1);
    return guest;
}

static void run_once(bool block)
{
    depth++;
    loom_loop_run_once(thread_loop, block);
    depth--;
}

/* Watches the guest's rounds, so that an iteration ends after one round as
 * GLib's does: the first (a poll without waiting), and where that found
 * nothing and may_block, one after a poll that waited. */
gboolean g_main_context_check(GMainContext *ctx, gint max_priority, GPollFD *fds, gint n_fds)
{
    gboolean ready;

    pthread_once(&resolve_once, resolve);
    ready = real_check(ctx, max_priority, fds, n_fds);
    if (depth) {
        round_done = true;
        for (gint i = 0; i < n_fds; i++)
            round_woke |= fds[i].revents != 0;
    }
    return ready;
}

static void run_round(bool block)
{
    round_done = round_woke = false;
    for (int i = 0; i < 8 && !round_done; i++)
        run_once(block);
}

gboolean g_main_context_iteration(GMainContext *ctx, gboolean may_block)
{
    loom_glib_guest *guest = guest_begin(ctx);
    gboolean dispatched;

    if (!guest)
        return real_iteration(ctx, may_block);
    run_round(false);
    if (may_block && !loom_glib_guest_dispatches(guest) && !round_woke)
        run_round(true);
    dispatched = loom_glib_guest_dispatches(guest) > 0;
    loom_glib_guest_free(guest);
    return dispatched;
}

void g_main_loop_run(GMainLoop *ml)
{
    shim_main_loop *sml = (shim_main_loop *)ml;
    loom_glib_guest *guest = guest_begin(g_main_loop_get_context(ml));

    if (!guest) {
        real_run(ml);
        return;
    }
    g_main_loop_ref(ml);
    g_atomic_int_set(&sml->is_running, TRUE);
    run_once(false);
    while (g_atomic_int_get(&sml->is_running))
        run_once(true);
    loom_glib_guest_free(guest);
    g_main_loop_unref(ml);
}

__attribute__((destructor)) static void report(void)
{
    const char *path = getenv("GLIB_GUEST_SHIM_LOG");
    FILE *out = path ? fopen(path, "a") : NULL;

    if (!out)
        return;
    fprintf(out, "routed %lu passed-on %lu\n", atomic_load(&routed), atomic_load(&passed_on));
    fclose(out);
}
