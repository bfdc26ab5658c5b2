/* redis_queue.c: the job queue's dispatch operations (enqueue, claim,
 * extend, complete, fail) on Redis; the logic runs in Redis as the
 * stores/redis/queue_*.lua scripts, one atomic script per operation.
 *
 * Keys of queue NAME (all share the hash tag {NAME}, so a queue lives in
 * one Redis Cluster slot; \31 is the unit separator 0x1f, \30 the record
 * separator 0x1e):
 *
 *   {NAME}:g:<group>      list  the group's jobs, FIFO (head = index 0),
 *                               one element each: "id\30record" for an
 *                               inline job, the id alone for a keyed one
 *                               (queue_lib.lua). The record holds run_at,
 *                               position, attempts, enqueued at, items
 *                               (queue stats count items), stats key,
 *                               group and dedup key (dedup jobs), origin
 *                               key (only jobs with an origin), last
 *                               error, what a parked skip leaves, and the
 *                               blob (static fields, redis_codec.c).
 *                               Inline: a job without dedup key nor
 *                               origin whose id is fresh (es_job
 *                               fresh_id), so an enqueue, claim and
 *                               completion touch only the list
 *   {NAME}:j:<job id>     string a keyed job's record (one string, so
 *                               that the records of a call go in one
 *                               MSET or MGET; a hash before that layout)
 *   {NAME}:m:<group>      hash  group state: t = tenant, s = ready | due |
 *                               claimed | parked | held, tok = fencing token,
 *                               lu = lease until, n = jobs claimed,
 *                               w = worker, x = 2 when every claimed job
 *                               is inline, 1 when none has a dedup key
 *                               or origin, else 0; pa = parked at; f = 1
 *                               for a fast group (only inline jobs, due
 *                               when queued: its claims are read by the
 *                               claimer, queue_lib.lua)
 *   {NAME}:rt:<tenant>    zset  ready groups of a tenant -> ready since
 *   {NAME}:tenants        zset  tenants with ready groups -> round-robin
 *                               ticket (a served tenant goes to the back)
 *   {NAME}:due            zset  groups whose head is not due -> its run_at
 *   {NAME}:leases         zset  claimed groups -> lease until
 *   {NAME}:parked         zset  parked groups -> parked at
 *   {NAME}:dedup          hash  tenant\31dedup_id -> job id holding it
 *   {NAME}:origin         hash  origin_id\31kind -> queued jobs (jobs
 *                               without an origin cost nothing here)
 *   {NAME}:groups         set   groups holding jobs (walked by stats)
 *   {NAME}:wake           list  wakeup tokens (at most 64) for idle claims
 *   {NAME}:dead           list  skipped jobs as JSON (last 1000)
 *   {NAME}:seq, :tok, :rr string counters: positions, tokens, tickets
 *   {NAME}:workers        hash  worker id -> its last beat (redis_workers.c)
 *   {NAME}:pauses         hash  pipeline\31component\31tenant -> mode\31
 *                               paused at ('' = whole pipeline / every
 *                               tenant; redis_pause.c)
 *   {NAME}:held:<pipeline> set  groups held by a pause (state held)
 *
 * A group is in exactly one of: a tenant's ready zset, the due zset, the
 * leases zset, the parked zset, its pipeline's held set. A claim moves at
 * most 16 expired leases and 64 due groups into the ready zsets, pops the
 * first tenant and its oldest ready group: O(log n) per claimed group,
 * never a scan of the ready set. A popped group covered by a pause (one
 * HMGET of the pauses hash) goes to its pipeline's held set instead, once;
 * a resume puts the held groups back (queue_pause_set.lua).
 * Completed jobs are deleted, and an empty group's keys with them. Fold
 * state keys are described in redis_fold.c.
 *
 * Idle claims block on BLPOP {NAME}:wake, which enqueue, complete, fail
 * and unpark signal; the wait is cut short at the next due time so a
 * delayed job or an expired lease is picked up on time. Redis times out
 * blocked clients on its cron tick (100 ms at hz 10), so the last stretch
 * before a due time is slept client-side instead. */
