/* redis_conn.c: per-thread hiredis connections with reconnect and backoff,
 * routed over the nodes of a Redis Cluster, and the argument vectors
 * commands are built from (see redis_int.h).
 *
 * hiredis sync contexts are not thread-safe: each calling thread gets its
 * own record through a pthread key, registered in the pool so that
 * redis_conn_pool_free closes them all; the record holds one context per
 * node. Node 0 is the URL's. A single server never redirects, so every
 * command goes to node 0 and routing costs nothing; the first MOVED reply
 * turns routing on: from then on a command goes to the node its key's slot
 * was last moved to (slot table shared by the pool's threads, node 0 for a
 * slot not seen yet, or whose node stopped answering). */
#include "redis_int.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "clock.h"
#include "diag.h"
#include "log.h"

#define CONNECT_TIMEOUT_MS 2000
#define COMMAND_TIMEOUT_MS 10000
#define BACKOFF_FIRST_MS 10
#define BACKOFF_MAX_MS 1000
/* Nodes a pool can route to (masters and former masters of a cluster). */
#define MAX_NODES 256
/* Redirects followed for one command before its MOVED/ASK is returned. */
#define MAX_REDIRECTS 16

typedef struct redis_node {
    char *host;
    int port;
} redis_node;

typedef struct redis_conn {
    redisContext *ctx[MAX_NODES]; /* per node; NULL: not connected */
    struct redis_conn_pool *pool;
    struct redis_conn *prev, *next;
} redis_conn;

struct redis_conn_pool {
    char *user;     /* NULL: AUTH with the password only */
    char *password; /* NULL: no AUTH */
    int db;
    atomic_int retry_ms;
    pthread_key_t key;
    pthread_mutex_t lock; /* guards `all` and appending to `nodes` */
    redis_conn *all;      /* every live thread's connection */
    /* Appended under lock, never changed: an entry is complete before
     * n_nodes counts it. */
    redis_node nodes[MAX_NODES];
    atomic_int n_nodes;
    atomic_int cluster; /* a redirect was seen: route commands by slot */
    _Atomic unsigned char slot_node[REDIS_SLOTS];
};

static struct timeval timeval_ms(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

/* Unlinks and frees one thread's connection (thread exit or pool free). */
static void conn_destroy(void *arg)
{
    redis_conn *c = arg;
    redis_conn_pool *p = c->pool;
    pthread_mutex_lock(&p->lock);
    if (c->prev) c->prev->next = c->next;
    else p->all = c->next;
    if (c->next) c->next->prev = c->prev;
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < MAX_NODES; i++)
        if (c->ctx[i]) redisFree(c->ctx[i]);
    free(c);
}

/* The calling thread's connection record (created on first use), or NULL
 * on OOM. Its contexts may be NULL (not connected). */
static redis_conn *conn_get(redis_conn_pool *p)
{
    redis_conn *c = pthread_getspecific(p->key);
    if (c) return c;
    c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->pool = p;
    pthread_mutex_lock(&p->lock);
    c->next = p->all;
    if (p->all) p->all->prev = c;
    p->all = c;
    pthread_mutex_unlock(&p->lock);
    pthread_setspecific(p->key, c);
    return c;
}

static void conn_drop(redis_conn *c, int node)
{
    if (c->ctx[node]) redisFree(c->ctx[node]);
    c->ctx[node] = NULL;
}

/* Runs a setup command (AUTH, SELECT); 0 or -1 with the reason in `why`. */
static int conn_setup_command(redisContext *ctx, char *why, size_t why_len,
                              int argc, const char **argv)
{
    redisReply *r = redisCommandArgv(ctx, argc, argv, NULL);
    if (!r) {
        snprintf(why, why_len, "%s", ctx->errstr);
        return -1;
    }
    int rc = r->type == REDIS_REPLY_ERROR ? -1 : 0;
    if (rc) snprintf(why, why_len, "%s: %s", argv[0], r->str);
    freeReplyObject(r);
    return rc;
}

/* Refuses a server that may evict keys without a TTL (maxmemory-policy
 * allkeys-*): esengine's queues, fold states and event index have none,
 * and losing one loses jobs or gives a seq out twice. Asked on every new
 * connection, so that fixing the setting needs no restart; INFO rather
 * than CONFIG GET, which managed services often refuse (a server that
 * answers neither is let through). 0, or -1 with the reason in `why`. */
