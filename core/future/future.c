/* The future object: pending, then resolved, failed or cancelled once. Its
 * completion callbacks run from the loop's ready queue, never inside
 * resolve/fail/cancel. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "future-private.h"
#include "loop/loop-private.h"

struct future_callback {
    loom_future_callback fn;
    void *data;
    void (*release)(void *data); /* frees data if fn never runs (the loop closed) */
};

struct loom_future {
    loom_loop *loop;          /* a reference */
    uint32_t refs;
    uint8_t state;            /* loom_future_state */
    bool retrieved;           /* the failure was looked at: do not report it */
    int err;                  /* failed or cancelled: negative errno */
    char *message;
    void *value;
    loom_destroy_fn destroy;
    int64_t value_int;
    loom_future *shared;      /* whose value this future exposes (a reference) */
    future_cancel_hook cancel_hook;
    void *hook_data;
    /* Callbacks added while pending. The first one is stored inline: most
     * futures have exactly one, and it then costs no allocation. */
    struct future_callback first;
    struct future_callback *more;
    uint32_t n_more, cap_more;
};

/* A callback added to a done future: scheduled on its own. */
struct future_late_callback {
    loom_future *future; /* a reference */
    struct future_callback cb;
};

/* Freed futures are kept for reuse by the thread that freed them: malloc and
 * free were a third of the cost of a short-lived future. A cached future
 * links to the next one through its shared field. */
enum { FUTURE_CACHE_MAX = 64 };

struct future_cache {
    loom_future *head;
    unsigned len;
    bool registered; /* the thread-exit destructor will drain it */
};

static _Thread_local struct future_cache future_cache;
static pthread_key_t future_cache_key;
static bool future_cache_key_ok;
static pthread_once_t future_cache_once = PTHREAD_ONCE_INIT;

static void future_cache_drain(void *data)
{
    struct future_cache *c = data;
    while (c->head) {
        loom_future *f = c->head;
        c->head = f->shared;
        free(f);
    }
    c->len = 0;
    c->registered = false; /* a later free registers again */
}

static void future_cache_make_key(void)
{
    future_cache_key_ok = pthread_key_create(&future_cache_key, future_cache_drain) == 0;
}

/* Were libloom unloaded, threads exiting later must not call into it. */
__attribute__((destructor)) static void future_cache_delete_key(void)
{
    if (future_cache_key_ok)
        pthread_key_delete(future_cache_key);
}

static loom_future *future_alloc(void)
{
    struct future_cache *c = &future_cache;
    loom_future *f = c->head;
    if (!f)
        return malloc(sizeof(*f));
    c->head = f->shared;
    c->len--;
    return f;
}

static void future_release(loom_future *f)
{
    struct future_cache *c = &future_cache;
    if (!c->registered) {
        pthread_once(&future_cache_once, future_cache_make_key);
        c->registered = future_cache_key_ok && pthread_setspecific(future_cache_key, c) == 0;
    }
    if (!c->registered || c->len == FUTURE_CACHE_MAX) {
        free(f);
        return;
    }
    f->shared = c->head;
    c->head = f;
    c->len++;
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
    *f = (loom_future){.loop = loom_loop_ref(loop), .refs = 1};
    return f;
}

loom_future *loom_future_ref(loom_future *future)
{
    if (future)
        future->refs++;
    return future;
}

static void future_report_unretrieved(loom_future *f)
{
    loom_loop_report(f->loop, f->err, "a failed future was freed and nobody retrieved its failure: %s",
                     f->message ? f->message : loom_strerror(f->err));
}

void loom_future_unref(loom_future *future)
{
    if (!future || --future->refs > 0)
        return;
    if (future->state == LOOM_FUTURE_FAILED && !future->retrieved)
        future_report_unretrieved(future);
    if (future->destroy)
        future->destroy(future->value);
    loom_future_unref(future->shared);
    free(future->message);
    free(future->more);
    loom_loop_unref(future->loop);
    future_release(future);
}

loom_loop *loom_future_loop(const loom_future *future)
{
    return future ? future->loop : NULL;
}

/* Runs the callbacks added while the future was pending, in order. The list
 * is final: once the future is done, on_done schedules callbacks alone. */
static void future_dispatch(loom_loop *loop, void *data)
{
    loom_future *f = data;
    f->first.fn(f, f->first.data);
    for (uint32_t i = 0; i < f->n_more; i++)
        f->more[i].fn(f, f->more[i].data);
    loom_future_unref(f);
}

static void future_callback_release(const struct future_callback *cb)
{
    if (cb->release)
        cb->release(cb->data);
}

