/* Servers: listening TCP and Unix sockets that accept into streams, through
 * a callback or accept futures, and pause instead of spinning when the
 * process runs out of fds. Where sockets' streams are on the io_uring
 * engine, a listener accepts through a multishot accept, armed while
 * somebody takes connections. */
#include "config.h"
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "io-private.h"
#include "loop/loop-private.h"
#include "uring-private.h"

#define MAX_LISTENERS 2     /* IPv6 and IPv4 */
#define ACCEPT_BATCH 32     /* connections taken per readiness event */
#define ACCEPT_RETRY_NS LOOM_MSEC(100)

struct accept_wait {
    struct list_node node;
    loom_future *done;
};

/* A listener's multishot accept on the ring. */
struct ring_accept {
    struct loom__uring_op op;
    loom_server *srv;
    bool cancelled; /* its end is asked for: it is armed again after that */
};

struct loom_server {
    loom_loop *loop;
    struct loop_member member; /* the loop closes the sockets at close */
    int fds[MAX_LISTENERS];
    int n_fds;
    bool tcp;
    char *path;        /* the Unix socket file made, removed at close */
    unsigned want;     /* LOOM_READ while accepting */
    bool paused;       /* out of fds: waiting for retry */
    bool loop_closed;
    bool closing;      /* loom_server_close ran inside the accept callback */
    unsigned in_callback; /* in one of its event handlers: not freed before it ends */
    loom_accept_fn cb;
    void *data;
    loom_destroy_fn destroy;
    struct list waits; /* struct accept_wait, in order */
    loom_handle retry;
    int64_t retry_ns;
    uint64_t accept_errors;
    bool released;              /* closed: freed once the ring holds no accept of it */
    struct loom__uring *ring;   /* accepts through it (NULL: readiness) */
    struct ring_accept accepts[MAX_LISTENERS];
    int *early;                 /* what the ring accepted while nobody took any, in order */
    size_t n_early, cap_early;
    loom_handle hand_out;       /* gives them out (a taker came) */
};

static void server_ready(loom_loop *loop, int fd, unsigned events, void *data);

/* --- accepting ------------------------------------------------------------ */

/* The first accept future still wanted, or NULL (dropping cancelled ones). */
static struct accept_wait *first_wait(loom_server *srv)
{
    while (srv->waits.first) {
        struct accept_wait *w = list_item(srv->waits.first, struct accept_wait, node);
        if (!loom_future_done(w->done))
            return w;
        list_unlink(&srv->waits, &w->node);
        loom_future_unref(w->done);
        free(w);
    }
    return NULL;
}

static bool has_taker(loom_server *srv)
{
    return srv->cb || first_wait(srv);
}

static void hand_out_early(loom_loop *loop, void *data);
static void server_pause(loom_server *srv, int err);

/* Arms the ring's accepts while taking, asks them to end otherwise; false
 * if the ring has no multishot accept (the server goes on readiness). */
static bool ring_set_accepting(loom_server *srv, bool taking)
{
    for (int i = 0; i < srv->n_fds; i++) {
        struct ring_accept *a = &srv->accepts[i];
        if (taking && !a->op.in_ring) {
            int r = loom__uring_accept(srv->ring, &a->op, srv->fds[i]);
            if (r == -EOPNOTSUPP) {
                loom__uring_unreserve(srv->ring, MAX_LISTENERS);
                srv->ring = NULL;
                return false;
            }
            if (r < 0) {
                server_pause(srv, r);
                return true;
            }
        } else if (!taking && a->op.in_ring && !a->cancelled) {
            a->cancelled = loom__uring_cancel(srv->ring, &a->op);
        }
    }
    if (taking && srv->n_early && !srv->hand_out)
        loom_call_soon(srv->loop, hand_out_early, srv, &srv->hand_out);
    return true;
}

