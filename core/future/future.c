/* The future object: pending, then resolved, failed or cancelled once. Its
 * completion callbacks run from the loop's ready queue, never inside
 * resolve/fail/cancel. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "base/thread-cache.h"
#include "future-private.h"
#include "loop/loop-private.h"

struct future_callback {
    loom_future_callback fn;
    void *data;
    void (*release)(void *data); /* frees data if fn never runs (the loop closed) */
};

/* A future's references are counted in refs with FUTURE_LISTED clear. The
 * dispatch of its callbacks keeps it without one (dispatching), so that a
 * completion and its dispatch cost no atomic operation: the loop's thread
 * decides alone when a future whose last reference went is freed (at once,
 * or when the dispatch ends: orphaned). A last reference dropped on another
 * thread sets FUTURE_LISTED with the same atomic step and hands the future
 * to the loop's thread (loom__loop_orphan), which clears it and decides;
 * while it is set, the loop's thread alone decides, whoever drops the count
 * to zero again. */
#define FUTURE_LISTED (1u << 31)

struct loom_future {
    loom_loop *loop;          /* an internal reference (loom__loop_hold) */
    atomic_uint refs;         /* see FUTURE_LISTED */
    uint8_t state;            /* loom_future_state */
    bool retrieved;           /* the failure was looked at: do not report it */
    bool dispatching;         /* a dispatch is queued or running */
    bool orphaned;            /* the last reference went while dispatching */
    /* A loop member while pending with callbacks that own references: the
     * loop releases them at close, so nothing keeps the future alive. */
    bool waiting;
    int err;                  /* failed or cancelled: negative errno */
    /* Callbacks added while pending: first inline (most futures have exactly
     * one, and it then costs no allocation), the others in extra.more. */
    uint32_t n_cb;
    uint32_t next_cb;         /* the dispatch runs callbacks from this index on */
    /* What few futures have: valid only once has_extra is set (future_extra),
     * so that a new future clears less and a freed one tests once. */
    bool has_extra;
    void *value;
    loom_destroy_fn destroy;
    int64_t value_int;
    loom_handle resume;       /* the dispatch's continuation while a callback runs */
    future_cancel_hook cancel_hook;
    /* Not cleared when the future is made, as the fields below. */
    void *hook_data;              /* valid while cancel_hook is set */
    struct future_callback first; /* valid while n_cb > 0 */
    struct loop_orphan orphan;    /* valid while FUTURE_LISTED is set */
    struct future_extra {
        struct future_callback *more; /* callbacks after the first */
        uint32_t cap_more;
        char *message;
        loom_future *shared; /* whose value this future exposes (a reference) */
        char *name;
    } extra;
    struct loop_member member; /* valid while waiting */
};

/* A callback added to a done future: scheduled on its own. */
struct future_late_callback {
    loom_future *future; /* a reference */
    struct future_callback cb;
};

/* Freed futures are kept for reuse by the thread that freed them
 * (base/thread-cache.h): malloc and free were a third of the cost of a
 * short-lived future. */
enum { FUTURE_CACHE_MAX = 64 };

static loom_future *future_alloc(void)
{
    loom_future *f = loom__thread_cache_take(&loom__thread_caches.future);
    return f ? f : malloc(sizeof(*f));
}

static void future_release(loom_future *f)
{
    if (!loom__thread_cache_give(&loom__thread_caches.future, f, FUTURE_CACHE_MAX))
        free(f);
}

loom_future *loom_future_new(loom_loop *loop)
{
    int r = loop_check(loop, __func__);
    if (r < 0) {
        errno = -r;
        return NULL;
    }
    loom_future *f = future_alloc();
    if (!f)
        return NULL;
    memset(f, 0, offsetof(loom_future, hook_data)); /* the rest is set when used */
    f->loop = loop;
    atomic_init(&f->refs, 1);
    loom__loop_hold(loop);
    return f;
}

