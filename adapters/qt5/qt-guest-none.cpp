/* Qt guest, not built: Qt's private headers were not found at configure. */
#include "config.h"
#include <errno.h>
#include <loom/loom-qt.h>

QAbstractEventDispatcher *loom_qt_dispatcher_new(loom_loop *)
{
    return nullptr;
}

int loom_qt_dispatcher_install(loom_loop *)
{
    return -ENOTSUP;
}
