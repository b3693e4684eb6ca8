/* Qt guest — Qt running on a loom loop (loom_qt_dispatcher_install), built
 * once per host that can carry it (epoll, poll, glib, libevent) with the
 * conformance suite's host-<backend> file. Each test forks (Check), makes a
 * loop on the host, installs the dispatcher and a QCoreApplication, and
 * checks what a Qt program expects of its own loop: every QTimer type,
 * socket notifiers, a QTcpServer/QTcpSocket exchange, deleteLater (also
 * across nested loops), a cross-thread invokeMethod waking the loop, no idle
 * wakeups, and 10,000 timers started and stopped. Waits are bounded by a
 * watchdog QTimer. */
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>
#include <QAbstractEventDispatcher>
#include <QCoreApplication>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QPointer>
#include <QSocketNotifier>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTimer>
#include <QTimerEvent>
#include <check.h>
#include <loom/loom.h>
#include <loom/loom-qt.h>
extern "C" {
#include "host.h"
}

namespace {

int app_argc = 1;
char app_arg0[] = "test-qt-guest";
char *app_argv[] = {app_arg0, nullptr};

int scaled_ms(int ms)
{
    const char *env = getenv("CK_TIMEOUT_MULTIPLIER");
    double factor = env ? strtod(env, nullptr) : 1.0;
    return factor > 1.0 ? int(ms * factor) : ms;
}

void count_error(loom_loop *, int, const char *msg, void *data)
{
    fprintf(stderr, "loom error: %s\n", msg);
    ++*static_cast<int *>(data);
}

/* A loop on the host under test with the guest installed and an application
 * on it; the destructor checks that nothing was reported. */
struct Guest {
    loom_loop *loop;
    QCoreApplication *app;
    int errors = 0;
    bool expect_errors = false;

    Guest()
    {
        loop = host_loop_new();
        ck_assert_int_eq(loom_loop_set_error_handler(loop, count_error, &errors), 0);
        ck_assert_int_eq(loom_qt_dispatcher_install(loop), 0);
        app = new QCoreApplication(app_argc, app_argv);
        ck_assert_ptr_nonnull(QAbstractEventDispatcher::instance());
    }

    ~Guest()
    {
        delete app; /* deletes the dispatcher: its watches and timers go */
        ck_assert_int_eq(loom_loop_close(loop), 0);
        ck_assert_uint_eq(loom_loop_dropped_calls(loop), 0);
        loom_loop_unref(loop);
        if (!expect_errors)
            ck_assert_int_eq(errors, 0);
    }

