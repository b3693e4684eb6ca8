/* echo-load — the load generator and driver of the echo benchmark.
 *
 *   echo-load [--long] [--only=SERVER,...] [--backend=NAME] [--server-bin=PATH]
 *       starts each server of `echo-server --list` in turn (loom's on epoll,
 *       with --long on every backend of `echo-server --backends`, with
 *       --backend=NAME on that one, all with the io_uring engine off
 *       (LOOM_URING=0), and once more on epoll with it on as loom_*_uring),
 *       pinned to the first CPU while the load
 *       runs on the second (GIO's 10,000 connections only with --long: they
 *       take it a minute), and prints
 *         echo.<server>.c<conns>.s<bytes> <requests/s> req/s
 *         echo.<server>.c<conns>.s<bytes>.p50|.p99 <latency> us
 *         echo.<server>.c10000.idle_mem <RSS delta / connections> B/conn
 *       then the ratio lines of the issues' targets (loom_cb_uring over
 *       loom_cb_epoll: the io_uring engine's gain; raw_uring, a hand-written
 *       io_uring server, over raw_epoll: the most a ring gains here).
 *   echo-load --check [--only=...] [--backend=NAME]
 *       correctness only, not pinned, for make check: every server on every
 *       backend echoes a few requests of 1 B, 1 KiB and 100 KiB on 1 and 100
 *       connections, every byte checked, and survives a client that resets
 *       its connection mid-echo; exits non-zero on any error.
 *   echo-load --port=P [--conns=N] [--size=BYTES] [--long]
 *       loads a server already listening on 127.0.0.1:P (examples/echo-server,
 *       another loop's) and prints the same lines for server "external".
 *
 * A request is one message of the given size; the client sends it and waits
 * for all of it back, checking every byte, before it sends the next. Each
 * message is a different slice of a random pattern, so an echo from the
 * wrong connection or the wrong request fails too. Latency goes into a
 * log-linear histogram (32 buckets per power of two, 3% resolution). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-util.h"

#define MAX_SIZE (100 * 1024)
#define PATTERN_SLICES 256 /* distinct message starts */
#define IDLE_CONNS 10000u
#define IDLE_PROBE_SIZE 64 /* the echo that proves every idle connection accepted */
#define IDLE_BATCH 1000u   /* well below ECHO_BACKLOG */
#define RESET_BYTES (16u << 20) /* the kernel buffers about 6 MiB of it */
#define STALL_NS (10 * 1000000000LL)
#define READY_TIMEOUT_MS 30000

static const unsigned matrix_conns[] = { 1, 10, 100 };
static const size_t matrix_sizes[] = { 1024, 10 * 1024, 100 * 1024 };

/* --- latency histogram -------------------------------------------------------- */

#define HIST_SUB 32
#define HIST_BUCKETS (2 * HIST_SUB + 58 * HIST_SUB)

struct hist {
    uint64_t count[HIST_BUCKETS];
    uint64_t total;
};

/* Values below 2 * HIST_SUB are exact; above, the top 6 bits select. */
static unsigned hist_index(uint64_t v)
{
    if (v < 2 * HIST_SUB)
        return (unsigned)v;
    unsigned shift = 63 - (unsigned)__builtin_clzll(v) - 5;
    return 2 * HIST_SUB + (shift - 1) * HIST_SUB + (unsigned)(v >> shift) - HIST_SUB;
}

/* The middle of bucket i's range. */
static double hist_value(unsigned i)
{
    if (i < 2 * HIST_SUB)
        return i;
    unsigned shift = (i - 2 * HIST_SUB) / HIST_SUB + 1;
    uint64_t low = (uint64_t)(HIST_SUB + (i - 2 * HIST_SUB) % HIST_SUB) << shift;
    return (double)low + (double)(1ull << shift) / 2;
}

static void hist_add(struct hist *h, uint64_t v)
{
    h->count[hist_index(v)]++;
    h->total++;
}

