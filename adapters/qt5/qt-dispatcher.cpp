/* Qt guest: a QAbstractEventDispatcher over a loom loop.
 *
 * A round is QEventDispatcherUNIX's: emit awake, send posted events, then —
 * only if WaitForMoreEvents, no wakeUp latched since the round began and no
 * interrupt — emit aboutToBlock and block in one loom_loop_run_once, then
 * activate the socket notifiers and the timers that loom found ready. Loom's
 * callbacks (timers, fd watches, the wakeup) only mark what is ready; the
 * round delivers it. When loom drives instead (loom_loop_run, a GLib or
 * libevent host), a mark schedules the round as a loom callback, and a
 * BEFORE_POLL hook emits aboutToBlock before loom may block.
 *
 * Timers are loom timers with Qt's times: QTimerInfoList's rules for
 * Precise, Coarse and VeryCoarse timers, re-implemented on monotonic ns. */
#include "config.h"
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>
#ifdef HAVE_SYS_EVENTFD_H
#include <sys/eventfd.h>
#endif
#include <pthread.h>
#include <algorithm>
#include <atomic>
#include <climits>
#include <cstring>
#include <new>
#include <unordered_map>
#include <vector>
#include <QAbstractEventDispatcher>
#include <QCoreApplication>
#include <QSocketNotifier>
#include <QThread>
#include <QTimerEvent>
#include <QtCore/private/qobject_p.h>
#include <QtCore/private/qthread_p.h>
#include <loom/loom.h>
#include <loom/loom-qt.h>
#include "qt-guest.h"

uint qGlobalPostedEventsCount(); /* QtCore's, as QEventDispatcherUNIX uses it */

