/** @file
 * loom — asynchronous files: open, read, write, sync, stat and close as
 * futures, on every host.
 *
 * Each call starts one operation and returns its future (a new reference the
 * caller owns), or NULL with errno set: ESHUTDOWN (closed loop), EXDEV (not
 * the loop's thread), EINVAL (bad argument), ENOMEM. Call them on the loop's
 * thread. The operation runs through the loop's io_uring (Linux, built with
 * liburing's header, when liburing.so.2 is installed - it is opened at run
 * time - and the kernel allows it) or else on the executor's thread pool;
 * both give the same results. The future resolves with an integer
 * (loom_future_value_int): the fd, the byte count, or 0; or fails with the
 * negative errno the system call gave (-ENOENT, -EBADF, -EISDIR, ...).
 *
 * The engine is chosen once per loop, at its first file call:
 *   $LOOM_URING=0        always the executor;
 *   $LOOM_URING_DEBUG=1  prints one line to stderr naming the engine and why
 *                        (e.g. "io_uring_queue_init: Operation not permitted");
 *   $LOOM_URING_DEFER=0  the ring does not defer its task work to the loop
 *                        (as before Linux 6.1: each completion that finds
 *                        the loop asleep interrupts its poll; for tests).
 * A kernel, sandbox or memlock limit that refuses io_uring (ENOSYS, EPERM,
 * ENOMEM), or lacks one of its operations, or a missing liburing.so.2, means
 * the executor.
 *
 * Buffers. The operation owns its own copy of the data: a write copies the
 * caller's bytes before the call returns (the caller may reuse its buffer at
 * once); a read lands in the operation's buffer and is copied into the
 * caller's on the loop's thread just before the future resolves. So the
 * caller's read buffer (and a stat's struct) must stay valid while the future
 * is pending, and is never touched once it is done: after a cancel (or the
 * loop's close) nothing is written to it, even though a read the kernel or a
 * pool thread already started may still finish into the operation's copy,
 * which is freed then.
 *
 * Cancelling a future cancels the operation where it can (io_uring's cancel;
 * a job the pool has not started yet never runs); one already under way
 * finishes and its result is dropped: an open's fd is then closed, a write may
 * have happened. Closing the loop fails every pending future with -ESHUTDOWN,
 * cancels what the ring has in flight and waits for it (up to a second),
 * does a loom_file_close that has not run yet itself, and closes the fd of
 * every open that completes after that (operations the pool has not started
 * never run).
 *
 * Offsets: -1 means the file's current position (read(2)/write(2), the only
 * kind a pipe or socket takes; an offset >= 0 there is -ESPIPE on the
 * executor). One operation moves at most 0x7ffff000 bytes, as one Linux read
 * does: a longer request completes short. */
#ifndef LOOM_FILE_H
#define LOOM_FILE_H

#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <loom/future.h>

LOOM_BEGIN_DECLS

/** open(2) of path (copied) with flags and mode; O_CLOEXEC is always added.
 * Resolves with the new fd, which the caller then owns. */
LOOM_API loom_future *loom_file_open(loom_loop *loop, const char *path, int flags, mode_t mode);

/** pread(2) of up to len bytes at offset into buf (see "Buffers": valid while
 * pending). Resolves with the byte count; 0 at end of file. */
LOOM_API loom_future *loom_file_read(loom_loop *loop, int fd, void *buf, size_t len, int64_t offset);

/** pwrite(2) of len bytes from buf (copied) at offset. Resolves with the byte
 * count written. */
LOOM_API loom_future *loom_file_write(loom_loop *loop, int fd, const void *buf, size_t len, int64_t offset);

/** preadv(2)/pwritev(2) over iovcnt (0..IOV_MAX) vectors (0 transfers
 * nothing, and fails only as the system call would: EBADF); the iovec
 * array is copied, the buffers it names follow the rules of read and write. */
///@{
LOOM_API loom_future *loom_file_readv(loom_loop *loop, int fd, const struct iovec *iov, int iovcnt,
                                      int64_t offset);
LOOM_API loom_future *loom_file_writev(loom_loop *loop, int fd, const struct iovec *iov, int iovcnt,
                                       int64_t offset);
///@}

/** fsync(2) and fdatasync(2). Resolve with 0. */
///@{
LOOM_API loom_future *loom_file_fsync(loom_loop *loop, int fd);
LOOM_API loom_future *loom_file_fdatasync(loom_loop *loop, int fd);
///@}

/** fstat(2) into *st, which the caller owns (valid while pending; written just
 * before the future resolves). Resolves with 0. */
LOOM_API loom_future *loom_file_stat(loom_loop *loop, int fd, struct stat *st);

/** close(2) of fd, which the operation takes over (do not use the number
 * again; on NULL it is still the caller's). Resolves with 0 or fails with
 * close's error. */
LOOM_API loom_future *loom_file_close(loom_loop *loop, int fd);

/** "io_uring" or "executor": the engine of loop's files (chosen now if it was
 * not yet). NULL with errno set (ESHUTDOWN, EXDEV, ENOMEM). Static string. */
LOOM_API const char *loom_file_engine(loom_loop *loop);

LOOM_END_DECLS

#endif
