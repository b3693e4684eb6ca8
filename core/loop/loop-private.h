/* The loop object, shared by the core's files. */
#ifndef LOOM_LOOP_PRIVATE_H
#define LOOM_LOOP_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <loom/backend.h>
#include "base/list.h"
#include "call-table.h"
#include "inbox.h"
#include "ready-queue.h"
#include "timer-heap.h"

/* The watch state of one fd; the fd table is indexed by fd. It holds either
 * a reader and a writer (FD_SIDES) or one loom_fd_watch callback (FD_ONE). */
enum fd_kind { FD_NONE, FD_SIDES, FD_ONE };
struct fd_tap; /* fd.c's */
struct fd_entry {
    loom_fd_callback on_read, on_write; /* on_read: FD_ONE's callback */
    void *read_data, *write_data;
    loom_destroy_fn destroy; /* FD_ONE's, for read_data; may be NULL */
    void *watch;             /* the backend's, NULL while it has none */
    dev_t dev;               /* the file watched: a closed or replaced fd is found out */
    ino_t ino;
    uint32_t gen;      /* bumped when the watch goes, so stale events are dropped */
    unsigned interest; /* what the backend watches: LOOM_READ | LOOM_WRITE */
    uint8_t kind;      /* enum fd_kind */
    uint8_t unchecked; /* events delivered since the file was last checked */
    bool suspended;    /* the fd was found closed or replaced: the backend watches nothing */
    bool yields;       /* FD_ONE of loom__fd_tap's own: becomes the tap of a watch added later */
    /* loom_fd_wait's waiters riding on this watch (loom__fd_tap), or NULL;
     * the backend watches interest | the tap's. */
    struct fd_tap *tap;
};


/* Something above the loop (a task, a waited future) that must act when the
 * loop closes and can describe itself in loom_loop_dump; the loop knows
 * nothing else of it. Close shuts members down phase by phase: first those
 * that run code (tasks, whose cleanup may complete futures), then those that
 * only release what they hold, last the engines those cancelled work on (the
 * io_uring ring, waiting for their CQEs). */
enum loop_phase { LOOP_PHASE_RUNS, LOOP_PHASE_RELEASES, LOOP_PHASE_ENGINES, LOOP_PHASES };
struct loop_member;
struct loop_member_ops {
    enum loop_phase phase;
    /* At close, after the loop is marked closed; must unlink the member. */
    void (*shutdown)(struct loop_member *m);
    /* One line (without the newline) for loom_loop_dump. */
    void (*dump)(struct loop_member *m, FILE *out);
};
struct loop_member {
    struct list_node node; /* in loop->members */
    const struct loop_member_ops *ops;
};

/* An object whose last reference went on another thread while the loop's
 * thread may still use it (a future whose callbacks are queued): handed to
 * the loop's thread (loom__loop_orphan), which calls reap at its next tick
 * or at close. */
struct loop_orphan {
    struct loop_orphan *next;
    void (*reap)(struct loop_orphan *o);
};

/* The loop's hooks (hooks.c), in the order they were added. */
struct hook {
    loom_handle id;
    loom_callback cb;
    void *data;
    loom_destroy_fn destroy;
    uint8_t kind;  /* loom_hook_kind */
    bool dead;     /* removed while hooks were running: freed once they end */
    bool in_call;  /* running: a nested tick skips it */
};

struct hook_list {
    struct hook *v;
    uint32_t len, cap;
    uint32_t live[LOOM_HOOK_CLOSE + 1]; /* per kind, so an empty kind costs one test */
    uint32_t running;                   /* hook runs on the stack */
    uint32_t dead;                      /* hooks marked dead, not freed yet: compact scans only then */
    loom_handle next_id;
};

/* One value of loom_loop_set_data. */
struct loop_datum {
    const void *key;
    void *data;
    loom_destroy_fn destroy;
};

/* One loom_loop_run / run_until on the stack; nested runs chain. */
struct run_frame {
    bool stop;
    struct run_frame *outer;
};

struct loom_loop {
    atomic_int refs;  /* the users': the last one closes the loop */
    /* Internal references (loom__loop_hold: futures, sync objects, task groups);
     * the users together count as one more, which holds leaves out: the
     * memory goes when holds drops below zero. Those the owner thread takes
     * and drops count in owner_holds, without an atomic operation, until the
     * close adds them in (holds_merged); till then holds carries HOLDS_BIAS,
     * so that other threads' drops never take it below zero. */
    atomic_int holds;
    int owner_holds;
    bool holds_merged;
    atomic_bool closed;
    uintptr_t owner;   /* the owning thread's loom__loop_thread_id */
    unsigned forks;    /* loop_forks when it was made: a forked child's copy differs */
    const loom_backend_ops *ops;
    void *backend;

    struct call_table calls;
    struct ready_queue ready;
    struct timer_heap timers;

