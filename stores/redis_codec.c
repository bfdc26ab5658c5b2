/* redis_codec.c: the job blob kept in Redis: the fields of a job that never
 * change while it is queued, as a sequence of length-prefixed fields
 * ("<len>:<bytes>", "~" for NULL), opaque to the scripts. */
#include "redis_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"

#define CODEC_FIELDS 10

/* Lists the blob fields of `job` in order with their lengths ((size_t)-1
 * for NULL); kind and mode are formatted into the given buffers. */
static void codec_fields(const es_job *job, const char *v[CODEC_FIELDS],
                         size_t len[CODEC_FIELDS], char kind[24], char mode[24])
{
    kind[text_decimal(kind, job->kind)] = '\0';
    mode[text_decimal(mode, job->dedup_mode)] = '\0';
    const char *s[CODEC_FIELDS] = {job->id, kind, job->tenant_id, job->pipeline,
                                   job->component, job->group_key, job->dedup_id,
                                   mode, job->origin_id, job->payload};
    for (int i = 0; i < CODEC_FIELDS; i++) {
        v[i] = s[i];
        len[i] = s[i] ? strlen(s[i]) : (size_t)-1;
    }
    if (job->payload) len[CODEC_FIELDS - 1] = job->payload_len;
}

char *redis_codec_encode_job(const es_job *job, size_t *out_len)
{
    const char *v[CODEC_FIELDS];
    size_t len[CODEC_FIELDS];
    char kind[24], mode[24];
    codec_fields(job, v, len, kind, mode);
    size_t total = 0;
    for (int i = 0; i < CODEC_FIELDS; i++)
        total += len[i] == (size_t)-1 ? 1 : len[i] + 21;
    char *blob = malloc(total + 1);
    if (!blob) {
        diag_set(DIAG_INTERNAL, "out of memory encoding a job");
        return NULL;
    }
    size_t at = 0;
    for (int i = 0; i < CODEC_FIELDS; i++) {
        if (len[i] == (size_t)-1) {
            blob[at++] = '~';
            continue;
        }
        at += text_decimal(blob + at, (int64_t)len[i]);
        blob[at++] = ':';
        memcpy(blob + at, v[i], len[i]);
        at += len[i];
    }
    blob[at] = '\0';
    *out_len = at;
    return blob;
}

/* Reads one field at *at into a malloc'd string (*out NULL for "~"). */
static int codec_read(const char *blob, size_t len, size_t *at, char **out, size_t *out_len)
{
    *out = NULL;
    if (*at < len && blob[*at] == '~') {
        (*at)++;
        return 0;
    }
    size_t n = 0, i = *at;
    while (i < len && blob[i] >= '0' && blob[i] <= '9') n = n * 10 + (size_t)(blob[i++] - '0');
    if (i == *at || i >= len || blob[i] != ':' || n > len - i - 1) return -1;
    i++;
    *out = malloc(n + 1);
    if (!*out) return -1;
    memcpy(*out, blob + i, n);
    (*out)[n] = '\0';
    if (out_len) *out_len = n;
    *at = i + n;
    return 0;
}

int redis_codec_decode_job(es_job *job, const char *blob, size_t len)
{
    char *kind = NULL, *mode = NULL;
    size_t at = 0;
    char **dst[CODEC_FIELDS] = {&job->id, &kind, &job->tenant_id, &job->pipeline,
                                &job->component, &job->group_key, &job->dedup_id,
                                &mode, &job->origin_id, &job->payload};
    for (int i = 0; i < CODEC_FIELDS; i++) {
        if (codec_read(blob, len, &at, dst[i], i == CODEC_FIELDS - 1 ? &job->payload_len : NULL))
            goto bad;
    }
    if (at != len || !kind || !mode) goto bad;
    job->kind = (job_kind)atoi(kind);
    job->dedup_mode = (dedup_mode)atoi(mode);
    free(kind);
    free(mode);
    if (!job->payload && !(job->payload = calloc(1, 1))) goto bad;
    return 0;
bad:
    free(kind);
    free(mode);
    job_clear(job);
    diag_set(DIAG_BACKEND, "redis: malformed job record");
    return -1;
}
