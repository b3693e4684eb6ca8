/* fd watches: one backend watch per fd, carrying either a reader and a
 * writer multiplexed onto it, or one loom_fd_watch callback with an interest
 * mask. Each entry remembers the file it watches (st_dev, st_ino), so that an
 * fd closed or replaced under its watch is found out: at the next add on its
 * number, and every FD_CHECK_EVERY events. */
#include "config.h"
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "builtin/builtin.h"
#include "loop-private.h"

/* One fstat per 64 events is noise even for a ping-pong, while a dead fd on
 * epoll fires about a million times a second: found out within 64 µs. */
#define FD_CHECK_EVERY 64

static const unsigned fd_problems = LOOM_HUP | LOOM_ERR;

/* A loom__fd_tap callback riding on another watch (owned by its entry). */
struct fd_tap {
    loom_fd_callback cb;
    void *data;
    loom_destroy_fn drop;
    unsigned interest;
};

static unsigned tap_interest(const struct fd_entry *e)
{
    return e->tap ? e->tap->interest : 0;
}

bool loom__fd_tap_get(const struct fd_entry *e, loom_fd_callback *cb, void **data, unsigned *interest)
{
    if (!e->tap)
        return false;
    *cb = e->tap->cb;
    *data = e->tap->data;
    *interest = e->tap->interest;
    return true;
}

/* Runs the tap's drop, then frees it. */
static void tap_free(struct fd_tap *tap)
{
    if (tap && tap->drop)
        tap->drop(tap->data);
    free(tap);
}

static uint64_t fd_token(int fd, uint32_t gen)
{
    return ((uint64_t)gen << 32) | (uint32_t)fd;
}

static int fd_table_reserve(loom_loop *loop, int fd)
{
    if (fd < loop->fds_size)
        return 0;
    int size = loop->fds_size ? loop->fds_size : 64;
    while (size <= fd)
        size *= 2;
    struct fd_entry *fds = realloc(loop->fds, (size_t)size * sizeof(*fds));
    if (!fds)
        return -ENOMEM;
    for (int i = loop->fds_size; i < size; i++)
        fds[i] = (struct fd_entry){.gen = 1};
    loop->fds = fds;
    loop->fds_size = size;
    return 0;
}

/* The entry of a watched fd, or NULL. */
static struct fd_entry *watched_entry(loom_loop *loop, int fd)
{
    struct fd_entry *e = fd >= 0 && fd < loop->fds_size ? &loop->fds[fd] : NULL;
    return e && e->kind != FD_NONE ? e : NULL;
}

static bool same_file(const struct fd_entry *e, const struct stat *st)
{
    return e->dev == st->st_dev && e->ino == st->st_ino;
}

/* Drops the watch, then runs FD_ONE's destroy (last: it may call in). */
static void unwatch(loom_loop *loop, int fd, struct fd_entry *e)
{
    if (e->watch)
        loop->fd_ops->watch_del(loop->fd_backend, e->watch, fd);
    loom_destroy_fn destroy = e->kind == FD_ONE ? e->destroy : NULL;
    void *data = e->read_data;
    struct fd_tap *tap = e->tap;
    *e = (struct fd_entry){.gen = e->gen + 1};
    loop->watches--;
    if (destroy)
        destroy(data);
    tap_free(tap);
}

/* The entry for a new watch on fd (st: its fstat). A watch whose fd was
 * found closed, or whose number now names another file, is dead: it is
 * dropped so it never blocks the new one, nor gets its events. */
static int claim(loom_loop *loop, int fd, const struct stat *st, struct fd_entry **ep)
{
    int r = fd_table_reserve(loop, fd);
    if (r < 0)
        return r;
    struct fd_entry *e = &loop->fds[fd];
    if (e->kind != FD_NONE && (e->suspended || !same_file(e, st))) {
        if (!e->suspended)
            loom_loop_report(loop, -EBADF, "fd %d was closed and reused while watched; the old watch is dropped",
                             fd);
        unwatch(loop, fd, e);
        e = &loop->fds[fd]; /* a destroy function may have grown the table */
    }
    *ep = e;
    return 0;
}

