/* loom_dgram: datagram sockets over one loom_fd_watch. Sends and receive
 * futures wait in FIFO queues; the watch's interest follows what is queued
 * (READ while someone receives, WRITE while sends wait for room). Receives
 * use recvmsg with MSG_TRUNC, which reports a datagram's real size, so one
 * larger than the limit is reported instead of cut. */
#include "config.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <loom/dgram.h>
#include "base/list.h"
#include "loop/loop-private.h"

/* Receiver callbacks per readiness event, so one busy socket cannot starve
 * the loop (the watch is level-triggered: the rest comes next poll). */
#define RECEIVER_BATCH 32

struct send_op {
    struct list_node node;
    loom_future *future;
    struct sockaddr_storage addr;
    socklen_t addrlen; /* 0: the connected peer */
    size_t len;
    unsigned char data[];
};

struct recv_op {
    struct list_node node;
    loom_future *future;
    size_t max;
};

struct loom_dgram {
    loom_loop *loop; /* its memory is held */
    int fd;          /* -1 once closed */
    struct list sends, recvs;
    loom_dgram_callback cb;
    void *cb_data;
    loom_destroy_fn cb_destroy;
    loom_datagram *buf; /* the receiver's, for max bytes */
    size_t max;
    loom_handle close_hook;
    bool dispatching; /* in dgram_ready: loom_dgram_close defers the free */
    bool freeing;
};

static void update_events(loom_dgram *d)
{
    unsigned events = 0;

    if (d->fd < 0)
        return;
    if (d->cb || !list_empty(&d->recvs))
        events |= LOOM_READ;
    if (!list_empty(&d->sends))
        events |= LOOM_WRITE;
    loom_fd_set_events(d->loop, d->fd, events);
}

/* recvmsg of one datagram into msg with max bytes of room: 0 (msg->len is
 * the real size, larger than max if it did not fit), or a negative errno. */
