/* loom Qt adapter — what only Qt has, beside the shared conformance suite:
 * binding to the calling thread's dispatcher (-ENXIO without one, a loop on a
 * worker QThread), loom inside the host's app.exec(), a nested QEventLoop
 * that only loom work can end, a loop closed while Qt delivers to it, and
 * loom's children beside QProcess's. Runs on whichever dispatcher Qt
 * picks: run it once more with QT_NO_GLIB=1. Each test forks (Check). */
#include <atomic>
#include <thread>
#include <stdlib.h>
#include <unistd.h>
#include <QCoreApplication>
#include <QEventLoop>
#include <QProcess>
#include <QThread>
#include <QTimer>
#include <check.h>
#include <loom/loom.h>
#include <loom/loom-qt.h>

#define MS INT64_C(1000000)

namespace {

int app_argc = 1;
char app_arg0[] = "test-qt-only";
char *app_argv[] = {app_arg0, nullptr};

loom_loop *new_loop()
{
    loom_loop *loop = nullptr;
    int r = loom_qt_loop_new(&loop);

    ck_assert_msg(r == 0, "loom_qt_loop_new: %s", loom_strerror(r));
    return loop;
}

void free_loop(loom_loop *loop)
{
    ck_assert_int_eq(loom_loop_close(loop), 0);
    loom_loop_unref(loop);
}

START_TEST(test_needs_an_application)
{
    loom_loop *loop = nullptr;

    ck_assert_int_eq(loom_qt_loop_new(nullptr), -EINVAL);
    ck_assert_int_eq(loom_qt_loop_new(&loop), -ENXIO);
    ck_assert_ptr_null(loop);
}
END_TEST

/* A plain thread has no Qt event dispatcher, so nothing would ever run. */
START_TEST(test_needs_a_dispatcher_thread)
{
    QCoreApplication app(app_argc, app_argv);
    loom_loop *loop = nullptr;
    int r = 0;

    std::thread([&] { r = loom_qt_loop_new(&loop); }).join();
    ck_assert_int_eq(r, -ENXIO);
    ck_assert_ptr_null(loop);
}
END_TEST

/* A worker QThread makes a loop and runs QThread::exec; a call from the main
 * thread runs on the worker and ends its exec; the worker closes the loop. */
class Worker final : public QThread {
public:
    std::atomic<loom_loop *> loop{nullptr};
    QThread *ran_on = nullptr;

protected:
    void run() override
    {
        loom_loop *l = new_loop();

        loop.store(loom_loop_ref(l)); /* the main thread's reference */
        exec();
        free_loop(l);
    }
};

void quit_worker(loom_loop *loop, void *data)
{
    static_cast<Worker *>(data)->ran_on = QThread::currentThread();
    QThread::currentThread()->quit();
}

START_TEST(test_loop_on_a_worker_qthread)
{
    QCoreApplication app(app_argc, app_argv);
    Worker worker;
    loom_loop *loop;

    worker.start();
    while (!(loop = worker.loop.load()))
        QThread::yieldCurrentThread();
    ck_assert_int_eq(loom_call_soon_threadsafe(loop, quit_worker, &worker), 0);
    ck_assert_msg(worker.wait(5000), "the worker's loop did not run the thread-safe call");
    ck_assert_ptr_eq(worker.ran_on, &worker);
    ck_assert_int_eq(loom_call_soon_threadsafe(loop, quit_worker, &worker), -ESHUTDOWN);
    loom_loop_unref(loop);
}
END_TEST

void resolve(loom_loop *loop, void *data)
{
    ck_assert_int_eq(loom_future_resolve_int(static_cast<loom_future *>(data), 5), 0);
}

void quit_app(loom_future *future, void *data)
{
    *static_cast<int64_t *>(data) = loom_future_value_int(future);
    QCoreApplication::quit();
}

/* The host owns the loop: loom's timer and future continuation run inside
 * app.exec(), and loom never iterates Qt itself. */
START_TEST(test_runs_inside_app_exec)
{
    QCoreApplication app(app_argc, app_argv);
    loom_loop *loop = new_loop();
    loom_future *future = loom_future_new(loop);
    int64_t seen = 0;

    ck_assert_ptr_nonnull(future);
    ck_assert_int_eq(loom_future_on_done(future, quit_app, &seen), 0);
    ck_assert_int_eq(loom_call_later(loop, 5 * MS, resolve, future, nullptr), 0);
    ck_assert_int_eq(app.exec(), 0);
    ck_assert_int_eq(seen, 5);
    loom_future_unref(future);
    free_loop(loop);
}
END_TEST

/* A callback schedules more work, then runs a modal-style QEventLoop that
 * only that work ends: the loop must not wait for an fd or a timer to give
 * loom a turn. */
struct Modal {
    QEventLoop *nested = nullptr;
    int inner_runs = 0;
};

void end_modal(loom_loop *loop, void *data)
{
    Modal *m = static_cast<Modal *>(data);

    ck_assert_ptr_nonnull(m->nested);
    m->inner_runs++;
    m->nested->quit();
}

void run_modal(loom_loop *loop, void *data)
{
    Modal *m = static_cast<Modal *>(data);
    QEventLoop nested;

    ck_assert_int_eq(loom_call_soon(loop, end_modal, m, nullptr), 0);
    m->nested = &nested;
    nested.exec();
    m->nested = nullptr;
    ck_assert_int_eq(loom_loop_stop(loop), 0);
}

START_TEST(test_nested_qeventloop_runs_what_its_opener_scheduled)
{
    QCoreApplication app(app_argc, app_argv);
    loom_loop *loop = new_loop();
    Modal m;

    ck_assert_int_eq(loom_call_soon(loop, run_modal, &m, nullptr), 0);
    ck_assert_int_eq(loom_loop_run(loop), 0);
    ck_assert_int_eq(m.inner_runs, 1);
    free_loop(loop);
}
END_TEST

/* A callback drops the last reference: the loop closes as soon as the tick
 * is over, while Qt is still delivering to the adapter's timer object or
 * socket notifier (ASan or Valgrind see any use after free). */
void drop_last_reference_in_timer(loom_loop *loop, void *data)
{
    loom_loop_unref(loop);
    QCoreApplication::quit();
}

void drop_last_reference_in_reader(loom_loop *loop, int fd, unsigned events, void *data)
{
    ck_assert_int_eq(loom_remove_reader(loop, fd), 0);
    loom_loop_unref(loop);
    QCoreApplication::quit();
}

START_TEST(test_last_reference_dropped_in_a_timer)
{
    QCoreApplication app(app_argc, app_argv);
    loom_loop *loop = new_loop();

    ck_assert_int_eq(loom_call_later(loop, 1 * MS, drop_last_reference_in_timer, nullptr, nullptr), 0);
    ck_assert_int_eq(app.exec(), 0);
}
END_TEST

START_TEST(test_last_reference_dropped_in_a_reader)
{
    QCoreApplication app(app_argc, app_argv);
    loom_loop *loop = new_loop();
    int fds[2];

    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    ck_assert_int_eq(loom_add_reader(loop, fds[0], drop_last_reference_in_reader, nullptr), 0);
    ck_assert_int_eq(app.exec(), 0);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

/* QProcess children and loom's side by side: each reaped once, by its
 * owner, with its own exit code (Qt's forkfd and loom both wait for their
 * own pids only), on pidfds and on loom's SIGCHLD fallback. */
void children_beside_qprocess()
{
    constexpr int n = 5;
    QCoreApplication app(app_argc, app_argv);
    loom_loop *loop = new_loop();
    QProcess qt_children[n];
    loom_process *children[n];
    loom_future *exits[n];
    const char *loom_argv[] = {"sh", "-c", "exit 7", nullptr};

    for (QProcess &qp : qt_children)
        qp.start(QStringLiteral("sh"), {QStringLiteral("-c"), QStringLiteral("exit 9")});
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(loom_process_spawn(loop, loom_argv, nullptr, &children[i]), 0);
        exits[i] = loom_process_exit_future(children[i]);
    }
    auto all_done = [&] {
        for (int i = 0; i < n; i++)
            if (qt_children[i].state() != QProcess::NotRunning || !loom_future_done(exits[i]))
                return false;
        return true;
    };
    /* Blocks in Qt's loop, checking every 10 ms, for at most 8 s: a bound
     * in rounds of processEvents (which never blocks) ran out on a loaded
     * machine before the children exited. */
    QEventLoop wait;
    QTimer check;
    QObject::connect(&check, &QTimer::timeout, [&] {
        if (all_done())
            wait.quit();
    });
    check.start(10);
    QTimer::singleShot(8000, &wait, &QEventLoop::quit);
    if (!all_done())
        wait.exec();
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(qt_children[i].exitStatus(), QProcess::NormalExit);
        ck_assert_int_eq(qt_children[i].exitCode(), 9);
        ck_assert_int_eq(loom_future_status(exits[i]), 0);
        ck_assert_int_eq(loom_future_value_int(exits[i]), 7);
        loom_future_unref(exits[i]);
        loom_process_free(children[i]);
    }
    free_loop(loop);
}

