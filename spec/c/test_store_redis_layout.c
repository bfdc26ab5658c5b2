/* test_store_redis_layout.c: the Redis queue's job records as they lie in
 * Redis (stores/redis/queue_lib.lua), against a private redis-server:
 * records of before the string layout (hashes), converted when first read;
 * records inline in their group's list (alone, mixed with keyed ones,
 * through fail, park and skip); and a queue of before that inline jobs
 * join after an upgrade; fast groups (claimed without reading their jobs
 * in Lua), and fast jobs pushed onto live groups without a script;
 * records of long blobs, written in two parts; and an event
 * index's window written before it kept its entries' bloom digits. */
#include "store_conformance_helpers.h"

#include "redis_test_queue.h"

#include <string.h>

/* Rewrites every job record of `queue` as the hash of fields a queue held
 * before records were strings (stores/redis/queue_lib.lua: the same
 * one-letter fields; attempts 0 and items 1 were left out then). Returns
 * how many, or -1. */
static long long records_to_hashes(const char *queue)
{
    static const char *const script =
        "local n = 0\n"
        "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do\n"
        "  local s, t, at = redis.call('GET', k), {}, 2\n"
        "  for _, f in ipairs({'r', 'p', 'a', 'q', 'c'}) do\n"
        "    local e = s:find('\\31', at, true)\n"
        "    t[f], at = s:sub(at, e - 1), e + 1\n"
        "  end\n"
        "  for _, f in ipairs({'s', 'g', 'd', 'o', 'e', 'k'}) do\n"
        "    if s:byte(at) == 126 then at = at + 1 else\n"
        "      local c = s:find(':', at, true)\n"
        "      local len = tonumber(s:sub(at, c - 1))\n"
        "      t[f], at = s:sub(c + 1, c + len), c + len + 1\n"
        "    end\n"
        "  end\n"
        "  t.b = s:sub(at)\n"
        "  if t.a == '0' then t.a = nil end\n"
        "  if t.c == '1' then t.c = nil end\n"
        "  redis.call('DEL', k)\n"
        "  for f, v in pairs(t) do redis.call('HSET', k, f, v) end\n"
        "  n = n + 1\n"
        "end\n"
        "return n\n";
    return redis_integer("EVAL %s 0 {%s}:j:*", script, queue);
}

/* A queue written before job records were strings keeps working after an
 * upgrade: each record of before is converted when first read, and its
 * job runs in order, once, with its payload, attempts and origin. */
static void test_hash_records_of_before(void)
{
    char queue[64];
    es_store *s = open_fresh_named(queue);
    es_job jobs[3] = {make_job("h1", "t1", "gH", 0), make_job("h2", "t1", "gH", 0),
                      make_job("h3", "t1", "gH", 0)};
    CHECK_INT(s->ops->queue_enqueue(s, jobs, 3, 1000), 0);
    CHECK_INT(records_to_hashes(queue), 3);
    int64_t n = -1;
    CHECK_INT(s->ops->queue_origin_pending(s, "cmd-0", 1u << JOB_FOLD, &n), 0);
    CHECK_INT(n, 3);
    es_claim a;
    /* the head fails once (its record rewritten), then runs */
    CHECK_INT(s->ops->queue_claim(s, "w", 1, 1000, 10000, 0, &a), 0);
    CHECK_INT(a.n, 1);
    if (a.n) CHECK_STR(a.jobs[0].id, "h1");
    CHECK_INT(s->ops->queue_fail(s, &a, 0, "once", 1000, 10, 1000), 0);
    store_claim_clear(&a);
    CHECK_INT(s->ops->queue_claim(s, "w", 10, 1001, 10000, 0, &a), 0);
    CHECK_INT(a.n, 3);
    if (a.n == 3) {
        CHECK_STR(a.jobs[0].id, "h1");
        CHECK_INT(a.jobs[0].attempts, 1);
        CHECK_STR(a.jobs[1].id, "h2");
        CHECK_STR(a.jobs[2].id, "h3");
        CHECK_INT(a.jobs[2].attempts, 0);
        CHECK_STR(a.jobs[2].payload, "payload");
        CHECK_STR(a.jobs[2].origin_id, "cmd-0");
        CHECK(a.jobs[0].position < a.jobs[1].position && a.jobs[1].position < a.jobs[2].position);
    }
    CHECK_INT(s->ops->queue_complete(s, &a, a.n, 1002), 0);
    store_claim_clear(&a);
    CHECK_INT(s->ops->queue_origin_pending(s, "cmd-0", 1u << JOB_FOLD, &n), 0);
    CHECK_INT(n, 0);
    CHECK_INT(s->ops->queue_claim(s, "w", 10, 1003, 10000, 0, &a), 1);
    s->ops->close(s);
}

