/* Unit tests for the fiber switch (fiber.h, fiber-<arch>.S or ucontext) and
 * the stack pool (fiber-stack.c). */
#include "config.h"
#include <check.h>
#include <fenv.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <loom/loom.h>
#include <loom/task.h>
#include "fiber/fiber.h"
#if HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

/* --- switching ------------------------------------------------------------------ */

struct pingpong {
    struct fiber main, fiber;
    struct fiber_stack stack;
    int log[8];
    int n;
};

static void pingpong_entry(void *arg)
{
    struct pingpong *p = arg;
    fiber_enter(&p->fiber);
    for (int i = 0; i < 3; i++) {
        p->log[p->n++] = 100 + i;
        fiber_switch(&p->fiber, p->fiber.resumer);
    }
    p->log[p->n++] = 200;
    fiber_exit(&p->fiber);
}

static void fiber_start(struct fiber *f, struct fiber_stack *stack, size_t size, fiber_entry entry, void *arg)
{
    ck_assert_int_eq(loom__fiber_stack_get(stack, size), 0);
    fiber_init(f, stack->lo, stack->size, entry, arg);
}

static void fiber_stop(struct fiber *f, struct fiber_stack *stack)
{
    fiber_fini(f);
    loom__fiber_stack_put(stack);
}

START_TEST(test_switch_alternates)
{
    struct pingpong p = {.n = 0};
    fiber_init_current(&p.main);
    fiber_start(&p.fiber, &p.stack, 0, pingpong_entry, &p);
    for (int i = 0; i < 4; i++) {
        p.log[p.n++] = i;
        fiber_switch(&p.main, &p.fiber);
    }
    const int want[] = {0, 100, 1, 101, 2, 102, 3, 200};
    ck_assert_int_eq(p.n, 8);
    ck_assert_mem_eq(p.log, want, sizeof(want));
    fiber_stop(&p.fiber, &p.stack);
}
END_TEST

/* Values live across a switch stay in callee-saved registers at -O2; the
 * fiber clobbers every register it can meanwhile. */
struct clobber {
    struct fiber main, fiber;
    struct fiber_stack stack;
    volatile uint64_t sink;
};

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    return x ^ (x >> 29);
}

static void clobber_entry(void *arg)
{
    struct clobber *c = arg;
    fiber_enter(&c->fiber);
    for (;;) {
        uint64_t a = mix(1), b = mix(2), d = mix(3), e = mix(4), f = mix(5), g = mix(6), h = mix(7);
        double x = 1.5 * (double)(a & 0xff), y = 2.5 * (double)(b & 0xff);
        c->sink = a + b + d + e + f + g + h + (uint64_t)(x * y);
        fiber_switch(&c->fiber, c->fiber.resumer);
    }
}

START_TEST(test_switch_keeps_callee_saved)
{
    struct clobber c = {.sink = 0};
    fiber_init_current(&c.main);
    fiber_start(&c.fiber, &c.stack, 0, clobber_entry, &c);
    uint64_t v[7];
    double d[4];
    for (int i = 0; i < 7; i++)
        v[i] = mix((uint64_t)i + 100);
    for (int i = 0; i < 4; i++)
        d[i] = (double)i * 3.25;
    uint64_t v0 = v[0], v1 = v[1], v2 = v[2], v3 = v[3], v4 = v[4], v5 = v[5], v6 = v[6];
    double d0 = d[0], d1 = d[1], d2 = d[2], d3 = d[3];
    for (int round = 0; round < 100; round++) {
        fiber_switch(&c.main, &c.fiber);
        ck_assert_uint_eq(v0, v[0]);
        ck_assert_uint_eq(v1, v[1]);
        ck_assert_uint_eq(v2, v[2]);
        ck_assert_uint_eq(v3, v[3]);
        ck_assert_uint_eq(v4, v[4]);
        ck_assert_uint_eq(v5, v[5]);
        ck_assert_uint_eq(v6, v[6]);
        ck_assert(d0 == d[0] && d1 == d[1] && d2 == d[2] && d3 == d[3]);
        v0 += 0, d3 += 0.0; /* keep them live in registers across the loop */
    }
    /* The fiber never exits: it is dropped while suspended, as a task of a
     * closed loop would be. */
    fiber_stop(&c.fiber, &c.stack);
}
END_TEST