START_TEST(test_children_beside_qprocess)
{
    children_beside_qprocess();
}
END_TEST

START_TEST(test_children_beside_qprocess_fallback)
{
    ck_assert_int_eq(setenv("LOOM_NO_PIDFD", "1", 1), 0);
    children_beside_qprocess();
    unsetenv("LOOM_NO_PIDFD");
}
END_TEST

Suite *qt_suite()
{
    Suite *s = suite_create("qt");
    TCase *tc = tcase_create("qt");

    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_needs_an_application);
    tcase_add_test(tc, test_needs_a_dispatcher_thread);
    tcase_add_test(tc, test_loop_on_a_worker_qthread);
    tcase_add_test(tc, test_runs_inside_app_exec);
    tcase_add_test(tc, test_nested_qeventloop_runs_what_its_opener_scheduled);
    tcase_add_test(tc, test_last_reference_dropped_in_a_timer);
    tcase_add_test(tc, test_last_reference_dropped_in_a_reader);
    tcase_add_test(tc, test_children_beside_qprocess);
    tcase_add_test(tc, test_children_beside_qprocess_fallback);
    suite_add_tcase(s, tc);
    return s;
}

} // namespace

int main()
{
    SRunner *runner = srunner_create(qt_suite());

    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? 1 : 0;
}
