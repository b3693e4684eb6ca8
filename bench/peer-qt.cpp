// peer-bench — Qt 5's event loop, with Qt's idioms (lambdas, no moc):
//   call_soon_chain / call_soon_batch, in two spellings of "call this soon":
//     qt.*        QTimer::singleShot(0, functor). With a zero delay Qt starts
//                 no timer: it posts a queued call to the main QThread object,
//                 so this should match qt_invoke;
//     qt_invoke.* QMetaObject::invokeMethod(object, functor,
//                 Qt::QueuedConnection);
//   timer_add_cancel_10k: QObject::startTimer / killTimer, Qt's default
//     (coarse) timer type; 10,000 timers, not BENCH_TIMERS (see bench-util.h);
//   fd_pingpong: two QSocketNotifiers (Read) on the socketpair;
//   threadsafe_roundtrip: the other thread calls invokeMethod queued to an
//     object of the main thread;
//   watch_churn_*: a QSocketNotifier made and deleted beside quiet ones;
//   conns_roundtrip: a QSocketNotifier on each end of every pair.
// Qt runs its GLib dispatcher unless QT_NO_GLIB is set when the
// QCoreApplication is made; then every name starts with qt_noglib instead.
#include <QAbstractEventDispatcher>
#include <QCoreApplication>
#include <QEventLoop>
#include <QSocketNotifier>
#include <QTimer>
#include <QTimerEvent>
#include <memory>
#include <string>
#include <vector>
#include <unistd.h>

#include "bench-util.h"
#include "peers.h"

