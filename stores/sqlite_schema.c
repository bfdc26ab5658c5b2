/* sqlite_schema.c: the embedded backend's tables and indexes, created on open. */
#include "sqlite_internal.h"

#include "diag.h"

#include <stdio.h>
#include <string.h>

#define SQLITE_SCHEMA_VERSION 6

/* The jobs table and its indexes (see the layout above SCHEMA_SQL). */
static const char *const JOBS_SQL =
    "CREATE TABLE IF NOT EXISTS jobs ("
    "  pos INTEGER PRIMARY KEY,"
    "  group_key TEXT NOT NULL,"
    "  id TEXT NOT NULL,"
    "  kind INTEGER NOT NULL,"
    "  tenant_id TEXT NOT NULL,"
    "  pipeline TEXT NOT NULL,"
    "  component TEXT NOT NULL,"
    "  dedup_id TEXT,"
    "  dedup_mode INTEGER NOT NULL DEFAULT 0,"
    "  origin_id TEXT,"
    "  run_at INTEGER NOT NULL,"
    "  enqueued_at INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  last_error TEXT,"
    "  payload BLOB NOT NULL,"
    "  items INTEGER NOT NULL DEFAULT 1,"
    "  skip_payload BLOB,"
    "  gid INTEGER NOT NULL DEFAULT 0,"
    "  fresh INTEGER NOT NULL DEFAULT 0);"
    /* A group's jobs in order, by the group's gid (groups.gid): entries of
     * two integers. Schema 4 keyed this index and jobs_id by the group
     * key's text (~50 bytes), wider entries to write and compare on every
     * enqueue and completion. */
    "CREATE INDEX IF NOT EXISTS jobs_group ON jobs (gid, pos);"
    /* A job id is queued once per group. Keyed by id first: ids drawn for
     * new work start with the time (ids_timed), so enqueues add at the
     * right edge of this index. Schemas 2 and 3 keyed it (group_key, id),
     * a random page per enqueue of round-robin traffic: 26k against 53k
     * jobs/s inserting 1M jobs over 10k groups, 64 MiB cache. */
    /* Jobs whose id was drawn new (es_job.fresh_id: a send without an id)
     * cannot collide and stay out of it: one index less to write at their
     * enqueue and completion. */
    "CREATE UNIQUE INDEX IF NOT EXISTS jobs_id ON jobs (id, gid) WHERE fresh = 0;"
    /* Only jobs someone may wait on carry an origin (engine_send_waitable):
     * schema 2 indexed every job's (jobs_origin), a write per job. */
    "DROP INDEX IF EXISTS jobs_origin;"
    "CREATE INDEX IF NOT EXISTS jobs_waited ON jobs (origin_id) WHERE origin_id IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS jobs_dedup ON jobs (dedup_id) WHERE dedup_id IS NOT NULL;"
    /* Jobs enqueued (or retried) to run later than their enqueue: the only
     * ones queue_stats must look at one by one in a ready group. */
    "CREATE INDEX IF NOT EXISTS jobs_later ON jobs (run_at) WHERE run_at > enqueued_at;"
    /* Projection and reactor jobs (kind 1 is a command) in queue order: the
     * oldest pending one of a component is found without walking past a
     * backlog of commands (queue_stats). Enqueues add at its right edge. */
    "CREATE INDEX IF NOT EXISTS jobs_projection ON jobs (pos) WHERE kind <> 1;";

/* Schema 1 clustered jobs by (group_key, pos) in a WITHOUT ROWID table:
 * rows of ~1 KiB, four to a leaf, so jobs of random groups split and
 * rebalance leaves on nearly every enqueue (~210 WAL frames per commit of
 * 100 jobs in 10 groups, against ~120 now). Moves such a table's rows into
 * the current one, in the caller's transaction. */
static const char *const JOBS_FROM_V1_SQL =
    "ALTER TABLE jobs RENAME TO jobs_v1;"
    "DROP INDEX IF EXISTS jobs_origin;"
    "DROP INDEX IF EXISTS jobs_dedup;"
    "DROP INDEX IF EXISTS jobs_later;";
