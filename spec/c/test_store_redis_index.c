/* test_store_redis_index.c: the event index the Redis store keeps for
 * ClickHouse (stores/redis_event_index.c, stores/redis/event_index.lua),
 * against a private redis-server: seqs, retries and duplicates within and
 * across calls, a lost marker, the bloom positions the client hashes, the
 * bounded window, calls of every event keyed by its id ('assign-ids'),
 * calls of thousands of events, and aggregates of thousands (big slices). */
#include "store_conformance_helpers.h"
#include "testlib.h"

#include "redis_test_queue.h"

#include "redis_int.h"

static es_event index_event(const char *id, const char *key)
{
    return (es_event){.id = (char *)id, .tenant_id = (char *)"t1",
                      .aggregate_type = (char *)"acct", .aggregate_id = (char *)"a1",
                      .idempotency_key = (char *)key};
}

static void test_event_index(void)
{
    es_store *s = open_fresh(NULL);
    char *epoch = NULL;
    int64_t last = 0;
    /* no index over a non-empty log; created over an empty one, then kept */
    CHECK_INT(s->ops->event_index_init(s, "db1", 0, &epoch), 1);
    CHECK_INT(s->ops->event_index_init(s, "db1", 1, &epoch), 0);
    char *again = NULL;
    CHECK_INT(s->ops->event_index_init(s, "db1", 1, &again), 0);
    CHECK_STR(again ? again : "", epoch ? epoch : "-");
    free(again);

    es_event evs[3] = {index_event("e1", "e1"), index_event("e2", "k2"),
                       index_event("e1", "e1")};
    append_outcome out[3];
    CHECK_INT(s->ops->event_index_assign(s, "db1", epoch, evs, 3, 1000, out, &last), 0);
    CHECK_INT(out[0], APPEND_NEW);
    CHECK_INT(evs[0].seq, 1);
    CHECK_INT(out[1], APPEND_NEW);
    CHECK_INT(evs[1].seq, 2);
    CHECK_INT(out[2], APPEND_RETRY); /* the same id later in the same call */
    CHECK_INT(evs[2].seq, 1);

    /* a retry keeps its seq and created_at; a reused key is a duplicate,
     * of an explicit key or of a default one (the id); new ones go on */
    es_event more[4] = {index_event("e2", "k2"), index_event("e9", "k2"),
                        index_event("e8", "e1"), index_event("e3", "e3")};
    append_outcome out2[4];
    CHECK_INT(s->ops->event_index_assign(s, "db1", epoch, more, 4, 2000, out2, &last), 0);
    CHECK_INT(out2[0], APPEND_RETRY);
    CHECK_INT(more[0].seq, 2);
    CHECK_INT(more[0].created_at, 1000);
    CHECK_INT(out2[1], APPEND_DUPLICATE);
    CHECK_INT(out2[2], APPEND_DUPLICATE);
    CHECK_INT(out2[3], APPEND_NEW);
    CHECK_INT(more[3].seq, 3);
    CHECK_INT(more[3].created_at, 2000);

    /* another scope is another log; a wrong epoch is not trusted */
    char *other = NULL;
    CHECK_INT(s->ops->event_index_init(s, "db2", 1, &other), 0);
    es_event first = index_event("e1", "e1");
    CHECK_INT(s->ops->event_index_assign(s, "db2", other, &first, 1, 3000, out, &last), 0);
    CHECK_INT(first.seq, 1);
    CHECK_INT(s->ops->event_index_assign(s, "db1", other, &first, 1, 3000, out, &last), 1);
    free(other);

    /* a flushed Redis: not trusted, and not recreated over a non-empty log */
    redisContext *rc = redisConnect("127.0.0.1", server.port);
    redisReply *r = rc ? redisCommand(rc, "FLUSHALL") : NULL;
    if (r) freeReplyObject(r);
    if (rc) redisFree(rc);
    CHECK_INT(s->ops->event_index_assign(s, "db1", epoch, evs, 1, 4000, out, &last), 1);
    char *none = NULL;
    CHECK_INT(s->ops->event_index_init(s, "db1", 0, &none), 1);
    free(epoch);
    s->ops->close(s);
}

/* The client's SHA-1 digits (the event index's bloom positions, sent with
 * each event) are redis.sha1hex's, whatever the length (padding into a
 * second block from 56 bytes on): filters the script filled answer the
 * client's positions alike. */
