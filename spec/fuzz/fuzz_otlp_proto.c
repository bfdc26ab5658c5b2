/* fuzz_otlp_proto.c: libFuzzer target for the OTLP protobuf -> JSON decoder:
 * never crashes, never exceeds its limits, and what it emits is balanced. */
#include <stdint.h>
#include <stdlib.h>

#include "http_otlp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const http_otlp_limits lim = {10000, 64, 64u << 20};
    json_buf out;
    jb_init(&out);
    size_t spans = 0;
    if (http_otlp_proto_to_json(data, size, &lim, &out, &spans) == 0) {
        if (spans > lim.max_spans) abort();
        /* Nesting of the emitted JSON is bounded by the protobuf's. */
        if (http_otlp_json_depth_check(out.data, out.len, 4 * lim.max_depth + 8) != 0) abort();
    }
    jb_free(&out);
    return 0;
}
