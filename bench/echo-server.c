/* echo-server — runs one of the echo servers of echo-server.h:
 *
 *   echo-server --server=NAME [--backend=NAME] --port=P
 *   echo-server --list        the servers built here, one per line
 *   echo-server --backends    the loom backends they run on, one per line */
#include "config.h"

#include "echo-server.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench-util.h"

const struct echo_server echo_servers[] = {
#ifdef ECHO_RAW_EPOLL
    { "raw_epoll", echo_run_raw_epoll, 0, NULL },
#endif
#ifdef ECHO_RAW_URING
    { "raw_uring", echo_run_raw_uring, 0, echo_uring_available },
#endif
#ifdef ECHO_LIBUV
    { "libuv", echo_run_libuv, 0, NULL },
#endif
#ifdef ECHO_BUFFEREVENT
    { "bufferevent", echo_run_bufferevent, 0, NULL },
#endif
#ifdef ECHO_GIO
    { "gio", echo_run_gio, 0, NULL },
#endif
#ifdef ECHO_LOOM
    { "loom_cb", echo_run_loom_cb, 1, NULL },
    { "loom_task", echo_run_loom_task, 1, NULL },
#endif
    { NULL, NULL, 0, NULL },
};

void echo_server_ready(void)
{
    fputs("listening\n", stdout);
    fflush(stdout);
}

void echo_set_nodelay(int fd)
{
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
        bench_die(errno, "TCP_NODELAY");
}

int echo_listen_socket(uint16_t port)
{
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        bench_die(errno, "socket");
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        bench_die(errno, "SO_REUSEADDR");
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
        bench_die(errno, "bind");
    if (listen(fd, ECHO_BACKLOG) < 0)
        bench_die(errno, "listen");
    return fd;
}

static const char *option(const char *arg, const char *name)
{
    size_t len = strlen(name);
    return strncmp(arg, name, len) == 0 ? arg + len : NULL;
}

static const struct echo_server *find_server(const char *name)
{
    for (const struct echo_server *s = echo_servers; s->name; s++)
        if (strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

static void list_servers(void)
{
    for (const struct echo_server *s = echo_servers; s->name; s++)
        if (!s->available || s->available())
            puts(s->name);
}

static void list_backends(void)
{
#ifdef ECHO_LOOM
    echo_loom_list_backends();
#endif
}

static BENCH_NORETURN void usage(void)
{
    fputs("usage: echo-server --server=NAME [--backend=NAME] --port=P | --list | --backends\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    const char *name = NULL, *backend = NULL, *v;
    long port = -1;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--list") == 0) {
            list_servers();
            return 0;
        } else if (strcmp(argv[i], "--backends") == 0) {
            list_backends();
            return 0;
        } else if ((v = option(argv[i], "--server="))) {
            name = v;
        } else if ((v = option(argv[i], "--backend="))) {
            backend = v;
        } else if ((v = option(argv[i], "--port="))) {
            port = strtol(v, NULL, 10);
        } else {
            usage();
        }
    }
    const struct echo_server *server = name ? find_server(name) : NULL;
    if (name && !server) {
        fprintf(stderr, "echo-server: no server %s here (--list)\n", name);
        return 2;
    }
    if (!server || port < 0 || port > 65535 || (backend && !server->on_backends))
        usage();
    if (server->on_backends && !backend)
        backend = "epoll";
    /* As the native loops' users do; loom promises that it never raises it. */
    if (!server->on_backends)
        signal(SIGPIPE, SIG_IGN);
    int ret = server->run((uint16_t)port, backend);
    fprintf(stderr, "echo-server %s: %s\n", server->name, strerror(-ret));
    return 1;
}
