/* loom conformance suite — hooks (before and after polling, at close),
 * per-loop data, callback data owned by the loop (the *_full calls), and the
 * time units. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <loom/io.h>
#include <loom/task.h>
#include "fixture.h"
#include "suites.h"

/* A log of single letters, in the order things happened. */
typedef struct trace {
    char s[512];
    int n;
} trace;

static void trace_put(trace *t, char c)
{
    ck_assert_int_lt(t->n, (int)sizeof(t->s) - 1);
    t->s[t->n++] = c;
    t->s[t->n] = 0;
}

typedef struct mark {
    trace *t;
    char c;
} mark;

static void put_mark(loom_loop *loop, void *data)
{
    mark *m = data;
    trace_put(m->t, m->c);
}

/* As a destroy function: logs the mark in upper case. */
static void put_destroyed(void *data)
{
    mark *m = data;
    trace_put(m->t, (char)(m->c - 'a' + 'A'));
}

static int count_char(const trace *t, char c)
{
    int n = 0;
    for (int i = 0; i < t->n; i++)
        n += t->s[i] == c;
    return n;
}

/* --- the *_full calls --------------------------------------------------------- */

START_TEST(test_call_soon_full_destroys_after_run)
{
    loom_loop *loop = host_loop_new();
    trace t = {0};
    mark a = {&t, 'a'};
    ck_assert_int_eq(loom_call_soon_full(loop, put_mark, &a, put_destroyed, NULL), 0);
    ck_assert_int_eq(t.n, 0);
    fixture_settle(loop);
    ck_assert_str_eq(t.s, "aA");
    fixture_free_loop(loop);
    ck_assert_str_eq(t.s, "aA"); /* exactly once */
}
END_TEST

START_TEST(test_call_full_destroys_on_cancel)
{
    loom_loop *loop = host_loop_new();
    trace t = {0};
    mark a = {&t, 'a'}, b = {&t, 'b'};
    loom_handle ha, hb;
    ck_assert_int_eq(loom_call_later_full(loop, LOOM_SEC(60), put_mark, &a, put_destroyed, &ha), 0);
    ck_assert_int_eq(loom_call_soon_full(loop, put_mark, &b, put_destroyed, &hb), 0);
    ck_assert_int_eq(loom_cancel(loop, ha), 0);
    ck_assert_str_eq(t.s, "A");
    ck_assert_int_eq(loom_cancel(loop, hb), 0);
    ck_assert_str_eq(t.s, "AB");
    ck_assert_int_eq(loom_cancel(loop, ha), -ENOENT);
    fixture_settle(loop);
    fixture_free_loop(loop);
    ck_assert_str_eq(t.s, "AB");
}
END_TEST

START_TEST(test_call_full_destroys_at_close)
{
    loom_loop *loop = host_loop_new();
    fixture_errors errors;
    fixture_capture_errors(loop, &errors);
    trace t = {0};
    mark a = {&t, 'a'}, b = {&t, 'b'}, c = {&t, 'c'};
    ck_assert_int_eq(loom_call_soon_full(loop, put_mark, &a, put_destroyed, NULL), 0);
    ck_assert_int_eq(loom_call_at_full(loop, loom_loop_now(loop) + LOOM_SEC(60), put_mark, &b, put_destroyed,
                                       NULL),
                     0);
    ck_assert_int_eq(loom_call_soon_threadsafe_full(loop, put_mark, &c, put_destroyed), 0);
    ck_assert_uint_eq(loom_loop_dropped_calls(loop), 0);
    ck_assert_int_eq(loom_loop_close(loop), 0);
    ck_assert_int_eq(t.n, 3);
    ck_assert_int_eq(count_char(&t, 'A') + count_char(&t, 'B') + count_char(&t, 'C'), 3);
    ck_assert_uint_eq(loom_loop_dropped_calls(loop), 3);
    ck_assert_int_eq(atomic_load(&errors.count), 1); /* the drop is reported */
    ck_assert_int_eq(loom_call_soon_full(loop, put_mark, &a, put_destroyed, NULL), -ESHUTDOWN);
    ck_assert_int_eq(t.n, 3); /* a refused call leaves data with the caller */
    loom_loop_unref(loop);
}
END_TEST

