/* store_pause.c: what every backend's kill switch shares: splitting a group
 * key into its (tenant, pipeline, component) scope, deciding whether a
 * pause covers it, and freeing replay checkpoints (see store.h). */
#include "store.h"

#include <stdlib.h>
#include <string.h>

int store_group_scope(const char *group_key, store_span parts[3])
{
    const char *p = group_key;
    for (int i = 0; i < 3; i++) {
        const char *sep = strchr(p, '\x1f');
        if (!sep) return -1;
        parts[i].p = p;
        parts[i].n = (size_t)(sep - p);
        p = sep + 1;
    }
    return 0;
}

/* 1 when `want` (NULL = any) equals the span. */
static int span_matches(const char *want, store_span s)
{
    return !want || (strlen(want) == s.n && memcmp(want, s.p, s.n) == 0);
}

int store_pause_covers(const char *p_tenant, const char *p_pipeline,
                       const char *p_component, store_span tenant,
                       store_span pipeline, store_span component)
{
    return span_matches(p_pipeline, pipeline) && span_matches(p_tenant, tenant) &&
           span_matches(p_component, component);
}

void store_replay_checkpoint_clear(es_replay_checkpoint *cp)
{
    free((char *)cp->tenant_id);
    free((char *)cp->after_tenant);
    free((char *)cp->after_aggregate);
    memset(cp, 0, sizeof *cp);
}
