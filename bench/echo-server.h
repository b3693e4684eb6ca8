/* echo-server — the same TCP echo server on each loop echo-load measures.
 *
 * Protocol: none. A server echoes every byte it reads on every connection, in
 * order, until the peer closes or resets it; it never frames or buffers more
 * than one read's worth per connection (the load generator sends one message
 * and waits for all of it back). A server binds 127.0.0.1:port with
 * SO_REUSEADDR and a backlog of ECHO_BACKLOG, sets TCP_NODELAY on every
 * accepted connection, prints "listening" on stdout once it accepts, and runs
 * until it is killed (SIGTERM). */
#ifndef LOOM_BENCH_ECHO_SERVER_H
#define LOOM_BENCH_ECHO_SERVER_H

#include <stdint.h>

/* Bytes asked from the kernel per read: libuv's suggested size, for all. */
#define ECHO_READ_SIZE 65536
#define ECHO_BACKLOG 4096

/* Runs a server on 127.0.0.1:port; returns only on a setup failure (negative
 * errno). backend is the loom backend's name (loom servers) or NULL. */
typedef int (*echo_server_fn)(uint16_t port, const char *backend);

struct echo_server {
    const char *name;
    echo_server_fn run;
    /* Takes --backend=NAME (a loom server). */
    int on_backends;
    /* NULL, or whether it can run here (--list leaves it out if not). */
    int (*available)(void);
};

/* Terminated by an entry with a NULL name; only the servers built here. */
extern const struct echo_server echo_servers[];

/* Tells the driver the server accepts: "listening\n" on stdout, flushed. */
void echo_server_ready(void);

/* TCP_NODELAY on fd; dies if it fails. */
void echo_set_nodelay(int fd);

/* A non-blocking listening socket on 127.0.0.1:port (SO_REUSEADDR,
 * ECHO_BACKLOG), for the servers whose loop adopts an fd; dies on failure. */
int echo_listen_socket(uint16_t port);

#ifdef ECHO_RAW_EPOLL
int echo_run_raw_epoll(uint16_t port, const char *backend);
#endif
#ifdef ECHO_RAW_URING
int echo_run_raw_uring(uint16_t port, const char *backend);
/* Whether the kernel gives this process a ring. */
int echo_uring_available(void);
#endif
#ifdef ECHO_LIBUV
int echo_run_libuv(uint16_t port, const char *backend);
#endif
#ifdef ECHO_BUFFEREVENT
int echo_run_bufferevent(uint16_t port, const char *backend);
#endif
#ifdef ECHO_GIO
int echo_run_gio(uint16_t port, const char *backend);
#endif
#ifdef ECHO_LOOM
int echo_run_loom_cb(uint16_t port, const char *backend);
int echo_run_loom_task(uint16_t port, const char *backend);
/* Prints the loom backends built here, one per line. */
void echo_loom_list_backends(void);
#endif

#endif