static int conn_check_eviction(redisContext *ctx, char *why, size_t why_len)
{
    redisReply *r = redisCommand(ctx, "INFO memory");
    if (!r) {
        snprintf(why, why_len, "%s", ctx->errstr);
        return -1;
    }
    int rc = 0;
    const char *at = r->type == REDIS_REPLY_STRING ? strstr(r->str, "maxmemory_policy:") : NULL;
    if (at && strncmp(at + 17, "allkeys-", 8) == 0) {
        snprintf(why, why_len,
                 "maxmemory-policy is %.*s: Redis may evict esengine's queues, fold states and "
                 "event index (lost jobs, seqs given twice); set it to noeviction",
                 (int)strcspn(at + 17, "\r\n"), at + 17);
        rc = -1;
    }
    freeReplyObject(r);
    return rc;
}

/* Connects the thread's context to `node` when it has none. 0, or -1 with
 * the reason in `why`. */
static int conn_open(redis_conn_pool *p, redis_conn *c, int node, char *why, size_t why_len)
{
    if (c->ctx[node]) return 0;
    const redis_node *n = &p->nodes[node];
    redisContext *ctx = redisConnectWithTimeout(n->host, n->port, timeval_ms(CONNECT_TIMEOUT_MS));
    if (!ctx || ctx->err) {
        snprintf(why, why_len, "%s", ctx ? ctx->errstr : "out of memory");
        if (ctx) redisFree(ctx);
        return -1;
    }
    redisSetTimeout(ctx, timeval_ms(COMMAND_TIMEOUT_MS));
    redisEnableKeepAlive(ctx);
    /* Keep the reply buffer between replies: hiredis frees it after each
     * reply above 16 KiB (a claim of 256 jobs is ~100 KiB), and regrowing it
     * by reallocs was ~7% of a worker's CPU (malloc_consolidate). */
    ctx->reader->maxbuf = 0;
    if (p->password) {
        const char *auth_user[3] = {"AUTH", p->user, p->password};
        const char *auth[2] = {"AUTH", p->password};
        int rc = p->user ? conn_setup_command(ctx, why, why_len, 3, auth_user)
                         : conn_setup_command(ctx, why, why_len, 2, auth);
        if (rc) goto fail;
    }
    if (p->db) {
        char db[16];
        snprintf(db, sizeof db, "%d", p->db);
        const char *select[2] = {"SELECT", db};
        if (conn_setup_command(ctx, why, why_len, 2, select)) goto fail;
    }
    if (conn_check_eviction(ctx, why, why_len)) goto fail;
    c->ctx[node] = ctx;
    return 0;
fail:
    redisFree(ctx);
    return -1;
}

/* Server errors worth waiting out: the server is starting, busy with a
 * script, failing over, we reached a replica, a multi-key command met a
 * slot being migrated, or the cluster is not serving every slot yet. */
static int reply_transient(const redisReply *r)
{
    static const char *prefixes[] = {"LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN",
                                     "READONLY", "CLUSTERDOWN"};
    if (r->type != REDIS_REPLY_ERROR) return 0;
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
        if (strncmp(r->str, prefixes[i], strlen(prefixes[i])) == 0) return 1;
    return 0;
}

/* ---- nodes and routing ---- */

/* The index of node host:port (an empty or "?" host, a node that does not
 * know its endpoint: the host of node `from`, the one that named it), added
 * when new. -1 when the table is full or on OOM. */
static int pool_node(redis_conn_pool *p, const char *host, int port, int from)
{
    if (!host[0] || strcmp(host, "?") == 0) host = p->nodes[from].host;
    pthread_mutex_lock(&p->lock);
    int n = atomic_load(&p->n_nodes), found = -1;
    for (int i = 0; i < n && found < 0; i++)
        if (p->nodes[i].port == port && strcmp(p->nodes[i].host, host) == 0) found = i;
    if (found < 0 && n < MAX_NODES && (p->nodes[n].host = strdup(host))) {
        p->nodes[n].port = port;
        atomic_store(&p->n_nodes, n + 1);
        found = n;
    }
    pthread_mutex_unlock(&p->lock);
    if (found < 0)
        log_warn_limited("redis_conn", "redis cluster: cannot route to %s:%d (%d nodes known)",
                         host, port, n);
    return found;
}

