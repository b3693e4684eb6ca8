/* Fibers: execution contexts with their own stack, switched by hand.
 *
 * The switch itself is per architecture (fiber-x86_64.S, fiber-aarch64.S) or
 * ucontext (fiber-ucontext.c), chosen by configure (LOOM_FIBER_UCONTEXT). This
 * header wraps it with the annotations that AddressSanitizer,
 * ThreadSanitizer and Valgrind need to follow a stack switch; without them
 * they report false errors. Stacks come from fiber-stack.c. */
#ifndef LOOM_FIBER_H
#define LOOM_FIBER_H

#include <stdbool.h>
#include <stddef.h>

#if LOOM_FIBER_UCONTEXT
#include <ucontext.h>
#endif

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FIBER_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define FIBER_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(FIBER_ASAN)
#define FIBER_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__) && !defined(FIBER_TSAN)
#define FIBER_TSAN 1
#endif
#if FIBER_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if FIBER_TSAN
#include <sanitizer/tsan_interface.h>
#endif

/* --- the architecture's switch ------------------------------------------- */

typedef void (*fiber_entry)(void *arg);

#if LOOM_FIBER_UCONTEXT
typedef struct fiber_regs {
    ucontext_t uc;
    fiber_entry entry; /* for the first switch */
    void *arg;
} fiber_regs;
#else
typedef struct fiber_regs {
    void *sp; /* the callee-saved registers are pushed on the stack itself */
} fiber_regs;
#endif

#if LOOM_FIBER_UCONTEXT
/* Prepares regs so that the first switch to it runs entry(arg) on the stack
 * [lo, lo + size). entry must never return. */
void fiber_regs_make(fiber_regs *regs, void *lo, size_t size, fiber_entry entry, void *arg);

/* Saves the running context into from and continues in to. */
void fiber_regs_swap(fiber_regs *from, fiber_regs *to);
#else
/* In assembly: the switch proper, and the builder of a new stack's first
 * frame (returns the stack pointer to switch to). */
void loom__fiber_asm_swap(void **save_sp, void *load_sp);
void *loom__fiber_asm_make(void *stack_top, fiber_entry entry, void *arg);

static inline void fiber_regs_make(fiber_regs *regs, void *lo, size_t size, fiber_entry entry, void *arg)
{
    regs->sp = loom__fiber_asm_make((char *)lo + size, entry, arg);
}

static inline void fiber_regs_swap(fiber_regs *from, fiber_regs *to)
{
    loom__fiber_asm_swap(&from->sp, to->sp);
}
#endif

/* --- fibers ---------------------------------------------------------------- */

struct fiber {
    fiber_regs regs;
    /* The fiber that last switched to this one: where it returns to. */
    struct fiber *resumer;
#if FIBER_ASAN
    void *fake_stack;      /* ASan's stack-use-after-return frames */
    const void *stack_lo;  /* unknown (NULL) for a thread's own stack until */
    size_t stack_size;     /* a fiber it switched to reported it */
#endif
#if FIBER_TSAN
    void *tsan;
    bool tsan_owned; /* created here (not the thread's own fiber) */
#endif
};

/* Wraps the context running now (a thread's stack, or a fiber's) so it can
 * switch to a fiber and be switched back to. */
static inline void fiber_init_current(struct fiber *f)
{
    f->resumer = NULL;
#if FIBER_ASAN
    f->fake_stack = NULL;
    f->stack_lo = NULL;
    f->stack_size = 0;
#endif
#if FIBER_TSAN
    f->tsan = __tsan_get_current_fiber();
    f->tsan_owned = false;
#endif
}

#if FIBER_ASAN
/* Clears the poison that frames which never returned left on a stack.
 * Only from the lowest poisoned byte up: clearing the whole range would make
 * ASan's shadow of every stack resident. */
static inline void fiber_asan_unpoison(void *lo, size_t size)
{
    char *poisoned = __asan_region_is_poisoned(lo, size);
    if (poisoned)
        __asan_unpoison_memory_region(poisoned, (size_t)((char *)lo + size - poisoned));
}
#endif