/* Floating-point control state is per fiber; printf of floating-point values
 * needs a correctly aligned stack. */
struct fpenv {
    struct fiber main, fiber;
    struct fiber_stack stack;
    int fiber_round_after;
    char text[64];
};

static void fpenv_entry(void *arg)
{
    struct fpenv *e = arg;
    fiber_enter(&e->fiber);
    ck_assert_int_eq(fegetround(), FE_TONEAREST); /* the creator's */
    fesetround(FE_UPWARD);
    fiber_switch(&e->fiber, e->fiber.resumer);
    e->fiber_round_after = fegetround();
    snprintf(e->text, sizeof(e->text), "%.3f %.3Lf", 2.0 / 3.0, (long double)1 / 3);
    fesetround(FE_TONEAREST);
    fiber_exit(&e->fiber);
}

START_TEST(test_switch_keeps_fp_control)
{
    struct fpenv e = {.fiber_round_after = -1};
    fiber_init_current(&e.main);
    fiber_start(&e.fiber, &e.stack, 0, fpenv_entry, &e);
    fiber_switch(&e.main, &e.fiber);
    ck_assert_int_eq(fegetround(), FE_TONEAREST);
    fesetround(FE_DOWNWARD);
    fiber_switch(&e.main, &e.fiber);
    ck_assert_int_eq(fegetround(), FE_DOWNWARD);
    fesetround(FE_TONEAREST);
    ck_assert_int_eq(e.fiber_round_after, FE_UPWARD);
    ck_assert_str_eq(e.text, "0.667 0.334"); /* 1/3 rounded upward */
    fiber_stop(&e.fiber, &e.stack);
}
END_TEST

/* A fiber resumes another one, which resumes a third (as a task running a
 * nested loop resumes other tasks): each returns to whoever resumed it. */
struct ring {
    struct fiber main, f[3];
    struct fiber_stack s[3];
    char log[8];
    int n;
};

static struct ring ring;

static void ring_entry(void *arg)
{
    int i = (int)(intptr_t)arg;
    fiber_enter(&ring.f[i]);
    ring.log[ring.n++] = (char)('a' + i);
    if (i < 2) {
        struct fiber here;
        fiber_init_current(&here);
        fiber_switch(&here, &ring.f[i + 1]);
    }
    ring.log[ring.n++] = (char)('A' + i);
    fiber_exit(&ring.f[i]);
}

START_TEST(test_switch_nested)
{
    memset(&ring, 0, sizeof(ring));
    fiber_init_current(&ring.main);
    for (int i = 0; i < 3; i++)
        fiber_start(&ring.f[i], &ring.s[i], 0, ring_entry, (void *)(intptr_t)i);
    fiber_switch(&ring.main, &ring.f[0]);
    ck_assert_str_eq(ring.log, "abcCBA");
    for (int i = 0; i < 3; i++)
        fiber_stop(&ring.f[i], &ring.s[i]);
}
END_TEST

/* --- stacks ----------------------------------------------------------------------- */

START_TEST(test_stack_sizes_and_reuse)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    struct fiber_stack a, b, c;
    ck_assert_int_eq(loom__fiber_stack_get(&a, 0), 0);
    ck_assert_uint_eq(a.size, FIBER_STACK_DEFAULT);
    ck_assert_int_eq(loom__fiber_stack_get(&b, 100), 0);
    ck_assert_uint_eq(b.size, 16384); /* the minimum */
    loom__fiber_stack_put(&b);
    ck_assert_int_eq(loom__fiber_stack_get(&b, 20000), 0);
    ck_assert_uint_eq(b.size, (20000 + page - 1) / page * page);
    memset(b.lo, 0xab, b.size); /* all of it is usable */
    void *lo = b.lo;
    loom__fiber_stack_put(&b);
    ck_assert_int_eq(loom__fiber_stack_get(&c, 20000), 0);
    ck_assert_ptr_eq(c.lo, lo); /* the warm one again */
    ck_assert_int_eq(loom__fiber_stack_get(&b, (size_t)2 << 30), -EINVAL);
    loom__fiber_stack_put(&c);
    loom__fiber_stack_put(&a);
}
END_TEST

