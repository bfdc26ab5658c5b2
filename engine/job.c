/* job.c: lifetime helpers for es_job (see job.h). */
#include "job.h"
#include "diag.h"

#include <stdlib.h>
#include <string.h>

void job_clear(es_job *job)
{
    free(job->id);
    free(job->tenant_id);
    free(job->pipeline);
    free(job->component);
    free(job->group_key);
    free(job->dedup_id);
    free(job->origin_id);
    free(job->last_error);
    free(job->payload);
    free(job->skip_payload);
    fold_write_free(job->fold_write);
    memset(job, 0, sizeof *job);
}

void fold_write_free(es_fold_write *w)
{
    if (!w) return;
    free(w->table);
    free(w->key);
    free(w->state_json);
    free(w->from_state);
    free(w);
}

es_fold_write *fold_write_copy(const es_fold_write *w)
{
    es_fold_write *c = malloc(sizeof *c);
    if (c) {
        *c = *w;
        c->table = strdup(w->table);
        c->key = strdup(w->key);
        c->state_json = strdup(w->state_json);
        c->from_state = w->from_state ? strdup(w->from_state) : NULL;
        if (c->table && c->key && c->state_json && (c->from_state || !w->from_state)) return c;
        fold_write_free(c);
    }
    diag_set(DIAG_INTERNAL, "out of memory copying a fold write");
    return NULL;
}

int job_items(const es_job *job)
{
    return job->items > 1 ? job->items : 1;
}

static int dup_opt(char **dst, const char *src)
{
    *dst = NULL;
    if (src && !(*dst = strdup(src))) return -1;
    return 0;
}

int job_copy(es_job *dst, const es_job *src)
{
    *dst = *src;
    dst->id = dst->tenant_id = dst->pipeline = dst->component = NULL;
    dst->group_key = dst->dedup_id = dst->origin_id = dst->last_error = NULL;
    dst->payload = dst->skip_payload = NULL;
    dst->fold_write = NULL;
    if (dup_opt(&dst->id, src->id) || dup_opt(&dst->tenant_id, src->tenant_id) ||
        dup_opt(&dst->pipeline, src->pipeline) ||
        dup_opt(&dst->component, src->component) ||
        dup_opt(&dst->group_key, src->group_key) ||
        dup_opt(&dst->dedup_id, src->dedup_id) ||
        dup_opt(&dst->origin_id, src->origin_id) ||
        dup_opt(&dst->last_error, src->last_error))
        goto oom;
    if (src->fold_write && !(dst->fold_write = fold_write_copy(src->fold_write))) goto oom;
    dst->payload = malloc(src->payload_len + 1);
    if (!dst->payload) goto oom;
    if (src->payload_len) memcpy(dst->payload, src->payload, src->payload_len);
    dst->payload[src->payload_len] = '\0';
    if (src->skip_payload) {
        dst->skip_payload = malloc(src->skip_payload_len + 1);
        if (!dst->skip_payload) goto oom;
        memcpy(dst->skip_payload, src->skip_payload, src->skip_payload_len);
        dst->skip_payload[src->skip_payload_len] = '\0';
    }
    return 0;
oom:
    job_clear(dst);
    diag_set(DIAG_INTERNAL, "out of memory copying a job");
    return -1;
}

char *job_group_key(const char *tenant, const char *pipeline,
                    const char *component, const char *key)
{
    size_t n = strlen(tenant) + strlen(pipeline) + strlen(component) + strlen(key) + 4;
    char *out = malloc(n);
    if (!out) return NULL;
    char *p = out;
    const char *parts[4] = {tenant, pipeline, component, key};
    for (int i = 0; i < 4; i++) {
        size_t len = strlen(parts[i]);
        memcpy(p, parts[i], len);
        p += len;
        *p++ = i < 3 ? '\x1f' : '\0';
    }
    return out;
}

const char *job_kind_name(job_kind kind)
{
    switch (kind) {
    case JOB_COMMAND: return "command";
    case JOB_FOLD: return "fold";
    case JOB_MAP: return "map";
    case JOB_REACTOR: return "reactor";
    }
    return "unknown";
}
