/* Streams: completion-shaped reads and writes over one non-blocking fd,
 * served from readiness through one loom_fd_watch, or for a socket through
 * the loop's io_uring (a recv into the read buffer, a sendmsg of the queued
 * writes). Every operation owns its buffer until it completes (a read
 * future's bytes, a queued write's data), so both serve the same calls. */
#include "config.h"
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <loom/task.h>
#include "future/future-private.h"
#include "io-private.h"
#include "loop/loop-private.h"
#include "uring-private.h"

/* Buffers gathered into one writev. */
#define WRITE_BATCH 64
/* What one read asks of the kernel at most. */
#define READ_CHUNK ((size_t)64 * 1024)

enum read_kind { READ_NONE, READ_SOME, READ_EXACTLY, READ_UNTIL };

struct read_op {
    loom_future *done; /* NULL: no read outstanding */
    uint8_t kind;      /* enum read_kind */
    size_t n;          /* SOME: at most; EXACTLY: exactly; UNTIL: the limit */
    size_t scanned;    /* UNTIL: buffered bytes searched for delim already */
    size_t delim_len;
    unsigned char *delim;
};

struct write_op {
    struct list_node node;
    const unsigned char *data; /* len bytes, off of them written */
    size_t len, off;
    size_t total; /* the write's byte count, for its future */
    void *owned; /* handed over (write_take), destroyed when done */
    loom_destroy_fn destroy;
    loom_future *done; /* may be NULL */
};

/* Bytes in one of the ring's buffers (buf: what loom__uring_buf_put takes). */
struct parked {
    const unsigned char *buf;
    size_t off, len;
};

#define STREAM_MAGIC 0x6c6d7374u /* tells a stream from other future values */

struct loom_stream {
    uint32_t magic;
    loom_loop *loop;
    int fd;
    struct loop_member member; /* the loop fails what is pending at close */
    bool socket;
    bool watched;     /* fd has our loom_fd_watch */
    unsigned want;    /* its interest mask */
    bool released;    /* the caller closed or aborted it: freed once the fd is closed */
    bool started;     /* a read was asked for: read ahead from here */
    bool eof;
    bool shut;        /* shutdown asked for: no more writes */
    bool loop_closed; /* the loop shut the stream down */
    int error;

    unsigned char *rbuf; /* rlen bytes from rstart, rcap allocated */
    size_t rstart, rlen, rcap, read_limit;
    struct read_op read;

    struct list writes; /* struct write_op, in order */
    size_t queued, high, low;

    struct loom__uring *ring; /* a socket's I/O goes through it (NULL: readiness) */
    struct loom__uring_op recv, send;
    /* The next recv is a plain one into the read buffer: bulk data (the
     * last recv got a ring buffer's worth or more) or the ring's buffers ran
     * out. */
    bool recv_single;
    bool recv_plain;          /* the last recv was into the read buffer, not a ring buffer */
    /* Bytes a recv into a ring buffer brought past the read target, in order, left in
     * their ring buffers (as the socket would have kept them) until the
     * stream takes them; EOF seen behind them. */
    struct parked *parked;
    size_t n_parked, parked_cap;
    bool eof_parked;
    int send_n;               /* the writes at the queue's front the send has */
    struct list orphans;      /* ended writes whose bytes the send still has */
    struct msghdr msg;        /* the send's */
    struct iovec siov[WRITE_BATCH];
    loom_future **drains;
    size_t n_drains, drains_cap;
    loom_future *shutdown_done, *close_done;
};

/* --- small helpers -------------------------------------------------------- */

void loom__io_future_fail(loom_future *future, int err, const char *msg)
{
    if (!future)
        return;
    if (loom__future_unwanted(future))
        loom_future_cancel(future);
    else
        loom_future_fail(future, err, msg);
    loom_future_unref(future);
}

static void future_cancel_unref(loom_future *future)
{
    if (future) {
        loom_future_cancel(future);
        loom_future_unref(future);
    }
}

static bool loop_is_closed(const loom_loop *loop)
{
    return atomic_load_explicit(&loop->closed, memory_order_relaxed);
}

/* The checks every stream call starts with: 0, -EINVAL, -ESHUTDOWN, -EXDEV. */
static int stream_check(loom_stream *s, const char *func)
{
    if (!s)
        return -EINVAL;
    return loop_check(s->loop, func);
}

/* --- the fd watch ------------------------------------------------------------ */

static size_t read_target(const loom_stream *s)
{
    size_t need = 0;
    if (s->read.done && s->read.kind != READ_SOME)
        need = s->read.n;
    return need > s->read_limit ? need : s->read_limit;
}

static void ring_kick(loom_stream *s);
static void stream_fail(loom_stream *s, int err);

static void stream_set_interest(loom_stream *s)
{
    unsigned want = 0;
    if (s->ring) {
        ring_kick(s);
        return;
    }
    if (s->fd >= 0 && !s->error) {
        if (s->started && !s->eof && s->rlen < read_target(s))
            want |= LOOM_READ;
        if (!list_empty(&s->writes))
            want |= LOOM_WRITE;
    }
    if (want == s->want || !s->watched)
        return;
    int r = loom_fd_set_events(s->loop, s->fd, want);
    if (r == 0)
        s->want = want;
    else if (want)
        stream_fail(s, r); /* an fd the loop cannot poll (epoll: a regular file, -EPERM) */
}

