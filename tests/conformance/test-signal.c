/* loom conformance suite — signals: delivered once each on the loop's
 * thread, a signal raised during its callback makes another call, a handler
 * installed before loom's is chained and restored, the default disposition
 * comes back on unwatch and at close, argument errors. */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <loom/signal.h>
#include "fixture.h"
#include "suites.h"

typedef struct sig_probe {
    int calls;
    unsigned count;
    int signo;
    pthread_t thread;
    int stop_after;  /* calls after which the loop stops */
    int raise_again; /* raise the signal again from this many first calls */
    bool destroyed;
} sig_probe;

static void on_signal(loom_loop *loop, int signo, unsigned count, void *data)
{
    sig_probe *p = data;

    p->calls++;
    p->count += count;
    p->signo = signo;
    p->thread = pthread_self();
    if (p->raise_again-- > 0)
        raise(signo); /* during the callback: must not be lost */
    if (p->calls == p->stop_after)
        loom_loop_stop(loop);
}

static void probe_destroy(void *data)
{
    ((sig_probe *)data)->destroyed = true;
}

/* Check's runner installs handlers for SIGINT and SIGTERM that the test
 * child inherits (and loom would chain to them): start from SIG_DFL. */
static void set_default(int signo)
{
    struct sigaction dfl = {.sa_handler = SIG_DFL};

    sigemptyset(&dfl.sa_mask);
    ck_assert_int_eq(sigaction(signo, &dfl, NULL), 0);
}

/* The disposition of signo now. */
static struct sigaction disposition(int signo)
{
    struct sigaction sa;

    ck_assert_int_eq(sigaction(signo, NULL, &sa), 0);
    return sa;
}

START_TEST(test_signal_delivered_once_each)
{
    loom_loop *loop = host_loop_new();
    sig_probe usr1 = {.stop_after = -1}, usr2 = {.stop_after = 1};

    ck_assert_int_eq(loom_signal_watch(loop, SIGUSR1, on_signal, &usr1, NULL), 0);
    ck_assert_int_eq(loom_signal_watch(loop, SIGUSR2, on_signal, &usr2, NULL), 0);
    ck_assert_int_eq(raise(SIGUSR1), 0);
    ck_assert_int_eq(raise(SIGUSR2), 0);
    ck_assert_int_eq(usr1.calls + usr2.calls, 0); /* never inside the handler */
    fixture_run(loop, 2000, "SIGUSR2 reported");
    fixture_settle(loop);
    ck_assert_int_eq(usr1.calls, 1);
    ck_assert_int_eq(usr1.count, 1);
    ck_assert_int_eq(usr1.signo, SIGUSR1);
    ck_assert_int_eq(usr2.calls, 1);
    ck_assert_int_eq(usr2.count, 1);
    ck_assert_int_eq(usr2.signo, SIGUSR2);
    ck_assert(pthread_equal(usr1.thread, pthread_self()));
    ck_assert_int_eq(loom_signal_unwatch(loop, SIGUSR1), 0);
    ck_assert_int_eq(loom_signal_unwatch(loop, SIGUSR2), 0);
    fixture_free_loop(loop);
}
END_TEST

START_TEST(test_signal_during_callback_not_lost)
{
    loom_loop *loop = host_loop_new();
    sig_probe p = {.stop_after = 3, .raise_again = 2};

    set_default(SIGTERM);

    ck_assert_int_eq(loom_signal_watch(loop, SIGTERM, on_signal, &p, NULL), 0);
    ck_assert_int_eq(raise(SIGTERM), 0);
    fixture_run(loop, 2000, "SIGTERM raised from its callback reported");
    ck_assert_int_eq(p.calls, 3);
    ck_assert_int_eq(p.count, 3);
    ck_assert_int_eq(loom_signal_unwatch(loop, SIGTERM), 0);
    fixture_free_loop(loop);
}
END_TEST

static atomic_int prior_calls;

static void prior_handler(int signo)
{
    atomic_fetch_add(&prior_calls, 1);
}