/* Mutators check the thread first: from another thread they change nothing. */
static int future_check_thread(const loom_future *f, const char *func)
{
    if (!f)
        return -EINVAL;
    if (loop_on_owner_thread(f->loop))
        return 0;
    loom_loop_report(f->loop, -EXDEV, "%s called from a thread that does not own the future's loop", func);
    return -EXDEV;
}

loom_future *loom_future_ref(loom_future *future)
{
    if (future)
        atomic_fetch_add_explicit(&future->refs, 1, memory_order_relaxed);
    return future;
}

/* The extra fields, cleared on first use. */
static struct future_extra *future_extra(loom_future *f)
{
    if (!f->has_extra) {
        f->extra = (struct future_extra){0};
        f->has_extra = true;
    }
    return &f->extra;
}

static const char *future_message(const loom_future *f)
{
    return f->has_extra ? f->extra.message : NULL;
}

static const char *future_name(const loom_future *f)
{
    return f->has_extra ? f->extra.name : NULL;
}

static void future_report_unretrieved(loom_future *f)
{
    const char *why = future_message(f) ? future_message(f) : loom_strerror(f->err);
    const char *name = future_name(f);
    if (name)
        loom_loop_report(f->loop, f->err, "future \"%s\" failed and nobody retrieved its failure: %s", name, why);
    else
        loom_loop_report(f->loop, f->err, "a failed future was freed and nobody retrieved its failure: %s", why);
}

static void future_unwait(loom_future *f)
{
    if (!f->waiting)
        return;
    loop_member_remove(f->loop, &f->member);
    f->waiting = false;
}

static void future_callbacks_release(loom_future *f, uint32_t from);

static void future_free_extra(loom_future *f)
{
    free(f->extra.more);
    if (f->extra.shared)
        loom_future_unref(f->extra.shared);
    free(f->extra.message);
    free(f->extra.name);
}

static void future_free(loom_future *f)
{
    if (f->state == LOOM_FUTURE_FAILED && !f->retrieved)
        future_report_unretrieved(f);
    future_unwait(f);
    if (f->next_cb < f->n_cb)
        future_callbacks_release(f, f->next_cb); /* a pending future's, never run */
    if (f->destroy)
        f->destroy(f->value);
    if (f->has_extra)
        future_free_extra(f);
    loom__loop_release(f->loop);
    future_release(f);
}

/* On the loop's thread, when nobody has a reference any more. */
static void future_unwanted(loom_future *f)
{
    if (f->dispatching)
        f->orphaned = true; /* the dispatch frees it when it ends */
    else
        future_free(f);
}

/* The loop's thread takes over a future whose last reference went elsewhere:
 * unless a reference was taken again meanwhile (by a callback of its
 * dispatch), nobody has one. */
static void future_reap(struct loop_orphan *o)
{
    loom_future *f = (loom_future *)((char *)o - offsetof(loom_future, orphan));
    unsigned w = atomic_load_explicit(&f->refs, memory_order_acquire);
    while (!atomic_compare_exchange_weak_explicit(&f->refs, &w, w & ~FUTURE_LISTED, memory_order_acq_rel,
                                                  memory_order_acquire))
        ;
    if (w == FUTURE_LISTED)
        future_unwanted(f);
}

/* Another thread drops a reference. Out of line: it is the rare case. */
static __attribute__((noinline)) void future_unref_elsewhere(loom_future *f)
{
    unsigned w = atomic_load_explicit(&f->refs, memory_order_relaxed), next;
    do
        next = (w & ~FUTURE_LISTED) == 1 ? FUTURE_LISTED : w - 1;
    while (!atomic_compare_exchange_weak_explicit(&f->refs, &w, next, memory_order_acq_rel, memory_order_relaxed));
    if (w != 1)
        return; /* not the last, or handed over already: the loop's thread decides */
    f->orphan.reap = future_reap;
    /* Refused: the loop closed (no dispatch is left), or this is a forked
     * child's copy, whose dispatches never run (a queued one keeps it). */
    if (!loom__loop_orphan(f->loop, &f->orphan) && !f->dispatching)
        future_free(f);
}

