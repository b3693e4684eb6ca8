/* The loop: life cycle, scheduling, the tick, running. */
#include "config.h"
#include <sched.h>
#include <stdlib.h>
#include "base/clock.h"
#include "loop-private.h"

__thread uintptr_t loom__loop_thread_id;
static __thread char loop_thread_tag; /* its address is the thread's first id */

/* Forks seen by this process (in the child, each bumps it). */
static atomic_uint loop_forks;

static void loop_atfork_child(void)
{
    atomic_fetch_add(&loop_forks, 1);
    /* An id the parent's loops cannot have: inside this thread's own TLS
     * block, so no other thread of the child names itself so. */
    if (loom__loop_thread_id)
        loom__loop_thread_id = (uintptr_t)&loop_thread_tag + atomic_load(&loop_forks);
}

static void loop_watch_forks(void)
{
    pthread_atfork(NULL, NULL, loop_atfork_child);
}

bool loom__loop_inherited(const loom_loop *loop)
{
    return loop->forks != atomic_load_explicit(&loop_forks, memory_order_relaxed);
}

int loom__loop_check_failed(loom_loop *loop, const char *func)
{
    if (!loop)
        return -EINVAL;
    if (atomic_load_explicit(&loop->closed, memory_order_relaxed))
        return -ESHUTDOWN;
    if (loom__loop_inherited(loop))
        return -ECHILD; /* no report: the error handler is the parent's code */
    loom_loop_report(loop, -EXDEV, "%s called from a thread that does not own the loop", func);
    return -EXDEV;
}

/* --- life cycle ------------------------------------------------------------ */

static void reap_orphans(loom_loop *loop, bool last, bool reap);

int loom_loop_new_with_backend(loom_loop **loopp, const loom_backend_ops *ops, void *self)
{
    if (!loopp || !ops || !ops->watch_add || !ops->watch_set || !ops->watch_del || !ops->set_deadline ||
        !ops->destroy) {
        if (ops && ops->destroy)
            ops->destroy(self);
        return -EINVAL;
    }
    loom_loop *loop = calloc(1, sizeof(*loop));
    if (!loop) {
        ops->destroy(self);
        return -ENOMEM;
    }
    atomic_init(&loop->refs, 1);
    atomic_init(&loop->holds, HOLDS_BIAS);
    atomic_init(&loop->orphans, NULL);
    atomic_init(&loop->closed, false);
    atomic_init(&loop->wake_pending, false);
    atomic_init(&loop->producers, 0);
    static pthread_once_t forks_once = PTHREAD_ONCE_INIT;
    pthread_once(&forks_once, loop_watch_forks);
    if (!loom__loop_thread_id)
        loom__loop_thread_id = (uintptr_t)&loop_thread_tag;
    loop->owner = loom__loop_thread_id;
    loop->forks = atomic_load(&loop_forks);
    loop->ops = ops;
    loop->backend = self;
    loom__call_table_init(&loop->calls);
    loom__ready_queue_init(&loop->ready);
    loom__timer_heap_init(&loop->timers);
    inbox_init(&loop->inbox);
    loop->wake_fds[0] = loop->wake_fds[1] = -1;
    loom__fd_table_open(loop);
    loop->armed = LOOM_DEADLINE_NONE;

    if (!ops->wakeup) {
        int r = loom__wake_open(loop->wake_fds);
        if (r == 0)
            r = ops->watch_add(self, loop->wake_fds[0], WAKE_TOKEN, LOOM_READ, &loop->wake_watch);
        if (r < 0) {
            if (loop->wake_fds[0] >= 0)
                loom__wake_close(loop->wake_fds);
            loom__fd_table_close(loop);
            ops->destroy(self);
            free(loop);
            return r;
        }
    }
    *loopp = loop;
    return 0;
}

const char *loom_loop_backend_name(const loom_loop *loop)
{
    return loop ? loop->ops->name : NULL;
}

bool loom_loop_can_nest(const loom_loop *loop)
{
    return loop && (loop->ops->caps & LOOM_BACKEND_CAN_NEST);
}

void *loom_loop_backend_self(const loom_loop *loop, const loom_backend_ops *ops)
{
    return loop && loop->ops == ops && !atomic_load(&loop->closed) ? loop->backend : NULL;
}

