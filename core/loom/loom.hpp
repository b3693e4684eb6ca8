/** @file
 * loom — the C++ API: RAII handles for loops and futures, lambdas as
 * callbacks, and (C++20) coroutines that co_await loom futures.
 *
 * Header-only over the C library: link libloom (or an adapter's library) as
 * a C program would. The RAII part needs C++17; loom::task and co_await need
 * C++20 coroutines (g++ 10+ or clang 14+ with -std=c++20) and are left out
 * otherwise. Works with every host (built-in, GLib, libevent, Qt).
 *
 * Errors are negative errno values, as in the C API: functions return int
 * (0 or -errno), and `co_await future` evaluates to the future's status. No
 * function here throws. Callbacks must not throw either (an exception that
 * leaves one ends the program: it would have to cross C frames).
 *
 *     loom::task<int> fetch(loom::future reply)
 *     {
 *         int r = co_await reply;        // the loop runs meanwhile
 *         if (r < 0)
 *             co_return r;               // fails the coroutine's future
 *         co_return (int)reply.value_int();
 *     }
 *     loom::future f = loom::spawn(loop, fetch(reply));
 *     loop.run_until(f);
 */
#ifndef LOOM_LOOM_HPP
#define LOOM_LOOM_HPP

#include <cerrno>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>
#include <loom/loom.h>

#if defined(__cpp_impl_coroutine) && __cpp_impl_coroutine >= 201902L && __has_include(<coroutine>)
#include <coroutine>
#include <exception>
#define LOOM_HAVE_COROUTINES 1
#endif

namespace loom {

/** Tag for constructors that take over a reference the caller owns. */
struct adopt_t {
    explicit adopt_t() = default;
};
/** The adopt_t tag: `loom::future f(loom_future_new(l), loom::adopt);`. */
inline constexpr adopt_t adopt{};

namespace detail {

/** Owns a heap copy of a callable for a *_full call: the loop runs destroy
 * exactly once, so the callable (and what it captured) goes exactly once. */
template <class F> struct boxed {
    static void destroy(void *data) noexcept { delete static_cast<F *>(data); }

    static void run(loom_loop *, void *data) noexcept { (*static_cast<F *>(data))(); }

    template <class G> static F *make(G &&fn) noexcept { return new (std::nothrow) F(std::forward<G>(fn)); }
};

/** Hands a boxed copy of fn to one of the *_full calls, call(data, destroy). */
template <class F, class Call> int schedule(F &&fn, Call &&call) noexcept
{
    using box = boxed<std::decay_t<F>>;
    auto *data = box::make(std::forward<F>(fn));
    if (!data)
        return -ENOMEM;
    int r = call(static_cast<void *>(data), &box::destroy);
    if (r < 0)
        box::destroy(data); /* not taken: the caller's callable goes now */
    return r;
}

/** The loom_callback that runs a boxed F. */
template <class F> constexpr loom_callback run_of = &boxed<std::decay_t<F>>::run;

/** Owns one reference to a C object: copying takes another (Ref), moving
 * transfers it, destruction drops it (Unref). Empty by default. */
template <class T, T *(*Ref)(T *), void (*Unref)(T *)> class ref_handle {
  public:
    ref_handle() noexcept = default;
    /** Takes over the caller's reference to p. */
    ref_handle(T *p, adopt_t) noexcept : ptr_(p) {}
    /** Takes a new reference to p (borrowed). */
    explicit ref_handle(T *p) noexcept : ptr_(p ? Ref(p) : nullptr) {}
    /** Takes another reference to what other holds. */
    ref_handle(const ref_handle &other) noexcept : ref_handle(other.ptr_) {}
    /** Takes over other's reference, leaving other empty. */
    ref_handle(ref_handle &&other) noexcept : ptr_(std::exchange(other.ptr_, nullptr)) {}
    /** Copy or move assignment: drops the reference held before. */
    ref_handle &operator=(ref_handle other) noexcept
    {
        std::swap(ptr_, other.ptr_);
        return *this;
    }
    ~ref_handle()
    {
        if (ptr_)
            Unref(ptr_);
    }

    /** The C object (borrowed; nullptr when empty), for the C API. */
    T *get() const noexcept { return ptr_; }
    /** Gives the reference to the caller, leaving the handle empty. */
    T *release() noexcept { return std::exchange(ptr_, nullptr); }
    /** Whether the handle holds an object. */
    explicit operator bool() const noexcept { return ptr_ != nullptr; }

  protected:
    T *ptr_ = nullptr; /**< the reference held, or nullptr */
};

} // namespace detail

class future;

/** A loop handle: owns one user reference (loom_loop_ref/unref); copying
 * takes another, moving transfers it. The last reference dropped closes the
 * loop (see loom_loop_unref). An empty handle (default) holds nothing. */
class loop : public detail::ref_handle<loom_loop, loom_loop_ref, loom_loop_unref> {
  public:
    using ref_handle::ref_handle;