static void server_set_interest(loom_server *srv)
{
    bool taking = !srv->paused && !srv->loop_closed && !srv->released && has_taker(srv);
    if (srv->ring && ring_set_accepting(srv, taking))
        return;
    unsigned want = taking ? LOOM_READ : 0;
    if (want == srv->want)
        return;
    for (int i = 0; i < srv->n_fds; i++)
        loom_fd_set_events(srv->loop, srv->fds[i], want);
    srv->want = want;
}

static void server_resume(loom_loop *loop, void *data)
{
    loom_server *srv = data;
    srv->retry = 0;
    srv->paused = false;
    server_set_interest(srv);
}

/* Out of fds or memory: stop accepting for a while, and say so once. */
static void server_pause(loom_server *srv, int err)
{
    if (srv->paused || srv->released || srv->closing || srv->loop_closed)
        return; /* one pause at a time (two listeners may fail together); none once closed */
    srv->accept_errors++;
    srv->paused = true;
    server_set_interest(srv);
    loom_loop_report(srv->loop, err, "accept: %s; the server pauses for %lld ms", loom_strerror(err),
                     (long long)(srv->retry_ns / LOOM_MSEC(1)));
    loom_call_later(srv->loop, srv->retry_ns, server_resume, srv, &srv->retry);
}

static bool accept_transient(int err)
{
    return err == EINTR || err == ECONNABORTED || err == EPROTO || err == EPERM;
}

static void server_free(loom_server *srv);
static void server_maybe_free(loom_server *srv);

/* The end of one of the server's event handlers, which may have closed it. */
static void handler_end(loom_server *srv)
{
    if (--srv->in_callback)
        return;
    if (srv->closing)
        server_free(srv);
    else if (srv->released)
        server_maybe_free(srv);
    else
        server_set_interest(srv);
}

/* Whether a handler may hand out another connection. */
static bool still_taking(loom_server *srv)
{
    return !srv->paused && !srv->closing && !srv->released && has_taker(srv);
}

/* Makes the accepted connection c a stream for the first taker (inside a
 * handler; it may close the server). */
static void hand_over(loom_server *srv, int c)
{
    if (srv->tcp)
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
    loom_stream *s = loom__stream_adopt(srv->loop, c);
    if (!s) {
        server_pause(srv, -errno);
        return;
    }
    struct accept_wait *w = first_wait(srv);
    if (w) {
        list_unlink(&srv->waits, &w->node);
        loom_future_resolve(w->done, s, loom__stream_abort_value);
        loom_future_unref(w->done);
        free(w);
        return;
    }
    srv->cb(srv, s, srv->data);
}

static void server_ready(loom_loop *loop, int fd, unsigned events, void *data)
{
    loom_server *srv = data;
    srv->in_callback++;
    for (int i = 0; i < ACCEPT_BATCH && still_taking(srv); i++) {
        int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0 && accept_transient(errno))
            continue;
        if (c < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                server_pause(srv, -errno);
            break;
        }
        hand_over(srv, c);
    }
    handler_end(srv);
}

/* Keeps c, accepted by the ring when nobody takes connections (its accept
 * was being cancelled), for the next taker, after those before it. */
static void keep_early(loom_server *srv, int c)
{
    if (srv->n_early == srv->cap_early) {
        size_t cap = srv->cap_early ? 2 * srv->cap_early : 8;
        int *early = realloc(srv->early, cap * sizeof(*early));
        if (!early) {
            close(c);
            server_pause(srv, -ENOMEM);
            return;
        }
        srv->early = early;
        srv->cap_early = cap;
    }
    srv->early[srv->n_early++] = c;
}

static void hand_out_early(loom_loop *loop, void *data)
{
    loom_server *srv = data;
    srv->hand_out = 0;
    srv->in_callback++;
    while (srv->n_early && still_taking(srv)) {
        int c = srv->early[0]; /* off the list first: the taker may run the loop */
        memmove(srv->early, srv->early + 1, --srv->n_early * sizeof(*srv->early));
        hand_over(srv, c);
    }
    handler_end(srv);
}

