/* Built-in backend on Linux epoll. */
#include "config.h"
#include <fcntl.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>
#include "builtin.h"

struct epoll_watch {
    struct epoll_watch *prev, *next; /* every watch, for epoll_rebuild */
    uint64_t token;
    int fd;
    uint32_t events;  /* EPOLLIN | EPOLLOUT */
    bool registered;  /* interest 0 means "not in the epoll set" */
};

struct epoll_backend {
    int epfd;
    loom_loop *loop;
    int64_t deadline;
    struct epoll_watch *watches;
};

static uint32_t to_epoll(unsigned events)
{
    return (events & LOOM_READ ? EPOLLIN : 0) | (events & LOOM_WRITE ? EPOLLOUT : 0);
}

static unsigned from_epoll(uint32_t ev)
{
    return (ev & (EPOLLIN | EPOLLPRI) ? LOOM_READ : 0) | (ev & EPOLLOUT ? LOOM_WRITE : 0) |
           (ev & (EPOLLHUP | EPOLLRDHUP) ? LOOM_HUP : 0) | (ev & EPOLLERR ? LOOM_ERR : 0);
}

/* epoll registers the file, not the fd: once a watched fd is closed, DEL
 * fails, yet if the file lives on (a dup, a fork) it keeps reporting events
 * for a watch that is gone, and the loop would spin. Only a new epoll set
 * forgets it; it takes the old one's number, which embedders may hold. */
static void epoll_rebuild(struct epoll_backend *b)
{
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        return;
    for (struct epoll_watch *w = b->watches; w; w = w->next) {
        struct epoll_event ev = {.events = w->events, .data.u64 = w->token};
        if (w->registered && epoll_ctl(epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0)
            w->registered = false; /* closed too: its owner will find out */
    }
    dup3(epfd, b->epfd, O_CLOEXEC);
    close(epfd);
}

static int epoll_update(struct epoll_backend *b, struct epoll_watch *w, int fd, unsigned events)
{
    w->fd = fd;
    w->events = to_epoll(events);
    struct epoll_event ev = {.events = w->events, .data.u64 = w->token};
    if (!events) {
        /* epoll reports HUP/ERR even for an empty interest: leave the set. */
        bool was = w->registered;
        w->registered = false;
        if (was && epoll_ctl(b->epfd, EPOLL_CTL_DEL, fd, NULL) < 0)
            epoll_rebuild(b);
        return 0;
    }
    if (w->registered && epoll_ctl(b->epfd, EPOLL_CTL_MOD, fd, &ev) == 0)
        return 0;
    /* Not registered, or the kernel dropped it when the fd was closed. */
    if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -errno;
    w->registered = true;
    return 0;
}

static int epoll_watch_add(void *self, int fd, uint64_t token, unsigned events, void **watchp)
{
    struct epoll_watch *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    struct epoll_backend *b = self;
    w->token = token;
    int r = epoll_update(b, w, fd, events);
    if (r < 0) {
        free(w);
        return r;
    }
    w->next = b->watches;
    if (w->next)
        w->next->prev = w;
    b->watches = w;
    *watchp = w;
    return 0;
}

static int epoll_watch_set(void *self, void *watch, int fd, unsigned events)
{
    return epoll_update(self, watch, fd, events);
}

static void epoll_watch_del(void *self, void *watch, int fd)
{
    struct epoll_backend *b = self;
    struct epoll_watch *w = watch;
    if (w->prev)
        w->prev->next = w->next;
    else
        b->watches = w->next;
    if (w->next)
        w->next->prev = w->prev;
    epoll_update(b, w, fd, 0);
    free(w);
}

static void epoll_set_deadline(void *self, int64_t when_ns)
{
    ((struct epoll_backend *)self)->deadline = when_ns;
}

static int epoll_wait_for(struct epoll_backend *b, struct epoll_event *events, int max, bool block)
{
    struct timespec ts;
    bool timed = builtin_wait_time(b->deadline, block, &ts);
#ifdef HAVE_EPOLL_PWAIT2
    /* Nanosecond waits only where millisecond rounding would matter. */
    static _Atomic bool no_pwait2; /* the kernel predates it */
    if (timed && ts.tv_sec == 0 && ts.tv_nsec % 1000000 && !no_pwait2) {
        int n = epoll_pwait2(b->epfd, events, max, timed ? &ts : NULL, NULL);
        if (n >= 0 || errno != ENOSYS)
            return n;
        no_pwait2 = true;
    }
#endif
    /* Millisecond fallback: round up so a timer never fires early. */
    int ms = timed ? (int)(ts.tv_sec * 1000 + (ts.tv_nsec + 999999) / 1000000) : -1;
    return epoll_wait(b->epfd, events, max, ms);
}

static int epoll_iterate(void *self, bool block)
{
    struct epoll_backend *b = self;
    /* On the stack: a callback may iterate again (a nested run). */
    struct epoll_event events[128];
    int n = epoll_wait_for(b, events, 128, block);
    if (n < 0 && errno != EINTR)
        return -errno;
    for (int i = 0; i < n; i++)
        loom_backend_fd_ready(b->loop, events[i].data.u64, from_epoll(events[i].events));
    loom_backend_tick(b->loop);
    return 0;
}

static int epoll_get_fd(void *self)
{
    return ((struct epoll_backend *)self)->epfd;
}

static void epoll_destroy(void *self)
{
    struct epoll_backend *b = self;
    close(b->epfd);
    free(b);
}

static const loom_backend_ops epoll_ops = {
    .name = "epoll",
    .caps = LOOM_BACKEND_CAN_NEST,
    .watch_add = epoll_watch_add,
    .watch_set = epoll_watch_set,
    .watch_del = epoll_watch_del,
    .set_deadline = epoll_set_deadline,
    .iterate = epoll_iterate,
    .get_fd = epoll_get_fd,
    .destroy = epoll_destroy,
};

int epoll_backend_new(loom_loop **loopp)
{
    struct epoll_backend *b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    b->deadline = LOOM_DEADLINE_NONE;
    b->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (b->epfd < 0) {
        int r = -errno;
        free(b);
        return r;
    }
    int r = loom_loop_new_with_backend(loopp, &epoll_ops, b);
    if (r == 0)
        b->loop = *loopp;
    return r;
}
