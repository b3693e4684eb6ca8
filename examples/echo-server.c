/* loom echo server: echoes every byte on every TCP connection until SIGTERM
 * or SIGINT, one task per connection, on the stream API.
 *
 *     examples/echo-server [--backend=NAME] [--port=P] [--host=ADDR]
 *
 * NAME: epoll, poll (the built-in loop), glib, libevent (when loom was built
 * with them; the build defines ECHO_WITH_GLIB / ECHO_WITH_LIBEVENT); default:
 * the built-in loop's best, or $LOOM_BACKEND. P: default 7000 (0: the
 * kernel picks; the port is printed either way). ADDR: a numeric address,
 * default every local address (IPv6 and IPv4). */
#define _GNU_SOURCE /* pipe2 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <loom/loom.h>
#ifdef ECHO_WITH_GLIB
#include <loom/loom-glib.h>
#endif
#ifdef ECHO_WITH_LIBEVENT
#include <event2/event.h>
#include <loom/loom-event.h>
#endif

/* --- the server ----------------------------------------------------------------- */

static int echo(void *arg)
{
    loom_stream *s = arg;
    for (;;) {
        loom_future *f = loom_stream_read(s, 64 * 1024);
        loom_bytes *b = loom_await(f) == 0 ? loom_future_value(f) : NULL;
        int r = b && b->len ? loom_stream_write(s, b->data, b->len, NULL) : -1;
        loom_future_unref(f);
        if (r < 0 || loom_await_drain(s) < 0) /* EOF, an error, or the loop closing */
            break;
    }
    loom_future_unref(loom_stream_close(s));
    return 0;
}

static void on_accept(loom_server *server, loom_stream *s, void *loop)
{
    loom_future *task = loom_task_spawn(loop, echo, s);
    if (!task)
        loom_stream_abort(s);
    loom_future_unref(task);
}

/* --- hosts: how each backend makes, runs and stops its loop ------------------------ */

struct host {
    const char *name;
    int (*make)(struct host *h, loom_loop **loopp);
    int (*run)(struct host *h, loom_loop *loop);
    void (*stop)(struct host *h, loom_loop *loop);
    void *native;
};

static int builtin_make(struct host *h, loom_loop **loopp)
{
    return loom_loop_new(loopp, h->name);
}

static int builtin_run(struct host *h, loom_loop *loop)
{
    return loom_loop_run(loop);
}

static void builtin_stop(struct host *h, loom_loop *loop)
{
    loom_loop_stop(loop);
}

#ifdef ECHO_WITH_GLIB
static int glib_make(struct host *h, loom_loop **loopp)
{
    h->native = g_main_loop_new(NULL, FALSE);
    return loom_glib_loop_new(loopp, NULL);
}

static int glib_run(struct host *h, loom_loop *loop)
{
    g_main_loop_run(h->native);
    g_main_loop_unref(h->native);
    return 0;
}

static void glib_stop(struct host *h, loom_loop *loop)
{
    g_main_loop_quit(h->native);
}
#endif

#ifdef ECHO_WITH_LIBEVENT
static int event_make(struct host *h, loom_loop **loopp)
{
    h->native = event_base_new();
    return h->native ? loom_event_loop_new(loopp, h->native) : -ENOMEM;
}

static int event_run(struct host *h, loom_loop *loop)
{
    return event_base_dispatch(h->native) < 0 ? -EIO : 0;
}

static void event_stop(struct host *h, loom_loop *loop)
{
    event_base_loopbreak(h->native);
}
#endif

static struct host hosts[] = {
    {"epoll", builtin_make, builtin_run, builtin_stop, NULL},
    {"poll", builtin_make, builtin_run, builtin_stop, NULL},
#ifdef ECHO_WITH_GLIB
    {"glib", glib_make, glib_run, glib_stop, NULL},
#endif
#ifdef ECHO_WITH_LIBEVENT
    {"libevent", event_make, event_run, event_stop, NULL},
#endif
};

/* --- SIGTERM: a self-pipe the loop reads ----------------------------------------------- */

static int signal_pipe[2];

static void on_signal(int sig)
{
    ssize_t r = write(signal_pipe[1], "", 1);
    (void)r;
}

static void on_signal_pipe(loom_loop *loop, int fd, unsigned events, void *data)
{
    struct host *h = data;
    loom_remove_reader(loop, fd);
    h->stop(h, loop);
}

static int watch_signals(loom_loop *loop, struct host *h)
{
    if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return -errno;
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    return loom_add_reader(loop, signal_pipe[0], on_signal_pipe, h);
}

/* --- main --------------------------------------------------------------------------- */

static struct host default_host = {NULL, builtin_make, builtin_run, builtin_stop, NULL};

static struct host *find_host(const char *name)
{
    if (!name)
        return &default_host;
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++)
        if (!strcmp(hosts[i].name, name))
            return &hosts[i];
    return NULL;
}

int main(int argc, char **argv)
{
    const char *backend = NULL, *port = "7000", *host = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strncmp(argv[i], "--backend=", 10))
            backend = argv[i] + 10;
        else if (!strncmp(argv[i], "--port=", 7))
            port = argv[i] + 7;
        else if (!strncmp(argv[i], "--host=", 7))
            host = argv[i] + 7;
        else {
            fprintf(stderr, "usage: %s [--backend=NAME] [--port=P] [--host=ADDR]\n", argv[0]);
            return 2;
        }
    }
    struct host *h = find_host(backend);
    loom_loop *loop;
    int r = h ? h->make(h, &loop) : -EINVAL;
    if (r < 0) {
        fprintf(stderr, "echo-server: backend %s: %s\n", backend ? backend : "default", loom_strerror(r));
        return 1;
    }
    loom_server *server;
    r = loom_tcp_listen(loop, host, port, NULL, &server);
    if (r == 0)
        r = loom_server_on_accept(server, on_accept, loop, NULL);
    if (r == 0)
        r = watch_signals(loop, h);
    if (r < 0) {
        fprintf(stderr, "echo-server: port %s: %s\n", port, loom_strerror(r));
        return 1;
    }
    printf("echo-server: %s, port %d\n", loom_loop_backend_name(loop), loom_server_port(server));
    fflush(stdout);
    r = h->run(h, loop);
    loom_server_close(server);
    loom_loop_unref(loop); /* the connections' tasks see -ESHUTDOWN and close their streams */
#ifdef ECHO_WITH_LIBEVENT
    if (h->run == event_run)
        event_base_free(h->native);
#endif
    close(signal_pipe[0]);
    close(signal_pipe[1]);
    return r < 0 ? 1 : 0;
}
