#!/bin/sh
# The GTK 3 window on the GLib guest under a virtual X server (-a takes a free
# display); skipped where there is no xvfb-run.
command -v xvfb-run >/dev/null 2>&1 || { echo "gtk-guest: xvfb-run not found, skipped"; exit 77; }
export NO_AT_BRIDGE=1 # no accessibility bus under Xvfb
# fontconfig and D-Bus keep caches for the whole process: not leaks of ours
export LSAN_OPTIONS="suppressions=${srcdir:-.}/examples/lsan-toolkits.supp fast_unwind_on_malloc=0 ${LSAN_OPTIONS:-}"
exec xvfb-run -a -s "-screen 0 800x600x24" ./tests/guest/gtk-guest
