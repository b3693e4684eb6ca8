/* loom conformance suite — datagrams: UDP round trip over IPv4 and IPv6
 * loopback, Unix datagram sockets, datagrams larger than the limit reported
 * (futures and the receive callback), sends too large for the socket, order
 * of queued receives and cancellation, closing with receives pending, no fd
 * left open. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <loom/dgram.h>
#include "fixture.h"
#include "suites.h"

/* A UDP socket bound to port 0 of the loopback address of family; false
 * (nothing made) where the host has no such address (no ::1). */
static bool udp_bound(loom_loop *loop, int family, loom_dgram **dgramp, struct sockaddr_storage *addr,
                      socklen_t *addrlen)
{
    struct sockaddr_in *in = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;
    int r;

    memset(addr, 0, sizeof(*addr));
    if (family == AF_INET) {
        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        *addrlen = sizeof(*in);
    } else {
        in6->sin6_family = AF_INET6;
        in6->sin6_addr = in6addr_loopback;
        *addrlen = sizeof(*in6);
    }
    r = loom_dgram_new(loop, family, dgramp);
    if (r == -EAFNOSUPPORT)
        return false;
    ck_assert_int_eq(r, 0);
    r = loom_dgram_bind(*dgramp, (struct sockaddr *)addr, *addrlen);
    if (r == -EADDRNOTAVAIL || r == -EAFNOSUPPORT) {
        loom_dgram_close(*dgramp);
        return false;
    }
    ck_assert_int_eq(r, 0);
    ck_assert_int_eq(loom_dgram_local_address(*dgramp, (struct sockaddr *)addr, addrlen), 0);
    return true;
}

/* A server's receive callback: echoes each datagram to its sender. */
typedef struct echo_server {
    loom_loop *loop;
    int received, too_large, errors;
    size_t last_len;
} echo_server;

static void echo_back(loom_dgram *dgram, const loom_datagram *msg, int err, void *data)
{
    echo_server *srv = data;

    if (err == -EMSGSIZE) {
        srv->too_large++;
        srv->last_len = msg->len;
        return;
    }
    if (err < 0) {
        srv->errors++;
        return;
    }
    srv->received++;
    srv->last_len = msg->len;
    /* An unnamed sender (a socketpair end) is answered as the peer. */
    bool named = msg->fromlen > sizeof(sa_family_t);
    loom_future *sent = loom_dgram_send_to(dgram, msg->data, msg->len,
                                           named ? (const struct sockaddr *)&msg->from : NULL,
                                           named ? msg->fromlen : 0);
    ck_assert_ptr_nonnull(sent);
    loom_future_unref(sent);
}

/* Sends text from client and awaits the echo, checking it and its sender. */
static void round_trip(loom_loop *loop, loom_dgram *client, const char *text,
                       const struct sockaddr_storage *from, socklen_t fromlen)
{
    loom_future *reply = loom_dgram_recv_from(client, 1024);
    loom_future *sent = loom_dgram_send_to(client, text, strlen(text), NULL, 0);

    ck_assert_ptr_nonnull(reply);
    ck_assert_ptr_nonnull(sent);
    ck_assert_int_eq(fixture_run_until(loop, sent, 2000, "datagram sent"), 0);
    ck_assert_int_eq(loom_future_value_int(sent), (int64_t)strlen(text));
    ck_assert_int_eq(fixture_run_until(loop, reply, 2000, "echo received"), 0);
    const loom_datagram *msg = loom_future_value(reply);
    ck_assert_uint_eq(msg->len, strlen(text));
    ck_assert(memcmp(msg->data, text, msg->len) == 0);
    if (from) {
        ck_assert_uint_eq(msg->fromlen, fromlen);
        ck_assert(memcmp(&msg->from, from, fromlen) == 0);
    }
    loom_future_unref(sent);
    loom_future_unref(reply);
}

static void udp_round_trip(int family)
{
    int fds_before = fixture_count_open_fds();
    loom_loop *loop = host_loop_new();
    loom_dgram *server, *client;
    struct sockaddr_storage addr, unused;
    socklen_t addrlen, unused_len;
    echo_server srv = {0};

    if (!udp_bound(loop, family, &server, &addr, &addrlen)) {
        fixture_free_loop(loop);
        return; /* no loopback address of that family here */
    }
    ck_assert(udp_bound(loop, family, &client, &unused, &unused_len));
    ck_assert_int_eq(loom_dgram_set_receiver(server, 0, echo_back, &srv, NULL), 0);
    ck_assert_int_eq(loom_dgram_connect(client, (struct sockaddr *)&addr, addrlen), 0);
    round_trip(loop, client, "ping", &addr, addrlen);
    round_trip(loop, client, "pong, a little longer", &addr, addrlen);
    ck_assert_int_eq(srv.received, 2);
    loom_dgram_close(client);
    loom_dgram_close(server);
    fixture_free_loop(loop);
    ck_assert_int_eq(fixture_count_open_fds(), fds_before);
}

START_TEST(test_dgram_udp4_round_trip)
{
    udp_round_trip(AF_INET);
}
END_TEST

