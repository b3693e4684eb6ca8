/* The io_uring engine of loom_file_*: one ring per loop, made at its first
 * file call and driven from the loop's thread. Its completions are signalled
 * by the ring fd itself (readable while the completion queue holds entries),
 * watched with an ordinary loom_fd_watch, so it runs on every host. Each
 * SQE's user data is its operation (which it holds a reference to); a
 * cancel's SQE has none. No SQPOLL: a submission is one io_uring_enter. */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include "base/clock.h"
#include "loop/loop-private.h"
#include "uring-lib.h"
#include "uring-private.h"

#define RING_ENTRIES 256

struct loom__uring {
    struct io_uring ring;
    const struct loom__liburing *lib;
    loom_loop *loop;
    unsigned inflight; /* operations whose CQE has not come */
    unsigned limit;    /* the completion queue's size: never more in flight */
};

/* What loom_file_* submits (IORING_OP_CLOSE and _OPENAT came last, in 5.6). */
static const unsigned char needed_ops[] = {IORING_OP_OPENAT, IORING_OP_READ,  IORING_OP_WRITE,
                                           IORING_OP_FSYNC,  IORING_OP_STATX, IORING_OP_CLOSE,
                                           IORING_OP_ASYNC_CANCEL};

static const char *setup_failure(int err)
{
    switch (err) {
    case -ENOSYS:
        return "io_uring_setup: ENOSYS, the kernel has no io_uring";
    case -EPERM:
        return "io_uring_setup: EPERM, refused (seccomp, or kernel.io_uring_disabled)";
    case -ENOMEM:
        return "io_uring_setup: ENOMEM (the locked-memory limit?)";
    default:
        return "io_uring_setup failed";
    }
}

static bool has_needed_ops(struct loom__uring *r)
{
    struct io_uring_probe *probe = r->lib->io_uring_get_probe_ring(&r->ring);
    bool ok = probe != NULL;

    for (size_t i = 0; ok && i < sizeof(needed_ops); i++)
        ok = io_uring_opcode_supported(probe, needed_ops[i]);
    if (probe)
        r->lib->io_uring_free_probe(probe);
    return ok;
}

static void statx_to_stat(const struct statx *x, struct stat *st)
{
    memset(st, 0, sizeof(*st));
    st->st_dev = makedev(x->stx_dev_major, x->stx_dev_minor);
    st->st_ino = x->stx_ino;
    st->st_mode = x->stx_mode;
    st->st_nlink = x->stx_nlink;
    st->st_uid = x->stx_uid;
    st->st_gid = x->stx_gid;
    st->st_rdev = makedev(x->stx_rdev_major, x->stx_rdev_minor);
    st->st_size = (off_t)x->stx_size;
    st->st_blksize = (blksize_t)x->stx_blksize;
    st->st_blocks = (blkcnt_t)x->stx_blocks;
    st->st_atim = (struct timespec){x->stx_atime.tv_sec, x->stx_atime.tv_nsec};
    st->st_mtim = (struct timespec){x->stx_mtime.tv_sec, x->stx_mtime.tv_nsec};
    st->st_ctim = (struct timespec){x->stx_ctime.tv_sec, x->stx_ctime.tv_nsec};
}

/* One CQE: ends its operation (a cancel's own CQE carries nothing). */
static void complete(struct loom__uring *r, const struct io_uring_cqe *cqe)
{
    struct loom__file_op *op = io_uring_cqe_get_data(cqe);

    if (!op)
        return;
    if (op->kind == FILE_STAT && cqe->res == 0)
        statx_to_stat(op->buf, &op->st);
    op->result = cqe->res;
    op->in_ring = false;
    r->inflight--;
    loom__file_op_done(op);
    loom__file_op_unref(op);
}

static void reap(struct loom__uring *r)
{
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;

    io_uring_for_each_cqe(&r->ring, head, cqe)
    {
        complete(r, cqe);
        n++;
    }
    io_uring_cq_advance(&r->ring, n);
}

static void ring_ready(loom_loop *loop, int fd, unsigned events, void *data)
{
    struct loom__uring *r = data;

    (void)loop;
    (void)fd;
    (void)events;
    reap(r);
    if (io_uring_sq_ready(&r->ring))
        r->lib->io_uring_submit(&r->ring); /* one the kernel pushed back (-EBUSY) */
}

