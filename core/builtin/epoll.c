/* Built-in backend on Linux epoll.
 *
 * The watches live in one epoll set, which the loop waits on. For
 * embedding, loom_loop_get_fd hands out a second set that holds only the
 * first, made on the first call: it stays the same, registered fd for the
 * loop's life even when the inner set is swapped for a fresh one (see
 * epoll_shed), and a loop that is not embedded pays nothing for it. The same
 * watch set, without a loop of its own, carries the fd watches of a
 * LOOM_BACKEND_ONE_FD host (loom__epoll_set_new). */
#include "config.h"
#include <limits.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>
#include "builtin.h"

struct epoll_watch {
    uint64_t token; /* the core's, and the epoll data: one lookup per event, the core's */
    uint32_t slot;  /* in slots, which epoll_shed walks */
    int fd;
    uint32_t events; /* EPOLLIN | EPOLLOUT */
    bool registered; /* interest 0 means "not in the epoll set" */
};

/* A watch's place. Events still queued for a freed watch carry its token,
 * which the core finds stale (its generation moved on). */
struct epoll_slot {
    struct epoll_watch *watch; /* NULL when free */
    uint32_t next_free;
};

struct epoll_backend {
    int inner; /* the watches */
    int outer; /* loom_loop_get_fd's: holds inner; -1 until asked for */
    loom_loop *loop;
    int64_t deadline;
    struct epoll_slot *slots;
    uint32_t nslots, free_head; /* free_head == nslots: no free slot */
    /* Registrations that DEL could not remove: their fd was closed while the
     * file lived on (a dup, a fork), so epoll may still report them. */
    size_t zombies;
};

static uint32_t to_epoll(unsigned events)
{
    return (events & LOOM_READ ? EPOLLIN : 0) | (events & LOOM_WRITE ? EPOLLOUT : 0);
}

static unsigned from_epoll(uint32_t ev)
{
    if (ev == EPOLLIN)
        return LOOM_READ; /* the usual event, spared the tests below */
    return (ev & (EPOLLIN | EPOLLPRI) ? LOOM_READ : 0) | (ev & EPOLLOUT ? LOOM_WRITE : 0) |
           (ev & EPOLLHUP ? LOOM_HUP : 0) | (ev & EPOLLERR ? LOOM_ERR : 0);
}

static int slot_take(struct epoll_backend *b, struct epoll_watch *w)
{
    if (b->free_head == b->nslots) {
        uint32_t n = b->nslots ? b->nslots * 2 : 64;
        struct epoll_slot *slots = realloc(b->slots, n * sizeof(*slots));
        if (!slots)
            return -ENOMEM;
        for (uint32_t i = b->nslots; i < n; i++)
            slots[i] = (struct epoll_slot){.next_free = i + 1};
        b->slots = slots;
        b->free_head = b->nslots;
        b->nslots = n;
    }
    w->slot = b->free_head;
    b->free_head = b->slots[w->slot].next_free;
    b->slots[w->slot].watch = w;
    return 0;
}

static void slot_release(struct epoll_backend *b, uint32_t slot)
{
    b->slots[slot] = (struct epoll_slot){.next_free = b->free_head};
    b->free_head = slot;
}

/* epoll registers the file, not the fd: once a watched fd is closed, DEL
 * fails, yet if the file lives on the registration keeps reporting. Only a
 * new set forgets it: the live watches move to a fresh inner set, which
 * replaces the old one (inside the outer set too). O(watches), so it runs only
 * when a zombie registration fired, at most once per iteration. */
static void epoll_shed(struct epoll_backend *b)
{
    int inner = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event in = {.events = EPOLLIN};
    if (inner < 0 || (b->outer >= 0 && epoll_ctl(b->outer, EPOLL_CTL_ADD, inner, &in) < 0)) {
        int err = -errno;
        if (inner >= 0)
            close(inner);
        loom_loop_report(b->loop, err, "epoll: cannot replace a set with closed fds in it");
        return;
    }
    for (uint32_t i = 0; i < b->nslots; i++) {
        struct epoll_watch *w = b->slots[i].watch;
        struct epoll_event ev = {.events = w ? w->events : 0, .data.u64 = w ? w->token : 0};
        if (w && w->registered && epoll_ctl(inner, EPOLL_CTL_ADD, w->fd, &ev) < 0)
            w->registered = false; /* closed too: its owner will find out */
    }
    close(b->inner); /* which also takes it out of the outer set */
    b->inner = inner;
    b->zombies = 0;
}