namespace {

const int64_t MS = LOOM_MSEC(1);
const int64_t SEC = LOOM_SEC(1);

/* --- Qt's timer times -------------------------------------------------------
 * QTimerInfoList's rules: a coarse timer may be up to 5 % late so that timers
 * wake together at round fractions of a second; a very coarse one counts
 * whole seconds. Times are CLOCK_MONOTONIC ns, as Qt's. */

/* The fraction of a second a coarse timer of this interval prefers. */
unsigned coarse_boundary(unsigned interval)
{
    if (interval % 500 == 0)
        return 500;
    if (interval % 50 != 0)
        return 25;
    unsigned fifties = interval / 50;
    if (fifties % 4 == 0)
        return 200;
    if (fifties % 2 == 0)
        return 100;
    return fifties % 5 == 0 ? 250 : 50;
}

/* Where in its second (ms, 0..1000) a coarse timer due at ms should wake. */
unsigned coarse_ms(unsigned ms, unsigned interval)
{
    if (interval < 100 && interval % 25 != 0) {
        /* short timers: even (or multiple of 4) ms, nudged toward 50 (100) */
        unsigned shift = interval < 50 ? 1 : 2, toward = interval < 50 ? 50 : 100;
        return ((ms >> shift) | unsigned(ms % toward >= toward / 2)) << shift;
    }
    unsigned slack = interval / 20;
    unsigned lo = ms > slack ? ms - slack : 0, hi = std::min(1000u, ms + slack);
    if (lo == 0)
        return 0;
    if (hi == 1000)
        return 1000;
    if (interval % 500 == 0 && interval >= 5000)
        return ms >= 500 ? hi : lo;
    unsigned step = coarse_boundary(interval), base = ms / step * step;
    return ms < base + step / 2 ? std::max(base, lo) : std::min(base + step, hi);
}

int64_t coarse_align(int64_t when, unsigned interval, int64_t now)
{
    int64_t second = when / SEC * SEC;
    when = second + int64_t(coarse_ms(unsigned((when - second) / MS), interval)) * MS;
    return when < now ? when + int64_t(interval) * MS : when;
}

class LoomDispatcher;

struct Timer {
    LoomDispatcher *owner;
    int id;
    int interval; /* ms; whole seconds for VeryCoarseTimer, as Qt keeps it */
    Qt::TimerType type;
    QObject *object;
    int64_t when;       /* the next time it is due */
    loom_handle handle; /* its loom timer, 0 while its event is delivered or when due */
    bool due;           /* loom found it due; the next round delivers it */
    Timer **active;     /* while delivering: nulled if the timer goes meanwhile */
};

void timer_start(Timer *t, int64_t now)
{
    t->when = now + int64_t(t->interval) * MS;
    if (t->type == Qt::CoarseTimer) {
        if (t->interval >= 20000)
            t->type = Qt::VeryCoarseTimer;
        else if (t->interval <= 20)
            t->type = Qt::PreciseTimer; /* 5 % of it is under 1 ms */
        else
            t->when = coarse_align(t->when, unsigned(t->interval), now);
    }
    if (t->type == Qt::VeryCoarseTimer) {
        t->interval = (t->interval / 500 + 1) >> 1; /* rounded to whole seconds */
        t->when = (now / SEC + t->interval) * SEC;
        if (now % SEC > 500 * MS)
            t->when += SEC;
    }
}

/* Computed before the timer's event is delivered, as Qt does: a handler
 * that runs long does not make it fire twice in a row. */
void timer_advance(Timer *t, int64_t now)
{
    if (t->type == Qt::VeryCoarseTimer) {
        t->when += t->interval * SEC;
        if (t->when / SEC <= now / SEC)
            t->when = (now / SEC + t->interval) * SEC;
        return;
    }
    t->when += int64_t(t->interval) * MS;
    if (t->when < now)
        t->when = now + int64_t(t->interval) * MS;
    if (t->type == Qt::CoarseTimer)
        t->when = coarse_align(t->when, unsigned(t->interval), now);
}

/* One fd's notifiers, Qt's QSocketNotifierSetUNIX. */
struct FdEntry {
    QSocketNotifier *notifiers[3] = {}; /* indexed by QSocketNotifier::Type */
    unsigned events = 0;                /* the loom watch's interest */
    bool watched = false;               /* has a loom fd watch */
    bool always_ready = false;          /* a file loom cannot watch: poll(2) calls it ready */
    bool invalid = false;               /* not an open fd: warned about and disabled next round */
    bool changed = false;               /* in changed_: the watch catches up before loom polls */
    bool emptied = false;               /* left with no notifier since: the fd may name another file */
};

const char *type_name(int type)
{
    static const char *const names[] = {"Read", "Write", "Exception"};
    return names[type];
}

class LoomDispatcher final : public QAbstractEventDispatcher {
public:
    /* 0 and *dp, -EXDEV (a loop of another thread), -ESHUTDOWN or -ENOMEM. */
    static int create(loom_loop *loop, LoomDispatcher **dp);
    ~LoomDispatcher() override;

    bool processEvents(QEventLoop::ProcessEventsFlags flags) override;
    bool hasPendingEvents() override;
    void registerSocketNotifier(QSocketNotifier *notifier) override;
    void unregisterSocketNotifier(QSocketNotifier *notifier) override;
    void registerTimer(int id, int interval, Qt::TimerType type, QObject *object) override;
    bool unregisterTimer(int id) override;
    bool unregisterTimers(QObject *object) override;
    QList<TimerInfo> registeredTimers(QObject *object) const override;
    int remainingTime(int id) override;
    void wakeUp() override;
    void interrupt() override;
    void flush() override {}
    void closingDown() override;

    /* From loom's callbacks. */
    void timer_due(Timer *t);
    void fd_ready(int fd, unsigned events);
    void woken();
    void round_now();
    void before_poll();
    void changes_due();
    void release_loom();

private:
    explicit LoomDispatcher(loom_loop *loop) : loop_(loom_loop_ref(loop)) {}

    int open_wake_fd();
    int poll_loom(bool block);
    void refuse_exec(int err);
    int deliver(QEventLoop::ProcessEventsFlags flags);
    int activate_notifiers();
    int activate_timers();
    void mark(QSocketNotifier *n);
    void kick();
    bool has_work() const;
    bool has_undelivered() const; /* has_work beside a latched wakeUp */
    void arm(Timer *t);
    Timer *find_timer(int id) const { return id > 0 && size_t(id) < timers_.size() ? timers_[id] : nullptr; }
    void defer(int fd, FdEntry &e);
    void apply_changes();
    void update_watch(int fd, FdEntry &e);
    void release_fd(int fd, FdEntry &e);
    void mute_notifiers(bool mute);
    void make_invalid(int fd, FdEntry &e);
    void disable_invalid(int fd);
    void pump_gui(QEventLoop::ProcessEventsFlags flags, int &n);

