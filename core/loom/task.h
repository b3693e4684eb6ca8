/** @file
 * loom — tasks: functions that run on their own stack (fibers) and wait for
 * futures without blocking the loop.
 *
 *     static int fetch(void *arg)
 *     {
 *         int r = loom_await(connect_future);     // the loop runs meanwhile
 *         if (r < 0)
 *             return r;                           // the task fails with r
 *         loom_task_set_value(reply, free);       // the task's value
 *         return 0;
 *     }
 *     loom_future *task = loom_task_spawn(loop, fetch, req);
 *
 * A task IS a future: loom_task_spawn returns the future that completes with
 * the task's result, and everything the futures offer (on_done, combinators,
 * loom_loop_run_until, awaiting it from another task) works on it.
 *
 * Scheduling. A task runs only on its loop's thread, from the loop's ready
 * queue: spawning schedules its start for the next tick, and a task that
 * awaits is resumed by a ready callback once what it awaits is done, never
 * inside the call that completed it. It works on every backend, also inside
 * a nested host loop (a modal dialog), also one that a task itself runs.
 *
 * Cancellation. Cancelling a task's future (loom_future_cancel) completes
 * that future at once as cancelled, and delivers -ECANCELED to the task at
 * its current await point (or its next one, if it is running), cancelling
 * the future it awaits there. Cancellation is delivered once: the task may
 * clean up, its later awaits work, and its function still returns; its
 * return value is then ignored. A task group waits for the functions to
 * return, not just for the futures.
 *
 * Lifetime. A task keeps its own future alive until its function returns,
 * so the caller may drop its reference at once. A task that fails and that
 * nobody awaited is reported once to the loop's error handler, like any
 * failed future. Closing the loop resumes every suspended task (one that
 * has not started yet starts then, so that it can release its argument): its await
 * point returns -ESHUTDOWN, and so does every later one without suspending,
 * so the function can release what it holds and return (a task that keeps
 * retrying instead would hold up loom_loop_close). Tasks are resumed first
 * in the close, so the future a task awaited may still be pending then
 * (streams, servers and the rest fail theirs with -ESHUTDOWN next).
 *
 * Stacks. Each task has its own stack, 256 KiB unless said otherwise: glibc's
 * getaddrinfo and printf may use tens of KiB (alloca of up to 64 KiB inside
 * the resolver), and the stack is only reserved address space: a task costs
 * the pages it touched, about 4 KiB for one suspended in a shallow call.
 * Stacks are pooled per thread and reused. Each stack lies above a guard
 * page, and running into it ends the process with "loom: task stack
 * overflow" (a SIGSEGV handler on an alternate stack, installed only if the
 * program had none; under AddressSanitizer its own report appears instead).
 * Guard pages are limited, though: each costs the process one more of the
 * mappings Linux allows it (vm.max_map_count, 65,530 by default). Once the
 * guarded stacks would use a quarter of that limit (about 8,000 stacks by
 * default), new stacks come WITHOUT a guard page, 64 to a mapping, so that
 * 1,000,000 concurrent tasks still fit; an overflow of such a stack corrupts
 * the neighbouring one silently. Programs with many deep tasks should raise
 * vm.max_map_count or give those tasks larger stacks. A frame larger than a
 * page can also jump over a guard page; compile with
 * -fstack-clash-protection to prevent that. */
#ifndef LOOM_TASK_H
#define LOOM_TASK_H

#include <stddef.h>
#include <loom/future.h>

LOOM_BEGIN_DECLS

/** The body of a task. Its return value completes the task's future: >= 0
 * resolves it, with the value loom_task_set_value gave if there is one, else
 * with that number as its integer (loom_future_value_int); < 0 fails it with
 * that errno (and the message loom_task_fail gave, if any). */
typedef int (*loom_task_fn)(void *arg);

/** Spawns fn(arg) as a task on loop; it starts on the next tick. Returns a new
 * reference to the task's future (the caller may drop it at once: the task
 * keeps running), or NULL with errno set (EINVAL, ESHUTDOWN, EXDEV, ENOMEM).
 * arg is borrowed by fn. */
LOOM_API loom_future *loom_task_spawn(loom_loop *loop, loom_task_fn fn, void *arg);

/** The same with a stack of at least stack_size bytes (0: the default;
 * at least 16 KiB, rounded up to whole pages). More than 1 GiB fails with
 * EINVAL. */
LOOM_API loom_future *loom_task_spawn_with_stack(loom_loop *loop, loom_task_fn fn, void *arg,
                                                 size_t stack_size);

/** The future of the task running now (borrowed), or NULL outside a task. */
LOOM_API loom_future *loom_task_current(void);

/** @name Await points
 * From inside a task only; elsewhere they return -EPERM
 * and do nothing. Each returns -ECANCELED if the task was cancelled, and
 * -ESHUTDOWN once the loop is closed. */
///@{

