/* The example apps' work, written once against the loom core and compiled
 * unchanged into the GTK 3 and the Qt Widgets app.
 *
 * Three pieces of work, each started by a button and shown in a label, each
 * a loom task (sequential code that awaits):
 *   countdown  sleeps and ticks the label 5..0;
 *   compute    a worker thread sends results through a pipe; the task awaits
 *              the pipe's readiness under one deadline and sums them up;
 *   fetch      connects to a loopback TCP server the work started (loom's
 *              stream API on both sides) and shows the line it answers.
 * The app knows nothing of loom beyond creating the loop on its toolkit; the
 * work knows nothing of the toolkit beyond the hooks below. */
#ifndef LOOM_EXAMPLE_WORK_H
#define LOOM_EXAMPLE_WORK_H

#include <stdbool.h>
#include <loom/loom.h>

LOOM_BEGIN_DECLS

enum work_item { WORK_COUNTDOWN, WORK_COMPUTE, WORK_FETCH, WORK_ITEMS };

/* What the work calls in the app, always on the loop's thread. */
struct work_ui {
    /* Shows text in the item's label. text is only valid during the call. */
    void (*set_label)(void *app, enum work_item item, const char *text);
    /* The item started (busy) or finished: the app disables its button meanwhile. */
    void (*set_busy)(void *app, enum work_item item, bool busy);
};

struct work;

/* Creates the work on loop (which it references), starts its loopback
 * server (127.0.0.1, a port the kernel picks) and shows the idle labels.
 * ui is borrowed and must outlive the work. Returns 0 or a negative errno. */
int work_new(struct work **workp, loom_loop *loop, const struct work_ui *ui, void *app);

/* Cancels what is in flight, lets it wind down on the loop (without calling
 * the app any more), and frees the work. Call it on the loop's thread, outside
 * loom callbacks, while the loop is still open. */
void work_free(struct work *work);

/* Start one piece of work. Return 0, -EBUSY while it is already running, or
 * another negative errno (also shown in its label). */
int work_start_countdown(struct work *work);
int work_start_compute(struct work *work);
int work_start_fetch(struct work *work);

/* Whether any work is in flight. */
bool work_busy(const struct work *work);

LOOM_END_DECLS

#endif