#include "redis_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "diag.h"
#include "text_format.h"

/* Jobs per enqueue script call, the byte budget of one call, and how many
 * calls are pipelined at once. */
#define ENQUEUE_CHUNK_JOBS 250
#define ENQUEUE_CHUNK_BYTES (8u << 20)
#define ENQUEUE_PIPELINE 8
/* Below this distance to a due time, an idle claim sleeps instead of
 * blocking in Redis (whose timeouts fire on a 100 ms tick). */
#define CLAIM_PRECISE_MS 150

static redis_store *store_of(es_store *s) { return (redis_store *)s; }

/* Builds the arguments of jobs [from, to) that fp did not push (those
 * with an element built take it as it is). */
static int enqueue_chunk_build(redis_store *rs, redis_enqueue_chunk *c, const es_job *jobs,
                               redis_fast_push *fp, size_t from, size_t to, int64_t now)
{
    memset(c, 0, sizeof *c);
    if (redis_args_int(&c->args, now)) return -1;
    size_t n = 0;
    for (size_t i = from; i < to; i++) n += !fp->pushed[i];
    if (redis_args_int(&c->args, (int64_t)n)) return -1;
    for (size_t i = from; i < to; i++) {
        if (fp->pushed[i]) continue;
        char *e = fp->element[i];
        fp->element[i] = NULL;
        if (e ? redis_enqueue_chunk_add_element(rs, c, &jobs[i], e, fp->len[i])
              : redis_enqueue_chunk_add(rs, c, &jobs[i], 0, now))
            return -1;
    }
    return 0;
}

/* Sends up to ENQUEUE_PIPELINE chunks at once: the client encodes while
 * Redis runs, and one round trip covers them all. */
static int enqueue_send(redis_store *rs, redis_enqueue_chunk *chunks, int n)
{
    redis_args args[ENQUEUE_PIPELINE];
    redisReply *replies[ENQUEUE_PIPELINE];
    for (int i = 0; i < n; i++) args[i] = chunks[i].args;
    if (redis_script_call_many(rs->pool, &rs->scripts, REDIS_SCRIPT_ENQUEUE, rs->tag, n, args,
                               replies))
        return -1;
    for (int i = 0; i < n; i++) freeReplyObject(replies[i]);
    return 0;
}

int redis_queue_enqueue(es_store *s, const es_job *jobs, size_t n, int64_t now)
{
    redis_store *rs = store_of(s);
    for (size_t i = 0; i < n; i++)
        if (redis_enqueue_validate(rs, &jobs[i], i)) return -1;
    return n ? redis_enqueue_grouped(rs, jobs, n, now) : 0;
}

int redis_queue_enqueue_now(redis_store *rs, const es_job *jobs, size_t n, int64_t now)
{
    redis_fast_push fp;
    if (redis_enqueue_fast_push(rs, jobs, n, now, &fp) != 0) {
        redis_fast_push_free(&fp);
        return -1;
    }
    redis_enqueue_chunk chunks[ENQUEUE_PIPELINE];
    int n_chunks = 0, rc = 0;
    size_t from = 0;
    while (from < n && fp.pushed[from]) from++;
    while (rc == 0 && from < n) {
        size_t to = from, bytes = 0, jobs_in = 0;
        while (to < n && jobs_in < ENQUEUE_CHUNK_JOBS &&
               (jobs_in == 0 || bytes + jobs[to].payload_len < ENQUEUE_CHUNK_BYTES)) {
            if (!fp.pushed[to]) {
                bytes += jobs[to].payload_len;
                jobs_in++;
            }
            to++;
        }
        rc = enqueue_chunk_build(rs, &chunks[n_chunks++], jobs, &fp, from, to, now);
        from = to;
        while (from < n && fp.pushed[from]) from++;
        if (rc == 0 && (n_chunks == ENQUEUE_PIPELINE || from == n))
            rc = enqueue_send(rs, chunks, n_chunks);
        if (rc != 0 || n_chunks == ENQUEUE_PIPELINE || from == n) {
            for (int i = 0; i < n_chunks; i++) redis_enqueue_chunk_free(&chunks[i]);
            n_chunks = 0;
        }
    }
    redis_fast_push_free(&fp);
    return rc;
}

