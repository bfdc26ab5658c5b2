/* cli_queue.c: `esengine status` and `esengine parked`: what the queue
 * holds (per queue, then the lag of each fold projection it implies), and
 * the operator's hands on parked groups. Group keys print with '|' between
 * tenant, pipeline, component and key. */
#include "cli.h"
#include "clock.h"
#include "diag.h"
#include "json_buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copies a group key with its \x1f separators shown as '|' (or back). */
static char *translate_key(const char *key, char from, char to)
{
    char *out = strdup(key);
    for (char *p = out; p && *p; p++)
        if (*p == from) *p = to;
    return out;
}

/* The lag of one fold projection, from its queue row: every queued fold
 * job is one event appended but not yet applied. */
typedef struct fold_lag {
    char *pipeline, *fold;
    int64_t events, oldest_pending_at, parked_groups;
} fold_lag;

typedef struct status_out {
    es_config *cfg;
    int64_t now;
    int rows;
    fold_lag *lags;
    size_t n_lags, cap_lags;
} status_out;

/* Keeps the lag figures of a fold row for the projections section. -1 with
 * a diag on OOM. */
static int lag_push(status_out *o, const es_queue_stats *r)
{
    if (o->n_lags == o->cap_lags) {
        size_t cap = o->cap_lags ? o->cap_lags * 2 : 8;
        fold_lag *items = realloc(o->lags, cap * sizeof *items);
        if (!items) goto oom;
        o->lags = items;
        o->cap_lags = cap;
    }
    fold_lag *l = &o->lags[o->n_lags];
    l->pipeline = strdup(r->pipeline);
    l->fold = strdup(r->component);
    if (!l->pipeline || !l->fold) {
        free(l->pipeline);
        free(l->fold);
        goto oom;
    }
    l->events = r->pending + r->delayed + r->in_flight + r->parked;
    l->oldest_pending_at = r->oldest_pending_at;
    l->parked_groups = r->parked_groups;
    o->n_lags++;
    return 0;
oom:
    diag_set(DIAG_INTERNAL, "out of memory collecting projection lag");
    return -1;
}

/* Prints the lag of every fold projection with queued work. */
static void print_lags(const status_out *o)
{
    for (size_t i = 0; i < o->n_lags; i++) {
        const fold_lag *l = &o->lags[i];
        int64_t age = l->oldest_pending_at ? (o->now - l->oldest_pending_at) / 1000 : 0;
        if (o->cfg->json) {
            json_buf b;
            jb_init(&b);
            jb_str(&b, "{\"projection\":{\"pipeline\":");
            jb_quoted(&b, l->pipeline);
            jb_str(&b, ",\"fold\":");
            jb_quoted(&b, l->fold);
            jb_printf(&b, ",\"events_unapplied\":%lld,\"lag_s\":%lld,\"parked_groups\":%lld}}",
                      (long long)l->events, (long long)(age < 0 ? 0 : age),
                      (long long)l->parked_groups);
            char *line = jb_take(&b);
            printf("%s\n", line ? line : "{}");
            free(line);
        } else {
            if (i == 0)
                printf("\n%-24s %-24s %16s %8s %13s\n", "PROJECTION", "FOLD",
                       "EVENTS_UNAPPLIED", "LAG_S", "PARKED_GROUPS");
            printf("%-24s %-24s %16lld %8lld %13lld\n", l->pipeline, l->fold,
                   (long long)l->events, (long long)(age < 0 ? 0 : age),
                   (long long)l->parked_groups);
        }
    }
}

static void lags_free(status_out *o)
{
    for (size_t i = 0; i < o->n_lags; i++) {
        free(o->lags[i].pipeline);
        free(o->lags[i].fold);
    }
    free(o->lags);
}