    loom_loop *const loop_;
    const pthread_t owner_ = pthread_self();
    /* wakeUp from other threads: an eventfd (a pipe without one) that loom
     * watches, written once until it is read. Not a thread-safe loom call:
     * one still queued when the dispatcher goes would be dropped and
     * reported when the loop closes. */
    int wake_fd_[2] = {-1, -1};
    std::atomic<bool> wake_sent_{false};
    loom_handle hook_ = 0;
    loom_handle close_hook_ = 0;
    loom_handle round_ = 0; /* a scheduled loom-driven round */
    loom_handle changes_ = 0; /* apply_changes scheduled with the first change, in case no poll comes first */
    std::atomic<bool> latched_{false};
    std::atomic<bool> interrupted_{false};
    bool in_poll_ = false;         /* a processEvents waits in run_once: it delivers what is marked */
    bool delivered_ = false;       /* a loom-driven round ran since aboutToBlock was last emitted */
    bool exec_refused_ = false;
    /* By id: Qt hands out small ids and reuses released ones, so a vector
     * indexed by id finds a timer without hashing. */
    std::vector<Timer *> timers_;
    std::vector<Timer *> spare_timers_; /* freed ones, reused without malloc */
    std::vector<int> due_, due_spare_;
    std::unordered_map<int, FdEntry> fds_;
    /* Notifier changes since loom last polled: watched only then, so a
     * notifier made and deleted between two polls costs loom nothing, as
     * QEventDispatcherUNIX's poll set built each round. */
    std::vector<int> changed_;
    std::vector<QSocketNotifier *> pending_;
    std::vector<int> invalid_fds_;
    int always_ready_ = 0;
    loom__qt::GuiPump *gui_ = nullptr;
    bool gui_checked_ = false;
};

/* --- loom callbacks ---------------------------------------------------------- */

void on_timer(loom_loop *, void *data)
{
    Timer *t = static_cast<Timer *>(data);
    t->owner->timer_due(t);
}

void on_fd(loom_loop *, int fd, unsigned events, void *data)
{
    static_cast<LoomDispatcher *>(data)->fd_ready(fd, events);
}

void on_wake(loom_loop *, int, unsigned, void *data)
{
    static_cast<LoomDispatcher *>(data)->woken();
}

void on_round(loom_loop *, void *data)
{
    static_cast<LoomDispatcher *>(data)->round_now();
}

void on_before_poll(loom_loop *, void *data)
{
    static_cast<LoomDispatcher *>(data)->before_poll();
}

void on_changes(loom_loop *, void *data)
{
    static_cast<LoomDispatcher *>(data)->changes_due();
}

void on_close(loom_loop *, void *data)
{
    static_cast<LoomDispatcher *>(data)->release_loom();
}

/* --- life cycle ---------------------------------------------------------------- */

/* A loop of loom_qt_loop_new: its iterations would be this dispatcher's. */
static bool runs_on_qt(loom_loop *loop)
{
    return strcmp(loom_loop_backend_name(loop), "qt") == 0;
}

int LoomDispatcher::create(loom_loop *loop, LoomDispatcher **dp)
{
    if (runs_on_qt(loop))
        return -EINVAL;
    LoomDispatcher *d = new (std::nothrow) LoomDispatcher(loop);
    if (!d)
        return -ENOMEM;
    int r = loom_hook_add(loop, LOOM_HOOK_BEFORE_POLL, on_before_poll, d, nullptr, &d->hook_);
    if (r == 0)
        r = loom_hook_add(loop, LOOM_HOOK_CLOSE, on_close, d, nullptr, &d->close_hook_);
    if (r == 0)
        r = d->open_wake_fd();
    if (r < 0) {
        delete d;
        return r;
    }
    *dp = d;
    return 0;
}

/* What the dispatcher has in loom goes: when it is deleted, or when the loop
 * closes first (its CLOSE hook), so that the close finds nothing of Qt's to
 * report as dropped. Qt's timers and notifiers stay registered here. */
void LoomDispatcher::release_loom()
{
    for (Timer *t : timers_) {
        if (t && t->handle) {
            loom_cancel(loop_, t->handle);
            t->handle = 0;
        }
    }
    for (auto &kv : fds_) {
        if (kv.second.watched)
            loom_fd_unwatch(loop_, kv.first);
        kv.second.watched = false;
    }
    if (round_)
        loom_cancel(loop_, round_);
    if (changes_)
        loom_cancel(loop_, changes_);
    round_ = changes_ = 0;
    if (wake_fd_[0] >= 0)
        loom_remove_reader(loop_, wake_fd_[0]); /* the fds stay: wakeUp may write */
}

LoomDispatcher::~LoomDispatcher()
{
    release_loom();
    for (Timer *t : timers_) {
        if (!t)
            continue;
        if (t->active)
            *t->active = nullptr;
        delete t;
    }
    for (Timer *t : spare_timers_)
        delete t;
    if (hook_)
        loom_hook_remove(loop_, hook_);
    if (close_hook_)
        loom_hook_remove(loop_, close_hook_);
    if (wake_fd_[0] >= 0) {
        close(wake_fd_[0]);
        if (wake_fd_[1] != wake_fd_[0])
            close(wake_fd_[1]);
    }
    loom__qt::gui_pump_free(gui_);
    loom_loop_unref(loop_);
}

/* The platform goes before the dispatcher (~QCoreApplication). */
void LoomDispatcher::closingDown()
{
    loom__qt::gui_pump_free(gui_);
    gui_ = nullptr;
}

/* --- rounds ---------------------------------------------------------------- */

bool LoomDispatcher::processEvents(QEventLoop::ProcessEventsFlags flags)
{
    const bool outer_poll = in_poll_; /* a nested loop run from a loom callback */
    in_poll_ = false;
    interrupted_.store(false, std::memory_order_relaxed);
    emit awake();
    /* What is posted from now on is news; a wakeUp consumed counts as an
     * event, as Qt's thread pipe does. */
    int n = latched_.exchange(false, std::memory_order_seq_cst) ? 1 : 0;
    QCoreApplication::sendPostedEvents();
    apply_changes();

    const bool notifiers = !(flags & QEventLoop::ExcludeSocketNotifiers);
    const bool wait = (flags & QEventLoop::WaitForMoreEvents) && !latched_.load() &&
                      !interrupted_.load(std::memory_order_relaxed) && !(notifiers && always_ready_);
    if (wait)
        emit aboutToBlock();
    if (interrupted_.load(std::memory_order_relaxed)) {
        n = 0; /* Qt's answer to an interrupt */
    } else {
        if (!notifiers)
            mute_notifiers(true); /* not even polled, as in QEventDispatcherUNIX: a ready one would spin */
        int r = poll_loom(wait);
        if (!notifiers)
            mute_notifiers(false);
        if ((r == -EDEADLK || r == -ESHUTDOWN) && (flags & QEventLoop::EventLoopExec))
            refuse_exec(r);
        n += deliver(flags);
    }
    in_poll_ = outer_poll;
    /* If nobody calls processEvents again, loom delivers what is left. A
     * QEventLoop::exec that was not told to end calls again, and that round
     * takes a latched wakeUp first: a kick for it would only keep the
     * round's poll from blocking (one more round and poll per wakeUp). */
    const bool exec_goes_on = (flags & QEventLoop::EventLoopExec) && !interrupted_.load(std::memory_order_relaxed);
    if (!in_poll_ && (exec_goes_on ? has_undelivered() : has_work()))
        kick();
    return n > 0;
}

/* A QEventLoop::exec that loom cannot serve — inside a loom callback on a
 * loop that cannot nest (libevent), or on a closed loop — could only spin:
 * it ends at once with -1, said once. */
void LoomDispatcher::refuse_exec(int err)
{
    if (!exec_refused_)
        qWarning("loom Qt guest: %s; this QEventLoop::exec ends at once",
                 err == -EDEADLK ? "the loop cannot nest" : "the loop is closed");
    exec_refused_ = true;
    QThreadData *data = QObjectPrivate::get(this)->threadData.loadRelaxed(); /* this thread's */
    if (!data->eventLoops.isEmpty())
        data->eventLoops.top()->exit(-1);
}

int LoomDispatcher::poll_loom(bool block)
{
    in_poll_ = true;
    int r = loom_loop_run_once(loop_, block);
    in_poll_ = false;
    return r;
}

int LoomDispatcher::deliver(QEventLoop::ProcessEventsFlags flags)
{
    int n = 0;
    if (flags & QEventLoop::ExcludeSocketNotifiers)
        pending_.clear(); /* level-triggered: still ready ones come again */
    else
        n += activate_notifiers();
    if (!(flags & QEventLoop::X11ExcludeTimers))
        n += activate_timers();
    pump_gui(flags, n);
    return n;
}

void LoomDispatcher::pump_gui(QEventLoop::ProcessEventsFlags flags, int &n)
{
    if (!gui_checked_ && QCoreApplication::instance()) {
        gui_checked_ = true;
        gui_ = loom__qt::gui_pump_new();
    }
    if (gui_ && loom__qt::gui_pump_run(gui_, flags))
        n++;
}

/* A round when loom drives: nobody is in processEvents to deliver. */
void LoomDispatcher::round_now()
{
    round_ = 0;
    if (in_poll_)
        return; /* the waiting processEvents delivers it */
    emit awake();
    latched_.store(false);
    QCoreApplication::sendPostedEvents();
    deliver(QEventLoop::AllEvents);
    delivered_ = true;
    if (has_work())
        kick();
}

bool LoomDispatcher::has_work() const
{
    return latched_.load(std::memory_order_relaxed) || has_undelivered();
}

bool LoomDispatcher::has_undelivered() const
{
    return !due_.empty() || !pending_.empty() || !invalid_fds_.empty() || always_ready_;
}

/* Something is ready: the waiting processEvents will deliver it, else a
 * loom callback does. */
void LoomDispatcher::kick()
{
    if (in_poll_ || round_)
        return;
    if (loom_call_soon(loop_, on_round, this, &round_) < 0)
        round_ = 0; /* the loop is closed: Qt gets no more events from it */
}

void LoomDispatcher::before_poll()
{
    if (!changed_.empty())
        apply_changes();
    if (in_poll_ || !delivered_)
        return;
    delivered_ = false;
    emit aboutToBlock();
}

/* --- wakeUp and interrupt -------------------------------------------------- */

void LoomDispatcher::wakeUp()
{
    latched_.store(true, std::memory_order_seq_cst);
    if (pthread_equal(pthread_self(), owner_)) {
        kick();
        return;
    }
    if (wake_sent_.exchange(true, std::memory_order_acq_rel))
        return; /* one on its way wakes the loop for all */
    const uint64_t one = 1;
    ssize_t r = write(wake_fd_[1], &one, wake_fd_[0] == wake_fd_[1] ? sizeof(one) : 1);
    (void)r; /* full: it is readable anyway */
}

void LoomDispatcher::woken()
{
    /* One read empties it: an eventfd's counter at once, and a pipe holds at
     * most the one byte written while wake_sent_ was clear. */
    uint64_t buf[8];
    ssize_t r = read(wake_fd_[0], buf, sizeof(buf));
    (void)r;
    wake_sent_.store(false, std::memory_order_release); /* after the read: a later wakeUp writes again */
    kick();
}

int LoomDispatcher::open_wake_fd()
{
#ifdef HAVE_SYS_EVENTFD_H
    wake_fd_[0] = wake_fd_[1] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_[0] < 0)
        return -errno;
#else
    if (pipe2(wake_fd_, O_CLOEXEC | O_NONBLOCK) < 0)
        return -errno;
#endif
    return loom_add_reader(loop_, wake_fd_[0], on_wake, this);
}

