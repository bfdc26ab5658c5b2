/* http_routes.c: routing and the endpoints (commands, state, events,
 * health, readiness, metrics, OTLP traces, the kill switch). */
#include "http_routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "diag.h"
#include "event.h"
#include "http_otlp.h"
#include "job.h"
#include "json_read.h"
#include "log.h"
#include "metrics.h"
#include "metrics_ops.h"

#define JSON_TYPE "application/json"
#define PROTO_TYPE "application/x-protobuf"

/* gRPC codes used in OTLP error bodies (google.rpc.Status). */
enum { GRPC_INVALID_ARGUMENT = 3, GRPC_RESOURCE_EXHAUSTED = 8, GRPC_UNIMPLEMENTED = 12,
       GRPC_INTERNAL = 13, GRPC_UNAVAILABLE = 14 };

void http_response_init(http_response *res) {
    memset(res, 0, sizeof *res);
    jb_init(&res->body);
    res->status = 500;
    res->content_type = JSON_TYPE;
    res->route = "other";
}

void http_response_free(http_response *res) { jb_free(&res->body); }

/* A JSON error body: {"error": "<code name>", "message": "..."[, "errors": [...]]}. */
static void respond_error(http_response *res, int status, const char *code,
                          const char *message, const char *errors_json) {
    res->status = status;
    res->content_type = JSON_TYPE;
    jb_reset(&res->body);
    jb_str(&res->body, "{\"error\":");
    jb_quoted(&res->body, code);
    jb_str(&res->body, ",\"message\":");
    jb_quoted(&res->body, message);
    if (errors_json) {
        jb_str(&res->body, ",\"errors\":");
        jb_str(&res->body, errors_json);
    }
    jb_raw(&res->body, "}", 1);
}

void http_routes_refuse(http_response *res, int status, const char *message) {
    respond_error(res, status, status == 413 ? "too_large" : "refused", message, NULL);
}

/* Maps an engine diag to a status; sets Retry-After for retryable ones. */
static int status_of_diag(const http_routes_ctx *ctx, diag_code code, http_response *res) {
    switch (code) {
    case DIAG_INVALID: return 400;
    case DIAG_NOT_FOUND: return 404;
    case DIAG_CONFLICT: return 409;
    case DIAG_BUSY:
        res->retry_after_s = ctx->opt->retry_after_s;
        return 429;
    case DIAG_IO:
    case DIAG_BACKEND:
    case DIAG_TIMEOUT:
        res->retry_after_s = ctx->opt->retry_after_s;
        return 503;
    default: return 500;
    }
}

static void respond_diag(const http_routes_ctx *ctx, http_response *res,
                         const char *errors_json) {
    diag_code code = diag_code_get();
    int status = status_of_diag(ctx, code, res);
    if (status >= 500) log_error_limited("http_5xx", "HTTP %d: %s", status, diag_message());
    respond_error(res, status, diag_code_name(code), diag_message(), errors_json);
}

/* ---- tenant ---- */

/* Resolves the request's tenant into `tenant` (from the API key when keys
 * are configured, else from X-Tenant-Id). 0, or -1 with a 401 response. */
static int resolve_tenant(const http_routes_ctx *ctx, const http_request *req,
                          http_response *res, char *tenant, size_t cap) {
    if (ctx->auth) {
        const char *h = req->authorization;
        if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
            res->www_authenticate = 1;
            respond_error(res, 401, "unauthorized", "missing `Authorization: Bearer KEY`", NULL);
            return -1;
        }
        const char *key = h + 7;
        while (*key == ' ') key++;
        size_t len = strlen(key);
        while (len && key[len - 1] == ' ') len--;
        http_auth_reload(ctx->auth, 1000);
        if (!http_auth_lookup(ctx->auth, key, len, tenant, cap)) {
            res->www_authenticate = 1;
            respond_error(res, 401, "unauthorized", "unknown API key", NULL);
            return -1;
        }
        return 0;
    }
    const char *t = req->tenant_header;
    if (!t || !http_auth_tenant_valid(t)) {
        respond_error(res, 401, "unauthorized",
                      t ? "X-Tenant-Id may hold only 1-128 of [A-Za-z0-9_.:-]"
                        : "missing X-Tenant-Id (no API keys are configured)",
                      NULL);
        return -1;
    }
    snprintf(tenant, cap, "%s", t);
    return 0;
}

