/* test_store_redis_cluster.c: the Redis store against a private three-node
 * Redis Cluster (cluster-enabled redis-servers on free loopback ports,
 * slots split in thirds, joined with CLUSTER MEET, awaited until every node
 * says cluster_state:ok). The store is always given the first node's URL:
 * queues of other names hash to other nodes, so the shared conformance
 * suite runs through MOVED redirects. Also: hash slots as the server
 * computes them, redirect replies, the key a command is routed by, fold
 * hashes scanned and dropped across every master, and a slot migrated
 * under a store (ASK, then MOVED). */
#include "redis_server.h"
#include "store_conformance.h"
#include "store_conformance_redis_inline.h"
#include "testlib.h"

#include "diag.h"
#include "redis_int.h"
#include "redis_store.h"

#define NODES 3

static redis_server nodes[NODES];
static int queue_counter;

/* One command on node i (hiredis format); the reply or NULL. */
static redisReply *node_vcommand(int i, const char *fmt, va_list ap)
{
    struct timeval tv = {5, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", nodes[i].port, tv);
    if (!c || c->err) {
        if (c) redisFree(c);
        return NULL;
    }
    redisReply *r = redisvCommand(c, fmt, ap);
    redisFree(c);
    return r;
}

static redisReply *node_command(int i, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = node_vcommand(i, fmt, ap);
    va_end(ap);
    return r;
}

/* 1 when a command on node i answers OK (else says what it answered). */
static int node_ok(int i, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = node_vcommand(i, fmt, ap);
    va_end(ap);
    int ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0;
    if (!ok) fprintf(stderr, "node %d: %s: %s\n", i, fmt, r && r->str ? r->str : "no reply");
    if (r) freeReplyObject(r);
    return ok;
}

/* Every node says cluster_state:ok and knows every node. */
static int cluster_ready(void)
{
    for (int i = 0; i < NODES; i++) {
        redisReply *r = node_command(i, "CLUSTER INFO");
        char want[64];
        snprintf(want, sizeof want, "cluster_known_nodes:%d", NODES);
        int ok = r && r->str && strstr(r->str, "cluster_state:ok") && strstr(r->str, want);
        if (r) freeReplyObject(r);
        if (!ok) return 0;
    }
    return 1;
}

/* Starts the nodes, gives each a third of the slots and joins them. 0, or
 * -1 with the reason on stderr. */
static int cluster_start(void)
{
    for (int i = 0; i < NODES; i++) {
        nodes[i].cluster = 1;
        if (redis_server_start(&nodes[i]) != 0) {
            fprintf(stderr, "cannot start a cluster node: %s\n", nodes[i].why);
            return -1;
        }
    }
    for (int i = 0; i < NODES; i++) {
        long long lo = (long long)REDIS_SLOTS * i / NODES;
        long long hi = (long long)REDIS_SLOTS * (i + 1) / NODES - 1;
        if (!node_ok(i, "CLUSTER ADDSLOTSRANGE %lld %lld", lo, hi)) return -1;
    }
    for (int i = 1; i < NODES; i++)
        if (!node_ok(0, "CLUSTER MEET 127.0.0.1 %d", nodes[i].port)) return -1;
    long long deadline = redis_server_now_ms() + 30000;
    while (redis_server_now_ms() < deadline) {
        if (cluster_ready()) return 0;
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "the cluster did not reach cluster_state:ok within 30 s\n");
    return -1;
}

/* A store through the first node, on a queue name never used before. */
static es_store *open_fresh(void *ud)
{
    (void)ud;
    char name[64];
    snprintf(name, sizeof name, "test-%d-%d", (int)getpid(), ++queue_counter);
    return redis_store_open(nodes[0].url, name);
}

/* The node serving `slot` (asked from node 0), or -1. */
static int slot_owner(int slot)
{
    redisReply *r = node_command(0, "CLUSTER SLOTS");
    int owner = -1;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        redisReply *range = r->element[i];
        if (slot < range->element[0]->integer || slot > range->element[1]->integer) continue;
        for (int n = 0; n < NODES; n++)
            if (range->element[2]->element[1]->integer == nodes[n].port) owner = n;
    }
    if (r) freeReplyObject(r);
    return owner;
}

/* ---- slots and redirects ---- */