START_TEST(test_dgram_udp6_round_trip)
{
    udp_round_trip(AF_INET6);
}
END_TEST

/* Connected Unix datagram sockets, from a socketpair. */
static void unix_pair(loom_loop *loop, loom_dgram **a, loom_dgram **b)
{
    int fds[2];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, fds), 0);
    ck_assert_int_eq(loom_dgram_new_from_fd(loop, fds[0], a), 0);
    ck_assert_int_eq(loom_dgram_new_from_fd(loop, fds[1], b), 0);
}

START_TEST(test_dgram_unix_round_trip)
{
    loom_loop *loop = host_loop_new();
    loom_dgram *a, *b;
    echo_server srv = {0};

    unix_pair(loop, &a, &b);
    ck_assert_int_eq(loom_dgram_set_receiver(b, 0, echo_back, &srv, NULL), 0);
    round_trip(loop, a, "over a unix socket", NULL, 0);
    loom_dgram_close(a);
    loom_dgram_close(b);
    fixture_free_loop(loop);
}
END_TEST

/* Bound to paths: the sender's address comes with the datagram. */
START_TEST(test_dgram_unix_paths)
{
    loom_loop *loop = host_loop_new();
    loom_dgram *a, *b;
    struct sockaddr_un pa = {.sun_family = AF_UNIX}, pb = {.sun_family = AF_UNIX};

    snprintf(pa.sun_path, sizeof(pa.sun_path), "/tmp/loom-dgram-a-%d", (int)getpid());
    snprintf(pb.sun_path, sizeof(pb.sun_path), "/tmp/loom-dgram-b-%d", (int)getpid());
    unlink(pa.sun_path);
    unlink(pb.sun_path);
    ck_assert_int_eq(loom_dgram_new(loop, AF_UNIX, &a), 0);
    ck_assert_int_eq(loom_dgram_new(loop, AF_UNIX, &b), 0);
    ck_assert_int_eq(loom_dgram_bind(a, (struct sockaddr *)&pa, sizeof(pa)), 0);
    ck_assert_int_eq(loom_dgram_bind(b, (struct sockaddr *)&pb, sizeof(pb)), 0);
    loom_future *got = loom_dgram_recv_from(b, 64);
    loom_future *sent = loom_dgram_send_to(a, "hi", 2, (struct sockaddr *)&pb, sizeof(pb));
    ck_assert_int_eq(fixture_run_until(loop, got, 2000, "unix datagram received"), 0);
    const loom_datagram *msg = loom_future_value(got);
    ck_assert_uint_eq(msg->len, 2);
    ck_assert_str_eq(((const struct sockaddr_un *)&msg->from)->sun_path, pa.sun_path);
    ck_assert_int_eq(loom_future_status(sent), 0);
    loom_future_unref(got);
    loom_future_unref(sent);
    loom_dgram_close(a);
    loom_dgram_close(b);
    unlink(pa.sun_path);
    unlink(pb.sun_path);
    fixture_free_loop(loop);
}
END_TEST

/* A datagram larger than the receive limit fails that receive with
 * -EMSGSIZE (it is consumed); the next one arrives whole. */
START_TEST(test_dgram_oversized_receive)
{
    loom_loop *loop = host_loop_new();
    loom_dgram *a, *b;
    char big[100] = {0};

    unix_pair(loop, &a, &b);
    loom_future *first = loom_dgram_recv_from(b, 10);
    loom_future *second = loom_dgram_recv_from(b, 10);
    loom_future_unref(loom_dgram_send_to(a, big, sizeof(big), NULL, 0));
    loom_future_unref(loom_dgram_send_to(a, "small", 5, NULL, 0));
    ck_assert_int_eq(fixture_run_until(loop, first, 2000, "oversized datagram"), -EMSGSIZE);
    ck_assert_ptr_nonnull(strstr(loom_future_message(first), "100 bytes"));
    ck_assert_int_eq(fixture_run_until(loop, second, 2000, "next datagram"), 0);
    ck_assert_uint_eq(((const loom_datagram *)loom_future_value(second))->len, 5);
    loom_future_unref(first);
    loom_future_unref(second);
    loom_dgram_close(a);
    loom_dgram_close(b);
    fixture_free_loop(loop);
}
END_TEST

static void stop_after_two(loom_dgram *dgram, const loom_datagram *msg, int err, void *data)
{
    echo_server *srv = data;

    echo_back(dgram, msg, err, data);
    if (srv->received + srv->too_large == 2)
        loom_loop_stop(srv->loop);
}

/* The receive callback is told the real size of what did not fit. */
START_TEST(test_dgram_oversized_receiver)
{
    loom_loop *loop = host_loop_new();
    loom_dgram *a, *b;
    char big[300] = {0};
    echo_server srv = {.loop = loop};

    unix_pair(loop, &a, &b);
    ck_assert_int_eq(loom_dgram_set_receiver(b, 16, stop_after_two, &srv, NULL), 0);
    loom_future_unref(loom_dgram_send_to(a, big, sizeof(big), NULL, 0));
    loom_future_unref(loom_dgram_send_to(a, "fits", 4, NULL, 0));
    fixture_run(loop, 2000, "two datagrams at the receiver");
    ck_assert_int_eq(srv.too_large, 1);
    ck_assert_int_eq(srv.received, 1);
    ck_assert_int_eq(srv.errors, 0);
    loom_dgram_close(a);
    loom_dgram_close(b);
    fixture_free_loop(loop);
}
END_TEST

