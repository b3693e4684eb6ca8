/** @file
 * loom — streams: byte streams over sockets, pipes and ttys, with futures.
 *
 * A stream owns one non-blocking fd and serves completion-shaped operations
 * on it: each read or write returns a future, and the stream owns the
 * operation's buffer until the operation completes. It runs on the backend
 * contract only, so it works on every backend. On Linux, with
 * $LOOM_URING_STREAMS=1 set when the loop's io_uring is made, a socket
 * stream's reads and queued writes, servers' accepts (multishot, from Linux
 * 6.1) and connects go through that ring instead of fd readiness: same API,
 * same results (opt-in: on the machines measured it
 * gains 0-15% at 100 connections and nothing at 1).
 *
 *     static int echo(void *arg)                  // a task per connection
 *     {
 *         loom_stream *s = arg;
 *         for (;;) {
 *             loom_future *f = loom_stream_read(s, 65536);
 *             int r = loom_await(f);
 *             loom_bytes *b = r < 0 ? NULL : loom_future_value(f);
 *             if (b && b->len)
 *                 r = loom_stream_write(s, b->data, b->len, NULL);
 *             bool more = r >= 0 && b && b->len;
 *             loom_future_unref(f);
 *             if (!more)
 *                 break;
 *             loom_await_drain(s);                // see loom_stream_drain
 *         }
 *         loom_future_unref(loom_stream_close(s));
 *         return 0;
 *     }
 *
 * Threads: a stream belongs to its loop; call everything on the loop's
 * thread (other threads get -EXDEV / NULL with errno EXDEV).
 *
 * Reading. One read is outstanding at a time (a second one fails with
 * EBUSY). The stream reads ahead into its buffer once the first read was
 * asked for, up to its read limit (loom_stream_set_read_limit, 64 KiB by
 * default): past the limit it stops reading from the fd (the kernel's
 * buffer then pushes back on the peer) and resumes once reads consumed the
 * buffer below it. EOF is a result, not an error: a read at EOF resolves
 * with an empty loom_bytes whose eof is true. Buffered bytes are always
 * delivered before a pending error.
 *
 * Writing. Writes are queued in call order and go to the kernel in that
 * order; each may give a future that resolves (its integer: the byte count)
 * once all its bytes are in the kernel. A write tries the fd at once when
 * nothing is queued. The queued bytes count against the write water marks
 * (64 KiB high, 16 KiB low by default): loom_stream_drain gives the
 * backpressure asyncio's drain() gives.
 *
 * Errors. A stream never raises SIGPIPE: a write to a closed peer fails
 * with -EPIPE (sockets send with MSG_NOSIGNAL; for other fds the signal is
 * blocked in the thread around the write and a SIGPIPE it raised is taken
 * back). EINTR is retried. The first error on the fd (a reset, EPIPE, ...) becomes
 * the stream's error, given once: every pending read and write future fails
 * with it, and so does every later operation (the error is not reported to
 * the loop's error handler; the futures carry it). loom_stream_error
 * returns it.
 *
 * Loop close. Closing the loop fails every pending future of every stream
 * and server with -ESHUTDOWN and closes their fds; the handles stay valid
 * until the caller's loom_stream_close / loom_stream_abort /
 * loom_server_close, which then only free memory. No path leaks an fd.
 *
 * Ownership. The caller owns a stream from its constructor (or from
 * loom_stream_take on a connect or accept future, or the accept callback)
 * until it calls loom_stream_close or loom_stream_abort, exactly one of
 * them, which releases it; futures the stream returned stay valid as
 * futures (the caller owns each one it got, as usual). */
#ifndef LOOM_STREAM_H
#define LOOM_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <loom/future.h>

LOOM_BEGIN_DECLS

struct iovec;

/** A byte stream over one fd (opaque; see Ownership above). */
typedef struct loom_stream loom_stream;
/** A listening server (opaque; owned by its caller until loom_server_close). */
typedef struct loom_server loom_server;

/** The value of a resolved read future: one allocation with its bytes,
 * owned by the future (freed with it; loom_future_steal_value hands it over
 * with its destroy function, which frees it or keeps it for the thread's
 * next reads; plain free() is right too). data is NUL-terminated beyond
 * len, for convenience. */
typedef struct loom_bytes {
    unsigned char *data; /**< len bytes (+ a NUL), in the same allocation */
    size_t len;          /**< bytes in data; 0 only at EOF */
    bool eof;            /**< the peer closed its side: no bytes after these */
} loom_bytes;

/** The defaults of loom_stream_set_read_limit and loom_stream_set_write_water. */
///@{
#define LOOM_STREAM_READ_LIMIT ((size_t)64 * 1024)
#define LOOM_STREAM_HIGH_WATER ((size_t)64 * 1024)
#define LOOM_STREAM_LOW_WATER ((size_t)16 * 1024)
///@}

