/* echo-count N — N echoes of 1 KiB between two loom streams over a
 * socketpair on one epoll loop (the client writes a message and reads it
 * back whole, the server echoes each read), for callgrind:
 *
 *   valgrind --tool=callgrind bench/echo-count 1000   (and 2000)
 *
 * (Ir(2N) - Ir(N)) / N is one echo's instruction count, both ends and the
 * loop included; LOOM_URING=0 runs it on readiness, else io_uring if the
 * loop's probe allows. Not timed. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <loom/loop.h>
#include <loom/stream.h>

#define MSG 1024

struct echo {
    loom_stream *client, *server;
    long left;   /* echoes still to do */
    size_t got;  /* of the current echo, back at the client */
    unsigned char msg[MSG];
};

static void on_client_read(loom_future *f, void *data);
static void on_server_read(loom_future *f, void *data);

static void die(const char *what)
{
    fprintf(stderr, "echo-count: %s\n", what);
    exit(1);
}

static void read_then(loom_stream *s, loom_future_callback cb, struct echo *e)
{
    loom_future *f = loom_stream_read(s, 65536);
    if (!f || loom_future_on_done(f, cb, e) < 0)
        die("read");
}

static void send_next(struct echo *e)
{
    e->got = 0;
    if (loom_stream_write(e->client, e->msg, MSG, NULL) < 0)
        die("client write");
    read_then(e->client, on_client_read, e);
}

static void on_server_read(loom_future *f, void *data)
{
    struct echo *e = data;
    if (loom_future_status(f) == -ECANCELED) { /* the stream went at the end */
        loom_future_unref(f);
        return;
    }
    loom_bytes *b = loom_future_status(f) == 0 ? loom_future_value(f) : NULL;
    if (!b || !b->len || loom_stream_write(e->server, b->data, b->len, NULL) < 0)
        die("server read");
    loom_future_unref(f);
    read_then(e->server, on_server_read, e);
}

static void on_client_read(loom_future *f, void *data)
{
    struct echo *e = data;
    loom_bytes *b = loom_future_status(f) == 0 ? loom_future_value(f) : NULL;
    if (!b || !b->len)
        die("client read");
    e->got += b->len;
    loom_future_unref(f);
    if (e->got < MSG)
        read_then(e->client, on_client_read, e);
    else if (--e->left > 0)
        send_next(e);
    else
        loom_loop_stop(loom_stream_loop(e->client));
}

int main(int argc, char **argv)
{
    struct echo e = {.left = argc > 1 ? strtol(argv[1], NULL, 10) : 1000};
    loom_loop *loop = NULL;
    int fds[2];

    if (loom_loop_new(&loop, "epoll") < 0 || e.left <= 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
        die("usage: echo-count N");
    memset(e.msg, 'x', sizeof(e.msg));
    if (!(e.client = loom_stream_new(loop, fds[0])) || !(e.server = loom_stream_new(loop, fds[1])))
        die("stream");
    read_then(e.server, on_server_read, &e);
    send_next(&e);
    if (loom_loop_run(loop) < 0)
        die("run");
    loom_stream_abort(e.client);
    loom_stream_abort(e.server);
    loom_loop_run_once(loop, false); /* the server's cancelled read */
    loom_loop_unref(loop);
    return 0;
}
