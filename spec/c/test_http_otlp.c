/* test_http_otlp.c: OTLP protobuf -> JSON mapping, gzip limits, JSON depth
 * check and OTLP response bodies. */
#include <zlib.h>

#include "diag.h"
#include "http_otlp.h"
#include "otlp/trace_service.pb-c.h"
#include "testlib.h"

static const http_otlp_limits limits = {1000, 32, 1 << 24};

/* Builds a one-span request with every attribute value type, packed. */
static uint8_t *pack_request(size_t *len, size_t n_spans) {
    static uint8_t trace_id[16] = {0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd,
                                   0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c};
    static uint8_t span_id[8] = {0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31};
    static uint8_t raw[3] = {0xff, 0x00, 0x01};

    Opentelemetry__Proto__Common__V1__AnyValue v_str = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT,
        v_int = v_str, v_dbl = v_str, v_bool = v_str, v_bytes = v_str, v_arr = v_str,
        v_kv = v_str, v_svc = v_str;
    v_str.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    v_str.string_value = "gpt-4o \"mini\"";
    v_svc = v_str;
    v_svc.string_value = "checkout";
    v_int.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
    v_int.int_value = -9007199254740993LL;
    v_dbl.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE;
    v_dbl.double_value = 0.5;
    v_bool.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE;
    v_bool.bool_value = 1;
    v_bytes.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE;
    v_bytes.bytes_value.data = raw;
    v_bytes.bytes_value.len = 3;
    Opentelemetry__Proto__Common__V1__AnyValue *arr_items[] = {&v_int, &v_bool};
    Opentelemetry__Proto__Common__V1__ArrayValue arr = OPENTELEMETRY__PROTO__COMMON__V1__ARRAY_VALUE__INIT;
    arr.values = arr_items;
    arr.n_values = 2;
    v_arr.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE;
    v_arr.array_value = &arr;
    Opentelemetry__Proto__Common__V1__KeyValue inner = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
    inner.key = "x";
    inner.value = &v_dbl;
    Opentelemetry__Proto__Common__V1__KeyValue *inner_list[] = {&inner};
    Opentelemetry__Proto__Common__V1__KeyValueList kvl = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE_LIST__INIT;
    kvl.values = inner_list;
    kvl.n_values = 1;
    v_kv.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE;
    v_kv.kvlist_value = &kvl;

    Opentelemetry__Proto__Common__V1__KeyValue a[6];
    const char *keys[6] = {"gen_ai.request.model", "n", "ratio", "ok", "raw", "list"};
    Opentelemetry__Proto__Common__V1__AnyValue *vals[6] = {&v_str, &v_int, &v_dbl,
                                                           &v_bool, &v_bytes, &v_arr};
    Opentelemetry__Proto__Common__V1__KeyValue *attrs[7];
    for (int i = 0; i < 6; i++) {
        Opentelemetry__Proto__Common__V1__KeyValue init = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
        a[i] = init;
        a[i].key = (char *)keys[i];
        a[i].value = vals[i];
        attrs[i] = &a[i];
    }
    Opentelemetry__Proto__Common__V1__KeyValue kv_attr = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
    kv_attr.key = "map";
    kv_attr.value = &v_kv;
    attrs[6] = &kv_attr;

    Opentelemetry__Proto__Trace__V1__Status status = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__INIT;
    status.code = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
    status.message = "boom";
    Opentelemetry__Proto__Trace__V1__Span__Event ev = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__EVENT__INIT;
    ev.name = "first_token";
    ev.time_unix_nano = 1700000000100000000ULL;
    Opentelemetry__Proto__Trace__V1__Span__Event *events[] = {&ev};

    Opentelemetry__Proto__Trace__V1__Span span = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT;
    span.trace_id.data = trace_id;
    span.trace_id.len = 16;
    span.span_id.data = span_id;
    span.span_id.len = 8;
    span.name = "chat";
    span.kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT;
    span.start_time_unix_nano = 1700000000000000000ULL;
    span.end_time_unix_nano = 1700000000250000000ULL;
    span.attributes = attrs;
    span.n_attributes = 7;
    span.events = events;
    span.n_events = 1;
    span.status = &status;
    Opentelemetry__Proto__Trace__V1__Span *spans[4] = {&span, &span, &span, &span};

    Opentelemetry__Proto__Common__V1__InstrumentationScope scope = OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
    scope.name = "my.lib";
    scope.version = "1.0";
    Opentelemetry__Proto__Trace__V1__ScopeSpans ss = OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
    ss.scope = &scope;
    ss.spans = spans;
    ss.n_spans = n_spans;
    Opentelemetry__Proto__Trace__V1__ScopeSpans *ss_list[] = {&ss};
    Opentelemetry__Proto__Common__V1__KeyValue svc = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
    svc.key = "service.name";
    svc.value = &v_svc;
    Opentelemetry__Proto__Common__V1__KeyValue *res_attrs[] = {&svc};
    Opentelemetry__Proto__Resource__V1__Resource res = OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
    res.attributes = res_attrs;
    res.n_attributes = 1;
    Opentelemetry__Proto__Trace__V1__ResourceSpans rs = OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT;
    rs.resource = &res;
    rs.scope_spans = ss_list;
    rs.n_scope_spans = 1;
    Opentelemetry__Proto__Trace__V1__ResourceSpans *rs_list[] = {&rs};
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest req =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    req.resource_spans = rs_list;
    req.n_resource_spans = 1;

    *len = opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(&req);
    uint8_t *buf = malloc(*len);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(&req, buf);
    return buf;
}

