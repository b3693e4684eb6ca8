/* loom/loom.hpp's RAII part compiled as C++17 (no coroutines there): a
 * lambda runs and is destroyed once, a future handle keeps its value. */
#include <cstdio>
#include <loom/loom.hpp>

#ifdef LOOM_HAVE_COROUTINES
#error "built as C++17: the coroutine part must be left out"
#endif

namespace {

struct counted {
    static int live;
    counted() { live++; }
    counted(const counted &) { live++; }
    ~counted() { live--; }
};
int counted::live;

} // namespace

int main()
{
    int ran = 0;
    {
        loom::loop loop;
        if (loom::loop::create(loop, "poll") < 0)
            return 1;
        loom::future f = loom::future::create(loop);
        counted c;
        if (f.on_done([c, &ran](loom::future &done) { ran += (int)done.value_int(); }) < 0 ||
            loop.call_soon([c, f] { f.resolve_int(2); }) < 0 || loop.run_until(f) < 0)
            return 1;
        loop.run_once(false);
        if (counted::live != 1)
            return 1;
    }
    if (ran != 2 || counted::live != 0)
        return 1;
    std::puts("C++17 RAII part: ok");
    return 0;
}