    QAbstractEventDispatcher *dispatcher() const { return QAbstractEventDispatcher::instance(); }
};

/* Delivers what start-up posted, so that the next wait really waits. */
void settle(QAbstractEventDispatcher *d)
{
    for (int i = 0; i < 10; i++)
        d->processEvents(QEventLoop::AllEvents);
}

/* Runs a QEventLoop until quit, failing after ms (scaled). */
void exec_bounded(QEventLoop &loop, int ms, const char *what)
{
    bool expired = false;
    QTimer dog;
    dog.setSingleShot(true);
    QObject::connect(&dog, &QTimer::timeout, [&] {
        expired = true;
        loop.quit();
    });
    dog.start(scaled_ms(ms));
    loop.exec();
    ck_assert_msg(!expired, "%s: not done after %d ms", what, scaled_ms(ms));
}

/* --- timers ------------------------------------------------------------------ */

START_TEST(test_timer_types)
{
    Guest g;
    QEventLoop loop;
    const struct {
        Qt::TimerType type;
        int interval;
        Qt::TimerType reported; /* Qt's own conversion rules */
        int reported_interval;
    } cases[] = {
        {Qt::PreciseTimer, 15, Qt::PreciseTimer, 15},
        {Qt::CoarseTimer, 10, Qt::PreciseTimer, 10}, /* <= 20 ms: precise */
        {Qt::CoarseTimer, 120, Qt::CoarseTimer, 120},
        {Qt::VeryCoarseTimer, 1400, Qt::VeryCoarseTimer, 1000}, /* whole seconds */
    };
    const int n = int(sizeof(cases) / sizeof(cases[0]));
    QTimer timers[n];
    qint64 fired_at[n] = {};
    QElapsedTimer clock;
    int left = n;
    clock.start();
    for (int i = 0; i < n; i++) {
        timers[i].setTimerType(cases[i].type);
        timers[i].setSingleShot(true);
        QObject::connect(&timers[i], &QTimer::timeout, [&, i] {
            fired_at[i] = clock.nsecsElapsed();
            if (--left == 0)
                loop.quit();
        });
        timers[i].start(cases[i].interval);
        auto info = g.dispatcher()->registeredTimers(&timers[i]);
        ck_assert_int_eq(info.size(), 1);
        ck_assert_int_eq(info[0].timerType, cases[i].reported);
        ck_assert_int_eq(info[0].interval, cases[i].reported_interval);
        ck_assert_int_eq(info[0].timerId, timers[i].timerId());
    }
    exec_bounded(loop, 5000, "every timer type");
    for (int i = 0; i < n; i++) {
        qint64 ms = fired_at[i] / 1000000;
        if (cases[i].reported == Qt::PreciseTimer)
            ck_assert_msg(ms >= cases[i].interval, "precise %d ms timer fired after %lld ms", cases[i].interval,
                          (long long)ms);
        else if (cases[i].reported == Qt::CoarseTimer)
            ck_assert_msg(ms >= cases[i].interval * 95 / 100 - 1, "coarse %d ms timer fired after %lld ms",
                          cases[i].interval, (long long)ms);
        else
            ck_assert_msg(ms >= 500, "very coarse timer fired after %lld ms", (long long)ms);
    }
}
END_TEST

START_TEST(test_remaining_time)
{
    Guest g;
    QTimer timer;
    timer.setTimerType(Qt::PreciseTimer);
    timer.start(10000);
    int left = g.dispatcher()->remainingTime(timer.timerId());
    ck_assert_msg(left > 9000 && left <= 10000, "remainingTime %d", left);
    ck_assert_int_eq(g.dispatcher()->remainingTime(123456), -1);
    QTimer soon;
    soon.setTimerType(Qt::PreciseTimer);
    soon.start(5);
    usleep(20000); /* overdue: nothing processed it */
    ck_assert_int_eq(g.dispatcher()->remainingTime(soon.timerId()), 0);
    ck_assert(g.dispatcher()->unregisterTimer(soon.timerId()));
    ck_assert(!g.dispatcher()->unregisterTimer(soon.timerId()));
    ck_assert_int_eq(g.dispatcher()->remainingTime(soon.timerId()), -1);
    soon.stop(); /* Qt releases the id; the dispatcher has none any more */
}
END_TEST

/* Counts its timer events; each one may run a nested loop. */
class Ticker : public QObject {
public:
    int events = 0, depth = 0, max_depth = 0;
    std::function<void(int)> on_event;

protected:
    void timerEvent(QTimerEvent *e) override
    {
        events++;
        max_depth = std::max(max_depth, ++depth);
        if (on_event)
            on_event(e->timerId());
        depth--;
    }
};

/* A zero timer whose handler runs a nested loop is not delivered inside it. */
START_TEST(test_timer_never_reenters)
{
    Guest g;
    Ticker t;
    QEventLoop outer;
    int id = t.startTimer(0);
    t.on_event = [&](int) {
        if (t.events == 1) {
            QEventLoop nested;
            QTimer::singleShot(30, &nested, &QEventLoop::quit);
            exec_bounded(nested, 3000, "nested loop in a timer handler");
        } else if (t.events == 3) {
            outer.quit();
        }
    };
    exec_bounded(outer, 3000, "zero timer");
    t.killTimer(id);
    ck_assert_int_eq(t.max_depth, 1);
}
END_TEST

/* A timer started in a handler waits for the next round, as in Qt. */
START_TEST(test_timer_started_in_handler_waits_a_round)
{
    Guest g;
    Ticker t;
    int first = t.startTimer(0), second = 0, second_events = 0;
    t.on_event = [&](int id) {
        if (id == first && !second)
            second = t.startTimer(0);
        else if (id == second)
            second_events++;
    };
    for (int i = 0; i < 100 && t.events == 0; i++)
        g.dispatcher()->processEvents(QEventLoop::AllEvents);
    ck_assert_int_ne(second, 0);
    ck_assert_int_eq(second_events, 0);
    for (int i = 0; i < 100 && second_events == 0; i++)
        g.dispatcher()->processEvents(QEventLoop::AllEvents);
    ck_assert_int_eq(second_events, 1);
    t.killTimer(first);
    t.killTimer(second);
}
END_TEST

START_TEST(test_ten_thousand_timers)
{
    Guest g;
    Ticker t;
    std::vector<int> ids;
    for (int i = 0; i < 10000; i++)
        ids.push_back(t.startTimer(1 + i % 500, Qt::TimerType(i % 3)));
    ck_assert_int_eq(g.dispatcher()->registeredTimers(&t).size(), 10000);
    for (int id : ids)
        t.killTimer(id);
    ck_assert_int_eq(g.dispatcher()->registeredTimers(&t).size(), 0);
    for (int i = 0; i < 1000; i++)
        ids[i] = t.startTimer(1000 + i);
    ck_assert(g.dispatcher()->unregisterTimers(&t)); /* what ~QObject does */
    ck_assert_int_eq(g.dispatcher()->registeredTimers(&t).size(), 0);
    QEventLoop loop;
    QTimer::singleShot(30, &loop, &QEventLoop::quit);
    exec_bounded(loop, 3000, "after the timers");
    ck_assert_int_eq(t.events, 0);
}
END_TEST

/* --- socket notifiers ------------------------------------------------------- */

struct Pair {
    int fd[2];
    Pair() { ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fd), 0); }
    ~Pair()
    {
        close(fd[0]);
        if (fd[1] >= 0)
            close(fd[1]);
    }
};

