#!/bin/sh
# Replays each input of the API fuzzer's seed corpus and crash regressions in
# its own process, so that one crash does not hide the others.
dir=$(dirname "$0")
status=0
for input in "$dir"/corpus/* "$dir"/regressions/*; do
    ./tests/fuzz/replay "$input" || { echo "FAIL: $input" >&2; status=1; }
done
exit $status
