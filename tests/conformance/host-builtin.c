/* loom conformance suite — hooks for the built-in loop. The build names the
 * backend with -DLOOM_TEST_BACKEND=\"epoll\" or \"poll\". The built-in loop has
 * no native sources of its own, so a "native" timeout is a helper thread that
 * sleeps and then makes a thread-safe call. */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include "fixture.h"

#ifndef LOOM_TEST_BACKEND
#error "define LOOM_TEST_BACKEND as the built-in backend's name"
#endif

/* Helper threads still running; host_teardown joins them so no test leaves
 * a thread (or its loop reference) behind. */
#define MAX_TIMEOUT_THREADS 16
static pthread_t timeout_threads[MAX_TIMEOUT_THREADS];
static size_t n_timeout_threads;

typedef struct native_timeout {
    loom_loop *loop;
    int delay_ms;
    void (*fn)(void *data);
    void *data;
} native_timeout;

void host_setup(void)
{
    n_timeout_threads = 0;
}

void host_teardown(void)
{
    for (size_t i = 0; i < n_timeout_threads; i++)
        pthread_join(timeout_threads[i], NULL);
    n_timeout_threads = 0;
}

loom_loop *host_loop_new(void)
{
    loom_loop *loop = NULL;
    int r = loom_loop_new(&loop, LOOM_TEST_BACKEND);

    ck_assert_msg(r == 0, "loom_loop_new(\"%s\"): %s", LOOM_TEST_BACKEND, loom_strerror(r));
    ck_assert_str_eq(loom_loop_backend_name(loop), LOOM_TEST_BACKEND);
    return loop;
}

bool host_can_nest(void)
{
    return true;
}

void host_run_nested(loom_loop *loop)
{
    ck_assert_int_eq(loom_loop_run(loop), 0);
}

void host_quit_nested(loom_loop *loop)
{
    ck_assert_int_eq(loom_loop_stop(loop), 0);
}

static void native_timeout_fire(loom_loop *loop, void *data)
{
    native_timeout *t = data;

    t->fn(t->data);
    free(t);
}

static void *native_timeout_thread(void *data)
{
    native_timeout *t = data;
    loom_loop *loop = t->loop; /* t belongs to the loop thread once the call is accepted */
    struct timespec delay = {t->delay_ms / 1000, (long)(t->delay_ms % 1000) * 1000000};

    nanosleep(&delay, NULL);
    if (loom_call_soon_threadsafe(loop, native_timeout_fire, t) < 0)
        free(t);
    loom_loop_unref(loop);
    return NULL;
}

void host_native_timeout(loom_loop *loop, int delay_ms, void (*fn)(void *data), void *data)
{
    native_timeout *t = malloc(sizeof(*t));

    ck_assert_ptr_nonnull(t);
    ck_assert_msg(n_timeout_threads < MAX_TIMEOUT_THREADS, "too many native timeouts in one test");
    *t = (native_timeout){loom_loop_ref(loop), delay_ms, fn, data};
    ck_assert_int_eq(pthread_create(&timeout_threads[n_timeout_threads], NULL, native_timeout_thread, t), 0);
    n_timeout_threads++;
}

int host_count_sources(loom_loop *loop)
{
    return -1;
}

int host_native_iterations(int ms)
{
    return -1;
}
