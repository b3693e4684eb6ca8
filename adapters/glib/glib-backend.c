/* The GLib backend: one GSource per loom loop. Its polled fds are loom's
 * watches, its prepare and check test loom's deadline and wakeup, and it may
 * recurse so that loom keeps running inside nested main loops. */
#include "config.h"
#include <stdatomic.h>
#include <string.h>
#include <loom/backend.h>
#include <loom/loom-glib.h>

/* The backend is the GSource itself, so a dispatch in progress keeps it
 * alive (GLib holds a reference) even if a callback closes the loop. */
typedef struct glib_backend {
    GSource source;
    loom_loop *loop;       /* set once the loop exists; the loop owns us */
    GMainContext *context; /* our reference */
    GPtrArray *watches;    /* glib_watch *, unordered */
    gint64 deadline_us;    /* monotonic, g_get_monotonic_time's clock; -1: none */
    atomic_bool woken;     /* set by wakeup from any thread */
} glib_backend;

/* A watch is a GPollFD of ours (g_source_add_poll) rather than a unix fd tag:
 * GLib checks every tag against the source's list of fds, which would make
 * reading n watches' events O(n^2), and signals its wakeup fd on every
 * change of interest. */
typedef struct glib_watch {
    GPollFD pollfd;
    bool polled; /* added to the source; not while loom watches nothing */
    uint64_t token;
    guint index; /* in glib_backend.watches */
} glib_watch;

/* One ready watch, collected before delivery because callbacks may delete
 * watches (and add new ones) while earlier events are delivered. */
typedef struct fd_event {
    uint64_t token;
    unsigned events;
} fd_event;


static const loom_backend_ops glib_ops;

static gushort to_condition(unsigned events)
{
    return ((events & LOOM_READ) ? G_IO_IN : 0) | ((events & LOOM_WRITE) ? G_IO_OUT : 0);
}

static unsigned from_condition(gushort cond)
{
    return ((cond & G_IO_IN) ? LOOM_READ : 0) | ((cond & G_IO_OUT) ? LOOM_WRITE : 0) |
           ((cond & G_IO_HUP) ? LOOM_HUP : 0) | ((cond & G_IO_ERR) ? LOOM_ERR : 0) |
           ((cond & G_IO_NVAL) ? LOOM_BACKEND_NVAL | LOOM_ERR : 0);
}

/* --- fd watches -------------------------------------------------------------- */

static int watch_add(void *self, int fd, uint64_t token, unsigned events, void **watchp)
{
    glib_backend *b = self;
    glib_watch *w = g_new(glib_watch, 1);

    w->pollfd = (GPollFD){.fd = fd, .events = to_condition(events)};
    g_source_add_poll(&b->source, &w->pollfd);
    w->polled = true;
    w->token = token;
    w->index = b->watches->len;
    g_ptr_array_add(b->watches, w);
    *watchp = w;
    return 0;
}

static int watch_set(void *self, void *watch, int fd, unsigned events)
{
    glib_backend *b = self;
    glib_watch *w = watch;

    /* Changed in place, without waking the context: GLib reads the interest
     * anew each time it polls, and only this thread, never inside its poll,
     * changes it. */
    w->pollfd.events = to_condition(events);
    if (events && !w->polled)
        g_source_add_poll(&b->source, &w->pollfd);
    else if (!events && w->polled)
        g_source_remove_poll(&b->source, &w->pollfd); /* poll would still report HUP and ERR: spin */
    w->polled = events != 0;
    return 0;
}

static void watch_del(void *self, void *watch, int fd)
{
    glib_backend *b = self;
    glib_watch *w = watch;

    if (w->polled)
        g_source_remove_poll(&b->source, &w->pollfd);
    g_ptr_array_remove_index_fast(b->watches, w->index);
    if (w->index < b->watches->len)
        ((glib_watch *)b->watches->pdata[w->index])->index = w->index; /* the last one moved here */
    g_free(w);
}

