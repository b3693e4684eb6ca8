// One process, one thread, one loop: loom's built-in epoll loop hosts a
// GLib guest (a GIO GSocketService answering on loopback) and a Qt guest (a
// QTcpServer answering on loopback, a QTimer ticking), and a loom task talks
// to both through loom streams. No helper thread, no polling.
//
//   one-thread              serves until SIGINT or SIGTERM, printing the ports
//   one-thread --self-test  the task checks that each part answered, then exits
//                           (0: all did; 1: one did not, said on stderr)
#include <cstdio>
#include <cstring>

// GIO before Qt: Qt's `signals` keyword would rename a field of GIO's headers.
#include <gio/gio.h>
#include <loom/loom-glib.h>
#include <loom/loom-qt.h>
#include <loom/loom.h>

#include <QCoreApplication>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTimer>

namespace {

const int64_t CONNECT_TIMEOUT_NS = LOOM_SEC(5);
const int QT_TICK_MS = 20;
const int QT_TICKS_WANTED = 3;

struct app {
    loom_loop *loop;
    bool self_test;
    char glib_port[12], qt_port[12];
    int qt_ticks; // counted by the QTimer
    bool stop;    // set by SIGINT / SIGTERM
};

// --- the GLib side: GIO answers each connection with one line ---------------

gboolean on_glib_incoming(GSocketService *, GSocketConnection *conn, GObject *, gpointer)
{
    static const char line[] = "hello from GIO\n";
    GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(conn));
    // Loopback and 15 bytes: the socket buffer takes it without blocking.
    g_output_stream_write_all(out, line, sizeof(line) - 1, nullptr, nullptr, nullptr);
    g_io_stream_close(G_IO_STREAM(conn), nullptr, nullptr);
    return TRUE;
}

GSocketService *glib_server_start(char *port, size_t size)
{
    GSocketService *service = g_socket_service_new();
    GInetAddress *lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    GSocketAddress *want = g_inet_socket_address_new(lo, 0);
    GSocketAddress *got = nullptr;
    gboolean ok = g_socket_listener_add_address(G_SOCKET_LISTENER(service), want, G_SOCKET_TYPE_STREAM,
                                                G_SOCKET_PROTOCOL_TCP, nullptr, &got, nullptr);
    g_object_unref(want);
    g_object_unref(lo);
    if (!ok) {
        g_object_unref(service);
        return nullptr;
    }
    snprintf(port, size, "%u", g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(got)));
    g_object_unref(got);
    g_signal_connect(service, "incoming", G_CALLBACK(on_glib_incoming), nullptr);
    g_socket_service_start(service);
    return service;
}

// --- the Qt side: a QTcpServer answers each connection, a QTimer ticks -------

bool qt_server_start(QTcpServer *server, char *port, size_t size)
{
    if (!server->listen(QHostAddress::LocalHost, 0))
        return false;
    snprintf(port, size, "%u", server->serverPort());
    QObject::connect(server, &QTcpServer::newConnection, [server] {
        while (QTcpSocket *socket = server->nextPendingConnection()) {
            QObject::connect(socket, &QTcpSocket::disconnected, socket, &QObject::deleteLater);
            socket->write("hello from Qt\n");
            socket->disconnectFromHost(); // after the line is written
        }
    });
    return true;
}

// --- the loom side: a task asks both servers ---------------------------------

// Connects to 127.0.0.1:port and reads one line into text. 0 or a negative errno.
int fetch_line(loom_loop *loop, const char *port, char *text, size_t size)
{
    loom_connect_opts opts = {};
    opts.timeout_ns = CONNECT_TIMEOUT_NS;
    loom_future *connect = loom_tcp_connect(loop, "127.0.0.1", port, &opts);
    int r = connect ? loom_await(connect) : -errno;
    loom_stream *stream = r == 0 ? loom_stream_take(connect) : nullptr;
    loom_future_unref(connect);
    if (!stream)
        return r < 0 ? r : -EINVAL;
    loom_future *line = loom_stream_read_line(stream, size);
    r = line ? loom_await(line) : -errno;
    const loom_bytes *b = r == 0 ? static_cast<const loom_bytes *>(loom_future_value(line)) : nullptr;
    if (b && b->len > 1)
        snprintf(text, size, "%.*s", (int)b->len - 1, (const char *)b->data);
    else if (b)
        r = -EPIPE; // closed without a line
    loom_future_unref(line);
    loom_stream_abort(stream);
    return r;
}

