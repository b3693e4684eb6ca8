/* loom_process: posix_spawn, then a pidfd watch (or the SIGCHLD fallback)
 * that reaps exactly this child. A process is reference counted: the
 * caller's handle and the watch (until the child is reaped or the loop
 * closes) each hold one, so neither can outlive it. */
#define _GNU_SOURCE /* pipe2, posix_spawn_file_actions_addchdir_np */
#include "config.h"
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <loom/process.h>
#include <loom/signal.h>
#include "base/list.h"
#include "future/future-private.h"
#include "io-private.h"
#include "loop/loop-private.h"

#ifndef P_PIDFD
#define P_PIDFD 3 /* Linux 5.4; older glibc headers lack it */
#endif

extern char **environ;

enum proc_state { PROC_RUNNING, PROC_REAPED, PROC_ABANDONED };

struct loom_process {
    struct list_node node; /* in the loop's fallback list, without a pidfd */
    loom_loop *loop;       /* its memory is held */
    unsigned refs;
    pid_t pid;
    int pidfd; /* -1: the SIGCHLD fallback, or no longer watched */
    uint8_t state;
    int code;
    loom_future *exit;
    loom_stream *pipes[3];
    loom_handle close_hook;
    bool kill_on_close;
};

/* A loop's children without a pidfd, checked at each SIGCHLD and every
 * FALLBACK_POLL: a handler installed over loom's that does not chain (GLib
 * resets SIGCHLD to SIG_DFL when its last child watch goes) must not leave a
 * child unreaped. */
#define FALLBACK_POLL LOOM_MSEC(200)
struct proc_fallback {
    struct list children;
    loom_handle poll;
};
static const char fallback_key; /* loom_loop_set_data key */

static void process_unref(void *data)
{
    loom_process *p = data;
    loom_loop *loop = p->loop;

    if (--p->refs > 0)
        return;
    for (int i = 0; i < 3; i++)
        if (p->pipes[i])
            loom_stream_abort(p->pipes[i]);
    loom_future_unref(p->exit);
    free(p);
    loom__loop_release(loop);
}

/* Stops watching the child (pidfd or fallback list) and drops the watch's
 * reference. */
static void unwatch(loom_process *p)
{
    if (p->pidfd >= 0) {
        loom_fd_unwatch(p->loop, p->pidfd);
        close(p->pidfd);
        p->pidfd = -1;
    } else {
        struct proc_fallback *fb = loom_loop_get_data(p->loop, &fallback_key);
        list_unlink(&fb->children, &p->node);
        if (list_empty(&fb->children)) {
            loom__signal_unwatch_own(p->loop, SIGCHLD);
            loom_cancel(p->loop, fb->poll);
            fb->poll = 0;
        }
    }
    if (p->close_hook)
        loom_hook_remove(p->loop, p->close_hook);
    p->close_hook = 0;
    process_unref(p);
}

/* waitid on this child only (flags: WNOHANG, or 0 to block): 1 (reaped, *code set), 0
 * (running), or a negative errno (-ECHILD: someone else reaped it). */
static int reap(const loom_process *p, int *code, int flags)
{
    siginfo_t info;
    int r;

    for (;;) {
        memset(&info, 0, sizeof(info));
        r = p->pidfd >= 0 ? waitid(P_PIDFD, (id_t)p->pidfd, &info, WEXITED | flags) : -1;
        if (p->pidfd < 0 || (r < 0 && errno == EINVAL)) /* Linux 5.3 has pidfds, not P_PIDFD */
            r = waitid(P_PID, (id_t)p->pid, &info, WEXITED | flags);
        if (r == 0 || errno != EINTR)
            break;
    }
    if (r < 0)
        return -errno;
    if (info.si_pid == 0)
        return 0;
    *code = info.si_code == CLD_EXITED ? info.si_status : -info.si_status;
    return 1;
}

/* Reaps the child if it is gone, and completes the exit future. */
static void check_exit(loom_process *p)
{
    int code = 0, r = reap(p, &code, WNOHANG);

    if (r == 0)
        return;
    if (r < 0) {
        loom_loop_report(p->loop, r, "child %d was reaped by someone else (waitpid(-1)?)", (int)p->pid);
        p->state = PROC_ABANDONED;
        loom_future_fail(p->exit, r, "the child was reaped by someone else");
    } else {
        p->state = PROC_REAPED;
        p->code = code;
        loom_future_resolve_int(p->exit, code); /* -EINVAL if cancelled: ignored */
    }
    unwatch(p);
}

static void on_pidfd(loom_loop *loop, int fd, unsigned events, void *data)
{
    check_exit(data);
}

static void fallback_check(struct proc_fallback *fb)
{
    for (struct list_node *n = fb->children.first, *next; n; n = next) {
        next = n->next; /* check_exit may unlink and free n's process */
        check_exit(list_item(n, loom_process, node));
    }
}

static void fallback_sigchld(loom_loop *loop, int signo, unsigned count, void *data)
{
    fallback_check(data);
}