START_TEST(test_socket_notifier_level_triggered)
{
    Guest g;
    Pair p;
    QSocketNotifier reader(p.fd[0], QSocketNotifier::Read);
    int activations = 0;
    QObject::connect(&reader, &QSocketNotifier::activated, [&] { activations++; });
    for (int i = 0; i < 5; i++)
        g.dispatcher()->processEvents(QEventLoop::AllEvents);
    ck_assert_int_eq(activations, 0);
    ck_assert_int_eq(write(p.fd[1], "x", 1), 1);
    g.dispatcher()->processEvents(QEventLoop::WaitForMoreEvents);
    ck_assert_int_eq(activations, 1);
    g.dispatcher()->processEvents(QEventLoop::WaitForMoreEvents); /* not read: again */
    ck_assert_int_eq(activations, 2);
    char c;
    ck_assert_int_eq(read(p.fd[0], &c, 1), 1);
    for (int i = 0; i < 5; i++)
        g.dispatcher()->processEvents(QEventLoop::AllEvents);
    ck_assert_int_eq(activations, 2);

    QSocketNotifier writer(p.fd[0], QSocketNotifier::Write);
    int writable = 0;
    QObject::connect(&writer, &QSocketNotifier::activated, [&] { writable++; });
    g.dispatcher()->processEvents(QEventLoop::WaitForMoreEvents);
    ck_assert_int_eq(writable, 1);
    ck_assert_int_eq(activations, 2);
    writer.setEnabled(false);

    close(p.fd[1]); /* hang-up: the reader sees EOF */
    p.fd[1] = -1;
    g.dispatcher()->processEvents(QEventLoop::WaitForMoreEvents);
    ck_assert_int_eq(activations, 3);
    ck_assert_int_eq(writable, 1);
}
END_TEST

/* A loop that excludes socket notifiers neither activates nor polls them:
 * a readable one does not make it spin, and is activated afterwards. */
