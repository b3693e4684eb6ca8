/* Internal to libloom-glib: what the GIO bridge asks of the GLib guest. */
#ifndef LOOM_GLIB_PRIVATE_H
#define LOOM_GLIB_PRIVATE_H

#include <stdbool.h>
#include <loom/loom-glib.h>

/* Whether an open guest created on the calling thread drives ctx from loop. */
bool loom__glib_guest_drives(const loom_loop *loop, const GMainContext *ctx);

#endif
