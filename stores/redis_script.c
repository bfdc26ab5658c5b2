/* redis_script.c: the queue's server-side Lua scripts (the .lua files of stores/redis,
 * embedded as redis_scripts; the queue_* scripts get the libraries
 * queue_lib.lua, and queue_push.lua when they enqueue, prepended), loaded with SCRIPT LOAD (which gives the sha)
 * and called with EVALSHA; a node that answers NOSCRIPT (after a restart or
 * SCRIPT FLUSH, or a cluster node that never ran the script) is sent the
 * call again as EVAL, which caches the script there. */
#include "redis_int.h"

#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "lua_sources.h"

/* Generated from stores/redis/ by cmake/embed_lua.cmake. */
extern const lua_source redis_scripts[];

static const char *const script_modules[REDIS_SCRIPT_COUNT] = {
    [REDIS_SCRIPT_ENQUEUE] = "queue_enqueue",
    [REDIS_SCRIPT_CLAIM] = "queue_claim",
    [REDIS_SCRIPT_EXTEND] = "queue_extend",
    [REDIS_SCRIPT_FAIL] = "queue_fail",
    [REDIS_SCRIPT_PARKED_LIST] = "queue_parked_list",
    [REDIS_SCRIPT_PARKED_RETRY] = "queue_parked_retry",
    [REDIS_SCRIPT_PARKED_SKIP] = "queue_parked_skip",
    [REDIS_SCRIPT_STATS] = "queue_stats",
    [REDIS_SCRIPT_FOLD_PUT] = "fold_put",
    [REDIS_SCRIPT_PAUSE_SET] = "queue_pause_set",
    [REDIS_SCRIPT_FOLD_SWAP] = "fold_swap",
    [REDIS_SCRIPT_EVENT_INDEX] = "event_index",
    [REDIS_SCRIPT_FINISH] = "queue_finish",
};

static const lua_source *script_find(const char *module)
{
    for (const lua_source *src = redis_scripts; src->module; src++)
        if (strcmp(src->module, module) == 0) return src;
    return NULL;
}

int redis_scripts_init(redis_script_set *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    const lua_source *lib = script_find("queue_lib"), *push = script_find("queue_push");
    for (int i = 0; i < REDIS_SCRIPT_COUNT; i++) {
        const lua_source *src = script_find(script_modules[i]);
        if (!src || !lib || !push) {
            diag_set(DIAG_INTERNAL, "redis script %s is not embedded", script_modules[i]);
            redis_scripts_destroy(s);
            return -1;
        }
        const lua_source *parts[3] = {NULL, NULL, src};
        if (strncmp(script_modules[i], "queue_", 6) == 0) parts[0] = lib;
        if (i == REDIS_SCRIPT_ENQUEUE || i == REDIS_SCRIPT_FINISH) parts[1] = push;
        size_t len = 0;
        for (int k = 0; k < 3; k++)
            if (parts[k]) len += parts[k]->len + 1;
        char *body = malloc(len + 1);
        if (!body) {
            diag_set(DIAG_INTERNAL, "out of memory");
            redis_scripts_destroy(s);
            return -1;
        }
        size_t at = 0;
        for (int k = 0; k < 3; k++) {
            if (!parts[k]) continue;
            memcpy(body + at, parts[k]->code, parts[k]->len);
            body[at + parts[k]->len] = '\n';
            at += parts[k]->len + 1;
        }
        body[len] = '\0';
        s->body[i] = body;
        s->len[i] = len;
    }
    return 0;
}

void redis_scripts_destroy(redis_script_set *s)
{
    for (int i = 0; i < REDIS_SCRIPT_COUNT; i++) free(s->body[i]);
    pthread_mutex_destroy(&s->lock);
    memset(s->body, 0, sizeof s->body);
}

