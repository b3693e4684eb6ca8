/* echo-server on a hand-written io_uring loop: the completion engine's floor,
 * as published io_uring echo servers do it. accept, recv and send are SQEs;
 * the loop waits in io_uring_enter (no epoll); task work is deferred to that
 * enter where the kernel can (6.1). Each connection has one operation in
 * flight: a recv into its own ECHO_READ_SIZE buffer, then a send of what came
 * (resubmitted until all went), then the next recv. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench-util.h"
#include "echo-server.h"

#define RING_ENTRIES 4096
#define RING_CQ_ENTRIES 32768

struct op {
    enum { OP_ACCEPT, OP_RECV, OP_SEND } kind;
    int fd;
    char *buf;        /* a connection's */
    size_t len, off;  /* OP_SEND: the echo, and how much went */
};

static struct io_uring ring;

/* An SQE; when the queue is full, what it holds goes to the kernel first. */
static struct io_uring_sqe *sqe_for(struct op *op)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    if (!sqe) {
        io_uring_submit(&ring);
        if (!(sqe = io_uring_get_sqe(&ring)))
            bench_die(EBUSY, "io_uring_get_sqe");
    }
    io_uring_sqe_set_data(sqe, op);
    return sqe;
}

static void queue_accept(struct op *listener)
{
    io_uring_prep_accept(sqe_for(listener), listener->fd, NULL, NULL, SOCK_CLOEXEC);
}

static void queue_recv(struct op *c)
{
    c->kind = OP_RECV;
    io_uring_prep_recv(sqe_for(c), c->fd, c->buf, ECHO_READ_SIZE, 0);
}

static void queue_send(struct op *c)
{
    c->kind = OP_SEND;
    io_uring_prep_send(sqe_for(c), c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
}

static void conn_open(int fd)
{
    struct op *c = malloc(sizeof *c);
    if (!c || !(c->buf = malloc(ECHO_READ_SIZE)))
        bench_die(ENOMEM, "accept");
    c->fd = fd;
    echo_set_nodelay(fd);
    queue_recv(c);
}

static void conn_close(struct op *c)
{
    close(c->fd);
    free(c->buf);
    free(c);
}

static void complete(struct op *op, int res)
{
    switch (op->kind) {
    case OP_ACCEPT:
        if (res >= 0)
            conn_open(res);
        else if (res != -EINTR && res != -ECONNABORTED && res != -EAGAIN)
            bench_die(-res, "accept");
        queue_accept(op);
        break;
    case OP_RECV:
        if (res <= 0) {
            conn_close(op); /* EOF, a reset or an error: the peer is gone */
            break;
        }
        op->len = (size_t)res;
        op->off = 0;
        queue_send(op);
        break;
    case OP_SEND:
        if (res < 0) {
            conn_close(op);
            break;
        }
        op->off += (size_t)res;
        if (op->off < op->len)
            queue_send(op);
        else
            queue_recv(op);
        break;
    }
}

/* A ring as the loom engine makes one: task work deferred where the kernel
 * can, else plain; 0 or a negative errno. */
static int ring_open(void)
{
    struct io_uring_params p = { .flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER |
                                          IORING_SETUP_DEFER_TASKRUN,
                                 .cq_entries = RING_CQ_ENTRIES };
    int err = io_uring_queue_init_params(RING_ENTRIES, &ring, &p);
    if (err == -EINVAL) {
        p = (struct io_uring_params){ .flags = IORING_SETUP_CQSIZE, .cq_entries = RING_CQ_ENTRIES };
        err = io_uring_queue_init_params(RING_ENTRIES, &ring, &p);
    }
    return err;
}

int echo_uring_available(void)
{
    if (ring_open() < 0)
        return 0;
    io_uring_queue_exit(&ring);
    return 1;
}

int echo_run_raw_uring(uint16_t port, const char *backend)
{
    struct op listener = { .kind = OP_ACCEPT, .fd = echo_listen_socket(port) };
    int err = ring_open();

    (void)backend;
    if (err < 0)
        return err;
    /* Blocking: on a non-blocking socket the ring's accept ends in -EAGAIN
     * instead of waiting. */
    if (fcntl(listener.fd, F_SETFL, fcntl(listener.fd, F_GETFL) & ~O_NONBLOCK) < 0)
        return -errno;
    queue_accept(&listener);
    echo_server_ready();
    for (;;) {
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;

        err = io_uring_submit_and_wait(&ring, 1);
        if (err < 0 && err != -EINTR && err != -EBUSY)
            return err;
        io_uring_for_each_cqe(&ring, head, cqe) {
            complete(io_uring_cqe_get_data(cqe), cqe->res);
            seen++;
        }
        io_uring_cq_advance(&ring, seen);
    }
}
