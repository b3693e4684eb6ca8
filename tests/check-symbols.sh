#!/bin/sh
# Every symbol the libraries define for the linker starts with loom_ (public)
# or loom__ (internal), also in the static libraries, so that no program that
# links loom collides with an internal name (a program's own wake_open, say).
# And the core library needs nothing but libc and pthreads at link time
# (liburing is opened at run time): its shared object's NEEDED entries.
# Run from the build directory, by make check.
set -eu
status=0
checked=0
for lib in .libs/libloom.a .libs/libloom-glib.a .libs/libloom-event.a .libs/libloom-qt5.a .libs/libloom-curl.a; do
    [ -f "$lib" ] || continue
    checked=$((checked + 1))
    # C++ (Qt) objects also define vtables, typeinfo and weak inline
    # functions of Qt's templates: only strong text and data symbols count.
    bad=$(nm -g --defined-only "$lib" | awk 'NF == 3 && $2 ~ /^[TDBR]$/ { print $3 }' |
        grep -v -e '^loom_' -e '^_Z.*loom' | sort -u || true)
    if [ -n "$bad" ]; then
        echo "check-symbols: $lib defines symbols outside the loom_ namespace:" >&2
        echo "$bad" | sed 's/^/  /' >&2
        status=1
    fi
done
if [ -f .libs/libloom.so ] && command -v readelf >/dev/null; then
    needed=$(readelf -d .libs/libloom.so | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' |
        grep -v -e '^libc\.so' -e '^libpthread\.so' -e '^libdl\.so' -e '^ld-linux' \
            -e '^lib\(a\|ub\|t\|l\|hwa\)san\.so' || true) # sanitizer builds add their runtimes
    if [ -n "$needed" ]; then
        echo "check-symbols: libloom.so links more than libc and pthreads:" >&2
        echo "$needed" | sed 's/^/  /' >&2
        status=1
    fi
fi
[ "$checked" -gt 0 ] || { echo "check-symbols: no static library found (configure --disable-static?)" >&2; exit 77; }
exit $status
