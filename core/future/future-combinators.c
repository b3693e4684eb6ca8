/* then, all, any, timeout: futures that complete from other futures. Each
 * keeps its state (and a reference to its result) until the futures it
 * registered callbacks on have called back, so the result may be dropped by
 * its owner at any time. */
#include <stdint.h>
#include <stdlib.h>
#include "future-private.h"

/* --- then ----------------------------------------------------------------- */

struct then_state {
    loom_future *result;
    loom_future *awaited; /* the input, then the future fn returned */
    loom_then_fn fn;
    void *data;
};

static void then_free(struct then_state *t)
{
    loom__future_set_cancel_hook(t->result, NULL, NULL); /* the result may outlive us */
    loom_future_unref(t->awaited);
    loom_future_unref(t->result);
    free(t);
}

static void then_dropped(void *data)
{
    then_free(data);
}

static void then_input_done(loom_future *input, void *data);
static void then_inner_done(loom_future *inner, void *data);

/* The result is done before what it awaits: cancels that, detached first
 * (then its cancel queues no callback of ours), and frees the state; or
 * leaves both to the callback already on its way. */
static void then_abandon(struct then_state *t)
{
    if (loom__future_off_done(t->awaited, then_input_done, t) ||
        loom__future_off_done(t->awaited, then_inner_done, t)) {
        loom_future_cancel(t->awaited);
        then_free(t);
    }
}

static void then_cancel(void *data)
{
    then_abandon(data);
}

static void then_inner_done(loom_future *inner, void *data)
{
    struct then_state *t = data;
    if (!loom_future_done(t->result))
        loom__future_complete_like(t->result, inner);
    then_free(t);
}

static void then_input_done(loom_future *input, void *data)
{
    struct then_state *t = data;
    if (loom_future_done(t->result)) { /* cancelled meanwhile */
        then_free(t);
        return;
    }
    loom_future *inner = t->fn(input, t->data);
    int r = inner ? 0 : (errno > 0 ? -errno : -EINVAL);
    if (inner) {
        loom_future_unref(t->awaited);
        t->awaited = inner;
        r = loom__future_on_done_owned(inner, then_inner_done, t, then_dropped);
    }
    if (r < 0) {
        loom_future_fail(t->result, r, NULL);
        then_free(t);
    } else if (loom_future_done(t->result)) {
        then_abandon(t); /* fn cancelled the result itself */
    }
}

loom_future *loom_future_then(loom_future *future, loom_then_fn fn, void *data)
{
    if (!future || !fn) {
        errno = EINVAL;
        return NULL;
    }
    struct then_state *t = malloc(sizeof(*t));
    if (!t)
        return NULL;
    loom_future *result = loom_future_new(loom_future_loop(future));
    if (!result) {
        free(t);
        return NULL;
    }
    *t = (struct then_state){.result = loom_future_ref(result), .awaited = loom_future_ref(future),
                             .fn = fn, .data = data};
    int r = loom__future_on_done_owned(future, then_input_done, t, then_dropped);
    if (r < 0) {
        then_free(t);
        loom_future_unref(result);
        errno = -r;
        return NULL;
    }
    loom__future_set_cancel_hook(result, then_cancel, t);
    return result;
}

/* --- all and any: a group of inputs --------------------------------------- */

struct group {
    loom_future *result;
    loom_future_callback input_done; /* added to each input */
    size_t pending; /* inputs whose callback has not run yet */
    size_t n;
    loom_future *inputs[];
};

static void group_release(struct group *g);

/* Each input still pending is detached, then cancelled: its cancel queues
 * no callback of ours. The group holds a count of its own while it walks
 * them, as the last release frees it. */
static void group_cancel(void *data)
{
    struct group *g = data;
    g->pending++;
    for (size_t i = 0; i < g->n; i++) {
        while (loom__future_off_done(g->inputs[i], g->input_done, g))
            g->pending--; /* it will not call back (a duplicate input: each time) */
        loom_future_cancel(g->inputs[i]);
    }
    group_release(g);
}

/* Whether an input's completion still matters: once the result is done, or
 * dropped by everyone else, the group leaves the other inputs alone. */
static bool group_result_wanted(const struct group *g)
{
    return !loom_future_done(g->result) && !loom__future_unwanted(g->result);
}

/* One input called back: the last one frees the group. */
static void group_release(struct group *g)
{
    if (--g->pending > 0)
        return;
    loom__future_set_cancel_hook(g->result, NULL, NULL); /* the result may outlive us */
    for (size_t i = 0; i < g->n; i++)
        loom_future_unref(g->inputs[i]);
    loom_future_unref(g->result);
    free(g);
}

static void group_dropped(void *data)
{
    group_release(data);
}

/* The result of a combinator over n > 0 futures, completed by input_done as
 * each input calls back; or NULL with errno. */
