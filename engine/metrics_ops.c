/* metrics_ops.c: pauses and needs-replay flags for /metrics (see
 * metrics_ops.h). */
#include "metrics_ops.h"
#include "diag.h"
#include "json_read.h"
#include "log.h"
#include "metrics.h"

#include <stdlib.h>

typedef struct pause_render {
    json_buf *out;
    int first;
} pause_render;

static int render_pause(void *ud, const es_pause *p)
{
    pause_render *r = ud;
    metrics_render_gauge(r->out, "esengine_paused",
                         "Pauses in force (kill switch): component and tenant * cover all.",
                         r->first, 1.0, "pipeline", p->pipeline, "component",
                         p->component ? p->component : "*", "tenant",
                         p->tenant_id ? p->tenant_id : "*", "mode",
                         p->mode == PAUSE_REJECT ? "reject" : "hold", NULL);
    r->first = 0;
    return 0;
}

void metrics_render_pauses(es_engine *e, json_buf *out)
{
    es_store *q = engine_backends(e)->queue;
    if (!q->ops->pause_list) return;
    pause_render r = {out, 1};
    if (q->ops->pause_list(q, render_pause, &r) != 0)
        log_warn_limited("metrics_pauses", "pauses for /metrics: %s", diag_message());
}

void metrics_render_replay_flags(es_engine *e, json_buf *out)
{
    char *text = engine_reload_status_json(e);
    jv status;
    if (!text || json_read(text, &status) != 0) {
        free(text);
        return;
    }
    free(text);
    const jv *pipelines = json_get(&status, "pipelines");
    int first = 1;
    for (size_t i = 0; pipelines && pipelines->type == JV_OBJECT && i < pipelines->n; i++) {
        const jv *folds = json_get(&pipelines->items[i], "folds");
        for (size_t j = 0; folds && folds->type == JV_OBJECT && j < folds->n; j++) {
            const jv *flag = json_get(&folds->items[j], "needs_replay");
            metrics_render_gauge(out, "esengine_fold_needs_replay",
                                 "1 when the fold's version changed since its state was built "
                                 "(esengine replay clears it).",
                                 first, flag && flag->type == JV_BOOL && flag->boolean ? 1.0 : 0.0,
                                 "pipeline", pipelines->keys[i], "fold", folds->keys[j], NULL);
            first = 0;
        }
    }
    json_value_free(&status);
}