static void claim_done(loom_loop *loop, struct fd_entry *e, enum fd_kind kind, const struct stat *st)
{
    if (e->kind != FD_NONE)
        return;
    e->kind = (uint8_t)kind;
    e->dev = st->st_dev;
    e->ino = st->st_ino;
    e->unchecked = 0;
    loop->watches++;
}

/* Gives the backend the interest events (and the tap's), adding its watch
 * if there is none. */
static int backend_interest(loom_loop *loop, int fd, struct fd_entry *e, unsigned events)
{
    events |= tap_interest(e);
    if (e->watch)
        return loop->fd_ops->watch_set(loop->fd_backend, e->watch, fd, events);
    return events ? loop->fd_ops->watch_add(loop->fd_backend, fd, fd_token(fd, e->gen), events, &e->watch) : 0;
}

/* claim for an fd the caller names: -EBADF unless it is open. */
static int claim_fd(loom_loop *loop, int fd, struct stat *st, struct fd_entry **ep)
{
    if (fd < 0 || fstat(fd, st) < 0)
        return -EBADF;
    return claim(loop, fd, st, ep);
}

/* For an add on e: the tap that loom__fd_tap's own watch there will become
 * (*tapp, NULL if e has none), or -ENOMEM. */
static int yield_prepare(const struct fd_entry *e, struct fd_tap **tapp)
{
    *tapp = e->yields ? malloc(sizeof(**tapp)) : NULL;
    return e->yields && !*tapp ? -ENOMEM : 0;
}

/* loom__fd_tap's own watch becomes tap, the tap of the watch being added on
 * its entry (the backend watch, token and file stay). */
static void yield_watch(loom_loop *loop, struct fd_entry *e, struct fd_tap *tap)
{
    *tap = (struct fd_tap){.cb = e->on_read, .data = e->read_data, .drop = e->destroy, .interest = e->interest};
    e->tap = tap;
    e->kind = FD_NONE;
    e->interest = 0;
    e->on_read = NULL;
    e->read_data = NULL;
    e->destroy = NULL;
    e->yields = false;
    loop->watches--;
}

static int add_side(loom_loop *loop, int fd, unsigned side, loom_fd_callback cb, void *data)
{
    int r = loop_check(loop, side == LOOM_READ ? "loom_add_reader" : "loom_add_writer");
    if (r < 0)
        return r;
    if (!cb)
        return -EINVAL;
    struct stat st;
    struct fd_entry *e;
    if ((r = claim_fd(loop, fd, &st, &e)) < 0)
        return r;
    struct fd_tap *tap; /* its interest goes on as the tap's */
    if ((r = yield_prepare(e, &tap)) < 0)
        return r;
    if (!tap && (e->kind == FD_ONE || (e->interest & side)))
        return -EEXIST;
    r = backend_interest(loop, fd, e, e->interest | side);
    if (r < 0) {
        free(tap);
        return r;
    }
    if (tap)
        yield_watch(loop, e, tap);
    claim_done(loop, e, FD_SIDES, &st);
    e->interest |= side;
    if (side == LOOM_READ) {
        e->on_read = cb;
        e->read_data = data;
    } else {
        e->on_write = cb;
        e->write_data = data;
    }
    return 0;
}

static int remove_side(loom_loop *loop, int fd, unsigned side)
{
    LOOP_CHECK(loop);
    if (fd < 0)
        return -EBADF;
    struct fd_entry *e = watched_entry(loop, fd);
    if (!e || e->kind != FD_SIDES || !(e->interest & side))
        return -ENOENT;
    e->interest &= ~side;
    if (!e->interest)
        unwatch(loop, fd, e);
    else if (!e->suspended)
        backend_interest(loop, fd, e, e->interest);
    return 0;
}

int loom_add_reader(loom_loop *loop, int fd, loom_fd_callback cb, void *data)
{
    return add_side(loop, fd, LOOM_READ, cb, data);
}

int loom_add_writer(loom_loop *loop, int fd, loom_fd_callback cb, void *data)
{
    return add_side(loop, fd, LOOM_WRITE, cb, data);
}

int loom_remove_reader(loom_loop *loop, int fd)
{
    return remove_side(loop, fd, LOOM_READ);
}

