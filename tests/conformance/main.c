/* loom conformance suite — runs every suite against the backend this binary
 * was built for, each test in its own forked child (CK_FORK=no to disable)
 * with a time limit. Exits non-zero if any test failed. */
#include <stdlib.h>
#include "fixture.h"
#include "suites.h"

int main(void)
{
    SRunner *runner = srunner_create(loop_suite());
    int failed;

    srunner_add_suite(runner, threadsafe_suite());
    srunner_add_suite(runner, fd_suite());
    srunner_add_suite(runner, future_suite());
    srunner_add_suite(runner, host_suite());
    srunner_add_suite(runner, task_suite());
    srunner_add_suite(runner, sync_suite());
    srunner_add_suite(runner, executor_suite());
    srunner_add_suite(runner, hooks_suite());
    srunner_add_suite(runner, fork_suite());
    srunner_add_suite(runner, stream_suite());
    srunner_add_suite(runner, stream_engine_suite());
    srunner_add_suite(runner, faults_suite());
    srunner_add_suite(runner, signal_suite());
    srunner_add_suite(runner, dgram_suite());
    srunner_add_suite(runner, process_suite());
    srunner_add_suite(runner, file_suite());
    srunner_run_all(runner, CK_ENV);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
