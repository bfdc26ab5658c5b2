/* http_otlp.h: OTLP/HTTP trace request decoding in C: gzip with a size cap,
 * protobuf to the OTLP JSON mapping (so one Lua conversion handles both
 * encodings), a JSON nesting check, and the OTLP response bodies. Nothing
 * here touches the engine: every function is a pure transformation, fuzzed
 * by spec/fuzz/. */
#ifndef ES_HTTP_OTLP_H
#define ES_HTTP_OTLP_H

#include <stddef.h>
#include <stdint.h>

#include "json_buf.h"

/* Inflates a gzip (or zlib) body into *out (malloc'd, NUL-terminated; the
 * caller frees). Returns 0 on success, 1 when the output would pass `limit`
 * bytes (nothing returned: a gzip bomb), -1 with DIAG_INVALID when the body
 * is not valid gzip. Concatenated gzip members are inflated in turn. */
int http_otlp_gunzip(const uint8_t *in, size_t n, size_t limit, char **out,
                     size_t *out_len);

/* Checks that `json` nests objects/arrays at most `max_depth` deep, ignoring
 * brackets inside strings. 0 when within the limit, -1 with DIAG_INVALID
 * otherwise (or on an unterminated string). It does not validate the rest of
 * the grammar: the JSON decoder does that. */
int http_otlp_json_depth_check(const char *json, size_t n, int max_depth);

/* Limits applied while decoding a protobuf request. */
typedef struct http_otlp_limits {
    size_t max_spans;     /* spans per request */
    int max_depth;        /* message nesting (AnyValue arrays/kvlists nest) */
    size_t max_decoded;   /* bytes the decoded C structures may take */
} http_otlp_limits;

/* Decodes an ExportTraceServiceRequest and appends it to `out` in the OTLP
 * JSON mapping: lowerCamelCase names, trace/span ids as lowercase hex,
 * 64-bit integers and nano timestamps as decimal strings, enums as numbers,
 * bytes attribute values as base64, default values omitted. *n_spans gets
 * the number of spans. Returns 0; 1 when a limit of `lim` was passed (the
 * diag says which; nothing appended); -1 with DIAG_INVALID when the bytes
 * are not a valid request. The structure is walked before it is unpacked,
 * so a hostile body cannot exhaust the stack or memory. */
int http_otlp_proto_to_json(const uint8_t *buf, size_t n, const http_otlp_limits *lim,
                            json_buf *out, size_t *n_spans);

/* Appends an ExportTraceServiceResponse: `{}` or, when rejected > 0,
 * `{"partialSuccess":{"rejectedSpans":"N","errorMessage":"..."}}` (JSON), or
 * the same message in protobuf when `proto` is set. */
void http_otlp_response(json_buf *out, int proto, int64_t rejected,
                        const char *error_message);

/* Appends a google.rpc.Status error body ({"code":C,"message":"..."} or its
 * protobuf form). `code` is a gRPC code (3 invalid argument, 8 resource
 * exhausted, 14 unavailable, 16 unauthenticated). */
void http_otlp_status(json_buf *out, int proto, int code, const char *message);

#endif