START_TEST(test_exclude_socket_notifiers)
{
    Guest g;
    Pair p;
    QSocketNotifier reader(p.fd[0], QSocketNotifier::Read);
    int activations = 0;
    QObject::connect(&reader, &QSocketNotifier::activated, [&] { activations++; });
    ck_assert_int_eq(write(p.fd[1], "x", 1), 1);
    QEventLoop loop;
    QTimer::singleShot(50, &loop, &QEventLoop::quit);
    uint64_t ticks = loom_loop_ticks(g.loop);
    loop.exec(QEventLoop::ExcludeSocketNotifiers);
    uint64_t spent = loom_loop_ticks(g.loop) - ticks;
    ck_assert_int_eq(activations, 0);
    ck_assert_msg(spent < 20, "%llu ticks in 50 ms: spinning", (unsigned long long)spent);
    g.dispatcher()->processEvents(QEventLoop::WaitForMoreEvents);
    ck_assert_int_eq(activations, 1);
}
END_TEST

START_TEST(test_socket_notifier_invalid_fd)
{
    Guest g;
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    close(fd); /* fd is not open any more */
    QSocketNotifier bad(fd, QSocketNotifier::Read);
    int activations = 0;
    QObject::connect(&bad, &QSocketNotifier::activated, [&] { activations++; });
    QEventLoop loop;
    QTimer::singleShot(50, &loop, &QEventLoop::quit);
    uint64_t ticks = loom_loop_ticks(g.loop);
    exec_bounded(loop, 3000, "invalid notifier");
    ck_assert(!bad.isEnabled()); /* warned and disabled */
    ck_assert_int_eq(activations, 0);
    ck_assert_msg(loom_loop_ticks(g.loop) - ticks < 20, "%llu ticks in 50 ms: spinning",
                  (unsigned long long)(loom_loop_ticks(g.loop) - ticks));
}
END_TEST

START_TEST(test_tcp_exchange)
{
    Guest g;
    QTcpServer server;
    ck_assert(server.listen(QHostAddress::LocalHost, 0));
    QEventLoop loop;
    QByteArray got;
    QObject::connect(&server, &QTcpServer::newConnection, [&] {
        QTcpSocket *peer = server.nextPendingConnection();
        QObject::connect(peer, &QTcpSocket::readyRead, [peer] {
            if (peer->readAll().contains("ping"))
                peer->write("pong");
        });
        QObject::connect(peer, &QTcpSocket::disconnected, peer, &QObject::deleteLater);
    });
    QTcpSocket client;
    QObject::connect(&client, &QTcpSocket::connected, [&] { client.write("ping"); });
    QObject::connect(&client, &QTcpSocket::readyRead, [&] {
        got += client.readAll();
        if (got == "pong")
            loop.quit();
    });
    client.connectToHost(QHostAddress::LocalHost, server.serverPort());
    exec_bounded(loop, 5000, "ping-pong over loopback");
    ck_assert_str_eq(got.constData(), "pong");
    client.disconnectFromHost();
}
END_TEST

/* --- posted events, deleteLater, threads ----------------------------------- */

START_TEST(test_delete_later)
{
    Guest g;
    QPointer<QObject> obj = new QObject;
    obj->deleteLater();
    QEventLoop loop;
    QObject::connect(obj.data(), &QObject::destroyed, &loop, &QEventLoop::quit);
    exec_bounded(loop, 3000, "deleteLater");
    ck_assert(obj.isNull());
}
END_TEST

/* deleteLater and then a nested loop in the same handler (a modal dialog):
 * the object lives until the handler returns to the outer loop, and the
 * deletion pending meanwhile does not make the nested loop spin. */
START_TEST(test_delete_later_across_nested_loops)
{
    Guest g;
    QPointer<QObject> obj = new QObject;
    QEventLoop outer;
    bool alive_after_nested = false;
    uint64_t nested_ticks = 0;
    QTimer::singleShot(0, [&] {
        QEventLoop nested;
        obj->deleteLater();
        QTimer::singleShot(60, &nested, &QEventLoop::quit);
        uint64_t ticks = loom_loop_ticks(g.loop);
        exec_bounded(nested, 3000, "nested loop");
        nested_ticks = loom_loop_ticks(g.loop) - ticks;
        alive_after_nested = !obj.isNull();
        QTimer::singleShot(0, &outer, &QEventLoop::quit);
    });
    exec_bounded(outer, 3000, "outer loop");
    ck_assert(alive_after_nested);
    ck_assert(obj.isNull());
    ck_assert_msg(nested_ticks < 20, "%llu ticks in a 60 ms nested loop: spinning",
                  (unsigned long long)nested_ticks);
}
END_TEST

