#!/bin/sh
# make check: every driver of the curl benchmark, loom's on every backend,
# delivers every body intact (a few transfers each, no timing). Run from the
# build directory.
exec bench/curl-bench --check
