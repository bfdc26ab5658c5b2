/* lua_host.h: one LuaJIT state per worker thread. It holds the engine's Lua
 * library (embedded from lua/), the trusted runtime (lua/esengine/runtime.lua)
 * and one loaded generation of pipelines. Every call into Lua goes through a
 * protected call with a traceback; results come back as plain C structs, so
 * nothing Lua crosses threads. Not thread-safe: one host per thread. */
#ifndef ES_LUA_HOST_H
#define ES_LUA_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "job.h"

typedef struct lua_host lua_host;

/* Where an appended event goes: a fold or map job of some pipeline, in the
 * group named by `key` (aggregate id, or a keyed fold's key). */
typedef struct es_route {
    job_kind kind; /* JOB_FOLD or JOB_MAP */
    char *pipeline;
    char *component;
    char *key;
    int keyed;     /* a keyed fold's route: key is the fold's key, not the aggregate */
    int applied;   /* set by the worker once applied in the command's own unit
                      of work (inline_projections.h): the route gets no job */
    es_fold_write *fold_write; /* owned, or NULL: set by the worker on the
                      first event's route of a fold it ran in the unit
                      (inline_folds_run); its job carries a copy */
} es_route;

/* An event returned by a command handler, with its routes. The event's id,
 * seq and created_at are not set yet. */
typedef struct es_new_event {
    es_event event;
    es_route *routes;
    size_t n_routes;
} es_new_event;

/* A reactor job produced by a fold batch (one per applied event and
 * reactor of that fold). */
typedef struct es_reactor_job {
    char *reactor;
    size_t index;      /* 0-based index of the event in the batch */
    char *state_json;  /* the fold state right after that event */
    int64_t delay_ms;
    char *job_id;      /* user dedup id, or NULL */
    dedup_mode dedup;
} es_reactor_job;

typedef struct es_fold_result {
    char *state_json;  /* NULL when nothing applied or the store is custom */
    size_t n_applied;
    es_reactor_job *reactors;
    size_t n_reactors;
    char *error;       /* NULL, or why event n_applied failed */
} es_fold_result;

/* A command dispatched by a reactor (already validated). */
typedef struct es_dispatch {
    char *pipeline;
    char *command;
    char *aggregate_id;
    char *command_json;
} es_dispatch;

/* Static facts about a fold or map, for binding it to a store. */
typedef struct es_component_info {
    char *table;  /* es.stores.table name, NULL for a custom store */
    int custom;   /* the definition brings its own Lua store */
    int keyed;    /* folds: keyed by key(event) rather than the aggregate */
} es_component_info;

/* Creates a state with the standard libraries, the embedded Lua library and
 * the runtime, with the default limits (5000 ms per handler call, 512 MB).
 * NULL with a diag on failure. */
lua_host *lua_host_new(void);
void lua_host_free(lua_host *h);

/* Sets the default time limit of one handler call (a component's own
 * timeout_ms overrides it; <= 0 keeps the current one) and the memory limit
 * of the host's Lua state in MB (0 = none, < 0 keeps the current one). A
 * handler past its limit, or a state past its memory, fails its call with a
 * DIAG_SCRIPT error saying so, and the state is rebuilt from the pipelines
 * dir before the next call. */
void lua_host_set_limits(lua_host *h, int64_t timeout_ms, int64_t memory_mb);

/* Bytes held by the host's Lua state. */
int64_t lua_host_memory(lua_host *h);

/* Loads every pipeline under `dir` (only the one named `only` if not NULL) as
 * a new generation, in a fresh Lua state, and swaps it in (the old state is
 * closed). On failure the previous generation stays and -1 is returned with
 * DIAG_SCRIPT and a "file:line: message" diag. */
int lua_host_load(lua_host *h, const char *dir, const char *only);

/* 1 when the loaded generation has a pipeline named `pipeline`, else 0
 * (also when nothing could be loaded). */
int lua_host_has_pipeline(lua_host *h, const char *pipeline);

/* Content hash of the loaded generation ("" before the first load). Owned by
 * the host, valid until the next load. */
const char *lua_host_generation(lua_host *h);

/* Validates a command payload. On success: 0, *aggregate_id and
 * *command_json (the job payload) malloc'd. On failure: -1 with
 * DIAG_NOT_FOUND (unknown pipeline/command) or DIAG_INVALID (bad JSON or
 * schema: *errors_json = malloc'd JSON array of {path, message}, or NULL). */
int lua_host_prepare_command(lua_host *h, const char *tenant_id, const char *pipeline,
                             const char *command, const char *payload_json,
                             char **aggregate_id, char **command_json,
                             char **errors_json);

/* lua_host_prepare_command on payloads[0..n) in one call into the runtime,
 * stopping at the first that fails: 0 with aggregate_ids[i] and
 * command_jsons[i] malloc'd for each, *failed = n; or -1 with the diag (and
 * *errors_json) of the failed payload, *failed its index (n when the call
 * itself failed: a Lua time or memory limit), and every output NULL. */
int lua_host_prepare_commands(lua_host *h, const char *tenant_id, const char *pipeline,
                              const char *command, const char *const *payloads, size_t n,
                              char **aggregate_ids, char **command_jsons, size_t *failed,
                              char **errors_json);

/* Runs a command handler on a command job's payload (its JSON envelope, as
 * enqueued). 0 with *events (malloc'd array, free with
 * lua_host_new_events_free), or -1 with DIAG_SCRIPT (message holds pipeline,
 * command, file:line and traceback). */
int lua_host_handle_command(lua_host *h, const char *command_json, es_new_event **events,
                            size_t *n);

