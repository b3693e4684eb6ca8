/* echo-server on loom's stream API, on any backend, in two styles:
 *   loom_cb    an accept callback; each read's future continues in a callback
 *   loom_task  an accept loop in a task, and a task per connection
 * Both echo what each read returns, and wait for the drain above the write
 * high water mark: the callback style checks the queue, the task style
 * awaits loom_stream_drain, which resolves at once below the mark. */
#include "config.h"

#include <errno.h>
#include <loom/stream.h>
#include <loom/task.h>
#include <stdio.h>
#include <string.h>

#include "echo-server.h"
#include "loom-bench-backends.h"

static const struct bench_backend *find_backend(const char *name)
{
    for (const struct bench_backend *b = bench_backends; b->name; b++)
        if (strcmp(b->name, name) == 0)
            return b;
    return NULL;
}

void echo_loom_list_backends(void)
{
    for (const struct bench_backend *b = bench_backends; b->name; b++) {
        loom_loop *loop;
        if (b->make(&loop, b->name) == 0) {
            puts(b->name);
            loom_loop_unref(loop);
        }
    }
}

/* A loop on backend, and a TCP server on 127.0.0.1:port in it. */
static int listen_on(const char *backend, uint16_t port, loom_loop **loopp, loom_server **serverp)
{
    const struct bench_backend *b = find_backend(backend);
    loom_server_opts opts = { .backlog = ECHO_BACKLOG };
    char service[8];
    int ret;

    if (!b)
        return -ENOENT;
    if ((ret = b->make(loopp, b->name)) < 0)
        return ret;
    snprintf(service, sizeof service, "%u", port);
    return loom_tcp_listen(*loopp, "127.0.0.1", service, &opts, serverp);
}

/* --- callback style ------------------------------------------------------- */

static void read_next(loom_stream *s);

static void on_drained(loom_future *f, void *data)
{
    loom_stream *s = data;
    int status = loom_future_status(f);
    loom_future_unref(f);
    if (status < 0)
        loom_stream_abort(s);
    else
        read_next(s);
}

static void wait_drain(loom_stream *s)
{
    loom_future *f = loom_stream_drain(s);
    if (!f || loom_future_on_done(f, on_drained, s) < 0) {
        loom_future_unref(f);
        loom_stream_abort(s);
    }
}

static void on_read(loom_future *f, void *data)
{
    loom_stream *s = data;
    loom_bytes *b = loom_future_status(f) == 0 ? loom_future_value(f) : NULL;
    int ret = b && b->len ? loom_stream_write(s, b->data, b->len, NULL) : -EPIPE;

    loom_future_unref(f);
    if (ret < 0 && b && b->eof)
        loom_future_unref(loom_stream_close(s));
    else if (ret < 0)
        loom_stream_abort(s);
    else if (loom_stream_write_queued(s) > LOOM_STREAM_HIGH_WATER)
        wait_drain(s);
    else
        read_next(s);
}

static void read_next(loom_stream *s)
{
    loom_future *f = loom_stream_read(s, ECHO_READ_SIZE);
    if (!f || loom_future_on_done(f, on_read, s) < 0) {
        loom_future_unref(f);
        loom_stream_abort(s);
    }
}

/* Accepted TCP streams come with TCP_NODELAY from loom. */
static void on_accept(loom_server *server, loom_stream *s, void *data)
{
    read_next(s);
}

int echo_run_loom_cb(uint16_t port, const char *backend)
{
    loom_loop *loop;
    loom_server *server;
    int ret = listen_on(backend, port, &loop, &server);

    if (ret < 0 || (ret = loom_server_on_accept(server, on_accept, NULL, NULL)) < 0)
        return ret;
    echo_server_ready();
    return loom_loop_run(loop);
}

/* --- task style ------------------------------------------------------------ */

static int echo_task(void *arg)
{
    loom_stream *s = arg;
    bool more = true;

    while (more) {
        loom_future *f = loom_stream_read(s, ECHO_READ_SIZE);
        loom_bytes *b = f && loom_await(f) == 0 ? loom_future_value(f) : NULL;
        more = b && b->len && loom_stream_write(s, b->data, b->len, NULL) == 0 &&
               loom_await_drain(s) == 0;
        loom_future_unref(f);
    }
    loom_future_unref(loom_stream_close(s));
    return 0;
}

static int accept_task(void *arg)
{
    loom_server *server = arg;
    for (;;) {
        loom_future *f = loom_server_accept(server);
        int ret = f ? loom_await(f) : -errno;
        loom_stream *s = ret == 0 ? loom_stream_take(f) : NULL;
        loom_future_unref(f);
        if (!s)
            return ret < 0 ? ret : -EINVAL;
        loom_future *task = loom_task_spawn(loom_stream_loop(s), echo_task, s);
        if (!task)
            loom_stream_abort(s);
        loom_future_unref(task);
    }
}

int echo_run_loom_task(uint16_t port, const char *backend)
{
    loom_loop *loop;
    loom_server *server;
    int ret = listen_on(backend, port, &loop, &server);

    if (ret < 0)
        return ret;
    loom_future *task = loom_task_spawn(loop, accept_task, server);
    if (!task)
        return -errno;
    echo_server_ready();
    ret = loom_loop_run_until(loop, task);
    return ret < 0 ? ret : loom_future_status(task);
}
