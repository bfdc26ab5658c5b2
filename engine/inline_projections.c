/* inline_projections.c: folds and maps run before a command batch's unit of
 * work and written inside it once verified; and, when the queue is a store
 * apart, maps run inside the unit (see inline_projections.h). */
#include "inline_projections.h"
#include "diag.h"
#include "fold_mirror.h"
#include "log.h"
#include "metrics.h"

#include <stdlib.h>
#include <string.h>

/* The batch's events of one route (kind, pipeline, component, key), in seq
 * order, and what running the route's script on them gave. */
typedef struct route_run {
    es_route **members; /* members[j]: events[j]'s entry for this route */
    es_event *events;   /* shallow copies with the predicted seqs, not owned */
    size_t *unit_index; /* index of events[j] in the batch */
    size_t n, cap;
    int ready;          /* the script ran without error: may be written */
    es_component_info info;
    /* folds: the state folded from, and the result after events[skip..] */
    char *state;
    int64_t last_seq;
    size_t skip;
    es_fold_result fold;
    /* maps: records[j] of events[j], or NULL */
    char **records;
} route_run;

struct inline_plan {
    route_run *runs;
    size_t n;
};

static int same_route(const es_route *a, const es_route *b)
{
    return a->kind == b->kind && a->keyed == b->keyed && strcmp(a->key, b->key) == 0 &&
           strcmp(a->component, b->component) == 0 && strcmp(a->pipeline, b->pipeline) == 0;
}

static int route_run_push(route_run *g, es_route *r, const es_event *ev, size_t i)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 16;
        es_route **members = realloc(g->members, cap * sizeof *members);
        if (members) g->members = members;
        es_event *events = members ? realloc(g->events, cap * sizeof *events) : NULL;
        if (events) g->events = events;
        size_t *unit_index = events ? realloc(g->unit_index, cap * sizeof *unit_index) : NULL;
        if (!unit_index) return -1;
        g->unit_index = unit_index;
        g->cap = cap;
    }
    g->members[g->n] = r;
    g->events[g->n] = *ev;
    g->unit_index[g->n] = i;
    g->n++;
    return 0;
}

/* Frees what p holds, not p. */
static void plan_clear(inline_plan *p)
{
    for (size_t k = 0; k < p->n; k++) {
        route_run *g = &p->runs[k];
        lua_host_fold_result_clear(&g->fold);
        lua_host_strings_free(g->records, g->records ? g->n : 0);
        lua_host_info_clear(&g->info);
        free(g->state);
        free(g->members);
        free(g->events);
        free(g->unit_index);
    }
    free(p->runs);
}

void inline_plan_free(inline_plan *p)
{
    if (!p) return;
    plan_clear(p);
    free(p);
}

/* Adds route r of events[i] (ev) to its route's run, a new one for a route
 * not seen yet. -1 on OOM. */
static int plan_add(inline_plan *p, es_route *r, const es_event *ev, size_t i)
{
    route_run *g = NULL;
    for (size_t j = 0; j < p->n && !g; j++)
        if (same_route(p->runs[j].members[0], r)) g = &p->runs[j];
    if (!g) {
        route_run *grown = realloc(p->runs, (p->n + 1) * sizeof *grown);
        if (!grown) return -1;
        p->runs = grown;
        g = &p->runs[p->n++];
        memset(g, 0, sizeof *g);
    }
    return route_run_push(g, r, ev, i);
}

/* Groups the routes of the events by route. -1 on OOM. */
static int plan_group(inline_plan *p, const es_event *events, es_new_event *const *routes,
                      size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < routes[i]->n_routes; k++)
            if (plan_add(p, &routes[i]->routes[k], &events[i], i) != 0) return -1;
    return 0;
}

/* Groups by route the routes of `kind` not applied yet of events[0..n)
 * (only of those appended new when outcomes is not NULL). -1 with a diag
 * on OOM. */