loom_loop *loom_loop_ref(loom_loop *loop)
{
    if (loop)
        atomic_fetch_add_explicit(&loop->refs, 1, memory_order_relaxed);
    return loop;
}

/* Drops everything scheduled; returns how many callbacks were pending. */
static size_t drop_scheduled(loom_loop *loop)
{
    size_t pending = loop->calls.used + loom__ready_queue_live(&loop->ready) +
                     loom__inbox_free(loom__inbox_take(&loop->inbox, SIZE_MAX), true);
    loom__call_table_drop_all(&loop->calls);
    loom__ready_queue_drop_all(&loop->ready);
    loom__timer_heap_fini(&loop->timers);
    return pending;
}

/* Shuts the members down phase by phase; each shutdown unlinks its member. */
static void members_shutdown(loom_loop *loop)
{
    for (int phase = 0; phase < LOOP_PHASES; phase++) {
        struct list_node *n;
        while ((n = loop->members[phase].first)) {
            struct loop_member *m = list_item(n, struct loop_member, node);
            m->ops->shutdown(m);
        }
    }
}

/* While it runs, loop->closing is set: an unref that drops the last user
 * reference meanwhile (from a hook or a task) leaves the freeing to it. */
static void close_now(loom_loop *loop)
{
    loop->closing = true;
    loom__hooks_close(loop);
    atomic_store(&loop->closed, true);
    /* A producer that got past the closed check finishes its push first. */
    while (atomic_load(&loop->producers) > 0)
        sched_yield();

    members_shutdown(loop);
    size_t watches = loop->watches;
    size_t pending = drop_scheduled(loop);
    loom__fd_table_close(loop);
    if (loop->wake_watch)
        loop->ops->watch_del(loop->backend, loop->wake_watch, loop->wake_fds[0]);
    if (loop->wake_fds[0] >= 0)
        loom__wake_close(loop->wake_fds);
    if (loop->armed != LOOM_DEADLINE_NONE)
        loop->ops->set_deadline(loop->backend, LOOM_DEADLINE_NONE);
    loop->ops->destroy(loop->backend);
    loop->backend = NULL;
    loom__hooks_fini(loop);
    loop->dropped = pending;
    if (pending || watches)
        loom_loop_report(loop, -EBUSY,
                         "loop closed with %zu callbacks or timers and %zu fd watches pending; they were dropped",
                         pending, watches);
    reap_orphans(loop, true, true); /* after the dropped calls, which may have used them */
    loop_holds_merge(loop);
    loop->closing = false;
    if (atomic_load(&loop->refs) == 0)
        loom__loop_release(loop); /* a hook or a task dropped the last user reference */
}

/* A forked child's copy of a loop shares the parent's epoll set, eventfd and
 * host sources: closing it frees the core's memory and nothing else, and runs
 * no callback, hook, task or destroy function (they are the parent's). */
static void close_inherited(loom_loop *loop)
{
    atomic_store(&loop->closed, true);
    reap_orphans(loop, true, false); /* the parent's are left, as its other objects */
    loop_holds_merge(loop);          /* the parent's count, as it was at the fork */
    loom__inbox_free(loom__inbox_take(&loop->inbox, SIZE_MAX), false);
    loom__call_table_fini(&loop->calls);
    loom__ready_queue_fini(&loop->ready);
    loom__timer_heap_fini(&loop->timers);
    free(loop->fds);
    loop->fds = NULL;
    loop->fds_size = 0; /* a member's later loom__fd_unwatch finds no entry */
    free(loop->hooks.v);
    free(loop->data);
    loop->hooks = (struct hook_list){0};
    loop->data = NULL;
    loop->n_data = 0;
}

int loom_loop_close(loom_loop *loop)
{
    if (!loop)
        return -EINVAL;
    if (atomic_load(&loop->closed) || loop->closing)
        return -EALREADY;
    if (loom__loop_inherited(loop)) {
        close_inherited(loop);
        return 0;
    }
    if (!loop_on_owner_thread(loop))
        return loom__loop_check_failed(loop, __func__);
    if (loop->frame || loop->depth)
        return -EBUSY;
    close_now(loop);
    return 0;
}

