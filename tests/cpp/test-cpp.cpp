/* loom/loom.hpp on one backend (the host file linked in): RAII reference
 * counts, lambdas destroyed exactly once, co_await on resolve/fail/cancel,
 * coroutines and fiber tasks awaiting each other, many coroutines, and loop
 * close with suspended coroutines. Each test runs in a forked child. */
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>
#include <check.h>
#undef fail /* Check's deprecated macro, a method name here */
extern "C" {
#include "../conformance/host.h"
}
#include <loom/loom.hpp>

namespace {

/* Counts its live copies, so a test sees every copy a lambda captured go. */
struct counted {
    static int live;
    counted() { live++; }
    counted(const counted &) { live++; }
    ~counted() { live--; }
};
int counted::live;

loom::loop new_loop()
{
    return loom::loop(host_loop_new(), loom::adopt);
}

/* loop.run_until with a bound, so that a hang fails the test. */
int run_until(const loom::loop &loop, const loom::future &f, const char *what)
{
    loom_handle dog = 0;
    ck_assert_int_eq(loop.call_later(LOOM_SEC(10), [what] { ck_abort_msg("%s: not done after 10 s", what); },
                                     &dog),
                     0);
    int r = loop.run_until(f);
    loop.cancel(dog);
    return r;
}

/* Runs what is queued already. */
void settle(const loom::loop &loop)
{
    for (int i = 0; i < 8; i++)
        loop.run_once(false);
}

void close_hook_count(loom_loop *, void *data)
{
    ++*static_cast<int *>(data);
}

void count_destroy(void *data)
{
    ++*static_cast<int *>(data);
}

} // namespace

/* --- RAII ------------------------------------------------------------------- */

START_TEST(test_loop_handle_refs)
{
    int closed = 0;
    loom::loop a = new_loop();
    ck_assert_int_eq(loom_hook_add(a.get(), LOOM_HOOK_CLOSE, close_hook_count, &closed, nullptr, nullptr), 0);
    {
        loom::loop b = a;            /* copy: a second reference */
        loom::loop c = std::move(b); /* move: the same one */
        ck_assert_ptr_null(b.get());
        ck_assert_ptr_eq(c.get(), a.get());
        a = loom::loop();
        ck_assert_int_eq(closed, 0); /* c still holds the loop open */
    }
    ck_assert_int_eq(closed, 1);

    loom::loop d;
    ck_assert_int_eq(loom::loop::create(d, "no-such-backend"), -EINVAL);
    ck_assert(!d);
}
END_TEST

START_TEST(test_future_handle_refs)
{
    loom::loop loop = new_loop();
    int freed = 0;
    loom::future f = loom::future::create(loop);
    ck_assert(f);
    ck_assert_int_eq(loom_future_resolve(f.get(), &freed, count_destroy), 0);
    {
        loom::future g = f;
        loom::future h(std::move(g));
        ck_assert(!g);
        f = loom::future();
        ck_assert_int_eq(freed, 0); /* h still holds it */
        ck_assert_int_eq(*static_cast<int *>(h.value()), 0);
    }
    ck_assert_int_eq(freed, 1);

    loom::future v = loom::future::create(loop);
    ck_assert_int_eq(v.resolve(std::string("kept")), 0);
    ck_assert_str_eq(v.value_as<std::string>()->c_str(), "kept");
    ck_assert_int_eq(v.get_loop().get() == loop.get(), 1);
}
END_TEST

/* --- lambdas ------------------------------------------------------------------ */

