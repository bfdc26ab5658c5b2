/* fuzz_otlp_gzip.c: libFuzzer target for gzip inflation with a size cap and
 * the JSON nesting check that guards OTLP JSON and command bodies. */
#include <stdint.h>
#include <stdlib.h>

#include "http_otlp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *out = NULL;
    size_t len = 0;
    if (http_otlp_gunzip(data, size, 1u << 20, &out, &len) == 0) {
        if (len > (1u << 20) || out[len] != '\0') abort();
        http_otlp_json_depth_check(out, len, 64);
        free(out);
    }
    http_otlp_json_depth_check((const char *)data, size, 64);
    return 0;
}
