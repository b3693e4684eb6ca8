/* Qt guest, the QPA part: window-system events of a QGuiApplication.
 *
 * QUnixEventDispatcherQPA delivers them with
 * QWindowSystemInterface::sendWindowSystemEvents after each round; that is
 * enough for platforms that queue there (offscreen, minimal, wayland). xcb
 * reads X events on a thread of its own and hands them over only inside its
 * own dispatcher's processEvents. So the pump asks the platform for that
 * dispatcher, never installs it, and runs one non-blocking round of it: it
 * polls only its own (idle) wakeup fd, owns no timer or notifier (those
 * register with the thread's dispatcher, the loom one), and takes the
 * platform's queue. Made with QT_NO_GLIB set, so that it never iterates a
 * GMainContext that a loom GLib host may be dispatching. */
#include "config.h"
#include <QAbstractEventDispatcher>
#include <QGuiApplication>
#include <QScopedPointer>
#include <QtGui/private/qguiapplication_p.h>
#include <qpa/qplatformintegration.h>
#include <qpa/qwindowsysteminterface.h>
#include "qt-guest.h"

namespace loom__qt {

class GuiPump {
public:
    explicit GuiPump(QAbstractEventDispatcher *platform) : platform_(platform) {}
    QScopedPointer<QAbstractEventDispatcher> platform_; /* may be null */
};

static QAbstractEventDispatcher *platform_dispatcher()
{
    QPlatformIntegration *integration = QGuiApplicationPrivate::platformIntegration();
    if (!integration)
        return nullptr;
    const QByteArray saved = qgetenv("QT_NO_GLIB");
    const bool was_set = qEnvironmentVariableIsSet("QT_NO_GLIB");
    qputenv("QT_NO_GLIB", "1");
    QAbstractEventDispatcher *d = integration->createEventDispatcher();
    if (was_set)
        qputenv("QT_NO_GLIB", saved);
    else
        qunsetenv("QT_NO_GLIB");
    return d;
}

GuiPump *gui_pump_new()
{
    if (!qobject_cast<QGuiApplication *>(QCoreApplication::instance()))
        return nullptr;
    return new GuiPump(platform_dispatcher());
}

bool gui_pump_run(GuiPump *pump, QEventLoop::ProcessEventsFlags flags)
{
    flags &= ~QEventLoop::WaitForMoreEvents;
    if (pump->platform_)
        return pump->platform_->processEvents(flags);
    return QWindowSystemInterface::sendWindowSystemEvents(flags);
}

bool gui_pump_pending(GuiPump *)
{
    return QWindowSystemInterface::windowSystemEventsQueued() > 0;
}

void gui_pump_free(GuiPump *pump)
{
    delete pump;
}

} // namespace loom__qt