/* Routes `slot` to `node` from now on (a MOVED reply or CLUSTER SLOTS). */
static void route_set(redis_conn_pool *p, int slot, int node)
{
    /* release: a thread that reads this node index also sees its entry */
    atomic_store_explicit(&p->slot_node[slot], (unsigned char)node, memory_order_release);
    atomic_store(&p->cluster, 1);
}

/* Routes every slot of `node` (one we cannot reach: failed over, or gone)
 * to node 0 again, which redirects to whoever serves them now. */
static void route_forget(redis_conn_pool *p, int node)
{
    if (node == 0) return;
    for (int slot = 0; slot < REDIS_SLOTS; slot++) {
        unsigned char expected = (unsigned char)node;
        atomic_compare_exchange_strong(&p->slot_node[slot], &expected, 0);
    }
}

/* The node serving `slot` as far as the pool knows; 0 for -1. */
static int route_slot(redis_conn_pool *p, int slot)
{
    return slot < 0 ? 0 : atomic_load_explicit(&p->slot_node[slot], memory_order_acquire);
}

/* The node a command goes to: node 0 until the pool has seen a cluster. */
static int route_command(redis_conn_pool *p, int argc, const char *const *argv,
                         const size_t *lens)
{
    if (!atomic_load_explicit(&p->cluster, memory_order_relaxed)) return 0;
    return route_slot(p, redis_command_slot(argc, argv, lens));
}

/* When `r` is a redirect: the node it names (routing the slot there when
 * it is a MOVED), with *ask set for an ASK. -1 for any other reply. */
static int follow_redirect(redis_conn_pool *p, const redisReply *r, int from, int *ask)
{
    redis_redirect rd;
    if (!redis_redirect_parse(r, &rd)) return -1;
    int node = pool_node(p, rd.host, rd.port, from);
    if (node < 0) return -1;
    if (!rd.ask) route_set(p, rd.slot, node);
    *ask = rd.ask;
    return node;
}

/* ---- the pool ---- */

/* Splits "host:port" (or "[v6]:port") into node 0. 0 or -1. */
static int pool_parse_hostport(redis_conn_pool *p, const char *s, size_t len)
{
    const char *colon = NULL;
    const char *host = s;
    size_t host_len = len;
    if (len && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close) return -1;
        host = s + 1;
        host_len = (size_t)(close - host);
        if (close + 1 < s + len) {
            if (close[1] != ':') return -1;
            colon = close + 1;
        }
    } else {
        colon = memchr(s, ':', len);
        if (colon) host_len = (size_t)(colon - s);
    }
    p->nodes[0].port = 6379;
    if (colon) {
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (end != s + len || port <= 0 || port > 65535) return -1;
        p->nodes[0].port = (int)port;
    }
    p->nodes[0].host = host_len ? strndup(host, host_len) : strdup("127.0.0.1");
    return p->nodes[0].host ? 0 : -1;
}

/* Parses redis://[[user]:password@]host[:port][/db] into the pool. */
static int pool_parse_url(redis_conn_pool *p, const char *url)
{
    const char *scheme = "redis://";
    if (strncmp(url, scheme, strlen(scheme)) != 0) return -1;
    const char *s = url + strlen(scheme);
    const char *end = s + strcspn(s, "/?#");
    const char *at = memchr(s, '@', (size_t)(end - s));
    if (at) {
        const char *colon = memchr(s, ':', (size_t)(at - s));
        if (!colon) return -1;
        if (colon > s && !(p->user = strndup(s, (size_t)(colon - s)))) return -1;
        if (!(p->password = strndup(colon + 1, (size_t)(at - colon - 1)))) return -1;
        s = at + 1;
    }
    if (pool_parse_hostport(p, s, (size_t)(end - s))) return -1;
    if (*end == '/' && end[1]) {
        char *dbend;
        long db = strtol(end + 1, &dbend, 10);
        if ((*dbend && *dbend != '?' && *dbend != '#') || db < 0 || db > 1 << 20) return -1;
        p->db = (int)db;
    }
    return 0;
}