/* --- making streams ------------------------------------------------------- */

/** A stream over fd: a connected socket, a pipe end, a tty, ... It sets fd
 * non-blocking and owns it from a successful call on (loom_stream_close or
 * abort closes it). An fd the loop cannot poll (on epoll: a regular file,
 * /dev/null) fails the stream's first read, or a write the kernel does not
 * take at once, with the loop's error (-EPERM); read regular files with
 * loom/file.h. Returns a new stream the caller owns, or NULL with
 * errno set (EINVAL, EBADF, EEXIST: fd has a watch already, ESHUTDOWN, EXDEV,
 * ENOMEM); then the caller still owns fd and its flags are as they were. */
LOOM_API loom_stream *loom_stream_new(loom_loop *loop, int fd);

/** Options of loom_tcp_connect; a zeroed struct (or NULL) is the default. */
typedef struct loom_connect_opts {
    /** The whole connect, name resolution included; 0: none. */
    int64_t timeout_ns;
    /** Happy Eyeballs (RFC 8305): the next address is tried once the
     * previous attempt has not connected for this long, while it goes on;
     * the first to connect wins, the others are closed. 0: 250 ms; < 0: one
     * address at a time, each until it fails. */
    int64_t attempt_delay_ns;
    /** AF_UNSPEC (0: IPv6 and IPv4, interleaved, as the resolver orders
     * them), AF_INET or AF_INET6. */
    int family;
} loom_connect_opts;

/** Connects to host:service over TCP. The name is resolved on the executor
 * (loom_getaddrinfo, AI_ADDRCONFIG), every address is tried in order as
 * opts says, and the socket gets TCP_NODELAY. The future (a new reference)
 * resolves with the connected stream as its value (take it with
 * loom_stream_take; one left in the future is aborted when the future
 * goes), or fails with: loom_getaddrinfo's errors (-ENOENT for a name that
 * does not resolve), -ETIMEDOUT (opts->timeout_ns passed), or the error of
 * the last address tried (-ECONNREFUSED, -ENETUNREACH, ...), with a message
 * naming each address tried and its error. Cancelling it stops the
 * resolution and closes every attempt. host and service are copied; opts is
 * read during the call only. NULL with errno set: EINVAL (NULL host or
 * service, bad family), ESHUTDOWN, EXDEV, ENOMEM. */
LOOM_API loom_future *loom_tcp_connect(loom_loop *loop, const char *host, const char *service,
                                       const loom_connect_opts *opts);

/** Connects to the Unix-domain stream socket at path; a path that starts
 * with '@' names an abstract socket (Linux; the rest of the name follows the
 * NUL that the kernel expects). timeout_ns: 0 for none. Resolves like
 * loom_tcp_connect (-ENOENT: no such socket, -ECONNREFUSED: nobody
 * listening, -ETIMEDOUT); NULL with errno EINVAL for a NULL, empty or too
 * long path (sun_path holds 107 bytes), ESHUTDOWN, EXDEV, ENOMEM. */
LOOM_API loom_future *loom_unix_connect(loom_loop *loop, const char *path, int64_t timeout_ns);

/** Takes the stream out of a resolved connect or accept future: the caller
 * owns it from here (as from loom_stream_new). NULL (errno EINVAL) if the
 * future did not resolve with a stream, or it was taken already. */
LOOM_API loom_stream *loom_stream_take(loom_future *future);

/** @name Reading
 * Each returns a future (a new reference the caller owns) that resolves with
 * a loom_bytes value, or NULL with errno set: EBUSY (a read is outstanding),
 * EINVAL (NULL stream, n or limit 0, empty delimiter), ESHUTDOWN (the loop
 * closed), EXDEV, ENOMEM. Reading after EOF resolves with EOF again. Failures
 * come in the future: the stream's error (-ECONNRESET, ...), -ESHUTDOWN.
 * Cancelling a read gives up on it: no byte is lost, what it had not
 * consumed stays buffered for the next read. */
///@{

/** Resolves with 1..max bytes as soon as any are there, or with none and eof
 * at EOF. */
LOOM_API loom_future *loom_stream_read(loom_stream *stream, size_t max);

/** Resolves with exactly n bytes. At EOF before n bytes it fails with
 * -EPIPE and the message "short read: got K of N bytes"; the K bytes stay
 * buffered (a loom_stream_read returns them, then EOF). n may exceed the read
 * limit (the stream then reads until it has n). */
LOOM_API loom_future *loom_stream_read_exactly(loom_stream *stream, size_t n);