START_TEST(test_cross_thread_invoke_wakes)
{
    Guest g;
    QEventLoop loop;
    QObject target;
    std::atomic<bool> ran{false};
    std::thread worker([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
        QMetaObject::invokeMethod(
            &target,
            [&] {
                ran = true;
                loop.quit();
            },
            Qt::QueuedConnection);
    });
    exec_bounded(loop, 5000, "invokeMethod from another thread");
    worker.join();
    ck_assert(ran);
}
END_TEST

/* Counts the QEvent::User events posted to it, and the rounds about to block
 * after one was handled, for a thread that waits for each. */
class Handled : public QObject {
public:
    std::mutex m;
    std::condition_variable cv;
    int handled = 0, blocked_after = 0, quit_at = 0;
    QEventLoop *loop = nullptr;

    void about_to_block()
    {
        std::lock_guard<std::mutex> hold(m);
        blocked_after = handled;
        cv.notify_one();
    }

protected:
    bool event(QEvent *e) override
    {
        if (e->type() != QEvent::User)
            return QObject::event(e);
        std::lock_guard<std::mutex> hold(m);
        if (++handled == quit_at)
            loop->quit();
        cv.notify_one();
        return true;
    }
};

/* Each wakeUp from another thread costs QEventLoop::exec one round and one
 * loom tick, as QEventDispatcherUNIX pays one poll: the round after the
 * wakeUp's takes the latch itself, so no loom round is queued for it (that
 * kept the next poll from blocking: two rounds and ticks per wakeUp). Each
 * event is posted once the round that handled the last one is about to
 * block, so that the wakeUp always meets a waiting loop, however the threads
 * are scheduled (Valgrind runs one at a time). The events are posted (the
 * event is Qt's from then on), not invokeMethod's functors, whose hand-over
 * ThreadSanitizer cannot see inside Qt. */
START_TEST(test_cross_thread_invokes_cost_one_tick_each)
{
    Guest g;
    QEventLoop loop;
    settle(g.dispatcher());
    enum { N = 100 };
    Handled target;
    target.quit_at = N;
    target.loop = &loop;
    QObject::connect(g.dispatcher(), &QAbstractEventDispatcher::aboutToBlock, &target, &Handled::about_to_block);
    std::thread worker([&] {
        for (int i = 0; i < N; i++) {
            QCoreApplication::postEvent(&target, new QEvent(QEvent::User));
            std::unique_lock<std::mutex> hold(target.m);
            target.cv.wait(hold, [&] { return target.blocked_after > i || target.handled == N; });
        }
    });
    uint64_t ticks = loom_loop_ticks(g.loop);
    exec_bounded(loop, 10000, "100 events posted from another thread, one at a time");
    uint64_t spent = loom_loop_ticks(g.loop) - ticks;
    worker.join();
    ck_assert_int_eq(target.handled, N);
    ck_assert_msg(spent <= N + N / 4, "%llu ticks for %d wakeUps", (unsigned long long)spent, int(N));
}
END_TEST

/* Receives posted events; the first one posts another. */
class Poster : public QObject {
public:
    int events = 0;

protected:
    bool event(QEvent *e) override
    {
        if (e->type() != QEvent::User)
            return QObject::event(e);
        if (++events == 1)
            QCoreApplication::postEvent(this, new QEvent(QEvent::User));
        return true;
    }
};

/* wakeUp latches: an event posted while the round sends posted events (from
 * a handler) keeps that round from blocking, decided before aboutToBlock,
 * and the next round delivers it. A wakeUp from another thread while nobody
 * waits ends the next wait at once and counts as an event. */