static const char *const JOBS_COPY_V1_SQL =
    "INSERT INTO jobs (pos, group_key, id, kind, tenant_id, pipeline, component, dedup_id,"
    " dedup_mode, origin_id, run_at, enqueued_at, attempts, last_error, payload)"
    " SELECT pos, group_key, id, kind, tenant_id, pipeline, component, dedup_id,"
    " dedup_mode, origin_id, run_at, enqueued_at, attempts, last_error, payload FROM jobs_v1;"
    "DROP TABLE jobs_v1;";

/* Events are clustered by aggregate (appends and reads of one aggregate
 * touch few pages). Queue layout: jobs hold the work in pos order (the
 * rowid), drawn from queue_counters so positions never repeat even after a
 * group empties: an enqueue appends its rows at the right edge of the
 * table, and jobs_group (gid, pos) finds a group's jobs in order
 * (the jobs of one enqueue to one group sit together, so claims and
 * completions of a batch touch few pages). A job id is queued once per
 * group (jobs_id, keyed by id first, so that the time-ordered ids of new
 * work add at its right edge). A job names its group by gid, the position
 * of the group's first job when its row was made: never reused, and groups
 * are claimed roughly in the order they were made, so consecutive claims
 * touch neighbouring entries of jobs_group. groups
 * hold per-group dispatch state. A job without origin_id (a command job)
 * is its own origin, as the worker's descendants see it. A group row exists only
 * while it has jobs. ready_at is non-NULL only for a group that is idle
 * (not claimed, not parked) and equals when its head may run, so a claim is
 * one probe of groups_ready. claimed_upto is the pos of the last job of the
 * current claim; lease_until is non-NULL only while claimed. */