/* Gives the parked bytes' ring buffers back, unread (the fd is going). */
static void parked_put_all(loom_stream *s)
{
    for (size_t i = 0; i < s->n_parked; i++)
        loom__uring_buf_put(s->ring, s->parked[i].buf);
    s->n_parked = 0;
    s->eof_parked = false;
}

static void stream_close_fd(loom_stream *s)
{
    if (s->fd < 0)
        return;
    if (s->watched)
        loom__fd_unwatch(s->loop, s->fd);
    s->watched = false;
    /* A recv in flight would keep the socket open: cancelled first, and its
     * cancel run through now, so that the close below is the socket's last
     * reference (the peer sees EOF once the close future resolves). */
    bool cancelled = false;
    if (s->recv.in_ring)
        cancelled |= loom__uring_cancel(s->ring, &s->recv);
    if (s->send.in_ring)
        cancelled |= loom__uring_cancel(s->ring, &s->send);
    if (cancelled)
        loom__uring_run_task_work(s->ring);
    parked_put_all(s);
    if (s->ring) /* it submits nothing more (its CQEs have room still) */
        loom__uring_unreserve(s->ring, 2);
    close(s->fd);
    s->fd = -1;
}

/* --- completing operations ------------------------------------------------- */

static void write_op_free(struct write_op *op)
{
    if (op->destroy)
        op->destroy(op->owned);
    free(op);
}

static void resolve_drains(loom_stream *s)
{
    for (size_t i = 0; i < s->n_drains; i++) {
        loom_future_resolve(s->drains[i], NULL, NULL);
        loom_future_unref(s->drains[i]);
    }
    s->n_drains = 0;
}

/* Fails future with err, or cancels it (err 0). */
static void end_future(loom_future *future, int err)
{
    if (err)
        loom__io_future_fail(future, err, NULL);
    else
        future_cancel_unref(future);
}

/* Ends the queued writes, drains and shutdown: failed with err, or
 * cancelled (err 0). */
static void end_writes(loom_stream *s, int err)
{
    struct list_node *n;
    while ((n = list_pop_front(&s->writes))) {
        struct write_op *op = list_item(n, struct write_op, node);
        end_future(op->done, err);
        op->done = NULL;
        if (s->send_n) { /* freed at the send's CQE */
            s->send_n--;
            list_push_back(&s->orphans, &op->node);
        } else {
            write_op_free(op);
        }
    }
    s->queued = 0;
    end_future(s->shutdown_done, err);
    s->shutdown_done = NULL;
    for (size_t i = 0; i < s->n_drains; i++)
        end_future(s->drains[i], err);
    s->n_drains = 0;
}

static void end_read(loom_stream *s, int err)
{
    end_future(s->read.done, err);
    s->read.done = NULL;
    free(s->read.delim);
    s->read.delim = NULL;
}

static void serve_read(loom_stream *s);

/* The first error of the fd becomes the stream's; what waits fails with it
 * (an outstanding read gets the buffered bytes first, if they serve it). */
static void stream_fail(loom_stream *s, int err)
{
    if (s->error)
        return;
    s->error = err;
    end_writes(s, err);
    serve_read(s);
    if (s->close_done) {
        stream_close_fd(s);
        loom__io_future_fail(s->close_done, err, NULL);
        s->close_done = NULL;
    }
    stream_set_interest(s);
}

/* A loom_bytes of the first len buffered bytes, consumed. */
static loom_bytes *take_bytes(loom_stream *s, size_t len)
{
    loom_bytes *b = loom__bytes_new(len);
    if (!b)
        return NULL;
    if (len)
        memcpy(b->data, s->rbuf + s->rstart, len);
    s->rstart += len;
    s->rlen -= len;
    if (s->rlen || (s->recv.in_ring && s->recv_plain)) {
        /* a plain recv in flight owns the rest of the buffer */
    } else if (s->ring && s->recv_plain) {
        s->rstart = 0; /* the next recv reuses it */
    } else { /* an idle stream holds no buffer */
        free(s->rbuf);
        s->rbuf = NULL;
        s->rstart = s->rcap = 0;
    }
    b->eof = s->eof && !s->rlen;
    return b;
}

static void read_done(loom_stream *s, size_t len)
{
    loom_future *f = s->read.done;
    s->read.done = NULL;
    free(s->read.delim);
    s->read.delim = NULL;
    loom_bytes *b = take_bytes(s, len);
    if (b)
        loom_future_resolve(f, b, loom__bytes_free);
    else
        loom_future_fail(f, -ENOMEM, NULL);
    loom_future_unref(f);
}

static void read_fail(loom_stream *s, int err, const char *msg)
{
    loom_future *f = s->read.done;
    s->read.done = NULL;
    free(s->read.delim);
    s->read.delim = NULL;
    loom__io_future_fail(f, err, msg);
}

/* UNTIL: the length up to and including delim, or 0 if not buffered yet. */
static size_t find_delim(loom_stream *s)
{
    struct read_op *r = &s->read;
    size_t from = r->scanned >= r->delim_len ? r->scanned - r->delim_len + 1 : 0;
    const unsigned char *base = s->rbuf + s->rstart;
    const unsigned char *hit = s->rlen > from ? memmem(base + from, s->rlen - from, r->delim, r->delim_len) : NULL;
    r->scanned = s->rlen;
    return hit ? (size_t)(hit - base) + r->delim_len : 0;
}