typedef struct from_thread {
    loom_loop *loop;
    pthread_t loop_thread;
    atomic_int ran, destroyed_on_loop_thread;
} from_thread;

static void note_ran(loom_loop *loop, void *data)
{
    from_thread *ft = data;
    atomic_fetch_add(&ft->ran, 1);
}

static void note_destroyed(void *data)
{
    from_thread *ft = data;
    ck_assert_int_eq(atomic_load(&ft->ran), 1); /* after the callback */
    atomic_fetch_add(&ft->destroyed_on_loop_thread, pthread_equal(pthread_self(), ft->loop_thread) ? 1 : 100);
    loom_loop_stop(ft->loop);
}

static void *push_full(void *data)
{
    from_thread *ft = data;
    ck_assert_int_eq(loom_call_soon_threadsafe_full(ft->loop, note_ran, ft, note_destroyed), 0);
    return NULL;
}

START_TEST(test_threadsafe_full_destroys_on_loop_thread)
{
    loom_loop *loop = host_loop_new();
    from_thread ft = {.loop = loop, .loop_thread = pthread_self()};
    pthread_t thread;
    ck_assert_int_eq(pthread_create(&thread, NULL, push_full, &ft), 0);
    fixture_run(loop, 5000, "thread-safe call with destroy");
    pthread_join(thread, NULL);
    ck_assert_int_eq(atomic_load(&ft.ran), 1);
    ck_assert_int_eq(atomic_load(&ft.destroyed_on_loop_thread), 1);
    fixture_free_loop(loop);
}
END_TEST

static void mark_future_done(loom_future *future, void *data)
{
    put_mark(NULL, data);
}

START_TEST(test_future_on_done_full)
{
    loom_loop *loop = host_loop_new();
    trace t = {0};
    mark a = {&t, 'a'}, b = {&t, 'b'}, c = {&t, 'c'};
    loom_future *done = loom_future_new(loop), *pending = loom_future_new(loop);
    ck_assert_int_eq(loom_future_on_done_full(done, mark_future_done, &a, put_destroyed), 0);
    ck_assert_int_eq(loom_future_resolve_int(done, 1), 0);
    ck_assert_int_eq(loom_future_on_done_full(done, mark_future_done, &b, put_destroyed), 0); /* already done */
    ck_assert_int_eq(loom_future_on_done_full(pending, mark_future_done, &c, put_destroyed), 0);
    ck_assert_int_eq(loom_future_on_done_full(pending, NULL, &c, put_destroyed), -EINVAL);
    ck_assert_int_eq(t.n, 0);
    fixture_settle(loop);
    ck_assert_str_eq(t.s, "aAbB");
    /* The loop closes before pending completes: its callback never runs. */
    ck_assert_int_eq(loom_loop_close(loop), 0);
    ck_assert_str_eq(t.s, "aAbBC");
    loom_future_unref(done);
    loom_future_unref(pending);
    loom_loop_unref(loop);
    ck_assert_str_eq(t.s, "aAbBC");
}
END_TEST

/* --- before- and after-poll hooks ------------------------------------------- */

START_TEST(test_hooks_frame_each_tick)
{
    loom_loop *loop = host_loop_new();
    trace t = {0};
    mark before = {&t, 'b'}, after = {&t, 'a'}, cb = {&t, 'x'};
    ck_assert_int_eq(loom_hook_add(loop, LOOM_HOOK_BEFORE_POLL, put_mark, &before, NULL, NULL), 0);
    ck_assert_int_eq(loom_hook_add(loop, LOOM_HOOK_AFTER_POLL, put_mark, &after, NULL, NULL), 0);
    ck_assert_int_eq(loom_call_soon(loop, put_mark, &cb, NULL), 0);
    fixture_settle(loop);
    /* The tick that ran the callback began with the after-poll hook and
     * ended with the before-poll one. */
    const char *x = strchr(t.s, 'x');
    ck_assert_ptr_nonnull(x);
    ck_assert_msg(x > t.s && x[-1] == 'a' && x[1] == 'b', "trace %s", t.s);
    /* One of each per tick; a run also begins with the before-poll hooks
     * (loop.h), so there may be more of those, never two ticks unframed. */
    for (const char *p = strchr(t.s, 'a'); p; p = strchr(p + 1, 'a')) {
        const char *next_a = strchr(p + 1, 'a'), *next_b = strchr(p + 1, 'b');
        ck_assert_msg(next_b && (!next_a || next_b < next_a), "trace %s", t.s);
    }
    ck_assert_int_ge(count_char(&t, 'b'), count_char(&t, 'a'));
    fixture_free_loop(loop);
}
END_TEST

