/* API-sequence fuzzer: each input is a program of operations on loom's public
 * API (callbacks, timers, fd watches, futures and combinators, tasks, sync
 * primitives, nested runs, close), checked against a model of what must
 * happen. A violation aborts with "model:" and the rule; leaks are left to
 * LeakSanitizer.
 *
 * Rules checked: every scheduled callback runs exactly once unless cancelled;
 * call_soon callbacks run in the order they were scheduled, call_at timers in
 * (deadline, scheduling) order; no timer or sleep ends early; no fd callback
 * after its removal or its fd's close; every on_done callback runs once, after
 * its future is done; combinators complete consistently with their inputs;
 * every task's function returns once; at the end the lock is free, every
 * semaphore permit is back, every channel item is destroyed exactly once.
 *
 * Input layout: byte 0 picks the backend, then one opcode byte per operation
 * followed by its argument bytes (missing bytes read as 0). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <loom/loom.h>

#define MS 1000000LL
#define CHECK(cond) ((cond) ? (void)0 : model_violation(#cond, __LINE__))

enum { MAX_OPS = 200, MAX_CALLS = 64, MAX_REGS = 64, MAX_PAIRS = 6, MAX_FUTURES = 24,
       MAX_DONE = 64, MAX_TASKS = 16, TASK_STEPS = 4, SEM_PERMITS = 2 };

static void model_violation(const char *rule, int line)
{
    fprintf(stderr, "model: %s (fuzz-api.c:%d)\n", rule, line);
    abort();
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct input {
    const uint8_t *p;
    size_t n;
};

/* The next input byte modulo bound (0 once the input is exhausted). */
static unsigned take(struct input *in, unsigned bound)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++ % bound;
}

/* --- the model's state (one input at a time) ---------------------------------------------- */

enum call_kind { CALL_SOON, CALL_LATER, CALL_AT };
enum call_state { CALL_PENDING = 1, CALL_RAN, CALL_CANCELLED };

struct call {
    enum call_kind kind;
    enum call_state state;
    loom_handle handle;
    int64_t due;  /* never earlier than this */
    uint64_t seq; /* scheduling order */
    bool nest;    /* runs one nested iteration of the loop */
};

/* One fd registration (never reused within an input, so a stale call is seen). */
struct reg {
    int fd;
    bool active;
    bool writer;
    bool orphan; /* its fd was closed without removing it (see on_fd) */
    int orphan_calls;
};

/* loop.h: loom checks a watched file every 64th event (and at every add on
 * its number), so a watch whose fd was closed and its number reused may see
 * the new file's events until then; the call that finds it out has LOOM_ERR. */
#define ORPHAN_CALLS_MAX 64

struct pair {
    int fd, peer; /* -1 once closed */
    struct reg *reader, *writer;
};

struct done_cb {
    loom_future *future; /* a reference, for the checks */
    int ran;
};

enum combinator { COMB_NONE, COMB_ALL, COMB_ANY, COMB_TIMEOUT };

/* A future of the pool, with what its result must agree with. */
struct fut {
    loom_future *f;
    bool plain; /* made by loom_future_new: the fuzzer may complete it */
    enum combinator comb;
    loom_future *inputs[3];
    size_t n_inputs;
    int64_t created, timeout;
};

enum step { STEP_SLEEP, STEP_YIELD, STEP_LOCK, STEP_SEM, STEP_SEND, STEP_RECV, STEP_AWAIT, N_STEPS };

struct task {
    uint8_t steps[TASK_STEPS], args[TASK_STEPS];
    loom_future *awaited[TASK_STEPS]; /* references taken at spawn */
    int at; /* the step running now */
    int returned;
};

static struct model {
    loom_loop *loop;
    bool closed;
    int nesting;
    uint64_t seq, last_soon_seq;
    struct call calls[MAX_CALLS];
    size_t n_calls;
    struct reg regs[MAX_REGS];
    size_t n_regs;
    struct pair pairs[MAX_PAIRS];
    size_t n_pairs;
    struct fut futs[MAX_FUTURES];
    size_t n_futs;
    struct done_cb dones[MAX_DONE];
    size_t n_dones;
    struct task tasks[MAX_TASKS];
    size_t n_tasks;
    loom_lock *lock;
    int lock_holders;
    loom_semaphore *sem;
    int permits_held;
    loom_channel *chan;
    unsigned items_made, items_destroyed;
} m;

