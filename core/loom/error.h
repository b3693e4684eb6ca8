/** @file
 * loom — errors. Every fallible call returns 0 (or a count) on success and a
 * negative errno value on failure, e.g. -EBADF, -ECANCELED, -ETIMEDOUT. */
#ifndef LOOM_ERROR_H
#define LOOM_ERROR_H

#include <errno.h>
#include <loom/export.h>

LOOM_BEGIN_DECLS

/** Text for a loom error code (negative errno; the sign is ignored). The
 * string is static; never NULL. */
LOOM_API const char *loom_strerror(int err);

LOOM_END_DECLS

#endif
