/* memory_queue_admin.c: the memory queue seen by operators: statistics,
 * parked groups (list, retry, skip) and pending work per origin. */
#include "memory_internal.h"
#include "diag.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- stats */

typedef struct mstats {
    es_queue_stats *rows;
    size_t n, cap;
    int64_t now;
    int oom;
} mstats;

/* The row of (pipeline, component, kind), added when new; NULL on OOM. */
static es_queue_stats *memory_queue_stats_row(mstats *st, const es_job *job)
{
    const char *pipeline = job->pipeline ? job->pipeline : "";
    const char *component = job->component ? job->component : "";
    for (size_t i = 0; i < st->n; i++) {
        es_queue_stats *row = &st->rows[i];
        if (row->kind == job->kind && strcmp(row->pipeline, pipeline) == 0 &&
            strcmp(row->component, component) == 0)
            return row;
    }
    if (st->n == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 8;
        es_queue_stats *rows = realloc(st->rows, cap * sizeof *rows);
        if (!rows) return NULL;
        st->rows = rows;
        st->cap = cap;
    }
    es_queue_stats *row = &st->rows[st->n];
    memset(row, 0, sizeof *row);
    row->kind = job->kind;
    row->pipeline = strdup(pipeline);
    row->component = strdup(component);
    if (!row->pipeline || !row->component) {
        free((char *)row->pipeline);
        free((char *)row->component);
        return NULL;
    }
    st->n++;
    return row;
}

static void memory_queue_stats_group(mmap_node *node, void *ud)
{
    mstats *st = ud;
    const mgroup *g = MMAP_ENTRY(node, mgroup, node);
    if (g->parked && g->head) {
        es_queue_stats *row = memory_queue_stats_row(st, &g->head->job);
        if (!row) st->oom = 1;
        else row->parked_groups++;
    }
    for (const mjob *j = g->head; j && !st->oom; j = j->next) {
        es_queue_stats *row = memory_queue_stats_row(st, &j->job);
        if (!row) {
            st->oom = 1;
        } else if (g->parked) {
            row->parked += job_items(&j->job);
        } else if (j->in_flight) {
            row->in_flight += job_items(&j->job);
        } else if (j->job.run_at > st->now) {
            row->delayed += job_items(&j->job);
        } else {
            row->pending += job_items(&j->job);
            if (!row->oldest_pending_at || j->enqueued_at < row->oldest_pending_at)
                row->oldest_pending_at = j->enqueued_at;
        }
    }
}

int memory_queue_stats(es_store *base, int64_t now, es_stats_cb cb, void *ud)
{
    mstore *s = (mstore *)base;
    mstats st = {.now = now};
    memory_store_lock(s);
    mmap_each(&s->groups, memory_queue_stats_group, &st);
    memory_store_unlock(s);
    int rc = 0;
    if (st.oom) {
        diag_set(DIAG_INTERNAL, "out of memory computing queue stats");
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < st.n; i++)
        if (cb(ud, &st.rows[i])) break;
    for (size_t i = 0; i < st.n; i++) {
        free((char *)st.rows[i].pipeline);
        free((char *)st.rows[i].component);
    }
    free(st.rows);
    return rc;
}

/* ---------------------------------------------------------------- parked */

/* A parked group copied out, so callbacks run without the lock. */
typedef struct mparked {
    es_parked_group *groups;
    es_job *heads;
    size_t n, cap;
    const char *tenant_id;
    int oom;
} mparked;

static void memory_queue_parked_collect(mmap_node *node, void *ud)
{
    mparked *pl = ud;
    const mgroup *g = MMAP_ENTRY(node, mgroup, node);
    if (pl->oom || !g->parked || !g->head) return;
    const es_job *head = &g->head->job;
    if (pl->tenant_id && (!head->tenant_id || strcmp(head->tenant_id, pl->tenant_id) != 0))
        return;
    if (pl->n == pl->cap) {
        size_t cap = pl->cap ? pl->cap * 2 : 8;
        es_parked_group *groups = realloc(pl->groups, cap * sizeof *groups);
        if (groups) pl->groups = groups;
        es_job *heads = groups ? realloc(pl->heads, cap * sizeof *heads) : NULL;
        if (heads) pl->heads = heads;
        if (!groups || !heads) {
            pl->oom = 1;
            return;
        }
        pl->cap = cap;
    }
    if (job_copy(&pl->heads[pl->n], head) != 0) {
        pl->oom = 1;
        return;
    }
    es_parked_group *out = &pl->groups[pl->n++];
    out->jobs_waiting = (int64_t)g->n;
    out->parked_at = g->parked_at;
}

/* Oldest parked first. */
static int memory_queue_parked_cmp(const void *a, const void *b)
{
    const es_parked_group *x = a, *y = b;
    return (x->parked_at > y->parked_at) - (x->parked_at < y->parked_at);
}

