/* send_many.c: batched sends (engine_send_many, and engine_enqueue_prepared,
 * see send_many.h) and OTLP ingest. */
#include "send_many.h"
#include "clock.h"
#include "codec.h"
#include "diag.h"
#include "engine_internal.h"
#include "ids.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMMANDS_COMPONENT "#commands"

/* The trace pipeline and command OTLP spans become. */
#define TRACE_PIPELINE "trace_processing"
#define TRACE_COMMAND "record_span"

/* Job ids of one batch enqueued at now_ms: 12 hex digits of the time, then
 * 20 of a random salt drawn once per batch plus the job's index. Unique (80
 * random bits per batch and millisecond) and sorted by time, so the
 * stores' indexes on job ids grow at their right edge instead of taking a
 * random page write per job (jobs_id, keyed (id, group_key), on SQLite). */
typedef struct batch_ids {
    unsigned long long time, hi, lo;
} batch_ids;

static void batch_ids_init(batch_ids *b, int64_t now_ms)
{
    char salt[ID_HEX_LEN + 1];
    ids_random(salt);
    b->time = (unsigned long long)now_ms & 0xffffffffffffULL;
    b->hi = b->lo = 0;
    sscanf(salt, "%4llx%16llx", &b->hi, &b->lo);
}

static void batch_id(const batch_ids *b, size_t i, char out[ID_HEX_LEN + 1])
{
    snprintf(out, ID_HEX_LEN + 1, "%012llx%04llx%016llx", b->time, b->hi, b->lo + i);
}

/* Indexes of the commands bound to each aggregate, in send order: the
 * commands of one aggregate become one job, which keeps their order (they
 * would share a FIFO group anyway) and costs the queue one row. */
typedef struct aggregate_run {
    const char *aggregate_id;
    size_t *members;
    size_t n;
} aggregate_run;

/* Groups commands by aggregate id (first-seen order). *runs is malloc'd,
 * each run's members too; -1 on OOM. */
static int group_by_aggregate(char *const *aggregate_ids, size_t n, aggregate_run **runs,
                              size_t *n_runs)
{
    size_t *members = malloc(n * sizeof *members);
    size_t *run_of = malloc(n * sizeof *run_of);
    aggregate_run *out = calloc(n, sizeof *out);
    /* open addressing over aggregate ids: slot -> run index + 1 */
    size_t slots = 16;
    while (slots < n * 2) slots *= 2;
    size_t *table = calloc(slots, sizeof *table);
    size_t count = 0;
    if (!members || !run_of || !out || !table) goto oom;
    for (size_t i = 0; i < n; i++) {
        size_t h = 5381;
        for (const char *p = aggregate_ids[i]; *p; p++) h = h * 33 + (unsigned char)*p;
        size_t slot = h & (slots - 1);
        while (table[slot] && strcmp(out[table[slot] - 1].aggregate_id, aggregate_ids[i]) != 0)
            slot = (slot + 1) & (slots - 1);
        if (!table[slot]) {
            out[count].aggregate_id = aggregate_ids[i];
            table[slot] = ++count;
        }
        run_of[i] = table[slot] - 1;
        out[run_of[i]].n++;
    }
    /* lay the members of each run out contiguously, in send order */
    size_t offset = 0;
    for (size_t r = 0; r < count; r++) {
        out[r].members = members + offset;
        offset += out[r].n;
        out[r].n = 0;
    }
    for (size_t i = 0; i < n; i++) {
        aggregate_run *run = &out[run_of[i]];
        run->members[run->n++] = i;
    }
    free(run_of);
    free(table);
    *runs = out;
    *n_runs = count;
    return 0;
oom:
    free(members);
    free(run_of);
    free(out);
    free(table);
    diag_set(DIAG_INTERNAL, "out of memory");
    return -1;
}

