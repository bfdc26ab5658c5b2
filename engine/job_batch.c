/* job_batch.c: jobs built in memory before one enqueue (see job_batch.h). */
#include "job_batch.h"
#include "codec.h"
#include "diag.h"
#include "ids.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMMANDS_COMPONENT "#commands"

es_job *job_batch_push(job_batch *b)
{
    if (b->len == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        es_job *items = realloc(b->items, cap * sizeof *items);
        if (!items) {
            diag_set(DIAG_INTERNAL, "out of memory building jobs");
            return NULL;
        }
        b->items = items;
        b->cap = cap;
    }
    es_job *job = &b->items[b->len++];
    memset(job, 0, sizeof *job);
    return job;
}

void job_batch_free(job_batch *b)
{
    for (size_t i = 0; i < b->len; i++) job_clear(&b->items[i]);
    free(b->items);
    memset(b, 0, sizeof *b);
}

int job_fill(es_job *job, const char *id, job_kind kind, const char *tenant,
             const char *pipeline, const char *component, const char *group_component,
             const char *key, const char *origin, int64_t run_at)
{
    job->id = strdup(id);
    job->kind = kind;
    job->tenant_id = strdup(tenant);
    job->pipeline = strdup(pipeline);
    job->component = strdup(component);
    job->group_key = job_group_key(tenant, pipeline, group_component, key);
    job->origin_id = origin ? strdup(origin) : NULL;
    job->run_at = run_at;
    if (!job->id || !job->tenant_id || !job->pipeline || !job->component ||
        !job->group_key || (origin && !job->origin_id)) {
        diag_set(DIAG_INTERNAL, "out of memory building a job");
        return -1;
    }
    return 0;
}

int job_batch_add_command(job_batch *b, const char *id, const char *tenant,
                          const char *pipeline, const char *command,
                          const char *aggregate_id, const char *command_json, int64_t now)
{
    es_job *job = job_batch_push(b);
    if (!job) return -1;
    if (job_fill(job, id, JOB_COMMAND, tenant, pipeline, command, COMMANDS_COMPONENT,
                 aggregate_id, NULL, now) != 0)
        return -1;
    /* as engine_send: localized to the command's group (ids.h) */
    ids_localize(job->id, job->group_key);
    job->payload_len = strlen(command_json);
    job->payload = strdup(command_json);
    if (!job->payload) diag_set(DIAG_INTERNAL, "out of memory building a job");
    return job->payload ? 0 : -1;
}

int job_fold_write_fits(const es_event *events, size_t n)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n && bytes <= JOB_FOLD_WRITE_MAX_BYTES; i++) {
        const es_event *ev = &events[i];
        /* what codec_events_encode writes, give or take its framing */
        bytes += 128 + strlen(ev->id) + strlen(ev->aggregate_id) + strlen(ev->type) +
                 (ev->data_json ? strlen(ev->data_json) : 0) +
                 (ev->metadata_json ? strlen(ev->metadata_json) : 0) +
                 (ev->idempotency_key ? strlen(ev->idempotency_key) : 0);
    }
    return bytes <= JOB_FOLD_WRITE_MAX_BYTES;
}

/* A projection job being filled: the events of one route, in seq order
 * (at most JOB_MAX_EVENTS, unless its route has a fold_write). */
typedef struct open_job {
    const es_route *route;
    const char *origin;
    const es_event **events;
    size_t n, cap;
    int all_new; /* every event so far was appended new */
} open_job;

/* Appends ev to o. -1 on OOM. */
static int open_job_push(open_job *o, const es_event *ev)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : JOB_MAX_EVENTS;
        const es_event **grown = realloc(o->events, cap * sizeof *grown);
        if (!grown) return -1;
        o->events = grown;
        o->cap = cap;
    }
    o->events[o->n++] = ev;
    return 0;
}

/* Turns an open job into a queued one. Its id derives from the ids of its
 * first and last events, so a redone command batch enqueues the same ids
 * for the same events, and a redo that holds more events (a batch claimed
 * again with more commands in it) a new id rather than one the queue would
 * drop as a duplicate of what it already ran. */
