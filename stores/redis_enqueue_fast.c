/* redis_enqueue_fast.c: fast jobs onto groups that already hold jobs,
 * without a script. A fast job (fresh id, due, no dedup key nor origin;
 * redis_enqueue_is_fast) is all in its list element. Pushed onto a group
 * whose list is not empty, it needs nothing else: a group's list is empty
 * exactly when the group has no state (queue_push.lua), and a fast element
 * leaves a live group's state as it is. So an enqueue first sends,
 * pipelined, one RPUSHX per group whose jobs in the call are all fast,
 * with their elements in order. Redis runs each atomically: the group
 * takes them all, or has no list (new, or drained meanwhile) and takes
 * none; those go through the enqueue script, which makes the group. A
 * group with any other job in the call goes through the script whole, so
 * its jobs keep their order. Why: in the script, the jobs' arguments, the
 * table of pushes and each redis.call cost Redis ~9 us per job
 * (bench/clickhouse, enqueue phase); a plain RPUSHX costs it ~2.
 * Retries are those of the script: a connection lost after Redis ran the
 * pipeline sends it again (redis_conn_pipeline), as it does a script. */
#include "redis_int.h"

#include <stdlib.h>
#include <string.h>

#include "diag.h"

/* The byte budget of one round of RPUSHX commands; a group whose elements
 * exceed it alone goes through the script. */
#define FAST_ROUND_BYTES (8u << 20)

/* A job's index with its group key, sorted by group then index (so that
 * each group's jobs keep their order). */
typedef struct job_ref {
    const char *group;
    size_t i;
} job_ref;

