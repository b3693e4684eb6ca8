#!/bin/sh
# The stream suites of every conformance program again with sockets' streams
# on the io_uring engine (LOOM_URING_STREAMS=1: opt-in, see
# docs/architecture.md), checking that the engine took them.
status=0
grep -q "HAVE_LIBURING 1" config.h 2>/dev/null || { echo "uring-streams: built without liburing" >&2; exit 77; }
for p in ./tests/conformance-epoll ./tests/conformance-poll ./tests/conformance-glib \
         ./tests/conformance-libevent ./tests/conformance-qt; do
    [ -x "$p" ] || continue
    for suite in stream stream-engine; do
        out=$(LOOM_URING_STREAMS=1 LOOM_URING_DEBUG=1 CK_RUN_SUITE=$suite "$p" 2>&1) || { echo "$out"; status=1; }
        echo "$out" | grep "^[0-9]*%:"
        if echo "$out" | grep -q "io_uring on (" && ! echo "$out" | grep -q "streams too"; then
            echo "uring-streams: $p $suite: the ring ran without streams on it" >&2
            status=1
        fi
    done
done
exit $status
