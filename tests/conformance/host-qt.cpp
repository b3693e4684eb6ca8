/* loom conformance suite — hooks for the Qt 5 adapter. Each test gets a fresh
 * QCoreApplication, on whichever dispatcher Qt picks (its GLib one, or the
 * Unix one with QT_NO_GLIB=1: run the suite both ways). A "native" timeout is
 * a timer of a QObject of the host's own; a nested loop is QEventLoop::exec.
 *
 * Qt cannot list the sources it holds, so host_count_sources follows every
 * QObject made and destroyed through Qt's tooling hooks (qtHookData, what
 * debuggers such as GammaRay use), and counts the timers the live ones have
 * registered with the dispatcher plus the enabled socket notifiers: what Qt
 * would wake up for. */
#include <mutex>
#include <unordered_set>
#include <vector>
#include <QAbstractEventDispatcher>
#include <QCoreApplication>
#include <QEventLoop>
#include <QSocketNotifier>
#include <QThread>
#include <QTimer>
#include <QTimerEvent>
#include <check.h>
extern "C" {
#include "host.h"
}
#include <loom/loom-qt.h>

/* Exported by QtCore; declared in its private qhooks_p.h, which is not
 * installed. The layout is fixed since Qt 5.4 (QHooks::HookIndex). */
extern quintptr qtHookData[];

namespace {

enum { HOOK_ADD_QOBJECT = 3, HOOK_REMOVE_QOBJECT = 4 };

int app_argc = 1;
char app_arg0[] = "conformance-qt";
char *app_argv[] = {app_arg0, nullptr};
QCoreApplication *app; /* NULL when someone else made the application */

std::mutex objects_lock; /* QObjects are made and destroyed on any thread */
std::unordered_set<QObject *> objects;
quintptr saved_hooks[2];

void object_added(QObject *object)
{
    std::lock_guard<std::mutex> guard(objects_lock);
    objects.insert(object);
}

void object_removed(QObject *object)
{
    std::lock_guard<std::mutex> guard(objects_lock);
    objects.erase(object);
}

/* A timeout of the host's own: loom knows nothing of it. Freed by
 * host_teardown, and not counted by host_count_sources. */
class NativeTimeout final : public QObject {
public:
    NativeTimeout(int delay_ms, void (*fn)(void *), void *data) : fn_(fn), data_(data)
    {
        timer_ = startTimer(delay_ms, Qt::PreciseTimer);
    }

protected:
    void timerEvent(QTimerEvent *) override
    {
        killTimer(timer_);
        fn_(data_);
    }

private:
    void (*fn_)(void *);
    void *data_;
    int timer_;
};

std::vector<NativeTimeout *> native_timeouts;
std::vector<QEventLoop *> nested_loops; /* innermost last */

} // namespace

void host_setup(void)
{
    saved_hooks[0] = qtHookData[HOOK_ADD_QOBJECT];
    saved_hooks[1] = qtHookData[HOOK_REMOVE_QOBJECT];
    qtHookData[HOOK_ADD_QOBJECT] = reinterpret_cast<quintptr>(&object_added);
    qtHookData[HOOK_REMOVE_QOBJECT] = reinterpret_cast<quintptr>(&object_removed);
    if (!QCoreApplication::instance())
        app = new QCoreApplication(app_argc, app_argv);
}

void host_teardown(void)
{
    for (NativeTimeout *t : native_timeouts)
        delete t;
    native_timeouts.clear();
    delete app;
    app = nullptr;
    qtHookData[HOOK_ADD_QOBJECT] = saved_hooks[0];
    qtHookData[HOOK_REMOVE_QOBJECT] = saved_hooks[1];
    std::lock_guard<std::mutex> guard(objects_lock);
    objects.clear();
}

loom_loop *host_loop_new(void)
{
    loom_loop *loop = nullptr;
    int r = loom_qt_loop_new(&loop);

    ck_assert_msg(r == 0, "loom_qt_loop_new: %s", loom_strerror(r));
    ck_assert_str_eq(loom_loop_backend_name(loop), "qt");
    return loop;
}

bool host_can_nest(void)
{
    return true;
}

void host_run_nested(loom_loop *)
{
    QEventLoop nested;

    nested_loops.push_back(&nested);
    nested.exec();
    nested_loops.pop_back();
}

void host_quit_nested(loom_loop *)
{
    ck_assert_msg(!nested_loops.empty(), "host_quit_nested outside host_run_nested");
    nested_loops.back()->quit();
}

void host_native_timeout(loom_loop *, int delay_ms, void (*fn)(void *data), void *data)
{
    native_timeouts.push_back(new NativeTimeout(delay_ms, fn, data));
}

int host_count_sources(loom_loop *)
{
    QAbstractEventDispatcher *dispatcher = QAbstractEventDispatcher::instance();
    std::unordered_set<QObject *> own(native_timeouts.begin(), native_timeouts.end());
    std::lock_guard<std::mutex> guard(objects_lock);
    int count = 0;

    ck_assert_ptr_nonnull(dispatcher);
    for (QObject *object : objects) {
        if (object->thread() != QThread::currentThread() || own.count(object))
            continue;
        count += dispatcher->registeredTimers(object).size();
        QSocketNotifier *notifier = qobject_cast<QSocketNotifier *>(object);
        if (notifier && notifier->isEnabled())
            count++;
    }
    return count;
}

int host_native_iterations(int ms)
{
    bool fired = false;
    int n = 0;

    QTimer::singleShot(ms, [&fired] { fired = true; });
    while (!fired && n < 1000000) {
        QCoreApplication::processEvents(QEventLoop::WaitForMoreEvents);
        n++;
    }
    return n;
}
