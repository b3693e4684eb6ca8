/* tests/curl — a loopback HTTP/1.1 server on its own threads (plain blocking
 * sockets, one thread per connection, any number of them, keep-alive), for the libcurl bridge's
 * tests and bench/curl-bench. Routes:
 *   /body/N   200, N bytes: byte i is http_body_byte(i)
 *   /seed/S/N 200, N bytes: byte i is http_seeded_byte(S, i), a body
 *             telling transfers apart
 *   /missing  404
 *   /close/N  200, N bytes, then the server closes the connection
 *             ("Connection: close")
 *   /slow     200 announcing 1 MB, sends 10 bytes, then waits until the
 *             client goes or the server stops
 *   /cut      200 announcing 1000 bytes, sends 100, then closes */
#ifndef LOOM_TEST_HTTP_SERVER_H
#define LOOM_TEST_HTTP_SERVER_H

#include <stddef.h>

typedef struct http_server http_server;

/* Starts a server on 127.0.0.1 (an ephemeral port); aborts if it cannot
 * (Check reports that as the test's failure). */
http_server *http_server_start(void);
int http_server_port(const http_server *server);
/* Connections accepted so far. */
int http_server_connections(http_server *server);
/* Stops the server, closes its fds and joins its threads. */
void http_server_stop(http_server *server);

unsigned char http_body_byte(size_t i);
unsigned char http_seeded_byte(unsigned seed, size_t i);

#endif
