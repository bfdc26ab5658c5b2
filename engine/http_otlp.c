/* http_otlp.c: OTLP trace request decoding (gzip, protobuf -> OTLP JSON) and
 * OTLP/HTTP response bodies. */
#include "http_otlp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "diag.h"
#include "otlp/status.pb-c.h"
#include "otlp/trace_service.pb-c.h"

typedef Opentelemetry__Proto__Common__V1__AnyValue any_value;
typedef Opentelemetry__Proto__Common__V1__KeyValue key_value;
typedef Opentelemetry__Proto__Trace__V1__Span span_msg;

/* ---- gzip ---- */

int http_otlp_gunzip(const uint8_t *in, size_t n, size_t limit, char **out,
                     size_t *out_len) {
    z_stream z;
    memset(&z, 0, sizeof z);
    /* 15 + 32: accept gzip or zlib headers, detected automatically. */
    if (inflateInit2(&z, 15 + 32) != Z_OK) {
        diag_set(DIAG_INTERNAL, "inflateInit2 failed");
        return -1;
    }
    size_t cap = n * 4 < limit ? n * 4 + 64 : limit + 1;
    char *buf = malloc(cap + 1);
    size_t len = 0;
    int rc = 0;
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    if (n > UINT32_MAX) {
        diag_set(DIAG_INVALID, "compressed body too large");
        rc = -1;
    }
    while (rc == 0 && buf) {
        if (len == cap) {
            if (cap > limit) {
                rc = 1;
                break;
            }
            size_t ncap = cap * 2 > limit + 1 ? limit + 1 : cap * 2;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) break;
            buf = nb;
            cap = ncap;
        }
        z.next_out = (Bytef *)buf + len;
        z.avail_out = (uInt)(cap - len);
        int zr = inflate(&z, Z_NO_FLUSH);
        len = cap - z.avail_out;
        if (len > limit) {
            rc = 1;
        } else if (zr == Z_STREAM_END) {
            if (z.avail_in == 0) break;
            /* Another gzip member follows (concatenated streams). */
            if (inflateReset(&z) != Z_OK) rc = -1;
        } else if (zr == Z_BUF_ERROR && z.avail_in == 0) {
            diag_set(DIAG_INVALID, "truncated gzip body");
            rc = -1;
        } else if (zr != Z_OK && zr != Z_BUF_ERROR) {
            diag_set(DIAG_INVALID, "invalid gzip body: %s", z.msg ? z.msg : "inflate failed");
            rc = -1;
        }
    }
    inflateEnd(&z);
    if (!buf) {
        diag_set(DIAG_INTERNAL, "out of memory");
        return -1;
    }
    if (rc == 1) diag_set(DIAG_INVALID, "decompressed body larger than %zu bytes", limit);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return 0;
}

/* ---- JSON nesting ---- */

int http_otlp_json_depth_check(const char *json, size_t n, int max_depth) {
    int depth = 0;
    for (size_t i = 0; i < n; i++) {
        char c = json[i];
        if (c == '"') {
            /* to the closing quote: the next one not preceded by an odd run
             * of backslashes (memchr: most of a request is strings) */
            for (;;) {
                const char *q = ++i < n ? memchr(json + i, '"', n - i) : NULL;
                if (!q) {
                    diag_set(DIAG_INVALID, "unterminated JSON string");
                    return -1;
                }
                i = (size_t)(q - json);
                size_t slashes = 0;
                while (json[i - 1 - slashes] == '\\') slashes++;
                if (slashes % 2 == 0) break;
            }
        } else if (c == '{' || c == '[') {
            if (++depth > max_depth) {
                diag_set(DIAG_INVALID, "JSON nested deeper than %d levels", max_depth);
                return -1;
            }
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        }
    }
    return 0;
}

/* ---- protobuf pre-walk: depth, span count and decoded size ---- */

typedef struct walk_state {
    const http_otlp_limits *lim;
    size_t spans;
    size_t decoded;
    int limit_hit;
} walk_state;

static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
    uint64_t r = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return -1;
}

/* Walks the wire format of a message of type `d` without allocating,
 * recursing only into fields the schema says are messages. */
