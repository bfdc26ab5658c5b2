/* redis_replay.c: what a replay needs from the Redis fold store: a table's
 * fold hashes scanned, swapped and dropped as a whole, and the replay
 * checkpoint.
 *
 * Fold hashes have no per-table index (the hot path writes one hash per
 * fold put and nothing else, redis_fold.c), so finding a table's hashes is
 * a SCAN of the keyspace with a MATCH pattern: O(every key in the server)
 * per call, in pages of SCAN_COUNT, never blocking the server for long
 * (on a Redis Cluster: of the tenant's master, or of every master).
 * Replay is an admin operation that calls it a handful of times (shadow
 * scan, catch-up, swap), which is cheap next to folding the log. The hashes
 * found are sorted here by (tenant, key), as fold_scan promises.
 *
 * The swap runs fold_swap.lua once per tenant in scope: the live hashes in
 * scope are deleted (all of them, or only those with a shadow when
 * only_shadowed) and the shadow hashes renamed over them, atomically for
 * the tenant. Every key of a call shares the tenant's hash tag (one slot);
 * the script blocks the server for O(hashes of the tenant). Tenants are
 * swapped one after the other: a reader sees each tenant's old or new
 * states, never a mix within a tenant. The engine pauses the fold and waits
 * for its batches in flight first, so no fold put races the swap.
 *
 * Checkpoints: one hash per (pipeline, projection),
 *   {NAME}:replay:<pipeline>\31<projection>   t = tenant scope, at = after
 *       tenant, aa = after aggregate, done = events done, st = started at,
 *       pf = the replay paused the fold (1/0)
 * in the queue's slot; a put writes every field in one HSET. */
#include "redis_int.h"

#include <stdlib.h>
#include <string.h>

#include "diag.h"

#define SCAN_COUNT "1000"
/* Masters of a Redis Cluster a scan covers. */
#define MAX_MASTERS 256
/* Commands per pipelined round trip when reading or deleting hashes. */
#define BATCH 256

/* One fold hash found by a scan: its Redis key, tenant and fold key. */
typedef struct fold_ref {
    char *rkey, *tenant, *key;
} fold_ref;

typedef struct fold_refs {
    fold_ref *items;
    size_t n, cap;
} fold_refs;

static void refs_free(fold_refs *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].rkey);
        free(l->items[i].tenant);
        free(l->items[i].key);
    }
    free(l->items);
    memset(l, 0, sizeof *l);
}

static int oom(void)
{
    diag_set(DIAG_INTERNAL, "out of memory");
    return -1;
}

/* Appends `s` to `b` (at *n, capacity cap) with glob characters escaped. */
static void glob_escape(char *b, size_t *n, const char *s)
{
    for (; *s; s++) {
        if (strchr("*?[]\\", *s)) b[(*n)++] = '\\';
        b[(*n)++] = *s;
    }
}

/* "NAME:fold:{<tenant or *>}:<table>\31*", malloc'd. */
static char *scan_pattern(const redis_store *rs, const char *tenant, const char *table)
{
    size_t cap = 2 * (strlen(rs->name) + (tenant ? strlen(tenant) : 1) + strlen(table)) + 16;
    char *p = malloc(cap);
    if (!p) return NULL;
    size_t n = 0;
    glob_escape(p, &n, rs->name);
    memcpy(p + n, ":fold:{", 7);
    n += 7;
    if (tenant) glob_escape(p, &n, tenant);
    else p[n++] = '*';
    p[n++] = '}';
    p[n++] = ':';
    glob_escape(p, &n, table);
    memcpy(p + n, "\x1f*", 3);
    return p;
}

/* Splits a scanned key into tenant and fold key (into ref); 1 when it is
 * not a hash of `table` after all (a tenant holding "}:<table>\31"). */
static int parse_key(const redis_store *rs, const char *table, const char *rkey, size_t len,
                     fold_ref *ref)
{
    size_t pre = strlen(rs->name) + 7, tl = strlen(table);
    if (len < pre) return 1;
    const char *rest = rkey + pre, *end = rkey + len;
    for (const char *m = rest; m + tl + 3 <= end; m++) {
        if (m[0] != '}' || m[1] != ':' || memcmp(m + 2, table, tl) != 0 || m[2 + tl] != '\x1f')
            continue;
        ref->rkey = strndup(rkey, len);
        ref->tenant = strndup(rest, (size_t)(m - rest));
        ref->key = strndup(m + 3 + tl, (size_t)(end - (m + 3 + tl)));
        if (ref->rkey && ref->tenant && ref->key) return 0;
        free(ref->rkey);
        free(ref->tenant);
        free(ref->key);
        return -1;
    }
    return 1;
}

static int ref_cmp(const void *a, const void *b)
{
    const fold_ref *x = a, *y = b;
    int c = strcmp(x->tenant, y->tenant);
    return c ? c : strcmp(x->key, y->key);
}