static void fallback_poll(loom_loop *loop, void *data)
{
    struct proc_fallback *fb = data;

    fb->poll = 0;
    fallback_check(fb);
    if (!list_empty(&fb->children) && loom_call_later(loop, FALLBACK_POLL, fallback_poll, fb, &fb->poll) < 0)
        fb->poll = 0;
}

static int watch_fallback(loom_process *p)
{
    struct proc_fallback *fb = loom_loop_get_data(p->loop, &fallback_key);
    int r;

    if (!fb) {
        fb = calloc(1, sizeof(*fb));
        if (!fb)
            return -ENOMEM;
        if ((r = loom_loop_set_data(p->loop, &fallback_key, fb, free)) < 0) {
            free(fb);
            return r;
        }
    }
    if (list_empty(&fb->children)) {
        if ((r = loom__signal_watch_own(p->loop, SIGCHLD, fallback_sigchld, fb)) < 0)
            return r;
        if ((r = loom_call_later(p->loop, FALLBACK_POLL, fallback_poll, fb, &fb->poll)) < 0) {
            loom__signal_unwatch_own(p->loop, SIGCHLD);
            return r;
        }
    }
    list_push_back(&fb->children, &p->node);
    return 0;
}

static bool pidfd_disabled(void)
{
    const char *env = getenv("LOOM_NO_PIDFD");

    return env && *env && strcmp(env, "0") != 0;
}

/* Watches the child until it is reaped: its pidfd, else SIGCHLD. */
static int watch(loom_process *p)
{
    int r = -ENOSYS;

#ifdef SYS_pidfd_open
    if (!pidfd_disabled()) {
        p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0); /* close-on-exec */
        r = p->pidfd >= 0 ? 0 : -errno;
    }
    if (r == 0 && (r = loom_fd_watch(p->loop, p->pidfd, LOOM_READ, on_pidfd, p, NULL)) < 0) {
        close(p->pidfd);
        p->pidfd = -1;
        return r;
    }
#endif
    if (r == -ENOSYS || r == -EPERM) /* no pidfds here (or a seccomp filter) */
        r = watch_fallback(p);
    if (r < 0)
        return r;
    p->refs++;
    return 0;
}

/* The loop's CLOSE hook for a child not reaped. */
static void process_loop_closing(loom_loop *loop, void *data)
{
    loom_process *p = data;
    int code;

    p->close_hook = 0;
    if (p->kill_on_close && kill(p->pid, SIGKILL) == 0 && reap(p, &code, 0) == 1) {
        p->state = PROC_REAPED;
        p->code = code;
    } else
        p->state = PROC_ABANDONED;
    loom_future_fail(p->exit, -ESHUTDOWN, NULL);
    unwatch(p);
}

/* The exit future's cancel hook (run inside loom_future_cancel): the future
 * is pending only while the child is not reaped, so p and its pid are. */
static void kill_on_cancel(void *data)
{
    loom_process *p = data;

    kill(p->pid, SIGKILL);
}

/* Pipes: ends[i][0] the child's, ends[i][1] the parent's (-1: none). */
static int open_pipes(const loom_process_opts *opts, int ends[3][2])
{
    for (int i = 0; i < 3; i++)
        ends[i][0] = ends[i][1] = -1;
    for (int i = 0; i < 3; i++) {
        int fds[2];

        if (opts->stdio[i].mode != LOOM_STDIO_PIPE)
            continue;
        if (pipe2(fds, O_CLOEXEC) < 0)
            return -errno;
        ends[i][0] = fds[i == 0 ? 0 : 1];
        ends[i][1] = fds[i == 0 ? 1 : 0];
    }
    return 0;
}

static void close_ends(int ends[3][2], int side)
{
    for (int i = 0; i < 3; i++)
        if (ends[i][side] >= 0) {
            close(ends[i][side]);
            ends[i][side] = -1;
        }
}

/* The child's side of each stdio, and its working directory. */
static int file_actions(posix_spawn_file_actions_t *fa, const loom_process_opts *opts, int ends[3][2])
{
    int r = 0;

    for (int i = 0; i < 3 && r == 0; i++) {
        switch (opts->stdio[i].mode) {
        case LOOM_STDIO_INHERIT:
            break;
        case LOOM_STDIO_DEVNULL:
            r = posix_spawn_file_actions_addopen(fa, i, "/dev/null", i == 0 ? O_RDONLY : O_WRONLY, 0);
            break;
        case LOOM_STDIO_PIPE:
            r = posix_spawn_file_actions_adddup2(fa, ends[i][0], i);
            break;
        case LOOM_STDIO_FD:
            r = posix_spawn_file_actions_adddup2(fa, opts->stdio[i].fd, i);
            break;
        default:
            r = EINVAL;
        }
    }
    if (r == 0 && opts->cwd)
        r = posix_spawn_file_actions_addchdir_np(fa, opts->cwd);
    return -r;
}