START_TEST(test_wakeup_latches)
{
    Guest g;
    QAbstractEventDispatcher *d = g.dispatcher();
    settle(d);
    bool dog_fired = false;
    QTimer dog;
    QObject::connect(&dog, &QTimer::timeout, [&] { dog_fired = true; });
    dog.start(scaled_ms(3000));
    int about_to_block = 0;
    QObject::connect(d, &QAbstractEventDispatcher::aboutToBlock, [&] { about_to_block++; });

    Poster poster;
    QCoreApplication::postEvent(&poster, new QEvent(QEvent::User));
    ck_assert(d->processEvents(QEventLoop::WaitForMoreEvents));
    ck_assert_int_eq(poster.events, 1);
    ck_assert_int_eq(about_to_block, 0);
    ck_assert(d->processEvents(QEventLoop::WaitForMoreEvents));
    ck_assert_int_eq(poster.events, 2);

    std::thread([d] { d->wakeUp(); }).join();
    ck_assert(d->processEvents(QEventLoop::WaitForMoreEvents));
    ck_assert(!dog_fired);
}
END_TEST

START_TEST(test_interrupt_ends_process_events)
{
    Guest g;
    settle(g.dispatcher());
    bool dog_fired = false;
    QTimer dog;
    QObject::connect(&dog, &QTimer::timeout, [&] { dog_fired = true; });
    dog.start(scaled_ms(3000));
    QAbstractEventDispatcher *d = g.dispatcher();
    std::thread worker([d] {
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
        d->interrupt();
    });
    g.dispatcher()->processEvents(QEventLoop::WaitForMoreEvents);
    worker.join();
    ck_assert(!dog_fired);
}
END_TEST

START_TEST(test_idle_does_not_wake)
{
    Guest g;
    QEventLoop loop;
    QTimer::singleShot(0, [] {}); /* settle what start-up posted */
    QTimer::singleShot(20, &loop, &QEventLoop::quit);
    exec_bounded(loop, 3000, "settling");
    QTimer::singleShot(100, &loop, &QEventLoop::quit);
    uint64_t ticks = loom_loop_ticks(g.loop);
    exec_bounded(loop, 3000, "idle 100 ms");
    uint64_t idle = loom_loop_ticks(g.loop) - ticks;
    ck_assert_msg(idle <= 3, "%llu ticks in an idle 100 ms", (unsigned long long)idle);
}
END_TEST

/* --- loom drives ----------------------------------------------------------- */

void stop_loop(loom_loop *loop, void *)
{
    loom_loop_stop(loop);
}

/* Qt's objects work while loom runs the loop (loom_loop_run), and
 * aboutToBlock is emitted before loom blocks. */
START_TEST(test_loom_drives)
{
    Guest g;
    int fired = 0, posted = 0, about_to_block = 0;
    QObject::connect(g.dispatcher(), &QAbstractEventDispatcher::aboutToBlock, [&] { about_to_block++; });
    QTimer timer;
    QObject::connect(&timer, &QTimer::timeout, [&] {
        if (++fired == 3) {
            QMetaObject::invokeMethod(
                &timer,
                [&] {
                    posted++;
                    loom_loop_stop(g.loop);
                },
                Qt::QueuedConnection);
        }
    });
    timer.start(5);
    loom_handle dog;
    ck_assert_int_eq(loom_call_later(g.loop, LOOM_MSEC(scaled_ms(3000)), stop_loop, nullptr, &dog), 0);
    ck_assert_int_eq(loom_loop_run(g.loop), 0);
    ck_assert_int_ge(fired, 3);
    ck_assert_int_eq(posted, 1);
    ck_assert_int_gt(about_to_block, 0);
    loom_cancel(g.loop, dog);
}
END_TEST

void ignore_fd(loom_loop *, int, unsigned, void *) {}

/* Notifier changes reach loom when it next polls: made and deleted in
 * between, a notifier leaves no watch; an fd number given to another file
 * under a new notifier is watched afresh. */
