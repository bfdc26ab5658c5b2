/* sqlite_queue.c: the durable group queue of the embedded store: enqueue
 * with id/debounce/throttle dedup, O(log n) batch claims with fenced
 * leases, complete, fail with backoff and parking. Layout: sqlite_schema.c. */
#include "sqlite_internal.h"

#include "clock.h"
#include "diag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How often a waiting claim looks again for work enqueued by another
 * process (in-process enqueues wake it at once). */
#define CLAIM_POLL_MS 15

static const char *const SQL_JOB_INSERT =
    "INSERT OR IGNORE INTO jobs (id, group_key, kind, tenant_id, pipeline, component,"
    " dedup_id, dedup_mode, origin_id, run_at, enqueued_at, payload, pos, items, gid, fresh)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";

/* A group row exists only while the group has jobs, so a new row means the
 * job about to be inserted is its head: the group is ready at its run_at,
 * and its gid is that job's position. */
static const char *const SQL_GROUP_INSERT =
    "INSERT INTO groups (group_key, ready_at, gid) VALUES (?1, ?2, ?3)";

static const char *const SQL_GROUP_GID = "SELECT gid FROM groups WHERE group_key = ?1";

/* Queued jobs sharing a dedup id, with whether each is in the current
 * claim of its group and whether it is its group's head. */
static const char *const SQL_JOB_BY_DEDUP =
    "SELECT j.pos, j.id, j.group_key,"
    " g.lease_until IS NOT NULL AND j.pos <= g.claimed_upto,"
    " j.pos = (SELECT h.pos FROM jobs h WHERE h.gid = j.gid"
    "          ORDER BY h.pos LIMIT 1)"
    " FROM jobs j JOIN groups g ON g.group_key = j.group_key"
    " WHERE j.dedup_id = ?1 ORDER BY j.pos";

static const char *const SQL_JOB_REPLACE =
    "UPDATE jobs SET payload = ?2, run_at = ?3, origin_id = ?4"
    " WHERE group_key = ?5 AND pos = ?1";

static const char *const SQL_GROUP_STATE =
    "SELECT token, lease_until FROM groups WHERE group_key = ?1";

static const char *const SQL_GROUP_SET_READY =
    "UPDATE groups SET ready_at = ?2 WHERE group_key = ?1 AND ready_at IS NOT NULL";

static const char *const SQL_EXPIRED_PROBE =
    "SELECT 1 FROM groups WHERE lease_until < ?1 LIMIT 1";

/* An expired claim: the group becomes idle again, ready at its head's
 * run_at (which is in the past: the head was ready when claimed). */
static const char *const SQL_EXPIRED_SWEEP =
    "UPDATE groups SET lease_until = NULL, claimed_upto = NULL, worker_id = NULL,"
    " ready_at = (SELECT j.run_at FROM jobs j WHERE j.gid = groups.gid"
    "             ORDER BY j.pos LIMIT 1)"
    " WHERE lease_until < ?1";

static const char *const SQL_GROUP_NEXT_READY =
    "SELECT group_key, gid FROM groups WHERE ready_at <= ?1 ORDER BY ready_at LIMIT 1";

static const char *const SQL_JOBS_HEAD =
    "SELECT " SQLITE_JOB_COLUMNS " FROM jobs WHERE gid = ?1 ORDER BY pos LIMIT ?2";

static const char *const SQL_GROUP_CLAIM =
    "UPDATE groups SET ready_at = NULL, token = ?2, lease_until = ?3,"
    " claimed_upto = ?4, worker_id = ?5 WHERE group_key = ?1";

static const char *const SQL_GROUP_EXTEND =
    "UPDATE groups SET lease_until = ?3"
    " WHERE group_key = ?1 AND token = ?2 AND lease_until IS NOT NULL";

static const char *const SQL_JOBS_DELETE_UPTO =
    "DELETE FROM jobs WHERE " SQLITE_JOBS_OF_GROUP("jobs", "?1") " AND pos <= ?2";

static const char *const SQL_JOB_HEAD_RUN_AT =
    "SELECT pos, run_at, attempts FROM jobs WHERE " SQLITE_JOBS_OF_GROUP("jobs", "?1")
    " ORDER BY pos LIMIT 1";

static const char *const SQL_GROUP_DELETE = "DELETE FROM groups WHERE group_key = ?1";

