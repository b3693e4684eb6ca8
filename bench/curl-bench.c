/* curl-bench — the same HTTP downloads through loom_curl on each of loom's
 * backends, beside libcurl's own curl_multi_poll loop and a native libevent
 * multi_socket driver, in one run.
 *
 *   curl-bench                   loom on every backend that works here, and the peers
 *   curl-bench --backend=NAME    loom on NAME only, and the peers
 *   curl-bench --check           a few transfers per driver, untimed (make check)
 *
 * Cases, from tests/curl's loopback server (its own threads, a fresh server
 * per driver, so no driver inherits another's connections):
 *   large  200 downloads of 1 MiB at once                 MiB/s
 *   small  2,000 downloads of 1..3000 bytes, 100 at once  transfers/s
 * Every body is checked byte by byte as it arrives (each is /seed/S/N, so a
 * body delivered to the wrong transfer fails too), with its length, curl's
 * result and HTTP 200; a wrong one ends the run with status 1.
 *
 * Prints "# curl-bench ...", one "curl.<driver>.<case> value unit" line per
 * driver and case (the median of BENCH_REPS runs after a warm-up run), then
 * "ratio curl.loom_B.case/curl.P.case R" for every loom backend B and peer P
 * (> 1: loom is faster). */
#include "bench-util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <loom/loom-curl.h>
#include <loom/loom.h>
#ifdef BENCH_CURL_LIBEVENT
#include <event2/event.h>
#endif

#include "http-server.h"
#include "loom-bench-backends.h"

/* --- transfers and their checks ---------------------------------------------- */

typedef struct xfer {
    unsigned seed;
    size_t size, received;
    /* The next expected byte: http_seeded_byte(seed, received), kept
     * incrementally (a multiply and a divide per byte would cost more than
     * the loops under test). */
    unsigned char next;
    unsigned phase; /* (seed * 1000003 + received) % 251 */
    bool bad;
} xfer;

static void xfer_init(xfer *x, unsigned seed, size_t size)
{
    size_t first = (size_t)seed * 1000003u; /* http_seeded_byte's offset */

    *x = (xfer){.seed = seed, .size = size, .next = http_seeded_byte(seed, 0), .phase = (unsigned)(first % 251)};
}

/* loom_curl_write_fn: checks the bytes as they arrive (no 200 MiB of buffers). */
static size_t xfer_write(const char *ptr, size_t n, void *data)
{
    xfer *x = data;

    for (size_t i = 0; i < n && !x->bad; i++) {
        x->bad = (unsigned char)ptr[i] != x->next;
        /* http_body_byte(j) is j * 131 + j / 251 (mod 256): one j further. */
        if (++x->phase == 251)
            x->phase = 0;
        x->next = (unsigned char)(x->next + 131 + (x->phase == 0));
    }
    x->received += n;
    return n;
}

static void xfer_verify(const xfer *x, int result, long status)
{
    if (result != CURLE_OK || status != 200 || x->received != x->size || x->bad) {
        fprintf(stderr, "curl-bench: /seed/%u/%zu: %s, HTTP %ld, %zu bytes%s\n", x->seed, x->size,
                result >= 0 ? curl_easy_strerror((CURLcode)result) : loom_strerror(result), status, x->received,
                x->bad ? ", a byte differs" : "");
        exit(1);
    }
}

static CURL *xfer_easy(const xfer *x, int port)
{
    CURL *easy = curl_easy_init();
    char url[96];

    if (!easy)
        bench_die(ENOMEM, "curl_easy_init");
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/seed/%u/%zu", port, x->seed, x->size);
    curl_easy_setopt(easy, CURLOPT_URL, url); /* curl copies it */
    return easy;
}

/* --- drivers: each runs a wave of transfers at once, to completion ------------ */

typedef struct driver driver;
struct driver {
    char name[32];
    const struct bench_backend *backend; /* loom's (NULL: a peer) */
    bool ran;                            /* it ran here: it has values */
    int port;
    /* Runs x[0..n) at once and verifies each. */
    void (*wave)(driver *d, xfer *x, int n);
    void (*close)(driver *d);
    loom_loop *loop;
    /* The peers' multi handle and how many of the wave's transfers are done. */
    CURLM *multi;
    int done;
#ifdef BENCH_CURL_LIBEVENT
    struct event_base *base;
    struct event *timer;
#endif
};

static void loom_wave(driver *d, xfer *x, int n)
{
    loom_future **futures = calloc((size_t)n, sizeof(*futures)), *all;

    if (!futures)
        bench_die(ENOMEM, "calloc");
    for (int i = 0; i < n; i++)
        if (!(futures[i] = loom_curl_fetch(d->loop, xfer_easy(&x[i], d->port), xfer_write, &x[i])))
            bench_die(errno, "loom_curl_fetch");
    if (!(all = loom_future_all(d->loop, futures, (size_t)n)))
        bench_die(errno, "loom_future_all");
    bench_check(loom_loop_run_until(d->loop, all), "loom_loop_run_until");
    for (int i = 0; i < n; i++) {
        xfer_verify(&x[i], loom_curl_result(futures[i]), loom_curl_http_status(futures[i]));
        loom_future_unref(futures[i]);
    }
    loom_future_unref(all);
    free(futures);
}