static double hist_quantile(const struct hist *h, double q)
{
    uint64_t rank = (uint64_t)(q * (double)(h->total - 1)), seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        if ((seen += h->count[i]) > rank)
            return hist_value(i);
    return 0;
}

/* --- clients ---------------------------------------------------------------------- */

struct client {
    int fd;
    uint32_t id, seq;
    const unsigned char *msg; /* the current request's expected bytes */
    size_t sent, got;
    int64_t start;
    bool busy; /* a request is in flight */
};

struct load {
    int ep;
    struct sockaddr_in addr;
    struct client *clients;
    unsigned n, first; /* clients [first, n) take part in a run */
    size_t size;
    /* One run: warm up, measure, then let every client finish its request.
     * Each phase lasts its time and at least one request per client. */
    enum { WARMUP, MEASURE, STOP } phase;
    int64_t warmup_ns, measure_ns, phase_start, measured_ns;
    unsigned outstanding;
    uint64_t done; /* requests completed in the phase */
    struct hist hist;
};

static unsigned char pattern[MAX_SIZE + PATTERN_SLICES];
static unsigned char scratch[MAX_SIZE];

static void pattern_init(void)
{
    uint64_t x = 0x9e3779b97f4a7c15ull; /* xorshift64, fixed seed */
    for (size_t i = 0; i < sizeof pattern; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        pattern[i] = (unsigned char)x;
    }
}

static void set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        bench_die(errno, "O_NONBLOCK");
}

/* Connects blocking (the server accepts on the other CPU meanwhile), then
 * watches edge-triggered for both directions. rcvbuf: SO_RCVBUF, which
 * must be set before connect, or 0. */
