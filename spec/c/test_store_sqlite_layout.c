/* test_store_sqlite_layout.c: the embedded store's on-disk layout. Stores
 * of older schemas (jobs of schemas 1, 3 and 4, the event log of schema 5)
 * are moved to the current one when they open, and keep working; jobs with
 * new ids stay out of the job id index. */
#include "store_conformance_helpers.h"

#include "sqlite_store.h"
#include "sqlite_test_dirs.h"

#include <sqlite3.h>

/* Queues `n` jobs in a new store at a fresh directory, closes it and, when
 * rewrite_sql is set, runs it on the database (to make it as an older
 * schema did). Returns the directory (NULL on failure); its database's
 * path goes into path. */
static char *queue_then_rewrite(const es_job *jobs, size_t n, const char *rewrite_sql,
                                char path[256])
{
    char *dir = test_make_dir();
    es_store *s = dir ? sqlite_store_open(dir) : NULL;
    CHECK(s != NULL);
    if (!s) return NULL;
    for (size_t i = 0; i < n; i++) CHECK_INT(conformance_enqueue1(s, jobs[i], CONF_T0), 0);
    s->ops->close(s);
    snprintf(path, 256, "%s/esengine.db", dir);
    if (!rewrite_sql) return dir;
    sqlite3 *db = NULL;
    CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_INT(sqlite3_exec(db, rewrite_sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    return dir;
}

/* queue_then_rewrite, then the store opened again on that directory (the
 * move to the current schema runs there); NULL on failure. */
static es_store *reopen_after_rewrite(const es_job *jobs, size_t n, const char *rewrite_sql,
                                      char path[256])
{
    char *dir = queue_then_rewrite(jobs, n, rewrite_sql, path);
    es_store *s = dir ? sqlite_store_open(dir) : NULL;
    CHECK(s != NULL);
    return s;
}

/* Checks that `sql` on the database at path returns one row whose first n
 * columns are the numbers in expect. */
static void check_db_numbers(const char *path, const char *sql, const int *expect, int n)
{
    sqlite3 *db = NULL;
    CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    CHECK_INT(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    CHECK_INT(sqlite3_step(st), SQLITE_ROW);
    for (int i = 0; i < n; i++) CHECK_INT(sqlite3_column_int(st, i), expect[i]);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* Queues two jobs j1 and j2 (group gA), rewrites the jobs table with
 * `rewrite_sql` (queue_then_rewrite), then opens the store again: the
 * moved jobs are claimed in order, a moved id is refused a second time,
 * and `check_sql` (four numbers about the database after the move)
 * returns `expect`. */
static void test_reopen_moves_queue(const char *rewrite_sql, const char *check_sql,
                                    const int expect[4])
{
    const es_job jobs[2] = {conformance_job("j1", "gA", "p1", CONF_T0),
                            conformance_job("j2", "gA", "p2", CONF_T0)};
    char path[256];
    es_store *s = reopen_after_rewrite(jobs, 2, rewrite_sql, path);
    if (!s) return;
    CHECK_INT(conformance_enqueue1(s, conformance_job("j2", "gA", "again", CONF_T0), CONF_T0), 0);
    es_claim c;
    CHECK_INT(conformance_claim(s, 10, CONF_T0, &c), 0);
    CHECK_INT(c.n, 2);
    if (c.n == 2) {
        CHECK_STR(c.jobs[0].id, "j1");
        CHECK_STR(c.jobs[1].payload, "p2");
    }
    CHECK_INT(s->ops->queue_complete(s, &c, c.n, CONF_T0), 0);
    store_claim_clear(&c);
    CHECK_INT(conformance_claim(s, 10, CONF_T0, &c), 1);
    s->ops->close(s);
    check_db_numbers(path, check_sql, expect, 4);
}

/* A schema-1 queue (jobs clustered by group, WITHOUT ROWID) is moved over:
 * no schema-1 table or schema 2's index of every job's origin is left. */
static void test_reopen_migrates_schema1_jobs(void)
{
    test_reopen_moves_queue(
        "BEGIN; ALTER TABLE jobs RENAME TO jobs_new;"
        "DROP INDEX jobs_group; DROP INDEX jobs_waited; DROP INDEX jobs_dedup; DROP INDEX jobs_later;"
        "CREATE TABLE jobs (group_key TEXT NOT NULL, pos INTEGER NOT NULL, id TEXT NOT NULL,"
        " kind INTEGER NOT NULL, tenant_id TEXT NOT NULL, pipeline TEXT NOT NULL,"
        " component TEXT NOT NULL, dedup_id TEXT, dedup_mode INTEGER NOT NULL DEFAULT 0,"
        " origin_id TEXT, run_at INTEGER NOT NULL, enqueued_at INTEGER NOT NULL,"
        " attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, payload BLOB NOT NULL,"
        " PRIMARY KEY (group_key, pos), UNIQUE (group_key, id)) WITHOUT ROWID;"
        "CREATE INDEX jobs_origin ON jobs (coalesce(origin_id, id));"
        "CREATE INDEX jobs_dedup ON jobs (dedup_id) WHERE dedup_id IS NOT NULL;"
        "CREATE INDEX jobs_later ON jobs (run_at) WHERE run_at > enqueued_at;"
        "INSERT INTO jobs SELECT group_key, pos, id, kind, tenant_id, pipeline, component,"
        " dedup_id, dedup_mode, origin_id, run_at, enqueued_at, attempts, last_error, payload"
        " FROM jobs_new;"
        "DROP TABLE jobs_new; UPDATE schema_version SET version = 1; COMMIT;",

        "SELECT (SELECT count(*) FROM sqlite_master WHERE name = 'jobs'"
        "        AND sql LIKE '%WITHOUT ROWID%'),"
        " (SELECT count(*) FROM sqlite_master WHERE name = 'jobs_v1'),"
        " (SELECT version FROM schema_version),"
        " (SELECT count(*) FROM sqlite_master WHERE name = 'jobs_origin')",
        (const int[4]){0, 0, 6, 0});
}

/* A queue of schemas 2 and 3 (job ids unique per (group_key, id), declared
 * in the jobs table) is moved to the current schema (the jobs_id index,
 * keyed by id first). */
static void test_reopen_migrates_schema3_jobs(void)
{
    test_reopen_moves_queue(
        "BEGIN; ALTER TABLE jobs RENAME TO jobs_new;"
        "DROP INDEX jobs_id; DROP INDEX jobs_group; DROP INDEX jobs_waited;"
        " DROP INDEX jobs_dedup; DROP INDEX jobs_later;"
        "CREATE TABLE jobs (pos INTEGER PRIMARY KEY, group_key TEXT NOT NULL, id TEXT NOT NULL,"
        " kind INTEGER NOT NULL, tenant_id TEXT NOT NULL, pipeline TEXT NOT NULL,"
        " component TEXT NOT NULL, dedup_id TEXT, dedup_mode INTEGER NOT NULL DEFAULT 0,"
        " origin_id TEXT, run_at INTEGER NOT NULL, enqueued_at INTEGER NOT NULL,"
        " attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, payload BLOB NOT NULL,"
        " items INTEGER NOT NULL DEFAULT 1, skip_payload BLOB, UNIQUE (group_key, id));"
        "CREATE INDEX jobs_group ON jobs (group_key, pos);"
        "CREATE INDEX jobs_waited ON jobs (origin_id) WHERE origin_id IS NOT NULL;"
        "CREATE INDEX jobs_dedup ON jobs (dedup_id) WHERE dedup_id IS NOT NULL;"
        "CREATE INDEX jobs_later ON jobs (run_at) WHERE run_at > enqueued_at;"
        "INSERT INTO jobs SELECT pos, group_key, id, kind, tenant_id, pipeline, component,"
        " dedup_id, dedup_mode, origin_id, run_at, enqueued_at, attempts, last_error, payload,"
        " items, skip_payload FROM jobs_new;"
        "DROP TABLE jobs_new; UPDATE schema_version SET version = 3; COMMIT;",

        "SELECT (SELECT count(*) FROM sqlite_master WHERE name = 'jobs'"
        "        AND sql LIKE '%UNIQUE (group_key, id)%'),"
        " (SELECT count(*) FROM sqlite_master WHERE name = 'jobs_v3'),"
        " (SELECT version FROM schema_version),"
        " (SELECT count(*) FROM sqlite_master WHERE name = 'jobs_id' AND tbl_name = 'jobs')",
        (const int[4]){0, 0, 6, 1});
}

/* Rewrites a store's jobs and groups tables as schema 4 made them: jobs
 * indexed by the group key's text, no gid in either table. */
static const char *const SCHEMA4_REWRITE_SQL =
    "BEGIN; ALTER TABLE jobs RENAME TO jobs_new;"
    "DROP INDEX jobs_id; DROP INDEX jobs_group; DROP INDEX jobs_waited;"
    " DROP INDEX jobs_dedup; DROP INDEX jobs_later; DROP INDEX jobs_projection;"
    "CREATE TABLE jobs (pos INTEGER PRIMARY KEY, group_key TEXT NOT NULL, id TEXT NOT NULL,"
    " kind INTEGER NOT NULL, tenant_id TEXT NOT NULL, pipeline TEXT NOT NULL,"
    " component TEXT NOT NULL, dedup_id TEXT, dedup_mode INTEGER NOT NULL DEFAULT 0,"
    " origin_id TEXT, run_at INTEGER NOT NULL, enqueued_at INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, payload BLOB NOT NULL,"
    " items INTEGER NOT NULL DEFAULT 1, skip_payload BLOB);"
    "CREATE INDEX jobs_group ON jobs (group_key, pos);"
    "CREATE UNIQUE INDEX jobs_id ON jobs (id, group_key);"
    "CREATE INDEX jobs_waited ON jobs (origin_id) WHERE origin_id IS NOT NULL;"
    "CREATE INDEX jobs_dedup ON jobs (dedup_id) WHERE dedup_id IS NOT NULL;"
    "CREATE INDEX jobs_later ON jobs (run_at) WHERE run_at > enqueued_at;"
    "CREATE INDEX jobs_projection ON jobs (pos) WHERE kind <> 1;"
    "INSERT INTO jobs SELECT pos, group_key, id, kind, tenant_id, pipeline, component,"
    " dedup_id, dedup_mode, origin_id, run_at, enqueued_at, attempts, last_error, payload,"
    " items, skip_payload FROM jobs_new;"
    "DROP TABLE jobs_new; ALTER TABLE groups DROP COLUMN gid;"
    "UPDATE schema_version SET version = 4; COMMIT;";

/* A schema-4 queue gets the gid columns and both job indexes keyed by gid;
 * its moved jobs are claimed in order. */
static void test_reopen_migrates_schema4_jobs(void)
{
    test_reopen_moves_queue(
        SCHEMA4_REWRITE_SQL,
        "SELECT (SELECT count(*) FROM sqlite_master WHERE name = 'jobs_group'"
        "        AND sql LIKE '%(gid, pos)%'),"
        " (SELECT count(*) FROM sqlite_master WHERE name = 'jobs_id'"
        "        AND sql LIKE '%(id, gid)%'),"
        " (SELECT version FROM schema_version),"
        " (SELECT count(*) FROM pragma_table_info('groups') WHERE name = 'gid')",
        (const int[4]){1, 1, 6, 1});
}

/* The gids given to a schema-4 queue: each group's is its first job's
 * position, and its jobs carry it (two groups, so a gid left at 0 shows). */
static void test_schema4_gids_filled(void)
{
    const es_job jobs[3] = {conformance_job("j1", "gA", "p1", CONF_T0),
                            conformance_job("j2", "gB", "p2", CONF_T0),
                            conformance_job("j3", "gA", "p3", CONF_T0)};
    char path[256];
    es_store *s = reopen_after_rewrite(jobs, 3, SCHEMA4_REWRITE_SQL, path);
    if (!s) return;
    s->ops->close(s);
    check_db_numbers(path,
                     "SELECT (SELECT count(*) FROM jobs j JOIN groups g"
                     "        ON g.gid = j.gid AND g.group_key = j.group_key),"
                     " (SELECT count(DISTINCT gid) FROM groups WHERE gid > 0),"
                     " (SELECT count(*) FROM groups g WHERE g.gid ="
                     "  (SELECT min(pos) FROM jobs j WHERE j.group_key = g.group_key))",
                     (const int[3]){3, 2, 2}, 3);
}

/* Rewrites the events table to schema 5's layout: every event's key
 * stored (its id when it had none), unique by a constraint of the table. */
static const char *const SCHEMA5_EVENTS_REWRITE_SQL =
    "BEGIN; ALTER TABLE events RENAME TO events_new;"
    "CREATE TABLE events (tenant_id TEXT NOT NULL, aggregate_type TEXT NOT NULL,"
    " aggregate_id TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL UNIQUE,"
    " type TEXT NOT NULL, version TEXT NOT NULL, occurred_at INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL, idempotency_key TEXT NOT NULL, data TEXT NOT NULL,"
    " metadata TEXT NOT NULL, PRIMARY KEY (tenant_id, aggregate_type, aggregate_id, seq),"
    " UNIQUE (tenant_id, aggregate_type, aggregate_id, idempotency_key)) WITHOUT ROWID;"
    "INSERT INTO events SELECT tenant_id, aggregate_type, aggregate_id, seq, id, type,"
    " version, occurred_at, created_at, coalesce(idempotency_key, id), data, metadata"
    " FROM events_new;"
    "DROP TABLE events_new; UPDATE schema_version SET version = 5; COMMIT;";

/* A schema-5 event log is moved over when the store opens: keys equal to
 * the id are dropped (and read back as the id), a handler's key is kept
 * and still refuses another event, a retried event is still known by its
 * id, and the table's old constraint is gone. */
static void test_reopen_migrates_schema5_events(void)
{
    char *dir = test_make_dir();
    es_store *s = dir ? sqlite_store_open(dir) : NULL;
    CHECK(s != NULL);
    if (!s) return;
    es_event evs[2] = {conformance_event("t1", "a1", "e1", "k1"),
                       conformance_event("t1", "a1", "e2", NULL)};
    append_outcome outs[2] = {0};
    CHECK_INT(s->ops->event_append(s, evs, 2, CONF_T0, outs), 0);
    s->ops->close(s);
    char path[256];
    snprintf(path, sizeof path, "%s/esengine.db", dir);
    sqlite3 *db = NULL;
    CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_INT(sqlite3_exec(db, SCHEMA5_EVENTS_REWRITE_SQL, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    check_db_numbers(path, "SELECT count(*) FROM events WHERE idempotency_key IS NOT NULL",
                     (const int[1]){2}, 1);

    CHECK((s = sqlite_store_open(dir)) != NULL);
    if (!s) return;
    conformance_events c = conformance_read(s, "t1", "a1", 0, 0);
    CHECK_INT(c.n, 2);
    CHECK_STR(c.ikeys[0], "k1");
    CHECK_STR(c.ikeys[1], "e2");
    append_outcome o = 0;
    es_event dup = conformance_event("t1", "a1", "e3", "k1");
    CHECK_INT(s->ops->event_append(s, &dup, 1, CONF_T0 + 1, &o), 0);
    CHECK_INT(o, APPEND_DUPLICATE);
    es_event retry = conformance_event("t1", "a1", "e2", NULL);
    CHECK_INT(s->ops->event_append(s, &retry, 1, CONF_T0 + 2, &o), 0);
    CHECK_INT(o, APPEND_RETRY);
    CHECK_INT(retry.seq, 2);
    es_event next = conformance_event("t1", "a1", "e4", NULL);
    CHECK_INT(s->ops->event_append(s, &next, 1, CONF_T0 + 3, &o), 0);
    CHECK_INT(o, APPEND_NEW);
    CHECK_INT(next.seq, 3);
    s->ops->close(s);
    check_db_numbers(path,
                     "SELECT (SELECT version FROM schema_version),"
                     " (SELECT count(*) FROM events WHERE idempotency_key IS NULL),"
                     " (SELECT count(*) FROM sqlite_master WHERE name = 'events_v5'),"
                     " (SELECT count(*) FROM sqlite_master WHERE name = 'events'"
                     "  AND sql LIKE '%idempotency_key TEXT NOT NULL%'),"
                     " (SELECT count(*) FROM sqlite_master WHERE name = 'events_idempotency')",
                     (const int[5]){6, 2, 0, 0, 1}, 5);
}

/* A job whose id was drawn new (fresh_id) is stored outside the jobs_id
 * index; a job with a derived or client id is still deduped by it. */
static void test_fresh_ids_skip_id_index(void)
{
    es_job jobs[3] = {conformance_job("f1", "gA", "p1", CONF_T0),
                      conformance_job("d1", "gA", "p2", CONF_T0),
                      conformance_job("d1", "gA", "p3", CONF_T0)};
    jobs[0].fresh_id = 1;
    char path[256];
    if (!queue_then_rewrite(jobs, 3, NULL, path)) return;
    check_db_numbers(path,
                     "SELECT (SELECT fresh FROM jobs WHERE id = 'f1'),"
                     " (SELECT fresh FROM jobs WHERE id = 'd1'),"
                     " (SELECT count(*) FROM jobs WHERE id = 'd1'),"
                     " (SELECT count(*) FROM sqlite_master WHERE name = 'jobs_id'"
                     "  AND sql LIKE '%WHERE fresh = 0%')",
                     (const int[4]){1, 0, 1, 1}, 4);
}

int main(void)
{
    RUN_TEST(test_reopen_migrates_schema1_jobs);
    RUN_TEST(test_reopen_migrates_schema3_jobs);
    RUN_TEST(test_reopen_migrates_schema4_jobs);
    RUN_TEST(test_schema4_gids_filled);
    RUN_TEST(test_reopen_migrates_schema5_events);
    RUN_TEST(test_fresh_ids_skip_id_index);
    test_remove_dirs();
    return TEST_EXIT();
}