static void serve_until(loom_stream *s)
{
    size_t limit = s->read.n;
    size_t len = find_delim(s);
    char msg[64];
    if (len && len <= limit) {
        read_done(s, len);
    } else if (len || s->rlen >= limit) {
        snprintf(msg, sizeof(msg), "no delimiter within %zu bytes", limit);
        read_fail(s, -EMSGSIZE, msg);
    } else if (s->eof) {
        read_done(s, s->rlen);
    } else if (s->error) {
        read_fail(s, s->error, NULL);
    }
}

static void serve_exactly(loom_stream *s)
{
    char msg[80];
    if (s->rlen >= s->read.n) {
        read_done(s, s->read.n);
    } else if (s->eof) {
        snprintf(msg, sizeof(msg), "short read: got %zu of %zu bytes", s->rlen, s->read.n);
        read_fail(s, -EPIPE, msg);
    } else if (s->error) {
        read_fail(s, s->error, NULL);
    }
}

/* Completes the outstanding read if what is buffered (or EOF, or the
 * error) allows. A read cancelled meanwhile is dropped, consuming nothing. */
static void unpark(loom_stream *s);

static void serve_read(loom_stream *s)
{
    if (s->n_parked)
        unpark(s);
    if (!s->read.done)
        return;
    if (loom_future_done(s->read.done)) {
        end_read(s, 0);
        return;
    }
    switch (s->read.kind) {
    case READ_SOME:
        if (s->rlen || s->eof)
            read_done(s, s->rlen < s->read.n ? s->rlen : s->read.n);
        else if (s->error)
            read_fail(s, s->error, NULL);
        break;
    case READ_EXACTLY:
        serve_exactly(s);
        break;
    default:
        serve_until(s);
    }
}

/* --- the fd --------------------------------------------------------------- */

/* Room for want more bytes after the buffered ones. */
static int reserve_read(loom_stream *s, size_t want)
{
    if (s->rstart && s->rcap - s->rstart - s->rlen < want) {
        memmove(s->rbuf, s->rbuf + s->rstart, s->rlen);
        s->rstart = 0;
    }
    if (s->rcap - s->rstart - s->rlen >= want)
        return 0;
    unsigned char *p = realloc(s->rbuf, s->rlen + want);
    if (!p)
        return -ENOMEM;
    s->rbuf = p;
    s->rcap = s->rlen + want;
    return 0;
}