    struct fd_entry *fds;
    int fds_size;
    size_t watches; /* user fds being watched */
    /* Where fd watches go: the backend, or for a LOOM_BACKEND_ONE_FD host an
     * epoll set of the core's, which the backend watches as one fd. */
    const loom_backend_ops *fd_ops;
    void *fd_backend;
    void *fd_set_watch; /* the backend's watch on that set, or NULL */
    bool fd_set_full;   /* its last delivery took a full batch: more may be ready */

    /* Thread-safe calls: producers push and raise wake_pending; the tick
     * clears it and takes the inbox. */
    struct inbox inbox;
    atomic_bool wake_pending;
    atomic_int producers; /* threads inside loom_call_soon_threadsafe */
    _Atomic(struct loop_orphan *) orphans; /* newest first; loop_orphans_closed once closed */
    int wake_fds[2];      /* the core's own wakeup when the backend has none */
    void *wake_watch;

    int64_t armed;      /* deadline the backend has; DEADLINE_UNKNOWN after it fired */
    bool dispatching;   /* inside a tick: the deadline is re-armed when it ends */
    unsigned depth;     /* ticks and fd dispatches on the stack */
    struct run_frame *frame;
    uint64_t ticks;
    unsigned polls_skipped; /* ticks run without polling for I/O (see run_frame) */

    struct list members[LOOP_PHASES]; /* struct loop_member, by phase */
    struct hook_list hooks;
    struct loop_datum *data;
    size_t n_data;
    bool closing;   /* close has begun (its hooks run on an open loop) */
    size_t dropped; /* calls dropped by close */

    loom_error_handler on_error;
    void *on_error_data;
};

#define DEADLINE_UNKNOWN INT64_MIN
#define WAKE_TOKEN UINT64_MAX
#define FD_SET_TOKEN (UINT64_MAX - 1)

/* Names the thread more cheaply than pthread_self(), a library call, on the
 * path of every loom_call_soon: the address of a thread-local, set when the
 * thread makes its first loop, and changed in a forked child, so that the
 * parent's loops fail the owner check there (0: no loop made yet). */
extern __thread uintptr_t loom__loop_thread_id __attribute__((tls_model("initial-exec")));

static inline bool loop_on_owner_thread(const loom_loop *loop)
{
    return loop->owner == loom__loop_thread_id;
}

/* Whether this process is a fork of the one that made the loop. */
bool loom__loop_inherited(const loom_loop *loop);

/* Argument and state checks shared by the public entry points: 0, -EINVAL,
 * -ESHUTDOWN (closed), -EXDEV (foreign thread, reported). */
int loom__loop_check_failed(loom_loop *loop, const char *func);
static inline int loop_check(loom_loop *loop, const char *func)
{
    if (loop && loop_on_owner_thread(loop) && !atomic_load_explicit(&loop->closed, memory_order_relaxed))
        return 0;
    return loom__loop_check_failed(loop, func);
}
#define LOOP_CHECK(loop)                                                                 \
    do {                                                                                 \
        int check_ = loop_check((loop), __func__);                                       \
        if (check_ < 0)                                                                  \
            return check_;                                                               \
    } while (0)

/* From any thread: hands o to the loop's thread. false if that thread will
 * never reap it (the loop closed, or this is a forked child's copy): nothing
 * of the loop's is using o then, and the caller disposes of it. */
bool loom__loop_orphan(loom_loop *loop, struct loop_orphan *o);

/* loom_call_soon for the core's own calls whose data holds references:
 * drop(data) releases them if the loop closes before the call runs. */
int loom__loop_call_soon_owned(loom_loop *loop, loom_callback cb, void *data, void (*drop)(void *data));
/* The same for loom_call_soon_threadsafe: drop runs on the loop's thread
 * when it closes. */
int loom__loop_call_soon_threadsafe_owned(loom_loop *loop, loom_callback cb, void *data,
                                    void (*drop)(void *data));
void loom__loop_arm(loom_loop *loop);

/* loom__loop_call_soon_owned for a caller that checked the owner thread and
 * that the loop is open; false when out of memory. Inline: a future's
 * completion is on the hot path. */
static inline bool loop_schedule_owned(loom_loop *loop, loom_callback cb, void *data, void (*drop)(void *data))
{
    if (!ready_queue_push(&loop->ready, cb, data, drop))
        return false;
    if (!loop->dispatching && loop->armed != 0)
        loom__loop_arm(loop);
    return true;
}

/* An I/O completion's callbacks run right after its fd event (as libuv's
 * read callback and asyncio's protocol callback do), not behind every other
 * event of the poll: runs what was queued since mark (the ready queue's
 * tail before the completion), and what that queues, a few rounds, if
 * nothing older waits and no AFTER_POLL hook must run first. For fd
 * callbacks; the caller must not touch what the callbacks may free. */
