/* The example apps' work: see work.h. Only loom and POSIX here, no toolkit.
 * Each piece of work is a task: sequential code that updates the UI between
 * awaits while the toolkit's loop goes on. */
#include "work.h"

#include <loom/stream.h>
#ifdef WORK_WITH_CURL
#include <loom/loom-curl.h>
#endif
#ifdef WORK_WITH_GIO
#include <loom/loom-gio.h>
#endif

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
#ifdef WORK_WITH_CURL
/* Any request gets this page; its body is the "hello over HTTP" line. */
static const char HTTP_RESPONSE[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 16\r\n"
                                    "Connection: close\r\n\r\nhello over HTTP\n";
enum { HTTP_HEAD_LIMIT = 8192, HTTP_TIMEOUT_MS = 5000 };
#endif
#ifdef WORK_WITH_GIO
static const char FILE_TEXT[] = "hello from a file\n";
#endif

struct work {
    loom_loop *loop;
    const struct work_ui *ui; /* NULL once work_free detached the app */
    void *app;
    loom_future *tasks[WORK_ITEMS]; /* the running task of each item, or NULL */
    loom_server *server;            /* answers each connection with GREETING */
    char port[12];                  /* the server's, for the fetch task */
#ifdef WORK_WITH_CURL
    loom_server *http_server; /* answers each request with HTTP_RESPONSE */
    char http_port[12];
#endif
#ifdef WORK_WITH_GIO
    GMainContext *gio_context; /* GIO's calls deliver their results here */
    loom_glib_guest *gio_guest; /* drives gio_context if the loop does not */
#endif
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

/* Listens on 127.0.0.1 (a port the kernel picks, written to port) and
 * hands each connection to accept_fn(server, stream, w). */
static int server_start(struct work *w, loom_server **serverp, char port[12], loom_accept_fn accept_fn)
{
    int r = loom_tcp_listen(w->loop, "127.0.0.1", "0", NULL, serverp);
    if (r == 0)
        r = loom_server_on_accept(*serverp, accept_fn, w, NULL);
    int number = r == 0 ? loom_server_port(*serverp) : r;
    if (number < 0) {
        loom_server_close(*serverp);
        *serverp = NULL;
        return number;
    }
    snprintf(port, 12, "%d", number);
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

#ifdef WORK_WITH_CURL
/* --- http: libcurl through loom_curl, from a loopback HTTP server on loom ---- */

/* One connection of the HTTP server: reads the request head, answers with
 * the fixed page and closes (after the flush). */
static int http_answer_task(void *arg)
{
    loom_stream *stream = arg;
    loom_future *head = loom_stream_read_until(stream, "\r\n\r\n", 4, HTTP_HEAD_LIMIT);
    loom_bytes *b = await_made(head) == 0 ? loom_future_value(head) : NULL;
    if (b && !b->eof) /* any complete request head: the page is the same */
        loom_stream_write(stream, HTTP_RESPONSE, sizeof(HTTP_RESPONSE) - 1, NULL);
    loom_future_unref(head);
    loom_future_unref(loom_stream_close(stream));
    return 0;
}

static void on_http_accept(loom_server *server, loom_stream *stream, void *data)
{
    struct work *w = data;
    loom_future *task = loom_task_spawn(w->loop, http_answer_task, stream);
    if (!task)
        loom_stream_abort(stream);
    loom_future_unref(task); /* the task closes the stream; the loop's close ends it at the latest */
}

/* Shows what curl brought back from the resolved transfer. */
static void show_http(struct work *w, loom_future *transfer)
{
    int result = loom_curl_result(transfer);
    long status = loom_curl_http_status(transfer);
    size_t len;
    const char *body = loom_curl_body(transfer, &len);
    if (result == CURLE_OK && status == 200 && len > 1)
        show(w, WORK_HTTP, "HTTP %ld: %.*s", status, (int)len - 1, body); /* without its newline */
    else
        show(w, WORK_HTTP, "HTTP failed: %s (status %ld)", curl_easy_strerror((CURLcode)result), status);
}

static int http_task(void *arg)
{
    struct work *w = arg;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%s/", w->http_port);
    CURL *easy = curl_easy_init();
    loom_future *transfer = NULL;
    int r = -ENOMEM;
    if (easy) {
        curl_easy_setopt(easy, CURLOPT_URL, url);
        curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)HTTP_TIMEOUT_MS);
        transfer = loom_curl_fetch(w->loop, easy, NULL, NULL); /* owns easy from here */
        r = await_made(transfer); /* cancelled with the task: curl drops the transfer */
        if (!transfer)
            curl_easy_cleanup(easy);
    }
    if (r == 0)
        show_http(w, transfer);
    else
        show(w, WORK_HTTP, "HTTP failed: %s", loom_strerror(r));
    loom_future_unref(transfer);
    item_done(w, WORK_HTTP);
    return 0;
}
#endif

#ifdef WORK_WITH_GIO
/* --- file: a temporary file read back through GIO ----------------------------- */

/* Writes FILE_TEXT to a new temporary file: 0 and its path in *pathp (the
 * caller g_frees it), or a negative errno. */
static int write_temp_file(char **pathp)
{
    char *path = g_build_filename(g_get_tmp_dir(), "loom-example-XXXXXX", NULL);
    int fd = g_mkstemp(path);
    ssize_t n = fd >= 0 ? write(fd, FILE_TEXT, sizeof(FILE_TEXT) - 1) : -1;
    int r = n == (ssize_t)sizeof(FILE_TEXT) - 1 ? 0 : n < 0 ? -errno : -EIO;
    if (fd >= 0)
        close(fd);
    if (r < 0) {
        if (fd >= 0)
            unlink(path);
        g_free(path);
        return r;
    }
    *pathp = path;
    return 0;
}

/* loom_gio_load_contents with the work's context as thread-default, which
 * is where GIO delivers the result. */
static loom_future *load_contents(struct work *w, const char *path)
{
    GFile *file = g_file_new_for_path(path);
    g_main_context_push_thread_default(w->gio_context);
    loom_future *f = loom_gio_load_contents(w->loop, file);
    int saved = errno;
    g_main_context_pop_thread_default(w->gio_context);
    g_object_unref(file);
    errno = saved;
    return f;
}

static int file_task(void *arg)
{
    struct work *w = arg;
    char *path = NULL;
    int r = write_temp_file(&path);
    loom_future *contents = r == 0 ? load_contents(w, path) : NULL;
    if (r == 0)
        r = await_made(contents);
    GBytes *bytes = r == 0 ? loom_future_value(contents) : NULL;
    gsize len = bytes ? g_bytes_get_size(bytes) : 0;
    if (len > 1)
        show(w, WORK_FILE, "Read through GIO: %.*s", (int)len - 1, (const char *)g_bytes_get_data(bytes, NULL));
    else if (r < 0) /* GIO's message where it gave one */
        show(w, WORK_FILE, "Read failed: %s",
             contents && loom_future_message(contents) ? loom_future_message(contents) : loom_strerror(r));
    else
        show(w, WORK_FILE, "Read failed: the file is empty");
    loom_future_unref(contents);
    if (path)
        unlink(path);
    g_free(path);
    item_done(w, WORK_FILE);
    return 0;
}

/* A GLib loop drives its own context; any other loop gets a context of the
 * work's and a guest that drives it. */
static int gio_start(struct work *w)
{
    GMainContext *ctx = loom_glib_loop_context(w->loop);
    if (ctx) {
        w->gio_context = g_main_context_ref(ctx);
        return 0;
    }
    w->gio_context = g_main_context_new();
    int r = loom_glib_guest_new(&w->gio_guest, w->loop, w->gio_context);
    if (r < 0) {
        g_main_context_unref(w->gio_context);
        w->gio_context = NULL;
    }
    return r;
}

static void gio_stop(struct work *w)
{
    loom_glib_guest_free(w->gio_guest);
    if (w->gio_context)
        g_main_context_unref(w->gio_context);
}
#endif

/* --- starting and stopping --------------------------------------------------- */

static const struct {
    const char *button;
    loom_task_fn fn;
    const char *first_label;
} items[WORK_ITEMS] = {
    [WORK_COUNTDOWN] = {"Start countdown", countdown_task, "Countdown: 5"},
    [WORK_COMPUTE] = {"Compute", compute_task, "Computing: 0 of 5 results"},
    [WORK_FETCH] = {"Fetch", fetch_task, "Fetching from 127.0.0.1 ..."},
#ifdef WORK_WITH_CURL
    [WORK_HTTP] = {"HTTP (libcurl)", http_task, "Fetching http://127.0.0.1/ ..."},
#endif
#ifdef WORK_WITH_GIO
    [WORK_FILE] = {"Read a file (GIO)", file_task, "Reading a file through GIO ..."},
#endif
};

const char *work_button_text(enum work_item item)
{
    return item < WORK_ITEMS ? items[item].button : "";
}

int work_start(struct work *w, enum work_item item)
{
    if (item >= WORK_ITEMS)
        return -EINVAL;
    if (w->tasks[item])
        return -EBUSY;
    w->tasks[item] = loom_task_spawn(w->loop, items[item].fn, w);
    if (!w->tasks[item]) {
        int r = -errno;
        show(w, item, "Failed to start: %s", loom_strerror(r));
        return r;
    }
    show(w, item, "%s", items[item].first_label);
    set_busy(w, item, true);
    return 0;
}

static void resources_stop(struct work *w)
{
    loom_server_close(w->server);
#ifdef WORK_WITH_CURL
    loom_server_close(w->http_server);
#endif
#ifdef WORK_WITH_GIO
    gio_stop(w);
#endif
}

/* The servers and GIO's context; on failure what was started is stopped. */
static int resources_start(struct work *w)
{
    int r = server_start(w, &w->server, w->port, on_accept);
#ifdef WORK_WITH_CURL
    if (r == 0)
        r = server_start(w, &w->http_server, w->http_port, on_http_accept);
#endif
#ifdef WORK_WITH_GIO
    if (r == 0)
        r = gio_start(w);
#endif
    if (r < 0)
        resources_stop(w);
    return r;
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
    int r = resources_start(w);
    if (r < 0) {
        loom_loop_unref(w->loop);
        free(w);
        return r;
    }
    show(w, WORK_COUNTDOWN, "Countdown: not started");
    show(w, WORK_COMPUTE, "Sum of squares: not computed");
    show(w, WORK_FETCH, "Loopback server on port %s: not fetched", w->port);
#ifdef WORK_WITH_CURL
    show(w, WORK_HTTP, "HTTP server on port %s: not fetched", w->http_port);
#endif
#ifdef WORK_WITH_GIO
    show(w, WORK_FILE, "File: not read");
#endif
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
    resources_stop(w);
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