static int64_t reply_int(const redisReply *r)
{
    if (r->type == REDIS_REPLY_INTEGER) return r->integer;
    if (r->type == REDIS_REPLY_STRING) return strtoll(r->str, NULL, 10);
    return 0;
}

/* The next "<decimal>\x1f" of record [*p, end) as a number; advances *p. */
static int record_number(const char **p, const char *end, int64_t *out)
{
    const char *sep = memchr(*p, 0x1f, (size_t)(end - *p));
    if (!sep || text_parse_int64(*p, (size_t)(sep - *p), out) != 0) return -1;
    *p = sep + 1;
    return 0;
}

/* The next "<len>:<bytes>" or "~" (absent: *v = NULL) of record [*p, end);
 * advances *p. */
static int record_string(const char **p, const char *end, const char **v, size_t *len)
{
    if (*p < end && **p == '~') {
        *v = NULL;
        *len = 0;
        (*p)++;
        return 0;
    }
    const char *colon = memchr(*p, ':', (size_t)(end - *p));
    if (!colon || colon == *p) return -1;
    size_t n = 0;
    for (const char *c = *p; c < colon; c++) {
        if (*c < '0' || *c > '9') return -1;
        n = n * 10 + (size_t)(*c - '0');
    }
    if (n > (size_t)(end - colon - 1)) return -1;
    *v = colon + 1;
    *len = n;
    *p = colon + 1 + n;
    return 0;
}

/* Fills one claimed job from its pair of the claim's reply: a keyed job's
 * id and record (read at its key), or an inline job's list element
 * ("id\30record") and '' (rrec NULL: an element the claimer read itself)
 * (queue_lib.lua; a
 * record: x, then run_at, position, attempts, enqueued at, items, then
 * stats key, group, dedup key, origin key, error, skip record, then the
 * blob). */
static int claim_fill_job(es_job *job, const redisReply *rid, const redisReply *rrec)
{
    if (rid->type != REDIS_REPLY_STRING || (rrec && rrec->type != REDIS_REPLY_STRING)) {
        diag_set(DIAG_BACKEND, "redis claim: malformed reply");
        return -1;
    }
    const char *id_str = rid->str, *p = rrec ? rrec->str : NULL;
    const char *end = rrec ? rrec->str + rrec->len : NULL;
    size_t id_len = rid->len;
    const char *sep = memchr(rid->str, RECORD_INLINE_SEP, rid->len);
    if (sep) {
        id_len = (size_t)(sep - rid->str);
        p = sep + 1;
        end = rid->str + rid->len;
    } else if (!rrec) {
        diag_set(DIAG_BACKEND, "redis claim: a fast group holds a keyed job");
        return -1;
    }
    if (end - p < 1) {
        diag_set(DIAG_BACKEND, "redis claim: malformed reply");
        return -1;
    }
    p++; /* x */
    int64_t run_at, pos, attempts, enqueued_at, items;
    const char *str[6];
    size_t len[6];
    int bad = record_number(&p, end, &run_at) || record_number(&p, end, &pos) ||
              record_number(&p, end, &attempts) || record_number(&p, end, &enqueued_at) ||
              record_number(&p, end, &items);
    for (int i = 0; !bad && i < 6; i++) bad = record_string(&p, end, &str[i], &len[i]);
    if (bad) {
        diag_set(DIAG_BACKEND, "redis claim: malformed job record");
        return -1;
    }
    if (redis_codec_decode_job(job, p, (size_t)(end - p))) return -1;
    char *id = strndup(id_str, id_len);
    char *err = str[4] ? strndup(str[4], len[4]) : NULL;
    if (!id || (str[4] && !err)) {
        free(id);
        free(err);
        job_clear(job);
        diag_set(DIAG_INTERNAL, "out of memory");
        return -1;
    }
    free(job->id);
    job->id = id; /* a debounced job keeps the id it was queued under */
    job->run_at = run_at;
    job->attempts = (int)attempts;
    job->position = pos;
    job->last_error = err;
    return 0;
}