START_TEST(test_lambdas_destroyed_once)
{
    counted::live = 0;
    int ran = 0;
    loom_handle cancelled = 0;
    {
        loom::loop loop = new_loop();
        counted c;
        ck_assert_int_eq(loop.call_soon([c, &ran] { ran++; }), 0);
        ck_assert_int_eq(loop.call_later(LOOM_SEC(60), [c, &ran] { ran += 100; }, &cancelled), 0);
        ck_assert_int_eq(loop.call_later(LOOM_SEC(60), [c, &ran] { ran += 1000; }), 0); /* dropped at close */
        loom::future done = loom::future::create(loop);
        loom::future never = loom::future::create(loop);
        ck_assert_int_eq(done.on_done([c, &ran](loom::future &f) { ran += f.status() == 0 ? 10 : -1; }), 0);
        ck_assert_int_eq(never.on_done([c, &ran] { ran += 10000; }), 0); /* released at close */
        ck_assert_int_eq(loop.cancel(cancelled), 0);
        ck_assert_int_eq(counted::live, 5); /* c and four live copies */
        ck_assert_int_eq(done.resolve_int(1), 0);
        settle(loop);
        ck_assert_int_eq(ran, 11);
        ck_assert_int_eq(counted::live, 3); /* c, the dropped timer's and the pending on_done's */
        ck_assert_int_eq(loop.close(), 0);
        ck_assert_int_eq(counted::live, 1);
        ck_assert_int_eq(loop.call_soon([c] {}), -ESHUTDOWN); /* not taken: destroyed at once */
        ck_assert_int_eq(counted::live, 1);
    }
    ck_assert_int_eq(ran, 11);
    ck_assert_int_eq(counted::live, 0);
}
END_TEST

/* --- coroutines ------------------------------------------------------------------ */

namespace {

/* Awaits f and records what the co_await gave. */
loom::task<int> await_once(loom::future f, int *seen)
{
    *seen = co_await f;
    co_return *seen < 0 ? *seen : static_cast<int>(f.value_int());
}

loom::task<std::string> await_message(loom::future f)
{
    int r = co_await f;
    if (r < 0)
        co_return loom::failure{r, "awaited failed"};
    co_return std::string("value ") + std::to_string(f.value_int());
}

} // namespace

START_TEST(test_co_await_resolve_fail_cancel)
{
    loom::loop loop = new_loop();
    int seen[3] = {1, 1, 1};
    loom::future in[3] = {loom::future::create(loop), loom::future::create(loop), loom::future::create(loop)};
    loom::future out[3];
    for (int i = 0; i < 3; i++)
        out[i] = loom::spawn(loop, await_once(in[i], &seen[i]));
    settle(loop);
    ck_assert_int_eq(seen[0], 1); /* all suspended */
    in[0].resolve_int(7);
    in[1].fail(-EPROTO, "bad");
    in[2].cancel();
    ck_assert_int_eq(run_until(loop, out[0], "resolved"), 0);
    ck_assert_int_eq(out[0].value_int(), 7);
    ck_assert_int_eq(run_until(loop, out[1], "failed"), -EPROTO);
    ck_assert_int_eq(seen[1], -EPROTO);
    ck_assert_int_eq(run_until(loop, out[2], "cancelled"), -ECANCELED);
    ck_assert_int_eq(seen[2], -ECANCELED);

    loom::future ok = loom::future::create(loop), bad = loom::future::create(loop);
    ok.resolve_int(3); /* done already: no suspension */
    loom::future s = loom::spawn(loop, await_message(ok));
    loom::future t = loom::spawn(loop, await_message(bad));
    bad.fail(-ENOENT, nullptr);
    ck_assert_int_eq(run_until(loop, s, "string"), 0);
    ck_assert_str_eq(s.value_as<std::string>()->c_str(), "value 3");
    ck_assert_int_eq(run_until(loop, t, "failure"), -ENOENT);
    ck_assert_str_eq(t.message(), "awaited failed");
}
END_TEST

namespace {

struct cancel_probe {
    int first = 1, second = 1;
    bool returned = false;
};

/* Awaits twice; records both results, and returns (its result ignored). */
loom::task<int> await_twice(loom::future a, loom::future b, cancel_probe *probe)
{
    probe->first = co_await a;
    probe->second = co_await b;
    probe->returned = true;
    co_return 5;
}

} // namespace

