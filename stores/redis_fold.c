/* redis_fold.c: the fold state of record on Redis, so that a fold always
 * reads its own last write. One hash per fold key,
 *
 *   NAME:fold:{<tenant>}:<table>\31<key>   state = JSON, seq = last applied
 *                                          seq, at = updated at
 *
 * written by one script so state and seq change together; the tenant is the
 * hash tag, spreading tenants over a Redis Cluster. A replay's shadow table
 * "<table>__replay" is just another table name, so its hashes are
 * NAME:fold:{<tenant>}:<table>__replay\31<key>, in the same slot as the live
 * ones of the tenant (scanned, swapped and dropped by redis_replay.c). */
#include "redis_int.h"

#include <stdlib.h>
#include <string.h>

#include "diag.h"

char *redis_fold_key(const redis_store *rs, const char *tenant, const char *table,
                      const char *key)
{
    size_t n = strlen(rs->name) + strlen(tenant) + strlen(table) + strlen(key) + 16;
    char *out = malloc(n);
    if (!out) {
        diag_set(DIAG_INTERNAL, "out of memory");
        return NULL;
    }
    snprintf(out, n, "%s:fold:{%s}:%s\x1f%s", rs->name, tenant, table, key);
    return out;
}

int redis_fold_get(es_store *s, const char *tenant_id, const char *table, const char *key,
                   char **state_json, int64_t *last_seq)
{
    redis_store *rs = (redis_store *)s;
    char *k = redis_fold_key(rs, tenant_id, table, key);
    if (!k) return -1;
    const char *argv[4] = {"HMGET", k, "state", "seq"};
    size_t lens[4] = {5, strlen(k), 5, 3};
    redisReply *r = redis_conn_command(rs->pool, 4, argv, lens, 0);
    free(k);
    if (!r) return -1;
    int rc = -1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        diag_set(DIAG_BACKEND, "redis fold get: %s",
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    } else if (r->element[0]->type != REDIS_REPLY_STRING) {
        rc = 1;
    } else if (!(*state_json = strndup(r->element[0]->str, r->element[0]->len))) {
        diag_set(DIAG_INTERNAL, "out of memory");
    } else {
        *last_seq = r->element[1]->type == REDIS_REPLY_STRING
                        ? strtoll(r->element[1]->str, NULL, 10) : 0;
        rc = 0;
    }
    freeReplyObject(r);
    return rc;
}

int redis_fold_put(es_store *s, const char *tenant_id, const char *table, const char *key,
                   const char *state_json, int64_t last_seq, int64_t updated_at)
{
    redis_store *rs = (redis_store *)s;
    char *k = redis_fold_key(rs, tenant_id, table, key);
    if (!k) return -1;
    redis_args a = {0};
    redisReply *r = NULL;
    if (!redis_args_cstr(&a, state_json) && !redis_args_int(&a, last_seq) &&
        !redis_args_int(&a, updated_at))
        r = redis_script_call(rs->pool, &rs->scripts, REDIS_SCRIPT_FOLD_PUT, k, &a, 0);
    redis_args_free(&a);
    free(k);
    if (!r) return -1;
    freeReplyObject(r);
    return 0;
}
