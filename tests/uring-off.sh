#!/bin/sh
# The file suite of every conformance program again with the io_uring engine
# off (LOOM_URING=0): loom_file_* through the executor, same results.
status=0
for p in ./tests/conformance-epoll ./tests/conformance-poll ./tests/conformance-glib \
         ./tests/conformance-libevent ./tests/conformance-qt; do
    [ -x "$p" ] || continue
    LOOM_URING=0 CK_RUN_SUITE=file "$p" || status=1
done
exit $status
