#!/bin/sh
# The stream suites of every conformance program again with sockets' streams
# on the io_uring engine (LOOM_URING_STREAMS=1: opt-in, see
# docs/architecture.md), checking that the engine took them: with the ring's
# task work deferred and recvs into the ring's buffers (kernels
# from 6.1, the default there) and not (LOOM_URING_DEFER=0: the ring fd
# signalling and one recv into the stream's buffer at a time, as before 6.1).
status=0
grep -q "HAVE_LIBURING 1" config.h 2>/dev/null || { echo "uring-streams: built without liburing" >&2; exit 77; }
# 6.1 or later: the ring must defer its task work.
kernel_defers=$(uname -r | awk -F. '{print ($1 > 6 || ($1 == 6 && $2 >= 1)) ? 1 : 0}')
for p in ./tests/conformance-epoll ./tests/conformance-poll ./tests/conformance-glib \
         ./tests/conformance-libevent ./tests/conformance-qt; do
    [ -x "$p" ] || continue
    for defer in 1 0; do
    for suite in stream stream-engine; do
        out=$(LOOM_URING_STREAMS=1 LOOM_URING_DEFER=$defer LOOM_URING_DEBUG=1 CK_RUN_SUITE=$suite "$p" 2>&1) || { echo "$out"; status=1; }
        echo "$out" | grep "^[0-9]*%:" | sed "s/^/defer=$defer: /"
        echo "$out" | grep -q "io_uring on (" || continue
        if ! echo "$out" | grep -q "streams too"; then
            echo "uring-streams: $p $suite: the ring ran without streams on it" >&2
            status=1
        fi
        deferred=0
        echo "$out" | grep -q "task work deferred" && deferred=1
        # A deferring kernel (6.1) has buffer rings (5.19): its streams use them.
        if [ $deferred = 1 ] && ! echo "$out" | grep -q "(recv into the ring's buffers)"; then
            echo "uring-streams: $p $suite: task work deferred but no ring buffers" >&2
            status=1
        fi
        if [ $deferred != $((defer * kernel_defers)) ]; then
            echo "uring-streams: $p $suite: LOOM_URING_DEFER=$defer on $(uname -r), yet task work deferred=$deferred" >&2
            status=1
        fi
    done
    done
done
exit $status