/* ---- inline job records ---- */

/* A job the queue keeps inline: a fresh id, no origin, no dedup key. */
static es_job inline_job(const char *id, const char *group)
{
    es_job j = make_job(id, "t1", group, 0);
    j.origin_id = NULL;
    j.fresh_id = 1;
    return j;
}

/* Keys of `queue` holding one job's record, or -1. */
static long long job_keys(const char *queue)
{
    return redis_integer("EVAL %s 0 {%s}:j:*", "return #redis.call('KEYS', ARGV[1])", queue);
}

/* Keys of `queue` for group g: its list and its state hash. */
static long long group_keys(const char *queue, const char *g)
{
    return redis_integer("EXISTS {%s}:g:%s {%s}:m:%s", queue, g, queue, g);
}

/* The claim of the group due at `now` (max_jobs 10); its rc. */
static int claim_at(es_store *s, int64_t now, es_claim *c)
{
    memset(c, 0, sizeof *c);
    return s->ops->queue_claim(s, "w", 10, now, 10000, 0, c);
}

/* Jobs ready now, summed over the stats rows. */
static int sum_pending(void *ud, const es_queue_stats *row)
{
    ((int64_t *)ud)[0] += row->pending;
    ((int64_t *)ud)[1] += row->parked;
    return 0;
}

/* Fresh jobs without dedup key nor origin keep their records in their list
 * elements (no key per job); a fresh job with an origin, and a job whose
 * id is not fresh, keep a key. One list holds both, claimed in order;
 * once completed, nothing of the group is left. */
static void test_inline_layout(void)
{
    char queue[64];
    es_store *s = open_fresh_named(queue);
    es_job jobs[4] = {inline_job("i1", "gI"), make_job("o1", "t1", "gI", 0),
                      inline_job("i2", "gI"), make_job("k1", "t1", "gI", 0)};
    jobs[1].fresh_id = 1; /* fresh, with an origin */
    jobs[3].origin_id = NULL; /* no origin, not fresh */
    jobs[2].payload = (char *)"second \x1e\x1f~1:";
    jobs[2].payload_len = strlen(jobs[2].payload);
    CHECK_INT(s->ops->queue_enqueue(s, jobs, 4, 1000), 0);
    CHECK_INT(job_keys(queue), 2);
    CHECK_INT(redis_integer("EXISTS {%s}:j:o1 {%s}:j:k1", queue, queue), 2);
    CHECK_INT(redis_integer("LLEN {%s}:g:gI", queue), 4);
    es_claim c;
    CHECK_INT(claim_at(s, 1000, &c), 0);
    CHECK_INT(c.n, 4);
    if (c.n == 4) {
        const char *ids[4] = {"i1", "o1", "i2", "k1"};
        for (int i = 0; i < 4; i++) {
            CHECK_STR(c.jobs[i].id, ids[i]);
            CHECK_INT(c.jobs[i].attempts, 0);
            CHECK_INT(c.jobs[i].kind, JOB_FOLD);
            CHECK_STR(c.jobs[i].tenant_id, "t1");
            /* i1 and i2 (fresh, due) are positioned from the process's
             * block, o1 and k1 by the script: all unique */
            for (int k = 0; k < i; k++) CHECK(c.jobs[k].position != c.jobs[i].position);
        }
        CHECK(c.jobs[0].position < c.jobs[2].position);
        CHECK(c.jobs[1].position < c.jobs[3].position);
        CHECK_STR(c.jobs[0].payload, "payload");
        CHECK_INT(c.jobs[0].origin_id == NULL, 1);
        CHECK_STR(c.jobs[1].origin_id, "cmd-0");
        CHECK_STR(c.jobs[2].payload, "second \x1e\x1f~1:");
        CHECK_INT(c.jobs[2].payload_len, strlen("second \x1e\x1f~1:"));
        CHECK_INT(c.jobs[2].last_error == NULL, 1);
    }
    CHECK_INT(s->ops->queue_complete(s, &c, c.n, 1001), 0);
    store_claim_clear(&c);
    CHECK_INT(job_keys(queue), 0);
    CHECK_INT(group_keys(queue, "gI"), 0);
    CHECK_INT(claim_at(s, 1002, &c), 1);
    s->ops->close(s);
}

