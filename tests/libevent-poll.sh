#!/bin/sh
# The libevent conformance suite and libevent-only cases again on libevent's
# poll method (its default is epoll on Linux).
EVENT_NOEPOLL=1 ./tests/conformance-libevent && EVENT_NOEPOLL=1 ./tests/libevent-only
