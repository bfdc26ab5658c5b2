/* redis_admin.c: the queue's operator views and actions on Redis: stats,
 * parked groups (list, retry, skip) and pending counts per origin (send
 * --wait). Key layout: redis_queue.c. */
#include "redis_int.h"

#include <stdlib.h>
#include <string.h>

#include "diag.h"

static redis_store *store_of(es_store *s) { return (redis_store *)s; }

static int64_t reply_int(const redisReply *r)
{
    if (r->type == REDIS_REPLY_INTEGER) return r->integer;
    if (r->type == REDIS_REPLY_STRING) return strtoll(r->str, NULL, 10);
    return 0;
}

/* One (pipeline, component, kind) row being summed over stats pages. */
typedef struct stats_row {
    char *key; /* pipeline\x1fcomponent\x1fkind */
    int64_t v[6]; /* pending, delayed, in_flight, parked, parked_groups, oldest */
} stats_row;

typedef struct stats_table {
    stats_row *rows;
    size_t n, cap;
} stats_table;

static stats_row *stats_find(stats_table *t, const char *key, size_t len)
{
    for (size_t i = 0; i < t->n; i++)
        if (strlen(t->rows[i].key) == len && memcmp(t->rows[i].key, key, len) == 0)
            return &t->rows[i];
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        stats_row *rows = realloc(t->rows, cap * sizeof *rows);
        if (!rows) return NULL;
        t->rows = rows;
        t->cap = cap;
    }
    stats_row *row = &t->rows[t->n];
    memset(row, 0, sizeof *row);
    if (!(row->key = strndup(key, len))) return NULL;
    t->n++;
    return row;
}

/* Adds one page reply ({cursor, key, 6 counts, ...}) to the table and
 * copies the next cursor. */
static int stats_add_page(stats_table *t, const redisReply *r, char *cursor, size_t cursor_len)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || (r->elements - 1) % 7 != 0 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[0]->len >= cursor_len) {
        diag_set(DIAG_BACKEND, "redis stats: malformed reply");
        return -1;
    }
    memcpy(cursor, r->element[0]->str, r->element[0]->len + 1);
    for (size_t i = 1; i < r->elements; i += 7) {
        const redisReply *k = r->element[i];
        if (k->type != REDIS_REPLY_STRING) continue;
        stats_row *row = stats_find(t, k->str, k->len);
        if (!row) {
            diag_set(DIAG_INTERNAL, "out of memory");
            return -1;
        }
        for (int c = 0; c < 5; c++) row->v[c] += reply_int(r->element[i + 1 + c]);
        int64_t oldest = reply_int(r->element[i + 6]);
        if (oldest && (!row->v[5] || oldest < row->v[5])) row->v[5] = oldest;
    }
    return 0;
}

/* Calls cb once per row, splitting its key into pipeline/component/kind. */
static int stats_emit(stats_table *t, es_stats_cb cb, void *ud)
{
    for (size_t i = 0; i < t->n; i++) {
        char *pipeline = t->rows[i].key;
        char *component = strchr(pipeline, '\x1f');
        char *kind = component ? strchr(component + 1, '\x1f') : NULL;
        if (!kind) continue;
        *component++ = '\0';
        *kind++ = '\0';
        es_queue_stats row = {pipeline, component, (job_kind)atoi(kind), t->rows[i].v[0],
                              t->rows[i].v[1], t->rows[i].v[2], t->rows[i].v[3],
                              t->rows[i].v[4], t->rows[i].v[5]};
        if (cb(ud, &row)) break;
    }
    return 0;
}

int redis_queue_stats(es_store *s, int64_t now, es_stats_cb cb, void *ud)
{
    redis_store *rs = store_of(s);
    stats_table t = {0};
    char cursor[32] = "0";
    int rc = 0;
    do {
        redis_args a = {0};
        redisReply *r = NULL;
        if (!redis_args_int(&a, now) && !redis_args_cstr(&a, cursor))
            r = redis_script_call(rs->pool, &rs->scripts, REDIS_SCRIPT_STATS, rs->tag, &a, 0);
        redis_args_free(&a);
        rc = r ? stats_add_page(&t, r, cursor, sizeof cursor) : -1;
        if (r) freeReplyObject(r);
    } while (rc == 0 && strcmp(cursor, "0") != 0);
    if (rc == 0) rc = stats_emit(&t, cb, ud);
    for (size_t i = 0; i < t.n; i++) free(t.rows[i].key);
    free(t.rows);
    return rc;
}

