/* Tasks: a function on its own fiber, whose await points switch back to
 * whoever resumed it. Every resume comes from the loop's ready queue (a
 * future's completion callback, a timer, a call_soon), and a suspended task
 * has exactly one wakeup pending: the completion of the future it awaits,
 * its sleep timer, or a scheduled call. Cancellation never adds a second
 * one; it cancels the awaited future (whose completion then wakes the task)
 * or turns the timer into a call. */
#include "config.h"
#include <stdlib.h>
#include <string.h>
#include "fiber/fiber.h"
#include "future/future-private.h"
#include "loop/loop-private.h"
#include "task-private.h"

enum task_state {
    TASK_SUSPENDED, /* its one wakeup is pending */
    TASK_RUNNING,
    TASK_RETURNED,  /* the function returned; the fiber is gone */
};

struct task {
    struct loop_member member; /* the loop resumes it at close */
    struct fiber fiber;
    struct fiber_stack stack;
    loom_loop *loop;      /* borrowed: the future holds a reference */
    loom_future *future;  /* a reference, until the function returned */
    loom_task_fn fn;
    void *arg;
    task_return_fn on_return;
    void *on_return_data;
    enum task_state state;
    bool cancel_pending;  /* cancelled; -ECANCELED not delivered yet */
    loom_future *awaited; /* the wakeup: this future's completion */
    loom_handle timer;    /* or this sleep timer; else a scheduled call */
    int result;
    void *value;
    loom_destroy_fn destroy;
    char *message;
};

/* The task running on this thread. Each resume saves the outer one: a task
 * may be resumed from inside another task that runs a nested loop.
 * initial-exec: read without a call into the dynamic linker, on every await
 * and in the stack overflow handler. */
static _Thread_local struct task *current __attribute__((tls_model("initial-exec")));


/* --- resuming and finishing --------------------------------------------------- */

static void task_complete_future(struct task *t)
{
    loom__future_set_cancel_hook(t->future, NULL, NULL);
    if (t->result >= 0) {
        if (t->value || t->destroy)
            loom_future_resolve(t->future, t->value, t->destroy); /* destroys it if cancelled */
        else
            loom_future_resolve_int(t->future, t->result);
        return;
    }
    if (t->destroy)
        t->destroy(t->value);
    /* Without memory for the message the failure still travels. */
    if (loom_future_fail(t->future, t->result, t->message) == -ENOMEM)
        loom_future_fail(t->future, t->result, NULL);
}


/* On the resumer's stack, once the fiber has switched away for good. */
static void task_finish(struct task *t)
{
    loop_member_remove(t->loop, &t->member);
    fiber_fini(&t->fiber);
    loom__fiber_stack_put(&t->stack);
    task_complete_future(t);
    free(t->message);
    if (t->on_return)
        t->on_return(t->on_return_data);
    loom_future_unref(t->future); /* reports a failure nobody retrieved */
    free(t);
}

static void task_resume(struct task *t)
{
    struct fiber caller;
    fiber_init_current(&caller);
    struct task *outer = current;
    const struct fiber_stack *outer_stack = loom__fiber_stack_running;
    current = t;
    loom__fiber_stack_running = &t->stack;
    t->state = TASK_RUNNING;
    fiber_switch(&caller, &t->fiber);
    current = outer;
    loom__fiber_stack_running = outer_stack;
    if (t->state == TASK_RETURNED)
        task_finish(t);
}

static void task_main(void *data)
{
    struct task *t = data;
    fiber_enter(&t->fiber);
    t->result = t->fn(t->arg);
    t->state = TASK_RETURNED;
    fiber_exit(&t->fiber);
}

/* The wakeups. */
static void task_wake(loom_loop *loop, void *data)
{
    struct task *t = data;
    t->timer = 0;
    task_resume(t);
}

static void task_wake_future(loom_future *future, void *data)
{
    task_resume(data);
}

