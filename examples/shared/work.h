/* The example apps' work, written once against the loom core and compiled
 * unchanged into the GTK 3 and the Qt Widgets app.
 *
 * Pieces of work, each started by a button and shown in a label, each a
 * loom task (sequential code that awaits):
 *   countdown  sleeps and ticks the label 5..0;
 *   compute    a worker thread sends results through a pipe; the task awaits
 *              the pipe's readiness under one deadline and sums them up;
 *   fetch      connects to a loopback TCP server the work started (loom's
 *              stream API on both sides) and shows the line it answers;
 *   http       (built with WORK_WITH_CURL) fetches a page through loom_curl
 *              from a loopback HTTP server the work started on loom streams;
 *   file       (built with WORK_WITH_GIO) writes a temporary file and reads
 *              it back through GIO (loom_gio_load_contents): on a GLib loop
 *              from the loop's own context, elsewhere from a context of the
 *              work's that a GLib guest drives.
 * The app knows nothing of loom beyond creating the loop on its toolkit; the
 * work knows nothing of the toolkit beyond the hooks below. Compile the app's
 * files with the same WORK_WITH_* macros as work.c: they shape the items. */
#ifndef LOOM_EXAMPLE_WORK_H
#define LOOM_EXAMPLE_WORK_H

#include <stdbool.h>
#include <loom/loom.h>

LOOM_BEGIN_DECLS

enum work_item {
    WORK_COUNTDOWN,
    WORK_COMPUTE,
    WORK_FETCH,
#ifdef WORK_WITH_CURL
    WORK_HTTP,
#endif
#ifdef WORK_WITH_GIO
    WORK_FILE,
#endif
    WORK_ITEMS
};

/* What the work calls in the app, always on the loop's thread. */
struct work_ui {
    /* Shows text in the item's label. text is only valid during the call. */
    void (*set_label)(void *app, enum work_item item, const char *text);
    /* The item started (busy) or finished: the app disables its button meanwhile. */
    void (*set_busy)(void *app, enum work_item item, bool busy);
};

struct work;

/* Creates the work on loop (which it references), starts its loopback
 * servers (127.0.0.1, ports the kernel picks) and shows the idle labels.
 * ui is borrowed and must outlive the work. Returns 0 or a negative errno. */
int work_new(struct work **workp, loom_loop *loop, const struct work_ui *ui, void *app);

/* Cancels what is in flight, lets it wind down on the loop (without calling
 * the app any more), and frees the work. Call it on the loop's thread, outside
 * loom callbacks, while the loop is still open. */
void work_free(struct work *work);

/* The text of the button that starts item (static storage). */
const char *work_button_text(enum work_item item);

/* Starts one piece of work. Returns 0, -EBUSY while it is already running,
 * -EINVAL for no such item, or another negative errno (also shown in its
 * label). */
int work_start(struct work *work, enum work_item item);

/* Whether any work is in flight. */
bool work_busy(const struct work *work);

LOOM_END_DECLS

#endif
