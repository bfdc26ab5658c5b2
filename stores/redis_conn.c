/* redis_conn.c: per-thread hiredis connections with reconnect and backoff,
 * and the argument vectors commands are built from (see redis_int.h).
 * hiredis sync contexts are not thread-safe: each calling thread gets its
 * own context through a pthread key, registered in the pool so that
 * redis_conn_pool_free closes them all. */
#include "redis_int.h"

#include <errno.h>
#include <inttypes.h>
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

typedef struct redis_conn {
    redisContext *ctx;
    struct redis_conn_pool *pool;
    struct redis_conn *prev, *next;
} redis_conn;

struct redis_conn_pool {
    char *host;
    int port;
    char *user;     /* NULL: AUTH with the password only */
    char *password; /* NULL: no AUTH */
    int db;
    atomic_int retry_ms;
    pthread_key_t key;
    pthread_mutex_t lock;
    redis_conn *all; /* every live thread's connection */
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
    if (c->ctx) redisFree(c->ctx);
    free(c);
}

/* The calling thread's connection record (created on first use), or NULL
 * on OOM. Its ctx may be NULL (not connected). */
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

static void conn_drop(redis_conn *c)
{
    if (c->ctx) redisFree(c->ctx);
    c->ctx = NULL;
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

/* Connects the thread's context when it has none. 0, or -1 with the
 * reason in `why`. */
static int conn_open(redis_conn_pool *p, redis_conn *c, char *why, size_t why_len)
{
    if (c->ctx) return 0;
    redisContext *ctx = redisConnectWithTimeout(p->host, p->port, timeval_ms(CONNECT_TIMEOUT_MS));
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
    c->ctx = ctx;
    return 0;
fail:
    redisFree(ctx);
    return -1;
}

/* Server errors worth waiting out: the server is starting, busy with a
 * script, failing over, or we reached a replica. */
static int reply_transient(const redisReply *r)
{
    static const char *prefixes[] = {"LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN",
                                     "READONLY"};
    if (r->type != REDIS_REPLY_ERROR) return 0;
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
        if (strncmp(r->str, prefixes[i], strlen(prefixes[i])) == 0) return 1;
    return 0;
}

/* Splits "host:port" (or "[v6]:port") into the pool. 0 or -1. */
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
    p->port = 6379;
    if (colon) {
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (end != s + len || port <= 0 || port > 65535) return -1;
        p->port = (int)port;
    }
    p->host = host_len ? strndup(host, host_len) : strdup("127.0.0.1");
    return p->host ? 0 : -1;
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
        free(p->host);
        free(p->user);
        free(p->password);
        free(p);
        return NULL;
    }
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
    free(p->host);
    free(p->user);
    free(p->password);
    free(p);
}

void redis_conn_pool_set_retry_ms(redis_conn_pool *p, int ms)
{
    atomic_store(&p->retry_ms, ms < 0 ? 0 : ms);
}

redisReply *redis_conn_command(redis_conn_pool *p, int argc, const char **argv,
                               const size_t *lens, int block_ms)
{
    redis_conn *c = conn_get(p);
    if (!c) {
        diag_set(DIAG_INTERNAL, "out of memory");
        return NULL;
    }
    int64_t deadline = clock_monotonic_ms() + atomic_load(&p->retry_ms);
    int backoff = BACKOFF_FIRST_MS;
    char why[256] = "";
    for (int attempt = 0;; attempt++) {
        if (attempt > 0) {
            int64_t left = deadline - clock_monotonic_ms();
            if (left <= 0) break;
            clock_sleep_ms(backoff < left ? backoff : left);
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
        }
        if (conn_open(p, c, why, sizeof why) != 0) continue;
        if (block_ms > 0) redisSetTimeout(c->ctx, timeval_ms(block_ms + COMMAND_TIMEOUT_MS));
        redisReply *r = redisCommandArgv(c->ctx, argc, argv, lens);
        if (!r) {
            snprintf(why, sizeof why, "%s", c->ctx->errstr);
            log_warn_limited("redis_conn", "redis %s:%d: %s; reconnecting", p->host,
                             p->port, why);
            conn_drop(c);
            continue;
        }
        if (block_ms > 0) redisSetTimeout(c->ctx, timeval_ms(COMMAND_TIMEOUT_MS));
        if (reply_transient(r)) {
            snprintf(why, sizeof why, "%s", r->str);
            freeReplyObject(r);
            continue;
        }
        return r;
    }
    diag_set(DIAG_IO, "redis %s:%d: %s", p->host, p->port, why[0] ? why : "unreachable");
    return NULL;
}

/* Frees replies[0..n) and NULLs them. */
static void replies_free(redisReply **replies, int n)
{
    for (int i = 0; i < n; i++) {
        if (replies[i]) freeReplyObject(replies[i]);
        replies[i] = NULL;
    }
}

/* One round of a pipeline: 0 all replies read and none transient, -1 with
 * the reason in `why` (connection dropped on I/O errors). */
static int pipeline_round(redis_conn *c, int n, const int *argc, const char *const *const *argv,
                          const size_t *const *lens, redisReply **replies, char *why,
                          size_t why_len)
{
    for (int i = 0; i < n; i++)
        redisAppendCommandArgv(c->ctx, argc[i], (const char **)argv[i], lens[i]);
    for (int i = 0; i < n; i++) {
        void *r = NULL;
        if (redisGetReply(c->ctx, &r) != REDIS_OK || !r) {
            snprintf(why, why_len, "%s", c->ctx->errstr);
            conn_drop(c);
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

int redis_conn_pipeline(redis_conn_pool *p, int n, const int *argc, const char *const *const *argv,
                        const size_t *const *lens, redisReply **replies)
{
    redis_conn *c = conn_get(p);
    memset(replies, 0, (size_t)n * sizeof *replies);
    if (!c) {
        diag_set(DIAG_INTERNAL, "out of memory");
        return -1;
    }
    int64_t deadline = clock_monotonic_ms() + atomic_load(&p->retry_ms);
    int backoff = BACKOFF_FIRST_MS;
    char why[256] = "";
    for (int attempt = 0;; attempt++) {
        if (attempt > 0) {
            int64_t left = deadline - clock_monotonic_ms();
            if (left <= 0) break;
            clock_sleep_ms(backoff < left ? backoff : left);
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
        }
        if (conn_open(p, c, why, sizeof why) != 0) continue;
        if (pipeline_round(c, n, argc, argv, lens, replies, why, sizeof why) == 0) return 0;
        log_warn_limited("redis_conn", "redis %s:%d: %s; retrying", p->host, p->port, why);
        replies_free(replies, n);
    }
    diag_set(DIAG_IO, "redis %s:%d: %s", p->host, p->port, why[0] ? why : "unreachable");
    return -1;
}

int redis_conn_ping(redis_conn_pool *p)
{
    redis_conn *c = conn_get(p);
    char why[256];
    if (!c || conn_open(p, c, why, sizeof why) != 0) return 0;
    redisReply *r = redisCommand(c->ctx, "PING");
    if (!r) {
        conn_drop(c);
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
    int len = snprintf(s, 24, "%" PRId64, v);
    return args_own(a, s, (size_t)len);
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
