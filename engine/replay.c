/* replay.c: the replay driver (see replay.h): describe the projection,
 * scan the log in ordered pages, fold per aggregate with its own Lua host
 * (reactor jobs dropped), write each page and its checkpoint in one unit
 * (behind the scan on a writer thread, replay_writer.c, when they go to
 * another store than the one scanned), then pause the fold, catch the
 * shadow up and swap it in. */
#include "replay.h"
#include "replay_writer.h"
#include "engine_internal.h"
#include "clock.h"
#include "diag.h"
#include "json_buf.h"
#include "json_read.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLAY_PAGE_EVENTS 20000
#define REPLAY_SAMPLE 20
#define SHADOW_SUFFIX "__replay"
#define EVENT_STRINGS 9
#define NO_STRING ((size_t)-1)

/* A write of one page: a shadow fold row or a map record. */
typedef struct replay_write {
    char *tenant_id, *key, *json, *aggregate_id;
    int64_t last_seq;
} replay_write;

typedef struct replay {
    es_engine *e;
    const replay_options *opt;
    es_backends *b;
    lua_host *host;
    int is_map;
    char *aggregate_type, *table, *shadow;
    jv describe;
    const jv *types; /* event_types array, NULL = every event */

    /* the aggregate being collected: n events whose strings are copied
     * into `strings` (offsets in offs until the flush points at them) */
    es_event *buf;
    size_t (*offs)[EVENT_STRINGS];
    size_t n, cap;
    json_buf strings;
    char *cur_tenant, *cur_agg;
    int64_t cur_last_seq;
    size_t page_rows;
    int stop;   /* dry run: the sample is complete */
    int failed; /* the scan callback failed (diag set) */

    replay_write *writes;
    size_t n_writes, cap_writes;
    replay_writer *writer; /* pages written behind, NULL: written in line */

    int64_t done, total, run_events, started;
    replay_result *out;
} replay;

/* ---- describing the projection ---- */

static const jv *find_named(const jv *array, const char *name)
{
    for (size_t i = 0; array && array->type == JV_ARRAY && i < array->n; i++) {
        const char *n = json_get_str(&array->items[i], "name");
        if (n && strcmp(n, name) == 0) return &array->items[i];
    }
    return NULL;
}

static int replay_describe(replay *r)
{
    char *json = lua_host_describe(r->host);
    if (!json || json_read(json, &r->describe) != 0) {
        free(json);
        return -1;
    }
    free(json);
    const jv *p = find_named(&r->describe, r->opt->pipeline);
    if (!p) {
        diag_set(DIAG_NOT_FOUND, "unknown pipeline %s", r->opt->pipeline);
        return -1;
    }
    const jv *c = find_named(json_get(p, "folds"), r->opt->projection);
    if (!c) {
        c = find_named(json_get(p, "maps"), r->opt->projection);
        r->is_map = c != NULL;
    }
    if (!c) {
        diag_set(DIAG_NOT_FOUND, "pipeline %s has no fold or map %s", r->opt->pipeline,
                 r->opt->projection);
        return -1;
    }
    const jv *keyed = json_get(c, "keyed"), *custom = json_get(c, "custom");
    if ((keyed && keyed->boolean) || (custom && custom->boolean) || !json_get_str(c, "table")) {
        diag_set(DIAG_INVALID, "%s/%s cannot be replayed: %s", r->opt->pipeline,
                 r->opt->projection,
                 keyed && keyed->boolean ? "a keyed (global) fold is fed by several "
                                           "aggregates" : "it has a custom store");
        return -1;
    }
    r->types = json_get(c, "event_types");
    r->aggregate_type = strdup(json_get_str(p, "aggregate_type"));
    r->table = strdup(json_get_str(c, "table"));
    size_t n = strlen(r->table) + sizeof SHADOW_SUFFIX;
    r->shadow = malloc(n);
    if (!r->aggregate_type || !r->table || !r->shadow) {
        diag_set(DIAG_INTERNAL, "out of memory");
        return -1;
    }
    snprintf(r->shadow, n, "%s%s", r->table, SHADOW_SUFFIX);
    return 0;
}

