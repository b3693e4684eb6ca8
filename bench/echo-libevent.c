/* echo-server on libevent: an evconnlistener and one bufferevent per
 * connection; the echo moves the input buffer's chains to the output
 * (no copy), as libevent's own examples do. */
#include "config.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>

#include "bench-util.h"
#include "echo-server.h"

static void on_read(struct bufferevent *bev, void *arg)
{
    evbuffer_add_buffer(bufferevent_get_output(bev), bufferevent_get_input(bev));
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        bufferevent_free(bev);
}

static void on_accept(struct evconnlistener *listener, evutil_socket_t fd,
                      struct sockaddr *addr, int len, void *arg)
{
    struct event_base *base = evconnlistener_get_base(listener);
    struct bufferevent *bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);

    if (!bev)
        bench_die(ENOMEM, "bufferevent_socket_new");
    echo_set_nodelay(fd);
    bufferevent_setcb(bev, on_read, NULL, on_event, NULL);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

int echo_run_bufferevent(uint16_t port, const char *backend)
{
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    struct event_base *base = event_base_new();

    if (!base)
        return -ENOMEM;
    if (!evconnlistener_new_bind(base, on_accept, NULL,
                                 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, ECHO_BACKLOG,
                                 (struct sockaddr *)&addr, sizeof addr))
        return errno ? -errno : -EIO;
    echo_server_ready();
    event_base_dispatch(base); /* never returns while the server listens */
    return -EIO;
}
