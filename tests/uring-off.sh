#!/bin/sh
# The file, stream and stream-engine suites of every conformance program again with
# the io_uring engine off (LOOM_URING=0): loom_file_* through the executor,
# socket streams on readiness, same results.
status=0
for p in ./tests/conformance-epoll ./tests/conformance-poll ./tests/conformance-glib \
         ./tests/conformance-libevent ./tests/conformance-qt; do
    [ -x "$p" ] || continue
    for suite in file stream stream-engine; do
        LOOM_URING=0 CK_RUN_SUITE=$suite "$p" || status=1
    done
done
exit $status