static int count_mappings(void)
{
    FILE *f = fopen("/proc/self/maps", "re");
    ck_assert_ptr_nonnull(f);
    int n = 0, ch;
    while ((ch = getc(f)) != EOF)
        n += ch == '\n';
    fclose(f);
    return n;
}

static long max_map_count(void)
{
    long max = 65530;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "re");
    if (f) {
        if (fscanf(f, "%ld", &max) != 1)
            max = 65530;
        fclose(f);
    }
    return max;
}

/* Guard pages stop before the mapping limit: many stacks still fit. */
START_TEST(test_stack_guards_within_map_limit)
{
    int N = 100000;
#if HAVE_VALGRIND_VALGRIND_H
    /* Valgrind keeps registered stacks in a list: quadratic. 12,000 stacks
     * still pass the guard budget of the default max_map_count. */
    if (RUNNING_ON_VALGRIND)
        N = 12000;
#endif
    struct fiber_stack *stacks = calloc((size_t)N, sizeof(*stacks));
    ck_assert_ptr_nonnull(stacks);
    int guarded = 0;
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(loom__fiber_stack_get(&stacks[i], 16384), 0);
        guarded += stacks[i].guarded;
        *(volatile char *)stacks[i].lo = 1;
    }
    int during = count_mappings();
    ck_assert(stacks[0].guarded);
    ck_assert(!stacks[N - 1].guarded);
    ck_assert_int_gt(guarded, 1000);
    ck_assert_int_lt(during, max_map_count() / 2);
    for (int i = 0; i < N; i++)
        loom__fiber_stack_put(&stacks[i]);
    /* Every slab is unmapped, but for the spare ones kept for reuse (at
     * most 64 slabs of 16 stacks). */
    int still_mapped = 0;
    unsigned char in_core;
    for (int i = 0; i < N; i++)
        still_mapped += mincore(stacks[i].lo, 1, &in_core) == 0;
    ck_assert_int_le(still_mapped, 64 * 16);
    free(stacks);
}
END_TEST

/* --- overflow ----------------------------------------------------------------------- */

static int recurse(int depth)
{
    volatile char frame[512];
    frame[0] = (char)depth;
    return depth > 1000000 ? frame[0] : recurse(depth + 1) + frame[0];
}

static int overflow_task(void *arg)
{
    return recurse(0);
}

/* In a child process: a task overflows its guarded stack. */
static void overflow_child(void)
{
    loom_loop *loop;
    if (loom_loop_new(&loop, NULL) < 0)
        _exit(3);
    loom_future *task = loom_task_spawn_with_stack(loop, overflow_task, NULL, 64 * 1024);
    if (!task)
        _exit(4);
    loom_loop_run_until(loop, task);
    _exit(5); /* not reached */
}

START_TEST(test_overflow_is_reported)
{
#if FIBER_ASAN || FIBER_TSAN
    return; /* the sanitizer's own SIGSEGV handler reports it instead */
#endif
    int err[2];
    ck_assert_int_eq(pipe(err), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(err[1], STDERR_FILENO);
        close(err[0]);
        overflow_child();
    }
    close(err[1]);
    char text[256] = {0};
    size_t len = 0;
    ssize_t r;
    while (len < sizeof(text) - 1 && (r = read(err[0], text + len, sizeof(text) - 1 - len)) > 0)
        len += (size_t)r;
    close(err[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "child status %#x, stderr: %s",
                  status, text);
    ck_assert_msg(strstr(text, "loom: task stack overflow") != NULL, "stderr: %s", text);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fiber");
    TCase *tc = tcase_create("fiber");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_switch_alternates);
    tcase_add_test(tc, test_switch_keeps_callee_saved);
    tcase_add_test(tc, test_switch_keeps_fp_control);
    tcase_add_test(tc, test_switch_nested);
    tcase_add_test(tc, test_stack_sizes_and_reuse);
    tcase_add_test(tc, test_stack_guards_within_map_limit);
    tcase_add_test(tc, test_overflow_is_reported);
    suite_add_tcase(s, tc);
    SRunner *runner = srunner_create(s);
    srunner_run_all(runner, CK_ENV);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