static int close_job(job_batch *b, const open_job *o, int64_t now)
{
    const es_route *r = o->route;
    const es_event *first = o->events[0];
    char salt[512], id[ID_HEX_LEN + 1];
    snprintf(salt, sizeof salt, "%s/%s/%s%s%s", job_kind_name(r->kind), r->pipeline,
             r->component, o->n > 1 ? "/" : "", o->n > 1 ? o->events[o->n - 1]->id : "");
    ids_derive(id, first->id, salt, o->n > 1 ? o->n : 0);
    es_job *job = job_batch_push(b);
    if (!job || job_fill(job, id, r->kind, first->tenant_id, r->pipeline, r->component,
                         r->component, r->key, o->origin, now) != 0)
        return -1;
    job->items = (int)o->n;
    /* a keyed fold's last_seq is its jobs' queue positions, which only the
     * store can hand out in enqueue order: never fresh_when_finished */
    job->fresh_when_finished = o->all_new && !(r->kind == JOB_FOLD && r->keyed);
    /* the state the unit folded, when this job holds exactly its events */
    const es_fold_write *w = r->fold_write;
    if (w && job->fresh_when_finished && first->seq == w->first_seq &&
        o->events[o->n - 1]->seq == w->last_seq && !(job->fold_write = fold_write_copy(w)))
        return -1;
    return o->n == 1 ? codec_event_encode(first, NULL, &job->payload, &job->payload_len)
                     : codec_events_encode(o->events, o->n, &job->payload, &job->payload_len);
}

/* Whether an event of route r with origin `origin` joins open job o. */
static int joins(const open_job *o, const es_route *r, const char *origin)
{
    const es_route *a = o->route;
    if (a->kind != r->kind || strcmp(a->component, r->component) != 0 ||
        strcmp(a->pipeline, r->pipeline) != 0 || strcmp(a->key, r->key) != 0)
        return 0;
    if (r->kind == JOB_MAP) return 1; /* engine_wait does not count maps */
    return o->origin == origin || (o->origin && origin && strcmp(o->origin, origin) == 0);
}

int job_batch_add_projections(job_batch *b, const es_event *events,
                              es_new_event *const *routes, const char *const *origins,
                              const append_outcome *outcomes, size_t n,
                              size_t fold_events_per_job, int64_t now)
{
    /* at most one open job per distinct route of the unit */
    open_job **open = NULL;
    size_t n_open = 0, cap_open = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (outcomes[i] == APPEND_DUPLICATE) continue;
        for (size_t k = 0; k < routes[i]->n_routes && rc == 0; k++) {
            const es_route *r = &routes[i]->routes[k];
            if (r->applied) continue;
            if (r->kind == JOB_FOLD && (r->keyed || fold_events_per_job <= 1)) {
                const es_event *ev = &events[i];
                open_job single = {.route = r, .origin = origins[i], .events = &ev, .n = 1,
                                   .all_new = outcomes[i] == APPEND_NEW};
                rc = close_job(b, &single, now);
                continue;
            }
            open_job *o = NULL;
            for (size_t j = 0; j < n_open && !o; j++)
                if (joins(open[j], r, origins[i])) o = open[j];
            if (o && o->n >= JOB_MAX_EVENTS && !o->route->fold_write) {
                rc = close_job(b, o, now);
                o->n = 0;
                o->origin = origins[i];
                o->all_new = 1;
            }
            if (rc != 0) break;
            if (!o) {
                if (n_open == cap_open) {
                    size_t cap = cap_open ? cap_open * 2 : 8;
                    open_job **grown = realloc(open, cap * sizeof *grown);
                    if (!grown) goto oom;
                    open = grown;
                    cap_open = cap;
                }
                o = calloc(1, sizeof *o);
                if (!o) goto oom;
                o->route = r;
                o->origin = origins[i];
                o->all_new = 1;
                open[n_open++] = o;
            }
            if (open_job_push(o, &events[i]) != 0) goto oom;
            if (outcomes[i] != APPEND_NEW) o->all_new = 0;
        }
    }
    for (size_t j = 0; j < n_open; j++) {
        if (rc == 0 && open[j]->n > 0) rc = close_job(b, open[j], now);
        free(open[j]->events);
        free(open[j]);
    }
    free(open);
    return rc;
oom:
    for (size_t j = 0; j < n_open; j++) {
        free(open[j]->events);
        free(open[j]);
    }
    free(open);
    diag_set(DIAG_INTERNAL, "out of memory building projection jobs");
    return -1;
}

int job_batch_add_reactor(job_batch *b, const es_reactor_job *rj, const es_event *ev,
                          const char *pipeline, const char *origin, int64_t now)
{
    char id[ID_HEX_LEN + 1];
    ids_derive(id, ev->id, rj->reactor, 0);
    es_job *job = job_batch_push(b);
    if (!job || job_fill(job, id, JOB_REACTOR, ev->tenant_id, pipeline, rj->reactor,
                         rj->reactor, rj->job_id ? rj->job_id : ev->id, origin,
                         now + rj->delay_ms) != 0)
        return -1;
    if (rj->job_id && rj->dedup != DEDUP_NONE) {
        job->dedup_mode = rj->dedup;
        job->dedup_id = job_group_key(ev->tenant_id, pipeline, rj->reactor, rj->job_id);
        if (!job->dedup_id) {
            diag_set(DIAG_INTERNAL, "out of memory building a reactor job");
            return -1;
        }
    }
    return codec_event_encode(ev, rj->state_json ? rj->state_json : "{}", &job->payload,
                              &job->payload_len);
}
