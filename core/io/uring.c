/* The io_uring engine: one ring per loop, made at its first file or socket
 * stream and driven from the loop's thread. Its completions are signalled
 * through one fd watched with an ordinary loom_fd_watch, so it runs on every
 * host: where the kernel has it (6.1), the ring defers its task work to the
 * loop's io_uring_enter and signals an eventfd (without that, each completion
 * that finds the loop asleep interrupts its poll with EINTR); elsewhere the
 * ring fd itself (readable while the completion queue holds entries). Each
 * SQE's user data is its struct loom__uring_op; a cancel's has none. SQEs
 * are batched: one io_uring_enter per completion batch and one before the
 * loop polls, not one per operation. No SQPOLL. */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "base/clock.h"
#include "loop/loop-private.h"
#include "uring-lib.h"
#include "uring-private.h"

/* Submission queue entries, and the completion queue's: the most in flight. */
#define RING_ENTRIES 1024
#define RING_CQ_ENTRIES 16384
/* Completion queue entries never reserved for streams: files' room. */
#define FILE_ROOM 1024
/* The buffers that recvs with buffer select land in: the kernel picks one
 * when data comes, so a recv waiting on an idle socket holds none. */
#define RECV_BUFS 256
#define RECV_BUF_SIZE LOOM__URING_RECV_BUF
#define RECV_GROUP 0
/* How long closing the loop waits for the CQEs of what was cancelled. */
#define DRAIN_NS 1000000000

struct loom__uring {
    struct loop_member member; /* drains and closes the ring at loop close */
    struct io_uring ring;
    const struct loom__liburing *lib;
    loom_loop *loop;
    const char *why; /* why the engine runs or not */
    bool on;         /* ring is set up and watched */
    bool reaping;    /* in ring_ready: it submits at the end ... */
    const void *reap_frame; /* ... what its callbacks queue (not a nested run's) */
    bool hooked;     /* a BEFORE_POLL hook will submit */
    loom_handle hook;
    unsigned inflight; /* operations whose CQE has not come */
    unsigned limit;    /* the completion queue's size: never more in flight */
    unsigned reserved; /* entries the streams on the ring hold */
    bool streams;      /* sockets' streams may use it (LOOM_URING_STREAMS=1) */
    bool deferred;     /* task work deferred (6.1): multishot accept (5.19) is there too */
    int event_fd;      /* signals deferred task work; -1: the ring fd signals */
    struct io_uring_buf_ring *br; /* RECV_BUFS buffers for recvs with buffer select, or NULL */
    unsigned char *bufs;
};

static const int ring_key;

/* What loom submits (IORING_OP_CLOSE and _OPENAT came last, in 5.6). */
static const unsigned char needed_ops[] = {IORING_OP_OPENAT, IORING_OP_READ,    IORING_OP_WRITE,
                                           IORING_OP_FSYNC,  IORING_OP_STATX,   IORING_OP_CLOSE,
                                           IORING_OP_RECV,   IORING_OP_SENDMSG, IORING_OP_ASYNC_CANCEL,
                                           IORING_OP_ACCEPT, IORING_OP_CONNECT};

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

/* A file op's CQE: its result, then the ring's reference goes. */
static void file_done(struct loom__uring_op *uop, int res)
{
    struct loom__file_op *op = list_item(uop, struct loom__file_op, uop);

    if (op->kind == FILE_STAT && res == 0)
        statx_to_stat(op->buf, &op->st);
    op->result = res;
    loom__file_op_done(op);
    loom__file_op_unref(op);
}

static unsigned char *buf_at(struct loom__uring *r, unsigned bid)
{
    return r->bufs + (size_t)bid * RECV_BUF_SIZE;
}

static void buf_give_back(struct loom__uring *r, unsigned bid)
{
    io_uring_buf_ring_add(r->br, buf_at(r, bid), RECV_BUF_SIZE, (unsigned short)bid,
                          io_uring_buf_ring_mask(RECV_BUFS), 0);
    io_uring_buf_ring_advance(r->br, 1);
}

/* The recvs' buffers, registered with the ring; none (NULL) if the kernel
 * takes no buffer ring. */