static int replay_accepts(const replay *r, const char *type)
{
    if (!r->types || r->types->type != JV_ARRAY) return 1;
    for (size_t i = 0; i < r->types->n; i++)
        if (r->types->items[i].str && strcmp(r->types->items[i].str, type) == 0) return 1;
    return 0;
}

/* ---- folding one aggregate ---- */

static int push_write(replay *r, const char *tenant, const char *key, char *json,
                      const char *aggregate_id, int64_t last_seq)
{
    if (r->n_writes == r->cap_writes) {
        size_t cap = r->cap_writes ? r->cap_writes * 2 : 256;
        replay_write *w = realloc(r->writes, cap * sizeof *w);
        if (!w) goto oom;
        r->writes = w;
        r->cap_writes = cap;
    }
    replay_write *w = &r->writes[r->n_writes];
    w->tenant_id = strdup(tenant);
    w->key = strdup(key);
    w->aggregate_id = strdup(aggregate_id);
    w->json = json;
    w->last_seq = last_seq;
    r->n_writes++;
    if (w->tenant_id && w->key && w->aggregate_id) return 0;
oom:
    diag_set(DIAG_INTERNAL, "out of memory in replay");
    return -1;
}

static void writes_free(replay_write *writes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(writes[i].tenant_id);
        free(writes[i].key);
        free(writes[i].json);
        free(writes[i].aggregate_id);
    }
}

static void writes_clear(replay *r)
{
    writes_free(r->writes, r->n_writes);
    r->n_writes = 0;
}

/* The addresses of ev's string fields, EVENT_STRINGS of them. */
static void event_strings(es_event *ev, char **f[EVENT_STRINGS])
{
    f[0] = &ev->id, f[1] = &ev->tenant_id, f[2] = &ev->aggregate_type;
    f[3] = &ev->aggregate_id, f[4] = &ev->type, f[5] = &ev->version;
    f[6] = &ev->idempotency_key, f[7] = &ev->data_json, f[8] = &ev->metadata_json;
}

/* Appends a copy of `ev` to the collected events (strings into r->strings).
 * 0 or -1 with a diag. */
static int collect_event(replay *r, const es_event *ev)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        es_event *buf = realloc(r->buf, cap * sizeof *buf);
        if (buf) r->buf = buf;
        size_t (*offs)[EVENT_STRINGS] = buf ? realloc(r->offs, cap * sizeof *offs) : NULL;
        if (!offs) goto oom;
        r->offs = offs;
        r->cap = cap;
    }
    es_event *e = &r->buf[r->n];
    *e = *ev;
    char **f[EVENT_STRINGS];
    event_strings(e, f);
    for (int k = 0; k < EVENT_STRINGS; k++) {
        r->offs[r->n][k] = *f[k] ? r->strings.len : NO_STRING;
        if (*f[k]) jb_raw(&r->strings, *f[k], strlen(*f[k]) + 1);
        *f[k] = NULL;
    }
    if (r->strings.oom) goto oom;
    r->n++;
    return 0;
oom:
    diag_set(DIAG_INTERNAL, "out of memory in replay");
    return -1;
}

/* Points the collected events' strings into r->strings (done growing). */
static void collected_strings(replay *r)
{
    for (size_t i = 0; i < r->n; i++) {
        char **f[EVENT_STRINGS];
        event_strings(&r->buf[i], f);
        for (int k = 0; k < EVENT_STRINGS; k++)
            *f[k] = r->offs[i][k] == NO_STRING ? NULL : r->strings.data + r->offs[i][k];
    }
}

/* Canonical JSON of a state, or NULL. */
static char *canonical(const char *json)
{
    jv v;
    if (!json || json_read(json, &v) != 0) return NULL;
    char *out = json_canonical(&v);
    json_value_free(&v);
    return out;
}