/* lua_host_handle_command on command_jsons[0..n) in one call into the
 * runtime (a claim's commands), in order, stopping at the first that fails:
 * results[i] and counts[i] for i < *n_done; 0 when all were handled, else
 * -1 with the diag of command *n_done (its error; a failure of the call
 * itself reports command 0). */
int lua_host_handle_commands(lua_host *h, const char *const *command_jsons, size_t n,
                             es_new_event **results, size_t *counts, size_t *n_done);
void lua_host_new_events_free(es_new_event *events, size_t n);

/* Folds `n` events into `state_json` (NULL: init()). Script errors are not a
 * failure of this call: they come back in out->error with the partial result.
 * -1 only when the host itself fails. Free with lua_host_fold_result_clear. */
int lua_host_run_fold(lua_host *h, const char *pipeline, const char *fold,
                      const char *state_json, const es_event *events, size_t n,
                      es_fold_result *out);
void lua_host_fold_result_clear(es_fold_result *r);

/* Opens (scope != 0) or closes (0) a rows scope: until it closes, the
 * caller keeps the strings of the events it passes to lua_host_run_fold and
 * lua_host_run_map alive and unchanged, and a call on events identical to
 * the previous call's (the same string pointers and numbers) reuses the Lua
 * rows built for it instead of building them again. A command batch runs
 * its maps and folds on the same events. Scope values must not repeat
 * (outside a scope, freed strings may come back at the same addresses). */
void lua_host_rows_scope(lua_host *h, uint64_t scope);

/* Maps `n` events: records[i] is a malloc'd JSON record or NULL (no record).
 * *n_done events were mapped; *error (malloc'd) says why the next failed.
 * -1 only when the host fails. Free records with lua_host_strings_free. */
int lua_host_run_map(lua_host *h, const char *pipeline, const char *map,
                     const es_event *events, size_t n, char ***records,
                     size_t *n_done, char **error);
void lua_host_strings_free(char **strings, size_t n);

/* Runs a reactor on one event with the fold state after it. 0 with the
 * dispatched commands (free with lua_host_dispatches_free) and *error NULL;
 * or 0 with *error set when the script failed; -1 when the host fails. */
int lua_host_run_reactor(lua_host *h, const char *pipeline, const char *reactor,
                         const es_event *event, const char *state_json,
                         es_dispatch **out, size_t *n, char **error);
void lua_host_dispatches_free(es_dispatch *d, size_t n);

/* Fold / map facts. 0, or -1 with DIAG_NOT_FOUND. Free with
 * lua_host_info_clear. */
int lua_host_fold_info(lua_host *h, const char *pipeline, const char *fold,
                       es_component_info *out);
int lua_host_map_info(lua_host *h, const char *pipeline, const char *map,
                      es_component_info *out);
void lua_host_info_clear(es_component_info *info);

/* JSON array describing the loaded pipelines (runtime.summary), malloc'd,
 * or NULL with a diag. */
char *lua_host_describe(lua_host *h);

/* The JSON report of the loaded generation after a reload (or start):
 * per pipeline its content hash, loaded_at (kept from previous_json while
 * the hash is unchanged) and folds whose version changed (needs_replay);
 * `error` (or NULL) is why the last reload was refused. See
 * runtime.reload_status. malloc'd, or NULL with a diag. */
char *lua_host_reload_status(lua_host *h, const char *previous_json, int64_t now_ms,
                             const char *error);

/* One line per loaded pipeline, "name: aggregate X, N commands, N folds, N
 * maps, N reactors\n", malloc'd, or NULL with a diag. */
char *lua_host_summary_text(lua_host *h);

/* Calls cb once per store table of the loaded pipelines (custom stores
 * skipped): is_fold 1 for fold tables, 0 for map record tables; columns is an
 * array of n_columns {name, type} pairs declared with es.stores.table. The
 * strings are valid during the call. 0, or -1 with a diag. */
typedef int (*lua_host_table_cb)(void *ud, const char *table, int is_fold,
                                 const char *const (*columns)[2], size_t n_columns);
int lua_host_store_tables(lua_host *h, lua_host_table_cb cb, void *ud);

/* An OTLP request converted and prepared as commands (see
 * lua_host_otlp_commands): aggregate_ids[i] and command_jsons[i] (n each,
 * malloc'd) are the accepted spans' job groups and payloads; rejected the
 * spans refused and rejected_message why (malloc'd or NULL). */
typedef struct lua_host_otlp_batch {
    char **aggregate_ids;
    char **command_jsons;
    size_t n;
    size_t rejected;
    char *rejected_message;
} lua_host_otlp_batch;

/* Converts an OTLP/HTTP JSON trace export (len bytes) with the pipeline's
 * own utils/otlp.lua and prepares every span as `command` for tenant_id
 * (schema, aggregate id, job payload) in one call (runtime.otlp_commands).
 * 0 with *out filled (spans refused by the converter or the schema counted
 * in out->rejected); 1 when the request holds more than max_spans spans
 * (out->rejected = how many; nothing prepared); -1 with DIAG_INVALID for
 * malformed JSON, else DIAG_SCRIPT (unknown pipeline or command, no
 * converter, script error). Free *out with lua_host_otlp_batch_clear. */
int lua_host_otlp_commands(lua_host *h, const char *tenant_id, const char *pipeline,
                           const char *command, const char *otlp_json, size_t len,
                           size_t max_spans, lua_host_otlp_batch *out);
void lua_host_otlp_batch_clear(lua_host_otlp_batch *b);

#endif