/* Calls cb for one parked group from 10 reply elements (see
 * queue_parked_list.lua). Returns cb's result, or -1 with diag. */
static int parked_emit(redisReply **e, es_parked_cb cb, void *ud)
{
    for (int i = 0; i < 6; i++)
        if (i != 2 && i != 3 && e[i]->type != REDIS_REPLY_STRING) {
            diag_set(DIAG_BACKEND, "redis parked list: malformed reply");
            return -1;
        }
    es_job head = {0};
    if (redis_codec_decode_job(&head, e[5]->str, e[5]->len)) return -1;
    free(head.id);
    head.id = strndup(e[4]->str, e[4]->len);
    head.run_at = reply_int(e[6]);
    head.attempts = (int)reply_int(e[7]);
    head.position = reply_int(e[8]);
    if (e[9]->type == REDIS_REPLY_STRING) head.last_error = strndup(e[9]->str, e[9]->len);
    char *group = strndup(e[0]->str, e[0]->len);
    char *tenant = strndup(e[1]->str, e[1]->len);
    int rc;
    if (!head.id || !group || !tenant) {
        diag_set(DIAG_INTERNAL, "out of memory");
        rc = -1;
    } else {
        es_parked_group g = {group, tenant, head.pipeline, head.component, &head,
                             reply_int(e[3]), reply_int(e[2])};
        rc = cb(ud, &g) ? 1 : 0;
    }
    free(group);
    free(tenant);
    job_clear(&head);
    return rc;
}

int redis_queue_parked_list(es_store *s, const char *tenant_id, es_parked_cb cb, void *ud)
{
    redis_store *rs = store_of(s);
    redis_args a = {0};
    redisReply *r = NULL;
    if (!redis_args_cstr(&a, tenant_id))
        r = redis_script_call(rs->pool, &rs->scripts, REDIS_SCRIPT_PARKED_LIST, rs->tag, &a, 0);
    redis_args_free(&a);
    if (!r) return -1;
    int rc = 0;
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 10 != 0) {
        diag_set(DIAG_BACKEND, "redis parked list: malformed reply");
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < r->elements; i += 10) rc = parked_emit(r->element + i, cb, ud);
    freeReplyObject(r);
    return rc < 0 ? -1 : 0;
}

/* Runs parked_retry or parked_skip on one group: 0, 1 (not parked), -1. */
static int parked_action(es_store *s, redis_script_id id, const char *group_key, int64_t now)
{
    redis_store *rs = store_of(s);
    redis_args a = {0};
    redisReply *r = NULL;
    if (!redis_args_cstr(&a, group_key) && !redis_args_int(&a, now))
        r = redis_script_call(rs->pool, &rs->scripts, id, rs->tag, &a, 0);
    redis_args_free(&a);
    if (!r) return -1;
    int rc = (int)reply_int(r) == 1 ? 1 : 0;
    freeReplyObject(r);
    return rc;
}

int redis_queue_parked_retry(es_store *s, const char *group_key, int64_t now)
{
    return parked_action(s, REDIS_SCRIPT_PARKED_RETRY, group_key, now);
}

int redis_queue_parked_skip(es_store *s, const char *group_key, int64_t now)
{
    return parked_action(s, REDIS_SCRIPT_PARKED_SKIP, group_key, now);
}

int redis_queue_origin_pending(es_store *s, const char *origin_id, unsigned kind_mask,
                               int64_t *count)
{
    redis_store *rs = store_of(s);
    redis_args a = {0};
    char key[512];
    int rc = -1;
    snprintf(key, sizeof key, "%s:origin", rs->tag);
    if (redis_args_str(&a, "HMGET", 5) || redis_args_cstr(&a, key)) goto out;
    for (int kind = JOB_COMMAND; kind <= JOB_REACTOR; kind++) {
        if (!(kind_mask & (1u << kind))) continue;
        char k[4];
        snprintf(k, sizeof k, "%d", kind);
        const char *parts[2] = {origin_id, k};
        if (redis_args_join(&a, parts, 2)) goto out;
    }
    *count = 0;
    if (a.n == 2) {
        rc = 0;
        goto out;
    }
    redisReply *r = redis_conn_command(rs->pool, a.n, a.v, a.len, 0);
    if (!r) goto out;
    if (r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < r->elements; i++) *count += reply_int(r->element[i]);
        rc = 0;
    } else {
        diag_set(DIAG_BACKEND, "redis origin count: %s",
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    }
    freeReplyObject(r);
out:
    redis_args_free(&a);
    return rc;
}