/* A new fiber that runs entry(arg) on [lo, lo + size) when first switched
 * to. entry starts with fiber_enter and ends with fiber_exit. */
static inline void fiber_init(struct fiber *f, void *lo, size_t size, fiber_entry entry, void *arg)
{
    f->resumer = NULL;
#if FIBER_ASAN
    fiber_asan_unpoison(lo, size); /* a pooled stack */
    f->fake_stack = NULL;
    f->stack_lo = lo;
    f->stack_size = size;
#endif
#if FIBER_TSAN
    f->tsan = __tsan_create_fiber(0);
    f->tsan_owned = true;
#endif
    fiber_regs_make(&f->regs, lo, size, entry, arg);
}

/* Releases what fiber_init took. Not on the running fiber. */
static inline void fiber_fini(struct fiber *f)
{
#if FIBER_TSAN
    if (f->tsan_owned)
        __tsan_destroy_fiber(f->tsan);
#endif
    (void)f;
}

/* The sanitizers' half of a switch from `from` to `to`; fake_save is NULL
 * when `from` will never run again, so ASan drops its fake stack. */
static inline void fiber_announce(struct fiber *to, void **fake_save)
{
#if FIBER_ASAN
    __sanitizer_start_switch_fiber(fake_save, to->stack_lo, to->stack_size);
#endif
#if FIBER_TSAN
    __tsan_switch_to_fiber(to->tsan, 0);
#endif
    (void)to;
    (void)fake_save;
}

/* The other half, run by self once it runs again: records the stack of
 * whoever switched to it (known to ASan only now) for the way back. */
static inline void fiber_landed(struct fiber *self, void *fake_stack)
{
#if FIBER_ASAN
    __sanitizer_finish_switch_fiber(fake_stack, &self->resumer->stack_lo, &self->resumer->stack_size);
#endif
    (void)self;
    (void)fake_stack;
}

/* Switches from the running fiber (from) to `to`; returns when someone
 * switches back to from. */
static inline void fiber_switch(struct fiber *from, struct fiber *to)
{
    to->resumer = from;
#if FIBER_ASAN
    fiber_announce(to, &from->fake_stack);
#else
    fiber_announce(to, NULL);
#endif
    fiber_regs_swap(&from->regs, &to->regs);
#if FIBER_ASAN
    fiber_landed(from, from->fake_stack);
#endif
}

/* The first thing a fiber's entry function does. */
static inline void fiber_enter(struct fiber *self)
{
    fiber_landed(self, NULL);
}

/* The last thing a fiber does: switches back to its resumer for good. */
__attribute__((noreturn)) static inline void fiber_exit(struct fiber *self)
{
    struct fiber *to = self->resumer;
    to->resumer = self;
    fiber_announce(to, NULL);
    fiber_regs_swap(&self->regs, &to->regs);
    __builtin_unreachable();
}

/* --- stacks (fiber-stack.c) ------------------------------------------------- */

/* Default usable size of a task stack: see loom/task.h for the reasons. */
#define FIBER_STACK_DEFAULT (256 * 1024)

struct fiber_slab;

struct fiber_stack {
    void *lo;    /* lowest usable address; the guard page is just below */
    size_t size; /* usable bytes, a multiple of the page size */
    bool guarded;
    struct fiber_slab *slab; /* the mapping it was carved from */
    unsigned slot;
    unsigned valgrind_id;
};

/* Takes a stack of at least size bytes (0: the default; at least 16 KiB,
 * rounded up to pages) from the calling thread's pool, mapping more when
 * needed. Returns 0, -ENOMEM, or -EINVAL for more than 1 GiB. */
int loom__fiber_stack_get(struct fiber_stack *stack, size_t size);

/* Returns a stack to the pool of the thread that got it; that thread only. */
void loom__fiber_stack_put(struct fiber_stack *stack);

/* The stack of the fiber running on this thread, or NULL: whoever switches
 * to a fiber sets it (task.c), the stack overflow handler reads it. */
extern _Thread_local const struct fiber_stack *loom__fiber_stack_running __attribute__((tls_model("initial-exec")));

#endif