void LoomDispatcher::interrupt()
{
    interrupted_.store(true, std::memory_order_relaxed);
    wakeUp();
}

bool LoomDispatcher::hasPendingEvents()
{
    return qGlobalPostedEventsCount() || (gui_ && loom__qt::gui_pump_pending(gui_));
}

/* --- timers ---------------------------------------------------------------- */

void LoomDispatcher::arm(Timer *t)
{
    if (loom_call_at(loop_, t->when, on_timer, t, &t->handle) < 0)
        t->handle = 0; /* the loop is closed */
}

void LoomDispatcher::registerTimer(int id, int interval, Qt::TimerType type, QObject *object)
{
    if (id < 1 || interval < 0 || !object) {
        qWarning("loom Qt guest: registerTimer: invalid arguments");
        return;
    }
    if (object->thread() != thread() || thread() != QThread::currentThread()) {
        qWarning("loom Qt guest: timers cannot be started from another thread");
        return;
    }
    if (size_t(id) >= timers_.size())
        timers_.resize(size_t(id) * 2, nullptr);
    if (timers_[id])
        unregisterTimer(id); /* Qt reuses an id only once it was released */
    Timer *t = spare_timers_.empty() ? new Timer : spare_timers_.back();
    if (!spare_timers_.empty())
        spare_timers_.pop_back();
    *t = Timer{this, id, interval, type, object, 0, 0, false, nullptr};
    timer_start(t, loom_loop_now(loop_));
    timers_[id] = t;
    arm(t);
}

