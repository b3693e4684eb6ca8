/* Conformance: loom_file_* (asynchronous files), through whichever engine the
 * loop chose: io_uring where it runs, the executor elsewhere or with
 * LOOM_URING=0 (tests/uring-off.sh runs this suite so). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <check.h>
#include <loom/executor.h>
#include <loom/file.h>
#include "fixture.h"
#include "suites.h"

#define WAIT_MS 5000

static loom_loop *loop;
static fixture_errors errors;
static char dir[64], path[96];

static void setup(void)
{
    loop = host_loop_new();
    fixture_capture_errors(loop, &errors);
    ck_assert_ptr_nonnull(loom_file_engine(loop)); /* its ring fd is there before fds are counted */
    snprintf(dir, sizeof(dir), "/tmp/loom-file-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/data", dir);
}

static void teardown(void)
{
    loom_executor_shutdown(); /* joins: no job is left over */
    loom_loop_unref(loop);
    loop = NULL;
    unlink(path);
    rmdir(dir);
}

static loom_future *check_future(loom_future *f)
{
    ck_assert_msg(f != NULL, "no future: %s", strerror(errno));
    return f;
}

/* Waits for f and drops it: its integer value, or its negative errno. */
static int64_t await_on(loom_loop *l, loom_future *f)
{
    int64_t r;

    check_future(f);
    fixture_run_until(l, f, WAIT_MS, "file operation");
    ck_assert(loom_future_done(f));
    r = loom_future_status(f);
    if (r == 0)
        r = loom_future_value_int(f);
    loom_future_unref(f);
    return r;
}

static int64_t await(loom_future *f)
{
    return await_on(loop, f);
}

static int open_data(loom_loop *l, int flags)
{
    int64_t fd = await_on(l, loom_file_open(l, path, flags, 0600));
    ck_assert_msg(fd >= 0, "open: %s", strerror((int)-fd));
    return (int)fd;
}

/* Runs the loop for about ms, whatever is pending. */
static void run_for(int ms)
{
    ck_assert_int_eq(loom_call_later(loop, LOOM_MSEC(fixture_scaled_ms(ms)), fixture_stop, NULL, NULL), 0);
    fixture_run(loop, WAIT_MS + fixture_scaled_ms(ms), "the loop running a while");
}

/* One sequence of calls with their results in out (n entries), for the
 * comparison between engines. Writes, reads back at offsets, meets EOF, stats,
 * syncs and closes. */
static size_t file_script(loom_loop *l, int64_t *out)
{
    char buf[256];
    struct stat st;
    size_t n = 0;
    int fd = open_data(l, O_RDWR | O_CREAT | O_TRUNC);

    out[n++] = await_on(l, loom_file_write(l, fd, "hello", 5, 0));
    out[n++] = await_on(l, loom_file_write(l, fd, "world", 5, 100));
    memset(buf, 0x55, sizeof(buf));
    out[n++] = await_on(l, loom_file_read(l, fd, buf, 5, 100));
    ck_assert_mem_eq(buf, "world", 5);
    out[n++] = buf[5]; /* nothing beyond the count is written */
    /* A read across the end is short; at the end it is 0. */
    out[n++] = await_on(l, loom_file_read(l, fd, buf, sizeof(buf), 0));
    ck_assert_mem_eq(buf, "hello", 5);
    for (int i = 5; i < 100; i++)
        ck_assert_int_eq(buf[i], 0);
    ck_assert_mem_eq(buf + 100, "world", 5);
    out[n++] = await_on(l, loom_file_read(l, fd, buf, sizeof(buf), 105));
    out[n++] = await_on(l, loom_file_read(l, fd, buf, sizeof(buf), 1 << 20));
    out[n++] = await_on(l, loom_file_stat(l, fd, &st));
    out[n++] = st.st_size;
    out[n++] = S_ISREG(st.st_mode);
    out[n++] = await_on(l, loom_file_fsync(l, fd));
    out[n++] = await_on(l, loom_file_fdatasync(l, fd));
    /* -1: the current position (0 after the open; writes at offsets keep it). */
    out[n++] = await_on(l, loom_file_read(l, fd, buf, 3, -1));
    out[n++] = await_on(l, loom_file_read(l, fd, buf, 3, -1));
    ck_assert_mem_eq(buf, "lo", 2);
    out[n++] = await_on(l, loom_file_close(l, fd));
    out[n++] = await_on(l, loom_file_open(l, "/nonexistent/loom", O_RDONLY, 0));
    out[n++] = await_on(l, loom_file_read(l, -1, buf, 1, 0));
    return n;
}

static const int64_t script_expected[] = {5, 5, 5, 0x55, 105, 0, 0, 0, 105, 1, 0, 0, 3, 3, 0, -ENOENT, -EBADF};

START_TEST(test_file_write_read_back)
{
    int64_t out[32];
    int fds = fixture_count_open_fds();
    size_t n = file_script(loop, out);

    ck_assert_uint_eq(n, sizeof(script_expected) / sizeof(script_expected[0]));
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(out[i] == script_expected[i], "step %zu: %lld, expected %lld", i, (long long)out[i],
                      (long long)script_expected[i]);
    ck_assert_int_eq(fixture_count_open_fds(), fds);
    ck_assert_int_eq(atomic_load(&errors.count), 0);
}
END_TEST

