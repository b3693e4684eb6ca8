/* peer-bench — the native loops loom is compared with, measured with the
 * same harness and metric names as loom-bench. A peer whose library was not
 * found at configure time is left out.
 *
 *   peer-bench               measure every peer built
 *   peer-bench --only=NAME   measure one peer (e.g. qt again under QT_NO_GLIB=1)
 *   --conns=N                conns_roundtrip on N connections (default 10000) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-util.h"

#include "peers.h"

struct peer {
    const char *name;
    void (*measure)(void);
};

static const struct peer peers[] = {
#ifdef BENCH_PEER_RAW_EPOLL
    { "raw_epoll", peer_raw_epoll },
#endif
#ifdef BENCH_PEER_LIBUV
    { "libuv", peer_libuv },
#endif
#ifdef BENCH_PEER_LIBEVENT
    { "libevent", peer_libevent },
#endif
#ifdef BENCH_PEER_GLIB
    { "glib", peer_glib },
#endif
#ifdef BENCH_PEER_QT
    { "qt", peer_qt },
#endif
    { "swapcontext", peer_swapcontext },
    { NULL, NULL },
};

static void usage(FILE *out)
{
    fprintf(out, "usage: peer-bench [--only=NAME] [--conns=N]\npeers:");
    for (const struct peer *p = peers; p->name; p++)
        fprintf(out, " %s", p->name);
    fputc('\n', out);
}

int main(int argc, char **argv)
{
    const char *only = NULL;

    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--only=", 7) == 0) {
            only = argv[i] + 7;
        } else if (strncmp(argv[i], "--conns=", 8) == 0 && atoi(argv[i] + 8) > 0) {
            bench_conns_wanted = atoi(argv[i] + 8);
        } else {
            usage(strcmp(argv[i], "--help") == 0 ? stdout : stderr);
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    if (only) {
        const struct peer *p = peers;
        while (p->name && strcmp(p->name, only) != 0)
            p++;
        if (!p->name) {
            fprintf(stderr, "peer-bench: no peer '%s' in this build\n", only);
            usage(stderr);
            return 2;
        }
        printf("# peer-bench --only=%s\n", only);
        p->measure();
        return 0;
    }
    printf("# peer-bench\n");
    for (const struct peer *p = peers; p->name; p++)
        p->measure();
    return 0;
}