/* An inline job's attempts, run_at and error are rewritten in its element
 * through a failure, a retry, parking, a parked retry and skips (of the
 * whole job, and of one item of a job of two), and none gets a key. */
static void test_inline_fail_park_skip(void)
{
    char queue[64];
    es_store *s = open_fresh_named(queue);
    es_job jobs[3] = {inline_job("f1", "gF"), inline_job("f2", "gF"), inline_job("f3", "gF")};
    jobs[2].items = 2;
    CHECK_INT(s->ops->queue_enqueue(s, jobs, 3, 1000), 0);
    es_claim c;
    CHECK_INT(claim_at(s, 1000, &c), 0);
    CHECK_INT(c.n, 3);
    /* f1 done, f2 fails: retried at 1100 */
    CHECK_INT(s->ops->queue_fail(s, &c, 1, "boom", 1100, 3, 1000), 0);
    store_claim_clear(&c);
    CHECK_INT(claim_at(s, 1050, &c), 1);
    CHECK_INT(claim_at(s, 1100, &c), 0);
    CHECK_INT(c.n, 2);
    if (c.n == 2) {
        CHECK_STR(c.jobs[0].id, "f2");
        CHECK_INT(c.jobs[0].attempts, 1);
        CHECK_STR(c.jobs[0].last_error, "boom");
        CHECK_INT(c.jobs[0].run_at, 1100);
        CHECK_STR(c.jobs[1].id, "f3");
        CHECK_INT(c.jobs[1].attempts, 0);
    }
    /* f2 fails for good: parked with its last error */
    CHECK_INT(s->ops->queue_fail(s, &c, 0, "boom again", 1200, 2, 1100), 0);
    store_claim_clear(&c);
    conformance_parked p;
    memset(&p, 0, sizeof p);
    CHECK_INT(s->ops->queue_parked_list(s, NULL, conformance_collect_parked, &p), 0);
    CHECK_INT(p.n, 1);
    CHECK_STR(p.head_id, "f2");
    CHECK_INT(p.attempts, 2);
    CHECK_STR(p.error, "boom again");
    CHECK_INT(p.waiting, 2);
    int64_t counts[2] = {0, 0};
    CHECK_INT(s->ops->queue_stats(s, 1100, sum_pending, counts), 0);
    CHECK_INT(counts[1], 3); /* f2, and f3's two items */
    /* a parked retry runs f2 again, attempts reset */
    CHECK_INT(s->ops->queue_parked_retry(s, "gF", 1300), 0);
    CHECK_INT(claim_at(s, 1300, &c), 0);
    CHECK_INT(c.n, 2);
    if (c.n == 2) {
        CHECK_STR(c.jobs[0].id, "f2");
        CHECK_INT(c.jobs[0].attempts, 0);
    }
    CHECK_INT(s->ops->queue_fail(s, &c, 0, "third", 1400, 1, 1300), 0);
    store_claim_clear(&c);
    /* skip drops f2; f3 fails on one of its two items, parks, and a skip
     * keeps the other */
    CHECK_INT(s->ops->queue_parked_skip(s, "gF", 1400), 0);
    CHECK_INT(claim_at(s, 1400, &c), 0);
    CHECK_INT(c.n, 1);
    if (c.n == 1) {
        CHECK_STR(c.jobs[0].id, "f3");
        c.jobs[0].skip_payload = strdup("rest");
        c.jobs[0].skip_payload_len = 4;
    }
    CHECK_INT(s->ops->queue_fail(s, &c, 0, "item", 1500, 1, 1400), 0);
    store_claim_clear(&c);
    CHECK_INT(s->ops->queue_parked_skip(s, "gF", 1500), 0);
    CHECK_INT(claim_at(s, 1500, &c), 0);
    CHECK_INT(c.n, 1);
    if (c.n == 1) {
        CHECK_STR(c.jobs[0].id, "f3");
        CHECK_STR(c.jobs[0].payload, "rest");
        CHECK_INT(c.jobs[0].attempts, 0);
        CHECK_INT(job_items(&c.jobs[0]), 1);
    }
    CHECK_INT(job_keys(queue), 0);
    CHECK_INT(redis_integer("LLEN {%s}:dead", queue), 2);
    CHECK_INT(s->ops->queue_complete(s, &c, c.n, 1500), 0);
    store_claim_clear(&c);
    CHECK_INT(group_keys(queue, "gF"), 0);
    s->ops->close(s);
}

