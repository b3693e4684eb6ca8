/* loom-qt — loom inside a Qt 5 event loop.
 *
 * A loop made here runs on the calling thread's QAbstractEventDispatcher, so
 * its callbacks, timers and fd watches run while the host program runs Qt as
 * usual (app.exec(), QEventLoop::exec, QDialog::exec, QThread::exec). It
 * works with any dispatcher: Qt's GLib-based one, the plain Unix one
 * (QT_NO_GLIB=1) and the GUI platforms' own, under QCoreApplication,
 * QGuiApplication or QApplication.
 *
 * loom's fd watches are one QSocketNotifier on an epoll set of loom's (on
 * Linux; elsewhere, or with LOOM_ONE_FD=0 in the environment at loop
 * creation, see loom/backend.h, QSocketNotifiers of their own), its
 * earliest deadline one precise Qt timer (milliseconds, rounded up: never
 * early), and loom_call_soon_threadsafe posts an event to the loop's thread.
 * Nested Qt event loops keep loom running, so loom_loop_run_until may nest.
 * loom_loop_run* iterate the dispatcher, so a program that never calls exec()
 * can still let loom drive.
 *
 * In the per-fd mode Qt itself disables a socket notifier whose fd was
 * closed under it (with a "QSocketNotifier: Invalid socket" warning) and does
 * not say so: remove a reader or writer before closing its fd.
 *
 * Close the loop (loom_loop_close, or the last loom_loop_unref) on its own
 * thread, before the QCoreApplication (or the QThread) goes away. Link with
 * loom-qt5 (pkg-config). The API is plain C; the library is C++ inside. */
#ifndef LOOM_QT_H
#define LOOM_QT_H

#include <loom/loop.h>

LOOM_BEGIN_DECLS

/* Creates a loop on the calling thread's Qt event dispatcher and binds it to
 * the calling thread. Returns 0 and a new loop the caller owns (one
 * reference), -EINVAL if loopp is NULL, -ENXIO if there is no
 * QCoreApplication or the calling thread has no Qt event dispatcher (a thread
 * not started by QThread), or -ENOMEM. */
LOOM_API int loom_qt_loop_new(loom_loop **loopp);

LOOM_END_DECLS

#endif