/* Each CQE of a listener's multishot accept: a connection, or its end. */
static void ring_accepted(struct loom__uring_op *op, int res)
{
    struct ring_accept *a = list_item(op, struct ring_accept, op);
    loom_server *srv = a->srv;
    bool asked = a->cancelled;
    if (!op->in_ring)
        a->cancelled = false;
    srv->in_callback++;
    if (res >= 0 && (srv->released || srv->loop_closed || srv->closing))
        close(res);
    else if (res >= 0 && (srv->n_early || !still_taking(srv)))
        keep_early(srv, res);
    else if (res >= 0)
        hand_over(srv, res);
    else if (!op->in_ring && !(res == -ECANCELED && asked) && !accept_transient(-res))
        server_pause(srv, res); /* out of fds (or the kernel ended it): armed again after the pause */
    handler_end(srv);
}

int loom_server_on_accept(loom_server *server, loom_accept_fn cb, void *data, loom_destroy_fn destroy)
{
    if (!server)
        return -EINVAL;
    int r = loop_check(server->loop, __func__);
    if (r < 0)
        return r;
    loom_destroy_fn old = server->destroy;
    void *old_data = server->data;
    server->cb = cb;
    server->data = data;
    server->destroy = destroy;
    server_set_interest(server);
    if (old)
        old(old_data);
    return 0;
}

loom_future *loom_server_accept(loom_server *server)
{
    int r = server ? loop_check(server->loop, __func__) : -EINVAL;
    struct accept_wait *w = r < 0 ? NULL : malloc(sizeof(*w));
    loom_future *f = w ? loom_future_new(server->loop) : NULL;
    if (!f) {
        free(w);
        errno = r < 0 ? -r : ENOMEM;
        return NULL;
    }
    w->done = loom_future_ref(f);
    list_push_back(&server->waits, &w->node);
    server_set_interest(server);
    return f;
}

/* --- life cycle ------------------------------------------------------------- */

static void close_listeners(loom_server *srv)
{
    for (int i = 0; i < srv->n_fds; i++) {
        struct ring_accept *a = &srv->accepts[i];
        if (a->op.in_ring) /* it would keep the socket listening (asked again: an earlier ask may not have gone) */
            a->cancelled = loom__uring_cancel(srv->ring, &a->op);
        loom__fd_unwatch(srv->loop, srv->fds[i]);
        close(srv->fds[i]);
    }
    srv->n_fds = 0;
    for (size_t i = 0; i < srv->n_early; i++)
        close(srv->early[i]);
    srv->n_early = 0;
    if (srv->ring) /* it submits nothing more (the ring may go before the server) */
        loom__uring_unreserve(srv->ring, MAX_LISTENERS);
    srv->ring = NULL;
    if (srv->path)
        unlink(srv->path);
    free(srv->path);
    srv->path = NULL;
}

/* Ends the accept futures (failed with err, or cancelled) and the callback. */
static void end_takers(loom_server *srv, int err)
{
    struct list_node *n;
    while ((n = list_pop_front(&srv->waits))) {
        struct accept_wait *w = list_item(n, struct accept_wait, node);
        if (err)
            loom__io_future_fail(w->done, err, NULL);
        else {
            loom_future_cancel(w->done);
            loom_future_unref(w->done);
        }
        free(w);
    }
    loom_destroy_fn destroy = srv->destroy;
    srv->cb = NULL;
    srv->destroy = NULL;
    if (destroy)
        destroy(srv->data);
}

static void server_maybe_free(loom_server *srv)
{
    for (int i = 0; i < MAX_LISTENERS; i++)
        if (srv->accepts[i].op.in_ring)
            return; /* the accept's last CQE frees it */
    free(srv->early);
    loom__loop_release(srv->loop);
    free(srv);
}