static void unref_on_owner(loom_loop *loop, void *data)
{
    loom_loop_unref(loop);
}

static void unref_dropped(void *loop)
{
    loom_loop_unref(loop); /* inside close: its caller holds another reference */
}

void loom_loop_unref(loom_loop *loop)
{
    if (!loop)
        return;
    /* Closing touches the backend, which belongs to the loop's thread: the
     * last reference of an open loop, dropped elsewhere, is handed to that
     * thread. Compare-and-swap, so the count never passes through zero while
     * another thread may take a reference. */
    int n = atomic_load(&loop->refs);
    for (;;) {
        if (n == 1 && !atomic_load(&loop->closed) && !loop->closing && !loom__loop_inherited(loop)) {
            if (!loop_on_owner_thread(loop)) {
                if (loom__loop_call_soon_threadsafe_owned(loop, unref_on_owner, loop, unref_dropped) == 0)
                    return;
            } else if (loop->frame || loop->depth) {
                /* Freeing it would pull the loop from under its own stack. */
                loom_loop_report(loop, -EBUSY, "last reference to a running loop dropped; loop leaked");
                return;
            } else {
                close_now(loop); /* holding this last reference */
                n = atomic_load(&loop->refs);
                continue;
            }
        }
        if (atomic_compare_exchange_weak(&loop->refs, &n, n - 1))
            break;
    }
    if (n != 1 || loop->closing)
        return; /* a close in progress frees it when done */
    if (!atomic_load(&loop->closed)) {
        if (!loom__loop_inherited(loop)) {
            close_now(loop); /* the hand-off failed: close here; it frees the loop */
            return;
        }
        close_inherited(loop);
    }
    loom__loop_release(loop); /* the users' hold */
}

/* --- scheduling ------------------------------------------------------------ */

static bool timer_is_live(loom_handle h, void *loop)
{
    return call_table_get(&((loom_loop *)loop)->calls, h) != NULL;
}

/* Gives the backend the earliest deadline, if it changed. */
void loom__loop_arm(loom_loop *loop)
{
    int64_t when = LOOM_DEADLINE_NONE;
    if (!ready_queue_empty(&loop->ready) || inbox_has_backlog(&loop->inbox)) {
        when = 0;
    } else {
        const struct timer_entry *top;
        while ((top = timer_heap_top(&loop->timers)) && !call_table_get(&loop->calls, top->handle)) {
            loom__timer_heap_pop(&loop->timers); /* cancelled: drop it now */
            loop->timers.stale--;
        }
        if (top)
            when = top->when;
    }
    if (when != loop->armed) {
        loop->armed = when;
        loop->ops->set_deadline(loop->backend, when);
    }
}

static inline void schedule_wake(loom_loop *loop)
{
    if (!loop->dispatching && loop->armed != 0)
        loom__loop_arm(loop);
}

/* A call in the ready ring itself (no call-table slot), or 0 when out of memory. */
static inline loom_handle schedule_ready(loom_loop *loop, loom_callback cb, void *data, void (*drop)(void *data))
{
    return loop_schedule_owned(loop, cb, data, drop) ? ready_queue_last_handle(&loop->ready) : 0;
}

/* A call whose destroy runs after it too: it lives in the call table, which
 * keeps the flag. 0 when out of memory. */
static loom_handle schedule_ready_always(loom_loop *loop, loom_callback cb, void *data, void (*destroy)(void *data))
{
    loom_handle h = call_table_alloc(&loop->calls, cb, data, CALL_READY);
    if (!h)
        return 0;
    if (!ready_queue_push_call(&loop->ready, h)) {
        call_table_free(&loop->calls, h);
        return 0;
    }
    struct call *c = call_table_get(&loop->calls, h);
    c->drop = destroy;
    c->always = true;
    schedule_wake(loop);
    return h;
}

int loom_call_soon(loom_loop *loop, loom_callback cb, void *data, loom_handle *handlep)
{
    LOOP_CHECK(loop);
    if (!cb)
        return -EINVAL;
    loom_handle h = schedule_ready(loop, cb, data, NULL);
    if (!h)
        return -ENOMEM;
    if (handlep)
        *handlep = h;
    return 0;
}