/* Inline: a future's life ends here, and on its loop's thread the last
 * reference needs no atomic decrement (nobody else has one, so no other
 * thread can change the count; the acquire pairs with their drops). */
static inline void future_unref(loom_future *f)
{
    if (!loop_on_owner_thread(f->loop)) {
        future_unref_elsewhere(f);
        return;
    }
    if (atomic_load_explicit(&f->refs, memory_order_acquire) == 1)
        atomic_store_explicit(&f->refs, 0, memory_order_relaxed);
    else if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
        return; /* others remain, or FUTURE_LISTED: the reap decides */
    future_unwanted(f);
}

void loom_future_unref(loom_future *future)
{
    if (future)
        future_unref(future);
}

loom_loop *loom_future_loop(const loom_future *future)
{
    return future ? future->loop : NULL;
}

static struct future_callback *future_callback_at(loom_future *f, uint32_t i)
{
    return i == 0 ? &f->first : &f->extra.more[i - 1]; /* more exists past the first */
}

/* Empties the list; what the callbacks from index from on own is released
 * (they will never run). */
static void future_callbacks_release(loom_future *f, uint32_t from)
{
    struct future_callback first = f->first;
    struct future_callback *more = NULL;
    uint32_t n = f->n_cb;
    if (f->has_extra) {
        more = f->extra.more;
        f->extra.more = NULL;
        f->extra.cap_more = 0;
    }
    f->first = (struct future_callback){0};
    f->n_cb = f->next_cb = 0;
    for (uint32_t i = from; i < n; i++) {
        const struct future_callback *cb = i == 0 ? &first : &more[i - 1];
        if (cb->release)
            cb->release(cb->data);
    }
    free(more);
}

static void future_run_callbacks(loom_future *f);

/* Cancels the continuation. Usually nothing was queued after it: it is taken
 * back out of the ready queue, so that the loop does not wake for it (its
 * position is then reused: h is private and forgotten by the caller). */
static void future_unschedule(loom_loop *loop, loom_handle h)
{
    loom_cancel(loop, h);
    struct ready_queue *q = &loop->ready;
    if (!ready_queue_empty(q) && ready_queue_last_handle(q) == h)
        q->tail--;
}

/* A nested loop run by a callback picks up the rest here, in order. The
 * running dispatch keeps the future: this call never outlives it. */
static void future_resume(loom_loop *loop, void *data)
{
    loom_future *f = data;
    f->resume = 0;
    future_run_callbacks(f);
}

/* Runs the callbacks from next_cb on, in the order they were added. While
 * one runs, a continuation is queued, so that a nested loop it runs calls
 * the later ones before anything added after them. */
static void future_run_callbacks(loom_future *f)
{
    uint32_t n;
    while (f->next_cb < (n = f->n_cb)) {
        struct future_callback cb = *future_callback_at(f, f->next_cb++);
        /* Without memory for it, the rest still runs in order, after cb. */
        if (f->next_cb < n && !f->resume)
            loom_call_soon(f->loop, future_resume, f, &f->resume);
        cb.fn(f, cb.data);
        if (f->resume) {
            future_unschedule(f->loop, f->resume);
            f->resume = 0;
        }
    }
}

/* The future goes if its last reference went during the dispatch and no
 * callback took one again (a reference taken and dropped elsewhere since
 * sets FUTURE_LISTED: the reap decides then). */
static void future_dispatch_end(loom_future *f)
{
    f->dispatching = false;
    if (f->orphaned) {
        f->orphaned = false;
        if (atomic_load_explicit(&f->refs, memory_order_acquire) == 0)
            future_free(f);
    }
}

static void future_dispatch(loom_loop *loop, void *data)
{
    loom_future *f = data;
    /* The usual future has one callback, which needs no continuation. */
    if (f->n_cb == 1 && f->next_cb == 0) {
        f->next_cb = 1;
        f->first.fn(f, f->first.data);
    }
    if (f->next_cb < f->n_cb)
        future_run_callbacks(f);
    future_dispatch_end(f);
}