static int walk_message(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n,
                        int depth, walk_state *w) {
    const uint8_t *end = p + n;
    if (depth > w->lim->max_depth) {
        diag_set(DIAG_INVALID, "protobuf nested deeper than %d levels", w->lim->max_depth);
        w->limit_hit = 1;
        return -1;
    }
    w->decoded += d->sizeof_message;
    while (p < end) {
        uint64_t tag, v;
        if (read_varint(&p, end, &tag) != 0 || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) {
            diag_set(DIAG_INVALID, "invalid protobuf field tag");
            return -1;
        }
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field(d, (unsigned)(tag >> 3));
        switch (tag & 7) {
        case 0:
            if (read_varint(&p, end, &v) != 0) goto bad;
            break;
        case 1:
            if (end - p < 8) goto bad;
            p += 8;
            break;
        case 5:
            if (end - p < 4) goto bad;
            p += 4;
            break;
        case 2:
            if (read_varint(&p, end, &v) != 0 || v > (uint64_t)(end - p)) goto bad;
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                if (d == &opentelemetry__proto__trace__v1__scope_spans__descriptor &&
                    f->id == 2 && ++w->spans > w->lim->max_spans) {
                    diag_set(DIAG_INVALID, "more than %zu spans in one request",
                             w->lim->max_spans);
                    w->limit_hit = 1;
                    return -1;
                }
                if (walk_message(f->descriptor, p, (size_t)v, depth + 1, w) != 0) return -1;
            } else {
                w->decoded += (size_t)v + 1;
            }
            p += v;
            break;
        default:
            goto bad;
        }
        if (f && f->label == PROTOBUF_C_LABEL_REPEATED) w->decoded += sizeof(void *) * 2;
        if (w->decoded > w->lim->max_decoded) {
            diag_set(DIAG_INVALID, "protobuf request expands past %zu bytes decoded",
                     w->lim->max_decoded);
            w->limit_hit = 1;
            return -1;
        }
    }
    return 0;
bad:
    diag_set(DIAG_INVALID, "truncated or malformed protobuf");
    return -1;
}

/* ---- protobuf -> OTLP JSON ---- */

static void emit_hex(json_buf *out, const char *name, ProtobufCBinaryData b, int *first) {
    static const char hex[] = "0123456789abcdef";
    if (b.len == 0) return;
    jb_printf(out, "%s\"%s\":\"", *first ? "" : ",", name);
    *first = 0;
    for (size_t i = 0; i < b.len; i++) {
        char h[2] = {hex[b.data[i] >> 4], hex[b.data[i] & 15]};
        jb_raw(out, h, 2);
    }
    jb_raw(out, "\"", 1);
}

static void emit_base64(json_buf *out, ProtobufCBinaryData b) {
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    jb_raw(out, "\"", 1);
    for (size_t i = 0; i < b.len; i += 3) {
        uint32_t v = (uint32_t)b.data[i] << 16;
        if (i + 1 < b.len) v |= (uint32_t)b.data[i + 1] << 8;
        if (i + 2 < b.len) v |= b.data[i + 2];
        char q[4] = {tab[(v >> 18) & 63], tab[(v >> 12) & 63],
                     i + 1 < b.len ? tab[(v >> 6) & 63] : '=',
                     i + 2 < b.len ? tab[v & 63] : '='};
        jb_raw(out, q, 4);
    }
    jb_raw(out, "\"", 1);
}

static void emit_key(json_buf *out, const char *name, int *first) {
    jb_printf(out, "%s\"%s\":", *first ? "" : ",", name);
    *first = 0;
}

static void emit_string(json_buf *out, const char *name, const char *s, int *first) {
    if (!s || !*s) return;
    emit_key(out, name, first);
    jb_quoted(out, s);
}

static void emit_u64_string(json_buf *out, const char *name, uint64_t v, int *first) {
    if (v == 0) return;
    emit_key(out, name, first);
    jb_printf(out, "\"%llu\"", (unsigned long long)v);
}

static void emit_uint(json_buf *out, const char *name, uint32_t v, int *first) {
    if (v == 0) return;
    emit_key(out, name, first);
    jb_printf(out, "%u", v);
}

static void emit_attributes(json_buf *out, const char *name, key_value **kv, size_t n,
                            int *first);

