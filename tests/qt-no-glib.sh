#!/bin/sh
# The Qt conformance suite again on Qt's own (non-GLib) event dispatcher.
QT_NO_GLIB=1 ./tests/conformance-qt && QT_NO_GLIB=1 ./tests/test-qt-only