/* A queue written before inline records (elements that are bare ids,
 * records as strings and as hashes of older still) keeps working once new
 * jobs join the same list inline: all run in order, once, and a keyed
 * job's failure is recorded at its key between inline ones. */
static void test_inline_after_upgrade(void)
{
    char queue[64];
    es_store *s = open_fresh_named(queue);
    /* the layout of before: not fresh, so keyed; u1 counts for its origin */
    es_job old[3] = {make_job("u1", "t1", "gU", 0), make_job("u2", "t1", "gU", 0),
                     make_job("u3", "t1", "gU", 0)};
    old[1].origin_id = old[2].origin_id = NULL;
    CHECK_INT(s->ops->queue_enqueue(s, old, 3, 1000), 0);
    CHECK_INT(s->ops->queue_enqueue(s, old, 1, 1000), 0); /* still its id: a no-op */
    CHECK_INT(records_to_hashes(queue), 3);
    /* upgraded: new jobs inline behind them */
    es_job fresh[2] = {inline_job("n1", "gU"), inline_job("n2", "gU")};
    CHECK_INT(s->ops->queue_enqueue(s, fresh, 2, 1000), 0);
    CHECK_INT(job_keys(queue), 3);
    int64_t counts[2] = {0, 0};
    CHECK_INT(s->ops->queue_stats(s, 1000, sum_pending, counts), 0);
    CHECK_INT(counts[0], 5);
    es_claim c;
    memset(&c, 0, sizeof c);
    CHECK_INT(s->ops->queue_claim(s, "w", 2, 1000, 10000, 0, &c), 0);
    CHECK_INT(c.n, 2);
    if (c.n == 2) CHECK_STR(c.jobs[0].id, "u1");
    CHECK_INT(s->ops->queue_fail(s, &c, 1, "later", 1000, 5, 1000), 0); /* u1 done, u2 failed */
    store_claim_clear(&c);
    CHECK_INT(claim_at(s, 1001, &c), 0);
    CHECK_INT(c.n, 4);
    if (c.n == 4) {
        const char *ids[4] = {"u2", "u3", "n1", "n2"};
        for (int i = 0; i < 4; i++) {
            CHECK_STR(c.jobs[i].id, ids[i]);
            CHECK_STR(c.jobs[i].payload, "payload");
            if (i) CHECK(c.jobs[i - 1].position < c.jobs[i].position);
        }
        CHECK_INT(c.jobs[0].attempts, 1);
        CHECK_STR(c.jobs[0].last_error, "later");
        CHECK_INT(c.jobs[2].attempts, 0);
    }
    int64_t n = -1;
    CHECK_INT(s->ops->queue_origin_pending(s, "cmd-0", 1u << JOB_FOLD, &n), 0);
    CHECK_INT(n, 0);
    /* part of the claim done: the keyed ones and n1 */
    CHECK_INT(s->ops->queue_complete(s, &c, 3, 1002), 0);
    store_claim_clear(&c);
    CHECK_INT(job_keys(queue), 0);
    CHECK_INT(claim_at(s, 1003, &c), 0);
    CHECK_INT(c.n, 1);
    if (c.n == 1) CHECK_STR(c.jobs[0].id, "n2");
    CHECK_INT(s->ops->queue_complete(s, &c, c.n, 1003), 0);
    store_claim_clear(&c);
    CHECK_INT(group_keys(queue, "gU"), 0);
    s->ops->close(s);
}