static const char *const SCHEMA_SQL =
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS events ("
    "  tenant_id TEXT NOT NULL,"
    "  aggregate_type TEXT NOT NULL,"
    "  aggregate_id TEXT NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  id TEXT NOT NULL UNIQUE,"
    "  type TEXT NOT NULL,"
    "  version TEXT NOT NULL,"
    "  occurred_at INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  idempotency_key TEXT,"
    "  data TEXT NOT NULL,"
    "  metadata TEXT NOT NULL,"
    "  PRIMARY KEY (tenant_id, aggregate_type, aggregate_id, seq)) WITHOUT ROWID;"
    /* Only keys given by the handler (es.event's idempotency_key) are
     * stored and indexed; an event without one is its own key, which the
     * id's uniqueness already covers (reads return the id in its place).
     * Schemas 1-5 stored the id there and indexed every event's: one
     * index write of ~70 bytes less per append, 25-30% of the insert's
     * time in bench/embedded (ESENGINE_SQLITE_PROFILE). */
    "CREATE UNIQUE INDEX IF NOT EXISTS events_idempotency"
    "  ON events (tenant_id, aggregate_type, aggregate_id, idempotency_key)"
    "  WHERE idempotency_key IS NOT NULL;"
    /* Queued items (jobs.items) per (pipeline, component, kind), kept by every insert
     * and delete of jobs, so that queue_stats never scans the jobs. Filled
     * from jobs when created over a queue that predates it. */
    "CREATE TABLE IF NOT EXISTS queue_counts ("
    "  pipeline TEXT NOT NULL,"
    "  component TEXT NOT NULL,"
    "  kind INTEGER NOT NULL,"
    "  jobs INTEGER NOT NULL,"
    "  PRIMARY KEY (pipeline, component, kind)) WITHOUT ROWID;"
    "INSERT INTO queue_counts (pipeline, component, kind, jobs)"
    "  SELECT pipeline, component, kind, sum(items) FROM jobs"
    "  WHERE NOT EXISTS (SELECT 1 FROM queue_counts) GROUP BY 1, 2, 3;"
    "CREATE TABLE IF NOT EXISTS groups ("
    "  group_key TEXT PRIMARY KEY,"
    "  ready_at INTEGER,"
    "  token INTEGER NOT NULL DEFAULT 0,"
    "  lease_until INTEGER,"
    "  claimed_upto INTEGER,"
    "  worker_id TEXT,"
    "  parked_at INTEGER,"
    "  gid INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS groups_ready ON groups (ready_at) WHERE ready_at IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS groups_lease ON groups (lease_until) WHERE lease_until IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS groups_parked ON groups (parked_at) WHERE parked_at IS NOT NULL;"
    "CREATE TABLE IF NOT EXISTS queue_counters (id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  token INTEGER NOT NULL, pos INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO queue_counters (id, token, pos) VALUES (1, 0, 0);"
    "CREATE TABLE IF NOT EXISTS dead_letters ("
    "  pos INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL,"
    "  group_key TEXT NOT NULL,"
    "  kind INTEGER NOT NULL,"
    "  tenant_id TEXT NOT NULL,"
    "  pipeline TEXT NOT NULL,"
    "  component TEXT NOT NULL,"
    "  origin_id TEXT,"
    "  attempts INTEGER NOT NULL,"
    "  last_error TEXT,"
    "  payload BLOB NOT NULL,"
    "  enqueued_at INTEGER NOT NULL,"
    "  dead_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS fold_states ("
    "  tenant_id TEXT NOT NULL,"
    "  table_name TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  state_json TEXT NOT NULL,"
    "  last_seq INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (tenant_id, table_name, key)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS records ("
    "  table_name TEXT NOT NULL,"
    "  record_id TEXT NOT NULL,"
    "  tenant_id TEXT NOT NULL,"
    "  aggregate_id TEXT NOT NULL,"
    "  record_json TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  UNIQUE (table_name, record_id));"
    "CREATE INDEX IF NOT EXISTS records_tenant ON records (tenant_id, table_name);"
    /* Kill switch (sqlite_pause.c): '' in tenant_id or component means
     * every one. paused_groups lists the groups a claim took out of the
     * ready index because a pause covered them; a resume puts them back. */
    "CREATE TABLE IF NOT EXISTS pauses ("
    "  pipeline TEXT NOT NULL,"
    "  component TEXT NOT NULL,"
    "  tenant_id TEXT NOT NULL,"
    "  mode INTEGER NOT NULL,"
    "  paused_at INTEGER NOT NULL,"
    "  PRIMARY KEY (pipeline, component, tenant_id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS paused_groups (group_key TEXT PRIMARY KEY) WITHOUT ROWID;"
    /* Replay progress (sqlite_replay.c): the last aggregate folded into the
     * shadow table, so that a killed replay resumes there. */
    "CREATE TABLE IF NOT EXISTS replay_checkpoints ("
    "  pipeline TEXT NOT NULL,"
    "  projection TEXT NOT NULL,"
    "  tenant_id TEXT NOT NULL,"
    "  after_tenant TEXT NOT NULL,"
    "  after_aggregate TEXT NOT NULL,"
    "  events_done INTEGER NOT NULL,"
    "  started_at INTEGER NOT NULL,"
    "  paused_fold INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (pipeline, projection)) WITHOUT ROWID;"
    /* Worker registry (sqlite_workers.c): the last beat of each process. */
    "CREATE TABLE IF NOT EXISTS workers ("
    "  id TEXT PRIMARY KEY,"
    "  host TEXT NOT NULL,"
    "  pid INTEGER NOT NULL,"
    "  role TEXT NOT NULL,"
    "  threads INTEGER NOT NULL,"
    "  jobs_done INTEGER NOT NULL,"
    "  jobs_per_s REAL NOT NULL,"
    "  generation TEXT NOT NULL,"
    "  started_at INTEGER NOT NULL,"
    "  lease_ms INTEGER NOT NULL,"
    "  last_beat INTEGER NOT NULL) WITHOUT ROWID;";

/* Schemas 2 and 3 declared the job id's uniqueness in the jobs table as
 * (group_key, id); moves such a table's rows into the current layout (which
 * has all its columns by then), in the caller's transaction. */
static const char *const JOBS_FROM_V3_SQL =
    "ALTER TABLE jobs RENAME TO jobs_v3;"
    "DROP INDEX IF EXISTS jobs_id;"
    "DROP INDEX IF EXISTS jobs_group;"
    "DROP INDEX IF EXISTS jobs_waited;"
    "DROP INDEX IF EXISTS jobs_dedup;"
    "DROP INDEX IF EXISTS jobs_later;"
    "DROP INDEX IF EXISTS jobs_projection;";
static const char *const JOBS_COPY_V3_SQL =
    "INSERT INTO jobs (pos, group_key, id, kind, tenant_id, pipeline, component, dedup_id,"
    " dedup_mode, origin_id, run_at, enqueued_at, attempts, last_error, payload, items,"
    " skip_payload)"
    " SELECT pos, group_key, id, kind, tenant_id, pipeline, component, dedup_id,"
    " dedup_mode, origin_id, run_at, enqueued_at, attempts, last_error, payload, items,"
    " skip_payload FROM jobs_v3;"
    "DROP TABLE jobs_v3;";

/* 1 when the declaration of `table` contains `marker`, 0 when not (or
 * there is no such table), -1 on error (message in *err). */
static int table_declared_with(sqlite3 *db, const char *table, const char *marker, char **err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
                           -1, &st, NULL) != SQLITE_OK) {
        *err = sqlite3_mprintf("%s", sqlite3_errmsg(db));
        return -1;
    }
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    int found = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *sql = (const char *)sqlite3_column_text(st, 0);
        found = sql && strstr(sql, marker) != NULL;
    }
    sqlite3_finalize(st);
    return found;
}

