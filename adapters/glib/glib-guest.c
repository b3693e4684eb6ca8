/* The GLib guest: GLib's prepare/query/check/dispatch protocol run as loom
 * work on any loom loop. GLib's poll fds are loom watches kept in step with
 * each query by a merge of two fd-sorted lists (system calls only for what
 * changed), its timeout is one loom timer, and a BEFORE_POLL hook runs
 * prepare/query again before the loop may block. The context's poll function
 * notices iterations the guest did not run (nested GLib loops) and, where the
 * loop has an embedding fd, attaches a source of the guest's own that runs
 * loom inside them until the guest's next round. */
#include "config.h"
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <loom/loom-glib.h>
#include "glib-private.h"

/* One fd loom watches for GLib. */
typedef struct guest_watch {
    int fd;
    unsigned events; /* the interest loom has: 0 while muted inside a nested GLib loop */
    bool failed;     /* loom refused the fd (reported once, unless always) */
    bool always;     /* a regular file: poll() finds it always ready, epoll refuses it */
    bool anon;       /* an anonymous inode (eventfd, timerfd): fstat cannot tell two apart */
    dev_t dev;       /* the file watched, to tell a reused fd number */
    ino_t ino;
} guest_watch;

/* A growable array of watches; two of them are swapped at each merge. */
typedef struct watch_list {
    guest_watch *items;
    size_t len, cap;
} watch_list;

/* The guest's source in the context: it sees foreign iterations and, with
 * an embedding fd, runs loom from them. */
typedef struct nest_source {
    GSource source;
    loom_glib_guest *guest;
} nest_source;

struct loom_glib_guest {
    loom_loop *loop;   /* our reference */
    GMainContext *ctx; /* our reference, acquired */
    GPollFD *fds;      /* the last query: sorted by fd, one per fd (GLib's order) */
    gint n_fds, fds_cap;
    /* The query the watches were last merged from, and for each fd number its
     * place in it: a query equal to it changes nothing (the usual round). */
    GPollFD *merged;
    gint n_merged, merged_cap;
    gint *slot_of;     /* indexed by fd; -1: not in it */
    gint n_slots;
    bool muted;        /* a watch was muted since the merge: merge again */
    gint max_priority; /* of the last prepare */
    watch_list watches, next; /* what loom watches (sorted by fd), and scratch */
    loom_handle run_call;     /* check+dispatch scheduled now, or 0 */
    loom_handle timer;        /* check+dispatch at GLib's timeout, or 0 */
    int64_t timer_when;
    loom_handle hook, close_hook;
    nest_source *nest; /* our reference; NULL while no foreign iteration ran since our last round */
    int loop_fd;       /* loom_loop_get_fd, or negative */
    size_t n_always;   /* watches on regular files (always ready) */
    bool queried;      /* fds hold a query that no check consumed yet */
    bool poll_first;   /* the run was due without an fd event: poll before the check */
    bool recheck;      /* a dispatch ran since the kept watches' files were checked */
    bool probed;       /* and a poll of GLib's fds found work since that dispatch */
    GSourceFuncs nest_funcs; /* the nest source's: no prepare or check inside our own */
    int dispatching;   /* inside g_main_context_dispatch */
    int nesting;       /* inside a loom iteration run by a nested GLib loop */
    bool closed;       /* the loop closed under us */
    uint64_t dispatches;
    loom_glib_guest *next_on_thread; /* the thread's guests, for loom__glib_guest_drives */
};

/* The guests created on this thread (a guest lives on its loop's thread). */
static _Thread_local loom_glib_guest *thread_guests;

enum { NSEC_PER_MSEC = 1000000 };

static unsigned loom_events(gushort cond)
{
    return ((cond & (G_IO_IN | G_IO_PRI)) ? LOOM_READ : 0) | ((cond & G_IO_OUT) ? LOOM_WRITE : 0);
}

static gushort gio_events(unsigned events)
{
    return ((events & LOOM_READ) ? G_IO_IN : 0) | ((events & LOOM_WRITE) ? G_IO_OUT : 0) |
           ((events & LOOM_HUP) ? G_IO_HUP : 0) | ((events & LOOM_ERR) ? G_IO_ERR : 0);
}