int engine_enqueue_prepared(es_engine *e, const char *tenant_id, const char *pipeline,
                            const char *command, char *const *aggregate_ids,
                            char *const *command_jsons, size_t n)
{
    if (engine_pause_refuses(e, tenant_id, pipeline) != 0) return -1;
    if (n == 0) return 0;
    aggregate_run *runs;
    size_t n_runs;
    if (group_by_aggregate(aggregate_ids, n, &runs, &n_runs) != 0) return -1;
    es_job *jobs = calloc(n_runs, sizeof *jobs);
    const char **batch = malloc(n * sizeof *batch);
    if (!jobs || !batch) {
        free(jobs);
        free(batch);
        free(runs[0].members);
        free(runs);
        diag_set(DIAG_INTERNAL, "out of memory");
        return -1;
    }
    int64_t now = clock_now_ms();
    batch_ids ids;
    batch_ids_init(&ids, now);
    int rc = 0;
    for (size_t r = 0; r < n_runs && rc == 0; r++) {
        const aggregate_run *run = &runs[r];
        char id[ID_HEX_LEN + 1];
        batch_id(&ids, r, id);
        es_job *job = &jobs[r];
        job->id = strdup(id);
        job->kind = JOB_COMMAND;
        job->tenant_id = (char *)tenant_id;
        job->pipeline = (char *)pipeline;
        job->component = (char *)command;
        job->group_key = job_group_key(tenant_id, pipeline, COMMANDS_COMPONENT, run->aggregate_id);
        job->run_at = now;
        job->fresh_id = 1;
        if (!job->id || !job->group_key) {
            diag_set(DIAG_INTERNAL, "out of memory");
            rc = -1;
        } else if (run->n == 1) {
            job->payload = strdup(command_jsons[run->members[0]]);
            job->payload_len = job->payload ? strlen(job->payload) : 0;
            if (!job->payload) rc = -1;
        } else {
            for (size_t k = 0; k < run->n; k++) batch[k] = command_jsons[run->members[k]];
            rc = codec_strings_encode(batch, run->n, &job->payload, &job->payload_len);
        }
    }
    es_store *q = e->backends.queue;
    if (rc == 0) rc = q->ops->queue_enqueue(q, jobs, n_runs, now);
    for (size_t r = 0; r < n_runs; r++) {
        free(jobs[r].id);
        free(jobs[r].group_key);
        free(jobs[r].payload);
    }
    free(jobs);
    free(batch);
    free(runs[0].members);
    free(runs);
    return rc;
}

/* Frees the first n strings of each array, then the arrays (NULL ok). */
static void free_prepared(char **aggregate_ids, char **command_jsons, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (aggregate_ids) free(aggregate_ids[i]);
        if (command_jsons) free(command_jsons[i]);
    }
    free(aggregate_ids);
    free(command_jsons);
}

int engine_prepare_many(es_engine *e, const char *tenant_id, const char *pipeline,
                        const char *command, const char *const *payloads, size_t n,
                        char ***aggregate_ids, char ***command_jsons, size_t *failed,
                        char **errors_json)
{
    *failed = n;
    *aggregate_ids = *command_jsons = NULL;
    if (errors_json) *errors_json = NULL;
    if (!tenant_id || !*tenant_id) {
        diag_set(DIAG_INVALID, "a tenant is required");
        return -1;
    }
    char **aggs = calloc(n ? n : 1, sizeof *aggs);
    char **jsons = calloc(n ? n : 1, sizeof *jsons);
    if (!aggs || !jsons) {
        free_prepared(aggs, jsons, 0);
        diag_set(DIAG_INTERNAL, "out of memory");
        return -1;
    }
    control_lease lease;
    control_acquire(e, &lease);
    int rc = lua_host_prepare_commands(lease.host, tenant_id, pipeline, command, payloads, n,
                                       aggs, jsons, failed, errors_json);
    control_release(e, &lease);
    if (rc != 0) {
        free_prepared(aggs, jsons, n);
        return -1;
    }
    *aggregate_ids = aggs;
    *command_jsons = jsons;
    return 0;
}