struct loom__uring *loom__uring_new(loom_loop *loop, const char **why)
{
    struct loom__uring *r = calloc(1, sizeof(*r));
    int err;

    if (!r) {
        *why = "out of memory";
        return NULL;
    }
    if (!(r->lib = loom__liburing(why))) {
        free(r);
        return NULL;
    }
    err = r->lib->io_uring_queue_init(RING_ENTRIES, &r->ring, 0);
    if (err < 0) {
        *why = setup_failure(err);
        free(r);
        return NULL;
    }
    if (!has_needed_ops(r))
        *why = "the kernel's io_uring lacks an operation loom needs (5.6 has them all)";
    else if (loom_fd_watch(loop, r->ring.ring_fd, LOOM_READ, ring_ready, r, NULL) < 0)
        *why = "the ring fd could not be watched";
    else {
        *why = "io_uring_setup succeeded";
        r->loop = loop;
        r->limit = r->ring.cq.ring_entries;
        return r;
    }
    r->lib->io_uring_queue_exit(&r->ring);
    free(r);
    return NULL;
}

static struct io_uring_sqe *get_sqe(struct loom__uring *r)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

    if (!sqe && r->lib->io_uring_submit(&r->ring) >= 0)
        sqe = io_uring_get_sqe(&r->ring);
    return sqe;
}

static void prep(struct io_uring_sqe *sqe, struct loom__file_op *op)
{
    switch (op->kind) {
    case FILE_OPEN:
        io_uring_prep_openat(sqe, AT_FDCWD, op->buf, op->flags | O_CLOEXEC, op->mode);
        break;
    case FILE_READ:
        io_uring_prep_read(sqe, op->fd, op->buf, (unsigned)op->len, (__u64)op->offset);
        break;
    case FILE_WRITE:
        io_uring_prep_write(sqe, op->fd, op->buf, (unsigned)op->len, (__u64)op->offset);
        break;
    case FILE_FSYNC:
        io_uring_prep_fsync(sqe, op->fd, 0);
        break;
    case FILE_FDATASYNC:
        io_uring_prep_fsync(sqe, op->fd, IORING_FSYNC_DATASYNC);
        break;
    case FILE_STAT:
        io_uring_prep_statx(sqe, op->fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, op->buf);
        break;
    case FILE_CLOSE:
        io_uring_prep_close(sqe, op->fd);
        break;
    }
    io_uring_sqe_set_data(sqe, op);
}

int loom__uring_submit(struct loom__uring *r, struct loom__file_op *op)
{
    struct io_uring_sqe *sqe;

    if (r->inflight >= r->limit)
        return -EBUSY;
    if (op->kind == FILE_STAT && !op->buf && !(op->buf = calloc(1, sizeof(struct statx))))
        return -ENOMEM;
    if (!(sqe = get_sqe(r)))
        return -EBUSY;
    prep(sqe, op);
    op->in_ring = true;
    atomic_fetch_add_explicit(&op->refs, 1, memory_order_relaxed);
    r->inflight++;
    /* A refusal (-EBUSY) leaves the SQE queued: ring_ready submits it. */
    r->lib->io_uring_submit(&r->ring);
    return 0;
}

void loom__uring_cancel(struct loom__uring *r, struct loom__file_op *op)
{
    struct io_uring_sqe *sqe = get_sqe(r);

    if (!sqe)
        return; /* the operation then ends by itself, or at the drain's bound */
    io_uring_prep_cancel(sqe, op, 0);
    io_uring_sqe_set_data(sqe, NULL);
    r->lib->io_uring_submit(&r->ring);
}

unsigned loom__uring_drain(struct loom__uring *r, int64_t timeout_ns)
{
    int64_t deadline = clock_now_ns() + timeout_ns;

    reap(r);
    while (r->inflight) {
        int64_t left = deadline - clock_now_ns();
        struct __kernel_timespec ts = {.tv_sec = left / 1000000000, .tv_nsec = left % 1000000000};
        struct io_uring_cqe *cqe;
        int err;

        if (left <= 0)
            break;
        err = r->lib->io_uring_wait_cqe_timeout(&r->ring, &cqe, &ts);
        if (err < 0 && err != -EINTR)
            break;
        reap(r);
    }
    return r->inflight;
}

void loom__uring_free(struct loom__uring *r)
{
    if (!r)
        return;
    loom__fd_unwatch(r->loop, r->ring.ring_fd);
    r->lib->io_uring_queue_exit(&r->ring);
    free(r);
}
