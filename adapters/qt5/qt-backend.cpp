/* Qt 5 backend: loom's fd watches are QSocketNotifiers, its deadline one
 * precise timer of a QObject living on the loop's thread, its wakeup an event
 * posted to that object. No moc: everything arrives through event() and
 * timerEvent() overrides. */
#include "config.h"
#include <poll.h>
#include <time.h>
#include <climits>
#include <new>
#include <QAbstractEventDispatcher>
#include <QCoreApplication>
#include <QEvent>
#include <QSocketNotifier>
#include <QTimerEvent>
#include <loom/backend.h>
#include <loom/loom-qt.h>

namespace {

unsigned from_poll(short revents)
{
    return (revents & POLLIN ? LOOM_READ : 0) | (revents & POLLOUT ? LOOM_WRITE : 0) |
           (revents & POLLHUP ? LOOM_HUP : 0) | (revents & POLLERR ? LOOM_ERR : 0) |
           (revents & POLLNVAL ? LOOM_ERR | LOOM_BACKEND_NVAL : 0);
}

/* Times Qt called into loom on this thread, for qt_iterate: it cannot look at
 * its backend after Qt ran, a callback may have closed the loop. */
thread_local uint64_t entries_on_this_thread;

class Notifier;

/* A watched fd: its notifiers are made on first interest, then only enabled
 * and disabled. */
struct Watch {
    uint64_t token;
    Notifier *notifiers[2]; /* read, write */
};

class QtBackend final : public QObject {
public:
    explicit QtBackend(QAbstractEventDispatcher *dispatcher)
    {
        /* A callback that runs a nested Qt loop (QDialog::exec) stops the
         * tick half-way, before it re-arms the deadline. Like a GLib source
         * asking loom_backend_deadline in prepare, ask the core before Qt
         * blocks: during a tick the answer is "now", so what the callback
         * scheduled runs inside the nested loop. */
        QObject::connect(dispatcher, &QAbstractEventDispatcher::aboutToBlock, this, [this] {
            if (loom_backend_deadline(loop) == 0 && deadline_ != 0)
                set_deadline(0);
        });
    }

    loom_loop *loop = nullptr;

    /* Every entry into the core goes through here. A callback may drop the
     * last reference to the loop; holding one defers the close (and the
     * destruction of this backend) until the tick is over. Nothing of the
     * backend is touched after the core returns. */
    void enter(uint64_t token, unsigned events)
    {
        loom_loop *l = loop;
        entries_on_this_thread++;
        loom_loop_ref(l);
        if (events)
            loom_backend_fd_ready(l, token, events);
        loom_backend_tick(l);
        loom_loop_unref(l);
    }

    int watch_set(Watch *w, int fd, unsigned events);

    void set_deadline(int64_t when)
    {
        if (timer_ && when == deadline_)
            return; /* every tick re-arms; most keep the same deadline */
        deadline_ = when;
        arm();
    }

    void wakeup()
    {
        /* postEvent is thread-safe; the core calls this once per batch of
         * thread-safe calls, and never while the loop is being closed. */
        QCoreApplication::postEvent(this, new QEvent(wake_event_type()));
    }

protected:
    bool event(QEvent *e) override
    {
        if (e->type() != wake_event_type())
            return QObject::event(e);
        enter(0, 0); /* may delete this */
        return true;
    }

    void timerEvent(QTimerEvent *) override
    {
        killTimer(timer_);
        timer_ = 0;
        if (loom_loop_now(nullptr) < deadline_) {
            arm(); /* a deadline beyond INT_MAX ms was cut short: never tick early */
            return;
        }
        deadline_ = LOOM_DEADLINE_NONE; /* consumed: the tick re-arms it */
        enter(0, 0);                    /* may delete this */
    }

private:
    int64_t deadline_ = LOOM_DEADLINE_NONE;
    int timer_ = 0;

    static QEvent::Type wake_event_type()
    {
        static const QEvent::Type type = QEvent::Type(QEvent::registerEventType());
        return type;
    }