/* The first n elements of group g's list (LRANGE), for a fast claim
 * (queue_claim.lua); NULL with diag unless it is an array of n. */
static redisReply *read_fast_jobs(redis_store *rs, const redisReply *g, long long n)
{
    if (g->type != REDIS_REPLY_STRING || n < 1) {
        diag_set(DIAG_BACKEND, "redis claim: malformed reply");
        return NULL;
    }
    size_t klen = strlen(rs->tag) + 3 + g->len;
    char *key = malloc(klen + 1), stop[24];
    if (!key) {
        diag_set(DIAG_INTERNAL, "out of memory");
        return NULL;
    }
    snprintf(key, klen + 1, "%s:g:", rs->tag);
    memcpy(key + klen - g->len, g->str, g->len);
    stop[text_decimal(stop, n - 1)] = '\0';
    const char *argv[4] = {"LRANGE", key, "0", stop};
    size_t lens[4] = {6, klen, 1, strlen(stop)};
    redisReply *r = redis_conn_command(rs->pool, 4, argv, lens, 0);
    free(key);
    if (r && (r->type != REDIS_REPLY_ARRAY || (long long)r->elements != n)) {
        diag_set(DIAG_BACKEND, "redis claim: the claimed jobs of a fast group are missing");
        freeReplyObject(r);
        r = NULL;
    }
    return r;
}

/* The records of the keyed jobs of claim reply r (those whose record is
 * nil: queue_claim.lua), in one MGET, in reply order; NULL with diag
 * unless every one is a string. *none set when there is none to read. */
static redisReply *read_keyed_records(redis_store *rs, const redisReply *r, int *none)
{
    size_t n = (r->elements - 3) / 2, n_keyed = 0;
    redis_args a = {0};
    redisReply *recs = NULL;
    *none = 1;
    if (redis_args_cstr(&a, "MGET")) goto out;
    for (size_t i = 0; i < n; i++) {
        const redisReply *id = r->element[3 + i * 2];
        if (r->element[4 + i * 2]->type != REDIS_REPLY_NIL) continue;
        if (id->type != REDIS_REPLY_STRING) {
            diag_set(DIAG_BACKEND, "redis claim: malformed reply");
            goto out;
        }
        size_t tl = strlen(rs->tag), klen = tl + 3 + id->len;
        char *key = malloc(klen);
        if (!key) {
            diag_set(DIAG_INTERNAL, "out of memory");
            goto out;
        }
        memcpy(key, rs->tag, tl);
        memcpy(key + tl, ":j:", 3);
        memcpy(key + tl + 3, id->str, id->len);
        int failed = redis_args_dup(&a, key, klen);
        free(key);
        if (failed) goto out;
        n_keyed++;
    }
    *none = n_keyed == 0;
    if (*none) goto out;
    recs = redis_conn_command(rs->pool, a.n, a.v, a.len, 0);
    if (!recs) goto out;
    int bad = recs->type != REDIS_REPLY_ARRAY || recs->elements != n_keyed;
    for (size_t i = 0; !bad && i < n_keyed; i++) bad = recs->element[i]->type != REDIS_REPLY_STRING;
    if (bad) {
        diag_set(DIAG_BACKEND, "redis claim: the records of claimed jobs are missing");
        freeReplyObject(recs);
        recs = NULL;
    }
out:
    redis_args_free(&a);
    return recs;
}