static int print_stats_row(void *ud, const es_queue_stats *r)
{
    status_out *o = ud;
    if (r->kind == JOB_FOLD && lag_push(o, r) != 0) return -1;
    int64_t age = r->oldest_pending_at ? (o->now - r->oldest_pending_at) / 1000 : 0;
    if (o->cfg->json) {
        json_buf b;
        jb_init(&b);
        jb_str(&b, "{\"pipeline\":");
        jb_quoted(&b, r->pipeline);
        jb_str(&b, ",\"component\":");
        jb_quoted(&b, r->component);
        jb_printf(&b, ",\"kind\":\"%s\",\"pending\":%lld,\"delayed\":%lld,\"in_flight\":%lld,"
                      "\"parked\":%lld,\"parked_groups\":%lld,\"oldest_pending_age_s\":%lld}",
                  job_kind_name(r->kind), (long long)r->pending, (long long)r->delayed,
                  (long long)r->in_flight, (long long)r->parked, (long long)r->parked_groups,
                  (long long)age);
        char *line = jb_take(&b);
        printf("%s\n", line ? line : "{}");
        free(line);
    } else {
        if (o->rows == 0)
            printf("%-24s %-24s %-8s %9s %9s %9s %9s %8s\n", "PIPELINE", "COMPONENT", "KIND",
                   "PENDING", "DELAYED", "IN_FLIGHT", "PARKED", "OLDEST_S");
        printf("%-24s %-24s %-8s %9lld %9lld %9lld %9lld %8lld\n", r->pipeline, r->component,
               job_kind_name(r->kind), (long long)r->pending, (long long)r->delayed,
               (long long)r->in_flight, (long long)r->parked, (long long)age);
    }
    o->rows++;
    return 0;
}

/* Status lists at most this many parked groups; `parked list` has them all. */
#define STATUS_PARKED_MAX 20

typedef struct parked_out {
    es_config *cfg;
    int shown, total;
} parked_out;

/* One parked group in `status`: its key and the first line of its error. */
static int status_parked_row(void *ud, const es_parked_group *g)
{
    parked_out *o = ud;
    if (o->total++ >= STATUS_PARKED_MAX) return 0;
    o->shown++;
    const char *error = g->head && g->head->last_error ? g->head->last_error : "(none)";
    size_t first_line = strcspn(error, "\n");
    char *key = translate_key(g->group_key, '\x1f', '|');
    if (o->cfg->json) {
        json_buf b;
        jb_init(&b);
        jb_str(&b, "{\"parked_group\":{\"group\":");
        jb_quoted(&b, key);
        jb_str(&b, ",\"pipeline\":");
        jb_quoted(&b, g->pipeline);
        jb_str(&b, ",\"component\":");
        jb_quoted(&b, g->component);
        jb_str(&b, ",\"error\":");
        jb_quoted_n(&b, error, first_line);
        jb_str(&b, "}}");
        char *line = jb_take(&b);
        printf("%s\n", line ? line : "{}");
        free(line);
    } else {
        if (o->shown == 1) printf("\nparked groups (esengine parked list for details):\n");
        printf("  %s: %.*s\n", key, (int)first_line, error);
    }
    free(key);
    return 0;
}

/* Prints the parked groups section of `status`. 0 or -1 with a diag. */
static int status_parked(es_engine *e, es_config *cfg)
{
    es_store *q = engine_backends(e)->queue;
    parked_out o = {cfg, 0, 0};
    if (!q->ops->queue_parked_list || q->ops->queue_parked_list(q, NULL, status_parked_row, &o) != 0)
        return q->ops->queue_parked_list ? -1 : 0;
    if (!cfg->json && o.total > o.shown) printf("  ... and %d more\n", o.total - o.shown);
    return 0;
}