redis_conn_pool *redis_conn_pool_new(const char *url)
{
    redis_conn_pool *p = calloc(1, sizeof *p);
    if (!p) {
        diag_set(DIAG_INTERNAL, "out of memory");
        return NULL;
    }
    if (!url || pool_parse_url(p, url) != 0) {
        diag_set(DIAG_INVALID, "redis url: expected redis://[[user]:password@]host[:port][/db], got \"%s\"",
                 url ? url : "(null)");
        free(p->nodes[0].host);
        free(p->user);
        free(p->password);
        free(p);
        return NULL;
    }
    atomic_init(&p->n_nodes, 1);
    atomic_init(&p->cluster, 0);
    for (int i = 0; i < REDIS_SLOTS; i++) atomic_init(&p->slot_node[i], 0);
    atomic_init(&p->retry_ms, 5000);
    pthread_mutex_init(&p->lock, NULL);
    pthread_key_create(&p->key, conn_destroy);
    return p;
}

void redis_conn_pool_free(redis_conn_pool *p)
{
    if (!p) return;
    pthread_key_delete(p->key);
    while (p->all) conn_destroy(p->all);
    pthread_mutex_destroy(&p->lock);
    for (int i = 0; i < atomic_load(&p->n_nodes); i++) free(p->nodes[i].host);
    free(p->user);
    free(p->password);
    free(p);
}

void redis_conn_pool_set_retry_ms(redis_conn_pool *p, int ms)
{
    atomic_store(&p->retry_ms, ms < 0 ? 0 : ms);
}

/* ---- commands ---- */

/* Retry pacing of one call: exponential backoff until the pool's budget. */
typedef struct retry_clock {
    int64_t deadline;
    int backoff;
} retry_clock;

static retry_clock retry_start(redis_conn_pool *p)
{
    retry_clock t = {clock_monotonic_ms() + atomic_load(&p->retry_ms), BACKOFF_FIRST_MS};
    return t;
}

/* Sleeps the next backoff step; 0 when the budget is spent. */
static int retry_wait(retry_clock *t)
{
    int64_t left = t->deadline - clock_monotonic_ms();
    if (left <= 0) return 0;
    clock_sleep_ms(t->backoff < left ? t->backoff : left);
    t->backoff = t->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : t->backoff * 2;
    return 1;
}

/* Appends a command to ctx's output buffer, in RESP formatted here:
 * hiredis's redisAppendCommandArgv formats each argument's length with its
 * own printf (sdscatfmt), ~6% of the engine's CPU in the enqueue phase of
 * bench/clickhouse. lens NULL: the arguments are C strings. REDIS_OK, or
 * REDIS_ERR on OOM. */
static int append_command(redisContext *ctx, int argc, const char **argv, const size_t *lens)
{
    size_t total = 24;
    for (int i = 0; i < argc; i++) total += 26 + (lens ? lens[i] : strlen(argv[i]));
    char *buf = malloc(total);
    if (!buf) return REDIS_ERR;
    size_t at = 0;
    buf[at++] = '*';
    at += text_decimal(buf + at, argc);
    buf[at++] = '\r';
    buf[at++] = '\n';
    for (int i = 0; i < argc; i++) {
        size_t len = lens ? lens[i] : strlen(argv[i]);
        buf[at++] = '$';
        at += text_decimal(buf + at, (int64_t)len);
        buf[at++] = '\r';
        buf[at++] = '\n';
        memcpy(buf + at, argv[i], len);
        at += len;
        buf[at++] = '\r';
        buf[at++] = '\n';
    }
    int rc = redisAppendFormattedCommand(ctx, buf, at);
    free(buf);
    return rc;
}

/* Sends one command to `node` (preceded by ASKING, in the same round trip,
 * when `asking`) and reads its reply; NULL with the reason in `why` and
 * the connection dropped. */