static void test_key_slot_matches_server(void)
{
    static const char *const keys[] = {
        "esengine", "{esengine}", "{esengine}:j:abc", "foo{}{bar}", "foo{{bar}}zap",
        "{user1000}.following", "a{b", "}{x}", "esengine:fold:{t1}:balances\x1f" "acct-3", "",
    };
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        redisReply *r = node_command(0, "CLUSTER KEYSLOT %b", keys[i], strlen(keys[i]));
        CHECK(r && r->type == REDIS_REPLY_INTEGER);
        if (r && r->type == REDIS_REPLY_INTEGER)
            CHECK_INT(redis_key_slot(keys[i], strlen(keys[i])), r->integer);
        if (r) freeReplyObject(r);
    }
    CHECK_INT(redis_key_slot("123456789", 9), 0x31C3 & (REDIS_SLOTS - 1));
}

static void test_command_slot(void)
{
    const char *eval[5] = {"EVALSHA", "0123", "1", "{q}", "arg"};
    size_t eval_len[5] = {7, 4, 1, 3, 3};
    CHECK_INT(redis_command_slot(5, eval, eval_len), redis_key_slot("q", 1));
    const char *nokeys[4] = {"EVAL", "return 1", "0", "arg"};
    size_t nokeys_len[4] = {4, 8, 1, 3};
    CHECK_INT(redis_command_slot(4, nokeys, nokeys_len), -1);
    const char *scan[2] = {"SCAN", "0"};
    size_t scan_len[2] = {4, 1};
    CHECK_INT(redis_command_slot(2, scan, scan_len), -1);
    const char *load[3] = {"SCRIPT", "LOAD", "x"};
    size_t load_len[3] = {6, 4, 1};
    CHECK_INT(redis_command_slot(3, load, load_len), -1);
    const char *hget[3] = {"hget", "{t}:k", "f"};
    size_t hget_len[3] = {4, 5, 1};
    CHECK_INT(redis_command_slot(3, hget, hget_len), redis_key_slot("t", 1));
}

static int parse(const char *text, redis_redirect *rd)
{
    redisReply r = {.type = REDIS_REPLY_ERROR, .str = (char *)text, .len = strlen(text)};
    return redis_redirect_parse(&r, rd);
}

static void test_redirect_parse(void)
{
    redis_redirect rd;
    CHECK_INT(parse("MOVED 3999 127.0.0.1:6381", &rd), 1);
    CHECK_INT(rd.slot, 3999);
    CHECK_STR(rd.host, "127.0.0.1");
    CHECK_INT(rd.port, 6381);
    CHECK_INT(rd.ask, 0);
    CHECK_INT(parse("ASK 1 ::1:7000", &rd), 1);
    CHECK_STR(rd.host, "::1");
    CHECK_INT(rd.port, 7000);
    CHECK_INT(rd.ask, 1);
    CHECK_INT(parse("MOVED 12 :7001", &rd), 1); /* unknown endpoint: same host */
    CHECK_STR(rd.host, "");
    CHECK_INT(parse("MOVED 16384 h:1", &rd), 0);
    CHECK_INT(parse("MOVED 1 h", &rd), 0);
    CHECK_INT(parse("ERR MOVED 1 h:1", &rd), 0);
    CHECK_INT(parse("NOSCRIPT No matching script", &rd), 0);
    redisReply ok = {.type = REDIS_REPLY_STATUS, .str = "MOVED 1 h:1", .len = 11};
    CHECK_INT(redis_redirect_parse(&ok, &rd), 0);
}

/* ---- folds on every master ---- */

#define FOLD_TENANTS 30

static int count_fold(void *ud, const char *tenant, const char *key, const char *state,
                      int64_t seq)
{
    (void)tenant, (void)key, (void)state, (void)seq;
    (*(int *)ud)++;
    return 0;
}

static void test_folds_across_masters(void)
{
    es_store *s = open_fresh(NULL);
    CHECK(s != NULL);
    if (!s) return;
    int on[NODES] = {0};
    for (int t = 0; t < FOLD_TENANTS; t++) {
        char tenant[16];
        snprintf(tenant, sizeof tenant, "t%d", t);
        CHECK_INT(s->ops->fold_put(s, tenant, "sums", "k", "{\"n\":1}", 1, CONF_T0), 0);
        char *key = redis_fold_key((redis_store *)s, tenant, "sums", "k");
        int owner = slot_owner(redis_key_slot(key, strlen(key)));
        if (owner >= 0) on[owner]++;
        free(key);
    }
    for (int n = 0; n < NODES; n++) CHECK(on[n] > 0); /* spread over every node */
    /* so a claim's finish, in the queue's slot, cannot write them */
    CHECK_INT(s->ops->queue_writes_folds(s, s), 0);
    int seen = 0;
    CHECK_INT(s->ops->fold_scan(s, NULL, "sums", count_fold, &seen), 0);
    CHECK_INT(seen, FOLD_TENANTS);
    seen = 0;
    CHECK_INT(s->ops->fold_scan(s, "t7", "sums", count_fold, &seen), 0);
    CHECK_INT(seen, 1);
    CHECK_INT(s->ops->fold_drop(s, NULL, "sums", NULL), 0);
    seen = 0;
    CHECK_INT(s->ops->fold_scan(s, NULL, "sums", count_fold, &seen), 0);
    CHECK_INT(seen, 0);
    s->ops->close(s);
}

