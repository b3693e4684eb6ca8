/* Connecting: TCP by name (resolution on the executor, the addresses tried
 * as Happy Eyeballs does: families interleaved, the next attempt started
 * after a delay while the earlier ones go on) and Unix-domain sockets. Where
 * sockets' streams are on the io_uring engine, each attempt is a connect on
 * the ring. */
#include "config.h"
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <loom/executor.h>
#include "future/future-private.h"
#include "io-private.h"
#include "loop/loop-private.h"
#include "uring-private.h"

#define ATTEMPT_DELAY_NS LOOM_MSEC(250)
#define MAX_ADDRESSES 16 /* tried at most, as a resolver may return dozens */

struct address {
    struct sockaddr_storage ss;
    socklen_t len;
};

struct connecting;

struct attempt {
    struct connecting *c;
    int fd; /* -1: not started, or over */
    bool on_ring; /* its connect is the ring's (else the fd is watched) */
    struct loom__uring_op op;
};

struct connecting {
    loom_loop *loop;
    struct loop_member member; /* closes the attempts at loop close */
    loom_future *result;
    loom_future *resolving; /* the getaddrinfo future while it runs */
    int refs;               /* the connect itself, the resolver's callback, each connect on the ring */
    struct loom__uring *ring;
    bool finished;
    bool tcp;
    struct address addrs[MAX_ADDRESSES];
    struct attempt attempts[MAX_ADDRESSES];
    size_t n_addrs, next, active;
    int64_t delay_ns;
    loom_handle delay, timeout;
    int last_err;
    char msg[512];
    size_t msg_len;
};

/* --- shared with the other I/O files ------------------------------------------- */

int loom__io_socket(int family, int type)
{
    int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    return fd < 0 ? -errno : fd;
}

int loom__io_unix_address(const char *path, struct sockaddr_un *sun, socklen_t *lenp)
{
    size_t len = path ? strlen(path) : 0;
    if (!len || len >= sizeof(sun->sun_path))
        return -EINVAL;
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, path, len);
    if (path[0] == '@')
        sun->sun_path[0] = '\0'; /* abstract: the name is exactly len bytes */
    *lenp = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] != '@'));
    return 0;
}

/* --- the end of a connect ------------------------------------------------------- */

static void connecting_unref(struct connecting *c)
{
    if (--c->refs)
        return;
    loom__loop_release(c->loop);
    free(c);
}

static void on_resolved_dropped(void *data)
{
    struct connecting *c = data;
    loom_future_unref(c->resolving);
    c->resolving = NULL;
    connecting_unref(c);
}

static void close_attempt(struct connecting *c, struct attempt *a)
{
    if (a->fd < 0)
        return;
    if (a->op.in_ring)
        loom__uring_cancel(c->ring, &a->op); /* its CQE drops its reference */
    else if (!a->on_ring)
        loom__fd_unwatch(c->loop, a->fd);
    close(a->fd);
    a->fd = -1;
    c->active--;
}

/* Stops everything still running; the result is complete (or cancelled). */
static void finish(struct connecting *c)
{
    if (c->finished)
        return;
    c->finished = true;
    bool open = !atomic_load_explicit(&c->loop->closed, memory_order_relaxed);
    if (open) {
        loop_member_remove(c->loop, &c->member);
        if (c->delay)
            loom_cancel(c->loop, c->delay);
        if (c->timeout)
            loom_cancel(c->loop, c->timeout);
    }
    for (size_t i = 0; i < c->n_addrs; i++)
        close_attempt(c, &c->attempts[i]);
    if (c->resolving)
        loom_future_cancel(c->resolving); /* its callback still runs, or is dropped */
    if (c->result) {
        loom__future_set_cancel_hook(c->result, NULL, NULL);
        loom_future_unref(c->result);
        c->result = NULL;
    }
    connecting_unref(c);
}

static void fail(struct connecting *c, int err)
{
    loom_future *f = c->result;
    c->result = NULL;
    loom__future_set_cancel_hook(f, NULL, NULL);
    loom__io_future_fail(f, err, c->msg_len ? c->msg : NULL);
    finish(c);
}

static void result_cancelled(void *data)
{
    finish(data);
}

static void on_timeout(loom_loop *loop, void *data)
{
    struct connecting *c = data;
    c->timeout = 0;
    fail(c, -ETIMEDOUT);
}

static void connect_shutdown(struct loop_member *m)
{
    struct connecting *c = list_item(m, struct connecting, member);
    loop_member_remove(c->loop, m);
    fail(c, -ESHUTDOWN);
}

static void connect_dump(struct loop_member *m, FILE *out)
{
    struct connecting *c = list_item(m, struct connecting, member);
    fprintf(out, "connect: %zu of %zu addresses tried, %zu attempts running", c->next, c->n_addrs, c->active);
}