/** Resolves with the bytes up to and including the first occurrence of
 * delim (delim_len bytes, copied), at most limit bytes in all. A stream that
 * buffered limit bytes without finding delim fails it with -EMSGSIZE and the
 * message "no delimiter within LIMIT bytes"; those bytes stay buffered (read
 * them, e.g. to skip them, with loom_stream_read): the stream buffers no
 * more than the larger of limit and its read limit for it, never more. At
 * EOF it resolves with what was left (without delim, possibly empty) and
 * eof set, as asyncio's readline does. */
LOOM_API loom_future *loom_stream_read_until(loom_stream *stream, const void *delim, size_t delim_len,
                                             size_t limit);

/** loom_stream_read_until(stream, "\n", 1, limit). */
LOOM_API loom_future *loom_stream_read_line(loom_stream *stream, size_t limit);

/** The read-ahead limit (default LOOM_STREAM_READ_LIMIT, >= 1): the stream
 * pauses reading from the fd while it has that many bytes buffered. 0 or
 * -EINVAL / -ESHUTDOWN. */
LOOM_API int loom_stream_set_read_limit(loom_stream *stream, size_t limit);

/** Bytes read from the fd and not yet consumed by a read (0 for NULL). */
LOOM_API size_t loom_stream_buffered(const loom_stream *stream);
///@}

/** @name Writing
 * Each queues bytes behind the earlier writes and returns 0, or a negative
 * errno with nothing queued: -EINVAL (NULL stream), -EPIPE (after
 * loom_stream_shutdown), the stream's error, -ESHUTDOWN,
 * -EXDEV, -ENOMEM. donep (may be NULL) receives a future (a new reference
 * the caller owns) that resolves with the byte count as its integer once
 * every byte of this write is in the kernel, or fails with the stream's
 * error (-ECONNRESET, -EPIPE, ...) or -ESHUTDOWN, or is cancelled by
 * loom_stream_abort. Without donep a failure is seen at the next read, write
 * or drain. A write of 0 bytes resolves at once, in order. Cancelling a
 * write future does not unqueue the bytes (they may be partly sent). */
///@{

/** Copies len bytes of data (data is not used after the call). */
LOOM_API int loom_stream_write(loom_stream *stream, const void *data, size_t len, loom_future **donep);

/** Hands data over without a copy: the stream owns it from a successful call
 * on and calls destroy(data) (may be NULL) exactly once, on the loop's
 * thread, when the write completed or failed or was dropped (abort, loop
 * close). On failure the caller still owns data. */
LOOM_API int loom_stream_write_take(loom_stream *stream, void *data, size_t len, loom_destroy_fn destroy,
                                    loom_future **donep);

/** Copies iovcnt buffers (0..IOV_MAX), written as one write in order. */
LOOM_API int loom_stream_writev(loom_stream *stream, const struct iovec *iov, int iovcnt, loom_future **donep);

/** Bytes queued and not yet in the kernel (0 for NULL). */
LOOM_API size_t loom_stream_write_queued(const loom_stream *stream);

/** Sets the write water marks (default LOOM_STREAM_HIGH_WATER and
 * LOOM_STREAM_LOW_WATER). 0, -EINVAL if low > high, -ESHUTDOWN. A
 * pending drain re-checks against the new marks. */
LOOM_API int loom_stream_set_write_water(loom_stream *stream, size_t high, size_t low);

/** Backpressure: a future (a new reference) that resolves at once if at most
 * the high water mark is queued, else once the queue fell to the low water
 * mark; it fails with the stream's error or -ESHUTDOWN, and is cancelled
 * by loom_stream_abort (loom_stream_close lets it resolve as the queue
 * flushes).
 * NULL with errno EINVAL, EXDEV, ENOMEM, ESHUTDOWN. Any number may wait. */
LOOM_API loom_future *loom_stream_drain(loom_stream *stream);

/** From a task: awaits loom_stream_drain and returns its status. */
LOOM_API int loom_await_drain(loom_stream *stream);
///@}

/* --- ending -------------------------------------------------------------- */

/** Half-close: once every queued write is in the kernel, shuts the write side
 * down (shutdown(SHUT_WR) on a socket; a pipe or tty end is closed if the
 * stream only writes to it). Reading goes on. Later writes fail with -EPIPE.
 * The future (a new reference) resolves when done, or fails with the
 * stream's error, -ENOTSOCK (a non-socket fd open for reading too),
 * -ESHUTDOWN. NULL with errno EINVAL, EPIPE (shut down already), ESHUTDOWN,
 * EXDEV, ENOMEM. */
LOOM_API loom_future *loom_stream_shutdown(loom_stream *stream);

/** Closes the stream after its queued writes reached the kernel, and releases
 * the caller's stream: the caller must not use it again (its futures stay
 * valid). An outstanding read is cancelled at once. The future (a new
 * reference; unref it at once if unwanted) resolves once the fd is closed,
 * or fails with the error that stopped the flush (the fd is closed then too).
 * NULL with errno set for a NULL stream (EINVAL), on a closed loop
 * (ESHUTDOWN) or without memory for the future (ENOMEM): the stream is closed
 * and released all the same (at once, dropping what was queued, on a closed
 * loop or without memory). */
