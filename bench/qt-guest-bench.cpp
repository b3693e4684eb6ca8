// qt-guest-bench — the Qt guest beside Qt's own dispatchers: peer-bench's Qt
// metrics (QTimer::singleShot(0) chain, posted-event batch, socket-notifier
// ping-pong, 10,000 timers started and stopped, cross-thread round trip) run
// with the loom dispatcher installed on a loom loop, printed as
// "qt_guest_<backend>.<metric>" (and qt_guest_<backend>_invoke.*). peer-bench
// prints the same as qt (QEventDispatcherGlib) and qt_noglib
// (QEventDispatcherUNIX); compare.awk pairs them.
//   qt-guest-bench [--backend=epoll|poll|libevent]
//   qt-guest-bench --churn=N [--backend=epoll|poll|libevent|qt]
// --churn runs watch_churn_10's workload N times untimed, for callgrind;
// backend qt leaves Qt's own dispatcher (QT_NO_GLIB=1: QEventDispatcherUNIX).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <event2/event.h>
#include <loom/loom.h>
#include <loom/loom-event.h>
#include <loom/loom-qt.h>
#include "bench-util.h"
#include "peers.h"

int main(int argc, char **argv)
{
    const char *backend = "epoll", *churn = nullptr;
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], "--backend=", 10) == 0)
            backend = argv[i] + 10;
        else if (strncmp(argv[i], "--churn=", 8) == 0)
            churn = argv[i] + 8;
    if (churn && strcmp(backend, "qt") == 0) {
        peer_qt_churn(strtoull(churn, nullptr, 10));
        return 0;
    }
    struct event_base *base = nullptr;
    loom_loop *loop = nullptr;
    int r;
    if (strcmp(backend, "libevent") == 0) {
        base = event_base_new();
        r = base ? loom_event_loop_new(&loop, base) : -ENOMEM;
    } else {
        r = loom_loop_new(&loop, backend);
    }
    if (r == 0)
        r = loom_qt_dispatcher_install(loop);
    if (r < 0)
        bench_die(-r, "a loop with the Qt guest");
    if (churn) {
        peer_qt_churn(strtoull(churn, nullptr, 10));
    } else {
        printf("# qt-guest-bench backend=%s\n", backend);
        peer_qt_as(("qt_guest_" + std::string(backend)).c_str());
    }
    loom_loop_unref(loop);
    if (base)
        event_base_free(base);
    return 0;
}