    /* Qt timers count whole milliseconds from now: round up, so the timer
     * never fires before the deadline. */
    void arm()
    {
        if (timer_) {
            killTimer(timer_);
            timer_ = 0;
        }
        if (deadline_ == LOOM_DEADLINE_NONE)
            return;
        int64_t left = deadline_ - loom_loop_now(nullptr);
        int64_t ms = left <= 0 ? 0 : (left + 999999) / 1000000;
        timer_ = startTimer(int(ms < INT_MAX ? ms : INT_MAX), Qt::PreciseTimer);
    }
};

/* One direction (read or write) of a watched fd. Qt only says "activated",
 * so the fd is polled once more for the precise events (HUP, ERR, or nothing
 * any more because an earlier callback consumed it). */
class Notifier final : public QSocketNotifier {
public:
    Notifier(QtBackend *backend, uint64_t token, int fd, Type type)
        : QSocketNotifier(fd, type, backend), backend_(backend), token_(token)
    {
    }

protected:
    bool event(QEvent *e) override
    {
        if (e->type() != QEvent::SockAct)
            return QSocketNotifier::event(e);
        if (loom_backend_inherited(backend_->loop)) {
            setEnabled(false); /* a forked child's Qt loop (backend.h) */
            return true;
        }
        struct pollfd p = {int(socket()), short(type() == Read ? POLLIN : POLLOUT), 0};
        if (poll(&p, 1, 0) > 0)
            backend_->enter(token_, from_poll(p.revents)); /* may delete this */
        return true;
    }

private:
    QtBackend *const backend_;
    const uint64_t token_;
};

int QtBackend::watch_set(Watch *w, int fd, unsigned events)
{
    static const struct {
        unsigned event;
        QSocketNotifier::Type type;
    } sides[2] = {{LOOM_READ, QSocketNotifier::Read}, {LOOM_WRITE, QSocketNotifier::Write}};

    for (int i = 0; i < 2; i++) {
        bool want = events & sides[i].event;
        Notifier *&n = w->notifiers[i];
        if (!n) {
            if (want && !(n = new (std::nothrow) Notifier(this, w->token, fd, sides[i].type)))
                return -ENOMEM;
        } else if (n->isEnabled() != want) {
            n->setEnabled(want);
        }
    }
    return 0;
}

QtBackend *backend_of(void *self)
{
    return static_cast<QtBackend *>(self);
}

int qt_watch_add(void *self, int fd, uint64_t token, unsigned events, void **watchp)
{
    Watch *w = new (std::nothrow) Watch{token, {nullptr, nullptr}};
    if (!w)
        return -ENOMEM;
    int r = backend_of(self)->watch_set(w, fd, events);
    if (r < 0) {
        delete w->notifiers[0];
        delete w;
        return r;
    }
    *watchp = w;
    return 0;
}

int qt_watch_set(void *self, void *watch, int fd, unsigned events)
{
    return backend_of(self)->watch_set(static_cast<Watch *>(watch), fd, events);
}

/* Deleting a notifier only unregisters it from the dispatcher, which is safe
 * when the fd is already closed, and when Qt is delivering to it right now. */
void qt_watch_del(void *, void *watch, int)
{
    Watch *w = static_cast<Watch *>(watch);
    delete w->notifiers[0];
    delete w->notifiers[1];
    delete w;
}

void qt_set_deadline(void *self, int64_t when_ns)
{
    backend_of(self)->set_deadline(when_ns);
}

void qt_wakeup(void *self)
{
    backend_of(self)->wakeup();
}

/* Qt's Unix dispatcher delivers posted events (loom's wakeup) first, then
 * waits anyway: so first take what is there without waiting, and wait only if
 * that did not reach loom. Qt may still return without having called loom
 * (its own events, a spurious wakeup); loom_loop_run simply iterates again. */
int qt_iterate(void *, bool block)
{
    QAbstractEventDispatcher *dispatcher = QAbstractEventDispatcher::instance();
    if (!dispatcher)
        return -ENXIO; /* the thread's Qt went away under the loop */
    uint64_t entries = entries_on_this_thread;
    dispatcher->processEvents(QEventLoop::AllEvents);
    if (block && entries_on_this_thread == entries)
        dispatcher->processEvents(QEventLoop::WaitForMoreEvents);
    return 0;
}

void qt_destroy(void *self)
{
    delete backend_of(self);
}

const loom_backend_ops qt_ops = {
    "qt",
    /* QEventLoop::exec nests, and Qt's sources recurse; one notifier for
     * all watches: Qt's cost O(notifiers) per iteration. */
    LOOM_BACKEND_CAN_NEST | LOOM_BACKEND_ONE_FD,
    qt_watch_add,
    qt_watch_set,
    qt_watch_del,
    qt_set_deadline,
    qt_wakeup,
    qt_iterate,
    nullptr, /* get_fd */
    qt_destroy,
};

} // namespace

int loom_qt_loop_new(loom_loop **loopp)
{
    if (!loopp)
        return -EINVAL;
    if (!QCoreApplication::instance() || !QAbstractEventDispatcher::instance())
        return -ENXIO;
    QtBackend *backend = new (std::nothrow) QtBackend(QAbstractEventDispatcher::instance());
    if (!backend)
        return -ENOMEM;
    int r = loom_loop_new_with_backend(loopp, &qt_ops, backend);
    if (r == 0)
        backend->loop = *loopp;
    return r;
}
