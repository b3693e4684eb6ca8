/* loom conformance suite — subprocesses: `cat` echo through pipes, exit
 * codes and signals, kill, kill on cancel and on loop close, 100 children at
 * once, environment and working directory, /dev/null and caller fds, spawn
 * errors, no fd left open or leaked into a child; the reaping cases again on the SIGCHLD fallback
 * ($LOOM_NO_PIDFD). */
#include "config.h"
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <loom/dgram.h>
#include <loom/process.h>
#include <loom/signal.h>
#include "fixture.h"
#include "suites.h"
#if HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

/* The rest of the test runs on the SIGCHLD fallback (each test is its own
 * forked child, so this does not leak into others). */
static void use_fallback(void)
{
    ck_assert_int_eq(setenv("LOOM_NO_PIDFD", "1", 1), 0);
}

static loom_process *spawn(loom_loop *loop, const char *const *argv, const loom_process_opts *opts)
{
    loom_process *p = NULL;

    ck_assert_int_eq(loom_process_spawn(loop, argv, opts, &p), 0);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* Runs until the child is reaped; returns its code. */
static int wait_exit(loom_loop *loop, loom_process *p)
{
    loom_future *exit = loom_process_exit_future(p);
    int code;

    ck_assert_int_eq(fixture_run_until(loop, exit, 5000, "child reaped"), 0);
    code = (int)loom_future_value_int(exit);
    loom_future_unref(exit);
    return code;
}

/* Everything the stream gives until EOF, NUL-terminated (caller frees). */
static char *read_all(loom_loop *loop, loom_stream *s, size_t *lenp)
{
    size_t len = 0;
    char *all = malloc(1);

    for (bool eof = false; !eof;) {
        loom_future *f = loom_stream_read(s, 65536);
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(fixture_run_until(loop, f, 5000, "child output"), 0);
        const loom_bytes *b = loom_future_value(f);
        all = realloc(all, len + b->len + 1);
        memcpy(all + len, b->data, b->len);
        len += b->len;
        eof = b->eof;
        loom_future_unref(f);
    }
    all[len] = '\0';
    if (lenp)
        *lenp = len;
    return all;
}

static void ignore_signal(loom_loop *loop, int signo, unsigned count, void *data)
{
}

static void cat_echo(void)
{
    int fds_before = fixture_count_open_fds();
    loom_loop *loop = host_loop_new();
    const char *argv[] = {"cat", NULL};
    loom_process_opts opts = {.stdio = {{LOOM_STDIO_PIPE}, {LOOM_STDIO_PIPE}}};
    loom_process *p = spawn(loop, argv, &opts);
    loom_stream *in = loom_process_take_stream(p, 0), *out = loom_process_take_stream(p, 1);
    size_t len = 300 * 1024, got;
    char *sent = malloc(len);

    ck_assert_ptr_nonnull(in);
    ck_assert_ptr_nonnull(out);
    ck_assert_ptr_null(loom_process_take_stream(p, 1)); /* taken */
    ck_assert_ptr_null(loom_process_take_stream(p, 2)); /* inherited: no pipe */
    for (size_t i = 0; i < len; i++)
        sent[i] = (char)('a' + i % 26);
    /* More than both pipes hold: cat blocks on its stdout until we read. */
    ck_assert_int_eq(loom_stream_write(in, sent, len, NULL), 0);
    loom_future_unref(loom_stream_close(in)); /* EOF for cat once flushed */
    char *echoed = read_all(loop, out, &got);
    ck_assert_uint_eq(got, len);
    ck_assert(memcmp(echoed, sent, len) == 0);
    ck_assert_int_eq(wait_exit(loop, p), 0);
    loom_stream_abort(out);
    loom_process_free(p);
    free(sent);
    free(echoed);
    fixture_free_loop(loop);
    ck_assert_int_eq(fixture_count_open_fds(), fds_before);
}

START_TEST(test_process_cat_echo)
{
    cat_echo();
}
END_TEST

START_TEST(test_process_cat_echo_fallback)
{
    use_fallback();
    cat_echo();
}
END_TEST

static void exit_codes(void)
{
    loom_loop *loop = host_loop_new();
    const char *exit3[] = {"sh", "-c", "exit 3", NULL};
    const char *term[] = {"sh", "-c", "kill -TERM $$", NULL};
    const char *sleeper[] = {"sleep", "30", NULL};
    loom_process *p = spawn(loop, exit3, NULL);
    int code = 0;

    ck_assert_int_eq(wait_exit(loop, p), 3);
    ck_assert_int_eq(loom_process_return_code(p, &code), 0);
    ck_assert_int_eq(code, 3);
    ck_assert_int_eq(loom_process_kill(p, SIGTERM), -ESRCH); /* reaped: never signalled */
    loom_process_free(p);

    p = spawn(loop, term, NULL);
    ck_assert_int_eq(wait_exit(loop, p), -SIGTERM);
    loom_process_free(p);

    p = spawn(loop, sleeper, NULL);
    ck_assert_int_gt(loom_process_pid(p), 0);
    ck_assert_int_eq(loom_process_return_code(p, &code), -EAGAIN);
    ck_assert_int_eq(loom_process_kill(p, SIGKILL), 0);
    ck_assert_int_eq(wait_exit(loop, p), -SIGKILL);
    loom_process_free(p);
    fixture_free_loop(loop);
}

START_TEST(test_process_exit_codes_and_signals)
{
    exit_codes();
}
END_TEST

START_TEST(test_process_exit_codes_fallback)
{
    use_fallback();
    exit_codes();
}
END_TEST

#define CHILDREN 100

static void hundred_children(void)
{
    int fds_before = fixture_count_open_fds();
    loom_loop *loop = host_loop_new();
    loom_process *p[CHILDREN];
    loom_future *exits[CHILDREN];

    for (int i = 0; i < CHILDREN; i++) {
        char script[32];
        snprintf(script, sizeof(script), "exit %d", i);
        const char *argv[] = {"sh", "-c", script, NULL};
        p[i] = spawn(loop, argv, NULL);
        exits[i] = loom_process_exit_future(p[i]);
    }
    loom_future *all = loom_future_all(loop, exits, CHILDREN);
    ck_assert_int_eq(fixture_run_until(loop, all, 10000, "100 children reaped"), 0);
    for (int i = 0; i < CHILDREN; i++) {
        ck_assert_int_eq(loom_future_value_int(exits[i]), i);
        loom_future_unref(exits[i]);
        loom_process_free(p[i]);
    }
    loom_future_unref(all);
    fixture_free_loop(loop);
    ck_assert_int_eq(fixture_count_open_fds(), fds_before);
}

START_TEST(test_process_hundred_children)
{
    hundred_children();
}
END_TEST

START_TEST(test_process_hundred_children_fallback)
{
    use_fallback();
    hundred_children();
}
END_TEST

/* Without pidfds, a SIGCHLD handler reset under loom (GLib does it when its
 * last child watch goes, where it has no pidfds either) must not leave the
 * child unreaped: loom also checks its children periodically. */
START_TEST(test_process_fallback_survives_sigchld_reset)
{
    loom_loop *loop = host_loop_new();
    const char *argv[] = {"sh", "-c", "sleep 0.3; exit 7", NULL};
    struct sigaction dfl = {.sa_handler = SIG_DFL};

    use_fallback();
    loom_process *p = spawn(loop, argv, NULL);
    sigemptyset(&dfl.sa_mask);
    ck_assert_int_eq(sigaction(SIGCHLD, &dfl, NULL), 0);
    ck_assert_int_eq(wait_exit(loop, p), 7);
    loom_process_free(p);
    fixture_free_loop(loop);
}
END_TEST

static void count_sigchld(loom_loop *loop, int signo, unsigned count, void *data)
{
    *(unsigned *)data += count;
}

/* Without pidfds, the program's own SIGCHLD watch and loom's reaping live
 * side by side on one loop, in either order: neither refuses the other, and
 * the program's unwatch removes its watch only. */
START_TEST(test_process_fallback_beside_program_sigchld_watch)
{
    loom_loop *loop = host_loop_new();
    const char *argv[] = {"sh", "-c", "exit 3", NULL};
    unsigned seen = 0;

    use_fallback();
    ck_assert_int_eq(loom_signal_watch(loop, SIGCHLD, count_sigchld, &seen, NULL), 0);
    loom_process *p = spawn(loop, argv, NULL);
    ck_assert_int_eq(wait_exit(loop, p), 3);
    loom_process_free(p);
    for (int i = 0; seen == 0 && i < 300; i++) {
        ck_assert_int_eq(loom_call_later(loop, LOOM_MSEC(10), fixture_stop, NULL, NULL), 0);
        fixture_run(loop, 5000, "the program's SIGCHLD callback");
    }
    ck_assert_uint_gt(seen, 0);
    ck_assert_int_eq(loom_signal_unwatch(loop, SIGCHLD), 0);

    const char *slow[] = {"sh", "-c", "sleep 0.2; exit 4", NULL};
    p = spawn(loop, slow, NULL);
    ck_assert_int_eq(loom_signal_watch(loop, SIGCHLD, count_sigchld, &seen, NULL), 0);
    ck_assert_int_eq(loom_signal_unwatch(loop, SIGCHLD), 0);
    ck_assert_int_eq(loom_signal_unwatch(loop, SIGCHLD), -ENOENT); /* loom's is not the program's */
    ck_assert_int_eq(wait_exit(loop, p), 4);
    loom_process_free(p);
    fixture_free_loop(loop);
}
END_TEST

START_TEST(test_process_env_and_cwd)
{
    loom_loop *loop = host_loop_new();
    const char *argv[] = {"sh", "-c", "printf '%s:' \"$LOOM_TEST_VAR\"; pwd", NULL};
    const char *env[] = {"LOOM_TEST_VAR=hello", "PATH=/usr/bin:/bin", NULL};
    loom_process_opts opts = {.env = env, .cwd = "/", .stdio = {[1] = {LOOM_STDIO_PIPE}}};
    loom_process *p = spawn(loop, argv, &opts);
    loom_stream *out = loom_process_take_stream(p, 1);
    char *text = read_all(loop, out, NULL);

    ck_assert_str_eq(text, "hello:/\n");
    ck_assert_int_eq(wait_exit(loop, p), 0);
    loom_stream_abort(out);
    loom_process_free(p);
    free(text);
    fixture_free_loop(loop);
}
END_TEST

/* stdin on /dev/null (cat sees EOF at once), stdout on the caller's pipe,
 * stderr a pipe left to loom_process_free. */
START_TEST(test_process_devnull_and_caller_fd)
{
    int fds_before = fixture_count_open_fds();
    loom_loop *loop = host_loop_new();
    const char *argv[] = {"sh", "-c", "cat; echo done", NULL};
    int fds[2];
    char buf[16] = {0};

    ck_assert_int_eq(pipe(fds), 0);
    loom_process_opts opts = {.stdio = {{LOOM_STDIO_DEVNULL}, {LOOM_STDIO_FD, fds[1]}, {LOOM_STDIO_PIPE}}};
    loom_process *p = spawn(loop, argv, &opts);
    ck_assert_int_eq(wait_exit(loop, p), 0);
    close(fds[1]);
    ck_assert_int_eq(read(fds[0], buf, sizeof(buf) - 1), 5);
    ck_assert_str_eq(buf, "done\n");
    close(fds[0]);
    loom_process_free(p);
    fixture_free_loop(loop);
    ck_assert_int_eq(fixture_count_open_fds(), fds_before);
}
END_TEST

START_TEST(test_process_kill_on_cancel)
{
    loom_loop *loop = host_loop_new();
    const char *argv[] = {"sleep", "30", NULL};
    loom_process_opts opts = {.kill_on_cancel = true};
    loom_process *p = spawn(loop, argv, &opts);
    loom_future *exit = loom_process_exit_future(p);
    int code = 0, r = -EAGAIN;

    ck_assert(loom_future_cancel(exit));
    int64_t limit = fixture_now() + INT64_C(5000000000);
    while ((r = loom_process_return_code(p, &code)) == -EAGAIN && fixture_now() < limit)
        ck_assert_int_eq(loom_loop_run_once(loop, true), 0);
    ck_assert_int_eq(r, 0);
    ck_assert_int_eq(code, -SIGKILL);
    loom_future_unref(exit);
    loom_process_free(p);
    fixture_free_loop(loop);
}
END_TEST

/* A live child at loop close: its exit future fails with -ESHUTDOWN (and
 * kill_on_cancel leaves no callback behind to drop), with kill_on_close it
 * is killed and reaped there; nothing stays open. */
START_TEST(test_process_loop_close_with_child)
{
    int fds_before = fixture_count_open_fds();
    loom_loop *loop = host_loop_new();
    fixture_errors errors;
    fixture_capture_errors(loop, &errors); /* the pipe's watch goes quietly */
    const char *argv[] = {"sleep", "30", NULL};
    loom_process_opts opts = {.kill_on_close = true, .kill_on_cancel = true,
                              .stdio = {[1] = {LOOM_STDIO_PIPE}}};
    loom_process *p = spawn(loop, argv, &opts);
    loom_future *exit = loom_process_exit_future(p);
    int code = 0;

    ck_assert_int_eq(loom_loop_close(loop), 0);
    int reports = atomic_load(&errors.count);
    ck_assert_int_eq(reports, 0);
    ck_assert_int_eq(loom_future_status(exit), -ESHUTDOWN);
    ck_assert_int_eq(loom_process_return_code(p, &code), 0);
    ck_assert_int_eq(code, -SIGKILL);
    loom_future_unref(exit);
    loom_process_free(p);
    loom_loop_unref(loop);
    ck_assert_int_eq(fixture_count_open_fds(), fds_before);
}
END_TEST

/* The fds a child shell has, one per line. */
static char *child_fds(loom_loop *loop)
{
    const char *argv[] = {"sh", "-c", "ls /proc/$$/fd", NULL};
    loom_process_opts opts = {.stdio = {[1] = {LOOM_STDIO_PIPE}}};
    loom_process *p = spawn(loop, argv, &opts);
    loom_stream *out = loom_process_take_stream(p, 1);
    char *list = read_all(loop, out, NULL);

    ck_assert_int_eq(wait_exit(loop, p), 0);
    loom_stream_abort(out);
    loom_process_free(p);
    return list;
}

/* What loom holds open (another child's pidfd and pipes, a datagram socket,
 * the signal eventfd) is close-on-exec: a child sees what it saw before. */
START_TEST(test_process_no_fd_leaks_into_child)
{
    loom_loop *loop = host_loop_new();
    char *before = child_fds(loop);
    const char *argv[] = {"sleep", "30", NULL};
    loom_process_opts pipes = {.stdio = {{LOOM_STDIO_PIPE}, {LOOM_STDIO_PIPE}, {LOOM_STDIO_PIPE}}};
    loom_process *sleeper = spawn(loop, argv, &pipes);
    loom_dgram *dgram;

    ck_assert_int_eq(loom_dgram_new(loop, AF_INET, &dgram), 0);
    ck_assert_int_eq(loom_signal_watch(loop, SIGUSR1, ignore_signal, NULL, NULL), 0);
    char *after = child_fds(loop);
#if HAVE_VALGRIND_VALGRIND_H
    /* Valgrind's fork emulation of posix_spawn gives the child its log file
     * on the lowest free fd, which differs between the two children. */
    if (!RUNNING_ON_VALGRIND)
#endif
        ck_assert_str_eq(after, before);
    ck_assert_int_eq(loom_process_kill(sleeper, SIGKILL), 0);
    ck_assert_int_eq(wait_exit(loop, sleeper), -SIGKILL);
    loom_process_free(sleeper);
    loom_dgram_close(dgram);
    free(before);
    free(after);
    fixture_free_loop(loop);
}
END_TEST

START_TEST(test_process_spawn_errors)
{
    int fds_before = fixture_count_open_fds();
    loom_loop *loop = host_loop_new();
    const char *missing[] = {"/nonexistent/loom-test-program", NULL};
    const char *empty[] = {NULL};
    loom_process_opts pipes = {.stdio = {{LOOM_STDIO_PIPE}, {LOOM_STDIO_PIPE}, {LOOM_STDIO_PIPE}}};
    loom_process_opts bad = {.stdio = {{(loom_stdio_mode)42}}};
    loom_process *p = NULL;

    int r = loom_process_spawn(loop, missing, &pipes, &p);
#if HAVE_VALGRIND_VALGRIND_H
    /* Valgrind runs posix_spawn's vfork as a fork: the exec error comes as
     * an exit status (127, or memcheck's own in that child). */
    if (RUNNING_ON_VALGRIND && r == 0) {
        ck_assert_int_ne(wait_exit(loop, p), 0);
        loom_process_free(p);
        p = NULL;
        r = -ENOENT;
    }
#endif
    ck_assert_int_eq(r, -ENOENT);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(loom_process_spawn(loop, empty, NULL, &p), -EINVAL);
    ck_assert_int_eq(loom_process_spawn(loop, NULL, NULL, &p), -EINVAL);
    ck_assert_int_eq(loom_process_spawn(loop, missing, &bad, &p), -EINVAL);
    fixture_free_loop(loop);
    ck_assert_int_eq(fixture_count_open_fds(), fds_before);
}
END_TEST

Suite *process_suite(void)
{
    Suite *s = suite_create("process");
    TCase *tc = fixture_tcase(s, "process");

    tcase_add_test(tc, test_process_cat_echo);
    tcase_add_test(tc, test_process_cat_echo_fallback);
    tcase_add_test(tc, test_process_exit_codes_and_signals);
    tcase_add_test(tc, test_process_exit_codes_fallback);
    tcase_add_test(tc, test_process_hundred_children);
    tcase_add_test(tc, test_process_hundred_children_fallback);
    tcase_add_test(tc, test_process_fallback_survives_sigchld_reset);
    tcase_add_test(tc, test_process_fallback_beside_program_sigchld_watch);
    tcase_add_test(tc, test_process_env_and_cwd);
    tcase_add_test(tc, test_process_devnull_and_caller_fd);
    tcase_add_test(tc, test_process_kill_on_cancel);
    tcase_add_test(tc, test_process_loop_close_with_child);
    tcase_add_test(tc, test_process_no_fd_leaks_into_child);
    tcase_add_test(tc, test_process_spawn_errors);
    return s;
}
