/* pause.c: the engine's kill switch: pausing and resuming pipelines or
 * components (per tenant or for all) in the queue store, and refusing
 * commands to a pipeline paused with --reject. The claim side lives in the
 * stores (a paused group is not claimed). */
#include "engine_internal.h"
#include "clock.h"
#include "diag.h"
#include "json_read.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMMANDS_COMPONENT "#commands"

/* The loaded pipeline named `name` in the describe array, or NULL. */
static const jv *find_pipeline(const jv *pipelines, const char *name)
{
    for (size_t i = 0; pipelines->type == JV_ARRAY && i < pipelines->n; i++) {
        const char *n = json_get_str(&pipelines->items[i], "name");
        if (n && strcmp(n, name) == 0) return &pipelines->items[i];
    }
    return NULL;
}

/* 1 when one of the pipeline's `list` ("folds", "maps", "reactors") is named
 * `name`. */
static int lists_component(const jv *pipeline, const char *list, const char *name)
{
    const jv *items = json_get(pipeline, list);
    for (size_t i = 0; items && items->type == JV_ARRAY && i < items->n; i++) {
        const char *n = json_get_str(&items->items[i], "name");
        if (n && strcmp(n, name) == 0) return 1;
    }
    return 0;
}

/* Reads the loaded generation's description into *out and finds the
 * pipeline in it. 0, or -1 with a diag (DIAG_NOT_FOUND: not loaded). */
static int describe_pipeline(es_engine *e, const char *pipeline, jv *out, const jv **found)
{
    char *json = engine_describe(e);
    if (!json) return -1;
    int rc = json_read(json, out);
    free(json);
    if (rc != 0) return -1;
    *found = find_pipeline(out, pipeline);
    if (*found) return 0;
    json_value_free(out);
    diag_set(DIAG_NOT_FOUND, "unknown pipeline %s", pipeline);
    return -1;
}

/* Checks that the pipeline and component exist in the loaded generation. */
static int pause_validate(es_engine *e, const char *pipeline, const char *component)
{
    jv all;
    const jv *p;
    if (describe_pipeline(e, pipeline, &all, &p) != 0) return -1;
    int ok = !component || strcmp(component, COMMANDS_COMPONENT) == 0 ||
             lists_component(p, "folds", component) || lists_component(p, "maps", component) ||
             lists_component(p, "reactors", component);
    json_value_free(&all);
    if (!ok) {
        diag_set(DIAG_NOT_FOUND, "pipeline %s has no component %s (a fold, map, reactor or "
                                 "\"commands\")", pipeline, component);
        return -1;
    }
    return 0;
}

pause_mode engine_pause_declared_mode(es_engine *e, const char *pipeline)
{
    jv all;
    const jv *p;
    if (describe_pipeline(e, pipeline, &all, &p) != 0) return PAUSE_HOLD;
    const jv *ks = json_get(p, "kill_switch");
    const char *mode = ks ? json_get_str(ks, "mode") : NULL;
    pause_mode declared = mode && strcmp(mode, "reject") == 0 ? PAUSE_REJECT : PAUSE_HOLD;
    json_value_free(&all);
    return declared;
}

/* How stale the "any --reject pause?" answer may be: pauses take effect in
 * every process within a second (issue 8), and the common case (none) then
 * costs no store query per command. */
#define REJECT_CACHE_MS 500

int engine_pause(es_engine *e, const char *tenant_id, const char *pipeline,
                 const char *component, pause_mode mode)
{
    es_store *q = e->backends.queue;
    if (!q->ops->pause_set) {
        diag_set(DIAG_INVALID, "pause and resume are not supported by the %s queue",
                 q->ops->name);
        return -1;
    }
    if (component && strcmp(component, "commands") == 0) component = COMMANDS_COMPONENT;
    if (mode != PAUSE_NONE && pause_validate(e, pipeline, component) != 0) return -1;
    int rc = q->ops->pause_set(q, tenant_id, pipeline, component, mode, clock_now_ms());
    /* this process's own sends see the change at once (others within
     * REJECT_CACHE_MS) */
    atomic_store(&e->reject_checked_at, 0);
    return rc;
}

/* Counts --reject pauses (es_pause_cb). */
static int count_reject(void *ud, const es_pause *pause)
{
    if (pause->mode == PAUSE_REJECT) ++*(int *)ud;
    return 0;
}


int engine_pause_refuses(es_engine *e, const char *tenant_id, const char *pipeline)
{
    es_store *q = e->backends.queue;
    pause_mode mode = PAUSE_NONE;
    if (!q->ops->pause_check) return 0;
    int64_t now = clock_monotonic_ms();
    if (q->ops->pause_list && now - atomic_load(&e->reject_checked_at) > REJECT_CACHE_MS) {
        int rejects = 0;
        if (q->ops->pause_list(q, count_reject, &rejects) != 0) return -1;
        atomic_store(&e->reject_pauses, rejects);
        atomic_store(&e->reject_checked_at, now);
    }
    if (q->ops->pause_list && atomic_load(&e->reject_pauses) == 0) return 0;
    if (q->ops->pause_check(q, tenant_id, pipeline, NULL, &mode) != 0) return -1;
    if (mode != PAUSE_REJECT) return 0;
    diag_set(DIAG_BUSY, "pipeline %s is paused with --reject for tenant %s: command refused "
                        "(esengine resume %s)", pipeline, tenant_id, pipeline);
    return -1;
}

void engine_hold_missing_pipeline(es_engine *e, const char *pipeline)
{
    es_store *q = e->backends.queue;
    pthread_mutex_lock(&e->held_lock);
    int known = 0;
    for (int i = 0; i < e->n_held; i++) known |= strcmp(e->held[i], pipeline) == 0;
    if (!known && e->n_held < (int)(sizeof e->held / sizeof e->held[0]) && q->ops->pause_set &&
        q->ops->pause_set(q, NULL, pipeline, NULL, PAUSE_HOLD, clock_now_ms()) == 0) {
        e->held[e->n_held++] = strdup(pipeline);
        log_warn("pipeline %s is not loaded (its folder was removed?): its jobs stay queued, "
                 "paused, until it is back (or: esengine resume %s)", pipeline, pipeline);
    }
    pthread_mutex_unlock(&e->held_lock);
}

void engine_resume_returned_pipelines(es_engine *e)
{
    es_store *q = e->backends.queue;
    pthread_mutex_lock(&e->held_lock);
    for (int i = 0; i < e->n_held;) {
        pthread_mutex_lock(&e->control_lock);
        int back = lua_host_has_pipeline(e->control, e->held[i]);
        pthread_mutex_unlock(&e->control_lock);
        if (!back || q->ops->pause_set(q, NULL, e->held[i], NULL, PAUSE_NONE, clock_now_ms()) != 0) {
            i++;
            continue;
        }
        log_info("pipeline %s is loaded again: its held jobs resume", e->held[i]);
        free(e->held[i]);
        e->held[i] = e->held[--e->n_held];
    }
    pthread_mutex_unlock(&e->held_lock);
}
