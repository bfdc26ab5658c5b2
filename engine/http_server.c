/* http_server.c: the libmicrohttpd daemon: listen address, limits, body
 * buffering, and hand-off of complete requests to http_routes.c.
 *
 * Why libmicrohttpd: it is packaged in Debian (libmicrohttpd-dev), has a
 * long record as an embedded server (used by systemd-journal-remote and
 * others), parses HTTP/1.1 including chunked bodies and pipelining for us,
 * enforces header size and idle timeouts itself, and runs its own threads,
 * so the engine needs no event loop of its own.
 *
 * One thread per connection: a request waits in its handler for the group
 * commit that holds its jobs (sqlite_group_commit.c), and in a fixed pool
 * of threads the other connections served by the same thread waited
 * behind it (measured: 16 connections on 4 threads, the body of a request
 * waited 20 ms at the median, 65-90 ms at p99, before its handler ran).
 * With a thread each, waiting requests cost nothing to the others and
 * join the same commit. max_connections bounds the threads; the Lua that
 * converts requests runs on a bounded pool of hosts (control_pool.c). */
#include "http_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "clock.h"
#include "diag.h"
#include "http_auth.h"
#include "http_routes.h"
#include "log.h"
#include "metrics.h"

struct http_server {
    struct MHD_Daemon *daemon;
    http_server_options opt;
    char *listen;           /* owned copy of opt.listen */
    http_auth *auth;
    http_routes_ctx ctx;
    int port;
};

/* Per-request state, from the headers to the completion notification. */
typedef struct request_state {
    json_buf body;
    int too_large;
    int64_t started_ms;
} request_state;

void http_server_options_default(http_server_options *opt) {
    memset(opt, 0, sizeof *opt);
    opt->listen = "127.0.0.1:4318";
    opt->max_body_bytes = 10u << 20;
    opt->max_decompressed_bytes = 64u << 20;
    opt->max_json_depth = 64;
    opt->max_spans = 10000;
    opt->max_header_bytes = 16u << 10;
    opt->connection_timeout_s = 30;
    opt->max_connections = 1024;
    opt->retry_after_s = 1;
}

/* ---- listen address ---- */

/* Resolves "HOST:PORT" / "[V6]:PORT" into `addr`. 0, or -1 with DIAG_INVALID. */
static int parse_listen(const char *listen, struct sockaddr_storage *addr, socklen_t *len) {
    char host[256];
    const char *port;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':' || (size_t)(close - listen - 1) >= sizeof host) goto bad;
        snprintf(host, sizeof host, "%.*s", (int)(close - listen - 1), listen + 1);
        port = close + 2;
    } else {
        const char *colon = strrchr(listen, ':');
        if (!colon || (size_t)(colon - listen) >= sizeof host) goto bad;
        snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
        port = colon + 1;
    }
    if (!*port || strspn(port, "0123456789") != strlen(port) || atoi(port) > 65535) goto bad;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (rc != 0 || !res) {
        diag_set(DIAG_INVALID, "--listen %s: %s", listen, gai_strerror(rc));
        return -1;
    }
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
bad:
    diag_set(DIAG_INVALID, "--listen %s: expected HOST:PORT or [IPV6]:PORT", listen);
    return -1;
}

static int is_loopback(const struct sockaddr_storage *addr) {
    if (addr->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)addr;
        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (addr->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;
        return IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
    }
    return 0;
}

/* ---- MHD callbacks ---- */

static void log_mhd(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n') msg[--n] = '\0';
    log_warn_limited("libmicrohttpd", "http: %s", msg);
}

static const char *header(struct MHD_Connection *c, const char *name) {
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* Queues `res` on the connection with its headers; records metrics. */
static enum MHD_Result send_response(struct MHD_Connection *c, http_response *res,
                                     const request_state *st) {
    struct MHD_Response *r = MHD_create_response_from_buffer(
        res->body.len, res->body.data ? res->body.data : (void *)"", MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, res->content_type);
    if (res->retry_after_s) {
        char v[16];
        snprintf(v, sizeof v, "%u", res->retry_after_s);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, v);
    }
    if (res->www_authenticate)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (res->allow) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, res->allow);
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)res->status, r);
    MHD_destroy_response(r);
    char status[8];
    snprintf(status, sizeof status, "%d", res->status);
    metrics_inc(METRIC_HTTP_REQUESTS, res->route, status, NULL);
    if (st)
        metrics_observe(METRIC_HTTP_REQUEST_DURATION,
                        (double)(clock_monotonic_ms() - st->started_ms) / 1000.0, res->route,
                        NULL, NULL);
    return ok;
}

