/* Conformance: sync primitives (event, lock, semaphore, condition, channel):
 * semantics, FIFO order, cancellation of waiters, and no grant ever lost. */
#include <stdint.h>
#include <check.h>
#include <loom/sync.h>
#include <loom/task.h>
#include "fixture.h"
#include "suites.h"

#define WAIT_MS 2000

static loom_loop *loop;
static fixture_errors errors;

static void setup(void)
{
    loop = host_loop_new();
    fixture_capture_errors(loop, &errors);
}

static void teardown(void)
{
    loom_loop_unref(loop);
    loop = NULL;
}

static loom_future *check_future(loom_future *f)
{
    ck_assert_msg(f != NULL, "no future: %s", loom_strerror(-errno));
    return f;
}

static loom_future_state state(loom_future *f)
{
    return loom_future_state_get(f);
}

/* Completion order, recorded by callbacks. */
static int order[16];
static int n_order;

static void record(loom_future *f, void *data)
{
    ck_assert_int_lt(n_order, 16);
    order[n_order++] = (int)(intptr_t)data;
}

static loom_future *recorded(loom_future *f, int tag)
{
    check_future(f);
    ck_assert_int_eq(loom_future_on_done(f, record, (void *)(intptr_t)tag), 0);
    return f;
}

static void unref_all(loom_future **fs, int n)
{
    for (int i = 0; i < n; i++)
        loom_future_unref(fs[i]);
}

static int destroyed;

static void count_destroy(void *value)
{
    destroyed++;
}

/* --- event ------------------------------------------------------------------ */