/* ---- fast groups ---- */

/* 1 when group g of `queue` is marked fast (queue_lib.lua), 0 when not. */
static long long fast_mark(const char *queue, const char *g)
{
    return redis_integer("HEXISTS {%s}:m:%s f", queue, g);
}

/* A group of inline jobs due when queued is fast: its claims (read by the
 * claimer) take the head jobs in order, max_jobs at most; a keyed job, or
 * an inline one delayed past its enqueue, pushed later or with the first
 * ones, makes the group slow, and a delayed job is not claimed early. */
static void test_fast_groups(void)
{
    char queue[64];
    es_store *s = open_fresh_named(queue);
    es_job a[3] = {inline_job("a1", "gA"), inline_job("a2", "gA"), inline_job("a3", "gA")};
    a[1].payload = (char *)"two \x1e\x1f";
    a[1].payload_len = strlen(a[1].payload);
    CHECK_INT(s->ops->queue_enqueue(s, a, 3, 1000), 0);
    CHECK_INT(fast_mark(queue, "gA"), 1);
    es_claim c;
    memset(&c, 0, sizeof c);
    CHECK_INT(s->ops->queue_claim(s, "w", 2, 1000, 10000, 0, &c), 0);
    CHECK_INT(c.n, 2);
    if (c.n == 2) {
        CHECK_STR(c.jobs[0].id, "a1");
        CHECK_STR(c.jobs[1].id, "a2");
        CHECK_STR(c.jobs[1].payload, "two \x1e\x1f");
        CHECK(c.jobs[0].position < c.jobs[1].position);
        CHECK_INT(c.jobs[0].run_at, 0);
    }
    CHECK_INT(s->ops->queue_complete(s, &c, c.n, 1001), 0);
    store_claim_clear(&c);
    CHECK_INT(claim_at(s, 1001, &c), 0);
    CHECK_INT(c.n, 1);
    if (c.n == 1) CHECK_STR(c.jobs[0].id, "a3");
    CHECK_INT(s->ops->queue_complete(s, &c, c.n, 1002), 0);
    store_claim_clear(&c);
    CHECK_INT(group_keys(queue, "gA"), 0);

    /* a keyed job joins a fast group: slow from then on, in order */
    es_job b[2] = {inline_job("b1", "gB"), make_job("b2", "t1", "gB", 0)};
    b[1].origin_id = NULL;
    CHECK_INT(s->ops->queue_enqueue(s, b, 1, 1100), 0);
    CHECK_INT(fast_mark(queue, "gB"), 1);
    CHECK_INT(s->ops->queue_enqueue(s, b + 1, 1, 1100), 0);
    CHECK_INT(fast_mark(queue, "gB"), 0);
    CHECK_INT(claim_at(s, 1100, &c), 0);
    CHECK_INT(c.n, 2);
    if (c.n == 2) {
        CHECK_STR(c.jobs[0].id, "b1");
        CHECK_STR(c.jobs[1].id, "b2");
    }
    CHECK_INT(s->ops->queue_complete(s, &c, c.n, 1101), 0);
    store_claim_clear(&c);

    /* a delayed inline job, queued with the first or later: never fast,
     * and not claimed before it is due */
    es_job d[2] = {inline_job("d1", "gD"), inline_job("d2", "gD")};
    d[0].run_at = 1200;
    d[1].run_at = 5000;
    CHECK_INT(s->ops->queue_enqueue(s, d, 2, 1200), 0);
    CHECK_INT(fast_mark(queue, "gD"), 0);
    es_job e[2] = {inline_job("e1", "gE"), inline_job("e2", "gE")};
    e[0].run_at = 1200;
    e[1].run_at = 5000;
    CHECK_INT(s->ops->queue_enqueue(s, e, 1, 1200), 0);
    CHECK_INT(fast_mark(queue, "gE"), 1);
    CHECK_INT(s->ops->queue_enqueue(s, e + 1, 1, 1200), 0);
    CHECK_INT(fast_mark(queue, "gE"), 0);
    for (int k = 0; k < 2; k++) {
        CHECK_INT(claim_at(s, 1200, &c), 0);
        CHECK_INT(c.n, 1);
        if (c.n == 1) CHECK_STR(c.jobs[0].id, k == 0 ? "d1" : "e1");
        CHECK_INT(s->ops->queue_complete(s, &c, c.n, 1201), 0);
        store_claim_clear(&c);
    }
    CHECK_INT(claim_at(s, 4999, &c), 1);
    CHECK_INT(claim_at(s, 5000, &c), 0);
    CHECK_INT(c.n, 1);
    if (c.n == 1) CHECK_STR(c.jobs[0].id, "d2");
    store_claim_clear(&c);
    s->ops->close(s);
}