typedef struct late_work {
    loom_loop *loop;
    int rounds;
} late_work;

/* A before-poll hook that schedules work once: the loop must run it without
 * blocking first (what a GLib context pump relies on). */
static void schedule_stop_once(loom_loop *loop, void *data)
{
    late_work *w = data;
    if (w->rounds++ == 0)
        ck_assert_int_eq(loom_call_soon(loop, fixture_stop, NULL, NULL), 0);
}

START_TEST(test_before_poll_work_runs_without_blocking)
{
    loom_loop *loop = host_loop_new();
    late_work w = {loop, 0};
    trace t = {0};
    mark m = {&t, 'x'};
    ck_assert_int_eq(loom_hook_add(loop, LOOM_HOOK_BEFORE_POLL, schedule_stop_once, &w, NULL, NULL), 0);
    /* Nothing else is scheduled but the watchdog (seconds away). */
    ck_assert_int_eq(loom_call_soon(loop, put_mark, &m, NULL), 0);
    int64_t start = fixture_now();
    fixture_run(loop, 5000, "work scheduled by a before-poll hook");
    ck_assert_int_ge(w.rounds, 1);
    ck_assert_int_lt(fixture_now() - start, LOOM_SEC(4)); /* not woken by the watchdog */
    fixture_free_loop(loop);
}
END_TEST

typedef struct remover {
    loom_handle self, other;
    trace *t;
} remover;

static void remove_both(loom_loop *loop, void *data)
{
    remover *r = data;
    trace_put(r->t, 'r');
    ck_assert_int_eq(loom_hook_remove(loop, r->self), 0);
    ck_assert_int_eq(loom_hook_remove(loop, r->other), 0);
    ck_assert_int_eq(loom_hook_remove(loop, r->other), -ENOENT);
    ck_assert_int_eq(r->t->n, 1); /* destroys wait until the hooks finished */
}

static void remover_destroyed(void *data)
{
    remover *r = data;
    trace_put(r->t, 'R');
}

START_TEST(test_hook_removes_itself_and_another)
{
    loom_loop *loop = host_loop_new();
    trace t = {0};
    remover r = {.t = &t};
    mark other = {&t, 'o'};
    ck_assert_int_eq(loom_hook_add(loop, LOOM_HOOK_BEFORE_POLL, remove_both, &r, remover_destroyed, &r.self), 0);
    ck_assert_int_eq(loom_hook_add(loop, LOOM_HOOK_BEFORE_POLL, put_mark, &other, put_destroyed, &r.other), 0);
    ck_assert_uint_ne(r.self, r.other);
    fixture_settle(loop);
    fixture_settle(loop);
    ck_assert_int_eq(count_char(&t, 'r'), 1);
    ck_assert_int_eq(count_char(&t, 'o'), 0); /* removed before its turn */
    ck_assert_int_eq(count_char(&t, 'R'), 1);
    ck_assert_int_eq(count_char(&t, 'O'), 1);
    fixture_free_loop(loop);
    ck_assert_int_eq(t.n, 3);
}
END_TEST

START_TEST(test_hook_bad_arguments)
{
    loom_loop *loop = host_loop_new();
    ck_assert_int_eq(loom_hook_add(loop, LOOM_HOOK_BEFORE_POLL, NULL, NULL, NULL, NULL), -EINVAL);
    ck_assert_int_eq(loom_hook_add(loop, (loom_hook_kind)7, put_mark, NULL, NULL, NULL), -EINVAL);
    ck_assert_int_eq(loom_hook_add(NULL, LOOM_HOOK_BEFORE_POLL, put_mark, NULL, NULL, NULL), -EINVAL);
    ck_assert_int_eq(loom_hook_remove(loop, 0), -ENOENT);
    ck_assert_int_eq(loom_hook_remove(loop, 12345), -ENOENT);
    fixture_free_loop(loop);
}
END_TEST