/* Turns a successful claim reply into `out`: the pairs of its jobs (the
 * records of keyed ones read here), or, for a fast group ({token,
 * lease_until, group, n}), its first n list elements, read here. */
static int claim_parse(redis_store *rs, const redisReply *r, es_claim *out)
{
    int fast = r->elements == 4, none = 1;
    redisReply *elems = fast ? read_fast_jobs(rs, r->element[2], reply_int(r->element[3])) : NULL;
    redisReply *recs = fast ? NULL : read_keyed_records(rs, r, &none);
    if ((fast && !elems) || (!fast && !none && !recs)) return -1;
    size_t n = fast ? elems->elements : (r->elements - 3) / 2, k = 0;
    int rc = -1;
    memset(out, 0, sizeof *out);
    out->token = reply_int(r->element[0]);
    out->lease_until = reply_int(r->element[1]);
    out->group_key = strndup(r->element[2]->str, r->element[2]->len);
    out->jobs = calloc(n ? n : 1, sizeof *out->jobs);
    if (!out->group_key || !out->jobs) {
        diag_set(DIAG_INTERNAL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const redisReply *rec = fast ? NULL : r->element[4 + i * 2];
        if (rec && rec->type == REDIS_REPLY_NIL) rec = recs->element[k++];
        if (claim_fill_job(&out->jobs[i], fast ? elems->element[i] : r->element[3 + i * 2], rec))
            goto out;
        out->n = i + 1;
    }
    rc = 0;
out:
    if (rc != 0) store_claim_clear(out);
    if (elems) freeReplyObject(elems);
    if (recs) freeReplyObject(recs);
    return rc;
}

/* One claim attempt at `now`: 0 claimed, 1 nothing (with *next the time
 * something may become ready, -1 unknown), -1 error. */
static int claim_once(redis_store *rs, const char *worker_id, size_t max_jobs, int64_t now,
                      int64_t lease_ms, es_claim *out, int64_t *next)
{
    redis_args a = {0};
    int rc = -1;
    if (redis_args_int(&a, now) || redis_args_int(&a, lease_ms) ||
        redis_args_int(&a, (int64_t)(max_jobs ? max_jobs : 1)) ||
        redis_args_cstr(&a, worker_id))
        goto out;
    redisReply *r = redis_script_call(rs->pool, &rs->scripts, REDIS_SCRIPT_CLAIM, rs->tag, &a, 0);
    if (!r) goto out;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2) {
        diag_set(DIAG_BACKEND, "redis claim: malformed reply");
    } else if (reply_int(r->element[0]) == 0) {
        *next = reply_int(r->element[1]);
        rc = 1;
    } else if (r->elements < 3 || ((r->elements - 3) % 2 != 0 && r->elements != 4)) {
        diag_set(DIAG_BACKEND, "redis claim: malformed reply");
    } else {
        rc = claim_parse(rs, r, out);
    }
    freeReplyObject(r);
out:
    redis_args_free(&a);
    return rc;
}

/* Blocks up to `ms` on the wakeup list. 0, or -1 with diag. */
static int claim_block(redis_store *rs, int64_t ms)
{
    char key[512], timeout[32];
    int klen = snprintf(key, sizeof key, "%s:wake", rs->tag);
    if (klen < 0 || (size_t)klen >= sizeof key) {
        clock_sleep_ms(ms);
        return 0;
    }
    int tlen = snprintf(timeout, sizeof timeout, "%.3f", (double)(ms < 1 ? 1 : ms) / 1000.0);
    const char *argv[3] = {"BLPOP", key, timeout};
    size_t lens[3] = {5, (size_t)klen, (size_t)tlen};
    redisReply *r = redis_conn_command(rs->pool, 3, argv, lens, (int)ms);
    if (!r) return -1;
    freeReplyObject(r);
    return 0;
}

