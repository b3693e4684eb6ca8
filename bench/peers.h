/* peer-bench — each peer measures loom-bench's metrics with its own native
 * idioms and prints them as "<peer>.<metric> value unit". */
#ifndef LOOM_BENCH_PEERS_H
#define LOOM_BENCH_PEERS_H

#ifdef __cplusplus
extern "C" {
#endif

void peer_raw_epoll(void);
void peer_libuv(void);
void peer_libevent(void);
void peer_glib(void);
void peer_swapcontext(void);
/* Prints as "qt" and "qt_invoke", or "qt_noglib" and "qt_noglib_invoke" when
 * Qt runs its Unix dispatcher (QT_NO_GLIB=1) instead of its GLib one. */
void peer_qt(void);
/* The same metrics named "<name>.<metric>" (NULL: as peer_qt), on whatever
 * dispatcher the thread has: qt-guest-bench installs loom's first. */
void peer_qt_as(const char *name);
/* watch_churn_10's workload n times, untimed (for callgrind), on whatever
 * dispatcher the thread has. */
void peer_qt_churn(uint64_t n);

#ifdef __cplusplus
}
#endif

#endif