START_TEST(test_cancel_coroutine)
{
    loom::loop loop = new_loop();
    cancel_probe probe;
    loom::future a = loom::future::create(loop), b = loom::future::create(loop);
    loom::future co = loom::spawn(loop, await_twice(a, b, &probe));
    settle(loop);
    ck_assert(co.cancel());
    ck_assert_int_eq(co.state(), LOOM_FUTURE_CANCELLED);
    settle(loop);
    ck_assert_int_eq(a.state(), LOOM_FUTURE_CANCELLED); /* what it awaited is cancelled */
    ck_assert_int_eq(probe.first, -ECANCELED);
    ck_assert_int_eq(b.state(), LOOM_FUTURE_PENDING);     /* delivered once: it awaits b now */
    b.resolve_int(1);
    settle(loop);
    ck_assert_int_eq(probe.second, 0);
    ck_assert(probe.returned);
    ck_assert_int_eq(co.state(), LOOM_FUTURE_CANCELLED);

    /* The awaited future resolved first: the co_await keeps the result, the next one is cancelled. */
    cancel_probe late;
    loom::future c = loom::future::create(loop), d = loom::future::create(loop);
    loom::future co2 = loom::spawn(loop, await_twice(c, d, &late));
    settle(loop);
    c.resolve_int(2);
    co2.cancel();
    settle(loop);
    ck_assert_int_eq(late.first, 0);
    ck_assert_int_eq(late.second, -ECANCELED);
    ck_assert_int_eq(d.state(), LOOM_FUTURE_CANCELLED); /* the cancel came while it awaited d */
    ck_assert(late.returned);
}
END_TEST

namespace {

loom::task<> throws_out(loom::future f)
{
    co_await f;
    throw std::runtime_error("thrown");
}

} // namespace

START_TEST(test_exception_fails_future)
{
    loom::loop loop = new_loop();
    loom::future f = loom::future::create(loop);
    loom::future co = loom::spawn(loop, throws_out(f));
    f.resolve_int(0);
    ck_assert_int_eq(run_until(loop, co, "throwing coroutine"), -EIO);
    ck_assert_str_eq(co.message(), "thrown");
}
END_TEST

/* --- interplay with fiber tasks ----------------------------------------------------- */

namespace {

int fiber_awaits(void *arg)
{
    auto *f = static_cast<loom::future *>(arg);
    int r = loom_await(f->get());
    return r < 0 ? r : static_cast<int>(f->value_int()) + 1;
}

loom::task<int> coroutine_plus_one(loom::future f)
{
    int r = co_await f;
    co_return r < 0 ? r : static_cast<int>(f.value_int()) + 1;
}

} // namespace

START_TEST(test_coroutine_and_fiber_task)
{
    loom::loop loop = new_loop();
    loom::future start = loom::future::create(loop);
    /* fiber -> coroutine -> fiber: each awaits the one before */
    loom::future fiber1(loom_task_spawn(loop.get(), fiber_awaits, &start), loom::adopt);
    loom::future co = loom::spawn(loop, coroutine_plus_one(fiber1));
    loom::future fiber2(loom_task_spawn(loop.get(), fiber_awaits, &co), loom::adopt);
    settle(loop);
    start.resolve_int(10);
    ck_assert_int_eq(run_until(loop, fiber2, "fiber awaiting a coroutine"), 0);
    ck_assert_int_eq(fiber1.value_int(), 11);
    ck_assert_int_eq(co.value_int(), 12);
    ck_assert_int_eq(fiber2.value_int(), 13);
}
END_TEST

START_TEST(test_many_coroutines)
{
    enum { N = 10000 };
    loom::loop loop = new_loop();
    loom::future gate = loom::future::create(loop);
    std::vector<loom::future> all;
    std::vector<int> seen(N, 1);
    for (int i = 0; i < N; i++)
        all.push_back(loom::spawn(loop, await_once(gate, &seen[i])));
    settle(loop);
    gate.resolve_int(4);
    std::vector<loom_future *> raw;
    for (auto &f : all)
        raw.push_back(f.get());
    loom::future every(loom_future_all(loop.get(), raw.data(), raw.size()), loom::adopt);
    ck_assert_int_eq(run_until(loop, every, "10,000 coroutines"), 0);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(all[i].value_int(), 4);
}
END_TEST