/* Dry run: compares the rebuilt state of the current aggregate with the
 * stored one. */
static int replay_compare(replay *r, const char *rebuilt)
{
    char *stored = NULL;
    int64_t stored_seq = 0;
    int got = r->b->folds->ops->fold_get(r->b->folds, r->cur_tenant, r->table, r->cur_agg,
                                         &stored, &stored_seq);
    if (got < 0) return -1;
    char *a = canonical(stored), *b = canonical(rebuilt);
    int differs = !a || !b || strcmp(a, b) != 0;
    r->out->differ += differs;
    if (r->opt->diff)
        r->opt->diff(r->opt->ud, r->cur_tenant, r->cur_agg, a, stored_seq, b,
                     r->cur_last_seq, differs);
    free(a);
    free(b);
    free(stored);
    return 0;
}

/* Folds (or maps) the collected events of the current aggregate from
 * `state` (NULL: init) into a pending write. */
static int replay_flush_from(replay *r, const char *state)
{
    int rc = 0;
    if (r->n == 0) return 0;
    collected_strings(r);
    if (r->is_map) {
        char **records = NULL, *error = NULL;
        size_t n_done = 0;
        if (lua_host_run_map(r->host, r->opt->pipeline, r->opt->projection, r->buf, r->n,
                             &records, &n_done, &error) != 0)
            return -1;
        for (size_t i = 0; i < n_done && rc == 0; i++) {
            if (records[i])
                rc = push_write(r, r->buf[i].tenant_id, r->buf[i].id, records[i],
                                r->buf[i].aggregate_id, 0);
            records[i] = NULL;
        }
        lua_host_strings_free(records, r->n);
        if (error) {
            diag_set(DIAG_SCRIPT, "map %s/%s on event %s: %s", r->opt->pipeline,
                     r->opt->projection, r->buf[n_done].id, error);
            rc = -1;
        }
        free(error);
    } else {
        es_fold_result res;
        memset(&res, 0, sizeof res);
        if (lua_host_run_fold(r->host, r->opt->pipeline, r->opt->projection, state, r->buf,
                              r->n, &res) != 0)
            return -1;
        /* reactor jobs in res are dropped: reactors never fire in a replay */
        if (res.error) {
            diag_set(DIAG_SCRIPT, "fold %s/%s on event %s (seq %lld of %s): %s",
                     r->opt->pipeline, r->opt->projection, r->buf[res.n_applied].id,
                     (long long)r->buf[res.n_applied].seq, r->cur_agg, res.error);
            rc = -1;
        } else if (res.state_json) {
            if (r->opt->dry_run) {
                rc = replay_compare(r, res.state_json);
            } else {
                rc = push_write(r, r->cur_tenant, r->cur_agg, res.state_json, r->cur_agg,
                                r->cur_last_seq);
                res.state_json = NULL;
            }
        }
        lua_host_fold_result_clear(&res);
    }
    r->run_events += (int64_t)r->n;
    r->out->events += (int64_t)r->n;
    r->out->aggregates++;
    jb_reset(&r->strings);
    r->n = 0;
    return rc;
}

static int set_current(replay *r, const char *tenant, const char *agg)
{
    free(r->cur_tenant);
    free(r->cur_agg);
    r->cur_tenant = strdup(tenant);
    r->cur_agg = strdup(agg);
    r->cur_last_seq = 0;
    if (r->cur_tenant && r->cur_agg) return 0;
    diag_set(DIAG_INTERNAL, "out of memory in replay");
    return -1;
}

