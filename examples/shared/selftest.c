/* The example apps' --self-test: see selftest.h. */
#include "selftest.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum {
    START_DELAY_MS = 200, /* lets the window appear first */
    POLL_MS = 50,
    MODAL_LIMIT_MS = 5000, /* progress must show by then (slow under sanitizers) */
    WATCHDOG_S = 20,
    TEXT_MAX = 128,
};

/* Each item's name, and what its label must end with: 5..0, 1² + 2² + ... +
 * 5², the servers' lines, the temporary file's. */
static const struct {
    const char *name, *final_text;
} items[WORK_ITEMS] = {
    [WORK_COUNTDOWN] = {"countdown", "Countdown: 0"},
    [WORK_COMPUTE] = {"compute", "Sum of squares: 55"},
    [WORK_FETCH] = {"fetch", "Fetched: hello from loopback"},
#ifdef WORK_WITH_CURL
    [WORK_HTTP] = {"http", "HTTP 200: hello over HTTP"},
#endif
#ifdef WORK_WITH_GIO
    [WORK_FILE] = {"file", "Read through GIO: hello from a file"},
#endif
};

struct selftest {
    const struct selftest_ui *ui;
    void *app;
    struct work *work;
    char opened[WORK_ITEMS][TEXT_MAX]; /* the labels when the dialog opened */
    char closed[WORK_ITEMS][TEXT_MAX]; /* ... and when the timer closed it */
    int modal_ms;                      /* how long it has been open */
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
        if (strcmp(texts[i], items[i].final_text) != 0) {
            fail(t, "the %s label ended with \"%s\", expected \"%s\"", items[i].name, texts[i], items[i].final_text);
            return;
        }
    }
    for (int i = 0; i < WORK_ITEMS; i++)
        printf("%s ended with \"%s\"\n", items[i].name, texts[i]);
    printf("self-test passed\n");
    t->ui->quit(t->app, 0);
}

static bool labels_moved(struct selftest *t)
{
    for (int i = 0; i < WORK_ITEMS; i++)
        if (strcmp(t->opened[i], t->closed[i]) != 0)
            return true;
    return false;
}

/* While the dialog is open: closes it once a label has moved (or, failing
 * that, after MODAL_LIMIT_MS), so the test does not hang on machine speed. */
static void watch_modal(void *data)
{
    struct selftest *t = data;
    read_labels(t, t->closed);
    t->modal_ms += POLL_MS;
    if (!labels_moved(t) && t->modal_ms < MODAL_LIMIT_MS) {
        t->ui->later(t->app, POLL_MS, watch_modal, t);
        return;
    }
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
    t->ui->later(t->app, POLL_MS, watch_modal, t);
    t->ui->click_modal(t->app); /* runs the dialog's nested loop */
    if (!t->modal_closed) {
        fail(t, "the modal dialog returned before the test closed it");
        return;
    }

    for (int i = 0; i < WORK_ITEMS; i++)
        printf("while the modal dialog was open (%d ms), %s went from \"%s\" to \"%s\"\n", t->modal_ms,
               items[i].name, t->opened[i], t->closed[i]);
    if (!labels_moved(t)) {
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
