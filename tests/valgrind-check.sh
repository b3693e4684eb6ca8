#!/bin/sh
# Runs one test program under Valgrind memcheck and fails when memcheck found
# an error or a leak, when memory allocated by libloom is still reachable at
# exit (a loop or future nobody freed is a leak even if a pointer to it
# survives), or when the program left open an fd it opened itself (other
# than the eventfds of GLib's default and worker contexts, process-wide
# singletons).
#
#   tests/valgrind-check.sh PROGRAM [ARGS...]
#
# Environment: VALGRIND (default valgrind), LIBTOOL (runs libtool wrapper
# scripts), top_srcdir (for the suppression files), VALGRIND_EXTRA.
#
# The program runs as one process (CK_FORK=no): memcheck's fd and leak report
# then covers the whole program, instead of one Check child per test that
# inherits the runner's own fds. Memcheck does not turn its fd report into an
# exit status, hence the log parsing below.
set -u
srcdir=${top_srcdir:-$(dirname "$0")/..}
logdir=$(mktemp -d "${TMPDIR:-/tmp}/loom-vg.XXXXXX")
trap 'rm -rf "$logdir"' EXIT

# --fullpath-after= keeps source paths (core/..., adapters/...) in the stacks,
# which is how a still-reachable block is recognised as libloom's.
# Without Check's forks there is no per-test time limit: a hung program is
# killed after 15 minutes, so it fails instead of holding up the run.
# --fair-sched=yes: memcheck runs one thread at a time, and its default lock
# lets a thread that never blocks (a host iterating without waiting) take it
# back at once, starving the others for seconds (test-glib-only's
# last_unref_on_another_thread failed 12 runs in 15 so).
CK_FORK=no CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-10} \
    timeout -s KILL 900 ${LIBTOOL:+$LIBTOOL --mode=execute} ${VALGRIND:-valgrind} \
    --error-exitcode=99 --leak-check=full --show-leak-kinds=all \
    --errors-for-leak-kinds=definite,indirect --track-fds=yes --fullpath-after= \
    --num-callers=30 --fair-sched=yes \
    --suppressions="$srcdir/tests/valgrind-toolkits.supp" \
    --suppressions="$srcdir/tests/valgrind-qt.supp" \
    --log-file="$logdir/vg.%p" ${VALGRIND_EXTRA:-} "$@"
status=$?

# The program's own process; a child it forked (test-fiber does) exits
# without cleaning up on purpose, so only its memcheck errors count.
main_logs=""
for log in "$logdir"/vg.*; do
    ppid=$(sed -n 's/^==[0-9]*== Parent PID: //p' "$log")
    [ -e "$logdir/vg.$ppid" ] || main_logs="$main_logs $log"
done

# Print the records of the main log that make the run fail.
awk '
    function flush() {
        if (kind != "" && bad && !gio) { print rec; failed = 1 }
        kind = ""; rec = ""; bad = 0; gio = 0
    }
    /are still reachable in loss record/ { flush(); kind = "reach"; rec = $0; next }
    /Open (file descriptor|AF_UNIX socket|AF_INET socket) [0-9]+/ {
        flush(); kind = "fd"; rec = $0; bad = 1; next
    }
    kind != "" && /^==[0-9]+== *$/ { flush(); next }
    kind != "" {
        rec = rec "\n" $0
        if (kind == "fd" && /<inherited from parent>/) bad = 0
        # GLib creates its process-wide default context once and never frees
        # it; GIO the context of the GTask thread pool, likewise.
        if (kind == "fd" && /g_main_context_default|g_task_get_type/) bad = 0
        # The same for its worker context (g_unix_signal_add, child watches),
        # made by a GLib-internal function, hence no symbol.
        if (kind == "fd" && ctx_new && /\?\?\? \(in [^ ]*libglib-2\.0/) bad = 0
        ctx_new = kind == "fd" && /g_main_context_new_with_flags/
        # GDBus runs every connection through one process-wide worker thread
        # with a context of its own, made with the first connection.
        if (kind == "fd" && rec ~ /g_main_context_new_with_flags/ && /g_dbus_connection_new/) bad = 0
        if (kind == "reach" && /[( \/](core|adapters)\/[^ ]*:[0-9]+\)/) bad = 1
        # The process-wide caches of GIO and of GObject types, made the first
        # time a loom task or callback (the GLib guest tests) calls GIO: not
        # memory of libloom.
        if (kind == "reach" && /\/lib(gio|gobject)-2\.0\.so/) gio = 1
        # The record the dynamic loader keeps of liburing.so.2, which libloom opens
        # once per process (core/io/uring-lib.c) and keeps: not memory of libloom.
        if (kind == "reach" && /: dlopen(@@GLIBC_[0-9.]+)? \(/) gio = 1
    }
    END { flush(); exit failed }
' $main_logs >"$logdir/report" || {
    echo "$*: libloom memory still reachable or fds left open at exit:" >&2
    cat "$logdir/report" >&2
    [ "$status" -ne 0 ] || status=1
}
if [ "$status" -eq 99 ]; then
    echo "$*: memcheck found errors:" >&2
    for log in "$logdir"/vg.*; do
        grep -q "ERROR SUMMARY: 0 errors" "$log" || cat "$log" >&2
    done
fi
exit "$status"
