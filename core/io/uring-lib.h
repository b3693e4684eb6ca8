/* liburing's out-of-line functions, opened at run time: the core links
 * nothing but libc and pthreads. liburing's inline functions (SQE
 * preparation, the CQE walk) only touch the ring's shared memory and are
 * used from its header as they are. */
#ifndef LOOM_URING_LIB_H
#define LOOM_URING_LIB_H

#include <liburing.h>

/* Every function the engine calls, once: the table's fields and its dlsym
 * calls are made from this list. X(return type, name, parameters). */
#define LOOM__LIBURING_FUNCTIONS(X)                                                                \
    X(int, io_uring_queue_init_params, (unsigned entries, struct io_uring *ring,                   \
                                        struct io_uring_params *p))                                \
    X(void, io_uring_queue_exit, (struct io_uring * ring))                                         \
    X(int, io_uring_submit, (struct io_uring * ring))                                              \
    X(int, io_uring_submit_and_get_events, (struct io_uring * ring))                               \
    X(int, io_uring_register_eventfd, (struct io_uring * ring, int fd))                            \
    X(int, io_uring_register_buf_ring, (struct io_uring * ring, struct io_uring_buf_reg * reg,      \
                                        unsigned int flags))                                       \
    X(int, io_uring_wait_cqe_timeout,                                                              \
      (struct io_uring * ring, struct io_uring_cqe * *cqe, struct __kernel_timespec * ts))         \
    X(struct io_uring_probe *, io_uring_get_probe_ring, (struct io_uring * ring))                  \
    X(void, io_uring_free_probe, (struct io_uring_probe * probe))

#define LOOM__LIBURING_FIELD(ret, name, params) ret(*name) params;
struct loom__liburing {
    LOOM__LIBURING_FUNCTIONS(LOOM__LIBURING_FIELD)
};
#undef LOOM__LIBURING_FIELD

/* liburing.so.2, opened on the first call (any thread; never closed): its
 * functions, or NULL with a static reason in *why. */
const struct loom__liburing *loom__liburing(const char **why);

#endif