/** Suspends the task until future is done, and returns its status: 0 if
 * resolved (read the value from the future), its negative errno if failed
 * (which counts as retrieved) or cancelled. A done future returns at once,
 * without suspending. If the task is cancelled meanwhile, future is
 * cancelled too — unless it had resolved already (a lock granted, an item
 * received): then loom_await returns 0, the result is the task's, and
 * -ECANCELED comes at the next await point, so no grant is ever lost.
 * future is borrowed: the caller keeps its reference. -EXDEV for a future
 * of another loop (reported), -EDEADLK for the task's own, -EPERM outside a
 * task, -ESHUTDOWN once the loop is closed. */
LOOM_API int loom_await(loom_future *future);

/** loom_await, but after timeout_ns the future is cancelled and -ETIMEDOUT
 * returned. Other errors as loom_await. */
LOOM_API int loom_await_timeout(loom_future *future, int64_t timeout_ns);

/** Suspends the task for at least ns nanoseconds (never less). 0 or
 * -ECANCELED (and -EPERM, -ESHUTDOWN as every await point). */
LOOM_API int loom_sleep(int64_t ns);

/** Lets the other ready callbacks and tasks run: resumes on the next tick.
 * 0 or -ECANCELED (and -EPERM, -ESHUTDOWN as every await point). */
LOOM_API int loom_yield(void);
///@}

/* --- the task's result -------------------------------------------------- */

/** Sets the value the task's future resolves with when the function returns
 * >= 0. Takes ownership of value: destroy (may be NULL) is called on it when
 * the future is freed, or at once if the task fails or was cancelled. A
 * second call replaces (and destroys) the first value. Returns 0, or -EPERM
 * outside a task (value is then destroyed). */
LOOM_API int loom_task_set_value(void *value, loom_destroy_fn destroy);

/** Records msg (copied, may be NULL) as the message the task fails with, and
 * returns err, so that a task can `return loom_task_fail(-EPROTO, "bad
 * header");`. Outside a task it only returns err. */
LOOM_API int loom_task_fail(int err, const char *msg);

/* --- task groups ---------------------------------------------------------
 *
 * A group runs child tasks as one: the first child that fails cancels the
 * others, and waiting for the group lasts until every child has returned,
 * even after a failure, a cancellation or the deadline. A child that is
 * cancelled on its own does not fail the group. Failures of later children
 * are not the group's result; one nobody retrieves is reported when its
 * future goes. */
/** A group of child tasks (opaque; owned by whoever made it with
 * loom_task_group_new, freed with loom_task_group_free). */
typedef struct loom_task_group loom_task_group;

/** A new empty group on loop, owned by the caller. NULL with errno set
 * (EINVAL, ESHUTDOWN, EXDEV, ENOMEM). */
LOOM_API loom_task_group *loom_task_group_new(loom_loop *loop);

/** Spawns fn(arg) as a child of group, like loom_task_spawn. Returns a new
 * reference to the child's future, or NULL with errno set: ECANCELED once
 * the group has failed, been cancelled or passed its deadline. */
LOOM_API loom_future *loom_task_group_spawn(loom_task_group *group, loom_task_fn fn, void *arg);

/** From a task: waits until every child has returned, including children
 * spawned meanwhile. Returns 0, or the group's failure: the first failed
 * child's errno, -ETIMEDOUT if the deadline passed first, -ECANCELED if the
 * group was cancelled first. If the waiting task is cancelled, the group is
 * cancelled and the wait still lasts until the children have returned
 * (then -ECANCELED). -EPERM outside a task, -EDEADLK from one of the
 * group's children, -EBUSY while another task waits for the group. */
LOOM_API int loom_task_group_wait(loom_task_group *group);

/** The group's failure so far (0 if none), and the failed child's message
 * (owned by the group, or NULL). */
///@{
LOOM_API int loom_task_group_status(const loom_task_group *group);
LOOM_API const char *loom_task_group_message(const loom_task_group *group);
///@}

/** Number of children whose function has not returned yet. */
LOOM_API size_t loom_task_group_running(const loom_task_group *group);

/** Cancels the children still running; the group fails with -ECANCELED
 * unless it had failed already. */
LOOM_API void loom_task_group_cancel(loom_task_group *group);

/** At the monotonic time when_ns (see loom_loop_now), the group fails with
 * -ETIMEDOUT unless it had failed already, and its children are cancelled.
 * Replaces an earlier deadline; INT64_MAX removes it. Returns 0 or a
 * negative errno (-EINVAL for a NULL group; -ENOMEM, -ESHUTDOWN, -EXDEV as
 * loom_call_at). */
LOOM_API int loom_task_group_set_deadline(loom_task_group *group, int64_t when_ns);

/** Releases the caller's group. Children still running are cancelled and
 * finish on their own. A failure that loom_task_group_wait did not return
 * is reported to the loop's error handler. */
LOOM_API void loom_task_group_free(loom_task_group *group);

LOOM_END_DECLS

#endif