/* The ids claimed from the groups due at `now`, each group's in order
 * after its name ("gF:f1,f2 gK:k1 "), completing each claim. */
static void claim_all(es_store *s, int64_t now, char *out, size_t size)
{
    es_claim c;
    out[0] = '\0';
    while (claim_at(s, now, &c) == 0) {
        size_t at = strlen(out);
        snprintf(out + at, size - at, "%s:", c.n ? c.jobs[0].group_key : "?");
        for (size_t k = 0; k < c.n; k++) {
            at = strlen(out);
            snprintf(out + at, size - at, "%s%s", k ? "," : "", c.jobs[k].id);
        }
        at = strlen(out);
        snprintf(out + at, size - at, " ");
        CHECK_INT(s->ops->queue_complete(s, &c, c.n, now), 0);
        store_claim_clear(&c);
    }
}

/* Fast jobs of a group that holds jobs go by RPUSHX, one per group
 * (redis_enqueue_fast.c), not through the enqueue script; those of a new
 * group, of a group drained meanwhile, and of a group with a keyed job in
 * the same call go through the script, which makes the group. Each
 * group's jobs are claimed in enqueue order, and its fast mark is kept. */
static void test_fast_push_onto_live_groups(void)
{
    char queue[64], claimed[256];
    es_store *s = open_fresh_named(queue);
    es_job first[2] = {inline_job("f1", "gF"), inline_job("k1", "gK")};
    CHECK_INT(s->ops->queue_enqueue(s, first, 2, 1000), 0);
    long long evals = command_calls("evalsha"), pushes = command_calls("rpushx");
    es_job more[5] = {inline_job("f2", "gF"), inline_job("k2", "gK"),
                      make_job("k3", "t1", "gK", 0), inline_job("f3", "gF"),
                      inline_job("n1", "gN")};
    more[2].origin_id = NULL; /* keyed: not fresh */
    CHECK_INT(s->ops->queue_enqueue(s, more, 5, 1000), 0);
    /* gF took f2 and f3 in one RPUSHX; gN's missed; gK's and gN's jobs
     * went in one script call */
    CHECK_INT(command_calls("rpushx") - pushes, 2);
    CHECK_INT(command_calls("evalsha") - evals, 1);
    CHECK_INT(redis_integer("LLEN {%s}:g:gF", queue), 3);
    CHECK_INT(redis_integer("LLEN {%s}:g:gK", queue), 3);
    CHECK_INT(redis_integer("LLEN {%s}:g:gN", queue), 1);
    CHECK_INT(fast_mark(queue, "gF"), 1);
    CHECK_INT(fast_mark(queue, "gK"), 0);
    CHECK_INT(fast_mark(queue, "gN"), 1);
    claim_all(s, 1000, claimed, sizeof claimed);
    CHECK_STR(claimed, "gF:f1,f2,f3 gK:k1,k2,k3 gN:n1 ");
    CHECK_INT(group_keys(queue, "gF"), 0);

    /* gF drained: its next job's RPUSHX misses and the script makes the
     * group again, ready to claim */
    es_job again = inline_job("f4", "gF");
    pushes = command_calls("rpushx");
    evals = command_calls("evalsha");
    CHECK_INT(s->ops->queue_enqueue(s, &again, 1, 1100), 0);
    CHECK_INT(command_calls("rpushx") - pushes, 1);
    CHECK_INT(command_calls("evalsha") - evals, 1);
    claim_all(s, 1100, claimed, sizeof claimed);
    CHECK_STR(claimed, "gF:f4 ");
    s->ops->close(s);
}

