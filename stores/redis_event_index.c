/* redis_event_index.c: the event log's index on Redis (store.h, event
 * index), so that ClickHouse appends assign seqs and dedupe without a
 * point query per aggregate:
 *
 *   NAME:evidx:<scope>                        the marker: the index's epoch
 *   NAME:ev:<scope>:<epoch>:<tenant>\31<type>\31<aggregate>
 *                                             '#' last seq, a window of
 *                                             recent ids and keys
 *   NAME:evb:<scope>:<epoch>:<tenant>\31<type>\31<aggregate>
 *                                             a bloom filter of the older
 *                                             ids and keys
 *   NAME:evb<j>:<scope>:<epoch>:<tenant>\31<type>\31<aggregate>
 *                                             past 100 events: what evb
 *                                             knew then (j = 0), and big
 *                                             filters of 2,000 ids and
 *                                             keys each
 *
 * (layout of the hash in stores/redis/event_index.lua). Seqs come from one
 * atomic script per call, so two claimants of one aggregate (a lease that
 * expired mid-append) can never be given the same seq. The marker is set
 * only when the event log is empty (SET NX: the first epoch wins and stays)
 * and never replaced: when Redis loses it, the appender sees "not trusted"
 * and goes back to asking the event log itself.
 *
 * Memory is bounded per aggregate (~2.5 kB: the ids and keys of the last 16
 * events in a compact hash, and a 512-byte bloom filter once it has more;
 * past 100 events, 8 kB per 2,000 more, up to 16 such filters), not per
 * event. An event whose id or key the filters may know (a reused key, a
 * retry of an older append, or a false positive) is decided by the event
 * log (event_index_assign returns 2) and then recorded here
 * (event_index_record). A call on an aggregate with big filters carries
 * their positions and bits (a big call); the script asks for one when it
 * needs it, so other calls stay as small as before. */
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

/* The bloom filter's bytes, and a big slice's (event_index.lua:
 * BLOOM_BITS / 8, BIG_BITS / 8). */
#define BLOOM_BYTES 512
#define BIG_BYTES 8192

/* The bloom digits of an event's id and key (event_index.lua), hashed here
 * rather than by the script: the first 12 hex digits of their SHA-1, then
 * its next 12 bytes, the big slices' positions, sent in big calls only;
 * key_is_id: the event's idempotency key is its id (the usual case: key
 * is then unset, the script takes the id's). */
typedef struct event_digits {
    char id[REDIS_BLOOM_DIGITS], key[REDIS_BLOOM_DIGITS];
    int key_is_id;
} event_digits;

/* How many of an event_digits' bytes a call sends: a big call's (for an
 * aggregate with big slices) or another. */
static size_t digits_sent(int big)
{
    return big ? REDIS_BLOOM_DIGITS : 12;
}

static const char *event_key(const es_event *ev)
{
    return ev->idempotency_key ? ev->idempotency_key : ev->id;
}

/* Sets in delta the bits of digits (bit p is bit p % 8 of byte p / 8):
 * the 4 whose positions are its 4 groups of 3 hex digits (event_index.lua:
 * bloom_pos) in delta[0..BLOOM_BYTES), and when big, the 6 whose positions
 * are its 6 big-endian 16-bit numbers after them (big_has) in the
 * BIG_BYTES that follow. */
static void delta_mark(unsigned char *delta, const char digits[REDIS_BLOOM_DIGITS], int big)
{
    for (int g = 0; g < 4; g++) {
        int p = 0;
        for (int k = 0; k < 3; k++) {
            char c = digits[g * 3 + k];
            p = p * 16 + (c <= '9' ? c - '0' : c - 'a' + 10);
        }
        delta[p / 8] |= (unsigned char)(1u << (p % 8));
    }
    if (!big) return;
    const unsigned char *raw = (const unsigned char *)digits + 12;
    for (int g = 0; g < 6; g++) {
        int p = raw[2 * g] << 8 | raw[2 * g + 1];
        delta[BLOOM_BYTES + p / 8] |= (unsigned char)(1u << (p % 8));
    }
}

/* The delta's bytes in a call: the small filter's, and a big call's big
 * slice's after them. */
static size_t delta_size(int big)
{
    return BLOOM_BYTES + (big ? BIG_BYTES : 0);
}

