/* loom_fd_wait: futures that resolve when an fd is ready. The waiters of one
 * fd share one callback whose interest is the union of theirs: the fd's
 * loom__fd_tap, beside any reader, writer, watch or stream. */
#include "config.h"
#include <stdlib.h>
#include <loom/io.h>
#include "future/future-private.h"
#include "io-private.h"
#include "loop/loop-private.h"

struct fd_waits;

struct fd_waiter {
    struct list_node node;
    struct fd_waits *waits;
    loom_future *done;
    unsigned events;
};

/* The waiters of one fd, and the tap they share (its data). */
struct fd_waits {
    struct wait_table *table;
    int fd;
    struct list waiters;
};

/* Per loop: the waits of each fd, indexed by fd (NULL: none). */
struct wait_table {
    loom_loop *loop;
    struct loop_member member; /* the waiters fail with -ESHUTDOWN at close */
    struct fd_waits **fds;
    int size;
};

static const char wait_table_key; /* its per-loop data key */

static unsigned waiters_interest(const struct fd_waits *w)
{
    unsigned want = 0;
    for (const struct list_node *n = w->waiters.first; n; n = n->next)
        want |= list_item(n, struct fd_waiter, node)->events;
    return want;
}

/* Removes the waiter, completing nothing; the caller owns its future ref. */
static loom_future *waiter_unlink(struct fd_waiter *w)
{
    loom_future *f = w->done;
    list_unlink(&w->waits->waiters, &w->node);
    loom__future_set_cancel_hook(f, NULL, NULL);
    free(w);
    return f;
}

static void waiter_resolve(struct fd_waiter *w, unsigned events)
{
    loom_future *f = waiter_unlink(w);
    loom_future_resolve_int(f, (int64_t)events);
    loom_future_unref(f);
}

/* The tap's interest: 0 removes it (then waits_dropped frees waits). On
 * the closed loop too, at its shutdown. */
static int waits_set_events(struct fd_waits *waits, unsigned events)
{
    return loom__fd_tap_set(waits->table->loop, waits->fd, events);
}

/* After waiters went: the watch follows what is left, and goes with the
 * last one. */
static void update_watch(struct fd_waits *waits)
{
    waits_set_events(waits, list_empty(&waits->waiters) ? 0 : waiters_interest(waits));
}

/* The tap's drop: removed by update_watch, at loop close, dropped because
 * the fd was closed and its number reused, or the watch it rode on went:
 * those still waiting learn it as LOOM_ERR. */
static void waits_dropped(void *data)
{
    struct fd_waits *waits = data;
    while (waits->waiters.first) {
        struct fd_waiter *w = list_item(waits->waiters.first, struct fd_waiter, node);
        waiter_resolve(w, w->events | LOOM_ERR);
    }
    struct wait_table *t = waits->table;
    if (t->fds[waits->fd] == waits)
        t->fds[waits->fd] = NULL;
    free(waits);
}

static void waiter_cancelled(void *data)
{
    struct fd_waiter *w = data;
    struct fd_waits *waits = w->waits;
    loom_future_unref(waiter_unlink(w));
    update_watch(waits);
}

/* What a waiter for want gets of events: HUP and ERR come with what it wants. */
static unsigned wanted_events(unsigned want, unsigned events)
{
    if (events & (LOOM_HUP | LOOM_ERR))
        events |= want;
    return events & (want | LOOM_HUP | LOOM_ERR);
}

static void fd_ready(loom_loop *loop, int fd, unsigned events, void *data)
{
    struct fd_waits *waits = data;
    struct list_node *n = waits->waiters.first;
    while (n) {
        struct fd_waiter *w = list_item(n, struct fd_waiter, node);
        n = n->next;
        unsigned got = wanted_events(w->events, events);
        if (got)
            waiter_resolve(w, got);
    }
    update_watch(waits);
}

/* At close: the waiters fail, then the watches go (their destroy frees the
 * waits) before close would report them dropped. */
