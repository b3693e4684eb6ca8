/* echo-server on GIO: a GSocketService, and per connection the usual async
 * loop of g_input_stream_read_async into the connection's buffer, then
 * g_output_stream_write_all_async of what was read. */
#include "config.h"

#include <errno.h>
#include <gio/gio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "echo-server.h"

struct conn {
    GSocketConnection *connection; /* a reference */
    char buf[ECHO_READ_SIZE];
};

static void read_next(struct conn *c);

static void conn_free(struct conn *c)
{
    g_io_stream_close(G_IO_STREAM(c->connection), NULL, NULL);
    g_object_unref(c->connection);
    g_free(c);
}

static void on_written(GObject *out, GAsyncResult *res, gpointer data)
{
    struct conn *c = data;
    if (g_output_stream_write_all_finish(G_OUTPUT_STREAM(out), res, NULL, NULL))
        read_next(c);
    else
        conn_free(c);
}

static void on_read(GObject *in, GAsyncResult *res, gpointer data)
{
    struct conn *c = data;
    gssize n = g_input_stream_read_finish(G_INPUT_STREAM(in), res, NULL);
    if (n <= 0) {
        conn_free(c);
        return;
    }
    GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(c->connection));
    g_output_stream_write_all_async(out, c->buf, (gsize)n, G_PRIORITY_DEFAULT, NULL,
                                    on_written, c);
}

static void read_next(struct conn *c)
{
    GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(c->connection));
    g_input_stream_read_async(in, c->buf, sizeof c->buf, G_PRIORITY_DEFAULT, NULL, on_read, c);
}

static gboolean on_incoming(GSocketService *service, GSocketConnection *connection,
                            GObject *source, gpointer data)
{
    struct conn *c = g_malloc(sizeof *c); /* buf is written before it is read */

    c->connection = g_object_ref(connection);
    g_socket_set_option(g_socket_connection_get_socket(connection), IPPROTO_TCP, TCP_NODELAY,
                        1, NULL);
    read_next(c);
    return TRUE;
}

int echo_run_gio(uint16_t port, const char *backend)
{
    GSocketService *service = g_socket_service_new();
    GInetAddress *loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    GSocketAddress *addr = g_inet_socket_address_new(loopback, port);
    GError *error = NULL;

    g_socket_listener_set_backlog(G_SOCKET_LISTENER(service), ECHO_BACKLOG);
    gboolean ok = g_socket_listener_add_address(G_SOCKET_LISTENER(service), addr,
                                                G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                                NULL, NULL, &error);
    g_object_unref(addr);
    g_object_unref(loopback);
    if (!ok) {
        int ret = error->domain == G_IO_ERROR && error->code == G_IO_ERROR_ADDRESS_IN_USE
                      ? -EADDRINUSE
                      : -EIO;
        g_error_free(error);
        return ret;
    }
    g_signal_connect(service, "incoming", G_CALLBACK(on_incoming), NULL);
    g_socket_service_start(service);
    echo_server_ready();
    g_main_loop_run(g_main_loop_new(NULL, FALSE)); /* never returns while it listens */
    return -EIO;
}
