/* http_routes.h: the HTTP endpoints as a pure function from a buffered
 * request to a response, independent of the server library, so tests and
 * fuzzers can call it without sockets. */
#ifndef ES_HTTP_ROUTES_H
#define ES_HTTP_ROUTES_H

#include <stddef.h>

#include "engine.h"
#include "http_auth.h"
#include "http_server.h"
#include "json_buf.h"

/* What the routes need: the engine, the keys (NULL: X-Tenant-Id mode) and
 * the limits. Borrowed for the server's lifetime. */
typedef struct http_routes_ctx {
    es_engine *engine;
    http_auth *auth;
    const http_server_options *opt;
} http_routes_ctx;

/* One request, its body fully read. Header values are NULL when absent. */
typedef struct http_request {
    const char *method;
    const char *path;             /* decoded path, no query string */
    const char *content_type;
    const char *content_encoding;
    const char *authorization;
    const char *tenant_header;    /* X-Tenant-Id */
    const char *idempotency_key;  /* Idempotency-Key */
    const char *body;
    size_t body_len;
} http_request;

typedef struct http_response {
    int status;
    const char *content_type;     /* static string */
    json_buf body;
    unsigned retry_after_s;       /* 0: no Retry-After header */
    int www_authenticate;         /* add `WWW-Authenticate: Bearer` */
    const char *allow;            /* Allow header for 405, static */
    const char *route;            /* route template, for metrics labels */
} http_response;

/* Answers `req` into `res` (initialised by the caller with
 * http_response_init; free with http_response_free). Never fails: errors
 * become 4xx/5xx responses with a JSON body {"error": code, "message": ..}. */
void http_routes_handle(const http_routes_ctx *ctx, const http_request *req,
                        http_response *res);

void http_response_init(http_response *res);
void http_response_free(http_response *res);

/* Answers a request refused before its body was read (413 body too large)
 * with the same body shape as the routes. */
void http_routes_refuse(http_response *res, int status, const char *message);

#endif
