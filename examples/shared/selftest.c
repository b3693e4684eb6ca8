/* The example apps' --self-test: see selftest.h. */
#include "selftest.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum {
    START_DELAY_MS = 200, /* lets the window appear first */
    MODAL_OPEN_MS = 300,
    POLL_MS = 50,
    WATCHDOG_S = 20,
    TEXT_MAX = 128,
};

/* What the labels must end with: 5..0, and 1² + 2² + ... + 5². */
static const char *const final_text[WORK_ITEMS] = {"Countdown: 0", "Sum of squares: 55"};
static const char *const item_name[WORK_ITEMS] = {"countdown", "compute"};

struct selftest {
    const struct selftest_ui *ui;
    void *app;
    struct work *work;
    char opened[WORK_ITEMS][TEXT_MAX]; /* the labels when the dialog opened */
    char closed[WORK_ITEMS][TEXT_MAX]; /* ... and when the timer closed it */
    bool modal_closed;
};

/* One self-test per process: the watchdog is process-wide anyway. */
static struct selftest test;

static void watchdog(int sig)
{
    static const char msg[] = "self-test FAILED: still not done after 20 s\n";
    (void)!write(STDERR_FILENO, msg, sizeof(msg) - 1); /* async-signal-safe, unlike stdio */
    _exit(2);
}

__attribute__((format(printf, 2, 3)))
static void fail(struct selftest *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("self-test FAILED: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    t->ui->quit(t->app, 1);
}

static void read_labels(struct selftest *t, char texts[WORK_ITEMS][TEXT_MAX])
{
    for (int i = 0; i < WORK_ITEMS; i++)
        snprintf(texts[i], TEXT_MAX, "%s", t->ui->label_text(t->app, i));
}

static void wait_for_results(void *data)
{
    struct selftest *t = data;
    if (work_busy(t->work)) {
        t->ui->later(t->app, POLL_MS, wait_for_results, t);
        return;
    }
    char texts[WORK_ITEMS][TEXT_MAX];
    read_labels(t, texts);
    for (int i = 0; i < WORK_ITEMS; i++) {
        if (strcmp(texts[i], final_text[i]) != 0) {
            fail(t, "the %s label ended with \"%s\", expected \"%s\"", item_name[i], texts[i], final_text[i]);
            return;
        }
    }
    printf("self-test passed: labels ended with \"%s\" and \"%s\"\n", texts[0], texts[1]);
    t->ui->quit(t->app, 0);
}

static void close_modal(void *data)
{
    struct selftest *t = data;
    read_labels(t, t->closed);
    t->modal_closed = true;
    t->ui->close_modal(t->app);
}

static void run(void *data)
{
    struct selftest *t = data;
    for (int i = 0; i < WORK_ITEMS; i++)
        t->ui->click_start(t->app, i);
    if (!work_busy(t->work)) {
        fail(t, "clicking the start buttons started no work");
        return;
    }

    read_labels(t, t->opened);
    t->ui->later(t->app, MODAL_OPEN_MS, close_modal, t);
    t->ui->click_modal(t->app); /* runs the dialog's nested loop */
    if (!t->modal_closed) {
        fail(t, "the modal dialog returned before the test closed it");
        return;
    }

    bool moved = false;
    for (int i = 0; i < WORK_ITEMS; i++) {
        printf("while the modal dialog was open, %s went from \"%s\" to \"%s\"\n", item_name[i],
               t->opened[i], t->closed[i]);
        moved |= strcmp(t->opened[i], t->closed[i]) != 0;
    }
    if (!moved) {
        fail(t, "no label changed while the modal dialog was open");
        return;
    }
    t->ui->later(t->app, POLL_MS, wait_for_results, t);
}

void selftest_start(const struct selftest_ui *ui, void *app, struct work *work)
{
    test = (struct selftest){.ui = ui, .app = app, .work = work};
    signal(SIGALRM, watchdog);
    alarm(WATCHDOG_S);
    ui->later(app, START_DELAY_MS, run, &test);
}