int memory_queue_parked_list(es_store *base, const char *tenant_id, es_parked_cb cb,
                             void *ud)
{
    mstore *s = (mstore *)base;
    mparked pl = {.tenant_id = tenant_id};
    memory_store_lock(s);
    mmap_each(&s->groups, memory_queue_parked_collect, &pl);
    memory_store_unlock(s);
    /* Point every row at its own copy (the group key is the head's). */
    for (size_t i = 0; i < pl.n; i++) {
        es_parked_group *g = &pl.groups[i];
        const es_job *head = &pl.heads[i];
        g->head = head;
        g->group_key = head->group_key;
        g->tenant_id = head->tenant_id;
        g->pipeline = head->pipeline;
        g->component = head->component;
    }
    if (pl.n > 1) qsort(pl.groups, pl.n, sizeof *pl.groups, memory_queue_parked_cmp);
    int rc = 0;
    if (pl.oom) {
        diag_set(DIAG_INTERNAL, "out of memory listing parked groups");
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < pl.n; i++)
        if (cb(ud, &pl.groups[i])) break;
    for (size_t i = 0; i < pl.n; i++) job_clear(&pl.heads[i]);
    free(pl.heads);
    free(pl.groups);
    return rc;
}

/* A prepared unpark of one group (retry or skip). */
typedef struct munpark {
    char *group_key;
    int skip;
    int64_t now;
} munpark;

static void memory_queue_unpark_run(mstore *s, void *p)
{
    munpark *u = p;
    mmap_node *node = mmap_get(&s->groups, u->group_key);
    mgroup *g = node ? MMAP_ENTRY(node, mgroup, node) : NULL;
    if (!g || !g->parked) return; /* checked at submit */
    g->parked = 0;
    mjob *head = g->head;
    if (u->skip && head->job.skip_payload) {
        /* a job of several items: the failed item goes, the others stay */
        mjob *dead = calloc(1, sizeof *dead);
        if (dead && job_copy(&dead->job, &head->job) == 0) {
            dead->next = s->dead;
            s->dead = dead;
        } else {
            free(dead);
        }
        free(head->job.payload);
        head->job.payload = head->job.skip_payload;
        head->job.payload_len = head->job.skip_payload_len;
        head->job.skip_payload = NULL;
        head->job.skip_payload_len = 0;
        if (head->job.items > 1) head->job.items--;
        head->job.attempts = 0;
        head->job.run_at = u->now;
        free(head->job.last_error);
        head->job.last_error = NULL;
    } else if (u->skip) {
        mjob *dead = memory_queue_group_pop(g);
        if (dead->id_indexed) mmap_remove(&s->job_ids, &dead->id_node);
        if (dead->dedup_indexed) mmap_remove(&s->job_dedup, &dead->dedup_node);
        dead->id_indexed = dead->dedup_indexed = 0;
        dead->next = s->dead;
        s->dead = dead;
    } else {
        g->head->job.attempts = 0;
        g->head->job.run_at = u->now;
        free(g->head->job.last_error);
        g->head->job.last_error = NULL;
    }
    memory_queue_group_settle(s, g, u->now);
}

static void memory_queue_unpark_drop(void *p)
{
    munpark *u = p;
    free(u->group_key);
    free(u);
}

/* 0 done, 1 when the group is not parked, -1 with a diag on OOM. */
static int memory_queue_unpark(mstore *s, const char *group_key, int skip, int64_t now)
{
    munpark *u = calloc(1, sizeof *u);
    if (u && !(u->group_key = strdup(group_key))) {
        free(u);
        u = NULL;
    }
    if (!u) {
        diag_set(DIAG_INTERNAL, "out of memory unparking a group");
        return -1;
    }
    u->skip = skip;
    u->now = now;
    memory_store_lock(s);
    mmap_node *node = mmap_get(&s->groups, group_key);
    int rc = 1;
    if (!node || !MMAP_ENTRY(node, mgroup, node)->parked)
        memory_queue_unpark_drop(u);
    else
        rc = memory_store_submit(s, memory_queue_unpark_run, memory_queue_unpark_drop, u);
    memory_store_unlock(s);
    return rc;
}

int memory_queue_parked_retry(es_store *base, const char *group_key, int64_t now)
{
    return memory_queue_unpark((mstore *)base, group_key, 0, now);
}

int memory_queue_parked_skip(es_store *base, const char *group_key, int64_t now)
{
    return memory_queue_unpark((mstore *)base, group_key, 1, now);
}

/* ---------------------------------------------------------------- origin */

typedef struct morigin {
    const char *origin_id;
    unsigned kind_mask;
    int64_t count;
} morigin;

static void memory_queue_origin_group(mmap_node *node, void *ud)
{
    morigin *o = ud;
    const mgroup *g = MMAP_ENTRY(node, mgroup, node);
    for (const mjob *j = g->head; j; j = j->next)
        if (j->job.origin_id && (o->kind_mask & (1u << j->job.kind)) &&
            strcmp(j->job.origin_id, o->origin_id) == 0)
            o->count++;
}

int memory_queue_origin_pending(es_store *base, const char *origin_id,
                                unsigned kind_mask, int64_t *count)
{
    mstore *s = (mstore *)base;
    if (!origin_id) {
        diag_set(DIAG_INVALID, "queue_origin_pending: origin id missing");
        return -1;
    }
    /* a scan of every queued job: fine for the test backend */
    morigin o = {origin_id, kind_mask, 0};
    memory_store_lock(s);
    mmap_each(&s->groups, memory_queue_origin_group, &o);
    memory_store_unlock(s);
    *count = o.count;
    return 0;
}
