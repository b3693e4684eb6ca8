/* loom conformance suite — hooks for the GLib adapter. Each test gets a fresh
 * GMainContext pushed as the thread-default one, so tests share no sources. */
#include <loom/loom-glib.h>
#include "fixture.h"

static GMainContext *test_context;
static GMainLoop *nested_loop; /* the innermost host_run_nested */

typedef struct native_call {
    void (*fn)(void *data);
    void *data;
} native_call;

void host_setup(void)
{
    test_context = g_main_context_new();
    g_main_context_push_thread_default(test_context);
}

void host_teardown(void)
{
    g_main_context_pop_thread_default(test_context);
    g_main_context_unref(test_context);
    test_context = NULL;
}

loom_loop *host_loop_new(void)
{
    loom_loop *loop = NULL;
    int r = loom_glib_loop_new(&loop, NULL);

    ck_assert_msg(r == 0, "loom_glib_loop_new: %s", loom_strerror(r));
    ck_assert_str_eq(loom_loop_backend_name(loop), "glib");
    ck_assert_ptr_eq(loom_glib_loop_context(loop), test_context);
    return loop;
}

bool host_can_nest(void)
{
    return true;
}

void host_run_nested(loom_loop *loop)
{
    GMainLoop *outer = nested_loop;

    nested_loop = g_main_loop_new(loom_glib_loop_context(loop), FALSE);
    g_main_loop_run(nested_loop);
    g_main_loop_unref(nested_loop);
    nested_loop = outer;
}

void host_quit_nested(loom_loop *loop)
{
    ck_assert_msg(nested_loop != NULL, "host_quit_nested outside host_run_nested");
    g_main_loop_quit(nested_loop);
}

static gboolean native_timeout_fire(gpointer data)
{
    native_call *call = data;

    call->fn(call->data);
    return G_SOURCE_REMOVE;
}

void host_native_timeout(loom_loop *loop, int delay_ms, void (*fn)(void *data), void *data)
{
    GSource *timeout = g_timeout_source_new((guint)delay_ms);
    native_call *call = g_new(native_call, 1);

    *call = (native_call){fn, data};
    g_source_set_callback(timeout, native_timeout_fire, call, g_free);
    g_source_attach(timeout, loom_glib_loop_context(loop));
    g_source_unref(timeout);
}

/* GLib cannot list a context's sources, but ids in a fresh context count up
 * from 1: look up every id below the next one (found by attaching a probe). */
int host_count_sources(loom_loop *loop)
{
    GSource *probe = g_idle_source_new();
    guint next_id = g_source_attach(probe, test_context);
    int n = 0;

    g_source_destroy(probe);
    g_source_unref(probe);
    for (guint id = 1; id < next_id; id++) {
        GSource *source = g_main_context_find_source_by_id(test_context, id);

        if (source && g_strcmp0(g_source_get_name(source), "loom") == 0)
            n++;
    }
    return n;
}

static gboolean set_flag(gpointer flag)
{
    *(bool *)flag = true;
    return G_SOURCE_REMOVE;
}

int host_native_iterations(int ms)
{
    bool fired = false;
    int n = 0;

    GSource *timer = g_timeout_source_new((guint)ms);
    g_source_set_callback(timer, set_flag, &fired, NULL);
    g_source_attach(timer, test_context);
    while (!fired && n < 1000000) {
        g_main_context_iteration(test_context, TRUE);
        n++;
    }
    g_source_destroy(timer);
    g_source_unref(timer);
    return n;
}