/* Releases a group: idle and ready at ?2, or parked (?2 NULL, ?3 the time). */
static const char *const SQL_GROUP_RELEASE =
    "UPDATE groups SET ready_at = ?2, parked_at = ?3, lease_until = NULL,"
    " claimed_upto = NULL, worker_id = NULL WHERE group_key = ?1";

static const char *const SQL_JOB_FAIL =
    "UPDATE jobs SET attempts = ?2, last_error = ?3, run_at = ?4, skip_payload = ?6"
    " WHERE group_key = ?5 AND pos = ?1";

/* Runs a statement that returns no rows; 0 or -1 with a diag. */
static int queue_step_done(sqlite_conn *c, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : sqlite_fail(c, what);
}

int sqlite_job_read(sqlite3_stmt *st, int col, es_job *job)
{
    int oom = 0;
    memset(job, 0, sizeof *job);
    job->position = sqlite3_column_int64(st, col + 0);
    job->id = sqlite_column_dup(st, col + 1, &oom);
    job->kind = (job_kind)sqlite3_column_int(st, col + 2);
    job->tenant_id = sqlite_column_dup(st, col + 3, &oom);
    job->pipeline = sqlite_column_dup(st, col + 4, &oom);
    job->component = sqlite_column_dup(st, col + 5, &oom);
    job->group_key = sqlite_column_dup(st, col + 6, &oom);
    job->dedup_id = sqlite_column_dup(st, col + 7, &oom);
    job->dedup_mode = (dedup_mode)sqlite3_column_int(st, col + 8);
    job->origin_id = sqlite_column_dup(st, col + 9, &oom);
    job->run_at = sqlite3_column_int64(st, col + 10);
    job->attempts = sqlite3_column_int(st, col + 11);
    job->last_error = sqlite_column_dup(st, col + 12, &oom);
    const void *blob = sqlite3_column_blob(st, col + 13);
    size_t n = (size_t)sqlite3_column_bytes(st, col + 13);
    job->items = sqlite3_column_int(st, col + 14);
    job->payload = malloc(n + 1);
    if (!job->payload) {
        oom = 1;
    } else {
        if (n) memcpy(job->payload, blob, n);
        job->payload[n] = '\0';
        job->payload_len = n;
    }
    if (oom) {
        job_clear(job);
        diag_set(DIAG_INTERNAL, "out of memory reading a job");
        return -1;
    }
    return 0;
}

/* ---- enqueue */

/* What one enqueue call writes besides job rows, batched over runs of
 * consecutive jobs that share it: the queued-job count of (pipeline,
 * component, kind) and the group row. A batch of spans puts the spans of
 * one trace next to each other, so most jobs add to the previous job's
 * count and find its group row in place. */
typedef struct enqueue_tally {
    const es_job *count_job; /* the jobs counted in `count` share its key */
    int64_t count;
    const char *group;       /* a group row this call made sure exists */
    int64_t gid;             /* that group's gid */
} enqueue_tally;

static const char *job_pipeline(const es_job *job)
{
    return job->pipeline ? job->pipeline : "";
}

static const char *job_component(const es_job *job)
{
    return job->component ? job->component : "";
}

/* Writes the pending count of the tally; 0 or -1. */
static int tally_flush(sqlite_conn *c, enqueue_tally *t)
{
    int rc = 0;
    if (t->count)
        rc = sqlite_counters_count_add(c, job_pipeline(t->count_job), job_component(t->count_job),
                                    (int)t->count_job->kind, t->count);
    t->count = 0;
    return rc;
}

/* Counts the items of one inserted job, writing the pending count first when the job's
 * key differs. 0 or -1. */
static int tally_count(sqlite_conn *c, enqueue_tally *t, const es_job *job)
{
    if (t->count && (t->count_job->kind != job->kind ||
                     strcmp(job_pipeline(t->count_job), job_pipeline(job)) != 0 ||
                     strcmp(job_component(t->count_job), job_component(job)) != 0) &&
        tally_flush(c, t) != 0)
        return -1;
    if (!t->count) t->count_job = job;
    t->count += job_items(job);
    return 0;
}