static void client_connect(struct load *l, struct client *c, uint32_t id, int rcvbuf)
{
    int one = 1;
    *c = (struct client){ .fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), .id = id };
    if (c->fd < 0)
        bench_die(errno, "socket");
    if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
        bench_die(errno, "TCP_NODELAY");
    if (rcvbuf && setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) < 0)
        bench_die(errno, "SO_RCVBUF");
    if (connect(c->fd, (struct sockaddr *)&l->addr, sizeof l->addr) < 0)
        bench_die(errno, "connect");
    set_nonblocking(c->fd);
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c };
    if (epoll_ctl(l->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        bench_die(errno, "epoll_ctl");
}

/* Room for n connections to 127.0.0.1:port, none made yet. */
static void load_init(struct load *l, uint16_t port, unsigned n)
{
    *l = (struct load){ .addr = { .sin_family = AF_INET, .sin_port = htons(port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) } };
    if ((l->ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
        bench_die(errno, "epoll_create1");
    if (!(l->clients = calloc(n, sizeof *l->clients)))
        bench_die(ENOMEM, "clients");
}

static void load_connect(struct load *l, unsigned end)
{
    for (; l->n < end; l->n++)
        client_connect(l, &l->clients[l->n], l->n, 0);
}

/* n connections to 127.0.0.1:port. */
static void load_open(struct load *l, uint16_t port, unsigned n)
{
    load_init(l, port, n);
    load_connect(l, n);
}

static void load_close(struct load *l)
{
    for (unsigned i = 0; i < l->n; i++)
        close(l->clients[i].fd);
    close(l->ep);
    free(l->clients);
}

static void client_send(struct client *c, size_t size)
{
    while (c->sent < size) {
        ssize_t n = send(c->fd, c->msg + c->sent, size - c->sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN)
            return;
        if (n < 0)
            bench_die(errno, "echo-load: send");
        c->sent += (size_t)n;
    }
}

static void client_start(struct load *l, struct client *c)
{
    c->msg = pattern + (c->id * 131u + c->seq * 17u) % PATTERN_SLICES;
    c->sent = c->got = 0;
    c->busy = true;
    c->start = bench_now_ns();
    client_send(c, l->size);
}

static BENCH_NORETURN void corrupt(const struct client *c, size_t at)
{
    fprintf(stderr, "echo-load: connection %u request %u: byte %zu of the echo is wrong\n",
            c->id, c->seq, at);
    exit(1);
}

/* Reads what the kernel has of the current echo, at most its remaining
 * bytes; true when the echo is complete. */
static bool client_receive(struct load *l, struct client *c)
{
    while (c->got < l->size) {
        ssize_t n = read(c->fd, scratch, l->size - c->got);
        if (n < 0 && errno == EAGAIN)
            return false;
        if (n < 0)
            bench_die(errno, "echo-load: read");
        if (n == 0) {
            fprintf(stderr, "echo-load: the server closed connection %u mid-echo\n", c->id);
            exit(1);
        }
        if (memcmp(scratch, c->msg + c->got, (size_t)n) != 0)
            for (ssize_t i = 0;; i++)
                if (scratch[i] != c->msg[c->got + (size_t)i])
                    corrupt(c, c->got + (size_t)i);
        c->got += (size_t)n;
    }
    return true;
}

/* The phase ends when its time is up and each client had one request. */
static void advance_phase(struct load *l, int64_t now)
{
    int64_t length = l->phase == WARMUP ? l->warmup_ns : l->measure_ns;
    if (l->phase == STOP || now - l->phase_start < length || l->done < l->n - l->first)
        return;
    if (l->phase == MEASURE)
        l->measured_ns = now - l->phase_start;
    l->phase++;
    l->phase_start = now;
    if (l->phase == MEASURE) {
        l->done = 0;
        memset(&l->hist, 0, sizeof l->hist);
    }
}

/* Counts the request; true when the client goes on with the next one. */
static bool client_complete(struct load *l, struct client *c)
{
    int64_t now = bench_now_ns();
    c->seq++;
    c->busy = false;
    if (l->phase == STOP) {
        l->outstanding--;
        return false;
    }
    l->done++;
    hist_add(&l->hist, (uint64_t)(now - c->start));
    advance_phase(l, now);
    client_start(l, c);
    return true;
}

/* Sends and receives as far as the kernel lets (edge-triggered), reading
 * also while a large message is still being sent: the server's echo of its
 * first part must not wait for our receive buffer. */
static void client_ready(struct load *l, struct client *c)
{
    while (c->busy) {
        if (c->sent < l->size)
            client_send(c, l->size);
        if (!client_receive(l, c) || !client_complete(l, c))
            return;
    }
}

/* Every client runs requests of size bytes through a warmup and a measured
 * phase (see advance_phase), then finishes the one it has in flight.
 * measure_ns 0: one request each, nothing measured. */
static void load_run(struct load *l, size_t size, int64_t warmup_ns, int64_t measure_ns)
{
    struct epoll_event evs[256];
    int64_t now, progress = bench_now_ns();

    l->size = size;
    l->phase = measure_ns ? WARMUP : STOP;
    l->warmup_ns = warmup_ns;
    l->measure_ns = measure_ns;
    l->outstanding = l->n - l->first;
    l->done = 0;
    l->measured_ns = 0;
    for (unsigned i = l->first; i < l->n; i++)
        client_start(l, &l->clients[i]);
    /* 10,000 first sends take the time of many requests: the clock starts after. */
    l->phase_start = bench_now_ns();
    while (l->outstanding) {
        int n = epoll_wait(l->ep, evs, 256, 100);
        if (n < 0 && errno != EINTR)
            bench_die(errno, "epoll_wait");
        for (int i = 0; i < n; i++)
            client_ready(l, evs[i].data.ptr);
        now = bench_now_ns();
        if (n > 0)
            progress = now;
        else if (now - progress > STALL_NS)
            bench_die(ETIMEDOUT, "echo-load: the server stopped echoing");
    }
}

/* --- results -------------------------------------------------------------------- */

struct result {
    char server[48];
    unsigned conns;
    size_t size;
    double rps;
};

static struct result results[256];
static unsigned nresults;

/* Like load_open, IDLE_BATCH connections at a time, each batch proven
 * accepted by one small echo before the next connects: the server's accept
 * queue never overflows into SYN retransmits (a second or more each). */
static void load_open_accepted(struct load *l, uint16_t port, unsigned n)
{
    load_init(l, port, n);
    while (l->n < n) {
        l->first = l->n;
        load_connect(l, l->n + IDLE_BATCH < n ? l->n + IDLE_BATCH : n);
        load_run(l, IDLE_PROBE_SIZE, 0, 0);
    }
    l->first = 0;
}

static void report(const char *server, const struct load *l)
{
    double rps = (double)l->done * 1e9 / (double)l->measured_ns;
    printf("echo.%s.c%u.s%zu %.0f req/s\n", server, l->n, l->size, rps);
    printf("echo.%s.c%u.s%zu.p50 %.1f us\n", server, l->n, l->size,
           hist_quantile(&l->hist, 0.50) / 1e3);
    printf("echo.%s.c%u.s%zu.p99 %.1f us\n", server, l->n, l->size,
           hist_quantile(&l->hist, 0.99) / 1e3);
    fflush(stdout);
    if (nresults < sizeof results / sizeof results[0]) {
        struct result *r = &results[nresults++];
        snprintf(r->server, sizeof r->server, "%s", server);
        r->conns = l->n;
        r->size = l->size;
        r->rps = rps;
    }
}

static const struct result *find_result(const char *server, unsigned conns, size_t size)
{
    for (unsigned i = 0; i < nresults; i++)
        if (strcmp(results[i].server, server) == 0 && results[i].conns == conns &&
            results[i].size == size)
            return &results[i];
    return NULL;
}

/* The engine a loom server runs with: "uring" (io_uring on, the epoll
 * backend) or the backend's name with LOOM_URING=0. */
#define URING "uring"

static void print_ratio(const char *loom, const char *peer, unsigned conns, size_t size)
{
    const struct result *a = find_result(loom, conns, size), *b = find_result(peer, conns, size);
    if (a && b && b->rps > 0)
        printf("ratio echo.%s.c%u.s%zu/echo.%s.c%u.s%zu %.3g\n", loom, conns, size, peer, conns,
               size, a->rps / b->rps);
}

static bool on_builtin_loop(const char *server)
{
    size_t len = strlen(server);
    return strncmp(server, "loom_", 5) == 0 &&
           ((len > 6 && strcmp(server + len - 6, "_epoll") == 0) ||
            (len > 5 && strcmp(server + len - 5, "_poll") == 0));
}

/* io_uring's targets (issue 12): loom_cb_uring over loom_cb_epoll >= 1.3
 * at 100 connections x 1 KiB, >= 1/1.05 at 1; and beside them the floor:
 * each over raw_uring, and raw_uring over raw_epoll (what the kernel's ring
 * gains here at best). */
static void print_uring_ratio(const struct result *r)
{
    size_t len = strlen(r->server), suffix = strlen("_" URING);
    char peer[sizeof r->server];

    if (r->size != 1024 || (r->conns != 1 && r->conns != 100))
        return;
    if (strcmp(r->server, "raw_uring") == 0) {
        print_ratio(r->server, "raw_epoll", r->conns, r->size);
        return;
    }
    if (len <= suffix || strcmp(r->server + len - suffix, "_" URING) != 0)
        return;
    snprintf(peer, sizeof peer, "%.*s_epoll", (int)(len - suffix), r->server);
    print_ratio(r->server, peer, r->conns, r->size);
    print_ratio(r->server, "raw_uring", r->conns, r->size);
    print_ratio(peer, "raw_uring", r->conns, r->size);
}

/* The targets: >= 1.1x libuv and bufferevent at 1 and 100
 * connections x 1 KiB, >= 0.95x raw epoll (at every point). */
static void print_ratios(void)
{
    printf("# echo ratios: loom's requests/s over the peer's (> 1: loom is faster)\n");
    for (unsigned i = 0; i < nresults; i++) {
        const struct result *r = &results[i];
        print_uring_ratio(r);
        if (!on_builtin_loop(r->server))
            continue;
        if (r->size == 1024 && (r->conns == 1 || r->conns == 100)) {
            print_ratio(r->server, "libuv", r->conns, r->size);
            print_ratio(r->server, "bufferevent", r->conns, r->size);
        }
        print_ratio(r->server, "raw_epoll", r->conns, r->size);
    }
}

/* --- the server process ------------------------------------------------------------ */

struct config {
    int64_t warmup_ns, measure_ns, idle_measure_ns;
    enum { RUN_SHORT, RUN_LONG, RUN_CHECK } mode;
    const char *only;
    const char *backend; /* loom's servers only on this one */
    char server_bin[4096];
    int cpus[2]; /* server's, load's; -1: not pinned */
};

static void pin(pid_t pid, int cpu)
{
    cpu_set_t set;
    if (cpu < 0)
        return;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(pid, sizeof set, &set) < 0)
        bench_die(errno, "sched_setaffinity");
}

/* The first two CPUs this process may run on, or -1s on one CPU. */
static void choose_cpus(int cpus[2])
{
    cpu_set_t set;
    int found = 0;
    cpus[0] = cpus[1] = -1;
    if (sched_getaffinity(0, sizeof set, &set) < 0)
        return;
    for (int cpu = 0; cpu < CPU_SETSIZE && found < 2; cpu++)
        if (CPU_ISSET(cpu, &set))
            cpus[found++] = cpu;
    if (found < 2)
        cpus[0] = cpus[1] = -1;
}

/* A free loopback port: bound, read back, released for the server to bind. */
static uint16_t free_port(void)
{
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof addr;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) < 0)
        bench_die(errno, "free port");
    close(fd);
    return ntohs(addr.sin_port);
}