/* Adds column `name` (declared as `decl`) to `table` unless it has it.
 * 0, or -1 with *err. */
static int table_add_column(sqlite3 *db, const char *table, const char *name, const char *decl,
                            char **err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2", -1, &st,
                           NULL) != SQLITE_OK) {
        *err = sqlite3_mprintf("%s", sqlite3_errmsg(db));
        return -1;
    }
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    int has = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    if (has) return 0;
    char sql[160];
    snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s %s", table, name, decl);
    return sqlite3_exec(db, sql, NULL, NULL, err) == SQLITE_OK ? 0 : -1;
}

/* Gives a jobs table of schema 2 (or 1, moved over) the columns of schema
 * 3: items (jobs hold several events) and skip_payload (a parked skip
 * drops one item of such a job). 0, or -1 with *err. */
static int jobs_add_items(sqlite3 *db, char **err)
{
    if (table_add_column(db, "jobs", "items", "INTEGER NOT NULL DEFAULT 1", err) != 0) return -1;
    return table_add_column(db, "jobs", "skip_payload", "BLOB", err);
}

/* Schema 4 indexed jobs by the group key's text: gives such a table the
 * gid column (0 until queue_fill_gids) and the fresh column, and drops the
 * two indexes JOBS_SQL then creates over them. A no-op on a table that has
 * gid. 0, or -1 with *err. */
static int jobs_add_gid(sqlite3 *db, char **err)
{
    int had = table_declared_with(db, "jobs", "gid INTEGER", err);
    if (had != 0) return had < 0 ? -1 : 0;
    if (table_add_column(db, "jobs", "gid", "INTEGER NOT NULL DEFAULT 0", err) != 0 ||
        table_add_column(db, "jobs", "fresh", "INTEGER NOT NULL DEFAULT 0", err) != 0)
        return -1;
    return sqlite3_exec(db, "DROP INDEX IF EXISTS jobs_group; DROP INDEX IF EXISTS jobs_id;",
                        NULL, NULL, err) == SQLITE_OK
               ? 0
               : -1;
}

/* Jobs moved from schemas 1 to 4 have gid 0: gives each group the position
 * of its first job as gid, and its jobs that gid. */
static const char *const QUEUE_FILL_GIDS_SQL =
    "CREATE TEMP TABLE gid_of AS SELECT group_key, min(pos) AS gid FROM jobs GROUP BY group_key;"
    "CREATE UNIQUE INDEX temp.gid_of_key ON gid_of (group_key);"
    "UPDATE jobs SET gid = (SELECT m.gid FROM gid_of m WHERE m.group_key = jobs.group_key)"
    " WHERE gid = 0;"
    "UPDATE groups SET gid = coalesce((SELECT m.gid FROM gid_of m"
    " WHERE m.group_key = groups.group_key), 0);"
    "DROP TABLE temp.gid_of;";

/* Runs QUEUE_FILL_GIDS_SQL when some job has no gid yet. 0, or -1 with *err. */
static int queue_fill_gids(sqlite3 *db, char **err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM jobs WHERE gid = 0 LIMIT 1", -1, &st, NULL) !=
        SQLITE_OK) {
        *err = sqlite3_mprintf("%s", sqlite3_errmsg(db));
        return -1;
    }
    int missing = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    if (!missing) return 0;
    return sqlite3_exec(db, QUEUE_FILL_GIDS_SQL, NULL, NULL, err) == SQLITE_OK ? 0 : -1;
}