/* The gid of group_key into *gid: 1 when its row exists, 0 when not, -1. */
static int queue_group_gid(sqlite_conn *c, const char *group_key, int64_t *gid)
{
    sqlite3_stmt *st = sqlite_conn_stmt(c, SQ_GROUP_GID, SQL_GROUP_GID);
    if (!st) return -1;
    sqlite_bind_str(st, 1, group_key);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *gid = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sqlite_fail(c, "group gid");
    return rc == SQLITE_ROW;
}

/* Makes sure the group row of a job about to be inserted at `pos` exists
 * (looked up first: under a backlog most jobs join a group that has one;
 * skipped when the previous job of the call made sure of the same group)
 * and sets t->gid to its gid. 0 or -1. */
static int queue_group_ensure(sqlite_conn *c, enqueue_tally *t, const es_job *job, int64_t pos)
{
    if (t->group && strcmp(t->group, job->group_key) == 0) return 0;
    int found = queue_group_gid(c, job->group_key, &t->gid);
    if (found < 0) return -1;
    if (!found) {
        sqlite3_stmt *st = sqlite_conn_stmt(c, SQ_GROUP_INSERT, SQL_GROUP_INSERT);
        if (!st) return -1;
        sqlite_bind_str(st, 1, job->group_key);
        sqlite3_bind_int64(st, 2, job->run_at);
        sqlite3_bind_int64(st, 3, pos);
        if (queue_step_done(c, st, "group insert") != 0) return -1;
        t->gid = pos;
    }
    t->group = job->group_key;
    return 0;
}

/* Inserts one job (ignored when its id is queued in its group), counts it
 * and makes sure its group row exists. */
static int queue_insert(sqlite_conn *c, enqueue_tally *t, const es_job *job, const char *id,
                        int64_t pos, int64_t now)
{
    if (queue_group_ensure(c, t, job, pos) != 0) return -1;
    sqlite3_stmt *st = sqlite_conn_stmt(c, SQ_JOB_INSERT, SQL_JOB_INSERT);
    if (!st) return -1;
    sqlite_bind_str(st, 1, id);
    sqlite_bind_str(st, 2, job->group_key);
    sqlite3_bind_int(st, 3, (int)job->kind);
    sqlite_bind_str(st, 4, job->tenant_id);
    sqlite_bind_str(st, 5, job_pipeline(job));
    sqlite_bind_str(st, 6, job_component(job));
    sqlite_bind_str(st, 7, job->dedup_mode != DEDUP_NONE ? job->dedup_id : NULL);
    sqlite3_bind_int(st, 8, (int)job->dedup_mode);
    sqlite_bind_str(st, 9, job->origin_id);
    sqlite3_bind_int64(st, 10, job->run_at);
    sqlite3_bind_int64(st, 11, now);
    sqlite3_bind_blob(st, 12, job->payload ? job->payload : "", (int)job->payload_len,
                      SQLITE_STATIC);
    sqlite3_bind_int64(st, 13, pos);
    sqlite3_bind_int(st, 14, job_items(job));
    sqlite3_bind_int64(st, 15, t->gid);
    /* a debounce successor's id is derived from a queued one's: deduped */
    sqlite3_bind_int(st, 16, job->fresh_id && id == job->id);
    if (queue_step_done(c, st, "job insert") != 0) return -1;
    if (sqlite3_changes(c->db) == 0) return 0;
    if (tally_count(c, t, job) != 0) return -1;
    c->notify = 1;
    return 0;
}

/* What the queue holds under one dedup id. */
typedef struct dedup_match {
    int any;              /* some job with this dedup id is queued */
    int64_t pending_pos;  /* the last one not in flight (0: none) */
    int pending_is_head;
    char *pending_group;
    char *in_flight_id;   /* id of one in flight (malloc'd), for successor ids */
    int64_t in_flight_pos;
} dedup_match;