static void test_sha1_matches_redis(void)
{
    static const size_t lens[] = {0, 1, 3, 32, 55, 56, 63, 64, 65, 119, 120, 200};
    redisContext *rc = redisConnect("127.0.0.1", server.port);
    CHECK(rc != NULL && !rc->err);
    char s[201];
    for (size_t i = 0; i < sizeof s - 1; i++) s[i] = (char)('a' + (i * 7) % 26);
    for (size_t k = 0; rc && k < sizeof lens / sizeof lens[0]; k++) {
        char mine[REDIS_BLOOM_DIGITS];
        redis_sha1_bloom(s, lens[k], mine);
        redisReply *r = redisCommand(rc, "EVAL %s 0 %b", "return redis.sha1hex(ARGV[1])", s,
                                     lens[k]);
        CHECK(r != NULL && r->type == REDIS_REPLY_STRING && r->len == 40);
        if (r && r->type == REDIS_REPLY_STRING && r->len == 40) {
            /* 12 hex digits as they are, then 12 bytes as hex */
            char hex[37] = {0}, theirs[37] = {0};
            memcpy(hex, mine, 12);
            for (int i = 12; i < REDIS_BLOOM_DIGITS; i++)
                snprintf(hex + 12 + 2 * (i - 12), 3, "%02x", (unsigned char)mine[i]);
            memcpy(theirs, r->str, 36);
            CHECK_STR(hex, theirs);
        }
        if (r) freeReplyObject(r);
    }
    if (rc) redisFree(rc);
}

/* Fields of an aggregate's hash in the event index, or -1. */
static long long index_fields(const char *queue, const char *scope, const char *epoch)
{
    return redis_integer("HLEN {%s}:ev:%s:%s:t1\x1f" "acct\x1f" "a1", queue, scope, epoch);
}

/* The index keeps a bounded window per aggregate: an id or key it may have
 * forgotten is left to the caller (2), who records what the log says;
 * seqs above the log's last one are given out again. */
static void test_event_index_window(void)
{
    char queue[64];
    es_store *s = open_fresh_named(queue);
    char *epoch = NULL;
    CHECK_INT(s->ops->event_index_init(s, "dbw", 1, &epoch), 0);
    append_outcome out[2];
    int64_t last = -1;
    char ids[200][16];
    for (int i = 0; i < 200; i++) {
        snprintf(ids[i], sizeof ids[i], "e%d", i + 1);
        es_event ev = index_event(ids[i], i == 4 ? "k5" : ids[i]);
        CHECK_INT(s->ops->event_index_assign(s, "dbw", epoch, &ev, 1, 1000 + i, out, &last), 0);
        CHECK_INT(ev.seq, i + 1);
    }
    long long fields = index_fields(queue, "dbw", epoch);
    CHECK(fields > 0 && fields < 60); /* not ~200 events' worth */

    /* recent: answered by the window */
    es_event recent = index_event("e200", "e200");
    CHECK_INT(s->ops->event_index_assign(s, "dbw", epoch, &recent, 1, 5000, out, &last), 0);
    CHECK_INT(out[0], APPEND_RETRY);
    CHECK_INT(recent.seq, 200);
    /* forgotten id or key: undecided, nothing changed */
    es_event old_id = index_event("e1", "e1"), old_key = index_event("x1", "k5");
    CHECK_INT(s->ops->event_index_assign(s, "dbw", epoch, &old_id, 1, 5000, out, &last), 2);
    CHECK_INT(last, 200);
    CHECK_INT(s->ops->event_index_assign(s, "dbw", epoch, &old_key, 1, 5000, out, &last), 2);
    CHECK_INT(last, 200);

    /* the caller records what the log says: a duplicate, and a new event */
    es_event decided[2] = {index_event("x1", "k5"), index_event("x2", "x2")};
    append_outcome outs[2] = {APPEND_DUPLICATE, APPEND_NEW};
    decided[1].seq = 201;
    decided[1].created_at = 6000;
    CHECK_INT(s->ops->event_index_record(s, "dbw", epoch, decided, 2, outs, 199, 200), 2);
    CHECK_INT(s->ops->event_index_record(s, "dbw", epoch, decided, 2, outs, 200, 200), 0);
    es_event again = index_event("x2", "x2");
    CHECK_INT(s->ops->event_index_assign(s, "dbw", epoch, &again, 1, 7000, out, &last), 0);
    CHECK_INT(out[0], APPEND_RETRY);
    CHECK_INT(again.seq, 201);
    CHECK_INT(again.created_at, 6000);

    /* seqs the log never got (a dead appender's) are given out again */
    es_event lost = index_event("y1", "y1");
    CHECK_INT(s->ops->event_index_assign(s, "dbw", epoch, &lost, 1, 8000, out, &last), 0);
    CHECK_INT(lost.seq, 202);
    es_event redo = index_event("y2", "y2");
    redo.seq = 202;
    redo.created_at = 9000;
    append_outcome fresh = APPEND_NEW;
    CHECK_INT(s->ops->event_index_record(s, "dbw", epoch, &redo, 1, &fresh, 202, 201), 0);
    es_event after = index_event("y3", "y3");
    CHECK_INT(s->ops->event_index_assign(s, "dbw", epoch, &after, 1, 9500, out, &last), 0);
    CHECK_INT(after.seq, 203);
    free(epoch);
    s->ops->close(s);
}