/* ---- long blobs ---- */

/* A keyed record whose blob is long (a fold job of many events) is
 * written as the rest of its record, then the blob APPENDed to it, not
 * concatenated in Lua (which hashes every byte): the same record, claimed
 * whole (read by the claimer, not through the claim script), in order,
 * with short records between; its id still dedupes. */
static void test_long_blob_records(void)
{
    char queue[64];
    es_store *s = open_fresh_named(queue);
    static char big1[6000], big2[3000];
    memset(big1, 'a', sizeof big1 - 1);
    memset(big2, 'b', sizeof big2 - 1);
    big1[100] = '\x1e';
    big2[7] = '\x1f';
    es_job jobs[3] = {make_job("L1", "t1", "gL", 0), make_job("S1", "t1", "gL", 0),
                      make_job("L2", "t1", "gL", 0)};
    for (int i = 0; i < 3; i++) jobs[i].origin_id = NULL; /* the usual job */
    jobs[0].payload = big1;
    jobs[0].payload_len = sizeof big1 - 1;
    jobs[2].payload = big2;
    jobs[2].payload_len = sizeof big2 - 1;
    long long appends = command_calls("append");
    CHECK_INT(s->ops->queue_enqueue(s, jobs, 3, 1000), 0);
    CHECK_INT(command_calls("append") - appends, 2);
    CHECK_INT(s->ops->queue_enqueue(s, jobs, 3, 1000), 0); /* still queued: no-ops */
    CHECK_INT(command_calls("append") - appends, 2);
    CHECK_INT(job_keys(queue), 3);
    /* the claim reads only the head of each record (GETRANGE); the
     * claimer reads the records themselves */
    long long heads = command_calls("getrange");
    es_claim c;
    CHECK_INT(claim_at(s, 1000, &c), 0);
    CHECK_INT(command_calls("getrange") - heads, 3);
    CHECK_INT(c.n, 3);
    if (c.n == 3) {
        const char *ids[3] = {"L1", "S1", "L2"};
        for (int i = 0; i < 3; i++) {
            CHECK_STR(c.jobs[i].id, ids[i]);
            CHECK_INT(c.jobs[i].attempts, 0);
            if (i) CHECK(c.jobs[i - 1].position < c.jobs[i].position);
        }
        CHECK_INT(c.jobs[0].payload_len, sizeof big1 - 1);
        CHECK_INT(c.jobs[0].payload_len == sizeof big1 - 1 &&
                      memcmp(c.jobs[0].payload, big1, sizeof big1 - 1) == 0, 1);
        CHECK_STR(c.jobs[1].payload, "payload");
        CHECK_INT(c.jobs[2].payload_len == sizeof big2 - 1 &&
                      memcmp(c.jobs[2].payload, big2, sizeof big2 - 1) == 0, 1);
    }
    CHECK_INT(s->ops->queue_complete(s, &c, c.n, 1001), 0);
    store_claim_clear(&c);
    CHECK_INT(job_keys(queue), 0);
    CHECK_INT(group_keys(queue, "gL"), 0);
    s->ops->close(s);
}

