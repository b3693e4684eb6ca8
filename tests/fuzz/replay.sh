#!/bin/sh
# Replays the API fuzzer's seed corpus and every crash regression once.
dir=$(dirname "$0")
exec ./tests/fuzz/replay "$dir/corpus" "$dir/regressions"