static int plan_group_kind(inline_plan *p, const es_event *events, es_new_event *const *routes,
                           const append_outcome *outcomes, size_t n, job_kind kind)
{
    for (size_t i = 0; i < n; i++) {
        if (outcomes && outcomes[i] != APPEND_NEW) continue;
        for (size_t k = 0; k < routes[i]->n_routes; k++) {
            es_route *r = &routes[i]->routes[k];
            if (r->kind == kind && !r->applied && plan_add(p, r, &events[i], i) != 0) {
                diag_set(DIAG_INTERNAL, "out of memory grouping %s routes", job_kind_name(kind));
                return -1;
            }
        }
    }
    return 0;
}

/* 1 when a pause covers the route's component for tenant, 0 when none
 * does (or the queue cannot pause), -1 with a diag. */
static int route_paused(es_store *q, const char *tenant, const es_route *r)
{
    if (!q->ops->pause_check) return 0;
    pause_mode mode;
    if (q->ops->pause_check(q, tenant, r->pipeline, r->component, &mode) != 0) return -1;
    return mode != PAUSE_NONE;
}

void inline_pauses_clear(inline_pauses *ps)
{
    for (size_t i = 0; i < ps->n; i++) {
        free((char *)ps->list[i].tenant_id);
        free((char *)ps->list[i].pipeline);
        free((char *)ps->list[i].component);
    }
    free(ps->list);
    memset(ps, 0, sizeof *ps);
}

/* pause_list's callback: keeps a copy of the pause in ps (ps->oom and
 * stops when it cannot). */
static int keep_pause(void *ud, const es_pause *p)
{
    inline_pauses *ps = ud;
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 8;
        es_pause *grown = realloc(ps->list, cap * sizeof *grown);
        if (!grown) return ps->oom = 1;
        ps->list = grown;
        ps->cap = cap;
    }
    es_pause c = *p;
    c.tenant_id = p->tenant_id ? strdup(p->tenant_id) : NULL;
    c.pipeline = p->pipeline ? strdup(p->pipeline) : NULL;
    c.component = p->component ? strdup(p->component) : NULL;
    ps->list[ps->n++] = c;
    if ((p->tenant_id && !c.tenant_id) || (p->pipeline && !c.pipeline) ||
        (p->component && !c.component))
        ps->oom = 1;
    return ps->oom;
}

/* route_paused as of the batch's snapshot ps (read on first use). */
static int route_paused_in(es_store *q, inline_pauses *ps, const char *tenant,
                           const es_route *r)
{
    if (!q->ops->pause_list) return route_paused(q, tenant, r);
    if (!ps->loaded) {
        int rc = q->ops->pause_list(q, keep_pause, ps);
        if (rc != 0 || ps->oom) {
            inline_pauses_clear(ps);
            if (rc == 0) diag_set(DIAG_INTERNAL, "out of memory reading pauses");
            return -1;
        }
        ps->loaded = 1;
    }
    store_span t = {tenant, strlen(tenant)}, p = {r->pipeline, strlen(r->pipeline)},
               c = {r->component, strlen(r->component)};
    for (size_t i = 0; i < ps->n; i++) {
        const es_pause *x = &ps->list[i];
        if (x->mode != PAUSE_NONE &&
            store_pause_covers(x->tenant_id, x->pipeline, x->component, t, p, c))
            return 1;
    }
    return 0;
}

/* 1 when the group of route r (for tenant) holds no job, 0 when it holds
 * one, -1 with a diag. */
static int route_group_idle(es_store *q, const char *tenant, const es_route *r)
{
    char *group = job_group_key(tenant, r->pipeline, r->component, r->key);
    if (!group) {
        diag_set(DIAG_INTERNAL, "out of memory building a group key");
        return -1;
    }
    int idle = q->ops->queue_group_idle(q, group);
    free(group);
    return idle;
}

/* 1 when the fold's group has no job and no pause holds it, 0 when not,
 * -1 with a diag. */
static int fold_free(es_store *q, const char *tenant, const es_route *r)
{
    int paused = route_paused(q, tenant, r);
    if (paused != 0) return paused < 0 ? -1 : 0;
    return route_group_idle(q, tenant, r);
}