/* Adds the hashes of `table` matching `pattern` (only `key` when not
 * NULL) on the node serving `slot` (-1: the URL's node) to `out`. */
static int fold_list_node(redis_store *rs, int slot, const char *pattern, const char *table,
                          const char *key, fold_refs *out)
{
    char cursor[32] = "0";
    int rc = 0;
    do {
        const char *argv[6] = {"SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT};
        size_t lens[6] = {4, strlen(cursor), 5, strlen(pattern), 5, strlen(SCAN_COUNT)};
        redisReply *r = redis_conn_command_at(rs->pool, slot, 6, argv, lens);
        if (!r) {
            rc = -1;
            break;
        }
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[0]->len >= sizeof cursor ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            diag_set(DIAG_BACKEND, "redis SCAN: %s",
                     r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
            freeReplyObject(r);
            rc = -1;
            break;
        }
        memcpy(cursor, r->element[0]->str, r->element[0]->len);
        cursor[r->element[0]->len] = '\0';
        redisReply *keys = r->element[1];
        for (size_t i = 0; rc == 0 && i < keys->elements; i++) {
            if (keys->element[i]->type != REDIS_REPLY_STRING) continue;
            if (out->n == out->cap) {
                size_t cap = out->cap ? out->cap * 2 : 256;
                fold_ref *grown = realloc(out->items, cap * sizeof *grown);
                if (!grown) {
                    rc = oom();
                    break;
                }
                out->items = grown;
                out->cap = cap;
            }
            fold_ref *ref = &out->items[out->n];
            int got = parse_key(rs, table, keys->element[i]->str, keys->element[i]->len, ref);
            if (got < 0) rc = oom();
            else if (got == 0 && key && strcmp(ref->key, key) != 0) {
                free(ref->rkey);
                free(ref->tenant);
                free(ref->key);
            } else if (got == 0) {
                out->n++;
            }
        }
        freeReplyObject(r);
    } while (rc == 0 && strcmp(cursor, "0") != 0);
    return rc;
}

/* Lists the hashes of `table` (one tenant's when tenant_id is not NULL;
 * only `key` when not NULL), sorted by (tenant, key), without repeats. On
 * a Redis Cluster the scan covers the master serving the tenant's slot, or
 * every master for all tenants (SCAN sees one node's keys). */
static int fold_list(redis_store *rs, const char *tenant_id, const char *table,
                     const char *key, fold_refs *out)
{
    memset(out, 0, sizeof *out);
    int slots[MAX_MASTERS];
    int n = redis_conn_masters(rs->pool, slots, MAX_MASTERS);
    if (n < 0) return -1;
    char *pattern = scan_pattern(rs, tenant_id, table);
    if (!pattern) return oom();
    int rc = 0;
    if (tenant_id && slots[0] >= 0) {
        char *route = redis_fold_key(rs, tenant_id, "", "");
        rc = route ? fold_list_node(rs, redis_key_slot(route, strlen(route)), pattern, table,
                                    key, out)
                   : -1;
        free(route);
    } else {
        for (int i = 0; rc == 0 && i < n; i++)
            rc = fold_list_node(rs, slots[i], pattern, table, key, out);
    }
    free(pattern);
    if (rc != 0) {
        refs_free(out);
        return -1;
    }
    if (out->n > 1) qsort(out->items, out->n, sizeof *out->items, ref_cmp);
    size_t w = 0; /* SCAN may return a key twice (rehashing) */
    for (size_t i = 0; i < out->n; i++) {
        if (w > 0 && ref_cmp(&out->items[w - 1], &out->items[i]) == 0) {
            free(out->items[i].rkey);
            free(out->items[i].tenant);
            free(out->items[i].key);
        } else {
            out->items[w++] = out->items[i];
        }
    }
    out->n = w;
    return 0;
}

/* Runs `cmd` (with one argument per fold hash after it: "HMGET" plus
 * fields, or "DEL") for refs[from..to), pipelined. */
static int batch_run(redis_store *rs, const fold_refs *l, size_t from, size_t to,
                     const char *const *cmd, int n_cmd, redisReply **replies)
{
    int n = (int)(to - from), argc[BATCH];
    const char *argv[BATCH][4];
    size_t lens[BATCH][4];
    const char *const *argvp[BATCH];
    const size_t *lensp[BATCH];
    for (int i = 0; i < n; i++) {
        const fold_ref *ref = &l->items[from + (size_t)i];
        argc[i] = n_cmd + 1;
        argv[i][0] = cmd[0];
        lens[i][0] = strlen(cmd[0]);
        argv[i][1] = ref->rkey;
        lens[i][1] = strlen(ref->rkey);
        for (int k = 1; k < n_cmd; k++) {
            argv[i][k + 1] = cmd[k];
            lens[i][k + 1] = strlen(cmd[k]);
        }
        argvp[i] = argv[i];
        lensp[i] = lens[i];
    }
    return redis_conn_pipeline(rs->pool, n, argc, argvp, lensp, replies);
}

int redis_fold_scan(es_store *s, const char *tenant_id, const char *table, es_fold_cb cb,
                    void *ud)
{
    redis_store *rs = (redis_store *)s;
    fold_refs l;
    if (fold_list(rs, tenant_id, table, NULL, &l) != 0) return -1;
    static const char *const hmget[3] = {"HMGET", "state", "seq"};
    int rc = 0, stop = 0;
    for (size_t from = 0; rc == 0 && !stop && from < l.n; from += BATCH) {
        size_t to = from + BATCH < l.n ? from + BATCH : l.n;
        redisReply *replies[BATCH];
        if (batch_run(rs, &l, from, to, hmget, 3, replies) != 0) {
            rc = -1;
            break;
        }
        for (size_t i = 0; i < to - from; i++) {
            redisReply *r = replies[i];
            if (rc == 0 && !stop && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                r->element[0]->type == REDIS_REPLY_STRING) { /* gone since the SCAN: skip */
                int64_t seq = r->element[1]->type == REDIS_REPLY_STRING
                                  ? strtoll(r->element[1]->str, NULL, 10) : 0;
                stop = cb(ud, l.items[from + i].tenant, l.items[from + i].key,
                          r->element[0]->str, seq) != 0;
            } else if (r->type == REDIS_REPLY_ERROR && rc == 0) {
                diag_set(DIAG_BACKEND, "redis fold scan: %s", r->str);
                rc = -1;
            }
            freeReplyObject(r);
        }
    }
    refs_free(&l);
    return rc;
}

/* Deletes the listed hashes, BATCH per round trip. */
static int refs_delete(redis_store *rs, const fold_refs *l)
{
    static const char *const del[1] = {"DEL"};
    for (size_t from = 0; from < l->n; from += BATCH) {
        size_t to = from + BATCH < l->n ? from + BATCH : l->n;
        redisReply *replies[BATCH];
        if (batch_run(rs, l, from, to, del, 1, replies) != 0) return -1;
        int rc = 0;
        for (size_t i = 0; i < to - from; i++) {
            if (replies[i]->type == REDIS_REPLY_ERROR && rc == 0) {
                diag_set(DIAG_BACKEND, "redis fold drop: %s", replies[i]->str);
                rc = -1;
            }
            freeReplyObject(replies[i]);
        }
        if (rc != 0) return -1;
    }
    return 0;
}

int redis_fold_drop(es_store *s, const char *tenant_id, const char *table, const char *key)
{
    redis_store *rs = (redis_store *)s;
    fold_refs l;
    if (fold_list(rs, tenant_id, table, key, &l) != 0) return -1;
    int rc = refs_delete(rs, &l);
    refs_free(&l);
    return rc;
}

/* Runs fold_swap.lua for one tenant: deletes live[dl..dh) then renames
 * shadow[sl..sh) over their live names. */
static int swap_tenant(redis_store *rs, const char *tenant, const char *table,
                       const fold_refs *live, size_t dl, size_t dh, const fold_refs *shadow,
                       size_t sl, size_t sh)
{
    redis_args a = {0};
    char *route = redis_fold_key(rs, tenant, "", "");
    char **targets = calloc(sh - sl + 1, sizeof *targets);
    int rc = route && targets ? redis_args_int(&a, (int64_t)(dh - dl)) : oom();
    for (size_t i = dl; rc == 0 && i < dh; i++) rc = redis_args_cstr(&a, live->items[i].rkey);
    for (size_t i = sl; rc == 0 && i < sh; i++) {
        targets[i - sl] = redis_fold_key(rs, tenant, table, shadow->items[i].key);
        rc = targets[i - sl] ? redis_args_cstr(&a, shadow->items[i].rkey) : -1;
        if (rc == 0) rc = redis_args_cstr(&a, targets[i - sl]);
    }
    if (rc == 0) {
        redisReply *r = redis_script_call(rs->pool, &rs->scripts, REDIS_SCRIPT_FOLD_SWAP,
                                          route, &a, 0);
        if (r) freeReplyObject(r);
        else rc = -1;
    }
    redis_args_free(&a);
    for (size_t i = 0; targets && i < sh - sl; i++) free(targets[i]);
    free(targets);
    free(route);
    return rc;
}

int redis_fold_swap(es_store *s, const char *tenant_id, const char *table,
                    const char *shadow, const char *key, int only_shadowed)
{
    redis_store *rs = (redis_store *)s;
    fold_refs sh, live = {0};
    if (fold_list(rs, tenant_id, shadow, key, &sh) != 0) return -1;
    int rc = only_shadowed ? 0 : fold_list(rs, tenant_id, table, key, &live);
    /* walk both lists tenant by tenant (both sorted by tenant) */
    size_t i = 0, j = 0;
    while (rc == 0 && (i < sh.n || j < live.n)) {
        const char *tenant = i < sh.n && (j >= live.n ||
                                          strcmp(sh.items[i].tenant, live.items[j].tenant) <= 0)
                                 ? sh.items[i].tenant : live.items[j].tenant;
        size_t si = i, lj = j;
        while (i < sh.n && strcmp(sh.items[i].tenant, tenant) == 0) i++;
        while (j < live.n && strcmp(live.items[j].tenant, tenant) == 0) j++;
        rc = swap_tenant(rs, tenant, table, &live, lj, j, &sh, si, i);
    }
    refs_free(&sh);
    refs_free(&live);
    return rc;
}

/* "{NAME}:replay:<pipeline>\31<projection>", malloc'd. */
static char *checkpoint_key(const redis_store *rs, const char *pipeline, const char *projection)
{
    size_t n = strlen(rs->tag) + strlen(pipeline) + strlen(projection) + 16;
    char *k = malloc(n);
    if (k) snprintf(k, n, "%s:replay:%s\x1f%s", rs->tag, pipeline, projection);
    return k;
}

int redis_replay_checkpoint_get(es_store *s, const char *pipeline, const char *projection,
                                es_replay_checkpoint *out)
{
    redis_store *rs = (redis_store *)s;
    memset(out, 0, sizeof *out);
    char *k = checkpoint_key(rs, pipeline, projection);
    if (!k) return oom();
    const char *argv[8] = {"HMGET", k, "t", "at", "aa", "done", "st", "pf"};
    size_t lens[8] = {5, strlen(k), 1, 2, 2, 4, 2, 2};
    redisReply *r = redis_conn_command(rs->pool, 8, argv, lens, 0);
    free(k);
    if (!r) return -1;
    int rc = -1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 6) {
        diag_set(DIAG_BACKEND, "redis replay checkpoint: %s",
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    } else if (r->element[0]->type != REDIS_REPLY_STRING) {
        rc = 1;
    } else {
        char *v[6] = {0};
        for (int i = 0; i < 6; i++)
            v[i] = r->element[i]->type == REDIS_REPLY_STRING
                       ? strndup(r->element[i]->str, r->element[i]->len) : strdup("");
        out->tenant_id = v[0];
        out->after_tenant = v[1];
        out->after_aggregate = v[2];
        rc = v[0] && v[1] && v[2] && v[3] && v[4] && v[5] ? 0 : oom();
        if (rc == 0) {
            out->events_done = strtoll(v[3], NULL, 10);
            out->started_at = strtoll(v[4], NULL, 10);
            out->paused_fold = (int)strtol(v[5], NULL, 10);
        }
        for (int i = 3; i < 6; i++) free(v[i]);
        if (rc != 0) store_replay_checkpoint_clear(out);
    }
    freeReplyObject(r);
    return rc;
}

int redis_replay_checkpoint_put(es_store *s, const char *pipeline, const char *projection,
                                const es_replay_checkpoint *cp)
{
    redis_store *rs = (redis_store *)s;
    char *k = checkpoint_key(rs, pipeline, projection);
    if (!k) return oom();
    redis_args a = {0};
    int rc = redis_args_cstr(&a, cp ? "HSET" : "DEL");
    if (rc == 0) rc = redis_args_cstr(&a, k);
    if (rc == 0 && cp) {
        const char *fields[3] = {"t", "at", "aa"};
        const char *values[3] = {cp->tenant_id, cp->after_tenant, cp->after_aggregate};
        for (int i = 0; rc == 0 && i < 3; i++) {
            rc = redis_args_cstr(&a, fields[i]);
            if (rc == 0) rc = redis_args_cstr(&a, values[i]);
        }
        if (rc == 0) rc = redis_args_cstr(&a, "done");
        if (rc == 0) rc = redis_args_int(&a, cp->events_done);
        if (rc == 0) rc = redis_args_cstr(&a, "st");
        if (rc == 0) rc = redis_args_int(&a, cp->started_at);
        if (rc == 0) rc = redis_args_cstr(&a, "pf");
        if (rc == 0) rc = redis_args_int(&a, cp->paused_fold);
    }
    redisReply *r = rc == 0 ? redis_conn_command(rs->pool, a.n, a.v, a.len, 0) : NULL;
    redis_args_free(&a);
    free(k);
    if (!r) return -1;
    rc = r->type == REDIS_REPLY_ERROR ? -1 : 0;
    if (rc != 0) diag_set(DIAG_BACKEND, "redis replay checkpoint: %s", r->str);
    freeReplyObject(r);
    return rc;
}
