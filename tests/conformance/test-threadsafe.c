/* loom conformance suite — loom_call_soon_threadsafe: exactly once, in order
 * per thread, wakes a sleeping loop, refused once the loop is closed. */
#include <pthread.h>
#include <sched.h>
#include "fixture.h"
#include "suites.h"

#define FLOOD_THREADS 8
#define FLOOD_CALLS 100000

/* Each call carries (sequence number, thread) packed into its data pointer;
 * the loop thread checks that each thread's calls arrive 0, 1, 2, ... */
typedef struct flood flood;

typedef struct flood_thread {
    flood *flood;
    int id;
} flood_thread;

struct flood {
    loom_loop *loop;
    atomic_int refused;
    flood_thread threads[FLOOD_THREADS];
    pthread_t ids[FLOOD_THREADS];
    int next_seq[FLOOD_THREADS];
    long delivered;
};

static flood *current_flood; /* one flood per test process */

static void flood_delivered(loom_loop *loop, void *data)
{
    uintptr_t packed = (uintptr_t)data;
    int id = (int)(packed % FLOOD_THREADS);
    int seq = (int)(packed / FLOOD_THREADS);
    flood *f = current_flood;

    if (seq != f->next_seq[id])
        ck_abort_msg("thread %d: call %d delivered, expected %d", id, seq, f->next_seq[id]);
    f->next_seq[id]++;
    if (++f->delivered == (long)FLOOD_THREADS * FLOOD_CALLS)
        fixture_stop(loop, NULL);
}

static void *flood_send(void *data)
{
    flood_thread *t = data;

    for (uintptr_t seq = 0; seq < FLOOD_CALLS; seq++) {
        void *packed = (void *)(seq * FLOOD_THREADS + (uintptr_t)t->id);

        if (loom_call_soon_threadsafe(t->flood->loop, flood_delivered, packed) != 0)
            atomic_fetch_add(&t->flood->refused, 1);
        if (seq % 256 == 0)
            sched_yield(); /* spread the calls over many of the loop's takes */
    }
    return NULL;
}

/* Started from a callback, so the calls race with the loop taking them. */
static void flood_start(loom_loop *loop, void *data)
{
    flood *f = data;

    for (int i = 0; i < FLOOD_THREADS; i++) {
        f->threads[i] = (flood_thread){f, i};
        ck_assert_int_eq(pthread_create(&f->ids[i], NULL, flood_send, &f->threads[i]), 0);
    }
}

START_TEST(test_many_threads_exactly_once_in_order)
{
    flood f = {.loop = host_loop_new()};

    current_flood = &f;
    atomic_init(&f.refused, 0);
    ck_assert_int_eq(loom_call_soon(f.loop, flood_start, &f, NULL), 0);
    fixture_run(f.loop, 15000, "800000 thread-safe calls");
    for (int i = 0; i < FLOOD_THREADS; i++)
        ck_assert_int_eq(pthread_join(f.ids[i], NULL), 0);
    ck_assert_int_eq(atomic_load(&f.refused), 0);
    ck_assert_int_eq(f.delivered, (long)FLOOD_THREADS * FLOOD_CALLS);
    for (int i = 0; i < FLOOD_THREADS; i++)
        ck_assert_int_eq(f.next_seq[i], FLOOD_CALLS);
    /* Nothing more arrives: every call ran exactly once. */
    ck_assert_int_eq(loom_loop_run_once(f.loop, false), 0);
    ck_assert_int_eq(f.delivered, (long)FLOOD_THREADS * FLOOD_CALLS);
    fixture_free_loop(f.loop);
}
END_TEST

static void *stop_from_thread(void *data)
{
    ck_assert_int_eq(loom_call_soon_threadsafe(data, fixture_stop, NULL), 0);
    return NULL;
}

/* The thread starts once the loop runs, so the call must wake a loop that has
 * nothing else to do. */
static void start_stopper(loom_loop *loop, void *data)
{
    ck_assert_int_eq(pthread_create(data, NULL, stop_from_thread, loop), 0);
}

START_TEST(test_wakes_idle_loop)
{
    loom_loop *loop = host_loop_new();
    pthread_t thread;

    ck_assert_int_eq(loom_call_soon(loop, start_stopper, &thread, NULL), 0);
    fixture_run(loop, 5000, "a thread-safe call to an idle loop");
    ck_assert_int_eq(pthread_join(thread, NULL), 0);
    fixture_free_loop(loop);
}
END_TEST

static void count_call(loom_loop *loop, void *data)
{
    (*(int *)data)++;
}

START_TEST(test_from_loop_thread)
{
    loom_loop *loop = host_loop_new();
    int runs = 0;

    ck_assert_int_eq(loom_call_soon_threadsafe(loop, count_call, &runs), 0);
    ck_assert_int_eq(loom_call_soon_threadsafe(loop, fixture_stop, NULL), 0);
    ck_assert_int_eq(runs, 0); /* never synchronously */
    fixture_run(loop, 5000, "thread-safe calls from the loop's thread");
    ck_assert_int_eq(runs, 1);
    fixture_free_loop(loop);
}
END_TEST

typedef struct late_call {
    loom_loop *loop;
    int result;
} late_call;

static void *call_closed_loop(void *data)
{
    late_call *c = data;

    c->result = loom_call_soon_threadsafe(c->loop, count_call, NULL);
    return NULL;
}

START_TEST(test_after_close_is_refused)
{
    late_call c = {host_loop_new(), 0};
    pthread_t thread;

    ck_assert_int_eq(loom_loop_close(c.loop), 0);
    ck_assert_int_eq(loom_call_soon_threadsafe(c.loop, count_call, NULL), -ESHUTDOWN);
    ck_assert_int_eq(pthread_create(&thread, NULL, call_closed_loop, &c), 0);
    ck_assert_int_eq(pthread_join(thread, NULL), 0);
    ck_assert_int_eq(c.result, -ESHUTDOWN);
    loom_loop_unref(c.loop);
}
END_TEST

START_TEST(test_pending_at_close_is_dropped_and_reported)
{
    loom_loop *loop = host_loop_new();
    fixture_errors errors;
    pthread_t thread;
    int runs = 0;

    fixture_capture_errors(loop, &errors);
    ck_assert_int_eq(pthread_create(&thread, NULL, stop_from_thread, loop), 0);
    ck_assert_int_eq(pthread_join(thread, NULL), 0);
    ck_assert_int_eq(loom_call_soon_threadsafe(loop, count_call, &runs), 0);
    ck_assert_int_eq(loom_loop_close(loop), 0);
    ck_assert_int_ge(atomic_load(&errors.count), 1);
    ck_assert_int_eq(runs, 0);
    loom_loop_unref(loop);
}
END_TEST

Suite *threadsafe_suite(void)
{
    Suite *s = suite_create("threadsafe");
    TCase *tc = fixture_tcase(s, "threadsafe");

    tcase_add_test(tc, test_many_threads_exactly_once_in_order);
    tcase_add_test(tc, test_wakes_idle_loop);
    tcase_add_test(tc, test_from_loop_thread);
    tcase_add_test(tc, test_after_close_is_refused);
    tcase_add_test(tc, test_pending_at_close_is_dropped_and_reported);
    return s;
}
