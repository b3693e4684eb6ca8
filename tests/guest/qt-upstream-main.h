/* Force-included (-include) into Qt's own tests by qt-upstream-tests.sh: the
 * test's QTEST_MAIN makes the loom dispatcher the main thread's before the
 * QCoreApplication exists, on the host named by $LOOM_QT_UPSTREAM_HOST
 * ("epoll", "poll" or "libevent"), then runs the test as Qt's main would.
 * "qt" installs nothing: Qt's own dispatcher, the control for a BLACKLIST
 * entry. */
#ifndef LOOM_QT_UPSTREAM_MAIN_H
#define LOOM_QT_UPSTREAM_MAIN_H

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <event2/event.h>
#include <QtTest/qtest.h>
#include <loom/loom.h>
#include <loom/loom-event.h>
#include <loom/loom-qt.h>

/* Runs TestObject's test functions on a loom loop of the host asked for. */
template <typename TestObject> int loom_qt_upstream_main(int argc, char **argv)
{
    const char *host = getenv("LOOM_QT_UPSTREAM_HOST");
    struct event_base *base = nullptr;
    loom_loop *loop = nullptr;
    int r;
    const bool control = host && strcmp(host, "qt") == 0;
    if (control) {
        r = 0;
    } else if (host && strcmp(host, "libevent") == 0) {
        base = event_base_new();
        r = base ? loom_event_loop_new(&loop, base) : -ENOMEM;
    } else {
        r = loom_loop_new(&loop, host);
    }
    if (r == 0 && !control)
        r = loom_qt_dispatcher_install(loop);
    if (r < 0) {
        fprintf(stderr, "loom Qt guest on %s: %s\n", host ? host : "default", loom_strerror(r));
        return 1;
    }
    int status;
    {
        QTest::Internal::callInitMain<TestObject>(); /* Qt's main does it before the application */
        QCoreApplication app(argc, argv);
        app.setAttribute(Qt::AA_Use96Dpi, true);
        TestObject tc;
        status = QTest::qExec(&tc, argc, argv);
    }
    if (loop)
        loom_loop_unref(loop);
    if (base)
        event_base_free(base);
    return status;
}

#undef QTEST_MAIN
#define QTEST_MAIN(TestObject)                                                                                         \
    int main(int argc, char *argv[])                                                                                   \
    {                                                                                                                  \
        return loom_qt_upstream_main<TestObject>(argc, argv);                                                          \
    }

#endif