/* read(2), EINTR retried: the count, 0 at EOF, or a negative errno. */
static ssize_t fd_read(int fd, void *buf, size_t len)
{
    ssize_t n;
    do
        n = read(fd, buf, len);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

/* What a read of the fd gave that is not bytes: EOF or an error. */
static void fill_ended(loom_stream *s, ssize_t n)
{
    if (n == 0)
        s->eof = true;
    else if (n != -EAGAIN && n != -EWOULDBLOCK)
        stream_fail(s, (int)n);
}

static const char scratch_key; /* the loop's read scratch, per-loop data */

/* READ_CHUNK bytes a direct read lands in, one per loop (made on first
 * use), so that its result is allocated to fit; NULL without memory. */
static unsigned char *read_scratch(loom_loop *loop)
{
    unsigned char *p = loom_loop_get_data(loop, &scratch_key);
    if (!p && (p = malloc(READ_CHUNK)) && loom_loop_set_data(loop, &scratch_key, p, free) < 0) {
        free(p);
        p = NULL;
    }
    return p;
}

/* How many bytes an outstanding "up to n" read with nothing buffered takes
 * as they come, without the read buffer; 0: not that case. */
static size_t direct_room(const loom_stream *s)
{
    const struct read_op *r = &s->read;
    if (s->rlen || !r->done || r->kind != READ_SOME || loom_future_done(r->done))
        return 0;
    size_t cap = r->n < s->read_limit ? r->n : s->read_limit;
    return cap < READ_CHUNK ? cap : READ_CHUNK;
}

/* That read resolves with the n bytes at data (n <= its direct_room). */
static void resolve_direct(loom_stream *s, const unsigned char *data, size_t n)
{
    loom_bytes *b = loom__bytes_new(n);
    if (!b) {
        stream_fail(s, -ENOMEM);
        return;
    }
    memcpy(b->data, data, n);
    loom_future *f = s->read.done;
    s->read.done = NULL;
    loom_future_resolve(f, b, loom__bytes_free);
    loom_future_unref(f);
}

/* An outstanding "up to n" read with nothing buffered reads into the
 * scratch and resolves with a result of the size read. false: not that
 * case. */
static bool fill_direct(loom_stream *s)
{
    size_t cap = direct_room(s);
    unsigned char *scratch = cap ? read_scratch(s->loop) : NULL;
    if (!scratch)
        return false; /* not the case, or the buffered way reports it */
    ssize_t n = fd_read(s->fd, scratch, cap);
    if (n <= 0)
        fill_ended(s, n);
    else
        resolve_direct(s, scratch, (size_t)n);
    return true;
}

/* One read from the fd into the buffer, up to the read target. */
static void stream_fill(loom_stream *s)
{
    size_t target = read_target(s);
    if (s->eof || s->error || s->rlen >= target || fill_direct(s))
        return;
    size_t want = target - s->rlen < READ_CHUNK ? target - s->rlen : READ_CHUNK;
    if (reserve_read(s, want) < 0) {
        stream_fail(s, -ENOMEM);
        return;
    }
    ssize_t n = fd_read(s->fd, s->rbuf + s->rstart + s->rlen, want);
    if (n > 0)
        s->rlen += (size_t)n;
    else
        fill_ended(s, n);
}

/* writev that never raises SIGPIPE: MSG_NOSIGNAL on a socket; elsewhere the
 * signal is blocked around the write and one it raised is taken back. */
static ssize_t fd_writev(const loom_stream *s, const struct iovec *iov, int n)
{
    if (s->socket && n == 1) /* send: the kernel imports no msghdr and iovec */
        return send(s->fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
    if (s->socket) {
        struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
        return sendmsg(s->fd, &msg, MSG_NOSIGNAL);
    }
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigpending(&pending);
    bool was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    ssize_t r = writev(s->fd, iov, n);
    int saved = errno;
    if (r < 0 && saved == EPIPE && !was_pending) {
        const struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return r;
}

/* Writes what iov holds; the count written or a negative errno (-EAGAIN
 * when the kernel takes nothing now). */
static ssize_t stream_writev(const loom_stream *s, const struct iovec *iov, int n)
{
    ssize_t r;
    do
        r = fd_writev(s, iov, n);
    while (r < 0 && errno == EINTR);
    if (r >= 0)
        return r;
    return errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

static void write_op_done(loom_stream *s, struct write_op *op)
{
    list_unlink(&s->writes, &op->node);
    if (op->done) {
        loom_future_resolve_int(op->done, (int64_t)op->total);
        loom_future_unref(op->done);
    }
    write_op_free(op);
}

static void finish_shutdown(loom_stream *s);

/* Once the queue is empty: a pending shutdown or close happens. */
static void queue_emptied(loom_stream *s)
{
    resolve_drains(s);
    if (s->shutdown_done)
        finish_shutdown(s);
    if (s->close_done && !s->error) {
        stream_close_fd(s);
        loom_future_resolve(s->close_done, NULL, NULL);
        loom_future_unref(s->close_done);
        s->close_done = NULL;
    }
}

/* n bytes from the queue's front went to the kernel: the writes they
 * cover complete. */
static void writes_sent(loom_stream *s, size_t n)
{
    s->queued -= n;
    while (s->writes.first) {
        struct write_op *op = list_item(s->writes.first, struct write_op, node);
        size_t left = op->len - op->off;
        if (n < left) {
            op->off += n;
            break;
        }
        n -= left;
        write_op_done(s, op);
    }
}

/* After writes went: drains below the low mark, a shutdown or close once
 * the queue is empty. */
static void writes_progressed(loom_stream *s)
{
    if (s->queued <= s->low)
        resolve_drains(s);
    if (list_empty(&s->writes) && !s->error)
        queue_emptied(s);
}

/* Gathers the queue's first WRITE_BATCH writes into iov: how many, and
 * their bytes in *offered. */
static int gather_writes(const loom_stream *s, struct iovec *iov, size_t *offered)
{
    int n = 0;
    *offered = 0;
    for (struct list_node *i = s->writes.first; i && n < WRITE_BATCH; i = i->next) {
        struct write_op *op = list_item(i, struct write_op, node);
        iov[n++] = (struct iovec){(void *)(op->data + op->off), op->len - op->off};
        *offered += op->len - op->off;
    }
    return n;
}

/* Moves queued bytes to the kernel until it pushes back. */
static void stream_flush(loom_stream *s)
{
    while (!list_empty(&s->writes) && !s->error) {
        struct iovec iov[WRITE_BATCH];
        size_t offered;
        int n = gather_writes(s, iov, &offered);
        ssize_t r = stream_writev(s, iov, n);
        if (r == -EAGAIN)
            break;
        if (r < 0) {
            stream_fail(s, (int)r);
            return;
        }
        writes_sent(s, (size_t)r);
        if ((size_t)r < offered)
            break; /* the kernel took less than offered */
    }
    writes_progressed(s);
}

static void stream_maybe_free(loom_stream *s);

/* --- the io_uring engine ------------------------------------------------- */

/* A recv while the stream reads ahead (up to the read target), if none is
 * in flight: into a ring buffer the kernel picks when data comes (an idle
 * stream then holds no memory), or, for bulk data or without ring buffers,
 * into the read buffer. */
static void ring_recv_start(loom_stream *s)
{
    size_t target = read_target(s);
    if (s->recv.in_ring || !s->started || s->eof || s->eof_parked || s->n_parked || s->rlen >= target)
        return;
    int r = s->recv_single ? -EOPNOTSUPP : loom__uring_recv_select(s->ring, &s->recv, s->fd);
    s->recv_plain = r == -EOPNOTSUPP;
    if (r == -EOPNOTSUPP) {
        size_t want = target - s->rlen < READ_CHUNK ? target - s->rlen : READ_CHUNK;
        r = reserve_read(s, want);
        if (r == 0)
            r = loom__uring_recv(s->ring, &s->recv, s->fd, s->rbuf + s->rstart + s->rlen, want);
    }
    if (r < 0)
        stream_fail(s, r);
}

/* Appends up to len bytes at p to the read buffer, up to the read target:
 * how many, or -ENOMEM. */
static ssize_t buffer_up_to_target(loom_stream *s, const unsigned char *p, size_t len)
{
    size_t target = read_target(s), take = s->rlen < target ? target - s->rlen : 0;
    take = take < len ? take : len;
    if (take && reserve_read(s, take) < 0)
        return -ENOMEM;
    memcpy(s->rbuf + s->rstart + s->rlen, p, take);
    s->rlen += take;
    return (ssize_t)take;
}

/* Moves parked bytes into the read buffer, up to the read target, giving
 * each ring buffer back once it is emptied. */
static void unpark(loom_stream *s)
{
    size_t done = 0;
    while (done < s->n_parked) {
        struct parked *p = &s->parked[done];
        ssize_t took = buffer_up_to_target(s, p->buf + p->off, p->len);
        if (took < 0) {
            stream_fail(s, (int)took); /* its close gives the rest back */
            return;
        }
        p->off += (size_t)took;
        p->len -= (size_t)took;
        if (p->len)
            break;
        loom__uring_buf_put(s->ring, p->buf);
        done++;
    }
    s->n_parked -= done;
    memmove(s->parked, s->parked + done, s->n_parked * sizeof(*s->parked));
    if (!s->n_parked && s->eof_parked) {
        s->eof_parked = false;
        s->eof = true;
    }
}

/* The n bytes at data a recv brought in a ring buffer, which the stream
 * now owns: to a waiting read, or buffered up to the read target and the
 * rest parked. */
static void ring_recv_took(loom_stream *s, const unsigned char *data, size_t n)
{
    ssize_t took = 0;
    LOOM_URING_WROTE(data, n);
    if (!s->n_parked && n <= direct_room(s)) {
        resolve_direct(s, data, n);
        took = (ssize_t)n;
    } else if (!s->n_parked) {
        took = buffer_up_to_target(s, data, n);
    }
    if (took >= 0 && (size_t)took < n && s->n_parked == s->parked_cap) {
        size_t cap = s->parked_cap ? 2 * s->parked_cap : 4;
        struct parked *p = realloc(s->parked, cap * sizeof(*p));
        if (p) {
            s->parked = p;
            s->parked_cap = cap;
        } else {
            took = -ENOMEM;
        }
    }
    if (took < 0 || (size_t)took == n) {
        loom__uring_buf_put(s->ring, data);
        if (took < 0)
            stream_fail(s, (int)took);
        return;
    }
    s->parked[s->n_parked++] = (struct parked){.buf = data, .off = (size_t)took, .len = n - (size_t)took};
}

/* A sendmsg of the queue's front, if none is in flight. */
static void ring_send_start(loom_stream *s)
{
    size_t offered;
    if (s->send.in_ring || list_empty(&s->writes))
        return;
    s->send_n = gather_writes(s, s->siov, &offered);
    s->msg = (struct msghdr){.msg_iov = s->siov, .msg_iovlen = (size_t)s->send_n};
    int r = loom__uring_sendmsg(s->ring, &s->send, s->fd, &s->msg);
    if (r < 0) {
        s->send_n = 0;
        stream_fail(s, r);
    }
}

/* What the stream wants now goes to the ring (the readiness path's
 * interest mask). */
static void ring_kick(loom_stream *s)
{
    if (s->fd < 0 || s->error)
        return;
    ring_recv_start(s);
    if (!s->error)
        ring_send_start(s);
}

/* A result that asks for the same operation again, not an error. */
static bool res_retry(int res)
{
    return res == -EAGAIN || res == -EINTR || res == -ECANCELED;
}

static void ring_recv_done(struct loom__uring_op *op, int res)
{
    loom_stream *s = list_item(op, loom_stream, recv);
    /* Bulk data (a recv that filled a ring buffer, or a plain one that got
     * at least as much) goes on in plain recvs; smaller reads go back to the
     * ring's buffers. */
    s->recv_single = res >= LOOM__URING_RECV_BUF;
    if (op->data && (s->fd < 0 || s->error))
        loom__uring_buf_put(s->ring, op->data);
    if (s->fd >= 0 && !s->error) {
        if (res > 0 && op->data) {
            ring_recv_took(s, op->data, (size_t)res);
        } else if (res > 0) {
            LOOM_URING_WROTE(s->rbuf + s->rstart + s->rlen, (size_t)res);
            s->rlen += (size_t)res;
        } else if (res == 0) {
            *(s->n_parked ? &s->eof_parked : &s->eof) = true;
        } else if (res == -ENOBUFS) {
            s->recv_single = true; /* every ring buffer is taken: one recv of its own */
        } else if (!res_retry(res)) {
            stream_fail(s, res);
        }
        serve_read(s);
        stream_set_interest(s);
    }
    stream_maybe_free(s);
}

static void ring_send_done(struct loom__uring_op *op, int res)
{
    loom_stream *s = list_item(op, loom_stream, send);
    struct list_node *n;
    while ((n = list_pop_front(&s->orphans)))
        write_op_free(list_item(n, struct write_op, node));
    s->send_n = 0;
    if (s->fd >= 0 && !s->error) {
        if (res >= 0) {
            writes_sent(s, (size_t)res);
            writes_progressed(s);
        } else if (!res_retry(res)) {
            stream_fail(s, res);
        }
        stream_set_interest(s);
    }
    stream_maybe_free(s);
}

static void stream_ready(loom_loop *loop, int fd, unsigned events, void *data)
{
    loom_stream *s = data;
    uint64_t mark = loop->ready.tail;
    if (s->ring)
        return; /* its watch wants nothing: the ring does the I/O */
    if (events & LOOM_WRITE)
        stream_flush(s);
    if ((events & LOOM_READ) && s->fd >= 0)
        stream_fill(s);
    serve_read(s);
    stream_set_interest(s);
    stream_maybe_free(s);
    /* An echo goes out before the next fd is read (s may be gone now). */
    loom__loop_run_completion(loop, mark);
}

/* --- life cycle ------------------------------------------------------------- */

static void stream_free(loom_stream *s)
{
    if (!s->loop_closed)
        loop_member_remove(s->loop, &s->member);
    free(s->rbuf);
    free(s->parked);
    free(s->read.delim);
    free(s->drains);
    loom__loop_release(s->loop);
    free(s);
}

/* Once released, closed, and the ring has no buffer of it. */
static void stream_maybe_free(loom_stream *s)
{
    if (s->released && s->fd < 0 && !s->recv.in_ring && !s->send.in_ring)
        stream_free(s);
}

/* At loop close: what is pending fails with -ESHUTDOWN, the fd and its
 * watch go. */
static void stream_shutdown(struct loop_member *m)
{
    loom_stream *s = list_item(m, loom_stream, member);
    loop_member_remove(s->loop, m);
    s->loop_closed = true;
    if (!s->error)
        s->error = -ESHUTDOWN;
    end_writes(s, -ESHUTDOWN);
    end_read(s, -ESHUTDOWN);
    if (s->close_done) {
        loom__io_future_fail(s->close_done, -ESHUTDOWN, NULL);
        s->close_done = NULL;
    }
    stream_close_fd(s);
    stream_maybe_free(s);
}

static void stream_dump(struct loop_member *m, FILE *out)
{
    loom_stream *s = list_item(m, loom_stream, member);
    fprintf(out, "stream fd %d%s: %zu bytes buffered, %zu queued%s%s%s", s->fd, s->ring ? " (io_uring)" : "", s->rlen,
            s->queued, s->read.done ? ", a read outstanding" : "", s->eof ? ", at EOF" : "",
            s->released ? ", closing" : "");
}

static const struct loop_member_ops stream_member_ops = {
    .phase = LOOP_PHASE_RELEASES,
    .shutdown = stream_shutdown,
    .dump = stream_dump,
};

static bool fd_is_socket(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

static loom_stream *stream_make(loom_loop *loop, int fd)
{
    loom_stream *s = calloc(1, sizeof(*s));
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    bool socket = fd_is_socket(fd);
    struct loom__uring *ring = socket ? loom__uring_for_streams(loop) : NULL;
    if (ring && !loom__uring_reserve(ring, 2))
        ring = NULL; /* the ring is full of streams: this one on readiness */
    /* Watched on the ring too (wanting nothing): loom_fd_wait beside it
     * learns when it goes. */
    int r = loom_fd_watch(loop, fd, 0, stream_ready, s, NULL);
    if (r < 0) {
        if (ring)
            loom__uring_unreserve(ring, 2);
        free(s);
        errno = -r;
        return NULL;
    }
    *s = (loom_stream){.magic = STREAM_MAGIC, .loop = loop, .fd = fd, .socket = socket, .watched = true,
                       .read_limit = LOOM_STREAM_READ_LIMIT, .high = LOOM_STREAM_HIGH_WATER,
                       .low = LOOM_STREAM_LOW_WATER, .ring = ring};
    s->recv.done = ring_recv_done;
    s->send.done = ring_send_done;
    s->member.ops = &stream_member_ops;
    loop_member_add(loop, &s->member);
    loom__loop_hold(loop);
    return s;
}

loom_stream *loom_stream_new(loom_loop *loop, int fd)
{
    int r = loop_check(loop, __func__);
    int flags = r < 0 ? 0 : fcntl(fd, F_GETFL);
    if (r == 0 && flags < 0)
        r = -EBADF;
    if (r < 0) {
        errno = -r;
        return NULL;
    }
    if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return NULL;
    loom_stream *s = stream_make(loop, fd);
    if (!s && !(flags & O_NONBLOCK)) {
        int saved = errno;
        fcntl(fd, F_SETFL, flags);
        errno = saved;
    }
    return s;
}

loom_stream *loom__stream_adopt(loom_loop *loop, int fd)
{
    loom_stream *s = stream_make(loop, fd);
    if (!s) {
        int saved = errno;
        close(fd);
        errno = saved;
    }
    return s;
}

loom_stream *loom_stream_take(loom_future *future)
{
    loom_stream *s = future ? loom_future_value(future) : NULL;
    loom_destroy_fn destroy = NULL;
    if (!s || s->magic != STREAM_MAGIC || !loom_future_steal_value(future, &destroy)) {
        errno = EINVAL; /* not a stream, taken already, or shared by a combinator */
        return NULL;
    }
    return s;
}

void loom__stream_abort_value(void *stream)
{
    loom_stream_abort(stream);
}

/* --- reading ------------------------------------------------------------------ */

static loom_future *read_start(loom_stream *s, enum read_kind kind, size_t n, const char *func)
{
    int r = stream_check(s, func);
    if (r == 0 && !n)
        r = -EINVAL;
    if (r == 0 && s->read.done) {
        serve_read(s); /* drops a cancelled read */
        if (s->read.done)
            r = -EBUSY;
    }
    loom_future *f = r < 0 ? NULL : loom_future_new(s->loop);
    if (!f) {
        errno = r < 0 ? -r : errno;
        return NULL;
    }
    s->read = (struct read_op){.done = loom_future_ref(f), .kind = (uint8_t)kind, .n = n};
    s->started = true;
    return f;
}

/* Serves a new read from the buffer, or lets the fd watch do it. */
static loom_future *read_go(loom_stream *s, loom_future *f)
{
    serve_read(s);
    stream_set_interest(s);
    return f;
}

loom_future *loom_stream_read(loom_stream *stream, size_t max)
{
    loom_future *f = read_start(stream, READ_SOME, max, __func__);
    return f ? read_go(stream, f) : NULL;
}

loom_future *loom_stream_read_exactly(loom_stream *stream, size_t n)
{
    loom_future *f = read_start(stream, READ_EXACTLY, n, __func__);
    return f ? read_go(stream, f) : NULL;
}

loom_future *loom_stream_read_until(loom_stream *stream, const void *delim, size_t delim_len, size_t limit)
{
    if (!delim || !delim_len) {
        errno = EINVAL;
        return NULL;
    }
    unsigned char *copy = malloc(delim_len);
    if (!copy) {
        errno = ENOMEM;
        return NULL;
    }
    memcpy(copy, delim, delim_len);
    loom_future *f = read_start(stream, READ_UNTIL, limit, __func__);
    if (!f) {
        free(copy);
        return NULL;
    }
    stream->read.delim = copy;
    stream->read.delim_len = delim_len;
    return read_go(stream, f);
}

loom_future *loom_stream_read_line(loom_stream *stream, size_t limit)
{
    return loom_stream_read_until(stream, "\n", 1, limit);
}

int loom_stream_set_read_limit(loom_stream *stream, size_t limit)
{
    int r = stream_check(stream, __func__);
    if (r < 0)
        return r;
    if (!limit)
        return -EINVAL;
    stream->read_limit = limit;
    stream_set_interest(stream);
    return 0;
}

size_t loom_stream_buffered(const loom_stream *stream)
{
    return stream ? stream->rlen : 0;
}

/* --- writing ------------------------------------------------------------------ */

static int write_check(loom_stream *s, const char *func)
{
    int r = stream_check(s, func);
    if (r < 0)
        return r;
    if (s->error)
        return s->error;
    return s->shut ? -EPIPE : 0;
}

/* Queues op (its bytes from op->off on), giving *donep its future. */
static int write_queue(loom_stream *s, struct write_op *op, loom_future **donep)
{
    if (donep) {
        op->done = loom_future_new(s->loop);
        if (!op->done)
            return -errno;
        *donep = loom_future_ref(op->done);
    }
    list_push_back(&s->writes, &op->node);
    s->queued += op->len - op->off;
    stream_set_interest(s);
    return 0;
}

/* A write that went to the kernel in full at once (or an empty one with
 * nothing queued): no queue entry, only the future if one is asked for. */
static int write_sent(loom_stream *s, size_t total, loom_future **donep)
{
    if (!donep)
        return 0;
    loom_future *f = loom_future_new(s->loop);
    if (!f)
        return -errno; /* the bytes went, though */
    loom_future_resolve_int(f, (int64_t)total);
    *donep = f;
    return 0;
}

/* Offers iov to the kernel if nothing is queued before it; the count it
 * took, or a negative errno (the stream failed). */
static ssize_t write_now(loom_stream *s, const struct iovec *iov, int n)
{
    if (!list_empty(&s->writes))
        return 0; /* on the ring too: a send's CQE costs a poll, a direct one none */
    ssize_t r = stream_writev(s, iov, n);
    if (r == -EAGAIN)
        return 0;
    if (r < 0)
        stream_fail(s, (int)r);
    return r;
}

/* Copies what iov holds from skip bytes on into a new op. */
static struct write_op *write_op_copy(const struct iovec *iov, int n, size_t total, size_t skip)
{
    struct write_op *op = malloc(sizeof(*op) + total - skip);
    if (!op)
        return NULL;
    unsigned char *p = (unsigned char *)(op + 1);
    *op = (struct write_op){.data = p, .len = total - skip, .total = total};
    for (int i = 0; i < n; i++) {
        size_t len = iov[i].iov_len, from = skip < len ? skip : len;
        memcpy(p, (const char *)iov[i].iov_base + from, len - from);
        p += len - from;
        skip -= from;
    }
    return op;
}

int loom_stream_writev(loom_stream *stream, const struct iovec *iov, int iovcnt, loom_future **donep)
{
    int r = write_check(stream, __func__);
    if (r < 0)
        return r;
    if (iovcnt < 0 || iovcnt > IOV_MAX || (iovcnt && !iov))
        return -EINVAL;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    ssize_t sent = total ? write_now(stream, iov, iovcnt) : 0;
    if (sent < 0)
        return (int)sent;
    if ((size_t)sent == total && list_empty(&stream->writes))
        return write_sent(stream, total, donep);
    struct write_op *op = write_op_copy(iov, iovcnt, total, (size_t)sent);
    if (!op)
        return -ENOMEM; /* what went to the kernel went, though */
    r = write_queue(stream, op, donep);
    if (r < 0)
        free(op);
    return r;
}

int loom_stream_write(loom_stream *stream, const void *data, size_t len, loom_future **donep)
{
    if (len && !data)
        return -EINVAL;
    struct iovec iov = {(void *)data, len};
    return loom_stream_writev(stream, &iov, 1, donep);
}

int loom_stream_write_take(loom_stream *stream, void *data, size_t len, loom_destroy_fn destroy,
                           loom_future **donep)
{
    int r = write_check(stream, __func__);
    if (r < 0)
        return r;
    if (len && !data)
        return -EINVAL;
    struct iovec iov = {data, len};
    ssize_t sent = len ? write_now(stream, &iov, 1) : 0;
    if (sent < 0)
        return (int)sent;
    if ((size_t)sent == len && list_empty(&stream->writes)) {
        r = write_sent(stream, len, donep);
        if (r == 0 && destroy)
            destroy(data); /* the kernel has the bytes */
        return r;
    }
    struct write_op *op = malloc(sizeof(*op));
    if (!op)
        return -ENOMEM; /* what went to the kernel went, though */
    *op = (struct write_op){
        .data = data, .len = len, .off = (size_t)sent, .total = len, .owned = data, .destroy = destroy};
    r = write_queue(stream, op, donep);
    if (r < 0) {
        op->destroy = NULL; /* the caller still owns data */
        write_op_free(op);
    }
    return r;
}

size_t loom_stream_write_queued(const loom_stream *stream)
{
    return stream ? stream->queued : 0;
}

int loom_stream_set_write_water(loom_stream *stream, size_t high, size_t low)
{
    int r = stream_check(stream, __func__);
    if (r < 0)
        return r;
    if (low > high)
        return -EINVAL;
    stream->high = high;
    stream->low = low;
    if (stream->queued <= low)
        resolve_drains(stream);
    return 0;
}

loom_future *loom_stream_drain(loom_stream *stream)
{
    int r = stream_check(stream, __func__);
    loom_future *f = r < 0 ? NULL : loom_future_new(stream->loop);
    if (!f) {
        errno = r < 0 ? -r : errno;
        return NULL;
    }
    if (stream->error) {
        loom_future_fail(f, stream->error, NULL);
        return f;
    }
    if (stream->queued <= stream->high) {
        loom_future_resolve(f, NULL, NULL);
        return f;
    }
    if (stream->n_drains == stream->drains_cap) {
        size_t cap = stream->drains_cap ? 2 * stream->drains_cap : 4;
        loom_future **v = realloc(stream->drains, cap * sizeof(*v));
        if (!v) {
            loom_future_unref(f);
            errno = ENOMEM;
            return NULL;
        }
        stream->drains = v;
        stream->drains_cap = cap;
    }
    stream->drains[stream->n_drains++] = loom_future_ref(f);
    return f;
}

int loom_await_drain(loom_stream *stream)
{
    loom_future *f = loom_stream_drain(stream);
    if (!f)
        return -errno;
    int r = loom_await(f);
    loom_future_unref(f);
    return r;
}

/* --- ending ------------------------------------------------------------------ */

static void finish_shutdown(loom_stream *s)
{
    loom_future *f = s->shutdown_done;
    s->shutdown_done = NULL;
    int r = 0;
    if (s->socket) {
        r = shutdown(s->fd, SHUT_WR) < 0 ? -errno : 0;
    } else if ((fcntl(s->fd, F_GETFL) & O_ACCMODE) == O_WRONLY) {
        stream_close_fd(s);
        s->eof = true; /* nothing to read from it */
    } else {
        r = -ENOTSOCK;
    }
    if (r < 0)
        loom__io_future_fail(f, r, NULL);
    else {
        loom_future_resolve(f, NULL, NULL);
        loom_future_unref(f);
    }
}

loom_future *loom_stream_shutdown(loom_stream *stream)
{
    int r = stream_check(stream, __func__);
    if (r == 0 && stream->shut)
        r = -EPIPE;
    loom_future *f = r < 0 ? NULL : loom_future_new(stream->loop);
    if (!f) {
        errno = r < 0 ? -r : errno;
        return NULL;
    }
    stream->shut = true;
    if (stream->error) {
        loom_future_fail(f, stream->error, NULL);
        return f;
    }
    stream->shutdown_done = loom_future_ref(f);
    if (list_empty(&stream->writes))
        finish_shutdown(stream);
    return f;
}

loom_future *loom_stream_close(loom_stream *stream)
{
    if (!stream) {
        errno = EINVAL;
        return NULL;
    }
    loom_future *f = loop_is_closed(stream->loop) ? NULL : loom_future_new(stream->loop);
    if (!f) {
        int saved = loop_is_closed(stream->loop) ? ESHUTDOWN : errno;
        loom_stream_abort(stream);
        errno = saved;
        return NULL;
    }
    stream->released = true;
    end_read(stream, 0);
    if (stream->error || list_empty(&stream->writes)) {
        resolve_drains(stream);
        stream_close_fd(stream);
        loom_future_resolve(f, NULL, NULL);
    } else {
        stream->close_done = loom_future_ref(f);
    }
    stream_maybe_free(stream);
    return f;
}

void loom_stream_abort(loom_stream *stream)
{
    if (!stream)
        return;
    stream->released = true;
    end_writes(stream, 0);
    end_read(stream, 0);
    future_cancel_unref(stream->close_done);
    stream->close_done = NULL;
    stream_close_fd(stream);
    stream_maybe_free(stream);
}

/* --- inspection --------------------------------------------------------------- */

int loom_stream_fd(const loom_stream *stream)
{
    return stream && stream->fd >= 0 ? stream->fd : -EBADF;
}

int loom_stream_error(const loom_stream *stream)
{
    return stream ? stream->error : -EINVAL;
}

bool loom_stream_at_eof(const loom_stream *stream)
{
    return stream && stream->eof;
}

loom_loop *loom_stream_loop(const loom_stream *stream)
{
    return stream ? stream->loop : NULL;
}
