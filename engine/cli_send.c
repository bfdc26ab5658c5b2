/* cli_send.c: `esengine send`: validate and enqueue one command, optionally
 * waiting until its events are folded. */
#include "cli.h"
#include "diag.h"
#include "json_buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads all of stdin into a malloc'd string. */
static char *read_stdin(void)
{
    json_buf b;
    jb_init(&b);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0) jb_raw(&b, chunk, n);
    return jb_take(&b);
}

int cli_send(es_config *cfg)
{
    if (cfg->n_positional != 3) {
        fprintf(stderr, "usage: esengine send PIPELINE COMMAND PAYLOAD_JSON|- --tenant T\n");
        return EXIT_USAGE;
    }
    if (!cfg->tenant || !*cfg->tenant) {
        fprintf(stderr, "esengine send: --tenant is required (or ESENGINE_TENANT)\n");
        return EXIT_USAGE;
    }
    char *payload = strcmp(cfg->positional[2], "-") == 0 ? read_stdin()
                                                          : strdup(cfg->positional[2]);
    int code;
    es_engine *e = cli_open_engine(cfg, &code);
    if (!e) {
        free(payload);
        return code;
    }
    char *job_id = NULL, *errors = NULL;
    code = EXIT_OK;
    if (engine_send(e, cfg->tenant, cfg->positional[0], cfg->positional[1], payload,
                    cfg->job_id, &job_id, &errors) != 0) {
        code = cli_exit_code();
        fprintf(stderr, "esengine send: %s\n", diag_message());
        if (errors) fprintf(stderr, "%s\n", errors);
    } else {
        printf("{\"job_id\":\"%s\"}\n", job_id);
        fflush(stdout);
        if (cfg->wait_seconds >= 0 &&
            engine_wait(e, job_id, (int64_t)(cfg->wait_seconds * 1000)) != 0) {
            fprintf(stderr, "esengine send: %s\n", diag_message());
            code = EXIT_FAIL;
        }
    }
    free(job_id);
    free(errors);
    free(payload);
    engine_close(e);
    return code;
}
