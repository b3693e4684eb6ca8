/* loom-curl — libcurl's multi_socket interface driven by a loom loop.
 *
 * One bridge per loop (per-loop data): a multi handle, one loom timer for
 * curl's timeout, and the list of transfers curl still runs. A running
 * transfer is owned by that list; once curl finished it, by its future (as
 * the future's value). At close, a CLOSE hook empties curl while the loop is
 * open and the data's destroy fails what was left once it is closed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <loom/loom-curl.h>

typedef struct bridge bridge;

typedef struct transfer {
    bridge *bridge;
    CURL *easy;
    loom_future *future; /* a reference while running; NULL once finished */
    loom_curl_write_fn write;
    void *write_data;
    char *body;
    size_t len, cap;
    CURLcode result;
    long http_status;
    struct transfer *prev, *next;
} transfer;

struct bridge {
    loom_loop *loop; /* borrowed: the bridge lives no longer than the loop is open */
    CURLM *multi;
    loom_handle timer;
    transfer *running;
};

static const char bridge_key;

static void transfer_free(void *data)
{
    transfer *t = data;

    curl_easy_cleanup(t->easy);
    free(t->body);
    free(t);
}

static void transfer_unlink(transfer *t)
{
    bridge *b = t->bridge;

    if (t->prev)
        t->prev->next = t->next;
    else
        b->running = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->prev = t->next = NULL;
}

/* Takes t out of curl and the list; the caller then owns t and its future
 * reference (returned). */
static loom_future *transfer_detach(transfer *t)
{
    loom_future *future = t->future;

    curl_multi_remove_handle(t->bridge->multi, t->easy);
    transfer_unlink(t);
    t->future = NULL;
    return future;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *data)
{
    transfer *t = data;
    size_t n = size * nmemb;

    if (loom_future_done(t->future)) /* cancelled: its removal is queued */
        return 0;
    if (t->write)
        return t->write(ptr, n, t->write_data);
    if (t->cap - t->len <= n) { /* room for n bytes and a NUL */
        size_t cap = t->cap ? t->cap : 4096;
        char *body;

        while (cap - t->len <= n)
            cap *= 2;
        body = realloc(t->body, cap);
        if (!body)
            return 0;
        t->body = body;
        t->cap = cap;
    }
    memcpy(t->body + t->len, ptr, n);
    t->len += n;
    t->body[t->len] = '\0';
    return n;
}

/* Removes loom's watch before the fd goes, so that curl's next socket with
 * the same number starts afresh instead of meeting a closed fd's watch. */
static int on_close_socket(void *data, curl_socket_t fd)
{
    bridge *b = data;

    loom_fd_unwatch(b->loop, fd);
    return close(fd);
}

/* Completes every transfer curl reports finished. */
static void collect_done(bridge *b)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(b->multi, &left))) {
        transfer *t = NULL;
        loom_future *future;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        t->result = msg->data.result;
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->http_status);
        future = transfer_detach(t);
        loom_future_resolve(future, t, transfer_free); /* frees t at once if cancelled meanwhile */
        loom_future_unref(future);
    }
}

static void socket_action(bridge *b, curl_socket_t fd, int flags)
{
    int running;

    curl_multi_socket_action(b->multi, fd, flags, &running);
    collect_done(b);
}

static void on_fd(loom_loop *loop, int fd, unsigned events, void *data)
{
    int flags = 0;

    if (events & LOOM_READ)
        flags |= CURL_CSELECT_IN;
    if (events & LOOM_WRITE)
        flags |= CURL_CSELECT_OUT;
    if (events & LOOM_ERR)
        flags |= CURL_CSELECT_ERR;
    socket_action(data, fd, flags);
}

static void on_timer(loom_loop *loop, void *data)
{
    bridge *b = data;

    b->timer = 0;
    socket_action(b, CURL_SOCKET_TIMEOUT, 0);
}

/* CURLMOPT_SOCKETFUNCTION: curl's interest in fd, as one loom watch. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *data, void *socketp)
{
    bridge *b = data;
    unsigned events = 0;
    int r;

    if (what == CURL_POLL_REMOVE) {
        loom_fd_unwatch(b->loop, fd); /* -ENOENT when on_close_socket did it */
        return 0;
    }
    if (what & CURL_POLL_IN)
        events |= LOOM_READ;
    if (what & CURL_POLL_OUT)
        events |= LOOM_WRITE;
    r = loom_fd_set_events(b->loop, fd, events);
    if (r == -EBADF) /* a suspended watch: the number names a new socket */
        loom_fd_unwatch(b->loop, fd);
    if (r == -ENOENT || r == -EBADF)
        r = loom_fd_watch(b->loop, fd, events, on_fd, b, NULL);
    return r < 0 ? -1 : 0;
}

/* CURLMOPT_TIMERFUNCTION: curl's one timeout, as one loom timer. */
static int on_timeout(CURLM *multi, long timeout_ms, void *data)
{
    bridge *b = data;

    if (b->timer)
        loom_cancel(b->loop, b->timer);
    b->timer = 0;
    if (timeout_ms < 0)
        return 0;
    return loom_call_later(b->loop, LOOM_MSEC(timeout_ms), on_timer, b, &b->timer) < 0 ? -1 : 0;
}

/* CLOSE hook: takes the transfers out of curl and lets it close its
 * connections (their watches go through on_close_socket) while the loop is
 * still open. */
static void bridge_shutdown(loom_loop *loop, void *data)
{
    bridge *b = data;

    for (transfer *t = b->running; t; t = t->next)
        curl_multi_remove_handle(b->multi, t->easy);
    curl_multi_cleanup(b->multi);
    b->multi = NULL;
    if (b->timer)
        loom_cancel(loop, b->timer);
    b->timer = 0;
}

