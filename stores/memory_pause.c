/* memory_pause.c: the kill switch of the memory store: a small list of
 * pauses; a claim that meets a covered group takes it out of the schedule
 * (held), and a resume puts every held group back (a group still covered
 * is held again by the next claim). */
#include "memory_internal.h"
#include "diag.h"

#include <stdlib.h>
#include <string.h>

static int same(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static void pause_free(mpause *p)
{
    free(p->tenant_id);
    free(p->pipeline);
    free(p->component);
}

int memory_pause_covers(const mstore *s, const char *group_key)
{
    store_span scope[3];
    if (store_group_scope(group_key, scope) != 0) return 0;
    for (size_t i = 0; i < s->n_pauses; i++) {
        const mpause *p = &s->pauses[i];
        if (store_pause_covers(p->tenant_id, p->pipeline, p->component, scope[0], scope[1],
                               scope[2]))
            return 1;
    }
    return 0;
}

typedef struct unhold_ctx {
    mstore *s;
    int64_t now;
} unhold_ctx;

static void unhold_group(mmap_node *node, void *ud)
{
    unhold_ctx *u = ud;
    mgroup *g = MMAP_ENTRY(node, mgroup, node);
    if (g->held) memory_queue_group_unhold(u->s, g, u->now);
}

/* Adds or updates the pause of exactly this scope. */
static int pause_put(mstore *s, const char *tenant_id, const char *pipeline,
                     const char *component, pause_mode mode, int64_t now)
{
    for (size_t i = 0; i < s->n_pauses; i++) {
        mpause *p = &s->pauses[i];
        if (same(p->tenant_id, tenant_id) && same(p->pipeline, pipeline) &&
            same(p->component, component)) {
            p->mode = mode;
            return 0;
        }
    }
    if (s->n_pauses == s->cap_pauses) {
        size_t cap = s->cap_pauses ? s->cap_pauses * 2 : 4;
        mpause *items = realloc(s->pauses, cap * sizeof *items);
        if (!items) goto oom;
        s->pauses = items;
        s->cap_pauses = cap;
    }
    mpause p = {
        .tenant_id = tenant_id ? strdup(tenant_id) : NULL,
        .pipeline = strdup(pipeline),
        .component = component ? strdup(component) : NULL,
        .mode = mode,
        .paused_at = now,
    };
    if ((tenant_id && !p.tenant_id) || !p.pipeline || (component && !p.component)) {
        pause_free(&p);
        goto oom;
    }
    s->pauses[s->n_pauses++] = p;
    return 0;
oom:
    diag_set(DIAG_INTERNAL, "out of memory recording a pause");
    return -1;
}

int memory_pause_set(es_store *base, const char *tenant_id, const char *pipeline,
                     const char *component, pause_mode mode, int64_t now)
{
    mstore *s = (mstore *)base;
    if (!pipeline || !*pipeline) {
        diag_set(DIAG_INVALID, "pause: a pipeline is required");
        return -1;
    }
    memory_store_lock(s);
    int rc = 0;
    if (mode != PAUSE_NONE) {
        rc = pause_put(s, tenant_id, pipeline, component, mode, now);
    } else {
        size_t kept = 0, removed = 0;
        for (size_t i = 0; i < s->n_pauses; i++) {
            mpause *p = &s->pauses[i];
            if (same(p->pipeline, pipeline) && (!tenant_id || same(p->tenant_id, tenant_id)) &&
                (!component || same(p->component, component))) {
                pause_free(p);
                removed++;
            } else {
                s->pauses[kept++] = *p;
            }
        }
        s->n_pauses = kept;
        unhold_ctx u = {s, now};
        mmap_each(&s->groups, unhold_group, &u);
        pthread_cond_broadcast(&s->work);
        rc = removed ? 0 : 1;
    }
    memory_store_unlock(s);
    return rc;
}

int memory_pause_check(es_store *base, const char *tenant_id, const char *pipeline,
                       const char *component, pause_mode *mode)
{
    mstore *s = (mstore *)base;
    memory_store_lock(s);
    *mode = PAUSE_NONE;
    for (size_t i = 0; i < s->n_pauses; i++) {
        const mpause *p = &s->pauses[i];
        if (!same(p->pipeline, pipeline)) continue;
        if (p->tenant_id && !same(p->tenant_id, tenant_id)) continue;
        if (component && p->component && !same(p->component, component)) continue;
        if (p->mode > *mode) *mode = p->mode;
    }
    memory_store_unlock(s);
    return 0;
}

/* Orders pauses by pipeline, component, tenant (NULL first). */
static int pause_cmp(const void *a, const void *b)
{
    const mpause *x = a, *y = b;
    int c = strcmp(x->pipeline, y->pipeline);
    if (c) return c;
    c = strcmp(x->component ? x->component : "", y->component ? y->component : "");
    if (c) return c;
    return strcmp(x->tenant_id ? x->tenant_id : "", y->tenant_id ? y->tenant_id : "");
}

int memory_pause_list(es_store *base, es_pause_cb cb, void *ud)
{
    mstore *s = (mstore *)base;
    memory_store_lock(s);
    if (s->n_pauses > 1) qsort(s->pauses, s->n_pauses, sizeof *s->pauses, pause_cmp);
    for (size_t i = 0; i < s->n_pauses; i++) {
        const mpause *p = &s->pauses[i];
        es_pause out = {p->tenant_id, p->pipeline, p->component, p->mode, p->paused_at};
        if (cb(ud, &out) != 0) break;
    }
    memory_store_unlock(s);
    return 0;
}

void memory_pauses_free(mstore *s)
{
    for (size_t i = 0; i < s->n_pauses; i++) pause_free(&s->pauses[i]);
    free(s->pauses);
    s->pauses = NULL;
    s->n_pauses = s->cap_pauses = 0;
}
