/* metrics.c: the process-wide metric registry and its Prometheus rendering. */
#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM } metric_kind;

typedef struct metric_family {
    const char *name;
    const char *help;
    metric_kind kind;
    const char *labels[3]; /* NULL-terminated when fewer than three */
} metric_family;

static const metric_family families[METRIC__COUNT] = {
    [METRIC_COMMANDS_ACCEPTED] = {"esengine_commands_accepted_total",
        "Commands validated and enqueued.", KIND_COUNTER,
        {"pipeline", "command", NULL}},
    [METRIC_COMMANDS_REJECTED] = {"esengine_commands_rejected_total",
        "Commands refused (invalid, unknown, busy, backend error).", KIND_COUNTER,
        {"pipeline", "command", "reason"}},
    [METRIC_EVENTS_APPENDED] = {"esengine_events_appended_total",
        "Events newly stored in the event log.", KIND_COUNTER,
        {"pipeline", NULL, NULL}},
    [METRIC_JOBS_PROCESSED] = {"esengine_jobs_processed_total",
        "Jobs completed.", KIND_COUNTER, {"pipeline", "component", "kind"}},
    [METRIC_EVENTS_INLINE] = {"esengine_events_projected_inline_total",
        "Events a command batch applied to a fold or map itself, without a queued job.",
        KIND_COUNTER, {"pipeline", "component", "kind"}},
    [METRIC_JOBS_FAILED] = {"esengine_jobs_failed_total",
        "Job attempts that failed.", KIND_COUNTER, {"pipeline", "component", "kind"}},
    [METRIC_JOBS_RETRIED] = {"esengine_jobs_retried_total",
        "Failed jobs scheduled for a retry.", KIND_COUNTER,
        {"pipeline", "component", "kind"}},
    [METRIC_JOBS_PARKED] = {"esengine_jobs_parked_total",
        "Failed jobs whose group was parked.", KIND_COUNTER,
        {"pipeline", "component", "kind"}},
    [METRIC_JOB_DURATION] = {"esengine_job_duration_seconds",
        "Time to run one claimed batch of jobs.", KIND_HISTOGRAM,
        {"pipeline", "component", "kind"}},
    [METRIC_LUA_ERRORS] = {"esengine_lua_errors_total",
        "Errors raised by pipeline scripts.", KIND_COUNTER,
        {"pipeline", "component", NULL}},
    [METRIC_CLICKHOUSE_ROWS] = {"esengine_clickhouse_rows_flushed_total",
        "Rows inserted into ClickHouse.", KIND_COUNTER, {"table", NULL, NULL}},
    [METRIC_CLICKHOUSE_BYTES] = {"esengine_clickhouse_bytes_flushed_total",
        "Bytes sent to ClickHouse in inserts.", KIND_COUNTER, {"table", NULL, NULL}},
    [METRIC_CLICKHOUSE_FLUSH_DURATION] = {"esengine_clickhouse_flush_seconds",
        "Latency of one ClickHouse insert.", KIND_HISTOGRAM, {"table", NULL, NULL}},
    [METRIC_EVENT_LOG_LOOKUPS] = {"esengine_event_log_lookups_total",
        "Appends (of one aggregate each) decided by a query to the ClickHouse event log: "
        "undecided (the event index may know an id or key), no_index (no trusted index), "
        "retry (is the retried event stored?).", KIND_COUNTER, {"reason", NULL, NULL}},
    [METRIC_SCRIPT_GENERATION] = {"esengine_script_generation",
        "Number of the loaded pipeline script generation.", KIND_GAUGE,
        {NULL, NULL, NULL}},
    [METRIC_HTTP_REQUESTS] = {"esengine_http_requests_total",
        "HTTP requests answered.", KIND_COUNTER, {"route", "status", NULL}},
    [METRIC_HTTP_REQUEST_DURATION] = {"esengine_http_request_duration_seconds",
        "Time from the end of a request body to its response.", KIND_HISTOGRAM,
        {"route", NULL, NULL}},
    [METRIC_OTLP_SPANS_ACCEPTED] = {"esengine_otlp_spans_accepted_total",
        "OTLP spans accepted as record_span commands.", KIND_COUNTER,
        {"encoding", NULL, NULL}},
    [METRIC_OTLP_SPANS_REJECTED] = {"esengine_otlp_spans_rejected_total",
        "OTLP spans rejected as invalid.", KIND_COUNTER, {"encoding", NULL, NULL}},
};

