/* loom_signal_watch: one process-wide sigaction handler per watched signal,
 * which counts each delivery for every loop watching it and wakes that
 * loop's eventfd; the loop reports the counts from an fd watch.
 *
 * The handler walks a lock-free list of watches (nodes). Watches are added
 * and removed under a mutex; a removed node is freed only once no handler is
 * running (handlers_running), so the handler never touches freed memory. */
#include "config.h"
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <loom/signal.h>
#include "io-private.h"
#include "loop/loop-private.h"

struct sig_loop;

/* Whose watch: the program's (loom_signal_watch), or loom's own (the
 * subprocesses' SIGCHLD), so that neither takes the other's place. */
enum sig_who { SIG_USER, SIG_OWN, SIG_WHO };

/* One loop's watch of one signal. */
struct sig_node {
    struct sig_node *_Atomic next; /* in the process-wide list */
    int signo;
    enum sig_who who;
    pid_t pid;                  /* a forked child's handler skips its parent's watches */
    atomic_uint pending;        /* deliveries not yet reported */
    const struct sig_loop *owner;
    loom_signal_callback cb;
    void *data;
    loom_destroy_fn destroy;
};

/* What one loop holds: its wakeup fd and its watches by owner and signal. */
struct sig_loop {
    int wake[2];
    struct sig_node *by_signo[SIG_WHO][NSIG];
};

static pthread_mutex_t sig_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sig_node *_Atomic sig_nodes;
static atomic_int handlers_running;
/* Per signal, under sig_lock: the disposition loom's handler chains to, and
 * how many watches the process has. */
static struct sigaction sig_previous[NSIG];
static unsigned sig_watches[NSIG];
static const char sig_loop_key; /* loom_loop_set_data key */

static void sig_handler(int signo, siginfo_t *info, void *uctx);

static bool is_ours(const struct sigaction *sa)
{
    return (sa->sa_flags & SA_SIGINFO) && sa->sa_sigaction == sig_handler;
}

/* SIG_DFL's action for a signal no loop of this process watches (a forked
 * child): reset it and re-raise, delivered once the handler returns. */
static void default_action(int signo)
{
    struct sigaction cur, dfl = {.sa_handler = SIG_DFL};

    if (sigaction(signo, NULL, &cur) == 0 && is_ours(&cur)) {
        sigaction(signo, &dfl, NULL);
        raise(signo);
    }
}

static void chain(int signo, siginfo_t *info, void *uctx, bool watched)
{
    const struct sigaction *prev = &sig_previous[signo];

    if (prev->sa_flags & SA_SIGINFO)
        prev->sa_sigaction(signo, info, uctx);
    else if (prev->sa_handler == SIG_DFL) {
        if (!watched)
            default_action(signo);
    } else if (prev->sa_handler != SIG_IGN)
        prev->sa_handler(signo);
}

/* Async-signal-safe: atomics, getpid, write, sigaction, raise. */
static void sig_handler(int signo, siginfo_t *info, void *uctx)
{
    int saved_errno = errno;
    pid_t pid = getpid();
    bool watched = false;

    atomic_fetch_add(&handlers_running, 1);
    for (struct sig_node *n = atomic_load(&sig_nodes); n; n = atomic_load(&n->next)) {
        if (n->signo != signo || n->pid != pid)
            continue;
        atomic_fetch_add(&n->pending, 1);
        loom__wake_signal(n->owner->wake);
        watched = true;
    }
    chain(signo, info, uctx, watched);
    atomic_fetch_sub(&handlers_running, 1);
    errno = saved_errno;
}

/* Waits until no handler can still see what was unlinked or changed. */
static void wait_for_handlers(void)
{
    while (atomic_load(&handlers_running) > 0)
        sched_yield();
}

/* Under sig_lock: puts loom's handler in place over whatever is installed
 * now (the first watch, or someone replaced it since), chaining to that. */
static int install(int signo)
{
    struct sigaction cur, ours = {.sa_sigaction = sig_handler,
                                  .sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK};

    if (sigaction(signo, NULL, &cur) < 0)
        return -errno;
    if (is_ours(&cur))
        return 0;
    sigemptyset(&ours.sa_mask);
    wait_for_handlers(); /* one may still be chaining to the old previous */
    sig_previous[signo] = cur;
    return sigaction(signo, &ours, NULL) < 0 ? -errno : 0;
}

/* Under sig_lock, for the last watch of signo: restores the previous
 * disposition unless another handler replaced loom's since. */
static void uninstall(int signo)
{
    struct sigaction cur;

    if (sigaction(signo, NULL, &cur) == 0 && is_ours(&cur))
        sigaction(signo, &sig_previous[signo], NULL);
}

static void node_link(struct sig_node *node)
{
    atomic_store(&node->next, atomic_load(&sig_nodes));
    atomic_store(&sig_nodes, node);
}

static void node_unlink(const struct sig_node *node)
{
    struct sig_node *_Atomic *link = &sig_nodes;

    while (atomic_load(link) != node)
        link = &atomic_load(link)->next;
    atomic_store(link, atomic_load(&node->next));
}

/* Unlinks the node, restores the disposition if it was the last watch, runs
 * the destroy and frees it. */
