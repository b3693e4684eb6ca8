/* fd readers and writers: one backend watch per fd, readers and writers
 * multiplexed onto it. */
#include "config.h"
#include <fcntl.h>
#include <stdlib.h>
#include "loop-private.h"

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

static void unwatch(loom_loop *loop, int fd, struct fd_entry *e)
{
    loop->ops->watch_del(loop->backend, e->watch, fd);
    e->watch = NULL;
    e->gen++;
    e->suspended = false;
    loop->watches--;
}

static int add_side(loom_loop *loop, int fd, unsigned side, loom_fd_callback cb, void *data)
{
    LOOP_CHECK(loop);
    if (!cb)
        return -EINVAL;
    if (fd < 0 || fcntl(fd, F_GETFD) < 0)
        return -EBADF;
    int r = fd_table_reserve(loop, fd);
    if (r < 0)
        return r;
    struct fd_entry *e = &loop->fds[fd];
    if (e->interest & side)
        return -EEXIST;
    if (e->suspended)
        unwatch(loop, fd, e); /* the fd was closed under us: start afresh */
    unsigned interest = e->interest | side;
    if (e->watch) {
        r = loop->ops->watch_set(loop->backend, e->watch, fd, interest);
    } else {
        r = loop->ops->watch_add(loop->backend, fd, fd_token(fd, e->gen), interest, &e->watch);
        if (r == 0)
            loop->watches++;
    }
    if (r < 0) {
        if (!e->watch)
            e->interest = 0; /* a suspended watch went with its closed fd */
        return r;
    }
    e->interest = interest;
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
    if (fd >= loop->fds_size || !(loop->fds[fd].interest & side))
        return -ENOENT;
    struct fd_entry *e = &loop->fds[fd];
    e->interest &= ~side;
    if (!e->interest)
        unwatch(loop, fd, e);
    else if (!e->suspended)
        loop->ops->watch_set(loop->backend, e->watch, fd, e->interest);
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

/* The entry for token if the event is not stale. */
static struct fd_entry *live_entry(loom_loop *loop, uint64_t token)
{
    int fd = (int)(uint32_t)token;
    if (fd >= loop->fds_size)
        return NULL;
    struct fd_entry *e = &loop->fds[fd];
    return e->watch && e->gen == (uint32_t)(token >> 32) ? e : NULL;
}

void loom_backend_fd_ready(loom_loop *loop, uint64_t token, unsigned events)
{
    if (atomic_load_explicit(&loop->closed, memory_order_relaxed))
        return;
    if (token == WAKE_TOKEN) {
        wake_drain(loop->wake_fds); /* the tick that follows takes the inbox */
        return;
    }
    struct fd_entry *e = live_entry(loop, token);
    if (!e)
        return;
    int fd = (int)(uint32_t)token;
    if (events & LOOM_BACKEND_NVAL) {
        loop->ops->watch_set(loop->backend, e->watch, fd, 0);
        e->suspended = true;
        loom_loop_report(loop, -EBADF, "fd %d was closed while watched; its watch is suspended", fd);
    }
    /* Not "dispatching": what the callbacks schedule is armed at once, in
     * case one of them runs a nested loop before the tick that follows. */
    loop->depth++;
    const unsigned problems = LOOM_HUP | LOOM_ERR;
    if ((e->interest & LOOM_READ) && (events & (LOOM_READ | problems)))
        e->on_read(loop, fd, events & (LOOM_READ | problems), e->read_data);
    /* The reader may have removed the writer, closed the fd or grown the table. */
    e = live_entry(loop, token);
    if (e && (e->interest & LOOM_WRITE) && (events & (LOOM_WRITE | problems)))
        e->on_write(loop, fd, events & (LOOM_WRITE | problems), e->write_data);
    loop->depth--;
}

void fd_table_close(loom_loop *loop)
{
    for (int fd = 0; fd < loop->fds_size; fd++)
        if (loop->fds[fd].watch)
            unwatch(loop, fd, &loop->fds[fd]);
    free(loop->fds);
    loop->fds = NULL;
    loop->fds_size = 0;
}