/* --- loop close ------------------------------------------------------------------ */

namespace {

struct close_probe {
    int first = 1, after = 1;
    bool returned = false;
};

loom::task<> suspended_at_close(loom::future f, counted held, close_probe *probe)
{
    probe->first = co_await f;
    loom::future g = loom::future::create(f.get_loop());
    probe->after = co_await g; /* the loop is closed: no suspension */
    probe->returned = true;
}

} // namespace

START_TEST(test_close_with_suspended_coroutines)
{
    counted::live = 0;
    close_probe probe[3];
    {
        loom::loop loop = new_loop();
        loom::future pending = loom::future::create(loop);
        loom::future a = loom::spawn(loop, suspended_at_close(pending, counted(), &probe[0]));
        loom::future b = loom::spawn(loop, suspended_at_close(pending, counted(), &probe[1]));
        settle(loop);
        loom::future c = loom::spawn(loop, suspended_at_close(pending, counted(), &probe[2])); /* never started */
        ck_assert_int_eq(counted::live, 3);
        ck_assert_int_eq(loop.close(), 0);
        ck_assert_int_eq(counted::live, 0);
        for (int i = 0; i < 2; i++) {
            ck_assert_int_eq(probe[i].first, -ESHUTDOWN);
            ck_assert_int_eq(probe[i].after, -ESHUTDOWN);
            ck_assert(probe[i].returned);
        }
        ck_assert_int_eq(probe[2].first, 1); /* destroyed without running */
        ck_assert_int_eq(c.status(), -ESHUTDOWN);
        ck_assert(loom::spawn(loop, suspended_at_close(pending, counted(), &probe[2])).get() == nullptr);
        ck_assert_int_eq(errno, ESHUTDOWN);
        ck_assert_int_eq(counted::live, 0);
    }
}
END_TEST

namespace {

loom::task<> await_raw(loom_future *f, int *seen)
{
    *seen = co_await f;
}

} // namespace

/* A co_await keeps what it awaits alive: the last other reference dropped
 * does not end the wait (only the loop's close does). */
START_TEST(test_await_holds_future)
{
    loom::loop loop = new_loop();
    int seen = 1;
    loom_future *raw = loom_future_new(loop.get());
    loom::future co = loom::spawn(loop, await_raw(raw, &seen));
    settle(loop);
    loom_future_unref(raw);
    settle(loop);
    ck_assert_int_eq(seen, 1);
    ck_assert_int_eq(co.state(), LOOM_FUTURE_PENDING);
    ck_assert_int_eq(loop.close(), 0);
    ck_assert_int_eq(seen, -ESHUTDOWN);
}
END_TEST

static Suite *cpp_suite(void)
{
    Suite *s = suite_create("cpp");
    struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"loop_handle_refs", test_loop_handle_refs},
        {"future_handle_refs", test_future_handle_refs},
        {"lambdas_destroyed_once", test_lambdas_destroyed_once},
        {"co_await_resolve_fail_cancel", test_co_await_resolve_fail_cancel},
        {"cancel_coroutine", test_cancel_coroutine},
        {"exception_fails_future", test_exception_fails_future},
        {"coroutine_and_fiber_task", test_coroutine_and_fiber_task},
        {"many_coroutines", test_many_coroutines},
        {"close_with_suspended_coroutines", test_close_with_suspended_coroutines},
        {"await_holds_future", test_await_holds_future},
    };
    for (const auto &c : cases) {
        TCase *tc = tcase_create(c.name);
        tcase_add_checked_fixture(tc, host_setup, host_teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, c.test);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main()
{
    SRunner *runner = srunner_create(cpp_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