void loom__loop_run_completion(loom_loop *loop, uint64_t mark);

/* loom_loop_run, until until(loop, arg) holds (checked before each
 * iteration; NULL: until stopped). 0, or a negative errno. */
int loom__loop_run(loom_loop *loop, bool (*until)(loom_loop *loop, void *arg), void *arg);

/* loom_fd_unwatch without the closed check, for the loop's members: their
 * shutdown runs on the closed loop, and their watches must go before close
 * reports what is left as dropped. On the owner thread; 0 or -ENOENT (also
 * once the fd table is gone). */
int loom__fd_unwatch(loom_loop *loop, int fd);

/* A callback on fd for loom_fd_wait that shares the fd with any watch: a
 * loom_fd_watch of its own while the fd has no other, which yields (becomes
 * the tap) when a reader, writer or watch is added; or the tap of the
 * fd's existing watch. A tap gets the events of its interest (HUP/ERR with
 * them) after the watch's own callbacks. drop(data) runs once when it goes:
 * loom__fd_tap_set(.., 0), or the watch it rides on went. 0, or
 * loom_fd_watch's errors, -EBADF (the watch is suspended), -EEXIST (a tap
 * is there already). */
int loom__fd_tap(loom_loop *loop, int fd, unsigned events, loom_fd_callback cb, void *data, loom_destroy_fn drop);
/* The interest of fd's loom__fd_tap callback; 0 removes it (drop runs).
 * Works on the closed loop, like loom__fd_unwatch. 0, -ENOENT, -EBADF or
 * the backend's error. */
int loom__fd_tap_set(loom_loop *loop, int fd, unsigned events);
/* For loom_loop_dump: the tap on e (its callback, data and interest), or
 * false if e has none. */
bool loom__fd_tap_get(const struct fd_entry *e, loom_fd_callback *cb, void **data, unsigned *interest);

static inline void loop_member_add(loom_loop *loop, struct loop_member *m)
{
    list_push_back(&loop->members[m->ops->phase], &m->node);
}
static inline void loop_member_remove(loom_loop *loop, struct loop_member *m)
{
    list_unlink(&loop->members[m->ops->phase], &m->node);
}

/* dump.c: prints fn's name if it is an exported symbol, else its address. */
void loom__dump_function(FILE *out, const void *fn);

/* hooks.c: runs the hooks of kind (hooks_run checks first that there are any). */
void loom__hooks_run_kind(loom_loop *loop, loom_hook_kind kind);

/* Inline: an empty kind costs one test on every tick. */
static inline void hooks_run(loom_loop *loop, loom_hook_kind kind)
{
    if (loop->hooks.live[kind])
        loom__hooks_run_kind(loop, kind);
}

/* At close: runs the CLOSE hooks (the loop still open), then ... */
void loom__hooks_close(loom_loop *loop);
/* ... after everything else went: destroys the remaining hooks and the data. */
void loom__hooks_fini(loom_loop *loop);

/* Internal references: they keep the loop's memory, not the loop open.
 * Inline: every future takes one, and an atomic operation cost more than
 * the rest of a short-lived future's hold and release. */
#define HOLDS_BIAS (1 << 30)
static inline bool loop_holds_local(const loom_loop *loop)
{
    return loop_on_owner_thread(loop) && !loop->holds_merged;
}
static inline void loom__loop_hold(loom_loop *loop)
{
    if (loop_holds_local(loop))
        loop->owner_holds++;
    else
        atomic_fetch_add_explicit(&loop->holds, 1, memory_order_relaxed);
}
static inline void loom__loop_release(loom_loop *loop)
{
    if (loop_holds_local(loop))
        loop->owner_holds--;
    else if (atomic_fetch_sub_explicit(&loop->holds, 1, memory_order_acq_rel) == 0)
        free(loop);
}
/* At close, on the owner thread or in a forked child: the owner's holds
 * join the others' (after it, every hold is counted in holds). */
static inline void loop_holds_merge(loom_loop *loop)
{
    atomic_fetch_add_explicit(&loop->holds, loop->owner_holds - HOLDS_BIAS, memory_order_acq_rel);
    loop->holds_merged = true;
}



/* fd.c: where the loop's fd watches go (see fd_ops), and their release */
void loom__fd_table_open(loom_loop *loop);
void loom__fd_table_close(loom_loop *loop);
/* After a tick that followed a full batch from a one-fd host's set (see
 * fd_set_full): the next batch, which loom_backend_tick then ticks. */
void loom__fd_set_next(loom_loop *loop);

/* wake.c: the core's eventfd (or pipe) for backends without a wakeup */
int loom__wake_open(int fds[2]);
void loom__wake_signal(const int fds[2]);
void loom__wake_drain(const int fds[2]);
void loom__wake_close(int fds[2]);

#endif
