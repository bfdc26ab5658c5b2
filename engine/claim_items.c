/* claim_items.c: the items a claimed batch carries (see claim_items.h). */
#include "claim_items.h"
#include "codec.h"
#include "diag.h"

#include <stdlib.h>
#include <string.h>

int claim_events(const es_claim *c, es_event **events, size_t **job_of, size_t *n)
{
    size_t len = 0, cap = c->n;
    es_event *all = calloc(cap, sizeof *all);
    size_t *jobs = calloc(cap, sizeof *jobs);
    for (size_t i = 0; all && jobs && i < c->n; i++) {
        es_event *got;
        size_t k;
        if (codec_events_decode(c->jobs[i].payload, c->jobs[i].payload_len, &got, &k) != 0)
            goto fail;
        if (len + k > cap) {
            size_t want = (len + k) * 2;
            es_event *grown = realloc(all, want * sizeof *grown);
            if (grown) all = grown;
            size_t *grown_jobs = grown ? realloc(jobs, want * sizeof *grown_jobs) : NULL;
            if (grown_jobs) jobs = grown_jobs;
            if (!grown || !grown_jobs) {
                event_array_free(got, k);
                diag_set(DIAG_INTERNAL, "out of memory decoding a claim");
                goto fail;
            }
            cap = want;
        }
        for (size_t j = 0; j < k; j++) {
            all[len] = got[j];
            jobs[len++] = i;
        }
        free(got);
    }
    if (!all || !jobs) {
        diag_set(DIAG_INTERNAL, "out of memory decoding a claim");
        goto fail;
    }
    *events = all;
    *job_of = jobs;
    *n = len;
    return 0;
fail:
    if (all) event_array_free(all, len);
    free(jobs);
    return -1;
}


void claim_commands_free(claim_commands *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->owned[i]) free(l->json[i]);
    free(l->json);
    free(l->owned);
    free(l->job_of);
    memset(l, 0, sizeof *l);
}

int claim_commands_list(const es_claim *c, claim_commands *l)
{
    size_t cap = c->n;
    memset(l, 0, sizeof *l);
    for (size_t i = 0; i < c->n; i++) {
        const es_job *job = &c->jobs[i];
        char **batch = NULL;
        size_t k = 1;
        int several = job->payload_len > 0 && job->payload[0] != '{';
        if (several && codec_strings_decode(job->payload, job->payload_len, &batch, &k) != 0)
            goto fail;
        if (!l->json || l->n + k > cap) {
            cap = (l->n + k) * 2;
            char **json = realloc(l->json, cap * sizeof *json);
            if (json) l->json = json;
            char *owned = json ? realloc(l->owned, cap) : NULL;
            if (owned) l->owned = owned;
            size_t *job_of = owned ? realloc(l->job_of, cap * sizeof *job_of) : NULL;
            if (job_of) l->job_of = job_of;
            if (!job_of) {
                for (size_t j = 0; batch && j < k; j++) free(batch[j]);
                free(batch);
                diag_set(DIAG_INTERNAL, "out of memory listing commands");
                goto fail;
            }
        }
        for (size_t j = 0; j < k; j++) {
            l->json[l->n] = several ? batch[j] : job->payload;
            l->owned[l->n] = (char)several;
            l->job_of[l->n++] = i;
        }
        free(batch);
    }
    return 0;
fail:
    claim_commands_free(l);
    return -1;
}


/* Replaces job->skip_payload with buf (taken). */
static int set_skip(es_job *job, char *buf, size_t len)
{
    free(job->skip_payload);
    job->skip_payload = buf;
    job->skip_payload_len = len;
    return 0;
}

int claim_skip_command(es_job *job, size_t item)
{
    if (job->payload_len == 0 || job->payload[0] == '{') return 0; /* one command */
    char **all = NULL;
    size_t n = 0;
    if (codec_strings_decode(job->payload, job->payload_len, &all, &n) != 0) return -1;
    int rc = 0;
    if (n > 1 && item < n) {
        const char **rest = malloc((n - 1) * sizeof *rest);
        char *buf = NULL;
        size_t len = 0, k = 0;
        for (size_t i = 0; rest && i < n; i++)
            if (i != item) rest[k++] = all[i];
        rc = !rest || codec_strings_encode(rest, k, &buf, &len) != 0 ? -1 : set_skip(job, buf, len);
        if (!rest) diag_set(DIAG_INTERNAL, "out of memory");
        free(rest);
    }
    for (size_t i = 0; i < n; i++) free(all[i]);
    free(all);
    return rc;
}

int claim_skip_event(es_job *job, const char *event_id)
{
    es_event *all = NULL;
    size_t n = 0;
    if (codec_events_decode(job->payload, job->payload_len, &all, &n) != 0) return -1;
    int rc = 0;
    if (n > 1) {
        const es_event **rest = malloc(n * sizeof *rest);
        char *buf = NULL;
        size_t len = 0, k = 0;
        for (size_t i = 0; rest && i < n; i++)
            if (strcmp(all[i].id, event_id) != 0) rest[k++] = &all[i];
        if (!rest) {
            diag_set(DIAG_INTERNAL, "out of memory");
            rc = -1;
        } else if (k < n) {
            rc = codec_events_encode(rest, k, &buf, &len) != 0 ? -1 : set_skip(job, buf, len);
        }
        free(rest);
    }
    event_array_free(all, n);
    return rc;
}
