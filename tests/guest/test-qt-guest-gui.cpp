/* Qt guest, the QPA variant: a Qt Widgets window on a loom loop, under Xvfb
 * (the build runs it through xvfb-run). The host is the built-in loop or
 * libevent ($LOOM_TEST_GUI_HOST: "epoll", "poll" or "libevent"). It shows a
 * widget and waits for its first paint (X's Expose reaches Qt only through
 * the platform's queue), delivers a key through QWindowSystemInterface's
 * asynchronous queue (window-system events), runs a QDialog::exec that a
 * loom timer closes, and repaints while loom drives (loom_loop_run). Exits
 * 0, or 1 with the step that failed. */
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <event2/event.h>
#include <QApplication>
#include <QDialog>
#include <QKeyEvent>
#include <QTimer>
#include <QWidget>
#include <QWindow>
#include <qpa/qwindowsysteminterface.h>
#include <loom/loom.h>
#include <loom/loom-event.h>
#include <loom/loom-qt.h>

namespace {

#define CHECK(cond, what)                                                                                              \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "test-qt-guest-gui (%s): FAIL: %s\n", host_name, what);                                   \
            exit(1);                                                                                                   \
        }                                                                                                              \
    } while (0)

const char *host_name = "epoll";

class Window : public QWidget {
public:
    int paints = 0;
    int keys = 0;

protected:
    void paintEvent(QPaintEvent *) override { paints++; }
    void keyPressEvent(QKeyEvent *e) override
    {
        if (e->key() == Qt::Key_A)
            keys++;
    }
};

/* Runs Qt until done() or the (generous) limit. */
template <typename Done> bool run_until(QApplication &app, Done done)
{
    QTimer limit;
    limit.setSingleShot(true);
    limit.start(10000);
    while (!done() && limit.isActive())
        app.processEvents(QEventLoop::WaitForMoreEvents);
    return done();
}

void stop_loop(loom_loop *loop, void *)
{
    loom_loop_stop(loop);
}

void accept_dialog(loom_loop *, void *data)
{
    static_cast<QDialog *>(data)->accept();
}

} // namespace

int main(int argc, char **argv)
{
    if (const char *h = getenv("LOOM_TEST_GUI_HOST"))
        host_name = h;
    struct event_base *base = nullptr;
    loom_loop *loop = nullptr;
    if (strcmp(host_name, "libevent") == 0) {
        base = event_base_new();
        CHECK(base && loom_event_loop_new(&loop, base) == 0, "a libevent loop");
    } else {
        CHECK(loom_loop_new(&loop, host_name) == 0, "a built-in loop");
    }
    CHECK(loom_qt_dispatcher_install(loop) == 0, "installing the dispatcher");
    {
        QApplication app(argc, argv);
        Window w;
        w.resize(200, 100);
        w.show();
        CHECK(run_until(app, [&] { return w.paints > 0; }), "the window is painted");

        w.activateWindow();
        w.setFocus();
        QWindow *win = w.windowHandle();
        CHECK(win, "the window has a QWindow");
        QWindowSystemInterface::handleKeyEvent<QWindowSystemInterface::AsynchronousDelivery>(
            win, QEvent::KeyPress, Qt::Key_A, Qt::NoModifier, "a");
        CHECK(run_until(app, [&] { return w.keys > 0; }), "a queued key press arrives");

        QDialog dialog(&w);
        loom_handle h;
        CHECK(loom_call_later(loop, LOOM_MSEC(100), accept_dialog, &dialog, &h) == 0, "a loom timer");
        CHECK(dialog.exec() == QDialog::Accepted, "QDialog::exec ended by a loom timer");

        /* Now loom drives (loom_loop_run): a repaint still reaches the
         * window, X requests flushed on aboutToBlock. */
        int painted = w.paints;
        QTimer poll_paint;
        QObject::connect(&poll_paint, &QTimer::timeout, [&] {
            if (w.paints > painted)
                loom_loop_stop(loop);
        });
        poll_paint.start(10);
        w.update();
        CHECK(loom_call_later(loop, LOOM_SEC(10), stop_loop, nullptr, &h) == 0, "a loom timer");
        CHECK(loom_loop_run(loop) == 0, "loom_loop_run");
        loom_cancel(loop, h);
        CHECK(w.paints > painted, "a repaint while loom drives");
        w.hide();
    }
    CHECK(loom_loop_close(loop) == 0, "closing the loop");
    loom_loop_unref(loop);
    if (base)
        event_base_free(base);
    printf("test-qt-guest-gui (%s): PASS\n", host_name);
    return 0;
}