/* Histogram upper bounds in seconds (the +Inf bucket is implicit). */
static const double bucket_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                       0.05,   0.1,   0.25,   0.5,   1,    2.5,
                                       5,      10,    30};
#define N_BUCKETS (sizeof bucket_bounds / sizeof bucket_bounds[0])

/* A series: one label-value set of a family. Doubles are kept as their bit
 * patterns in 64-bit atomics and updated with compare-and-swap. */
typedef struct series {
    struct series *_Atomic next;
    char *values[3];
    _Atomic uint64_t value;               /* counter or gauge; histogram sum */
    _Atomic uint64_t count;               /* histogram */
    _Atomic uint64_t buckets[N_BUCKETS];  /* histogram, non-cumulative */
} series;

#define N_SLOTS 64
/* Lock-free readers walk the lists; writers insert at the head under the
 * mutex, publishing a fully built node with a release store. */
static series *_Atomic table[METRIC__COUNT][N_SLOTS];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t dbits(double d) {
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double bitsd(uint64_t u) {
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static void atomic_add_double(_Atomic uint64_t *slot, double v) {
    uint64_t old = atomic_load_explicit(slot, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(slot, &old, dbits(bitsd(old) + v),
                                                  memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
}

static int family_nlabels(metric_id id) {
    int n = 0;
    while (n < 3 && families[id].labels[n]) n++;
    return n;
}

static unsigned labels_hash(const char *const v[3], int n) {
    unsigned h = 2166136261u;
    for (int i = 0; i < n; i++) {
        for (const char *p = v[i]; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
        h = (h ^ 0xff) * 16777619u;
    }
    return h % N_SLOTS;
}

static series *list_find(series *s, const char *const v[3], int n) {
    for (; s; s = atomic_load_explicit(&s->next, memory_order_acquire)) {
        int i = 0;
        while (i < n && strcmp(s->values[i], v[i]) == 0) i++;
        if (i == n) return s;
    }
    return NULL;
}

/* The series of (id, labels), created on first use; NULL only when out of
 * memory (the update is then dropped: metrics never fail the caller). */
static series *series_get(metric_id id, const char *l1, const char *l2, const char *l3,
                          int create) {
    if ((unsigned)id >= METRIC__COUNT) return NULL;
    int n = family_nlabels(id);
    const char *v[3] = {l1 ? l1 : "", l2 ? l2 : "", l3 ? l3 : ""};
    unsigned slot = labels_hash(v, n);
    series *s = list_find(atomic_load_explicit(&table[id][slot], memory_order_acquire), v, n);
    if (s || !create) return s;
    pthread_mutex_lock(&table_lock);
    s = list_find(atomic_load_explicit(&table[id][slot], memory_order_acquire), v, n);
    if (!s && (s = calloc(1, sizeof *s)) != NULL) {
        int ok = 1;
        for (int i = 0; i < n; i++) ok &= (s->values[i] = strdup(v[i])) != NULL;
        if (ok) {
            atomic_store_explicit(&s->next, atomic_load(&table[id][slot]),
                                  memory_order_relaxed);
            atomic_store_explicit(&table[id][slot], s, memory_order_release);
        } else {
            for (int i = 0; i < n; i++) free(s->values[i]);
            free(s);
            s = NULL;
        }
    }
    pthread_mutex_unlock(&table_lock);
    return s;
}

void metrics_inc(metric_id id, const char *l1, const char *l2, const char *l3) {
    metrics_add(id, 1.0, l1, l2, l3);
}

void metrics_add(metric_id id, double v, const char *l1, const char *l2,
                 const char *l3) {
    series *s = series_get(id, l1, l2, l3, 1);
    if (s) atomic_add_double(&s->value, v);
}

void metrics_set(metric_id id, double v, const char *l1, const char *l2,
                 const char *l3) {
    series *s = series_get(id, l1, l2, l3, 1);
    if (s) atomic_store_explicit(&s->value, dbits(v), memory_order_relaxed);
}

void metrics_observe(metric_id id, double v, const char *l1, const char *l2,
                     const char *l3) {
    series *s = series_get(id, l1, l2, l3, 1);
    if (!s) return;
    size_t b = 0;
    while (b < N_BUCKETS && v > bucket_bounds[b]) b++;
    if (b < N_BUCKETS) atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
    atomic_add_double(&s->value, v);
}

double metrics_get(metric_id id, const char *l1, const char *l2, const char *l3) {
    series *s = series_get(id, l1, l2, l3, 0);
    return s ? bitsd(atomic_load_explicit(&s->value, memory_order_relaxed)) : 0.0;
}

/* Label values escaped per the exposition format: \\, \" and \n. */
static void render_label_value(json_buf *out, const char *v) {
    for (; *v; v++) {
        if (*v == '\\') jb_str(out, "\\\\");
        else if (*v == '"') jb_str(out, "\\\"");
        else if (*v == '\n') jb_str(out, "\\n");
        else jb_raw(out, v, 1);
    }
}

/* Writes {a="x",b="y"[,le="..."]}, or nothing when there are no labels. */
static void render_labels(json_buf *out, metric_id id, const series *s, const char *le) {
    int n = family_nlabels(id);
    if (n == 0 && !le) return;
    jb_raw(out, "{", 1);
    for (int i = 0; i < n; i++) {
        jb_printf(out, "%s%s=\"", i ? "," : "", families[id].labels[i]);
        render_label_value(out, s->values[i]);
        jb_raw(out, "\"", 1);
    }
    if (le) jb_printf(out, "%sle=\"%s\"", n ? "," : "", le);
    jb_raw(out, "}", 1);
}

static void render_series(json_buf *out, metric_id id, const series *s) {
    const metric_family *f = &families[id];
    if (f->kind != KIND_HISTOGRAM) {
        jb_str(out, f->name);
        render_labels(out, id, s, NULL);
        jb_printf(out, " %.17g\n", bitsd(atomic_load(&s->value)));
        return;
    }
    uint64_t cumulative = 0;
    char le[32];
    for (size_t b = 0; b < N_BUCKETS; b++) {
        cumulative += atomic_load(&s->buckets[b]);
        snprintf(le, sizeof le, "%g", bucket_bounds[b]);
        jb_printf(out, "%s_bucket", f->name);
        render_labels(out, id, s, le);
        jb_printf(out, " %llu\n", (unsigned long long)cumulative);
    }
    uint64_t count = atomic_load(&s->count);
    jb_printf(out, "%s_bucket", f->name);
    render_labels(out, id, s, "+Inf");
    jb_printf(out, " %llu\n%s_sum", (unsigned long long)count, f->name);
    render_labels(out, id, s, NULL);
    jb_printf(out, " %.17g\n%s_count", bitsd(atomic_load(&s->value)), f->name);
    render_labels(out, id, s, NULL);
    jb_printf(out, " %llu\n", (unsigned long long)count);
}

void metrics_render(json_buf *out) {
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    for (int id = 0; id < METRIC__COUNT; id++) {
        const metric_family *f = &families[id];
        jb_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
                  type_names[f->kind]);
        for (int slot = 0; slot < N_SLOTS; slot++) {
            for (series *s = atomic_load_explicit(&table[id][slot], memory_order_acquire);
                 s; s = atomic_load_explicit(&s->next, memory_order_acquire))
                render_series(out, (metric_id)id, s);
        }
    }
}

void metrics_render_gauge(json_buf *out, const char *name, const char *help,
                          int header, double v, ...) {
    if (header) jb_printf(out, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
    jb_str(out, name);
    va_list ap;
    va_start(ap, v);
    const char *label = va_arg(ap, const char *);
    for (int i = 0; label; i++) {
        const char *value = va_arg(ap, const char *);
        jb_printf(out, "%s%s=\"", i ? "," : "{", label);
        render_label_value(out, value ? value : "");
        jb_raw(out, "\"", 1);
        label = va_arg(ap, const char *);
        if (!label) jb_raw(out, "}", 1);
    }
    va_end(ap);
    jb_printf(out, " %.17g\n", v);
}
