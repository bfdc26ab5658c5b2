/* send_many.c: batched send (see send_many.h). */
#include "send_many.h"
#include "clock.h"
#include "diag.h"
#include "engine_internal.h"
#include "ids.h"

#include <stdlib.h>
#include <string.h>

#define COMMANDS_COMPONENT "#commands"

static void jobs_free(es_job *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(jobs[i].id);
        free(jobs[i].group_key);
        free(jobs[i].payload);
    }
    free(jobs);
}

long engine_send_many(es_engine *e, const char *tenant_id, const char *pipeline,
                      const char *command, char *const *payloads, size_t n,
                      char **refusals)
{
    memset(refusals, 0, n * sizeof *refusals);
    if (!tenant_id || !*tenant_id) {
        diag_set(DIAG_INVALID, "a tenant is required");
        return -1;
    }
    if (engine_pause_refuses(e, tenant_id, pipeline) != 0) return -1;
    es_job *jobs = calloc(n ? n : 1, sizeof *jobs);
    if (!jobs) {
        diag_set(DIAG_INTERNAL, "out of memory");
        return -1;
    }
    int64_t now = clock_now_ms();
    size_t accepted = 0;
    int fatal = 0;
    pthread_mutex_lock(&e->control_lock);
    for (size_t i = 0; i < n && !fatal; i++) {
        char *aggregate_id = NULL, *command_json = NULL, *errors = NULL;
        if (lua_host_prepare_command(e->control, tenant_id, pipeline, command, payloads[i],
                                     &aggregate_id, &command_json, &errors) != 0) {
            if (diag_code_get() == DIAG_INVALID) refusals[i] = strdup(diag_message());
            else fatal = 1;
            free(errors);
            continue;
        }
        free(errors);
        char id[ID_HEX_LEN + 1];
        ids_random(id);
        es_job *job = &jobs[accepted++];
        job->id = strdup(id);
        job->kind = JOB_COMMAND;
        job->tenant_id = (char *)tenant_id;
        job->pipeline = (char *)pipeline;
        job->component = (char *)command;
        job->group_key = job_group_key(tenant_id, pipeline, COMMANDS_COMPONENT, aggregate_id);
        job->origin_id = job->id;
        job->run_at = now;
        job->payload = command_json;
        job->payload_len = strlen(command_json);
        free(aggregate_id);
    }
    pthread_mutex_unlock(&e->control_lock);
    long rc = (long)accepted;
    es_store *q = e->backends.queue;
    if (fatal || (accepted && q->ops->queue_enqueue(q, jobs, accepted, now) != 0)) {
        for (size_t i = 0; i < n; i++) {
            free(refusals[i]);
            refusals[i] = NULL;
        }
        rc = -1;
    }
    jobs_free(jobs, accepted);
    return rc;
}