/* Delivers a pending cancellation (once): -ECANCELED, else 0. */
static int task_take_cancel(struct task *t)
{
    if (!t->cancel_pending)
        return 0;
    t->cancel_pending = false;
    return -ECANCELED;
}

/* Switches back to the resumer until the pending wakeup resumes the task,
 * or the loop closes (-ESHUTDOWN). */
static int task_suspend(struct task *t)
{
    if (atomic_load_explicit(&t->loop->closed, memory_order_relaxed))
        return -ESHUTDOWN;
    t->state = TASK_SUSPENDED;
    fiber_switch(&t->fiber, t->fiber.resumer);
    return atomic_load_explicit(&t->loop->closed, memory_order_relaxed) ? -ESHUTDOWN : 0;
}

/* At close. Close is refused inside a tick, so the task is suspended, and
 * resumed it cannot suspend again: it runs until its function returns, which
 * unlinks it. */
static void task_shutdown(struct loop_member *m)
{
    task_resume(list_item(m, struct task, member));
}

static void task_dump(struct loop_member *m, FILE *out)
{
    struct task *t = list_item(m, struct task, member);
    const char *name = loom_future_get_name(t->future);
    fprintf(out, "task %s%s%p: %s", name ? name : "", name ? " " : "", (void *)t->future,
            t->state == TASK_RUNNING ? "running" : "suspended");
    if (t->state != TASK_SUSPENDED)
        return;
    if (t->awaited) {
        const char *what = loom_future_get_name(t->awaited);
        fprintf(out, ", awaiting future %s%s%p", what ? what : "", what ? " " : "", (void *)t->awaited);
    } else {
        fprintf(out, t->timer ? ", sleeping" : ", scheduled to run");
    }
    if (t->cancel_pending)
        fprintf(out, ", cancellation pending");
}

static const struct loop_member_ops task_member_ops = {
    .phase = LOOP_PHASE_RUNS,
    .shutdown = task_shutdown,
    .dump = task_dump,
};

/* The cancel hook of the task's future. */
static void task_cancelled(void *data)
{
    struct task *t = data;
    t->cancel_pending = true;
    if (t->state != TASK_SUSPENDED)
        return; /* running: its next await point gets it */
    if (t->awaited) {
        loom_future_cancel(t->awaited); /* its completion wakes the task */
    } else if (t->timer) {
        /* Wake now instead; if that cannot be scheduled, the timer still wakes it. */
        loom_handle timer = t->timer;
        if (loom_call_soon(t->loop, task_wake, t, NULL) == 0) {
            loom_cancel(t->loop, timer);
            t->timer = 0;
        }
    }
    /* else a call is scheduled already (start, yield) */
}

/* --- spawning --------------------------------------------------------------------- */

loom_future *loom__task_spawn(loom_loop *loop, loom_task_fn fn, void *arg, size_t stack_size,
                        task_return_fn on_return, void *data)
{
    if (!fn) {
        errno = EINVAL;
        return NULL;
    }
    loom_future *future = loom_future_new(loop); /* checks loop, thread, closed */
    if (!future)
        return NULL;
    struct task *t = calloc(1, sizeof(*t));
    int r = t ? loom__fiber_stack_get(&t->stack, stack_size) : -ENOMEM;
    if (r == 0) {
        fiber_init(&t->fiber, t->stack.lo, t->stack.size, task_main, t);
        r = loom_call_soon(loop, task_wake, t, NULL);
        if (r < 0) {
            fiber_fini(&t->fiber);
            loom__fiber_stack_put(&t->stack);
        }
    }
    if (r < 0) {
        free(t);
        loom_future_unref(future);
        errno = -r;
        return NULL;
    }
    t->loop = loop;
    t->future = loom_future_ref(future);
    t->fn = fn;
    t->arg = arg;
    t->on_return = on_return;
    t->on_return_data = data;
    t->state = TASK_SUSPENDED;
    t->member.ops = &task_member_ops;
    loop_member_add(loop, &t->member);
    loom__future_set_cancel_hook(future, task_cancelled, t);
    return future;
}

