/* cli_read.c: `esengine state`, `events` and `records`: read what the
 * engine stored, tenant-scoped, as JSON. */
#include "cli.h"
#include "diag.h"

#include <stdio.h>
#include <stdlib.h>

static int require_tenant(es_config *cfg, const char *command)
{
    if (cfg->tenant && *cfg->tenant) return 0;
    fprintf(stderr, "esengine %s: --tenant is required (or ESENGINE_TENANT)\n", command);
    return -1;
}

int cli_state(es_config *cfg)
{
    if (cfg->n_positional != 3 || require_tenant(cfg, "state") != 0) {
        fprintf(stderr, "usage: esengine state PIPELINE FOLD KEY --tenant T\n");
        return EXIT_USAGE;
    }
    int code;
    es_engine *e = cli_open_engine(cfg, &code);
    if (!e) return code;
    char *state = NULL;
    int rc = engine_state(e, cfg->tenant, cfg->positional[0], cfg->positional[1],
                          cfg->positional[2], &state, NULL);
    if (rc == 0) {
        printf("%s\n", state);
        code = EXIT_OK;
    } else if (rc == 1) {
        fprintf(stderr, "esengine state: no state for %s in %s/%s (tenant %s)\n",
                cfg->positional[2], cfg->positional[0], cfg->positional[1], cfg->tenant);
        code = EXIT_NOT_FOUND;
    } else {
        fprintf(stderr, "esengine state: %s\n", diag_message());
        code = cli_exit_code();
    }
    free(state);
    engine_close(e);
    return code;
}

static int print_event(void *ud, const es_event *ev)
{
    (void)ud;
    char *json;
    if (event_to_json(ev, &json) != 0) return 1;
    printf("%s\n", json);
    free(json);
    return 0;
}

int cli_events(es_config *cfg)
{
    if (cfg->n_positional != 2 || require_tenant(cfg, "events") != 0) {
        fprintf(stderr, "usage: esengine events AGGREGATE_TYPE AGGREGATE_ID --tenant T\n");
        return EXIT_USAGE;
    }
    int code;
    es_engine *e = cli_open_engine(cfg, &code);
    if (!e) return code;
    code = EXIT_OK;
    if (engine_events(e, cfg->tenant, cfg->positional[0], cfg->positional[1], print_event,
                      NULL) != 0) {
        fprintf(stderr, "esengine events: %s\n", diag_message());
        code = cli_exit_code();
    }
    engine_close(e);
    return code;
}

static int print_record(void *ud, const char *record_id, const char *aggregate_id,
                        const char *record_json, int64_t created_at)
{
    (void)ud;
    (void)record_id;
    (void)aggregate_id;
    (void)created_at;
    printf("%s\n", record_json);
    return 0;
}

int cli_records(es_config *cfg)
{
    if (cfg->n_positional != 2 || require_tenant(cfg, "records") != 0) {
        fprintf(stderr, "usage: esengine records PIPELINE MAP --tenant T [--limit N]\n");
        return EXIT_USAGE;
    }
    int code;
    es_engine *e = cli_open_engine(cfg, &code);
    if (!e) return code;
    code = EXIT_OK;
    if (engine_records(e, cfg->tenant, cfg->positional[0], cfg->positional[1],
                       (size_t)cfg->limit, print_record, NULL) != 0) {
        fprintf(stderr, "esengine records: %s\n", diag_message());
        code = cli_exit_code();
    }
    engine_close(e);
    return code;
}