int redis_queue_claim(es_store *s, const char *worker_id, size_t max_jobs, int64_t now,
                      int64_t lease_ms, int wait_ms, es_claim *out)
{
    redis_store *rs = store_of(s);
    int64_t start = clock_monotonic_ms();
    for (;;) {
        int64_t elapsed = clock_monotonic_ms() - start;
        /* Both clocks are truncated to ms, so now + elapsed can run up to
         * 1 ms ahead of the wall clock: stay 1 ms behind, never early. */
        int64_t at = now + (elapsed > 0 ? elapsed - 1 : 0), next = -1;
        int rc = claim_once(rs, worker_id, max_jobs, at, lease_ms, out, &next);
        if (rc != 1) return rc;
        /* more due groups than one claim moves, or paused groups held:
         * what is ready now is not known yet */
        if (next >= 0 && next <= at) continue;
        if (wait_ms <= 0 || elapsed >= wait_ms) return rc;
        int64_t left = wait_ms - elapsed;
        int64_t until_due = next >= 0 ? next - at : left + 1;
        if (until_due <= left && until_due <= CLAIM_PRECISE_MS) {
            clock_sleep_ms(until_due);
            continue;
        }
        int64_t block = until_due <= left ? until_due - (CLAIM_PRECISE_MS - 40) : left;
        if (claim_block(rs, block)) return -1;
    }
}

/* Runs a token-checked script on a claim; -1 from the script is a stale
 * token (DIAG_CONFLICT). Returns the script's integer, or -1 with diag. */
static int claim_script(redis_store *rs, redis_script_id id, const es_claim *claim,
                        redis_args *a, int64_t *result)
{
    redisReply *r = redis_script_call(rs->pool, &rs->scripts, id, rs->tag, a, 0);
    if (!r) return -1;
    int64_t v = reply_int(r);
    int ok = r->type == REDIS_REPLY_INTEGER;
    freeReplyObject(r);
    if (!ok) {
        diag_set(DIAG_BACKEND, "redis queue: malformed reply");
        return -1;
    }
    if (v < 0) {
        diag_set(DIAG_CONFLICT, "claim of group %s (token %lld) is no longer held",
                 claim->group_key, (long long)claim->token);
        return -1;
    }
    if (result) *result = v;
    return 0;
}

int redis_queue_extend(es_store *s, es_claim *claim, int64_t now, int64_t lease_ms)
{
    redis_store *rs = store_of(s);
    redis_args a = {0};
    int64_t lease_until = 0;
    int rc = -1;
    if (!redis_args_cstr(&a, claim->group_key) && !redis_args_int(&a, claim->token) &&
        !redis_args_int(&a, now) && !redis_args_int(&a, lease_ms))
        rc = claim_script(rs, REDIS_SCRIPT_EXTEND, claim, &a, &lease_until);
    if (rc == 0) claim->lease_until = lease_until;
    redis_args_free(&a);
    return rc;
}

/* Claims per finish script call, and its byte budget of jobs: a call
 * blocks Redis while it runs (~40 us a claim, ~1 ns a byte of the jobs it
 * enqueues), so many claims go as several calls, pipelined. */
#define FINISH_CHUNK_CLAIMS 64
#define FINISH_CHUNK_BYTES (1u << 20)

/* Finishes claims[0..n) (n_done[i] jobs of claim i, NULL: every job; with
 * jobs[i][0..n_jobs[i]), NULL: none): pipelined calls of queue_finish.lua,
 * status[i] 0 or -1 (stale token). 0, or -1 with diag when the calls
 * failed. */
