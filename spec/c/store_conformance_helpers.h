/* store_conformance_helpers.h: what the conformance suite's checks share
 * (store_conformance.h): the time base, events and jobs to store, and
 * collectors of what a store reads back. */
#ifndef ES_STORE_CONFORMANCE_HELPERS_H
#define ES_STORE_CONFORMANCE_HELPERS_H

#include "testlib.h"

#include "diag.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef es_store *(*conformance_open_fn)(void *ud);

#define CONF_T0 INT64_C(1700000000000)
#define CONF_LEASE INT64_C(30000)

/* ---------------------------------------------------------------- helpers */

static inline es_event conformance_event(const char *tenant, const char *agg_id,
                                  const char *id, const char *ikey)
{
    es_event ev;
    memset(&ev, 0, sizeof ev);
    ev.id = (char *)id;
    ev.tenant_id = (char *)tenant;
    ev.aggregate_type = (char *)"trace";
    ev.aggregate_id = (char *)agg_id;
    ev.type = (char *)"lw.test.happened";
    ev.version = (char *)"2024-01-01";
    ev.occurred_at = CONF_T0 - 5;
    ev.idempotency_key = (char *)(ikey ? ikey : id);
    ev.data_json = (char *)"{\"n\":1}";
    ev.metadata_json = (char *)"{}";
    return ev;
}

/* A job in group `group` of tenant t1 (fields point at literals: the store
 * copies what it keeps). */
static inline es_job conformance_job(const char *id, const char *group, const char *payload,
                              int64_t run_at)
{
    es_job j;
    memset(&j, 0, sizeof j);
    j.id = (char *)id;
    j.kind = JOB_FOLD;
    j.tenant_id = (char *)"t1";
    j.pipeline = (char *)"pipe";
    j.component = (char *)"fold1";
    j.group_key = (char *)group;
    j.origin_id = (char *)"cmd-0";
    j.run_at = run_at;
    j.payload = (char *)payload;
    j.payload_len = strlen(payload);
    return j;
}

static inline int conformance_enqueue1(es_store *s, es_job j, int64_t now)
{
    return s->ops->queue_enqueue(s, &j, 1, now);
}

static inline int conformance_claim(es_store *s, size_t max_jobs, int64_t now, es_claim *out)
{
    memset(out, 0, sizeof *out);
    return s->ops->queue_claim(s, "w1", max_jobs, now, CONF_LEASE, 0, out);
}

typedef struct conformance_events {
    int n;
    int64_t seqs[16];
    char ids[16][32];
    char ikeys[16][32];
    char tenants[16][16];
    char data[16][32];
} conformance_events;

static inline int conformance_collect_event(void *ud, const es_event *ev)
{
    conformance_events *c = ud;
    if (c->n < 16) {
        c->seqs[c->n] = ev->seq;
        snprintf(c->ids[c->n], sizeof c->ids[0], "%s", ev->id);
        snprintf(c->ikeys[c->n], sizeof c->ikeys[0], "%s",
                 ev->idempotency_key ? ev->idempotency_key : "(null)");
        snprintf(c->tenants[c->n], sizeof c->tenants[0], "%s", ev->tenant_id);
        snprintf(c->data[c->n], sizeof c->data[0], "%s", ev->data_json);
    }
    c->n++;
    return 0;
}

static inline conformance_events conformance_read(es_store *s, const char *tenant,
                                           const char *agg, int64_t after, size_t limit)
{
    conformance_events c;
    memset(&c, 0, sizeof c);
    CHECK_INT(s->ops->event_read(s, tenant, "trace", agg, after, limit,
                                 conformance_collect_event, &c), 0);
    return c;
}

/* What queue_parked_list reported: how many groups, and the last one. */
typedef struct conformance_parked {
    int n;
    char group[32];
    char tenant[16];
    char head_id[16];
    char error[32];
    int attempts;
    int64_t waiting;
} conformance_parked;

static inline int conformance_collect_parked(void *ud, const es_parked_group *g)
{
    conformance_parked *p = ud;
    p->n++;
    snprintf(p->group, sizeof p->group, "%s", g->group_key);
    snprintf(p->tenant, sizeof p->tenant, "%s", g->tenant_id);
    snprintf(p->head_id, sizeof p->head_id, "%s", g->head->id);
    snprintf(p->error, sizeof p->error, "%s",
             g->head->last_error ? g->head->last_error : "");
    p->attempts = g->head->attempts;
    p->waiting = g->jobs_waiting;
    return 0;
}

#endif
