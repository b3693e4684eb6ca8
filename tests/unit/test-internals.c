/* Unit tests for the core's internal structures: the timer heap, the ready
 * queue, the call table and the thread-safe inbox. */
#include "config.h"
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include "loop/call-table.h"
#include "loop/inbox.h"
#include "loop/ready-queue.h"
#include "loop/timer-heap.h"

static bool odd_is_live(loom_handle h, void *ctx)
{
    (void)ctx;
    return h % 2 == 1;
}

START_TEST(heap_orders_by_deadline_then_insertion)
{
    struct timer_heap h;
    loom__timer_heap_init(&h);
    srand(42);
    enum { N = 10000 };
    for (loom_handle i = 1; i <= N; i++)
        ck_assert(loom__timer_heap_push(&h, rand() % 100, i));
    int64_t last_when = -1;
    loom_handle last_handle = 0;
    for (int i = 0; i < N; i++) {
        const struct timer_entry *top = timer_heap_top(&h);
        ck_assert_ptr_nonnull(top);
        ck_assert_int_ge(top->when, last_when);
        if (top->when == last_when) /* handles were pushed in increasing order */
            ck_assert_uint_gt(top->handle, last_handle);
        last_when = top->when;
        last_handle = top->handle;
        loom__timer_heap_pop(&h);
    }
    ck_assert_ptr_null(timer_heap_top(&h));
    loom__timer_heap_fini(&h);
}
END_TEST

START_TEST(heap_compact_keeps_live_entries_in_order)
{
    struct timer_heap h;
    loom__timer_heap_init(&h);
    for (loom_handle i = 1; i <= 1000; i++)
        ck_assert(loom__timer_heap_push(&h, (int64_t)(1000 - i), i));
    loom__timer_heap_compact(&h, odd_is_live, NULL);
    ck_assert_uint_eq(h.len, 500);
    int64_t last = -1;
    while (timer_heap_top(&h)) {
        ck_assert_uint_eq(timer_heap_top(&h)->handle % 2, 1);
        ck_assert_int_gt(timer_heap_top(&h)->when, last);
        last = timer_heap_top(&h)->when;
        loom__timer_heap_pop(&h);
    }
    loom__timer_heap_fini(&h);
}
END_TEST

START_TEST(ready_queue_is_fifo_across_growth)
{
    struct ready_queue q;
    loom__ready_queue_init(&q);
    uint64_t next_out = 1;
    /* Interleave pushes and pops so the ring wraps, then grows. */
    for (uint64_t in = 1; in <= 5000; in++) {
        ck_assert(ready_queue_push_call(&q, in));
        if (in % 3 == 0)
            ck_assert_uint_eq(ready_queue_pop(&q).h, next_out++);
    }
    while (!ready_queue_empty(&q))
        ck_assert_uint_eq(ready_queue_pop(&q).h, next_out++);
    ck_assert_uint_eq(next_out, 5001);
    loom__ready_queue_fini(&q);
}
END_TEST

static void nop(loom_loop *loop, void *data)
{
    (void)loop;
    (void)data;
}

START_TEST(call_table_detects_stale_handles)
{
    struct call_table t;
    loom__call_table_init(&t);
    loom_handle a = call_table_alloc(&t, nop, NULL, CALL_READY);
    ck_assert_uint_ne(a, 0);
    ck_assert_ptr_nonnull(call_table_get(&t, a));
    call_table_free(&t, a);
    ck_assert_ptr_null(call_table_get(&t, a));
    /* The slot is reused under a new generation: the old handle stays stale. */
    loom_handle b = call_table_alloc(&t, nop, NULL, CALL_TIMER);
    ck_assert_uint_eq(call_handle_index(a), call_handle_index(b));
    ck_assert_uint_ne(a, b);
    ck_assert_ptr_null(call_table_get(&t, a));
    ck_assert_ptr_nonnull(call_table_get(&t, b));
    ck_assert_ptr_null(call_table_get(&t, 0));
    ck_assert_ptr_null(call_table_get(&t, ((loom_handle)1 << 32) | 100000));
    for (int i = 0; i < 10000; i++) /* growth keeps live slots */
        ck_assert_uint_ne(call_table_alloc(&t, nop, NULL, CALL_READY), 0);
    ck_assert_ptr_nonnull(call_table_get(&t, b));
    ck_assert_uint_eq(t.used, 10001);
    loom__call_table_fini(&t);
}
END_TEST