/* Reads the fold's state and folds the events of g into it. */
static void prepare_fold(es_backends *b, lua_host *host, route_run *g)
{
    const es_route *r = g->members[0];
    const char *tenant = g->events[0].tenant_id;
    if (r->keyed || lua_host_fold_info(host, r->pipeline, r->component, &g->info) != 0 ||
        g->info.custom || g->info.keyed ||
        b->folds->ops->fold_get(b->folds, tenant, g->info.table, r->key, &g->state,
                                &g->last_seq) < 0)
        return;
    /* events already in the state (none, unless it was written otherwise) */
    while (g->skip < g->n && g->events[g->skip].seq <= g->last_seq) g->skip++;
    if (g->skip < g->n &&
        (lua_host_run_fold(host, r->pipeline, r->component, g->state, g->events + g->skip,
                           g->n - g->skip, &g->fold) != 0 ||
         g->fold.error)) {
        log_warn_limited("inline_fold", "fold %s/%s left to its queued job: %s", r->pipeline,
                         r->component, g->fold.error ? g->fold.error : diag_message());
        return;
    }
    g->ready = 1;
}

/* Maps the events of g. */
static void prepare_map(lua_host *host, route_run *g)
{
    const es_route *r = g->members[0];
    char *error = NULL;
    size_t n_done = 0;
    if (lua_host_map_info(host, r->pipeline, r->component, &g->info) != 0 || g->info.custom)
        return;
    if (lua_host_run_map(host, r->pipeline, r->component, g->events, g->n, &g->records,
                         &n_done, &error) != 0 ||
        error) {
        log_warn_limited("inline_map", "map %s/%s left to its queued job: %s", r->pipeline,
                         r->component, error ? error : diag_message());
        free(error);
        return;
    }
    g->ready = 1;
}

inline_plan *inline_projections_prepare(es_backends *b, lua_host *host, es_event *events,
                                        es_new_event *const *routes, size_t n, int64_t now)
{
    es_store *ev_store = b->events;
    if (n == 0 || !b->queue->ops->queue_group_idle || !ev_store->ops->event_last_seq) return NULL;
    for (size_t i = 1; i < n; i++)
        if (strcmp(events[i].aggregate_id, events[0].aggregate_id) != 0 ||
            strcmp(events[i].aggregate_type, events[0].aggregate_type) != 0 ||
            strcmp(events[i].tenant_id, events[0].tenant_id) != 0)
            return NULL;
    int64_t last = 0;
    if (ev_store->ops->event_last_seq(ev_store, events[0].tenant_id, events[0].aggregate_type,
                                      events[0].aggregate_id, &last) != 0)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        events[i].seq = last + 1 + (int64_t)i;
        events[i].created_at = now;
    }
    inline_plan *p = calloc(1, sizeof *p);
    if (!p || plan_group(p, events, routes, n) != 0) {
        inline_plan_free(p);
        return NULL;
    }
    for (size_t k = 0; k < p->n; k++) {
        if (p->runs[k].members[0]->kind == JOB_FOLD) prepare_fold(b, host, &p->runs[k]);
        else prepare_map(host, &p->runs[k]);
    }
    return p;
}

/* 1 when every event of g was appended new with the seq predicted. */
static int appended_as_predicted(const route_run *g, const es_event *events,
                                 const append_outcome *outcomes)
{
    for (size_t j = 0; j < g->n; j++) {
        size_t i = g->unit_index[j];
        if (outcomes[i] != APPEND_NEW || events[i].seq != g->events[j].seq ||
            events[i].created_at != g->events[j].created_at)
            return 0;
    }
    return 1;
}

/* 1 when the stored state is still the one g folded from, 0 when not, -1
 * with a diag. */
static int state_unchanged(es_backends *b, const route_run *g)
{
    char *state = NULL;
    int64_t last_seq = 0;
    int got = b->folds->ops->fold_get(b->folds, g->events[0].tenant_id, g->info.table,
                                      g->members[0]->key, &state, &last_seq);
    int same = got < 0 ? -1
                       : last_seq == g->last_seq &&
                             (state && g->state ? strcmp(state, g->state) == 0
                                                : state == g->state);
    free(state);
    return same;
}

/* Writes a verified fold: its state and reactor jobs. 1 when written, 0
 * when a check failed, -1 with a diag. */
