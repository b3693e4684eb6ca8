/* echo-server on libuv uv_stream, as a careful libuv user writes it: reads
 * into one shared buffer (the loop runs one read callback at a time),
 * uv_try_write first, and only what the kernel did not take is copied into
 * a write request. */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "bench-util.h"
#include "echo-server.h"

struct write_req {
    uv_write_t req;
    char data[]; /* the copied rest of one echo */
};

static char scratch[ECHO_READ_SIZE];

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    *buf = uv_buf_init(scratch, sizeof scratch);
}

static void on_closed(uv_handle_t *handle)
{
    free(handle);
}

static void on_written(uv_write_t *req, int status)
{
    free(req);
}

static void echo_rest(uv_stream_t *stream, const char *data, size_t len)
{
    struct write_req *w = malloc(sizeof *w + len);
    if (!w)
        bench_die(ENOMEM, "echo");
    memcpy(w->data, data, len);
    uv_buf_t buf = uv_buf_init(w->data, (unsigned)len);
    if (uv_write(&w->req, stream, &buf, 1, on_written) < 0) {
        free(w);
        uv_close((uv_handle_t *)stream, on_closed);
    }
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    if (nread < 0) {
        uv_close((uv_handle_t *)stream, on_closed);
        return;
    }
    /* Writes queued earlier must go first: try_write refuses then (EAGAIN). */
    uv_buf_t out = uv_buf_init(buf->base, (unsigned)nread);
    int done = nread ? uv_try_write(stream, &out, 1) : 0;
    if (done == UV_EAGAIN)
        done = 0;
    if (done < 0)
        uv_close((uv_handle_t *)stream, on_closed);
    else if (done < nread)
        echo_rest(stream, buf->base + done, (size_t)(nread - done));
}

static void on_connection(uv_stream_t *server, int status)
{
    uv_tcp_t *client = malloc(sizeof *client);
    if (status < 0 || !client)
        bench_die(status < 0 ? -status : ENOMEM, "libuv accept");
    uv_tcp_init(server->loop, client);
    if (uv_accept(server, (uv_stream_t *)client) < 0) {
        uv_close((uv_handle_t *)client, on_closed);
        return;
    }
    uv_tcp_nodelay(client, 1);
    uv_read_start((uv_stream_t *)client, on_alloc, on_read);
}

int echo_run_libuv(uint16_t port, const char *backend)
{
    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t server;
    struct sockaddr_in addr;
    int ret;

    uv_ip4_addr("127.0.0.1", port, &addr);
    uv_tcp_init(loop, &server);
    if ((ret = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0)) < 0 ||
        (ret = uv_listen((uv_stream_t *)&server, ECHO_BACKLOG, on_connection)) < 0)
        return ret; /* libuv errors are negative errno on Unix */
    echo_server_ready();
    uv_run(loop, UV_RUN_DEFAULT); /* never returns while the server listens */
    return -EIO;
}
