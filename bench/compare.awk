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
}
