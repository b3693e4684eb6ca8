/* The example apps' work: see work.h. Only loom and POSIX here, no toolkit.
 * Each piece of work is a task: sequential code that updates the UI between
 * awaits while the toolkit's loop goes on. */
#include "work.h"

#include <loom/stream.h>

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
static const int64_t FETCH_TIMEOUT_NS = 5000 * 1000000LL;
static const char GREETING[] = "hello from loopback\n";
enum { GREETING_LIMIT = 256 };

struct work {
    loom_loop *loop;
    const struct work_ui *ui; /* NULL once work_free detached the app */
    void *app;
    loom_future *tasks[WORK_ITEMS]; /* the running task of each item, or NULL */
    loom_server *server;            /* answers each connection with GREETING */
    char port[12];                  /* the server's, for the fetch task */
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

/* The last thing a task does: the item is idle again. */
static void item_done(struct work *w, enum work_item item)
{
    loom_future_unref(w->tasks[item]);
    w->tasks[item] = NULL;
    set_busy(w, item, false);
}

/* --- countdown ------------------------------------------------------------ */

static int countdown_task(void *arg)
{
    struct work *w = arg;
    int r = 0;
    for (int n = COUNTDOWN_FROM - 1; n >= 0 && r == 0; n--) {
        r = loom_sleep(COUNTDOWN_TICK_NS); /* -ECANCELED when work_free stops us */
        if (r == 0)
            show(w, WORK_COUNTDOWN, "Countdown: %d", n);
    }
    item_done(w, WORK_COUNTDOWN);
    return 0;
}

/* --- compute: a worker thread feeds a pipe, the task reads it ---------------- */

struct feeder {
    int fds[2]; /* the worker writes int64 results to [1]; the task reads [0] */
    pthread_t thread;
    atomic_bool stop; /* asks the worker to quit between jobs */
};

static void *feeder_main(void *arg)
{
    struct feeder *f = arg;
    for (int64_t i = 1; i <= JOBS && !atomic_load(&f->stop); i++) {
        usleep(JOB_US); /* stands for real blocking work */
        int64_t square = i * i;
        /* One write of 8 bytes is atomic on a pipe: the reader never sees half. */
        if (write(f->fds[1], &square, sizeof(square)) != (ssize_t)sizeof(square))
            break;
    }
    return NULL;
}

static int feeder_start(struct feeder *f)
{
    atomic_init(&f->stop, false);
    if (pipe(f->fds) < 0)
        return -errno;
    int r = fcntl(f->fds[0], F_SETFL, O_NONBLOCK) < 0 ? -errno : -pthread_create(&f->thread, NULL, feeder_main, f);
    if (r < 0) {
        close(f->fds[0]);
        close(f->fds[1]);
    }
    return r;
}

static void feeder_stop(struct feeder *f)
{
    atomic_store(&f->stop, true);
    pthread_join(f->thread, NULL); /* at most one job away */
    close(f->fds[0]);
    close(f->fds[1]);
}

/* From a task: waits until fd is readable, at most timeout_ns. */
static int await_readable(loom_loop *loop, int fd, int64_t timeout_ns)
{
    loom_future *readable = loom_fd_wait(loop, fd, LOOM_READ);
    if (!readable)
        return -errno;
    int r = loom_await_timeout(readable, timeout_ns); /* cancels the wait when cut short */
    loom_future_unref(readable);
    return r;
}

static int compute_task(void *arg)
{
    struct work *w = arg;
    struct feeder feeder;
    int r = feeder_start(&feeder);
    bool fed = r == 0;
    int64_t sum = 0, deadline = loom_loop_now(w->loop) + COMPUTE_TIMEOUT_NS;
    for (int received = 0; r == 0 && received < JOBS; received++) {
        r = await_readable(w->loop, feeder.fds[0], deadline - loom_loop_now(w->loop));
        int64_t value;
        if (r == 0 && read(feeder.fds[0], &value, sizeof(value)) != (ssize_t)sizeof(value))
            r = -EPIPE; /* the worker holds its end open until joined: a real error */
        if (r == 0) {
            sum += value;
            show(w, WORK_COMPUTE, "Computing: %d of %d results", received + 1, JOBS);
        }
    }
    if (fed)
        feeder_stop(&feeder);
    if (r == 0)
        show(w, WORK_COMPUTE, "Sum of squares: %lld", (long long)sum);
    else
        show(w, WORK_COMPUTE, "Compute failed: %s", loom_strerror(r));
    item_done(w, WORK_COMPUTE);
    return 0; /* a failure was shown to the user: handled */
}

/* --- fetch: a loopback server and a client, both on loom streams ---------- */

/* The server's side: answer one line, then close once it is in the kernel. */
static void on_accept(loom_server *server, loom_stream *stream, void *data)
{
    (void)server;
    (void)data;
    loom_stream_write(stream, GREETING, sizeof(GREETING) - 1, NULL);
    loom_future_unref(loom_stream_close(stream));
}

static int server_start(struct work *w)
{
    int r = loom_tcp_listen(w->loop, "127.0.0.1", "0", NULL, &w->server);
    if (r == 0)
        r = loom_server_on_accept(w->server, on_accept, NULL, NULL);
    int port = r == 0 ? loom_server_port(w->server) : r;
    if (port < 0) {
        loom_server_close(w->server);
        w->server = NULL;
        return port;
    }
    snprintf(w->port, sizeof(w->port), "%d", port);
    return 0;
}

/* From a task: awaits f (NULL: the call that made it failed). */
static int await_made(loom_future *f)
{
    return f ? loom_await(f) : -errno;
}

static int fetch_task(void *arg)
{
    struct work *w = arg;
    loom_connect_opts opts = {.timeout_ns = FETCH_TIMEOUT_NS};
    loom_future *connect = loom_tcp_connect(w->loop, "127.0.0.1", w->port, &opts);
    int r = await_made(connect);
    loom_stream *stream = r == 0 ? loom_stream_take(connect) : NULL;
    loom_future_unref(connect);
    if (stream) {
        loom_future *line = loom_stream_read_line(stream, GREETING_LIMIT);
        r = await_made(line);
        loom_bytes *b = r == 0 ? loom_future_value(line) : NULL;
        if (b && b->len > 1)
            show(w, WORK_FETCH, "Fetched: %.*s", (int)b->len - 1, (const char *)b->data);
        else if (b)
            r = -EPIPE; /* the server closed without a line */
        loom_future_unref(line);
        loom_stream_abort(stream);
    }
    if (r < 0)
        show(w, WORK_FETCH, "Fetch failed: %s", loom_strerror(r));
    item_done(w, WORK_FETCH);
    return 0;
}

/* --- starting and stopping --------------------------------------------------- */

static int start(struct work *w, enum work_item item, loom_task_fn fn, const char *first_label)
{
    if (w->tasks[item])
        return -EBUSY;
    w->tasks[item] = loom_task_spawn(w->loop, fn, w);
    if (!w->tasks[item]) {
        int r = -errno;
        show(w, item, "Failed to start: %s", loom_strerror(r));
        return r;
    }
    show(w, item, "%s", first_label);
    set_busy(w, item, true);
    return 0;
}

int work_start_countdown(struct work *w)
{
    return start(w, WORK_COUNTDOWN, countdown_task, "Countdown: 5");
}

int work_start_compute(struct work *w)
{
    return start(w, WORK_COMPUTE, compute_task, "Computing: 0 of 5 results");
}

int work_start_fetch(struct work *w)
{
    return start(w, WORK_FETCH, fetch_task, "Fetching from 127.0.0.1 ...");
}

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
    int r = server_start(w);
    if (r < 0) {
        loom_loop_unref(w->loop);
        free(w);
        return r;
    }
    show(w, WORK_COUNTDOWN, "Countdown: not started");
    show(w, WORK_COMPUTE, "Sum of squares: not computed");
    show(w, WORK_FETCH, "Loopback server on port %s: not fetched", w->port);
    *workp = w;
    return 0;
}

void work_free(struct work *w)
{
    if (!w)
        return;
    w->ui = NULL; /* the app may be tearing its widgets down */
    for (int i = 0; i < WORK_ITEMS; i++)
        if (w->tasks[i])
            loom_future_cancel(w->tasks[i]);
    /* Cancelled tasks return at their await point: let them wind down. */
    while (work_busy(w) && loom_loop_run_once(w->loop, true) == 0)
        ;
    loom_server_close(w->server);
    loom_loop_unref(w->loop);
    free(w);
}

bool work_busy(const struct work *w)
{
    for (int i = 0; i < WORK_ITEMS; i++)
        if (w->tasks[i])
            return true;
    return false;
}