/* A call of many events: duplicates and retries within it are found
 * although the window moves during the call, and the aggregate's hash
 * stays small (Redis's compact encoding). */
static void test_event_index_big_call(void)
{
    char queue[64];
    es_store *s = open_fresh_named(queue);
    char *epoch = NULL;
    CHECK_INT(s->ops->event_index_init(s, "dbb", 1, &epoch), 0);
    enum { N = 300 };
    es_event evs[N];
    append_outcome out[N];
    char ids[N][16], keys[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "b%d", i);
        snprintf(keys[i], sizeof keys[i], i % 2 ? "b%d" : "key%d", i);
        evs[i] = index_event(ids[i], keys[i]);
    }
    evs[250] = index_event("other", "key2");  /* explicit key of event 2 */
    evs[260] = index_event("b1", "b1");       /* the id of event 1 again */
    evs[270] = index_event("new270", "b3");   /* the default key of event 3 */
    int64_t last = 0;
    CHECK_INT(s->ops->event_index_assign(s, "dbb", epoch, evs, N, 1000, out, &last), 0);
    CHECK_INT(out[250], APPEND_DUPLICATE);
    CHECK_INT(out[260], APPEND_RETRY);
    CHECK_INT(evs[260].seq, 2);
    CHECK_INT(out[270], APPEND_DUPLICATE);
    CHECK_INT(out[299], APPEND_NEW);
    CHECK_INT(evs[299].seq, N - 3);
    CHECK(index_fields(queue, "dbb", epoch) < 60);
    CHECK(redis_string_is("listpack", "OBJECT ENCODING {%s}:ev:dbb:%s:t1\x1f" "acct\x1f" "a1",
                          queue, epoch));
    free(epoch);
    s->ops->close(s);
}

/* Calls whose keys are all their ids, no id twice (the script's
 * 'assign-ids'): all new at once; then a retry among new events, a
 * default key another event holds explicitly, and a forgotten id. */
static void test_event_index_ids_only(void)
{
    char queue[64];
    es_store *s = open_fresh_named(queue);
    char *epoch = NULL;
    CHECK_INT(s->ops->event_index_init(s, "dbi", 1, &epoch), 0);
    enum { N = 40 };
    es_event evs[N];
    append_outcome out[N];
    char ids[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "i%d", i + 1);
        evs[i] = index_event(ids[i], NULL);
    }
    int64_t last = 0;
    CHECK_INT(s->ops->event_index_assign(s, "dbi", epoch, evs, N, 1000, out, &last), 0);
    for (int i = 0; i < N; i++) {
        CHECK_INT(out[i], APPEND_NEW);
        CHECK_INT(evs[i].seq, i + 1);
        CHECK_INT(evs[i].created_at, 1000);
    }
    /* '#', 'lo', and the window's last 16 events, 2 fields each (their
     * keys being their ids) */
    CHECK_INT(index_fields(queue, "dbi", epoch), 2 + 2 * 16);

    es_event keyed = index_event("k-holder", "kk");
    CHECK_INT(s->ops->event_index_assign(s, "dbi", epoch, &keyed, 1, 1500, out, &last), 0);
    CHECK_INT(keyed.seq, N + 1);
    es_event mixed[4] = {index_event("n1", NULL), index_event("i40", NULL),
                         index_event("kk", NULL), index_event("n2", NULL)};
    CHECK_INT(s->ops->event_index_assign(s, "dbi", epoch, mixed, 4, 2000, out, &last), 0);
    CHECK_INT(out[0], APPEND_NEW);
    CHECK_INT(mixed[0].seq, N + 2);
    CHECK_INT(mixed[0].created_at, 2000);
    CHECK_INT(out[1], APPEND_RETRY);
    CHECK_INT(mixed[1].seq, N);
    CHECK_INT(mixed[1].created_at, 1000);
    CHECK_INT(out[2], APPEND_DUPLICATE);
    CHECK_INT(out[3], APPEND_NEW);
    CHECK_INT(mixed[3].seq, N + 3);

    /* out of the window: the filter may know it, the caller decides */
    es_event old = index_event("i1", NULL);
    CHECK_INT(s->ops->event_index_assign(s, "dbi", epoch, &old, 1, 3000, out, &last), 2);
    CHECK_INT(last, N + 3);
    free(epoch);
    s->ops->close(s);
}