/* Closes the server (once); it is freed when the ring has no accept of it. */
static void server_free(loom_server *srv)
{
    if (srv->released) {
        server_maybe_free(srv);
        return;
    }
    srv->released = true;
    srv->in_callback++; /* a destroy or a future's callback below may close it again */
    if (!srv->loop_closed) {
        loop_member_remove(srv->loop, &srv->member);
        if (srv->retry)
            loom_cancel(srv->loop, srv->retry);
        if (srv->hand_out)
            loom_cancel(srv->loop, srv->hand_out);
    }
    close_listeners(srv);
    end_takers(srv, 0);
    srv->in_callback--;
    server_maybe_free(srv);
}

void loom_server_close(loom_server *server)
{
    if (!server)
        return;
    if (server->in_callback) {
        server->closing = true; /* freed once the callback returns */
        return;
    }
    server_free(server);
}

static void server_shutdown(struct loop_member *m)
{
    loom_server *srv = list_item(m, loom_server, member);
    loop_member_remove(srv->loop, m);
    srv->loop_closed = true;
    srv->in_callback++; /* a future's callback may close it */
    close_listeners(srv);
    end_takers(srv, -ESHUTDOWN);
    handler_end(srv);
}

static void server_dump(struct loop_member *m, FILE *out)
{
    loom_server *srv = list_item(m, loom_server, member);
    fprintf(out, "server fd %d%s%s%s", srv->n_fds ? srv->fds[0] : -1, srv->ring ? " (io_uring)" : "",
            srv->want || (srv->ring && srv->accepts[0].op.in_ring) ? ", accepting" : "",
            srv->paused ? ", paused (out of fds)" : "");
}

static const struct loop_member_ops server_member_ops = {
    .phase = LOOP_PHASE_RELEASES,
    .shutdown = server_shutdown,
    .dump = server_dump,
};

static loom_server *server_new(loom_loop *loop, const loom_server_opts *opts)
{
    loom_server *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return NULL;
    srv->loop = loop;
    srv->retry_ns = opts && opts->accept_retry_ns > 0 ? opts->accept_retry_ns : ACCEPT_RETRY_NS;
    srv->member.ops = &server_member_ops;
    loop_member_add(loop, &srv->member);
    loom__loop_hold(loop);
    srv->ring = loom__uring_for_streams(loop);
    if (srv->ring && !loom__uring_reserve(srv->ring, MAX_LISTENERS))
        srv->ring = NULL;
    for (int i = 0; i < MAX_LISTENERS; i++)
        srv->accepts[i] = (struct ring_accept){.op.done = ring_accepted, .srv = srv};
    return srv;
}

/* Listens on fd (bound) and watches it, still accepting nothing. */
static int server_add_listener(loom_server *srv, int fd, const loom_server_opts *opts)
{
    int backlog = opts && opts->backlog > 0 ? opts->backlog : SOMAXCONN;
    int r = listen(fd, backlog) < 0 ? -errno : loom_fd_watch(srv->loop, fd, 0, server_ready, srv, NULL);
    if (r < 0) {
        close(fd);
        return r;
    }
    srv->fds[srv->n_fds++] = fd;
    return 0;
}

/* --- TCP ----------------------------------------------------------------------- */

static void set_port(struct sockaddr *sa, in_port_t port)
{
    if (sa->sa_family == AF_INET6)
        ((struct sockaddr_in6 *)(void *)sa)->sin6_port = port;
    else
        ((struct sockaddr_in *)(void *)sa)->sin_port = port;
}

static in_port_t bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return 0;
    return ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port;
}

/* A bound TCP socket for ai (port: the one the first socket got, when the
 * kernel picked it), or a negative errno. */