    /** A new loop on the built-in backend into out (see loom_loop_new):
     * 0 or a negative errno (out is then untouched). */
    static int create(loop &out, const char *backend = nullptr) noexcept
    {
        loom_loop *l = nullptr;
        int r = loom_loop_new(&l, backend);
        if (r == 0)
            out = loop(l, adopt);
        return r;
    }

    /** loom_loop_run: 0 or its negative errno. */
    int run() const noexcept { return loom_loop_run(ptr_); }
    /** loom_loop_run_once: 0 or its negative errno. */
    int run_once(bool block) const noexcept { return loom_loop_run_once(ptr_, block); }
    /** loom_loop_run_until: f's status, or -EINTR if stopped first (f is borrowed). */
    inline int run_until(const future &f) const noexcept;
    /** loom_loop_stop: 0, or -EINVAL when loom is not running the loop. */
    int stop() const noexcept { return loom_loop_stop(ptr_); }
    /** loom_loop_close: 0, -EBUSY while running, -EALREADY. The handle stays valid. */
    int close() const noexcept { return loom_loop_close(ptr_); }
    /** loom_loop_now: the monotonic time in ns. */
    int64_t now() const noexcept { return loom_loop_now(ptr_); }
    /** loom_loop_backend_name (a static string). */
    const char *backend_name() const noexcept { return loom_loop_backend_name(ptr_); }

    /** fn() on the next tick. The loop owns a copy of fn from a successful
     * call on, and destroys it exactly once: after it ran, on cancel, or at
     * close. 0 or a negative errno (fn's copy is then destroyed at once). */
    template <class F> int call_soon(F &&fn, loom_handle *handlep = nullptr) const noexcept
    {
        return detail::schedule(std::forward<F>(fn), [&](void *data, loom_destroy_fn d) {
            return loom_call_soon_full(ptr_, detail::run_of<F>, data, d, handlep);
        });
    }

    /** The same after delay_ns (loom_call_later_full). */
    template <class F> int call_later(int64_t delay_ns, F &&fn, loom_handle *handlep = nullptr) const noexcept
    {
        return detail::schedule(std::forward<F>(fn), [&](void *data, loom_destroy_fn d) {
            return loom_call_later_full(ptr_, delay_ns, detail::run_of<F>, data, d, handlep);
        });
    }

    /** The same at the absolute monotonic time when_ns (loom_call_at_full). */
    template <class F> int call_at(int64_t when_ns, F &&fn, loom_handle *handlep = nullptr) const noexcept
    {
        return detail::schedule(std::forward<F>(fn), [&](void *data, loom_destroy_fn d) {
            return loom_call_at_full(ptr_, when_ns, detail::run_of<F>, data, d, handlep);
        });
    }

    /** fn() on the loop's thread from any thread (loom_call_soon_threadsafe_full). */
    template <class F> int call_soon_threadsafe(F &&fn) const noexcept
    {
        return detail::schedule(std::forward<F>(fn), [&](void *data, loom_destroy_fn d) {
            return loom_call_soon_threadsafe_full(ptr_, detail::run_of<F>, data, d);
        });
    }