START_TEST(test_socket_notifier_changes_between_polls)
{
    Guest g;
    Pair p;
    settle(g.dispatcher());
    for (int i = 0; i < 3; i++)
        delete new QSocketNotifier(p.fd[0], QSocketNotifier::Read);
    g.dispatcher()->processEvents(QEventLoop::AllEvents);
    ck_assert_int_eq(loom_fd_watch(g.loop, p.fd[0], LOOM_READ, ignore_fd, nullptr, nullptr), 0); /* none left */
    ck_assert_int_eq(loom_fd_unwatch(g.loop, p.fd[0]), 0);

    const int fd = p.fd[0];
    auto *old = new QSocketNotifier(fd, QSocketNotifier::Read);
    g.dispatcher()->processEvents(QEventLoop::AllEvents); /* watched */
    delete old;
    Pair q;
    ck_assert_int_eq(dup2(q.fd[0], fd), fd); /* the number now names q's end */
    QSocketNotifier reader(fd, QSocketNotifier::Read);
    QEventLoop loop;
    QObject::connect(&reader, &QSocketNotifier::activated, &loop, &QEventLoop::quit);
    ck_assert_int_eq(write(q.fd[1], "x", 1), 1);
    exec_bounded(loop, 3000, "a notifier on a reused fd number");
}
END_TEST

/* A notifier made outside any loop run is watched before loom's first poll. */
START_TEST(test_socket_notifier_before_loom_runs)
{
    Guest g;
    Pair p;
    settle(g.dispatcher());
    QSocketNotifier reader(p.fd[0], QSocketNotifier::Read);
    int activations = 0;
    QObject::connect(&reader, &QSocketNotifier::activated, [&] {
        activations++;
        loom_loop_stop(g.loop);
    });
    ck_assert_int_eq(write(p.fd[1], "x", 1), 1);
    loom_handle dog;
    ck_assert_int_eq(loom_call_later(g.loop, LOOM_MSEC(scaled_ms(3000)), stop_loop, nullptr, &dog), 0);
    ck_assert_int_eq(loom_loop_run(g.loop), 0);
    ck_assert_int_eq(activations, 1);
    loom_cancel(g.loop, dog);
}
END_TEST

void run_nested_exec(loom_loop *, void *data)
{
    *static_cast<int *>(data) = [] {
        QEventLoop nested;
        QTimer::singleShot(20, &nested, [&nested] { nested.exit(7); });
        return nested.exec();
    }();
}

/* QEventLoop::exec from inside a loom callback nests where loom nests; on
 * libevent it ends at once with -1 and a report instead of hanging. */
START_TEST(test_nested_exec_in_loom_callback)
{
    Guest g;
    int result = 0;
    ck_assert_int_eq(loom_call_soon(g.loop, run_nested_exec, &result, nullptr), 0);
    QEventLoop loop;
    QTimer::singleShot(60, &loop, &QEventLoop::quit);
    g.expect_errors = !host_can_nest();
    exec_bounded(loop, 3000, "nested exec");
    ck_assert_int_eq(result, host_can_nest() ? 7 : -1);
}
END_TEST

START_TEST(test_install_errors)
{
    ck_assert_int_eq(loom_qt_dispatcher_install(nullptr), -EINVAL);
    ck_assert_ptr_null(loom_qt_dispatcher_new(nullptr));
    loom_loop *loop = host_loop_new();
    int r = 0;
    std::thread([&] { r = loom_qt_dispatcher_install(loop); }).join();
    ck_assert_int_eq(r, -EXDEV);
    loom_loop *closed = host_loop_new();
    ck_assert_int_eq(loom_loop_close(closed), 0);
    ck_assert_int_eq(loom_qt_dispatcher_install(closed), -ESHUTDOWN);
    loom_loop_unref(closed);
    ck_assert_int_eq(loom_qt_dispatcher_install(loop), 0);
    ck_assert_int_eq(loom_qt_dispatcher_install(loop), -EBUSY);
    {
        QCoreApplication app(app_argc, app_argv);
        loom_loop *qt_loop = nullptr;
        ck_assert_int_eq(loom_qt_loop_new(&qt_loop), 0); /* a loop on the guest: Qt on loom */
        ck_assert_ptr_null(loom_qt_dispatcher_new(qt_loop)); /* loom on Qt on loom: no */
        ck_assert_int_eq(loom_qt_dispatcher_install(qt_loop), -EINVAL);
        ck_assert_int_eq(loom_loop_close(qt_loop), 0);
        loom_loop_unref(qt_loop);
    }
    ck_assert_int_eq(loom_loop_close(loop), 0);
    loom_loop_unref(loop);
}
END_TEST