/* Appends of thousands of events of one aggregate onto a window: the
 * script asks for their window fields in slices (Lua unpacks at most
 * ~8000 values: such a call failed before, and its claim at every retry). */
static void test_event_index_huge_calls(void)
{
    char queue[64];
    es_store *s = open_fresh_named(queue);
    char *epoch = NULL;
    CHECK_INT(s->ops->event_index_init(s, "dbh", 1, &epoch), 0);
    enum { N = 5000 };
    es_event *evs = calloc(N, sizeof *evs);
    append_outcome *out = calloc(N, sizeof *out);
    char (*ids)[24] = calloc(N, sizeof *ids), (*keys)[24] = calloc(N, sizeof *keys);
    int64_t last = 0;
    if (!evs || !out || !ids || !keys) CHECK(0);
    for (int round = 0; round < 3 && evs && out && ids && keys; round++) {
        /* 10 events, a window with nothing forgotten yet; then N with
         * explicit keys ('assign', 3 window fields each), the last a retry;
         * then N keyed by their ids ('assign-ids') */
        size_t n = round == 0 ? 10 : N;
        for (size_t i = 0; i < n; i++) {
            snprintf(ids[i], sizeof ids[i], "r%d-%zu", round, i);
            snprintf(keys[i], sizeof keys[i], "k%d-%zu", round, i);
            evs[i] = index_event(ids[i], round == 1 ? keys[i] : NULL);
        }
        if (round == 1) evs[N - 1] = index_event("r0-9", NULL);
        int rc = s->ops->event_index_assign(s, "dbh", epoch, evs, n, 1000 + round, out, &last);
        if (round == 0) {
            CHECK_INT(rc, 0);
            CHECK_INT(evs[9].seq, 10);
        } else if (round == 1) {
            CHECK_INT(rc, 0);
            CHECK_INT(out[0], APPEND_NEW);
            CHECK_INT(evs[0].seq, 11);
            CHECK_INT(out[N - 2], APPEND_NEW);
            CHECK_INT(evs[N - 2].seq, 10 + N - 1);
            CHECK_INT(out[N - 1], APPEND_RETRY);
            CHECK_INT(evs[N - 1].seq, 10);
        } else {
            /* thousands of ids fill the bloom filter: the log decides */
            CHECK_INT(rc, 2);
            CHECK_INT(last, 10 + N - 1);
        }
    }
    free(evs);
    free(out);
    free(ids);
    free(keys);
    free(epoch);
    s->ops->close(s);
}

/* Appends `count` new events (ids "<prefix><i>", i from `from`; keyed:
 * with keys "key-<prefix><i>") to the aggregate of scope `scope` in calls
 * of 100, each checked all new with seqs in order from `first`. */
static void append_new(es_store *s, const char *scope, const char *epoch, const char *prefix,
                       int keyed, int from, int count, int64_t first)
{
    enum { CALL = 100 };
    es_event evs[CALL];
    append_outcome out[CALL];
    char ids[CALL][24], keys[CALL][32];
    int64_t last = 0;
    for (int at = 0; at < count; at += CALL) {
        int n = count - at < CALL ? count - at : CALL;
        for (int i = 0; i < n; i++) {
            snprintf(ids[i], sizeof ids[i], "%s%d", prefix, from + at + i);
            snprintf(keys[i], sizeof keys[i], "key-%s%d", prefix, from + at + i);
            evs[i] = index_event(ids[i], keyed ? keys[i] : NULL);
        }
        int rc = s->ops->event_index_assign(s, scope, epoch, evs, (size_t)n, 1000, out, &last);
        CHECK_INT(rc, 0);
        if (rc != 0) return;
        CHECK_INT(out[n - 1], APPEND_NEW);
        CHECK_INT(evs[n - 1].seq, first + at + n - 1);
    }
}

