/* clickhouse_schema.c: the ClickHouse schema (event log, projection tables,
 * schema_version) as SQL text, and the idempotent migration that applies it.
 *
 * The SQL sticks to what both 18.16 and current releases accept: UInt64 ms
 * timestamps, JSON kept as String, (Replacing)MergeTree, typed projection
 * columns MATERIALIZED from the JSON with visitParamExtract* (computed by
 * the server on every insert), no DateTime64/LowCardinality/JSON type, and
 * no ADD COLUMN IF NOT EXISTS (missing columns are found in system.columns).
 *
 * Tables:
 *   events          ReplacingMergeTree, PARTITION BY month of created_at,
 *                   ORDER BY (tenant_id, aggregate_type, aggregate_id, seq):
 *                   a row repeated by a retried insert collapses on merge.
 *   <fold table>    tenant_id, key (aggregate_id is an ALIAS of it), typed
 *                   columns, state, last_seq, updated_at;
 *                   ReplacingMergeTree(last_seq) ORDER BY (tenant_id, key):
 *                   FINAL or argMax(…, last_seq) gives the latest state.
 *   <record table>  tenant_id, record_id, aggregate_id, typed columns, record,
 *                   created_at, _version = 2^64-1-created_at;
 *                   ReplacingMergeTree(_version) ORDER BY (tenant_id,
 *                   record_id): the first append of a record id wins.
 *   schema_version  one row per applied version.
 * With a cluster name every statement gets ON CLUSTER and the engines become
 * Replicated* with '/clickhouse/tables/{shard}/<db>/<table>', '{replica}'. */
#include "clickhouse_internal.h"

#include "../engine/clock.h"
#include "../engine/diag.h"

#include <stdlib.h>
#include <string.h>

/* ClickHouse type -> the visitParam extraction that computes it from JSON. */
static const struct {
    const char *type;
    const char *expr; /* printf: %1$s source column, %2$s quoted field name */
} column_types[] = {
    {"UInt8", "toUInt8(visitParamExtractUInt(%s, %s))"},
    {"UInt16", "toUInt16(visitParamExtractUInt(%s, %s))"},
    {"UInt32", "toUInt32(visitParamExtractUInt(%s, %s))"},
    {"UInt64", "visitParamExtractUInt(%s, %s)"},
    {"Int8", "toInt8(visitParamExtractInt(%s, %s))"},
    {"Int16", "toInt16(visitParamExtractInt(%s, %s))"},
    {"Int32", "toInt32(visitParamExtractInt(%s, %s))"},
    {"Int64", "visitParamExtractInt(%s, %s)"},
    {"Float32", "toFloat32(visitParamExtractFloat(%s, %s))"},
    {"Float64", "visitParamExtractFloat(%s, %s)"},
    {"String", "visitParamExtractString(%s, %s)"},
    {"Bool", "visitParamExtractBool(%s, %s)"},
};

static const char *reserved_tables[] = {"events", "schema_version"};

/* Appends " ON CLUSTER `c`" when clustered. */
static void on_cluster(json_buf *b, const char *cluster)
{
    if (cluster) jb_printf(b, " ON CLUSTER `%s`", cluster);
}

/* Appends the ENGINE clause: `engine`(args) or its Replicated form. */
static void engine_clause(json_buf *b, const char *cluster, const char *db,
                          const char *table, const char *engine, const char *args)
{
    if (cluster) {
        jb_printf(b, " ENGINE = Replicated%s('/clickhouse/tables/{shard}/%s/%s', '{replica}'%s%s)",
                  engine, db, table, args ? ", " : "", args ? args : "");
    } else {
        jb_printf(b, " ENGINE = %s", engine);
        if (args) jb_printf(b, "(%s)", args);
    }
}

/* Appends the typed column definition "`name` Type MATERIALIZED expr". */
static int column_sql(json_buf *b, const clickhouse_column *col, const char *source)
{
    if (!chsql_valid_name(col->name)) {
        diag_set(DIAG_INVALID, "clickhouse: bad column name '%s'", col->name);
        return -1;
    }
    for (size_t i = 0; i < sizeof column_types / sizeof column_types[0]; i++) {
        if (strcmp(col->type, column_types[i].type) != 0) continue;
        json_buf field;
        jb_init(&field);
        chsql_quote(&field, col->name);
        int is_bool = strcmp(col->type, "Bool") == 0;
        jb_printf(b, "`%s` %s MATERIALIZED ", col->name, is_bool ? "UInt8" : col->type);
        jb_printf(b, column_types[i].expr, source, field.data ? field.data : "''");
        jb_free(&field);
        return 0;
    }
    diag_set(DIAG_INVALID, "clickhouse: column '%s' has unsupported type '%s'", col->name,
             col->type ? col->type : "(null)");
    return -1;
}

