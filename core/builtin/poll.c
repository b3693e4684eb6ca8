/* Built-in backend on poll(2): portable, O(n) per iteration. */
#include "config.h"
#include <poll.h>
#include <stdlib.h>
#include "builtin.h"

struct poll_watch {
    size_t index; /* in pfds */
};

struct poll_backend {
    loom_loop *loop;
    int64_t deadline;
    struct pollfd *pfds;        /* fd is -1 for interest 0: poll skips it */
    struct poll_watch **watches; /* parallel to pfds */
    uint64_t *tokens;           /* parallel to pfds */
    size_t len, cap;
};

static short to_poll(unsigned events)
{
    return (short)((events & LOOM_READ ? POLLIN : 0) | (events & LOOM_WRITE ? POLLOUT : 0));
}

static unsigned from_poll(short ev)
{
    return (ev & (POLLIN | POLLPRI) ? LOOM_READ : 0) | (ev & POLLOUT ? LOOM_WRITE : 0) |
           (ev & POLLHUP ? LOOM_HUP : 0) | (ev & POLLERR ? LOOM_ERR : 0) |
           (ev & POLLNVAL ? LOOM_ERR | LOOM_BACKEND_NVAL : 0);
}

static int poll_watch_add(void *self, int fd, uint64_t token, unsigned events, void **watchp)
{
    struct poll_backend *b = self;
    if (b->len == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        struct pollfd *pfds = realloc(b->pfds, cap * sizeof(*pfds));
        if (pfds)
            b->pfds = pfds;
        struct poll_watch **watches = realloc(b->watches, cap * sizeof(*watches));
        if (watches)
            b->watches = watches;
        uint64_t *tokens = realloc(b->tokens, cap * sizeof(*tokens));
        if (tokens)
            b->tokens = tokens;
        if (!pfds || !watches || !tokens)
            return -ENOMEM;
        b->cap = cap;
    }
    struct poll_watch *w = malloc(sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->index = b->len++;
    b->pfds[w->index] = (struct pollfd){.fd = events ? fd : -1, .events = to_poll(events)};
    b->watches[w->index] = w;
    b->tokens[w->index] = token;
    *watchp = w;
    return 0;
}

static int poll_watch_set(void *self, void *watch, int fd, unsigned events)
{
    struct poll_backend *b = self;
    struct pollfd *p = &b->pfds[((struct poll_watch *)watch)->index];
    p->fd = events ? fd : -1;
    p->events = to_poll(events);
    return 0;
}

static void poll_watch_del(void *self, void *watch, int fd)
{
    struct poll_backend *b = self;
    size_t i = ((struct poll_watch *)watch)->index;
    size_t last = --b->len;
    if (i != last) {
        b->pfds[i] = b->pfds[last];
        b->watches[i] = b->watches[last];
        b->tokens[i] = b->tokens[last];
        b->watches[i]->index = i;
    }
    free(watch);
}

static void poll_set_deadline(void *self, int64_t when_ns)
{
    ((struct poll_backend *)self)->deadline = when_ns;
}

struct poll_event {
    uint64_t token;
    unsigned events;
};

static int poll_iterate(void *self, bool block)
{
    struct poll_backend *b = self;
    struct timespec ts;
    bool timed = loom__builtin_wait_time(b->deadline, block, &ts);
    int n = ppoll(b->pfds, b->len, timed ? &ts : NULL, NULL);
    if (n < 0 && errno != EINTR)
        return -errno;
    /* Collect first: callbacks change pfds while we deliver. */
    struct poll_event stack[64], *ready = stack;
    if (n > 64 && !(ready = malloc((size_t)n * sizeof(*ready))))
        return -ENOMEM;
    int count = 0;
    for (size_t i = 0; i < b->len && count < n; i++)
        if (b->pfds[i].revents)
            ready[count++] = (struct poll_event){b->tokens[i], from_poll(b->pfds[i].revents)};
    for (int i = 0; i < count; i++)
        loom_backend_fd_ready(b->loop, ready[i].token, ready[i].events);
    if (ready != stack)
        free(ready);
    loom_backend_tick(b->loop);
    return 0;
}

static void poll_destroy(void *self)
{
    struct poll_backend *b = self;
    free(b->pfds);
    free(b->watches);
    free(b->tokens);
    free(b);
}

static const loom_backend_ops poll_ops = {
    .name = "poll",
    .caps = LOOM_BACKEND_CAN_NEST,
    .watch_add = poll_watch_add,
    .watch_set = poll_watch_set,
    .watch_del = poll_watch_del,
    .set_deadline = poll_set_deadline,
    .iterate = poll_iterate,
    .destroy = poll_destroy,
};

int loom__poll_backend_new(loom_loop **loopp)
{
    struct poll_backend *b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    b->deadline = LOOM_DEADLINE_NONE;
    int r = loom_loop_new_with_backend(loopp, &poll_ops, b);
    if (r == 0)
        b->loop = *loopp;
    return r;
}