START_TEST(test_file_vectors)
{
    int fd = open_data(loop, O_RDWR | O_CREAT | O_TRUNC);
    struct iovec out[3] = {{"ab", 2}, {"", 0}, {"cdefg", 5}};
    char a[3] = {0}, b[8];
    struct iovec in[2] = {{a, 3}, {b, sizeof(b)}};

    ck_assert_int_eq(await(loom_file_writev(loop, fd, out, 3, 10)), 7);
    memset(b, 0x55, sizeof(b));
    ck_assert_int_eq(await(loom_file_readv(loop, fd, in, 2, 10)), 7);
    ck_assert_mem_eq(a, "abc", 3);
    ck_assert_mem_eq(b, "defg", 4);
    ck_assert_int_eq(b[4], 0x55);
    ck_assert_int_eq(await(loom_file_readv(loop, fd, in, 0, 0)), 0);
    errno = 0;
    ck_assert_ptr_null(loom_file_readv(loop, fd, in, -1, 0));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_null(loom_file_writev(loop, fd, out, 3, -2));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(await(loom_file_close(loop, fd)), 0);
}
END_TEST

START_TEST(test_file_errors)
{
    char buf[4];
    struct stat st;
    int fd;

    close(open(path, O_CREAT | O_WRONLY, 0600));
    fd = open_data(loop, O_RDONLY);
    ck_assert_int_eq(await(loom_file_write(loop, fd, "x", 1, 0)), -EBADF);
    ck_assert_int_eq(await(loom_file_close(loop, fd)), 0);
    ck_assert_int_eq(await(loom_file_close(loop, fd)), -EBADF);
    ck_assert_int_eq(await(loom_file_stat(loop, -1, &st)), -EBADF);
    ck_assert_int_eq(await(loom_file_fsync(loop, -1)), -EBADF);
    ck_assert_int_eq(await(loom_file_open(loop, path, O_CREAT | O_EXCL | O_RDWR, 0600)), -EEXIST);
    fd = (int)await(loom_file_open(loop, dir, O_RDONLY | O_DIRECTORY, 0));
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(await(loom_file_read(loop, fd, buf, sizeof(buf), 0)), -EISDIR);
    ck_assert_int_eq(await(loom_file_close(loop, fd)), 0);
    ck_assert_ptr_null(loom_file_open(loop, NULL, O_RDONLY, 0));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_null(loom_file_stat(loop, 0, NULL));
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* More operations at once than a ring's completion queue holds: the rest go
 * through the executor, all with the right bytes. */
START_TEST(test_file_many_at_once)
{
    enum { N = 1200 };
    static uint32_t data[N], got[N];
    static loom_future *f[N];
    int fd = open_data(loop, O_RDWR | O_CREAT | O_TRUNC);

    for (uint32_t i = 0; i < N; i++)
        data[i] = i * 2654435761u;
    ck_assert_int_eq(pwrite(fd, data, sizeof(data), 0), (ssize_t)sizeof(data));
    for (int i = 0; i < N; i++)
        f[i] = check_future(loom_file_read(loop, fd, &got[i], 4, (int64_t)(N - 1 - i) * 4));
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(await(f[i]), 4);
    for (int i = 0; i < N; i++)
        ck_assert_uint_eq(got[i], data[N - 1 - i]);
    ck_assert_int_eq(await(loom_file_close(loop, fd)), 0);
}
END_TEST

/* A read of a pipe that gets no data never completes by itself: cancelled,
 * its future is cancelled, and data arriving later never reaches the
 * caller's buffer. */
START_TEST(test_file_cancel_mid_operation)
{
    int p[2];
    char buf[16];
    loom_future *f;
    int fds = fixture_count_open_fds();

    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    memset(buf, 0x55, sizeof(buf));
    f = check_future(loom_file_read(loop, p[0], buf, sizeof(buf), -1));
    run_for(50);
    ck_assert(!loom_future_done(f));
    ck_assert(loom_future_cancel(f));
    ck_assert_int_eq(write(p[1], "late", 4), 4);
    run_for(100); /* a pool thread's read, under way, ends now, into its own copy */
    fixture_settle(loop);
    ck_assert_int_eq(loom_future_state_get(f), LOOM_FUTURE_CANCELLED);
    for (size_t i = 0; i < sizeof(buf); i++)
        ck_assert_int_eq(buf[i], 0x55);
    if (!strcmp(loom_file_engine(loop), "io_uring")) {
        int unread = 0;
        /* The kernel cancelled the read: the bytes are still in the pipe. */
        ck_assert_int_eq(ioctl(p[0], FIONREAD, &unread), 0);
        ck_assert_int_eq(unread, 4);
    }
    loom_future_unref(f);
    /* The loop goes on serving files. */
    ck_assert_int_eq(await(loom_file_write(loop, p[1], "x", 1, -1)), 1);
    close(p[1]);
    close(p[0]);
    loom_executor_shutdown();
    ck_assert_int_eq(fixture_count_open_fds(), fds);
    ck_assert_int_eq(atomic_load(&errors.count), 0);
}
END_TEST

/* Closing the loop with operations in flight fails each with -ESHUTDOWN and
 * leaves no fd open, also those of opens that complete after it. */
START_TEST(test_file_close_in_flight)
{
    enum { READS = 8, OPENS = 8 };
    int fds = fixture_count_open_fds();
    loom_loop *l = host_loop_new();
    int p[2], fd = open_data(l, O_RDWR | O_CREAT | O_TRUNC), spare = open_data(l, O_RDONLY);
    char bufs[READS][64], never[8];
    struct stat st;
    loom_future *f[READS + OPENS + 3];
    size_t n = 0;

    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    ck_assert_int_eq(pwrite(fd, "0123456789", 10, 0), 10);
    f[n++] = check_future(loom_file_read(l, p[0], never, sizeof(never), -1));
    for (int i = 0; i < READS; i++)
        f[n++] = check_future(loom_file_read(l, fd, bufs[i], sizeof(bufs[i]), i));
    for (int i = 0; i < OPENS; i++)
        f[n++] = check_future(loom_file_open(l, path, O_RDONLY, 0));
    f[n++] = check_future(loom_file_stat(l, fd, &st));
    /* Done by the close if it did not run. (An fd the ring opens, because
     * Valgrind sees neither its open nor its close there.) */
    f[n++] = check_future(loom_file_close(l, spare));
    ck_assert_int_eq(loom_loop_close(l), 0);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(loom_future_state_get(f[i]), LOOM_FUTURE_FAILED);
        ck_assert_int_eq(loom_future_status(f[i]), -ESHUTDOWN);
        loom_future_unref(f[i]);
    }
    ck_assert_ptr_null(loom_file_read(l, fd, never, 1, 0));
    ck_assert_int_eq(errno, ESHUTDOWN);
    close(p[1]); /* a pool thread's read of the pipe ends */
    loom_executor_shutdown();
    close(p[0]);
    close(fd);
    loom_loop_unref(l);
    ck_assert_int_eq(fixture_count_open_fds(), fds);
}
END_TEST

