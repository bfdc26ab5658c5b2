/* replay.h: rebuilding a projection from the event log while live
 * processing continues. A fold is rebuilt into a shadow table
 * ("<table>__replay") from large ordered pages of the log, with a
 * checkpoint per page so that a killed replay resumes; then, with the fold
 * paused for a moment, the shadow catches up with what the live fold
 * applied meanwhile and is swapped in atomically (readers see the old rows
 * until then). Live jobs continue on the swapped state: events already in
 * it are skipped by the last-applied seq, the rest are applied once. A map
 * is replayed into its own table (records deduplicated by event id).
 * Reactors never run. */
#ifndef ES_REPLAY_H
#define ES_REPLAY_H

#include "engine.h"

#include <stdint.h>

typedef struct replay_progress {
    const char *phase;  /* "scan", "swap", "done" */
    int64_t done;       /* events folded so far (including a resumed part) */
    int64_t total;      /* events in scope when the replay started */
    double rate;        /* events/s of this run */
    double eta_s;       /* seconds left at that rate (-1 unknown) */
} replay_progress;

/* Called after each page and at each phase change; nonzero stops. */
typedef int (*replay_progress_fn)(void *ud, const replay_progress *p);

/* Called by a dry run per sampled aggregate: stored and rebuilt states in
 * canonical JSON (sorted keys; NULL when absent) and whether they differ. */
typedef void (*replay_diff_fn)(void *ud, const char *tenant_id, const char *aggregate_id,
                               const char *stored, int64_t stored_seq,
                               const char *rebuilt, int64_t rebuilt_seq, int differs);

typedef struct replay_options {
    const char *pipeline;
    const char *projection;   /* a fold or a map of the pipeline */
    const char *tenant_id;    /* NULL: every tenant */
    const char *aggregate_id; /* NULL: every aggregate (needs tenant_id) */
    int64_t since_ms;         /* 0: all; else aggregates with events since */
    int dry_run;              /* fold a sample, report differences, write nothing */
    int dry_run_sample;       /* aggregates sampled (default 20) */
    int abort;                /* abandon an interrupted replay */
    size_t page_events;       /* events per scan page (default 20000) */
    replay_progress_fn progress;
    replay_diff_fn diff;
    void *ud;
} replay_options;

typedef struct replay_result {
    int64_t events;       /* events folded or mapped by this run */
    int64_t aggregates;   /* aggregates rebuilt (sampled in a dry run) */
    int64_t differ;       /* dry run: sampled aggregates that differ */
    int64_t caught_up;    /* aggregates caught up at the swap */
    int resumed;          /* continued from a checkpoint */
    double seconds;
} replay_result;

/* Runs a replay on the engine's backends with its own Lua host (loaded from
 * the engine's pipelines dir). 0 with *out filled; 1 when --abort found
 * nothing to abandon; -1 with a diag: DIAG_NOT_FOUND (unknown pipeline or
 * projection), DIAG_INVALID (a keyed fold or custom store, a replay of
 * another scope in progress, or a backend that cannot replay: "not
 * supported by <backend>"), DIAG_TIMEOUT (the fold stayed in flight at the
 * swap), DIAG_SCRIPT (the fold failed on an event: the checkpoint is kept),
 * or a backend error. */
int engine_replay(es_engine *e, const replay_options *opt, replay_result *out);

#endif