static int by_group(const void *a, const void *b)
{
    const job_ref *x = a, *y = b;
    int c = strcmp(x->group, y->group);
    return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* One RPUSHX being built: the group's run of sorted indexes [from, to). */
typedef struct fast_command {
    size_t from, to;
    int argc;
    const char **argv;
    size_t *lens;
    char *key;
} fast_command;

static void command_free(fast_command *c)
{
    free(c->argv);
    free(c->lens);
    free(c->key);
}

/* Builds the RPUSHX of the run idx[from, to) (all fast, elements built). */
static int command_build(redis_store *rs, const redis_fast_push *fp, const job_ref *idx,
                         size_t from, size_t to, fast_command *c)
{
    memset(c, 0, sizeof *c);
    c->from = from;
    c->to = to;
    c->argc = (int)(to - from) + 2;
    c->argv = malloc((size_t)c->argc * sizeof *c->argv);
    c->lens = malloc((size_t)c->argc * sizeof *c->lens);
    if (!c->argv || !c->lens) {
        diag_set(DIAG_INTERNAL, "out of memory");
        return -1;
    }
    if (!(c->key = redis_group_list_key(rs, idx[from].group))) return -1;
    c->argv[0] = "RPUSHX";
    c->lens[0] = 6;
    c->argv[1] = c->key;
    c->lens[1] = strlen(c->key);
    for (size_t k = from; k < to; k++) {
        c->argv[2 + k - from] = fp->element[idx[k].i];
        c->lens[2 + k - from] = fp->len[idx[k].i];
    }
    return 0;
}

/* Sends cmds[0..n) at once and marks the jobs of each group that took
 * them as pushed (their elements freed). 0, or -1 with a diag. */
static int round_send(redis_store *rs, redis_fast_push *fp, const job_ref *idx,
                      fast_command *cmds, int n)
{
    if (n == 0) return 0;
    int *argc = calloc((size_t)n, sizeof *argc);
    const char *const **argv = calloc((size_t)n, sizeof *argv);
    const size_t **lens = calloc((size_t)n, sizeof *lens);
    redisReply **replies = calloc((size_t)n, sizeof *replies);
    int rc = -1;
    if (!argc || !argv || !lens || !replies) {
        diag_set(DIAG_INTERNAL, "out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        argc[i] = cmds[i].argc;
        argv[i] = cmds[i].argv;
        lens[i] = cmds[i].lens;
    }
    if (redis_conn_pipeline(rs->pool, n, argc, argv, lens, replies) != 0) goto out;
    rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        const redisReply *r = replies[i];
        if (r->type != REDIS_REPLY_INTEGER) {
            diag_set(DIAG_BACKEND, "redis queue: RPUSHX of group jobs: %s",
                     r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
            rc = -1;
        } else if (r->integer > 0) {
            for (size_t k = cmds[i].from; k < cmds[i].to; k++) {
                fp->pushed[idx[k].i] = 1;
                free(fp->element[idx[k].i]);
                fp->element[idx[k].i] = NULL;
            }
        }
    }
out:
    if (replies)
        for (int i = 0; i < n; i++)
            if (replies[i]) freeReplyObject(replies[i]);
    free(argc);
    free(argv);
    free(lens);
    free(replies);
    return rc;
}

/* The end of the run of sorted indexes starting at `from` (one group). */
static size_t run_end(const job_ref *idx, size_t n, size_t from)
{
    size_t to = from + 1;
    while (to < n && strcmp(idx[to].group, idx[from].group) == 0) to++;
    return to;
}

/* Builds the elements of the run idx[from, to) when all its jobs are fast
 * and fit a round; their bytes in *bytes. 1 built, 0 not a fast run, -1
 * with a diag. */
static int run_elements(redis_store *rs, redis_fast_push *fp, const es_job *jobs,
                        const job_ref *idx, size_t from, size_t to, int64_t now, size_t *bytes)
{
    *bytes = 0;
    for (size_t k = from; k < to; k++) {
        const es_job *j = &jobs[idx[k].i];
        if (!redis_enqueue_is_fast(j, 0, now)) return 0;
        *bytes += j->payload_len;
    }
    if (*bytes >= FAST_ROUND_BYTES) return 0;
    for (size_t k = from; k < to; k++) {
        size_t i = idx[k].i;
        if (!(fp->element[i] = redis_enqueue_fast_element(rs, &jobs[i], now, &fp->len[i])))
            return -1;
    }
    return 1;
}

int redis_enqueue_fast_push(redis_store *rs, const es_job *jobs, size_t n, int64_t now,
                            redis_fast_push *out)
{
    memset(out, 0, sizeof *out);
    out->n = n;
    out->pushed = calloc(n ? n : 1, 1);
    out->element = calloc(n ? n : 1, sizeof *out->element);
    out->len = calloc(n ? n : 1, sizeof *out->len);
    job_ref *idx = malloc((n ? n : 1) * sizeof *idx);
    fast_command *cmds = malloc((n ? n : 1) * sizeof *cmds);
    if (!out->pushed || !out->element || !out->len || !idx || !cmds) {
        free(idx);
        free(cmds);
        diag_set(DIAG_INTERNAL, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) idx[i] = (job_ref){jobs[i].group_key, i};
    qsort(idx, n, sizeof *idx, by_group);
    int rc = 0, n_cmds = 0;
    size_t round_bytes = 0;
    for (size_t from = 0; rc == 0 && from < n;) {
        size_t to = run_end(idx, n, from), bytes;
        int fast = run_elements(rs, out, jobs, idx, from, to, now, &bytes);
        if (fast < 0) rc = -1;
        if (fast > 0 && round_bytes + bytes >= FAST_ROUND_BYTES) {
            rc = round_send(rs, out, idx, cmds, n_cmds);
            for (int c = 0; c < n_cmds; c++) command_free(&cmds[c]);
            n_cmds = 0;
            round_bytes = 0;
        }
        if (rc == 0 && fast > 0) {
            rc = command_build(rs, out, idx, from, to, &cmds[n_cmds++]);
            round_bytes += bytes;
        }
        from = to;
    }
    if (rc == 0) rc = round_send(rs, out, idx, cmds, n_cmds);
    for (int c = 0; c < n_cmds; c++) command_free(&cmds[c]);
    free(cmds);
    free(idx);
    return rc;
}

void redis_fast_push_free(redis_fast_push *fp)
{
    if (fp->element)
        for (size_t i = 0; i < fp->n; i++) free(fp->element[i]);
    free(fp->element);
    free(fp->pushed);
    free(fp->len);
    memset(fp, 0, sizeof *fp);
}
