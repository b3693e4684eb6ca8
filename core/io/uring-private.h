/* What file.c (loom_file_*), stream.c and uring.c (the io_uring engine)
 * share. */
#ifndef LOOM_URING_PRIVATE_H
#define LOOM_URING_PRIVATE_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <loom/future.h>
#include "base/list.h"
#if HAVE_VALGRIND_VALGRIND_H
#include <valgrind/memcheck.h>
/* Bytes the kernel wrote through the ring: Valgrind cannot see it do so. */
#define LOOM_URING_WROTE(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))
#else
#define LOOM_URING_WROTE(p, n) ((void)(p), (void)(n))
#endif

/* One operation on the ring, embedded in its owner (a file operation, a
 * stream's recv or send): the owner's memory the kernel uses stays until
 * done runs with the CQE's result (a negative errno, -ECANCELED if
 * cancelled). */
struct loom__uring_op {
    void (*done)(struct loom__uring_op *op, int res);
    bool in_ring; /* an SQE (or its CQE) is outstanding */
    /* During done, for a CQE of loom__uring_recv_select with res > 0: the res bytes,
     * in one of the ring's buffers, which done now owns and gives back with
     * loom__uring_buf_put (at once, or once the bytes are taken). */
    const unsigned char *data;
};

enum file_kind { FILE_OPEN, FILE_READ, FILE_WRITE, FILE_FSYNC, FILE_FDATASYNC, FILE_STAT, FILE_CLOSE };

/* One operation. Its references: the loop side (while listed, until
 * loom__file_op_done), an executor job or the ring while it runs. The last
 * one frees it, closing an open's fd that nobody took. */
struct loom__file_op {
    atomic_int refs;
    enum file_kind kind;
    bool listed;  /* in its file context's list: the future is not settled yet */
    struct loom__uring_op uop; /* while in the ring */
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
/* The loop's ring, made at first use and kept until the loop closes (it
 * then waits for the CQEs of what is in flight); NULL when the engine is off
 * (LOOM_URING=0) or refused, with a static reason in *why (may be NULL). */
struct loom__uring *loom__uring_get(loom_loop *loop, const char **why);
/* Queue op on the ring; the SQEs go to the kernel in one io_uring_enter
 * before the loop polls (or at the end of the ring's completion batch).
 * 0, or a negative errno (ring full, out of memory), op then untouched.
 * A file op: the ring holds a reference to it while it runs. */
int loom__uring_file(struct loom__uring *r, struct loom__file_op *op);
int loom__uring_recv(struct loom__uring *r, struct loom__uring_op *op, int fd, void *buf, size_t len);
int loom__uring_sendmsg(struct loom__uring *r, struct loom__uring_op *op, int fd, const struct msghdr *msg);
/* A multishot accept on the listening fd (kernels from 6.1, as for
 * loom__uring_recv_select; else -EOPNOTSUPP): done runs for each connection
 * with its fd (non-blocking, close-on-exec, done's to keep or close), with
 * op->in_ring still true while more may come; a last CQE, an error or
 * -ECANCELED, ends it with op->in_ring false. */
int loom__uring_accept(struct loom__uring *r, struct loom__uring_op *op, int fd);
/* A connect of fd, non-blocking, to addr (which must stay until done). */
int loom__uring_connect(struct loom__uring *r, struct loom__uring_op *op, int fd, const struct sockaddr *addr,
                        socklen_t len);
/* The size of the ring's receive buffers: the most one recv into them
 * brings. */
#define LOOM__URING_RECV_BUF 4096
/* A recv into one of the ring's own buffers (kernels from 6.1), picked by
 * the kernel when data comes, so that it holds no memory while the socket
 * is idle; done gets data (or -ENOBUFS when every buffer is taken).
 * -EOPNOTSUPP if the ring has no buffers (the caller uses loom__uring_recv). */
int loom__uring_recv_select(struct loom__uring *r, struct loom__uring_op *op, int fd);
/* Gives back the ring buffer holding p, which such a recv's done got
 * (nothing once the loop's ring has closed). */
void loom__uring_buf_put(struct loom__uring *r, const unsigned char *p);
/* The ring if sockets' streams are to use it, else NULL. Opt-in
 * (LOOM_URING_STREAMS=1): as measured, a 1 KiB echo gains 0-15% over
 * readiness at 100 connections, nothing at 1 (docs/architecture.md). */
struct loom__uring *loom__uring_for_streams(loom_loop *loop);
/* Room for n operations always in flight (a stream's recv and send), so
 * that they never find the ring full: false if the ring has none left
 * (the caller then stays on readiness). */
bool loom__uring_reserve(struct loom__uring *r, unsigned n);
void loom__uring_unreserve(struct loom__uring *r, unsigned n);
/* Asks the kernel at once to cancel op; its CQE still comes (-ECANCELED or
 * its result) and ends it. false if the ring had no room to ask. */
bool loom__uring_cancel(struct loom__uring *r, struct loom__uring_op *op);
/* Runs the ring's deferred task work now (IORING_SETUP_DEFER_TASKRUN would
 * leave it to the next poll): a cancelled recv then lets go of its file. */
void loom__uring_run_task_work(struct loom__uring *r);
#else
static inline struct loom__uring *loom__uring_get(loom_loop *loop, const char **why)
{
    (void)loop;
    if (why)
        *why = "built without liburing";
    return NULL;
}
static inline struct loom__uring *loom__uring_for_streams(loom_loop *loop)
{
    (void)loop;
    return NULL;
}
static inline int loom__uring_file(struct loom__uring *r, struct loom__file_op *op)
{
    (void)r;
    (void)op;
    return -ENOSYS;
}
static inline int loom__uring_recv(struct loom__uring *r, struct loom__uring_op *op, int fd, void *buf, size_t len)
{
    (void)r;
    (void)op;
    (void)fd;
    (void)buf;
    (void)len;
    return -ENOSYS;
}
static inline int loom__uring_sendmsg(struct loom__uring *r, struct loom__uring_op *op, int fd,
                                      const struct msghdr *msg)
{
    (void)r;
    (void)op;
    (void)fd;
    (void)msg;
    return -ENOSYS;
}
static inline int loom__uring_accept(struct loom__uring *r, struct loom__uring_op *op, int fd)
{
    (void)r;
    (void)op;
    (void)fd;
    return -ENOSYS;
}
static inline int loom__uring_connect(struct loom__uring *r, struct loom__uring_op *op, int fd,
                                      const struct sockaddr *addr, socklen_t len)
{
    (void)r;
    (void)op;
    (void)fd;
    (void)addr;
    (void)len;
    return -ENOSYS;
}
static inline int loom__uring_recv_select(struct loom__uring *r, struct loom__uring_op *op, int fd)
{
    (void)r;
    (void)op;
    (void)fd;
    return -ENOSYS;
}
static inline void loom__uring_buf_put(struct loom__uring *r, const unsigned char *p)
{
    (void)r;
    (void)p;
}
static inline bool loom__uring_reserve(struct loom__uring *r, unsigned n)
{
    (void)r;
    (void)n;
    return false;
}
static inline void loom__uring_unreserve(struct loom__uring *r, unsigned n)
{
    (void)r;
    (void)n;
}
static inline bool loom__uring_cancel(struct loom__uring *r, struct loom__uring_op *op)
{
    (void)r;
    (void)op;
    return false;
}
static inline void loom__uring_run_task_work(struct loom__uring *r)
{
    (void)r;
}
#endif

#endif
