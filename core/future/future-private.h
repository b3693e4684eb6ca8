/* What the combinators (future-combinators.c) need from the future object
 * (future.c) beyond the public API. */
#ifndef LOOM_FUTURE_PRIVATE_H
#define LOOM_FUTURE_PRIVATE_H

#include <loom/future.h>

/* Called once when the pending future is cancelled (after its state became
 * CANCELLED), so a combinator can cancel what the future waits for. */
typedef void (*future_cancel_hook)(void *data);
void loom__future_set_cancel_hook(loom_future *future, future_cancel_hook hook, void *data);

/* Whether a callback can be added to future on this thread: 0, -EINVAL
 * (NULL), -EXDEV (another thread's loop: reported as func's) or -ESHUTDOWN
 * (its loop closed). */
int loom__future_check_attach(const loom_future *future, const char *func);

/* loom_future_on_done for callbacks whose data owns references: release(data)
 * runs instead of cb if the loop closes before cb could run. */
int loom__future_on_done_owned(loom_future *future, loom_future_callback cb, void *data,
                         void (*release)(void *data));

/* Takes back the callback (cb, data) added to the still pending future,
 * without releasing what it owns: true if it was there (one of them, if it
 * was added more than once; false on another thread than the loop's). A combinator that
 * cancels an input detaches first, so that the cancel queues no dispatch of
 * its own for the loop to run (or drop at close). */
bool loom__future_off_done(loom_future *future, loom_future_callback cb, void *data);

/* Resolves the pending future with source's value, shared: future keeps a
 * reference to source and exposes its value; its integer is value_int. */
void loom__future_resolve_shared(loom_future *future, loom_future *source, int64_t value_int);

/* Completes the pending future like the done future source: shares its value
 * and integer, copies its failure (which counts as retrieved on source), or
 * cancels it. */
void loom__future_complete_like(loom_future *future, loom_future *source);

/* Nobody but the caller (holding the one reference) can see the pending
 * future any more: no other reference, no callback. */
bool loom__future_unwanted(const loom_future *future);


#endif
