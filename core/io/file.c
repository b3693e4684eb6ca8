/* loom_file_*: file operations as futures, through the loop's io_uring
 * (uring.c) or the executor. Each loop has one file context (per-loop data
 * and a loop member): the list of its operations, and its ring if it runs.
 * An operation keeps its own buffer, so the caller's is touched only on the
 * loop's thread while its future is pending (see loom/file.h). */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <loom/executor.h>
#include <loom/file.h>
#include "future/future-private.h"
#include "loop/loop-private.h"
#include "io-private.h"
#include "uring-private.h"

/* The most one Linux read or write moves (MAX_RW_COUNT). */
#define FILE_MAX_IO ((size_t)0x7ffff000)

struct file_ctx {
    struct loop_member member; /* fails what is pending at close */
    loom_loop *loop;
    struct list ops; /* struct loom__file_op, not settled yet */
    struct loom__uring *ring;
    bool closing;
};

static const int ctx_key;

void loom__file_op_unref(struct loom__file_op *op)
{
    if (atomic_fetch_sub_explicit(&op->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (op->kind == FILE_OPEN && !op->claimed && op->result >= 0)
        close((int)op->result); /* an open nobody wants any more */
    if (op->job)
        loom_future_unref(op->job);
    if (op->dst != &op->one)
        free(op->dst);
    free(op->buf);
    free(op);
}

static void op_unref_void(void *op)
{
    loom__file_op_unref(op);
}

/* Hands a successful result to the caller's buffers. */
static void op_deliver(struct loom__file_op *op)
{
    const char *p = op->buf;
    size_t left = (size_t)op->result;

    switch (op->kind) {
    case FILE_OPEN:
        op->claimed = true;
        break;
    case FILE_READ:
        for (int i = 0; i < op->dstcnt && left; i++) {
            size_t n = op->dst[i].iov_len < left ? op->dst[i].iov_len : left;
            memcpy(op->dst[i].iov_base, p, n);
            p += n;
            left -= n;
        }
        break;
    case FILE_STAT:
        *op->st_dst = op->st;
        break;
    default:
        break;
    }
}

void loom__file_op_done(struct loom__file_op *op)
{
    struct file_ctx *ctx = op->ctx;
    loom_future *f = op->future;

    if (!op->listed)
        return; /* settled already (the loop closed): the ref goes with the caller's */
    op->listed = false;
    list_unlink(&ctx->ops, &op->node);
    op->future = NULL;
    loom__future_set_cancel_hook(f, NULL, NULL);
    if (loom_future_done(f))
        loom_future_unref(f);
    else if (ctx->closing)
        loom__io_future_fail(f, -ESHUTDOWN, NULL);
    else if (op->result < 0)
        loom__io_future_fail(f, (int)op->result, NULL);
    else {
        op_deliver(op);
        loom_future_resolve_int(f, op->result);
        loom_future_unref(f);
    }
    loom__file_op_unref(op);
}

/* --- the executor path ---------------------------------------------------- */

static int64_t sys_result(int64_t r)
{
    return r < 0 ? -errno : r;
}

static int64_t op_rw(struct loom__file_op *op)
{
    ssize_t n;

    do {
        if (op->kind == FILE_READ)
            n = op->offset < 0 ? read(op->fd, op->buf, op->len) : pread(op->fd, op->buf, op->len, op->offset);
        else
            n = op->offset < 0 ? write(op->fd, op->buf, op->len) : pwrite(op->fd, op->buf, op->len, op->offset);
    } while (n < 0 && errno == EINTR);
    return sys_result(n);
}

static int64_t op_syscall(struct loom__file_op *op)
{
    switch (op->kind) {
    case FILE_OPEN:
        return sys_result(open(op->buf, op->flags | O_CLOEXEC, op->mode));
    case FILE_READ:
    case FILE_WRITE:
        return op_rw(op);
    case FILE_FSYNC:
        return sys_result(fsync(op->fd));
    case FILE_FDATASYNC:
        return sys_result(fdatasync(op->fd));
    case FILE_STAT:
        return sys_result(fstat(op->fd, &op->st));
    case FILE_CLOSE:
        return sys_result(close(op->fd));
    }
    return -EINVAL;
}

/* On a pool thread. */
static int op_work(void *arg, loom_work_result *res)
{
    struct loom__file_op *op = arg;

    (void)res;
    if (!atomic_exchange(&op->taken, true))
        op->result = op_syscall(op);
    return 0;
}

/* The job ended (or was cancelled before it ran): op->result is the call's. */
static void job_done(loom_future *job, void *data)
{
    (void)job;
    loom__file_op_done(data);
}

static int op_run_in_thread(struct file_ctx *ctx, struct loom__file_op *op)
{
    atomic_fetch_add_explicit(&op->refs, 1, memory_order_relaxed);
    op->job = loom_run_in_thread(ctx->loop, op_work, op, op_unref_void);
    if (!op->job) {
        atomic_fetch_sub_explicit(&op->refs, 1, memory_order_relaxed);
        return -errno;
    }
    atomic_fetch_add_explicit(&op->refs, 1, memory_order_relaxed);
    if (loom_future_on_done_full(op->job, job_done, op, op_unref_void) < 0) {
        atomic_fetch_sub_explicit(&op->refs, 1, memory_order_relaxed);
        loom_future_cancel(op->job); /* never runs, or its result is dropped */
        return -ENOMEM;
    }
    return 0;
}

/* --- the file context --------------------------------------------------- */

static void ctx_shutdown(struct loop_member *m)
{
    struct file_ctx *ctx = list_item(m, struct file_ctx, member);

    loop_member_remove(ctx->loop, m);
    ctx->closing = true;
    /* The ring's CQEs come later (the ring drains at close, after this):
     * its references keep those operations' memory until then. */
    while (!list_empty(&ctx->ops)) {
        struct loom__file_op *op = list_item(ctx->ops.first, struct loom__file_op, node);
        if (op->uop.in_ring)
            loom__uring_cancel(ctx->ring, &op->uop);
        /* A job that has not started never will: a close is done here. */
        else if (!atomic_exchange(&op->taken, true) && op->kind == FILE_CLOSE)
            close(op->fd);
        loom__file_op_done(op);
    }
    ctx->ring = NULL;
}

static void ctx_dump(struct loop_member *m, FILE *out)
{
    struct file_ctx *ctx = list_item(m, struct file_ctx, member);
    size_t n = 0;

    for (struct list_node *i = ctx->ops.first; i; i = i->next)
        n++;
    fprintf(out, "files: %zu operations pending (%s)", n, ctx->ring ? "io_uring" : "executor");
}

static const struct loop_member_ops ctx_member_ops = {
    .phase = LOOP_PHASE_RELEASES,
    .shutdown = ctx_shutdown,
    .dump = ctx_dump,
};

static void ctx_free(void *ctx)
{
    free(ctx); /* the member's shutdown released the rest */
}

/* The loop's file context, made at first use; NULL with errno set. */
static struct file_ctx *ctx_get(loom_loop *loop)
{
    struct file_ctx *ctx;
    int r = loop_check(loop, __func__);

    if (r < 0) {
        errno = -r;
        return NULL;
    }
    ctx = loom_loop_get_data(loop, &ctx_key);
    if (ctx)
        return ctx;
    ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return NULL;
    ctx->loop = loop;
    ctx->member.ops = &ctx_member_ops;
    ctx->ring = loom__uring_get(loop, NULL);
    r = loom_loop_set_data(loop, &ctx_key, ctx, ctx_free);
    if (r < 0) {
        free(ctx);
        errno = -r;
        return NULL;
    }
    loop_member_add(loop, &ctx->member);
    return ctx;
}

/* --- operations ------------------------------------------------------------ */

static struct loom__file_op *op_new(enum file_kind kind, int fd, size_t len)
{
    struct loom__file_op *op = calloc(1, sizeof(*op));

    if (!op)
        return NULL;
    /* Zeroed: what the kernel writes there is defined for Valgrind too. */
    if (len && !(op->buf = calloc(1, len))) {
        free(op);
        return NULL;
    }
    atomic_init(&op->refs, 1);
    atomic_init(&op->taken, false);
    op->kind = kind;
    op->fd = fd;
    op->len = len;
    op->offset = -1;
    op->result = -ECANCELED; /* what a job that never ran reports */
    op->dst = &op->one;
    return op;
}

static void op_cancelled(void *data)
{
    struct loom__file_op *op = data;
    struct file_ctx *ctx = op->ctx;

    if (op->uop.in_ring)
        loom__uring_cancel(ctx->ring, &op->uop);
    else if (op->job)
        loom_future_cancel(op->job);
}

/* Starts op (which it takes) on loop; the caller's future, or NULL with errno. */
static loom_future *op_start(loom_loop *loop, struct loom__file_op *op)
{
    struct file_ctx *ctx = op ? ctx_get(loop) : NULL;
    int r = 0;

    if (!ctx || !(op->future = loom_future_new(loop))) {
        r = op ? -errno : -ENOMEM;
        goto fail;
    }
    op->ctx = ctx;
    if (!ctx->ring || loom__uring_file(ctx->ring, op) < 0)
        r = op_run_in_thread(ctx, op);
    if (r < 0)
        goto fail;
    op->listed = true;
    list_push_back(&ctx->ops, &op->node);
    loom__future_set_cancel_hook(op->future, op_cancelled, op);
    return loom_future_ref(op->future);
fail:
    if (op) {
        if (op->future)
            loom_future_unref(op->future);
        op->future = NULL;
        loom__file_op_unref(op);
    }
    errno = -r;
    return NULL;
}

static bool offset_ok(int64_t offset)
{
    if (offset >= -1)
        return true;
    errno = EINVAL;
    return false;
}

LOOM_API loom_future *loom_file_open(loom_loop *loop, const char *path, int flags, mode_t mode)
{
    struct loom__file_op *op;

    if (!path) {
        errno = EINVAL;
        return NULL;
    }
    op = op_new(FILE_OPEN, -1, 0);
    if (op && !(op->buf = strdup(path))) {
        loom__file_op_unref(op);
        op = NULL;
    }
    if (op) {
        op->flags = flags;
        op->mode = mode;
    }
    return op_start(loop, op);
}

/* The sum of iov's lengths, capped at FILE_MAX_IO; false (EINVAL) for a bad
 * vector. */
static bool iov_total(const struct iovec *iov, int iovcnt, size_t *totalp)
{
    size_t total = 0;

    if (iovcnt < 0 || iovcnt > IOV_MAX || (iovcnt && !iov)) {
        errno = EINVAL;
        return false;
    }
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len < FILE_MAX_IO - total ? iov[i].iov_len : FILE_MAX_IO - total;
    *totalp = total;
    return true;
}

LOOM_API loom_future *loom_file_readv(loom_loop *loop, int fd, const struct iovec *iov, int iovcnt,
                                      int64_t offset)
{
    struct loom__file_op *op;
    size_t total;

    if (!offset_ok(offset) || !iov_total(iov, iovcnt, &total))
        return NULL;
    op = op_new(FILE_READ, fd, total);
    if (op && iovcnt > 1 && !(op->dst = malloc(sizeof(*iov) * (size_t)iovcnt))) {
        op->dst = &op->one;
        loom__file_op_unref(op);
        op = NULL;
    }
    if (op) {
        if (iovcnt)
            memcpy(op->dst, iov, sizeof(*iov) * (size_t)iovcnt);
        op->dstcnt = iovcnt;
        op->offset = offset;
    }
    return op_start(loop, op);
}

LOOM_API loom_future *loom_file_read(loom_loop *loop, int fd, void *buf, size_t len, int64_t offset)
{
    struct iovec iov = {.iov_base = buf, .iov_len = len};

    if (!buf && len) {
        errno = EINVAL;
        return NULL;
    }
    return loom_file_readv(loop, fd, &iov, 1, offset);
}

LOOM_API loom_future *loom_file_writev(loom_loop *loop, int fd, const struct iovec *iov, int iovcnt,
                                       int64_t offset)
{
    struct loom__file_op *op;
    size_t total;

    if (!offset_ok(offset) || !iov_total(iov, iovcnt, &total))
        return NULL;
    op = op_new(FILE_WRITE, fd, total);
    if (op) {
        size_t off = 0;
        for (int i = 0; off < total; i++) {
            size_t n = iov[i].iov_len < total - off ? iov[i].iov_len : total - off;
            memcpy((char *)op->buf + off, iov[i].iov_base, n);
            off += n;
        }
        op->offset = offset;
    }
    return op_start(loop, op);
}

LOOM_API loom_future *loom_file_write(loom_loop *loop, int fd, const void *buf, size_t len, int64_t offset)
{
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};

    if (!buf && len) {
        errno = EINVAL;
        return NULL;
    }
    return loom_file_writev(loop, fd, &iov, 1, offset);
}

LOOM_API loom_future *loom_file_fsync(loom_loop *loop, int fd)
{
    return op_start(loop, op_new(FILE_FSYNC, fd, 0));
}

LOOM_API loom_future *loom_file_fdatasync(loom_loop *loop, int fd)
{
    return op_start(loop, op_new(FILE_FDATASYNC, fd, 0));
}

LOOM_API loom_future *loom_file_stat(loom_loop *loop, int fd, struct stat *st)
{
    struct loom__file_op *op;

    if (!st) {
        errno = EINVAL;
        return NULL;
    }
    op = op_new(FILE_STAT, fd, 0);
    if (op)
        op->st_dst = st;
    return op_start(loop, op);
}

LOOM_API loom_future *loom_file_close(loom_loop *loop, int fd)
{
    return op_start(loop, op_new(FILE_CLOSE, fd, 0));
}

LOOM_API const char *loom_file_engine(loom_loop *loop)
{
    struct file_ctx *ctx = ctx_get(loop);

    if (!ctx)
        return NULL;
    return ctx->ring ? "io_uring" : "executor";
}