static int queue_find_dedup(sqlite_conn *c, const char *dedup_id, dedup_match *m)
{
    memset(m, 0, sizeof *m);
    sqlite3_stmt *st = sqlite_conn_stmt(c, SQ_JOB_BY_DEDUP, SQL_JOB_BY_DEDUP);
    if (!st) return -1;
    sqlite_bind_str(st, 1, dedup_id);
    int rc, oom = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        m->any = 1;
        if (sqlite3_column_int(st, 3)) {
            free(m->in_flight_id);
            m->in_flight_id = sqlite_column_dup(st, 1, &oom);
            m->in_flight_pos = sqlite3_column_int64(st, 0);
        } else {
            free(m->pending_group);
            m->pending_pos = sqlite3_column_int64(st, 0);
            m->pending_is_head = sqlite3_column_int(st, 4);
            m->pending_group = sqlite_column_dup(st, 2, &oom);
        }
    }
    sqlite3_reset(st);
    if (oom) {
        diag_set(DIAG_INTERNAL, "out of memory in dedup lookup");
        rc = SQLITE_ERROR;
    }
    if (rc != SQLITE_DONE) {
        free(m->pending_group);
        free(m->in_flight_id);
        return oom ? -1 : sqlite_fail(c, "dedup lookup");
    }
    return 0;
}

/* Debounce: a pending job with the same dedup id takes the new payload and
 * run_at (its timer restarts); otherwise the job is queued, behind the one
 * in flight if any. A successor whose id equals the in-flight job's gets a
 * derived id so that both can be queued. */
static int queue_debounce(sqlite_conn *c, enqueue_tally *t, const es_job *job, int64_t pos,
                          int64_t now)
{
    dedup_match m;
    if (queue_find_dedup(c, job->dedup_id, &m) != 0) return -1;
    int rc = 0;
    if (m.pending_pos) {
        sqlite3_stmt *st = sqlite_conn_stmt(c, SQ_JOB_REPLACE, SQL_JOB_REPLACE);
        if (!st) {
            rc = -1;
            goto out;
        }
        sqlite3_bind_int64(st, 1, m.pending_pos);
        sqlite3_bind_blob(st, 2, job->payload ? job->payload : "", (int)job->payload_len,
                          SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, job->run_at);
        sqlite_bind_str(st, 4, job->origin_id);
        sqlite_bind_str(st, 5, m.pending_group);
        if ((rc = queue_step_done(c, st, "debounce replace")) != 0 || !m.pending_is_head)
            goto out;
        st = sqlite_conn_stmt(c, SQ_GROUP_SET_READY, SQL_GROUP_SET_READY);
        if (!st) {
            rc = -1;
            goto out;
        }
        sqlite_bind_str(st, 1, m.pending_group);
        sqlite3_bind_int64(st, 2, job->run_at);
        rc = queue_step_done(c, st, "debounce ready");
    } else if (m.in_flight_id && strcmp(m.in_flight_id, job->id) == 0) {
        char *id = malloc(strlen(job->id) + 24);
        if (!id) {
            diag_set(DIAG_INTERNAL, "out of memory in debounce");
            rc = -1;
            goto out;
        }
        sprintf(id, "%s~%lld", job->id, (long long)m.in_flight_pos);
        rc = queue_insert(c, t, job, id, pos, now);
        free(id);
    } else {
        rc = queue_insert(c, t, job, job->id, pos, now);
    }
out:
    free(m.pending_group);
    free(m.in_flight_id);
    return rc;
}

/* Throttle: dropped while any job with the same dedup id is queued. */
static int queue_throttle(sqlite_conn *c, enqueue_tally *t, const es_job *job, int64_t pos,
                          int64_t now)
{
    dedup_match m;
    if (queue_find_dedup(c, job->dedup_id, &m) != 0) return -1;
    free(m.pending_group);
    free(m.in_flight_id);
    return m.any ? 0 : queue_insert(c, t, job, job->id, pos, now);
}

/* The jobs of one enqueue call. */
typedef struct enqueue_args {
    const es_job *jobs;
    size_t n;
    int64_t now;
} enqueue_args;

/* Writes the jobs of an enqueue_args in the open write transaction on c
 * (a sqlite_write_fn). 0 or -1 with a diag. */
static int queue_enqueue_in(sqlite_conn *c, void *ud)
{
    const enqueue_args *a = ud;
    enqueue_tally t = {NULL, 0, NULL, 0};
    int64_t pos = 0;
    int rc = sqlite_counters_positions(c, a->n, &pos);
    for (size_t i = 0; i < a->n && rc == 0; i++) {
        const es_job *job = &a->jobs[i];
        pos++;
        if (!job->id || !job->group_key || !job->tenant_id) {
            diag_set(DIAG_INVALID, "enqueue: job id, group and tenant are required");
            rc = -1;
        } else if (job->dedup_mode == DEDUP_DEBOUNCE && job->dedup_id) {
            rc = queue_debounce(c, &t, job, pos, a->now);
        } else if (job->dedup_mode == DEDUP_THROTTLE && job->dedup_id) {
            rc = queue_throttle(c, &t, job, pos, a->now);
        } else {
            rc = queue_insert(c, &t, job, job->id, pos, a->now);
        }
    }
    return rc == 0 ? tally_flush(c, &t) : rc;
}