static bool watch_ready(const glib_watch *w)
{
    return w->polled && w->pollfd.revents;
}

/* Delivers this iteration's fd events to the core. */
static void deliver_fd_events(glib_backend *b)
{
    fd_event stack[16];
    fd_event *events = b->watches->len <= G_N_ELEMENTS(stack) ? stack : g_new(fd_event, b->watches->len);
    guint n = 0;

    for (guint i = 0; i < b->watches->len; i++) {
        glib_watch *w = b->watches->pdata[i];

        if (watch_ready(w))
            events[n++] = (fd_event){w->token, from_condition(w->pollfd.revents)};
    }
    for (guint i = 0; i < n; i++)
        loom_backend_fd_ready(b->loop, events[i].token, events[i].events);
    if (events != stack)
        g_free(events);
}

/* --- deadline ---------------------------------------------------------------- */

/* The deadline lives in the backend rather than in the source's ready time:
 * g_source_set_ready_time writes GLib's wakeup eventfd on every change, which
 * costs a write, a read and an extra poll per re-arm. Only the thread that
 * iterates the context changes it, never while that thread polls, so
 * prepare and check can read it without a lock. */
static void set_deadline(void *self, int64_t when_ns)
{
    glib_backend *b = self;

    if (when_ns == LOOM_DEADLINE_NONE)
        b->deadline_us = -1;
    else if (when_ns <= 0)
        b->deadline_us = 0; /* as soon as possible */
    else
        b->deadline_us = when_ns / 1000 + (when_ns % 1000 != 0); /* rounded up: never early */
}

/* --- the source ---------------------------------------------------------------- */

static gboolean source_prepare(GSource *source, gint *timeout)
{
    glib_backend *b = (glib_backend *)source;

    /* A forked child iterating its copy of the context: the source and its
     * poll records go from the child's context (they would poll the
     * parent's fds, and the core runs nothing there). */
    if (loom_backend_inherited(b->loop)) {
        g_source_destroy(source);
        *timeout = -1;
        return FALSE;
    }
    if (atomic_load_explicit(&b->woken, memory_order_relaxed)) {
        *timeout = 0;
        return TRUE;
    }
    if (b->deadline_us < 0) {
        *timeout = -1;
        return FALSE;
    }
    gint64 left_us = b->deadline_us - g_source_get_time(source);
    /* Rounded up, as GLib does for ready times: rounding down would spin. */
    *timeout = left_us <= 0 ? 0 : (gint)MIN((left_us + 999) / 1000, G_MAXINT);
    return left_us <= 0;
}

static gboolean source_check(GSource *source)
{
    glib_backend *b = (glib_backend *)source;

    if (atomic_load_explicit(&b->woken, memory_order_relaxed))
        return TRUE;
    for (guint i = 0; i < b->watches->len; i++)
        if (watch_ready(b->watches->pdata[i]))
            return TRUE;
    return b->deadline_us >= 0 && b->deadline_us <= g_source_get_time(source);
}

/* The core re-arms the deadline at the end of every tick, so it is not reset
 * here. */