static void ignore_report(loom_loop *loop, int err, const char *msg, void *data) {}

/* --- callbacks and timers ----------------------------------------------------------------- */

/* Whether a call_at timer that should have run before c is still pending. */
static bool earlier_timer_pending(const struct call *c)
{
    for (size_t i = 0; i < m.n_calls; i++) {
        const struct call *o = &m.calls[i];
        if (o != c && o->kind == CALL_AT && o->state == CALL_PENDING &&
            (o->due < c->due || (o->due == c->due && o->seq < c->seq)))
            return true;
    }
    return false;
}

static void on_call(loom_loop *loop, void *data)
{
    struct call *c = data;

    CHECK(c->state == CALL_PENDING);
    CHECK(now_ns() >= c->due);
    if (c->kind == CALL_SOON) {
        CHECK(c->seq > m.last_soon_seq);
        m.last_soon_seq = c->seq;
    }
    if (c->kind == CALL_AT)
        CHECK(!earlier_timer_pending(c));
    c->state = CALL_RAN;
    if (c->nest && m.nesting < 2 && loom_loop_can_nest(loop)) {
        m.nesting++;
        CHECK(loom_loop_run_once(loop, false) == 0);
        m.nesting--;
    }
}

static void op_schedule(struct input *in)
{
    if (m.n_calls == MAX_CALLS)
        return;
    struct call *c = &m.calls[m.n_calls];
    int64_t delay = take(in, 4) * MS / 2;
    int r;

    *c = (struct call){.kind = take(in, 3), .seq = ++m.seq, .nest = take(in, 4) == 0};
    c->due = loom_loop_now(m.loop);
    if (c->kind == CALL_SOON) {
        r = loom_call_soon(m.loop, on_call, c, &c->handle);
    } else if (c->kind == CALL_LATER) {
        c->due += delay;
        r = loom_call_later(m.loop, delay, on_call, c, &c->handle);
    } else {
        c->due += delay;
        r = loom_call_at(m.loop, c->due, on_call, c, &c->handle);
    }
    CHECK(r == (m.closed ? -ESHUTDOWN : 0));
    if (r == 0) {
        c->state = CALL_PENDING;
        m.n_calls++;
    }
}

static void op_cancel_call(struct input *in)
{
    if (m.n_calls == 0)
        return;
    struct call *c = &m.calls[take(in, m.n_calls)];
    int r = loom_cancel(m.loop, c->handle);

    if (m.closed)
        return;
    CHECK(r == (c->state == CALL_PENDING ? 0 : -ENOENT));
    if (r == 0)
        c->state = CALL_CANCELLED;
}

/* --- fd watches --------------------------------------------------------------------------- */

/* Whether fd is one of the fuzzer's open sockets now. */
static bool fd_in_use(int fd)
{
    for (size_t i = 0; i < m.n_pairs; i++)
        if (m.pairs[i].fd == fd || m.pairs[i].peer == fd)
            return true;
    return false;
}

static void on_fd(loom_loop *loop, int fd, unsigned events, void *data)
{
    struct reg *r = data;
    char buf[64];

    CHECK(r->fd == fd);
    if (r->orphan) {
        /* Another file's events, not read: its data is not this watch's. */
        if (!(events & LOOM_ERR)) {
            CHECK(fd_in_use(fd) && ++r->orphan_calls < ORPHAN_CALLS_MAX);
            return;
        }
        r->orphan = false;
        (void)(r->writer ? loom_remove_writer(loop, fd) : loom_remove_reader(loop, fd));
        return;
    }
    if (!r->active)
        fprintf(stderr, "model: dead %s of fd %d called for fd %d, events %#x\n",
                r->writer ? "writer" : "reader", r->fd, fd, events);
    CHECK(r->active);
    /* loop.h: HUP comes with the watched event (ERR may come alone). */
    CHECK(events & (LOOM_ERR | (r->writer ? LOOM_WRITE : LOOM_READ)));
    if (r->writer) {
        /* One-shot: a writable socket would fire on every iteration. */
        r->active = false;
        CHECK(loom_remove_writer(loop, fd) == 0);
        return;
    }
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n == 0 || (n < 0 && errno != EAGAIN)) {
        r->active = false; /* EOF or error: nothing more to read */
        CHECK(loom_remove_reader(loop, fd) == 0);
    }
}