loom_future *loom_task_spawn_with_stack(loom_loop *loop, loom_task_fn fn, void *arg, size_t stack_size)
{
    return loom__task_spawn(loop, fn, arg, stack_size, NULL, NULL);
}

loom_future *loom_task_spawn(loom_loop *loop, loom_task_fn fn, void *arg)
{
    return loom__task_spawn(loop, fn, arg, 0, NULL, NULL);
}

loom_future *loom_task_current(void)
{
    return current ? current->future : NULL;
}

/* --- await points ------------------------------------------------------------------ */

int loom_await(loom_future *future)
{
    struct task *t = current;
    if (!t)
        return -EPERM;
    if (!future)
        return -EINVAL;
    if (future == t->future)
        return -EDEADLK;
    if (loom_future_loop(future) != t->loop) {
        loom_loop_report(t->loop, -EXDEV, "loom_await: the future belongs to another loop");
        return -EXDEV;
    }
    /* A grant that came before the cancellation (a lock taken at once) is the
     * task's; -ECANCELED then comes at the next await point. */
    if (t->cancel_pending && loom_future_state_get(future) != LOOM_FUTURE_RESOLVED) {
        loom_future_cancel(future);
        return task_take_cancel(t);
    }
    if (!loom_future_done(future)) {
        int r = loom_future_on_done(future, task_wake_future, t);
        if (r < 0)
            return r;
        t->awaited = loom_future_ref(future);
        r = task_suspend(t);
        t->awaited = NULL;
        loom_future_unref(future); /* the caller still holds one */
        if (r < 0)
            return r;
        /* A result that arrived before the cancellation is the task's (a
         * lock granted, an item received): the cancellation waits for the
         * next await point rather than lose it. */
        if (loom_future_state_get(future) != LOOM_FUTURE_RESOLVED && t->cancel_pending)
            return task_take_cancel(t);
    }
    return loom_future_status(future);
}

int loom_await_timeout(loom_future *future, int64_t timeout_ns)
{
    if (!current)
        return -EPERM;
    if (!future)
        return -EINVAL;
    loom_future *timed = loom_future_timeout(future, timeout_ns);
    if (!timed)
        return -errno;
    int r = loom_await(timed);
    loom_future_unref(timed);
    /* As loom_await: a result that arrived first is the task's, and the
     * cancellation waits for the next await point. */
    if (r < 0 && loom_future_state_get(future) == LOOM_FUTURE_RESOLVED) {
        if (r == -ECANCELED)
            current->cancel_pending = true;
        return 0;
    }
    return r;
}

int loom_sleep(int64_t ns)
{
    struct task *t = current;
    if (!t)
        return -EPERM;
    if (t->cancel_pending)
        return task_take_cancel(t);
    int r = loom_call_later(t->loop, ns, task_wake, t, &t->timer);
    if (r < 0)
        return r;
    r = task_suspend(t);
    return r < 0 ? r : task_take_cancel(t);
}

int loom_yield(void)
{
    struct task *t = current;
    if (!t)
        return -EPERM;
    if (t->cancel_pending)
        return task_take_cancel(t);
    int r = loom_call_soon(t->loop, task_wake, t, NULL);
    if (r < 0)
        return r;
    r = task_suspend(t);
    return r < 0 ? r : task_take_cancel(t);
}

/* --- the result -------------------------------------------------------------------- */

int loom_task_set_value(void *value, loom_destroy_fn destroy)
{
    struct task *t = current;
    if (!t) {
        if (destroy)
            destroy(value);
        return -EPERM;
    }
    if (t->destroy)
        t->destroy(t->value);
    t->value = value;
    t->destroy = destroy;
    return 0;
}

int loom_task_fail(int err, const char *msg)
{
    struct task *t = current;
    if (t) {
        free(t->message);
        t->message = msg ? strdup(msg) : NULL;
    }
    return err;
}