/* Scan callback: collects events per aggregate, flushing at boundaries. */
static int replay_on_event(void *ud, const es_event *ev)
{
    replay *r = ud;
    r->page_rows++;
    if (!r->cur_agg || strcmp(r->cur_agg, ev->aggregate_id) != 0 ||
        strcmp(r->cur_tenant, ev->tenant_id) != 0) {
        if (r->cur_agg && replay_flush_from(r, NULL) != 0) goto fail;
        if (r->opt->dry_run && r->out->aggregates >= r->opt->dry_run_sample) {
            r->stop = 1;
            return 1;
        }
        if (set_current(r, ev->tenant_id, ev->aggregate_id) != 0) goto fail;
    }
    r->cur_last_seq = ev->seq;
    r->done++;
    if (!replay_accepts(r, ev->type)) return 0;
    if (collect_event(r, ev) != 0) goto fail;
    return 0;
fail:
    r->failed = 1;
    return 1;
}

/* ---- writing pages ---- */

static es_store *target_store(const replay *r)
{
    return r->is_map ? r->b->records : r->b->folds;
}

/* Writes `writes` (and the checkpoint when with_cp, cp NULL deleting it)
 * as one unit of work. */
static int replay_commit(const replay *r, const replay_write *writes, size_t n,
                         const es_replay_checkpoint *cp, int with_cp)
{
    es_store *s = target_store(r);
    int64_t now = clock_now_ms();
    if (s->ops->tx_begin && s->ops->tx_begin(s) != 0) return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const replay_write *w = &writes[i];
        rc = r->is_map ? s->ops->record_append(s, w->tenant_id, r->table, w->key,
                                               w->aggregate_id, w->json, now)
                       : s->ops->fold_put(s, w->tenant_id, r->shadow, w->key, w->json,
                                          w->last_seq, now);
    }
    if (rc == 0 && with_cp)
        rc = s->ops->replay_checkpoint_put(s, r->opt->pipeline, r->opt->projection, cp);
    if (rc != 0) {
        if (s->ops->tx_rollback) s->ops->tx_rollback(s);
        return -1;
    }
    return s->ops->tx_commit ? s->ops->tx_commit(s) : 0;
}

/* A page handed to the writer: its rows and a copy of its checkpoint. */
typedef struct page_unit {
    replay_write *writes;
    size_t n;
    es_replay_checkpoint cp;
    int with_cp;
} page_unit;

static int page_unit_run(void *ud, void *unit)
{
    page_unit *u = unit;
    return replay_commit(ud, u->writes, u->n, &u->cp, u->with_cp);
}

static void page_unit_free(void *unit)
{
    page_unit *u = unit;
    writes_free(u->writes, u->n);
    free(u->writes);
    store_replay_checkpoint_clear(&u->cp);
    free(u);
}

/* Writes the pending rows with the checkpoint `cp` (when with_cp): in line,
 * or handed to the writer thread. */
static int replay_page_write(replay *r, const es_replay_checkpoint *cp, int with_cp)
{
    if (!r->writer) {
        if (replay_commit(r, r->writes, r->n_writes, cp, with_cp) != 0) return -1;
        writes_clear(r);
        return 0;
    }
    page_unit *u = calloc(1, sizeof *u);
    if (!u) goto oom;
    u->writes = r->writes;
    u->n = r->n_writes;
    r->writes = NULL;
    r->n_writes = r->cap_writes = 0;
    u->with_cp = with_cp;
    u->cp = *cp;
    u->cp.tenant_id = strdup(cp->tenant_id ? cp->tenant_id : "");
    u->cp.after_tenant = strdup(cp->after_tenant ? cp->after_tenant : "");
    u->cp.after_aggregate = strdup(cp->after_aggregate ? cp->after_aggregate : "");
    if (!u->cp.tenant_id || !u->cp.after_tenant || !u->cp.after_aggregate) {
        page_unit_free(u);
        goto oom;
    }
    return replay_writer_submit(r->writer, u);
oom:
    diag_set(DIAG_INTERNAL, "out of memory in replay");
    return -1;
}

