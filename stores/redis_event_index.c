/* redis_event_index.c: the event log's index on Redis (store.h, event
 * index), so that ClickHouse appends assign seqs and dedupe without a
 * point query per aggregate:
 *
 *   NAME:evidx:<scope>                        the marker: the index's epoch
 *   NAME:ev:<scope>:<epoch>:<tenant>\31<type>\31<aggregate>
 *                                             '#' last seq, 'i'<id>, 'k'<key>
 *
 * (layout of the hash in stores/redis/event_index.lua). Seqs come from one
 * atomic script per call, so two claimants of one aggregate (a lease that
 * expired mid-append) can never be given the same seq. The marker is set
 * only when the event log is empty (SET NX: the first epoch wins and stays)
 * and never replaced: when Redis loses it, the appender sees "not trusted"
 * and goes back to asking the event log itself. Memory: one hash field per
 * event (two when its idempotency key is not its id), ~60 bytes each. */
#include "redis_int.h"

#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "ids.h"

/* "NAME:evidx:<scope>", malloc'd. */
static char *marker_key(const redis_store *rs, const char *scope)
{
    size_t n = strlen(rs->tag) + strlen(scope) + 16;
    char *k = malloc(n);
    if (k) snprintf(k, n, "%s:evidx:%s", rs->tag, scope);
    else diag_set(DIAG_INTERNAL, "out of memory");
    return k;
}

int redis_event_index_init(es_store *s, const char *scope, int log_empty, char **epoch)
{
    redis_store *rs = (redis_store *)s;
    char *k = marker_key(rs, scope);
    if (!k) return -1;
    *epoch = NULL;
    if (log_empty) {
        char fresh[ID_HEX_LEN + 1];
        ids_random(fresh);
        const char *argv[4] = {"SET", k, fresh, "NX"};
        size_t lens[4] = {3, strlen(k), strlen(fresh), 2};
        redisReply *r = redis_conn_command(rs->pool, 4, argv, lens, 0);
        if (!r) {
            free(k);
            return -1;
        }
        freeReplyObject(r); /* nil: an epoch was there already, kept */
    }
    const char *argv[2] = {"GET", k};
    size_t lens[2] = {3, strlen(k)};
    redisReply *r = redis_conn_command(rs->pool, 2, argv, lens, 0);
    free(k);
    if (!r) return -1;
    int rc = 1;
    if (r->type == REDIS_REPLY_STRING) {
        *epoch = strndup(r->str, r->len);
        rc = *epoch ? 0 : (diag_set(DIAG_INTERNAL, "out of memory"), -1);
    }
    freeReplyObject(r);
    return rc;
}

int redis_event_index_assign(es_store *s, const char *scope, const char *epoch,
                             es_event *events, size_t n, int64_t now,
                             append_outcome *outcomes)
{
    redis_store *rs = (redis_store *)s;
    if (n == 0) return 0;
    const char *agg[3] = {events[0].tenant_id, events[0].aggregate_type,
                          events[0].aggregate_id};
    redis_args a = {0};
    int rc = redis_args_cstr(&a, scope) || redis_args_cstr(&a, epoch) ||
                     redis_args_join(&a, agg, 3) || redis_args_int(&a, now)
                 ? -1 : 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (redis_args_cstr(&a, events[i].id) ||
            redis_args_cstr(&a, events[i].idempotency_key ? events[i].idempotency_key
                                                          : events[i].id))
            rc = -1;
    redisReply *r = rc == 0
                        ? redis_script_call(rs->pool, &rs->scripts, REDIS_SCRIPT_EVENT_INDEX,
                                            rs->tag, &a, 0)
                        : NULL;
    redis_args_free(&a);
    if (!r) return -1;
    rc = -1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_INTEGER) {
        diag_set(DIAG_BACKEND, "redis event index: unexpected reply");
    } else if (r->element[0]->integer == 0) {
        rc = 1;
    } else if (r->elements != 1 + 3 * n) {
        diag_set(DIAG_BACKEND, "redis event index: %zu answers for %zu events",
                 r->elements, n);
    } else {
        rc = 0;
        for (size_t i = 0; i < n; i++) {
            redisReply **e = &r->element[1 + 3 * i];
            outcomes[i] = (append_outcome)e[0]->integer;
            if (outcomes[i] == APPEND_DUPLICATE) continue;
            events[i].seq = e[1]->integer;
            events[i].created_at = e[2]->integer;
        }
    }
    freeReplyObject(r);
    return rc;
}