static int epoll_update(struct epoll_backend *b, struct epoll_watch *w, int fd, unsigned events)
{
    w->fd = fd;
    w->events = to_epoll(events);
    if (!events) {
        /* epoll reports HUP/ERR even for an empty interest: leave the set. */
        if (w->registered && epoll_ctl(b->inner, EPOLL_CTL_DEL, fd, NULL) < 0)
            b->zombies++;
        w->registered = false;
        return 0;
    }
    struct epoll_event ev = {.events = w->events, .data.u64 = w->token};
    if (w->registered) {
        if (epoll_ctl(b->inner, EPOLL_CTL_MOD, fd, &ev) == 0)
            return 0;
        /* The fd was closed (or now names another file): the old
         * registration may live on. */
        w->registered = false;
        b->zombies++;
    }
    if (epoll_ctl(b->inner, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -errno;
    w->registered = true;
    return 0;
}

static int epoll_watch_add(void *self, int fd, uint64_t token, unsigned events, void **watchp)
{
    struct epoll_backend *b = self;
    struct epoll_watch *w = calloc(1, sizeof(*w));
    if (!w || slot_take(b, w) < 0) {
        free(w);
        return -ENOMEM;
    }
    w->token = token;
    int r = epoll_update(b, w, fd, events);
    if (r < 0) {
        slot_release(b, w->slot);
        free(w);
        return r;
    }
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
    epoll_update(b, w, fd, 0);
    slot_release(b, w->slot);
    free(w);
}

static void epoll_set_deadline(void *self, int64_t when_ns)
{
    ((struct epoll_backend *)self)->deadline = when_ns;
}

/* ts in epoll_wait's int milliseconds, rounded up so a timer never fires
 * early; at most INT_MAX (24.8 days), and *cut says so: wait again. */
static int wait_ms(const struct timespec *ts, bool *cut)
{
    *cut = ts->tv_sec >= INT_MAX / 1000;
    return *cut ? INT_MAX : (int)(ts->tv_sec * 1000 + (ts->tv_nsec + 999999) / 1000000);
}

/* Out of line: epoll_iterate then saves fewer registers on the usual path. */
static __attribute__((noinline)) int epoll_wait_timed(struct epoll_backend *b, struct epoll_event *events, int max,
                                                      bool block)
{
    for (;;) {
        struct timespec ts;
        bool timed = loom__builtin_wait_time(b->deadline, block, &ts);
#ifdef HAVE_EPOLL_PWAIT2
        /* Nanosecond waits only where millisecond rounding would matter. */
        static _Atomic bool no_pwait2; /* the kernel predates it */
        if (timed && ts.tv_sec == 0 && ts.tv_nsec % 1000000 && !no_pwait2) {
            int n = epoll_pwait2(b->inner, events, max, &ts, NULL);
            if (n >= 0 || errno != ENOSYS)
                return n;
            no_pwait2 = true;
        }
#endif
        bool cut = false;
        int n = epoll_wait(b->inner, events, max, timed ? wait_ms(&ts, &cut) : -1);
        if (n != 0 || !cut)
            return n;
    }
}

static int epoll_wait_for(struct epoll_backend *b, struct epoll_event *events, int max, bool block)
{
    if (block && b->deadline == LOOM_DEADLINE_NONE)
        return epoll_wait(b->inner, events, max, -1); /* the usual busy server: no timespec to make */
    return epoll_wait_timed(b, events, max, block);
}

/* Delivers n collected events. Inline: most iterations deliver one event,
 * and a call would cost as much as the delivery's own bookkeeping. */
static inline __attribute__((always_inline)) void epoll_dispatch(struct epoll_backend *b, const struct epoll_event *events, int n)
{
    bool shed = false;
    for (int i = 0; i < n; i++)
        if (!loom__fd_ready(b->loop, events[i].data.u64, from_epoll(events[i].events)))
            shed |= b->zombies > 0; /* else an event queued before its watch went */
    if (shed)
        epoll_shed(b);
}

static int epoll_iterate(void *self, bool block)
{
    struct epoll_backend *b = self;
    /* On the stack: a callback may iterate again (a nested run). */
    struct epoll_event events[LOOM__EPOLL_BATCH];
    int n = epoll_wait_for(b, events, LOOM__EPOLL_BATCH, block);
    if (n < 0 && errno != EINTR)
        return -errno;
    epoll_dispatch(b, events, n);
    loom_backend_tick(b->loop);
    return 0;
}

static int epoll_get_fd(void *self)
{
    struct epoll_backend *b = self;
    struct epoll_event in = {.events = EPOLLIN};
    if (b->outer >= 0)
        return b->outer;
    int outer = epoll_create1(EPOLL_CLOEXEC);
    if (outer < 0 || epoll_ctl(outer, EPOLL_CTL_ADD, b->inner, &in) < 0) {
        int err = -errno;
        if (outer >= 0)
            close(outer);
        return err;
    }
    return b->outer = outer;
}

static void epoll_destroy(void *self)
{
    struct epoll_backend *b = self;
    close(b->inner);
    if (b->outer >= 0)
        close(b->outer);
    free(b->slots);
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

static struct epoll_backend *epoll_backend_alloc(void)
{
    struct epoll_backend *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->deadline = LOOM_DEADLINE_NONE;
    b->outer = -1;
    b->inner = epoll_create1(EPOLL_CLOEXEC);
    if (b->inner < 0) {
        int err = errno;
        free(b);
        errno = err;
        return NULL;
    }
    return b;
}

int loom__epoll_backend_new(loom_loop **loopp)
{
    struct epoll_backend *b = epoll_backend_alloc();
    if (!b)
        return -errno;
    int r = loom_loop_new_with_backend(loopp, &epoll_ops, b);
    if (r == 0)
        b->loop = *loopp;
    return r;
}

int loom__epoll_set_new(loom_loop *loop, const loom_backend_ops **opsp, void **selfp)
{
    struct epoll_backend *b = epoll_backend_alloc();
    if (!b)
        return -errno;
    b->loop = loop;
    *opsp = &epoll_ops;
    *selfp = b;
    return 0;
}

bool loom__epoll_set_deliver(void *self)
{
    struct epoll_backend *b = self;
    struct epoll_event events[LOOM__EPOLL_BATCH];
    int n = epoll_wait(b->inner, events, LOOM__EPOLL_BATCH, 0);
    if (n > 0)
        epoll_dispatch(b, events, n);
    return n == LOOM__EPOLL_BATCH;
}