static const struct loop_member_ops connect_member_ops = {
    .phase = LOOP_PHASE_RELEASES,
    .shutdown = connect_shutdown,
    .dump = connect_dump,
};

/* --- attempts ------------------------------------------------------------------- */

/* Notes what address a failed with, for the result's message. */
static void note_error(struct connecting *c, const struct address *a, int err)
{
    char host[INET6_ADDRSTRLEN + 8] = "unix socket";
    const struct sockaddr *sa = (const struct sockaddr *)&a->ss;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, host, sizeof(host));
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, host, sizeof(host));
    c->last_err = err;
    if (c->msg_len < sizeof(c->msg) - 1) {
        int n = snprintf(c->msg + c->msg_len, sizeof(c->msg) - c->msg_len, "%s%s: %s", c->msg_len ? "; " : "",
                         host, loom_strerror(err));
        c->msg_len = n < 0 ? c->msg_len : c->msg_len + (size_t)n;
        if (c->msg_len >= sizeof(c->msg))
            c->msg_len = sizeof(c->msg) - 1;
    }
}

static void start_next(struct connecting *c);

static void won(struct connecting *c, struct attempt *a)
{
    int fd = a->fd;
    if (!a->on_ring)
        loom_fd_unwatch(c->loop, fd);
    a->fd = -1;
    c->active--;
    if (c->tcp)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
    loom_stream *s = loom__stream_adopt(c->loop, fd);
    if (!s) {
        fail(c, -errno);
        return;
    }
    loom_future_resolve(c->result, s, loom__stream_abort_value);
    finish(c);
}

/* One attempt failed: the next address goes at once. */
static void attempt_failed(struct connecting *c, struct attempt *a, int err)
{
    note_error(c, &c->addrs[a - c->attempts], err);
    close_attempt(c, a);
    if (c->delay) {
        loom_cancel(c->loop, c->delay);
        c->delay = 0;
    }
    start_next(c);
}

static void on_writable(loom_loop *loop, int fd, unsigned events, void *data)
{
    struct attempt *a = data;
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err)
        attempt_failed(a->c, a, -err);
    else
        won(a->c, a);
}

static void ring_connected(struct loom__uring_op *op, int res)
{
    struct attempt *a = list_item(op, struct attempt, op);
    struct connecting *c = a->c;
    if (a->fd >= 0 && (res == 0 || res == -EISCONN)) /* -EISCONN: kernels before 6.2 on a non-blocking socket */
        won(c, a);
    else if (a->fd >= 0)
        attempt_failed(c, a, res);
    connecting_unref(c);
}

static void on_delay(loom_loop *loop, void *data)
{
    struct connecting *c = data;
    c->delay = 0;
    start_next(c);
}

/* Starts a connect to address i; 1 in progress, 0 connected, or a negative errno. */
static int attempt_start(struct connecting *c, size_t i)
{
    struct attempt *a = &c->attempts[i];
    const struct address *addr = &c->addrs[i];
    int fd = loom__io_socket(addr->ss.ss_family, SOCK_STREAM);
    if (fd < 0)
        return fd;
    a->fd = fd;
    c->active++;
    if (c->ring && loom__uring_connect(c->ring, &a->op, fd, (const struct sockaddr *)&addr->ss, addr->len) == 0) {
        a->on_ring = true;
        c->refs++;
        return 1;
    }
    int r;
    do
        r = connect(fd, (const struct sockaddr *)&addr->ss, addr->len);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return 0;
    if (errno != EINPROGRESS)
        return -errno;
    r = loom_fd_watch(c->loop, fd, LOOM_WRITE, on_writable, a, NULL);
    return r < 0 ? r : 1;
}

/* Tries the next addresses until one is under way; fails the connect when
 * none is left and none runs. */
static void start_next(struct connecting *c)
{
    while (c->next < c->n_addrs) {
        size_t i = c->next++;
        int r = attempt_start(c, i);
        if (r == 0) { /* connected at once (a Unix socket may) */
            won(c, &c->attempts[i]);
            return;
        }
        if (r > 0) {
            if (c->delay_ns >= 0 && c->next < c->n_addrs)
                loom_call_later(c->loop, c->delay_ns, on_delay, c, &c->delay);
            return;
        }
        note_error(c, &c->addrs[i], r);
        close_attempt(c, &c->attempts[i]);
    }
    if (!c->active)
        fail(c, c->last_err ? c->last_err : -EHOSTUNREACH);
}

/* --- TCP: resolution first ------------------------------------------------------ */