static int finish_claims(redis_store *rs, const es_claim *const *claims, const size_t *n_done,
                         const es_job *const *jobs, const size_t *n_jobs, size_t n,
                         int64_t now, int *status)
{
    redis_enqueue_chunk *chunks = calloc(n ? n : 1, sizeof *chunks);
    redis_args *args = calloc(n ? n : 1, sizeof *args);
    redisReply **replies = calloc(n ? n : 1, sizeof *replies);
    size_t *first = calloc(n + 1, sizeof *first); /* first claim of each call */
    int n_calls = 0, rc = -1;
    if (!chunks || !args || !replies || !first) {
        diag_set(DIAG_INTERNAL, "out of memory");
        goto out;
    }
    /* the calls: at most FINISH_CHUNK_CLAIMS claims and FINISH_CHUNK_BYTES
     * of jobs each (a claim with more goes alone) */
    for (size_t i = 0, bytes = 0; i < n; i++) {
        size_t claim_bytes = 0;
        for (size_t k = 0; n_jobs && k < n_jobs[i]; k++) {
            if (redis_enqueue_validate(rs, &jobs[i][k], k)) goto out;
            claim_bytes += jobs[i][k].payload_len;
        }
        if (i == 0 || i - first[n_calls - 1] == FINISH_CHUNK_CLAIMS ||
            bytes + claim_bytes > FINISH_CHUNK_BYTES) {
            first[n_calls++] = i;
            bytes = 0;
        }
        bytes += claim_bytes;
    }
    first[n_calls] = n;
    for (int c = 0; c < n_calls; c++) {
        redis_enqueue_chunk *ch = &chunks[c];
        if (redis_args_int(&ch->args, now) ||
            redis_args_int(&ch->args, (int64_t)(first[c + 1] - first[c])))
            goto out;
        for (size_t i = first[c]; i < first[c + 1]; i++)
            if (redis_args_cstr(&ch->args, claims[i]->group_key) ||
                redis_args_int(&ch->args, claims[i]->token) ||
                redis_args_int(&ch->args, (int64_t)(n_done ? n_done[i] : claims[i]->n)) ||
                redis_args_int(&ch->args, (int64_t)(n_jobs ? n_jobs[i] : 0)))
                goto out;
        for (size_t i = first[c]; n_jobs && i < first[c + 1]; i++)
            for (size_t k = 0; k < n_jobs[i]; k++)
                if (redis_enqueue_chunk_add(rs, ch, &jobs[i][k], 1, now)) goto out;
        args[c] = ch->args;
    }
    if (n_calls && redis_script_call_many(rs->pool, &rs->scripts, REDIS_SCRIPT_FINISH, rs->tag,
                                          n_calls, args, replies))
        goto out;
    for (int c = 0; c < n_calls; c++) {
        const redisReply *r = replies[c];
        size_t count = first[c + 1] - first[c];
        if (r->type != REDIS_REPLY_ARRAY || r->elements != count) {
            diag_set(DIAG_BACKEND, "redis queue: malformed reply");
            goto out;
        }
        for (size_t at = 0; at < count; at++) {
            if (r->element[at]->type != REDIS_REPLY_INTEGER) {
                diag_set(DIAG_BACKEND, "redis queue: malformed reply");
                goto out;
            }
            status[first[c] + at] = r->element[at]->integer < 0 ? -1 : (int)r->element[at]->integer;
        }
    }
    rc = 0;
out:
    for (int c = 0; chunks && replies && c < n_calls; c++) {
        redis_enqueue_chunk_free(&chunks[c]);
        if (replies[c]) freeReplyObject(replies[c]);
    }
    free(chunks);
    free(args);
    free(replies);
    free(first);
    return rc;
}

int redis_queue_complete(es_store *s, const es_claim *claim, size_t n_done, int64_t now)
{
    int status;
    if (finish_claims(store_of(s), &claim, &n_done, NULL, NULL, 1, now, &status) != 0) return -1;
    if (status != 0) {
        diag_set(DIAG_CONFLICT, "claim of group %s (token %lld) is no longer held",
                 claim->group_key, (long long)claim->token);
        return -1;
    }
    return 0;
}

