/* fuzz_command.c: libFuzzer target for POST /api/commands/{pipeline}/{command}
 * through the routes (no sockets) on a memory engine with the ledger fixture:
 * any body gets a 202, 400 or 413-class answer, never a crash or a 5xx. The
 * first input byte picks the command, the rest is the body. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "http_routes.h"

static es_engine *engine;
static http_server_options opt;
static http_routes_ctx ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    es_engine_options eo;
    engine_options_default(&eo);
    eo.memory = 1;
    const char *dir = getenv("ESENGINE_FUZZ_PIPELINES");
    eo.pipelines_dir = dir ? dir : "spec/functional/fixtures/pipelines";
    engine = engine_open(&eo);
    if (!engine) {
        fprintf(stderr, "fuzz_command: cannot open the engine on %s\n", eo.pipelines_dir);
        exit(1);
    }
    http_server_options_default(&opt);
    ctx.engine = engine;
    ctx.opt = &opt;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const paths[] = {"/api/commands/ledger/deposit",
                                        "/api/commands/ledger/explode",
                                        "/api/commands/ledger/nope"};
    static unsigned runs;
    if (size == 0) return 0;
    char *body = malloc(size);
    memcpy(body, data + 1, size - 1);
    body[size - 1] = '\0';
    http_request req = {.method = "POST", .path = paths[data[0] % 3],
                        .tenant_header = "fuzz", .body = body, .body_len = size - 1};
    http_response res;
    http_response_init(&res);
    http_routes_handle(&ctx, &req, &res);
    if (res.status >= 500) {
        fprintf(stderr, "status %d: %s\n", res.status, res.body.data);
        abort();
    }
    http_response_free(&res);
    free(body);
    /* Keep the memory queue small: run what was accepted now and then. */
    if (++runs % 256 == 0) engine_drain(engine);
    return 0;
}