/* On a loop closed under it, an exec ends at once (-1) instead of spinning. */
START_TEST(test_exec_on_closed_loop)
{
    loom_loop *loop = host_loop_new();
    ck_assert_int_eq(loom_qt_dispatcher_install(loop), 0);
    {
        QCoreApplication app(app_argc, app_argv);
        ck_assert_int_eq(loom_loop_close(loop), 0);
        QEventLoop nested;
        QTimer::singleShot(10, &nested, &QEventLoop::quit); /* never fires: no loop */
        ck_assert_int_eq(nested.exec(), -1);
    }
    loom_loop_unref(loop);
}
END_TEST

/* The loop may close before the dispatcher goes: the dispatcher's own
 * timers, calls and watches leave with the close, none reported dropped. */
START_TEST(test_loop_closed_before_dispatcher_drops_nothing)
{
    loom_loop *loop = host_loop_new();
    int errors = 0;
    ck_assert_int_eq(loom_loop_set_error_handler(loop, count_error, &errors), 0);
    ck_assert_int_eq(loom_qt_dispatcher_install(loop), 0);
    {
        QCoreApplication app(app_argc, app_argv);
        int sv[2];
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        QSocketNotifier notifier(sv[0], QSocketNotifier::Read);
        QTimer timer;
        timer.start(10);
        QTimer::singleShot(0, [] {});
        settle(QAbstractEventDispatcher::instance());
        ck_assert_int_eq(loom_loop_close(loop), 0);
        ck_assert_uint_eq(loom_loop_dropped_calls(loop), 0);
        ck_assert_int_eq(errors, 0);
        close(sv[0]);
        close(sv[1]);
    }
    loom_loop_unref(loop);
}
END_TEST

void add_case(Suite *s, const char *name, const TTest *test)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, host_setup, host_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test);
    suite_add_tcase(s, tc);
}

} // namespace

int main()
{
    Suite *s = suite_create("qt-guest");
    add_case(s, "timer_types", test_timer_types);
    add_case(s, "remaining_time", test_remaining_time);
    add_case(s, "timer_never_reenters", test_timer_never_reenters);
    add_case(s, "timer_started_in_handler", test_timer_started_in_handler_waits_a_round);
    add_case(s, "ten_thousand_timers", test_ten_thousand_timers);
    add_case(s, "socket_notifier", test_socket_notifier_level_triggered);
    add_case(s, "socket_notifier_invalid_fd", test_socket_notifier_invalid_fd);
    add_case(s, "exclude_socket_notifiers", test_exclude_socket_notifiers);
    add_case(s, "tcp_exchange", test_tcp_exchange);
    add_case(s, "delete_later", test_delete_later);
    add_case(s, "delete_later_nested", test_delete_later_across_nested_loops);
    add_case(s, "cross_thread_invoke", test_cross_thread_invoke_wakes);
    add_case(s, "cross_thread_invokes_one_tick", test_cross_thread_invokes_cost_one_tick_each);
    add_case(s, "wakeup_latches", test_wakeup_latches);
    add_case(s, "interrupt", test_interrupt_ends_process_events);
    add_case(s, "idle", test_idle_does_not_wake);
    add_case(s, "loom_drives", test_loom_drives);
    add_case(s, "socket_notifier_changes", test_socket_notifier_changes_between_polls);
    add_case(s, "socket_notifier_before_loom_runs", test_socket_notifier_before_loom_runs);
    add_case(s, "nested_exec_in_loom_callback", test_nested_exec_in_loom_callback);
    add_case(s, "install_errors", test_install_errors);
    add_case(s, "exec_on_closed_loop", test_exec_on_closed_loop);
    add_case(s, "loop_closed_before_dispatcher_drops_nothing", test_loop_closed_before_dispatcher_drops_nothing);
    SRunner *runner = srunner_create(s);
    srunner_run_all(runner, CK_ENV);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
