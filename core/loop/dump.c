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

static void dump_call(FILE *out, const struct call *c)
{
    fprintf(out, " ");
    loom__dump_function(out, fn_address(c->cb));
    fprintf(out, "(data %p)%s\n", c->data, c->drop ? " with destroy" : "");
}

static void dump_calls(loom_loop *loop, FILE *out)
{
    const struct call_table *t = &loop->calls;
    for (uint32_t i = 0; i < t->size; i++) {
        if (t->slots[i].place == CALL_READY) {
            fprintf(out, "  ready:");
            dump_call(out, &t->slots[i]);
        }
    }
    int64_t now = clock_now_ns();
    const struct timer_heap *h = &loop->timers;
    for (size_t i = 0; i < h->len; i++) {
        const struct call *c = call_table_get(&loop->calls, h->v[i].handle);
        if (!c)
            continue; /* cancelled, not purged yet */
        fprintf(out, "  timer in %.3f ms:", (double)(h->v[i].when - now) / 1e6);
        dump_call(out, c);
    }
}

static void dump_fd_side(FILE *out, const char *side, loom_fd_callback cb, void *data)
{
    fprintf(out, " %s ", side);
    loom__dump_function(out, fd_fn_address(cb));
    fprintf(out, "(data %p)", data);
}

static void dump_fds(loom_loop *loop, FILE *out)
{
    for (int fd = 0; fd < loop->fds_size; fd++) {
        const struct fd_entry *e = &loop->fds[fd];
        if (e->kind == FD_NONE)
            continue;
        fprintf(out, "  fd %d:", fd);
        if (e->kind == FD_ONE) {
            fprintf(out, " watch%s%s", e->interest & LOOM_READ ? " READ" : "", e->interest & LOOM_WRITE ? " WRITE" : "");
            dump_fd_side(out, "by", e->on_read, e->read_data);
        }
        if (e->kind == FD_SIDES && (e->interest & LOOM_READ))
            dump_fd_side(out, "read", e->on_read, e->read_data);
        if (e->kind == FD_SIDES && (e->interest & LOOM_WRITE))
            dump_fd_side(out, "write", e->on_write, e->write_data);
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
    fprintf(out, "loom loop %p on %s: %" PRIu64 " ticks, %u callbacks and timers, %zu fd watches%s\n",
            (void *)loop, loop->ops->name, loop->ticks, loop->calls.used, loop->watches,
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