bool LoomDispatcher::unregisterTimer(int id)
{
    Timer *t = find_timer(id);
    if (!t)
        return false;
    timers_[id] = nullptr;
    if (t->handle)
        loom_cancel(loop_, t->handle);
    if (t->active)
        *t->active = nullptr;
    spare_timers_.push_back(t);
    return true;
}

bool LoomDispatcher::unregisterTimers(QObject *object)
{
    std::vector<int> ids;
    for (const Timer *t : timers_)
        if (t && t->object == object)
            ids.push_back(t->id);
    for (int id : ids)
        unregisterTimer(id);
    return !ids.empty();
}

QList<QAbstractEventDispatcher::TimerInfo> LoomDispatcher::registeredTimers(QObject *object) const
{
    QList<TimerInfo> list;
    for (const Timer *t : timers_) {
        if (t && t->object == object)
            list << TimerInfo(t->id, t->type == Qt::VeryCoarseTimer ? t->interval * 1000 : t->interval, t->type);
    }
    return list;
}

int LoomDispatcher::remainingTime(int id)
{
    const Timer *t = find_timer(id);
    if (!t)
        return -1;
    int64_t left = t->when - loom_loop_now(loop_);
    if (left <= 0)
        return 0;
    int64_t ms = (left + MS - 1) / MS;
    return int(std::min<int64_t>(ms, INT_MAX));
}

