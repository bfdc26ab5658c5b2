/* engine.h: the engine as the CLI, the web role and the Lua test module see
 * it: open backends and pipelines, send commands, run worker threads (or
 * drain synchronously), read states, events and records. */
#ifndef ES_ENGINE_H
#define ES_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

typedef struct es_engine es_engine;

typedef struct es_engine_options {
    const char *pipelines_dir;  /* default "./pipelines" */
    const char *only_pipeline;  /* load just this pipeline folder (tests); NULL = all */
    const char *data_dir;       /* default "./esengine-data" (embedded mode) */
    const char *redis_url;      /* NULL: queues in the embedded store */
    const char *clickhouse_url; /* NULL: events and projections embedded */
    int memory;                 /* 1: memory backends (tests); ignores the above */
    const char *role;           /* "all" (default), "web", "worker" */
    int workers;                /* worker threads; 0 = number of cores */
    int batch_size;             /* max jobs per claim (default 256) */
    int max_attempts;           /* failures before a group is parked (default 10) */
    int64_t lease_ms;           /* claim visibility timeout (default 30000) */
    int64_t retry_base_ms;      /* first retry delay (default 1000) */
    int64_t retry_max_ms;       /* backoff cap (default 300000) */
    int64_t handler_timeout_ms; /* per handler call (default 5000) */
    int64_t lua_memory_mb;      /* per worker Lua state (default 512, 0 = none) */
    int inline_projections;     /* 1 (default): a command batch applies its events'
                                   folds and maps itself where the queue shares its
                                   transaction (inline_projections.h); 0: always as
                                   queued jobs */
} es_engine_options;

/* Fills `opt` with the defaults above. */
void engine_options_default(es_engine_options *opt);

/* Opens the backends named by `opt` and loads every pipeline under
 * opt->pipelines_dir. Returns NULL with a diag set when a backend cannot be
 * opened or a pipeline fails to load (message "file:line: reason"). The
 * returned engine is owned by the caller (engine_close). */
es_engine *engine_open(const es_engine_options *opt);

/* Stops workers if running, then frees everything. */
void engine_close(es_engine *e);

/* Starts opt->workers worker threads (role "all" or "worker"). 0 or -1. */
int engine_start(es_engine *e);

/* Reloads the pipelines dir: builds and validates a new generation in the
 * control host; when it loads, every worker swaps to it between batches
 * (jobs in flight finish on the old one), and so does each pooled sending
 * host the next time it is lent (control_pool.c). On failure the old generation keeps
 * running and -1 is returned with DIAG_SCRIPT ("file:line: message"). */
int engine_reload(es_engine *e);

/* Prints the running engine's generation report (<data>/esengine.status.json:
 * per pipeline hash, loaded at, folds needing replay, last reload error) on
 * stdout, as one {"reload":...} line when json. Nothing when absent. 0. */
int engine_print_reload_status(es_engine *e, int json);

/* The running engine's generation report as JSON text (malloc'd), or NULL
 * when there is none (memory mode, not started yet). */
char *engine_reload_status_json(es_engine *e);

/* Watches the pipelines dir and reloads on changes (with engine_start). */
int engine_watch(es_engine *e);

/* Asks workers to stop, lets in-flight jobs finish, joins them. */
void engine_stop(es_engine *e);

/* Validates `payload_json` against the command's schema and enqueues it for
 * `tenant_id`. On success returns 0 and sets *job_id (malloc'd; caller
 * frees). `job_id_hint` (may be NULL) makes the job id deterministic, so a
 * client retry is not processed twice. On failure returns -1 with a diag:
 * DIAG_NOT_FOUND (unknown pipeline or command), DIAG_INVALID (bad JSON or a
 * payload failing its schema: *errors_json is then a malloc'd JSON array of
 * {"path":..,"message":..}), DIAG_BUSY (backpressure), or a backend error.
 * Thread-safe; callers validate in parallel on pooled hosts.
 * The job is not tracked for engine_wait (see engine_send_waitable). */
int engine_send(es_engine *e, const char *tenant_id, const char *pipeline,
                const char *command, const char *payload_json,
                const char *job_id_hint, char **job_id, char **errors_json);

/* engine_send for n payloads of one command, all or nothing: each is
 * validated (on one pooled host), then all are enqueued in one queue call
 * (one transaction on SQLite, one script call per chunk on Redis), one job
 * per payload with a new id, in order. On success returns 0 and sets
 * job_ids[0..n) (malloc'd; caller frees). On failure returns -1 with a
 * diag and nothing enqueued; when payload i failed validation, *failed is
 * i and *errors_json as engine_send's (errors_json may be NULL; else *failed is n). For senders
 * of many commands (bulk loads, ingest): a send per command pays a queue
 * round trip each. Thread-safe. */
int engine_send_many(es_engine *e, const char *tenant_id, const char *pipeline,
                     const char *command, const char *const *payloads, size_t n,
                     char **job_ids, size_t *failed, char **errors_json);

/* The two halves of engine_send_many, for a sender that validates on one
 * thread while another enqueues (a bulk load that keeps a transaction
 * open, backends_tx_begin, holds the store's write lock meanwhile).
 * engine_prepare_many validates n payloads of `command` on a pooled host
 * and sets *aggregate_ids and *command_jsons (arrays of n malloc'd strings,
 * to pass to engine_send_prepared); on failure returns -1 with *failed and
 * *errors_json as engine_send_many's and sets nothing. Thread-safe. */
