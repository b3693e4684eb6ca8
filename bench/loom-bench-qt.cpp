// loom-bench — the Qt backend: loom_qt_loop_new needs a QCoreApplication,
// which only C++ can make.
#include <QAbstractEventDispatcher>
#include <QCoreApplication>

#include "loom-bench-backends.h"
#include <loom/loom-qt.h>

int bench_make_qt_loop(loom_loop **loopp, const char *name)
{
    // Qt keeps references to argc and argv for the application's lifetime.
    static int argc = 1;
    static char arg0[] = "loom-bench";
    static char *argv[] = { arg0, nullptr };

    if (!QCoreApplication::instance())
        new QCoreApplication(argc, argv); // one for the whole run, never freed
    return loom_qt_loop_new(loopp);
}

const char *bench_qt_loop_note(void)
{
    // Qt picks its GLib dispatcher unless QT_NO_GLIB was set (or Qt lacks it).
    bool glib = QAbstractEventDispatcher::instance()->inherits("QEventDispatcherGlib");
    return glib ? "" : " (QT_NO_GLIB=1)";
}