struct server_proc {
    pid_t pid;
    uint16_t port;
};

static BENCH_NORETURN void exec_server(const struct config *cfg, int out, const char *name,
                                       const char *backend, uint16_t port)
{
    char server_arg[80], backend_arg[80], port_arg[32];
    char *argv[] = { (char *)cfg->server_bin, server_arg, port_arg, backend ? backend_arg : NULL,
                     NULL };
    bool uring = backend && strcmp(backend, URING) == 0;

    snprintf(server_arg, sizeof server_arg, "--server=%s", name);
    snprintf(backend_arg, sizeof backend_arg, "--backend=%s", uring ? "epoll" : backend ? backend : "");
    /* The engine is the loop's choice: on where it probes, unless told. */
    if (uring) {
        setenv("LOOM_URING_STREAMS", "1", 1);
        setenv("LOOM_URING_DEBUG", "1", 1); /* says on stderr whether it runs */
    } else
        setenv("LOOM_URING", "0", 1);
    snprintf(port_arg, sizeof port_arg, "--port=%u", port);
    pin(0, cfg->cpus[0]);
    signal(SIGPIPE, SIG_DFL); /* ignored here, and an ignored signal stays so across exec */
    if (dup2(out, STDOUT_FILENO) < 0)
        _exit(127);
    execv(cfg->server_bin, argv);
    _exit(127);
}