static redisReply *conn_send(redis_conn_pool *p, redis_conn *c, int node, int asking, int argc,
                             const char **argv, const size_t *lens, int block_ms, char *why,
                             size_t why_len)
{
    if (conn_open(p, c, node, why, why_len) != 0) return NULL;
    redisContext *ctx = c->ctx[node];
    if (asking) redisAppendCommand(ctx, "ASKING");
    if (append_command(ctx, argc, argv, lens) != REDIS_OK) {
        snprintf(why, why_len, "out of memory formatting a command");
        goto drop;
    }
    if (block_ms > 0) redisSetTimeout(ctx, timeval_ms(block_ms + COMMAND_TIMEOUT_MS));
    void *r = NULL;
    if (asking) {
        if (redisGetReply(ctx, &r) != REDIS_OK || !r) goto io;
        freeReplyObject(r); /* an ASKING refused shows in the command's reply */
        r = NULL;
    }
    if (redisGetReply(ctx, &r) != REDIS_OK || !r) goto io;
    if (block_ms > 0) redisSetTimeout(ctx, timeval_ms(COMMAND_TIMEOUT_MS));
    return r;
io:
    snprintf(why, why_len, "%s", ctx->errstr);
drop:
    log_warn_limited("redis_conn", "redis %s:%d: %s; reconnecting", p->nodes[node].host,
                     p->nodes[node].port, why);
    conn_drop(c, node);
    return NULL;
}

/* redis_conn_command to `node` first (after ASKING when `asking`). */
static redisReply *command_run(redis_conn_pool *p, int node, int asking, int argc,
                               const char **argv, const size_t *lens, int block_ms)
{
    redis_conn *c = conn_get(p);
    if (!c) {
        diag_set(DIAG_INTERNAL, "out of memory");
        return NULL;
    }
    retry_clock t = retry_start(p);
    char why[256] = "";
    for (int redirects = 0, wait = 0;; wait = 1) {
        if (wait && !retry_wait(&t)) break;
        redisReply *r = conn_send(p, c, node, asking, argc, argv, lens, block_ms, why, sizeof why);
        if (!r) {
            route_forget(p, node);
            if (!asking) node = 0;
            continue;
        }
        int ask = 0, to = redirects < MAX_REDIRECTS ? follow_redirect(p, r, node, &ask) : -1;
        if (to >= 0) {
            freeReplyObject(r);
            redirects++;
            node = to;
            asking = ask;
            wait = 0;
            continue;
        }
        if (reply_transient(r)) {
            snprintf(why, sizeof why, "%s", r->str);
            freeReplyObject(r);
            continue;
        }
        return r;
    }
    diag_set(DIAG_IO, "redis %s:%d: %s", p->nodes[node].host, p->nodes[node].port,
             why[0] ? why : "unreachable");
    return NULL;
}

redisReply *redis_conn_command(redis_conn_pool *p, int argc, const char **argv,
                               const size_t *lens, int block_ms)
{
    return command_run(p, route_command(p, argc, argv, lens), 0, argc, argv, lens, block_ms);
}

redisReply *redis_conn_command_at(redis_conn_pool *p, int slot, int argc, const char **argv,
                                  const size_t *lens)
{
    return command_run(p, route_slot(p, slot), 0, argc, argv, lens, 0);
}

/* Frees replies[0..n) and NULLs them. */
static void replies_free(redisReply **replies, int n)
{
    for (int i = 0; i < n; i++) {
        if (replies[i]) freeReplyObject(replies[i]);
        replies[i] = NULL;
    }
}

/* One round of a pipeline, command i on node nodes[i]: 0 all replies read
 * and none transient, -1 with the reason in `why` (every connection of the
 * round dropped on an I/O error: their reply streams are out of step; the
 * slots of the node that failed routed via node 0 again). */
static int pipeline_round(redis_conn_pool *p, redis_conn *c, int n, const int *nodes,
                          const int *argc, const char *const *const *argv,
                          const size_t *const *lens, redisReply **replies, char *why,
                          size_t why_len)
{
    for (int i = 0; i < n; i++)
        if (conn_open(p, c, nodes[i], why, why_len) != 0) {
            route_forget(p, nodes[i]);
            return -1;
        }
    for (int i = 0; i < n; i++)
        if (append_command(c->ctx[nodes[i]], argc[i], (const char **)argv[i], lens[i]) !=
            REDIS_OK) {
            snprintf(why, why_len, "out of memory formatting a command");
            for (int k = 0; k < n; k++) conn_drop(c, nodes[k]); /* half-written buffers */
            return -1;
        }
    for (int i = 0; i < n; i++) {
        void *r = NULL;
        if (redisGetReply(c->ctx[nodes[i]], &r) != REDIS_OK || !r) {
            snprintf(why, why_len, "%s", c->ctx[nodes[i]]->errstr);
            route_forget(p, nodes[i]);
            for (int k = 0; k < n; k++) conn_drop(c, nodes[k]);
            return -1;
        }
        replies[i] = r;
    }
    for (int i = 0; i < n; i++)
        if (reply_transient(replies[i])) {
            snprintf(why, why_len, "%s", replies[i]->str);
            return -1;
        }
    return 0;
}