int engine_prepare_many(es_engine *e, const char *tenant_id, const char *pipeline,
                        const char *command, const char *const *payloads, size_t n,
                        char ***aggregate_ids, char ***command_jsons, size_t *failed,
                        char **errors_json);

/* Enqueues n commands prepared by engine_prepare_many, one job each with a
 * new id, in order, in one queue call; takes ownership of (frees) both
 * arrays whatever the outcome. 0 with job_ids[0..n) set (malloc'd), or -1
 * with a diag and nothing enqueued (DIAG_BUSY: a --reject pause or
 * backpressure; a backend error). Thread-safe. */
int engine_send_prepared(es_engine *e, const char *tenant_id, const char *pipeline,
                         const char *command, char **aggregate_ids, char **command_jsons,
                         size_t n, char **job_ids);

/* engine_send, and the job and every job it produces carry its id as their
 * origin, so that engine_wait can follow them. Tracking costs the queue a
 * counter (Redis) or an index entry (SQLite) per job, so senders that do
 * not wait use engine_send. */
int engine_send_waitable(es_engine *e, const char *tenant_id, const char *pipeline,
                         const char *command, const char *payload_json,
                         const char *job_id_hint, char **job_id, char **errors_json);

/* Waits until the command job `job_id` (sent with engine_send_waitable) and
 * every fold job it produced are done (its events are in every fold's
 * stored state). 0 when done, -1 with DIAG_TIMEOUT after timeout_ms (or
 * DIAG_BACKEND). */
int engine_wait(es_engine *e, const char *job_id, int64_t timeout_ms);

/* Runs ready jobs in the calling thread until none is ready (memory backend
 * with a fixed clock: the synchronous drain of tests). Returns the number of
 * jobs processed, or -1 on a backend error. Failed jobs are retried later per
 * the backoff (advance the clock to see them again). */
long engine_drain(es_engine *e);

/* Jobs still queued, in every state (pending, delayed, in flight, parked),
 * over all queues: 0 once everything sent has been processed. -1 with a
 * diag on a backend error. */
int64_t engine_jobs_queued(es_engine *e);

/* Reads the stored state of a fold for (tenant, key) as a malloc'd JSON
 * object. 0 found, 1 none, -1 with DIAG_NOT_FOUND for an unknown pipeline or
 * fold, or a backend error. *last_seq may be NULL. */
int engine_state(es_engine *e, const char *tenant_id, const char *pipeline,
                 const char *fold, const char *key, char **state_json,
                 int64_t *last_seq);

/* Calls cb for the map records of (tenant, pipeline, map), oldest first. */
int engine_records(es_engine *e, const char *tenant_id, const char *pipeline,
                   const char *map, size_t limit, es_record_cb cb, void *ud);

/* Calls cb for the events of one aggregate in seq order (tenant-scoped). */
int engine_events(es_engine *e, const char *tenant_id, const char *aggregate_type,
                  const char *aggregate_id, es_event_cb cb, void *ud);

/* What became of an OTLP request's spans (engine_otlp_ingest). */
typedef struct es_otlp_result {
    size_t accepted;        /* spans enqueued as commands */
    size_t rejected;        /* spans refused by the converter or the schema */
    char *rejected_message; /* why (malloc'd, caller frees), or NULL */
} es_otlp_result;

/* Ingests an OTLP/HTTP JSON trace export (len bytes) for tenant_id: each
 * span becomes a record_span command of the trace pipeline
 * ("trace_processing"), converted by that pipeline's utils/otlp.lua and
 * validated in one Lua call, and all the request's commands are enqueued
 * in one queue call. `ud` is the es_engine (the signature matches
 * http_otlp_ingest_fn). 0 with *out filled; 1 when the request holds more
 * than max_spans spans (out->rejected = how many; nothing enqueued); -1
 * with a diag and nothing enqueued: DIAG_INVALID for malformed JSON,
 * DIAG_BUSY (backpressure, paused with --reject), DIAG_SCRIPT, or a
 * backend error. Thread-safe, and parallel (control_pool.c). */
int engine_otlp_ingest(void *ud, const char *tenant_id, const char *otlp_json, size_t len,
                       size_t max_spans, es_otlp_result *out);

/* Pauses (PAUSE_HOLD, PAUSE_REJECT) or resumes (PAUSE_NONE) a pipeline, or
 * one of its components (a fold, map or reactor name, or "commands"), for
 * one tenant or all (tenant_id NULL). The pause lives in the queue store:
 * every worker sharing it stops claiming the paused groups at its next
 * claim; their jobs stay queued and resume in order. With PAUSE_REJECT,
 * engine_send refuses commands to the pipeline (DIAG_BUSY). Returns 0, 1
 * when resuming found no pause in that scope, or -1: DIAG_NOT_FOUND for an
 * unknown pipeline or component, DIAG_INVALID when the backend cannot
 * pause ("not supported by <backend>"), or a backend error. */
int engine_pause(es_engine *e, const char *tenant_id, const char *pipeline,
                 const char *component, pause_mode mode);

/* The mode a pause of `pipeline` takes when the pause does not say: the
 * pipeline's :with_kill_switch{ mode = "reject" } gives PAUSE_REJECT;
 * otherwise (also for a pipeline not loaded) PAUSE_HOLD. */
pause_mode engine_pause_declared_mode(es_engine *e, const char *pipeline);

/* The stores in use (owned by the engine). */
es_backends *engine_backends(es_engine *e);

/* A JSON array describing the loaded pipelines (name, aggregate type,
 * commands, folds, maps, reactors, store tables), malloc'd. */
char *engine_describe(es_engine *e);

#endif