static int table_def_check(const clickhouse_table_def *def)
{
    if (!def->name || !chsql_valid_name(def->name)) {
        diag_set(DIAG_INVALID, "clickhouse: bad table name '%s' (letters, digits, _)",
                 def->name ? def->name : "(null)");
        return -1;
    }
    for (size_t i = 0; i < sizeof reserved_tables / sizeof reserved_tables[0]; i++) {
        if (strcmp(def->name, reserved_tables[i]) == 0) {
            diag_set(DIAG_INVALID, "clickhouse: table name '%s' is reserved", def->name);
            return -1;
        }
    }
    if (def->kind != CLICKHOUSE_TABLE_FOLD && def->kind != CLICKHOUSE_TABLE_RECORDS) {
        diag_set(DIAG_INVALID, "clickhouse: table '%s' has no kind", def->name);
        return -1;
    }
    return 0;
}

char *chschema_table_sql(const char *db, const char *cluster,
                         const clickhouse_table_def *def)
{
    if (table_def_check(def) != 0) return NULL;
    int fold = def->kind == CLICKHOUSE_TABLE_FOLD;
    const char *source = fold ? "state" : "record";
    json_buf b;
    jb_init(&b);
    jb_str(&b, "CREATE TABLE IF NOT EXISTS ");
    chsql_table(&b, db, def->name);
    on_cluster(&b, cluster);
    if (fold)
        jb_str(&b, " (tenant_id String, key String, aggregate_id String ALIAS key");
    else
        jb_str(&b, " (tenant_id String, record_id String, aggregate_id String");
    for (size_t i = 0; i < def->n_columns; i++) {
        jb_str(&b, ", ");
        if (column_sql(&b, &def->columns[i], source) != 0) {
            jb_free(&b);
            return NULL;
        }
    }
    if (fold) {
        jb_str(&b, ", state String, last_seq UInt64, updated_at UInt64)");
        engine_clause(&b, cluster, db, def->name, "ReplacingMergeTree", "last_seq");
        jb_str(&b, " ORDER BY (tenant_id, key)");
    } else {
        jb_str(&b, ", record String, created_at UInt64, _version UInt64)");
        engine_clause(&b, cluster, db, def->name, "ReplacingMergeTree", "_version");
        jb_str(&b, " ORDER BY (tenant_id, record_id)");
    }
    char *sql = jb_take(&b);
    if (!sql) diag_set(DIAG_INTERNAL, "out of memory");
    return sql;
}

/* Appends a malloc'd statement to the growing array; -1 on OOM. */
static int push_sql(char ***list, size_t *n, json_buf *b)
{
    char *sql = jb_take(b);
    char **grown = sql ? realloc(*list, (*n + 1) * sizeof *grown) : NULL;
    if (!grown) {
        free(sql);
        diag_set(DIAG_INTERNAL, "out of memory");
        return -1;
    }
    *list = grown;
    (*list)[(*n)++] = sql;
    return 0;
}

void clickhouse_sql_free(char **sql, size_t n)
{
    for (size_t i = 0; i < n; i++) free(sql[i]);
    free(sql);
}

int clickhouse_schema_sql(const char *db, const char *cluster,
                          const clickhouse_table_def *tables, size_t n_tables,
                          char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!db || !chsql_valid_name(db) || (cluster && !chsql_valid_name(cluster))) {
        diag_set(DIAG_INVALID, "clickhouse: bad database or cluster name");
        return -1;
    }
    json_buf b;
    jb_init(&b);
    jb_printf(&b, "CREATE DATABASE IF NOT EXISTS `%s`", db);
    on_cluster(&b, cluster);
    if (push_sql(out, n, &b) != 0) goto fail;

    jb_str(&b, "CREATE TABLE IF NOT EXISTS ");
    chsql_table(&b, db, "schema_version");
    on_cluster(&b, cluster);
    jb_str(&b, " (version UInt32, applied_at UInt64)");
    engine_clause(&b, cluster, db, "schema_version", "MergeTree", NULL);
    jb_str(&b, " ORDER BY version");
    if (push_sql(out, n, &b) != 0) goto fail;

    jb_str(&b, "CREATE TABLE IF NOT EXISTS ");
    chsql_table(&b, db, "events");
    on_cluster(&b, cluster);
    jb_str(&b, " (tenant_id String, aggregate_type String, aggregate_id String,"
               " seq UInt64, id String, type String, version String,"
               " occurred_at UInt64, created_at UInt64, idempotency_key String,"
               " data String, metadata String)");
    engine_clause(&b, cluster, db, "events", "ReplacingMergeTree", NULL);
    jb_str(&b, " PARTITION BY toYYYYMM(toDateTime(intDiv(created_at, 1000)))"
               " ORDER BY (tenant_id, aggregate_type, aggregate_id, seq)");
    if (push_sql(out, n, &b) != 0) goto fail;

    for (size_t i = 0; i < n_tables; i++) {
        char *sql = chschema_table_sql(db, cluster, &tables[i]);
        if (!sql) goto fail;
        jb_str(&b, sql);
        free(sql);
        if (push_sql(out, n, &b) != 0) goto fail;
    }
    return 0;
