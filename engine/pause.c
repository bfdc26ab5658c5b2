/* pause.c: the engine's kill switch: pausing and resuming pipelines or
 * components (per tenant or for all) in the queue store, and refusing
 * commands to a pipeline paused with --reject. The claim side lives in the
 * stores (a paused group is not claimed). */
#include "engine_internal.h"
#include "clock.h"
#include "diag.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMMANDS_COMPONENT "#commands"

/* 1 when the describe JSON names `name` ("name":"<name>"). */
static int describe_names(const char *json, const char *name)
{
    size_t n = strlen(name) + 12;
    char *needle = malloc(n);
    if (!needle) return 0;
    snprintf(needle, n, "\"name\":\"%s\"", name);
    int found = json && strstr(json, needle) != NULL;
    free(needle);
    return found;
}

/* Checks that the pipeline and component exist in the loaded generation. */
static int pause_validate(es_engine *e, const char *pipeline, const char *component)
{
    char *json = engine_describe(e);
    if (!json) return -1;
    int ok = describe_names(json, pipeline);
    if (!ok) {
        free(json);
        diag_set(DIAG_NOT_FOUND, "unknown pipeline %s", pipeline);
        return -1;
    }
    if (component && strcmp(component, COMMANDS_COMPONENT) != 0) {
        es_component_info info;
        pthread_mutex_lock(&e->control_lock);
        ok = lua_host_fold_info(e->control, pipeline, component, &info) == 0;
        if (ok) lua_host_info_clear(&info);
        else if ((ok = lua_host_map_info(e->control, pipeline, component, &info) == 0))
            lua_host_info_clear(&info);
        pthread_mutex_unlock(&e->control_lock);
        if (!ok) ok = describe_names(json, component); /* a reactor */
    }
    free(json);
    if (!ok) {
        diag_set(DIAG_NOT_FOUND, "pipeline %s has no component %s (a fold, map, reactor or "
                                 "\"commands\")", pipeline, component);
        return -1;
    }
    return 0;
}

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
    return q->ops->pause_set(q, tenant_id, pipeline, component, mode, clock_now_ms());
}

/* Counts --reject pauses (es_pause_cb). */
static int count_reject(void *ud, const es_pause *pause)
{
    if (pause->mode == PAUSE_REJECT) ++*(int *)ud;
    return 0;
}

/* How stale the "any --reject pause?" answer may be: pauses take effect in
 * every process within a second (issue 8), and the common case (none) then
 * costs no store query per command. */
#define REJECT_CACHE_MS 500

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
