/* peer-bench — swapcontext: the portable switch that loom's hand-written one
 * replaces (glibc's saves and restores the signal mask with a syscall each
 * time). task_switch is one one-way switch, measured over pairs. */
#include <errno.h>
#include <stdlib.h>
#include <ucontext.h>

#include "bench-util.h"
#include "peers.h"

#define STACK_SIZE (64 * 1024)

static ucontext_t main_ctx, fiber_ctx;

static void pong(void)
{
    for (;;)
        swapcontext(&fiber_ctx, &main_ctx);
}

static void run_switch(void *ctx, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        swapcontext(&main_ctx, &fiber_ctx); /* and back: two switches */
}

void peer_swapcontext(void)
{
    void *stack = malloc(STACK_SIZE);
    if (!stack || getcontext(&fiber_ctx) < 0)
        bench_die(errno, "swapcontext peer setup");
    fiber_ctx.uc_stack.ss_sp = stack;
    fiber_ctx.uc_stack.ss_size = STACK_SIZE;
    fiber_ctx.uc_link = NULL;
    makecontext(&fiber_ctx, pong, 0);
    bench_measure("swapcontext", "task_switch", "ns/switch", 2, run_switch, NULL);
    free(stack); /* the fiber stays suspended in pong: never resumed again */
}