/* Gives a new timer its public destroy function. */
static void call_set_destroy(loom_loop *loop, loom_handle h, loom_destroy_fn destroy)
{
    struct call *c = call_table_get(&loop->calls, h);
    c->drop = destroy;
    c->always = true;
}

int loom_call_soon_full(loom_loop *loop, loom_callback cb, void *data, loom_destroy_fn destroy,
                        loom_handle *handlep)
{
    LOOP_CHECK(loop);
    if (!cb)
        return -EINVAL;
    loom_handle h = destroy ? schedule_ready_always(loop, cb, data, destroy) : schedule_ready(loop, cb, data, NULL);
    if (!h)
        return -ENOMEM;
    if (handlep)
        *handlep = h;
    return 0;
}

int loom__loop_call_soon_owned(loom_loop *loop, loom_callback cb, void *data, void (*drop)(void *data))
{
    LOOP_CHECK(loop);
    return schedule_ready(loop, cb, data, drop) ? 0 : -ENOMEM;
}

/* loom_call_at and its siblings; func names the caller's public call in
 * reports. */
static int timer_add(loom_loop *loop, const char *func, int64_t when_ns, loom_callback cb, void *data,
                     loom_destroy_fn destroy, loom_handle *handlep)
{
    int r = loop_check(loop, func);
    if (r < 0)
        return r;
    if (!cb || when_ns == LOOM_DEADLINE_NONE)
        return -EINVAL;
    if (when_ns < 0)
        when_ns = 0; /* the past is "as soon as possible"; keeps arithmetic on deadlines safe */
    loom_handle h = call_table_alloc(&loop->calls, cb, data, CALL_TIMER);
    if (!h)
        return -ENOMEM;
    if (!loom__timer_heap_push(&loop->timers, when_ns, h)) {
        call_table_free(&loop->calls, h);
        return -ENOMEM;
    }
    if (destroy)
        call_set_destroy(loop, h, destroy);
    if (!loop->dispatching && when_ns < loop->armed)
        loom__loop_arm(loop);
    if (handlep)
        *handlep = h;
    return 0;
}

int loom_call_at(loom_loop *loop, int64_t when_ns, loom_callback cb, void *data, loom_handle *handlep)
{
    return timer_add(loop, __func__, when_ns, cb, data, NULL, handlep);
}

int loom_call_at_full(loom_loop *loop, int64_t when_ns, loom_callback cb, void *data, loom_destroy_fn destroy,
                      loom_handle *handlep)
{
    return timer_add(loop, __func__, when_ns, cb, data, destroy, handlep);
}

/* The deadline delay_ns from now, or -EINVAL. */
static int64_t deadline_after(int64_t delay_ns)
{
    if (delay_ns < 0)
        delay_ns = 0;
    if (delay_ns > LOOM_DEADLINE_NONE / 2)
        return -EINVAL; /* more than 146 years: a unit mistake */
    return clock_now_ns() + delay_ns;
}

int loom_call_later(loom_loop *loop, int64_t delay_ns, loom_callback cb, void *data, loom_handle *handlep)
{
    int64_t when = deadline_after(delay_ns);
    return when < 0 ? (int)when : timer_add(loop, __func__, when, cb, data, NULL, handlep);
}

int loom_call_later_full(loom_loop *loop, int64_t delay_ns, loom_callback cb, void *data,
                         loom_destroy_fn destroy, loom_handle *handlep)
{
    int64_t when = deadline_after(delay_ns);
    return when < 0 ? (int)when : timer_add(loop, __func__, when, cb, data, destroy, handlep);
}

/* Cancels a call that lives in the ready ring. */
static int cancel_ready(loom_loop *loop, loom_handle handle)
{
    struct ready_entry *e = ready_queue_find(&loop->ready, handle);
    if (!e)
        return -ENOENT;
    void (*drop)(void *) = e->drop;
    void *data = e->data;
    *e = (struct ready_entry){0}; /* the tick skips it */
    if (drop)
        drop(data); /* last: it may schedule or cancel */
    return 0;
}