int engine_send_prepared(es_engine *e, const char *tenant_id, const char *pipeline,
                         const char *command, char **aggregate_ids, char **command_jsons,
                         size_t n, char **job_ids)
{
    int rc = engine_pause_refuses(e, tenant_id, pipeline);
    es_job *jobs = calloc(n ? n : 1, sizeof *jobs);
    if (rc == 0 && !jobs) {
        diag_set(DIAG_INTERNAL, "out of memory");
        rc = -1;
    }
    int64_t now = clock_now_ms();
    for (size_t i = 0; i < n && rc == 0; i++) {
        char id[ID_HEX_LEN + 1];
        ids_timed(id, now);
        jobs[i] = (es_job){
            .id = strdup(id),
            .kind = JOB_COMMAND,
            .tenant_id = (char *)tenant_id,
            .pipeline = (char *)pipeline,
            .component = (char *)command,
            .group_key = job_group_key(tenant_id, pipeline, COMMANDS_COMPONENT, aggregate_ids[i]),
            .run_at = now,
            .payload = command_jsons[i],
            .payload_len = strlen(command_jsons[i]),
            .fresh_id = 1,
        };
        if (!jobs[i].id || !jobs[i].group_key) {
            diag_set(DIAG_INTERNAL, "out of memory");
            rc = -1;
        }
    }
    es_store *q = e->backends.queue;
    if (rc == 0 && n > 0) rc = q->ops->queue_enqueue(q, jobs, n, now);
    for (size_t i = 0; i < n && jobs; i++) {
        if (rc == 0) job_ids[i] = jobs[i].id;
        else free(jobs[i].id);
        free(jobs[i].group_key);
    }
    free(jobs);
    free_prepared(aggregate_ids, command_jsons, n);
    return rc;
}

int engine_send_many(es_engine *e, const char *tenant_id, const char *pipeline,
                     const char *command, const char *const *payloads, size_t n,
                     char **job_ids, size_t *failed, char **errors_json)
{
    if (engine_pause_refuses(e, tenant_id, pipeline) != 0) {
        *failed = n;
        if (errors_json) *errors_json = NULL;
        return -1;
    }
    char **aggregate_ids, **command_jsons;
    if (engine_prepare_many(e, tenant_id, pipeline, command, payloads, n, &aggregate_ids,
                            &command_jsons, failed, errors_json) != 0)
        return -1;
    return engine_send_prepared(e, tenant_id, pipeline, command, aggregate_ids, command_jsons,
                                n, job_ids);
}

int engine_otlp_ingest(void *ud, const char *tenant_id, const char *otlp_json, size_t len,
                       size_t max_spans, es_otlp_result *out)
{
    es_engine *e = ud;
    memset(out, 0, sizeof *out);
    if (!tenant_id || !*tenant_id) {
        diag_set(DIAG_INVALID, "a tenant is required");
        return -1;
    }
    lua_host_otlp_batch batch;
    control_lease lease;
    control_acquire(e, &lease);
    int rc = lua_host_otlp_commands(lease.host, tenant_id, TRACE_PIPELINE, TRACE_COMMAND,
                                    otlp_json, len, max_spans, &batch);
    control_release(e, &lease);
    if (rc != 0) {
        out->rejected = batch.rejected;
        return rc;
    }
    rc = engine_enqueue_prepared(e, tenant_id, TRACE_PIPELINE, TRACE_COMMAND,
                                 batch.aggregate_ids, batch.command_jsons, batch.n);
    if (rc == 0) {
        out->accepted = batch.n;
        out->rejected = batch.rejected;
        out->rejected_message = batch.rejected_message;
        batch.rejected_message = NULL;
    }
    lua_host_otlp_batch_clear(&batch);
    return rc;
}