/* Waits for the server's "listening" line; false if it exits first. */
static bool wait_ready(int out)
{
    struct pollfd p = { .fd = out, .events = POLLIN };
    char line[64];
    size_t len = 0;

    while (len < sizeof line - 1) {
        int n = poll(&p, 1, READY_TIMEOUT_MS);
        if (n <= 0)
            return false;
        ssize_t got = read(out, line + len, sizeof line - 1 - len);
        if (got <= 0)
            return false;
        len += (size_t)got;
        line[len] = 0;
        if (strchr(line, '\n'))
            return strncmp(line, "listening\n", 10) == 0;
    }
    return false;
}

static void server_start(struct server_proc *s, const struct config *cfg, const char *name,
                         const char *backend)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        bench_die(errno, "pipe2");
    s->port = free_port();
    if ((s->pid = fork()) < 0)
        bench_die(errno, "fork");
    if (s->pid == 0)
        exec_server(cfg, pipefd[1], name, backend, s->port);
    close(pipefd[1]);
    bool ready = wait_ready(pipefd[0]);
    close(pipefd[0]);
    if (!ready) {
        fprintf(stderr, "echo-load: server %s did not start\n", name);
        exit(1);
    }
}

static void server_stop(struct server_proc *s, const char *name)
{
    int status;
    if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
        fprintf(stderr, "echo-load: server %s exited during the run\n", name);
        exit(1);
    }
    kill(s->pid, SIGTERM);
    waitpid(s->pid, &status, 0);
}

