/* Fiber switch for x86-64 System V. The callee-saved state (rbx, rbp,
 * r12-r15, the MXCSR control bits and the x87 control word) is pushed on the
 * running stack, whose pointer is saved; the other stack's is loaded and its
 * state popped. Everything else is caller-saved, so the C compiler has
 * already spilled it around the call. */

	.text

/* void loom__fiber_asm_swap(void **save_sp, void *load_sp) */
	.globl	loom__fiber_asm_swap
	.hidden	loom__fiber_asm_swap
	.type	loom__fiber_asm_swap, %function
	.p2align 4
loom__fiber_asm_swap:
	.cfi_startproc
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	subq	$8, %rsp
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
	movq	%rsp, (%rdi)
	movq	%rsi, %rsp
	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	addq	$8, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	ret
	.cfi_endproc
	.size	loom__fiber_asm_swap, . - loom__fiber_asm_swap

/* void *loom__fiber_asm_make(void *stack_top, void (*entry)(void *), void *arg)
 * Lays out a frame that loom__fiber_asm_swap pops: the current MXCSR and x87
 * control word, r13 = entry, r12 = arg, and fiber_asm_start as the return
 * address, leaving the stack 16-byte aligned there. Returns its address. */
	.globl	loom__fiber_asm_make
	.hidden	loom__fiber_asm_make
	.type	loom__fiber_asm_make, %function
	.p2align 4
loom__fiber_asm_make:
	.cfi_startproc
	andq	$-16, %rdi
	leaq	-80(%rdi), %rax
	stmxcsr	(%rax)
	fnstcw	4(%rax)
	movq	$0, 8(%rax)		/* r15 */
	movq	$0, 16(%rax)		/* r14 */
	movq	%rsi, 24(%rax)		/* r13: entry */
	movq	%rdx, 32(%rax)		/* r12: arg */
	movq	$0, 40(%rax)		/* rbx */
	movq	$0, 48(%rax)		/* rbp: ends frame-pointer walks */
	leaq	fiber_asm_start(%rip), %rcx
	movq	%rcx, 56(%rax)
	movq	$0, 64(%rax)
	movq	$0, 72(%rax)
	ret
	.cfi_endproc
	.size	loom__fiber_asm_make, . - loom__fiber_asm_make

/* First code of a fiber: entry(arg). entry never returns. */
	.type	fiber_asm_start, %function
	.p2align 4
fiber_asm_start:
	.cfi_startproc
	.cfi_undefined rip	/* the outermost frame: unwinders stop here */
	movq	%r12, %rdi
	callq	*%r13
	ud2
	.cfi_endproc
	.size	fiber_asm_start, . - fiber_asm_start

	.section .note.GNU-stack, "", %progbits
