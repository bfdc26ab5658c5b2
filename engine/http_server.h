/* http_server.h: the web role's HTTP server (libmicrohttpd): listens on an
 * address, authenticates requests to a tenant and serves the endpoints of
 * http_routes.c on a thread per connection. */
#ifndef ES_HTTP_SERVER_H
#define ES_HTTP_SERVER_H

#include <stddef.h>

#include "engine.h"

typedef struct http_server http_server;

/* Ingests an OTLP JSON ExportTraceServiceRequest for a tenant (the
 * engine's engine_otlp_ingest: convert, validate, enqueue). Returns 0 with
 * *out filled (out->rejected_message malloc'd or NULL, the server frees);
 * 1 when the request holds more than max_spans spans (nothing enqueued);
 * -1 with a diag and nothing enqueued (DIAG_INVALID: not an OTLP request;
 * DIAG_BUSY: backpressure; others: the engine or a backend failed). Called
 * from server threads at the same time. */
typedef int (*http_otlp_ingest_fn)(void *ud, const char *tenant_id, const char *otlp_json,
                                   size_t len, size_t max_spans, es_otlp_result *out);

typedef struct http_server_options {
    const char *listen;            /* "HOST:PORT", "[V6]:PORT"; default
                                      "127.0.0.1:4318"; port 0 = any free port */
    const char *api_keys_file;     /* `key tenant` per line; NULL = no keys:
                                      loopback only, tenant from X-Tenant-Id */
    size_t max_body_bytes;         /* request body as sent (default 10 MiB) */
    size_t max_decompressed_bytes; /* gzip bodies once inflated (default 64 MiB) */
    int max_json_depth;            /* nesting of JSON and OTLP protobuf (default 64) */
    size_t max_spans;              /* spans per OTLP request (default 10000) */
    size_t max_header_bytes;       /* request line + headers (default 16 KiB) */
    unsigned connection_timeout_s; /* idle connection timeout (default 30) */
    unsigned max_connections;      /* concurrent connections, each served
                                      by its own thread (default 1024) */
    unsigned retry_after_s;        /* Retry-After on 429/503 (default 1) */
    http_otlp_ingest_fn otlp_ingest; /* NULL: POST /v1/traces answers 501 */
    void *otlp_ingest_ud;
} http_server_options;

/* Fills `opt` with the defaults above. */
void http_server_options_default(http_server_options *opt);

/* Starts serving in background threads. Refuses (NULL, DIAG_INVALID) a
 * non-loopback listen address when no API keys file is given, an
 * unparsable address, or a keys file that does not parse; DIAG_IO when the
 * address cannot be bound. The engine must outlive the server. The
 * returned server is owned by the caller (http_server_stop). */
http_server *http_server_start(es_engine *e, const http_server_options *opt);

/* The TCP port actually bound (useful with port 0). */
int http_server_port(const http_server *s);

/* Stops accepting, waits for requests in progress, frees the server. */
void http_server_stop(http_server *s);

#endif