/* No signal blocked, SIGPIPE at its default: what a program expects. */
static int spawn_attr(posix_spawnattr_t *attr)
{
    sigset_t none, pipe;

    sigemptyset(&none);
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    if (posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF) != 0 ||
        posix_spawnattr_setsigmask(attr, &none) != 0 || posix_spawnattr_setsigdefault(attr, &pipe) != 0)
        return -EINVAL;
    return 0;
}

static int spawn(pid_t *pid, const char *const *argv, const loom_process_opts *opts, int ends[3][2])
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int r;

    if (posix_spawn_file_actions_init(&fa) != 0)
        return -ENOMEM;
    if (posix_spawnattr_init(&attr) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        return -ENOMEM;
    }
    r = file_actions(&fa, opts, ends);
    if (r == 0)
        r = spawn_attr(&attr);
    if (r == 0)
        r = -posix_spawnp(pid, argv[0], &fa, &attr, (char *const *)argv,
                          opts->env ? (char *const *)opts->env : environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    return r;
}

/* The parent's pipe ends as streams (each takes its fd). */
static int make_streams(loom_process *p, int ends[3][2])
{
    for (int i = 0; i < 3; i++) {
        if (ends[i][1] < 0)
            continue;
        p->pipes[i] = loom_stream_new(p->loop, ends[i][1]);
        if (!p->pipes[i])
            return -errno;
        ends[i][1] = -1;
    }
    return 0;
}

static loom_process *process_new(loom_loop *loop, const loom_process_opts *opts)
{
    loom_process *p = calloc(1, sizeof(*p));

    if (!p)
        return NULL;
    p->exit = loom_future_new(loop);
    if (!p->exit) {
        free(p);
        return NULL;
    }
    p->loop = loop;
    p->refs = 1;
    p->pidfd = -1;
    p->kill_on_close = opts->kill_on_close;
    loom__loop_hold(loop);
    return p;
}

/* After the spawn: the close hook, the watch, kill-on-cancel. A failure
 * here kills and reaps the child, which nobody could wait for. */
static int start_watching(loom_process *p, const loom_process_opts *opts)
{
    int r = loom_hook_add(p->loop, LOOM_HOOK_CLOSE, process_loop_closing, p, NULL, &p->close_hook);

    if (r == 0 && (r = watch(p)) < 0) {
        loom_hook_remove(p->loop, p->close_hook);
        p->close_hook = 0;
    }
    if (r < 0) {
        int code;
        kill(p->pid, SIGKILL);
        reap(p, &code, 0);
        return r;
    }
    if (opts->kill_on_cancel)
        loom__future_set_cancel_hook(p->exit, kill_on_cancel, p);
    if (p->pidfd < 0)
        check_exit(p); /* its SIGCHLD may have come before loom's handler */
    return 0;
}

int loom_process_spawn(loom_loop *loop, const char *const *argv, const loom_process_opts *opts,
                       loom_process **processp)
{
    static const loom_process_opts defaults;
    int ends[3][2], r;
    loom_process *p;

    LOOP_CHECK(loop);
    if (!argv || !argv[0] || !*argv[0] || !processp)
        return -EINVAL;
    if (!opts)
        opts = &defaults;
    p = process_new(loop, opts);
    if (!p)
        return -ENOMEM;
    r = open_pipes(opts, ends);
    if (r == 0)
        r = make_streams(p, ends);
    if (r == 0)
        r = spawn(&p->pid, argv, opts, ends);
    close_ends(ends, 0);
    close_ends(ends, 1);
    if (r == 0)
        r = start_watching(p, opts);
    if (r < 0) {
        p->state = PROC_ABANDONED;
        process_unref(p);
        return r;
    }
    *processp = p;
    return 0;
}

pid_t loom_process_pid(const loom_process *process)
{
    return process ? process->pid : -1;
}

loom_future *loom_process_exit_future(loom_process *process)
{
    if (!process) {
        errno = EINVAL;
        return NULL;
    }
    return loom_future_ref(process->exit);
}

int loom_process_return_code(const loom_process *process, int *code)
{
    if (!process || !code)
        return -EINVAL;
    if (process->state == PROC_RUNNING)
        return -EAGAIN;
    if (process->state == PROC_ABANDONED)
        return -ESHUTDOWN;
    *code = process->code;
    return 0;
}

int loom_process_kill(loom_process *process, int signo)
{
    if (!process)
        return -EINVAL;
    LOOP_CHECK(process->loop);
    if (process->state != PROC_RUNNING)
        return -ESRCH;
    return kill(process->pid, signo) < 0 ? -errno : 0;
}

loom_stream *loom_process_take_stream(loom_process *process, int which)
{
    loom_stream *s;

    if (!process || which < 0 || which > 2 || !process->pipes[which]) {
        errno = EINVAL;
        return NULL;
    }
    s = process->pipes[which];
    process->pipes[which] = NULL;
    return s;
}

void loom_process_free(loom_process *process)
{
    if (!process)
        return;
    for (int i = 0; i < 3; i++)
        if (process->pipes[i]) {
            loom_stream_abort(process->pipes[i]);
            process->pipes[i] = NULL;
        }
    process_unref(process);
}
