/* Error texts and the loop's error handler. */
#include "config.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "loop-private.h"

const char *loom_strerror(int err)
{
    if (err < 0)
        err = -err;
    switch (err) {
    case 0:
        return "Success";
    case ESHUTDOWN:
        return "Loop is closed";
    case EXDEV:
        return "Belongs to another loop or thread"; /* a foreign thread, or another loop's future */
    case ECHILD:
        return "Loop belongs to the parent process (inherited across fork)";
    case EDEADLK:
        return "Would deadlock (a loop that cannot nest, or a task awaiting itself)";
    case ETIMEDOUT:
        return "Timed out"; /* strerror says "Connection timed out" */
    case ECANCELED:
        return "Cancelled";
    default:
        return strerror(err); /* glibc returns a static text for known codes */
    }
}

int loom_loop_set_error_handler(loom_loop *loop, loom_error_handler handler, void *data)
{
    LOOP_CHECK(loop);
    loop->on_error = handler;
    loop->on_error_data = data;
    return 0;
}

void loom_loop_report(loom_loop *loop, int err, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (loop && loop->on_error)
        loop->on_error(loop, err, msg, loop->on_error_data);
    else
        fprintf(stderr, "loom: %s (%s)\n", msg, loom_strerror(err));
}