/* SCRIPT LOAD of one script; remembers its sha. 0 or -1 with diag. */
static int script_load(redis_conn_pool *p, redis_script_set *s, redis_script_id id)
{
    const char *argv[3] = {"SCRIPT", "LOAD", s->body[id]};
    size_t lens[3] = {6, 4, s->len[id]};
    redisReply *r = redis_conn_command(p, 3, argv, lens, 0);
    if (!r) return -1;
    int rc = 0;
    if (r->type == REDIS_REPLY_STRING && r->len == 40) {
        pthread_mutex_lock(&s->lock);
        memcpy(s->sha[id], r->str, 40);
        s->sha[id][40] = '\0';
        pthread_mutex_unlock(&s->lock);
    } else {
        diag_set(DIAG_BACKEND, "redis: SCRIPT LOAD %s: %s", script_modules[id],
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        rc = -1;
    }
    freeReplyObject(r);
    return rc;
}

/* Sets argv[0..1] of a script call: EVALSHA and the sha, or, with `eval`,
 * EVAL and the body. A node answers NOSCRIPT when its script cache lacks
 * the script (it restarted, was flushed, or is a cluster node that never
 * ran it); EVAL runs the call there and caches the script for the next
 * EVALSHA. The EVAL goes where the EVALSHA went, redirects included
 * (SCRIPT LOAD has no key to be routed by). */
static void script_verb(const redis_script_set *s, redis_script_id id, int eval,
                        const char **argv, size_t *lens, const char *sha)
{
    argv[0] = eval ? "EVAL" : "EVALSHA";
    lens[0] = eval ? 4 : 7;
    argv[1] = eval ? s->body[id] : sha;
    lens[1] = eval ? s->len[id] : 40;
}

redisReply *redis_script_call(redis_conn_pool *p, redis_script_set *s, redis_script_id id,
                              const char *key, const redis_args *args, int block_ms)
{
    int argc = args->n + 4;
    const char **argv = malloc((size_t)argc * sizeof *argv);
    size_t *lens = malloc((size_t)argc * sizeof *lens);
    redisReply *r = NULL;
    char sha[41];
    if (!argv || !lens) {
        diag_set(DIAG_INTERNAL, "out of memory");
        goto out;
    }
    argv[0] = "EVALSHA";
    argv[1] = sha;
    argv[2] = "1";
    argv[3] = key;
    lens[0] = 7;
    lens[1] = 40;
    lens[2] = 1;
    lens[3] = strlen(key);
    if (args->n) {
        memcpy(argv + 4, args->v, (size_t)args->n * sizeof *argv);
        memcpy(lens + 4, args->len, (size_t)args->n * sizeof *lens);
    }
    for (int attempt = 0, eval = 0; attempt < 3; attempt++) {
        if (!eval) {
            pthread_mutex_lock(&s->lock);
            memcpy(sha, s->sha[id], sizeof sha);
            pthread_mutex_unlock(&s->lock);
            if (!sha[0]) {
                if (script_load(p, s, id) != 0) goto out;
                continue;
            }
        }
        script_verb(s, id, eval, argv, lens, sha);
        r = redis_conn_command(p, argc, argv, lens, block_ms);
        if (!r) goto out;
        if (r->type != REDIS_REPLY_ERROR) goto out;
        if (eval || strncmp(r->str, "NOSCRIPT", 8) != 0) break;
        freeReplyObject(r);
        r = NULL;
        eval = 1;
    }
    if (r) {
        diag_set(DIAG_BACKEND, "redis script %s: %s", script_modules[id], r->str);
        freeReplyObject(r);
        r = NULL;
    } else {
        diag_set(DIAG_BACKEND, "redis script %s: could not be loaded", script_modules[id]);
    }
out:
    free(argv);
    free(lens);
    return r;
}

int redis_script_call_many(redis_conn_pool *p, redis_script_set *s, redis_script_id id,
                           const char *key, int n, const redis_args *args,
                           redisReply **replies)
{
    int *argc = malloc((size_t)n * sizeof *argc);
    const char ***argv = calloc((size_t)n, sizeof *argv);
    size_t **lens = calloc((size_t)n, sizeof *lens);
    char sha[41];
    int rc = -1;
    memset(replies, 0, (size_t)n * sizeof *replies);
    if (!argc || !argv || !lens) goto oom;
    for (int i = 0; i < n; i++) {
        argc[i] = args[i].n + 4;
        argv[i] = malloc((size_t)argc[i] * sizeof **argv);
        lens[i] = malloc((size_t)argc[i] * sizeof **lens);
        if (!argv[i] || !lens[i]) goto oom;
        argv[i][0] = "EVALSHA";
        argv[i][1] = sha;
        argv[i][2] = "1";
        argv[i][3] = key;
        lens[i][0] = 7;
        lens[i][1] = 40;
        lens[i][2] = 1;
        lens[i][3] = strlen(key);
        if (args[i].n) {
            memcpy(argv[i] + 4, args[i].v, (size_t)args[i].n * sizeof **argv);
            memcpy(lens[i] + 4, args[i].len, (size_t)args[i].n * sizeof **lens);
        }
    }
    for (int attempt = 0; attempt < 3 && rc != 0; attempt++) {
        if (attempt == 0) {
            pthread_mutex_lock(&s->lock);
            memcpy(sha, s->sha[id], sizeof sha);
            pthread_mutex_unlock(&s->lock);
            if (!sha[0]) {
                if (script_load(p, s, id) != 0) goto out;
                pthread_mutex_lock(&s->lock);
                memcpy(sha, s->sha[id], sizeof sha);
                pthread_mutex_unlock(&s->lock);
            }
        }
        /* After a NOSCRIPT the whole batch again, its first call as EVAL:
         * it caches the script where the batch goes, ahead of the rest. */
        if (n > 0) script_verb(s, id, attempt > 0, argv[0], lens[0], sha);
        if (redis_conn_pipeline(p, n, argc, (const char *const *const *)argv,
                                (const size_t *const *)lens, replies) != 0)
            goto out;
        int noscript = 0, failed = -1;
        for (int i = 0; i < n; i++) {
            if (replies[i]->type != REDIS_REPLY_ERROR) continue;
            if (strncmp(replies[i]->str, "NOSCRIPT", 8) == 0) noscript = 1;
            else if (failed < 0) failed = i;
        }
        if (failed >= 0) {
            diag_set(DIAG_BACKEND, "redis script %s: %s", script_modules[id], replies[failed]->str);
            goto out;
        }
        if (!noscript) rc = 0;
        else
            for (int i = 0; i < n; i++) {
                freeReplyObject(replies[i]);
                replies[i] = NULL;
            }
    }
    if (rc != 0) diag_set(DIAG_BACKEND, "redis script %s: could not be loaded", script_modules[id]);
    goto out;
oom:
    diag_set(DIAG_INTERNAL, "out of memory");
out:
    if (rc != 0)
        for (int i = 0; i < n; i++) {
            if (replies[i]) freeReplyObject(replies[i]);
            replies[i] = NULL;
        }
    for (int i = 0; argv && lens && i < n; i++) {
        free(argv[i]);
        free(lens[i]);
    }
    free(argc);
    free(argv);
    free(lens);
    return rc;
}
