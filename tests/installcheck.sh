#!/bin/sh
# make installcheck: builds the examples and every complete program in the
# README (a code block with a main function) against the INSTALLED library,
# through pkg-config alone, as a user would; runs those on the built-in loop.
# A README block is built with the modules of the last
# "pkg-config --cflags --libs ..." the README names before it.
#   tests/installcheck.sh SRCDIR        (PKG_CONFIG_PATH: the installed .pc files)
set -eu
src=$1
: "${CC:=cc}" "${CXX:=c++}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
have() { pkg-config --exists "$@" 2>/dev/null; }
flags() { pkg-config --cflags --libs "$@"; }
# Run with the installed libraries (a prefix outside the loader's path).
libdir=$(pkg-config --variable=libdir loom)
run() { LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$@"; }
built=0

# Only called where `have MODULES` holds: in a condition, set -e would not
# stop at a failed compiler.
build() { # build OUT LANG SOURCES... -- MODULES...
    out=$1 lang=$2
    shift 2
    sources=""
    while [ "$1" != -- ]; do sources="$sources $1"; shift; done
    shift
    echo "installcheck: $out ($*)"
    if [ "$lang" = c++ ]; then
        # C sources beside a C++ main are compiled as C, as a user's build would.
        objects="" includes=""
        for f in $sources; do
            case $f in
            *.c)
                # shellcheck disable=SC2086 # word splitting of the flags is wanted
                $CC -std=gnu11 -c -o "$work/$out-${f##*/}.o" "$f" $includes $(pkg-config --cflags "$@")
                objects="$objects $work/$out-${f##*/}.o" ;;
            -I* | -D*) includes="$includes $f" ;;
            *) objects="$objects $f" ;;
            esac
        done
        std=c++17 # coroutines (loom/loom.hpp's loom::task) need C++20
        # shellcheck disable=SC2086
        grep -qs -e co_await -- $sources && std=c++20
        # shellcheck disable=SC2086
        $CXX -std=$std -fPIC -o "$work/$out" $includes $objects $(flags "$@") -lpthread
    else
        # shellcheck disable=SC2086
        $CC -std=gnu11 -Werror=implicit-function-declaration -o "$work/$out" $sources $(flags "$@") -lpthread
    fi
    built=$((built + 1))
}

skip() { echo "installcheck: skip $1 (no $2)"; }

build demo c "$src/examples/demo.c" -- loom
run "$work/demo" >/dev/null
build tasks c "$src/examples/tasks.c" -- loom
run "$work/tasks" >/dev/null
build echo-server c "$src/examples/echo-server.c" -- loom
# The shared work's optional items (work.h), as the build tree enables them;
# the macros come before the sources (a C++ build compiles each .c as it comes).
work_defs="" work_mods=""
if have loom-curl; then work_defs="-DWORK_WITH_CURL" work_mods="loom-curl"; fi
if have loom-glib && pkg-config --print-requires loom-glib | grep -q gio-2.0; then
    work_defs="$work_defs -DWORK_WITH_GIO" work_mods="$work_mods loom-glib"
fi
shared="-I$src/examples/shared $work_defs $src/examples/shared/work.c $src/examples/shared/selftest.c"
# shellcheck disable=SC2086 # $shared and $work_mods are several words
if have loom-glib gtk+-3.0; then
    build gtk-example c "$src/examples/gtk/main.c" $shared -- loom-glib gtk+-3.0 $work_mods
else skip gtk-example "loom-glib gtk+-3.0"; fi
# shellcheck disable=SC2086
if have loom-qt5 Qt5Widgets; then
    build qt-example c++ "$src/examples/qt/main.cpp" $shared -- loom-qt5 Qt5Widgets $work_mods
else skip qt-example "loom-qt5 Qt5Widgets"; fi
if have loom-glib loom-qt5 gio-2.0 Qt5Network; then
    build one-thread c++ "$src/examples/one-thread/main.cpp" -- loom-glib loom-qt5 gio-2.0 Qt5Network
    run "$work/one-thread" --self-test >/dev/null
else skip one-thread "loom-glib loom-qt5 gio-2.0 Qt5Network"; fi
if have loom-qt5 Qt5Network; then
    build qt-futures c++ "$src/examples/qt-futures/main.cpp" -- loom-qt5 Qt5Network
    run "$work/qt-futures" --self-test >/dev/null
else skip qt-futures "loom-qt5 Qt5Network"; fi

# The README: each complete program, numbered in order.
awk -v dir="$work" '
    /pkg-config --cflags --libs/ {
        line = $0
        sub(/.*pkg-config --cflags --libs /, "", line)
        sub(/\).*/, "", line)
        modules = line
    }
    /^```(c|cpp)$/ { n++; lang = substr($0, 4); file = dir "/readme" n "." lang; body = ""; inblock = 1; next }
    /^```$/ && inblock {
        inblock = 0
        if (body ~ /int main\(/) {
            printf "%s", body > file
            close(file)
            print file, (modules == "" ? "loom" : modules) > (dir "/readme.list")
        }
        next
    }
    inblock { body = body $0 "\n" }
' "$src/README.md"
touch "$work/readme.list"
while read -r file modules; do
    name=$(basename "$file")
    lang=c
    case $file in *.cpp) lang=c++ ;; esac
    # shellcheck disable=SC2086 # modules are words
    if ! have $modules; then
        skip "$name" "$modules"
        continue
    fi
    # shellcheck disable=SC2086
    build "$name.bin" $lang "$file" -- $modules
    # A server runs until killed: built, not run.
    [ "$modules" = loom ] && ! grep -q loom_tcp_listen "$file" && run "$work/$name.bin" >/dev/null
done <"$work/readme.list"

echo "installcheck: $built programs built against the installed library"
[ "$built" -gt 0 ]