START_TEST(test_event_set_wakes_all)
{
    loom_event *ev = loom_event_new(loop);
    ck_assert_ptr_nonnull(ev);
    ck_assert(!loom_event_is_set(ev));

    loom_future *w[3];
    n_order = 0;
    for (int i = 0; i < 3; i++)
        w[i] = recorded(loom_event_wait(ev), i);
    fixture_settle(loop);
    ck_assert_int_eq(n_order, 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(state(w[i]), LOOM_FUTURE_PENDING);

    ck_assert_int_eq(loom_event_set(ev), 0);
    ck_assert(loom_event_is_set(ev));
    fixture_settle(loop);
    ck_assert_int_eq(n_order, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(loom_future_status(w[i]), 0);
        ck_assert_int_eq(order[i], i);
    }

    /* Set: a wait is resolved at once. Cleared: it blocks again. */
    loom_future *now = check_future(loom_event_wait(ev));
    ck_assert_int_eq(state(now), LOOM_FUTURE_RESOLVED);
    ck_assert_int_eq(loom_event_clear(ev), 0);
    loom_future *later = check_future(loom_event_wait(ev));
    ck_assert_int_eq(state(later), LOOM_FUTURE_PENDING);
    ck_assert_int_eq(loom_event_set(ev), 0);
    ck_assert_int_eq(fixture_run_until(loop, later, WAIT_MS, "event"), 0);

    unref_all(w, 3);
    loom_future_unref(now);
    loom_future_unref(later);
    loom_event_unref(ev);
    ck_assert_int_eq(atomic_load(&errors.count), 0);
}
END_TEST

START_TEST(test_event_unref_cancels_waiters)
{
    loom_event *ev = loom_event_new(loop);
    loom_future *w = check_future(loom_event_wait(ev));
    loom_event_unref(ev);
    ck_assert_int_eq(loom_future_status(w), -ECANCELED);
    loom_future_unref(w);
}
END_TEST

/* --- lock ------------------------------------------------------------------- */

START_TEST(test_lock_fifo)
{
    loom_lock *lock = loom_lock_new(loop);
    ck_assert_ptr_nonnull(lock);
    ck_assert_int_eq(loom_lock_release(lock), -EPERM);

    loom_future *f[4];
    n_order = 0;
    for (int i = 0; i < 4; i++)
        f[i] = recorded(loom_lock_acquire(lock), i);
    ck_assert_int_eq(state(f[0]), LOOM_FUTURE_RESOLVED);
    for (int i = 1; i < 4; i++)
        ck_assert_int_eq(state(f[i]), LOOM_FUTURE_PENDING);
    ck_assert(loom_lock_locked(lock));

    /* Each release hands the lock to the next waiter, in order. */
    for (int i = 1; i < 4; i++) {
        ck_assert_int_eq(loom_lock_release(lock), 0);
        ck_assert(loom_lock_locked(lock));
        ck_assert_int_eq(state(f[i]), LOOM_FUTURE_RESOLVED);
        if (i < 3)
            ck_assert_int_eq(state(f[i + 1]), LOOM_FUTURE_PENDING);
    }
    ck_assert_int_eq(loom_lock_release(lock), 0);
    ck_assert(!loom_lock_locked(lock));
    fixture_settle(loop);
    ck_assert_int_eq(n_order, 4);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(order[i], i);
    unref_all(f, 4);
    loom_lock_unref(lock);
}
END_TEST

/* Callback "workers" that each hold the lock across loop ticks: never two at
 * once, and each gets its turn. */
#define WORKERS 5
#define ROUNDS 3

static loom_lock *shared_lock;
static int holders, turns, finished;
static void worker_acquire(intptr_t id);

static void worker_release(loom_loop *l, void *data)
{
    holders--;
    turns++;
    ck_assert_int_eq(loom_lock_release(shared_lock), 0);
    worker_acquire((intptr_t)data); /* queues behind the others */
}

static void worker_holds(loom_future *f, void *data)
{
    ck_assert_int_eq(loom_future_status(f), 0);
    ck_assert_int_eq(holders, 0);
    holders++;
    /* Keep the lock for a tick. */
    ck_assert_int_eq(loom_call_soon(loop, worker_release, data, NULL), 0);
}

static int rounds_left[WORKERS];

static void worker_acquire(intptr_t id)
{
    if (rounds_left[id]-- == 0) {
        if (++finished == WORKERS)
            loom_loop_stop(loop);
        return;
    }
    loom_future *f = check_future(loom_lock_acquire(shared_lock));
    ck_assert_int_eq(loom_future_on_done(f, worker_holds, (void *)id), 0);
    loom_future_unref(f);
}

START_TEST(test_lock_mutual_exclusion)
{
    shared_lock = loom_lock_new(loop);
    holders = turns = finished = 0;
    for (intptr_t i = 0; i < WORKERS; i++) {
        rounds_left[i] = ROUNDS;
        worker_acquire(i);
    }
    fixture_run(loop, WAIT_MS, "lock workers");
    ck_assert_int_eq(turns, WORKERS * ROUNDS);
    ck_assert(!loom_lock_locked(shared_lock));
    loom_lock_unref(shared_lock);
}
END_TEST

/* The asyncio bug class: a waiter cancelled before the release must not take
 * the lock with it; the next waiter gets it. */
START_TEST(test_lock_cancelled_waiter_skipped)
{
    loom_lock *lock = loom_lock_new(loop);
    loom_future *a = check_future(loom_lock_acquire(lock));
    loom_future *b = check_future(loom_lock_acquire(lock));
    loom_future *c = check_future(loom_lock_acquire(lock));

    ck_assert(loom_future_cancel(b));
    ck_assert_int_eq(loom_lock_release(lock), 0);
    ck_assert_int_eq(state(b), LOOM_FUTURE_CANCELLED);
    ck_assert_int_eq(state(c), LOOM_FUTURE_RESOLVED);
    ck_assert(loom_lock_locked(lock));

    /* The only waiter cancelled: the release frees the lock. */
    loom_future *d = check_future(loom_lock_acquire(lock));
    ck_assert(loom_future_cancel(d));
    ck_assert_int_eq(loom_lock_release(lock), 0);
    ck_assert(!loom_lock_locked(lock));

    /* And it can be taken again at once. */
    loom_future *e = check_future(loom_lock_acquire(lock));
    ck_assert_int_eq(state(e), LOOM_FUTURE_RESOLVED);
    ck_assert_int_eq(loom_lock_release(lock), 0);
    fixture_settle(loop);
    loom_future *all[] = {a, b, c, d, e};
    unref_all(all, 5);
    loom_lock_unref(lock);
    ck_assert_int_eq(atomic_load(&errors.count), 0);
}
END_TEST

/* Cancelled at the moment of the grant: the release resolved b (its callback
 * has not run yet) and then b is cancelled. The cancel is refused, b holds
 * the lock, and c gets it once b releases it. */
static loom_lock *grant_lock;

static void release_when_held(loom_future *f, void *data)
{
    if (loom_future_status(f) == 0)
        ck_assert_int_eq(loom_lock_release(grant_lock), 0);
}

START_TEST(test_lock_cancel_at_grant)
{
    grant_lock = loom_lock_new(loop);
    loom_future *a = check_future(loom_lock_acquire(grant_lock));
    loom_future *b = check_future(loom_lock_acquire(grant_lock));
    loom_future *c = check_future(loom_lock_acquire(grant_lock));
    ck_assert_int_eq(loom_future_on_done(b, release_when_held, NULL), 0);

    ck_assert_int_eq(loom_lock_release(grant_lock), 0);
    ck_assert(!loom_future_cancel(b)); /* too late: b was granted */
    ck_assert_int_eq(state(b), LOOM_FUTURE_RESOLVED);
    ck_assert_int_eq(state(c), LOOM_FUTURE_PENDING);

    ck_assert_int_eq(fixture_run_until(loop, c, WAIT_MS, "lock handed on by b"), 0);
    ck_assert(loom_lock_locked(grant_lock));
    ck_assert_int_eq(loom_lock_release(grant_lock), 0);
    ck_assert(!loom_lock_locked(grant_lock));
    loom_future *all[] = {a, b, c};
    unref_all(all, 3);
    loom_lock_unref(grant_lock);
}
END_TEST

/* A waiter given up by a timeout leaves the queue. */
START_TEST(test_lock_timeout)
{
    loom_lock *lock = loom_lock_new(loop);
    loom_future *a = check_future(loom_lock_acquire(lock));
    loom_future *b = check_future(loom_lock_acquire(lock));
    loom_future *t = check_future(loom_future_timeout(b, 1000000));

    ck_assert_int_eq(fixture_run_until(loop, t, WAIT_MS, "timeout"), -ETIMEDOUT);
    ck_assert_int_eq(loom_future_status(b), -ECANCELED);
    ck_assert_int_eq(loom_lock_release(lock), 0);
    ck_assert(!loom_lock_locked(lock));
    fixture_settle(loop);
    loom_future *all[] = {a, b, t};
    unref_all(all, 3);
    loom_lock_unref(lock);
}
END_TEST

START_TEST(test_lock_unref_cancels_waiters)
{
    loom_lock *lock = loom_lock_new(loop);
    loom_future *a = check_future(loom_lock_acquire(lock));
    loom_future *b = check_future(loom_lock_acquire(lock));
    loom_lock_unref(lock);
    ck_assert_int_eq(loom_future_status(a), 0);
    ck_assert_int_eq(loom_future_status(b), -ECANCELED);
    loom_future_unref(a);
    loom_future_unref(b);
}
END_TEST

/* --- semaphore -------------------------------------------------------------- */

START_TEST(test_semaphore_bounded)
{
    errno = 0;
    ck_assert_ptr_null(loom_semaphore_new(loop, 3, 2));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_null(loom_semaphore_new(loop, 0, 0));

    loom_semaphore *sem = loom_semaphore_new(loop, 2, 2);
    ck_assert_ptr_nonnull(sem);
    ck_assert_int_eq(loom_semaphore_release(sem), -EOVERFLOW);

    loom_future *f[5];
    for (int i = 0; i < 5; i++)
        f[i] = check_future(loom_semaphore_acquire(sem));
    ck_assert_int_eq(loom_semaphore_value(sem), 0);
    ck_assert_int_eq(state(f[1]), LOOM_FUTURE_RESOLVED);
    ck_assert_int_eq(state(f[2]), LOOM_FUTURE_PENDING);

    /* A cancelled waiter is skipped; permits go out in FIFO order. */
    ck_assert(loom_future_cancel(f[2]));
    ck_assert_int_eq(loom_semaphore_release(sem), 0);
    ck_assert_int_eq(state(f[3]), LOOM_FUTURE_RESOLVED);
    ck_assert_int_eq(state(f[4]), LOOM_FUTURE_PENDING);
    ck_assert_int_eq(loom_semaphore_release(sem), 0);
    ck_assert_int_eq(state(f[4]), LOOM_FUTURE_RESOLVED);
    ck_assert_int_eq(loom_semaphore_value(sem), 0);

    /* f[3] and f[4] hold the two permits: back to the bound, no further. */
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(loom_semaphore_release(sem), 0);
    ck_assert_int_eq(loom_semaphore_value(sem), 2);
    ck_assert_int_eq(loom_semaphore_release(sem), -EOVERFLOW);
    fixture_settle(loop);
    unref_all(f, 5);
    loom_semaphore_unref(sem);
}
END_TEST

/* --- condition -------------------------------------------------------------- */

START_TEST(test_condition_needs_lock)
{
    loom_condition *cond = loom_condition_new(loop, NULL);
    ck_assert_ptr_nonnull(cond);
    ck_assert_ptr_nonnull(loom_condition_lock(cond));
    errno = 0;
    ck_assert_ptr_null(loom_condition_wait(cond));
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(loom_condition_notify(cond, 1), -EPERM);
    loom_condition_unref(cond);
}
END_TEST

START_TEST(test_condition_wait_notify)
{
    loom_lock *lock = loom_lock_new(loop);
    loom_condition *cond = loom_condition_new(loop, lock);
    loom_future *held = check_future(loom_lock_acquire(lock));

    n_order = 0;
    loom_future *w[3];
    for (int i = 0; i < 3; i++) {
        /* Each waiter releases the lock; the next one takes it. */
        w[i] = recorded(loom_condition_wait(cond), i);
        ck_assert(!loom_lock_locked(lock));
        loom_future_unref(held);
        held = check_future(loom_lock_acquire(lock));
        ck_assert_int_eq(state(held), LOOM_FUTURE_RESOLVED);
    }

    /* Notified, but the notifier still holds the lock. */
    ck_assert_int_eq(loom_condition_notify(cond, 2), 2);
    fixture_settle(loop);
    ck_assert_int_eq(n_order, 0);

    /* Released: the notified waiters get the lock one after the other. */
    ck_assert_int_eq(loom_lock_release(lock), 0);
    ck_assert_int_eq(state(w[0]), LOOM_FUTURE_RESOLVED);
    ck_assert_int_eq(state(w[1]), LOOM_FUTURE_PENDING);
    ck_assert(loom_lock_locked(lock));
    ck_assert_int_eq(loom_lock_release(lock), 0);
    ck_assert_int_eq(state(w[1]), LOOM_FUTURE_RESOLVED);
    ck_assert_int_eq(loom_lock_release(lock), 0);
    ck_assert(!loom_lock_locked(lock));
    ck_assert_int_eq(state(w[2]), LOOM_FUTURE_PENDING); /* never notified */

    loom_future *again = check_future(loom_lock_acquire(lock));
    ck_assert_int_eq(loom_condition_notify_all(cond), 1);
    ck_assert_int_eq(loom_lock_release(lock), 0);
    ck_assert_int_eq(state(w[2]), LOOM_FUTURE_RESOLVED);
    ck_assert_int_eq(loom_lock_release(lock), 0);
    fixture_settle(loop);
    ck_assert_int_eq(n_order, 3);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(order[i], i);

    unref_all(w, 3);
    loom_future_unref(held);
    loom_future_unref(again);
    loom_condition_unref(cond);
    loom_lock_unref(lock);
}
END_TEST

/* A notified waiter cancelled before it got the lock passes its notification
 * on: it is not lost. A waiter cancelled before notification takes none. */
START_TEST(test_condition_cancel_passes_notification)
{
    loom_condition *cond = loom_condition_new(loop, NULL);
    loom_lock *lock = loom_condition_lock(cond);
    loom_future *f[4];

    for (int i = 0; i < 3; i++) {
        f[i] = check_future(loom_lock_acquire(lock));
        ck_assert_int_eq(state(f[i]), LOOM_FUTURE_RESOLVED);
        loom_future_unref(f[i]);
        f[i] = check_future(loom_condition_wait(cond));
    }
    f[3] = check_future(loom_lock_acquire(lock));

    ck_assert_int_eq(loom_condition_notify(cond, 1), 1);
    ck_assert(loom_future_cancel(f[0])); /* notified, waiting for the lock */
    ck_assert(loom_future_cancel(f[1])); /* got f[0]'s notification, cancelled too */
    ck_assert_int_eq(loom_lock_release(lock), 0);
    ck_assert_int_eq(state(f[2]), LOOM_FUTURE_RESOLVED);
    ck_assert(loom_lock_locked(lock));
    ck_assert_int_eq(loom_lock_release(lock), 0);
    ck_assert(!loom_lock_locked(lock));
    fixture_settle(loop);
    unref_all(f, 4);
    loom_condition_unref(cond);
}
END_TEST

START_TEST(test_condition_unref_cancels_waiters)
{
    loom_condition *cond = loom_condition_new(loop, NULL);
    loom_future *held = check_future(loom_lock_acquire(loom_condition_lock(cond)));
    loom_future *w = check_future(loom_condition_wait(cond));
    loom_condition_unref(cond);
    ck_assert_int_eq(loom_future_status(w), -ECANCELED);
    loom_future_unref(w);
    loom_future_unref(held);
}
END_TEST

/* --- channel ---------------------------------------------------------------- */

static intptr_t item_value(loom_future *f)
{
    ck_assert_int_eq(loom_future_status(f), 0);
    return (intptr_t)loom_future_value(f);
}

START_TEST(test_channel_fifo_and_backpressure)
{
    loom_channel *chan = loom_channel_new(loop, 2);
    ck_assert_ptr_nonnull(chan);
    loom_future *s[4];
    for (intptr_t i = 0; i < 4; i++)
        s[i] = check_future(loom_channel_send(chan, (void *)(i + 1), NULL));
    ck_assert_int_eq(state(s[1]), LOOM_FUTURE_RESOLVED);
    ck_assert_int_eq(state(s[2]), LOOM_FUTURE_PENDING);
    ck_assert_int_eq(loom_channel_length(chan), 2);

    /* Each receive takes the oldest item and lets the first sender in. */
    loom_future *r[5];
    for (int i = 0; i < 4; i++) {
        r[i] = check_future(loom_channel_receive(chan));
        ck_assert_int_eq(item_value(r[i]), i + 1);
        if (i < 2)
            ck_assert_int_eq(state(s[i + 2]), LOOM_FUTURE_RESOLVED);
    }
    ck_assert_int_eq(loom_channel_length(chan), 0);

    /* An empty channel: the receiver waits, a send hands the item over. */
    r[4] = check_future(loom_channel_receive(chan));
    ck_assert_int_eq(state(r[4]), LOOM_FUTURE_PENDING);
    loom_future *s5 = check_future(loom_channel_send(chan, (void *)5, NULL));
    ck_assert_int_eq(state(s5), LOOM_FUTURE_RESOLVED);
    ck_assert_int_eq(item_value(r[4]), 5);
    ck_assert_int_eq(loom_channel_length(chan), 0);
    fixture_settle(loop);
    unref_all(s, 4);
    unref_all(r, 5);
    loom_future_unref(s5);
    loom_channel_unref(chan);
}
END_TEST

START_TEST(test_channel_rendezvous)
{
    loom_channel *chan = loom_channel_new(loop, 0);
    loom_future *s = check_future(loom_channel_send(chan, (void *)7, NULL));
    ck_assert_int_eq(state(s), LOOM_FUTURE_PENDING);
    loom_future *r = check_future(loom_channel_receive(chan));
    ck_assert_int_eq(item_value(r), 7);
    ck_assert_int_eq(state(s), LOOM_FUTURE_RESOLVED);
    ck_assert_int_eq(fixture_run_until(loop, s, WAIT_MS, "send"), 0);
    loom_future_unref(s);
    loom_future_unref(r);
    loom_channel_unref(chan);
}
END_TEST

START_TEST(test_channel_close)
{
    loom_channel *chan = loom_channel_new(loop, 2);
    destroyed = 0;
    loom_future *s1 = check_future(loom_channel_send(chan, (void *)1, count_destroy));
    loom_future *s2 = check_future(loom_channel_send(chan, (void *)2, count_destroy));
    loom_future *s3 = check_future(loom_channel_send(chan, (void *)3, count_destroy));
    ck_assert_int_eq(state(s3), LOOM_FUTURE_PENDING);

    ck_assert_int_eq(loom_channel_close(chan), 0);
    ck_assert(loom_channel_closed(chan));
    ck_assert_int_eq(loom_channel_close(chan), -EALREADY);
    /* The pending send fails and its item is destroyed. */
    ck_assert_int_eq(loom_future_status(s3), -EPIPE);
    ck_assert_int_eq(destroyed, 1);
    /* A later send fails too. */
    loom_future *s4 = check_future(loom_channel_send(chan, (void *)4, count_destroy));
    ck_assert_int_eq(loom_future_status(s4), -EPIPE);
    ck_assert_int_eq(destroyed, 2);

    /* Receives drain the buffer, then fail. */
    loom_future *r1 = check_future(loom_channel_receive(chan));
    ck_assert_int_eq(item_value(r1), 1);
    loom_future *r2 = check_future(loom_channel_receive(chan));
    ck_assert_int_eq(item_value(r2), 2);
    loom_future *r3 = check_future(loom_channel_receive(chan));
    ck_assert_int_eq(loom_future_status(r3), -EPIPE);

    /* The received items belong to the futures: freed with them. */
    ck_assert_int_eq(destroyed, 2);
    loom_future *all[] = {s1, s2, s3, s4, r1, r2, r3};
    fixture_settle(loop);
    unref_all(all, 7);
    ck_assert_int_eq(destroyed, 4);
    loom_channel_unref(chan);
    ck_assert_int_eq(atomic_load(&errors.count), 0);
}
END_TEST

START_TEST(test_channel_close_fails_receivers)
{
    loom_channel *chan = loom_channel_new(loop, 1);
    loom_future *r = check_future(loom_channel_receive(chan));
    ck_assert_int_eq(loom_channel_close(chan), 0);
    ck_assert_int_eq(fixture_run_until(loop, r, WAIT_MS, "receive"), -EPIPE);
    loom_future_unref(r);
    loom_channel_unref(chan);
}
END_TEST

START_TEST(test_channel_unref_destroys_items)
{
    loom_channel *chan = loom_channel_new(loop, 3);
    destroyed = 0;
    for (intptr_t i = 0; i < 3; i++)
        loom_future_unref(check_future(loom_channel_send(chan, (void *)i, count_destroy)));
    loom_future *blocked = check_future(loom_channel_send(chan, NULL, count_destroy));
    loom_channel_unref(chan);
    ck_assert_int_eq(loom_future_status(blocked), -ECANCELED);
    ck_assert_int_eq(destroyed, 4);
    loom_future_unref(blocked);
}
END_TEST

/* Receivers: a cancelled one is skipped; one cancelled after the grant keeps
 * the item in its future (destroyed with it, never lost in between). */
START_TEST(test_channel_cancelled_receivers)
{
    loom_channel *chan = loom_channel_new(loop, 1);
    destroyed = 0;
    loom_future *r1 = check_future(loom_channel_receive(chan));
    loom_future *r2 = check_future(loom_channel_receive(chan));
    ck_assert(loom_future_cancel(r1));

    loom_future *s = check_future(loom_channel_send(chan, (void *)9, count_destroy));
    ck_assert_int_eq(item_value(r2), 9);
    ck_assert(!loom_future_cancel(r2));
    ck_assert_int_eq(item_value(r2), 9);

    /* A cancelled send withdraws (and destroys) its item. */
    loom_future *s2 = check_future(loom_channel_send(chan, (void *)10, count_destroy));
    loom_future *s3 = check_future(loom_channel_send(chan, (void *)11, count_destroy));
    ck_assert_int_eq(state(s2), LOOM_FUTURE_RESOLVED);
    ck_assert(loom_future_cancel(s3));
    ck_assert_int_eq(destroyed, 1);
    loom_future *r3 = check_future(loom_channel_receive(chan));
    ck_assert_int_eq(item_value(r3), 10);
    ck_assert_int_eq(loom_channel_length(chan), 0);

    fixture_settle(loop);
    loom_future *all[] = {r1, r2, r3, s, s2, s3};
    unref_all(all, 6);
    ck_assert_int_eq(destroyed, 3);
    loom_channel_unref(chan);
}
END_TEST

/* --- tasks ------------------------------------------------------------------ */

/* A task taking the lock the documented way: it decides by the acquire
 * future, not by loom_await's result. */
static loom_lock *task_lock;
static int await_result[3];
static bool held_lock[3];

static int lock_user(void *arg)
{
    intptr_t id = (intptr_t)arg;
    loom_future *f = check_future(loom_lock_acquire(task_lock));

    await_result[id] = loom_await(f);
    held_lock[id] = loom_future_status(f) == 0;
    loom_future_unref(f);
    if (held_lock[id])
        ck_assert_int_eq(loom_lock_release(task_lock), 0);
    return 0;
}

/* Spawns tasks 1 and 2 while the test holds the lock, and lets them queue. */
static void spawn_lock_users(loom_future **t1, loom_future **t2)
{
    task_lock = loom_lock_new(loop);
    loom_future_unref(check_future(loom_lock_acquire(task_lock)));
    for (int i = 0; i < 3; i++) {
        await_result[i] = 1;
        held_lock[i] = false;
    }
    *t1 = check_future(loom_task_spawn(loop, lock_user, (void *)1));
    *t2 = check_future(loom_task_spawn(loop, lock_user, (void *)2));
    fixture_settle(loop);
    fixture_settle(loop);
    ck_assert_int_eq(await_result[1], 1); /* both suspended in loom_await */
    ck_assert_int_eq(await_result[2], 1);
}

/* Task 1 is cancelled right after the release handed it the lock, before it
 * resumed: its await still reports the grant (the cancellation waits for its
 * next await point), it releases the lock, and task 2 gets it. */
START_TEST(test_task_cancelled_at_grant)
{
    loom_future *t1, *t2;
    spawn_lock_users(&t1, &t2);

    ck_assert_int_eq(loom_lock_release(task_lock), 0);
    ck_assert(loom_future_cancel(t1));
    ck_assert_int_eq(fixture_run_until(loop, t2, WAIT_MS, "task 2"), 0);
    ck_assert_int_eq(await_result[1], 0);
    ck_assert(held_lock[1]);
    ck_assert_int_eq(await_result[2], 0);
    ck_assert(held_lock[2]);
    ck_assert(!loom_lock_locked(task_lock));
    loom_future_unref(t1);
    loom_future_unref(t2);
    loom_lock_unref(task_lock);
}
END_TEST

/* Task 1 is cancelled while it waits: its acquire is withdrawn, and the
 * release goes to task 2. */
START_TEST(test_task_cancelled_waiting)
{
    loom_future *t1, *t2;
    spawn_lock_users(&t1, &t2);

    ck_assert(loom_future_cancel(t1));
    ck_assert_int_eq(loom_lock_release(task_lock), 0);
    ck_assert_int_eq(fixture_run_until(loop, t2, WAIT_MS, "task 2"), 0);
    ck_assert_int_eq(await_result[1], -ECANCELED);
    ck_assert(!held_lock[1]);
    ck_assert(held_lock[2]);
    ck_assert(!loom_lock_locked(task_lock));
    fixture_settle(loop);
    loom_future_unref(t1);
    loom_future_unref(t2);
    loom_lock_unref(task_lock);
}
END_TEST

/* Producer and consumer tasks over a rendezvous channel. */
#define ITEMS 20

static loom_channel *pipe_chan;
static intptr_t consumed[ITEMS];
static int n_consumed;

static int producer(void *arg)
{
    for (intptr_t i = 0; i < ITEMS; i++) {
        loom_future *f = check_future(loom_channel_send(pipe_chan, (void *)i, NULL));
        int r = loom_await(f);
        loom_future_unref(f);
        if (r < 0)
            return r;
    }
    return loom_channel_close(pipe_chan);
}

static int consumer(void *arg)
{
    for (;;) {
        loom_future *f = check_future(loom_channel_receive(pipe_chan));
        int r = loom_await(f);
        if (r == 0)
            consumed[n_consumed++] = (intptr_t)loom_future_value(f);
        loom_future_unref(f);
        if (r < 0)
            return r == -EPIPE ? 0 : r;
    }
}

START_TEST(test_task_channel)
{
    pipe_chan = loom_channel_new(loop, 0);
    n_consumed = 0;
    loom_future *c = check_future(loom_task_spawn(loop, consumer, NULL));
    loom_future *p = check_future(loom_task_spawn(loop, producer, NULL));
    ck_assert_int_eq(fixture_run_until(loop, c, WAIT_MS, "consumer"), 0);
    ck_assert_int_eq(fixture_run_until(loop, p, WAIT_MS, "producer"), 0);
    ck_assert_int_eq(n_consumed, ITEMS);
    for (int i = 0; i < ITEMS; i++)
        ck_assert_int_eq(consumed[i], i);
    loom_future_unref(c);
    loom_future_unref(p);
    loom_channel_unref(pipe_chan);
}
END_TEST

/* A task whose cancellation is already pending acquires something that is
 * granted at once: loom_await returns the grant (so the `if (r == 0)
 * release` pattern releases it) and -ECANCELED comes at the next await. */
static loom_semaphore *pending_sem;
static loom_channel *pending_chan;
static int pending_await, pending_next;
static intptr_t pending_item;

static loom_future *acquire_lock(void)
{
    return loom_lock_acquire(task_lock);
}

static loom_future *acquire_permit(void)
{
    return loom_semaphore_acquire(pending_sem);
}

static loom_future *receive_item(void)
{
    return loom_channel_receive(pending_chan);
}

static int acquire_cancelled(void *arg)
{
    loom_future *(*acquire)(void) = (loom_future * (*)(void)) arg;
    ck_assert(loom_future_cancel(loom_task_current()));
    loom_future *f = check_future(acquire());
    ck_assert_int_eq(state(f), LOOM_FUTURE_RESOLVED); /* granted at once */
    pending_await = loom_await(f);
    if (pending_await == 0) {
        pending_item = (intptr_t)loom_future_value(f);
        if (acquire == acquire_lock)
            loom_lock_release(task_lock);
        else if (acquire == acquire_permit)
            loom_semaphore_release(pending_sem);
    }
    loom_future_unref(f);
    pending_next = loom_yield();
    return 0;
}

static void run_acquire_cancelled(loom_future *(*acquire)(void))
{
    pending_await = pending_next = 1;
    pending_item = 0;
    loom_future *t = check_future(loom_task_spawn(loop, acquire_cancelled, (void *)acquire));
    ck_assert_int_eq(fixture_run_until(loop, t, WAIT_MS, "task"), -ECANCELED);
    ck_assert_int_eq(pending_await, 0);
    ck_assert_int_eq(pending_next, -ECANCELED);
    loom_future_unref(t);
}

START_TEST(test_cancel_pending_keeps_granted_lock)
{
    task_lock = loom_lock_new(loop);
    run_acquire_cancelled(acquire_lock);
    ck_assert(!loom_lock_locked(task_lock));
    loom_future *again = check_future(loom_lock_acquire(task_lock));
    ck_assert_int_eq(state(again), LOOM_FUTURE_RESOLVED); /* not deadlocked */
    loom_future_unref(again);
    loom_lock_release(task_lock);
    loom_lock_unref(task_lock);
}
END_TEST

START_TEST(test_cancel_pending_keeps_granted_permit)
{
    pending_sem = loom_semaphore_new(loop, 1, 1);
    run_acquire_cancelled(acquire_permit);
    ck_assert_int_eq(loom_semaphore_value(pending_sem), 1);
    loom_semaphore_unref(pending_sem);
}
END_TEST

START_TEST(test_cancel_pending_keeps_received_item)
{
    pending_chan = loom_channel_new(loop, 1);
    loom_future *sent = check_future(loom_channel_send(pending_chan, (void *)7, NULL));
    run_acquire_cancelled(receive_item);
    ck_assert_int_eq(pending_item, 7);
    ck_assert_int_eq(loom_channel_length(pending_chan), 0);
    loom_future_unref(sent);
    loom_channel_unref(pending_chan);
}
END_TEST

/* A task waiting for a permit is cancelled right after the release granted
 * it, before it resumed: it keeps the permit and gives it back. */
static int permit_user(void *arg)
{
    loom_future *f = check_future(loom_semaphore_acquire(pending_sem));
    pending_await = loom_await(f);
    if (loom_future_status(f) == 0)
        loom_semaphore_release(pending_sem);
    loom_future_unref(f);
    return 0;
}

START_TEST(test_semaphore_cancel_at_grant)
{
    pending_sem = loom_semaphore_new(loop, 0, 1);
    pending_await = 1;
    loom_future *t = check_future(loom_task_spawn(loop, permit_user, NULL));
    fixture_settle(loop);
    ck_assert_int_eq(pending_await, 1); /* suspended */
    ck_assert_int_eq(loom_semaphore_release(pending_sem), 0);
    ck_assert(loom_future_cancel(t));
    fixture_settle(loop);
    fixture_settle(loop);
    ck_assert_int_eq(pending_await, 0);
    ck_assert_int_eq(loom_semaphore_value(pending_sem), 1);
    loom_future_unref(t);
    loom_semaphore_unref(pending_sem);
}
END_TEST

/* --- a closed loop ------------------------------------------------------------- */

START_TEST(test_closed_loop)
{
    loom_lock *lock = loom_lock_new(loop);
    loom_future *held = check_future(loom_lock_acquire(lock));
    ck_assert_int_eq(loom_loop_close(loop), 0);
    errno = 0;
    ck_assert_ptr_null(loom_lock_acquire(lock));
    ck_assert_int_eq(errno, ESHUTDOWN);
    ck_assert_int_eq(loom_lock_release(lock), -ESHUTDOWN);
    errno = 0;
    ck_assert_ptr_null(loom_event_new(loop));
    ck_assert_int_eq(errno, ESHUTDOWN);
    loom_future_unref(held);
    loom_lock_unref(lock);
}
END_TEST

Suite *sync_suite(void)
{
    Suite *s = suite_create("sync");
    TCase *tc = fixture_tcase(s, "sync");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_event_set_wakes_all);
    tcase_add_test(tc, test_event_unref_cancels_waiters);
    tcase_add_test(tc, test_lock_fifo);
    tcase_add_test(tc, test_lock_mutual_exclusion);
    tcase_add_test(tc, test_lock_cancelled_waiter_skipped);
    tcase_add_test(tc, test_lock_cancel_at_grant);
    tcase_add_test(tc, test_lock_timeout);
    tcase_add_test(tc, test_lock_unref_cancels_waiters);
    tcase_add_test(tc, test_semaphore_bounded);
    tcase_add_test(tc, test_condition_needs_lock);
    tcase_add_test(tc, test_condition_wait_notify);
    tcase_add_test(tc, test_condition_cancel_passes_notification);
    tcase_add_test(tc, test_condition_unref_cancels_waiters);
    tcase_add_test(tc, test_channel_fifo_and_backpressure);
    tcase_add_test(tc, test_channel_rendezvous);
    tcase_add_test(tc, test_channel_close);
    tcase_add_test(tc, test_channel_close_fails_receivers);
    tcase_add_test(tc, test_channel_unref_destroys_items);
    tcase_add_test(tc, test_channel_cancelled_receivers);
    tcase_add_test(tc, test_task_cancelled_at_grant);
    tcase_add_test(tc, test_task_cancelled_waiting);
    tcase_add_test(tc, test_task_channel);
    tcase_add_test(tc, test_cancel_pending_keeps_granted_lock);
    tcase_add_test(tc, test_cancel_pending_keeps_granted_permit);
    tcase_add_test(tc, test_cancel_pending_keeps_received_item);
    tcase_add_test(tc, test_semaphore_cancel_at_grant);
    tcase_add_test(tc, test_closed_loop);
    return s;
}
