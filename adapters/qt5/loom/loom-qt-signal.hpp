/** @file
 * loom-qt-signal — the next emission of a Qt signal as a loom::future.
 *
 * Header-only over loom/loom.hpp and Qt5Core (C++17):
 *
 *     loom::future f = loom::next_emission(loop, socket, &Sender::progress);
 *     loom::future t(loom_future_timeout(f.get(), LOOM_SEC(5)), loom::adopt);
 *     int r = co_await t;            // in a loom::task coroutine
 *     auto *args = f.value_as<std::tuple<int, QString>>();
 *
 * The future resolves, at the signal's next emission, with a heap
 * std::tuple of the signal's arguments decayed (int, const QString & ->
 * std::tuple<int, QString>), deleted with the future; a signal with no
 * arguments gives an empty tuple. It then disconnects itself. A private
 * signal's trailing QPrivateSignal tag is left out (QTimer::timeout gives
 * std::tuple<>, QObject::objectNameChanged std::tuple<QString>).
 * loom::emission_t<decltype(&Sender::signal)> names that tuple type:
 *
 *     auto *name = f.value_as<loom::emission_t<decltype(&QObject::objectNameChanged)>>();
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
#include <cstddef>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>
#include <QObject>
#include <loom/loom.hpp>

namespace loom {

namespace detail {
/// @cond INTERNAL

/* Whether T is a Q_OBJECT class's private QPrivateSignal tag: the tag's
 * injected class name is public even where the tag itself is not, and the
 * elaborated `struct` makes it name the class, not its constructor. */
template <class T, class = void> struct is_private_signal_tag : std::false_type {};
template <class T>
struct is_private_signal_tag<T, std::void_t<struct T::QPrivateSignal>> : std::is_same<T, struct T::QPrivateSignal> {};

/* Whether a signal's parameter list Args... ends with the tag. */
template <class... Args> constexpr bool ends_with_tag = false;
template <class First, class... Rest>
constexpr bool ends_with_tag<First, Rest...> =
    is_private_signal_tag<std::decay_t<std::tuple_element_t<sizeof...(Rest), std::tuple<First, Rest...>>>>::value;

/* The signal's parameters as a type list (a std::tuple type, never made),
 * without a trailing tag: what a slot takes. */
template <class... Args> struct slot_params {
    template <std::size_t... I>
    static std::tuple<std::tuple_element_t<I, std::tuple<Args...>>...> first(std::index_sequence<I...>);
    using type = decltype(first(std::make_index_sequence<sizeof...(Args) - (ends_with_tag<Args...> ? 1 : 0)>()));
};

template <class Signal> struct signal_traits;
template <class Object, class... Args> struct signal_traits<void (Object::*)(Args...)> {
    using params = typename slot_params<Args...>::type;
};

template <class Params> struct decayed_tuple;
template <class... Params> struct decayed_tuple<std::tuple<Params...>> {
    using type = std::tuple<std::decay_t<Params>...>;
};

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

/* The slot: takes the parameters Params (Qt passes a signal's leading
 * arguments to a slot that takes fewer, so the tag never reaches it). */
template <class Params> struct emission_slot;
template <class... Params> struct emission_slot<std::tuple<Params...>> {
    std::shared_ptr<emission_wait> wait;

    void operator()(Params... args) const
    {
        if (wait->result.done())
            return; /* completed from outside before its done callback ran */
        wait->disconnect();
        wait->result.resolve(std::tuple<std::decay_t<Params>...>(args...));
    }
};

/// @endcond
} // namespace detail

/** The value type of next_emission's future for a signal of type Signal
 * (decltype(&Sender::signal)): its arguments decayed, without QPrivateSignal. */
template <class Signal>
using emission_t = typename detail::decayed_tuple<typename detail::signal_traits<Signal>::params>::type;

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
    using slot = detail::emission_slot<typename detail::signal_traits<decltype(signal)>::params>;
    wait->emitted = QObject::connect(sender, signal, slot{wait});
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
