/* Fiber switch for AArch64 (AAPCS64). The callee-saved state (x19-x28, the
 * frame pointer x29, the link register x30 and the low halves d8-d15 of
 * v8-v15) is stored on the running stack, whose pointer is saved; the other
 * stack's is loaded and its state restored. Everything else is
 * caller-saved, so the C compiler has already spilled it around the call. */

	.text

/* void loom__fiber_asm_swap(void **save_sp, void *load_sp) */
	.globl	loom__fiber_asm_swap
	.hidden	loom__fiber_asm_swap
	.type	loom__fiber_asm_swap, %function
	.p2align 4
loom__fiber_asm_swap:
	.cfi_startproc
	sub	sp, sp, #160
	stp	x19, x20, [sp, #0]
	stp	x21, x22, [sp, #16]
	stp	x23, x24, [sp, #32]
	stp	x25, x26, [sp, #48]
	stp	x27, x28, [sp, #64]
	stp	x29, x30, [sp, #80]
	stp	d8, d9, [sp, #96]
	stp	d10, d11, [sp, #112]
	stp	d12, d13, [sp, #128]
	stp	d14, d15, [sp, #144]
	mov	x9, sp
	str	x9, [x0]
	mov	sp, x1
	ldp	x19, x20, [sp, #0]
	ldp	x21, x22, [sp, #16]
	ldp	x23, x24, [sp, #32]
	ldp	x25, x26, [sp, #48]
	ldp	x27, x28, [sp, #64]
	ldp	x29, x30, [sp, #80]
	ldp	d8, d9, [sp, #96]
	ldp	d10, d11, [sp, #112]
	ldp	d12, d13, [sp, #128]
	ldp	d14, d15, [sp, #144]
	add	sp, sp, #160
	ret
	.cfi_endproc
	.size	loom__fiber_asm_swap, . - loom__fiber_asm_swap

/* void *loom__fiber_asm_make(void *stack_top, void (*entry)(void *), void *arg)
 * Lays out a frame that loom__fiber_asm_swap restores: x19 = arg, x20 = entry,
 * x30 = fiber_asm_start, everything else zero, leaving sp 16-byte aligned.
 * Returns its address. */
	.globl	loom__fiber_asm_make
	.hidden	loom__fiber_asm_make
	.type	loom__fiber_asm_make, %function
	.p2align 4
loom__fiber_asm_make:
	.cfi_startproc
	and	x0, x0, #~15
	sub	x0, x0, #176
	stp	x2, x1, [x0, #0]	/* x19: arg, x20: entry */
	stp	xzr, xzr, [x0, #16]
	stp	xzr, xzr, [x0, #32]
	stp	xzr, xzr, [x0, #48]
	stp	xzr, xzr, [x0, #64]
	adr	x9, fiber_asm_start
	stp	xzr, x9, [x0, #80]	/* x29: 0 ends frame walks; x30 */
	stp	xzr, xzr, [x0, #96]
	stp	xzr, xzr, [x0, #112]
	stp	xzr, xzr, [x0, #128]
	stp	xzr, xzr, [x0, #144]
	stp	xzr, xzr, [x0, #160]
	ret
	.cfi_endproc
	.size	loom__fiber_asm_make, . - loom__fiber_asm_make

/* First code of a fiber: entry(arg). entry never returns. */
	.type	fiber_asm_start, %function
	.p2align 4
fiber_asm_start:
	.cfi_startproc
	.cfi_undefined x30	/* the outermost frame: unwinders stop here */
	mov	x0, x19
	blr	x20
	brk	#0
	.cfi_endproc
	.size	fiber_asm_start, . - fiber_asm_start

	.section .note.GNU-stack, "", %progbits
