/* loom_fd_wait: futures that resolve when an fd is ready. The waiters of one
 * fd share one loom_fd_watch whose interest is the union of theirs. */
#include "config.h"
#include <stdlib.h>
#include <loom/io.h>
#include "future/future-private.h"
#include "io-private.h"
#include "loop/loop-private.h"

struct fd_waiter {
    struct list_node node;
    struct wait_table *table;
    loom_future *done;
    int fd;
    unsigned events;
};

/* Per loop: the waiters of each fd, indexed by fd. */
struct wait_table {
    loom_loop *loop;
    struct loop_member member; /* the waiters fail with -ESHUTDOWN at close */
    struct list *fds;
    int size;
};

static const char wait_table_key; /* its per-loop data key */

static unsigned waiters_interest(const struct list *waiters)
{
    unsigned want = 0;
    for (const struct list_node *n = waiters->first; n; n = n->next)
        want |= list_item(n, struct fd_waiter, node)->events;
    return want;
}

/* After waiters of fd went: the watch follows what is left. */
static void update_watch(struct wait_table *t, int fd)
{
    if (list_empty(&t->fds[fd]))
        loom_fd_unwatch(t->loop, fd);
    else
        loom_fd_set_events(t->loop, fd, waiters_interest(&t->fds[fd]));
}

static void waiter_unlink(struct fd_waiter *w)
{
    list_unlink(&w->table->fds[w->fd], &w->node);
    loom__future_set_cancel_hook(w->done, NULL, NULL);
    loom_future_unref(w->done);
    free(w);
}

static void waiter_cancelled(void *data)
{
    struct fd_waiter *w = data;
    struct wait_table *t = w->table;
    int fd = w->fd;
    waiter_unlink(w);
    update_watch(t, fd);
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
    struct wait_table *t = data;
    struct list_node *n = t->fds[fd].first;
    while (n) {
        struct fd_waiter *w = list_item(n, struct fd_waiter, node);
        n = n->next;
        unsigned got = wanted_events(w->events, events);
        if (!got)
            continue;
        loom_future_resolve_int(w->done, (int64_t)got);
        waiter_unlink(w);
    }
    update_watch(t, fd);
}

static void wait_table_shutdown(struct loop_member *m)
{
    struct wait_table *t = list_item(m, struct wait_table, member);
    loop_member_remove(t->loop, m);
    for (int fd = 0; fd < t->size; fd++) {
        struct list_node *n;
        while ((n = t->fds[fd].first)) {
            struct fd_waiter *w = list_item(n, struct fd_waiter, node);
            loom_future *f = loom_future_ref(w->done);
            waiter_unlink(w);
            loom__io_future_fail(f, -ESHUTDOWN, NULL);
        }
    }
}

static void wait_table_dump(struct loop_member *m, FILE *out)
{
    struct wait_table *t = list_item(m, struct wait_table, member);
    int fds = 0;
    for (int fd = 0; fd < t->size; fd++)
        fds += !list_empty(&t->fds[fd]);
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
    struct list *fds = realloc(t->fds, (size_t)size * sizeof(*fds));
    if (!fds)
        return -ENOMEM;
    for (int i = t->size; i < size; i++)
        fds[i] = (struct list){0};
    t->fds = fds;
    t->size = size;
    return 0;
}

/* Adds w to its fd's waiters, watching the fd for the first one. */
static int waiter_add(struct wait_table *t, struct fd_waiter *w)
{
    int r = wait_table_reserve(t, w->fd);
    if (r < 0)
        return r;
    struct list *waiters = &t->fds[w->fd];
    unsigned want = waiters_interest(waiters);
    if (list_empty(waiters))
        r = loom_fd_watch(t->loop, w->fd, w->events, fd_ready, t, NULL);
    else if ((want | w->events) != want)
        r = loom_fd_set_events(t->loop, w->fd, want | w->events);
    if (r == 0)
        list_push_back(waiters, &w->node);
    return r;
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
    if (r == 0 && !f)
        r = -ENOMEM;
    if (r == 0) {
        *w = (struct fd_waiter){.table = t, .done = f, .fd = fd, .events = events};
        r = waiter_add(t, w);
    }
    if (r < 0) {
        loom_future_unref(f);
        free(w);
        errno = -r;
        return NULL;
    }
    loom__future_set_cancel_hook(f, waiter_cancelled, w);
    return loom_future_ref(f);
}