static struct pair *pick_open_pair(struct input *in)
{
    if (m.n_pairs == 0)
        return NULL;
    struct pair *p = &m.pairs[take(in, m.n_pairs)];
    return p->fd >= 0 ? p : NULL;
}

static void op_open_pair(struct input *in)
{
    int sv[2];

    if (m.n_pairs == MAX_PAIRS ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        return;
    m.pairs[m.n_pairs++] = (struct pair){.fd = sv[0], .peer = sv[1]};
}

static void op_watch(struct input *in)
{
    struct pair *p = pick_open_pair(in);
    bool writer = take(in, 2);
    struct reg **slot = p ? (writer ? &p->writer : &p->reader) : NULL;

    if (!p || *slot || m.n_regs == MAX_REGS)
        return;
    struct reg *r = &m.regs[m.n_regs++];
    *r = (struct reg){.fd = p->fd, .writer = writer};
    int ret = writer ? loom_add_writer(m.loop, p->fd, on_fd, r)
                     : loom_add_reader(m.loop, p->fd, on_fd, r);
    /* -EEXIST: a dead watch of a closed fd with this number (see op_close_fd). */
    CHECK(ret == 0 || m.closed || ret == -EEXIST);
    r->active = ret == 0;
    if (ret == 0)
        *slot = r;
}

static void op_unwatch(struct input *in)
{
    struct pair *p = pick_open_pair(in);
    bool writer = take(in, 2);
    struct reg **slot = p ? (writer ? &p->writer : &p->reader) : NULL;

    if (!slot || !*slot)
        return;
    int ret = writer ? loom_remove_writer(m.loop, p->fd) : loom_remove_reader(m.loop, p->fd);
    if (!m.closed)
        CHECK(ret == ((*slot)->active ? 0 : -ENOENT));
    (*slot)->active = false;
    *slot = NULL;
}

static void op_poke(struct input *in)
{
    struct pair *p = pick_open_pair(in);

    if (!p || p->peer < 0)
        return;
    if (take(in, 4) == 0) {
        close(p->peer); /* the reader sees EOF */
        p->peer = -1;
    } else {
        (void)!write(p->peer, "x", 1);
    }
}

static void remove_watches(int fd, struct reg *const regs[2])
{
    if (regs[0])
        (void)loom_remove_reader(m.loop, fd);
    if (regs[1])
        (void)loom_remove_writer(m.loop, fd);
}

/* Closes a watched fd: remove then close, close then remove, or close and
 * never remove. Whatever socket gets the number next, the old callbacks are
 * dead from the close on. */
static void op_close_fd(struct input *in)
{
    struct pair *p = pick_open_pair(in);
    unsigned how = take(in, 3);

    if (!p)
        return;
    struct reg *regs[2] = {p->reader, p->writer};
    if (how == 0)
        remove_watches(p->fd, regs);
    for (int i = 0; i < 2; i++)
        if (regs[i]) {
            regs[i]->orphan = how == 2 && regs[i]->active;
            regs[i]->active = false;
        }
    close(p->fd);
    if (how == 1)
        remove_watches(p->fd, regs);
    p->reader = p->writer = NULL;
    p->fd = -1;
}

/* --- futures and combinators -------------------------------------------------------------- */

static struct fut *add_future(loom_future *f, int64_t created)
{
    if (!f)
        return NULL;
    if (m.n_futs == MAX_FUTURES) {
        loom_future_cancel(f);
        loom_future_unref(f);
        return NULL;
    }
    struct fut *x = &m.futs[m.n_futs++];
    *x = (struct fut){.f = f, .created = created};
    return x;
}

static loom_future *pick_future(struct input *in)
{
    return m.n_futs ? m.futs[take(in, m.n_futs)].f : NULL;
}

static void op_new_future(struct input *in)
{
    loom_future *f = loom_future_new(m.loop);
    CHECK(f != NULL || m.closed);
    struct fut *x = add_future(f, 0);
    if (x)
        x->plain = true;
}

/* Resolves, fails or cancels a future; tasks and combinator results are only
 * ever cancelled. */
static void op_complete(struct input *in)
{
    struct fut *x = m.n_futs ? &m.futs[take(in, m.n_futs)] : NULL;
    unsigned how = take(in, 3);

    if (!x)
        return;
    loom_future *f = x->f;
    bool was_done = loom_future_done(f);
    if (how == 2 || !x->plain) {
        CHECK(loom_future_cancel(f) == !was_done);
        return;
    }
    int r = how == 0 ? loom_future_resolve_int(f, take(in, 8)) : loom_future_fail(f, -EIO, "fuzz");
    if (!m.closed)
        CHECK(r == (was_done ? -EINVAL : 0));
}

static void on_done(loom_future *f, void *data)
{
    struct done_cb *d = data;

    CHECK(d->ran == 0);
    CHECK(f == d->future);
    CHECK(loom_future_done(f));
    d->ran++;
}

static void op_on_done(struct input *in)
{
    loom_future *f = pick_future(in);

    if (!f || m.n_dones == MAX_DONE)
        return;
    struct done_cb *d = &m.dones[m.n_dones];
    *d = (struct done_cb){.future = loom_future_ref(f)};
    if (loom_future_on_done(f, on_done, d) == 0)
        m.n_dones++;
    else
        loom_future_unref(f);
}

/* Checks a combinator's result against its inputs once it is done. */
static void on_combinator_done(loom_future *f, void *data)
{
    const struct fut *x = data;
    loom_future_state st = loom_future_state_get(f);
    bool some_not_resolved = false;

    for (size_t i = 0; i < x->n_inputs; i++)
        some_not_resolved |= loom_future_state_get(x->inputs[i]) != LOOM_FUTURE_RESOLVED;
    switch (x->comb) {
    case COMB_ALL:
        CHECK(st == LOOM_FUTURE_RESOLVED ? !some_not_resolved
                                         : some_not_resolved || st == LOOM_FUTURE_CANCELLED);
        break;
    case COMB_ANY:
        if (st == LOOM_FUTURE_RESOLVED) {
            int64_t w = loom_future_value_int(f);
            CHECK(w >= 0 && (size_t)w < x->n_inputs);
            CHECK(loom_future_state_get(x->inputs[w]) == LOOM_FUTURE_RESOLVED);
        }
        break;
    case COMB_TIMEOUT:
        /* Its own deadline, not an input that timed out itself. */
        if (st == LOOM_FUTURE_FAILED && loom_future_status(f) == -ETIMEDOUT &&
            loom_future_status(x->inputs[0]) != -ETIMEDOUT)
            CHECK(now_ns() - x->created >= x->timeout);
        if (st == LOOM_FUTURE_RESOLVED)
            CHECK(loom_future_state_get(x->inputs[0]) == LOOM_FUTURE_RESOLVED);
        break;
    case COMB_NONE:
        break;
    }
}

static void op_combinator(struct input *in)
{
    enum combinator comb = 1 + take(in, 3);
    loom_future *inputs[3];
    size_t n = comb == COMB_TIMEOUT ? 1 : 1 + take(in, 3);
    int64_t timeout = take(in, 4) * MS / 2, start = now_ns();

    for (size_t i = 0; i < n; i++)
        if (!(inputs[i] = pick_future(in)))
            return;
    loom_future *f = comb == COMB_ALL   ? loom_future_all(m.loop, inputs, n)
                     : comb == COMB_ANY ? loom_future_any(m.loop, inputs, n)
                                        : loom_future_timeout(inputs[0], timeout);
    struct fut *x = add_future(f, start);
    if (!x)
        return;
    x->comb = comb;
    x->timeout = timeout;
    x->n_inputs = n;
    for (size_t i = 0; i < n; i++)
        x->inputs[i] = loom_future_ref(inputs[i]);
    CHECK(loom_future_on_done(f, on_combinator_done, x) == 0 || m.closed);
}

/* then's function: chains to the future chosen when the chain was made. */
static loom_future *then_fn(loom_future *f, void *data)
{
    loom_future *next = data;
    if (!next) {
        errno = ENOENT;
        return NULL;
    }
    return loom_future_ref(next);
}

static void op_then(struct input *in)
{
    loom_future *f = pick_future(in);
    /* The chained-to future is borrowed: pool futures live until the end. */
    loom_future *next = take(in, 3) ? pick_future(in) : NULL;

    if (f)
        add_future(loom_future_then(f, then_fn, next), 0);
}

/* --- tasks and sync primitives ------------------------------------------------------------ */

static void destroy_item(void *value)
{
    m.items_destroyed++;
    free(value);
}

/* Awaits an acquire and, if it was granted, holds it over a yield. */
static void hold(loom_future *acquire, int *holders, int limit, bool lock)
{
    if (!acquire)
        return;
    int r = loom_await(acquire);
    loom_future_unref(acquire);
    if (r != 0)
        return;
    ++*holders;
    CHECK(*holders <= limit);
    loom_yield();
    --*holders;
    r = lock ? loom_lock_release(m.lock) : loom_semaphore_release(m.sem);
    CHECK(r == 0 || (m.closed && r == -ESHUTDOWN));
}

static void run_step(struct task *t, int i)
{
    switch (t->steps[i]) {
    case STEP_SLEEP: {
        int64_t ns = t->args[i] % 4 * MS / 2, start = now_ns();
        if (loom_sleep(ns) == 0)
            CHECK(now_ns() - start >= ns);
        break;
    }
    case STEP_YIELD:
        loom_yield();
        break;
    case STEP_LOCK:
        hold(loom_lock_acquire(m.lock), &m.lock_holders, 1, true);
        break;
    case STEP_SEM:
        hold(loom_semaphore_acquire(m.sem), &m.permits_held, SEM_PERMITS, false);
        break;
    case STEP_SEND: {
        loom_future *f = loom_channel_send(m.chan, malloc(1), destroy_item);
        m.items_made++;
        if (f) {
            loom_await(f);
            loom_future_unref(f);
        }
        break;
    }
    case STEP_RECV: {
        loom_future *f = loom_channel_receive(m.chan);
        loom_destroy_fn destroy;
        if (f && loom_await(f) == 0) {
            void *item = loom_future_steal_value(f, &destroy);
            CHECK(item != NULL && destroy == destroy_item);
            destroy(item);
        }
        if (f)
            loom_future_unref(f);
        break;
    }
    case STEP_AWAIT:
        if (t->awaited[i])
            loom_await(t->awaited[i]);
        break;
    }
}

static int task_body(void *arg)
{
    struct task *t = arg;

    for (t->at = 0; t->at < TASK_STEPS; t->at++)
        run_step(t, t->at);
    CHECK(t->returned == 0);
    t->returned++;
    return 0;
}

static void op_spawn(struct input *in)
{
    if (m.n_tasks == MAX_TASKS)
        return;
    struct task *t = &m.tasks[m.n_tasks];
    *t = (struct task){0};
    for (int i = 0; i < TASK_STEPS; i++) {
        t->steps[i] = take(in, N_STEPS);
        t->args[i] = take(in, 256);
        if (t->steps[i] == STEP_AWAIT && m.n_futs)
            t->awaited[i] = loom_future_ref(m.futs[t->args[i] % m.n_futs].f);
    }
    loom_future *f = loom_task_spawn(m.loop, task_body, t);
    CHECK(f != NULL || m.closed);
    if (f) {
        m.n_tasks++;
        add_future(f, 0);
    } else {
        for (int i = 0; i < TASK_STEPS; i++)
            if (t->awaited[i])
                loom_future_unref(t->awaited[i]);
    }
}

/* --- running and the end of an input ------------------------------------------------------ */

static void op_run(struct input *in)
{
    unsigned n = 1 + take(in, 4);
    for (unsigned i = 0; i < n; i++)
        CHECK(loom_loop_run_once(m.loop, false) == (m.closed ? -ESHUTDOWN : 0));
}

/* Whether everything scheduled has run; if not, and verbose, says what has not. */
static bool settled(bool verbose)
{
    bool done = true;

    for (size_t i = 0; i < m.n_calls; i++)
        if (m.calls[i].state == CALL_PENDING) {
            done = false;
            if (verbose)
                fprintf(stderr, "model: callback %zu (kind %d) never ran\n", i, m.calls[i].kind);
        }
    for (size_t i = 0; i < m.n_dones; i++)
        if (!m.dones[i].ran) {
            done = false;
            if (verbose)
                fprintf(stderr, "model: on_done %zu never ran (future state %d)\n", i,
                        loom_future_state_get(m.dones[i].future));
        }
    for (size_t i = 0; i < m.n_tasks; i++)
        if (!m.tasks[i].returned) {
            done = false;
            if (verbose)
                fprintf(stderr, "model: task %zu never returned (in step %d, kind %d)\n", i,
                        m.tasks[i].at, m.tasks[i].steps[m.tasks[i].at]);
        }
    if (!done && verbose)
        fprintf(stderr, "model: lock %s, held by %d tasks; %u permits, %d held\n",
                loom_lock_locked(m.lock) ? "locked" : "free", m.lock_holders,
                loom_semaphore_value(m.sem), m.permits_held);
    return done;
}

/* Cancels every future and closes the channel (a receive nobody feeds would
 * wait forever), then runs until all that was scheduled has run: timers are
 * at most 1.5 ms away, so 2 s means something was lost. */
static void settle(void)
{
    loom_channel_close(m.chan);
    for (size_t i = 0; i < m.n_futs; i++)
        loom_future_cancel(m.futs[i].f);
    int64_t limit = now_ns() + 2000 * MS;
    while (!settled(false) && now_ns() < limit)
        CHECK(loom_loop_run_once(m.loop, false) == 0);
    CHECK(settled(true));
    CHECK(m.lock_holders == 0 && !loom_lock_locked(m.lock));
    CHECK(m.permits_held == 0 && loom_semaphore_value(m.sem) == SEM_PERMITS);
}

static void teardown(void)
{
    if (!m.closed) {
        m.closed = true; /* the tasks it resumes see a closed loop */
        CHECK(loom_loop_close(m.loop) == 0);
    }
    /* Closing resumes every task: each function has returned now. */
    for (size_t i = 0; i < m.n_tasks; i++) {
        CHECK(m.tasks[i].returned == 1);
        for (int s = 0; s < TASK_STEPS; s++)
            if (m.tasks[i].awaited[s])
                loom_future_unref(m.tasks[i].awaited[s]);
    }
    for (size_t i = 0; i < m.n_dones; i++)
        loom_future_unref(m.dones[i].future);
    for (size_t i = 0; i < m.n_futs; i++) {
        for (size_t k = 0; k < m.futs[i].n_inputs; k++)
            loom_future_unref(m.futs[i].inputs[k]);
        loom_future_unref(m.futs[i].f);
    }
    for (size_t i = 0; i < m.n_pairs; i++) {
        if (m.pairs[i].fd >= 0)
            close(m.pairs[i].fd);
        if (m.pairs[i].peer >= 0)
            close(m.pairs[i].peer);
    }
    loom_lock_unref(m.lock);
    loom_semaphore_unref(m.sem);
    loom_channel_unref(m.chan);
    CHECK(m.items_destroyed == m.items_made);
    loom_loop_unref(m.loop);
    memset(&m, 0, sizeof(m)); /* a pointer kept here would hide a leak from LeakSanitizer */
}

static void op_close(struct input *in)
{
    if (!m.closed) {
        m.closed = true;
        CHECK(loom_loop_close(m.loop) == 0);
    }
}

#define OP(fn) {fn, #fn}
static const struct op {
    void (*fn)(struct input *in);
    const char *name;
} ops[] = {
    OP(op_schedule), OP(op_schedule), OP(op_cancel_call), OP(op_run), OP(op_open_pair),
    OP(op_watch), OP(op_unwatch), OP(op_poke), OP(op_close_fd), OP(op_new_future),
    OP(op_complete), OP(op_on_done), OP(op_combinator), OP(op_then), OP(op_spawn), OP(op_close),
};

/* Runs one operation; LOOM_FUZZ_TRACE=1 prints it with the argument bytes it
 * took, to read a crash input. */
static void run_op(struct input *in, bool trace)
{
    const struct op *op = &ops[take(in, sizeof(ops) / sizeof(ops[0]))];
    const uint8_t *args = in->p;

    op->fn(in);
    if (!trace)
        return;
    fprintf(stderr, "fuzz: %s", op->name);
    for (; args < in->p; args++)
        fprintf(stderr, " %u", *args);
    fprintf(stderr, "\n");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};
    static const char *const backends[] = {"epoll", "poll"};

    memset(&m, 0, sizeof(m));
    if (loom_loop_new(&m.loop, backends[take(&in, 2)]) < 0)
        abort();
    loom_loop_set_error_handler(m.loop, ignore_report, NULL);
    m.lock = loom_lock_new(m.loop);
    m.sem = loom_semaphore_new(m.loop, SEM_PERMITS, SEM_PERMITS);
    m.chan = loom_channel_new(m.loop, 1);
    if (!m.lock || !m.sem || !m.chan)
        abort();
    bool trace = getenv("LOOM_FUZZ_TRACE") != NULL;
    for (int i = 0; i < MAX_OPS && in.n > 0; i++)
        run_op(&in, trace);
    if (!m.closed)
        settle();
    teardown();
    return 0;
}