int loom_cancel(loom_loop *loop, loom_handle handle)
{
    LOOP_CHECK(loop);
    if (handle & READY_HANDLE_BIT)
        return cancel_ready(loop, handle);
    struct call *c = call_table_get(&loop->calls, handle);
    if (!c)
        return -ENOENT;
    bool was_timer = c->place == CALL_TIMER;
    void (*drop)(void *) = c->drop;
    void *data = c->data;
    call_table_free(&loop->calls, handle);
    if (was_timer && ++loop->timers.stale == loop->timers.len) {
        /* The last live timer went: disarm now rather than wake for nothing.
         * Otherwise an early armed deadline costs at most one spare tick. */
        loom__timer_heap_compact(&loop->timers, timer_is_live, loop);
        if (!loop->dispatching)
            loom__loop_arm(loop);
    }
    if (drop)
        drop(data); /* last: it may schedule or cancel */
    return 0;
}

static int push_threadsafe(loom_loop *loop, loom_callback cb, void *data, void (*drop)(void *data), bool always);

int loom_call_soon_threadsafe(loom_loop *loop, loom_callback cb, void *data)
{
    return push_threadsafe(loop, cb, data, NULL, false);
}

int loom_call_soon_threadsafe_full(loom_loop *loop, loom_callback cb, void *data, loom_destroy_fn destroy)
{
    return push_threadsafe(loop, cb, data, destroy, true);
}

int loom__loop_call_soon_threadsafe_owned(loom_loop *loop, loom_callback cb, void *data, void (*drop)(void *data))
{
    return push_threadsafe(loop, cb, data, drop, false);
}

/* From another thread, between raising producers and the closed check:
 * the next tick takes what was pushed. */
static void wake_from_elsewhere(loom_loop *loop)
{
    if (atomic_exchange(&loop->wake_pending, true))
        return;
    if (loop->ops->wakeup)
        loop->ops->wakeup(loop->backend);
    else
        loom__wake_signal(loop->wake_fds);
}

static int push_threadsafe(loom_loop *loop, loom_callback cb, void *data, void (*drop)(void *data), bool always)
{
    if (!loop || !cb)
        return -EINVAL;
    if (loom__loop_inherited(loop))
        return -ECHILD; /* its wakeup would reach the parent */
    atomic_fetch_add(&loop->producers, 1);
    int r = 0;
    if (atomic_load(&loop->closed))
        r = -ESHUTDOWN;
    else if (!loom__inbox_push(&loop->inbox, cb, data, drop, always))
        r = -ENOMEM;
    else
        wake_from_elsewhere(loop);
    atomic_fetch_sub(&loop->producers, 1);
    return r;
}

/* --- orphans ---------------------------------------------------------------- */

/* The list's head once the loop closed: nothing is pushed any more. */
static struct loop_orphan loop_orphans_closed;

bool loom__loop_orphan(loom_loop *loop, struct loop_orphan *o)
{
    if (loom__loop_inherited(loop))
        return false;
    /* Once o is pushed, its reap may release the last hold on the loop. */
    loom__loop_hold(loop);
    bool pushed = false;
    /* Acquire: seeing the closed head, the caller sees what the close did. */
    struct loop_orphan *head = atomic_load_explicit(&loop->orphans, memory_order_acquire);
    while (head != &loop_orphans_closed) {
        o->next = head;
        /* seq_cst, as the tick's clearing of wake_pending before it looks. */
        if (atomic_compare_exchange_weak_explicit(&loop->orphans, &head, o, memory_order_seq_cst,
                                                  memory_order_acquire)) {
            pushed = true;
            break;
        }
    }
    if (pushed && !head) { /* the first since the last reap: the tick must come */
        atomic_fetch_add(&loop->producers, 1);
        if (!atomic_load(&loop->closed))
            wake_from_elsewhere(loop);
        atomic_fetch_sub(&loop->producers, 1);
    }
    loom__loop_release(loop);
    return pushed;
}

/* Reaps what was handed over; with last (at close), nothing is pushed after
 * and none is reaped: in a forked child the reaps would run the parent's
 * destroy functions. */
static void reap_orphans(loom_loop *loop, bool last, bool reap)
{
    struct loop_orphan *o = atomic_exchange_explicit(&loop->orphans, last ? &loop_orphans_closed : NULL,
                                                     memory_order_acq_rel);
    while (reap && o && o != &loop_orphans_closed) {
        struct loop_orphan *next = o->next;
        o->reap(o);
        o = next;
    }
}