    /** Cancels a scheduled call (its callable is destroyed now); -ENOENT if gone. */
    int cancel(loom_handle handle) const noexcept { return loom_cancel(ptr_, handle); }
};

/** A future handle: owns one reference (loom_future_ref/unref); copying
 * takes another, moving transfers it. An empty handle holds nothing. Used on
 * the future's loop's thread, as the C calls are. */
class future : public detail::ref_handle<loom_future, loom_future_ref, loom_future_unref> {
  public:
    using ref_handle::ref_handle;

    /** A new pending future on l; empty (errno set) on failure. */
    static future create(const loop &l) noexcept { return future(loom_future_new(l.get()), adopt); }

    /** A new handle on the future's loop. */
    loop get_loop() const noexcept { return loop(loom_future_loop(ptr_)); }

    /** loom_future_resolve_int: 0, or -EINVAL if done already. */
    int resolve_int(int64_t value) const noexcept { return loom_future_resolve_int(ptr_, value); }
    /** Resolves with a heap copy of value, deleted with the future: read it
     * back with value_as<T>(). 0, -ENOMEM, or -EINVAL if done already. */
    template <class T> int resolve(T &&value) const noexcept
    {
        using V = std::decay_t<T>;
        V *copy = new (std::nothrow) V(std::forward<T>(value));
        if (!copy)
            return -ENOMEM;
        return loom_future_resolve(ptr_, copy, [](void *p) { delete static_cast<V *>(p); });
    }
    /** loom_future_fail (msg copied): 0, -EINVAL (err >= 0, done already), -ENOMEM. */
    int fail(int err, const char *msg = nullptr) const noexcept { return loom_future_fail(ptr_, err, msg); }
    /** loom_future_cancel: true if it was pending. */
    bool cancel() const noexcept { return loom_future_cancel(ptr_); }

    /** loom_future_state_get. */
    loom_future_state state() const noexcept { return loom_future_state_get(ptr_); }
    /** loom_future_done: whether it is no longer pending. */
    bool done() const noexcept { return loom_future_done(ptr_); }
    /** 0, the negative errno, or -EAGAIN while pending; marks a failure retrieved. */
    int status() const noexcept { return loom_future_status(ptr_); }
    /** The failure message (owned by the future), or nullptr. */
    const char *message() const noexcept { return loom_future_message(ptr_); }
    /** The integer of a resolved future (0 otherwise). */
    int64_t value_int() const noexcept { return loom_future_value_int(ptr_); }
    /** The value of a resolved future (borrowed; nullptr otherwise). */
    void *value() const noexcept { return loom_future_value(ptr_); }
    /** The value resolve<T> (or a loom::task<T>) stored, borrowed; nullptr if
     * not resolved. T must be the type that was stored. */
    template <class T> T *value_as() const noexcept { return static_cast<T *>(loom_future_value(ptr_)); }

    /** fn() or fn(future &) once the future is done. The future owns a copy
     * of fn from a successful call on and destroys it exactly once: after it
     * ran, or when the loop closes first. 0 or a negative errno (fn's copy
     * is then destroyed at once). */
    template <class F> int on_done(F &&fn) const noexcept
    {
        return detail::schedule(std::forward<F>(fn), [&](void *data, loom_destroy_fn d) {
            return loom_future_on_done_full(ptr_, &on_done_run<std::decay_t<F>>, data, d);
        });
    }