static void wait_table_shutdown(struct loop_member *m)
{
    struct wait_table *t = list_item(m, struct wait_table, member);
    loop_member_remove(t->loop, m);
    for (int fd = 0; fd < t->size; fd++) {
        struct fd_waits *waits = t->fds[fd];
        while (waits && waits->waiters.first)
            loom__io_future_fail(waiter_unlink(list_item(waits->waiters.first, struct fd_waiter, node)),
                                 -ESHUTDOWN, NULL);
        if (waits)
            waits_set_events(waits, 0);
    }
}

static void wait_table_dump(struct loop_member *m, FILE *out)
{
    struct wait_table *t = list_item(m, struct wait_table, member);
    int fds = 0;
    for (int fd = 0; fd < t->size; fd++)
        fds += t->fds[fd] != NULL;
    fprintf(out, "fd waits on %d fds", fds);
}

static const struct loop_member_ops wait_table_ops = {
    .phase = LOOP_PHASE_RELEASES,
    .shutdown = wait_table_shutdown,
    .dump = wait_table_dump,
};

static void wait_table_free(void *data)
{
    struct wait_table *t = data;
    if (!atomic_load_explicit(&t->loop->closed, memory_order_relaxed))
        loop_member_remove(t->loop, &t->member);
    free(t->fds);
    free(t);
}

static struct wait_table *wait_table_get(loom_loop *loop)
{
    struct wait_table *t = loom_loop_get_data(loop, &wait_table_key);
    if (t)
        return t;
    t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->loop = loop;
    t->member.ops = &wait_table_ops;
    if (loom_loop_set_data(loop, &wait_table_key, t, wait_table_free) < 0) {
        free(t);
        return NULL;
    }
    loop_member_add(loop, &t->member);
    return t;
}

static int wait_table_reserve(struct wait_table *t, int fd)
{
    if (fd < t->size)
        return 0;
    int size = t->size ? t->size : 64;
    while (size <= fd)
        size *= 2;
    struct fd_waits **fds = realloc(t->fds, (size_t)size * sizeof(*fds));
    if (!fds)
        return -ENOMEM;
    for (int i = t->size; i < size; i++)
        fds[i] = NULL;
    t->fds = fds;
    t->size = size;
    return 0;
}

/* The waits of fd, watching it for the first waiter. */
static int waits_get(struct wait_table *t, int fd, unsigned events, struct fd_waits **wp)
{
    int r = wait_table_reserve(t, fd);
    if (r < 0)
        return r;
    if ((*wp = t->fds[fd])) {
        unsigned want = waiters_interest(*wp);
        return (want | events) == want ? 0 : waits_set_events(*wp, want | events);
    }
    struct fd_waits *waits = calloc(1, sizeof(*waits));
    if (!waits)
        return -ENOMEM;
    *waits = (struct fd_waits){.table = t, .fd = fd};
    r = loom__fd_tap(t->loop, fd, events, fd_ready, waits, waits_dropped);
    if (r < 0) {
        free(waits);
        return r;
    }
    t->fds[fd] = *wp = waits;
    return 0;
}

loom_future *loom_fd_wait(loom_loop *loop, int fd, unsigned events)
{
    int r = loop_check(loop, __func__);
    if (r == 0 && (!events || (events & ~(LOOM_READ | LOOM_WRITE))))
        r = -EINVAL;
    if (r == 0 && fd < 0)
        r = -EBADF;
    struct wait_table *t = r < 0 ? NULL : wait_table_get(loop);
    struct fd_waiter *w = t ? calloc(1, sizeof(*w)) : NULL;
    loom_future *f = w ? loom_future_new(loop) : NULL;
    struct fd_waits *waits = NULL;
    if (r == 0 && !f)
        r = -ENOMEM;
    if (r == 0)
        r = waits_get(t, fd, events, &waits);
    if (r < 0) {
        loom_future_unref(f);
        free(w);
        errno = -r;
        return NULL;
    }
    *w = (struct fd_waiter){.waits = waits, .done = f, .events = events};
    list_push_back(&waits->waiters, &w->node);
    loom__future_set_cancel_hook(f, waiter_cancelled, w);
    return loom_future_ref(f);
}