static void loom_close(driver *d)
{
    loom_loop_unref(d->loop); /* closes curl's multi handle and connections */
}

/* curl's write callback for the peers. */
static size_t peer_write(char *ptr, size_t size, size_t nmemb, void *data)
{
    return xfer_write(ptr, size * nmemb, data);
}

static void peer_add(driver *d, xfer *x, int n)
{
    d->done = 0;
    for (int i = 0; i < n; i++) {
        CURL *easy = xfer_easy(&x[i], d->port);

        curl_easy_setopt(easy, CURLOPT_PRIVATE, &x[i]);
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, peer_write);
        curl_easy_setopt(easy, CURLOPT_WRITEDATA, &x[i]);
        if (curl_multi_add_handle(d->multi, easy) != CURLM_OK)
            bench_die(0, "curl_multi_add_handle");
    }
}

/* Verifies and frees the transfers curl finished. */
static void peer_drain(driver *d)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(d->multi, &left))) {
        xfer *x;
        long status = 0;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
        xfer_verify(x, msg->data.result, status);
        curl_multi_remove_handle(d->multi, msg->easy_handle);
        curl_easy_cleanup(msg->easy_handle);
        d->done++;
    }
}

static void peer_close(driver *d)
{
    curl_multi_cleanup(d->multi);
#ifdef BENCH_CURL_LIBEVENT
    if (d->timer)
        event_free(d->timer);
    if (d->base)
        event_base_free(d->base);
#endif
}

/* curl's own loop, as its documentation writes it. */
static void multi_poll_wave(driver *d, xfer *x, int n)
{
    int running;

    peer_add(d, x, n);
    while (d->done < n) {
        if (curl_multi_perform(d->multi, &running) != CURLM_OK)
            bench_die(0, "curl_multi_perform");
        peer_drain(d);
        if (d->done < n && curl_multi_poll(d->multi, NULL, 0, 1000, NULL) != CURLM_OK)
            bench_die(0, "curl_multi_poll");
    }
}

#ifdef BENCH_CURL_LIBEVENT
/* libevent driving curl_multi_socket_action: one persistent event per socket
 * (curl keeps it as the socket's curl_multi_assign pointer), one evtimer. */
static void socket_action(driver *d, curl_socket_t fd, int flags)
{
    int running;

    if (curl_multi_socket_action(d->multi, fd, flags, &running) != CURLM_OK)
        bench_die(0, "curl_multi_socket_action");
    peer_drain(d);
}

static void on_event_fd(evutil_socket_t fd, short what, void *data)
{
    socket_action(data, fd, (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0));
}

static void on_event_timer(evutil_socket_t fd, short what, void *data)
{
    socket_action(data, CURL_SOCKET_TIMEOUT, 0);
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *data, void *socketp)
{
    driver *d = data;
    struct event *ev = socketp;
    short events = EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);

    if (ev)
        event_del(ev);
    if (what == CURL_POLL_REMOVE) {
        event_free(ev); /* curl forgets the socket's pointer itself */
        return 0;
    }
    if (!ev) {
        if (!(ev = event_new(d->base, fd, events, on_event_fd, d)))
            bench_die(ENOMEM, "event_new");
        curl_multi_assign(d->multi, fd, ev);
    } else {
        event_assign(ev, d->base, fd, events, on_event_fd, d);
    }
    return event_add(ev, NULL);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *data)
{
    driver *d = data;
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};

    return timeout_ms < 0 ? evtimer_del(d->timer) : evtimer_add(d->timer, &tv);
}

static void libevent_wave(driver *d, xfer *x, int n)
{
    peer_add(d, x, n);
    while (d->done < n)
        if (event_base_loop(d->base, EVLOOP_ONCE) < 0)
            bench_die(0, "event_base_loop");
}