static void test_proto_to_json(void) {
    size_t len, n_spans = 0;
    uint8_t *buf = pack_request(&len, 1);
    json_buf out;
    jb_init(&out);
    CHECK_INT(http_otlp_proto_to_json(buf, len, &limits, &out, &n_spans), 0);
    CHECK_INT(n_spans, 1);
    CHECK_STR(out.data,
              "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
              "\"value\":{\"stringValue\":\"checkout\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":"
              "\"my.lib\",\"version\":\"1.0\"},\"spans\":[{\"traceId\":"
              "\"0af7651916cd43dd8448eb211c80319c\",\"spanId\":\"b7ad6b7169203331\",\"name\":"
              "\"chat\",\"kind\":3,\"startTimeUnixNano\":\"1700000000000000000\","
              "\"endTimeUnixNano\":\"1700000000250000000\",\"attributes\":[{\"key\":"
              "\"gen_ai.request.model\",\"value\":{\"stringValue\":\"gpt-4o \\\"mini\\\"\"}},"
              "{\"key\":\"n\",\"value\":{\"intValue\":\"-9007199254740993\"}},{\"key\":\"ratio\","
              "\"value\":{\"doubleValue\":0.5}},{\"key\":\"ok\",\"value\":{\"boolValue\":true}},"
              "{\"key\":\"raw\",\"value\":{\"bytesValue\":\"/wAB\"}},{\"key\":\"list\",\"value\":"
              "{\"arrayValue\":{\"values\":[{\"intValue\":\"-9007199254740993\"},{\"boolValue\":"
              "true}]}}},{\"key\":\"map\",\"value\":{\"kvlistValue\":{\"values\":[{\"key\":\"x\","
              "\"value\":{\"doubleValue\":0.5}}]}}}],\"events\":[{\"timeUnixNano\":"
              "\"1700000000100000000\",\"name\":\"first_token\"}],\"status\":{\"message\":"
              "\"boom\",\"code\":2}}]}]}]}");
    jb_free(&out);
    free(buf);
}

/* Wraps buf[0..*len) as a length-delimited field with the given tag byte. */
static void prepend_field(uint8_t *buf, size_t *len, uint8_t tag) {
    uint8_t hdr[12];
    size_t h = 0, l = *len;
    hdr[h++] = tag;
    do {
        hdr[h++] = (uint8_t)((l & 0x7f) | (l > 0x7f ? 0x80 : 0));
        l >>= 7;
    } while (l);
    memmove(buf + h, buf, *len);
    memcpy(buf, hdr, h);
    *len += h;
}

static void test_proto_limits(void) {
    size_t len, n_spans = 0;
    uint8_t *buf = pack_request(&len, 4);
    json_buf out;
    jb_init(&out);
    http_otlp_limits few = {3, 32, 1 << 24};
    CHECK_INT(http_otlp_proto_to_json(buf, len, &few, &out, &n_spans), 1);
    CHECK(strstr(diag_message(), "more than 3 spans") != NULL);
    http_otlp_limits shallow = {100, 4, 1 << 24};
    CHECK_INT(http_otlp_proto_to_json(buf, len, &shallow, &out, &n_spans), 1);
    CHECK(strstr(diag_message(), "nested deeper") != NULL);
    http_otlp_limits small = {100, 32, 256};
    CHECK_INT(http_otlp_proto_to_json(buf, len, &small, &out, &n_spans), 1);
    CHECK_INT(out.len, 0);

    /* Truncated and garbage bodies are invalid, never a crash. */
    CHECK_INT(http_otlp_proto_to_json(buf, len - 3, &limits, &out, &n_spans), -1);
    CHECK_INT(diag_code_get(), DIAG_INVALID);
    const uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
    CHECK_INT(http_otlp_proto_to_json(junk, sizeof junk, &limits, &out, &n_spans), -1);
    /* An empty body is an empty (valid) request. */
    CHECK_INT(http_otlp_proto_to_json((const uint8_t *)"", 0, &limits, &out, &n_spans), 0);
    CHECK_STR(out.data, "{\"resourceSpans\":[]}");
    CHECK_INT(n_spans, 0);

    /* A deeply nested AnyValue array is refused before unpacking, built from
     * the inside out: AnyValue.array_value(5) { ArrayValue.values(1) {..} },
     * then KeyValue.value(2), Resource.attributes(1), ResourceSpans.resource(1)
     * and the request's resource_spans(1). */
    uint8_t *wire = malloc(1 << 16);
    size_t wire_len = 0;
    for (int i = 0; i < 200; i++) {
        prepend_field(wire, &wire_len, 0x0a);
        prepend_field(wire, &wire_len, 0x2a);
    }
    prepend_field(wire, &wire_len, 0x12);
    prepend_field(wire, &wire_len, 0x0a);
    prepend_field(wire, &wire_len, 0x0a);
    prepend_field(wire, &wire_len, 0x0a);
    jb_reset(&out);
    CHECK_INT(http_otlp_proto_to_json(wire, wire_len, &limits, &out, &n_spans), 1);
    CHECK(strstr(diag_message(), "nested deeper than 32") != NULL);
    free(wire);
    jb_free(&out);
    free(buf);
}

