/* metrics_ops.h: the operating figures /metrics reads at scrape time beside
 * the queue and worker gauges: pauses in force (the kill switch) and the
 * folds whose version changed since the log was last folded (needs
 * replay). */
#ifndef ES_METRICS_OPS_H
#define ES_METRICS_OPS_H

#include "engine.h"
#include "json_buf.h"

/* Appends esengine_paused{pipeline,component,tenant,mode} 1 per pause in
 * the queue store (component and tenant "*" when the pause covers all).
 * Nothing when the store cannot pause; a read error is logged. */
void metrics_render_pauses(es_engine *e, json_buf *out);

/* Appends esengine_fold_needs_replay{pipeline,fold} (1 or 0) for every fold
 * of the running generation, from <data>/esengine.status.json. Nothing
 * when the engine keeps no status file. */
void metrics_render_replay_flags(es_engine *e, json_buf *out);

#endif
