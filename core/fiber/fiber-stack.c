/* Task stacks: mmap'ed, so only the pages a task touches cost memory; carved
 * SLAB_SLOTS at a time from one mapping (a slab), each above a guard page;
 * pooled per thread, so spawning a task rarely maps anything.
 *
 * Guard pages cost mappings: Linux limits a process to vm.max_map_count of
 * them (65,530 by default), and a guarded stack is two (the PROT_NONE page
 * splits the slab). Guarded slabs may use a quarter of that limit; past it,
 * slabs come without guard pages and cost one mapping for SLAB_SLOTS stacks,
 * so 1,000,000 tasks still fit. An overflow into a guard page ends the process
 * with "loom: task stack overflow" from a SIGSEGV handler on an alternate
 * stack, installed only where SIGSEGV still had its default action.
 *
 * A slab whose stacks are all free again is kept (up to SPARE_SLABS_MAX per
 * thread) for the next burst of tasks: mapping, guarding and faulting in
 * fresh stacks costs several microseconds per task. It keeps the pages its
 * tasks touched, usually one or two per stack. */
#include "config.h"
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#if HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#endif
#include "base/list.h"
#include "fiber.h"

#ifndef MAP_NORESERVE
#define MAP_NORESERVE 0
#endif
#ifndef MAP_STACK
#define MAP_STACK 0
#endif

/* 64 stacks to a mapping: 1,000,000 unguarded stacks cost 15,625 mappings,
 * well inside the default vm.max_map_count beside the guarded ones. */
#define SLAB_SLOTS 64
#define SPARE_SLABS_MAX 16 /* up to 1,024 spare stacks, their touched pages kept */
#define STACK_SIZE_MIN ((size_t)16 * 1024) /* the task's own frames, a few calls */
#define STACK_SIZE_MAX ((size_t)1 << 30)   /* larger is a unit mistake */
#define ALTSTACK_SIZE (64 * 1024)
#define DEFAULT_MAX_MAP_COUNT 65530

struct fiber_slab {
    struct list_node node; /* in the thread's partial or spare list */
    char *base;
    size_t stack_size; /* per slot, below which lies one guard page */
    bool guarded;
    unsigned n_free;
    uint8_t free[SLAB_SLOTS]; /* free slots; the last freed is reused first, its pages still warm */
};

/* Per thread: stacks are got and put on the thread that runs their loop. */
struct stack_pool {
    struct list partial; /* slabs with a free slot and a used one */
    struct list spare;   /* unused slabs, kept for reuse */
    unsigned n_spare;
    void *altstack;             /* ours, for the overflow handler */
    bool set_up;
};
/* initial-exec: no __tls_get_addr from the shared library per stack taken. */
static _Thread_local struct stack_pool pool __attribute__((tls_model("initial-exec")));

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static size_t page_size;
static long guard_map_budget; /* mappings that guarded slabs may cost */
static atomic_long guard_maps_used;
static pthread_key_t pool_key; /* its destructor releases a thread's pool */
static bool overflow_handler_installed;

/* --- the overflow handler --------------------------------------------------- */

static bool guard_hit(const struct fiber_stack *stack, uintptr_t addr)
{
    uintptr_t lo = (uintptr_t)stack->lo;
    return stack->guarded && addr >= lo - page_size && addr < lo;
}

_Thread_local const struct fiber_stack *loom__fiber_stack_running;

static void on_segv(int sig, siginfo_t *info, void *ucontext)
{
    const struct fiber_stack *stack = loom__fiber_stack_running;
    if (stack && guard_hit(stack, (uintptr_t)info->si_addr)) {
        static const char msg[] = "loom: task stack overflow (spawn the task with a larger stack)\n";
        ssize_t ignored = write(STDERR_FILENO, msg, sizeof(msg) - 1);
        (void)ignored;
        abort();
    }
    /* Not ours: the default action. A fault repeats once the handler
     * returns, so the core dump shows where it happened; a sent signal is
     * sent again. */
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    if (info->si_code <= 0)
        raise(sig);
}