static loom_future *group_new(loom_loop *loop, loom_future *const *futures, size_t n,
                              loom_future_callback input_done, const char *func)
{
    if (n > (SIZE_MAX - sizeof(struct group)) / sizeof(futures[0])) {
        errno = ENOMEM;
        return NULL;
    }
    /* Checked first, so that a refused input leaves the others untouched. */
    for (size_t i = 0; i < n; i++) {
        int r = futures ? loom__future_check_attach(futures[i], func) : -EINVAL;
        if (r < 0) {
            errno = -r;
            return NULL;
        }
    }
    struct group *g = malloc(sizeof(*g) + n * sizeof(futures[0]));
    if (!g)
        return NULL;
    loom_future *result = loom_future_new(loop);
    if (!result) {
        free(g);
        return NULL;
    }
    g->result = loom_future_ref(result);
    g->input_done = input_done;
    g->n = n;
    g->pending = n;
    for (size_t i = 0; i < n; i++)
        g->inputs[i] = loom_future_ref(futures[i]);
    loom__future_set_cancel_hook(result, group_cancel, g);
    for (size_t i = 0; i < n; i++) {
        int r = loom__future_on_done_owned(g->inputs[i], input_done, g, group_dropped);
        if (r < 0) {
            /* Out of memory (the checks above passed): fails as if an input
             * had, as the header says. The i callbacks registered so far, and
             * the release below. */
            g->pending = i + 1;
            loom_future_fail(result, r, NULL);
            group_cancel(g);
            group_release(g);
            break;
        }
    }
    return result;
}

static void all_input_done(loom_future *input, void *data)
{
    struct group *g = data;
    /* The status consumes a failure that lost the race to an earlier one. */
    int status = loom_future_status(input);
    if (group_result_wanted(g)) {
        if (status < 0) {
            loom__future_complete_like(g->result, input);
            group_cancel(g);
        } else if (g->pending == 1) { /* the last input: all resolved */
            loom_future_resolve(g->result, NULL, NULL);
        }
    }
    group_release(g);
}

loom_future *loom_future_all(loom_loop *loop, loom_future *const *futures, size_t n)
{
    if (n > 0)
        return group_new(loop, futures, n, all_input_done, __func__);
    loom_future *result = loom_future_new(loop);
    if (result)
        loom_future_resolve(result, NULL, NULL);
    return result;
}

static void any_input_done(loom_future *input, void *data)
{
    struct group *g = data;
    int status = loom_future_status(input);
    if (group_result_wanted(g)) {
        size_t index = 0;
        while (g->inputs[index] != input)
            index++;
        if (status == 0)
            loom__future_resolve_shared(g->result, input, (int64_t)index);
        else
            loom__future_complete_like(g->result, input);
        group_cancel(g);
    }
    group_release(g);
}

loom_future *loom_future_any(loom_loop *loop, loom_future *const *futures, size_t n)
{
    if (n == 0) {
        errno = EINVAL;
        return NULL;
    }
    return group_new(loop, futures, n, any_input_done, __func__);
}

/* --- timeout -------------------------------------------------------------- */

struct timeout_state {
    loom_future *result;
    loom_future *input;
    loom_handle timer;
};

static void timeout_free(struct timeout_state *t)
{
    loom__future_set_cancel_hook(t->result, NULL, NULL); /* the result may outlive us */
    loom_future_unref(t->input);
    loom_future_unref(t->result);
    free(t);
}

static void timeout_dropped(void *data)
{
    timeout_free(data); /* its timer went with the closed loop */
}

static void timeout_input_done(loom_future *input, void *data);

/* The result is done (timed out or cancelled) before its input: cancels the
 * input, detached first (then its cancel queues no callback of ours), and
 * the timer, and frees the state; or leaves that to the input's callback,
 * already on its way. */
static void timeout_abandon(struct timeout_state *t)
{
    if (!loom__future_off_done(t->input, timeout_input_done, t))
        return;
    loom_cancel(loom_future_loop(t->result), t->timer); /* -ENOENT from its own callback */
    loom_future_cancel(t->input);
    timeout_free(t);
}

static void timeout_cancel(void *data)
{
    timeout_abandon(data);
}

static void timeout_expired(loom_loop *loop, void *data)
{
    struct timeout_state *t = data;
    if (loom_future_done(t->result))
        return;
    loom_future_fail(t->result, -ETIMEDOUT, NULL);
    timeout_abandon(t);
}

static void timeout_input_done(loom_future *input, void *data)
{
    struct timeout_state *t = data;
    /* A stale handle is harmless: loom_cancel then returns -ENOENT. */
    loom_cancel(loom_future_loop(t->result), t->timer);
    if (loom_future_done(t->result))
        loom_future_status(input); /* consumes a failure that lost to the timer */
    else
        loom__future_complete_like(t->result, input);
    timeout_free(t);
}

loom_future *loom_future_timeout(loom_future *future, int64_t timeout_ns)
{
    if (!future) {
        errno = EINVAL;
        return NULL;
    }
    loom_loop *loop = loom_future_loop(future);
    struct timeout_state *t = malloc(sizeof(*t));
    if (!t)
        return NULL;
    loom_future *result = loom_future_new(loop);
    if (!result) {
        free(t);
        return NULL;
    }
    *t = (struct timeout_state){.result = loom_future_ref(result), .input = loom_future_ref(future)};
    int r = loom_call_later(loop, timeout_ns, timeout_expired, t, &t->timer);
    if (r == 0) {
        r = loom__future_on_done_owned(future, timeout_input_done, t, timeout_dropped);
        if (r < 0)
            loom_cancel(loop, t->timer);
    }
    if (r < 0) {
        timeout_free(t);
        loom_future_unref(result);
        errno = -r;
        return NULL;
    }
    loom__future_set_cancel_hook(result, timeout_cancel, t);
    return result;
}
