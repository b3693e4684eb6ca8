#!/bin/sh
# make check: every echo server of the benchmark, loom's on every backend,
# echoes every byte (a few requests each, no timing). Run from the build
# directory.
exec bench/echo-load --check
