/* cli_common.c: what the one-shot subcommands share: opening the engine
 * and mapping errors to exit codes. */
#include "cli.h"
#include "diag.h"

#include <stdio.h>

int cli_exit_code(void)
{
    switch (diag_code_get()) {
    case DIAG_INVALID: return EXIT_USAGE;
    case DIAG_NOT_FOUND: return EXIT_NOT_FOUND;
    default: return EXIT_FAIL;
    }
}

es_engine *cli_open_engine(es_config *cfg, int *exit_code)
{
    es_engine *e = engine_open(&cfg->engine);
    if (!e) {
        fprintf(stderr, "esengine: %s\n", diag_message());
        *exit_code = diag_code_get() == DIAG_SCRIPT ? EXIT_USAGE : EXIT_FAIL;
    }
    return e;
}