int loom_remove_writer(loom_loop *loop, int fd)
{
    return remove_side(loop, fd, LOOM_WRITE);
}

/* --- one callback per fd ------------------------------------------------------ */

int loom_fd_watch(loom_loop *loop, int fd, unsigned events, loom_fd_callback cb, void *data,
                  loom_destroy_fn destroy)
{
    LOOP_CHECK(loop);
    if (!cb || (events & ~(LOOM_READ | LOOM_WRITE)))
        return -EINVAL;
    struct stat st;
    struct fd_entry *e;
    int r = claim_fd(loop, fd, &st, &e);
    if (r < 0)
        return r;
    struct fd_tap *tap; /* its interest goes on as the tap's */
    if ((r = yield_prepare(e, &tap)) < 0)
        return r;
    if (e->kind != FD_NONE && !tap)
        return -EEXIST;
    r = backend_interest(loop, fd, e, events | (tap ? e->interest : 0));
    if (r < 0) {
        free(tap);
        return r;
    }
    if (tap)
        yield_watch(loop, e, tap);
    claim_done(loop, e, FD_ONE, &st);
    e->interest = events;
    e->on_read = cb;
    e->read_data = data;
    e->destroy = destroy;
    return 0;
}

int loom_fd_set_events(loom_loop *loop, int fd, unsigned events)
{
    LOOP_CHECK(loop);
    if (events & ~(LOOM_READ | LOOM_WRITE))
        return -EINVAL;
    if (fd < 0)
        return -EBADF;
    struct fd_entry *e = watched_entry(loop, fd);
    if (!e || e->kind != FD_ONE)
        return -ENOENT;
    if (e->suspended)
        return -EBADF;
    if (events == e->interest)
        return 0; /* the common case for callers that re-state their mask */
    int r = backend_interest(loop, fd, e, events);
    if (r < 0)
        return r;
    e->interest = events;
    return 0;
}

int loom_fd_unwatch(loom_loop *loop, int fd)
{
    LOOP_CHECK(loop);
    return fd < 0 ? -EBADF : loom__fd_unwatch(loop, fd);
}

int loom__fd_unwatch(loom_loop *loop, int fd)
{
    struct fd_entry *e = watched_entry(loop, fd);
    if (!e || e->kind != FD_ONE)
        return -ENOENT;
    unwatch(loop, fd, e);
    return 0;
}

int loom__fd_tap(loom_loop *loop, int fd, unsigned events, loom_fd_callback cb, void *data, loom_destroy_fn drop)
{
    int r = loom_fd_watch(loop, fd, events, cb, data, drop);
    if (r != -EEXIST) {
        if (r == 0)
            loop->fds[fd].yields = true;
        return r;
    }
    struct fd_entry *e = watched_entry(loop, fd);
    if (e->suspended)
        return -EBADF;
    if (e->tap)
        return -EEXIST;
    struct fd_tap *tap = malloc(sizeof(*tap));
    if (!tap)
        return -ENOMEM;
    r = backend_interest(loop, fd, e, e->interest | events);
    if (r < 0) {
        free(tap);
        return r;
    }
    *tap = (struct fd_tap){.cb = cb, .data = data, .drop = drop, .interest = events};
    e->tap = tap;
    return 0;
}

int loom__fd_tap_set(loom_loop *loop, int fd, unsigned events)
{
    struct fd_entry *e = watched_entry(loop, fd);
    if (e && e->yields && events)
        return loom_fd_set_events(loop, fd, events);
    if (e && e->yields) {
        unwatch(loop, fd, e);
        return 0;
    }
    if (!e || !e->tap)
        return -ENOENT;
    struct fd_tap *tap = e->tap;
    tap->interest = events;
    if (!events)
        e->tap = NULL; /* it goes */
    int r = e->suspended ? 0 : backend_interest(loop, fd, e, e->interest);
    if (!events)
        tap_free(tap);
    return r;
}

/* --- delivery ------------------------------------------------------------------- */

