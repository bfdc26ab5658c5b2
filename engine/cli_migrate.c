/* cli_migrate.c: `esengine migrate`: create or upgrade the ClickHouse schema
 * (event log and one table per es.stores.table of the loaded pipelines),
 * idempotently, recording the schema version. */
#include "cli.h"
#include "clickhouse_store.h"
#include "diag.h"
#include "lua_host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TABLES 256

typedef struct table_list {
    clickhouse_table_def defs[MAX_TABLES];
    size_t n;
} table_list;

static int collect_table(void *ud, const char *table, int is_fold,
                         const char *const (*columns)[2], size_t n_columns)
{
    table_list *l = ud;
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->defs[i].name, table) == 0) return 0; /* shared by two components */
    if (l->n == MAX_TABLES) {
        diag_set(DIAG_INVALID, "more than %d store tables", MAX_TABLES);
        return -1;
    }
    clickhouse_column *cols = calloc(n_columns ? n_columns : 1, sizeof *cols);
    for (size_t i = 0; cols && i < n_columns; i++) {
        cols[i].name = strdup(columns[i][0]);
        cols[i].type = strdup(columns[i][1]);
    }
    clickhouse_table_def *d = &l->defs[l->n++];
    d->name = strdup(table);
    d->kind = is_fold ? CLICKHOUSE_TABLE_FOLD : CLICKHOUSE_TABLE_RECORDS;
    d->columns = cols;
    d->n_columns = n_columns;
    return 0;
}

static void table_list_free(table_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        for (size_t j = 0; j < l->defs[i].n_columns; j++) {
            free((char *)l->defs[i].columns[j].name);
            free((char *)l->defs[i].columns[j].type);
        }
        free((void *)l->defs[i].columns);
        free((char *)l->defs[i].name);
    }
}

int cli_migrate(es_config *cfg)
{
    const char *url = cfg->engine.clickhouse_url;
    if (!url || !*url) {
        fprintf(stderr, "esengine migrate: --clickhouse URL is required (or ESENGINE_CLICKHOUSE_URL); "
                        "the embedded store migrates itself on open\n");
        return EXIT_USAGE;
    }
    lua_host *h = lua_host_new();
    if (!h) return EXIT_FAIL;
    table_list tables = {.n = 0};
    int code = EXIT_OK;
    if (lua_host_load(h, cfg->engine.pipelines_dir, NULL) != 0 ||
        lua_host_store_tables(h, collect_table, &tables) != 0) {
        fprintf(stderr, "%s\n", diag_message());
        code = EXIT_USAGE;
    } else if (clickhouse_migrate(url, cfg->cluster && *cfg->cluster ? cfg->cluster : NULL,
                                  tables.defs, tables.n) != 0) {
        fprintf(stderr, "esengine migrate: %s\n", diag_message());
        code = cli_exit_code();
    } else {
        printf("migrated: event log and %zu projection tables (schema version %d)\n", tables.n,
               CLICKHOUSE_SCHEMA_VERSION);
    }
    table_list_free(&tables);
    lua_host_free(h);
    return code;
}