  private:
    template <class G> static void on_done_run(loom_future *f, void *data) noexcept
    {
        G &fn = *static_cast<G *>(data);
        if constexpr (std::is_invocable_v<G &, future &>) {
            future handle(f);
            fn(handle);
        } else {
            fn();
        }
    }
};

inline int loop::run_until(const future &f) const noexcept
{
    return loom_loop_run_until(ptr_, f.get());
}

/** What a coroutine co_returns to fail its future with err (< 0) and msg. */
struct failure {
    int err;                   /**< a negative errno */
    const char *msg = nullptr; /**< copied by the future; may be nullptr */
};

#ifdef LOOM_HAVE_COROUTINES

/** C++20 coroutines on a loom loop: loom::task and loom::spawn.
 *
 * loom::task<T> is the return type of a coroutine that runs on a loop's
 * thread. It starts when given to loom::spawn, on the loop's next tick, and
 * completes a loom future, so everything futures offer works on it: a C
 * fiber task may loom_await it, a coroutine may co_await it or a fiber
 * task's future. It never blocks: it is resumed from loom callbacks, on
 * every host.
 *
 * `co_await f` (a loom::future or a loom_future *) suspends the coroutine
 * until f is done and evaluates to f's status, as loom_await does: 0 if
 * resolved (read the value from f), the negative errno if failed (retrieved)
 * or cancelled; a done future gives its status without suspending. -EXDEV
 * for a future of another loop, -EDEADLK for the coroutine's own.
 *
 * Results: task<int> completes like a C task function: co_return r >= 0
 * resolves with r as the integer, r < 0 fails with that errno. task<T>
 * resolves with a heap copy of the co_returned T (future.value_as<T>()).
 * task<void> resolves with no value. Every task<T> may co_return
 * loom::failure{err, msg} (except task<void>), and an exception that leaves
 * the coroutine fails its future: a std::exception with -EIO and its what()
 * as message, anything else with -EIO.
 *
 * Cancellation, as at a fiber task's await point: cancelling the
 * coroutine's future completes it at once as cancelled and delivers
 * -ECANCELED once, at the current co_await (cancelling the future awaited
 * there, unless it had resolved already: then the co_await gives 0 and
 * -ECANCELED comes at the next one) or the next one. Later co_awaits work;
 * the co_returned result is then ignored. (Completing the coroutine's
 * future from outside counts as a cancel the same way.)
 *
 * Loop close: a suspended coroutine is resumed with -ESHUTDOWN, and every
 * later co_await gives -ESHUTDOWN without suspending, so it can release what
 * it holds and return; one that had not started is destroyed without running
 * (its parameters are released) and its future fails with -ESHUTDOWN.
 *
 * Lifetime: the frame is owned by the task object until spawn, then by the
 * loop; it goes when the coroutine returns. A loom::loop held by the frame
 * (a parameter) is a user reference: it keeps the loop open while the
 * coroutine is suspended, so close such a loop with loop.close(), or pass
 * the loop as a loom_loop * (borrowed). */
template <class T = void> class task;
template <class T> future spawn(const loop &l, task<T> &&t) noexcept;

namespace detail {

/** The part of a coroutine's promise that does not depend on its result. */
class promise_base {
  public:
    /** Shared by the promise and the callback watching its future for a
     * cancel: whichever goes last frees it. */
    struct cancel_link {
        promise_base *promise;
        int refs;
    };

    promise_base() noexcept = default;
    promise_base(const promise_base &) = delete;
    promise_base &operator=(const promise_base &) = delete;
    ~promise_base()
    {
        if (link_) {
            link_->promise = nullptr;
            unlink(link_);
        }
    }

    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }

    void unhandled_exception() noexcept
    {
#if defined(__cpp_exceptions)
        try {
            throw;
        } catch (const std::exception &e) {
            fail_result(-EIO, e.what());
        } catch (...) {
            fail_result(-EIO, nullptr);
        }
#endif
    }

    const future &result() const noexcept { return future_; }

    /** Makes the coroutine's future on l and starts watching it for a cancel. */
    int bind(loom_loop *l) noexcept
    {
        future_ = future(loom_future_new(l), adopt);
        if (!future_)
            return -errno;
        link_ = new (std::nothrow) cancel_link{this, 2};
        if (!link_)
            return -ENOMEM;
        int r = loom_future_on_done_full(future_.get(), &on_own_done, link_, &unlink_data);
        if (r < 0)
            link_->refs = 1;
        return r;
    }