/* ---- path matching ---- */

/* Splits `path` after `prefix` into exactly n segments, the last one taking
 * the rest of the path (aggregate ids may hold '/'). Segments are malloc'd
 * into seg[]; returns 0, or -1 when the path does not match. */
static int split_path(const char *path, const char *prefix, int n, char **seg) {
    size_t plen = strlen(prefix);
    if (strncmp(path, prefix, plen) != 0) return -1;
    const char *p = path + plen;
    for (int i = 0; i < n; i++) seg[i] = NULL;
    for (int i = 0; i < n; i++) {
        const char *end = i == n - 1 ? p + strlen(p) : strchr(p, '/');
        if (!end || end == p) goto fail;
        seg[i] = strndup(p, (size_t)(end - p));
        if (!seg[i]) goto fail;
        p = *end ? end + 1 : end;
    }
    return 0;
fail:
    for (int i = 0; i < n; i++) free(seg[i]);
    return -1;
}

static void free_segments(char **seg, int n) {
    for (int i = 0; i < n; i++) free(seg[i]);
}

static int is_method(const http_request *req, const char *m) {
    return strcmp(req->method, m) == 0;
}

/* The media type of a Content-Type header, lowercased without parameters. */
static void media_type(const char *header, char *out, size_t cap) {
    size_t i = 0;
    if (header) {
        while (*header == ' ') header++;
        for (; header[i] && header[i] != ';' && header[i] != ' ' && i + 1 < cap; i++)
            out[i] = (char)(header[i] >= 'A' && header[i] <= 'Z' ? header[i] + 32 : header[i]);
    }
    out[i] = '\0';
}

/* ---- endpoints ---- */

static void handle_healthz(http_response *res) {
    res->status = 200;
    jb_str(&res->body, "{\"status\":\"ok\"}");
}

/* Ready when pipelines are loaded and the event, fold and queue stores
 * answer a cheap read. */
static void handle_readyz(const http_routes_ctx *ctx, http_response *res) {
    char *describe = engine_describe(ctx->engine);
    if (!describe) {
        respond_error(res, 503, "not_ready", "no pipelines loaded", NULL);
        return;
    }
    free(describe);
    es_backends *b = engine_backends(ctx->engine);
    char *state = NULL;
    int64_t seq = 0, count = 0;
    const char *failed = NULL;
    if (b->events->ops->event_read(b->events, "-", "-", "-", 0, 1, NULL, NULL) != 0)
        failed = "event store";
    else if (b->folds->ops->fold_get(b->folds, "-", "-", "-", &state, &seq) < 0)
        failed = "fold store";
    else if (b->queue->ops->queue_origin_pending &&
             b->queue->ops->queue_origin_pending(b->queue, "-", 1u, &count) != 0)
        failed = "job queue";
    free(state);
    if (failed) {
        json_buf msg;
        jb_init(&msg);
        jb_printf(&msg, "%s unreachable: %s", failed, diag_message());
        respond_error(res, 503, "not_ready", msg.data ? msg.data : failed, NULL);
        jb_free(&msg);
        return;
    }
    res->status = 200;
    jb_str(&res->body, "{\"status\":\"ready\"}");
}

/* Queue gauges, one buffer per family so each family's samples stay
 * contiguous in the exposition. */
typedef struct stats_render {
    json_buf jobs, age, parked;
    int64_t now;
    int first;
} stats_render;

static int render_queue_row(void *ud, const es_queue_stats *row) {
    stats_render *r = ud;
    const char *kind = job_kind_name(row->kind);
    static const char *const states[] = {"pending", "delayed", "in_flight", "parked"};
    int64_t values[] = {row->pending, row->delayed, row->in_flight, row->parked};
    for (int i = 0; i < 4; i++)
        metrics_render_gauge(&r->jobs, "esengine_queue_jobs", "Jobs in the queue by state.",
                             r->first && i == 0, (double)values[i], "pipeline",
                             row->pipeline, "component", row->component, "kind", kind,
                             "state", states[i], NULL);
    double age = row->oldest_pending_at > 0
                     ? (double)(r->now - row->oldest_pending_at) / 1000.0 : 0.0;
    metrics_render_gauge(&r->age, "esengine_queue_oldest_pending_age_seconds",
                         "Age of the oldest pending job.", r->first, age < 0 ? 0 : age,
                         "pipeline", row->pipeline, "component", row->component, "kind",
                         kind, NULL);
    metrics_render_gauge(&r->parked, "esengine_parked_groups",
                         "Groups parked after failures.", r->first,
                         (double)row->parked_groups, "pipeline", row->pipeline, "component",
                         row->component, "kind", kind, NULL);
    r->first = 0;
    return 0;
}