/* Events from loom's own work while GLib or loom runs nested: not ours to act on. */
static bool passive(const loom_glib_guest *g)
{
    return g->dispatching || g->nesting || g->closed;
}

static void run_soon(loom_loop *loop, void *data);
static void run_at_timeout(loom_loop *loop, void *data);
static void own_round(loom_glib_guest *g, bool own);
static void nest_update(loom_glib_guest *g);

static void schedule_run(loom_glib_guest *g)
{
    int r;

    if (g->run_call)
        return;
    r = loom_call_soon(g->loop, run_soon, g, &g->run_call);
    if (r < 0)
        loom_loop_report(g->loop, r, "GLib guest: cannot schedule a GLib dispatch");
}

static void cancel_timer(loom_glib_guest *g)
{
    if (g->timer)
        loom_cancel(g->loop, g->timer);
    g->timer = 0;
}

/* --- fd watches ---------------------------------------------------------------- */

static GPollFD *find_pollfd(loom_glib_guest *g, int fd)
{
    gint lo = 0, hi = g->n_fds;
    gint at = fd >= 0 && fd < g->n_slots ? g->slot_of[fd] : -1;

    /* Where the merge saw it: right while the query is the merged one. */
    if (at >= 0 && at < g->n_fds && g->fds[at].fd == fd)
        return &g->fds[at];

    while (lo < hi) {
        gint mid = lo + (hi - lo) / 2;

        if (g->fds[mid].fd < fd)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < g->n_fds && g->fds[lo].fd == fd ? &g->fds[lo] : NULL;
}

static guest_watch *find_watch(watch_list *list, int fd)
{
    for (size_t lo = 0, hi = list->len; lo < hi;) {
        size_t mid = lo + (hi - lo) / 2;

        if (list->items[mid].fd == fd)
            return &list->items[mid];
        if (list->items[mid].fd < fd)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Level-triggered fds would wake loom again and again inside a nested GLib
 * loop, which polls them itself: mute this one until the next query. */
static void mute(loom_glib_guest *g, int fd)
{
    guest_watch *w = find_watch(&g->watches, fd);

    if (w && !w->failed && w->events) {
        loom_fd_set_events(g->loop, fd, 0);
        w->events = 0;
        g->muted = true;
    }
}

static void on_fd(loom_loop *loop, int fd, unsigned events, void *data)
{
    loom_glib_guest *g = data;
    GPollFD *pfd;

    if (passive(g)) {
        mute(g, fd);
        return;
    }
    pfd = g->queried ? find_pollfd(g, fd) : NULL;
    if (pfd)
        pfd->revents |= gio_events(events);
    schedule_run(g); /* without a valid query, the run queries first */
}

static void list_push(watch_list *list, guest_watch w)
{
    if (list->len == list->cap) {
        list->cap = list->cap ? 2 * list->cap : 16;
        list->items = g_renew(guest_watch, list->items, list->cap);
    }
    list->items[list->len++] = w;
}

static guest_watch watch_start(loom_glib_guest *g, int fd, unsigned events)
{
    guest_watch w = {.fd = fd, .events = events};
    struct stat st;
    int r = loom_fd_watch(g->loop, fd, events, on_fd, g, NULL);

    if (r == -EPERM) {
        g->n_always++;
        w.failed = w.always = true;
        return w;
    }
    if (r < 0) {
        loom_loop_report(g->loop, r, "GLib guest: cannot watch GLib's fd %d (%s): its source will not wake loom",
                         fd, r == -EEXIST ? "loom watches it already" : loom_strerror(r));
        w.failed = true;
    } else if (fstat(fd, &st) == 0) {
        w.anon = (st.st_mode & S_IFMT) == 0;
        w.dev = st.st_dev;
        w.ino = st.st_ino;
    }
    return w;
}

/* After a dispatch: an fd GLib still polls may be a new file under an old
 * number (a source removed, its fd closed and the number reused by a new
 * one), which epoll dropped with the old file: one fstat tells. */
static void watch_recheck(loom_glib_guest *g, guest_watch *w)
{
    struct stat st;

    if (w->anon || fstat(w->fd, &st) < 0 || (st.st_dev == w->dev && st.st_ino == w->ino))
        return;
    loom_fd_unwatch(g->loop, w->fd);
    *w = watch_start(g, w->fd, w->events);
}

static void watch_update(loom_glib_guest *g, guest_watch *w, unsigned events)
{
    if (!w->failed && w->events != events) {
        if (g->recheck)
            watch_recheck(g, w); /* the new interest is for the file there now */
        if (!w->failed)
            loom_fd_set_events(g->loop, w->fd, events);
    }
    w->events = events;
}

static void watch_stop(loom_glib_guest *g, const guest_watch *w)
{
    g->n_always -= w->always;
    if (!w->failed)
        loom_fd_unwatch(g->loop, w->fd);
}

/* A query fd loom has nothing to watch for: our own source's, or HUP/ERR only. */
static bool unwatched(const loom_glib_guest *g, const GPollFD *pfd)
{
    return pfd->fd == g->loop_fd || !loom_events(pfd->events);
}

/* Whether the query is the one the watches were merged from, none muted
 * since: then loom watches just what it asks for (the usual round). */
static bool query_merged(const loom_glib_guest *g)
{
    if (g->muted || g->n_fds != g->n_merged)
        return false;
    for (gint i = 0; i < g->n_fds; i++) {
        if (g->fds[i].fd != g->merged[i].fd || g->fds[i].events != g->merged[i].events)
            return false;
    }
    return true;
}

static void remember_query(loom_glib_guest *g)
{
    if (g->n_fds > g->merged_cap) {
        g->merged_cap = g->fds_cap;
        g->merged = g_renew(GPollFD, g->merged, g->merged_cap);
    }
    memcpy(g->merged, g->fds, (size_t)g->n_fds * sizeof(GPollFD));
    g->n_merged = g->n_fds;
    g->muted = false;
    for (gint i = 0; i < g->n_fds; i++) {
        int fd = g->fds[i].fd;

        if (fd < 0)
            continue;
        if (fd >= g->n_slots) {
            gint n = MAX(fd + 1, 2 * g->n_slots);

            g->slot_of = g_renew(gint, g->slot_of, n);
            memset(g->slot_of + g->n_slots, 0xff, (size_t)(n - g->n_slots) * sizeof(gint)); /* -1: none */
            g->n_slots = n;
        }
        g->slot_of[fd] = i;
    }
}

/* Merges the query (sorted by fd) into the watches (sorted by fd): costs a
 * compare per fd, and loom calls only for fds added, removed or changed. */
static void merge_watches(loom_glib_guest *g)
{
    watch_list *old = &g->watches, *next = &g->next;
    size_t j = 0;

    next->len = 0;
    for (gint i = 0; i < g->n_fds; i++) {
        int fd = g->fds[i].fd;
        unsigned events = loom_events(g->fds[i].events);

        if (unwatched(g, &g->fds[i]))
            continue;
        for (; j < old->len && old->items[j].fd < fd; j++)
            watch_stop(g, &old->items[j]);
        if (j < old->len && old->items[j].fd == fd) {
            guest_watch w = old->items[j++];

            watch_update(g, &w, events);
            list_push(next, w);
        } else {
            list_push(next, watch_start(g, fd, events));
        }
    }
    for (; j < old->len; j++)
        watch_stop(g, &old->items[j]);
    watch_list done = *old;
    *old = *next;
    *next = done;
}

static void update_watches(loom_glib_guest *g)
{
    if (!query_merged(g)) {
        merge_watches(g);
        remember_query(g);
    }
}

/* Only the watches GLib still wants are rechecked: a dropped one's number
 * may already be another loom user's. */
static void recheck_watches(loom_glib_guest *g)
{
    for (size_t i = 0; i < g->watches.len; i++) {
        if (!g->watches.items[i].failed)
            watch_recheck(g, &g->watches.items[i]);
    }
    g->recheck = false;
}

static void remove_watches(loom_glib_guest *g)
{
    for (size_t i = 0; i < g->watches.len; i++)
        watch_stop(g, &g->watches.items[i]);
    g->watches.len = 0;
}

/* --- the protocol -------------------------------------------------------------- */

/* prepare + query; returns GLib's timeout in ms (0: a source is ready). */
static gint prepare_query(loom_glib_guest *g)
{
    gboolean ready;
    gint timeout, n;

    nest_update(g);
    own_round(g, true);
    ready = g_main_context_prepare(g->ctx, &g->max_priority);
    own_round(g, false);
    while ((n = g_main_context_query(g->ctx, g->max_priority, &timeout, g->fds, g->fds_cap)) > g->fds_cap) {
        g->fds_cap = MAX(n, 2 * g->fds_cap);
        g->fds = g_renew(GPollFD, g->fds, g->fds_cap);
    }
    g->n_fds = n;
    g->queried = true;
    update_watches(g);
    /* Regular files: poll() finds them ready at once, as the check's poll will. */
    return ready || g->n_always ? 0 : timeout;
}

static void arm_timer(loom_glib_guest *g, gint timeout_ms)
{
    int64_t when;
    int r;

    if (timeout_ms < 0) {
        cancel_timer(g);
        return;
    }
    when = loom_loop_now(g->loop) + (int64_t)timeout_ms * NSEC_PER_MSEC;
    if (g->timer && llabs(when - g->timer_when) < NSEC_PER_MSEC)
        return; /* the same GLib deadline, seen from a later now */
    cancel_timer(g);
    r = loom_call_at(g->loop, when, run_at_timeout, g, &g->timer);
    if (r < 0)
        loom_loop_report(g->loop, r, "GLib guest: cannot arm GLib's timeout");
    g->timer_when = when;
}

/* Polls GLib's fds without waiting; true if one is ready. Our own source's
 * fd (loom's, queried while the source is attached) is not one for this
 * round: GLib would find its source ready by it. */
static bool poll_now(loom_glib_guest *g)
{
    gint n = g_poll(g->fds, (guint)g->n_fds, 0);
    GPollFD *own = g->nest && g->loop_fd >= 0 ? find_pollfd(g, g->loop_fd) : NULL;

    if (own && own->revents) {
        own->revents = 0;
        n--;
    }
    return n > 0;
}

/* Before loom may wait after a dispatch: the kept watches' files are checked
 * (a system call each, see watch_recheck) unless one poll of GLib's fds by
 * number, which sees a new file under an old number as well, finds work:
 * then the round runs at once, and a busy stream of events costs no check.
 * Once per dispatch: a ready fd no source takes cannot keep loom polling. */
static bool before_block(loom_glib_guest *g)
{
    if (!g->recheck)
        return false;
    if (!g->probed && poll_now(g)) {
        g->probed = true;
        return true;
    }
    recheck_watches(g);
    return false;
}

/* The BEFORE_POLL hook: what became ready on this thread since the last
 * query (GLib writes no wakeup for it) is found here, before loom blocks. */
static void before_poll(loom_loop *loop, void *data)
{
    loom_glib_guest *g = data;
    gint timeout;

    if (passive(g) || g->run_call)
        return; /* a nested loop's, or a check is due anyway */
    timeout = prepare_query(g);
    if (timeout == 0) {
        cancel_timer(g);
        g->poll_first = true;
        schedule_run(g);
    } else if (before_block(g)) {
        schedule_run(g); /* it polled already */
    } else {
        arm_timer(g, timeout);
    }
}

static void dispatch(loom_glib_guest *g)
{
    g->dispatching++;
    g_main_context_dispatch(g->ctx);
    g->dispatching--;
    g->dispatches++;
    g->recheck = true;
    g->probed = false;
}

/* check + dispatch, once neither the scheduled round nor the timer is pending. */
static void run(loom_glib_guest *g)
{
    gboolean ready;

    if (passive(g))
        return; /* the hook queries again once the nested loop is done */
    if (!g->queried) {
        prepare_query(g); /* a foreign iteration consumed ours, or none was made */
        g->poll_first = true;
    }
    /* A round that is due at once polls GLib's fds without waiting, as
     * GLib's own iteration does, so fd sources of the same priority as the
     * ready ones are dispatched with them. */
    if (g->poll_first)
        poll_now(g);
    g->poll_first = false;
    own_round(g, true);
    ready = g_main_context_check(g->ctx, g->max_priority, g->fds, g->n_fds);
    own_round(g, false);
    g->queried = false;
    if (ready)
        dispatch(g);
}

/* The scheduled round: its own handle is spent, and the query that follows
 * re-arms GLib's timeout. */
static void run_soon(loom_loop *loop, void *data)
{
    loom_glib_guest *g = data;

    g->run_call = 0;
    cancel_timer(g);
    run(g);
}

/* GLib's timeout: a round scheduled meanwhile is this one. */
static void run_at_timeout(loom_loop *loop, void *data)
{
    loom_glib_guest *g = data;

    g->timer = 0;
    if (g->run_call)
        loom_cancel(loop, g->run_call);
    g->run_call = 0;
    run(g);
}

/* --- the source for nested GLib loops ------------------------------------------ */

static nest_source *nest_of(GSource *source)
{
    return (nest_source *)source;
}

/* Time to loom's next work for a foreign iteration, in ms (-1: none). */
static gint loom_timeout_ms(loom_glib_guest *g)
{
    int64_t ns = -1;

    if (g->loop_fd < 0 || g->closed || loom_loop_get_timeout(g->loop, &ns) < 0 || ns < 0)
        return -1;
    return (gint)MIN((ns + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC, G_MAXINT);
}

static gboolean nest_prepare(GSource *source, gint *timeout)
{
    loom_glib_guest *g = nest_of(source)->guest;

    g->queried = false; /* a foreign iteration: our query is no longer GLib's */
    *timeout = loom_timeout_ms(g);
    return *timeout == 0;
}

static gboolean nest_check(GSource *source)
{
    loom_glib_guest *g = nest_of(source)->guest;

    return loom_timeout_ms(g) == 0;
}

static gboolean nest_dispatch(GSource *source, GSourceFunc callback, gpointer data)
{
    loom_glib_guest *g = nest_of(source)->guest;

    g->nesting++;
    loom_loop_run_once(g->loop, false);
    g->nesting--;
    return G_SOURCE_CONTINUE;
}

/* The nest source is a foreign iteration's business only: in our own prepare
 * and check GLib skips a source without prepare and check at no cost (no
 * unlock, no call), and it reads them from the GSourceFuncs at each use. */
static void own_round(loom_glib_guest *g, bool own)
{
    g->nest_funcs.prepare = own ? NULL : nest_prepare;
    g->nest_funcs.check = own ? NULL : nest_check;
}

/* The nest source, made when a foreign iteration shows up: in our own
 * rounds it would cost a place in each of GLib's source walks. */
static void nest_attach(loom_glib_guest *g)
{
    g->nest_funcs.dispatch = nest_dispatch;
    own_round(g, false);
    g->nest = (nest_source *)g_source_new(&g->nest_funcs, sizeof(nest_source));
    g->nest->guest = g;
    g_source_set_name(&g->nest->source, "loom-guest");
    g_source_set_can_recurse(&g->nest->source, TRUE); /* a loom callback may run a nested loop */
    if (g->loop_fd >= 0)
        g_source_add_unix_fd(&g->nest->source, g->loop_fd, G_IO_IN);
    g_source_attach(&g->nest->source, g->ctx);
}

static void nest_detach(loom_glib_guest *g)
{
    g_source_destroy(&g->nest->source);
    g_source_unref(&g->nest->source);
    g->nest = NULL;
}

/* The context's poll function while the guest drives it: only a foreign
 * iteration calls it (the guest polls with g_poll). Its context is not
 * named, so each guest of the thread takes it as its own: at worst a spare
 * query and a spare nest source. */
static gint foreign_poll(GPollFD *fds, guint n_fds, gint timeout)
{
    bool attached = false;

    for (loom_glib_guest *g = thread_guests; g; g = g->next_on_thread) {
        if (g->closed)
            continue;
        g->queried = false; /* our query is no longer GLib's */
        if (!g->nest && g->loop_fd >= 0) {
            nest_attach(g);
            attached = true;
        }
    }
    /* GLib's check gives up on an iteration whose poll records changed:
     * this one ends at once, the next one polls loom's fd as well. */
    return g_poll(fds, n_fds, attached ? 0 : timeout);
}

/* Between our rounds the nest source is kept only while someone else's
 * poll function (set before or after us) would miss foreign iterations. */
static void nest_update(loom_glib_guest *g)
{
    bool ours = g_main_context_get_poll_func(g->ctx) == foreign_poll;

    if (ours && g->nest)
        nest_detach(g);
    else if (!ours && !g->nest)
        nest_attach(g);
}

/* --- life cycle ------------------------------------------------------------------ */

/* Drops what the guest holds in the loop; the loop is still open. */
static void detach_from_loop(loom_glib_guest *g)
{
    if (g->run_call)
        loom_cancel(g->loop, g->run_call);
    g->run_call = 0;
    cancel_timer(g);
    remove_watches(g);
    loom_hook_remove(g->loop, g->hook);
    loom_hook_remove(g->loop, g->close_hook);
    g->closed = true;
}

static void on_close(loom_loop *loop, void *data)
{
    detach_from_loop(data);
}

static void guest_destroy(loom_glib_guest *g)
{
    if (g->nest)
        nest_detach(g);
    if (g_main_context_get_poll_func(g->ctx) == foreign_poll)
        g_main_context_set_poll_func(g->ctx, NULL);
    g_main_context_release(g->ctx);
    g_main_context_unref(g->ctx);
    loom_loop_unref(g->loop);
    g_free(g->fds);
    g_free(g->merged);
    g_free(g->slot_of);
    g_free(g->watches.items);
    g_free(g->next.items);
    g_free(g);
}

static int hooks_add(loom_glib_guest *g)
{
    int r = loom_hook_add(g->loop, LOOM_HOOK_BEFORE_POLL, before_poll, g, NULL, &g->hook);

    if (r < 0)
        return r;
    r = loom_hook_add(g->loop, LOOM_HOOK_CLOSE, on_close, g, NULL, &g->close_hook);
    if (r < 0)
        loom_hook_remove(g->loop, g->hook);
    return r;
}

int loom_glib_guest_new(loom_glib_guest **guestp, loom_loop *loop, GMainContext *ctx)
{
    loom_glib_guest *g;
    int r;

    if (!guestp || !loop)
        return -EINVAL;
    GMainContext *target = ctx ? ctx : g_main_context_get_thread_default();
    if (!target)
        target = g_main_context_default();
    /* Its owner is this thread (acquire is recursive): one guest drives it. */
    for (const loom_glib_guest *other = thread_guests; other; other = other->next_on_thread) {
        if (other->ctx == target && !other->closed)
            return -EBUSY;
    }
    g = g_new0(loom_glib_guest, 1);
    g->ctx = g_main_context_ref(target);
    g->loop = loom_loop_ref(loop);
    if (!g_main_context_acquire(g->ctx)) {
        g_main_context_unref(g->ctx);
        loom_loop_unref(g->loop);
        g_free(g);
        return -EBUSY;
    }
    r = hooks_add(g);
    if (r < 0) {
        guest_destroy(g);
        return r;
    }
    g->loop_fd = loom_loop_get_fd(loop);
    if (g_main_context_get_poll_func(g->ctx) == g_poll)
        g_main_context_set_poll_func(g->ctx, foreign_poll);
    nest_update(g);
    schedule_run(g); /* the first query, and what is ready already */
    g->next_on_thread = thread_guests;
    thread_guests = g;
    *guestp = g;
    return 0;
}

void loom_glib_guest_free(loom_glib_guest *guest)
{
    if (!guest)
        return;
    if (!guest->closed)
        detach_from_loop(guest);
    for (loom_glib_guest **p = &thread_guests; *p; p = &(*p)->next_on_thread) {
        if (*p == guest) {
            *p = guest->next_on_thread;
            break;
        }
    }
    guest_destroy(guest);
}

bool loom__glib_guest_drives(const loom_loop *loop, const GMainContext *ctx)
{
    for (const loom_glib_guest *g = thread_guests; g; g = g->next_on_thread) {
        if (g->loop == loop && g->ctx == ctx && !g->closed)
            return true;
    }
    return false;
}

uint64_t loom_glib_guest_dispatches(const loom_glib_guest *guest)
{
    return guest ? guest->dispatches : 0;
}
