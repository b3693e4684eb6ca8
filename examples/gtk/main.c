/* loom example on GTK 3: the shared work (examples/shared/work.c) runs on a
 * loom loop that lives in GTK's own main loop, including inside the nested
 * main loop of a modal dialog. `--self-test` drives the window by itself. */
#include <stdio.h>
#include <string.h>
#include <gtk/gtk.h>
#include <loom/loom-glib.h>
#include "selftest.h"
#include "work.h"

struct app {
    GtkWidget *window;
    GtkWidget *start[WORK_ITEMS];
    GtkWidget *label[WORK_ITEMS];
    GtkWidget *modal_button;
    GtkDialog *dialog; /* the modal dialog while it is open */
    struct work *work;
    int status;
};

/* --- what the work shows ------------------------------------------------- */

static void set_label(void *data, enum work_item item, const char *text)
{
    struct app *app = data;
    gtk_label_set_text(GTK_LABEL(app->label[item]), text);
}

static void set_busy(void *data, enum work_item item, bool busy)
{
    struct app *app = data;
    gtk_widget_set_sensitive(app->start[item], !busy);
}

static const struct work_ui work_hooks = {.set_label = set_label, .set_busy = set_busy};

/* --- buttons ------------------------------------------------------------- */

static void on_start_clicked(GtkButton *button, gpointer data)
{
    struct app *app = data;
    enum work_item item = GPOINTER_TO_INT(g_object_get_data(G_OBJECT(button), "work-item"));
    work_start(app->work, item); /* a failure shows in the label */
}

static void on_modal_clicked(GtkButton *button, gpointer data)
{
    struct app *app = data;
    GtkWidget *dialog = gtk_message_dialog_new(GTK_WINDOW(app->window),
                                               GTK_DIALOG_MODAL | GTK_DIALOG_DESTROY_WITH_PARENT,
                                               GTK_MESSAGE_INFO, GTK_BUTTONS_CLOSE,
                                               "The work keeps running behind this modal dialog.");
    app->dialog = GTK_DIALOG(dialog);
    gtk_dialog_run(app->dialog); /* a nested main loop: loom keeps running in it */
    app->dialog = NULL;
    gtk_widget_destroy(dialog);
}

static GtkWidget *add_row(struct app *app, GtkGrid *grid, int row, const char *text, GCallback clicked)
{
    GtkWidget *button = gtk_button_new_with_label(text);
    g_signal_connect(button, "clicked", clicked, app);
    gtk_grid_attach(grid, button, 0, row, 1, 1);
    return button;
}

static void build_window(struct app *app, const char *backend)
{
    app->window = gtk_window_new(GTK_WINDOW_TOPLEVEL);
    char title[64];
    snprintf(title, sizeof(title), "loom on GTK 3 (%s backend)", backend);
    gtk_window_set_title(GTK_WINDOW(app->window), title);
    gtk_window_set_default_size(GTK_WINDOW(app->window), 420, -1);
    g_signal_connect(app->window, "destroy", G_CALLBACK(gtk_main_quit), NULL);

    GtkGrid *grid = GTK_GRID(gtk_grid_new());
    gtk_container_set_border_width(GTK_CONTAINER(grid), 12);
    gtk_grid_set_row_spacing(grid, 8);
    gtk_grid_set_column_spacing(grid, 12);
    gtk_container_add(GTK_CONTAINER(app->window), GTK_WIDGET(grid));

    for (int i = 0; i < WORK_ITEMS; i++) {
        app->start[i] = add_row(app, grid, i, work_button_text(i), G_CALLBACK(on_start_clicked));
        g_object_set_data(G_OBJECT(app->start[i]), "work-item", GINT_TO_POINTER(i));
    }
    app->modal_button = add_row(app, grid, WORK_ITEMS, "Modal dialog", G_CALLBACK(on_modal_clicked));
    for (int i = 0; i < WORK_ITEMS; i++) {
        app->label[i] = gtk_label_new(NULL);
        gtk_label_set_xalign(GTK_LABEL(app->label[i]), 0);
        gtk_widget_set_hexpand(app->label[i], TRUE);
        gtk_grid_attach(grid, app->label[i], 1, i, 1, 1);
    }
}

/* --- what the self-test drives ------------------------------------------- */

static void click_start(void *data, enum work_item item)
{
    struct app *app = data;
    gtk_button_clicked(GTK_BUTTON(app->start[item]));
}

static void click_modal(void *data)
{
    struct app *app = data;
    gtk_button_clicked(GTK_BUTTON(app->modal_button));
}

static void close_modal(void *data)
{
    struct app *app = data;
    gtk_dialog_response(app->dialog, GTK_RESPONSE_CLOSE);
}

static const char *label_text(void *data, enum work_item item)
{
    struct app *app = data;
    return gtk_label_get_text(GTK_LABEL(app->label[item]));
}

struct deferred {
    void (*fn)(void *data);
    void *data;
};

static gboolean run_deferred(gpointer data)
{
    struct deferred *d = data;
    d->fn(d->data);
    return G_SOURCE_REMOVE;
}

static void later(void *app, int delay_ms, void (*fn)(void *data), void *data)
{
    struct deferred *d = g_new(struct deferred, 1);
    *d = (struct deferred){fn, data};
    g_timeout_add_full(G_PRIORITY_DEFAULT, delay_ms, run_deferred, d, g_free);
}

static void quit(void *data, int status)
{
    struct app *app = data;
    app->status = status;
    gtk_main_quit();
}

static const struct selftest_ui selftest_hooks = {
    .click_start = click_start,
    .click_modal = click_modal,
    .close_modal = close_modal,
    .label_text = label_text,
    .later = later,
    .quit = quit,
};

int main(int argc, char **argv)
{
    gtk_init(&argc, &argv);
    bool self_test = argc == 2 && strcmp(argv[1], "--self-test") == 0;
    if (argc > 1 && !self_test) {
        fprintf(stderr, "usage: %s [--self-test]\n", argv[0]);
        return 2;
    }

    loom_loop *loop;
    int r = loom_glib_loop_new(&loop, NULL);
    if (r < 0) {
        fprintf(stderr, "loom_glib_loop_new: %s\n", loom_strerror(r));
        return 1;
    }
    struct app app = {0};
    build_window(&app, loom_loop_backend_name(loop));
    r = work_new(&app.work, loop, &work_hooks, &app);
    if (r < 0) {
        fprintf(stderr, "work_new: %s\n", loom_strerror(r));
        return 1;
    }
    if (self_test)
        selftest_start(&selftest_hooks, &app, app.work);
    gtk_widget_show_all(app.window);
    gtk_main();

    work_free(app.work);
    loom_loop_unref(loop);
    return app.status;
}