static void emit_any(json_buf *out, const any_value *v) {
    jb_raw(out, "{", 1);
    int first = 1;
    if (!v) {
        jb_raw(out, "}", 1);
        return;
    }
    switch (v->value_case) {
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE:
        emit_key(out, "stringValue", &first);
        jb_quoted(out, v->string_value ? v->string_value : "");
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE:
        emit_key(out, "boolValue", &first);
        jb_str(out, v->bool_value ? "true" : "false");
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
        emit_key(out, "intValue", &first);
        jb_printf(out, "\"%lld\"", (long long)v->int_value);
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
        emit_key(out, "doubleValue", &first);
        if (isnan(v->double_value)) jb_str(out, "\"NaN\"");
        else if (isinf(v->double_value))
            jb_str(out, v->double_value > 0 ? "\"Infinity\"" : "\"-Infinity\"");
        else jb_printf(out, "%.17g", v->double_value);
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE:
        emit_key(out, "arrayValue", &first);
        jb_str(out, "{\"values\":[");
        if (v->array_value) {
            for (size_t i = 0; i < v->array_value->n_values; i++) {
                if (i) jb_raw(out, ",", 1);
                emit_any(out, v->array_value->values[i]);
            }
        }
        jb_str(out, "]}");
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE: {
        emit_key(out, "kvlistValue", &first);
        jb_raw(out, "{", 1);
        int inner = 1;
        if (v->kvlist_value)
            emit_attributes(out, "values", v->kvlist_value->values,
                            v->kvlist_value->n_values, &inner);
        if (inner) jb_str(out, "\"values\":[]");
        jb_raw(out, "}", 1);
        break;
    }
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE:
        emit_key(out, "bytesValue", &first);
        emit_base64(out, v->bytes_value);
        break;
    default:
        break;
    }
    jb_raw(out, "}", 1);
}

static void emit_attributes(json_buf *out, const char *name, key_value **kv, size_t n,
                            int *first) {
    if (n == 0) return;
    emit_key(out, name, first);
    jb_raw(out, "[", 1);
    for (size_t i = 0; i < n; i++) {
        jb_str(out, i ? ",{\"key\":" : "{\"key\":");
        jb_quoted(out, kv[i]->key ? kv[i]->key : "");
        jb_str(out, ",\"value\":");
        emit_any(out, kv[i]->value);
        jb_raw(out, "}", 1);
    }
    jb_raw(out, "]", 1);
}

static void emit_span(json_buf *out, const span_msg *s) {
    int first = 1;
    jb_raw(out, "{", 1);
    emit_hex(out, "traceId", s->trace_id, &first);
    emit_hex(out, "spanId", s->span_id, &first);
    emit_string(out, "traceState", s->trace_state, &first);
    emit_hex(out, "parentSpanId", s->parent_span_id, &first);
    emit_uint(out, "flags", s->flags, &first);
    emit_string(out, "name", s->name, &first);
    emit_uint(out, "kind", (uint32_t)s->kind, &first);
    emit_u64_string(out, "startTimeUnixNano", s->start_time_unix_nano, &first);
    emit_u64_string(out, "endTimeUnixNano", s->end_time_unix_nano, &first);
    emit_attributes(out, "attributes", s->attributes, s->n_attributes, &first);
    emit_uint(out, "droppedAttributesCount", s->dropped_attributes_count, &first);
    if (s->n_events) {
        emit_key(out, "events", &first);
        jb_raw(out, "[", 1);
        for (size_t i = 0; i < s->n_events; i++) {
            const Opentelemetry__Proto__Trace__V1__Span__Event *ev = s->events[i];
            int f = 1;
            jb_str(out, i ? ",{" : "{");
            emit_u64_string(out, "timeUnixNano", ev->time_unix_nano, &f);
            emit_string(out, "name", ev->name, &f);
            emit_attributes(out, "attributes", ev->attributes, ev->n_attributes, &f);
            emit_uint(out, "droppedAttributesCount", ev->dropped_attributes_count, &f);
            jb_raw(out, "}", 1);
        }
        jb_raw(out, "]", 1);
    }
    emit_uint(out, "droppedEventsCount", s->dropped_events_count, &first);
    if (s->n_links) {
        emit_key(out, "links", &first);
        jb_raw(out, "[", 1);
        for (size_t i = 0; i < s->n_links; i++) {
            const Opentelemetry__Proto__Trace__V1__Span__Link *l = s->links[i];
            int f = 1;
            jb_str(out, i ? ",{" : "{");
            emit_hex(out, "traceId", l->trace_id, &f);
            emit_hex(out, "spanId", l->span_id, &f);
            emit_string(out, "traceState", l->trace_state, &f);
            emit_attributes(out, "attributes", l->attributes, l->n_attributes, &f);
            emit_uint(out, "droppedAttributesCount", l->dropped_attributes_count, &f);
            emit_uint(out, "flags", l->flags, &f);
            jb_raw(out, "}", 1);
        }
        jb_raw(out, "]", 1);
    }
    emit_uint(out, "droppedLinksCount", s->dropped_links_count, &first);
    if (s->status) {
        int f = 1;
        emit_key(out, "status", &first);
        jb_raw(out, "{", 1);
        emit_string(out, "message", s->status->message, &f);
        emit_uint(out, "code", (uint32_t)s->status->code, &f);
        jb_raw(out, "}", 1);
    }
    jb_raw(out, "}", 1);
}