/* The loop closed before the dispatch ran: its callbacks never will, so what
 * they own goes now, and then the dispatch's hold on the future. */
static void future_drop(void *data)
{
    loom_future *f = data;
    future_callbacks_release(f, f->next_cb);
    future_dispatch_end(f);
}

static void future_complete(loom_future *f, loom_future_state state)
{
    f->state = state;
    future_unwait(f);
    if (!f->n_cb)
        return;
    if (atomic_load_explicit(&f->loop->closed, memory_order_relaxed)) {
        future_callbacks_release(f, 0); /* they can never run */
        return;
    }
    /* The scheduled dispatch keeps the future (dispatching): the callbacks
     * run even if everyone lets go of it meanwhile. Every completion runs
     * on the owner thread (the mutators check it). */
    f->dispatching = true;
    if (!loop_schedule_owned(f->loop, future_dispatch, f, future_drop)) {
        loom_loop_report(f->loop, -ENOMEM, "future completed but its callbacks could not be scheduled");
        future_drop(f);
    }
}

static void future_set_message(loom_future *f, char *message)
{
    if (message)
        future_extra(f)->message = message;
}

/* Out of line: loom_future_resolve's usual path then saves no registers. */
static __attribute__((noinline)) int future_resolve_refused(loom_future *f, void *value, loom_destroy_fn destroy)
{
    int r = future_check_thread(f, "loom_future_resolve");
    if (destroy)
        destroy(value);
    return r < 0 ? r : -EINVAL;
}

int loom_future_resolve(loom_future *future, void *value, loom_destroy_fn destroy)
{
    if (!future || !loop_on_owner_thread(future->loop) || future->state != LOOM_FUTURE_PENDING)
        return future_resolve_refused(future, value, destroy);
    future->value = value;
    future->destroy = destroy;
    future_complete(future, LOOM_FUTURE_RESOLVED);
    return 0;
}

int loom_future_resolve_int(loom_future *future, int64_t value)
{
    int r = future_check_thread(future, __func__);
    if (r < 0)
        return r;
    if (future->state != LOOM_FUTURE_PENDING)
        return -EINVAL;
    future->value_int = value;
    future_complete(future, LOOM_FUTURE_RESOLVED);
    return 0;
}

int loom_future_fail(loom_future *future, int err, const char *msg)
{
    int r = future_check_thread(future, __func__);
    if (r < 0)
        return r;
    if (err >= 0 || future->state != LOOM_FUTURE_PENDING)
        return -EINVAL;
    char *copy = NULL;
    if (msg && !(copy = strdup(msg)))
        return -ENOMEM;
    future_set_message(future, copy);
    future->err = err;
    future_complete(future, LOOM_FUTURE_FAILED);
    return 0;
}

bool loom_future_cancel(loom_future *future)
{
    if (future_check_thread(future, __func__) < 0 || future->state != LOOM_FUTURE_PENDING)
        return false;
    future->err = -ECANCELED;
    future_complete(future, LOOM_FUTURE_CANCELLED);
    if (future->cancel_hook)
        future->cancel_hook(future->hook_data);
    return true;
}

loom_future_state loom_future_state_get(const loom_future *future)
{
    return future ? (loom_future_state)future->state : LOOM_FUTURE_PENDING;
}

bool loom_future_done(const loom_future *future)
{
    return future && future->state != LOOM_FUTURE_PENDING;
}

int loom_future_status(loom_future *future)
{
    int r = future_check_thread(future, __func__);
    if (r < 0)
        return r;
    switch (future->state) {
    case LOOM_FUTURE_PENDING:
        return -EAGAIN;
    case LOOM_FUTURE_RESOLVED:
        return 0;
    default:
        future->retrieved = true;
        return future->err;
    }
}

const char *loom_future_message(const loom_future *future)
{
    return future ? future_message(future) : NULL;
}

void *loom_future_value(const loom_future *future)
{
    if (!future || future->state != LOOM_FUTURE_RESOLVED)
        return NULL;
    if (future->has_extra && future->extra.shared)
        return loom_future_value(future->extra.shared);
    return future->value;
}