LOOM_API loom_future *loom_stream_close(loom_stream *stream);

/** Closes the fd now and releases the caller's stream: queued writes are
 * dropped (their futures cancelled, their buffers destroyed), an outstanding
 * read and pending drains are cancelled. NULL is ignored. */
LOOM_API void loom_stream_abort(loom_stream *stream);

/* --- inspection --------------------------------------------------------- */

/** The stream's fd (borrowed: do not close it), or -EBADF once closed. */
LOOM_API int loom_stream_fd(const loom_stream *stream);

/** The stream's error (0 if none): the first error the fd gave. */
LOOM_API int loom_stream_error(const loom_stream *stream);

/** Whether the peer's EOF has been read from the fd (buffered bytes may
 * remain before it). */
LOOM_API bool loom_stream_at_eof(const loom_stream *stream);

/** The loop of the stream (borrowed). */
LOOM_API loom_loop *loom_stream_loop(const loom_stream *stream);

/* --- servers ------------------------------------------------------------ */

/** Called with each accepted connection; the callback owns stream from here
 * (it must close or abort it some time). Accepted TCP connections have
 * TCP_NODELAY set, as connected ones do. */
typedef void (*loom_accept_fn)(loom_server *server, loom_stream *stream, void *data);

/** Options of the listen calls; a zeroed struct (or NULL) is the default. */
typedef struct loom_server_opts {
    int backlog;      /**< listen(2)'s; 0: SOMAXCONN */
    bool reuse_port;  /**< also SO_REUSEPORT (SO_REUSEADDR is always set for TCP) */
    /** After EMFILE / ENFILE / ENOBUFS / ENOMEM on accept, the server stops
     * accepting for this long (0: 100 ms), so that it never spins; each such
     * pause is reported to the loop's error handler once. */
    int64_t accept_retry_ns;
} loom_server_opts;

/** Listens on TCP host:service. host is a numeric IPv4 or IPv6 address, or
 * NULL for every local address (a socket for IPv6, with IPV6_V6ONLY, and
 * one for IPv4); service is a numeric port, "0" for one the kernel picks
 * (see loom_server_port). Names are not resolved here (that would block
 * the loop): resolve them with loom_getaddrinfo first. Returns 0 and a new
 * server the caller owns in *serverp, or -EINVAL (NULL argument, a name
 * that is not numeric), -EADDRINUSE, -EACCES, another bind/listen errno,
 * -ESHUTDOWN, -EXDEV, -ENOMEM. The server accepts nothing until it has an
 * accept callback or an accept future pending. */
LOOM_API int loom_tcp_listen(loom_loop *loop, const char *host, const char *service,
                             const loom_server_opts *opts, loom_server **serverp);

/** Listens on the Unix-domain stream socket at path ('@': abstract, as for
 * loom_unix_connect). A stale socket file at path (nobody listening) is
 * replaced; loom_server_close removes the file it made. Returns like
 * loom_tcp_listen (-EADDRINUSE when another server listens there). */
LOOM_API int loom_unix_listen(loom_loop *loop, const char *path, const loom_server_opts *opts,
                              loom_server **serverp);

/** Sets the accept callback (NULL cb: none). The server owns data from a
 * successful call on: destroy(data) (may be NULL) runs once, when another
 * callback replaces it, or at loom_server_close, or at loop close. Pending
 * accept futures are served first. 0, -EINVAL, -ESHUTDOWN, -EXDEV. */
LOOM_API int loom_server_on_accept(loom_server *server, loom_accept_fn cb, void *data, loom_destroy_fn destroy);

/** A future (a new reference) that resolves with the next accepted
 * connection as its value (loom_stream_take), or fails with -ESHUTDOWN, or
 * is cancelled by loom_server_close. Several may be pending: they are served
 * in order. Cancelling one gives up the wait. NULL with errno EINVAL,
 * ESHUTDOWN, EXDEV, ENOMEM. */
LOOM_API loom_future *loom_server_accept(loom_server *server);

/** The local port of the server (of its first socket), or a negative errno
 * (-EAFNOSUPPORT for a Unix server). */
LOOM_API int loom_server_port(const loom_server *server);

/** How many times accept failed for lack of fds or memory so far (each made
 * the server pause; see loom_server_opts). */
LOOM_API uint64_t loom_server_accept_errors(const loom_server *server);

/** Closes the listening sockets and releases the caller's server: pending
 * accept futures are cancelled, the callback's destroy runs. Connections
 * accepted before are not touched. NULL is ignored. */
LOOM_API void loom_server_close(loom_server *server);

LOOM_END_DECLS

#endif