static void node_remove(struct sig_loop *s, struct sig_node *node)
{
    s->by_signo[node->who][node->signo] = NULL;
    pthread_mutex_lock(&sig_lock);
    node_unlink(node);
    if (--sig_watches[node->signo] == 0)
        uninstall(node->signo);
    wait_for_handlers();
    pthread_mutex_unlock(&sig_lock);
    if (node->destroy)
        node->destroy(node->data);
    free(node);
}

/* The loop's fd watch: reports each watched signal's count. The callback may
 * remove any watch; by_signo is re-read for every signal. */
static void sig_dispatch(loom_loop *loop, int fd, unsigned events, void *data)
{
    struct sig_loop *s = data;

    /* Drain first: a delivery after the drain wakes the loop again. */
    loom__wake_drain(s->wake);
    for (int signo = 1; signo < NSIG; signo++) {
        for (int who = 0; who < SIG_WHO; who++) {
            struct sig_node *node = s->by_signo[who][signo];
            unsigned count;

            if (node && (count = atomic_exchange(&node->pending, 0)) > 0)
                node->cb(loop, signo, count, node->data);
        }
    }
}

/* A CLOSE hook: every watch goes, then the eventfd and its watch, before
 * the loop would report them dropped. */
static void sig_loop_close(loom_loop *loop, void *data)
{
    struct sig_loop *s = data;

    for (int who = 0; who < SIG_WHO; who++)
        for (int signo = 1; signo < NSIG; signo++)
            if (s->by_signo[who][signo])
                node_remove(s, s->by_signo[who][signo]);
    loom_fd_unwatch(loop, s->wake[0]);
    loom_loop_set_data(loop, &sig_loop_key, NULL, NULL);
}

/* The hook's destroy, after it ran or if the loop is closed without it. */
static void sig_loop_free(void *data)
{
    struct sig_loop *s = data;

    loom__wake_close(s->wake);
    free(s);
}

/* The loop's signal state, made with its eventfd on first use. */
static int sig_loop_get(loom_loop *loop, struct sig_loop **sp)
{
    struct sig_loop *s = loom_loop_get_data(loop, &sig_loop_key);
    int r;

    if (s) {
        *sp = s;
        return 0;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    r = loom__wake_open(s->wake);
    if (r < 0) {
        free(s);
        return r;
    }
    r = loom_fd_watch(loop, s->wake[0], LOOM_READ, sig_dispatch, s, NULL);
    if (r == 0 && (r = loom_loop_set_data(loop, &sig_loop_key, s, NULL)) < 0)
        loom_fd_unwatch(loop, s->wake[0]);
    if (r == 0 && (r = loom_hook_add(loop, LOOM_HOOK_CLOSE, sig_loop_close, s, sig_loop_free, NULL)) < 0) {
        loom_fd_unwatch(loop, s->wake[0]);
        loom_loop_set_data(loop, &sig_loop_key, NULL, NULL);
    }
    if (r < 0) {
        sig_loop_free(s);
        return r;
    }
    *sp = s;
    return 0;
}

static bool watchable(int signo)
{
    switch (signo) {
    case SIGKILL:
    case SIGSTOP:
    case SIGSEGV:
    case SIGBUS:
    case SIGFPE:
    case SIGILL:
        return false;
    default:
        return signo > 0 && signo < NSIG;
    }
}

static int signal_watch(loom_loop *loop, int signo, loom_signal_callback cb, void *data,
                        loom_destroy_fn destroy, enum sig_who who)
{
    struct sig_loop *s;
    struct sig_node *node;
    int r;

    if (!cb || !watchable(signo))
        return -EINVAL;
    if ((r = sig_loop_get(loop, &s)) < 0)
        return r;
    if (s->by_signo[who][signo])
        return -EEXIST;
    node = calloc(1, sizeof(*node));
    if (!node)
        return -ENOMEM;
    *node = (struct sig_node){.signo = signo, .who = who, .pid = getpid(), .owner = s, .cb = cb,
                              .data = data, .destroy = destroy};
    pthread_mutex_lock(&sig_lock);
    r = install(signo);
    if (r == 0) {
        node_link(node);
        sig_watches[signo]++;
    }
    pthread_mutex_unlock(&sig_lock);
    if (r < 0) {
        free(node);
        return r;
    }
    s->by_signo[who][signo] = node;
    return 0;
}

static int signal_unwatch(loom_loop *loop, int signo, enum sig_who who)
{
    struct sig_loop *s;

    if (signo <= 0 || signo >= NSIG)
        return -EINVAL;
    s = loom_loop_get_data(loop, &sig_loop_key);
    if (!s || !s->by_signo[who][signo])
        return -ENOENT;
    node_remove(s, s->by_signo[who][signo]);
    return 0;
}

int loom_signal_watch(loom_loop *loop, int signo, loom_signal_callback cb, void *data,
                      loom_destroy_fn destroy)
{
    LOOP_CHECK(loop);
    return signal_watch(loop, signo, cb, data, destroy, SIG_USER);
}

int loom_signal_unwatch(loom_loop *loop, int signo)
{
    LOOP_CHECK(loop);
    return signal_unwatch(loop, signo, SIG_USER);
}

int loom__signal_watch_own(loom_loop *loop, int signo, loom_signal_callback cb, void *data)
{
    return signal_watch(loop, signo, cb, data, NULL, SIG_OWN);
}

int loom__signal_unwatch_own(loom_loop *loop, int signo)
{
    return signal_unwatch(loop, signo, SIG_OWN);
}
