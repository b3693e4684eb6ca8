#!/bin/sh
# The Qt programs again in the per-fd mode: every loom watch its own
# QSocketNotifiers instead of one for all (LOOM_ONE_FD=0, see backend.h), on
# both of Qt's dispatchers.
export LOOM_ONE_FD=0
./tests/conformance-qt && ./tests/test-qt-only &&
    QT_NO_GLIB=1 ./tests/conformance-qt && QT_NO_GLIB=1 ./tests/test-qt-only