/* The loop closed before the dispatch ran: its callbacks never will, so what
 * they own goes now, and then the dispatch's reference. */
static void future_drop(void *data)
{
    loom_future *f = data;
    future_callback_release(&f->first);
    for (uint32_t i = 0; i < f->n_more; i++)
        future_callback_release(&f->more[i]);
    loom_future_unref(f);
}

static void future_complete(loom_future *f, loom_future_state state)
{
    f->state = state;
    if (!f->first.fn)
        return;
    /* The scheduled dispatch holds a reference: the callbacks run even if
     * everyone else lets go of the future meanwhile. */
    int r = loop_call_soon_owned(f->loop, future_dispatch, loom_future_ref(f), future_drop);
    if (r < 0) {
        loom_loop_report(f->loop, r, "future completed but its callbacks could not be scheduled");
        loom_future_unref(f);
    }
}

int loom_future_resolve(loom_future *future, void *value, loom_destroy_fn destroy)
{
    if (!future || future->state != LOOM_FUTURE_PENDING) {
        if (destroy)
            destroy(value);
        return -EINVAL;
    }
    future->value = value;
    future->destroy = destroy;
    future_complete(future, LOOM_FUTURE_RESOLVED);
    return 0;
}

int loom_future_resolve_int(loom_future *future, int64_t value)
{
    if (!future || future->state != LOOM_FUTURE_PENDING)
        return -EINVAL;
    future->value_int = value;
    future_complete(future, LOOM_FUTURE_RESOLVED);
    return 0;
}

int loom_future_fail(loom_future *future, int err, const char *msg)
{
    if (!future || err >= 0 || future->state != LOOM_FUTURE_PENDING)
        return -EINVAL;
    if (msg && !(future->message = strdup(msg)))
        return -ENOMEM;
    future->err = err;
    future_complete(future, LOOM_FUTURE_FAILED);
    return 0;
}

bool loom_future_cancel(loom_future *future)
{
    if (!future || future->state != LOOM_FUTURE_PENDING)
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
    if (!future)
        return -EINVAL;
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
    return future ? future->message : NULL;
}

void *loom_future_value(const loom_future *future)
{
    if (!future || future->state != LOOM_FUTURE_RESOLVED)
        return NULL;
    return future->shared ? loom_future_value(future->shared) : future->value;
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

    if (future && future->state == LOOM_FUTURE_RESOLVED) {
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
    future_callback_release(&late->cb);
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
    int r = loop_call_soon_owned(f->loop, future_run_late, late, future_late_drop);
    if (r < 0) {
        loom_future_unref(f);
        free(late);
    }
    return r;
}

static int future_append(loom_future *f, struct future_callback cb)
{
    if (!f->first.fn) {
        f->first = cb;
        return 0;
    }
    if (f->n_more == f->cap_more) {
        uint32_t cap = f->cap_more ? f->cap_more * 2 : 4;
        struct future_callback *more = realloc(f->more, cap * sizeof(*more));
        if (!more)
            return -ENOMEM;
        f->more = more;
        f->cap_more = cap;
    }
    f->more[f->n_more++] = cb;
    return 0;
}

int future_on_done_owned(loom_future *future, loom_future_callback cb, void *data, void (*release)(void *data))
{
    if (!future || !cb)
        return -EINVAL;
    struct future_callback c = {cb, data, release};
    if (future->state != LOOM_FUTURE_PENDING)
        return future_schedule_late(future, c);
    return future_append(future, c);
}

int loom_future_on_done(loom_future *future, loom_future_callback cb, void *data)
{
    return future_on_done_owned(future, cb, data, NULL);
}

/* --- for the combinators -------------------------------------------------- */

void future_set_cancel_hook(loom_future *future, future_cancel_hook hook, void *data)
{
    future->cancel_hook = hook;
    future->hook_data = data;
}

void future_resolve_shared(loom_future *future, loom_future *source, int64_t value_int)
{
    future->shared = loom_future_ref(source);
    future->value_int = value_int;
    future_complete(future, LOOM_FUTURE_RESOLVED);
}

void future_complete_like(loom_future *future, loom_future *source)
{
    switch (source->state) {
    case LOOM_FUTURE_RESOLVED:
        future_resolve_shared(future, source, source->value_int);
        break;
    case LOOM_FUTURE_FAILED:
        source->retrieved = true;
        /* Without memory for the message the failure still travels. */
        if (loom_future_fail(future, source->err, source->message) < 0)
            loom_future_fail(future, source->err, NULL);
        break;
    default:
        loom_future_cancel(future);
        break;
    }
}