int check(bool ok, const char *what)
{
    fprintf(ok ? stdout : stderr, "%s: %s\n", ok ? "ok" : "FAILED", what);
    return ok ? 0 : -EPROTO;
}

int client_task(void *arg)
{
    app *a = static_cast<app *>(arg);
    char glib_text[64] = "", qt_text[64] = "";
    int r = fetch_line(a->loop, a->glib_port, glib_text, sizeof(glib_text));
    int failed = check(r == 0 && strcmp(glib_text, "hello from GIO") == 0, "GIO's GSocketService answered");
    r = fetch_line(a->loop, a->qt_port, qt_text, sizeof(qt_text));
    failed |= check(r == 0 && strcmp(qt_text, "hello from Qt") == 0, "Qt's QTcpServer answered");
    printf("  GIO said \"%s\", Qt said \"%s\"\n", glib_text, qt_text);
    while (a->qt_ticks < QT_TICKS_WANTED && loom_sleep(LOOM_MSEC(QT_TICK_MS)) == 0)
        ;
    failed |= check(a->qt_ticks >= QT_TICKS_WANTED, "Qt's QTimer ticked on loom's loop");
    if (!a->self_test) // serve until a signal
        while (!a->stop && loom_sleep(LOOM_MSEC(100)) == 0)
            ;
    return failed;
}

void on_signal(loom_loop *, int, unsigned, void *data)
{
    static_cast<app *>(data)->stop = true;
}

} // namespace

int main(int argc, char **argv)
{
    app a = {};
    a.self_test = argc > 1 && strcmp(argv[1], "--self-test") == 0;

    // The ten lines that put GLib and Qt on one loom loop.
    loom_glib_guest *guest;
    if (loom_loop_new(&a.loop, nullptr) < 0 ||              // the built-in loop
        loom_glib_guest_new(&guest, a.loop, nullptr) < 0 ||  // GLib's default context, run by loom
        loom_qt_dispatcher_install(a.loop) < 0) {            // Qt's events, run by loom
        fprintf(stderr, "one-thread: cannot set up the guests\n");
        return 1;
    }
    int status;
    {
        QCoreApplication qt(argc, argv); // uses the loom dispatcher installed above
        QTcpServer qt_server;
        QTimer timer;
        QObject::connect(&timer, &QTimer::timeout, [&a] { a.qt_ticks++; });
        timer.start(QT_TICK_MS);
        GSocketService *glib_server = glib_server_start(a.glib_port, sizeof(a.glib_port));
        if (!glib_server || !qt_server_start(&qt_server, a.qt_port, sizeof(a.qt_port))) {
            fprintf(stderr, "one-thread: cannot listen on loopback\n");
            return 1;
        }
        printf("GIO serves on 127.0.0.1:%s, Qt on 127.0.0.1:%s\n", a.glib_port, a.qt_port);
        fflush(stdout);
        loom_signal_watch(a.loop, SIGINT, on_signal, &a, nullptr);
        loom_signal_watch(a.loop, SIGTERM, on_signal, &a, nullptr);

        loom_future *task = loom_task_spawn(a.loop, client_task, &a);
        status = loom_loop_run_until(a.loop, task) == 0 && loom_future_value_int(task) == 0 ? 0 : 1;
        loom_future_unref(task);
        loom_signal_unwatch(a.loop, SIGINT);
        loom_signal_unwatch(a.loop, SIGTERM);
        g_socket_service_stop(glib_server);
        g_socket_listener_close(G_SOCKET_LISTENER(glib_server));
        g_object_unref(glib_server);
    } // the QCoreApplication deletes the dispatcher
    loom_glib_guest_free(guest);
    loom_loop_close(a.loop);
    loom_loop_unref(a.loop);
    if (a.self_test)
        printf("self-test %s\n", status == 0 ? "passed" : "FAILED");
    return status;
}