/* Worker registry gauges: one heartbeat age and rate per known worker
 * process (the registry prunes dead ones, so the label set stays small),
 * then the number of live ones. */
typedef struct workers_render {
    json_buf age, rate;
    int64_t now;
    int seen, first;
} workers_render;

static int render_worker(void *ud, const es_worker_info *w) {
    workers_render *r = ud;
    double age = (double)(r->now - w->last_beat) / 1000.0;
    metrics_render_gauge(&r->age, "esengine_worker_last_heartbeat_age_seconds",
                         "Seconds since the worker process last beat the registry.", r->first,
                         age < 0 ? 0 : age, "worker", w->id, NULL);
    metrics_render_gauge(&r->rate, "esengine_worker_jobs_per_second",
                         "Jobs per second completed by the worker process (last beat).",
                         r->first, w->jobs_per_s, "worker", w->id, NULL);
    r->first = 0;
    if (!w->lost && w->threads > 0) r->seen++;
    return 0;
}

static void render_workers(es_store *q, json_buf *out) {
    if (!q->ops->worker_list) return;
    workers_render r;
    jb_init(&r.age);
    jb_init(&r.rate);
    r.now = clock_now_ms();
    r.seen = 0;
    r.first = 1;
    if (q->ops->worker_list(q, r.now, render_worker, &r) == 0) {
        if (r.age.data) jb_raw(out, r.age.data, r.age.len);
        if (r.rate.data) jb_raw(out, r.rate.data, r.rate.len);
        metrics_render_gauge(out, "esengine_workers_seen",
                             "Running worker processes with a heartbeat within three leases.", 1,
                             (double)r.seen, NULL);
    } else {
        log_warn_limited("metrics_workers", "worker registry for /metrics: %s",
                         diag_message());
    }
    jb_free(&r.age);
    jb_free(&r.rate);
}

/* Pushed metrics (metrics.c), then queue and worker gauges read at scrape
 * time. */
static void handle_metrics(const http_routes_ctx *ctx, http_response *res) {
    res->status = 200;
    res->content_type = "text/plain; version=0.0.4; charset=utf-8";
    metrics_render(&res->body);
    es_store *q = engine_backends(ctx->engine)->queue;
    render_workers(q, &res->body);
    metrics_render_pauses(ctx->engine, &res->body);
    metrics_render_replay_flags(ctx->engine, &res->body);
    if (!q->ops->queue_stats) return;
    stats_render r;
    jb_init(&r.jobs);
    jb_init(&r.age);
    jb_init(&r.parked);
    r.now = clock_now_ms();
    r.first = 1;
    if (q->ops->queue_stats(q, r.now, render_queue_row, &r) == 0) {
        json_buf *parts[] = {&r.jobs, &r.age, &r.parked};
        for (int i = 0; i < 3; i++)
            if (parts[i]->data) jb_raw(&res->body, parts[i]->data, parts[i]->len);
    } else {
        log_warn_limited("metrics_queue_stats", "queue stats for /metrics: %s",
                         diag_message());
    }
    jb_free(&r.jobs);
    jb_free(&r.age);
    jb_free(&r.parked);
}