void LoomDispatcher::timer_due(Timer *t)
{
    t->handle = 0;
    t->due = true;
    due_.push_back(t->id);
    kick();
}

/* The timers found due before this round; what their handlers start waits
 * for the next one. A timer whose event is being delivered is not armed, so
 * it never re-enters, also from a nested loop. */
int LoomDispatcher::activate_timers()
{
    if (due_.empty())
        return 0;
    std::vector<int> due;
    due.swap(due_spare_);
    due.swap(due_); /* due_ keeps the spare's capacity */
    int n = 0;
    const int64_t now = loom_loop_now(loop_);
    for (int id : due) {
        Timer *t = find_timer(id);
        if (!t || !t->due)
            continue; /* gone, or its id reused by a new timer */
        t->due = false;
        timer_advance(t, now);
        if (t->interval > 0)
            n++;
        Timer *current = t;
        t->active = &current;
        QTimerEvent e(t->id);
        QCoreApplication::sendEvent(t->object, &e);
        if (current) {
            current->active = nullptr;
            arm(current);
        }
    }
    due.clear();
    due_spare_.swap(due);
    return n;
}

/* --- socket notifiers ---------------------------------------------------------- */

void LoomDispatcher::registerSocketNotifier(QSocketNotifier *notifier)
{
    const int fd = int(notifier->socket()), type = notifier->type();
    if (notifier->thread() != thread() || thread() != QThread::currentThread()) {
        qWarning("QSocketNotifier: socket notifiers cannot be enabled from another thread");
        return;
    }
    FdEntry &e = fds_[fd];
    if (e.notifiers[type] && e.notifiers[type] != notifier)
        qWarning("QSocketNotifier: Multiple socket notifiers for same socket %d and type %s", fd, type_name(type));
    e.notifiers[type] = notifier;
    defer(fd, e);
}

