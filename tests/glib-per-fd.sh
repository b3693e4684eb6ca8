#!/bin/sh
# The GLib programs again in the per-fd mode: every loom watch a GPollFD of
# its own instead of one epoll fd for all (LOOM_ONE_FD=0, see backend.h).
LOOM_ONE_FD=0 ./tests/conformance-glib && LOOM_ONE_FD=0 ./tests/test-glib-only