/* VmRSS of pid in bytes. */
static long long rss_bytes(pid_t pid)
{
    char path[64], line[256];
    long long kib = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        bench_die(errno, path);
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %lld kB", &kib) == 1)
            break;
    fclose(f);
    if (kib < 0)
        bench_die(EINVAL, "VmRSS");
    return kib * 1024;
}

/* --- the runs ---------------------------------------------------------------------- */

static void run_matrix(const struct config *cfg, const char *server, uint16_t port)
{
    for (size_t c = 0; c < sizeof matrix_conns / sizeof matrix_conns[0]; c++) {
        struct load l;
        load_open(&l, port, matrix_conns[c]);
        for (size_t s = 0; s < sizeof matrix_sizes / sizeof matrix_sizes[0]; s++) {
            load_run(&l, matrix_sizes[s], cfg->warmup_ns, cfg->measure_ns);
            report(server, &l);
        }
        load_close(&l);
    }
}

static bool can_hold_idle(void)
{
    struct rlimit lim;
    return getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur >= IDLE_CONNS + 64;
}

/* IDLE_CONNS connections, each proven accepted by one small echo: the RSS
 * they add to the server, per connection; then all of them echo 1 KiB. */
static void run_idle(const struct config *cfg, const char *server, const struct server_proc *s)
{
    struct load probe, l;

    if (!can_hold_idle()) {
        printf("# echo %s: RLIMIT_NOFILE below %u: no idle-connection run\n", server,
               IDLE_CONNS + 64);
        return;
    }
    /* The first connection's lazy setup (buffers, tables) is not per connection. */
    load_open_accepted(&probe, s->port, 1);
    long long before = rss_bytes(s->pid);
    load_open_accepted(&l, s->port, IDLE_CONNS);
    long long after = rss_bytes(s->pid);
    printf("echo.%s.c%u.idle_mem %.0f B/conn\n", server, IDLE_CONNS,
           (double)(after - before) / IDLE_CONNS);
    load_run(&l, 1024, cfg->warmup_ns, cfg->idle_measure_ns);
    report(server, &l);
    load_close(&l);
    load_close(&probe);
}

/* A client that resets its connection while the server is stuck writing
 * the echo to it: it sends without reading until nothing moves for 100 ms
 * (every buffer on the way full, the server holding unwritten echo) or
 * RESET_BYTES went (a server without backpressure buffers them), then
 * resets. The server's write fails (ECONNRESET), which must neither kill it
 * nor disturb the other connections. */
static void reset_mid_echo(uint16_t port)
{
    struct linger reset = { .l_onoff = 1, .l_linger = 0 };
    struct load l;

    load_init(&l, port, 1);
    client_connect(&l, &l.clients[l.n++], 0, 4096);
    struct client *c = &l.clients[0];
    struct pollfd p = { .fd = c->fd, .events = POLLOUT };
    if (setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset) < 0)
        bench_die(errno, "SO_LINGER");
    c->msg = pattern;
    for (size_t total = 0; total < RESET_BYTES && poll(&p, 1, 100) == 1; total += c->sent) {
        c->sent = 0;
        client_send(c, MAX_SIZE);
    }
    load_close(&l); /* SO_LINGER 0: a reset */
}