int cli_status(es_config *cfg)
{
    int code;
    es_engine *e = cli_open_engine(cfg, &code);
    if (!e) return code;
    es_store *q = engine_backends(e)->queue;
    status_out o = {.cfg = cfg, .now = clock_now_ms()};
    code = EXIT_OK;
    if (q->ops->queue_stats(q, o.now, print_stats_row, &o) != 0) {
        fprintf(stderr, "esengine status: %s\n", diag_message());
        code = EXIT_FAIL;
    } else if (o.rows == 0 && !cfg->json) {
        printf("queue %s: empty\n", q->ops->name);
    }
    if (code == EXIT_OK) print_lags(&o);
    lags_free(&o);
    if (code == EXIT_OK &&
        (status_parked(e, cfg) != 0 || cli_status_pauses(e, cfg) != 0 ||
         cli_status_workers(e, cfg) != 0 ||
         engine_print_reload_status(e, cfg->json) != 0)) {
        fprintf(stderr, "esengine status: %s\n", diag_message());
        code = EXIT_FAIL;
    }
    engine_close(e);
    return code;
}

static int print_parked(void *ud, const es_parked_group *g)
{
    es_config *cfg = ud;
    char *key = translate_key(g->group_key, '\x1f', '|');
    if (cfg->json) {
        json_buf b;
        jb_init(&b);
        jb_str(&b, "{\"group\":");
        jb_quoted(&b, key);
        jb_str(&b, ",\"tenant_id\":");
        jb_quoted(&b, g->tenant_id);
        jb_str(&b, ",\"pipeline\":");
        jb_quoted(&b, g->pipeline);
        jb_str(&b, ",\"component\":");
        jb_quoted(&b, g->component);
        jb_str(&b, ",\"job_id\":");
        jb_quoted(&b, g->head ? g->head->id : NULL);
        jb_printf(&b, ",\"attempts\":%d,\"jobs_waiting\":%lld,\"parked_at\":%lld,\"error\":",
                  g->head ? g->head->attempts : 0, (long long)g->jobs_waiting,
                  (long long)g->parked_at);
        jb_quoted(&b, g->head ? g->head->last_error : NULL);
        jb_str(&b, "}");
        char *line = jb_take(&b);
        printf("%s\n", line ? line : "{}");
        free(line);
    } else {
        printf("%s\n  job %s, %d attempts, %lld jobs waiting\n  error: %s\n", key,
               g->head ? g->head->id : "?", g->head ? g->head->attempts : 0,
               (long long)g->jobs_waiting,
               g->head && g->head->last_error ? g->head->last_error : "(none)");
    }
    free(key);
    return 0;
}

int cli_parked(es_config *cfg)
{
    const char *action = cfg->n_positional > 0 ? cfg->positional[0] : "list";
    int is_list = strcmp(action, "list") == 0;
    int is_retry = strcmp(action, "retry") == 0;
    int is_skip = strcmp(action, "skip") == 0;
    if (!(is_list || ((is_retry || is_skip) && cfg->n_positional == 2))) {
        fprintf(stderr, "usage: esengine parked [list|retry GROUP|skip GROUP]\n");
        return EXIT_USAGE;
    }
    int code;
    es_engine *e = cli_open_engine(cfg, &code);
    if (!e) return code;
    es_store *q = engine_backends(e)->queue;
    code = EXIT_OK;
    if (is_list) {
        if (q->ops->queue_parked_list(q, cfg->tenant && *cfg->tenant ? cfg->tenant : NULL,
                                      print_parked, cfg) != 0) {
            fprintf(stderr, "esengine parked: %s\n", diag_message());
            code = EXIT_FAIL;
        }
    } else {
        char *key = strchr(cfg->positional[1], '\x1f')
                        ? strdup(cfg->positional[1])
                        : translate_key(cfg->positional[1], '|', '\x1f');
        int rc = is_retry ? q->ops->queue_parked_retry(q, key, clock_now_ms())
                          : q->ops->queue_parked_skip(q, key, clock_now_ms());
        if (rc == 1) {
            fprintf(stderr, "esengine parked: no parked group %s\n", cfg->positional[1]);
            code = EXIT_NOT_FOUND;
        } else if (rc != 0) {
            fprintf(stderr, "esengine parked: %s\n", diag_message());
            code = EXIT_FAIL;
        } else {
            printf("%s: %s\n", is_retry ? "retrying" : "skipped head of", cfg->positional[1]);
        }
        free(key);
    }
    engine_close(e);
    return code;
}
