/* loom backend over a libevent event_base: one persistent event per watched
 * fd, one evtimer for the core's deadline. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <event2/event.h>
#include <loom/backend.h>
#include <loom/loom-event.h>

/* The base's event method, where the adapter must know it:
 *  - epoll refuses regular files and directories (EPERM); the others report
 *    them always ready;
 *  - poll reports an fd closed under its watch (POLLNVAL) as readable and
 *    writable forever; epoll forgets it, select fails as a whole;
 *  - fifo_one_way is known to hold for these two only. */
typedef enum event_method { METHOD_EPOLL, METHOD_POLL, METHOD_OTHER } event_method;

typedef struct event_backend {
    struct event_base *base;
    loom_loop *loop;
    struct event *timer;
    /* What the timer is armed for; LOOM_DEADLINE_NONE exactly when it is not
     * pending. */
    int64_t deadline;
    event_method method;
    short closed_flag; /* EV_CLOSED where the method supports it, else 0 */
} event_backend;

typedef struct event_watch {
    event_backend *backend;
    uint64_t token;
    unsigned events; /* current interest */
    short one_way;   /* see fifo_one_way */
    /* The struct event, sized at run time (event_get_struct_event_size) so
     * this does not depend on libevent's private layout. */
    max_align_t event[];
} event_watch;

static struct event *watch_event(event_watch *watch)
{
    return (struct event *)watch->event;
}

/* --- fd watches ----------------------------------------------------------- */

/* libevent reports a hang-up or an error as EV_READ|EV_WRITE, so a reader
 * or writer cannot tell them from data. A pipe end polls in one direction
 * only, though: asked for the other one too, libevent reports it exactly
 * when the pipe hung up (read end: its writers are gone) or failed (write
 * end: its readers are gone). Returns that other direction, or 0 for any
 * fd that is not a one-way FIFO end. */
static short fifo_one_way(int fd, const struct stat *st)
{
    if (!S_ISFIFO(st->st_mode))
        return 0;
    switch (fcntl(fd, F_GETFL) & O_ACCMODE) {
    case O_RDONLY:
        return EV_WRITE;
    case O_WRONLY:
        return EV_READ;
    default:
        return 0;
    }
}

/* EV_CLOSED (EPOLLRDHUP) comes with a peer's half-close (shutdown SHUT_WR:
 * only EOF to read) as well as with a hang-up; LOOM_HUP means the latter,
 * both directions gone (POLLHUP), which poll tells apart. */
static unsigned socket_hangup(int fd)
{
    struct pollfd p = {.fd = fd};

    return poll(&p, 1, 0) == 1 && (p.revents & POLLHUP) ? LOOM_HUP : 0;
}

static unsigned from_libevent(const event_watch *watch, int fd, short what)
{
    unsigned events = 0;

    if (what & watch->one_way) {
        events |= watch->one_way == EV_WRITE ? LOOM_HUP : LOOM_ERR;
        what &= ~watch->one_way;
    }
    if (what & EV_READ)
        events |= LOOM_READ;
    if (what & EV_WRITE)
        events |= LOOM_WRITE;
    if (what & EV_CLOSED)
        events |= socket_hangup(fd);
    return events;
}

static void on_fd(evutil_socket_t fd, short what, void *arg)
{
    event_watch *watch = arg;
    /* Copied first: the callbacks may delete (free) this watch. */
    loom_loop *loop = watch->backend->loop;
    unsigned events = from_libevent(watch, fd, what);

    if (loom_backend_inherited(loop)) {
        event_del(watch_event(watch)); /* a forked child's base (backend.h) */
        watch->events = 0;
        return;
    }

    if (watch->backend->method == METHOD_POLL && fcntl(fd, F_GETFD) < 0)
        events |= LOOM_BACKEND_NVAL | LOOM_ERR;
    loom_loop_ref(loop); /* a callback may drop the last reference: close after the tick */
    loom_backend_fd_ready(loop, watch->token, events);
    loom_backend_tick(loop);
    loom_loop_unref(loop);
}

