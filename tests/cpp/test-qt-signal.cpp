/* loom/loom-qt-signal.hpp on the Qt host (and the Qt guest on epoll): the next emission of a signal as a
 * future (arguments, sender destroyed, cancel, timeout, co_await, private signals). */
#include <cstdio>
#include <cstring>
#include <unistd.h>
#include <QCoreApplication>
#include <QSocketNotifier>
#include <QTimer>
#include <loom/loom-qt.h>
#include <loom/loom-qt-signal.hpp>

namespace {

class sender : public QObject {
    Q_OBJECT
  public:
    /* How many slots still listen to two(): 0 once a wait is over. */
    int listeners() const { return receivers(SIGNAL(two(int, QString))); }
  signals:
    void two(int n, const QString &s);
};

/* A signal only the class itself may emit (QPrivateSignal), like QTimer::timeout. */
class ticker : public QObject {
    Q_OBJECT
  public:
    void fire(int n) { emit ticked(n, QStringLiteral("tick"), QPrivateSignal()); }
  signals:
    void ticked(int n, const QString &s, QPrivateSignal);
};

using two_args = std::tuple<int, QString>;

/* The future's value leaves the QPrivateSignal tag out. */
static_assert(std::is_same_v<loom::emission_t<decltype(&sender::two)>, two_args>);
static_assert(std::is_same_v<loom::emission_t<decltype(&ticker::ticked)>, two_args>);
static_assert(std::is_same_v<loom::emission_t<decltype(&QTimer::timeout)>, std::tuple<>>);
static_assert(std::is_same_v<loom::emission_t<decltype(&QObject::objectNameChanged)>, std::tuple<QString>>);
using activated_args = std::tuple<QSocketDescriptor, QSocketNotifier::Type>;
static_assert(std::is_same_v<loom::emission_t<decltype(&QSocketNotifier::activated)>, activated_args>);

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            std::fprintf(stderr, "%s:%d: %s failed\n", __FILE__, __LINE__, #cond);                                     \
            return 1;                                                                                                  \
        }                                                                                                              \
    } while (0)

int test_emission_with_args(const loom::loop &loop)
{
    sender s;
    loom::future f = loom::next_emission(loop, &s, &sender::two);
    CHECK(f && !f.done() && s.listeners() == 1);
    CHECK(loop.call_soon([&s] { emit s.two(7, QStringLiteral("seven")); }) == 0);
    CHECK(loop.run_until(f) == 0 && f.status() == 0);
    auto *args = f.value_as<two_args>();
    CHECK(args && std::get<0>(*args) == 7 && std::get<1>(*args) == QStringLiteral("seven"));
    CHECK(s.listeners() == 0);
    emit s.two(8, QStringLiteral("eight")); /* disconnected: the value stays */
    CHECK(std::get<0>(*f.value_as<two_args>()) == 7);
    return 0;
}

int test_sender_destroyed(const loom::loop &loop)
{
    auto *s = new sender;
    loom::future f = loom::next_emission(loop, s, &sender::two);
    CHECK(loop.call_soon([s] { delete s; }) == 0);
    CHECK(loop.run_until(f) == -EPIPE);
    CHECK(f.status() == -EPIPE && f.message() && std::strstr(f.message(), "destroyed"));
    return 0;
}

int test_cancel_then_emit(const loom::loop &loop)
{
    sender s;
    loom::future f = loom::next_emission(loop, &s, &sender::two);
    CHECK(f.cancel());
    emit s.two(1, QStringLiteral("too late")); /* before any tick: no value, no crash */
    CHECK(f.status() == -ECANCELED && !f.value());
    CHECK(loop.run_once(false) >= 0 && s.listeners() == 0);
    emit s.two(2, QStringLiteral("later"));
    CHECK(f.status() == -ECANCELED && !f.value());
    return 0;
}

int test_timeout(const loom::loop &loop)
{
    sender s;
    loom::future f = loom::next_emission(loop, &s, &sender::two);
    loom::future t(loom_future_timeout(f.get(), LOOM_SEC(1) / 50), loom::adopt);
    CHECK(t && loop.run_until(t) == -ETIMEDOUT);
    CHECK(t.status() == -ETIMEDOUT && f.status() == -ECANCELED);
    CHECK(loop.run_once(false) >= 0 && s.listeners() == 0);
    emit s.two(3, QStringLiteral("after the timeout"));
    CHECK(!f.value());
    return 0;
}