static int tcp_bind(const struct addrinfo *ai, const loom_server_opts *opts, in_port_t port)
{
    int fd = loom__io_socket(ai->ai_family, SOCK_STREAM);
    if (fd < 0)
        return fd;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (opts && opts->reuse_port)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (ai->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    struct sockaddr_storage ss;
    memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    if (port)
        set_port((struct sockaddr *)&ss, port);
    if (bind(fd, (struct sockaddr *)&ss, ai->ai_addrlen) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

/* Binds every address of list; one without IPv6 support is skipped. */
static int tcp_listen_all(loom_server *srv, const struct addrinfo *list, const loom_server_opts *opts)
{
    int r = -EADDRNOTAVAIL;
    for (const struct addrinfo *ai = list; ai && srv->n_fds < MAX_LISTENERS; ai = ai->ai_next) {
        in_port_t port = srv->n_fds ? bound_port(srv->fds[0]) : 0;
        int fd = tcp_bind(ai, opts, port);
        if (fd == -EAFNOSUPPORT || (fd == -EADDRNOTAVAIL && ai->ai_family == AF_INET6 && list->ai_next))
            continue;
        r = fd < 0 ? fd : server_add_listener(srv, fd, opts);
        if (r < 0)
            return r;
    }
    return srv->n_fds ? 0 : r;
}

int loom_tcp_listen(loom_loop *loop, const char *host, const char *service, const loom_server_opts *opts,
                    loom_server **serverp)
{
    int r = loop_check(loop, __func__);
    if (r < 0)
        return r;
    if (!service || !serverp)
        return -EINVAL;
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *list;
    int gai = getaddrinfo(host, service, &hints, &list);
    if (gai == EAI_MEMORY)
        return -ENOMEM;
    if (gai)
        return -EINVAL;
    loom_server *srv = server_new(loop, opts);
    r = srv ? tcp_listen_all(srv, list, opts) : -ENOMEM;
    freeaddrinfo(list);
    if (r < 0 && srv)
        server_free(srv);
    if (r == 0) {
        srv->tcp = true;
        *serverp = srv;
    }
    return r;
}

/* --- Unix ------------------------------------------------------------------------ */

/* Whether a server listens on the socket file at sun. */
static bool unix_listened(const struct sockaddr_un *sun, socklen_t len)
{
    int fd = loom__io_socket(AF_UNIX, SOCK_STREAM);
    if (fd < 0)
        return true; /* cannot tell: leave the file alone */
    int r = connect(fd, (const struct sockaddr *)sun, len);
    int err = errno;
    close(fd);
    return r == 0 || (err != ECONNREFUSED && err != ENOENT);
}

static int unix_bind(const char *path, struct sockaddr_un *sun, socklen_t len)
{
    int fd = loom__io_socket(AF_UNIX, SOCK_STREAM);
    if (fd < 0)
        return fd;
    int r = bind(fd, (struct sockaddr *)sun, len) < 0 ? -errno : 0;
    struct stat st;
    if (r == -EADDRINUSE && path[0] != '@' && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) &&
        !unix_listened(sun, len) && unlink(path) == 0) /* a stale file: nobody listens */
        r = bind(fd, (struct sockaddr *)sun, len) < 0 ? -errno : 0;
    if (r < 0) {
        close(fd);
        return r;
    }
    return fd;
}

int loom_unix_listen(loom_loop *loop, const char *path, const loom_server_opts *opts, loom_server **serverp)
{
    int r = loop_check(loop, __func__);
    if (r < 0)
        return r;
    struct sockaddr_un sun;
    socklen_t len;
    if (!serverp || loom__io_unix_address(path, &sun, &len) < 0)
        return -EINVAL;
    loom_server *srv = server_new(loop, opts);
    if (!srv)
        return -ENOMEM;
    int fd = unix_bind(path, &sun, len);
    if (fd >= 0 && path[0] != '@' && !(srv->path = strdup(path))) {
        close(fd);
        unlink(path);
        fd = -ENOMEM;
    }
    r = fd < 0 ? fd : server_add_listener(srv, fd, opts);
    if (r < 0) {
        server_free(srv);
        return r;
    }
    *serverp = srv;
    return 0;
}

/* --- inspection ------------------------------------------------------------- */

int loom_server_port(const loom_server *server)
{
    if (!server || !server->n_fds)
        return -EINVAL;
    if (!server->tcp)
        return -EAFNOSUPPORT;
    return ntohs(bound_port(server->fds[0]));
}

uint64_t loom_server_accept_errors(const loom_server *server)
{
    return server ? server->accept_errors : 0;
}