/* Schemas 1-5 stored every event's idempotency key (the id when the
 * handler gave none) under a UNIQUE constraint of the table, which only a
 * new table drops: the old one is renamed before SCHEMA_SQL creates the
 * current one, then its rows are copied over, keys equal to the id
 * dropped. */
static const char *const EVENTS_FROM_V5_SQL = "ALTER TABLE events RENAME TO events_v5;";
static const char *const EVENTS_COPY_V5_SQL =
    "INSERT INTO events (tenant_id, aggregate_type, aggregate_id, seq, id, type, version,"
    " occurred_at, created_at, idempotency_key, data, metadata)"
    " SELECT tenant_id, aggregate_type, aggregate_id, seq, id, type, version,"
    " occurred_at, created_at, nullif(idempotency_key, id), data, metadata FROM events_v5;"
    "DROP TABLE events_v5;";

/* Creates what is missing and moves a jobs table of schema 1 to 4 and an
 * events table of schema 1 to 5 to the current layout, in the caller's
 * transaction. 0, or -1 with the message in *err. */
static int schema_apply(sqlite3 *db, char **err)
{
    int v1 = table_declared_with(db, "jobs", "WITHOUT ROWID", err);
    if (v1 < 0) return -1;
    if (v1 && (sqlite3_exec(db, JOBS_FROM_V1_SQL, NULL, NULL, err) != SQLITE_OK ||
               sqlite3_exec(db, JOBS_SQL, NULL, NULL, err) != SQLITE_OK ||
               sqlite3_exec(db, JOBS_COPY_V1_SQL, NULL, NULL, err) != SQLITE_OK))
        return -1;
    int exists = table_declared_with(db, "jobs", "CREATE", err);
    if (exists < 0 ||
        (exists && (jobs_add_items(db, err) != 0 || jobs_add_gid(db, err) != 0)) ||
        sqlite3_exec(db, JOBS_SQL, NULL, NULL, err) != SQLITE_OK)
        return -1;
    int v3 = table_declared_with(db, "jobs", "UNIQUE (group_key, id)", err);
    if (v3 < 0 || (v3 && (sqlite3_exec(db, JOBS_FROM_V3_SQL, NULL, NULL, err) != SQLITE_OK ||
                          sqlite3_exec(db, JOBS_SQL, NULL, NULL, err) != SQLITE_OK ||
                          sqlite3_exec(db, JOBS_COPY_V3_SQL, NULL, NULL, err) != SQLITE_OK)))
        return -1;
    int events_v5 = table_declared_with(db, "events", "idempotency_key TEXT NOT NULL", err);
    if (events_v5 < 0 ||
        (events_v5 && sqlite3_exec(db, EVENTS_FROM_V5_SQL, NULL, NULL, err) != SQLITE_OK) ||
        sqlite3_exec(db, SCHEMA_SQL, NULL, NULL, err) != SQLITE_OK ||
        (events_v5 && sqlite3_exec(db, EVENTS_COPY_V5_SQL, NULL, NULL, err) != SQLITE_OK) ||
        table_add_column(db, "groups", "gid", "INTEGER NOT NULL DEFAULT 0", err) != 0 ||
        queue_fill_gids(db, err) != 0)
        return -1;
    char version_sql[160];
    snprintf(version_sql, sizeof version_sql,
             "INSERT INTO schema_version (version) SELECT %d WHERE NOT EXISTS "
             "(SELECT 1 FROM schema_version); UPDATE schema_version SET version = %d",
             SQLITE_SCHEMA_VERSION, SQLITE_SCHEMA_VERSION);
    return sqlite3_exec(db, version_sql, NULL, NULL, err) == SQLITE_OK ? 0 : -1;
}

int sqlite_schema_create(sqlite3 *db)
{
    char *err = NULL;
    /* IMMEDIATE: two processes opening a fresh directory at once serialise */
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &err) != SQLITE_OK) goto fail;
    if (schema_apply(db, &err) != 0 || sqlite3_exec(db, "COMMIT", NULL, NULL, &err) != SQLITE_OK) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        goto fail;
    }
    return 0;
fail:
    diag_set(DIAG_BACKEND, "sqlite schema: %s", err ? err : sqlite3_errmsg(db));
    sqlite3_free(err);
    return -1;
}