static int report(replay *r, const char *phase)
{
    if (!r->opt->progress) return 0;
    double secs = (double)(clock_monotonic_ms() - r->started) / 1000.0;
    replay_progress p = {phase, r->done, r->total, secs > 0 ? (double)r->run_events / secs : 0,
                         -1};
    if (p.rate > 0 && r->total >= r->done) p.eta_s = (double)(r->total - r->done) / p.rate;
    return r->opt->progress(r->opt->ud, &p);
}

/* Scans the log page by page from the checkpoint `cp` (updated). */
static int replay_scan(replay *r, es_replay_checkpoint *cp)
{
    es_store *ev = r->b->events;
    size_t page = r->opt->page_events ? r->opt->page_events : REPLAY_PAGE_EVENTS;
    for (;;) {
        r->page_rows = 0;
        int rc;
        if (r->opt->aggregate_id) {
            rc = set_current(r, r->opt->tenant_id, r->opt->aggregate_id);
            if (rc == 0)
                rc = ev->ops->event_read(ev, r->opt->tenant_id, r->aggregate_type,
                                         r->opt->aggregate_id, 0, 0, replay_on_event, r);
        } else {
            rc = ev->ops->event_scan(ev, r->opt->tenant_id, r->aggregate_type,
                                     cp->after_tenant, cp->after_aggregate, r->opt->since_ms,
                                     page, replay_on_event, r);
        }
        if (rc != 0) return -1;
        if (r->failed) return -1;
        int full = !r->opt->aggregate_id && r->page_rows >= page && !r->stop;
        /* a full page may end inside an aggregate: read the rest of it */
        if (full && ev->ops->event_read(ev, r->cur_tenant, r->aggregate_type, r->cur_agg,
                                        r->cur_last_seq, 0, replay_on_event, r) != 0)
            return -1;
        if (!r->stop && replay_flush_from(r, NULL) != 0) return -1;
        if (r->opt->dry_run) {
            if (r->stop || !full) return 0;
        } else {
            cp->events_done = r->done;
            if (r->cur_agg) {
                free((char *)cp->after_tenant);
                free((char *)cp->after_aggregate);
                cp->after_tenant = strdup(r->cur_tenant);
                cp->after_aggregate = strdup(r->cur_agg);
            }
            if (replay_page_write(r, cp, !r->opt->aggregate_id) != 0) return -1;
        }
        if (report(r, "scan") != 0) {
            diag_set(DIAG_INVALID, "replay interrupted (the checkpoint is kept)");
            return -1;
        }
        if (!full) return 0;
    }
}

/* ---- the swap ---- */

typedef struct inflight {
    const char *pipeline, *component;
    int64_t n;
} inflight;

static int count_inflight(void *ud, const es_queue_stats *row)
{
    inflight *f = ud;
    if (row->kind == JOB_FOLD && strcmp(row->pipeline, f->pipeline) == 0 &&
        strcmp(row->component, f->component) == 0)
        f->n += row->in_flight;
    return 0;
}

/* Waits until no batch of the fold is in flight (the pause holds new
 * claims), so that nothing writes the live table between the catch-up and
 * the swap. */
static int wait_quiet(replay *r)
{
    es_store *q = r->b->queue;
    int64_t deadline = clock_monotonic_ms() + 2 * r->e->opt.lease_ms + 1000;
    for (;;) {
        inflight f = {r->opt->pipeline, r->opt->projection, 0};
        if (q->ops->queue_stats(q, clock_now_ms(), count_inflight, &f) != 0) return -1;
        if (f.n == 0) return 0;
        if (clock_monotonic_ms() > deadline) {
            diag_set(DIAG_TIMEOUT, "fold %s/%s still has %lld jobs in flight: swap not done "
                                   "(rerun the replay to retry)",
                     r->opt->pipeline, r->opt->projection, (long long)f.n);
            return -1;
        }
        clock_sleep_ms(20);
    }
}

typedef struct fold_row {
    char *tenant_id, *key;
    int64_t last_seq;
} fold_row;

/* The rows of a fold table (only_key's alone when set); oom when one was
 * lost. */
