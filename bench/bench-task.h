/* loom-bench — task metrics (bench-task.c). */
#ifndef LOOM_BENCH_TASK_H
#define LOOM_BENCH_TASK_H

#include <loom/loop.h>

/* Prints task_spawn_join, task_yield, task_switch, await_resolved and
 * task_memory (at memory_tasks suspended tasks), measured on loop (which must
 * be idle). */
void bench_tasks(loom_loop *loop, unsigned memory_tasks);

#endif