int test_private_signal(const loom::loop &loop)
{
    ticker t;
    loom::future f = loom::next_emission(loop, &t, &ticker::ticked);
    CHECK(loop.call_soon([&t] { t.fire(5); }) == 0);
    CHECK(loop.run_until(f) == 0 && f.status() == 0);
    auto *args = f.value_as<loom::emission_t<decltype(&ticker::ticked)>>();
    CHECK(args && std::get<0>(*args) == 5 && std::get<1>(*args) == QStringLiteral("tick"));
    return 0;
}

int test_timer_timeout(const loom::loop &loop)
{
    QTimer timer;
    timer.setSingleShot(true);
    loom::future f = loom::next_emission(loop, &timer, &QTimer::timeout);
    timer.start(1);
    CHECK(loop.run_until(f) == 0 && f.status() == 0 && f.value_as<std::tuple<>>());
    return 0;
}

int test_object_name_changed(const loom::loop &loop)
{
    QObject o;
    loom::future f = loom::next_emission(loop, &o, &QObject::objectNameChanged);
    CHECK(loop.call_soon([&o] { o.setObjectName(QStringLiteral("renamed")); }) == 0);
    CHECK(loop.run_until(f) == 0);
    auto *args = f.value_as<loom::emission_t<decltype(&QObject::objectNameChanged)>>();
    CHECK(args && std::get<0>(*args) == QStringLiteral("renamed"));
    return 0;
}

/* A private signal with arguments from Qt itself: a readable pipe. */
int test_socket_notifier_activated(const loom::loop &loop)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    int r = 1;
    {
        QSocketNotifier notifier(fds[0], QSocketNotifier::Read);
        loom::future f = loom::next_emission(loop, &notifier, &QSocketNotifier::activated);
        if (write(fds[1], "x", 1) == 1 && loop.run_until(f) == 0) {
            auto *args = f.value_as<activated_args>();
            r = !(args && int(std::get<0>(*args)) == fds[0] && std::get<1>(*args) == QSocketNotifier::Read);
        }
    }
    close(fds[0]);
    close(fds[1]);
    CHECK(r == 0);
    return 0;
}

#ifdef LOOM_HAVE_COROUTINES
loom::task<int> await_two(loom::future f)
{
    int r = co_await f;
    if (r < 0)
        co_return r;
    co_return std::get<0>(*f.value_as<two_args>()) + std::get<1>(*f.value_as<two_args>()).size();
}

int test_co_await(const loom::loop &loop)
{
    sender s;
    loom::future c = loom::spawn(loop, await_two(loom::next_emission(loop, &s, &sender::two)));
    CHECK(loop.call_later(LOOM_SEC(1) / 100, [&s] { emit s.two(40, QStringLiteral("ab")); }) == 0);
    CHECK(loop.run_until(c) == 0 && c.status() == 0 && c.value_int() == 42);
    return 0;
}
#endif

/* The loop the tests run on: the Qt host's, or (built with LOOM_TEST_GUEST)
 * an epoll loop that Qt itself runs on, installed before the application. */
int loop_new(loom_loop **l)
{
#ifdef LOOM_TEST_GUEST
    int r = loom_loop_new(l, LOOM_TEST_GUEST);
    if (r == 0 && (r = loom_qt_dispatcher_install(*l)) < 0)
        loom_loop_unref(*l);
    return r;
#else
    return loom_qt_loop_new(l);
#endif
}

int run_all(const loom::loop &loop)
{
    int failed = test_emission_with_args(loop) || test_sender_destroyed(loop) || test_cancel_then_emit(loop) ||
                 test_timeout(loop) || test_private_signal(loop) || test_timer_timeout(loop) ||
                 test_object_name_changed(loop) || test_socket_notifier_activated(loop);
#ifdef LOOM_HAVE_COROUTINES
    failed = failed || test_co_await(loop);
#endif
    return failed;
}

} // namespace

int main(int argc, char **argv)
{
    loom_loop *l = nullptr;
#ifdef LOOM_TEST_GUEST
    if (loop_new(&l) < 0)
        return 1;
    auto *app = new QCoreApplication(argc, argv);
#else
    auto *app = new QCoreApplication(argc, argv);
    if (loop_new(&l) < 0)
        return 1;
#endif
    loom::loop loop(l, loom::adopt);
    int failed = run_all(loop);
#ifdef LOOM_TEST_GUEST
    delete app; /* the guest dispatcher goes before its loop */
    loop.close();
#else
    loop.close(); /* the host loop goes before Qt's dispatcher */
    delete app;
#endif
    if (!failed)
        std::puts("Qt signal -> future: ok");
    return failed;
}

#include "test-qt-signal.moc"