int64_t loom_future_value_int(const loom_future *future)
{
    if (!future || future->state != LOOM_FUTURE_RESOLVED)
        return 0;
    return future->value_int;
}

void *loom_future_steal_value(loom_future *future, loom_destroy_fn *destroyp)
{
    void *value = NULL;
    loom_destroy_fn destroy = NULL;

    if (future_check_thread(future, __func__) == 0 && future->state == LOOM_FUTURE_RESOLVED) {
        value = future->value;
        destroy = future->destroy;
        future->value = NULL;
        future->destroy = NULL;
    }
    if (destroyp)
        *destroyp = destroy;
    return value;
}

static void future_late_free(struct future_late_callback *late)
{
    loom_future_unref(late->future);
    free(late);
}

static void future_late_drop(void *data)
{
    struct future_late_callback *late = data;
    if (late->cb.release)
        late->cb.release(late->cb.data);
    future_late_free(late);
}

static void future_run_late(loom_loop *loop, void *data)
{
    struct future_late_callback *late = data;
    late->cb.fn(late->future, late->cb.data);
    future_late_free(late);
}

static int future_schedule_late(loom_future *f, struct future_callback cb)
{
    struct future_late_callback *late = malloc(sizeof(*late));
    if (!late)
        return -ENOMEM;
    *late = (struct future_late_callback){.future = loom_future_ref(f), .cb = cb};
    int r = loom__loop_call_soon_owned(f->loop, future_run_late, late, future_late_drop);
    if (r < 0) {
        loom_future_unref(f);
        free(late);
    }
    return r;
}

static int future_append_more(loom_future *f, struct future_callback cb)
{
    struct future_extra *x = future_extra(f);
    uint32_t n_more = f->n_cb - 1;
    if (n_more == x->cap_more) {
        uint32_t cap = x->cap_more ? x->cap_more * 2 : 4;
        struct future_callback *more = realloc(x->more, cap * sizeof(*more));
        if (!more)
            return -ENOMEM;
        x->more = more;
        x->cap_more = cap;
    }
    x->more[n_more] = cb;
    f->n_cb++;
    return 0;
}

static inline int future_append(loom_future *f, struct future_callback cb)
{
    if (f->n_cb)
        return future_append_more(f, cb);
    f->first = cb;
    f->n_cb = 1;
    return 0;
}

/* At close the loop releases a waited future's callbacks, which breaks the
 * future -> callback -> future cycles of waiting combinators. */
static const struct loop_member_ops future_member_ops;

static void future_wait(loom_future *f)
{
    if (f->waiting)
        return;
    f->waiting = true;
    f->member.ops = &future_member_ops;
    loop_member_add(f->loop, &f->member);
}

/* Adds c to a future of an open loop, on its thread: kept out of line so
 * that the usual case below pays no frame. */
static __attribute__((noinline)) int future_add_callback(loom_future *f, struct future_callback c)
{
    if (f->state == LOOM_FUTURE_PENDING) {
        int r = future_append(f, c);
        if (r == 0 && c.release)
            future_wait(f);
        return r;
    }
    /* Behind callbacks still waiting in the dispatch: the order is kept. */
    if (f->dispatching && f->next_cb < f->n_cb)
        return future_append(f, c);
    return future_schedule_late(f, c);
}

int loom__future_check_attach(const loom_future *future, const char *func)
{
    int r = future_check_thread(future, func);
    if (r < 0)
        return r;
    return atomic_load_explicit(&future->loop->closed, memory_order_relaxed) ? -ESHUTDOWN : 0;
}

int loom__future_on_done_owned(loom_future *future, loom_future_callback cb, void *data, void (*release)(void *data))
{
    int r = loom__future_check_attach(future, "loom_future_on_done");
    if (r < 0)
        return r;
    if (!cb)
        return -EINVAL;
    struct future_callback c = {cb, data, release};
    /* The usual case: a pending future's first callback, owning nothing. */
    if (future->state == LOOM_FUTURE_PENDING && !future->n_cb && !release) {
        future->first = c;
        future->n_cb = 1;
        return 0;
    }
    return future_add_callback(future, c);
}

