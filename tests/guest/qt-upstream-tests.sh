#!/bin/sh
# Qt's own dispatcher tests with the loom dispatcher installed: qtbase 5.15's
# tests/auto/corelib/kernel/{qeventdispatcher,qtimer,qeventloop,qsocketnotifier},
# built against qtbase5-private-dev with QTEST_MAIN replaced
# (qt-upstream-main.h, force-included), run on the built-in loop (epoll) and
# on libevent. The sources come at test time from Debian's
# qtbase-opensource-src through a private apt configuration (deb-src entries
# derived from /etc/apt/sources.list{,.d}, one-line and deb822 files; own
# state and cache dirs; no root needed), are cached under the build dir and
# never committed. Skips (77) with a clear message when they cannot be had.
# Test functions listed in tests/guest/qt-BLACKLIST ("<test> <function>
# <reason>") are run but their result does not count. Run from the build dir.
set -u
env_file=tests/guest/qt-upstream.env
[ -f "$env_file" ] || { echo "qt-upstream-tests: $env_file missing (make check builds it)" >&2; exit 99; }
. "./$env_file"
build=$(pwd)
work=$build/tests/guest/qt-upstream
tests="qeventdispatcher qtimer qeventloop qsocketnotifier"
hosts=${LOOM_QT_UPSTREAM_HOSTS:-epoll libevent}

skip() {
    echo "qt-upstream-tests: SKIP: $*"
    exit 77
}

# A private apt configuration whose deb-src entries are the machine's deb ones.
make_apt_config() {
    apt=$work/apt
    mkdir -p "$apt/sources.list.d" "$apt/lists/partial" "$apt/cache/archives/partial"
    : >"$apt/status"
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] && sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "$f"
    done >"$apt/sources.list"
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && sed 's/^Types:.*/Types: deb-src/' "$f" >"$apt/sources.list.d/${f##*/}"
    done
    cat >"$apt/apt.conf" <<EOF
Dir::Etc::SourceList "$apt/sources.list";
Dir::Etc::SourceParts "$apt/sources.list.d";
Dir::State "$apt";
Dir::State::Lists "$apt/lists";
Dir::State::status "$apt/status";
Dir::Cache "$apt/cache";
Debug::NoLocking "true";
APT::Sandbox::User "$(id -un)";
EOF
}

fetch_sources() {
    command -v apt-get >/dev/null || skip "no apt-get: Qt's test sources cannot be had"
    make_apt_config
    export APT_CONFIG="$apt/apt.conf"
    timeout 600 apt-get -qq update >"$work/apt.log" 2>&1 || skip "apt-get update failed (no network to the Debian mirrors?), see $work/apt.log"
    (cd "$work" && timeout 900 apt-get -qq source --download-only qtbase-opensource-src) >>"$work/apt.log" 2>&1 ||
        skip "apt-get source qtbase-opensource-src failed, see $work/apt.log"
    orig=$(ls "$work"/qtbase-opensource-src_*.orig.tar.* 2>/dev/null | head -n 1)
    [ -n "$orig" ] || skip "no qtbase orig tarball downloaded, see $work/apt.log"
    patterns=""
    for t in $tests; do patterns="$patterns */tests/auto/corelib/kernel/$t/*"; done
    # shellcheck disable=SC2086
    tar -xf "$orig" -C "$work" --wildcards $patterns '*/src/network/socket/qnativesocketengine*' \
        '*/src/network/socket/qabstractsocketengine*' '*/src/network/socket/qnet_unix_p.h' ||
        skip "cannot unpack $orig"
    rm -f "$work"/qtbase-opensource-src_*.orig.tar.* # only the few tests are kept
}

mkdir -p "$work"
src=$(ls -d "$work"/qtbase-everywhere-src-* 2>/dev/null | head -n 1)
if [ -z "$src" ]; then
    fetch_sources
    src=$(ls -d "$work"/qtbase-everywhere-src-* 2>/dev/null | head -n 1)
    [ -n "$src" ] || skip "the unpacked sources have no qtbase-everywhere-src-* directory"
fi

pcflags=$(pkg-config --cflags Qt5Test Qt5Network Qt5Core) || skip "pkg-config finds no Qt5Test/Qt5Network"
pclibs=$(pkg-config --libs Qt5Test Qt5Network Qt5Core)
qt_inc=$(pkg-config --variable=includedir Qt5Core)
qt_ver=$(pkg-config --modversion Qt5Core)
moc=$(pkg-config --variable=host_bins Qt5Core)/moc
[ -x "$moc" ] || skip "no moc at $moc (qtbase5-dev-tools)"
net_private="-isystem $qt_inc/QtNetwork/$qt_ver -isystem $qt_inc/QtNetwork/$qt_ver/QtNetwork"

