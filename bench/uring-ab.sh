#!/bin/sh
# A/B: loom's echo server (STYLE: loom_cb or loom_task) on the epoll backend, streams on
# readiness (LOOM_URING=0), on the ring (LOOM_URING_STREAMS=1, task work deferred where the
# kernel can) and on the ring without deferral (LOOM_URING_DEFER=0), 100 and 1 connections x 1 KiB, echo-load --long (0.5 s warmup + 3 s), server
# pinned to CPU 0, load to CPU 1. Prints requests/s and the server's CPU time (utime+stime from
# /proc) per request over warmup+measurement, which the machine's load disturbs less.
# usage: ../bench/uring-ab.sh STYLE ROUNDS   (from the build directory; port 47311)
style=${1:-loom_cb}; rounds=${2:-1}
port=47311
cpu() { awk '{print $14 + $15}' /proc/$1/stat; }
for round in $(seq "$rounds"); do
for eng in epoll uring uring_nodefer; do
    case $eng in
    epoll) env="LOOM_URING=0" ;;
    uring) env="LOOM_URING_STREAMS=1" ;;
    *) env="LOOM_URING_STREAMS=1 LOOM_URING_DEFER=0" ;;
    esac
    env $env taskset -c 0 bench/echo-server --server=$style --backend=epoll --port=$port > /dev/null 2>/tmp/uring-srv.err &
    pid=$!
    sleep 0.5
    for c in 100 1; do
        t0=$(cpu $pid)
        rps=$(taskset -c 1 bench/echo-load --port=$port --conns=$c --size=1024 --long | awk '/req\/s/ {print $2}')
        t1=$(cpu $pid)
        echo "echo.${style}_$eng.c$c.s1024 $rps req/s, server cpu $(( (t1 - t0) * 10 )) ms, $(awk -v r=$rps -v t=$((t1 - t0)) 'BEGIN {printf "%.2f", t * 10000 / (r * 3.5)}') us/req"
    done
    kill $pid; wait $pid 2>/dev/null
done
done
