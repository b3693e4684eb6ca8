/* file-bench: 4 KiB random reads from a 256 MiB file in /tmp (unlinked at
 * once, so it goes with the process) through loom_file_read on the io_uring
 * engine and on the executor (LOOM_URING=0 for that loop), beside plain
 * pread(2) in a loop; page cache warm, then cold (posix_fadvise DONTNEED,
 * where the file system honours it). loom keeps DEPTH reads in flight.
 * Prints "file.<engine>.randread4k[_cold] <value> ops/s" and "ratio" lines.
 * --check: a 1 MiB file and a few reads per engine, every byte compared, no
 * timing (make check runs it). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <loom/file.h>
#include <loom/loom.h>
#include "bench-util.h"

#define BLOCK 4096
#define DEPTH 32

struct run {
    loom_loop *loop;
    int fd;
    uint64_t blocks; /* in the file */
    uint64_t rng;
    int64_t deadline; /* 0: stop after max_ops */
    uint64_t started, done, max_ops;
    unsigned inflight;
    bool check;
    struct slot {
        struct run *run;
        uint64_t block;
        unsigned char buf[BLOCK];
    } slots[DEPTH];
};

static uint64_t next_block(struct run *r)
{
    r->rng ^= r->rng << 13;
    r->rng ^= r->rng >> 7;
    r->rng ^= r->rng << 17;
    return r->rng % r->blocks;
}

/* The file's bytes: each 8-byte word holds its own offset. */
static void fill_block(unsigned char *buf, uint64_t block)
{
    for (size_t i = 0; i < BLOCK; i += 8) {
        uint64_t v = block * BLOCK + i;
        memcpy(buf + i, &v, 8);
    }
}

static void verify(const unsigned char *buf, uint64_t block)
{
    unsigned char want[BLOCK];

    fill_block(want, block);
    if (memcmp(buf, want, BLOCK) != 0)
        bench_die(0, "a read returned the wrong bytes");
}

static bool want_more(struct run *r)
{
    if (r->deadline)
        return bench_now_ns() < r->deadline;
    return r->started < r->max_ops;
}

static void start_read(struct run *r, struct slot *s);

static void read_done(loom_future *f, void *data)
{
    struct slot *s = data;
    struct run *r = s->run;

    if (loom_future_status(f) != 0 || loom_future_value_int(f) != BLOCK)
        bench_die(-loom_future_status(f), "loom_file_read");
    if (r->check)
        verify(s->buf, s->block);
    r->done++;
    r->inflight--;
    if (want_more(r))
        start_read(r, s);
    else if (r->inflight == 0)
        loom_loop_stop(r->loop);
}

static void start_read(struct run *r, struct slot *s)
{
    loom_future *f;

    s->block = next_block(r);
    f = loom_file_read(r->loop, r->fd, s->buf, BLOCK, (int64_t)(s->block * BLOCK));
    if (!f)
        bench_die(errno, "loom_file_read");
    bench_check(loom_future_on_done(f, read_done, s), "loom_future_on_done");
    loom_future_unref(f); /* the callback sees it through */
    r->started++;
    r->inflight++;
}

static void drop_cache(int fd)
{
    fdatasync(fd);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
}

/* ops/s of loom_file_read on a fresh loop with the given engine. */
static double run_loom(struct run *r, bool uring_off, const char *expect)
{
    const char *engine;
    int64_t t0;

    if (uring_off)
        setenv("LOOM_URING", "0", 1);
    bench_check(loom_loop_new(&r->loop, NULL), "loom_loop_new");
    engine = loom_file_engine(r->loop);
    unsetenv("LOOM_URING");
    if (!engine || strcmp(engine, expect) != 0) {
        loom_loop_unref(r->loop);
        return -1; /* this engine does not run here */
    }
    r->started = r->done = 0;
    t0 = bench_now_ns();
    for (unsigned i = 0; i < DEPTH && want_more(r); i++) {
        r->slots[i].run = r;
        start_read(r, &r->slots[i]);
    }
    if (r->inflight)
        bench_check(loom_loop_run(r->loop), "loom_loop_run");
    double secs = (double)(bench_now_ns() - t0) / 1e9;
    loom_loop_unref(r->loop);
    return (double)r->done / secs;
}

