/* Hooks (before and after polling, at close) and per-loop data. A hook is
 * removed by marking it dead while hooks run, so removal from inside any hook
 * is safe; dead hooks are freed, and their data destroyed, once no hook is
 * running. */
#include "config.h"
#include <stdlib.h>
#include <string.h>
#include "loop-private.h"

/* Frees dead hooks, keeping the order of the rest. Each leaves the array
 * before its destroy runs, as destroy may add or remove hooks. */
static void hooks_compact(struct hook_list *l)
{
    for (uint32_t i = 0; l->dead && i < l->len;) {
        if (!l->v[i].dead) {
            i++;
            continue;
        }
        struct hook h = l->v[i];
        memmove(&l->v[i], &l->v[i + 1], (l->len - i - 1) * sizeof(h));
        l->len--;
        l->dead--;
        if (h.destroy)
            h.destroy(h.data);
    }
}

int loom_hook_add(loom_loop *loop, loom_hook_kind kind, loom_callback cb, void *data,
                  loom_destroy_fn destroy, loom_handle *hookp)
{
    LOOP_CHECK(loop);
    if (!cb || (unsigned)kind > LOOM_HOOK_CLOSE)
        return -EINVAL;
    if (loop->closing && kind == LOOM_HOOK_CLOSE)
        return -ESHUTDOWN; /* it would never run */
    struct hook_list *l = &loop->hooks;
    if (l->len == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 4;
        struct hook *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    loom_handle id = ++l->next_id; /* 64 bits: never wraps, never 0 */
    l->v[l->len++] = (struct hook){.id = id, .cb = cb, .data = data, .destroy = destroy, .kind = kind};
    l->live[kind]++;
    if (hookp)
        *hookp = id;
    return 0;
}

static void hook_kill(struct hook_list *l, struct hook *h)
{
    h->dead = true;
    l->dead++;
    l->live[h->kind]--;
    if (!l->running)
        hooks_compact(l);
}

int loom_hook_remove(loom_loop *loop, loom_handle hook)
{
    LOOP_CHECK(loop);
    struct hook_list *l = &loop->hooks;
    for (uint32_t i = 0; i < l->len; i++) {
        if (l->v[i].id == hook && !l->v[i].dead) {
            hook_kill(l, &l->v[i]);
            return 0;
        }
    }
    return -ENOENT;
}

/* Runs the hooks of one kind that exist now (one added meanwhile waits for
 * the next round); index-based, as a hook may grow the array. */
static void hooks_run_kind(loom_loop *loop, loom_hook_kind kind, bool once)
{
    struct hook_list *l = &loop->hooks;
    uint32_t n = l->len;
    l->running++;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = kind == LOOM_HOOK_CLOSE ? n - 1 - k : k;
        struct hook *h = &l->v[i];
        if (h->dead || h->in_call || h->kind != kind)
            continue;
        h->in_call = true;
        h->cb(loop, h->data);
        h = &l->v[i];
        h->in_call = false;
        if (once && !h->dead)
            hook_kill(l, h);
    }
    if (--l->running == 0)
        hooks_compact(l);
}

void loom__hooks_run_kind(loom_loop *loop, loom_hook_kind kind)
{
    hooks_run_kind(loop, kind, false);
}

void loom__hooks_close(loom_loop *loop)
{
    if (loop->hooks.live[LOOM_HOOK_CLOSE])
        hooks_run_kind(loop, LOOM_HOOK_CLOSE, true);
}

void loom__hooks_fini(loom_loop *loop)
{
    struct hook_list *l = &loop->hooks;
    for (uint32_t i = 0; i < l->len; i++)
        l->v[i].dead = true;
    l->dead = l->len;
    l->running = 0;
    hooks_compact(l);
    free(l->v);
    *l = (struct hook_list){.next_id = l->next_id};
    /* The data goes last: a hook's destroy may still look at it. */
    while (loop->n_data) {
        struct loop_datum d = loop->data[--loop->n_data];
        if (d.destroy)
            d.destroy(d.data);
    }
    free(loop->data);
    loop->data = NULL;
}

/* --- per-loop data ----------------------------------------------------------- */

static struct loop_datum *datum_find(const loom_loop *loop, const void *key)
{
    for (size_t i = 0; i < loop->n_data; i++)
        if (loop->data[i].key == key)
            return &loop->data[i];
    return NULL;
}

int loom_loop_set_data(loom_loop *loop, const void *key, void *data, loom_destroy_fn destroy)
{
    LOOP_CHECK(loop);
    if (!key)
        return -EINVAL;
    struct loop_datum *d = datum_find(loop, key);
    struct loop_datum old = d ? *d : (struct loop_datum){0};
    if (d && data) {
        *d = (struct loop_datum){key, data, destroy};
    } else if (d) {
        *d = loop->data[--loop->n_data];
    } else if (data) {
        struct loop_datum *v = realloc(loop->data, (loop->n_data + 1) * sizeof(*v));
        if (!v)
            return -ENOMEM;
        loop->data = v;
        v[loop->n_data++] = (struct loop_datum){key, data, destroy};
    }
    if (old.destroy && old.data != data)
        old.destroy(old.data); /* last: it may set data again */
    return 0;
}

void *loom_loop_get_data(const loom_loop *loop, const void *key)
{
    if (!loop || !loop_on_owner_thread(loop) || atomic_load_explicit(&loop->closed, memory_order_relaxed))
        return NULL;
    struct loop_datum *d = datum_find(loop, key);
    return d ? d->data : NULL;
}
