/** @file
 * loom — datagram sockets: UDP over IPv4 and IPv6, Unix datagram sockets.
 *
 * A loom_dgram owns a non-blocking, close-on-exec datagram socket watched on
 * its loop. Receive either with futures (loom_dgram_recv_from, any number
 * queued, served in order) or with a receive callback for servers (one per
 * socket; the two are exclusive). Sends are copied and queued in order; each
 * returns a future resolved once the kernel took the datagram.
 *
 * Sizes are never truncated silently: a datagram larger than the receive
 * limit is consumed and reported as -EMSGSIZE with its real size; a send
 * larger than the socket allows fails with -EMSGSIZE.
 *
 * Every function is called on the loop's thread (else -EXDEV). When the loop
 * closes, the socket is closed and every pending future fails with
 * -ESHUTDOWN; the object stays valid until loom_dgram_close frees it. */
#ifndef LOOM_DGRAM_H
#define LOOM_DGRAM_H

#include <stddef.h>
#include <sys/socket.h>
#include <loom/future.h>

LOOM_BEGIN_DECLS

/** A datagram socket (opaque; owned by its caller until loom_dgram_close). */
typedef struct loom_dgram loom_dgram;

/** One received datagram. from holds the sender's address (fromlen bytes; 0
 * for an unnamed Unix socket). */
typedef struct loom_datagram {
    size_t len;                   /**< bytes in data */
    struct sockaddr_storage from; /**< the sender's address */
    socklen_t fromlen;            /**< bytes of from in use */
    unsigned char data[];         /**< len bytes */
} loom_datagram;

/** The default receive limit, the largest UDP payload there is. */
#define LOOM_DGRAM_DEFAULT_MAX 65536

/** Creates an unbound datagram socket of family AF_INET, AF_INET6 or AF_UNIX
 * on loop. Returns 0 and a new object in *dgramp (the caller owns it: free
 * it with loom_dgram_close), -EAFNOSUPPORT, -ENOMEM, -EMFILE..., -EXDEV,
 * -ESHUTDOWN. */
LOOM_API int loom_dgram_new(loom_loop *loop, int family, loom_dgram **dgramp);

/** The same over a datagram socket the caller has (a socketpair end): the
 * object takes fd on success (made non-blocking and close-on-exec), never on
 * failure. -ENOTSOCK, -EPROTOTYPE for a socket that is not SOCK_DGRAM. */
LOOM_API int loom_dgram_new_from_fd(loom_loop *loop, int fd, loom_dgram **dgramp);

/** bind(2) and connect(2); once connected, send_to may pass a NULL address
 * and only the peer's datagrams arrive. 0 or a negative errno (-EINVAL for
 * NULL, bind(2)'s or connect(2)'s errno, -ESHUTDOWN, -EXDEV). addr is read
 * during the call only. */
///@{
LOOM_API int loom_dgram_bind(loom_dgram *dgram, const struct sockaddr *addr, socklen_t addrlen);
LOOM_API int loom_dgram_connect(loom_dgram *dgram, const struct sockaddr *addr, socklen_t addrlen);
///@}

/** getsockname(2): the address bound (e.g. the port chosen for port 0). On
 * entry *addrlen is the size of addr. 0 or a negative errno. */
LOOM_API int loom_dgram_local_address(const loom_dgram *dgram, struct sockaddr *addr, socklen_t *addrlen);

/** The socket (borrowed; -ESHUTDOWN once the loop closed it). For options. */
LOOM_API int loom_dgram_fd(const loom_dgram *dgram);

/** Sends len bytes (copied) to addr, or to the connected peer if addr is
 * NULL. Returns a new future reference that resolves with the integer value
 * len once the kernel took the datagram, or fails: -EMSGSIZE (larger than
 * the socket allows), -ECONNREFUSED (a connected peer went away), any other
 * sendto(2) errno; -ESHUTDOWN at loop close, -ECANCELED at loom_dgram_close.
 * Datagrams go out in the order they were sent. Cancelling a datagram not
 * yet sent withdraws it. NULL with errno set: EINVAL, ENOMEM, ESHUTDOWN, EXDEV. */
LOOM_API loom_future *loom_dgram_send_to(loom_dgram *dgram, const void *buf, size_t len,
                                         const struct sockaddr *addr, socklen_t addrlen);

/** Receives one datagram of at most max bytes (max > 0). Returns a new future
 * reference that resolves with a loom_datagram (owned by the future; take
 * it with loom_future_steal_value, free it with free), or fails: -EMSGSIZE
 * for a larger datagram (consumed; the message gives its size), a pending
 * socket error (-ECONNREFUSED...), -ESHUTDOWN, -ECANCELED as send_to.
 * Futures are served in the order they were made; a cancelled one is
 * skipped. NULL with errno set: EINVAL, EBUSY (a receive callback is set),
 * ENOMEM, ESHUTDOWN, EXDEV. */
LOOM_API loom_future *loom_dgram_recv_from(loom_dgram *dgram, size_t max);

/** Called for each datagram received (err 0, msg borrowed for the call), a
 * datagram larger than the limit (err -EMSGSIZE, msg->len its real size,
 * msg->from its sender, no data), or a socket error (err < 0, msg NULL).
 * The callback may close the socket; msg is not valid after it replaced the
 * receiver with another max or closed the socket. */
typedef void (*loom_dgram_callback)(loom_dgram *dgram, const loom_datagram *msg, int err, void *data);

/** Sets the receive callback (NULL removes it), with datagrams of at most max
 * bytes (0: LOOM_DGRAM_DEFAULT_MAX). The object owns data from a successful
 * call on: destroy(data) (may be NULL) runs once, when the callback is
 * replaced or removed, or at loom_dgram_close. -EBUSY while recv_from
 * futures are pending, -ENOMEM, -ESHUTDOWN, -EXDEV; on failure nothing was
 * taken. */
LOOM_API int loom_dgram_set_receiver(loom_dgram *dgram, size_t max, loom_dgram_callback cb, void *data,
                                     loom_destroy_fn destroy);

/** Closes the socket (if the loop has not), fails pending futures with
 * -ECANCELED, runs the receiver's destroy and frees the object. Safe from
 * the receive callback and after the loop closed. NULL is ignored. */
LOOM_API void loom_dgram_close(loom_dgram *dgram);

LOOM_END_DECLS

#endif