/* Sends the redirected commands of a round again: all of them in another
 * round when every one was MOVED (a batch of one slot that moved: 1), each
 * alone after its redirect otherwise (0). -1 with diag when a resend
 * failed. */
static int pipeline_redirects(redis_conn_pool *p, int n, const int *nodes, const int *argc,
                              const char *const *const *argv, const size_t *const *lens,
                              redisReply **replies)
{
    int moved = 0;
    for (int i = 0; i < n; i++) {
        redis_redirect rd;
        if (redis_redirect_parse(replies[i], &rd) && !rd.ask) moved++;
    }
    if (n > 0 && moved == n) {
        int ask;
        for (int i = 0; i < n; i++) follow_redirect(p, replies[i], nodes[i], &ask);
        replies_free(replies, n);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        int ask = 0, to = follow_redirect(p, replies[i], nodes[i], &ask);
        if (to < 0) continue;
        freeReplyObject(replies[i]);
        replies[i] = command_run(p, to, ask, argc[i], (const char **)argv[i], lens[i], 0);
        if (!replies[i]) return -1;
    }
    return 0;
}

int redis_conn_pipeline(redis_conn_pool *p, int n, const int *argc, const char *const *const *argv,
                        const size_t *const *lens, redisReply **replies)
{
    redis_conn *c = conn_get(p);
    int *nodes = malloc((size_t)(n ? n : 1) * sizeof *nodes);
    memset(replies, 0, (size_t)n * sizeof *replies);
    if (!c || !nodes) {
        free(nodes);
        diag_set(DIAG_INTERNAL, "out of memory");
        return -1;
    }
    retry_clock t = retry_start(p);
    char why[256] = "";
    int node = 0, rc = -2; /* -2: out of retries */
    for (int redirects = 0, wait = 0;; wait = 1) {
        if (wait && !retry_wait(&t)) break;
        for (int i = 0; i < n; i++) nodes[i] = route_command(p, argc[i], argv[i], lens[i]);
        node = n ? nodes[0] : 0;
        if (pipeline_round(p, c, n, nodes, argc, argv, lens, replies, why, sizeof why) != 0) {
            log_warn_limited("redis_conn", "redis %s:%d: %s; retrying", p->nodes[node].host,
                             p->nodes[node].port, why);
            replies_free(replies, n);
            continue;
        }
        rc = redirects < MAX_REDIRECTS
                 ? pipeline_redirects(p, n, nodes, argc, argv, lens, replies) : 0;
        if (rc != 1) break;
        redirects++;
        wait = 0;
    }
    free(nodes);
    if (rc == 0) return 0;
    replies_free(replies, n);
    if (rc != -1) /* else a resend failed and said why */
        diag_set(DIAG_IO, "redis %s:%d: %s", p->nodes[node].host, p->nodes[node].port,
                 why[0] ? why : "unreachable");
    return -1;
}

int redis_conn_masters(redis_conn_pool *p, int *slots, int max)
{
    const char *argv[2] = {"CLUSTER", "SLOTS"};
    size_t lens[2] = {7, 5};
    redisReply *r = command_run(p, 0, 0, 2, argv, lens, 0);
    if (!r) return -1;
    int n = 0;
    /* "cluster support disabled", or CLUSTER refused (ACL, a managed
     * server): a single server, unless it ever redirected us */
    if (r->type == REDIS_REPLY_ERROR && !atomic_load(&p->cluster)) {
        slots[0] = -1;
        n = 1;
    } else if (r->type != REDIS_REPLY_ARRAY) {
        diag_set(DIAG_BACKEND, "redis CLUSTER SLOTS: %s",
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        n = -1;
    }
    int seen[MAX_NODES] = {0};
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements && n >= 0; i++) {
        const redisReply *range = r->element[i];
        if (range->type != REDIS_REPLY_ARRAY || range->elements < 3 ||
            range->element[2]->type != REDIS_REPLY_ARRAY ||
            range->element[2]->elements < 2 ||
            range->element[2]->element[0]->type != REDIS_REPLY_STRING) {
            diag_set(DIAG_BACKEND, "redis CLUSTER SLOTS: unexpected reply");
            n = -1;
            break;
        }
        long long lo = range->element[0]->integer, hi = range->element[1]->integer;
        const redisReply *master = range->element[2];
        int node = pool_node(p, master->element[0]->str, (int)master->element[1]->integer, 0);
        if (node < 0 || lo < 0 || hi >= REDIS_SLOTS || lo > hi) {
            diag_set(DIAG_BACKEND, "redis CLUSTER SLOTS: cannot route slots %lld-%lld", lo, hi);
            n = -1;
            break;
        }
        for (long long s = lo; s <= hi; s++) route_set(p, (int)s, node);
        if (!seen[node] && n < max) {
            seen[node] = 1;
            slots[n++] = (int)lo;
        }
    }
    freeReplyObject(r);
    return n;
}