static gboolean source_dispatch(GSource *source, GSourceFunc callback, gpointer data)
{
    glib_backend *b = (glib_backend *)source;
    loom_loop *loop = loom_loop_ref(b->loop); /* a callback may drop the last reference */

    /* Cleared before the tick: a wakeup after this point makes another one. */
    if (atomic_load_explicit(&b->woken, memory_order_relaxed))
        atomic_store(&b->woken, false);
    deliver_fd_events(b);
    loom_backend_tick(loop);
    loom_loop_unref(loop);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs source_funcs = {
    .prepare = source_prepare,
    .check = source_check,
    .dispatch = source_dispatch,
};

/* --- life cycle ---------------------------------------------------------------- */

/* Thread-safe: GLib's own wakeup makes the poll return, the flag makes the
 * source dispatch. */
static void wakeup(void *self)
{
    glib_backend *b = self;

    atomic_store(&b->woken, true);
    g_main_context_wakeup(b->context);
}

/* Contexts whose loop closed while a dispatch ran on this thread: GLib may
 * be iterating one with no reference but the loop's (a host iterating the
 * context it got from loom_glib_loop_context), so dropping it there would
 * free the context under its own dispatch. They are released once no
 * dispatch runs on the thread, or when it exits. */
static void release_contexts(gpointer contexts)
{
    g_slist_free_full(contexts, (GDestroyNotify)g_main_context_unref);
}

static GPrivate deferred_contexts = G_PRIVATE_INIT(release_contexts);

/* Called where the thread may be outside every dispatch. */
static void release_deferred_contexts(void)
{
    GSList *contexts = g_private_get(&deferred_contexts);

    if (contexts && g_main_depth() == 0) {
        g_private_set(&deferred_contexts, NULL);
        release_contexts(contexts);
    }
}

static void release_context(GMainContext *context)
{
    if (g_main_depth() > 0)
        g_private_set(&deferred_contexts, g_slist_prepend(g_private_get(&deferred_contexts), context));
    else
        g_main_context_unref(context);
}

static int iterate(void *self, bool block)
{
    glib_backend *b = self;

    g_main_context_iteration(b->context, block);
    release_deferred_contexts();
    return 0;
}

static void destroy(void *self)
{
    glib_backend *b = self;
    GMainContext *context = b->context;

    g_ptr_array_free(b->watches, TRUE);
    b->watches = NULL;
    g_source_destroy(&b->source);
    g_source_unref(&b->source);
    /* After the source: GLib still locks the context while releasing it. */
    release_context(context);
    release_deferred_contexts();
}

static const loom_backend_ops glib_ops = {
    .name = "glib",
    /* One GPollFD for every watch: GLib's poll records cost O(fds). */
    .caps = LOOM_BACKEND_CAN_NEST | LOOM_BACKEND_ONE_FD,
    .watch_add = watch_add,
    .watch_set = watch_set,
    .watch_del = watch_del,
    .set_deadline = set_deadline,
    .wakeup = wakeup,
    .iterate = iterate,
    .destroy = destroy,
};

int loom_glib_loop_new(loom_loop **loopp, GMainContext *ctx)
{
    if (!loopp)
        return -EINVAL;
    release_deferred_contexts();
    glib_backend *b = (glib_backend *)g_source_new(&source_funcs, sizeof(*b));
    loom_loop *loop;

    b->loop = NULL;
    b->deadline_us = -1;
    atomic_init(&b->woken, false);
    b->context = ctx ? g_main_context_ref(ctx) : g_main_context_ref_thread_default();
    b->watches = g_ptr_array_new();
    g_source_set_name(&b->source, "loom");
    g_source_set_can_recurse(&b->source, TRUE);

    int r = loom_loop_new_with_backend(&loop, &glib_ops, b);
    if (r < 0)
        return r;
    /* Attached only now: a dispatch needs the loop. */
    b->loop = loop;
    g_source_attach(&b->source, b->context);
    *loopp = loop;
    return 0;
}

/* The backend of an open GLib loop, or NULL with *errp set. */
static glib_backend *backend_of(loom_loop *loop, int *errp)
{
    glib_backend *b = NULL;

    if (!loop || strcmp(loom_loop_backend_name(loop), glib_ops.name) != 0)
        *errp = -EINVAL;
    else if (!(b = loom_loop_backend_self(loop, &glib_ops)))
        *errp = -ESHUTDOWN;
    return b;
}

int loom_glib_loop_set_priority(loom_loop *loop, int priority)
{
    int err;
    glib_backend *b = backend_of(loop, &err);

    if (!b)
        return err;
    g_source_set_priority(&b->source, priority);
    return 0;
}

GMainContext *loom_glib_loop_context(loom_loop *loop)
{
    int err;
    glib_backend *b = backend_of(loop, &err);

    return b ? b->context : NULL;
}
