/* Qt guest internals shared by qt-dispatcher.cpp (the dispatcher) and
 * qt-guest-gui.cpp (window-system events of GUI applications). */
#ifndef LOOM_QT_GUEST_H
#define LOOM_QT_GUEST_H

#include <QEventLoop>

namespace loom__qt {

/* The window system's event source of a QGuiApplication (opaque). */
class GuiPump;

/* A pump for the running QGuiApplication, or nullptr when the application is
 * not a QGuiApplication (or there is none). Owned by the caller. */
GuiPump *gui_pump_new();

/* Delivers the window-system events queued now (never blocks); whether any
 * was delivered. */
bool gui_pump_run(GuiPump *pump, QEventLoop::ProcessEventsFlags flags);

/* Whether window-system events are queued. */
bool gui_pump_pending(GuiPump *pump);

void gui_pump_free(GuiPump *pump);

} // namespace loom__qt

#endif