START_TEST(test_signal_chains_prior_handler)
{
    loom_loop *loop = host_loop_new();
    sig_probe p = {.stop_after = 1};
    struct sigaction prior = {.sa_handler = prior_handler};

    atomic_store(&prior_calls, 0);
    sigemptyset(&prior.sa_mask);
    ck_assert_int_eq(sigaction(SIGHUP, &prior, NULL), 0);
    ck_assert_int_eq(loom_signal_watch(loop, SIGHUP, on_signal, &p, NULL), 0);
    ck_assert_int_eq(raise(SIGHUP), 0);
    ck_assert_int_eq(atomic_load(&prior_calls), 1); /* chained, in the handler */
    fixture_run(loop, 2000, "SIGHUP reported");
    ck_assert_int_eq(p.calls, 1);
    ck_assert_int_eq(loom_signal_unwatch(loop, SIGHUP), 0);
    ck_assert(disposition(SIGHUP).sa_handler == prior_handler);
    ck_assert_int_eq(raise(SIGHUP), 0);
    ck_assert_int_eq(atomic_load(&prior_calls), 2);
    fixture_settle(loop);
    ck_assert_int_eq(p.calls, 1);
    fixture_free_loop(loop);
    set_default(SIGHUP); /* for the next test under CK_FORK=no */
}
END_TEST

START_TEST(test_signal_unwatch_restores_default)
{
    loom_loop *loop = host_loop_new();
    sig_probe p = {0};

    set_default(SIGINT);
    ck_assert_int_eq(loom_signal_watch(loop, SIGINT, on_signal, &p, probe_destroy), 0);
    ck_assert(disposition(SIGINT).sa_handler != SIG_DFL);
    ck_assert_int_eq(loom_signal_unwatch(loop, SIGINT), 0);
    ck_assert(p.destroyed);
    ck_assert(disposition(SIGINT).sa_handler == SIG_DFL);
    ck_assert_int_eq(loom_signal_unwatch(loop, SIGINT), -ENOENT);
    fixture_free_loop(loop);
}
END_TEST

/* Closing the loop removes its watches: destroy runs, SIG_IGN comes back. */
START_TEST(test_signal_close_restores_ignore)
{
    loom_loop *loop = host_loop_new();
    sig_probe p = {0};
    struct sigaction ign = {.sa_handler = SIG_IGN};

    sigemptyset(&ign.sa_mask);
    ck_assert_int_eq(sigaction(SIGUSR1, &ign, NULL), 0);
    ck_assert_int_eq(loom_signal_watch(loop, SIGUSR1, on_signal, &p, probe_destroy), 0);
    fixture_free_loop(loop);
    ck_assert(p.destroyed);
    ck_assert(disposition(SIGUSR1).sa_handler == SIG_IGN);
    set_default(SIGUSR1);
}
END_TEST

START_TEST(test_signal_errors)
{
    loom_loop *loop = host_loop_new();
    sig_probe p = {0};

    ck_assert_int_eq(loom_signal_watch(loop, SIGKILL, on_signal, &p, NULL), -EINVAL);
    ck_assert_int_eq(loom_signal_watch(loop, SIGSEGV, on_signal, &p, NULL), -EINVAL);
    ck_assert_int_eq(loom_signal_watch(loop, 0, on_signal, &p, NULL), -EINVAL);
    ck_assert_int_eq(loom_signal_watch(loop, SIGUSR1, NULL, &p, NULL), -EINVAL);
    ck_assert_int_eq(loom_signal_unwatch(loop, SIGUSR1), -ENOENT);
    ck_assert_int_eq(loom_signal_watch(loop, SIGUSR1, on_signal, &p, probe_destroy), 0);
    ck_assert_int_eq(loom_signal_watch(loop, SIGUSR1, on_signal, &p, NULL), -EEXIST);
    ck_assert(!p.destroyed);
    ck_assert_int_eq(loom_loop_close(loop), 0);
    ck_assert(p.destroyed);
    ck_assert_int_eq(loom_signal_watch(loop, SIGUSR2, on_signal, &p, NULL), -ESHUTDOWN);
    ck_assert_int_eq(loom_signal_unwatch(loop, SIGUSR1), -ESHUTDOWN);
    loom_loop_unref(loop);
}
END_TEST

Suite *signal_suite(void)
{
    Suite *s = suite_create("signal");
    TCase *tc = fixture_tcase(s, "signal");

    tcase_add_test(tc, test_signal_delivered_once_each);
    tcase_add_test(tc, test_signal_during_callback_not_lost);
    tcase_add_test(tc, test_signal_chains_prior_handler);
    tcase_add_test(tc, test_signal_unwatch_restores_default);
    tcase_add_test(tc, test_signal_close_restores_ignore);
    tcase_add_test(tc, test_signal_errors);
    return s;
}
