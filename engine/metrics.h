/* metrics.h: process-wide counters, gauges and histograms, updated with
 * atomics from any thread and rendered in the Prometheus text format.
 *
 * Every metric is one family of the fixed table below, with up to three label
 * values. A series (family + label values) is created on first use and lives
 * until the process exits, so label values must come from a bounded set
 * (pipeline, component, kind, route, status; never ids or tenants).
 *
 * What the worker code calls (the lead wires these):
 *
 *   command accepted / rejected (engine_send):
 *     metrics_inc(METRIC_COMMANDS_ACCEPTED, pipeline, command, NULL);
 *     metrics_inc(METRIC_COMMANDS_REJECTED, pipeline, command, diag_code_name(code));
 *   events appended (after the append commits; APPEND_NEW outcomes only):
 *     metrics_add(METRIC_EVENTS_APPENDED, n_new, pipeline, NULL, NULL);
 *   a claimed batch finished (kind = job_kind_name(kind): "command", "fold"...):
 *     metrics_add(METRIC_JOBS_PROCESSED, n_done, pipeline, component, kind);
 *     metrics_add(METRIC_EVENTS_INLINE, n, pipeline, component, kind);
 *     metrics_observe(METRIC_JOB_DURATION, seconds, pipeline, component, kind);
 *   a job failed (queue_fail), and whether it will be retried or was parked:
 *     metrics_inc(METRIC_JOBS_FAILED, pipeline, component, kind);
 *     metrics_inc(METRIC_JOBS_RETRIED, pipeline, component, kind);   (retry)
 *     metrics_inc(METRIC_JOBS_PARKED, pipeline, component, kind);    (parked)
 *   a Lua error (any script failure, reported with its traceback):
 *     metrics_inc(METRIC_LUA_ERRORS, pipeline, component, NULL);
 *   a ClickHouse batch flushed:
 *     metrics_add(METRIC_CLICKHOUSE_ROWS, rows, table, NULL, NULL);
 *     metrics_add(METRIC_CLICKHOUSE_BYTES, bytes, table, NULL, NULL);
 *     metrics_observe(METRIC_CLICKHOUSE_FLUSH_DURATION, seconds, table, NULL, NULL);
 *     metrics_inc(METRIC_EVENT_LOG_LOOKUPS, reason, NULL, NULL);
 *   a new script generation swapped in:
 *     metrics_set(METRIC_SCRIPT_GENERATION, generation_number, NULL, NULL, NULL);
 *
 * Queue depth, oldest pending age, parked groups and the worker registry
 * (workers seen, heartbeat age and jobs/s per worker process) are not
 * pushed: the /metrics endpoint reads them from the queue store at scrape
 * time (http_routes.c), so they are always current. */
#ifndef ES_METRICS_H
#define ES_METRICS_H

#include <stdint.h>

#include "json_buf.h"

typedef enum {
    METRIC_COMMANDS_ACCEPTED,      /* counter {pipeline, command} */
    METRIC_COMMANDS_REJECTED,      /* counter {pipeline, command, reason} */
    METRIC_EVENTS_APPENDED,        /* counter {pipeline} */
    METRIC_JOBS_PROCESSED,         /* counter {pipeline, component, kind} */
    METRIC_EVENTS_INLINE,          /* counter {pipeline, component, kind} */
    METRIC_JOBS_FAILED,            /* counter {pipeline, component, kind} */
    METRIC_JOBS_RETRIED,           /* counter {pipeline, component, kind} */
    METRIC_JOBS_PARKED,            /* counter {pipeline, component, kind} */
    METRIC_JOB_DURATION,           /* histogram seconds {pipeline, component, kind} */
    METRIC_LUA_ERRORS,             /* counter {pipeline, component} */
    METRIC_CLICKHOUSE_ROWS,        /* counter {table} */
    METRIC_CLICKHOUSE_BYTES,       /* counter {table} */
    METRIC_CLICKHOUSE_FLUSH_DURATION, /* histogram seconds {table} */
    METRIC_EVENT_LOG_LOOKUPS,      /* counter {reason} */
    METRIC_SCRIPT_GENERATION,      /* gauge: loaded script generation number */
    METRIC_HTTP_REQUESTS,          /* counter {route, status} */
    METRIC_HTTP_REQUEST_DURATION,  /* histogram seconds {route} */
    METRIC_OTLP_SPANS_ACCEPTED,    /* counter {encoding} */
    METRIC_OTLP_SPANS_REJECTED,    /* counter {encoding} */
    METRIC__COUNT
} metric_id;

/* Adds 1 to a counter. Label values beyond the family's label count are
 * ignored; a NULL value renders as "". Thread-safe, lock-free once the
 * series exists. */
void metrics_inc(metric_id id, const char *l1, const char *l2, const char *l3);

/* Adds v (>= 0 for counters) to a counter or gauge. */
void metrics_add(metric_id id, double v, const char *l1, const char *l2,
                 const char *l3);

/* Sets a gauge to v. */
void metrics_set(metric_id id, double v, const char *l1, const char *l2,
                 const char *l3);

/* Records one observation (seconds) in a histogram. */
void metrics_observe(metric_id id, double v, const char *l1, const char *l2,
                     const char *l3);

/* Reads a counter or gauge (0 when the series does not exist): for tests. */
double metrics_get(metric_id id, const char *l1, const char *l2, const char *l3);

/* Appends every series in the Prometheus text exposition format (0.0.4),
 * families in table order, with HELP and TYPE lines. */
void metrics_render(json_buf *out);

/* Appends one gauge sample line with its HELP/TYPE header when `header` is
 * set: for values computed at scrape time (queue depth). Label names and
 * values are given as NULL-terminated pairs: name, value, ..., NULL. */
void metrics_render_gauge(json_buf *out, const char *name, const char *help,
                          int header, double v, ...);

#endif