static int commit_fold(const route_run *g, es_backends *b, const es_event *events,
                       const char *const *origins, int64_t now, job_batch *jobs)
{
    const es_route *r = g->members[0];
    const char *tenant = g->events[0].tenant_id;
    int ok = fold_free(b->queue, tenant, r);
    if (ok == 1) ok = state_unchanged(b, g);
    if (ok != 1 || g->skip == g->n) return ok;
    if (g->fold.state_json &&
        b->folds->ops->fold_put(b->folds, tenant, g->info.table, r->key, g->fold.state_json,
                                g->events[g->n - 1].seq, now) != 0)
        return -1;
    for (size_t k = 0; k < g->fold.n_reactors; k++) {
        const es_reactor_job *rj = &g->fold.reactors[k];
        size_t i = g->unit_index[g->skip + rj->index];
        if (job_batch_add_reactor(jobs, rj, &events[i], r->pipeline, origins[i], now) != 0)
            return -1;
    }
    return 1;
}

/* Appends a verified map's records. 1 when written, 0 when paused, -1 with
 * a diag. */
static int commit_map(const route_run *g, es_backends *b, const es_event *events, int64_t now)
{
    int paused = route_paused(b->queue, g->events[0].tenant_id, g->members[0]);
    if (paused != 0) return paused < 0 ? -1 : 0;
    for (size_t j = 0; j < g->n; j++) {
        const es_event *ev = &events[g->unit_index[j]];
        if (g->records[j] &&
            b->records->ops->record_append(b->records, ev->tenant_id, g->info.table, ev->id,
                                           ev->aggregate_id, g->records[j], now) != 0)
            return -1;
    }
    return 1;
}

int inline_projections_commit(inline_plan *p, es_backends *b, const es_event *events,
                              const append_outcome *outcomes, const char *const *origins,
                              int64_t now, job_batch *jobs)
{
    for (size_t k = 0; p && k < p->n; k++) {
        const route_run *g = &p->runs[k];
        if (!g->ready || !appended_as_predicted(g, events, outcomes)) continue;
        int written = g->members[0]->kind == JOB_FOLD
                          ? commit_fold(g, b, events, origins, now, jobs)
                          : commit_map(g, b, events, now);
        if (written < 0) return -1;
        if (written == 0) continue;
        for (size_t j = 0; j < g->n; j++) g->members[j]->applied = 1;
        const es_route *r = g->members[0];
        metrics_add(METRIC_EVENTS_INLINE, (double)(g->n - g->skip), r->pipeline, r->component,
                    job_kind_name(r->kind));
    }
    return 0;
}

int inline_maps_apply(es_backends *b, lua_host *host, const es_event *events,
                      const append_outcome *outcomes, es_new_event *const *routes, size_t n,
                      inline_pauses *pauses, int64_t now)
{
    inline_plan p = {0};
    /* the map routes of the events appended new */
    int rc = plan_group_kind(&p, events, routes, outcomes, n, JOB_MAP);
    for (size_t k = 0; k < p.n && rc == 0; k++) {
        route_run *g = &p.runs[k];
        int paused = route_paused_in(b->queue, pauses, g->events[0].tenant_id, g->members[0]);
        if (paused < 0) rc = -1;
        if (paused != 0) continue;
        prepare_map(host, g);
        if (!g->ready) continue;
        for (size_t j = 0; j < g->n && rc == 0; j++) {
            const es_event *ev = &g->events[j];
            if (g->records[j] &&
                b->records->ops->record_append(b->records, ev->tenant_id, g->info.table, ev->id,
                                               ev->aggregate_id, g->records[j], now) != 0)
                rc = -1;
        }
        if (rc != 0) break;
        for (size_t j = 0; j < g->n; j++) g->members[j]->applied = 1;
        const es_route *r = g->members[0];
        metrics_add(METRIC_EVENTS_INLINE, (double)g->n, r->pipeline, r->component,
                    job_kind_name(r->kind));
    }
    plan_clear(&p);
    return rc;
}

/* 1 when every event of g was appended new, none has an origin (nobody
 * waits on its jobs: they go to the queue as fresh jobs) and one job can
 * hold them all. */
static int fold_run_eligible(const route_run *g, const append_outcome *outcomes,
                             const char *const *origins)
{
    if (g->members[0]->keyed || !job_fold_write_fits(g->events, g->n)) return 0;
    for (size_t j = 0; j < g->n; j++)
        if (outcomes[g->unit_index[j]] != APPEND_NEW || origins[g->unit_index[j]]) return 0;
    return 1;
}