/* --- the tick -------------------------------------------------------------- */

/* Thread-safe calls a tick takes at most: a flood from other threads must
 * not hold up I/O and timers, which the next poll and tick serve first. */
enum { INBOX_BATCH = 1024 };

/* Out of line, as move_timers: the tick, which runs after every callback
 * chain, then needs fewer registers saved. */
static __attribute__((noinline)) void take_threadsafe_calls_now(loom_loop *loop)
{
    /* Clear first: a push after the take raises it again and wakes us. */
    atomic_store(&loop->wake_pending, false);
    if (atomic_load(&loop->orphans)) /* seq_cst: after the store above, as a pusher's wake */
        reap_orphans(loop, false, true);
    struct inbox_item *items = loom__inbox_take(&loop->inbox, INBOX_BATCH);
    for (struct inbox_item *i = items; i; i = i->next) {
        loom_handle h = i->always && i->drop ? schedule_ready_always(loop, i->cb, i->data, i->drop)
                                             : schedule_ready(loop, i->cb, i->data, i->drop);
        if (h) {
            i->drop = NULL; /* the call owns the data now */
        } else {
            loom_loop_report(loop, -ENOMEM, "out of memory: a thread-safe call was dropped");
        }
    }
    loom__inbox_free(items, true);
}

static inline void take_threadsafe_calls(loom_loop *loop)
{
    if (atomic_load_explicit(&loop->wake_pending, memory_order_relaxed) || !inbox_empty(&loop->inbox))
        take_threadsafe_calls_now(loop);
}

static __attribute__((noinline)) void move_timers(loom_loop *loop)
{
    struct timer_heap *t = &loop->timers;
    int64_t now = clock_now_ns();
    const struct timer_entry *top;
    while ((top = timer_heap_top(t)) && top->when <= now) {
        loom_handle h = top->handle;
        loom__timer_heap_pop(t);
        struct call *c = call_table_get(&loop->calls, h);
        if (!c) {
            t->stale--;
            continue;
        }
        c->place = CALL_READY;
        if (!ready_queue_push_call(&loop->ready, h)) {
            loom_loop_report(loop, -ENOMEM, "out of memory: a due timer was dropped");
            call_table_free(&loop->calls, h);
        }
    }
}

static inline void move_due_timers(loom_loop *loop)
{
    if (loop->timers.len)
        move_timers(loop);
}

/* Takes the call-table call h names into e (and its destroy, if it runs
 * after it); false if it was cancelled. */
static bool take_table_call(loom_loop *loop, loom_handle h, struct ready_entry *e, void (**destroy)(void *))
{
    struct call *c = h ? call_table_get(&loop->calls, h) : NULL;
    if (!c)
        return false;
    e->cb = c->cb;
    e->data = c->data;
    *destroy = c->always ? c->drop : NULL;
    call_table_free(&loop->calls, h);
    return true;
}

/* Runs the ready callbacks before position end, with dispatching set; a
 * nested tick may run part of them, so positions are compared, not counted. */
static inline __attribute__((always_inline)) void run_ready_until(loom_loop *loop, uint64_t end)
{
    while ((int64_t)(end - loop->ready.head) > 0) { /* (close is refused inside a tick) */
        struct ready_entry e = ready_queue_pop(&loop->ready);
        void (*destroy)(void *) = NULL;
        if (!e.cb && !take_table_call(loop, e.h, &e, &destroy))
            continue; /* cancelled */
        e.cb(loop, e.data);
        if (destroy)
            destroy(e.data);
        loop->dispatching = true; /* a nested tick cleared it */
    }
}

enum { COMPLETION_ROUNDS = 4 };

void loom__loop_run_completion(loom_loop *loop, uint64_t mark)
{
    if (loop->ready.head != mark || ready_queue_empty(&loop->ready) || loop->hooks.live[LOOM_HOOK_AFTER_POLL] ||
        atomic_load_explicit(&loop->closed, memory_order_relaxed))
        return;
    bool was = loop->dispatching;
    loop->depth++;
    loop->dispatching = true;
    for (int i = 0; i < COMPLETION_ROUNDS && !ready_queue_empty(&loop->ready); i++)
        run_ready_until(loop, loop->ready.tail);
    loop->dispatching = was;
    loop->depth--;
    loom__loop_arm(loop); /* the completion's wakeup, if all of it ran */
}

