/* peer-bench — the native loops loom is compared with, measured with the
 * same harness and metric names as loom-bench. A peer whose library was not
 * found at configure time is left out. */
#include <stdio.h>

#include "peers.h"

int main(void)
{
    printf("# peer-bench\n");
#ifdef BENCH_PEER_RAW_EPOLL
    peer_raw_epoll();
#endif
#ifdef BENCH_PEER_LIBUV
    peer_libuv();
#endif
#ifdef BENCH_PEER_LIBEVENT
    peer_libevent();
#endif
#ifdef BENCH_PEER_GLIB
    peer_glib();
#endif
    return 0;
}