namespace {

QEventLoop *event_loop; // what the measured runs exec(); quit() ends a run
QObject *receiver;      // a main-thread object to queue calls to

// The two ways of queuing a functor to the main thread.
struct SingleShot {
    template <typename F> static void post(F f) { QTimer::singleShot(0, f); }
};

struct Invoke {
    template <typename F> static void post(F f)
    {
        if (!QMetaObject::invokeMethod(receiver, f, Qt::QueuedConnection))
            bench_die(0, "QMetaObject::invokeMethod failed");
    }
};

// --- call_soon_chain -----------------------------------------------------------

template <typename Post> void chain_step(uint64_t *left)
{
    if (--*left == 0)
        event_loop->quit();
    else
        Post::post([left] { chain_step<Post>(left); });
}

template <typename Post> void run_chain(void *ctx, uint64_t n)
{
    uint64_t left = n;
    Post::post([&left] { chain_step<Post>(&left); });
    event_loop->exec();
}

// --- call_soon_batch -----------------------------------------------------------

template <typename Post> void run_batch(void *ctx, uint64_t n)
{
    for (uint64_t round = 0; round < n; round++) {
        uint64_t ran = 0;
        for (unsigned i = 0; i < BENCH_BATCH; i++)
            Post::post([&ran] { ++ran; });
        while (ran < BENCH_BATCH)
            QCoreApplication::processEvents();
    }
}

template <typename Post> void measure_calls(const std::string &prefix)
{
    bench_measure(prefix.c_str(), "call_soon_chain", "ns/op", 1, run_chain<Post>, nullptr);
    bench_measure(prefix.c_str(), "call_soon_batch", "ns/op", BENCH_BATCH, run_batch<Post>,
                  nullptr);
}

// --- timer_add_cancel_10k -------------------------------------------------------

class TimerOwner final : public QObject {
protected:
    void timerEvent(QTimerEvent *) override { bench_die(0, "a cancelled timer ran"); }
};

void run_timers(void *ctx, uint64_t n)
{
    static int ids[BENCH_FEW_TIMERS];
    auto *owner = static_cast<TimerOwner *>(ctx);
    const uint32_t *delays = bench_timer_delays_ms();

    for (uint64_t round = 0; round < n; round++) {
        for (size_t i = 0; i < BENCH_FEW_TIMERS; i++)
            if (!(ids[i] = owner->startTimer(int(delays[i]))))
                bench_die(0, "QObject::startTimer failed");
        for (size_t i = 0; i < BENCH_FEW_TIMERS; i++)
            owner->killTimer(ids[i]);
        QCoreApplication::processEvents(); // the idle iteration loom-bench has too
    }
}

// --- fd_pingpong ----------------------------------------------------------------

struct Pingpong {
    int sv[2];
    uint64_t left;
};

void run_pingpong(void *ctx, uint64_t n)
{
    auto *p = static_cast<Pingpong *>(ctx);
    p->left = n;
    bench_write_byte(p->sv[0]);
    event_loop->exec();
}

void measure_pingpong(const std::string &prefix)
{
    Pingpong p;

    bench_socketpair(p.sv);
    {
        QSocketNotifier ping(p.sv[0], QSocketNotifier::Read);
        QSocketNotifier pong(p.sv[1], QSocketNotifier::Read);
        QObject::connect(&ping, &QSocketNotifier::activated, [&p] {
            bench_read_byte(p.sv[0]);
            if (--p.left == 0)
                event_loop->quit();
            else
                bench_write_byte(p.sv[0]);
        });
        QObject::connect(&pong, &QSocketNotifier::activated, [&p] {
            bench_read_byte(p.sv[1]);
            bench_write_byte(p.sv[1]);
        });
        bench_measure(prefix.c_str(), "fd_pingpong", "ns/roundtrip", 1, run_pingpong, &p);
    } // the notifiers go before their fds
    close(p.sv[0]);
    close(p.sv[1]);
}

// --- threadsafe_roundtrip ---------------------------------------------------------

void threadsafe_send(void *peer)
{
    auto *rt = static_cast<bench_roundtrip *>(peer);
    Invoke::post([rt] {
        if (bench_roundtrip_reply(rt))
            event_loop->quit();
    });
}

void threadsafe_run(void *peer)
{
    event_loop->exec();
}

void measure_threadsafe(const std::string &prefix)
{
    bench_roundtrip rt = {};
    rt.send = threadsafe_send;
    rt.run = threadsafe_run;
    rt.peer = &rt;
    bench_roundtrip_measure(prefix.c_str(), &rt);
}

// --- conns_roundtrip: a QSocketNotifier on each end of every pair ----------------

void measure_conns(const std::string &prefix)
{
    bench_conns cs;
    bench_conns_open(&cs);
    int left = cs.n;
    std::vector<int> trips(size_t(cs.n), 0);
    {
        std::vector<std::unique_ptr<QSocketNotifier>> notifiers;
        for (int i = 0; i < cs.n; i++) {
            int client = cs.sv[i][0], server = cs.sv[i][1];
            notifiers.emplace_back(new QSocketNotifier(client, QSocketNotifier::Read));
            QObject::connect(notifiers.back().get(), &QSocketNotifier::activated, [&, i, client] {
                bench_conn_check(i, trips[size_t(i)], bench_read_char(client));
                if (++trips[size_t(i)] < BENCH_CONN_TRIPS)
                    bench_write_char(client, bench_conn_byte(i, trips[size_t(i)]));
                else if (--left == 0)
                    event_loop->quit();
            });
            notifiers.emplace_back(new QSocketNotifier(server, QSocketNotifier::Read));
            QObject::connect(notifiers.back().get(), &QSocketNotifier::activated,
                             [server] { bench_write_char(server, bench_read_char(server)); });
        }
        int64_t start = bench_now_ns();
        for (int i = 0; i < cs.n; i++)
            bench_write_char(cs.sv[i][0], bench_conn_byte(i, 0));
        event_loop->exec();
        bench_conns_report(prefix.c_str(), &cs, bench_now_ns() - start);
    } // the notifiers go before their fds
    bench_conns_close(&cs);
}

// --- watch_churn: a QSocketNotifier made and deleted beside quiet ones -------------

void run_churn(void *ctx, uint64_t n)
{
    int fd = *static_cast<int *>(ctx);
    for (uint64_t i = 0; i < n; i++)
        delete new QSocketNotifier(fd, QSocketNotifier::Read);
    QCoreApplication::processEvents(); // the idle iteration loom-bench has too
}

// f(fd) beside `background` quiet notifiers; fd is the churned one.
template <typename F> void beside_quiet(int background, F f)
{
    int *quiet = bench_quiet_fds(background + 1);
    {
        std::vector<std::unique_ptr<QSocketNotifier>> notifiers;
        for (int i = 0; i < background; i++)
            notifiers.emplace_back(new QSocketNotifier(quiet[i], QSocketNotifier::Read));
        QCoreApplication::processEvents();
        f(&quiet[background]);
    }
    bench_quiet_fds_close(quiet, background + 1);
}

void measure_churn(const std::string &prefix, const char *name, int background)
{
    beside_quiet(background, [&](int *fd) { bench_measure(prefix.c_str(), name, "ns/op", 1, run_churn, fd); });
}

// Qt keeps references to argc and argv for the application's lifetime.
int app_argc = 1;
char app_arg0[] = "peer-bench";
char *app_argv[] = { app_arg0, nullptr };

} // namespace

void peer_qt(void)
{
    peer_qt_as(nullptr);
}

void peer_qt_as(const char *name)
{
    QCoreApplication app(app_argc, app_argv);
    QEventLoop loop;
    TimerOwner owner;
    bool glib = QAbstractEventDispatcher::instance()->inherits("QEventDispatcherGlib");
    std::string prefix = name ? name : glib ? "qt" : "qt_noglib";

    event_loop = &loop;
    receiver = &owner;
    measure_calls<SingleShot>(prefix);
    measure_calls<Invoke>(prefix + "_invoke");
    bench_measure(prefix.c_str(), "timer_add_cancel_10k", "ns/op", BENCH_FEW_TIMERS, run_timers,
                  &owner);
    measure_pingpong(prefix);
    measure_threadsafe(prefix);
    measure_churn(prefix, "watch_churn_10", BENCH_FEW_WATCHES);
    measure_churn(prefix, "watch_churn_10k", BENCH_MANY_WATCHES);
    measure_conns(prefix);
    event_loop = nullptr;
    receiver = nullptr;
}

void peer_qt_churn(uint64_t n)
{
    QCoreApplication app(app_argc, app_argv);
    beside_quiet(BENCH_FEW_WATCHES, [n](int *fd) { run_churn(fd, n); });
}