/* Copies the resolved addresses, the families interleaved (RFC 8305). */
static void take_addresses(struct connecting *c, const struct addrinfo *list)
{
    const struct addrinfo *fam[2][MAX_ADDRESSES];
    size_t n[2] = {0, 0};
    int first = list ? list->ai_family : AF_INET6;
    for (const struct addrinfo *ai = list; ai; ai = ai->ai_next) {
        int k = ai->ai_family != first;
        if (n[k] < MAX_ADDRESSES && ai->ai_addrlen <= sizeof(struct sockaddr_storage))
            fam[k][n[k]++] = ai;
    }
    for (size_t i = 0; c->n_addrs < MAX_ADDRESSES && (i < n[0] || i < n[1]); i++)
        for (int k = 0; k < 2; k++)
            if (i < n[k] && c->n_addrs < MAX_ADDRESSES) {
                struct address *a = &c->addrs[c->n_addrs++];
                memcpy(&a->ss, fam[k][i]->ai_addr, fam[k][i]->ai_addrlen);
                a->len = fam[k][i]->ai_addrlen;
            }
}

/* Runs (or is dropped, below) once for the resolver's future, whose
 * reference c->resolving holds until then. */
static void on_resolved(loom_future *gai, void *data)
{
    struct connecting *c = data;
    if (!c->finished) {
        int r = loom_future_status(gai);
        if (r < 0) {
            const char *msg = loom_future_message(gai);
            c->msg_len = (size_t)snprintf(c->msg, sizeof(c->msg), "%s", msg ? msg : loom_strerror(r));
            fail(c, r);
        } else {
            take_addresses(c, loom_future_value(gai));
            start_next(c);
        }
    }
    on_resolved_dropped(c);
}

static struct connecting *connecting_new(loom_loop *loop, int64_t timeout_ns, int64_t delay_ns)
{
    int r = loop_check(loop, "loom_connect");
    struct connecting *c = r < 0 ? NULL : calloc(1, sizeof(*c));
    if (!c) {
        errno = r < 0 ? -r : ENOMEM;
        return NULL;
    }
    c->loop = loop;
    c->refs = 1;
    c->delay_ns = delay_ns;
    for (size_t i = 0; i < MAX_ADDRESSES; i++)
        c->attempts[i] = (struct attempt){.c = c, .fd = -1, .op.done = ring_connected};
    c->ring = loom__uring_for_streams(loop);
    c->result = loom_future_new(loop);
    if (!c->result || (timeout_ns > 0 && loom_call_later(loop, timeout_ns, on_timeout, c, &c->timeout) < 0)) {
        loom_future_unref(c->result);
        free(c);
        errno = ENOMEM;
        return NULL;
    }
    loom__loop_hold(loop);
    c->member.ops = &connect_member_ops;
    loop_member_add(loop, &c->member);
    loom__future_set_cancel_hook(c->result, result_cancelled, c);
    return c;
}

loom_future *loom_tcp_connect(loom_loop *loop, const char *host, const char *service, const loom_connect_opts *opts)
{
    loom_connect_opts o = opts ? *opts : (loom_connect_opts){0};
    if (!host || !service || (o.family != AF_UNSPEC && o.family != AF_INET && o.family != AF_INET6)) {
        errno = EINVAL;
        return NULL;
    }
    struct connecting *c = connecting_new(loop, o.timeout_ns, o.attempt_delay_ns ? o.attempt_delay_ns : ATTEMPT_DELAY_NS);
    if (!c)
        return NULL;
    c->tcp = true;
    struct addrinfo hints = {.ai_flags = AI_ADDRCONFIG, .ai_family = o.family, .ai_socktype = SOCK_STREAM};
    loom_future *result = loom_future_ref(c->result);
    c->resolving = loom_getaddrinfo(loop, host, service, &hints);
    c->refs++; /* the resolver's callback */
    if (!c->resolving || loom__future_on_done_owned(c->resolving, on_resolved, c, on_resolved_dropped) < 0) {
        c->refs--;
        int err = c->resolving ? ENOMEM : errno;
        loom_future_unref(c->resolving);
        c->resolving = NULL;
        finish(c);
        loom_future_unref(result);
        errno = err;
        return NULL;
    }
    return result;
}

loom_future *loom_unix_connect(loom_loop *loop, const char *path, int64_t timeout_ns)
{
    struct sockaddr_un sun;
    socklen_t len;
    if (loom__io_unix_address(path, &sun, &len) < 0) {
        errno = EINVAL;
        return NULL;
    }
    struct connecting *c = connecting_new(loop, timeout_ns, -1);
    if (!c)
        return NULL;
    memcpy(&c->addrs[0].ss, &sun, len);
    c->addrs[0].len = len;
    c->n_addrs = 1;
    loom_future *result = loom_future_ref(c->result);
    start_next(c);
    return result;
}