fail:
    jb_free(&b);
    clickhouse_sql_free(*out, *n);
    *out = NULL;
    *n = 0;
    return -1;
}

/* Adds the typed columns of `def` that its table lacks (declared after the
 * table was first created). */
static int add_missing_columns(const ch_conn *conn, const char *cluster,
                               const clickhouse_table_def *def)
{
    if (def->n_columns == 0) return 0;
    json_buf q, resp;
    jb_init(&q);
    jb_init(&resp);
    jb_str(&q, "SELECT name FROM system.columns WHERE database = ");
    chsql_quote(&q, conn->database);
    jb_str(&q, " AND table = ");
    chsql_quote(&q, def->name);
    jb_str(&q, " FORMAT RowBinary");
    int rc = chhttp_query(conn, 0, q.data, NULL, 0, &resp);
    jb_free(&q);
    if (rc != 0) {
        jb_free(&resp);
        return -1;
    }
    ch_rows r;
    chrows_init(&r, &resp);
    const char *source = def->kind == CLICKHOUSE_TABLE_FOLD ? "state" : "record";
    char **have = NULL;
    size_t n_have = 0;
    while (chrows_more(&r)) {
        char *name = chrows_str(&r);
        char **grown = name ? realloc(have, (n_have + 1) * sizeof *grown) : NULL;
        if (!grown) {
            free(name);
            break;
        }
        have = grown;
        have[n_have++] = name;
    }
    for (size_t i = 0; rc == 0 && i < def->n_columns; i++) {
        int found = 0;
        for (size_t k = 0; k < n_have; k++) found |= strcmp(have[k], def->columns[i].name) == 0;
        if (found) continue;
        jb_str(&q, "ALTER TABLE ");
        chsql_table(&q, conn->database, def->name);
        on_cluster(&q, cluster);
        jb_str(&q, " ADD COLUMN ");
        rc = column_sql(&q, &def->columns[i], source);
        if (rc == 0) rc = chhttp_query(conn, 0, q.data, NULL, 0, NULL);
        jb_reset(&q);
    }
    for (size_t k = 0; k < n_have; k++) free(have[k]);
    free(have);
    jb_free(&q);
    jb_free(&resp);
    return rc;
}

int clickhouse_migrate(const char *url, const char *cluster,
                       const clickhouse_table_def *tables, size_t n_tables)
{
    clickhouse_options opt;
    clickhouse_options_default(&opt);
    ch_conn conn;
    if (chhttp_parse_url(url, &conn, &opt) != 0) return -1;
    char **sql = NULL;
    size_t n = 0;
    int rc = clickhouse_schema_sql(conn.database, cluster, tables, n_tables, &sql, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = chhttp_query(&conn, 0, sql[i], NULL, 0, NULL);
        if (rc != 0) diag_prefix("migrate");
    }
    clickhouse_sql_free(sql, n);
    for (size_t i = 0; rc == 0 && i < n_tables; i++) {
        rc = add_missing_columns(&conn, cluster, &tables[i]);
        if (rc != 0) diag_prefix("migrate: table %s", tables[i].name);
    }
    if (rc == 0) {
        json_buf q, resp;
        jb_init(&q);
        jb_init(&resp);
        jb_str(&q, "SELECT toUInt64(max(version)) FROM ");
        chsql_table(&q, conn.database, "schema_version");
        jb_str(&q, " FORMAT RowBinary");
        rc = chhttp_query(&conn, 0, q.data, NULL, 0, &resp);
        ch_rows r;
        chrows_init(&r, &resp);
        uint64_t have = rc == 0 ? chrows_u64(&r) : 0;
        if (rc == 0 && have < CLICKHOUSE_SCHEMA_VERSION) {
            jb_reset(&q);
            jb_str(&q, "INSERT INTO ");
            chsql_table(&q, conn.database, "schema_version");
            jb_printf(&q, " (version, applied_at) VALUES (%d, %lld)", CLICKHOUSE_SCHEMA_VERSION,
                      (long long)clock_now_ms());
            rc = chhttp_query(&conn, 0, q.data, NULL, 0, NULL);
        }
        jb_free(&q);
        jb_free(&resp);
        if (rc != 0) diag_prefix("migrate: schema_version");
    }
    chhttp_conn_free(&conn);
    return rc;
}