/* Correctness only: a few requests of each size, on 1 and 100 connections,
 * each time after a client reset its connection mid-echo. */
static void run_check(const char *server, uint16_t port)
{
    static const size_t sizes[] = { 1, 1024, MAX_SIZE };
    static const unsigned conns[] = { 1, 100 };

    for (size_t c = 0; c < sizeof conns / sizeof conns[0]; c++) {
        struct load l;
        reset_mid_echo(port);
        load_open(&l, port, conns[c]);
        for (size_t i = 0; i < 2 * sizeof sizes / sizeof sizes[0]; i++)
            load_run(&l, sizes[i / 2], 0, 0);
        load_close(&l);
    }
    printf("# echo-check %s: every byte echoed\n", server);
    fflush(stdout);
}

/* GIO polls every connection's source on each main-loop iteration: holding
 * 10,000 takes it a minute, not a short run's seconds. */
static bool slow_at_scale(const char *server)
{
    return strcmp(server, "gio") == 0;
}

static void run_server(const struct config *cfg, const char *name, const char *backend)
{
    struct server_proc s;
    char id[48];

    if (backend)
        snprintf(id, sizeof id, "%s_%s", name, backend);
    else
        snprintf(id, sizeof id, "%s", name);
    if (cfg->mode == RUN_CHECK) {
        server_start(&s, cfg, name, backend);
        run_check(id, s.port);
        server_stop(&s, id);
        return;
    }
    /* A fresh process for each: the matrix's freed buffers would hide the
     * idle connections' memory, their closing would slow the matrix. */
    if (cfg->mode == RUN_LONG || !slow_at_scale(name)) {
        server_start(&s, cfg, name, backend);
        run_idle(cfg, id, &s);
        server_stop(&s, id);
    } else {
        printf("# echo %s: %u connections in the long run only\n", id, IDLE_CONNS);
    }
    server_start(&s, cfg, name, backend);
    run_matrix(cfg, id, s.port);
    server_stop(&s, id);
}

static bool selected(const struct config *cfg, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = cfg->only; p && *p; p += strcspn(p, ","), p += *p == ',')
        if (strncmp(p, name, len) == 0 && (p[len] == ',' || p[len] == 0))
            return true;
    return !cfg->only;
}

/* Runs `echo-server ARG` and returns its output's lines, in buf. */
static unsigned list_from_server(const struct config *cfg, const char *arg, char *buf,
                                 size_t size, const char **lines, unsigned max)
{
    char cmd[4200];
    unsigned n = 0;
    snprintf(cmd, sizeof cmd, "'%s' %s", cfg->server_bin, arg);
    FILE *f = popen(cmd, "r");
    if (!f)
        bench_die(errno, "popen");
    size_t len = fread(buf, 1, size - 1, f);
    buf[len] = 0;
    if (pclose(f) != 0)
        bench_die(0, "echo-server --list failed");
    for (char *save, *tok = strtok_r(buf, "\n", &save); tok && n < max;
         tok = strtok_r(NULL, "\n", &save))
        lines[n++] = tok;
    return n;
}