/* A send larger than UDP allows fails with -EMSGSIZE, nothing cut. */
START_TEST(test_dgram_oversized_send)
{
    loom_loop *loop = host_loop_new();
    loom_dgram *server, *client;
    struct sockaddr_storage addr, unused;
    socklen_t addrlen, unused_len;
    size_t len = 70000;
    char *big = calloc(1, len);

    ck_assert(udp_bound(loop, AF_INET, &server, &addr, &addrlen));
    ck_assert(udp_bound(loop, AF_INET, &client, &unused, &unused_len));
    loom_future *sent = loom_dgram_send_to(client, big, len, (struct sockaddr *)&addr, addrlen);
    ck_assert_int_eq(fixture_run_until(loop, sent, 2000, "oversized send"), -EMSGSIZE);
    loom_future_unref(sent);
    free(big);
    loom_dgram_close(client);
    loom_dgram_close(server);
    fixture_free_loop(loop);
}
END_TEST

/* A cancelled receive is skipped: the datagram goes to the next one. */
START_TEST(test_dgram_cancelled_receive_skipped)
{
    loom_loop *loop = host_loop_new();
    loom_dgram *a, *b;

    unix_pair(loop, &a, &b);
    loom_future *cancelled = loom_dgram_recv_from(b, 64);
    loom_future *wanted = loom_dgram_recv_from(b, 64);
    ck_assert(loom_future_cancel(cancelled));
    loom_future_unref(loom_dgram_send_to(a, "x", 1, NULL, 0));
    ck_assert_int_eq(fixture_run_until(loop, wanted, 2000, "datagram after a cancelled receive"), 0);
    ck_assert_int_eq(loom_future_status(cancelled), -ECANCELED);
    loom_future_unref(cancelled);
    loom_future_unref(wanted);
    loom_dgram_close(a);
    loom_dgram_close(b);
    fixture_free_loop(loop);
}
END_TEST

/* Pending receives fail with -ECANCELED at close, -ESHUTDOWN when the loop
 * closes first; no fd stays open. */
START_TEST(test_dgram_close_fails_pending)
{
    int fds_before = fixture_count_open_fds();
    loom_loop *loop = host_loop_new();
    loom_dgram *a, *b;

    unix_pair(loop, &a, &b);
    loom_future *on_close = loom_dgram_recv_from(a, 64);
    loom_future *on_loop_close = loom_dgram_recv_from(b, 64);
    ck_assert_ptr_null(loom_dgram_recv_from(b, 0));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(loom_dgram_set_receiver(b, 0, echo_back, NULL, NULL), -EBUSY);
    loom_dgram_close(a);
    ck_assert_int_eq(loom_future_status(on_close), -ECANCELED);
    ck_assert_int_eq(loom_loop_close(loop), 0);
    ck_assert_int_eq(loom_future_status(on_loop_close), -ESHUTDOWN);
    ck_assert_int_eq(loom_dgram_fd(b), -ESHUTDOWN);
    ck_assert_ptr_null(loom_dgram_recv_from(b, 64));
    ck_assert_int_eq(errno, ESHUTDOWN);
    loom_dgram_close(b);
    loom_future_unref(on_close);
    loom_future_unref(on_loop_close);
    loom_loop_unref(loop);
    ck_assert_int_eq(fixture_count_open_fds(), fds_before);
}
END_TEST

START_TEST(test_dgram_errors)
{
    loom_loop *loop = host_loop_new();
    loom_dgram *d = NULL;
    int fds[2];

    ck_assert_int_eq(loom_dgram_new(loop, AF_PACKET + 100, &d), -EAFNOSUPPORT);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    ck_assert_int_eq(loom_dgram_new_from_fd(loop, fds[0], &d), -EPROTOTYPE);
    close(fds[0]);
    close(fds[1]);
    ck_assert_int_eq(loom_dgram_new_from_fd(loop, -1, &d), -EBADF);
    ck_assert_ptr_null(d);
    fixture_free_loop(loop);
}
END_TEST

Suite *dgram_suite(void)
{
    Suite *s = suite_create("dgram");
    TCase *tc = fixture_tcase(s, "dgram");

    tcase_add_test(tc, test_dgram_udp4_round_trip);
    tcase_add_test(tc, test_dgram_udp6_round_trip);
    tcase_add_test(tc, test_dgram_unix_round_trip);
    tcase_add_test(tc, test_dgram_unix_paths);
    tcase_add_test(tc, test_dgram_oversized_receive);
    tcase_add_test(tc, test_dgram_oversized_receiver);
    tcase_add_test(tc, test_dgram_oversized_send);
    tcase_add_test(tc, test_dgram_cancelled_receive_skipped);
    tcase_add_test(tc, test_dgram_close_fails_pending);
    tcase_add_test(tc, test_dgram_errors);
    return s;
}
