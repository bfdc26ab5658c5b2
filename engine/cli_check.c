/* cli_check.c: `esengine check`: load and validate every pipeline without
 * touching any store. */
#include "cli.h"
#include "diag.h"
#include "lua_host.h"

#include <stdio.h>
#include <stdlib.h>

int cli_check(es_config *cfg)
{
    lua_host *h = lua_host_new();
    if (!h) {
        fprintf(stderr, "esengine check: %s\n", diag_message());
        return EXIT_FAIL;
    }
    if (lua_host_load(h, cfg->engine.pipelines_dir, NULL) != 0) {
        fprintf(stderr, "%s\n", diag_message());
        lua_host_free(h);
        return EXIT_USAGE;
    }
    char *summary = lua_host_summary_text(h);
    if (summary) fputs(summary, stdout);
    printf("ok: %s (generation %s)\n", cfg->engine.pipelines_dir, lua_host_generation(h));
    free(summary);
    lua_host_free(h);
    return EXIT_OK;
}
