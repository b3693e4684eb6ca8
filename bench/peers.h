/* peer-bench — each peer measures loom-bench's metrics with its own native
 * idioms and prints them as "<peer>.<metric> value unit". */
#ifndef LOOM_BENCH_PEERS_H
#define LOOM_BENCH_PEERS_H

void peer_raw_epoll(void);
void peer_libuv(void);
void peer_libevent(void);
void peer_glib(void);

#endif