typedef struct fold_rows {
    fold_row *items;
    size_t n, cap;
    const char *only_key;
    int oom;
} fold_rows;

/* (tenant, key) order, as fold_scan returns rows. */
static int row_cmp(const fold_row *a, const fold_row *b)
{
    int c = strcmp(a->tenant_id, b->tenant_id);
    return c ? c : strcmp(a->key, b->key);
}

static int collect_row(void *ud, const char *tenant_id, const char *key,
                       const char *state_json, int64_t last_seq)
{
    (void)state_json;
    fold_rows *l = ud;
    if (l->only_key && strcmp(l->only_key, key) != 0) return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        fold_row *items = realloc(l->items, cap * sizeof *items);
        if (!items) return l->oom = 1;
        l->items = items;
        l->cap = cap;
    }
    fold_row *row = &l->items[l->n];
    row->tenant_id = strdup(tenant_id);
    row->key = strdup(key);
    row->last_seq = last_seq;
    l->n++;
    if (!row->tenant_id || !row->key) l->oom = 1;
    return l->oom;
}

static void fold_rows_free(fold_rows *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].tenant_id);
        free(l->items[i].key);
    }
    free(l->items);
}

/* Folds into the shadow what the live fold applied after the scan passed
 * each aggregate (live last_seq ahead of the shadow's). Both tables are
 * scanned once (each ordered by tenant and key) and merged; a shadow state
 * is read only for the rows caught up. */
static int catch_up(replay *r, int only_shadowed)
{
    es_store *f = r->b->folds;
    fold_rows live = {.only_key = r->opt->aggregate_id};
    fold_rows shadow = {.only_key = r->opt->aggregate_id};
    int rc = f->ops->fold_scan(f, r->opt->tenant_id, r->table, collect_row, &live);
    if (rc == 0) rc = f->ops->fold_scan(f, r->opt->tenant_id, r->shadow, collect_row, &shadow);
    if (rc == 0 && (live.oom || shadow.oom)) {
        diag_set(DIAG_INTERNAL, "out of memory in replay");
        rc = -1;
    }
    size_t j = 0;
    for (size_t i = 0; rc == 0 && i < live.n; i++) {
        fold_row *row = &live.items[i];
        int c = 1;
        while (j < shadow.n &&
               (c = row_cmp(&shadow.items[j], row)) < 0)
            j++;
        int shadowed = j < shadow.n && c == 0;
        if ((!shadowed && only_shadowed) ||
            (shadowed && row->last_seq <= shadow.items[j].last_seq))
            continue;
        char *state = NULL;
        int64_t shadow_seq = 0;
        if (shadowed &&
            f->ops->fold_get(f, row->tenant_id, r->shadow, row->key, &state, &shadow_seq) < 0) {
            rc = -1;
            break;
        }
        rc = set_current(r, row->tenant_id, row->key);
        r->cur_last_seq = shadow_seq;
        if (rc == 0)
            rc = r->b->events->ops->event_read(r->b->events, row->tenant_id, r->aggregate_type,
                                               row->key, shadow_seq, 0, replay_on_event, r);
        if (rc == 0 && r->failed) rc = -1;
        if (rc == 0) rc = replay_flush_from(r, state);
        r->out->caught_up++;
        free(state);
    }
    fold_rows_free(&live);
    fold_rows_free(&shadow);
    return rc;
}

/* Pauses the fold (unless already paused), waits for its batches in
 * flight, catches the shadow up and swaps it in with the checkpoint
 * deleted, in one unit; then lifts the pause it set. */