/* The executor forced (LOOM_URING=0 when the loop makes its first file call)
 * gives what the default engine gives. */
START_TEST(test_file_forced_fallback)
{
    int64_t a[32], b[32];
    loom_loop *off;
    const char *engine = loom_file_engine(loop);
    const char *env = getenv("LOOM_URING");
    size_t na, nb;

    ck_assert(engine && (!strcmp(engine, "io_uring") || !strcmp(engine, "executor")));
    if (env && !strcmp(env, "0"))
        ck_assert_str_eq(engine, "executor");
    setenv("LOOM_URING", "0", 1);
    off = host_loop_new();
    ck_assert_str_eq(loom_file_engine(off), "executor");
    if (env)
        setenv("LOOM_URING", env, 1);
    else
        unsetenv("LOOM_URING");
    na = file_script(loop, a);
    nb = file_script(off, b);
    ck_assert_uint_eq(na, nb);
    for (size_t i = 0; i < na; i++)
        ck_assert_msg(a[i] == b[i], "step %zu: %s %lld, executor %lld", i, engine, (long long)a[i],
                      (long long)b[i]);
    fixture_free_loop(off);
}
END_TEST

/* Makes io_uring_setup fail with EPERM in this process, as a sandbox does. */
static bool refuse_io_uring(void)
{
#ifdef __NR_io_uring_setup
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof(code) / sizeof(code[0]), .filter = code};
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
#else
    return false;
#endif
}

/* A seccomp filter refusing io_uring_setup (in a child, so it stays there):
 * the probe falls back to the executor, with the same results. */
START_TEST(test_file_seccomp_fallback)
{
    pid_t pid = fork();
    int status;

    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int64_t out[32];
        loom_loop *l;
        size_t n;
        if (!refuse_io_uring())
            _exit(77);
        if (loom_loop_new(&l, NULL) < 0 || strcmp(loom_file_engine(l), "executor") != 0)
            _exit(1);
        n = file_script(l, out);
        if (n != sizeof(script_expected) / sizeof(script_expected[0]) ||
            memcmp(out, script_expected, sizeof(script_expected)) != 0)
            _exit(2);
        loom_loop_unref(l);
        _exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77)
        return; /* no seccomp here */
    ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

Suite *file_suite(void)
{
    Suite *s = suite_create("file");
    TCase *tc = fixture_tcase(s, "file");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_file_write_read_back);
    tcase_add_test(tc, test_file_vectors);
    tcase_add_test(tc, test_file_errors);
    tcase_add_test(tc, test_file_many_at_once);
    tcase_add_test(tc, test_file_cancel_mid_operation);
    tcase_add_test(tc, test_file_close_in_flight);
    tcase_add_test(tc, test_file_forced_fallback);
    tcase_add_test(tc, test_file_seccomp_fallback);
    return s;
}