/* Nothing to run and no deadline armed: the tick after I/O alone would
 * only find that out again (and leave the backend's deadline as it is). */
static inline bool tick_is_idle(loom_loop *loop)
{
    return loop->armed == LOOM_DEADLINE_NONE && ready_queue_empty(&loop->ready) && !loop->timers.len &&
           !loop->hooks.live[LOOM_HOOK_AFTER_POLL] && !loop->hooks.live[LOOM_HOOK_BEFORE_POLL] &&
           !atomic_load_explicit(&loop->wake_pending, memory_order_relaxed) && inbox_empty(&loop->inbox);
}

/* On an open loop. polled: (loom_backend_tick) the backend waited, so a deadline it had may have fired and be
 * consumed; else (loom__loop_run between polls) it still has loop->armed. */
static void tick_open(loom_loop *loop, bool polled)
{
    loop->ticks++;
    loop->depth++;
    loop->dispatching = true;
    if (polled)
        loop->armed = DEADLINE_UNKNOWN;
    hooks_run(loop, LOOM_HOOK_AFTER_POLL);
    take_threadsafe_calls(loop);
    move_due_timers(loop);
    /* A callback may run a nested host loop: it must find the rest of this
     * batch due at once, or it would sleep on it. */
    if (!ready_queue_empty(&loop->ready) && loop->armed != 0) {
        loop->armed = 0;
        loop->ops->set_deadline(loop->backend, 0);
    }

    /* Run what was ready when the tick began. */
    run_ready_until(loop, loop->ready.tail);
    hooks_run(loop, LOOM_HOOK_BEFORE_POLL);
    loop->dispatching = false;
    loop->depth--;
    /* Cancelled timers are purged here, once they outnumber live ones. */
    struct timer_heap *t = &loop->timers;
    if (t->stale > 64 && t->stale > t->len / 2)
        loom__timer_heap_compact(t, timer_is_live, loop);
    if (ready_queue_empty(&loop->ready) || loop->armed != 0)
        loom__loop_arm(loop); /* else armed "at once" already, as it must be */
}

static void tick(loom_loop *loop, bool polled)
{
    if (!atomic_load_explicit(&loop->closed, memory_order_relaxed))
        tick_open(loop, polled);
}

/* The batches a one-fd host's dispatch takes from the core's epoll set while
 * they come full, each followed by its tick as on the built-in loop: the
 * host's iteration (prepare, poll, check) is paid once for all of them, and
 * the host's other sources wait at most this many batches. */
enum { FD_SET_ROUNDS = 4 };

void loom_backend_tick(loom_loop *loop)
{
    if (loom__loop_inherited(loop))
        return; /* a forked child's copy: what it would run is the parent's */
    for (int round = 1;; round++) {
        /* Checked here, before tick's frame is set up: most ticks after I/O. */
        if (tick_is_idle(loop) && !atomic_load_explicit(&loop->closed, memory_order_relaxed))
            loop->ticks++;
        else
            tick(loop, round == 1); /* later rounds: the backend has not waited */
        if (!loop->fd_set_full)
            return;
        if (round == FD_SET_ROUNDS) {
            loop->fd_set_full = false; /* the host's next iteration takes the rest */
            return;
        }
        loom__fd_set_next(loop);
    }
}

bool loom_backend_inherited(const loom_loop *loop)
{
    return loop && loom__loop_inherited(loop);
}

int64_t loom_backend_deadline(const loom_loop *loop)
{
    if (loom__loop_inherited(loop))
        return LOOM_DEADLINE_NONE; /* a forked child's copy runs nothing */
    return loop->armed == DEADLINE_UNKNOWN ? 0 : loop->armed;
}

/* --- running --------------------------------------------------------------- */

static int check_can_iterate(loom_loop *loop)
{
    if (!loop->ops->iterate)
        return -ENOTSUP;
    if ((loop->frame || loop->depth) && !(loop->ops->caps & LOOM_BACKEND_CAN_NEST)) {
        loom_loop_report(loop, -EDEADLK, "the %s loop cannot be run from inside one of its callbacks",
                         loop->ops->name);
        return -EDEADLK;
    }
    return 0;
}