    /** What a co_await gives before suspending: -ESHUTDOWN, a cancel not yet
     * delivered, or 1 to go on. */
    int pending_interrupt() noexcept
    {
        if (shutdown_)
            return -ESHUTDOWN;
        if (cancel_pending_) {
            cancel_pending_ = false;
            return -ECANCELED;
        }
        return 1;
    }

    /** Whether the coroutine's own future was cancelled while awaiting, and
     * delivers it (once). */
    bool take_cancel() noexcept { return std::exchange(cancel_pending_, false); }

    void set_awaited(loom_future *f) noexcept { awaited_ = f; }
    void set_shutdown() noexcept { shutdown_ = true; }
    loom_loop *get_loop() const noexcept { return loom_future_loop(future_.get()); }

    void fail_result(int err, const char *msg) noexcept { future_.fail(err, msg); }

  private:
    static void unlink(cancel_link *link) noexcept
    {
        if (--link->refs == 0)
            delete link;
    }
    static void unlink_data(void *data) noexcept { unlink(static_cast<cancel_link *>(data)); }

    /** The own future completed before the coroutine did: it was cancelled. */
    static void on_own_done(loom_future *, void *data) noexcept
    {
        promise_base *p = static_cast<cancel_link *>(data)->promise;
        if (!p)
            return;
        p->cancel_pending_ = true;
        if (p->awaited_)
            loom_future_cancel(p->awaited_);
    }

    future future_;
    cancel_link *link_ = nullptr;
    loom_future *awaited_ = nullptr; /* borrowed from the suspended co_await */
    bool cancel_pending_ = false;
    bool shutdown_ = false;
};

/** co_await on a loom future from a coroutine of promise p. Lives in the
 * coroutine's frame while suspended, holding a reference to the future. The
 * on_done callback only marks it and its destroy resumes the coroutine,
 * because destroy runs last (right after the callback, or alone when the
 * loop closes), and the frame may be gone once the resume returns. */
class future_awaiter {
  public:
    future_awaiter(promise_base &p, loom_future *f) noexcept : promise_(p), future_(f) {}

    bool await_ready() noexcept
    {
        result_ = promise_.pending_interrupt();
        if (result_ <= 0)
            return true;
        if (!future_)
            result_ = -EINVAL;
        else if (future_ == promise_.result().get())
            result_ = -EDEADLK;
        else if (loom_future_loop(future_) != promise_.get_loop())
            result_ = -EXDEV;
        else if (loom_future_done(future_))
            result_ = loom_future_status(future_);
        else
            return false;
        return true;
    }

    bool await_suspend(std::coroutine_handle<> h) noexcept
    {
        handle_ = h;
        int r = loom_future_on_done_full(future_, &on_done, this, &on_release);
        if (r == 0)
            hold_ = future(future_); /* so that only the loop's close drops the callback unrun */
        if (r < 0) {
            if (r == -ESHUTDOWN)
                promise_.set_shutdown();
            result_ = r;
            return false;
        }
        promise_.set_awaited(future_);
        return true;
    }

    int await_resume() noexcept { return result_; }

  private:
    static void on_done(loom_future *, void *data) noexcept { static_cast<future_awaiter *>(data)->ran_ = true; }

    static void on_release(void *data) noexcept
    {
        auto *self = static_cast<future_awaiter *>(data);
        self->promise_.set_awaited(nullptr);
        self->result_ = self->outcome();
        self->handle_.resume();
    }

    int outcome() noexcept
    {
        if (!ran_) {
            promise_.set_shutdown();
            return -ESHUTDOWN;
        }
        int status = loom_future_status(future_);
        /* A resolved future's result is kept; the cancel waits for the next co_await. */
        if (status == 0)
            return 0;
        return promise_.take_cancel() ? -ECANCELED : status;
    }