/* The entry for token if the event is not stale. */
static struct fd_entry *live_entry(loom_loop *loop, uint64_t token)
{
    /* Unsigned: the core's own tokens (WAKE_TOKEN, FD_SET_TOKEN) fall outside. */
    uint32_t fd = (uint32_t)token;
    if (fd >= (uint32_t)loop->fds_size)
        return NULL;
    struct fd_entry *e = &loop->fds[fd];
    return e->kind != FD_NONE && e->gen == (uint32_t)(token >> 32) ? e : NULL;
}

/* Whether fd was closed or replaced under its watch: the backend says so
 * (NVAL), or the periodic check finds another file (or none). */
static __attribute__((noinline)) bool fd_replaced(int fd, struct fd_entry *e)
{
    e->unchecked = 0;
    struct stat st;
    return fstat(fd, &st) < 0 || !same_file(e, &st);
}

static bool fd_gone(int fd, struct fd_entry *e, unsigned events)
{
    if (events & LOOM_BACKEND_NVAL)
        return true;
    /* The check is out of line: its struct stat would make every delivery's frame. */
    return ++e->unchecked >= FD_CHECK_EVERY && fd_replaced(fd, e);
}

static void suspend(loom_loop *loop, int fd, struct fd_entry *e)
{
    if (e->watch)
        loop->fd_ops->watch_set(loop->fd_backend, e->watch, fd, 0);
    e->suspended = true;
    loom_loop_report(loop, -EBADF, "fd %d was closed or replaced while watched; its watch is suspended", fd);
}

/* What a callback with interest want gets of events: HUP and ERR come with
 * READ and WRITE as wanted, so that it reads the EOF or the error. */
static unsigned deliverable(unsigned want, unsigned events)
{
    if (!want)
        return 0;
    if (events & fd_problems)
        events |= want;
    return events & (want | fd_problems);
}

static void deliver_own(loom_loop *loop, uint64_t token, int fd, struct fd_entry *e, unsigned events)
{
    if (e->kind == FD_ONE) {
        unsigned got = deliverable(e->interest, events);
        if (got)
            e->on_read(loop, fd, got, e->read_data);
        return;
    }
    unsigned got = deliverable(e->interest & LOOM_READ, events);
    if (got)
        e->on_read(loop, fd, got, e->read_data);
    if (!(events & (LOOM_WRITE | fd_problems)))
        return; /* nothing a writer would get: spare the lookup below */
    /* The reader may have removed the writer, closed the fd or grown the table. */
    e = live_entry(loop, token);
    got = e ? deliverable(e->interest & LOOM_WRITE, events) : 0;
    if (got)
        e->on_write(loop, fd, got, e->write_data);
}

/* The watch's callbacks, then its tap's. */
static void deliver(loom_loop *loop, uint64_t token, int fd, struct fd_entry *e, unsigned events)
{
    bool tapped = e->tap != NULL;
    deliver_own(loop, token, fd, e, events);
    /* The callbacks may have removed the watch (and its tap) or grown the table. */
    if (tapped && (e = live_entry(loop, token)) && e->tap) {
        unsigned got = deliverable(e->tap->interest, events);
        if (got)
            e->tap->cb(loop, fd, got, e->tap->data);
    }
}

/* The events of a token that names no live entry: one of the core's own
 * (true), or stale (false). */
static __attribute__((noinline)) bool core_token_ready(loom_loop *loop, uint64_t token)
{
    if (token == WAKE_TOKEN) {
        loom__wake_drain(loop->wake_fds); /* the tick that follows takes the inbox */
        return true;
    }
#ifdef HAVE_SYS_EPOLL_H
    if (token == FD_SET_TOKEN) {
        /* back here with each watch's token */
        loop->fd_set_full = loom__epoll_set_deliver(loop->fd_backend);
        return true;
    }
#endif
    return false;
}