char *redis_group_list_key(const redis_store *rs, const char *group_key)
{
    /* "<tag>:g:<group>", built without snprintf: this runs per job */
    size_t tag_len = strlen(rs->tag), group_len = strlen(group_key);
    char *key = malloc(tag_len + group_len + 4);
    if (!key) {
        diag_set(DIAG_INTERNAL, "out of memory");
        return NULL;
    }
    memcpy(key, rs->tag, tag_len);
    memcpy(key + tag_len, ":g:", 3);
    memcpy(key + tag_len + 3, group_key, group_len + 1);
    return key;
}

int redis_queue_group_idle(es_store *s, const char *group_key)
{
    redis_store *rs = store_of(s);
    char *key = redis_group_list_key(rs, group_key);
    if (!key) return -1;
    const char *argv[2] = {"EXISTS", key};
    size_t lens[2] = {6, strlen(key)};
    redisReply *r = redis_conn_command(rs->pool, 2, argv, lens, 0);
    free(key);
    if (!r) return -1;
    int idle = r->type == REDIS_REPLY_INTEGER ? r->integer == 0
                                              : (diag_set(DIAG_BACKEND, "redis queue: EXISTS: %s",
                                                          r->type == REDIS_REPLY_ERROR
                                                              ? r->str
                                                              : "unexpected reply"),
                                                 -1);
    freeReplyObject(r);
    return idle;
}

int redis_queue_writes_folds(es_store *s, es_store *folds)
{
    redis_store *rs = store_of(s);
    if (s != folds) return 0;
    int known = atomic_load(&rs->writes_folds);
    if (known) return known == 1;
    /* a cluster would refuse a script that reaches the fold's slot, {tenant},
     * from the queue's, {name}: only a single server writes them */
    int slots[1];
    int n = redis_conn_masters(rs->pool, slots, 1);
    if (n < 0) return 0; /* asked again next time */
    known = n == 1 && slots[0] == -1 ? 1 : 2;
    atomic_store(&rs->writes_folds, known);
    return known == 1;
}

int redis_queue_finish_many(es_store *s, const es_claim *const *claims,
                            const es_job *const *jobs, const size_t *n_jobs, size_t n,
                            int64_t now, int *status)
{
    return finish_claims(store_of(s), claims, NULL, jobs, n_jobs, n, now, status);
}

int redis_queue_fail(es_store *s, const es_claim *claim, size_t n_done, const char *error,
                     int64_t retry_at, int max_attempts, int64_t now)
{
    redis_store *rs = store_of(s);
    redis_args a = {0};
    int rc = -1;
    /* a job of several items keeps, as a whole job record, what a parked
     * skip leaves of it */
    const es_job *failed = n_done < claim->n ? &claim->jobs[n_done] : NULL;
    char *skip_blob = NULL;
    size_t skip_len = 0;
    if (failed && failed->skip_payload) {
        es_job rest = *failed;
        rest.payload = failed->skip_payload;
        rest.payload_len = failed->skip_payload_len;
        rest.items = job_items(failed) - 1;
        if (!(skip_blob = redis_codec_encode_job(&rest, &skip_len))) return -1;
    }
    if (!redis_args_cstr(&a, claim->group_key) && !redis_args_int(&a, claim->token) &&
        !redis_args_int(&a, (int64_t)n_done) && !redis_args_cstr(&a, error) &&
        !redis_args_int(&a, retry_at) && !redis_args_int(&a, max_attempts) &&
        !redis_args_int(&a, now) && !redis_args_str(&a, skip_blob ? skip_blob : "", skip_len))
        rc = claim_script(rs, REDIS_SCRIPT_FAIL, claim, &a, NULL);
    redis_args_free(&a);
    free(skip_blob);
    return rc;
}
