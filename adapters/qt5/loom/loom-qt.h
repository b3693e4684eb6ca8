/** @file
 * loom-qt — loom inside a Qt 5 event loop.
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
 * loom-qt5 (pkg-config). The API is plain C (but loom_qt_dispatcher_new, for
 * C++); the library is C++ inside. */
#ifndef LOOM_QT_H
#define LOOM_QT_H

#include <loom/loop.h>

LOOM_BEGIN_DECLS

/** Creates a loop on the calling thread's Qt event dispatcher and binds it to
 * the calling thread. Returns 0 and a new loop the caller owns (one
 * reference), -EINVAL if loopp is NULL, -ENXIO if there is no
 * QCoreApplication or the calling thread has no Qt event dispatcher (a thread
 * not started by QThread), or -ENOMEM. */
LOOM_API int loom_qt_loop_new(loom_loop **loopp);

/** @name The Qt guest: Qt running on a loom loop
 *
 * The other direction: a QAbstractEventDispatcher over a loom loop, so that
 * QTimer, QSocketNotifier, posted events, deleteLater and QEventLoop::exec run
 * on any loom backend (epoll, poll, GLib, libevent) on one thread, with no
 * helper thread and no polling. Qt's timers live in loom's timer heap (with
 * Qt's Precise/Coarse/VeryCoarse rules), socket notifiers are loom fd
 * watches, and wakeUp is a latched loom_call_soon_threadsafe.
 *
 * Either Qt drives (app.exec(): every processEvents is one loom
 * loom_loop_run_once) or loom does (loom_loop_run, event_base_dispatch, a
 * GLib main loop): then Qt's events are delivered from loom callbacks and
 * aboutToBlock is emitted before loom may block. Under QGuiApplication or
 * QApplication the platform's window-system events are delivered too (when
 * libloom-qt5 was built with Qt's private headers).
 *
 * Nested QEventLoop::exec (QDialog::exec) runs nested loom iterations where
 * the loop can nest (loom_loop_can_nest). Where it cannot (libevent), an exec
 * that would have to poll from inside a loom callback warns and returns -1
 * at once instead of hanging or spinning (so does any exec once the loop is
 * closed); when Qt drives (app.exec()) Qt's
 * handlers run outside loom's callbacks, so nesting works there too.
 *
 * Socket notifiers are level-triggered with QEventDispatcherUNIX's bits:
 * Read on POLLIN, Write on POLLOUT, Exception on POLLPRI, every one on
 * POLLHUP and POLLERR; an fd that is not open when its notifier is enabled
 * is warned about and its notifiers disabled. One closed under its notifier
 * is found out the same way where loom's loop reports it (poll, per-fd
 * hosts); in an epoll set the closed file simply goes quiet, without a
 * warning. loom has no POLLPRI interest, so an Exception notifier watches
 * readability and looks for POLLPRI then: on a readable fd with no Read
 * notifier enabled (ordinary data unread, or a socket at EOF) it keeps the
 * loop busy, where Qt's own dispatchers sleep. A
 * regular file is always ready, as poll(2) says. processEvents with
 * ExcludeSocketNotifiers neither polls nor activates them.
 *
 * The dispatcher holds a reference to loop (released when it is deleted:
 * with the QCoreApplication it was installed for, or by its QThread). The
 * loop must outlive neither: it may be closed before, then Qt gets no more
 * events from it. Use the dispatcher on the loop's thread only. */
///@{

/** Installs a new loom dispatcher for the calling thread: call it before the
 * QCoreApplication (or QGuiApplication, QApplication) is made, on the main
 * thread, or first thing in a thread that Qt has not given a dispatcher yet.
 * Qt owns the dispatcher from then on. Returns 0, -EINVAL for a NULL loop
 * or one made by loom_qt_loop_new (Qt on Qt),
 * -EXDEV if loop belongs to another thread, -ESHUTDOWN if it is closed,
 * -EBUSY if the thread has a dispatcher already, or -ENOMEM. Without Qt's
 * private headers at build time the guest is not built: -ENOTSUP. */
LOOM_API int loom_qt_dispatcher_install(loom_loop *loop);
///@}

LOOM_END_DECLS

#ifdef __cplusplus
class QAbstractEventDispatcher;

/** A new loom dispatcher over loop, owned by the caller until it is given to
 * Qt (QCoreApplication::setEventDispatcher, QThread::setEventDispatcher).
 * NULL for a NULL or closed loop, a loop of another thread or of
 * loom_qt_loop_new, or out of memory. */
LOOM_API QAbstractEventDispatcher *loom_qt_dispatcher_new(loom_loop *loop);
#endif

#endif
