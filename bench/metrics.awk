# metrics.awk — the machine-readable copy of a bench run, for tools that diff
# runs between commits (bench/diff-metrics):
#
#   cat bench/last-run.txt bench/last-run.ratios | awk -f metrics.awk
#
# prints one "metric value unit" line per value measured. loom-bench's lines
# get their side in front ("loom_epoll.fd_pingpong", "loom_qt_noglib..." for
# its QT_NO_GLIB=1 run), as compare.awk names them; every other
# "name value unit" line (peer-bench's "raw_epoll.fd_pingpong", any other
# bench program's, after a "# <name>-bench" header of its own) is kept as it
# is; compare.awk's "ratio A/B R" lines become "ratio:A/B R x".

/^# loom-bench backend=/ {
    side = "loom_" substr($3, length("backend=") + 1)
    if ($0 ~ /\(QT_NO_GLIB=1\)/)
        side = side "_noglib"
    next
}

/^# [A-Za-z0-9_.-]+-bench/ { side = ""; next }

/^#/ { next }

# Each name once (compare.awk repeats some ratios under the targets).
$1 == "ratio" && NF == 3 {
    if (!seen["ratio:" $2]++)
        print "ratio:" $2, $3, "x"
    next
}

NF == 3 && $2 ~ /^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/ {
    name = (side != "" ? side "." : "") $1
    if (!seen[name]++)
        print name, $2, $3
}
