/* What the I/O layer's files (streams, servers, connects, fd waits) share. */
#ifndef LOOM_IO_PRIVATE_H
#define LOOM_IO_PRIVATE_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <loom/signal.h>
#include <loom/stream.h>

/* Fails a pending future with err, or cancels it if nobody but the caller
 * can see it any more (so an unwanted failure is not reported as
 * unretrieved). Then drops the caller's reference. */
void loom__io_future_fail(loom_future *future, int err, const char *msg);

/* A Unix-domain address for path ('@': abstract). 0 or -EINVAL. */
int loom__io_unix_address(const char *path, struct sockaddr_un *sun, socklen_t *lenp);

/* A non-blocking close-on-exec socket, or a negative errno. */
int loom__io_socket(int family, int type);

/* The stream over a connected socket fd that loom made non-blocking; on
 * failure fd is closed. NULL with errno set. */
loom_stream *loom__stream_adopt(loom_loop *loop, int fd);

/* A read result of len bytes (data, len and the NUL after them set; eof
 * false), or NULL without memory. It can be freed with free() too. */
loom_bytes *loom__bytes_new(size_t len);
/* Its destroy function: keeps small blocks for the thread's next reads. */
void loom__bytes_free(void *bytes);

/* A future's value destroy for a stream nobody took: aborts it. */
void loom__stream_abort_value(void *stream);

/* loom_signal_watch and _unwatch for loom's own use (the subprocesses'
 * SIGCHLD without pidfds): a watch beside the program's, never in its place
 * (neither refuses nor removes the other). On the loop's thread. */
int loom__signal_watch_own(loom_loop *loop, int signo, loom_signal_callback cb, void *data);
int loom__signal_unwatch_own(loom_loop *loop, int signo);

#endif
