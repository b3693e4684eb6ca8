/** @file
 * loom-curl — libcurl transfers as loom futures, on any loom loop.
 *
 * Each loop gets one curl multi handle, made on first use and driven through
 * libcurl's multi_socket interface: curl's sockets become loom fd watches,
 * curl's timeout one loom timer, so transfers run on every backend (epoll,
 * poll, GLib, libevent, Qt) with no thread and no polling.
 *
 * Sockets: the bridge installs CURLOPT_CLOSESOCKETFUNCTION on every easy
 * handle it runs, which removes loom's watch before curl closes the socket,
 * so a socket number curl reuses never meets a stale watch (do not set that
 * option or CURLOPT_PRIVATE yourself; CURLOPT_WRITEFUNCTION/WRITEDATA are set
 * by the bridge too — pass a loom_curl_write_fn instead).
 *
 * Closing the loop fails every pending transfer with -ESHUTDOWN, closes
 * curl's connections and frees the multi handle: no fd, watch or timer is
 * left. Everything here is called on the loop's thread.
 *
 *     #include <loom/loom-curl.h>      pkg-config: loom-curl */
#ifndef LOOM_CURL_H
#define LOOM_CURL_H

#include <stddef.h>
#include <curl/curl.h>
#include <loom/future.h>

LOOM_BEGIN_DECLS

/** Receives the body as curl delivers it: returns n to go on, anything else
 * aborts the transfer (CURLE_WRITE_ERROR). Never called once the transfer's
 * future is done (also not after it was cancelled). */
typedef size_t (*loom_curl_write_fn)(const char *ptr, size_t n, void *data);

/** Starts the transfer set up on easy on loop's multi handle and returns its
 * future (a new reference), or NULL with errno set (ESHUTDOWN: loop closed,
 * ENOMEM, EINVAL: NULL easy, EIO: curl refused the handle); on NULL the
 * caller still owns easy.
 *
 * Ownership: on success the bridge takes easy; the caller must not use or
 * free it any more except through loom_curl_easy. It is freed
 * (curl_easy_cleanup) with the future's value, or, for a transfer that ends
 * without one, when it is removed (a cancel: on the loop's next tick; the
 * loop's close).
 *
 * write: NULL collects the body in a growing buffer (loom_curl_body,
 * loom_curl_take_body); else write(ptr, n, data) gets it and the buffer stays
 * empty. data is borrowed until the future is done.
 *
 * The future resolves when curl finished the transfer, successfully or not
 * (a refused connection, curl's CURLOPT_TIMEOUT_MS, an HTTP 404 all
 * resolve): read the outcome with loom_curl_result and loom_curl_http_status.
 * It fails only with -ESHUTDOWN (the loop closed first). Cancelling it
 * removes the transfer from curl (curl_multi_remove_handle) on the loop's
 * next tick; write is not called after the cancel. */
LOOM_API loom_future *loom_curl_fetch(loom_loop *loop, CURL *easy, loom_curl_write_fn write, void *data);

/** The accessors take a future loom_curl_fetch returned (or a combinator's
 * result that shares its value, e.g. loom_future_timeout's).
 *
 * curl's result (CURLE_OK, CURLE_COULDNT_CONNECT, ...) of a resolved
 * transfer, or the future's negative status if it did not resolve (-EAGAIN
 * pending, -ECANCELED, -ESHUTDOWN; -EINVAL for NULL). */
LOOM_API int loom_curl_result(loom_future *future);

/** The last HTTP status received (200, 404, ...), 0 if none (no response,
 * not resolved). */
LOOM_API long loom_curl_http_status(loom_future *future);

/** The collected body (borrowed from the future's value; NULL and *len 0 when
 * empty or not resolved). len may be NULL. */
LOOM_API const char *loom_curl_body(loom_future *future, size_t *len);

/** Takes the collected body out of the future: the caller frees it with
 * free(). NULL (and *len 0) when empty or not resolved; a second call returns
 * NULL. The body is NUL-terminated (not counted in *len). */
LOOM_API char *loom_curl_take_body(loom_future *future, size_t *len);

/** The easy handle of a resolved transfer (borrowed, freed with the future's
 * value), for curl_easy_getinfo; NULL otherwise. */
LOOM_API CURL *loom_curl_easy(loom_future *future);

LOOM_END_DECLS

#endif