static double run_pread(struct run *r)
{
    unsigned char buf[BLOCK];
    int64_t t0 = bench_now_ns();

    r->started = r->done = 0;
    while (want_more(r)) {
        uint64_t block = next_block(r);
        r->started++;
        if (pread(r->fd, buf, BLOCK, (off_t)(block * BLOCK)) != BLOCK)
            bench_die(errno, "pread");
        if (r->check)
            verify(buf, block);
        r->done++;
    }
    return (double)r->done / ((double)(bench_now_ns() - t0) / 1e9);
}

static int make_file(uint64_t blocks)
{
    char path[] = "/tmp/loom-file-bench-XXXXXX";
    unsigned char *chunk = malloc(BLOCK * 256);
    int fd = mkstemp(path);

    if (fd < 0 || !chunk)
        bench_die(errno, "mkstemp");
    unlink(path); /* deleted when the process ends */
    for (uint64_t b = 0; b < blocks; b += 256) {
        uint64_t n = blocks - b < 256 ? blocks - b : 256;
        for (uint64_t i = 0; i < n; i++)
            fill_block(chunk + i * BLOCK, b + i);
        if (pwrite(fd, chunk, n * BLOCK, (off_t)(b * BLOCK)) != (ssize_t)(n * BLOCK))
            bench_die(errno, "writing the file");
    }
    free(chunk);
    return fd;
}

static void print_ratio(const char *a, double va, const char *b, double vb, const char *metric)
{
    if (va > 0 && vb > 0)
        printf("ratio file.%s.%s/file.%s.%s %.3f\n", a, metric, b, metric, va / vb);
}

/* One pass over the three engines; cold drops the file's pages first. */
static void measure(struct run *r, const char *metric, bool cold, int64_t each_ns)
{
    static const struct {
        const char *name;
        bool off;
    } engines[] = {{"io_uring", false}, {"executor", true}};
    double v[3];

    for (int i = 0; i < 3; i++) {
        if (cold)
            drop_cache(r->fd);
        r->rng = 0x9e3779b97f4a7c15ull;
        r->deadline = each_ns ? bench_now_ns() + each_ns : 0;
        v[i] = i < 2 ? run_loom(r, engines[i].off, engines[i].name) : run_pread(r);
        const char *name = i < 2 ? engines[i].name : "pread";
        if (v[i] < 0)
            printf("# file.%s.%s: not available here\n", name, metric);
        else if (!r->check)
            printf("file.%s.%s %.0f ops/s\n", name, metric, v[i]);
    }
    if (r->check)
        return;
    print_ratio("io_uring", v[0], "executor", v[1], metric);
    print_ratio("io_uring", v[0], "pread", v[2], metric);
    print_ratio("executor", v[1], "pread", v[2], metric);
}

int main(int argc, char **argv)
{
    static struct run r;
    bool check = argc > 1 && strcmp(argv[1], "--check") == 0;

    r.check = check;
    r.blocks = check ? 256 : (256u << 20) / BLOCK;
    r.max_ops = 2000;
    r.fd = make_file(r.blocks);
    printf("# file-bench: 4 KiB random reads of a %llu MiB file, %d in flight through loom\n",
           (unsigned long long)(r.blocks * BLOCK >> 20), DEPTH);
    measure(&r, "randread4k", false, check ? 0 : 1000000000);
    measure(&r, "randread4k_cold", true, check ? 0 : 1000000000);
    close(r.fd);
    loom_executor_shutdown();
    if (check)
        printf("# file-bench --check: every read returned its bytes\n");
    return 0;
}