void LoomDispatcher::unregisterSocketNotifier(QSocketNotifier *notifier)
{
    const int fd = int(notifier->socket()), type = notifier->type();
    auto it = fds_.find(fd);
    if (it == fds_.end() || it->second.notifiers[type] != notifier)
        return;
    pending_.erase(std::remove(pending_.begin(), pending_.end(), notifier), pending_.end());
    FdEntry &e = it->second;
    e.notifiers[type] = nullptr;
    if (!e.notifiers[0] && !e.notifiers[1] && !e.notifiers[2])
        e.emptied = true;
    defer(fd, e);
}

void LoomDispatcher::defer(int fd, FdEntry &e)
{
    if (e.changed)
        return;
    e.changed = true;
    changed_.push_back(fd);
    /* Usually the BEFORE_POLL hook applies it and cancels this call; but a
     * change made after that hook ran (another hook, main, a processEvents
     * Qt drives) must not wait for a poll that could block. */
    if (!changes_ && loom_call_soon(loop_, on_changes, this, &changes_) < 0)
        changes_ = 0; /* the loop is closed: it polls no more */
}

void LoomDispatcher::changes_due()
{
    changes_ = 0;
    apply_changes();
}

/* Entries leave fds_ only here, so each fd in changed_ is found. */
void LoomDispatcher::apply_changes()
{
    if (changes_) {
        loom_cancel(loop_, changes_); /* a ready callback would keep the coming poll from blocking */
        changes_ = 0;
    }
    for (size_t i = 0; i < changed_.size(); i++) {
        auto it = fds_.find(changed_[i]);
        FdEntry &e = it->second;
        const bool emptied = e.emptied;
        e.changed = e.emptied = false;
        if (emptied)
            release_fd(it->first, e); /* watched afresh: the old watch may be another file's */
        if (!e.notifiers[0] && !e.notifiers[1] && !e.notifiers[2])
            fds_.erase(it);
        else
            update_watch(it->first, e);
    }
    changed_.clear();
}

void LoomDispatcher::update_watch(int fd, FdEntry &e)
{
    if (e.always_ready || e.invalid)
        return;
    unsigned events = (e.notifiers[QSocketNotifier::Read] || e.notifiers[QSocketNotifier::Exception] ? LOOM_READ : 0) |
                      (e.notifiers[QSocketNotifier::Write] ? LOOM_WRITE : 0);
    if (e.watched) {
        if (loom_fd_set_events(loop_, fd, events) == -EBADF)
            make_invalid(fd, e); /* found closed under its watch */
        e.events = events;
        return;
    }
    int r = loom_fd_watch(loop_, fd, events, on_fd, this, nullptr);
    if (r == 0) {
        e.watched = true;
        e.events = events;
    } else if (r == -EPERM) {
        e.always_ready = true; /* a regular file: poll(2) says always ready, so does Qt */
        always_ready_++;
        kick();
    } else {
        make_invalid(fd, e);
    }
}

/* Disabled with a warning in the next round, as Qt does on POLLNVAL. */
void LoomDispatcher::make_invalid(int fd, FdEntry &e)
{
    e.invalid = true;
    invalid_fds_.push_back(fd);
    kick();
}

void LoomDispatcher::mute_notifiers(bool mute)
{
    for (const auto &kv : fds_)
        if (kv.second.watched)
            loom_fd_set_events(loop_, kv.first, mute ? 0 : kv.second.events);
}

