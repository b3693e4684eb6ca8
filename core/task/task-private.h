/* What task groups (task-group.c) need from tasks (task.c) beyond the public
 * API. */
#ifndef LOOM_TASK_PRIVATE_H
#define LOOM_TASK_PRIVATE_H

#include <loom/task.h>

/* Called on the loop's thread once a task's function has returned and its
 * future is complete (the task still holds a reference to it). */
typedef void (*task_return_fn)(void *data);

/* loom_task_spawn_with_stack, and on_return(data) (may be NULL) when the
 * function has returned. */
loom_future *loom__task_spawn(loom_loop *loop, loom_task_fn fn, void *arg, size_t stack_size,
                        task_return_fn on_return, void *data);

#endif
