/* send_many.c: batched send (see send_many.h) and OTLP ingest. */
#include "send_many.h"
#include "clock.h"
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

/* Job ids and group keys are freed here; payloads stay the caller's. */
static void jobs_free(es_job *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(jobs[i].id);
        free(jobs[i].group_key);
    }
    free(jobs);
}

/* Job ids of one batch enqueued at now_ms: 12 hex digits of the time, then
 * 20 of a random salt drawn once per batch plus the job's index. Unique (80
 * random bits per batch and millisecond) and sorted by time, so the
 * stores' indexes on job ids grow at their right edge instead of taking a
 * random page write per job (jobs_origin on SQLite). */
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

int engine_enqueue_prepared(es_engine *e, const char *tenant_id, const char *pipeline,
                            const char *command, char *const *aggregate_ids,
                            char *const *command_jsons, size_t n)
{
    if (engine_pause_refuses(e, tenant_id, pipeline) != 0) return -1;
    if (n == 0) return 0;
    es_job *jobs = calloc(n, sizeof *jobs);
    if (!jobs) {
        diag_set(DIAG_INTERNAL, "out of memory");
        return -1;
    }
    int64_t now = clock_now_ms();
    batch_ids ids;
    batch_ids_init(&ids, now);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char id[ID_HEX_LEN + 1];
        batch_id(&ids, i, id);
        es_job *job = &jobs[i];
        job->id = strdup(id);
        job->kind = JOB_COMMAND;
        job->tenant_id = (char *)tenant_id;
        job->pipeline = (char *)pipeline;
        job->component = (char *)command;
        job->group_key = job_group_key(tenant_id, pipeline, COMMANDS_COMPONENT, aggregate_ids[i]);
        job->origin_id = job->id;
        job->run_at = now;
        job->payload = command_jsons[i];
        job->payload_len = strlen(command_jsons[i]);
        if (!job->id || !job->group_key) rc = -1;
    }
    es_store *q = e->backends.queue;
    if (rc != 0) diag_set(DIAG_INTERNAL, "out of memory");
    else rc = q->ops->queue_enqueue(q, jobs, n, now);
    jobs_free(jobs, n);
    return rc;
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
