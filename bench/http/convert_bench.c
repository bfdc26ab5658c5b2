/* convert_bench.c: CPU time of an OTLP request's conversion on the HTTP
 * path, without HTTP or the queue: N times (default 2000) the nesting check
 * and lua_host_otlp_commands (the trace pipeline's utils/otlp.lua, the
 * record_span schema, one command JSON per span) on BODY, one OTLP JSON
 * request (bench/http/load.js's, written by convert.sh). Prints this
 * thread's CPU time per request and per span, and the Lua state's memory.
 * Build and run: bash bench/http/convert.sh [N]. */
#include "diag.h"
#include "http_otlp.h"
#include "lua_host.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double thread_cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The whole of `path`, malloc'd, length in *len; NULL when unreadable. */
static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: convert_bench PIPELINES_DIR BODY [N]\n");
        return 2;
    }
    int n = argc > 3 ? atoi(argv[3]) : 2000;
    size_t len;
    char *body = read_all(argv[2], &len);
    lua_host *h = lua_host_new();
    if (!body || !h || lua_host_load(h, argv[1], NULL) != 0) {
        fprintf(stderr, "convert_bench: %s\n", body ? diag_message() : "cannot read the body");
        return 1;
    }
    size_t spans = 0;
    double t0 = 0;
    for (int i = -n / 10; i < n; i++) { /* the first tenth warms up */
        if (i == 0) t0 = thread_cpu_s();
        lua_host_otlp_batch b;
        if (http_otlp_json_depth_check(body, len, 64) != 0 ||
            lua_host_otlp_commands(h, "bench", "trace_processing", "record_span", body, len,
                                   10000, &b) != 0) {
            fprintf(stderr, "convert_bench: %s\n", diag_message());
            return 1;
        }
        if (i >= 0) spans += b.n;
        lua_host_otlp_batch_clear(&b);
    }
    double cpu = thread_cpu_s() - t0;
    printf("%d requests, %zu spans: %.0f us CPU per request, %.2f us per span; Lua state %lld KiB\n",
           n, spans, cpu * 1e6 / n, cpu * 1e6 / (double)spans,
           (long long)(lua_host_memory(h) >> 10));
    lua_host_free(h);
    free(body);
    return 0;
}