/* Concurrent enqueues share one transaction (sqlite_group_write). */
int sqlite_queue_enqueue(es_store *base, const es_job *jobs, size_t n, int64_t now)
{
    enqueue_args a = {jobs, n, now};
    return sqlite_group_write((sqlite_store *)base, queue_enqueue_in, &a);
}

/* ---- claim */

/* Returns 1 when statement `id` (one int64 argument) yields a row, 0 when
 * not, -1 on error. */
static int queue_probe(sqlite_conn *c, sqlite_stmt_id id, const char *sql, int64_t arg)
{
    sqlite3_stmt *st = sqlite_conn_stmt(c, id, sql);
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, arg);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW) return 1;
    if (rc == SQLITE_DONE) return 0;
    return sqlite_fail(c, "queue probe");
}

/* Claims inside the current write transaction. 0, 1 (nothing ready), -1. */
static int queue_claim_locked(sqlite_conn *c, const char *worker_id, size_t max_jobs,
                              int64_t now, int64_t lease_ms, es_claim *out)
{
    int expired = queue_probe(c, SQ_EXPIRED_PROBE, SQL_EXPIRED_PROBE, now);
    if (expired < 0) return -1;
    if (expired) {
        sqlite3_stmt *st = sqlite_conn_stmt(c, SQ_EXPIRED_SWEEP, SQL_EXPIRED_SWEEP);
        if (!st) return -1;
        sqlite3_bind_int64(st, 1, now);
        if (queue_step_done(c, st, "lease sweep") != 0) return -1;
    }

    sqlite3_stmt *st;
    char *group;
    int64_t gid = 0;
    int rc, oom = 0;
    /* a paused group met here leaves the ready index (sqlite_pause.c) */
    for (;;) {
        st = sqlite_conn_stmt(c, SQ_GROUP_NEXT_READY, SQL_GROUP_NEXT_READY);
        if (!st) return -1;
        sqlite3_bind_int64(st, 1, now);
        rc = sqlite3_step(st);
        group = rc == SQLITE_ROW ? sqlite_column_dup(st, 0, &oom) : NULL;
        gid = rc == SQLITE_ROW ? sqlite3_column_int64(st, 1) : 0;
        sqlite3_reset(st);
        if (rc == SQLITE_DONE) return 1;
        if (rc != SQLITE_ROW) return sqlite_fail(c, "claim");
        if (!group) {
            diag_set(DIAG_INTERNAL, "out of memory in claim");
            return -1;
        }
        int held = sqlite_pause_hold(c, group);
        if (held == 0) break;
        free(group);
        if (held < 0) return -1;
    }

    es_job *jobs = calloc(max_jobs, sizeof *jobs);
    size_t n = 0;
    if (!jobs) {
        free(group);
        diag_set(DIAG_INTERNAL, "out of memory in claim");
        return -1;
    }
    st = sqlite_conn_stmt(c, SQ_JOBS_HEAD, SQL_JOBS_HEAD);
    if (!st) goto fail;
    sqlite3_bind_int64(st, 1, gid);
    sqlite3_bind_int64(st, 2, (int64_t)max_jobs);
    /* consecutive ready jobs only: a delayed job ends the batch */
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && sqlite3_column_int64(st, 10) <= now) {
        if (sqlite_job_read(st, 0, &jobs[n]) != 0) {
            sqlite3_reset(st);
            goto fail;
        }
        n++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        sqlite_fail(c, "claim jobs");
        goto fail;
    }
    if (n == 0) {
        /* ready_at ran ahead of the head's run_at: realign, nothing now */
        st = sqlite_conn_stmt(c, SQ_JOB_HEAD_RUN_AT, SQL_JOB_HEAD_RUN_AT);
        if (!st) goto fail;
        sqlite_bind_str(st, 1, group);
        rc = sqlite3_step(st);
        int64_t head_run_at = rc == SQLITE_ROW ? sqlite3_column_int64(st, 1) : 0;
        sqlite3_reset(st);
        st = sqlite_conn_stmt(c, rc == SQLITE_ROW ? SQ_GROUP_SET_READY : SQ_GROUP_DELETE,
                              rc == SQLITE_ROW ? SQL_GROUP_SET_READY : SQL_GROUP_DELETE);
        if (!st) goto fail;
        sqlite_bind_str(st, 1, group);
        if (rc == SQLITE_ROW) sqlite3_bind_int64(st, 2, head_run_at);
        if (queue_step_done(c, st, "claim realign") != 0) goto fail;
        free(jobs);
        free(group);
        return 1;
    }

    int64_t token;
    if (sqlite_counters_token(c, &token) != 0) goto fail;

    st = sqlite_conn_stmt(c, SQ_GROUP_CLAIM, SQL_GROUP_CLAIM);
    if (!st) goto fail;
    sqlite_bind_str(st, 1, group);
    sqlite3_bind_int64(st, 2, token);
    sqlite3_bind_int64(st, 3, now + lease_ms);
    sqlite3_bind_int64(st, 4, jobs[n - 1].position);
    sqlite_bind_str(st, 5, worker_id);
    if (queue_step_done(c, st, "claim group") != 0) goto fail;

    out->group_key = group;
    out->token = token;
    out->lease_until = now + lease_ms;
    out->jobs = jobs;
    out->n = n;
    return 0;