/* The digits of events[0..n) (malloc'd); NULL with a diag on OOM. */
static event_digits *digits_of(const es_event *events, size_t n)
{
    event_digits *d = malloc(n * sizeof *d);
    if (!d) {
        diag_set(DIAG_INTERNAL, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const es_event *ev = &events[i];
        const char *key = event_key(ev);
        redis_sha1_bloom(ev->id, strlen(ev->id), d[i].id);
        d[i].key_is_id = key == ev->id || strcmp(key, ev->id) == 0;
        if (!d[i].key_is_id) redis_sha1_bloom(key, strlen(key), d[i].key);
    }
    return d;
}

/* The delta of the n events whose digits are d (delta_size(big) bytes,
 * malloc'd); NULL with a diag on OOM. */
static unsigned char *delta_of(const event_digits *d, size_t n, int big)
{
    unsigned char *delta = calloc(1, delta_size(big));
    if (!delta) {
        diag_set(DIAG_INTERNAL, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        delta_mark(delta, d[i].id, big);
        if (!d[i].key_is_id) delta_mark(delta, d[i].key, big);
    }
    return delta;
}

/* The 48 bits of SHA-1 in 12 hex digits (lowercase). */
static uint64_t digits_value(const char hex[12])
{
    uint64_t v = 0;
    for (int k = 0; k < 12; k++)
        v = v << 4 | (uint64_t)(hex[k] <= '9' ? hex[k] - '0' : hex[k] - 'a' + 10);
    return v;
}

/* 1 when every event's key is its id and no two of the events' ids share
 * their digits d[0..n) (so no id comes twice: the script's 'assign-ids'); 0
 * otherwise, or on OOM (the general 'assign' then decides). */
static int keys_are_distinct_ids(const event_digits *d, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    uint64_t *seen = calloc(cap, sizeof *seen); /* digits + 1; 0: empty */
    if (!seen) return 0;
    int distinct = 1;
    for (size_t i = 0; distinct && i < n; i++) {
        if (!d[i].key_is_id) distinct = 0;
        uint64_t v = digits_value(d[i].id) + 1;
        size_t at = (size_t)v & (cap - 1); /* SHA-1's bits: spread already */
        while (seen[at] && seen[at] != v) at = (at + 1) & (cap - 1);
        if (seen[at]) distinct = 0;
        seen[at] = v;
    }
    free(seen);
    return distinct;
}

/* One call of the script on events[0..n) (their digits d): mode, now,
 * and for 'record' the outcomes and seqs; ids_only: 'assign-ids'. */
typedef struct index_call_spec {
    const char *scope, *epoch, *mode;
    const es_event *events;
    const event_digits *d;
    size_t n;
    int64_t now;
    /* 'record' only */
    const append_outcome *outcomes;
    int64_t last, base;
} index_call_spec;

/* Adds the arguments of c (a big call's when big, see event_index.lua). */
static int add_call_args(redis_args *a, const index_call_spec *c, int big)
{
    const es_event *first = &c->events[0];
    const char *agg[3] = {first->tenant_id, first->aggregate_type, first->aggregate_id};
    unsigned char *delta = delta_of(c->d, c->n, big);
    int rc = !delta || redis_args_cstr(a, c->scope) || redis_args_cstr(a, c->epoch) ||
                     redis_args_join(a, agg, 3) || redis_args_int(a, c->now) ||
                     redis_args_cstr(a, c->mode) ||
                     redis_args_dup(a, (const char *)delta, delta_size(big))
                 ? -1
                 : 0;
    free(delta);
    int record = strcmp(c->mode, "record") == 0;
    if (rc == 0 && record && (redis_args_int(a, c->last) || redis_args_int(a, c->base)))
        rc = -1;
    int ids_only = strcmp(c->mode, "assign-ids") == 0;
    size_t digits = digits_sent(big);
    for (size_t i = 0; rc == 0 && i < c->n; i++) {
        const es_event *ev = &c->events[i];
        const event_digits *d = &c->d[i];
        if (ids_only) {
            /* the id and its digits */
            rc = redis_args_cstr(a, ev->id) || redis_args_dup(a, d->id, digits) ? -1 : 0;
            continue;
        }
        /* the id and key, then their digits; a key that is the id goes
         * as '' (and its digits too): the script then makes no Lua
         * string of it */
        if (redis_args_cstr(a, ev->id) ||
            redis_args_cstr(a, d->key_is_id ? "" : event_key(ev)) ||
            redis_args_dup(a, d->id, digits) ||
            redis_args_dup(a, d->key, d->key_is_id ? 0 : digits)) {
            rc = -1;
        } else if (record) {
            int fresh = c->outcomes[i] == APPEND_NEW;
            if (redis_args_int(a, fresh ? ev->seq : 0) ||
                redis_args_int(a, fresh ? ev->created_at : 0))
                rc = -1;
        }
    }
    return rc;
}

/* Runs the script for c, a big call when big; its reply, or NULL with a
 * diag. The reply is an array whose first element is an integer. */
static redisReply *index_call_once(redis_store *rs, const index_call_spec *c, int big)
{
    redis_args a = {0};
    if (add_call_args(&a, c, big)) {
        redis_args_free(&a);
        return NULL;
    }
    redisReply *r = redis_script_call(rs->pool, &rs->scripts, REDIS_SCRIPT_EVENT_INDEX, rs->tag,
                                      &a, 0);
    redis_args_free(&a);
    if (r && (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
              r->element[0]->type != REDIS_REPLY_INTEGER)) {
        diag_set(DIAG_BACKEND, "redis event index: unexpected reply");
        freeReplyObject(r);
        r = NULL;
    }
    return r;
}

/* index_call_once for c, sent again big when the script asks for that
 * ({5}: the aggregate has big slices); never a reply of 5. */
static redisReply *index_call(redis_store *rs, const index_call_spec *c)
{
    redisReply *r = index_call_once(rs, c, 0);
    if (r && r->element[0]->integer == 5) {
        freeReplyObject(r);
        r = index_call_once(rs, c, 1);
        if (r && r->element[0]->integer == 5) {
            diag_set(DIAG_BACKEND, "redis event index: a big call refused as not big");
            freeReplyObject(r);
            r = NULL;
        }
    }
    return r;
}

int redis_event_index_assign(es_store *s, const char *scope, const char *epoch,
                             es_event *events, size_t n, int64_t now,
                             append_outcome *outcomes, int64_t *last)
{
    redis_store *rs = (redis_store *)s;
    if (n == 0) return 0;
    event_digits *d = digits_of(events, n);
    if (!d) return -1;
    index_call_spec c = {.scope = scope, .epoch = epoch, .events = events, .d = d, .n = n,
                         .now = now,
                         .mode = keys_are_distinct_ids(d, n) ? "assign-ids" : "assign"};
    redisReply *r = index_call(rs, &c);
    free(d);
    if (!r) return -1;
    int rc = -1;
    long long status = r->element[0]->integer;
    if (status == 0) {
        rc = 1;
    } else if (status == 2 && r->elements == 2 && r->element[1]->type == REDIS_REPLY_INTEGER) {
        *last = r->element[1]->integer;
        rc = 2;
    } else if (status == 4 && r->elements == 3 && r->element[1]->type == REDIS_REPLY_INTEGER &&
               r->element[2]->type == REDIS_REPLY_INTEGER) {
        /* every event new, seqs in order from the first */
        rc = 0;
        for (size_t i = 0; i < n; i++) {
            outcomes[i] = APPEND_NEW;
            events[i].seq = r->element[1]->integer + (int64_t)i;
            events[i].created_at = r->element[2]->integer;
        }
    } else if (status != 1 || r->elements != 1 + 3 * n) {
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

int redis_event_index_record(es_store *s, const char *scope, const char *epoch,
                             const es_event *events, size_t n,
                             const append_outcome *outcomes, int64_t last, int64_t base)
{
    redis_store *rs = (redis_store *)s;
    if (n == 0) return 0;
    event_digits *d = digits_of(events, n);
    if (!d) return -1;
    index_call_spec c = {.scope = scope, .epoch = epoch, .mode = "record", .events = events,
                         .d = d, .n = n, .outcomes = outcomes, .last = last, .base = base};
    redisReply *r = index_call(rs, &c);
    free(d);
    if (!r) return -1;
    long long status = r->element[0]->integer;
    freeReplyObject(r);
    return status == 0 ? 1 : status == 3 ? 2 : 0;
}
