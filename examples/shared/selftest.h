/* The example apps' --self-test, written once for both toolkits.
 *
 * It clicks the app's real buttons and reads its real labels through the
 * hooks below, from the toolkit's own timers (where a user's click would come
 * from), never from loom: a loom that stalls cannot hide its own failure.
 * It starts every piece of work, opens the modal dialog while they run,
 * closes it from a timer once a label has moved (failing if none moves within
 * 5 s), checks that they end with the right results, then quits the app with
 * status 0, or 1 and a message on stderr. A watchdog exits with status 2 if
 * the whole takes longer than 20 s. */
#ifndef LOOM_EXAMPLE_SELFTEST_H
#define LOOM_EXAMPLE_SELFTEST_H

#include "work.h"

LOOM_BEGIN_DECLS

struct selftest_ui {
    /* Clicks the button that starts item. */
    void (*click_start)(void *app, enum work_item item);
    /* Clicks the "Modal dialog" button: returns once the dialog is closed. */
    void (*click_modal)(void *app);
    /* Closes the modal dialog that is open. */
    void (*close_modal)(void *app);
    /* The text item's label shows; valid until the next call. */
    const char *(*label_text)(void *app, enum work_item item);
    /* Calls fn(data) once from a toolkit timer, delay_ms from now. */
    void (*later)(void *app, int delay_ms, void (*fn)(void *data), void *data);
    /* Leaves the app's main loop; the app then exits with status. */
    void (*quit)(void *app, int status);
};

/* Schedules the self-test on the app's main loop (ui is borrowed and must
 * outlive it) and arms the watchdog. Call it once, before the main loop. */
void selftest_start(const struct selftest_ui *ui, void *app, struct work *work);

LOOM_END_DECLS

#endif
