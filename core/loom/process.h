/** @file
 * loom — subprocesses.
 *
 * loom_process_spawn starts a program (argv, environment, working
 * directory) with each of stdin, stdout and stderr inherited, on /dev/null,
 * on an fd the caller gives, or on a pipe that the parent gets as a
 * loom_stream (stream.h). The exit future resolves with the child's
 * return code: its exit status (0..255), or -signo if a signal ended it
 * (asyncio's returncode).
 *
 * Reaping: loom waits for its own children only, never with waitpid(-1), so
 * a program that also runs children with GLib's g_child_watch_add or Qt's
 * QProcess sees each child reaped once, by its owner. Where the kernel has
 * pidfds (Linux 5.3), loom watches the child's pidfd and reaps it with
 * waitid(P_PIDFD) (P_PID on 5.3); elsewhere (also under Valgrind, which
 * lacks pidfd_open) it watches SIGCHLD with loom_signal_watch (chaining to
 * the handler installed before, see signal.h) and tries waitid(P_PID,
 * WNOHANG) on each of the loop's children at each one, and every 200 ms
 * while it has any: a SIGCHLD handler installed over loom's without
 * chaining, or reset (GLib without pidfds resets SIGCHLD to SIG_DFL when its
 * last child watch goes), delays the reaping but never loses a child.
 * $LOOM_NO_PIDFD=1 forces that fallback (for tests).
 *
 * Every fd loom makes is close-on-exec, so a child gets only its stdin,
 * stdout and stderr. The child starts with no signal blocked and SIGPIPE at
 * its default action.
 *
 * Loop close: a child not reaped yet stops being watched, its exit future
 * fails with -ESHUTDOWN, its pipes close; the child itself runs on (it is
 * killed first if kill_on_close was asked). Everything is called on the
 * loop's thread (-EXDEV otherwise). */
#ifndef LOOM_PROCESS_H
#define LOOM_PROCESS_H

#include <stdbool.h>
#include <sys/types.h>
#include <loom/future.h>
#include <loom/stream.h>

LOOM_BEGIN_DECLS

/** A child process started by loom_process_spawn (opaque; owned by its
 * caller until loom_process_free). */
typedef struct loom_process loom_process;

/** What one of the child's stdin/stdout/stderr is. */
typedef enum loom_stdio_mode {
    LOOM_STDIO_INHERIT, /**< the parent's (the default) */
    LOOM_STDIO_DEVNULL, /**< /dev/null */
    LOOM_STDIO_PIPE,    /**< a pipe; the parent's end is a loom_stream */
    LOOM_STDIO_FD,      /**< fd (borrowed: duplicated into the child only) */
} loom_stdio_mode;

/** One of the child's stdin/stdout/stderr: a mode and its fd. */
typedef struct loom_stdio {
    loom_stdio_mode mode; /**< what it is */
    int fd;               /**< LOOM_STDIO_FD only */
} loom_stdio;

/** Options of loom_process_spawn; a zeroed struct (or NULL) inherits all. */
typedef struct loom_process_opts {
    const char *const *env; /**< NULL-terminated "NAME=value"s; NULL: the parent's */
    const char *cwd;        /**< NULL: the parent's */
    loom_stdio stdio[3];    /**< stdin, stdout, stderr */
    bool kill_on_cancel;    /**< cancelling the exit future sends SIGKILL */
    bool kill_on_close;     /**< closing the loop sends SIGKILL to a live child */
} loom_process_opts;

/** Starts argv[0] (searched in $PATH when it has no '/') with argv; argv,
 * opts and what they point to are read during the call only. Returns 0 and
 * a new process the caller owns (free it with loom_process_free), or a
 * negative errno with nothing started and nothing left open: -EINVAL (NULL
 * or empty argv, a bad mode), -ENOENT / -EACCES / -ENOEXEC (the program
 * cannot be run: reported here, not in the exit future; under Valgrind,
 * which cannot share memory with a vfork child, the child exits with 127
 * instead), -EMFILE, -ENOMEM, -ESHUTDOWN, -EXDEV. */
LOOM_API int loom_process_spawn(loom_loop *loop, const char *const *argv, const loom_process_opts *opts,
                                loom_process **processp);

/** The child's process id (-1 for NULL). It stays the child's number after
 * it was reaped, when the system may give it to another process. */
LOOM_API pid_t loom_process_pid(const loom_process *process);

/** The exit future (a new reference): resolves with the return code as its
 * integer (exit status, or -signo), once the child is reaped; fails with
 * -ESHUTDOWN at loop close. The same future each call. Cancelling it stops
 * nothing unless kill_on_cancel was asked (the child is still reaped). NULL
 * with errno EINVAL for NULL. */
LOOM_API loom_future *loom_process_exit_future(loom_process *process);

/** Whether the child was reaped: 0 and its return code in *code, or -EAGAIN
 * while it runs (-ESHUTDOWN once the loop closed without reaping it). */
LOOM_API int loom_process_return_code(const loom_process *process, int *code);

/** Sends signo to the child. 0, -ESRCH once it was reaped (the pid may be
 * someone else's by then; loom never signals it), or kill(2)'s errno. */
LOOM_API int loom_process_kill(loom_process *process, int signo);

/** Takes the parent's end of a LOOM_STDIO_PIPE (which: 0 stdin, 1 stdout,
 * 2 stderr) as a stream the caller owns from here (close it with
 * loom_stream_close or abort). NULL (errno EINVAL) for no pipe there or one
 * already taken. A pipe not taken is aborted by loom_process_free. */
LOOM_API loom_stream *loom_process_take_stream(loom_process *process, int which);

/** Frees the handle: pipes not taken are aborted. A child still running
 * stays watched until it is reaped (or the loop closes), so it never stays
 * a zombie; it is not killed. The exit future stays valid for those who
 * hold a reference. NULL is ignored. */
LOOM_API void loom_process_free(loom_process *process);

LOOM_END_DECLS

#endif