/* Undoes what update_watch did with loom. */
void LoomDispatcher::release_fd(int fd, FdEntry &e)
{
    if (e.watched)
        loom_fd_unwatch(loop_, fd);
    if (e.always_ready)
        always_ready_--;
    e.watched = e.always_ready = e.invalid = false;
}

void LoomDispatcher::mark(QSocketNotifier *n)
{
    if (n && std::find(pending_.begin(), pending_.end(), n) == pending_.end())
        pending_.push_back(n);
}

/* Level-triggered, with QEventDispatcherUNIX's bits: HUP and ERR wake every
 * notifier of the fd. Exception (POLLPRI) needs a look of its own. */
void LoomDispatcher::fd_ready(int fd, unsigned events)
{
    auto it = fds_.find(fd);
    if (it == fds_.end())
        return;
    FdEntry &e = it->second;
    short revents = short((events & LOOM_READ ? POLLIN : 0) | (events & LOOM_WRITE ? POLLOUT : 0) |
                          (events & LOOM_HUP ? POLLHUP : 0) | (events & LOOM_ERR ? POLLERR : 0));
    /* Closed (or replaced) under its notifier: loom suspended the watch, and
     * setting the same mask again says so without a system call. */
    if ((events & LOOM_ERR) && (fcntl(fd, F_GETFD) < 0 || loom_fd_set_events(loop_, fd, e.events) == -EBADF)) {
        make_invalid(fd, e);
        return;
    }
    if (e.notifiers[QSocketNotifier::Exception]) {
        struct pollfd p = {fd, POLLPRI, 0};
        if (poll(&p, 1, 0) > 0)
            revents |= p.revents & POLLPRI;
    }
    const short hup_err = POLLHUP | POLLERR;
    if (revents & (POLLIN | hup_err))
        mark(e.notifiers[QSocketNotifier::Read]);
    if (revents & (POLLOUT | hup_err))
        mark(e.notifiers[QSocketNotifier::Write]);
    if (revents & (POLLPRI | hup_err))
        mark(e.notifiers[QSocketNotifier::Exception]);
    kick();
}

/* Qt's words for an fd that is not open: warn and disable, never spin. */
void LoomDispatcher::disable_invalid(int fd)
{
    auto it = fds_.find(fd);
    if (it == fds_.end() || !it->second.invalid)
        return;
    for (int type = 0; type < 3; type++) {
        it = fds_.find(fd);
        if (it == fds_.end())
            return;
        if (QSocketNotifier *n = it->second.notifiers[type]) {
            qWarning("QSocketNotifier: Invalid socket %d with type %s, disabling...", fd, type_name(type));
            n->setEnabled(false);
        }
    }
}

int LoomDispatcher::activate_notifiers()
{
    std::vector<int> invalid;
    invalid.swap(invalid_fds_);
    for (int fd : invalid)
        disable_invalid(fd);
    if (always_ready_)
        for (auto &kv : fds_)
            if (kv.second.always_ready)
                for (QSocketNotifier *n : kv.second.notifiers)
                    mark(n);
    int n = 0;
    QEvent event(QEvent::SockAct);
    while (!pending_.empty()) {
        QSocketNotifier *notifier = pending_.front();
        pending_.erase(pending_.begin());
        QCoreApplication::sendEvent(notifier, &event);
        n++;
    }
    return n;
}

} // namespace

QAbstractEventDispatcher *loom_qt_dispatcher_new(loom_loop *loop)
{
    LoomDispatcher *d = nullptr;
    return loop && LoomDispatcher::create(loop, &d) == 0 ? d : nullptr;
}

int loom_qt_dispatcher_install(loom_loop *loop)
{
    if (!loop || runs_on_qt(loop))
        return -EINVAL; /* before -EBUSY: a Qt loop's thread has a dispatcher */
    QThread *thread = QThread::currentThread();
    if (QAbstractEventDispatcher::instance(thread))
        return -EBUSY;
    LoomDispatcher *d = nullptr;
    int r = LoomDispatcher::create(loop, &d);
    if (r == 0)
        thread->setEventDispatcher(d);
    return r;
}