static void install_overflow_handler(void)
{
    struct sigaction old;
    if (sigaction(SIGSEGV, NULL, &old) < 0 || (old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL)
        return; /* the program's (or a sanitizer's) handler stays */
    struct sigaction sa = {.sa_sigaction = on_segv, .sa_flags = SA_SIGINFO | SA_ONSTACK};
    sigemptyset(&sa.sa_mask);
    overflow_handler_installed = sigaction(SIGSEGV, &sa, NULL) == 0;
}

/* The handler must not run on the stack that overflowed. */
static void install_altstack(void)
{
    stack_t cur;
    if (!overflow_handler_installed || sigaltstack(NULL, &cur) < 0 || !(cur.ss_flags & SS_DISABLE))
        return;
    void *mem = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return;
    stack_t alt = {.ss_sp = mem, .ss_size = ALTSTACK_SIZE};
    if (sigaltstack(&alt, NULL) < 0)
        munmap(mem, ALTSTACK_SIZE);
    else
        pool.altstack = mem;
}

/* --- slabs ---------------------------------------------------------------------- */

static size_t slab_len(size_t stack_size)
{
    return (page_size + stack_size) * SLAB_SLOTS;
}

static void slab_unmap(struct fiber_slab *s)
{
    size_t len = slab_len(s->stack_size);
#if FIBER_ASAN
    /* Poison left by frames that never returned would outlive the mapping. */
    fiber_asan_unpoison(s->base, len);
#endif
    munmap(s->base, len);
    if (s->guarded)
        atomic_fetch_sub(&guard_maps_used, 2 * SLAB_SLOTS);
    free(s);
}

/* Guards every slot of a new slab if the mapping budget allows. */
static bool slab_guard(char *base, size_t stack_size)
{
    const long cost = 2 * SLAB_SLOTS;
    if (atomic_fetch_add(&guard_maps_used, cost) + cost > guard_map_budget) {
        atomic_fetch_sub(&guard_maps_used, cost);
        return false;
    }
    for (unsigned i = 0; i < SLAB_SLOTS; i++) {
        if (mprotect(base + i * (page_size + stack_size), page_size, PROT_NONE) < 0) {
            /* Out of mappings after all: undo, which merges the slab back into one. */
            mprotect(base, slab_len(stack_size), PROT_READ | PROT_WRITE);
            atomic_fetch_sub(&guard_maps_used, cost);
            return false;
        }
    }
    return true;
}

static struct fiber_slab *slab_map(size_t stack_size)
{
    struct fiber_slab *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->base = mmap(NULL, slab_len(stack_size), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (s->base == MAP_FAILED) {
        free(s);
        return NULL;
    }
    s->stack_size = stack_size;
    s->guarded = slab_guard(s->base, stack_size);
    s->n_free = SLAB_SLOTS;
    for (unsigned i = 0; i < SLAB_SLOTS; i++)
        s->free[i] = (uint8_t)(SLAB_SLOTS - 1 - i);
    return s;
}

static struct fiber_slab *slab_of_size(const struct list *list, size_t stack_size)
{
    for (struct list_node *n = list->first; n; n = n->next) {
        struct fiber_slab *s = list_item(n, struct fiber_slab, node);
        if (s->stack_size == stack_size)
            return s;
    }
    return NULL;
}

/* A slab with a free slot of stack_size: a partial one, a spare, or new. */
static struct fiber_slab *slab_find(size_t stack_size)
{
    struct fiber_slab *s = slab_of_size(&pool.partial, stack_size);
    if (s)
        return s;
    if ((s = slab_of_size(&pool.spare, stack_size))) {
        list_unlink(&pool.spare, &s->node);
        pool.n_spare--;
    } else if (!(s = slab_map(stack_size))) {
        return NULL;
    }
    list_push_front(&pool.partial, &s->node);
    return s;
}

/* --- the pool ------------------------------------------------------------------- */

/* At thread exit. Slabs still in use belong to tasks that never finished. */
static void pool_release(void *unused)
{
    struct list_node *n;
    while ((n = list_pop_front(&pool.spare)))
        slab_unmap(list_item(n, struct fiber_slab, node));
    pool.n_spare = 0;
    if (pool.altstack) {
        stack_t off = {.ss_flags = SS_DISABLE};
        sigaltstack(&off, NULL);
        munmap(pool.altstack, ALTSTACK_SIZE);
        pool.altstack = NULL;
    }
}

static void init_process(void)
{
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    long max_maps = DEFAULT_MAX_MAP_COUNT;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "re");
    if (f) {
        if (fscanf(f, "%ld", &max_maps) != 1 || max_maps <= 0)
            max_maps = DEFAULT_MAX_MAP_COUNT;
        fclose(f);
    }
    guard_map_budget = max_maps / 4; /* the rest is the program's */
    pthread_key_create(&pool_key, pool_release);
    install_overflow_handler();
}

static void init_thread(void)
{
    pthread_once(&init_once, init_process);
    pthread_setspecific(pool_key, &pool);
    install_altstack();
    pool.set_up = true;
}

int loom__fiber_stack_get(struct fiber_stack *stack, size_t size)
{
    if (!pool.set_up)
        init_thread();
    if (size > STACK_SIZE_MAX)
        return -EINVAL;
    if (size == 0)
        size = FIBER_STACK_DEFAULT;
    else if (size < STACK_SIZE_MIN)
        size = STACK_SIZE_MIN;
    size = (size + page_size - 1) & ~(page_size - 1);
    struct fiber_slab *s = slab_find(size);
    if (!s)
        return -ENOMEM;
    unsigned slot = s->free[--s->n_free];
    if (s->n_free == 0)
        list_unlink(&pool.partial, &s->node);
    *stack = (struct fiber_stack){
        .lo = s->base + slot * (page_size + size) + page_size,
        .size = size,
        .guarded = s->guarded,
        .slab = s,
        .slot = slot,
    };
#if HAVE_VALGRIND_VALGRIND_H
    stack->valgrind_id = VALGRIND_STACK_REGISTER(stack->lo, (char *)stack->lo + size);
#endif
    return 0;
}

void loom__fiber_stack_put(struct fiber_stack *stack)
{
    struct fiber_slab *s = stack->slab;
#if HAVE_VALGRIND_VALGRIND_H
    VALGRIND_STACK_DEREGISTER(stack->valgrind_id);
#endif
    if (s->n_free == 0)
        list_push_front(&pool.partial, &s->node);
    s->free[s->n_free++] = (uint8_t)stack->slot;
    if (s->n_free < SLAB_SLOTS)
        return;
    list_unlink(&pool.partial, &s->node);
    if (pool.n_spare < SPARE_SLABS_MAX) {
        list_push_front(&pool.spare, &s->node);
        pool.n_spare++;
    } else {
        slab_unmap(s);
    }
}