# Builds one test; prints why not on failure.
build_test() {
    t=$1
    dir=$src/tests/auto/corelib/kernel/$t
    out=$work/build/$t
    mkdir -p "$out"
    extra_src=""
    extra_flags=""
    if [ "$t" = qsocketnotifier ]; then
        # Qt builds it with its socket engine compiled in (private_tests).
        sock=$src/src/network/socket
        extra_src="$sock/qnativesocketengine.cpp $sock/qnativesocketengine_unix.cpp $sock/qabstractsocketengine.cpp"
        extra_flags="-I$sock -DQT_BUILD_INTERNAL $net_private"
        for f in qnativesocketengine_p qabstractsocketengine_p; do
            "$moc" $moc_flags "$sock/$f.h" -o "$out/moc_$f.cpp" || return 1
            extra_src="$extra_src $out/moc_$f.cpp"
        done
    fi
    "$moc" $moc_flags "$dir/tst_$t.cpp" -o "$out/tst_$t.moc" || return 1
    # shellcheck disable=SC2086
    $CXX $CXXFLAGS -std=c++17 -fPIC -w -include "$top_srcdir/tests/guest/qt-upstream-main.h" \
        -I"$out" -I"$top_srcdir/core" -I"$top_srcdir/adapters/qt5" -I"$top_srcdir/adapters/libevent" -I"$build" \
        $pcflags $QT5_PRIVATE_CFLAGS $extra_flags -DQT_TESTLIB_LIB -DQT_NETWORK_LIB -DQT_CORE_LIB \
        "$dir/tst_$t.cpp" $extra_src -o "$out/tst_$t" $LDFLAGS \
        -L"$build/.libs" -Wl,-rpath,"$build/.libs" -lloom-qt5 -lloom-event -lloom $pclibs -levent -lpthread
}

# moc sees what the compiler predefines (Q_OS_UNIX-guarded classes), as under qmake.
mkdir -p "$work/build"
$CXX $CXXFLAGS -std=c++17 -dM -E -x c++ /dev/null >"$work/build/moc_predefs.h" || skip "$CXX cannot preprocess"
moc_flags="--include $work/build/moc_predefs.h $(echo "$pcflags" | sed 's/-isystem */-I/g')"

blacklist=$top_srcdir/tests/guest/qt-BLACKLIST
blacklisted() { # test function
    [ -f "$blacklist" ] && grep -q "^$1[[:space:]]\+$2[[:space:]]" "$blacklist"
}

status=0
export QTEST_FUNCTION_TIMEOUT=120000
for t in $tests; do
    if ! build_test "$t" >"$work/build-$t.log" 2>&1; then
        echo "qt-upstream-tests: FAIL: tst_$t does not build, see $work/build-$t.log"
        status=1
        continue
    fi
    bin=$work/build/$t/tst_$t
    functions=$(cd "$work/build/$t" && "$bin" -functions | sed -n 's/()$//p')
    run=""
    listed=""
    for f in $functions; do
        if blacklisted "$t" "$f"; then listed="$listed $f"; else run="$run $f"; fi
    done
    for host in $hosts; do
        log=$work/tst_$t-$host.log
        # shellcheck disable=SC2086
        if (cd "$work/build/$t" && LOOM_QT_UPSTREAM_HOST=$host timeout 900 "$bin" $run) >"$log" 2>&1; then
            echo "qt-upstream-tests: PASS: tst_$t on $host ($(grep '^Totals' "$log"))"
        else
            echo "qt-upstream-tests: FAIL: tst_$t on $host, see $log"
            grep -E '^(FAIL|Totals)|Loc:' "$log" | head -n 20
            status=1
        fi
        for f in $listed; do # run for the record, not counted
            if (cd "$work/build/$t" && LOOM_QT_UPSTREAM_HOST=$host timeout 900 "$bin" "$f") >"$log.$f" 2>&1; then
                r=passes
            else
                r=fails
            fi
            echo "qt-upstream-tests: tst_$t $f on $host $r (blacklisted: tests/guest/qt-BLACKLIST)"
        done
    done
done
exit $status