/* Every case: stale and core tokens, the periodic check, HUP/ERR/NVAL, both sides. */
static __attribute__((noinline)) bool fd_ready_slow(loom_loop *loop, uint64_t token, unsigned events)
{
    if (atomic_load_explicit(&loop->closed, memory_order_relaxed))
        return true;
    /* The user's fds first: they are the hot path. */
    struct fd_entry *e = live_entry(loop, token);
    if (!e)
        return core_token_ready(loop, token);
    if (e->suspended || !(e->interest | tap_interest(e)))
        return false;
    int fd = (int)(uint32_t)token;
    if (fd_gone(fd, e, events)) {
        suspend(loop, fd, e);
        events |= LOOM_ERR; /* the callbacks' last call tells them */
    }
    /* Not "dispatching": what the callbacks schedule is armed at once, in
     * case one of them runs a nested loop before the tick that follows. */
    loop->depth++;
    deliver(loop, token, fd, e, events & ~LOOM_BACKEND_NVAL);
    loop->depth--;
    return true;
}

bool loom__fd_ready(loom_loop *loop, uint64_t token, unsigned events)
{
    struct fd_entry *e = live_entry(loop, token);
    /* The straight line: a live entry not due for its check, and plain READ
     * or WRITE, so that one callback at most runs and no lookup follows. */
    if (!e || e->suspended || e->unchecked >= FD_CHECK_EVERY - 1 || (events != LOOM_READ && events != LOOM_WRITE) ||
        e->tap || atomic_load_explicit(&loop->closed, memory_order_relaxed))
        return fd_ready_slow(loop, token, events);
    e->unchecked++;
    unsigned got = events & e->interest; /* what deliver gives a plain event */
    if (!got)
        return e->interest != 0;
    bool writer = e->kind == FD_SIDES && events == LOOM_WRITE;
    loop->depth++; /* as in fd_ready_slow */
    (writer ? e->on_write : e->on_read)(loop, (int)(uint32_t)token, got, writer ? e->write_data : e->read_data);
    loop->depth--;
    return true;
}

void loom_backend_fd_ready(loom_loop *loop, uint64_t token, unsigned events)
{
    if (!loom__loop_inherited(loop)) /* the parent's fd callbacks */
        loom__fd_ready(loop, token, events);
}

#ifdef HAVE_SYS_EPOLL_H
/* LOOM_ONE_FD=0 in the environment keeps every watch with the host (backend.h). */
static bool one_fd_wanted(const loom_loop *loop)
{
    const char *env = getenv("LOOM_ONE_FD");
    return (loop->ops->caps & LOOM_BACKEND_ONE_FD) && !(env && strcmp(env, "0") == 0);
}
#endif

/* A LOOM_BACKEND_ONE_FD host watches an epoll set of ours; where none can
 * be made, it gets every watch after all. */
void loom__fd_table_open(loom_loop *loop)
{
    loop->fd_ops = loop->ops;
    loop->fd_backend = loop->backend;
#ifdef HAVE_SYS_EPOLL_H
    const loom_backend_ops *ops;
    void *set;
    if (!one_fd_wanted(loop) || loom__epoll_set_new(loop, &ops, &set) < 0)
        return;
    int fd = ops->get_fd(set);
    if (fd < 0 || loop->ops->watch_add(loop->backend, fd, FD_SET_TOKEN, LOOM_READ, &loop->fd_set_watch) < 0) {
        ops->destroy(set);
        return;
    }
    loop->fd_ops = ops;
    loop->fd_backend = set;
#endif
}

void loom__fd_set_next(loom_loop *loop)
{
    loop->fd_set_full = false;
#ifdef HAVE_SYS_EPOLL_H
    if (!atomic_load_explicit(&loop->closed, memory_order_relaxed))
        loop->fd_set_full = loom__epoll_set_deliver(loop->fd_backend);
#endif
}

void loom__fd_table_close(loom_loop *loop)
{
    for (int fd = 0; fd < loop->fds_size; fd++)
        if (loop->fds[fd].kind != FD_NONE)
            unwatch(loop, fd, &loop->fds[fd]);
    free(loop->fds);
    loop->fds = NULL;
    loop->fds_size = 0;
    if (loop->fd_set_watch) {
        loop->ops->watch_del(loop->backend, loop->fd_set_watch, loop->fd_ops->get_fd(loop->fd_backend));
        loop->fd_ops->destroy(loop->fd_backend);
        loop->fd_set_watch = NULL;
        loop->fd_ops = loop->ops;
        loop->fd_backend = loop->backend;
    }
}
