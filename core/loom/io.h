/** @file
 * loom — waiting for an fd.
 *
 * loom_fd_wait is the one-shot, future-shaped form of an fd watch: what a
 * task awaits instead of hand-writing a reader that removes itself.
 *
 *     loom_future *f = loom_fd_wait(loop, fd, LOOM_READ);
 *     int r = loom_await(f);                  // 0 once fd is readable
 *     unsigned ready = (unsigned)loom_future_value_int(f);
 *     loom_future_unref(f);
 *
 * Any number of waiters may wait on one fd at the same time, for the same
 * or different events, also on an fd that has a reader, a writer, a
 * loom_fd_watch or a stream (before or after they came): they share the
 * fd's one backend watch with it, and its callbacks get their events first.
 * If a reader, writer or watch that the waiters came after goes while they
 * wait, they resolve with LOOM_ERR. (On the io_uring stream engine,
 * LOOM_URING_STREAMS=1, a stream's pending read takes the bytes in the
 * kernel as they arrive: a LOOM_READ waiter on its fd may then never see
 * them.) It works on every backend. Like every
 * loop function, call it on the loop's thread. */
#ifndef LOOM_IO_H
#define LOOM_IO_H

#include <loom/future.h>

LOOM_BEGIN_DECLS

/** Waits until fd is ready for events (LOOM_READ, LOOM_WRITE or both). The
 * future (a new reference the caller owns) resolves once, with no value and
 * the events that were ready as its integer (loom_future_value_int): the
 * wanted ones that occurred, with LOOM_HUP / LOOM_ERR when the fd is hung up
 * or has an error (those always come with the wanted events, as for fd
 * callbacks). Every waiter of an fd that becomes ready is resolved by the
 * same event. Cancelling the future removes the wait (the fd's backend
 * interest shrinks accordingly). If fd is found closed or replaced while
 * waited for, the future resolves with LOOM_ERR in its events; closing the
 * loop fails it with -ESHUTDOWN.
 * Returns NULL with errno set: EINVAL (events empty or with other bits, NULL
 * loop), EBADF (fd not open, or its watch found it closed), ESHUTDOWN,
 * EXDEV, ENOMEM. */
LOOM_API loom_future *loom_fd_wait(loom_loop *loop, int fd, unsigned events);

LOOM_END_DECLS

#endif