static void handle_command(const http_routes_ctx *ctx, const http_request *req,
                           const char *tenant, char **seg, http_response *res) {
    char type[64];
    media_type(req->content_type, type, sizeof type);
    if (type[0] && strcmp(type, JSON_TYPE) != 0) {
        respond_error(res, 415, "unsupported_media_type",
                      "commands take an application/json body", NULL);
        return;
    }
    if (req->content_encoding && strcasecmp(req->content_encoding, "identity") != 0) {
        respond_error(res, 415, "unsupported_media_type",
                      "commands take an uncompressed body", NULL);
        return;
    }
    if (http_otlp_json_depth_check(req->body, req->body_len, ctx->opt->max_json_depth) != 0) {
        respond_error(res, 400, "invalid", diag_message(), NULL);
        return;
    }
    if (memchr(req->body, '\0', req->body_len)) {
        respond_error(res, 400, "invalid", "body holds a NUL byte", NULL);
        return;
    }
    char *job_id = NULL, *errors = NULL;
    if (engine_send(ctx->engine, tenant, seg[0], seg[1], req->body, req->idempotency_key,
                    &job_id, &errors) != 0) {
        metrics_inc(METRIC_COMMANDS_REJECTED, seg[0], seg[1], diag_code_name(diag_code_get()));
        respond_diag(ctx, res, errors);
        free(errors);
        return;
    }
    metrics_inc(METRIC_COMMANDS_ACCEPTED, seg[0], seg[1], NULL);
    res->status = 202;
    jb_str(&res->body, "{\"job_id\":");
    jb_quoted(&res->body, job_id);
    jb_raw(&res->body, "}", 1);
    free(job_id);
}

static void handle_state(const http_routes_ctx *ctx, const char *tenant, char **seg,
                         http_response *res) {
    char *state = NULL;
    int64_t last_seq = 0;
    int rc = engine_state(ctx->engine, tenant, seg[0], seg[1], seg[2], &state, &last_seq);
    if (rc < 0) {
        respond_diag(ctx, res, NULL);
        return;
    }
    if (rc == 1) {
        respond_error(res, 404, "not_found", "no state for this aggregate", NULL);
        return;
    }
    res->status = 200;
    jb_str(&res->body, state);
    free(state);
}

typedef struct events_render {
    json_buf *out;
    size_t n;
    int failed;
} events_render;

static int render_event(void *ud, const es_event *ev) {
    events_render *r = ud;
    char *json = NULL;
    if (event_to_json(ev, &json) != 0) {
        r->failed = 1;
        return 1;
    }
    jb_str(r->out, r->n++ ? "," : "");
    jb_str(r->out, json);
    free(json);
    return 0;
}

static void handle_events(const http_routes_ctx *ctx, const char *tenant, char **seg,
                          http_response *res) {
    events_render r = {&res->body, 0, 0};
    jb_raw(&res->body, "[", 1);
    if (engine_events(ctx->engine, tenant, seg[0], seg[1], render_event, &r) != 0 ||
        r.failed) {
        respond_diag(ctx, res, NULL);
        return;
    }
    jb_raw(&res->body, "]", 1);
    res->status = 200;
}

/* ---- OTLP ---- */

static void otlp_error(const http_routes_ctx *ctx, http_response *res, int proto,
                       int status, int grpc, const char *message) {
    res->status = status;
    res->content_type = proto ? PROTO_TYPE : JSON_TYPE;
    if (status == 429 || status == 503) res->retry_after_s = ctx->opt->retry_after_s;
    jb_reset(&res->body);
    http_otlp_status(&res->body, proto, grpc, message);
}