fail:
    for (size_t i = 0; i < n; i++) job_clear(&jobs[i]);
    free(jobs);
    free(group);
    return -1;
}

/* One claim attempt on the shared connection; outside a unit of work, a
 * read-only probe first keeps idle polling off the write lock. */
static int queue_claim_once(sqlite_store *s, const char *worker_id, size_t max_jobs,
                            int64_t now, int64_t lease_ms, es_claim *out)
{
    if (!sqlite_in_unit(s)) {
        sqlite_conn *c = sqlite_shared_lock(s);
        int ready = queue_probe(c, SQ_GROUP_NEXT_READY, SQL_GROUP_NEXT_READY, now);
        if (ready == 0) ready = queue_probe(c, SQ_EXPIRED_PROBE, SQL_EXPIRED_PROBE, now);
        sqlite_shared_unlock(s);
        if (ready <= 0) return ready < 0 ? -1 : 1;
    }
    sqlite_conn *c;
    int own;
    if (sqlite_write_begin(s, &c, &own) != 0) return -1;
    int rc = queue_claim_locked(c, worker_id, max_jobs, now, lease_ms, out);
    /* "nothing ready" still commits: a lease sweep may have run */
    int end = sqlite_write_end(s, c, own, rc < 0 ? -1 : 0);
    if (end != 0 && rc == 0) store_claim_clear(out);
    return end != 0 ? -1 : rc;
}

int sqlite_queue_claim(es_store *base, const char *worker_id, size_t max_jobs,
                       int64_t now, int64_t lease_ms, int wait_ms, es_claim *out)
{
    sqlite_store *s = (sqlite_store *)base;
    memset(out, 0, sizeof *out);
    if (max_jobs == 0) max_jobs = 1;
    int64_t start = clock_monotonic_ms();
    for (;;) {
        uint64_t seen = sqlite_store_wake_seq(s);
        int64_t elapsed = clock_monotonic_ms() - start;
        int rc = queue_claim_once(s, worker_id, max_jobs, now + elapsed, lease_ms, out);
        if (rc != 1 || sqlite_in_unit(s)) return rc;
        /* idle: the units batched so far become durable (and visible) */
        sqlite_batch_flush(s);
        if (elapsed >= wait_ms) return rc;
        int64_t left = wait_ms - elapsed;
        sqlite_store_wait(s, seen, (int)(left < CLAIM_POLL_MS ? left : CLAIM_POLL_MS));
    }
}

/* ---- extend, complete, fail */

/* Checks that `claim` is still the current claim of its group: -1 with
 * DIAG_CONFLICT when its token is stale or the group was released. */