enum { POLL_EVERY = 32 };

/* Work made outside any callback since the last tick (a GLib source attached
 * in main between two runs, which only a guest's before-poll hook finds)
 * must not wait behind a run's first blocking poll: the before-poll hooks
 * run first, as at a tick's end, and what they queue keeps the poll from
 * blocking. */
static void hooks_before_wait(loom_loop *loop)
{
    if (!loop->hooks.live[LOOM_HOOK_BEFORE_POLL] || atomic_load_explicit(&loop->closed, memory_order_relaxed))
        return;
    loop->depth++;
    loop->dispatching = true;
    hooks_run(loop, LOOM_HOOK_BEFORE_POLL);
    loop->dispatching = false;
    loop->depth--;
    if (ready_queue_empty(&loop->ready) || loop->armed != 0)
        loom__loop_arm(loop);
}

/* Done, and the callbacks added before completion have run (asyncio's
 * run_until_complete): the caller sees what they did. */
int loom__loop_run(loom_loop *loop, bool (*until)(loom_loop *loop, void *arg), void *arg)
{
    int r = loop_check(loop, until ? "loom_loop_run_until" : "loom_loop_run");
    if (r < 0)
        return r;
    r = check_can_iterate(loop);
    if (r < 0)
        return r;
    struct run_frame frame = {.outer = loop->frame};
    loop->frame = &frame;
    loom_loop_ref(loop); /* a callback may drop the caller's reference */
    hooks_before_wait(loop);
    while (r == 0 && !frame.stop && !(until && until(loop, arg)) && !atomic_load(&loop->closed)) {
        /* While callbacks keep the queue busy, poll for I/O only every few
         * ticks: a chain of callbacks need not pay a syscall each, and I/O
         * waits at most POLL_EVERY ticks. */
        if (!ready_queue_empty(&loop->ready) && loop->polls_skipped < POLL_EVERY) {
            loop->polls_skipped++;
            tick_open(loop, false); /* open: the loop's condition said so */
        } else {
            loop->polls_skipped = 0;
            r = loop->ops->iterate(loop->backend, true);
        }
    }
    loop->frame = frame.outer;
    loom_loop_unref(loop);
    return r;
}

int loom_loop_run(loom_loop *loop)
{
    return loom__loop_run(loop, NULL, NULL);
}

int loom_loop_run_once(loom_loop *loop, bool block)
{
    LOOP_CHECK(loop);
    int r = check_can_iterate(loop);
    if (r < 0)
        return r;
    loom_loop_ref(loop); /* a callback may drop the caller's reference */
    if (block)
        hooks_before_wait(loop);
    r = loop->ops->iterate(loop->backend, block);
    loom_loop_unref(loop);
    return r;
}

int loom_loop_stop(loom_loop *loop)
{
    LOOP_CHECK(loop);
    if (!loop->frame)
        return -EINVAL; /* not run by loom */
    loop->frame->stop = true;
    return 0;
}

int64_t loom_loop_now(const loom_loop *loop)
{
    (void)loop;
    return clock_now_ns();
}

uint64_t loom_loop_ticks(const loom_loop *loop)
{
    return loop ? loop->ticks : 0;
}

/* --- embedding --------------------------------------------------------------- */

int loom_loop_get_fd(loom_loop *loop)
{
    LOOP_CHECK(loop);
    return loop->ops->get_fd ? loop->ops->get_fd(loop->backend) : -ENOTSUP;
}

int loom_loop_get_timeout(loom_loop *loop, int64_t *timeout_ns)
{
    LOOP_CHECK(loop);
    if (!timeout_ns)
        return -EINVAL;
    int64_t left = 0;
    if (ready_queue_empty(&loop->ready) && inbox_empty(&loop->inbox)) {
        loom__loop_arm(loop);
        if (loop->armed == LOOM_DEADLINE_NONE)
            left = -1;
        else if (loop->armed > clock_now_ns())
            left = loop->armed - clock_now_ns();
    }
    *timeout_ns = left;
    return 0;
}

size_t loom_loop_dropped_calls(const loom_loop *loop)
{
    return loop ? loop->dropped : 0;
}
