#!/bin/sh
# The file suite of every conformance program again with the io_uring engine
# off, two ways: LOOM_URING=0, and a liburing.so.2 that lacks liburing's
# functions found first by the dynamic loader (libloom opens liburing at run
# time: that is the path of a machine where it is missing or too old). Files
# then go through the executor, with the same results. The stream suites
# run again with LOOM_URING=0 too: socket streams on readiness.
status=0
stub=$(mktemp -d "${TMPDIR:-/tmp}/loom-uring-stub.XXXXXX")
trap 'rm -rf "$stub"' EXIT
echo 'int loom_uring_stub;' > "$stub/stub.c"
${CC:-cc} -shared -fPIC -o "$stub/liburing.so.2" "$stub/stub.c" || { echo "uring-off: no C compiler for the stub" >&2; exit 1; }
for p in ./tests/conformance-epoll ./tests/conformance-poll ./tests/conformance-glib \
         ./tests/conformance-libevent ./tests/conformance-qt; do
    [ -x "$p" ] || continue
    for suite in file stream stream-engine; do
        LOOM_URING=0 CK_RUN_SUITE=$suite "$p" || status=1
    done
    out=$(LD_LIBRARY_PATH="$stub${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" LOOM_URING_DEBUG=1 \
          CK_RUN_SUITE=file "$p" 2>&1) || { echo "$out"; status=1; }
    # Built without liburing there is no engine to fall back from.
    if ! grep -q "HAVE_LIBURING 1" config.h 2>/dev/null; then
        continue
    fi
    if ! echo "$out" | grep -q "io_uring off (liburing.so.2 lacks a function"; then
        echo "uring-off: $p did not fall back to the executor with a stub liburing.so.2:" >&2
        echo "$out" | grep "loom: loop" | head -3 >&2
        status=1
    fi
done
exit $status