static void handle_otlp(const http_routes_ctx *ctx, const http_request *req,
                        const char *tenant, http_response *res) {
    char type[64];
    media_type(req->content_type, type, sizeof type);
    int proto = strcmp(type, PROTO_TYPE) == 0;
    const char *encoding = proto ? "protobuf" : "json";
    if (!proto && strcmp(type, JSON_TYPE) != 0) {
        otlp_error(ctx, res, 0, 415, GRPC_INVALID_ARGUMENT,
                   "Content-Type must be application/json or application/x-protobuf");
        return;
    }
    if (!ctx->opt->otlp_ingest) {
        otlp_error(ctx, res, proto, 501, GRPC_UNIMPLEMENTED,
                   "OTLP conversion is not wired into this server");
        return;
    }
    const char *body = req->body;
    size_t len = req->body_len;
    char *inflated = NULL;
    json_buf converted;
    jb_init(&converted);

    if (req->content_encoding && strcasecmp(req->content_encoding, "gzip") == 0) {
        int rc = http_otlp_gunzip((const uint8_t *)body, len,
                                  ctx->opt->max_decompressed_bytes, &inflated, &len);
        if (rc != 0) {
            otlp_error(ctx, res, proto, rc == 1 ? 413 : 400, GRPC_INVALID_ARGUMENT,
                       diag_message());
            goto done;
        }
        body = inflated;
    } else if (req->content_encoding && strcasecmp(req->content_encoding, "identity") != 0) {
        otlp_error(ctx, res, proto, 415, GRPC_INVALID_ARGUMENT,
                   "Content-Encoding must be gzip or identity");
        goto done;
    }

    if (proto) {
        http_otlp_limits lim = {ctx->opt->max_spans, ctx->opt->max_json_depth,
                                ctx->opt->max_decompressed_bytes * 4};
        size_t n_spans = 0;
        int rc = http_otlp_proto_to_json((const uint8_t *)body, len, &lim, &converted,
                                         &n_spans);
        if (rc != 0) {
            otlp_error(ctx, res, proto, rc == 1 ? 413 : 400, GRPC_INVALID_ARGUMENT,
                       diag_message());
            goto done;
        }
        body = converted.data ? converted.data : "{}";
        len = converted.len;
    } else if (http_otlp_json_depth_check(body, len, ctx->opt->max_json_depth) != 0 ||
               memchr(body, '\0', len)) {
        otlp_error(ctx, res, proto, 400, GRPC_INVALID_ARGUMENT,
                   memchr(body, '\0', len) ? "body holds a NUL byte" : diag_message());
        goto done;
    }

    es_otlp_result result;
    int rc = ctx->opt->otlp_ingest(ctx->opt->otlp_ingest_ud, tenant, body, len,
                                   ctx->opt->max_spans, &result);
    if (rc == 1) {
        char msg[96];
        snprintf(msg, sizeof msg, "more than %zu spans in one request", ctx->opt->max_spans);
        otlp_error(ctx, res, proto, 413, GRPC_INVALID_ARGUMENT, msg);
        goto done;
    }
    if (rc != 0) {
        /* Nothing was enqueued: the client retries the whole request. */
        int status = 400;
        if (diag_code_get() != DIAG_INVALID) {
            status = status_of_diag(ctx, diag_code_get(), res);
            if (status < 429) status = 500;
        }
        otlp_error(ctx, res, proto, status,
                   status == 400   ? GRPC_INVALID_ARGUMENT
                   : status == 429 ? GRPC_RESOURCE_EXHAUSTED
                   : status == 503 ? GRPC_UNAVAILABLE
                                   : GRPC_INTERNAL,
                   diag_message());
        goto done;
    }
    metrics_add(METRIC_OTLP_SPANS_ACCEPTED, (double)result.accepted, encoding, NULL, NULL);
    if (result.rejected)
        metrics_add(METRIC_OTLP_SPANS_REJECTED, (double)result.rejected, encoding, NULL, NULL);
    res->status = 200;
    res->content_type = proto ? PROTO_TYPE : JSON_TYPE;
    http_otlp_response(&res->body, proto, (int64_t)result.rejected,
                       result.rejected_message ? result.rejected_message : "");
    free(result.rejected_message);
done:
    free(inflated);
    jb_free(&converted);
}

/* POST /api/pause/{pipeline}[/{component}] and /api/resume/...: the kill
 * switch for the request's tenant only (an operator pausing every tenant
 * uses the CLI). A pause's body may be {"mode": "hold"|"reject"}; without
 * one the pipeline's declared kill switch mode applies. */
static void handle_pause(const http_routes_ctx *ctx, const http_request *req,
                         const char *tenant, char **seg, int pausing, http_response *res) {
    char *pipeline = seg[0];
    char *component = strchr(pipeline, '/');
    if (component) *component++ = '\0';
    if (component && !*component) component = NULL;
    pause_mode mode = PAUSE_NONE;
    if (pausing && req->body_len > 0) {
        jv body;
        char *text = strndup(req->body, req->body_len);
        int rc = text ? json_read(text, &body) : -1;
        free(text);
        const char *m = rc == 0 ? json_get_str(&body, "mode") : NULL;
        mode = m && strcmp(m, "reject") == 0 ? PAUSE_REJECT
             : m && strcmp(m, "hold") == 0   ? PAUSE_HOLD
                                             : PAUSE_NONE;
        if (rc == 0) json_value_free(&body);
        if (mode == PAUSE_NONE) {
            respond_error(res, 400, "invalid",
                          "a pause body is {\"mode\": \"hold\"} or {\"mode\": \"reject\"}", NULL);
            return;
        }
    } else if (pausing) {
        mode = engine_pause_declared_mode(ctx->engine, pipeline);
    }
    int rc = engine_pause(ctx->engine, tenant, pipeline, component, mode);
    if (rc < 0) {
        respond_diag(ctx, res, NULL);
        return;
    }
    if (rc == 1) {
        respond_error(res, 404, "not_found", "nothing is paused there for this tenant", NULL);
        return;
    }
    res->status = 200;
    jb_str(&res->body, "{\"pipeline\":");
    jb_quoted(&res->body, pipeline);
    jb_str(&res->body, ",\"component\":");
    if (component) jb_quoted(&res->body, component);
    else jb_str(&res->body, "null");
    jb_str(&res->body, ",\"tenant_id\":");
    jb_quoted(&res->body, tenant);
    jb_printf(&res->body, ",\"state\":\"%s\"}",
              mode == PAUSE_REJECT ? "paused (reject)" : mode == PAUSE_HOLD ? "paused (hold)"
                                                                          : "resumed");
}

