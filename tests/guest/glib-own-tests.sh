#!/bin/sh
# GLib's own main-loop tests (Debian's libglib2.0-tests) with
# g_main_context_iteration and g_main_loop_run routed through a GLib guest on
# the epoll loop by tests/guest/glib-guest-shim.so (LD_PRELOAD). Exclusions,
# each with its reason, are in tests/guest/glib-own-tests.exclude. Each
# program must have gone through the guest at least once.
srcdir=${srcdir:-.}
dir=/usr/libexec/installed-tests/glib
programs="mainloop timeout unix contexts task cancellable io-stream socket-service gsocketclient-slow"
if [ ! -x "$dir/mainloop" ]; then
    echo "glib-own-tests: $dir/mainloop not found (Debian package libglib2.0-tests), skipped"
    exit 77
fi
build=$(pwd)
shim=$build/tests/guest/.libs/glib-guest-shim.so
if ldd "$shim" 2>/dev/null | grep -q -e libasan -e libtsan; then
    echo "glib-own-tests: a sanitizer build: GLib's uninstrumented programs cannot preload an instrumented shim, skipped"
    exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/loom-glib-tests.XXXXXX")
trap 'rm -rf "$work"' EXIT
status=0
for p in $programs; do
    skips=$(awk -v p="$p" '$1 == p { printf " -s %s", $2 }' "$srcdir/tests/guest/glib-own-tests.exclude")
    log=$work/$p.shim
    # shellcheck disable=SC2086 # skips are separate words
    (cd "$work" && GLIB_GUEST_SHIM_LOG=$log LD_LIBRARY_PATH=$build/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
        LD_PRELOAD=$shim timeout 300 "$dir/$p" $skips >"$work/$p.out" 2>&1)
    rc=$?
    routed=$(awk '{ n += $2 } END { print n + 0 }' "$log" 2>/dev/null)
    if [ "$rc" -ne 0 ]; then
        echo "FAIL: $p (exit $rc)"; tail -5 "$work/$p.out"; status=1
    elif [ "${routed:-0}" -eq 0 ]; then
        echo "FAIL: $p never went through the guest (shim not loaded?)"; status=1
    else
        echo "PASS: $p ($routed main-loop calls through the guest)"
    fi
done
exit $status