static int queue_check_token(sqlite_conn *c, const es_claim *claim)
{
    sqlite3_stmt *st = sqlite_conn_stmt(c, SQ_GROUP_STATE, SQL_GROUP_STATE);
    if (!st) return -1;
    sqlite_bind_str(st, 1, claim->group_key);
    int rc = sqlite3_step(st);
    int current = rc == SQLITE_ROW && sqlite3_column_int64(st, 0) == claim->token &&
                  sqlite3_column_type(st, 1) != SQLITE_NULL;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sqlite_fail(c, "claim check");
    if (!current) {
        diag_set(DIAG_CONFLICT, "stale claim of group %s (token %lld)", claim->group_key,
                 (long long)claim->token);
        return -1;
    }
    return 0;
}

/* Deletes the first n_done jobs of the claim and takes their items off the
 * queue counts (one update per run of jobs of the same component). */
static int queue_delete_done(sqlite_conn *c, const es_claim *claim, size_t n_done)
{
    if (n_done == 0) return 0;
    sqlite3_stmt *st = sqlite_conn_stmt(c, SQ_JOBS_DELETE_UPTO, SQL_JOBS_DELETE_UPTO);
    if (!st) return -1;
    sqlite_bind_str(st, 1, claim->group_key);
    sqlite3_bind_int64(st, 2, claim->jobs[n_done - 1].position);
    if (queue_step_done(c, st, "complete jobs") != 0) return -1;
    /* the deleted rows are the claim's first n_done jobs (the token is
     * current and positions only grow): their keys are in claim->jobs */
    size_t run = 0;
    int64_t items = 0;
    for (size_t i = 1; i <= n_done; i++) {
        const es_job *a = &claim->jobs[run];
        const es_job *b = i < n_done ? &claim->jobs[i] : NULL;
        items += job_items(&claim->jobs[i - 1]);
        if (b && b->kind == a->kind && strcmp(b->pipeline, a->pipeline) == 0 &&
            strcmp(b->component, a->component) == 0)
            continue;
        if (sqlite_counters_count_add(c, a->pipeline, a->component, (int)a->kind, -items) != 0)
            return -1;
        run = i;
        items = 0;
    }
    return 0;
}

/* The group's head: 1 with its pos/run_at/attempts, 0 when empty, -1. */
static int queue_head(sqlite_conn *c, const char *group, int64_t *pos, int64_t *run_at,
                      int *attempts)
{
    sqlite3_stmt *st = sqlite_conn_stmt(c, SQ_JOB_HEAD_RUN_AT, SQL_JOB_HEAD_RUN_AT);
    if (!st) return -1;
    sqlite_bind_str(st, 1, group);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *pos = sqlite3_column_int64(st, 0);
        *run_at = sqlite3_column_int64(st, 1);
        *attempts = sqlite3_column_int(st, 2);
    }
    sqlite3_reset(st);
    if (rc == SQLITE_ROW) return 1;
    if (rc == SQLITE_DONE) return 0;
    return sqlite_fail(c, "group head");
}

/* Releases a group with jobs: idle and ready at ready_at, or parked at
 * parked_at when ready_at < 0. */
static int queue_release(sqlite_conn *c, const char *group, int64_t ready_at,
                         int64_t parked_at)
{
    sqlite3_stmt *st = sqlite_conn_stmt(c, SQ_GROUP_RELEASE, SQL_GROUP_RELEASE);
    if (!st) return -1;
    sqlite_bind_str(st, 1, group);
    if (ready_at >= 0) {
        sqlite3_bind_int64(st, 2, ready_at);
        sqlite3_bind_null(st, 3);
        c->notify = 1;
    } else {
        sqlite3_bind_null(st, 2);
        sqlite3_bind_int64(st, 3, parked_at);
    }
    return queue_step_done(c, st, "release group");
}

static int queue_delete_group(sqlite_conn *c, const char *group)
{
    sqlite3_stmt *st = sqlite_conn_stmt(c, SQ_GROUP_DELETE, SQL_GROUP_DELETE);
    if (!st) return -1;
    sqlite_bind_str(st, 1, group);
    return queue_step_done(c, st, "delete group");
}

int sqlite_queue_requeue(sqlite_conn *c, const char *group, int64_t now)
{
    int64_t pos, run_at;
    int attempts;
    int has = queue_head(c, group, &pos, &run_at, &attempts);
    if (has < 0) return -1;
    if (!has) return queue_delete_group(c, group);
    return queue_release(c, group, run_at > now ? run_at : now, 0);
}

