/* loom_getaddrinfo: getaddrinfo(3) on the executor's pool. */
#include "config.h"
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <loom/executor.h>

struct gai_request {
    char *host, *service;
    struct addrinfo hints;
    bool has_hints;
};

static void gai_request_free(void *data)
{
    struct gai_request *req = data;

    free(req->host);
    free(req->service);
    free(req);
}

static void addrinfo_free(void *list)
{
    freeaddrinfo(list);
}

/* err is getaddrinfo's EAI_* code; sys is errno right after it. */
static int gai_errno(int err, int sys)
{
    switch (err) {
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
        return -ENOENT;
    case EAI_AGAIN:
        return -EAGAIN;
    case EAI_MEMORY:
        return -ENOMEM;
    case EAI_FAMILY:
        return -EAFNOSUPPORT;
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY:
        return -EADDRNOTAVAIL;
#endif
    case EAI_SOCKTYPE:
        return -ESOCKTNOSUPPORT;
    case EAI_SERVICE:
        return -EPROTONOSUPPORT;
    case EAI_BADFLAGS:
        return -EINVAL;
    case EAI_OVERFLOW:
        return -EOVERFLOW;
    case EAI_SYSTEM:
        return sys > 0 ? -sys : -EIO;
    default: /* EAI_FAIL and whatever else a libc has */
        return -EIO;
    }
}

static int gai_work(void *arg, loom_work_result *result)
{
    const struct gai_request *req = arg;
    struct addrinfo *list = NULL;
    int err = getaddrinfo(req->host, req->service, req->has_hints ? &req->hints : NULL, &list);

    if (err != 0) {
        int r = gai_errno(err, errno);
        result->message = gai_strerror(err);
        return r;
    }
    result->value = list;
    result->destroy = addrinfo_free;
    return 0;
}

/* strdup that keeps NULL; false when out of memory. */
static bool copy_string(char **dst, const char *src)
{
    *dst = src ? strdup(src) : NULL;
    return !src || *dst;
}

loom_future *loom_getaddrinfo(loom_loop *loop, const char *host, const char *service,
                              const struct addrinfo *hints)
{
    struct gai_request *req = calloc(1, sizeof(*req));

    if (!req || !copy_string(&req->host, host) || !copy_string(&req->service, service)) {
        if (req)
            gai_request_free(req);
        errno = ENOMEM;
        return NULL;
    }
    if (hints) {
        /* getaddrinfo reads only these; the rest must be zero. */
        req->hints.ai_flags = hints->ai_flags;
        req->hints.ai_family = hints->ai_family;
        req->hints.ai_socktype = hints->ai_socktype;
        req->hints.ai_protocol = hints->ai_protocol;
        req->has_hints = true;
    }
    loom_future *future = loom_run_in_thread(loop, gai_work, req, gai_request_free);
    if (!future) {
        int saved = errno;
        gai_request_free(req);
        errno = saved;
    }
    return future;
}