static void emit_request(json_buf *out,
                         const Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *r) {
    jb_str(out, "{\"resourceSpans\":[");
    for (size_t i = 0; i < r->n_resource_spans; i++) {
        const Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = r->resource_spans[i];
        int first = 1;
        jb_str(out, i ? ",{" : "{");
        if (rs->resource) {
            int f = 1;
            emit_key(out, "resource", &first);
            jb_raw(out, "{", 1);
            emit_attributes(out, "attributes", rs->resource->attributes,
                            rs->resource->n_attributes, &f);
            emit_uint(out, "droppedAttributesCount", rs->resource->dropped_attributes_count,
                      &f);
            jb_raw(out, "}", 1);
        }
        emit_key(out, "scopeSpans", &first);
        jb_raw(out, "[", 1);
        for (size_t j = 0; j < rs->n_scope_spans; j++) {
            const Opentelemetry__Proto__Trace__V1__ScopeSpans *ss = rs->scope_spans[j];
            int f = 1;
            jb_str(out, j ? ",{" : "{");
            if (ss->scope) {
                int g = 1;
                emit_key(out, "scope", &f);
                jb_raw(out, "{", 1);
                emit_string(out, "name", ss->scope->name, &g);
                emit_string(out, "version", ss->scope->version, &g);
                emit_attributes(out, "attributes", ss->scope->attributes,
                                ss->scope->n_attributes, &g);
                emit_uint(out, "droppedAttributesCount",
                          ss->scope->dropped_attributes_count, &g);
                jb_raw(out, "}", 1);
            }
            emit_key(out, "spans", &f);
            jb_raw(out, "[", 1);
            for (size_t k = 0; k < ss->n_spans; k++) {
                if (k) jb_raw(out, ",", 1);
                emit_span(out, ss->spans[k]);
            }
            jb_raw(out, "]", 1);
            emit_string(out, "schemaUrl", ss->schema_url, &f);
            jb_raw(out, "}", 1);
        }
        jb_raw(out, "]", 1);
        emit_string(out, "schemaUrl", rs->schema_url, &first);
        jb_raw(out, "}", 1);
    }
    jb_str(out, "]}");
}

int http_otlp_proto_to_json(const uint8_t *buf, size_t n, const http_otlp_limits *lim,
                            json_buf *out, size_t *n_spans) {
    walk_state w = {lim, 0, 0, 0};
    if (walk_message(&opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor,
                     buf, n, 0, &w) != 0)
        return w.limit_hit ? 1 : -1;
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *r =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(NULL, n,
                                                                                         buf);
    if (!r) {
        diag_set(DIAG_INVALID, "invalid ExportTraceServiceRequest protobuf");
        return -1;
    }
    emit_request(out, r);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(r,
                                                                                           NULL);
    *n_spans = w.spans;
    return 0;
}

/* ---- responses ---- */

/* Appends a packed protobuf message to out. */
static void pack_into(json_buf *out, const ProtobufCMessage *m) {
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *tmp = malloc(len ? len : 1);
    if (!tmp) {
        out->oom = 1;
        return;
    }
    protobuf_c_message_pack(m, tmp);
    jb_raw(out, (const char *)tmp, len);
    free(tmp);
}

void http_otlp_response(json_buf *out, int proto, int64_t rejected,
                        const char *error_message) {
    if (!proto) {
        if (rejected <= 0) {
            jb_str(out, "{}");
            return;
        }
        jb_printf(out, "{\"partialSuccess\":{\"rejectedSpans\":\"%lld\",\"errorMessage\":",
                  (long long)rejected);
        jb_quoted(out, error_message ? error_message : "");
        jb_str(out, "}}");
        return;
    }
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse resp =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_RESPONSE__INIT;
    Opentelemetry__Proto__Collector__Trace__V1__ExportTracePartialSuccess partial =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_PARTIAL_SUCCESS__INIT;
    if (rejected > 0) {
        partial.rejected_spans = rejected;
        partial.error_message = (char *)(error_message ? error_message : "");
        resp.partial_success = &partial;
    }
    pack_into(out, &resp.base);
}

void http_otlp_status(json_buf *out, int proto, int code, const char *message) {
    if (!proto) {
        jb_printf(out, "{\"code\":%d,\"message\":", code);
        jb_quoted(out, message ? message : "");
        jb_raw(out, "}", 1);
        return;
    }
    Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
    st.code = code;
    st.message = (char *)(message ? message : "");
    pack_into(out, &st.base);
}