    promise_base &promise_;
    loom_future *future_;
    future hold_;
    std::coroutine_handle<> handle_;
    int result_ = 0;
    bool ran_ = false;
};

template <class T, class Promise> class promise_common : public promise_base {
  public:
    task<T> get_return_object() noexcept
    {
        return task<T>(std::coroutine_handle<Promise>::from_promise(static_cast<Promise &>(*this)));
    }

    future_awaiter await_transform(const future &f) noexcept { return {*this, f.get()}; }
    future_awaiter await_transform(loom_future *f) noexcept { return {*this, f}; }
};

template <class T> class promise : public promise_common<T, promise<T>> {
  public:
    void return_value(T value) noexcept { this->result().resolve(std::move(value)); }
    void return_value(failure f) noexcept { this->fail_result(f.err, f.msg); }
};

template <> class promise<int> : public promise_common<int, promise<int>> {
  public:
    void return_value(int r) noexcept
    {
        if (r < 0)
            fail_result(r, nullptr);
        else
            result().resolve_int(r);
    }
    void return_value(failure f) noexcept { fail_result(f.err, f.msg); }
};

template <> class promise<void> : public promise_common<void, promise<void>> {
  public:
    void return_void() noexcept { loom_future_resolve(result().get(), nullptr, nullptr); }
};

} // namespace detail

/** A coroutine not started yet: give it to loom::spawn. Move-only; a task
 * destroyed unspawned destroys its frame without running it. */
template <class T> class [[nodiscard]] task {
  public:
    using promise_type = detail::promise<T>; /**< for the compiler's coroutine machinery */

    /** Takes over other's frame, leaving other empty. */
    task(task &&other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    /** Swaps the frames: other destroys this one's. */
    task &operator=(task &&other) noexcept
    {
        std::swap(handle_, other.handle_);
        return *this;
    }
    ~task()
    {
        if (handle_)
            handle_.destroy();
    }

  private:
    friend class detail::promise_common<T, promise_type>;
    template <class U> friend future spawn(const loop &l, task<U> &&t) noexcept;

    explicit task(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {}

    std::coroutine_handle<promise_type> handle_;
};

namespace detail {

/** The start call: its callback only marks it, its destroy starts the
 * coroutine (or, if the loop closed first, fails its future and destroys
 * it), since destroy runs last and the frame may be gone after a resume. */
struct start_call {
    std::coroutine_handle<> handle;
    promise_base *promise;
    bool ran = false;

    /** Schedules h's start on l's next tick: 0 or a negative errno. */
    static int schedule(loom_loop *l, std::coroutine_handle<> h, promise_base &p) noexcept
    {
        auto *call = new (std::nothrow) start_call{h, &p};
        if (!call)
            return -ENOMEM;
        int r = loom_call_soon_full(l, &run, call, &release, nullptr);
        if (r < 0)
            delete call;
        return r;
    }

    static void run(loom_loop *, void *data) noexcept { static_cast<start_call *>(data)->ran = true; }

    static void release(void *data) noexcept
    {
        auto *call = static_cast<start_call *>(data);
        std::coroutine_handle<> h = call->handle;
        promise_base *p = call->promise;
        bool ran = call->ran;
        delete call;
        if (ran) {
            h.resume();
        } else {
            p->fail_result(-ESHUTDOWN, "loop closed before the coroutine started");
            h.destroy();
        }
    }
};

} // namespace detail

/** Starts t on l's next tick and returns its future (a new reference; the
 * coroutine runs on when the caller drops it). On failure (a closed loop, a
 * foreign thread, no memory) the frame is destroyed unrun and the result is
 * empty with errno set. */
template <class T> future spawn(const loop &l, task<T> &&t) noexcept
{
    auto h = std::exchange(t.handle_, nullptr);
    auto &p = h.promise();
    int r = p.bind(l.get());
    if (r == 0)
        r = detail::start_call::schedule(l.get(), h, p);
    if (r < 0) {
        h.destroy(); /* unrun: its future goes with the frame */
        errno = -r;
        return future();
    }
    return p.result();
}

#endif /* LOOM_HAVE_COROUTINES */

} // namespace loom

#endif
