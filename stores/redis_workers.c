/* redis_workers.c: the worker registry on Redis: one hash {NAME}:workers,
 * worker id -> its last beat as fields joined by \x1f (host, pid, role,
 * threads, jobs done, jobs/s, generation, started at, lease ms, last beat).
 * A beat is one HSET; a listing is one HGETALL (a fleet has few processes)
 * plus one HDEL of the entries old enough to prune. */
#include "redis_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"

#define WORKER_FIELDS 10

static redis_store *store_of(es_store *s) { return (redis_store *)s; }

int redis_worker_beat(es_store *s, const es_worker_info *w, int64_t now)
{
    redis_store *rs = store_of(s);
    if (!w->id || !*w->id) {
        diag_set(DIAG_INVALID, "worker beat: an id is required");
        return -1;
    }
    char key[512], pid[24], threads[24], done[24], rate[40], started[24], lease[24], beat[24];
    snprintf(key, sizeof key, "%s:workers", rs->tag);
    snprintf(pid, sizeof pid, "%" PRId64, w->pid);
    snprintf(threads, sizeof threads, "%d", w->threads);
    snprintf(done, sizeof done, "%" PRId64, w->jobs_done);
    snprintf(rate, sizeof rate, "%.17g", w->jobs_per_s);
    snprintf(started, sizeof started, "%" PRId64, w->started_at);
    snprintf(lease, sizeof lease, "%" PRId64, w->lease_ms);
    snprintf(beat, sizeof beat, "%" PRId64, now);
    const char *parts[WORKER_FIELDS] = {w->host,  pid,     w->role, threads,
                                        done,     rate,    w->generation,
                                        started,  lease,   beat};
    redis_args a = {0};
    int rc = -1;
    if (redis_args_str(&a, "HSET", 4) || redis_args_cstr(&a, key) ||
        redis_args_cstr(&a, w->id) || redis_args_join(&a, parts, WORKER_FIELDS))
        goto out;
    redisReply *r = redis_conn_command(rs->pool, a.n, a.v, a.len, 0);
    if (!r) goto out;
    if (r->type == REDIS_REPLY_ERROR) diag_set(DIAG_BACKEND, "redis worker beat: %s", r->str);
    else rc = 0;
    freeReplyObject(r);
out:
    redis_args_free(&a);
    return rc;
}

/* A decoded entry: strings point into `buf` (a copy of the value). */
typedef struct worker_entry {
    es_worker_info info;
    char *buf;
} worker_entry;

/* Decodes a beat value; -1 when malformed (the entry is then skipped). */
static int worker_decode(worker_entry *e, const char *id, const char *value, size_t len)
{
    e->buf = malloc(len + 1);
    if (!e->buf) return -1;
    memcpy(e->buf, value, len);
    e->buf[len] = '\0';
    char *f[WORKER_FIELDS];
    char *p = e->buf;
    for (int i = 0; i < WORKER_FIELDS; i++) {
        f[i] = p;
        char *sep = strchr(p, '\x1f');
        if (!sep && i < WORKER_FIELDS - 1) {
            free(e->buf);
            e->buf = NULL;
            return -1;
        }
        if (sep) {
            *sep = '\0';
            p = sep + 1;
        }
    }
    e->info = (es_worker_info){
        .id = id,
        .host = f[0],
        .pid = strtoll(f[1], NULL, 10),
        .role = f[2],
        .threads = (int)strtol(f[3], NULL, 10),
        .jobs_done = strtoll(f[4], NULL, 10),
        .jobs_per_s = strtod(f[5], NULL),
        .generation = f[6],
        .started_at = strtoll(f[7], NULL, 10),
        .lease_ms = strtoll(f[8], NULL, 10),
        .last_beat = strtoll(f[9], NULL, 10),
    };
    return 0;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const worker_entry *)a)->info.id, ((const worker_entry *)b)->info.id);
}

/* HDELs the ids of pruned entries (args already hold HDEL and the key). */
static int worker_prune(redis_store *rs, redis_args *a)
{
    redisReply *r = redis_conn_command(rs->pool, a->n, a->v, a->len, 0);
    if (!r) return -1;
    int rc = 0;
    if (r->type == REDIS_REPLY_ERROR) {
        diag_set(DIAG_BACKEND, "redis worker prune: %s", r->str);
        rc = -1;
    }
    freeReplyObject(r);
    return rc;
}

int redis_worker_list(es_store *s, int64_t now, es_worker_cb cb, void *ud)
{
    redis_store *rs = store_of(s);
    char key[512];
    snprintf(key, sizeof key, "%s:workers", rs->tag);
    const char *argv[2] = {"HGETALL", key};
    size_t lens[2] = {7, strlen(key)};
    redisReply *r = redis_conn_command(rs->pool, 2, argv, lens, 0);
    if (!r) return -1;
    if (r->type != REDIS_REPLY_ARRAY) {
        diag_set(DIAG_BACKEND, "redis worker list: %s",
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        freeReplyObject(r);
        return -1;
    }
    size_t n_pairs = r->elements / 2;
    worker_entry *entries = calloc(n_pairs ? n_pairs : 1, sizeof *entries);
    redis_args prune = {0};
    int rc = -1;
    if (!entries || redis_args_str(&prune, "HDEL", 4) || redis_args_cstr(&prune, key)) {
        diag_set(DIAG_INTERNAL, "out of memory listing workers");
        goto out;
    }
    size_t n = 0;
    for (size_t i = 0; i < n_pairs; i++) {
        const redisReply *id = r->element[2 * i], *value = r->element[2 * i + 1];
        if (id->type != REDIS_REPLY_STRING || value->type != REDIS_REPLY_STRING) continue;
        if (worker_decode(&entries[n], id->str, value->str, value->len) != 0) continue;
        int state = store_worker_age_state(entries[n].info.last_beat,
                                           entries[n].info.lease_ms, now);
        if (state == 2) {
            free(entries[n].buf);
            entries[n].buf = NULL;
            if (redis_args_cstr(&prune, id->str)) goto out;
            continue;
        }
        entries[n++].info.lost = state;
    }
    if (prune.n > 2 && worker_prune(rs, &prune) != 0) goto out;
    if (n > 1) qsort(entries, n, sizeof *entries, entry_cmp);
    for (size_t i = 0; i < n; i++)
        if (cb(ud, &entries[i].info) != 0) break;
    rc = 0;
out:
    if (entries)
        for (size_t i = 0; i < n_pairs; i++) free(entries[i].buf);
    free(entries);
    redis_args_free(&prune);
    freeReplyObject(r);
    return rc;
}
