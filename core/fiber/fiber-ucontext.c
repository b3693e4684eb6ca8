/* Fiber switch through ucontext (makecontext/swapcontext): portable to any
 * POSIX system that still has it, but swapcontext also saves the signal mask
 * with a system call, so it is several times slower than the assembly. */
#include "config.h"
#include <stdint.h>
#include <stdlib.h>
#include "fiber.h"

/* makecontext passes only int arguments: the regs pointer travels in two
 * halves. */
static void ucontext_start(unsigned hi, unsigned lo)
{
    fiber_regs *regs = (fiber_regs *)(((uintptr_t)hi << 16 << 16) | (uintptr_t)lo);
    regs->entry(regs->arg);
    abort(); /* entry never returns */
}

void fiber_regs_make(fiber_regs *regs, void *lo, size_t size, fiber_entry entry, void *arg)
{
    uintptr_t p = (uintptr_t)regs;
    getcontext(&regs->uc);
    regs->uc.uc_stack.ss_sp = lo;
    regs->uc.uc_stack.ss_size = size;
    regs->uc.uc_link = NULL;
    regs->entry = entry;
    regs->arg = arg;
    makecontext(&regs->uc, (void (*)(void))ucontext_start, 2, (unsigned)(p >> 16 >> 16), (unsigned)p);
}

void fiber_regs_swap(fiber_regs *from, fiber_regs *to)
{
    swapcontext(&from->uc, &to->uc);
}