/* --- close hooks --------------------------------------------------------------- */

typedef struct closing {
    trace *t;
    char c;
    int fd;          /* a watched fd the hook removes, or -1 */
    mark scheduled;  /* what it schedules on the closing loop */
} closing;

static void on_close(loom_loop *loop, void *data)
{
    closing *c = data;
    trace_put(c->t, c->c);
    /* Still open: the hook may clean up through the API. */
    if (c->fd >= 0)
        ck_assert_int_eq(loom_remove_reader(loop, c->fd), 0);
    ck_assert_int_eq(loom_call_soon_full(loop, put_mark, &c->scheduled, put_destroyed, NULL), 0);
    ck_assert_int_eq(loom_loop_close(loop), -EALREADY);
    /* A reference taken and dropped here must not close the loop again. */
    loom_loop_unref(loom_loop_ref(loop));
}

static void closing_destroyed(void *data)
{
    closing *c = data;
    trace_put(c->t, (char)(c->c - 'a' + 'A'));
}

static void never_read(loom_loop *loop, int fd, unsigned events, void *data)
{
}

static void check_close_hooks(bool by_unref)
{
    loom_loop *loop = host_loop_new();
    fixture_errors errors;
    fixture_capture_errors(loop, &errors);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(loom_add_reader(loop, p[0], never_read, NULL), 0);
    trace t = {0};
    closing first = {&t, 'f', p[0], {&t, 'x'}}, second = {&t, 's', -1, {&t, 'y'}};
    ck_assert_int_eq(loom_hook_add(loop, LOOM_HOOK_CLOSE, on_close, &first, closing_destroyed, NULL), 0);
    ck_assert_int_eq(loom_hook_add(loop, LOOM_HOOK_CLOSE, on_close, &second, closing_destroyed, NULL), 0);
    if (by_unref) {
        loom_loop_unref(loop);
    } else {
        ck_assert_int_eq(loom_loop_close(loop), 0);
        ck_assert_uint_eq(loom_loop_dropped_calls(loop), 2);
        loom_loop_unref(loop);
    }
    /* Newest first, then destroyed; the calls they scheduled were dropped
     * with their destroy, and never ran. */
    ck_assert_int_eq(t.n, 6);
    ck_assert_msg(strncmp(t.s, "sf", 2) == 0, "trace %s", t.s);
    ck_assert_int_eq(count_char(&t, 'S') + count_char(&t, 'F'), 2);
    ck_assert_int_eq(count_char(&t, 'X') + count_char(&t, 'Y'), 2);
    /* The reader was removed by the hook: only the dropped calls are reported. */
    ck_assert_int_eq(atomic_load(&errors.count), 1);
    close(p[0]);
    close(p[1]);
}

START_TEST(test_close_hooks_run_newest_first_on_open_loop)
{
    check_close_hooks(false);
}
END_TEST

START_TEST(test_close_hooks_run_on_last_unref)
{
    check_close_hooks(true);
}
END_TEST

START_TEST(test_close_hook_removed_never_runs)
{
    loom_loop *loop = host_loop_new();
    trace t = {0};
    closing c = {&t, 'f', -1, {&t, 'x'}};
    loom_handle h;
    ck_assert_int_eq(loom_hook_add(loop, LOOM_HOOK_CLOSE, on_close, &c, closing_destroyed, &h), 0);
    ck_assert_int_eq(loom_hook_remove(loop, h), 0);
    ck_assert_str_eq(t.s, "F");
    fixture_free_loop(loop);
    ck_assert_str_eq(t.s, "F");
}
END_TEST

static void drop_users_reference(loom_loop *loop, void *data)
{
    ++*(int *)data;
    loom_loop_unref(loop); /* the caller's only reference: close frees the loop when done */
}

START_TEST(test_close_hook_drops_last_reference)
{
    loom_loop *loop = host_loop_new();
    int ran = 0;
    ck_assert_int_eq(loom_hook_add(loop, LOOM_HOOK_CLOSE, drop_users_reference, &ran, NULL, NULL), 0);
    /* Neither a use after free nor a leak (ASan and Valgrind check it). */
    ck_assert_int_eq(loom_loop_close(loop), 0);
    ck_assert_int_eq(ran, 1);
}
END_TEST