int redis_conn_ping(redis_conn_pool *p)
{
    redis_conn *c = conn_get(p);
    char why[256];
    if (!c || conn_open(p, c, 0, why, sizeof why) != 0) return 0;
    redisReply *r = redisCommand(c->ctx[0], "PING");
    if (!r) {
        conn_drop(c, 0);
        return 0;
    }
    int ok = r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    return ok;
}

/* ---- argument vectors ---- */

static int args_grow(redis_args *a)
{
    if (a->n < a->cap) return 0;
    int cap = a->cap ? a->cap * 2 : 16;
    const char **v = realloc(a->v, (size_t)cap * sizeof *v);
    if (!v) return -1;
    a->v = v;
    size_t *len = realloc(a->len, (size_t)cap * sizeof *len);
    if (!len) return -1;
    a->len = len;
    a->cap = cap;
    return 0;
}

int redis_args_str(redis_args *a, const char *s, size_t len)
{
    if (args_grow(a)) {
        diag_set(DIAG_INTERNAL, "out of memory");
        return -1;
    }
    a->v[a->n] = s;
    a->len[a->n++] = len;
    return 0;
}

int redis_args_cstr(redis_args *a, const char *s)
{
    return redis_args_str(a, s ? s : "", s ? strlen(s) : 0);
}

/* Adds `s` (malloc'd, len bytes) and takes ownership of it. */
static int args_own(redis_args *a, char *s, size_t len)
{
    if (!s) goto oom;
    if (a->n_owned == a->cap_owned) {
        int cap = a->cap_owned ? a->cap_owned * 2 : 16;
        char **o = realloc(a->owned, (size_t)cap * sizeof *o);
        if (!o) goto oom;
        a->owned = o;
        a->cap_owned = cap;
    }
    a->owned[a->n_owned++] = s;
    return redis_args_str(a, s, len);
oom:
    free(s);
    diag_set(DIAG_INTERNAL, "out of memory");
    return -1;
}

int redis_args_int(redis_args *a, int64_t v)
{
    char *s = malloc(24);
    if (!s) return args_own(a, NULL, 0);
    size_t len = text_decimal(s, v);
    s[len] = '\0';
    return args_own(a, s, len);
}

int redis_args_dup(redis_args *a, const char *s, size_t len)
{
    char *copy = malloc(len + 1);
    if (copy) {
        memcpy(copy, s, len);
        copy[len] = '\0';
    }
    return args_own(a, copy, len);
}

int redis_args_join(redis_args *a, const char *const *parts, int n)
{
    size_t total = 0;
    for (int i = 0; i < n; i++) total += (parts[i] ? strlen(parts[i]) : 0) + 1;
    char *s = malloc(total + 1);
    if (!s) return args_own(a, NULL, 0);
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        if (i) s[at++] = '\x1f';
        size_t len = parts[i] ? strlen(parts[i]) : 0;
        memcpy(s + at, parts[i] ? parts[i] : "", len);
        at += len;
    }
    s[at] = '\0';
    return args_own(a, s, at);
}

void redis_args_free(redis_args *a)
{
    for (int i = 0; i < a->n_owned; i++) free(a->owned[i]);
    free(a->owned);
    free(a->v);
    free(a->len);
    memset(a, 0, sizeof *a);
}