static int recv_one(int fd, loom_datagram *msg, size_t max)
{
    struct iovec iov = {.iov_base = msg->data, .iov_len = max};
    struct msghdr mh = {.msg_name = &msg->from, .msg_namelen = sizeof(msg->from), .msg_iov = &iov,
                        .msg_iovlen = 1};
    ssize_t n;

    do
        n = recvmsg(fd, &mh, MSG_TRUNC | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    msg->fromlen = mh.msg_namelen;
    msg->len = (size_t)n;
    /* A kernel that flags the cut without the real size: at least max + 1. */
    if ((mh.msg_flags & MSG_TRUNC) && msg->len <= max)
        msg->len = max + 1;
    return 0;
}

static void fail_too_large(loom_future *future, size_t len, size_t max)
{
    char msg[96];

    snprintf(msg, sizeof(msg), "datagram of %zu bytes is larger than the limit of %zu", len, max);
    loom_future_fail(future, -EMSGSIZE, msg);
}

/* The first receive future still wanted (cancelled ones are dropped). */
static struct recv_op *next_recv(loom_dgram *d)
{
    while (!list_empty(&d->recvs)) {
        struct recv_op *op = list_item(d->recvs.first, struct recv_op, node);
        if (!loom_future_done(op->future))
            return op;
        list_unlink(&d->recvs, &op->node);
        loom_future_unref(op->future);
        free(op);
    }
    return NULL;
}

/* Completes op with one datagram; -EAGAIN when there is none yet. */
static int recv_for(loom_dgram *d, struct recv_op *op)
{
    loom_datagram *msg = malloc(sizeof(*msg) + op->max);
    int r;

    if (!msg) {
        loom_future_fail(op->future, -ENOMEM, NULL);
        return 0;
    }
    r = recv_one(d->fd, msg, op->max);
    if (r == -EAGAIN || r == -EWOULDBLOCK) {
        free(msg);
        return -EAGAIN;
    }
    if (r < 0)
        loom_future_fail(op->future, r, NULL);
    else if (msg->len > op->max)
        fail_too_large(op->future, msg->len, op->max);
    else {
        loom_datagram *fit = realloc(msg, sizeof(*msg) + msg->len);
        loom_future_resolve(op->future, fit ? fit : msg, free);
        return 0;
    }
    free(msg);
    return 0;
}

static void serve_recvs(loom_dgram *d)
{
    struct recv_op *op;

    while (d->fd >= 0 && (op = next_recv(d)) && recv_for(d, op) == 0) {
        list_unlink(&d->recvs, &op->node);
        loom_future_unref(op->future);
        free(op);
    }
}

static void serve_receiver(loom_dgram *d)
{
    for (int i = 0; i < RECEIVER_BATCH && d->cb && d->fd >= 0; i++) {
        int r = recv_one(d->fd, d->buf, d->max);

        if (r == -EAGAIN || r == -EWOULDBLOCK)
            return;
        if (r < 0)
            d->cb(d, NULL, r, d->cb_data);
        else
            d->cb(d, d->buf, d->buf->len > d->max ? -EMSGSIZE : 0, d->cb_data);
    }
}

/* sendto of one queued datagram: 0 or a negative errno. */
static int send_one(int fd, const struct send_op *op)
{
    const struct sockaddr *to = op->addrlen ? (const struct sockaddr *)&op->addr : NULL;
    ssize_t n;

    do
        n = sendto(fd, op->data, op->len, MSG_NOSIGNAL | MSG_DONTWAIT, to, op->addrlen);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : 0;
}

/* Sends what is queued, in order, until the socket has no room. */
static void flush_sends(loom_dgram *d)
{
    while (d->fd >= 0 && !list_empty(&d->sends)) {
        struct send_op *op = list_item(d->sends.first, struct send_op, node);
        int r = 0;

        if (!loom_future_done(op->future)) { /* else cancelled: withdrawn */
            r = send_one(d->fd, op);
            if (r == -EAGAIN || r == -EWOULDBLOCK)
                return;
            if (r < 0)
                loom_future_fail(op->future, r, NULL);
            else
                loom_future_resolve_int(op->future, (int64_t)op->len);
        }
        list_unlink(&d->sends, &op->node);
        loom_future_unref(op->future);
        free(op);
    }
}

static void dgram_free(loom_dgram *d)
{
    loom_loop *loop = d->loop;

    free(d->buf);
    free(d);
    loom__loop_release(loop);
}

static void dgram_ready(loom_loop *loop, int fd, unsigned events, void *data)
{
    loom_dgram *d = data;

    d->dispatching = true;
    if (events & LOOM_WRITE)
        flush_sends(d);
    if (events & LOOM_READ) {
        if (d->cb)
            serve_receiver(d);
        else
            serve_recvs(d);
    }
    d->dispatching = false;
    if (d->freeing)
        dgram_free(d);
    else
        update_events(d);
}

/* Closes the socket and fails everything pending with err. */
static void dgram_shut(loom_dgram *d, int err)
{
    struct list_node *n;

    if (d->fd >= 0) {
        loom_fd_unwatch(d->loop, d->fd);
        close(d->fd);
        d->fd = -1;
    }
    while ((n = list_pop_front(&d->sends))) {
        struct send_op *op = list_item(n, struct send_op, node);
        loom_future_fail(op->future, err, NULL);
        loom_future_unref(op->future);
        free(op);
    }
    while ((n = list_pop_front(&d->recvs))) {
        struct recv_op *op = list_item(n, struct recv_op, node);
        loom_future_fail(op->future, err, NULL);
        loom_future_unref(op->future);
        free(op);
    }
}

/* The loop's CLOSE hook: the socket goes before the loop would report its
 * watch dropped. */
static void dgram_loop_closing(loom_loop *loop, void *data)
{
    loom_dgram *d = data;

    d->close_hook = 0;
    dgram_shut(d, -ESHUTDOWN);
}

/* Takes fd (non-blocking, close-on-exec) on success. */
static int dgram_wrap(loom_loop *loop, int fd, loom_dgram **dgramp)
{
    loom_dgram *d = calloc(1, sizeof(*d));
    int r;

    if (!d)
        return -ENOMEM;
    d->loop = loop;
    d->fd = fd;
    r = loom_fd_watch(loop, fd, 0, dgram_ready, d, NULL);
    if (r == 0 && (r = loom_hook_add(loop, LOOM_HOOK_CLOSE, dgram_loop_closing, d, NULL, &d->close_hook)) < 0)
        loom_fd_unwatch(loop, fd);
    if (r < 0) {
        free(d);
        return r;
    }
    loom__loop_hold(loop);
    *dgramp = d;
    return 0;
}

int loom_dgram_new(loom_loop *loop, int family, loom_dgram **dgramp)
{
    int fd, r;

    LOOP_CHECK(loop);
    if (!dgramp)
        return -EINVAL;
    if (family != AF_INET && family != AF_INET6 && family != AF_UNIX)
        return -EAFNOSUPPORT;
    fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    r = dgram_wrap(loop, fd, dgramp);
    if (r < 0)
        close(fd);
    return r;
}

int loom_dgram_new_from_fd(loom_loop *loop, int fd, loom_dgram **dgramp)
{
    int type, flags;
    socklen_t len = sizeof(type);

    LOOP_CHECK(loop);
    if (!dgramp)
        return -EINVAL;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
        return -errno;
    if (type != SOCK_DGRAM)
        return -EPROTOTYPE;
    flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return -errno;
    return dgram_wrap(loop, fd, dgramp);
}

/* The checks every call on an object makes: the loop's, then the socket. */
static int dgram_check(const loom_dgram *d, const char *func)
{
    int r;

    if (!d)
        return -EINVAL;
    r = loop_check(d->loop, func);
    if (r == 0 && d->fd < 0)
        r = -ESHUTDOWN;
    return r;
}

int loom_dgram_bind(loom_dgram *dgram, const struct sockaddr *addr, socklen_t addrlen)
{
    int r = dgram_check(dgram, __func__);

    if (r == 0 && bind(dgram->fd, addr, addrlen) < 0)
        r = -errno;
    return r;
}

int loom_dgram_connect(loom_dgram *dgram, const struct sockaddr *addr, socklen_t addrlen)
{
    int r = dgram_check(dgram, __func__);

    /* A datagram connect never blocks: it only sets the peer. */
    if (r == 0 && connect(dgram->fd, addr, addrlen) < 0)
        r = -errno;
    return r;
}

int loom_dgram_local_address(const loom_dgram *dgram, struct sockaddr *addr, socklen_t *addrlen)
{
    int r = dgram_check(dgram, __func__);

    if (r == 0 && getsockname(dgram->fd, addr, addrlen) < 0)
        r = -errno;
    return r;
}

int loom_dgram_fd(const loom_dgram *dgram)
{
    int r = dgram_check(dgram, __func__);

    return r < 0 ? r : dgram->fd;
}

/* NULL with errno set from a negative errno. */
static loom_future *fail_null(int err)
{
    errno = -err;
    return NULL;
}

loom_future *loom_dgram_send_to(loom_dgram *dgram, const void *buf, size_t len, const struct sockaddr *addr,
                                socklen_t addrlen)
{
    int r = dgram_check(dgram, __func__);
    struct send_op *op;

    if (r < 0)
        return fail_null(r);
    if ((!buf && len > 0) || (addr && (addrlen == 0 || addrlen > sizeof(op->addr))))
        return fail_null(-EINVAL);
    op = malloc(sizeof(*op) + len);
    if (!op || !(op->future = loom_future_new(dgram->loop))) {
        free(op);
        return fail_null(-ENOMEM);
    }
    op->addrlen = addr ? addrlen : 0;
    if (addr)
        memcpy(&op->addr, addr, addrlen);
    op->len = len;
    if (len > 0)
        memcpy(op->data, buf, len);
    list_push_back(&dgram->sends, &op->node);
    loom_future *result = loom_future_ref(op->future);
    flush_sends(dgram);
    update_events(dgram);
    return result;
}

loom_future *loom_dgram_recv_from(loom_dgram *dgram, size_t max)
{
    int r = dgram_check(dgram, __func__);
    struct recv_op *op;

    if (r < 0)
        return fail_null(r);
    if (max == 0)
        return fail_null(-EINVAL);
    if (dgram->cb)
        return fail_null(-EBUSY);
    op = malloc(sizeof(*op));
    if (!op || !(op->future = loom_future_new(dgram->loop))) {
        free(op);
        return fail_null(-ENOMEM);
    }
    op->max = max;
    list_push_back(&dgram->recvs, &op->node);
    update_events(dgram);
    return loom_future_ref(op->future);
}

static void receiver_clear(loom_dgram *d)
{
    loom_destroy_fn destroy = d->cb_destroy;
    void *data = d->cb_data;

    d->cb = NULL;
    d->cb_data = NULL;
    d->cb_destroy = NULL;
    if (destroy)
        destroy(data);
}

int loom_dgram_set_receiver(loom_dgram *dgram, size_t max, loom_dgram_callback cb, void *data,
                            loom_destroy_fn destroy)
{
    int r = dgram_check(dgram, __func__);

    if (r < 0)
        return r;
    if (next_recv(dgram))
        return -EBUSY;
    if (max == 0)
        max = LOOM_DGRAM_DEFAULT_MAX;
    if (cb && (!dgram->buf || dgram->max != max)) {
        /* A running callback's msg goes with the old buffer (dgram.h). */
        loom_datagram *buf = malloc(sizeof(*buf) + max);
        if (!buf)
            return -ENOMEM;
        free(dgram->buf);
        dgram->buf = buf;
        dgram->max = max;
    }
    receiver_clear(dgram);
    dgram->cb = cb;
    dgram->cb_data = data;
    dgram->cb_destroy = destroy;
    update_events(dgram);
    return 0;
}

void loom_dgram_close(loom_dgram *dgram)
{
    if (!dgram)
        return;
    if (!loop_on_owner_thread(dgram->loop)) {
        loom_loop_report(dgram->loop, -EXDEV, "loom_dgram_close called from a foreign thread");
        return;
    }
    if (dgram->close_hook)
        loom_hook_remove(dgram->loop, dgram->close_hook);
    dgram->close_hook = 0;
    dgram_shut(dgram, -ECANCELED);
    receiver_clear(dgram);
    if (dgram->dispatching)
        dgram->freeing = true;
    else
        dgram_free(dgram);
}
