/* loom conformance suite — hooks for the libevent adapter. Each test gets a
 * fresh event_base; a "native" timeout is an evtimer on it. libevent's loop
 * does not nest, so the nesting hooks are never called. */
#include <stdlib.h>
#include <event2/event.h>
#include "fixture.h"
#include <loom/loom-event.h>

static struct event_base *base;

/* Evtimers of host_native_timeout that have not fired yet: freed by
 * host_teardown, and not counted as loom's by host_count_sources. */
typedef struct native_timeout {
    struct native_timeout *next;
    struct event *timer;
    void (*fn)(void *data);
    void *data;
} native_timeout;

static native_timeout *pending_timeouts;

static void native_timeout_unlink(native_timeout *t)
{
    native_timeout **p = &pending_timeouts;

    while (*p != t)
        p = &(*p)->next;
    *p = t->next;
}

static void native_timeout_free(native_timeout *t)
{
    event_free(t->timer);
    free(t);
}

void host_setup(void)
{
    base = event_base_new();
    ck_assert_ptr_nonnull(base);
}

void host_teardown(void)
{
    while (pending_timeouts) {
        native_timeout *t = pending_timeouts;
        pending_timeouts = t->next;
        native_timeout_free(t);
    }
    event_base_free(base);
    base = NULL;
}

loom_loop *host_loop_new(void)
{
    loom_loop *loop = NULL;
    int r = loom_event_loop_new(&loop, base);

    ck_assert_msg(r == 0, "loom_event_loop_new: %s", loom_strerror(r));
    ck_assert_str_eq(loom_loop_backend_name(loop), "libevent");
    return loop;
}

bool host_can_nest(void)
{
    return false;
}

void host_run_nested(loom_loop *loop)
{
    abort(); /* host_can_nest() is false */
}

void host_quit_nested(loom_loop *loop)
{
    abort();
}

static void native_timeout_fire(evutil_socket_t fd, short what, void *arg)
{
    native_timeout *t = arg;

    native_timeout_unlink(t);
    t->fn(t->data);
    native_timeout_free(t);
}

void host_native_timeout(loom_loop *loop, int delay_ms, void (*fn)(void *data), void *data)
{
    native_timeout *t = malloc(sizeof(*t));
    struct timeval delay = {delay_ms / 1000, (delay_ms % 1000) * 1000};

    ck_assert_ptr_nonnull(t);
    *t = (native_timeout){pending_timeouts, evtimer_new(base, native_timeout_fire, t), fn, data};
    ck_assert_ptr_nonnull(t->timer);
    ck_assert_int_eq(evtimer_add(t->timer, &delay), 0);
    pending_timeouts = t;
}

int host_count_sources(loom_loop *loop)
{
    int n = event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED);

    for (const native_timeout *t = pending_timeouts; t; t = t->next)
        n--;
    return n;
}

static void set_flag(evutil_socket_t fd, short what, void *flag)
{
    *(bool *)flag = true;
}

int host_native_iterations(int ms)
{
    bool fired = false;
    int n = 0;
    struct timeval delay = {ms / 1000, (ms % 1000) * 1000};

    ck_assert_int_eq(event_reinit(base), 0); /* libevent's rule in a child */
    struct event *timer = evtimer_new(base, set_flag, &fired);
    ck_assert_int_eq(evtimer_add(timer, &delay), 0);
    while (!fired && n < 1000000) {
        event_base_loop(base, EVLOOP_ONCE);
        n++;
    }
    event_free(timer);
    return n;
}
