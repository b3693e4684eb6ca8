# compare.awk — loom beside its peers, from the output of `make bench`
# (loom-bench once per backend, peer-bench).
#
#   awk -f compare.awk bench/last-run.txt
#
# For each metric: a "# metric (unit): side value ..." line with every value
# measured, then one "ratio loom_B.metric/P.metric R" line per pair, R being
# loom's value over the peer's (< 1: loom is faster). loom on a built-in
# backend is paired with every peer; loom on a host loop only with that host's
# own peer(s): glib with glib, qt with qt and qt_invoke, and so on (a guest,
# glib_guest, with its framework's own loop: glib). The Qt
# runs under QT_NO_GLIB=1 are the host qt_noglib.
#
# Then the targets of issue 10, one "ratio A/B R" line each after a
# "# target: ..." line saying what R should be: every host's
# conns_roundtrip over the built-in epoll loop's (<= 1.25, i.e. at least 0.8x
# its throughput), watch_churn_10k over watch_churn_10 on every loop (<= 1),
# call_soon_batch over libuv's (<= 1.5 built-in, <= 2 hosts), fd_pingpong
# over raw epoll's (<= 1.03), future_resolve_callback over the same loop's
# call_soon_batch (<= 4), flood_timer_lateness over 20 ms (<= 1) and over
# the same flood's on a hand-rolled epoll loop (the scheduler's floor). Lines
# whose values were not measured are left out.

BEGIN {
    builtin["epoll"] = builtin["poll"] = 1
    nsides = nmetrics = 0
}

# "# loom-bench backend=NAME" or "# loom-bench backend=qt (QT_NO_GLIB=1)"
/^# loom-bench backend=/ {
    backend = substr($3, length("backend=") + 1)
    if ($0 ~ /\(QT_NO_GLIB=1\)/)
        backend = backend "_noglib"
    loom_side = "loom_" backend
    host[loom_side] = backend
    add_side(loom_side)
    next
}

/^# peer-bench/ { loom_side = ""; next }

/^#/ || NF != 3 || $2 !~ /^[0-9.]+$/ { next }

{
    if (loom_side != "") {
        side = loom_side
        metric = $1
    } else {
        dot = index($1, ".")
        if (dot < 2)
            next
        side = substr($1, 1, dot - 1)
        metric = substr($1, dot + 1)
        add_side(side)
    }
    if (!(metric in unit)) {
        metrics[++nmetrics] = metric
        unit[metric] = $3
    }
    value[side, metric] = $2
}

function add_side(s) {
    if (!(s in seen)) {
        seen[s] = 1
        sides[++nsides] = s
    }
}

# The Qt guest (qt-guest-bench: qt_guest_<backend>[_invoke]) is compared with
# Qt's own dispatchers, qt and qt_noglib, in the same spelling.
function guest_peer(g, p) {
    return g ~ /_invoke$/ ? (p == "qt_invoke" || p == "qt_noglib_invoke") : (p == "qt" || p == "qt_noglib")
}

# Is peer p one that loom on backend b is compared with?
function pairs_with(b, p) {
    return (b in builtin) || p == b || p == b "_invoke" || b == p "_guest"
}

# "ratio a.ma/b.mb R" if both were measured.
function target(a, ma, b, mb) {
    if ((a, ma) in value && (b, mb) in value && value[b, mb] > 0)
        printf "ratio %s.%s/%s.%s %s\n", a, ma, b, mb, fmt(value[a, ma] / value[b, mb])
}

function targets(    i, s) {
    print "# targets of issue 10 (ratio lines below each \"# target\")"
    print "# target: conns_roundtrip of every host <= 1.25 x loom_epoll's (throughput >= 0.8x)"
    for (i = 1; i <= nsides; i++)
        if (sides[i] in host && sides[i] != "loom_epoll")
            target(sides[i], "conns_roundtrip", "loom_epoll", "conns_roundtrip")
    print "# target: watch_churn_10k <= 1 x watch_churn_10 (a watch beside 10,000 costs no more)"
    for (i = 1; i <= nsides; i++)
        target(sides[i], "watch_churn_10k", sides[i], "watch_churn_10")
    print "# target: call_soon_batch <= 1.5 x libuv's on the built-in loop, <= 2 x on every host"
    for (i = 1; i <= nsides; i++)
        if (sides[i] in host)
            target(sides[i], "call_soon_batch", "libuv", "call_soon_batch")
    print "# target: fd_pingpong <= 1.03 x raw epoll's on the built-in loop"
    target("loom_epoll", "fd_pingpong", "raw_epoll", "fd_pingpong")
    print "# target: future_resolve_callback <= 4 x call_soon_batch of the same loop"
    for (i = 1; i <= nsides; i++)
        if (sides[i] in host)
            target(sides[i], "future_resolve_callback", sides[i], "call_soon_batch")
    print "# target: flood_timer_lateness <= 20 ms on every backend (ratio to 20 ms)"
    value["target", "20ms"] = 20
    for (i = 1; i <= nsides; i++)
        if (sides[i] in host)
            target(sides[i], "flood_timer_lateness", "target", "20ms")
    print "# beside it: flood_timer_lateness over raw epoll's in the same run (its floor: the scheduler's share)"
    for (i = 1; i <= nsides; i++)
        if (sides[i] in host)
            target(sides[i], "flood_timer_lateness", "raw_epoll", "flood_timer_lateness")
}

function fmt(r) {
    return r >= 100 ? sprintf("%.0f", r) : sprintf("%.3g", r)
}

END {
    print "# loom/peer ratios (< 1: loom is faster); the machine is shared: small differences are noise"
    for (m = 1; m <= nmetrics; m++) {
        metric = metrics[m]
        line = "# " metric " (" unit[metric] "):"
        for (loom = 1; loom >= 0; loom--) # loom first, then the peers
            for (i = 1; i <= nsides; i++)
                if ((sides[i] in host) == loom && (sides[i], metric) in value)
                    line = line " " sides[i] " " value[sides[i], metric]
        print line
        for (i = 1; i <= nsides; i++) {
            l = sides[i]
            if (l ~ /^qt_guest_/ && (l, metric) in value)
                for (j = 1; j <= nsides; j++)
                    if (guest_peer(l, sides[j]) && value[sides[j], metric] > 0)
                        printf "ratio %s.%s/%s.%s %s\n", l, metric, sides[j], metric,
                               fmt(value[l, metric] / value[sides[j], metric])
            if (!(l in host) || !((l, metric) in value))
                continue
            for (j = 1; j <= nsides; j++) {
                p = sides[j]
                if (p in host || !((p, metric) in value) || !pairs_with(host[l], p))
                    continue
                if (value[p, metric] > 0)
                    printf "ratio %s.%s/%s.%s %s\n", l, metric, p, metric,
                           fmt(value[l, metric] / value[p, metric])
            }
        }
    }
    targets()
}
