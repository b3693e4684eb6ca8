// Qt's asynchronous objects awaited from C++20 coroutines on the Qt host:
// loom::next_emission turns QProcess::finished and QNetworkReply::finished
// into loom futures that a loom::task co_awaits, with no slot of our own.
//
//   qt-futures              runs `/bin/echo hi` and fetches a page from an
//                           HTTP server it starts on 127.0.0.1, printing both
//   qt-futures --self-test  the same, checking them quietly
//                           (0: both as expected; 1: not, said on stderr)
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <QCoreApplication>
#include <QNetworkAccessManager>
#include <QNetworkProxy>
#include <QNetworkReply>
#include <QProcess>
#include <QTcpServer>
#include <QTcpSocket>
#include <loom/loom-qt-signal.hpp>
#include <loom/loom-qt.h>

namespace {

// Generous, for Valgrind: only a broken run waits this long.
const int64_t RUN_TIMEOUT_NS = LOOM_SEC(60);

const char PAGE[] = "hello from the loopback server\n";

bool verbose = true;

// QProcess::finished has a deprecated one-argument overload: name the other.
using process_finished = void (QProcess::*)(int, QProcess::ExitStatus);

// Runs `/bin/echo hi` and checks its exit code and output.
loom::task<int> run_echo(loom::loop loop)
{
    QProcess process;
    loom::future finished = loom::next_emission(loop, &process, process_finished(&QProcess::finished));
    process.start(QStringLiteral("/bin/echo"), {QStringLiteral("hi")});
    int r = co_await finished;
    if (r < 0)
        co_return r;
    auto [code, status] = *finished.value_as<loom::emission_t<process_finished>>();
    QByteArray out = process.readAllStandardOutput();
    if (status != QProcess::NormalExit || code != 0 || out != "hi\n")
        co_return loom::failure{-EIO, "/bin/echo hi: wrong exit code or output"};
    if (verbose)
        std::printf("/bin/echo exited with %d and wrote: %s", code, out.constData());
    co_return 0;
}

// The server side: answers one connection with PAGE once it read the
// request's header, then closes it.
loom::task<int> serve_once(loom::loop loop, QTcpServer *server)
{
    if (!server->hasPendingConnections()) {
        int r = co_await loom::next_emission(loop, server, &QTcpServer::newConnection);
        if (r < 0)
            co_return r;
    }
    QTcpSocket *socket = server->nextPendingConnection(); // a child of server
    QByteArray request;
    while (!request.contains("\r\n\r\n")) {
        if (socket->bytesAvailable() == 0) {
            int r = co_await loom::next_emission(loop, socket, &QIODevice::readyRead);
            if (r < 0)
                co_return r;
        }
        request += socket->readAll();
    }
    socket->write(QByteArray("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ") +
                  QByteArray::number(int(sizeof(PAGE) - 1)) + "\r\n\r\n" + PAGE);
    // Connected first: with nothing left to write, disconnectFromHost emits at once.
    loom::future closed = loom::next_emission(loop, socket, &QAbstractSocket::disconnected);
    socket->disconnectFromHost();
    int r = co_await closed;
    delete socket;
    co_return r;
}

// The client side: GETs url and checks the body. (README.md quotes the first
// nine lines of its body: keep them in step.)
loom::task<int> fetch(loom::loop loop, QUrl url)
{
    QNetworkAccessManager nam;
    nam.setProxy(QNetworkProxy::NoProxy); // loopback: never through $http_proxy
    QNetworkReply *reply = nam.get(QNetworkRequest(url)); // a child of nam
    int r = co_await loom::next_emission(loop, reply, &QNetworkReply::finished);
    if (r < 0)
        co_return r; // cancelled, or the reply was destroyed before it finished (-EPIPE)
    if (reply->error() != QNetworkReply::NoError)
        co_return loom::failure{-EIO, "HTTP GET failed"};
    QByteArray body = reply->readAll();
    if (body != PAGE)
        co_return loom::failure{-EIO, "HTTP GET: wrong body"};
    if (verbose)
        std::printf("GET %s: %s", qPrintable(url.toString()), body.constData());
    co_return 0;
}

// Both, one after the other; the server and the client run side by side.
// A failure is passed on with its message (copied while its future lives).
loom::task<int> run_all(loom::loop loop)
{
    loom::future echo = loom::spawn(loop, run_echo(loop));
    if (int r = co_await echo; r < 0)
        co_return loom::failure{r, echo.message()};
    QTcpServer server;
    if (!server.listen(QHostAddress::LocalHost, 0))
        co_return loom::failure{-EADDRNOTAVAIL, "cannot listen on 127.0.0.1"};
    loom::future served = loom::spawn(loop, serve_once(loop, &server));
    QUrl url(QStringLiteral("http://127.0.0.1:%1/").arg(server.serverPort()));
    loom::future got = loom::spawn(loop, fetch(loop, url));
    if (int r = co_await got; r < 0) {
        served.cancel(); // serve_once ends at its co_await
        co_return loom::failure{r, got.message()};
    }
    if (int r = co_await served; r < 0)
        co_return loom::failure{r, served.message()};
    co_return 0;
}

} // namespace

int main(int argc, char **argv)
{
    verbose = !(argc > 1 && std::strcmp(argv[1], "--self-test") == 0);
    QCoreApplication app(argc, argv);
    loom_loop *l = nullptr;
    if (loom_qt_loop_new(&l) < 0)
        return 1;
    loom::loop loop(l, loom::adopt);
    loom::future all = loom::spawn(loop, run_all(loop));
    loom::future within(loom_future_timeout(all.get(), RUN_TIMEOUT_NS), loom::adopt);
    int r = loop.run_until(within);
    if (r < 0)
        std::fprintf(stderr, "qt-futures: %s (%s)\n", within.message() ? within.message() : "failed", strerror(-r));
    else if (!verbose)
        std::puts("qt-futures: ok");
    loop.close(); // resumes what still waits with -ESHUTDOWN, before Qt's dispatcher goes
    return r < 0 ? 1 : 0;
}