/* Whether the field of the aggregate's hash holds want. */
static int index_field_is(const char *queue, const char *scope, const char *epoch,
                          const char *field, const char *want)
{
    return redis_string_is(want, "HGET {%s}:ev:%s:%s:t1\x1f" "acct\x1f" "a1 %s", queue, scope,
                           epoch, field);
}

/* An aggregate of thousands of events: its ids go into big slices of 2,000
 * each (the small filter knowing the first 100), so that new events are
 * still decided in Redis; a forgotten id still goes to the caller, a
 * 'record' keeps the slices in step, and an append by an engine without
 * slices (seen as '#' moving behind them) sends the aggregate back to the
 * small filter for good. */
static void test_event_index_big_aggregate(void)
{
    char queue[64];
    es_store *s = open_fresh_named(queue);
    char *epoch = NULL;
    CHECK_INT(s->ops->event_index_init(s, "dbg", 1, &epoch), 0);
    append_new(s, "dbg", epoch, "g", 0, 1, 5000, 1);
    /* 100 in the small filter; 2000, 2000 and 900 in big slices */
    CHECK(index_field_is(queue, "dbg", epoch, "bs", "3"));
    CHECK(index_field_is(queue, "dbg", epoch, "bn", "900"));
    CHECK_INT(redis_integer("STRLEN {%s}:evb1:dbg:%s:t1\x1f" "acct\x1f" "a1", queue, epoch), 8192);
    CHECK_INT(redis_integer("EXISTS {%s}:evb0:dbg:%s:t1\x1f" "acct\x1f" "a1", queue, epoch), 1);
    CHECK(index_fields(queue, "dbg", epoch) < 60);

    /* forgotten ids, of the small filter and of a big slice: undecided */
    append_outcome out[1];
    int64_t last = 0;
    es_event old_small = index_event("g10", NULL), old_big = index_event("g3000", NULL);
    CHECK_INT(s->ops->event_index_assign(s, "dbg", epoch, &old_small, 1, 2000, out, &last), 2);
    CHECK_INT(last, 5000);
    CHECK_INT(s->ops->event_index_assign(s, "dbg", epoch, &old_big, 1, 2000, out, &last), 2);
    es_event recent = index_event("g5000", NULL);
    CHECK_INT(s->ops->event_index_assign(s, "dbg", epoch, &recent, 1, 2000, out, &last), 0);
    CHECK_INT(out[0], APPEND_RETRY);
    CHECK_INT(recent.seq, 5000);

    /* the caller records what the log decided; slices stay in step */
    es_event decided = index_event("d1", NULL);
    decided.seq = 5001;
    decided.created_at = 3000;
    append_outcome fresh = APPEND_NEW;
    CHECK_INT(s->ops->event_index_record(s, "dbg", epoch, &decided, 1, &fresh, 5000, 5000), 0);
    append_new(s, "dbg", epoch, "h", 0, 1, 300, 5002);
    CHECK(index_field_is(queue, "dbg", epoch, "bn", "1201"));
    /* an explicit key is one more entry of the slice */
    append_new(s, "dbg", epoch, "k", 1, 1, 100, 5302);
    CHECK(index_field_is(queue, "dbg", epoch, "bn", "1401"));
    es_event d_again = index_event("d1", NULL);
    CHECK_INT(s->ops->event_index_assign(s, "dbg", epoch, &d_again, 1, 4000, out, &last), 2);
    CHECK(index_field_is(queue, "dbg", epoch, "bs", "3"));

    /* '#' moved without the slices (an engine from before them): back to
     * the small filter, which thousands of ids have filled */
    CHECK_INT(redis_integer("HINCRBY {%s}:ev:dbg:%s:t1\x1f" "acct\x1f" "a1 # 1", queue, epoch),
              5402);
    es_event later = index_event("z1", NULL);
    CHECK_INT(s->ops->event_index_assign(s, "dbg", epoch, &later, 1, 5000, out, &last), 2);
    CHECK(index_field_is(queue, "dbg", epoch, "bs", "-1"));
    free(epoch);
    s->ops->close(s);
}

int main(void)
{
    if (start_test_server() != 0) return 1;
    RUN_TEST(test_sha1_matches_redis);
    RUN_TEST(test_event_index);
    RUN_TEST(test_event_index_window);
    RUN_TEST(test_event_index_big_call);
    RUN_TEST(test_event_index_ids_only);
    RUN_TEST(test_event_index_huge_calls);
    RUN_TEST(test_event_index_big_aggregate);
    redis_server_stop(&server);
    return TEST_EXIT();
}
