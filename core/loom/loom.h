/** @file
 * loom — umbrella header: write async code once, run it on any event loop. */
#ifndef LOOM_H
#define LOOM_H

#include <loom/error.h>
#include <loom/loop.h>
#include <loom/future.h>
#include <loom/task.h>
#include <loom/sync.h>
#include <loom/executor.h>
#include <loom/io.h>
#include <loom/stream.h>
#include <loom/signal.h>
#include <loom/dgram.h>
#include <loom/process.h>
#include <loom/file.h>

#endif
