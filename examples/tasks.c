/* loom tasks demo on the built-in loop: asynchronous code that reads like
 * sequential code.
 *
 * Three workers sleep and report in turn; a task group runs a fast and a slow
 * job under a deadline (the slow one is cancelled at its await point and
 * cleans up); blocking work runs on the executor while the loop goes on; and
 * a name lookup goes through loom_getaddrinfo. */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <loom/loom.h>
#include <loom/executor.h>
#include <loom/task.h>

#define MS (1000 * 1000LL)

static int64_t start;

static double elapsed_ms(void)
{
    return (double)(loom_loop_now(loom_future_loop(loom_task_current())) - start) / MS;
}

static int worker(void *arg)
{
    const char *name = arg;
    for (int round = 1; round <= 3; round++) {
        loom_sleep(40 * MS); /* the other tasks run meanwhile */
        printf("%6.0f ms  %s: round %d\n", elapsed_ms(), name, round);
    }
    return 0;
}

static int job(void *arg)
{
    int64_t ms = (int64_t)(intptr_t)arg;
    int r = loom_sleep(ms * MS);
    if (r == -ECANCELED) {
        printf("%6.0f ms  %lld ms job: cancelled at its await point, cleaning up\n", elapsed_ms(),
               (long long)ms);
        return r;
    }
    printf("%6.0f ms  %lld ms job: done\n", elapsed_ms(), (long long)ms);
    return 0;
}

static int blocking_sum(void *arg, loom_work_result *result)
{
    (void)result;
    usleep(50 * 1000); /* blocking: on a pool thread, not on the loop */
    int64_t n = (int64_t)(intptr_t)arg, sum = 0;
    for (int64_t i = 1; i <= n; i++)
        sum += i;
    result->value = malloc(sizeof(int64_t));
    if (!result->value)
        return -ENOMEM;
    *(int64_t *)result->value = sum;
    result->destroy = free;
    return 0;
}

static int main_task(void *arg)
{
    loom_loop *loop = arg;

    /* Three tasks interleave on one thread. */
    loom_future *workers[] = {loom_task_spawn(loop, worker, "alpha"), loom_task_spawn(loop, worker, "beta"),
                              loom_task_spawn(loop, worker, "gamma")};
    loom_future *all = loom_future_all(loop, workers, 3);
    loom_await(all);
    loom_future_unref(all);
    for (int i = 0; i < 3; i++)
        loom_future_unref(workers[i]);

    /* A group with a 100 ms deadline: the fast job finishes, the slow one
     * is cancelled, and the wait lasts until both functions returned. */
    loom_task_group *group = loom_task_group_new(loop);
    loom_task_group_set_deadline(group, loom_loop_now(loop) + 100 * MS);
    loom_future_unref(loom_task_group_spawn(group, job, (void *)(intptr_t)30));
    loom_future_unref(loom_task_group_spawn(group, job, (void *)(intptr_t)5000));
    int r = loom_task_group_wait(group);
    printf("%6.0f ms  group: %s\n", elapsed_ms(), r == 0 ? "ok" : loom_strerror(r));
    loom_task_group_free(group);

    /* Blocking work on the executor; the loop keeps running. */
    loom_future *sum = loom_run_in_thread(loop, blocking_sum, (void *)(intptr_t)1000000, NULL);
    if (loom_await(sum) == 0)
        printf("%6.0f ms  executor: sum 1..1000000 = %lld\n", elapsed_ms(),
               (long long)*(int64_t *)loom_future_value(sum));
    loom_future_unref(sum);

    /* A name lookup, also on the executor. */
    loom_future *lookup = loom_getaddrinfo(loop, "localhost", "80", NULL);
    r = loom_await(lookup);
    printf("%6.0f ms  getaddrinfo(localhost): %s\n", elapsed_ms(),
           r == 0 ? "resolved" : loom_strerror(r));
    loom_future_unref(lookup);
    return 0;
}

int main(void)
{
    loom_loop *loop;
    int r = loom_loop_new(&loop, NULL);
    if (r < 0) {
        fprintf(stderr, "loom_loop_new: %s\n", loom_strerror(r));
        return 1;
    }
    start = loom_loop_now(loop);
    printf("loom tasks demo on the %s backend\n", loom_loop_backend_name(loop));
    loom_future *task = loom_task_spawn(loop, main_task, loop);
    r = loom_loop_run_until(loop, task);
    printf("done: %s\n", r == 0 ? "ok" : loom_strerror(r));
    loom_future_unref(task);
    loom_executor_shutdown();
    loom_loop_unref(loop);
    return r == 0 ? 0 : 1;
}
