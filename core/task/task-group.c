/* Task groups: children that succeed or fail as one, and a wait that lasts
 * until every child function has returned. The group outlives its owner's
 * loom_task_group_free while children still run; the last one frees it. */
#include "config.h"
#include <stdlib.h>
#include <string.h>
#include "loop/loop-private.h"
#include "task-private.h"

struct group_child {
    struct list_node node; /* in the group's children */
    loom_task_group *group;
    loom_future *future; /* a reference */
};

struct loom_task_group {
    loom_loop *loop; /* an internal reference (loom__loop_hold) */
    struct list children; /* struct group_child, still running */
    size_t running;
    int status;         /* the first failure, or 0 */
    char *message;      /* the failed child's */
    bool status_seen;   /* returned by loom_task_group_wait */
    bool owned;         /* not freed by its owner yet */
    loom_handle deadline;
    loom_future *idle;  /* the waiter's: resolved when the last child returns */
};

loom_task_group *loom_task_group_new(loom_loop *loop)
{
    int r = loop_check(loop, __func__);
    if (r < 0) {
        errno = -r;
        return NULL;
    }
    loom_task_group *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->loop = loop;
    loom__loop_hold(loop);
    g->owned = true;
    return g;
}

/* Records the group's first failure and cancels the children. */
static void group_fail(loom_task_group *g, int err, const char *msg)
{
    if (g->status < 0)
        return;
    g->status = err;
    g->message = msg ? strdup(msg) : NULL;
    for (struct list_node *n = g->children.first; n; n = n->next)
        loom_future_cancel(list_item(n, struct group_child, node)->future);
}

static void group_destroy(loom_task_group *g)
{
    if (g->status < 0 && g->status != -ECANCELED && !g->status_seen)
        loom_loop_report(g->loop, g->status, "a task group failed and nobody waited for it: %s",
                         g->message ? g->message : loom_strerror(g->status));
    free(g->message);
    loom__loop_release(g->loop);
    free(g);
}

static void group_child_returned(void *data)
{
    struct group_child *c = data;
    loom_task_group *g = c->group;

    list_unlink(&g->children, &c->node);
    g->running--;
    /* Retrieving the first failure makes it the group's to report. */
    if (loom_future_state_get(c->future) == LOOM_FUTURE_FAILED && g->status == 0)
        group_fail(g, loom_future_status(c->future), loom_future_message(c->future));
    loom_future_unref(c->future);
    free(c);

    if (g->running > 0)
        return;
    if (g->idle)
        loom_future_resolve_int(g->idle, 0); /* the waiter frees a freed group */
    else if (!g->owned)
        group_destroy(g);
}

loom_future *loom_task_group_spawn(loom_task_group *group, loom_task_fn fn, void *arg)
{
    if (!group || !fn) {
        errno = EINVAL;
        return NULL;
    }
    if (group->status < 0) {
        errno = ECANCELED;
        return NULL;
    }
    struct group_child *c = malloc(sizeof(*c));
    if (!c)
        return NULL;
    loom_future *future = loom__task_spawn(group->loop, fn, arg, 0, group_child_returned, c);
    if (!future) {
        free(c);
        return NULL;
    }
    *c = (struct group_child){.group = group, .future = loom_future_ref(future)};
    list_push_back(&group->children, &c->node);
    group->running++;
    return future;
}

int loom_task_group_wait(loom_task_group *group)
{
    if (!loom_task_current())
        return -EPERM;
    if (!group)
        return -EINVAL;
    if (group->idle)
        return -EBUSY; /* one waiter at a time */
    for (struct list_node *n = group->children.first; n; n = n->next)
        if (list_item(n, struct group_child, node)->future == loom_task_current())
            return -EDEADLK; /* a child would wait for itself */
    int r = 0;
    while (r == 0 && group->running > 0) {
        loom_future *idle = loom_future_new(group->loop);
        if (!idle)
            return -errno;
        group->idle = idle;
        r = loom_await(idle);
        group->idle = NULL;
        loom_future_unref(idle);
        if (r == -ECANCELED) { /* the waiter was: so is the group, and we wait on */
            loom_task_group_cancel(group);
            r = 0;
        }
    }
    if (r == 0) {
        group->status_seen = true;
        r = group->status;
    }
    if (!group->owned && group->running == 0)
        group_destroy(group); /* freed while we waited */
    return r;
}

int loom_task_group_status(const loom_task_group *group)
{
    return group ? group->status : -EINVAL;
}

const char *loom_task_group_message(const loom_task_group *group)
{
    return group ? group->message : NULL;
}

size_t loom_task_group_running(const loom_task_group *group)
{
    return group ? group->running : 0;
}

void loom_task_group_cancel(loom_task_group *group)
{
    if (group)
        group_fail(group, -ECANCELED, NULL);
}

static void group_deadline_passed(loom_loop *loop, void *data)
{
    loom_task_group *g = data;
    g->deadline = 0;
    group_fail(g, -ETIMEDOUT, NULL);
}

int loom_task_group_set_deadline(loom_task_group *group, int64_t when_ns)
{
    if (!group)
        return -EINVAL;
    if (group->deadline)
        loom_cancel(group->loop, group->deadline);
    group->deadline = 0;
    if (when_ns == INT64_MAX)
        return 0;
    return loom_call_at(group->loop, when_ns, group_deadline_passed, group, &group->deadline);
}

void loom_task_group_free(loom_task_group *group)
{
    if (!group)
        return;
    if (group->deadline)
        loom_cancel(group->loop, group->deadline);
    group->deadline = 0;
    group->owned = false;
    if (group->running > 0)
        group_fail(group, -ECANCELED, NULL); /* the last child, or the waiter, frees it */
    else if (!group->idle)
        group_destroy(group);
}