static void run_all(const struct config *cfg)
{
    static const char *const modes[] = { "short", "long", "check" };
    char sbuf[1024], bbuf[1024];
    const char *servers[32], *backends[32];
    unsigned ns = list_from_server(cfg, "--list", sbuf, sizeof sbuf, servers, 32);
    unsigned nb = list_from_server(cfg, "--backends", bbuf, sizeof bbuf, backends, 32);

    /* The short run compares on the built-in loop; the others take every one. */
    if (cfg->backend || cfg->mode == RUN_SHORT) {
        backends[0] = cfg->backend ? cfg->backend : "epoll";
        nb = 1;
    }

    if (cfg->cpus[0] < 0)
        printf("# echo-bench %s run, not pinned\n", modes[cfg->mode]);
    else
        printf("# echo-bench %s run: server on CPU %d, load on CPU %d\n", modes[cfg->mode],
               cfg->cpus[0], cfg->cpus[1]);
    for (unsigned i = 0; i < ns; i++) {
        bool loom = strncmp(servers[i], "loom_", 5) == 0;
        if (!selected(cfg, servers[i]))
            continue;
        if (!loom)
            run_server(cfg, servers[i], NULL);
        for (unsigned b = 0; loom && b < nb; b++)
            run_server(cfg, servers[i], backends[b]);
        if (loom && (!cfg->backend || strcmp(cfg->backend, "epoll") == 0))
            run_server(cfg, servers[i], URING);
    }
    if (cfg->mode != RUN_CHECK)
        print_ratios();
}

static void run_external(const struct config *cfg, long port, unsigned conns, size_t size)
{
    struct load l;
    load_open_accepted(&l, (uint16_t)port, conns);
    load_run(&l, size, cfg->warmup_ns, cfg->measure_ns);
    report("external", &l);
    load_close(&l);
}

/* --- main ----------------------------------------------------------------------------- */

static void raise_fd_limit(void)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
}

/* echo-server beside this program. */
static void default_server_bin(char *buf, size_t size)
{
    ssize_t len = readlink("/proc/self/exe", buf, size - 1);
    if (len < 0)
        bench_die(errno, "/proc/self/exe");
    buf[len] = 0;
    char *slash = strrchr(buf, '/');
    snprintf(slash + 1, size - (size_t)(slash + 1 - buf), "echo-server");
}

static const char *option(const char *arg, const char *name)
{
    size_t len = strlen(name);
    return strncmp(arg, name, len) == 0 ? arg + len : NULL;
}

static BENCH_NORETURN void usage(void)
{
    fputs("usage: echo-load [--long | --check] [--only=SERVER,...] [--backend=NAME]\n"
          "                 [--server-bin=PATH]\n"
          "       echo-load --port=P [--conns=N] [--size=BYTES] [--long]\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    struct config cfg = { .warmup_ns = 10000000, .measure_ns = 50000000,
                          .idle_measure_ns = 100000000 };
    long port = -1, conns = 1, size = 1024;
    const char *v;

    default_server_bin(cfg.server_bin, sizeof cfg.server_bin);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--long") == 0)
            cfg.mode = RUN_LONG;
        else if (strcmp(argv[i], "--check") == 0)
            cfg.mode = RUN_CHECK;
        else if ((v = option(argv[i], "--only=")))
            cfg.only = v;
        else if ((v = option(argv[i], "--backend=")))
            cfg.backend = v;
        else if ((v = option(argv[i], "--server-bin=")))
            snprintf(cfg.server_bin, sizeof cfg.server_bin, "%s", v);
        else if ((v = option(argv[i], "--port=")))
            port = strtol(v, NULL, 10);
        else if ((v = option(argv[i], "--conns=")))
            conns = strtol(v, NULL, 10);
        else if ((v = option(argv[i], "--size=")))
            size = strtol(v, NULL, 10);
        else
            usage();
    }
    if (conns < 1 || conns > 100000 || size < 1 || size > MAX_SIZE || port > 65535)
        usage();
    if (cfg.mode == RUN_LONG) {
        cfg.warmup_ns = 500000000;
        cfg.measure_ns = cfg.idle_measure_ns = 3000000000LL;
    }
    signal(SIGPIPE, SIG_IGN);
    pattern_init();
    raise_fd_limit();
    if (cfg.mode == RUN_CHECK)
        cfg.cpus[0] = cfg.cpus[1] = -1; /* make check runs beside other tests */
    else
        choose_cpus(cfg.cpus);
    pin(0, cfg.cpus[1]);
    if (port >= 0)
        run_external(&cfg, port, (unsigned)conns, (size_t)size);
    else
        run_all(&cfg);
    return 0;
}
