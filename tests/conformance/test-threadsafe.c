/* loom conformance suite — loom_call_soon_threadsafe: exactly once, in order
 * per thread, wakes a sleeping loop, refused once the loop is closed. */
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
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
    long delivered_at_timer, delivered_at_read; /* -1: not yet */
    int pipe[2];
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

static void flood_launch(flood *f)
{
    for (int i = 0; i < FLOOD_THREADS; i++) {
        f->threads[i] = (flood_thread){f, i};
        ck_assert_int_eq(pthread_create(&f->ids[i], NULL, flood_send, &f->threads[i]), 0);
    }
}

/* Started from a callback, so the calls race with the loop taking them. */
static void flood_start(loom_loop *loop, void *data)
{
    flood_launch(data);
}

static void flood_join(flood *f)
{
    for (int i = 0; i < FLOOD_THREADS; i++)
        ck_assert_int_eq(pthread_join(f->ids[i], NULL), 0);
}

/* Every call ran exactly once, in order per thread (the senders joined). */
static void flood_check(flood *f)
{
    ck_assert_int_eq(atomic_load(&f->refused), 0);
    ck_assert_int_eq(f->delivered, (long)FLOOD_THREADS * FLOOD_CALLS);
    for (int i = 0; i < FLOOD_THREADS; i++)
        ck_assert_int_eq(f->next_seq[i], FLOOD_CALLS);
    /* Nothing more arrives: every call ran exactly once. */
    ck_assert_int_eq(loom_loop_run_once(f->loop, false), 0);
    ck_assert_int_eq(f->delivered, (long)FLOOD_THREADS * FLOOD_CALLS);
}

START_TEST(test_many_threads_exactly_once_in_order)
{
    flood f = {.loop = host_loop_new()};

    current_flood = &f;
    atomic_init(&f.refused, 0);
    ck_assert_int_eq(loom_call_soon(f.loop, flood_start, &f, NULL), 0);
    fixture_run(f.loop, 15000, "800000 thread-safe calls");
    flood_join(&f);
    flood_check(&f);
    fixture_free_loop(f.loop);
}
END_TEST

static void flood_read(loom_loop *loop, int fd, unsigned events, void *data)
{
    flood *f = data;
    char c;

    ck_assert_int_eq(read(fd, &c, 1), 1);
    ck_assert_int_eq(loom_remove_reader(loop, fd), 0);
    f->delivered_at_read = f->delivered;
}

/* Makes the fd readable: the reader must run before the flood is over too. */
static void flood_timer(loom_loop *loop, void *data)
{
    flood *f = data;

    f->delivered_at_timer = f->delivered;
    ck_assert_int_eq(write(f->pipe[1], "x", 1), 1);
}

/* A tick takes a bounded batch of thread-safe calls: with the whole flood
 * queued before the loop runs, a timer that is due already and an fd made
 * readable by it still run while most of the flood waits. */
START_TEST(test_flood_does_not_hold_up_timers_and_io)
{
    flood f = {.loop = host_loop_new(), .delivered_at_timer = -1, .delivered_at_read = -1};
    const long total = (long)FLOOD_THREADS * FLOOD_CALLS;

    current_flood = &f;
    atomic_init(&f.refused, 0);
    ck_assert_int_eq(pipe(f.pipe), 0);
    ck_assert_int_eq(loom_add_reader(f.loop, f.pipe[0], flood_read, &f), 0);
    ck_assert_int_eq(loom_call_later(f.loop, 0, flood_timer, &f, NULL), 0);
    flood_launch(&f);
    flood_join(&f); /* all queued before the loop takes any */
    fixture_run(f.loop, 15000, "a timer and a reader during 800000 queued thread-safe calls");
    flood_check(&f);
    ck_assert_msg(f.delivered_at_timer >= 0 && f.delivered_at_timer < total / 8,
                  "the timer ran after %ld of %ld calls", f.delivered_at_timer, total);
    ck_assert_msg(f.delivered_at_read >= 0 && f.delivered_at_read < total / 8,
                  "the reader ran after %ld of %ld calls", f.delivered_at_read, total);
    fixture_free_loop(f.loop);
    close(f.pipe[0]);
    close(f.pipe[1]);
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
    tcase_add_test(tc, test_flood_does_not_hold_up_timers_and_io);
    tcase_add_test(tc, test_wakes_idle_loop);
    tcase_add_test(tc, test_from_loop_thread);
    tcase_add_test(tc, test_after_close_is_refused);
    tcase_add_test(tc, test_pending_at_close_is_dropped_and_reported);
    return s;
}