/* ---- a slot migrated under the store ---- */

static void test_slot_migration(void)
{
    es_store *s = open_fresh(NULL);
    CHECK(s != NULL);
    if (!s) return;
    char *a = redis_fold_key((redis_store *)s, "mig", "sums", "a");
    char *b = redis_fold_key((redis_store *)s, "mig", "sums", "b");
    int slot = redis_key_slot(a, strlen(a));
    int from = slot_owner(slot), to = (from + 1) % NODES;
    CHECK(from >= 0);
    if (from < 0) goto out;
    CHECK_INT(s->ops->fold_put(s, "mig", "sums", "a", "{\"n\":1}", 1, CONF_T0), 0);
    CHECK_INT(s->ops->fold_put(s, "mig", "sums", "b", "{\"n\":1}", 1, CONF_T0), 0);
    redisReply *id_from = node_command(from, "CLUSTER MYID");
    redisReply *id_to = node_command(to, "CLUSTER MYID");
    CHECK(id_from && id_to);
    if (!id_from || !id_to) goto ids;
    CHECK(node_ok(to, "CLUSTER SETSLOT %d IMPORTING %s", slot, id_from->str));
    CHECK(node_ok(from, "CLUSTER SETSLOT %d MIGRATING %s", slot, id_to->str));
    /* half moved: "a" on the target, "b" still on the source */
    CHECK(node_ok(from, "MIGRATE 127.0.0.1 %d %s 0 5000", nodes[to].port, a));
    char *state = NULL;
    int64_t last = 0;
    CHECK_INT(s->ops->fold_get(s, "mig", "sums", "a", &state, &last), 0); /* ASK */
    free(state);
    CHECK_INT(s->ops->fold_put(s, "mig", "sums", "a", "{\"n\":2}", 2, CONF_T0), 0);
    CHECK_INT(s->ops->fold_put(s, "mig", "sums", "c", "{\"n\":1}", 1, CONF_T0), 0); /* new: target */
    CHECK_INT(s->ops->fold_put(s, "mig", "sums", "b", "{\"n\":2}", 2, CONF_T0), 0); /* source */
    CHECK(node_ok(from, "MIGRATE 127.0.0.1 %d %s 0 5000", nodes[to].port, b));
    for (int n = 0; n < NODES; n++)
        CHECK(node_ok(n, "CLUSTER SETSLOT %d NODE %s", slot, id_to->str));
    /* moved: every read and write reaches the target (MOVED) */
    const char *keys[3] = {"a", "b", "c"};
    int64_t want[3] = {2, 2, 1};
    for (int i = 0; i < 3; i++) {
        state = NULL;
        CHECK_INT(s->ops->fold_get(s, "mig", "sums", keys[i], &state, &last), 0);
        CHECK_INT(last, want[i]);
        free(state);
    }
    redisReply *r = node_command(to, "CLUSTER COUNTKEYSINSLOT %d", slot);
    CHECK(r && r->type == REDIS_REPLY_INTEGER && r->integer == 3);
    if (r) freeReplyObject(r);
ids:
    if (id_from) freeReplyObject(id_from);
    if (id_to) freeReplyObject(id_to);
out:
    free(a);
    free(b);
    s->ops->close(s);
}

int main(void)
{
    if (cluster_start() != 0) {
        for (int i = 0; i < NODES; i++) redis_server_stop(&nodes[i]);
        fprintf(stderr, "FAIL: cannot start a Redis Cluster (redis-server with cluster support "
                        "is needed; set ESENGINE_REDIS_SERVER)\n");
        return 1;
    }
    RUN_TEST(test_key_slot_matches_server);
    RUN_TEST(test_command_slot);
    RUN_TEST(test_redirect_parse);
    conformance_run(open_fresh, NULL);
    conformance_run_redis_inline(open_fresh, NULL);
    RUN_TEST(test_folds_across_masters);
    RUN_TEST(test_slot_migration);
    for (int i = 0; i < NODES; i++) redis_server_stop(&nodes[i]);
    return TEST_EXIT();
}
