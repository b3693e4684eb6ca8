#!/bin/sh
# make check: file-bench's correctness run (no timing), on both engines.
exec ./bench/file-bench --check