static size_t gzip_bytes(const void *in, size_t n, uint8_t *out, size_t cap) {
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    deflate(&z, Z_FINISH);
    size_t len = cap - z.avail_out;
    deflateEnd(&z);
    return len;
}

static void test_gunzip(void) {
    const char *text = "{\"resourceSpans\":[]}";
    uint8_t gz[256];
    size_t gz_len = gzip_bytes(text, strlen(text), gz, sizeof gz);
    char *out = NULL;
    size_t out_len = 0;
    CHECK_INT(http_otlp_gunzip(gz, gz_len, 1024, &out, &out_len), 0);
    CHECK_STR(out, text);
    CHECK_INT(out_len, strlen(text));
    free(out);

    /* Concatenated members. */
    uint8_t two[512];
    memcpy(two, gz, gz_len);
    memcpy(two + gz_len, gz, gz_len);
    CHECK_INT(http_otlp_gunzip(two, gz_len * 2, 1024, &out, &out_len), 0);
    CHECK_INT(out_len, strlen(text) * 2);
    free(out);

    /* A bomb: 64 MiB of zeros compresses to ~64 KiB; refused at 1 MiB. */
    size_t big = 64u << 20;
    char *zeros = calloc(1, big);
    uint8_t *bomb = malloc(1 << 20);
    size_t bomb_len = gzip_bytes(zeros, big, bomb, 1 << 20);
    free(zeros);
    CHECK_INT(http_otlp_gunzip(bomb, bomb_len, 1 << 20, &out, &out_len), 1);
    CHECK(strstr(diag_message(), "larger than") != NULL);
    free(bomb);

    CHECK_INT(http_otlp_gunzip(gz, gz_len - 4, 1024, &out, &out_len), -1);
    CHECK_INT(http_otlp_gunzip((const uint8_t *)"not gzip", 8, 1024, &out, &out_len), -1);
    CHECK_INT(diag_code_get(), DIAG_INVALID);
}

static void test_json_depth(void) {
    const char *ok = "{\"a\":[{\"b\":\"[[[[[[\"}]}";
    CHECK_INT(http_otlp_json_depth_check(ok, strlen(ok), 3), 0);
    CHECK_INT(http_otlp_json_depth_check(ok, strlen(ok), 2), -1);
    const char *esc = "{\"a\":\"\\\"[[[\"}";
    CHECK_INT(http_otlp_json_depth_check(esc, strlen(esc), 1), 0);
    CHECK_INT(http_otlp_json_depth_check("\"abc", 4, 10), -1);
    /* a string ending in an escaped backslash closes; an escaped quote
     * after a run of them does not */
    const char *slashes = "[\"a\\\\\",[\"\\\\\\\"]\"]]";
    CHECK_INT(http_otlp_json_depth_check(slashes, strlen(slashes), 2), 0);
    CHECK_INT(http_otlp_json_depth_check(slashes, strlen(slashes), 1), -1);
    CHECK_INT(http_otlp_json_depth_check("[\"\\\"]", 5, 10), -1);
    CHECK_INT(http_otlp_json_depth_check("\"", 1, 10), -1);
}

static void test_responses(void) {
    json_buf b;
    jb_init(&b);
    http_otlp_response(&b, 0, 0, NULL);
    CHECK_STR(b.data, "{}");
    jb_reset(&b);
    http_otlp_response(&b, 0, 2, "span 1: missing \"traceId\"");
    CHECK_STR(b.data, "{\"partialSuccess\":{\"rejectedSpans\":\"2\",\"errorMessage\":"
                      "\"span 1: missing \\\"traceId\\\"\"}}");
    jb_reset(&b);
    http_otlp_response(&b, 1, 0, NULL);
    CHECK_INT(b.len, 0);
    jb_reset(&b);
    http_otlp_response(&b, 1, 2, "x");
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse *r =
        opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(
            NULL, b.len, (uint8_t *)b.data);
    CHECK(r && r->partial_success && r->partial_success->rejected_spans == 2);
    if (r) opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(r, NULL);
    jb_reset(&b);
    http_otlp_status(&b, 0, 3, "bad");
    CHECK_STR(b.data, "{\"code\":3,\"message\":\"bad\"}");
    jb_free(&b);
}

int main(void) {
    RUN_TEST(test_proto_to_json);
    RUN_TEST(test_proto_limits);
    RUN_TEST(test_gunzip);
    RUN_TEST(test_json_depth);
    RUN_TEST(test_responses);
    return TEST_EXIT();
}