static enum MHD_Result refuse(struct MHD_Connection *c, int status, const char *message) {
    http_response res;
    http_response_init(&res);
    http_routes_refuse(&res, status, message);
    enum MHD_Result ok = send_response(c, &res, NULL);
    http_response_free(&res);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    (void)version;
    http_server *s = cls;
    request_state *st = *con_cls;
    if (!st) {
        /* Headers are in: refuse a declared oversized body before reading it. */
        const char *cl = header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > s->opt.max_body_bytes) {
            char msg[96];
            snprintf(msg, sizeof msg, "request body larger than %zu bytes",
                     s->opt.max_body_bytes);
            return refuse(c, 413, msg);
        }
        st = calloc(1, sizeof *st);
        if (!st) return MHD_NO;
        jb_init(&st->body);
        st->started_ms = clock_monotonic_ms();
        *con_cls = st;
        return MHD_YES;
    }
    if (*upload_data_size) {
        /* A chunked body past the limit is read and dropped, then refused. */
        if (!st->too_large && st->body.len + *upload_data_size > s->opt.max_body_bytes) {
            st->too_large = 1;
            jb_free(&st->body);
        }
        if (!st->too_large) jb_raw(&st->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (st->too_large || st->body.oom) {
        char msg[96];
        snprintf(msg, sizeof msg, "request body larger than %zu bytes", s->opt.max_body_bytes);
        return refuse(c, 413, msg);
    }
    http_request req = {
        .method = method,
        .path = url,
        .content_type = header(c, MHD_HTTP_HEADER_CONTENT_TYPE),
        .content_encoding = header(c, MHD_HTTP_HEADER_CONTENT_ENCODING),
        .authorization = header(c, MHD_HTTP_HEADER_AUTHORIZATION),
        .tenant_header = header(c, "X-Tenant-Id"),
        .idempotency_key = header(c, "Idempotency-Key"),
        .body = st->body.data ? st->body.data : "",
        .body_len = st->body.len,
    };
    http_response res;
    http_response_init(&res);
    diag_clear();
    http_routes_handle(&s->ctx, &req, &res);
    enum MHD_Result ok = send_response(c, &res, st);
    http_response_free(&res);
    return ok;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)c;
    (void)toe;
    request_state *st = *con_cls;
    if (!st) return;
    jb_free(&st->body);
    free(st);
    *con_cls = NULL;
}

/* ---- lifecycle ---- */

http_server *http_server_start(es_engine *e, const http_server_options *opt) {
    struct sockaddr_storage addr;
    socklen_t addr_len = 0;
    if (parse_listen(opt->listen, &addr, &addr_len) != 0) return NULL;
    if (!opt->api_keys_file && !is_loopback(&addr)) {
        diag_set(DIAG_INVALID,
                 "--listen %s is not a loopback address: give --api-keys FILE so that "
                 "clients cannot pick their tenant",
                 opt->listen);
        return NULL;
    }
    http_server *s = calloc(1, sizeof *s);
    if (!s) {
        diag_set(DIAG_INTERNAL, "out of memory");
        return NULL;
    }
    s->opt = *opt;
    s->listen = strdup(opt->listen);
    s->opt.listen = s->listen;
    s->opt.api_keys_file = NULL; /* only read here; not kept */
    if (opt->api_keys_file && !(s->auth = http_auth_open(opt->api_keys_file))) {
        http_server_stop(s);
        return NULL;
    }
    s->ctx.engine = e;
    s->ctx.auth = s->auth;
    s->ctx.opt = &s->opt;

    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (addr.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s,
        MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_CONNECTION_LIMIT, opt->max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, opt->connection_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, opt->max_header_bytes,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_END);
    if (!s->daemon) {
        diag_set(DIAG_IO, "cannot listen on %s (address in use or not local?)", opt->listen);
        http_server_stop(s);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : 0;
    log_info("HTTP listening on %s (port %d, %s)", opt->listen, s->port,
             s->auth ? "API keys" : "X-Tenant-Id, loopback only");
    return s;
}

int http_server_port(const http_server *s) { return s->port; }

void http_server_stop(http_server *s) {
    if (!s) return;
    if (s->daemon) MHD_stop_daemon(s->daemon);
    http_auth_free(s->auth);
    free(s->listen);
    free(s);
}
