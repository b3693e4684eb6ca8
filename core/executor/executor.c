/* The executor: one process-wide pool of threads running blocking jobs.
 *
 * A job's future is touched only on its loop's thread (futures are not
 * thread-safe): a worker hands the finished job back with
 * loom_call_soon_threadsafe, and the loop's thread completes the future and
 * frees the job. The pool's mutex guards the queue and each job's state,
 * which the future's cancel hook reads from the loop's thread. */
#include "config.h"
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include <loom/executor.h>
#include "base/list.h"
#include "future/future-private.h"
#include "loop/loop-private.h"

enum job_state {
    JOB_QUEUED,   /* in the pool's queue */
    JOB_RUNNING,  /* a worker owns it */
    JOB_FINISHED, /* on its way back to the loop's thread */
};

struct job {
    struct list_node node;   /* in the queue, or in the orphans */
    loom_loop *loop;         /* a reference */
    loom_future *future;     /* a reference, used on the loop's thread only */
    loom_work_fn fn;
    void *arg;
    loom_destroy_fn arg_destroy;
    int status;
    loom_work_result result;
    enum job_state state;
};

static struct {
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    struct list queue;  /* struct job, oldest first */
    size_t queued;
    /* Finished jobs whose loop was closed before they got back: their future
     * must be released on the loop's thread, so they wait here for it. */
    struct list orphans;
    pthread_t *threads; /* max_threads of them, or NULL while none runs */
    unsigned n_threads, max_threads, idle;
    bool stopping;
    bool fork_handlers; /* registered with pthread_atfork */
} pool = {.mutex = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

/* --- the queue (pool.mutex held) ---------------------------------------- */

static void queue_push(struct job *job)
{
    list_push_back(&pool.queue, &job->node);
    pool.queued++;
}

static void queue_remove(struct job *job)
{
    list_unlink(&pool.queue, &job->node);
    pool.queued--;
}

/* Empties the queue, handing its jobs to the caller. */
static struct list queue_take(void)
{
    struct list jobs = pool.queue;
    pool.queue = (struct list){0};
    pool.queued = 0;
    return jobs;
}

static struct job *job_of(struct list_node *n)
{
    return n ? list_item(n, struct job, node) : NULL;
}

/* --- the loop's side ------------------------------------------------------ */

static void job_destroy_arg(struct job *job)
{
    if (job->arg_destroy)
        job->arg_destroy(job->arg);
    job->arg_destroy = NULL;
}

static void job_destroy_result(struct job *job)
{
    if (job->result.destroy)
        job->result.destroy(job->result.value);
    job->result.destroy = NULL;
}

/* On the loop's thread: the job is no one else's any more. */
static void job_free(struct job *job)
{
    loom__future_set_cancel_hook(job->future, NULL, NULL);
    loom_future_unref(job->future);
    loom__loop_release(job->loop);
    free(job);
}

static void job_deliver(loom_loop *loop, void *data)
{
    struct job *job = data;
    loom_future *future = job->future;

    loom__future_set_cancel_hook(future, NULL, NULL);
    if (job->status >= 0) {
        /* A future cancelled meanwhile destroys the value at once. */
        loom_future_resolve(future, job->result.value, job->result.destroy);
        job->result.destroy = NULL;
    } else if (job->status == -ECANCELED) {
        loom_future_cancel(future);
    } else {
        loom_future_fail(future, job->status, job->result.message);
    }
    job_free(job);
}

/* The loop closed with the finished job still in its inbox. */
static void job_dropped(void *data)
{
    job_destroy_result(data);
    job_free(data);
}

/* The future's cancel hook: a job that has not started never will. */
static void job_cancelled(void *data)
{
    struct job *job = data;

    pthread_mutex_lock(&pool.mutex);
    bool queued = job->state == JOB_QUEUED;
    if (queued)
        queue_remove(job);
    pthread_mutex_unlock(&pool.mutex);
    if (queued) {
        job_destroy_arg(job);
        job_free(job);
    }
}

/* Releases the orphans that belong to loops of the calling thread. */
static void reap_orphans(void)
{
    struct list mine = {0};

    pthread_mutex_lock(&pool.mutex);
    for (struct list_node *n = pool.orphans.first, *next; n; n = next) {
        next = n->next;
        if (loop_on_owner_thread(job_of(n)->loop)) {
            list_unlink(&pool.orphans, n);
            list_push_back(&mine, n);
        }
    }
    pthread_mutex_unlock(&pool.mutex);
    struct list_node *n;
    while ((n = list_pop_front(&mine)))
        job_free(job_of(n));
}

/* --- the pool's side ------------------------------------------------------ */

/* Sends a finished job back to its loop's thread (which drops it if it
 * closes first), or keeps it as an orphan when the loop is closed already. */
static void job_return(struct job *job)
{
    pthread_mutex_lock(&pool.mutex);
    job->state = JOB_FINISHED;
    pthread_mutex_unlock(&pool.mutex);
    if (loom__loop_call_soon_threadsafe_owned(job->loop, job_deliver, job, job_dropped) == 0)
        return;
    job_destroy_result(job);
    pthread_mutex_lock(&pool.mutex);
    list_push_front(&pool.orphans, &job->node);
    pthread_mutex_unlock(&pool.mutex);
}

static void job_run(struct job *job)
{
    /* A closed loop will not take the result: do not start the work. */
    if (!atomic_load(&job->loop->closed)) {
        job->status = job->fn(job->arg, &job->result);
        if (job->status < 0)
            job_destroy_result(job);
    }
    job_destroy_arg(job);
    job_return(job);
}

static void *worker_main(void *unused)
{
    pthread_setname_np(pthread_self(), "loom-worker"); /* for ps, gdb and the tests */
    pthread_mutex_lock(&pool.mutex);
    for (;;) {
        while (list_empty(&pool.queue) && !pool.stopping) {
            pool.idle++;
            pthread_cond_wait(&pool.wake, &pool.mutex);
            pool.idle--;
        }
        struct job *job = job_of(pool.queue.first);
        if (!job)
            break;
        queue_remove(job);
        job->state = JOB_RUNNING;
        pthread_mutex_unlock(&pool.mutex);
        job_run(job);
        pthread_mutex_lock(&pool.mutex);
    }
    pthread_mutex_unlock(&pool.mutex);
    return NULL;
}

static unsigned default_threads(void)
{
    const char *env = getenv("LOOM_EXECUTOR_THREADS");
    long n = env ? strtol(env, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);

    return n > 0 && n <= 1024 ? (unsigned)n : 4;
}

/* --- fork ------------------------------------------------------------------ */

/* The mutex is held across fork, so that the child gets the pool in a
 * consistent state. */
static void pool_fork_prepare(void)
{
    pthread_mutex_lock(&pool.mutex);
}

static void pool_fork_parent(void)
{
    pthread_mutex_unlock(&pool.mutex);
}

/* The child has none of the workers: it starts a pool of its own on first
 * use. The parent's jobs stay the parent's: the queued ones are marked
 * running, as if a (lost) worker had them, so they never run here and
 * cancelling their futures finds nothing to unqueue; they are leaked with
 * the rest of the parent's loops. */
static void pool_fork_child(void)
{
    struct list parents = queue_take();
    for (struct list_node *n = parents.first; n; n = n->next)
        job_of(n)->state = JOB_RUNNING;
    free(pool.threads);
    pool.threads = NULL;
    pool.n_threads = pool.idle = 0;
    pool.stopping = false;
    /* Its waiters were the parent's threads. */
    pthread_cond_init(&pool.wake, NULL);
    pthread_mutex_unlock(&pool.mutex);
}

/* --- growth ------------------------------------------------------------------ */

/* Allocates the thread list when the first worker is about to start
 * (pool.mutex held). */
static int pool_start(void)
{
    if (!pool.fork_handlers) {
        int r = pthread_atfork(pool_fork_prepare, pool_fork_parent, pool_fork_child);
        if (r != 0)
            return -r;
        pool.fork_handlers = true;
    }
    if (!pool.max_threads)
        pool.max_threads = default_threads();
    pool.threads = calloc(pool.max_threads, sizeof(*pool.threads));
    return pool.threads ? 0 : -ENOMEM;
}

/* Starts another worker if the queue outgrew the idle ones (pool.mutex
 * held). Returns 0, or a negative errno if no worker runs at all. */
static int pool_grow(void)
{
    if (pool.queued <= pool.idle || (pool.max_threads && pool.n_threads == pool.max_threads))
        return 0;
    int r = pool.threads ? 0 : pool_start();
    if (r < 0)
        return r;
    r = pthread_create(&pool.threads[pool.n_threads], NULL, worker_main, NULL);
    if (r == 0)
        pool.n_threads++;
    if (pool.n_threads)
        return 0;
    /* No worker runs, so loom_executor_set_threads may change max_threads:
     * the list sized for the old one must go. */
    free(pool.threads);
    pool.threads = NULL;
    return -r;
}

loom_future *loom_run_in_thread(loom_loop *loop, loom_work_fn fn, void *arg, loom_destroy_fn arg_destroy)
{
    if (!fn) {
        errno = EINVAL;
        return NULL;
    }
    loom_future *future = loom_future_new(loop);
    struct job *job = future ? calloc(1, sizeof(*job)) : NULL;
    if (!job) {
        loom_future_unref(future);
        return NULL;
    }
    reap_orphans();
    /* The loop's memory, not a user's reference: a job must not keep a
     * loop its program dropped open (nor its fds, its CLOSE hooks unrun). */
    loom__loop_hold(loop);
    *job = (struct job){.loop = loop, .future = loom_future_ref(future), .fn = fn,
                        .arg = arg, .arg_destroy = arg_destroy, .state = JOB_QUEUED};

    pthread_mutex_lock(&pool.mutex);
    int r = pool.stopping ? -ESHUTDOWN : 0;
    if (r == 0) {
        queue_push(job);
        if ((r = pool_grow()) < 0)
            queue_remove(job);
        else
            pthread_cond_signal(&pool.wake);
    }
    pthread_mutex_unlock(&pool.mutex);
    if (r < 0) {
        job->arg_destroy = NULL; /* the caller keeps arg on failure */
        job_free(job);
        loom_future_unref(future);
        errno = -r;
        return NULL;
    }
    loom__future_set_cancel_hook(future, job_cancelled, job);
    return future;
}

int loom_executor_set_threads(unsigned n)
{
    if (n == 0)
        return -EINVAL;
    pthread_mutex_lock(&pool.mutex);
    int r = pool.n_threads ? -EBUSY : 0;
    if (r == 0)
        pool.max_threads = n;
    pthread_mutex_unlock(&pool.mutex);
    return r;
}

void loom_executor_shutdown(void)
{
    pthread_mutex_lock(&pool.mutex);
    pool.stopping = true;
    struct list cancelled = queue_take();
    for (struct list_node *n = cancelled.first; n; n = n->next) {
        job_of(n)->state = JOB_FINISHED;
        job_of(n)->status = -ECANCELED;
    }
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.mutex);

    struct list_node *n;
    while ((n = list_pop_front(&cancelled))) {
        struct job *job = job_of(n);
        job_destroy_arg(job);
        job_return(job);
    }
    /* Only this function changes the thread list once stopping is set. */
    for (unsigned i = 0; i < pool.n_threads; i++)
        pthread_join(pool.threads[i], NULL);

    pthread_mutex_lock(&pool.mutex);
    free(pool.threads);
    pool.threads = NULL;
    pool.n_threads = 0;
    pool.stopping = false;
    pthread_mutex_unlock(&pool.mutex);
    reap_orphans();
}
