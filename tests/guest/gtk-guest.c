/* loom — a GTK 3 window on the built-in loop through the GLib guest: it draws,
 * takes a synthesized key press and button press, and runs a modal dialog
 * (gtk_dialog_run) during which a loom timer fires and a loom task moves.
 * The input is put into GDK's queue (see put_event).
 * Run under Xvfb (tests/guest/gtk-guest.sh); exits 77 (skipped) without a
 * display. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <gtk/gtk.h>
#include <loom/loom-glib.h>

enum { SKIP = 77 };

typedef struct app {
    loom_loop *loop;
    GtkWidget *window, *area, *dialog;
    bool drawn, key, button, in_dialog;
    int timer_in_dialog, task_in_dialog;
    int failed;
} app;

#define EXPECT(a, cond)                                                                                           \
    do {                                                                                                          \
        if (!(cond)) {                                                                                            \
            fprintf(stderr, "gtk-guest: %s:%d: expected %s\n", __FILE__, __LINE__, #cond);                     \
            (a)->failed++;                                                                                        \
        }                                                                                                         \
    } while (0)

static gboolean on_draw(GtkWidget *widget, cairo_t *cr, gpointer data)
{
    ((app *)data)->drawn = true;
    return FALSE;
}

static gboolean on_key(GtkWidget *widget, GdkEventKey *event, gpointer data)
{
    if (event->keyval == GDK_KEY_a)
        ((app *)data)->key = true;
    return TRUE;
}

static gboolean on_button(GtkWidget *widget, GdkEventButton *event, gpointer data)
{
    ((app *)data)->button = true;
    return TRUE;
}

/* Waits (as a task) until *flag, up to 5 s. */
static bool await_flag(const bool *flag)
{
    for (int i = 0; i < 500 && !*flag; i++)
        loom_sleep(LOOM_MSEC(10));
    return *flag;
}

static void in_dialog_tick(loom_loop *loop, void *data)
{
    app *a = data;

    a->timer_in_dialog += a->in_dialog;
}

static void close_dialog(loom_loop *loop, void *data)
{
    app *a = data;

    if (a->timer_in_dialog && a->task_in_dialog)
        gtk_dialog_response(GTK_DIALOG(a->dialog), GTK_RESPONSE_OK);
    else if (loom_call_later(loop, LOOM_MSEC(10), close_dialog, a, NULL) < 0)
        a->failed++;
}

static int dialog_task(void *arg)
{
    app *a = arg;

    while (!a->in_dialog)
        loom_sleep(LOOM_MSEC(5));
    loom_sleep(LOOM_MSEC(5));
    a->task_in_dialog += a->in_dialog;
    return 0;
}

/* A loom callback runs the modal dialog; loom keeps running inside it. */
static void run_dialog(loom_loop *loop, void *data)
{
    app *a = data;
    gint response;

    a->dialog = gtk_dialog_new_with_buttons("modal", GTK_WINDOW(a->window), GTK_DIALOG_MODAL, "_OK",
                                            GTK_RESPONSE_OK, NULL);
    loom_call_later(loop, LOOM_MSEC(20), in_dialog_tick, a, NULL);
    loom_call_later(loop, LOOM_MSEC(10), close_dialog, a, NULL);
    loom_future_unref(loom_task_spawn(loop, dialog_task, a));
    a->in_dialog = true;
    response = gtk_dialog_run(GTK_DIALOG(a->dialog));
    a->in_dialog = false;
    EXPECT(a, response == GTK_RESPONSE_OK);
    EXPECT(a, a->timer_in_dialog == 1);
    EXPECT(a, a->task_in_dialog == 1);
    gtk_widget_destroy(a->dialog);
    loom_loop_stop(loop);
}

/* Synthesizes input into GDK's event queue, where GDK's own event source
 * (a GLib source the guest dispatches) picks it up. Under Xvfb without a
 * window manager, events sent to the X server (gdk_test_simulate_*) reach no
 * unfocused window. */
static void put_event(app *a, GdkEventType type)
{
    GdkEvent *event = gdk_event_new(type);
    GdkSeat *seat = gdk_display_get_default_seat(gdk_display_get_default());
    GtkWidget *target = type == GDK_KEY_PRESS ? a->window : a->area;

    event->any.window = g_object_ref(gtk_widget_get_window(target));
    event->any.send_event = TRUE;
    if (type == GDK_KEY_PRESS) {
        event->key.keyval = GDK_KEY_a;
        event->key.time = GDK_CURRENT_TIME;
        gdk_event_set_device(event, gdk_seat_get_keyboard(seat));
    } else {
        event->button.button = 1;
        event->button.x = event->button.y = 10;
        event->button.time = GDK_CURRENT_TIME;
        gdk_event_set_device(event, gdk_seat_get_pointer(seat));
    }
    gdk_event_put(event);
    gdk_event_free(event);
}

static int script(void *arg)
{
    app *a = arg;

    EXPECT(a, await_flag(&a->drawn));
    put_event(a, GDK_KEY_PRESS);
    EXPECT(a, await_flag(&a->key));
    put_event(a, GDK_BUTTON_PRESS);
    EXPECT(a, await_flag(&a->button));
    loom_call_soon(a->loop, run_dialog, a, NULL);
    return 0;
}

static void watchdog(loom_loop *loop, void *data)
{
    fprintf(stderr, "gtk-guest: not done after 20 s\n");
    exit(EXIT_FAILURE);
}

static void build_window(app *a)
{
    a->window = gtk_window_new(GTK_WINDOW_TOPLEVEL);
    a->area = gtk_drawing_area_new();
    gtk_widget_set_size_request(a->area, 200, 100);
    gtk_widget_add_events(a->area, GDK_BUTTON_PRESS_MASK);
    gtk_container_add(GTK_CONTAINER(a->window), a->area);
    g_signal_connect(a->area, "draw", G_CALLBACK(on_draw), a);
    g_signal_connect(a->area, "button-press-event", G_CALLBACK(on_button), a);
    g_signal_connect(a->window, "key-press-event", G_CALLBACK(on_key), a);
    gtk_widget_show_all(a->window);
}

int main(int argc, char **argv)
{
    app a = {0};
    loom_glib_guest *guest;
    loom_handle dog;
    int r;

    if (!gtk_init_check(&argc, &argv)) {
        fprintf(stderr, "gtk-guest: no display, skipped\n");
        return SKIP;
    }
    r = loom_loop_new(&a.loop, "epoll");
    if (r == 0)
        r = loom_glib_guest_new(&guest, a.loop, NULL);
    if (r < 0) {
        fprintf(stderr, "gtk-guest: %s\n", loom_strerror(r));
        return EXIT_FAILURE;
    }
    alarm(60); /* where loom stalls inside the dialog, its own watchdog cannot fire */
    build_window(&a);
    loom_call_later(a.loop, LOOM_SEC(20), watchdog, NULL, &dog);
    loom_future_unref(loom_task_spawn(a.loop, script, &a));
    r = loom_loop_run(a.loop);
    EXPECT(&a, r == 0);
    loom_cancel(a.loop, dog);
    EXPECT(&a, loom_glib_guest_dispatches(guest) > 0);
    gtk_widget_destroy(a.window);
    loom_glib_guest_free(guest);
    loom_loop_close(a.loop);
    loom_loop_unref(a.loop);
    if (!a.failed)
        printf("gtk-guest: drew, took a key and a button, ran a modal dialog with loom inside\n");
    return a.failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
