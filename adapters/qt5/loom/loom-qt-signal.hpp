/** @file
 * loom-qt-signal — the next emission of a Qt signal as a loom::future.
 *
 * Header-only over loom/loom.hpp and Qt5Core (C++17):
 *
 *     loom::future f = loom::next_emission(loop, socket, &Sender::progress);
 *     loom::future t(loom_future_timeout(f.get(), 5 * LOOM_NS_PER_SEC), loom::adopt);
 *     int r = co_await t;            // in a loom::task coroutine
 *     auto *args = f.value_as<std::tuple<int, QString>>();
 *
 * The future resolves, at the signal's next emission, with a heap
 * std::tuple of the signal's arguments decayed (int, const QString & ->
 * std::tuple<int, QString>), deleted with the future; a signal with no
 * arguments gives an empty tuple. It then disconnects itself.
 *
 * Destruction of the sender before the emission fails it with -EPIPE and a
 * message (nothing is left waiting on a dead object). Completing the future
 * from outside (cancel, or a loom_future_timeout that expires) disconnects at
 * once: a later emission does nothing.
 *
 * Threads: call it on the sender's thread, with that thread's loom loop
 * (e.g. from loom_qt_loop_new); the emission must happen on that thread too
 * (a direct connection completes the future). */
#ifndef LOOM_QT_SIGNAL_HPP
#define LOOM_QT_SIGNAL_HPP

#include <cerrno>
#include <memory>
#include <tuple>
#include <type_traits>
#include <QObject>
#include <loom/loom.hpp>

namespace loom {

namespace detail {

/** What the two connections and the future's done callback share. */
struct emission_wait {
    future result;
    QMetaObject::Connection emitted;
    QMetaObject::Connection destroyed;

    void disconnect() noexcept
    {
        QObject::disconnect(emitted);
        QObject::disconnect(destroyed);
    }
};

} // namespace detail

/** A new future on l for the next emission of sender's signal (see above).
 * The caller owns the returned handle. Empty, with errno set, when the future
 * cannot be made (ENOMEM); failed with -EINVAL when sender is null or the
 * signal cannot be connected. */
template <class Sender, class Object, class... Args>
future next_emission(const loop &l, Sender *sender, void (Object::*signal)(Args...)) noexcept
{
    static_assert(std::is_base_of_v<Object, Sender>, "the signal must be a member of the sender's class");
    future f = future::create(l);
    if (!f)
        return f;
    if (!sender) {
        f.fail(-EINVAL, "next_emission: no sender");
        return f;
    }
    auto wait = std::shared_ptr<detail::emission_wait>(new (std::nothrow) detail::emission_wait{f, {}, {}});
    if (!wait) {
        f.fail(-ENOMEM, nullptr);
        return f;
    }
    using values = std::tuple<std::decay_t<Args>...>;
    wait->emitted = QObject::connect(sender, signal, [wait](Args... args) {
        if (wait->result.done())
            return; /* completed from outside before its done callback ran */
        wait->disconnect();
        wait->result.resolve(values(args...));
    });
    if (!wait->emitted) {
        f.fail(-EINVAL, "next_emission: cannot connect to the signal");
        return f;
    }
    wait->destroyed = QObject::connect(sender, &QObject::destroyed, [wait] {
        wait->disconnect();
        wait->result.fail(-EPIPE, "next_emission: the sender was destroyed before the signal was emitted");
    });
    /* Whoever completes the future, the connections go; the callback's copy
     * of wait (which holds the future) goes with it, breaking the cycle. */
    if (f.on_done([wait] { wait->disconnect(); }) < 0) {
        wait->disconnect();
        f.fail(-ENOMEM, nullptr);
    }
    return f;
}

} // namespace loom

#endif