bool loom__future_off_done(loom_future *future, loom_future_callback cb, void *data)
{
    if (future->state != LOOM_FUTURE_PENDING || !loop_on_owner_thread(future->loop))
        return false; /* dispatched already; or another thread's (its cancel refuses) */
    bool owns = false;
    for (uint32_t i = 0; i < future->n_cb; i++) {
        struct future_callback *c = future_callback_at(future, i);
        if (c->fn != cb || c->data != data) {
            owns |= c->release != NULL;
            continue;
        }
        for (uint32_t j = i + 1; j < future->n_cb; j++) {
            *future_callback_at(future, j - 1) = *future_callback_at(future, j);
            owns |= future_callback_at(future, j - 1)->release != NULL;
        }
        future->n_cb--;
        if (!owns)
            future_unwait(future); /* nothing left for the loop's close to release */
        return true;
    }
    return false;
}

int loom_future_on_done(loom_future *future, loom_future_callback cb, void *data)
{
    return loom__future_on_done_owned(future, cb, data, NULL);
}

/* loom_future_on_done_full's callback, wrapped so that the inline callback
 * slot stays three words for the common case. */
struct future_full_callback {
    loom_future_callback cb;
    void *data;
    loom_destroy_fn destroy;
};

static void future_full_release(void *data)
{
    struct future_full_callback *full = data;
    if (full->destroy)
        full->destroy(full->data);
    free(full);
}

static void future_full_run(loom_future *future, void *data)
{
    struct future_full_callback *full = data;
    full->cb(future, full->data);
    future_full_release(full);
}

int loom_future_on_done_full(loom_future *future, loom_future_callback cb, void *data, loom_destroy_fn destroy)
{
    if (!cb)
        return -EINVAL;
    struct future_full_callback *full = malloc(sizeof(*full));
    if (!full)
        return -ENOMEM;
    *full = (struct future_full_callback){cb, data, destroy};
    int r = loom__future_on_done_owned(future, future_full_run, full, future_full_release);
    if (r < 0)
        free(full);
    return r;
}

int loom_future_set_name(loom_future *future, const char *name)
{
    int r = future_check_thread(future, __func__);
    if (r < 0)
        return r;
    char *copy = NULL;
    if (name && !(copy = strdup(name)))
        return -ENOMEM;
    struct future_extra *x = future_extra(future);
    free(x->name);
    x->name = copy;
    return 0;
}

const char *loom_future_get_name(const loom_future *future)
{
    return future ? future_name(future) : NULL;
}

/* --- completion from another thread ----------------------------------------- */

/* A completion on its way to the loop's thread. */
struct future_remote {
    loom_future *future; /* a reference */
    loom_future_state state;
    void *value;
    loom_destroy_fn destroy;
    int64_t value_int;
    int err;
    char *message;
};

static void future_remote_free(void *data)
{
    struct future_remote *rq = data;
    if (rq->destroy)
        rq->destroy(rq->value); /* not taken: the future was done already */
    free(rq->message);
    loom_future_unref(rq->future);
    free(rq);
}

static void future_remote_apply(loom_loop *loop, void *data)
{
    struct future_remote *rq = data;
    loom_future *f = rq->future;
    if (f->state == LOOM_FUTURE_PENDING) {
        if (rq->state == LOOM_FUTURE_RESOLVED) {
            f->value = rq->value;
            f->destroy = rq->destroy;
            f->value_int = rq->value_int;
            rq->destroy = NULL;
        } else {
            f->err = rq->err;
            future_set_message(f, rq->message);
            rq->message = NULL;
        }
        future_complete(f, rq->state);
    }
    future_remote_free(rq);
}

/* Hands the completion to the loop's thread; on failure, what it carries is
 * released here. */