/* After 2^31 uses of a slot (its generation is set near the end, white-box)
 * a handle from its first use must stay stale: the slot is retired, not
 * wrapped back to the old generations. */
START_TEST(call_table_generation_does_not_wrap)
{
    struct call_table t;
    loom__call_table_init(&t);
    loom_handle first = call_table_alloc(&t, nop, NULL, CALL_READY);
    uint32_t slot = call_handle_index(first);
    call_table_free(&t, first);
    t.slots[slot].gen = CALL_GEN_LAST - 2; /* as if used 2^31 - 4 times more */
    int uses = 0;
    for (int i = 0; i < 8; i++) {
        loom_handle h = call_table_alloc(&t, nop, NULL, CALL_TIMER);
        ck_assert_uint_ne(h, 0);
        ck_assert_uint_ne(h, first);
        ck_assert_uint_eq(h & READY_HANDLE_BIT, 0); /* never taken for a ready-queue handle */
        ck_assert_ptr_null(call_table_get(&t, first));
        ck_assert_ptr_nonnull(call_table_get(&t, h));
        call_table_free(&t, h);
        ck_assert_ptr_null(call_table_get(&t, h));
        uses += call_handle_index(h) == slot;
    }
    ck_assert_int_eq(uses, 3); /* its last three generations, then retired */
    ck_assert_uint_eq(t.used, 0);
    loom__call_table_fini(&t);
}
END_TEST

enum { PRODUCERS = 4, PER_PRODUCER = 50000 };
static struct inbox shared_inbox;

static void *produce(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    for (uintptr_t i = 0; i < PER_PRODUCER; i++)
        ck_assert(loom__inbox_push(&shared_inbox, nop, (void *)(id << 32 | i), NULL, false));
    return NULL;
}

START_TEST(inbox_delivers_everything_in_per_producer_order)
{
    inbox_init(&shared_inbox);
    pthread_t threads[PRODUCERS];
    for (uintptr_t i = 0; i < PRODUCERS; i++)
        pthread_create(&threads[i], NULL, produce, (void *)i);
    uintptr_t next[PRODUCERS] = {0};
    size_t total = 0;
    while (total < PRODUCERS * PER_PRODUCER) {
        /* Cut in odd batches: the backlog keeps order across takes. */
        struct inbox_item *items = loom__inbox_take(&shared_inbox, 97);
        size_t batch = 0;
        for (struct inbox_item *it = items; it; it = it->next, batch++) {
            uintptr_t v = (uintptr_t)it->data, id = v >> 32, seq = v & 0xffffffff;
            ck_assert_uint_lt(id, PRODUCERS);
            ck_assert_uint_eq(seq, next[id]);
            next[id]++;
            total++;
        }
        ck_assert_uint_le(batch, 97);
        loom__inbox_free(items, false);
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(threads[i], NULL);
    ck_assert(inbox_empty(&shared_inbox));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("internals");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, heap_orders_by_deadline_then_insertion);
    tcase_add_test(tc, heap_compact_keeps_live_entries_in_order);
    tcase_add_test(tc, ready_queue_is_fifo_across_growth);
    tcase_add_test(tc, call_table_detects_stale_handles);
    tcase_add_test(tc, call_table_generation_does_not_wrap);
    tcase_add_test(tc, inbox_delivers_everything_in_per_producer_order);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
