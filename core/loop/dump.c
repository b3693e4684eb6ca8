/* loom_loop_dump: everything a loop holds, one line each, for debugging a
 * program that hangs or leaks (asyncio's debug mode, uv_print_all_handles). */
#include "config.h"
#include <dlfcn.h>
#include <inttypes.h>
#include <string.h>
#include "base/clock.h"
#include "loop-private.h"

void loom__dump_function(FILE *out, const void *fn)
{
    Dl_info info;
    /* Only an exact match: the nearest symbol below a static function would
     * name the wrong one. */
    if (fn && dladdr(fn, &info) && info.dli_sname && info.dli_saddr == fn)
        fprintf(out, "%s", info.dli_sname);
    else
        fprintf(out, "%p", fn);
}

/* Function pointers are printed through an object pointer of the same bits. */
static const void *fn_address(loom_callback cb)
{
    const void *p;
    memcpy(&p, &cb, sizeof(p));
    return p;
}

static const void *fd_fn_address(loom_fd_callback cb)
{
    const void *p;
    memcpy(&p, &cb, sizeof(p));
    return p;
}

static void dump_call(FILE *out, loom_callback cb, void *data, bool destroy)
{
    fprintf(out, " ");
    loom__dump_function(out, fn_address(cb));
    fprintf(out, "(data %p)%s\n", data, destroy ? " with destroy" : "");
}

/* The ready queue in the order it runs. */
static void dump_ready(loom_loop *loop, FILE *out)
{
    const struct ready_queue *q = &loop->ready;
    for (uint64_t pos = q->head; pos != q->tail; pos++) {
        const struct ready_entry *e = &q->ring[pos & (q->cap - 1)];
        const struct call *c = e->cb ? NULL : call_table_get(&loop->calls, e->h);
        if (e->cb) {
            fprintf(out, "  ready:");
            dump_call(out, e->cb, e->data, e->drop != NULL);
        } else if (c) { /* else cancelled */
            fprintf(out, "  ready:");
            dump_call(out, c->cb, c->data, c->drop != NULL);
        }
    }
}

static void dump_calls(loom_loop *loop, FILE *out)
{
    dump_ready(loop, out);
    int64_t now = clock_now_ns();
    const struct timer_heap *h = &loop->timers;
    for (size_t i = 0; i < h->len; i++) {
        const struct call *c = call_table_get(&loop->calls, h->v[i].handle);
        if (!c)
            continue; /* cancelled, not purged yet */
        fprintf(out, "  timer in %.3f ms:", (double)(h->v[i].when - now) / 1e6);
        dump_call(out, c->cb, c->data, c->drop != NULL);
    }
}

static void dump_fd_side(FILE *out, const char *side, loom_fd_callback cb, void *data)
{
    fprintf(out, " %s ", side);
    loom__dump_function(out, fd_fn_address(cb));
    fprintf(out, "(data %p)", data);
}

static const char *interest_text(unsigned interest)
{
    static const char *const text[] = {"", " READ", " WRITE", " READ WRITE"};
    return text[interest & (LOOM_READ | LOOM_WRITE)];
}

static void dump_fds(loom_loop *loop, FILE *out)
{
    for (int fd = 0; fd < loop->fds_size; fd++) {
        const struct fd_entry *e = &loop->fds[fd];
        if (e->kind == FD_NONE)
            continue;
        fprintf(out, "  fd %d:", fd);
        if (e->kind == FD_ONE) {
            fprintf(out, " watch%s", interest_text(e->interest));
            dump_fd_side(out, "by", e->on_read, e->read_data);
        }
        if (e->kind == FD_SIDES && (e->interest & LOOM_READ))
            dump_fd_side(out, "read", e->on_read, e->read_data);
        if (e->kind == FD_SIDES && (e->interest & LOOM_WRITE))
            dump_fd_side(out, "write", e->on_write, e->write_data);
        loom_fd_callback tap;
        void *tap_data;
        unsigned tap_interest;
        if (loom__fd_tap_get(e, &tap, &tap_data, &tap_interest)) {
            fprintf(out, " tap%s", interest_text(tap_interest));
            dump_fd_side(out, "by", tap, tap_data);
        }
        fprintf(out, "%s\n", e->suspended ? " (suspended: closed under its watch)" : "");
    }
}

static void dump_hooks(loom_loop *loop, FILE *out)
{
    static const char *const kinds[] = {"before-poll", "after-poll", "close"};
    const struct hook_list *l = &loop->hooks;
    for (uint32_t i = 0; i < l->len; i++) {
        const struct hook *h = &l->v[i];
        if (h->dead)
            continue;
        fprintf(out, "  hook %s: ", kinds[h->kind]);
        loom__dump_function(out, fn_address(h->cb));
        fprintf(out, "(data %p)\n", h->data);
    }
}

int loom_loop_dump(loom_loop *loop, FILE *out)
{
    LOOP_CHECK(loop);
    if (!out)
        return -EINVAL;
    fprintf(out, "loom loop %p on %s: %" PRIu64 " ticks, %zu callbacks and timers, %zu fd watches%s\n",
            (void *)loop, loop->ops->name, loop->ticks, loop->calls.used + loom__ready_queue_live(&loop->ready), loop->watches,
            loop->frame ? ", running" : "");
    dump_calls(loop, out);
    dump_fds(loop, out);
    dump_hooks(loop, out);
    for (int phase = 0; phase < LOOP_PHASES; phase++) {
        for (struct list_node *n = loop->members[phase].first; n; n = n->next) {
            struct loop_member *m = list_item(n, struct loop_member, node);
            fprintf(out, "  ");
            m->ops->dump(m, out);
            fprintf(out, "\n");
        }
    }
    for (size_t i = 0; i < loop->n_data; i++)
        fprintf(out, "  data %p: %p\n", loop->data[i].key, loop->data[i].data);
    return ferror(out) ? -EIO : 0;
}