/* --- per-loop data ------------------------------------------------------------- */

static int key_a, key_b; /* the keys are addresses */

typedef struct datum_probe {
    loom_loop *loop;
    trace *t;
    bool seen_in_close_hook;
} datum_probe;

static void data_still_there(loom_loop *loop, void *data)
{
    datum_probe *p = data;
    p->seen_in_close_hook = loom_loop_get_data(loop, &key_a) != NULL;
}

static void *get_from_thread(void *loop)
{
    return loom_loop_get_data(loop, &key_a);
}

START_TEST(test_loop_data)
{
    loom_loop *loop = host_loop_new();
    trace t = {0};
    mark one = {&t, 'o'}, two = {&t, 't'}, three = {&t, 'h'};
    ck_assert_ptr_null(loom_loop_get_data(loop, &key_a));
    ck_assert_int_eq(loom_loop_set_data(loop, NULL, &one, NULL), -EINVAL);
    ck_assert_int_eq(loom_loop_set_data(loop, &key_a, &one, put_destroyed), 0);
    ck_assert_int_eq(loom_loop_set_data(loop, &key_b, &two, put_destroyed), 0);
    ck_assert_ptr_eq(loom_loop_get_data(loop, &key_a), &one);
    ck_assert_ptr_eq(loom_loop_get_data(loop, &key_b), &two);
    /* Setting the same value again does not destroy it. */
    ck_assert_int_eq(loom_loop_set_data(loop, &key_a, &one, put_destroyed), 0);
    ck_assert_int_eq(t.n, 0);
    /* Replacing destroys the old value; NULL removes. */
    ck_assert_int_eq(loom_loop_set_data(loop, &key_a, &three, put_destroyed), 0);
    ck_assert_str_eq(t.s, "O");
    ck_assert_int_eq(loom_loop_set_data(loop, &key_b, NULL, NULL), 0);
    ck_assert_str_eq(t.s, "OT");
    ck_assert_ptr_null(loom_loop_get_data(loop, &key_b));
    /* Only the owner thread sees it. */
    pthread_t thread;
    void *seen = &one;
    pthread_create(&thread, NULL, get_from_thread, loop);
    pthread_join(thread, &seen);
    ck_assert_ptr_null(seen);
    /* Destroyed at close, after the close hooks, which can still read it. */
    datum_probe probe = {loop, &t, false};
    ck_assert_int_eq(loom_hook_add(loop, LOOM_HOOK_CLOSE, data_still_there, &probe, NULL, NULL), 0);
    ck_assert_int_eq(loom_loop_close(loop), 0);
    ck_assert(probe.seen_in_close_hook);
    ck_assert_str_eq(t.s, "OTH");
    ck_assert_ptr_null(loom_loop_get_data(loop, &key_a));
    ck_assert_int_eq(loom_loop_set_data(loop, &key_a, &one, NULL), -ESHUTDOWN);
    loom_loop_unref(loop);
}
END_TEST

START_TEST(test_time_units)
{
    ck_assert(LOOM_MSEC(3000) == INT64_C(3000000000));
    ck_assert(LOOM_USEC(5) == 5000);
    ck_assert(LOOM_SEC(30 * 86400) == INT64_C(2592000000000000));
    ck_assert(LOOM_MSEC(1) == LOOM_USEC(1000));
}
END_TEST

/* --- loom_loop_dump ----------------------------------------------------------- */

static int await_arg(void *future)
{
    return loom_await(future);
}

static void never_runs(loom_loop *loop, void *data)
{
    ck_abort_msg("dumped callback ran");
}