/* Folds the events of g into the state of record read from `primary`,
 * when that state holds every event of the fold before the first of them,
 * and puts the result into the queryable copy. It does when its last seq
 * is the one just before; when it is older, the events between are of
 * types the fold skips unless some wait in the fold's group (`q`): only
 * this aggregate's command batches, which run one at a time, queue them,
 * so an idle group cannot get one before this batch finishes (and the
 * finish checks again). So the copy never gets a state folded over
 * events of the fold still queued. 1 with g->state/last_seq/fold set, 0
 * when g is left to its job, -1 with a diag when the copy fails. */
static int fold_run(es_store *q, es_store *primary, es_store *copy, lua_host *host,
                    route_run *g, int64_t now)
{
    const es_route *r = g->members[0];
    const char *tenant = g->events[0].tenant_id;
    if (lua_host_fold_info(host, r->pipeline, r->component, &g->info) != 0 || g->info.custom ||
        g->info.keyed ||
        primary->ops->fold_get(primary, tenant, g->info.table, r->key, &g->state,
                               &g->last_seq) < 0 ||
        g->last_seq >= g->events[0].seq ||
        (g->last_seq != g->events[0].seq - 1 && route_group_idle(q, tenant, r) != 1))
        return 0;
    if (lua_host_run_fold(host, r->pipeline, r->component, g->state, g->events, g->n,
                          &g->fold) != 0 ||
        g->fold.error) {
        log_warn_limited("inline_fold", "fold %s/%s left to its queued job: %s", r->pipeline,
                         r->component, g->fold.error ? g->fold.error : diag_message());
        return 0;
    }
    /* reactors are enqueued by whoever applies the fold: its job */
    if (g->fold.n_applied != g->n || !g->fold.state_json || g->fold.n_reactors) return 0;
    return copy->ops->fold_put(copy, tenant, g->info.table, r->key, g->fold.state_json,
                               g->events[g->n - 1].seq, now) == 0
               ? 1
               : -1;
}

int inline_folds_run(es_backends *b, lua_host *host, const es_event *events,
                     const append_outcome *outcomes, es_new_event *const *routes,
                     const char *const *origins, size_t n, inline_pauses *pauses, int64_t now)
{
    es_store *q = b->queue, *copy = NULL;
    es_store *primary = fold_mirror_parts(b->folds, &copy);
    if (!primary || !q->ops->counts_items || !q->ops->queue_writes_folds ||
        q->ops->queue_writes_folds(q, primary) != 1)
        return 0;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < routes[i]->n_routes; k++) { /* none but this run's */
            fold_write_free(routes[i]->routes[k].fold_write);
            routes[i]->routes[k].fold_write = NULL;
        }
    inline_plan p = {0};
    /* every event's: a run holding one not appended new is not eligible */
    int rc = plan_group_kind(&p, events, routes, NULL, n, JOB_FOLD);
    for (size_t k = 0; k < p.n && rc == 0; k++) {
        route_run *g = &p.runs[k];
        if (!fold_run_eligible(g, outcomes, origins)) continue;
        int paused = route_paused_in(q, pauses, g->events[0].tenant_id, g->members[0]);
        if (paused != 0) {
            if (paused < 0) rc = -1;
            continue;
        }
        int ran = fold_run(q, primary, copy, host, g, now);
        if (ran < 0) rc = -1;
        if (ran != 1) continue;
        es_fold_write *w = calloc(1, sizeof *w);
        if (w) {
            *w = (es_fold_write){.table = strdup(g->info.table),
                                 .key = strdup(g->members[0]->key),
                                 .state_json = g->fold.state_json, .from_state = g->state,
                                 .from_seq = g->last_seq, .first_seq = g->events[0].seq,
                                 .last_seq = g->events[g->n - 1].seq};
            g->fold.state_json = g->state = NULL; /* now w's */
        }
        if (!w || !w->table || !w->key) {
            fold_write_free(w);
            diag_set(DIAG_INTERNAL, "out of memory keeping a fold's state");
            rc = -1;
            continue;
        }
        g->members[0]->fold_write = w;
    }
    plan_clear(&p);
    return rc;
}