static int future_post(loom_future *f, struct future_remote r)
{
    struct future_remote *rq = f ? malloc(sizeof(*rq)) : NULL;
    if (!rq) {
        if (r.destroy)
            r.destroy(r.value);
        free(r.message);
        return f ? -ENOMEM : -EINVAL;
    }
    *rq = r;
    rq->future = loom_future_ref(f);
    int e = loom__loop_call_soon_threadsafe_owned(f->loop, future_remote_apply, rq, future_remote_free);
    if (e < 0)
        future_remote_free(rq);
    return e;
}

int loom_future_resolve_threadsafe(loom_future *future, void *value, loom_destroy_fn destroy)
{
    return future_post(future,
                       (struct future_remote){.state = LOOM_FUTURE_RESOLVED, .value = value, .destroy = destroy});
}

int loom_future_resolve_int_threadsafe(loom_future *future, int64_t value)
{
    return future_post(future, (struct future_remote){.state = LOOM_FUTURE_RESOLVED, .value_int = value});
}

int loom_future_fail_threadsafe(loom_future *future, int err, const char *msg)
{
    if (err >= 0)
        return -EINVAL;
    char *copy = NULL;
    if (msg && !(copy = strdup(msg)))
        return -ENOMEM;
    return future_post(future, (struct future_remote){.state = LOOM_FUTURE_FAILED, .err = err, .message = copy});
}

/* --- for the loop and the combinators --------------------------------------- */

bool loom__future_unwanted(const loom_future *future)
{
    return (atomic_load_explicit(&future->refs, memory_order_relaxed) & ~FUTURE_LISTED) == 1 && !future->n_cb;
}

/* Done, and its callbacks added before completion ran (those of another
 * loop's future are not ours to wait for). */
static bool future_reached(loom_loop *loop, void *future)
{
    loom_future *f = future;
    if (f->state == LOOM_FUTURE_PENDING)
        return false;
    return f->loop != loop || !(f->dispatching && f->next_cb < f->n_cb);
}

int loom_loop_run_until(loom_loop *loop, loom_future *future)
{
    if (!future)
        return -EINVAL;
    int r = loom__loop_run(loop, future_reached, future);
    if (r == 0)
        r = loom_future_done(future) ? loom_future_status(future) : -EINTR;
    return r;
}

/* At close, after the tasks: a pending future's callbacks will never run,
 * so what they hold goes. */
static void future_shutdown(struct loop_member *m)
{
    loom_future *f = list_item(m, loom_future, member);
    future_unwait(f);
    loom_future_ref(f); /* a release may drop the last other reference */
    future_callbacks_release(f, 0);
    loom_future_unref(f);
}

static void future_dump(struct loop_member *m, FILE *out)
{
    loom_future *f = list_item(m, loom_future, member);
    const char *name = future_name(f);
    fprintf(out, "future %s%s%p: pending, %u callbacks waiting", name ? name : "", name ? " " : "", (void *)f,
            f->n_cb);
}

static const struct loop_member_ops future_member_ops = {
    .phase = LOOP_PHASE_RELEASES,
    .shutdown = future_shutdown,
    .dump = future_dump,
};

void loom__future_set_cancel_hook(loom_future *future, future_cancel_hook hook, void *data)
{
    future->cancel_hook = hook;
    future->hook_data = data;
}

void loom__future_resolve_shared(loom_future *future, loom_future *source, int64_t value_int)
{
    future_extra(future)->shared = loom_future_ref(source);
    future->value_int = value_int;
    future_complete(future, LOOM_FUTURE_RESOLVED);
}

void loom__future_complete_like(loom_future *future, loom_future *source)
{
    switch (source->state) {
    case LOOM_FUTURE_RESOLVED:
        loom__future_resolve_shared(future, source, source->value_int);
        break;
    case LOOM_FUTURE_FAILED:
        source->retrieved = true;
        /* Without memory for the message the failure still travels. */
        if (loom_future_fail(future, source->err, future_message(source)) < 0)
            loom_future_fail(future, source->err, NULL);
        break;
    default:
        loom_future_cancel(future);
        break;
    }
}
