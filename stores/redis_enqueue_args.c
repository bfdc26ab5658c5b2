/* redis_enqueue_args.c: a job as the arguments of the scripts that push
 * jobs (queue_push.lua, called by queue_enqueue.lua and queue_finish.lua):
 * the classic fields, or the list element built here for a fresh due job
 * (mode 4, with a position from a block this process reserved), or that
 * element with the fold state the finish writes instead of it (mode 5). */
#include "redis_int.h"

#include <stdlib.h>
#include <string.h>

#include "diag.h"

/* Positions are reserved from the queue's counter in blocks this big for
 * the jobs whose elements the client builds. */
#define POSITION_BLOCK 4096

/* The next position of the store's reserved block (a new block when it is
 * used up; the INCRBY runs under the lock, once per POSITION_BLOCK jobs, so
 * concurrent enqueuers wait for it rather than reserve two blocks). 0, or
 * -1 with diag. */
static int reserve_position(redis_store *rs, int64_t *pos)
{
    int rc = 0;
    pthread_mutex_lock(&rs->positions_lock);
    if (rs->position_next >= rs->position_end) {
        char key[256], block[24];
        snprintf(key, sizeof key, "%s:seq", rs->tag);
        block[text_decimal(block, POSITION_BLOCK)] = '\0';
        const char *argv[3] = {"INCRBY", key, block};
        size_t lens[3] = {6, strlen(key), strlen(block)};
        redisReply *r = redis_conn_command(rs->pool, 3, argv, lens, 0);
        if (r && r->type == REDIS_REPLY_INTEGER) {
            rs->position_end = r->integer + 1;
            rs->position_next = r->integer + 1 - POSITION_BLOCK;
        } else {
            if (r) diag_set(DIAG_BACKEND, "redis queue: INCRBY of positions: %s",
                            r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
            rc = -1;
        }
        if (r) freeReplyObject(r);
    }
    if (rc == 0) *pos = rs->position_next++;
    pthread_mutex_unlock(&rs->positions_lock);
    return rc;
}

/* The inline list element of fast job j (see queue_lib.lua: id \30, then
 * the record of a job without dedup key nor origin), queued at `now` at
 * position pos; stats: its stats key's parts (pipeline, component, kind,
 * joined by \x1f as redis_args_join joins them for the scripts); blob: its
 * static fields. malloc'd, length in *len. */
static char *fast_element(const es_job *j, const char *const stats[3], int64_t now,
                          int64_t pos, const char *blob, size_t blob_len, size_t *len)
{
    size_t id_len = strlen(j->id), part_len[3], sk_len = 2;
    for (int k = 0; k < 3; k++) sk_len += part_len[k] = stats[k] ? strlen(stats[k]) : 0;
    char *e = malloc(id_len + sk_len + blob_len + 6 * 21 + 32);
    if (!e) {
        diag_set(DIAG_INTERNAL, "out of memory");
        return NULL;
    }
    size_t at = 0;
    memcpy(e, j->id, id_len);
    at += id_len;
    e[at++] = RECORD_INLINE_SEP;
    e[at++] = '0';
    at += text_decimal(e + at, j->run_at);
    e[at++] = 0x1f;
    at += text_decimal(e + at, pos);
    e[at++] = 0x1f;
    e[at++] = '0'; /* attempts */
    e[at++] = 0x1f;
    at += text_decimal(e + at, now);
    e[at++] = 0x1f;
    at += text_decimal(e + at, job_items(j));
    e[at++] = 0x1f;
    at += text_decimal(e + at, (int64_t)sk_len);
    e[at++] = ':';
    for (int k = 0; k < 3; k++) {
        if (k) e[at++] = 0x1f;
        if (part_len[k]) memcpy(e + at, stats[k], part_len[k]);
        at += part_len[k];
    }
    memcpy(e + at, "~~~~~", 5); /* no group, dedup key, origin, error, skip record */
    at += 5;
    memcpy(e + at, blob, blob_len);
    *len = at + blob_len;
    return e;
}

/* Adds the fields a job of mode 5 has beyond those of mode 4
 * (queue_push.lua): the fold's hash, the seq it was folded from, the new
 * seq, the state, and the state it was folded from ('' for none). */
static int fold_write_args(redis_store *rs, redis_args *a, const char *tenant,
                           const es_fold_write *w)
{
    char *key = redis_fold_key(rs, tenant, w->table, w->key);
    int rc = !key || redis_args_dup(a, key, strlen(key)) || redis_args_int(a, w->from_seq) ||
                     redis_args_int(a, w->last_seq) || redis_args_cstr(a, w->state_json) ||
                     redis_args_cstr(a, w->from_state)
                 ? -1
                 : 0;
    free(key);
    return rc;
}

int redis_enqueue_is_fast(const es_job *j, int finishing, int64_t now)
{
    int dedup = j->dedup_mode != DEDUP_NONE && j->dedup_id && j->dedup_id[0];
    /* a fresh id, kept inline unless the job has an origin (an id holding
     * the element separator never is) */
    int fresh = (j->fresh_id || (finishing && j->fresh_when_finished)) &&
                !strchr(j->id, RECORD_INLINE_SEP);
    return fresh && !dedup && !j->origin_id && j->run_at <= now;
}

char *redis_enqueue_fast_element(redis_store *rs, const es_job *j, int64_t now, size_t *len)
{
    char kind[24];
    kind[text_decimal(kind, j->kind)] = '\0';
    const char *stats[3] = {j->pipeline, j->component, kind};
    size_t blob_len;
    int64_t pos;
    char *blob = redis_codec_encode_job(j, &blob_len);
    if (!blob || reserve_position(rs, &pos)) {
        free(blob);
        return NULL;
    }
    char *e = fast_element(j, stats, now, pos, blob, blob_len, len);
    free(blob);
    return e;
}

/* Adds the fields of fast job j whose list element is e (len bytes): mode
 * 4, or mode 5 with its fold_write when `finishing` and the store writes
 * fold states (redis_queue_writes_folds). */
static int enqueue_args_fast(redis_store *rs, redis_args *a, const es_job *j, int finishing,
                             const char *e, size_t len)
{
    const es_fold_write *w = finishing && atomic_load(&rs->writes_folds) == 1
                                 ? j->fold_write : NULL;
    if (redis_args_cstr(a, j->id) || redis_args_cstr(a, j->group_key) ||
        redis_args_cstr(a, j->tenant_id) || redis_args_str(a, e, len) ||
        redis_args_str(a, w ? "5" : "4", 1))
        return -1;
    return w ? fold_write_args(rs, a, j->tenant_id, w) : 0;
}

/* Adds the enqueue fields of one job, enqueued at `now` (see
 * queue_push.lua: 10, 5 for mode 4, 10 for mode 5). `finishing`: the job
 * is enqueued by the finish of the claim whose unit made it
 * (queue_finish.lua), so its id counts as fresh when the unit marked it
 * fresh_when_finished. A fast job (redis_enqueue_is_fast) goes as mode 4
 * or 5 (enqueue_args_fast), its element built here. *blob_out: what the
 * arguments point into, for the caller to free. */
static int enqueue_args_job(redis_store *rs, redis_args *a, const es_job *j, int finishing,
                            int64_t now, char **blob_out)
{
    if (redis_enqueue_is_fast(j, finishing, now)) {
        size_t len;
        char *e = redis_enqueue_fast_element(rs, j, now, &len);
        *blob_out = e;
        return e ? enqueue_args_fast(rs, a, j, finishing, e, len) : -1;
    }
    char kind[24];
    kind[text_decimal(kind, j->kind)] = '\0';
    const char *origin[2] = {j->origin_id, kind}; /* joined only when set */
    const char *stats[3] = {j->pipeline, j->component, kind};
    int dedup = j->dedup_mode != DEDUP_NONE && j->dedup_id && j->dedup_id[0];
    const char *dedup_parts[2] = {j->tenant_id, j->dedup_id};
    /* mode 3: a fresh id (held by no queued job) of a job kept at its key */
    int fresh = (j->fresh_id || (finishing && j->fresh_when_finished)) &&
                !strchr(j->id, RECORD_INLINE_SEP);
    size_t blob_len;
    char *blob = redis_codec_encode_job(j, &blob_len);
    *blob_out = blob;
    if (!blob) return -1;
    if (redis_args_cstr(a, j->id) || redis_args_cstr(a, j->group_key) ||
        redis_args_cstr(a, j->tenant_id) || redis_args_int(a, j->run_at) ||
        redis_args_int(a, dedup ? j->dedup_mode : fresh ? 3 : 0))
        return -1;
    if (dedup ? redis_args_join(a, dedup_parts, 2) : redis_args_str(a, "", 0)) return -1;
    if ((j->origin_id ? redis_args_join(a, origin, 2) : redis_args_str(a, "", 0)) ||
        redis_args_join(a, stats, 3) ||
        redis_args_str(a, blob, blob_len) || redis_args_int(a, job_items(j)))
        return -1;
    return 0;
}

int redis_enqueue_validate(const redis_store *rs, const es_job *j, size_t i)
{
    if (!j->id || !j->id[0] || !j->group_key || !j->group_key[0] || !j->tenant_id ||
        !j->tenant_id[0]) {
        diag_set(DIAG_INVALID, "job %zu: id, group_key and tenant_id are required", i);
        return -1;
    }
    if (j->payload_len > rs->max_payload) {
        diag_set(DIAG_INVALID, "job %s: payload of %zu bytes exceeds the limit of %zu bytes",
                 j->id, j->payload_len, rs->max_payload);
        return -1;
    }
    return 0;
}

void redis_enqueue_chunk_free(redis_enqueue_chunk *c)
{
    for (size_t i = 0; i < c->n_blobs; i++) free(c->blobs[i]);
    free(c->blobs);
    redis_args_free(&c->args);
    memset(c, 0, sizeof *c);
}

/* A free slot (NULL) at the end of c's blobs, or NULL with a diag on OOM. */
static char **chunk_blob_slot(redis_enqueue_chunk *c)
{
    if (c->n_blobs == c->cap_blobs) {
        size_t cap = c->cap_blobs ? c->cap_blobs * 2 : 64;
        char **grown = realloc(c->blobs, cap * sizeof *grown);
        if (!grown) {
            diag_set(DIAG_INTERNAL, "out of memory");
            return NULL;
        }
        c->blobs = grown;
        c->cap_blobs = cap;
    }
    c->blobs[c->n_blobs] = NULL;
    return &c->blobs[c->n_blobs++];
}

int redis_enqueue_chunk_add(redis_store *rs, redis_enqueue_chunk *c, const es_job *j,
                            int finishing, int64_t now)
{
    char **slot = chunk_blob_slot(c);
    return slot ? enqueue_args_job(rs, &c->args, j, finishing, now, slot) : -1;
}

int redis_enqueue_chunk_add_element(redis_store *rs, redis_enqueue_chunk *c, const es_job *j,
                                    char *element, size_t len)
{
    char **slot = chunk_blob_slot(c);
    if (!slot) {
        free(element);
        return -1;
    }
    *slot = element;
    return enqueue_args_fast(rs, &c->args, j, 0, element, len);
}
