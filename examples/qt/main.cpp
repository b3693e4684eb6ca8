/* loom example on Qt Widgets: the shared work (examples/shared/work.c) runs on
 * a loom loop that lives in Qt's own event loop, including inside the nested
 * loop of a modal QDialog. `--self-test` drives the window by itself.
 * No moc: signals go to lambdas. */
#include <cstdio>
#include <cstring>
#include <QApplication>
#include <QDialog>
#include <QDialogButtonBox>
#include <QGridLayout>
#include <QLabel>
#include <QPushButton>
#include <QTimer>
#include <QVBoxLayout>
#include <QWidget>
#include <loom/loom-qt.h>
#include "selftest.h"
#include "work.h"

namespace {

struct App {
    QWidget window;
    QPushButton *start[WORK_ITEMS];
    QLabel *label[WORK_ITEMS];
    QPushButton *modal_button;
    QDialog *dialog = nullptr; // the modal dialog while it is open
    struct work *work = nullptr;
    QByteArray text; // what label_text returned last
};

App *app_of(void *data)
{
    return static_cast<App *>(data);
}

// --- what the work shows ---------------------------------------------------

const struct work_ui work_hooks = {
    .set_label = [](void *data, enum work_item item, const char *text) {
        app_of(data)->label[item]->setText(QString::fromUtf8(text));
    },
    .set_busy = [](void *data, enum work_item item, bool busy) { app_of(data)->start[item]->setEnabled(!busy); },
};

// --- buttons -----------------------------------------------------------------

void run_modal(App *app)
{
    QDialog dialog(&app->window);
    dialog.setWindowTitle(QStringLiteral("Modal dialog"));
    auto *layout = new QVBoxLayout(&dialog);
    layout->addWidget(new QLabel(QStringLiteral("The work keeps running behind this modal dialog.")));
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Close);
    QObject::connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
    layout->addWidget(buttons);
    app->dialog = &dialog;
    dialog.exec(); // a nested event loop: loom keeps running in it
    app->dialog = nullptr;
}

void build_window(App *app, const char *backend)
{
    app->window.setWindowTitle(QStringLiteral("loom on Qt Widgets (%1 backend)").arg(QString::fromUtf8(backend)));
    app->window.resize(420, 0);
    auto *grid = new QGridLayout(&app->window);
    app->modal_button = new QPushButton(QStringLiteral("Modal dialog"));
    for (int i = 0; i < WORK_ITEMS; i++) {
        auto item = static_cast<enum work_item>(i);
        app->start[i] = new QPushButton(QString::fromUtf8(work_button_text(item)));
        // A failure to start shows in the label.
        QObject::connect(app->start[i], &QPushButton::clicked, [app, item] { work_start(app->work, item); });
        app->label[i] = new QLabel;
        grid->addWidget(app->start[i], i, 0);
        grid->addWidget(app->label[i], i, 1);
    }
    grid->addWidget(app->modal_button, WORK_ITEMS, 0);
    grid->setColumnStretch(1, 1);

    QObject::connect(app->modal_button, &QPushButton::clicked, [app] { run_modal(app); });
}

// --- what the self-test drives -----------------------------------------------

const struct selftest_ui selftest_hooks = {
    .click_start = [](void *data, enum work_item item) { app_of(data)->start[item]->click(); },
    .click_modal = [](void *data) { app_of(data)->modal_button->click(); },
    .close_modal = [](void *data) { app_of(data)->dialog->reject(); },
    .label_text = [](void *data, enum work_item item) -> const char * {
        App *app = app_of(data);
        app->text = app->label[item]->text().toUtf8();
        return app->text.constData();
    },
    .later = [](void *data, int delay_ms, void (*fn)(void *), void *fn_data) {
        QTimer::singleShot(delay_ms, &app_of(data)->window, [fn, fn_data] { fn(fn_data); });
    },
    .quit = [](void *, int status) { QCoreApplication::exit(status); },
};

} // namespace

int main(int argc, char **argv)
{
    QApplication qapp(argc, argv);
    bool self_test = argc == 2 && std::strcmp(argv[1], "--self-test") == 0;
    if (argc > 1 && !self_test) {
        std::fprintf(stderr, "usage: %s [--self-test]\n", argv[0]);
        return 2;
    }

    loom_loop *loop;
    int r = loom_qt_loop_new(&loop);
    if (r < 0) {
        std::fprintf(stderr, "loom_qt_loop_new: %s\n", loom_strerror(r));
        return 1;
    }
    App app;
    build_window(&app, loom_loop_backend_name(loop));
    r = work_new(&app.work, loop, &work_hooks, &app);
    if (r < 0) {
        std::fprintf(stderr, "work_new: %s\n", loom_strerror(r));
        return 1;
    }
    if (self_test)
        selftest_start(&selftest_hooks, &app, app.work);
    app.window.show();
    int status = qapp.exec();
    work_free(app.work);
    loom_loop_unref(loop); // closes the loop while the QApplication still exists
    return status;
}
