/* The example apps' work: see work.h. Only loom and POSIX here, no toolkit. */
#include "work.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

enum {
    COUNTDOWN_FROM = 5,
    JOBS = 5,
    JOB_US = 100 * 1000, /* how long the worker "computes" each result */
};
static const int64_t COUNTDOWN_TICK_NS = 200 * 1000000LL;
static const int64_t COMPUTE_TIMEOUT_NS = 5000 * 1000000LL;

/* One run of "compute": a worker thread, the pipe it writes its results to,
 * and the futures that gather them. */
struct compute {
    struct work *work;
    int fds[2]; /* the worker writes int64 results to [1]; loom reads [0] */
    bool watching;
    pthread_t thread;
    bool thread_started;
    atomic_bool stop; /* asks the worker to quit between jobs */
    loom_future *results[JOBS];
    size_t received;
    loom_future *all;
    loom_future *guarded; /* all, failing with -ETIMEDOUT after COMPUTE_TIMEOUT_NS */
};

struct work {
    loom_loop *loop;
    const struct work_ui *ui; /* NULL once work_free detached the app */
    void *app;
    int countdown;
    loom_handle countdown_timer; /* 0 while no countdown runs */
    struct compute *compute;     /* NULL while no compute runs */
};

__attribute__((format(printf, 3, 4)))
static void show(struct work *w, enum work_item item, const char *fmt, ...)
{
    if (!w->ui)
        return;
    char text[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    w->ui->set_label(w->app, item, text);
}

static void set_busy(struct work *w, enum work_item item, bool busy)
{
    if (w->ui)
        w->ui->set_busy(w->app, item, busy);
}

/* --- countdown: a timer that re-arms itself ------------------------------ */

static void countdown_tick(loom_loop *loop, void *data)
{
    struct work *w = data;
    w->countdown--;
    show(w, WORK_COUNTDOWN, "Countdown: %d", w->countdown);
    if (w->countdown > 0) {
        int r = loom_call_later(loop, COUNTDOWN_TICK_NS, countdown_tick, w, &w->countdown_timer);
        if (r == 0)
            return;
        show(w, WORK_COUNTDOWN, "Countdown failed: %s", loom_strerror(r));
    }
    w->countdown_timer = 0;
    set_busy(w, WORK_COUNTDOWN, false);
}

int work_start_countdown(struct work *w)
{
    if (w->countdown_timer)
        return -EBUSY;
    int r = loom_call_later(w->loop, COUNTDOWN_TICK_NS, countdown_tick, w, &w->countdown_timer);
    if (r < 0) {
        show(w, WORK_COUNTDOWN, "Countdown failed: %s", loom_strerror(r));
        return r;
    }
    w->countdown = COUNTDOWN_FROM;
    show(w, WORK_COUNTDOWN, "Countdown: %d", w->countdown);
    set_busy(w, WORK_COUNTDOWN, true);
    return 0;
}

/* --- compute: a worker thread, a pipe, futures ---------------------------- */

static void *compute_worker(void *arg)
{
    struct compute *c = arg;
    for (int64_t i = 1; i <= JOBS && !atomic_load(&c->stop); i++) {
        usleep(JOB_US); /* stands for real blocking work */
        int64_t square = i * i;
        /* One write of 8 bytes is atomic on a pipe: the reader never sees half. */
        if (write(c->fds[1], &square, sizeof(square)) != (ssize_t)sizeof(square))
            break;
    }
    return NULL;
}

/* Safe on a half-built compute: every step checks what exists. */
static void compute_free(struct compute *c)
{
    atomic_store(&c->stop, true);
    if (c->thread_started)
        pthread_join(c->thread, NULL); /* at most one job away */
    if (c->watching)
        loom_remove_reader(c->work->loop, c->fds[0]); /* before close: Qt needs that order */
    for (int i = 0; i < 2; i++)
        if (c->fds[i] >= 0)
            close(c->fds[i]);
    loom_future_unref(c->guarded);
    loom_future_unref(c->all);
    for (size_t i = 0; i < JOBS; i++)
        loom_future_unref(c->results[i]);
    free(c);
}

static void compute_on_result(loom_loop *loop, int fd, unsigned events, void *data)
{
    struct compute *c = data;
    int64_t value;
    ssize_t n = read(fd, &value, sizeof(value));
    if (n < 0 && errno == EAGAIN)
        return;
    if (n != (ssize_t)sizeof(value)) {
        /* The worker holds its end open until it is joined, so this is a real error. */
        loom_future_fail(c->results[c->received], n < 0 ? -errno : -EPIPE, "the worker's pipe broke");
        loom_remove_reader(loop, fd);
        c->watching = false;
        return;
    }
    loom_future_resolve_int(c->results[c->received++], value);
    show(c->work, WORK_COMPUTE, "Computing: %zu of %d results", c->received, JOBS);
    if (c->received == JOBS) {
        loom_remove_reader(loop, fd);
        c->watching = false;
    }
}

/* Runs once the results are all in, one failed, the timeout hit, or
 * work_free cancelled the run. */
static void compute_done(loom_future *guarded, void *data)
{
    struct compute *c = data;
    struct work *w = c->work;
    int status = loom_future_status(guarded);
    if (status == 0) {
        int64_t sum = 0;
        for (size_t i = 0; i < JOBS; i++)
            sum += loom_future_value_int(c->results[i]);
        show(w, WORK_COMPUTE, "Sum of squares: %lld", (long long)sum);
    } else {
        show(w, WORK_COMPUTE, "Compute failed: %s", loom_strerror(status));
    }
    w->compute = NULL;
    compute_free(c);
    set_busy(w, WORK_COMPUTE, false);
}

static int compute_new(struct work *w, struct compute **cp)
{
    struct compute *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->work = w;
    c->fds[0] = c->fds[1] = -1;
    int r = 0;
    if (pipe(c->fds) < 0 || fcntl(c->fds[0], F_SETFL, O_NONBLOCK) < 0) {
        r = -errno;
        goto fail;
    }
    for (size_t i = 0; i < JOBS; i++)
        if (!(c->results[i] = loom_future_new(w->loop)))
            goto fail_errno;
    if (!(c->all = loom_future_all(w->loop, c->results, JOBS)) ||
        !(c->guarded = loom_future_timeout(c->all, COMPUTE_TIMEOUT_NS)))
        goto fail_errno;
    if ((r = loom_add_reader(w->loop, c->fds[0], compute_on_result, c)) < 0)
        goto fail;
    c->watching = true;
    if ((r = -pthread_create(&c->thread, NULL, compute_worker, c)) < 0)
        goto fail;
    c->thread_started = true;
    if ((r = loom_future_on_done(c->guarded, compute_done, c)) < 0)
        goto fail;
    *cp = c;
    return 0;

fail_errno:
    r = -errno;
fail:
    compute_free(c);
    return r;
}

int work_start_compute(struct work *w)
{
    if (w->compute)
        return -EBUSY;
    int r = compute_new(w, &w->compute);
    if (r < 0) {
        show(w, WORK_COMPUTE, "Compute failed: %s", loom_strerror(r));
        return r;
    }
    show(w, WORK_COMPUTE, "Computing: 0 of %d results", JOBS);
    set_busy(w, WORK_COMPUTE, true);
    return 0;
}

/* --- life cycle ---------------------------------------------------------- */

int work_new(struct work **workp, loom_loop *loop, const struct work_ui *ui, void *app)
{
    if (!workp || !loop || !ui || !ui->set_label || !ui->set_busy)
        return -EINVAL;
    struct work *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->loop = loom_loop_ref(loop);
    w->ui = ui;
    w->app = app;
    show(w, WORK_COUNTDOWN, "Countdown: not started");
    show(w, WORK_COMPUTE, "Sum of squares: not computed");
    *workp = w;
    return 0;
}

void work_free(struct work *w)
{
    if (!w)
        return;
    w->ui = NULL; /* the app may be tearing its widgets down */
    if (w->countdown_timer)
        loom_cancel(w->loop, w->countdown_timer);
    if (w->compute) {
        loom_future_cancel(w->compute->guarded);
        /* compute_done is queued now; run it so nothing is left behind on the loop. */
        while (w->compute && loom_loop_run_once(w->loop, true) == 0)
            ;
    }
    loom_loop_unref(w->loop);
    free(w);
}

bool work_busy(const struct work *w)
{
    return w->countdown_timer || w->compute;
}
