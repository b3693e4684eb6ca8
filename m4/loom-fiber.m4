dnl LOOM_FIBER: how tasks switch stacks.
dnl   --with-fiber=asm       hand-written switch (x86-64 System V, AArch64)
dnl   --with-fiber=ucontext  makecontext/swapcontext, portable and slower
dnl The default is asm where the compiler targets one of those, else ucontext.
dnl Defines LOOM_FIBER_UCONTEXT (1 or 0) in config.h, the automake
dnl conditionals LOOM_FIBER_X86_64, LOOM_FIBER_AARCH64 and LOOM_FIBER_UCONTEXT,
dnl and HAVE_VALGRIND_VALGRIND_H when Valgrind's client requests are available
dnl (Debian package valgrind), so that stacks are registered with it.
AC_DEFUN([LOOM_FIBER], [
  AC_REQUIRE([AC_PROG_CC])
  AC_REQUIRE([AM_PROG_AS])
  AC_ARG_WITH([fiber],
    AS_HELP_STRING([--with-fiber=asm|ucontext],
                   [task context switch (default: asm on x86-64 and AArch64, else ucontext)]),
    [], [with_fiber=auto])

  dnl Ask the compiler, not host_cpu: -m32 or x32 on an x86-64 host is not x86-64.
  AC_CACHE_CHECK([for a hand-written fiber switch], [loom_cv_fiber_arch], [
    loom_cv_fiber_arch=none
    AC_COMPILE_IFELSE([AC_LANG_PROGRAM([[
#if !defined(__x86_64__) || defined(__ILP32__) || !defined(__ELF__)
#error not x86-64 ELF
#endif]])], [loom_cv_fiber_arch=x86_64])
    AC_COMPILE_IFELSE([AC_LANG_PROGRAM([[
#if !defined(__aarch64__) || defined(__ILP32__) || !defined(__ELF__)
#error not AArch64 ELF
#endif]])], [loom_cv_fiber_arch=aarch64])
  ])

  AS_CASE([$with_fiber],
    [auto], [AS_IF([test "x$loom_cv_fiber_arch" = xnone], [with_fiber=ucontext], [with_fiber=asm])],
    [asm], [AS_IF([test "x$loom_cv_fiber_arch" = xnone],
                  [AC_MSG_ERROR([--with-fiber=asm: no fiber switch in assembly for this target; use ucontext])])],
    [ucontext], [],
    [AC_MSG_ERROR([--with-fiber takes asm or ucontext, not $with_fiber])])
  AS_IF([test "x$with_fiber" = xucontext], [
    AC_CHECK_FUNCS([makecontext swapcontext], [],
                   [AC_MSG_ERROR([--with-fiber=ucontext: makecontext/swapcontext not found])])
    AC_DEFINE([LOOM_FIBER_UCONTEXT], [1], [Define to 1 to switch fibers with ucontext instead of assembly.])
  ], [
    AC_DEFINE([LOOM_FIBER_UCONTEXT], [0], [Define to 1 to switch fibers with ucontext instead of assembly.])
  ])
  AM_CONDITIONAL([LOOM_FIBER_X86_64], [test "x$with_fiber" = xasm && test "x$loom_cv_fiber_arch" = xx86_64])
  AM_CONDITIONAL([LOOM_FIBER_AARCH64], [test "x$with_fiber" = xasm && test "x$loom_cv_fiber_arch" = xaarch64])
  AM_CONDITIONAL([LOOM_FIBER_UCONTEXT], [test "x$with_fiber" = xucontext])
  AC_CHECK_HEADERS([valgrind/valgrind.h])
  AS_IF([test "x$with_fiber" = xasm], [loom_fiber_summary="asm ($loom_cv_fiber_arch)"],
        [loom_fiber_summary=ucontext])
])