/* ---- dispatch ---- */

typedef enum { ROUTE_COMMAND, ROUTE_STATE, ROUTE_EVENTS, ROUTE_OTLP, ROUTE_PAUSE,
               ROUTE_RESUME } tenant_route;

void http_routes_handle(const http_routes_ctx *ctx, const http_request *req,
                        http_response *res) {
    const char *path = req->path;
    char *seg[3] = {NULL, NULL, NULL};
    int nseg = 0;
    tenant_route route;
    const char *method = "POST";

    if (strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0 ||
        strcmp(path, "/metrics") == 0) {
        res->route = path[1] == 'h' ? "/healthz" : path[1] == 'r' ? "/readyz" : "/metrics";
        if (!is_method(req, "GET") && !is_method(req, "HEAD")) {
            res->allow = "GET, HEAD";
            respond_error(res, 405, "method_not_allowed", "use GET", NULL);
        } else if (path[1] == 'h') {
            handle_healthz(res);
        } else if (path[1] == 'r') {
            handle_readyz(ctx, res);
        } else {
            handle_metrics(ctx, res);
        }
        return;
    }
    if (strcmp(path, "/v1/traces") == 0) {
        route = ROUTE_OTLP;
        res->route = "/v1/traces";
    } else if (split_path(path, "/api/commands/", 2, seg) == 0) {
        route = ROUTE_COMMAND;
        nseg = 2;
        res->route = "/api/commands";
    } else if (split_path(path, "/api/state/", 3, seg) == 0) {
        route = ROUTE_STATE;
        nseg = 3;
        method = "GET";
        res->route = "/api/state";
    } else if (split_path(path, "/api/events/", 2, seg) == 0) {
        route = ROUTE_EVENTS;
        nseg = 2;
        method = "GET";
        res->route = "/api/events";
    } else if (split_path(path, "/api/pause/", 1, seg) == 0) {
        route = ROUTE_PAUSE;
        nseg = 1;
        res->route = "/api/pause";
    } else if (split_path(path, "/api/resume/", 1, seg) == 0) {
        route = ROUTE_RESUME;
        nseg = 1;
        res->route = "/api/resume";
    } else {
        respond_error(res, 404, "not_found", "no such endpoint", NULL);
        return;
    }
    if (!is_method(req, method)) {
        res->allow = method[0] == 'G' ? "GET" : "POST";
        respond_error(res, 405, "method_not_allowed",
                      method[0] == 'G' ? "use GET" : "use POST", NULL);
        free_segments(seg, nseg);
        return;
    }
    char tenant[HTTP_AUTH_MAX_TENANT + 1];
    if (resolve_tenant(ctx, req, res, tenant, sizeof tenant) == 0) {
        switch (route) {
        case ROUTE_COMMAND: handle_command(ctx, req, tenant, seg, res); break;
        case ROUTE_STATE: handle_state(ctx, tenant, seg, res); break;
        case ROUTE_EVENTS: handle_events(ctx, tenant, seg, res); break;
        case ROUTE_OTLP: handle_otlp(ctx, req, tenant, res); break;
        case ROUTE_PAUSE: handle_pause(ctx, req, tenant, seg, 1, res); break;
        case ROUTE_RESUME: handle_pause(ctx, req, tenant, seg, 0, res); break;
        }
    }
    free_segments(seg, nseg);
}