static int replay_swap(replay *r, es_replay_checkpoint *cp)
{
    es_store *q = r->b->queue, *f = r->b->folds;
    if (!q->ops->pause_set || !q->ops->pause_check) {
        diag_set(DIAG_INVALID, "replay is not supported by the %s queue (it cannot pause a "
                               "fold for the swap)", q->ops->name);
        return -1;
    }
    if (report(r, "swap") != 0) return -1;
    if (!cp->paused_fold) {
        pause_mode mode;
        if (q->ops->pause_check(q, r->opt->tenant_id, r->opt->pipeline, r->opt->projection,
                                &mode) != 0)
            return -1;
        if (mode == PAUSE_NONE) {
            if (q->ops->pause_set(q, r->opt->tenant_id, r->opt->pipeline, r->opt->projection,
                                  PAUSE_HOLD, clock_now_ms()) != 0)
                return -1;
            cp->paused_fold = 1;
            if (f->ops->replay_checkpoint_put(f, r->opt->pipeline, r->opt->projection, cp) != 0)
                return -1;
        }
    }
    int only_shadowed = r->opt->since_ms > 0;
    if (wait_quiet(r) != 0 || catch_up(r, only_shadowed) != 0) return -1;
    if (f->ops->tx_begin && f->ops->tx_begin(f) != 0) return -1;
    int rc = 0;
    int64_t now = clock_now_ms();
    for (size_t i = 0; i < r->n_writes && rc == 0; i++) {
        replay_write *w = &r->writes[i];
        rc = f->ops->fold_put(f, w->tenant_id, r->shadow, w->key, w->json, w->last_seq, now);
    }
    if (rc == 0)
        rc = f->ops->fold_swap(f, r->opt->tenant_id, r->table, r->shadow, r->opt->aggregate_id,
                               only_shadowed);
    if (rc == 0)
        rc = f->ops->replay_checkpoint_put(f, r->opt->pipeline, r->opt->projection, NULL);
    /* same store: the pause is lifted in the swap's unit of work */
    if (rc == 0 && cp->paused_fold && q == f)
        rc = q->ops->pause_set(q, r->opt->tenant_id, r->opt->pipeline, r->opt->projection,
                               PAUSE_NONE, now) < 0 ? -1 : 0;
    if (rc != 0) {
        if (f->ops->tx_rollback) f->ops->tx_rollback(f);
        return -1;
    }
    writes_clear(r);
    if (f->ops->tx_commit && f->ops->tx_commit(f) != 0) return -1;
    if (cp->paused_fold && q != f &&
        q->ops->pause_set(q, r->opt->tenant_id, r->opt->pipeline, r->opt->projection,
                          PAUSE_NONE, clock_now_ms()) < 0)
        return -1;
    return 0;
}

/* ---- entry point ---- */

static int replay_supported(replay *r)
{
    es_store *ev = r->b->events, *t = target_store(r);
    const char *missing = !ev->ops->event_scan || !ev->ops->event_count ? ev->ops->name
                          : !t->ops->replay_checkpoint_get ||
                                  (!r->is_map && (!t->ops->fold_swap || !t->ops->fold_scan ||
                                                  !t->ops->fold_drop))
                              ? t->ops->name
                              : NULL;
    if (!missing) return 0;
    diag_set(DIAG_INVALID, "replay is not supported by the %s backend", missing);
    return -1;
}

/* Loads the checkpoint, or starts one; handles --abort. 1: nothing to
 * abort. */
