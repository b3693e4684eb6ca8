/* What file.c (loom_file_*) and uring.c (the io_uring engine) share. */
#ifndef LOOM_URING_PRIVATE_H
#define LOOM_URING_PRIVATE_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <loom/future.h>
#include "base/list.h"

enum file_kind { FILE_OPEN, FILE_READ, FILE_WRITE, FILE_FSYNC, FILE_FDATASYNC, FILE_STAT, FILE_CLOSE };

/* One operation. Its references: the loop side (while listed, until
 * loom__file_op_done), an executor job or the ring while it runs. The last
 * one frees it, closing an open's fd that nobody took. */
struct loom__file_op {
    atomic_int refs;
    enum file_kind kind;
    bool listed;  /* in its file context's list: the future is not settled yet */
    bool in_ring; /* an SQE (or its CQE) is outstanding */
    bool claimed; /* an open's fd went to the user */
    atomic_bool taken; /* the system call is the pool thread's, or the close's */
    struct list_node node;
    void *ctx;            /* the loop's file context (loop side only) */
    loom_future *future;  /* the user's (loop side's reference) */
    loom_future *job;     /* the executor's, or NULL */
    int fd;
    int flags;            /* open */
    mode_t mode;          /* open */
    int64_t offset;       /* -1: the current position */
    size_t len;           /* of buf */
    int64_t result;       /* the system call's: >= 0, or a negative errno */
    void *buf;            /* the operation's own data (an open's path) */
    struct iovec *dst;    /* read: the caller's buffers, filled at completion */
    int dstcnt;
    struct stat *st_dst;  /* stat: the caller's */
    struct stat st;       /* stat: the operation's */
    struct iovec one;     /* dst for a single buffer */
};

/* Ends op on the loop side with op->result, the system call's: delivers it
 * if the future is still pending, drops the loop's reference. Does nothing
 * for an op that is settled already (at close). */
void loom__file_op_done(struct loom__file_op *op);

/* Drops a reference (any thread). */
void loom__file_op_unref(struct loom__file_op *op);

struct loom__uring;

#ifdef HAVE_LIBURING
/* A ring for loop, watched through its fd; NULL with a static reason in
 * *why (the system call that refused and its error). */
struct loom__uring *loom__uring_new(loom_loop *loop, const char **why);
/* Queues and submits op (taking a reference while it runs): 0, or a
 * negative errno (ring full or refused), the op then untouched. */
int loom__uring_submit(struct loom__uring *r, struct loom__file_op *op);
/* Asks the kernel to cancel op; its CQE still comes (-ECANCELED or its
 * result) and ends it. */
void loom__uring_cancel(struct loom__uring *r, struct loom__file_op *op);
/* Waits up to timeout_ns for the CQEs of everything in flight, ending each
 * op; returns how many are still in flight. */
unsigned loom__uring_drain(struct loom__uring *r, int64_t timeout_ns);
/* Unwatches and closes the ring. Ops still in flight are abandoned (their
 * memory is left to the kernel: never freed). */
void loom__uring_free(struct loom__uring *r);
#else
static inline struct loom__uring *loom__uring_new(loom_loop *loop, const char **why)
{
    (void)loop;
    *why = "built without liburing";
    return NULL;
}
static inline int loom__uring_submit(struct loom__uring *r, struct loom__file_op *op)
{
    (void)r;
    (void)op;
    return -ENOSYS;
}
static inline void loom__uring_cancel(struct loom__uring *r, struct loom__file_op *op)
{
    (void)r;
    (void)op;
}
static inline unsigned loom__uring_drain(struct loom__uring *r, int64_t timeout_ns)
{
    (void)r;
    (void)timeout_ns;
    return 0;
}
static inline void loom__uring_free(struct loom__uring *r)
{
    (void)r;
}
#endif

#endif