static void bufs_setup(struct loom__uring *r)
{
    size_t ring_size = RECV_BUFS * sizeof(struct io_uring_buf);
    void *br = mmap(NULL, ring_size, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    struct io_uring_buf_reg reg = {.ring_addr = (uintptr_t)br, .ring_entries = RECV_BUFS, .bgid = RECV_GROUP};

    if (br == MAP_FAILED)
        return;
    if (!(r->bufs = malloc((size_t)RECV_BUFS * RECV_BUF_SIZE)) ||
        r->lib->io_uring_register_buf_ring(&r->ring, &reg, 0) < 0) {
        free(r->bufs);
        r->bufs = NULL;
        munmap(br, ring_size);
        return;
    }
    r->br = br;
    io_uring_buf_ring_init(r->br);
    for (unsigned bid = 0; bid < RECV_BUFS; bid++)
        buf_give_back(r, bid);
}

static void bufs_free(struct loom__uring *r)
{
    if (r->br)
        munmap(r->br, RECV_BUFS * sizeof(struct io_uring_buf));
    free(r->bufs);
    r->br = NULL;
    r->bufs = NULL;
}

/* Takes one CQE off the ring before ending its operation, so that a nested
 * loop run inside the completion never sees it again; false if none. */
static bool reap_one(struct loom__uring *r)
{
    struct io_uring_cqe *cqe = NULL;
    struct loom__uring_op *op;
    unsigned head, flags;
    int res;

    io_uring_for_each_cqe(&r->ring, head, cqe)
        break; /* the first, inline: io_uring_peek_cqe may call into liburing.so */
    if (!cqe)
        return false;
    op = io_uring_cqe_get_data(cqe);
    res = cqe->res;
    flags = cqe->flags;
    io_uring_cqe_seen(&r->ring, cqe);
    if (op) { /* a cancel's own CQE carries nothing */
        if (!(flags & IORING_CQE_F_MORE)) {
            op->in_ring = false;
            r->inflight--;
        }
        op->data = flags & IORING_CQE_F_BUFFER ? buf_at(r, flags >> IORING_CQE_BUFFER_SHIFT) : NULL;
        op->done(op, res); /* the buffer is done's to give back (op may be gone now) */
    } else if (flags & IORING_CQE_F_BUFFER) {
        buf_give_back(r, flags >> IORING_CQE_BUFFER_SHIFT);
    }
    return true;
}

static void reap(struct loom__uring *r)
{
    while (reap_one(r))
        ;
}

static void submit(struct loom__uring *r)
{
    if (io_uring_sq_ready(&r->ring))
        r->lib->io_uring_submit(&r->ring); /* a refusal (-EBUSY) stays queued for the next */
}

/* Each completion's callbacks run before the next CQE (as a readiness
 * stream's do before the next fd is read); the SQEs they queued (an echo's
 * send, the next recv) go in one enter at the end. */
static void ring_ready(loom_loop *loop, int fd, unsigned events, void *data)
{
    struct loom__uring *r = data;
    bool was = r->reaping;
    const void *was_frame = r->reap_frame;
    uint64_t mark = loop->ready.tail;

    (void)events;
    if (r->event_fd >= 0) {
        uint64_t n;
        if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
            loom_loop_report(loop, -errno, "io_uring: reading its eventfd failed");
        /* Runs the deferred task work, which posts the CQEs, before they are read. */
        r->lib->io_uring_submit_and_get_events(&r->ring);
    }
    r->reaping = true;
    r->reap_frame = loop->frame;
    while (reap_one(r)) {
        loom__loop_run_completion(loop, mark);
        mark = loop->ready.tail;
    }
    r->reaping = was;
    r->reap_frame = was_frame;
    submit(r);
}

static void flush_hook(loom_loop *loop, void *data)
{
    struct loom__uring *r = data;

    r->hooked = false;
    loom_hook_remove(loop, r->hook);
    submit(r);
}

/* An SQE was queued: it goes at the end of the completion batch, or before
 * the loop polls. At once outside the loop's callbacks (the loop may poll
 * before any tick) and while hooks run (a BEFORE_POLL hook added from one
 * would wait a round). */
static void schedule_submit(struct loom__uring *r)
{
    if ((r->reaping && r->loop->frame == r->reap_frame) || r->hooked)
        return;
    if (!r->loop->depth || r->loop->hooks.running ||
        loom_hook_add(r->loop, LOOM_HOOK_BEFORE_POLL, flush_hook, r, NULL, &r->hook) < 0)
        submit(r);
    else
        r->hooked = true;
}

/* Waits up to DRAIN_NS for the CQEs of everything in flight; how many are
 * still in flight. */
static unsigned drain(struct loom__uring *r)
{
    int64_t deadline = clock_now_ns() + DRAIN_NS;

    submit(r);
    reap(r);
    while (r->inflight) {
        int64_t left = deadline - clock_now_ns();
        struct __kernel_timespec ts = {.tv_sec = left / 1000000000, .tv_nsec = left % 1000000000};
        struct io_uring_cqe *cqe;
        int err;

        if (left <= 0)
            break;
        err = r->lib->io_uring_wait_cqe_timeout(&r->ring, &cqe, &ts);
        if (err < 0 && err != -EINTR && err != -ETIME)
            break;
        reap(r);
    }
    return r->inflight;
}

static int signal_fd(const struct loom__uring *r)
{
    return r->event_fd >= 0 ? r->event_fd : r->ring.ring_fd;
}

/* At loop close, after the streams and files cancelled what they had in
 * flight: their CQEs free their memory; what does not end is left to the
 * kernel (never freed). */
static void ring_shutdown(struct loop_member *m)
{
    struct loom__uring *r = list_item(m, struct loom__uring, member);
    unsigned left = drain(r);

    loop_member_remove(r->loop, m);
    if (left)
        loom_loop_report(r->loop, -EBUSY,
                         "%u io_uring operations did not end at close; their memory is left to the kernel", left);
    if (r->hooked)
        loom_hook_remove(r->loop, r->hook);
    loom__fd_unwatch(r->loop, signal_fd(r));
    r->lib->io_uring_queue_exit(&r->ring);
    bufs_free(r);
    if (r->event_fd >= 0)
        close(r->event_fd);
    r->on = false;
}

static void ring_dump(struct loop_member *m, FILE *out)
{
    struct loom__uring *r = list_item(m, struct loom__uring, member);

    fprintf(out, "io_uring: %u operations in flight", r->inflight);
}

static const struct loop_member_ops ring_member_ops = {
    .phase = LOOP_PHASE_ENGINES,
    .shutdown = ring_shutdown,
    .dump = ring_dump,
};

static bool env_is(const char *name, const char *value)
{
    const char *v = getenv(name);
    return v && strcmp(v, value) == 0;
}

/* Sets the ring up (r->on), or says why not in r->why. */
static void ring_setup(struct loom__uring *r)
{
    int err;

    r->event_fd = -1;
    if (env_is("LOOM_URING", "0")) {
        r->why = "LOOM_URING=0";
        return;
    }
    if (!(r->lib = loom__liburing(&r->why)))
        return;
    /* Only the loop's thread (its owner, which makes the ring) enters it. */
    struct io_uring_params p = {.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
                                .cq_entries = RING_CQ_ENTRIES};
    bool deferred = !env_is("LOOM_URING_DEFER", "0");

    err = deferred ? r->lib->io_uring_queue_init_params(RING_ENTRIES, &r->ring, &p) : -EINVAL;
    if (err == -EINVAL) { /* before 6.1 */
        deferred = false;
        p = (struct io_uring_params){.flags = IORING_SETUP_CQSIZE, .cq_entries = RING_CQ_ENTRIES};
        err = r->lib->io_uring_queue_init_params(RING_ENTRIES, &r->ring, &p);
    }
    if (err < 0) {
        r->why = setup_failure(err);
        return;
    }
    if (deferred && ((r->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0 ||
                     r->lib->io_uring_register_eventfd(&r->ring, r->event_fd) < 0))
        r->why = "no eventfd for the ring";
    else if (!has_needed_ops(r))
        r->why = "the kernel's io_uring lacks an operation loom needs (5.6 has them all)";
    else if (loom_fd_watch(r->loop, signal_fd(r), LOOM_READ, ring_ready, r, NULL) < 0)
        r->why = "the ring's fd could not be watched";
    else {
        r->why = deferred ? "io_uring_setup succeeded, task work deferred" : "io_uring_setup succeeded";
        r->deferred = deferred;
        if (deferred)
            bufs_setup(r); /* the kernels that defer (6.1) have buffer rings (5.19) */
        r->limit = r->ring.cq.ring_entries;
        r->on = true;
        r->streams = env_is("LOOM_URING_STREAMS", "1");
        r->member.ops = &ring_member_ops;
        loop_member_add(r->loop, &r->member);
        return;
    }
    r->lib->io_uring_queue_exit(&r->ring);
    if (r->event_fd >= 0)
        close(r->event_fd);
    r->event_fd = -1;
}

struct loom__uring *loom__uring_get(loom_loop *loop, const char **why)
{
    struct loom__uring *r = loom_loop_get_data(loop, &ring_key);

    if (!r) {
        if (!(r = calloc(1, sizeof(*r)))) {
            if (why)
                *why = "out of memory";
            return NULL;
        }
        r->loop = loop;
        ring_setup(r);
        if (loom_loop_set_data(loop, &ring_key, r, free) < 0) {
            if (r->on)
                ring_shutdown(&r->member);
            free(r);
            if (why)
                *why = "out of memory";
            return NULL;
        }
        if (env_is("LOOM_URING_DEBUG", "1"))
            fprintf(stderr, "loom: loop %p: io_uring %s (%s)%s%s\n", (void *)loop, r->on ? "on" : "off", r->why,
                    r->streams ? ", streams too" : "", r->streams && r->br ? " (recv into the ring's buffers)" : "");
    }
    if (why)
        *why = r->why;
    return r->on ? r : NULL;
}

static struct io_uring_sqe *get_sqe(struct loom__uring *r)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

    if (!sqe && r->lib->io_uring_submit(&r->ring) >= 0)
        sqe = io_uring_get_sqe(&r->ring);
    return sqe;
}

/* An SQE for op, counted in flight; NULL when the ring is full. */
static struct io_uring_sqe *op_sqe(struct loom__uring *r, struct loom__uring_op *op)
{
    struct io_uring_sqe *sqe = r->inflight < r->limit ? get_sqe(r) : NULL;

    if (!sqe)
        return NULL;
    op->in_ring = true;
    r->inflight++;
    return sqe;
}

/* op's SQE is prepared: it carries op and goes with the batch. */
static int queued(struct loom__uring *r, struct io_uring_sqe *sqe, struct loom__uring_op *op)
{
    io_uring_sqe_set_data(sqe, op);
    schedule_submit(r);
    return 0;
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
}

int loom__uring_file(struct loom__uring *r, struct loom__file_op *op)
{
    struct io_uring_sqe *sqe;

    if (op->kind == FILE_STAT && !op->buf && !(op->buf = calloc(1, sizeof(struct statx))))
        return -ENOMEM;
    if (!(sqe = op_sqe(r, &op->uop)))
        return -EBUSY;
    prep(sqe, op);
    op->uop.done = file_done;
    atomic_fetch_add_explicit(&op->refs, 1, memory_order_relaxed);
    return queued(r, sqe, &op->uop);
}

int loom__uring_recv(struct loom__uring *r, struct loom__uring_op *op, int fd, void *buf, size_t len)
{
    struct io_uring_sqe *sqe = op_sqe(r, op);

    if (!sqe)
        return -EBUSY;
    io_uring_prep_recv(sqe, fd, buf, len, 0);
    return queued(r, sqe, op);
}

int loom__uring_sendmsg(struct loom__uring *r, struct loom__uring_op *op, int fd, const struct msghdr *msg)
{
    struct io_uring_sqe *sqe = op_sqe(r, op);

    if (!sqe)
        return -EBUSY;
    io_uring_prep_sendmsg(sqe, fd, msg, MSG_NOSIGNAL);
    return queued(r, sqe, op);
}

int loom__uring_accept(struct loom__uring *r, struct loom__uring_op *op, int fd)
{
    struct io_uring_sqe *sqe;

    if (!r->deferred)
        return -EOPNOTSUPP;
    if (!(sqe = op_sqe(r, op)))
        return -EBUSY;
    io_uring_prep_multishot_accept(sqe, fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    return queued(r, sqe, op);
}

int loom__uring_connect(struct loom__uring *r, struct loom__uring_op *op, int fd, const struct sockaddr *addr,
                        socklen_t len)
{
    struct io_uring_sqe *sqe = op_sqe(r, op);

    if (!sqe)
        return -EBUSY;
    io_uring_prep_connect(sqe, fd, addr, len);
    return queued(r, sqe, op);
}

int loom__uring_recv_select(struct loom__uring *r, struct loom__uring_op *op, int fd)
{
    struct io_uring_sqe *sqe;

    if (!r->br)
        return -EOPNOTSUPP;
    if (!(sqe = op_sqe(r, op)))
        return -EBUSY;
    io_uring_prep_recv(sqe, fd, NULL, RECV_BUF_SIZE, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = RECV_GROUP;
    return queued(r, sqe, op);
}

void loom__uring_buf_put(struct loom__uring *r, const unsigned char *p)
{
    if (r->br)
        buf_give_back(r, (unsigned)((size_t)(p - r->bufs) / RECV_BUF_SIZE));
}

struct loom__uring *loom__uring_for_streams(loom_loop *loop)
{
    struct loom__uring *r = loom__uring_get(loop, NULL);
    return r && r->streams ? r : NULL;
}

bool loom__uring_reserve(struct loom__uring *r, unsigned n)
{
    if (r->reserved + n + FILE_ROOM > r->limit)
        return false;
    r->reserved += n;
    return true;
}

void loom__uring_unreserve(struct loom__uring *r, unsigned n)
{
    r->reserved -= n;
}

void loom__uring_run_task_work(struct loom__uring *r)
{
    r->lib->io_uring_submit_and_get_events(&r->ring); /* its CQEs are reaped as usual */
}

bool loom__uring_cancel(struct loom__uring *r, struct loom__uring_op *op)
{
    struct io_uring_sqe *sqe = get_sqe(r);

    if (!sqe)
        return false; /* the operation then ends by itself, or at the drain's bound */
    io_uring_prep_cancel(sqe, op, 0);
    io_uring_sqe_set_data(sqe, NULL);
    r->lib->io_uring_submit(&r->ring); /* at once: a closed socket goes only once its recv has */
    return true;
}