static int replay_start(replay *r, es_replay_checkpoint *cp)
{
    es_store *t = target_store(r);
    const char *scope = r->opt->tenant_id ? r->opt->tenant_id : "";
    int got = t->ops->replay_checkpoint_get(t, r->opt->pipeline, r->opt->projection, cp);
    if (got < 0) return -1;
    if (r->opt->abort) {
        if (got == 1) return 1;
        int rc = r->is_map ? 0 : t->ops->fold_drop(t, NULL, r->shadow, NULL);
        if (rc == 0 && cp->paused_fold && r->b->queue->ops->pause_set)
            rc = r->b->queue->ops->pause_set(r->b->queue, *cp->tenant_id ? cp->tenant_id : NULL,
                                             r->opt->pipeline, r->opt->projection, PAUSE_NONE,
                                             clock_now_ms()) < 0 ? -1 : 0;
        if (rc == 0)
            rc = t->ops->replay_checkpoint_put(t, r->opt->pipeline, r->opt->projection, NULL);
        return rc;
    }
    if (got == 0) {
        if (strcmp(cp->tenant_id, scope) != 0) {
            diag_set(DIAG_INVALID, "a replay of %s/%s for %s%s was interrupted: rerun it with "
                                   "the same scope to resume, or --abort it",
                     r->opt->pipeline, r->opt->projection, *cp->tenant_id ? "tenant " : "every tenant",
                     cp->tenant_id);
            return -1;
        }
        r->out->resumed = 1;
        r->done = cp->events_done;
        return 0;
    }
    cp->tenant_id = strdup(scope);
    cp->after_tenant = strdup("");
    cp->after_aggregate = strdup("");
    cp->started_at = clock_now_ms();
    if (!cp->tenant_id || !cp->after_tenant || !cp->after_aggregate) {
        diag_set(DIAG_INTERNAL, "out of memory");
        return -1;
    }
    if (r->opt->aggregate_id) return 0;
    if (!r->is_map && t->ops->fold_drop(t, NULL, r->shadow, NULL) != 0) return -1;
    return t->ops->replay_checkpoint_put(t, r->opt->pipeline, r->opt->projection, cp);
}

int engine_replay(es_engine *e, const replay_options *opt_in, replay_result *out)
{
    replay_options opt = *opt_in;
    if (!opt.dry_run_sample) opt.dry_run_sample = REPLAY_SAMPLE;
    memset(out, 0, sizeof *out);
    if (opt.aggregate_id && !opt.tenant_id) {
        diag_set(DIAG_INVALID, "--aggregate needs --tenant");
        return -1;
    }
    replay r = {.e = e, .opt = &opt, .b = &e->backends, .out = out};
    r.started = clock_monotonic_ms();
    es_replay_checkpoint cp;
    memset(&cp, 0, sizeof cp);
    int rc = -1;
    r.host = lua_host_new();
    if (!r.host || lua_host_load(r.host, e->opt.pipelines_dir, NULL) != 0) goto out;
    if (replay_describe(&r) != 0 || replay_supported(&r) != 0) goto out;
    if (!opt.dry_run) {
        rc = replay_start(&r, &cp);
        if (rc != 0 || opt.abort) goto out;
        rc = -1;
    }
    if (r.b->events->ops->event_count(r.b->events, opt.tenant_id, r.aggregate_type,
                                      opt.since_ms, &r.total) != 0)
        goto out;
    if (opt.dry_run) r.done = 0;
    /* pages are written behind the scan when they go to another store than
     * the one scanned (one store may not serve a read and a write unit at
     * once) */
    if (!opt.dry_run && target_store(&r) != r.b->events) {
        r.writer = replay_writer_new(page_unit_run, page_unit_free, &r);
        if (!r.writer) goto out;
    }
    if (replay_scan(&r, &cp) != 0 || (r.writer && replay_writer_drain(r.writer) != 0)) goto out;
    if (!opt.dry_run && !r.is_map && replay_swap(&r, &cp) != 0) goto out;
    if (!opt.dry_run && r.is_map &&
        target_store(&r)->ops->replay_checkpoint_put(target_store(&r), opt.pipeline,
                                                     opt.projection, NULL) != 0)
        goto out;
    out->seconds = (double)(clock_monotonic_ms() - r.started) / 1000.0;
    rc = 0;
    report(&r, "done");
out:
    replay_writer_free(r.writer);
    writes_clear(&r);
    free(r.writes);
    free(r.buf);
    free(r.offs);
    jb_free(&r.strings);
    free(r.cur_tenant);
    free(r.cur_agg);
    free(r.aggregate_type);
    free(r.table);
    free(r.shadow);
    json_value_free(&r.describe);
    store_replay_checkpoint_clear(&cp);
    lua_host_free(r.host);
    return rc;
}
