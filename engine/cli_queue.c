/* cli_queue.c: `esengine status` and `esengine parked`: what the queue
 * holds, and the operator's hands on parked groups. Group keys print with
 * '|' between tenant, pipeline, component and key. */
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

typedef struct status_out {
    es_config *cfg;
    int64_t now;
    int rows;
} status_out;

static int print_stats_row(void *ud, const es_queue_stats *r)
{
    status_out *o = ud;
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

int cli_status(es_config *cfg)
{
    int code;
    es_engine *e = cli_open_engine(cfg, &code);
    if (!e) return code;
    es_store *q = engine_backends(e)->queue;
    status_out o = {cfg, clock_now_ms(), 0};
    code = EXIT_OK;
    if (q->ops->queue_stats(q, o.now, print_stats_row, &o) != 0) {
        fprintf(stderr, "esengine status: %s\n", diag_message());
        code = EXIT_FAIL;
    } else if (o.rows == 0 && !cfg->json) {
        printf("queue %s: empty\n", q->ops->name);
    }
    if (code == EXIT_OK && cli_status_pauses(e, cfg) != 0) {
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
