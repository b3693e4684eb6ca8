/* tests/curl — the loopback HTTP server (see http-server.h). */
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "http-server.h"

/* Room for the scale tests' 200 connections at once. */
#define LISTEN_BACKLOG 512

typedef struct connection {
    http_server *server;
    int fd;
    pthread_t thread;
    struct connection *next;
} connection;

struct http_server {
    int listen_fd;
    int port;
    int stop_pipe[2]; /* readable once the server stops */
    pthread_t acceptor;
    pthread_mutex_t lock;
    connection *connections; /* every connection accepted, newest first */
    int n_connections;
};

/* No Check here: bench/curl-bench runs this server too. A setup failure
 * aborts, which Check reports as the test's failure. */
static void must(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "%s failed\n", what);
        abort();
    }
}

unsigned char http_body_byte(size_t i)
{
    return (unsigned char)(i * 131 + i / 251);
}

unsigned char http_seeded_byte(unsigned seed, size_t i)
{
    return http_body_byte(i + (size_t)seed * 1000003u);
}

/* Waits until fd is readable; false once the server stops. */
static bool wait_readable(http_server *server, int fd)
{
    struct pollfd fds[2] = {{.fd = fd, .events = POLLIN}, {.fd = server->stop_pipe[0], .events = POLLIN}};

    while (poll(fds, 2, -1) < 0)
        ;
    return !(fds[1].revents & POLLIN);
}

static bool send_all(int fd, const void *data, size_t n)
{
    const char *p = data;

    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static bool send_head(int fd, int status, size_t length, bool close_after)
{
    char head[256];
    int n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n%s\r\n", status,
                     status == 200 ? "OK" : "Not Found", length, close_after ? "Connection: close\r\n" : "");

    return send_all(fd, head, (size_t)n);
}

static bool send_body(int fd, unsigned seed, size_t n)
{
    unsigned char chunk[16384];

    for (size_t off = 0; off < n;) {
        size_t len = n - off < sizeof(chunk) ? n - off : sizeof(chunk);

        for (size_t i = 0; i < len; i++)
            chunk[i] = http_seeded_byte(seed, off + i);
        if (!send_all(fd, chunk, len))
            return false;
        off += len;
    }
    return true;
}

/* Answers one request for path; false when the connection is to end. */
static bool respond(http_server *server, int fd, const char *path)
{
    size_t n;
    unsigned seed;

    if (sscanf(path, "/body/%zu", &n) == 1)
        return send_head(fd, 200, n, false) && send_body(fd, 0, n);
    if (sscanf(path, "/seed/%u/%zu", &seed, &n) == 2)
        return send_head(fd, 200, n, false) && send_body(fd, seed, n);
    if (sscanf(path, "/close/%zu", &n) == 1) {
        if (send_head(fd, 200, n, true))
            send_body(fd, 0, n);
        return false;
    }
    if (strcmp(path, "/slow") == 0) {
        char byte;

        if (send_head(fd, 200, 1000000, false) && send_body(fd, 0, 10))
            while (wait_readable(server, fd) && recv(fd, &byte, 1, 0) > 0)
                ;
        return false;
    }
    if (strcmp(path, "/cut") == 0) {
        if (send_head(fd, 200, 1000, false))
            send_body(fd, 0, 100);
        return false;
    }
    return send_head(fd, 404, 0, false);
}

/* Reads one request head into buf; false at EOF, an error or stop. */
static bool read_request(http_server *server, int fd, char *buf, size_t size)
{
    size_t len = 0;

    while (len + 1 < size) {
        ssize_t r;

        if (!wait_readable(server, fd))
            return false;
        r = recv(fd, buf + len, size - 1 - len, 0);
        if (r <= 0)
            return false;
        len += (size_t)r;
        buf[len] = '\0';
        if (strstr(buf, "\r\n\r\n"))
            return true;
    }
    return false;
}

static void *connection_thread(void *data)
{
    connection *c = data;
    char request[4096], path[1024];

    while (read_request(c->server, c->fd, request, sizeof(request)) &&
           sscanf(request, "GET %1023s ", path) == 1 && respond(c->server, c->fd, path))
        ;
    close(c->fd);
    return NULL;
}

static void *accept_thread(void *data)
{
    http_server *server = data;

    while (wait_readable(server, server->listen_fd)) {
        int fd = accept(server->listen_fd, NULL, NULL);
        connection *c;

        if (fd < 0)
            continue;
        c = malloc(sizeof(*c));
        must(c != NULL, "malloc");
        *c = (connection){server, fd, 0, NULL};
        must(pthread_create(&c->thread, NULL, connection_thread, c) == 0, "pthread_create");
        pthread_mutex_lock(&server->lock);
        c->next = server->connections;
        server->connections = c;
        server->n_connections++;
        pthread_mutex_unlock(&server->lock);
    }
    return NULL;
}

http_server *http_server_start(void)
{
    http_server *server = calloc(1, sizeof(*server));
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);

    must(server != NULL, "calloc");
    server->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    must(server->listen_fd >= 0, "socket");
    must(bind(server->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) == 0, "bind");
    must(listen(server->listen_fd, LISTEN_BACKLOG) == 0, "listen");
    must(getsockname(server->listen_fd, (struct sockaddr *)&addr, &len) == 0, "getsockname");
    server->port = ntohs(addr.sin_port);
    must(pipe(server->stop_pipe) == 0, "pipe");
    pthread_mutex_init(&server->lock, NULL);
    must(pthread_create(&server->acceptor, NULL, accept_thread, server) == 0, "pthread_create");
    return server;
}

int http_server_port(const http_server *server)
{
    return server->port;
}

int http_server_connections(http_server *server)
{
    int n;

    pthread_mutex_lock(&server->lock);
    n = server->n_connections;
    pthread_mutex_unlock(&server->lock);
    return n;
}

void http_server_stop(http_server *server)
{
    must(write(server->stop_pipe[1], "x", 1) == 1, "write");
    pthread_join(server->acceptor, NULL);
    while (server->connections) {
        connection *c = server->connections;

        server->connections = c->next;
        pthread_join(c->thread, NULL);
        free(c);
    }
    close(server->listen_fd);
    close(server->stop_pipe[0]);
    close(server->stop_pipe[1]);
    pthread_mutex_destroy(&server->lock);
    free(server);
}