START_TEST(test_dump_lists_what_the_loop_holds)
{
    loom_loop *loop = host_loop_new();
    loom_future *awaited = loom_future_new(loop);
    ck_assert_int_eq(loom_future_set_name(awaited, "reply"), 0);
    loom_future *task = loom_task_spawn(loop, await_arg, awaited);
    ck_assert_int_eq(loom_future_set_name(task, "fetcher"), 0);
    fixture_settle(loop); /* the task starts and awaits */
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(loom_add_reader(loop, p[0], never_read, NULL), 0);
    loom_future *writable = loom_fd_wait(loop, p[0], LOOM_WRITE); /* rides on the reader */
    ck_assert_ptr_nonnull(writable);
    loom_handle soon, later, hook;
    ck_assert_int_eq(loom_call_soon(loop, never_runs, &key_a, &soon), 0);
    ck_assert_int_eq(loom_call_later(loop, LOOM_SEC(60), never_runs, &key_b, &later), 0);
    ck_assert_int_eq(loom_hook_add(loop, LOOM_HOOK_BEFORE_POLL, never_runs, NULL, NULL, &hook), 0);
    ck_assert_int_eq(loom_loop_set_data(loop, &key_a, &key_b, NULL), 0);

    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(loom_loop_dump(loop, out), 0);
    fclose(out);
    char expect[128];
    snprintf(expect, sizeof(expect), "ready: %p(data %p)", (void *)never_runs, (void *)&key_a);
    ck_assert_msg(strstr(text, expect), "no \"%s\" in:\n%s", expect, text);
    ck_assert_msg(strstr(text, "timer in 59") || strstr(text, "timer in 60"), "%s", text);
    snprintf(expect, sizeof(expect), "fd %d: read", p[0]);
    ck_assert_msg(strstr(text, expect), "no \"%s\" in:\n%s", expect, text);
    ck_assert_msg(strstr(text, " tap WRITE by "), "no fd_wait tap in:\n%s", text);
    ck_assert_msg(strstr(text, "hook before-poll: "), "%s", text);
    snprintf(expect, sizeof(expect), "data %p: %p", (void *)&key_a, (void *)&key_b);
    ck_assert_msg(strstr(text, expect), "no \"%s\" in:\n%s", expect, text);
    ck_assert_msg(strstr(text, loom_loop_backend_name(loop)), "%s", text);
    snprintf(expect, sizeof(expect), "task fetcher %p: suspended, awaiting future reply %p", (void *)task,
             (void *)awaited);
    ck_assert_msg(strstr(text, expect), "no \"%s\" in:\n%s", expect, text);
    free(text);

    ck_assert_int_eq(loom_loop_dump(loop, NULL), -EINVAL);

    ck_assert_int_eq(loom_cancel(loop, soon), 0);
    ck_assert_int_eq(loom_cancel(loop, later), 0);
    ck_assert_int_eq(loom_hook_remove(loop, hook), 0);
    ck_assert(loom_future_cancel(writable));
    loom_future_unref(writable);
    ck_assert_int_eq(loom_remove_reader(loop, p[0]), 0);
    loom_future_resolve_int(awaited, 1);
    ck_assert_int_eq(fixture_run_until(loop, task, 5000, "the dumped task"), 0);
    loom_future_unref(task);
    loom_future_unref(awaited);
    close(p[0]);
    close(p[1]);
    fixture_free_loop(loop);
}
END_TEST

Suite *hooks_suite(void)
{
    Suite *s = suite_create("hooks");
    TCase *tc = fixture_tcase(s, "full");
    tcase_add_test(tc, test_call_soon_full_destroys_after_run);
    tcase_add_test(tc, test_call_full_destroys_on_cancel);
    tcase_add_test(tc, test_call_full_destroys_at_close);
    tcase_add_test(tc, test_threadsafe_full_destroys_on_loop_thread);
    tcase_add_test(tc, test_future_on_done_full);
    tc = fixture_tcase(s, "poll-hooks");
    tcase_add_test(tc, test_hooks_frame_each_tick);
    tcase_add_test(tc, test_before_poll_work_runs_without_blocking);
    tcase_add_test(tc, test_hook_removes_itself_and_another);
    tcase_add_test(tc, test_hook_bad_arguments);
    tc = fixture_tcase(s, "close-hooks");
    tcase_add_test(tc, test_close_hooks_run_newest_first_on_open_loop);
    tcase_add_test(tc, test_close_hooks_run_on_last_unref);
    tcase_add_test(tc, test_close_hook_removed_never_runs);
    tcase_add_test(tc, test_close_hook_drops_last_reference);
    tc = fixture_tcase(s, "data");
    tcase_add_test(tc, test_loop_data);
    tcase_add_test(tc, test_time_units);
    tcase_add_test(tc, test_dump_lists_what_the_loop_holds);
    return s;
}