/* Assigns and adds the watch's event for events (not 0). */
static int watch_start(event_watch *watch, int fd, unsigned events)
{
    short what = EV_PERSIST | watch->one_way;

    /* EV_CLOSED (epoll's EPOLLRDHUP) is what tells a reader of a socket's
     * hang-up (see socket_hangup); only a reader: it stays set, and would
     * wake a lone writer forever. */
    if (events & LOOM_READ)
        what |= EV_READ | watch->backend->closed_flag;
    if (events & LOOM_WRITE)
        what |= EV_WRITE;
    errno = 0; /* event_add fails with epoll_ctl's errno, or malloc's */
    if (event_assign(watch_event(watch), watch->backend->base, fd, what, on_fd, watch) < 0 ||
        event_add(watch_event(watch), NULL) < 0)
        return errno ? -errno : -EINVAL;
    watch->events = events;
    return 0;
}

static int event_watch_add(void *self, int fd, uint64_t token, unsigned events, void **watchp)
{
    event_backend *backend = self;
    event_watch *watch;
    struct stat st;
    int r;

    if (fstat(fd, &st) < 0)
        return -errno;
    /* Checked here: libevent would log its epoll_ctl failure, not return it. */
    if (backend->method == METHOD_EPOLL && (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
        return -EPERM;

    watch = calloc(1, sizeof(*watch) + event_get_struct_event_size());
    if (!watch)
        return -ENOMEM;
    watch->backend = backend;
    watch->token = token;
    watch->one_way = backend->method != METHOD_OTHER ? fifo_one_way(fd, &st) : 0;
    r = watch_start(watch, fd, events);
    if (r < 0) {
        free(watch);
        return r;
    }
    *watchp = watch;
    return 0;
}

static int event_watch_set(void *self, void *watchp, int fd, unsigned events)
{
    event_watch *watch = watchp;

    if (events == watch->events)
        return 0;
    /* A pending event's flags cannot change: delete, then assign anew. */
    if (watch->events)
        event_del(watch_event(watch));
    watch->events = 0;
    return events ? watch_start(watch, fd, events) : 0;
}

static void event_watch_del(void *self, void *watchp, int fd)
{
    event_watch *watch = watchp;

    if (watch->events)
        event_del(watch_event(watch));
    free(watch);
}

/* --- deadline ------------------------------------------------------------- */

/* Adds the timer for when_ns, rounding the wait up to the microsecond. */
static void deadline_arm(event_backend *backend, int64_t when_ns)
{
    int64_t now = loom_loop_now(NULL);
    struct timeval tv = {0, 0};

    if (when_ns > now) {
        int64_t wait_us = (when_ns - now + 999) / 1000;
        tv.tv_sec = wait_us / 1000000;
        tv.tv_usec = wait_us % 1000000;
    }
    backend->deadline = when_ns;
    if (event_add(backend->timer, &tv) < 0) {
        backend->deadline = LOOM_DEADLINE_NONE;
        if (backend->loop) /* NULL while the loop is being created */
            loom_loop_report(backend->loop, -ENOMEM, "libevent: cannot add the deadline timer");
    }
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    event_backend *backend = arg;

    if (loom_backend_inherited(backend->loop))
        return; /* a forked child's base: not re-armed (backend.h) */
    /* libevent measures time with CLOCK_MONOTONIC_COARSE and its per-iteration
     * cache, both behind CLOCK_MONOTONIC: the timer may fire a little early. */
    if (loom_loop_now(NULL) < backend->deadline) {
        deadline_arm(backend, backend->deadline);
        return;
    }
    backend->deadline = LOOM_DEADLINE_NONE;
    loom_loop *loop = loom_loop_ref(backend->loop); /* as in on_fd */
    loom_backend_tick(loop);
    loom_loop_unref(loop);
}

static void event_set_deadline(void *self, int64_t when_ns)
{
    event_backend *backend = self;

    if (when_ns == backend->deadline)
        return;
    if (when_ns == LOOM_DEADLINE_NONE) {
        backend->deadline = LOOM_DEADLINE_NONE;
        event_del(backend->timer);
        return;
    }
    /* A past deadline becomes a zero timeout, not event_active: the timer
     * then runs after the next poll, so a callback that keeps rescheduling
     * itself cannot starve I/O, and EVLOOP_ONCE still ends the iteration. */
    deadline_arm(backend, when_ns);
}

/* --- running -------------------------------------------------------------- */

static int event_iterate(void *self, bool block)
{
    event_backend *backend = self;
    int flags = EVLOOP_ONCE | (block ? 0 : EVLOOP_NONBLOCK);

    /* libevent fails for a reentrant call (base already running: its loop
     * does not nest), leaving errno alone, or for a failed poll (select on a
     * closed fd: EBADF). */
    errno = 0;
    if (event_base_loop(backend->base, flags) >= 0)
        return 0;
    if (errno)
        return -errno;
    /* From a native callback, which the core cannot tell from outside one. */
    loom_loop_report(backend->loop, -EDEADLK, "the libevent loop cannot be run from inside one of its callbacks");
    return -EDEADLK;
}

static void event_destroy(void *self)
{
    event_backend *backend = self;

    event_free(backend->timer);
    free(backend);
}

/* No native wakeup: event_active from another thread is safe only on a base
 * created after evthread_use_pthreads(), which the host program may not have
 * called (and which cannot be checked). libevent's own cross-thread
 * notification is an eventfd watched by the base, exactly what the core does
 * when wakeup is NULL, so this costs nothing more. */
#define EVENT_BACKEND_OPS(caps_)                                                                            \
    {                                                                                                      \
        .name = "libevent", .caps = (caps_), .watch_add = event_watch_add, .watch_set = event_watch_set, \
        .watch_del = event_watch_del, .set_deadline = event_set_deadline, .wakeup = NULL,                  \
        .iterate = event_iterate, .destroy = event_destroy,                                               \
    }
/* event_base_loop cannot run inside one of its callbacks: no CAN_NEST. On
 * the epoll method, loom's watches live in the core's own epoll set, which
 * libevent watches as one fd: libevent's set keeps reporting a file closed
 * under its watch (kept open by a dup or a child) after the removal fails,
 * and its loop spins; the core's set notices such a registration and drops it. */
static const loom_backend_ops event_backend_ops = EVENT_BACKEND_OPS(0);
static const loom_backend_ops event_backend_one_fd_ops = EVENT_BACKEND_OPS(LOOM_BACKEND_ONE_FD);

static event_method method_of(struct event_base *base)
{
    const char *name = event_base_get_method(base);

    return strcmp(name, "epoll") == 0  ? METHOD_EPOLL
           : strcmp(name, "poll") == 0 ? METHOD_POLL
                                       : METHOD_OTHER;
}

LOOM_API int loom_event_loop_new(loom_loop **loopp, struct event_base *base)
{
    event_backend *backend;
    loom_loop *loop;
    int r;

    if (!loopp || !base)
        return -EINVAL;
    backend = calloc(1, sizeof(*backend));
    if (!backend)
        return -ENOMEM;
    backend->base = base;
    backend->deadline = LOOM_DEADLINE_NONE;
    backend->method = method_of(base);
    backend->closed_flag = event_base_get_features(base) & EV_FEATURE_EARLY_CLOSE ? EV_CLOSED : 0;
    backend->timer = evtimer_new(base, on_deadline, backend);
    if (!backend->timer) {
        free(backend);
        return -ENOMEM;
    }
    r = loom_loop_new_with_backend(
        &loop, backend->method == METHOD_EPOLL ? &event_backend_one_fd_ops : &event_backend_ops, backend);
    if (r < 0)
        return r;
    /* Set only now, but no event of ours can fire before the host runs base
     * again, which it cannot have done inside loom_loop_new_with_backend. */
    backend->loop = loop;
    *loopp = loop;
    return 0;
}
