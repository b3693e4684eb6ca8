/* loom demo on the built-in loop: timers, fd readiness, thread-safe calls and
 * futures working together.
 *
 * A worker thread computes squares and sends each result through a pipe; the
 * loop reads them as they arrive (fd readiness) and resolves one future per
 * result. The worker also reports progress with loom_call_soon_threadsafe.
 * loom_future_all waits for every result, loom_future_timeout guards the
 * whole with a deadline, and a repeating timer prints a heartbeat meanwhile. */
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <unistd.h>
#include <loom/loom.h>

enum { JOBS = 5 };

struct demo {
    loom_loop *loop;
    int pipe_fds[2];
    loom_future *results[JOBS];
    int received;
    loom_handle heartbeat;
    int64_t start;
};

static double ms_since(struct demo *d)
{
    return (double)(loom_loop_now(d->loop) - d->start) / 1e6;
}

static void on_progress(loom_loop *loop, void *data)
{
    (void)loop;
    printf("[thread-safe] worker finished job %d\n", (int)(intptr_t)data);
}

static void *worker(void *arg)
{
    struct demo *d = arg;
    for (int i = 0; i < JOBS; i++) {
        usleep(30 * 1000); /* some blocking work */
        int64_t square = (int64_t)(i + 1) * (i + 1);
        if (write(d->pipe_fds[1], &square, sizeof(square)) != sizeof(square))
            perror("write");
        loom_call_soon_threadsafe(d->loop, on_progress, (void *)(intptr_t)i);
    }
    return NULL;
}

static void on_readable(loom_loop *loop, int fd, unsigned events, void *data)
{
    struct demo *d = data;
    int64_t value;
    if (read(fd, &value, sizeof(value)) != sizeof(value)) {
        loom_remove_reader(loop, fd);
        return;
    }
    printf("[fd %d] result %lld after %.0f ms\n", fd, (long long)value, ms_since(d));
    loom_future_resolve_int(d->results[d->received++], value);
    if (d->received == JOBS)
        loom_remove_reader(loop, fd);
}

static void on_heartbeat(loom_loop *loop, void *data)
{
    struct demo *d = data;
    printf("[timer] heartbeat at %.0f ms\n", ms_since(d));
    loom_call_later(loop, 50 * 1000000, on_heartbeat, d, &d->heartbeat);
}

static void on_all_done(loom_future *all, void *data)
{
    struct demo *d = data;
    int status = loom_future_status(all);
    if (status < 0) {
        printf("[future] failed: %s\n", loom_strerror(status));
        return;
    }
    int64_t sum = 0;
    for (int i = 0; i < JOBS; i++)
        sum += loom_future_value_int(d->results[i]);
    printf("[future] all %d results in, sum of squares = %lld\n", JOBS, (long long)sum);
}

int main(void)
{
    struct demo d = {0};
    int r = loom_loop_new(&d.loop, NULL);
    if (r < 0) {
        fprintf(stderr, "loom_loop_new: %s\n", loom_strerror(r));
        return 1;
    }
    printf("loom demo on the %s backend\n", loom_loop_backend_name(d.loop));
    d.start = loom_loop_now(d.loop);
    if (pipe(d.pipe_fds) < 0) {
        perror("pipe");
        return 1;
    }
    for (int i = 0; i < JOBS; i++)
        d.results[i] = loom_future_new(d.loop);

    loom_future *all = loom_future_all(d.loop, d.results, JOBS);
    loom_future *guarded = loom_future_timeout(all, 2000 * 1000000LL);
    loom_future_on_done(guarded, on_all_done, &d);
    loom_add_reader(d.loop, d.pipe_fds[0], on_readable, &d);
    loom_call_later(d.loop, LOOM_MSEC(50), on_heartbeat, &d, &d.heartbeat);

    pthread_t thread;
    pthread_create(&thread, NULL, worker, &d);
    r = loom_loop_run_until(d.loop, guarded);
    loom_cancel(d.loop, d.heartbeat);
    pthread_join(thread, NULL);
    loom_loop_run_once(d.loop, false); /* the worker's last progress call, if still queued */

    printf("done: %s, %llu ticks\n", r == 0 ? "ok" : loom_strerror(r),
           (unsigned long long)loom_loop_ticks(d.loop));
    loom_future_unref(guarded);
    loom_future_unref(all);
    for (int i = 0; i < JOBS; i++)
        loom_future_unref(d.results[i]);
    close(d.pipe_fds[0]);
    close(d.pipe_fds[1]);
    loom_loop_unref(d.loop);
    return r == 0 ? 0 : 1;
}