/* An event index written before its bloom filter took every new event
 * (stores/redis/event_index.lua: 's' fields without '+', their ids in the
 * filter only once forgotten; with the ids' bloom digits after '!', or,
 * older still, without them) keeps working: the events forgotten from such
 * entries go into the filter all the same, so a retry of one is undecided
 * (2) rather than taken for new. */
static void test_event_index_of_before(void)
{
    char queue[64];
    es_store *s = open_fresh_named(queue);
    char *epoch = NULL;
    CHECK_INT(s->ops->event_index_init(s, "dbo", 1, &epoch), 0);
    char ids[40][16];
    append_outcome out[1];
    int64_t last = -1;
    for (int i = 0; i < 40; i++) {
        snprintf(ids[i], sizeof ids[i], "o%d", i + 1);
        es_event ev = {.id = ids[i], .tenant_id = (char *)"t1", .aggregate_type = (char *)"acct",
                       .aggregate_id = (char *)"a1",
                       .idempotency_key = i == 21 ? (char *)"ko22" : ids[i]};
        CHECK_INT(s->ops->event_index_assign(s, "dbo", epoch, &ev, 1, 1000 + i, out, &last), 0);
        if (i != 19) continue;
        /* after 20 events, the window's entries (o5..o20) as indexes of
         * before wrote them: odd seqs with the digits, even ones without;
         * and a filter without their ids */
        CHECK_INT(redis_integer(
                      "EVAL %s 2 {%s}:ev:dbo:%s:t1\x1f" "acct\x1f" "a1 {%s}:evb:dbo:%s:t1\x1f"
                      "acct\x1f" "a1",
                      "local n = 0\n"
                      "local h = redis.call('HGETALL', KEYS[1])\n"
                      "for i = 1, #h, 2 do\n"
                      "  local v = h[i + 1]\n"
                      "  if h[i]:sub(1, 1) == 's' and v:sub(1, 2) == '+=' then\n"
                      "    v = v:sub(2)\n"
                      "    if tonumber(h[i]:sub(2)) % 2 == 1 then\n"
                      "      v = '!' .. redis.sha1hex(v:sub(2)):sub(1, 12) .. v\n"
                      "    end\n"
                      "    redis.call('HSET', KEYS[1], h[i], v)\n"
                      "    n = n + 1\n"
                      "  end\n"
                      "end\n"
                      "redis.call('DEL', KEYS[2])\n"
                      "return n\n",
                      queue, epoch, queue, epoch),
                  16);
    }
    /* o5..o20 were forgotten through entries of before, o22 (key ko22)
     * through one of now */
    const char *old[3][2] = {{"o5", "o5"}, {"o20", "o20"}, {"x", "ko22"}};
    for (int i = 0; i < 3; i++) {
        es_event ev = {.id = (char *)old[i][0], .tenant_id = (char *)"t1",
                       .aggregate_type = (char *)"acct", .aggregate_id = (char *)"a1",
                       .idempotency_key = (char *)old[i][1]};
        CHECK_INT(s->ops->event_index_assign(s, "dbo", epoch, &ev, 1, 5000, out, &last), 2);
        CHECK_INT(last, 40);
    }
    free(epoch);
    s->ops->close(s);
}

int main(void)
{
    if (start_test_server() != 0) return 1;
    RUN_TEST(test_hash_records_of_before);
    RUN_TEST(test_inline_layout);
    RUN_TEST(test_inline_fail_park_skip);
    RUN_TEST(test_inline_after_upgrade);
    RUN_TEST(test_fast_groups);
    RUN_TEST(test_fast_push_onto_live_groups);
    RUN_TEST(test_long_blob_records);
    RUN_TEST(test_event_index_of_before);
    redis_server_stop(&server);
    return TEST_EXIT();
}