static void libevent_open(driver *d)
{
    if (!(d->base = event_base_new()) || !(d->timer = evtimer_new(d->base, on_event_timer, d)))
        bench_die(ENOMEM, "libevent");
    curl_multi_setopt(d->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(d->multi, CURLMOPT_SOCKETDATA, d);
    curl_multi_setopt(d->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(d->multi, CURLMOPT_TIMERDATA, d);
}
#endif

/* --- cases and measurement ----------------------------------------------------- */

typedef struct bench_case {
    const char *name;
    int count, wave;             /* transfers in all, and how many at once */
    int check_count, check_wave; /* the same for --check */
    bool in_mib;                 /* the value is MiB/s, else transfers/s */
    size_t (*size)(unsigned seed); /* of transfer seed (0 .. count-1) */
} bench_case;

static size_t large_size(unsigned seed)
{
    return (size_t)1 << 20;
}

static size_t small_size(unsigned seed)
{
    return 1 + seed % 3000;
}

static const bench_case cases[] = {
    {"large", 200, 200, 8, 8, true, large_size},
    {"small", 2000, 100, 40, 10, false, small_size},
};
enum { N_CASES = sizeof(cases) / sizeof(cases[0]), MAX_WAVE = 200, MAX_DRIVERS = 16 };

/* --check: a few transfers per case, one run, no values. */
static bool check_only;

/* One run of the case: the elapsed ns. */
static int64_t run_case(driver *d, const bench_case *c)
{
    static xfer x[MAX_WAVE];
    int count = check_only ? c->check_count : c->count, wave = check_only ? c->check_wave : c->wave;
    int64_t start = bench_now_ns();

    for (int first = 0; first < count; first += wave) {
        int n = count - first < wave ? count - first : wave;

        for (int i = 0; i < n; i++)
            xfer_init(&x[i], (unsigned)(first + i), c->size((unsigned)(first + i)));
        d->wave(d, x, n);
    }
    return bench_now_ns() - start;
}

static int compare_ns(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* The case's value (MiB/s or transfers/s) from the median run. */
static double measure_case(driver *d, const bench_case *c)
{
    int64_t ns[BENCH_REPS];
    double bytes = 0;

    run_case(d, c); /* warm-up: connections made, caches filled */
    for (int r = 0; r < BENCH_REPS; r++)
        ns[r] = run_case(d, c);
    qsort(ns, BENCH_REPS, sizeof(ns[0]), compare_ns);
    if (!c->in_mib)
        return c->count * 1e9 / (double)ns[BENCH_REPS / 2];
    for (int i = 0; i < c->count; i++)
        bytes += (double)c->size((unsigned)i);
    return bytes / (1 << 20) * 1e9 / (double)ns[BENCH_REPS / 2];
}

static double values[MAX_DRIVERS][N_CASES];

static void run_driver(driver *d, int index)
{
    http_server *server;

    if (d->backend && d->backend->make(&d->loop, d->backend->name) < 0) {
        printf("# curl-bench: %s does not work here\n", d->name);
        return;
    }
    server = http_server_start();
    d->port = http_server_port(server);
    for (int c = 0; c < N_CASES; c++) {
        if (check_only) {
            run_case(d, &cases[c]);
            continue;
        }
        values[index][c] = measure_case(d, &cases[c]);
        printf("curl.%s.%s %.1f %s\n", d->name, cases[c].name, values[index][c],
               cases[c].in_mib ? "MiB/s" : "transfers/s");
        fflush(stdout);
    }
    if (check_only)
        printf("# curl-check %s: every body checked\n", d->name);
    d->close(d);
    http_server_stop(server);
    d->ran = true;
}

static void print_ratios(const driver *drivers, int n)
{
    printf("# curl ratios: loom's value over the peer's (> 1: loom is faster)\n");
    for (int l = 0; l < n; l++)
        for (int p = 0; p < n && drivers[l].backend && drivers[l].ran; p++)
            for (int c = 0; c < N_CASES && !drivers[p].backend && drivers[p].ran; c++)
                printf("ratio curl.%s.%s/curl.%s.%s %.3g\n", drivers[l].name, cases[c].name, drivers[p].name,
                       cases[c].name, values[l][c] / values[p][c]);
}

/* --- main ------------------------------------------------------------------------ */

static int add_loom_drivers(driver *drivers, const char *only)
{
    int n = 0;

    for (const struct bench_backend *b = bench_backends; b->name && n < MAX_DRIVERS - 2; b++) {
        driver *d = &drivers[n];

        if (only && strcmp(b->name, only) != 0)
            continue;
        snprintf(d->name, sizeof(d->name), "loom_%s", b->name);
        d->backend = b;
        d->wave = loom_wave;
        d->close = loom_close;
        n++;
    }
    return n;
}

static void add_peer(driver *d, const char *name, void (*wave)(driver *, xfer *, int))
{
    snprintf(d->name, sizeof(d->name), "%s", name);
    if (!(d->multi = curl_multi_init()))
        bench_die(ENOMEM, "curl_multi_init");
    d->wave = wave;
    d->close = peer_close;
}

int main(int argc, char **argv)
{
    static driver drivers[MAX_DRIVERS];
    const char *only = NULL;
    int n;

    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--backend=", 10) == 0)
            only = argv[i] + 10;
        else if (strcmp(argv[i], "--check") == 0)
            check_only = true;
        else {
            fprintf(stderr, "usage: curl-bench [--backend=NAME] [--check]\n");
            return 2;
        }
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        bench_die(0, "curl_global_init");
    if ((n = add_loom_drivers(drivers, only)) == 0)
        bench_die(0, "no such backend");
    add_peer(&drivers[n++], "multi_poll", multi_poll_wave);
#ifdef BENCH_CURL_LIBEVENT
    add_peer(&drivers[n], "libevent", libevent_wave);
    libevent_open(&drivers[n++]);
#endif
    printf("# curl-bench%s: every body checked\n", check_only ? " --check" : "");
    for (int i = 0; i < n; i++)
        run_driver(&drivers[i], i);
    if (!check_only)
        print_ratios(drivers, n);
    curl_global_cleanup();
    return 0;
}
