/** @file
 * loom — the executor: blocking work on a thread pool, its result delivered
 * as a future on the loop's thread.
 *
 * One pool serves the whole process. It starts its threads on first use (as
 * many as there are cores, or $LOOM_EXECUTOR_THREADS, or what
 * loom_executor_set_threads said), named "loom-worker", and runs the jobs
 * in submission order.
 * The pool keeps the memory of each job's loop, so a job finishing after
 * its loop was closed or dropped touches nothing freed; it does not keep the
 * loop open: the program's last loom_loop_unref closes it as usual.
 *
 * Cancelling the future of a job that has not started yet means it never
 * runs. Cancelling it while it runs cannot stop it: when it finishes its
 * result is destroyed on the loop's thread. When the loop is closed, the
 * queued jobs for it do not run (their futures stay pending: a closed loop
 * runs nothing) and the results of running ones are destroyed; such a job
 * keeps its reference to the future (and so to the loop's memory) until the
 * next executor call from the loop's thread, or loom_executor_shutdown called
 * on that thread, releases it there (a shutdown from another thread leaves
 * it, reachable, to the loop's thread).
 *
 * After fork, the child has a pool of its own, started on its first use
 * (with the same thread count): jobs submitted before the fork run in the
 * parent only, and their futures never complete in the child.
 *
 * The pool is not shut down at exit (an atexit handler would wait for work
 * blocked in a system call); a program that wants its threads joined calls
 * loom_executor_shutdown. */
#ifndef LOOM_EXECUTOR_H
#define LOOM_EXECUTOR_H

#include <loom/future.h>

LOOM_BEGIN_DECLS

/** What a work function hands back. Its future is resolved with value and
 * destroy (the future owns value) or fails with the negative errno the work
 * function returned and message. */
typedef struct loom_work_result {
    void *value;             /**< owned by the future once the job returned 0 */
    loom_destroy_fn destroy; /**< may be NULL */
    const char *message;     /**< on failure: a static string, or NULL */
} loom_work_result;

/** Runs on a pool thread. Returns 0 with *result filled in, or a negative
 * errno (a value set in *result is destroyed then). */
typedef int (*loom_work_fn)(void *arg, loom_work_result *result);

/** Runs fn(arg, ...) on the pool; returns a future (a new reference the caller
 * owns) completed on loop's thread with the result, or NULL with errno set.
 * arg_destroy (may be NULL) is called once fn has returned or once it is
 * certain it will never run, on whichever thread that happens: arg must stay
 * valid until then. On failure (NULL) arg_destroy is not called: the caller
 * keeps arg. Call it on the loop's thread. */
LOOM_API loom_future *loom_run_in_thread(loom_loop *loop, loom_work_fn fn, void *arg,
                                         loom_destroy_fn arg_destroy);

/** Sets the number of pool threads (n >= 1). Only before the pool starts (or
 * after loom_executor_shutdown): -EBUSY otherwise, -EINVAL for 0. */
LOOM_API int loom_executor_set_threads(unsigned n);

/** Stops the pool: jobs that have not started are cancelled (their futures
 * are cancelled on their loops' threads; arg_destroy runs here), running
 * ones finish and deliver their results, and every pool thread is joined.
 * The pool can be used again afterwards (it starts anew). Must not be
 * called from a pool thread; blocks while work is running. */
LOOM_API void loom_executor_shutdown(void);

/* --- name resolution ---------------------------------------------------- */

struct addrinfo;

/** getaddrinfo(3) on the pool. host, service and hints (each may be NULL, as
 * for getaddrinfo) are copied. The future resolves with a struct addrinfo
 * list (its value, freed with freeaddrinfo when the future goes; steal it to
 * keep it) or fails with gai_strerror's text as its message and:
 *   EAI_NONAME, EAI_NODATA -> -ENOENT      EAI_AGAIN    -> -EAGAIN
 *   EAI_FAIL               -> -EIO         EAI_MEMORY   -> -ENOMEM
 *   EAI_FAMILY             -> -EAFNOSUPPORT EAI_ADDRFAMILY -> -EADDRNOTAVAIL
 *   EAI_SOCKTYPE           -> -ESOCKTNOSUPPORT EAI_SERVICE -> -EPROTONOSUPPORT
 *   EAI_BADFLAGS           -> -EINVAL      EAI_OVERFLOW -> -EOVERFLOW
 *   EAI_SYSTEM             -> -errno       anything else -> -EIO */
LOOM_API loom_future *loom_getaddrinfo(loom_loop *loop, const char *host, const char *service,
                                       const struct addrinfo *hints);

LOOM_END_DECLS

#endif