/* The per-loop data's destroy, once the loop is closed: the transfers fail
 * there, where their completion schedules nothing (so nothing is dropped). */
static void bridge_free(void *data)
{
    bridge *b = data;

    while (b->running) {
        transfer *t = b->running;

        transfer_unlink(t);
        loom_future_fail(t->future, -ESHUTDOWN, "loop closed during the transfer");
        loom_future_unref(t->future);
        transfer_free(t);
    }
    free(b);
}

static bridge *bridge_new(loom_loop *loop)
{
    bridge *b = calloc(1, sizeof(*b));

    if (!b)
        return NULL;
    b->loop = loop;
    b->multi = curl_multi_init();
    if (!b->multi) {
        free(b);
        return NULL;
    }
    curl_multi_setopt(b->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(b->multi, CURLMOPT_SOCKETDATA, b);
    curl_multi_setopt(b->multi, CURLMOPT_TIMERFUNCTION, on_timeout);
    curl_multi_setopt(b->multi, CURLMOPT_TIMERDATA, b);
    return b;
}

/* The loop's bridge, made on first use; NULL with errno set. */
static bridge *bridge_get(loom_loop *loop)
{
    bridge *b = loom_loop_get_data(loop, &bridge_key);
    int r;

    if (b)
        return b;
    b = bridge_new(loop);
    if (!b) {
        errno = ENOMEM;
        return NULL;
    }
    r = loom_loop_set_data(loop, &bridge_key, b, bridge_free);
    if (r < 0) {
        curl_multi_cleanup(b->multi);
        free(b);
        errno = -r;
        return NULL;
    }
    r = loom_hook_add(loop, LOOM_HOOK_CLOSE, bridge_shutdown, b, NULL, NULL);
    if (r < 0) {
        curl_multi_cleanup(b->multi);
        b->multi = NULL;
        loom_loop_set_data(loop, &bridge_key, NULL, NULL); /* frees b */
        errno = -r;
        return NULL;
    }
    return b;
}

/* Runs for every transfer's future once done: a cancelled transfer still in
 * curl is removed here, outside curl's callbacks. */
static void on_future_done(loom_future *future, void *data)
{
    bridge *b = data;

    if (loom_future_state_get(future) != LOOM_FUTURE_CANCELLED)
        return;
    for (transfer *t = b->running; t; t = t->next) {
        if (t->future == future) {
            loom_future_unref(transfer_detach(t));
            transfer_free(t);
            return;
        }
    }
}

static int transfer_setup(transfer *t)
{
    CURL *easy = t->easy;

    if (curl_easy_setopt(easy, CURLOPT_PRIVATE, t) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_write) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_WRITEDATA, t) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, t->bridge) != CURLE_OK)
        return -EIO;
    return 0;
}

/* Undoes transfer_setup on a handle the caller keeps (a failed fetch), so
 * that it no longer points at the freed transfer. */
static void transfer_unset(CURL *easy)
{
    curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, NULL);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, stdout);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, NULL);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, NULL);
}

static void transfer_link(transfer *t)
{
    bridge *b = t->bridge;

    t->next = b->running;
    if (b->running)
        b->running->prev = t;
    b->running = t;
}

loom_future *loom_curl_fetch(loom_loop *loop, CURL *easy, loom_curl_write_fn write, void *data)
{
    bridge *b;
    transfer *t;
    int r;

    if (!loop || !easy) {
        errno = EINVAL;
        return NULL;
    }
    b = bridge_get(loop);
    if (!b)
        return NULL;
    if (!b->multi) { /* called from a CLOSE hook after the bridge's own */
        errno = ESHUTDOWN;
        return NULL;
    }
    t = calloc(1, sizeof(*t));
    if (!t) {
        errno = ENOMEM;
        return NULL;
    }
    *t = (transfer){.bridge = b, .easy = easy, .write = write, .write_data = data};
    t->future = loom_future_new(loop);
    if (!t->future) {
        free(t);
        return NULL;
    }
    r = transfer_setup(t);
    if (r == 0)
        r = loom_future_on_done(t->future, on_future_done, b);
    if (r == 0 && curl_multi_add_handle(b->multi, easy) != CURLM_OK)
        r = -EIO;
    if (r < 0) {
        transfer_unset(easy);
        loom_future_cancel(t->future);
        loom_future_unref(t->future);
        free(t);
        errno = -r;
        return NULL;
    }
    transfer_link(t);
    return loom_future_ref(t->future);
}

static transfer *resolved_transfer(loom_future *future)
{
    if (!future || loom_future_state_get(future) != LOOM_FUTURE_RESOLVED)
        return NULL;
    return loom_future_value(future);
}

int loom_curl_result(loom_future *future)
{
    transfer *t;

    if (!future)
        return -EINVAL;
    t = resolved_transfer(future);
    return t ? (int)t->result : loom_future_status(future);
}

long loom_curl_http_status(loom_future *future)
{
    transfer *t = resolved_transfer(future);

    return t ? t->http_status : 0;
}

const char *loom_curl_body(loom_future *future, size_t *len)
{
    transfer *t = resolved_transfer(future);

    if (len)
        *len = t ? t->len : 0;
    return t ? t->body : NULL;
}

char *loom_curl_take_body(loom_future *future, size_t *len)
{
    transfer *t = resolved_transfer(future);
    char *body = t ? t->body : NULL;

    if (len)
        *len = t ? t->len : 0;
    if (t) {
        t->body = NULL;
        t->len = t->cap = 0;
    }
    return body;
}

CURL *loom_curl_easy(loom_future *future)
{
    transfer *t = resolved_transfer(future);

    return t ? t->easy : NULL;
}