static int queue_check_done(const es_claim *claim, size_t n_done)
{
    if (n_done > claim->n) {
        diag_set(DIAG_INTERNAL, "claim of %zu jobs: %zu done", claim->n, n_done);
        return -1;
    }
    return 0;
}

int sqlite_queue_extend(es_store *base, es_claim *claim, int64_t now, int64_t lease_ms)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite_conn *c;
    int own;
    if (sqlite_write_begin(s, &c, &own) != 0) return -1;
    int rc = -1;
    sqlite3_stmt *st = sqlite_conn_stmt(c, SQ_GROUP_EXTEND, SQL_GROUP_EXTEND);
    if (st) {
        sqlite_bind_str(st, 1, claim->group_key);
        sqlite3_bind_int64(st, 2, claim->token);
        sqlite3_bind_int64(st, 3, now + lease_ms);
        rc = queue_step_done(c, st, "extend lease");
        if (rc == 0 && sqlite3_changes(c->db) == 0) {
            diag_set(DIAG_CONFLICT, "stale claim of group %s (token %lld)",
                     claim->group_key, (long long)claim->token);
            rc = -1;
        }
    }
    rc = sqlite_write_end(s, c, own, rc);
    if (rc == 0) claim->lease_until = now + lease_ms;
    return rc;
}

int sqlite_queue_claim_current(es_store *base, const es_claim *claim)
{
    sqlite_store *s = (sqlite_store *)base;
    int rc = queue_check_token(sqlite_shared_lock(s), claim);
    sqlite_shared_unlock(s);
    return rc;
}

int sqlite_queue_complete(es_store *base, const es_claim *claim, size_t n_done,
                          int64_t now)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite_conn *c;
    int own;
    if (queue_check_done(claim, n_done) != 0) return -1;
    if (sqlite_write_begin(s, &c, &own) != 0) return -1;
    int rc = queue_check_token(c, claim);
    if (rc == 0) rc = queue_delete_done(c, claim, n_done);
    if (rc == 0) rc = sqlite_queue_requeue(c, claim->group_key, now);
    return sqlite_write_end(s, c, own, rc);
}

int sqlite_queue_fail(es_store *base, const es_claim *claim, size_t n_done,
                      const char *error, int64_t retry_at, int max_attempts,
                      int64_t now)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite_conn *c;
    int own;
    if (queue_check_done(claim, n_done) != 0) return -1;
    if (sqlite_write_begin(s, &c, &own) != 0) return -1;
    int rc = queue_check_token(c, claim);
    if (rc == 0) rc = queue_delete_done(c, claim, n_done);
    int64_t pos = 0, run_at = 0;
    int attempts = 0, has = 0;
    if (rc == 0 && (has = queue_head(c, claim->group_key, &pos, &run_at, &attempts)) < 0)
        rc = -1;
    if (rc == 0 && !has) rc = queue_delete_group(c, claim->group_key);
    if (rc == 0 && has) {
        attempts++;
        sqlite3_stmt *st = sqlite_conn_stmt(c, SQ_JOB_FAIL, SQL_JOB_FAIL);
        if (!st) {
            rc = -1;
        } else {
            sqlite3_bind_int64(st, 1, pos);
            sqlite3_bind_int(st, 2, attempts);
            sqlite_bind_str(st, 3, error ? error : "");
            sqlite3_bind_int64(st, 4, retry_at);
            sqlite_bind_str(st, 5, claim->group_key);
            const es_job *failed = &claim->jobs[n_done];
            if (failed->skip_payload)
                sqlite3_bind_blob(st, 6, failed->skip_payload, (int)failed->skip_payload_len,
                                  SQLITE_STATIC);
            else
                sqlite3_bind_null(st, 6);
            rc = queue_step_done(c, st, "record failure");
        }
        int park = max_attempts > 0 && attempts >= max_attempts;
        if (rc == 0) rc = queue_release(c, claim->group_key, park ? -1 : retry_at, now);
    }
    return sqlite_write_end(s, c, own, rc);
}

/* A group row exists exactly while the group has jobs (see the schema). */
int sqlite_queue_group_idle(es_store *base, const char *group_key)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite_conn *c = sqlite_shared_lock(s);
    int64_t gid;
    int found = queue_group_gid(c, group_key, &gid);
    sqlite_shared_unlock(s);
    return found < 0 ? -1 : !found;
}
