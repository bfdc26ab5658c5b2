/* memory_queue.c: the memory store's job queue: per-group FIFO, batch claims
 * of ready groups taken from a heap keyed by due time (O(log n) per claim),
 * leases with fencing tokens, delays, dedup, retries and parking. */
#include "memory_internal.h"
#include "clock.h"
#include "diag.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- jobs */

static void memory_queue_job_destroy(mjob *j)
{
    free(j->dedup_key);
    job_clear(&j->job);
    free(j);
}

void memory_queue_job_free(mstore *s, mjob *j)
{
    if (j->id_indexed) mmap_remove(&s->job_ids, &j->id_node);
    if (j->dedup_indexed) mmap_remove(&s->job_dedup, &j->dedup_node);
    memory_queue_job_destroy(j);
}

/* A queued copy of `src` (attempts, position and last_error reset). NULL
 * with a diag on OOM. */
static mjob *memory_queue_job_new(const es_job *src)
{
    mjob *j = calloc(1, sizeof *j);
    if (!j) goto oom;
    if (job_copy(&j->job, src) != 0) {
        free(j);
        return NULL;
    }
    free(j->job.last_error);
    j->job.last_error = NULL;
    j->job.attempts = 0;
    j->job.position = 0;
    if (src->dedup_mode != DEDUP_NONE &&
        !(j->dedup_key = mmap_key(2, src->tenant_id, src->dedup_id))) {
        memory_queue_job_destroy(j);
        return NULL;
    }
    return j;
oom:
    diag_set(DIAG_INTERNAL, "out of memory enqueueing a job");
    return NULL;
}

/* Makes j the indexed job for its id and dedup key (the newest wins). */
static void memory_queue_job_index(mstore *s, mjob *j)
{
    mmap_node *node = mmap_get(&s->job_ids, j->job.id);
    if (node) {
        mmap_remove(&s->job_ids, node);
        MMAP_ENTRY(node, mjob, id_node)->id_indexed = 0;
    }
    mmap_insert(&s->job_ids, &j->id_node, j->job.id);
    j->id_indexed = 1;
    if (!j->dedup_key) return;
    node = mmap_get(&s->job_dedup, j->dedup_key);
    if (node) {
        mmap_remove(&s->job_dedup, node);
        MMAP_ENTRY(node, mjob, dedup_node)->dedup_indexed = 0;
    }
    mmap_insert(&s->job_dedup, &j->dedup_node, j->dedup_key);
    j->dedup_indexed = 1;
}

/* ---------------------------------------------------------------- groups */

static mgroup *memory_queue_group_find(mstore *s, const char *key)
{
    mmap_node *node = mmap_get(&s->groups, key);
    return node ? MMAP_ENTRY(node, mgroup, node) : NULL;
}

/* Creates an empty, unscheduled group in the map, with room reserved for it
 * in the schedule. NULL with a diag on OOM. */
static mgroup *memory_queue_group_new(mstore *s, const char *key)
{
    if (mheap_reserve(&s->schedule, s->groups_allocated + 1) != 0) return NULL;
    mgroup *g = calloc(1, sizeof *g);
    if (!g || !(g->key = strdup(key))) {
        free(g);
        diag_set(DIAG_INTERNAL, "out of memory creating a queue group");
        return NULL;
    }
    g->sched.index = MHEAP_NONE;
    s->groups_allocated++;
    mmap_insert(&s->groups, &g->node, g->key);
    return g;
}

/* Unlinks and frees an idle group (no jobs, not claimed). */
static void memory_queue_group_free(mstore *s, mgroup *g)
{
    mheap_remove(&s->schedule, &g->sched);
    mmap_remove(&s->groups, &g->node);
    s->groups_allocated--;
    free(g->key);
    free(g);
}

static void memory_queue_group_append(mgroup *g, mjob *j)
{
    j->group = g;
    j->next = NULL;
    if (g->tail) g->tail->next = j;
    else g->head = j;
    g->tail = j;
    g->n++;
}

mjob *memory_queue_group_pop(mgroup *g)
{
    mjob *j = g->head;
    g->head = j->next;
    if (!g->head) g->tail = NULL;
    g->n--;
    j->next = NULL;
    return j;
}

/* Puts g in the schedule at its due time: its lease expiry while claimed,
 * else when its head is ready (not before `now`: a group coming back after
 * a batch queues behind the groups already waiting). Parked or empty groups
 * leave the schedule. */
static void memory_queue_group_schedule(mstore *s, mgroup *g, int64_t now)
{
    if (g->parked || g->held || !g->head) {
        mheap_remove(&s->schedule, &g->sched);
    } else if (g->claimed) {
        mheap_set(&s->schedule, &g->sched, g->lease_until, s->next_seq++);
    } else {
        int64_t due = g->head->job.run_at > now ? g->head->job.run_at : now;
        mheap_set(&s->schedule, &g->sched, due, s->next_seq++);
    }
}

void memory_queue_group_unhold(mstore *s, mgroup *g, int64_t now)
{
    g->held = 0;
    if (!g->claimed) memory_queue_group_schedule(s, g, now);
}

void memory_queue_group_settle(mstore *s, mgroup *g, int64_t now)
{
    if (!g->head && !g->claimed) {
        memory_queue_group_free(s, g);
        return;
    }
    memory_queue_group_schedule(s, g, now);
}

/* A group with no job may linger until the next sweep or settle; it is idle
 * unless claimed or parked. */
int memory_queue_group_idle(es_store *base, const char *group_key)
{
    mstore *s = (mstore *)base;
    memory_store_lock(s);
    const mgroup *g = memory_queue_group_find(s, group_key);
    int idle = !g || (!g->head && !g->claimed && !g->parked);
    memory_store_unlock(s);
    return idle;
}

/* Ends the claim on g: its remaining batch jobs are no longer in flight. */
static void memory_queue_group_release(mgroup *g)
{
    mjob *j = g->head;
    for (size_t i = 0; i < g->claimed_n && j; i++, j = j->next) j->in_flight = 0;
    g->claimed = 0;
    g->claimed_n = 0;
}

void memory_queue_sweep(mstore *s)
{
    for (size_t i = 0; i < s->fresh_n; i++) {
        mgroup *g = s->fresh[i];
        if (!g->head && !g->claimed && !g->parked) memory_queue_group_free(s, g);
    }
    s->fresh_n = 0;
}

/* ---------------------------------------------------------------- enqueue */

/* A prepared enqueue: jobs allocated and their groups created, so that
 * applying it cannot fail. */
typedef struct menqueue {
    int64_t now;
    size_t n;
    mjob **jobs; /* NULL once taken over by the queue */
} menqueue;

/* Applies dedup and id idempotency to j. Returns 1 when j was merged into a
 * queued job or dropped (j is freed), 0 when j is to be appended. */
static int memory_queue_enqueue_merge(mstore *s, mjob *j, int64_t now)
{
    if (j->dedup_key) {
        mmap_node *node = mmap_get(&s->job_dedup, j->dedup_key);
        if (node) {
            mjob *d = MMAP_ENTRY(node, mjob, dedup_node);
            if (j->job.dedup_mode == DEDUP_THROTTLE) {
                memory_queue_job_destroy(j);
                return 1;
            }
            /* debounce: one in flight gets j as its successor */
            if (d->in_flight) return 0;
            char *payload = d->job.payload;
            size_t payload_len = d->job.payload_len;
            char *origin = d->job.origin_id;
            d->job.payload = j->job.payload;
            d->job.payload_len = j->job.payload_len;
            d->job.origin_id = j->job.origin_id;
            d->job.run_at = j->job.run_at;
            j->job.payload = payload;
            j->job.payload_len = payload_len;
            j->job.origin_id = origin;
            memory_queue_job_destroy(j);
            mgroup *g = d->group;
            if (d == g->head && !g->claimed) memory_queue_group_schedule(s, g, now);
            return 1;
        }
    }
    if (mmap_get(&s->job_ids, j->job.id)) {
        memory_queue_job_destroy(j);
        return 1;
    }
    return 0;
}

static void memory_queue_enqueue_run(mstore *s, void *p)
{
    menqueue *e = p;
    for (size_t i = 0; i < e->n; i++) {
        mjob *j = e->jobs[i];
        e->jobs[i] = NULL;
        if (memory_queue_enqueue_merge(s, j, e->now)) continue;
        mgroup *g = memory_queue_group_find(s, j->job.group_key);
        memory_queue_group_append(g, j);
        j->job.position = ++s->next_position;
        j->enqueued_at = e->now;
        memory_queue_job_index(s, j);
        if (g->head == j && !g->claimed) memory_queue_group_schedule(s, g, e->now);
    }
}

static void memory_queue_enqueue_drop(void *p)
{
    menqueue *e = p;
    for (size_t i = 0; i < e->n; i++)
        if (e->jobs[i]) memory_queue_job_destroy(e->jobs[i]);
    free(e->jobs);
    free(e);
}

/* Allocates the jobs of an enqueue and creates their missing groups. */
static int memory_queue_enqueue_prepare(mstore *s, menqueue *e, const es_job *jobs)
{
    for (size_t i = 0; i < e->n; i++) {
        if (!(e->jobs[i] = memory_queue_job_new(&jobs[i]))) return -1;
        if (memory_queue_group_find(s, jobs[i].group_key)) continue;
        if (s->fresh_n == s->fresh_cap) {
            size_t cap = s->fresh_cap ? s->fresh_cap * 2 : 16;
            mgroup **fresh = realloc(s->fresh, cap * sizeof *fresh);
            if (!fresh) {
                diag_set(DIAG_INTERNAL, "out of memory enqueueing a job");
                return -1;
            }
            s->fresh = fresh;
            s->fresh_cap = cap;
        }
        mgroup *g = memory_queue_group_new(s, jobs[i].group_key);
        if (!g) return -1;
        s->fresh[s->fresh_n++] = g;
    }
    return 0;
}

int memory_queue_enqueue(es_store *base, const es_job *jobs, size_t n, int64_t now)
{
    mstore *s = (mstore *)base;
    for (size_t i = 0; i < n; i++) {
        if (!jobs[i].id || !jobs[i].group_key ||
            (jobs[i].dedup_mode != DEDUP_NONE && !jobs[i].dedup_id)) {
            diag_set(DIAG_INVALID, "job %zu lacks an id, a group key or its dedup id", i);
            return -1;
        }
    }
    menqueue *e = calloc(1, sizeof *e);
    if (e) e->jobs = calloc(n ? n : 1, sizeof *e->jobs);
    if (!e || !e->jobs) {
        free(e);
        diag_set(DIAG_INTERNAL, "out of memory enqueueing jobs");
        return -1;
    }
    e->now = now;
    e->n = n;
    memory_store_lock(s);
    int rc = -1;
    if (memory_queue_enqueue_prepare(s, e, jobs) == 0) {
        rc = memory_store_submit(s, memory_queue_enqueue_run, memory_queue_enqueue_drop, e);
    } else {
        memory_queue_enqueue_drop(e);
        if (!s->in_tx) memory_queue_sweep(s);
    }
    memory_store_unlock(s);
    return rc;
}

/* ---------------------------------------------------------------- claim */

/* Claims the most overdue group if it is due at `now`: 0, 1 when none is,
 * -1 with a diag on OOM (nothing changed). */
static int memory_queue_claim_due(mstore *s, size_t max_jobs, int64_t now,
                                  int64_t lease_ms, es_claim *out)
{
    mheap_item *top;
    mgroup *g;
    /* a paused group met here leaves the schedule until a resume */
    for (;;) {
        top = mheap_top(&s->schedule);
        if (!top || top->score > now) return 1;
        g = MMAP_ENTRY(top, mgroup, sched);
        if (!s->n_pauses || !memory_pause_covers(s, g->key)) break;
        memory_queue_group_release(g); /* an expired claim is taken back */
        g->held = 1;
        mheap_remove(&s->schedule, &g->sched);
    }
    size_t k = 0;
    for (mjob *j = g->head; k < max_jobs && j && j->job.run_at <= now; j = j->next) k++;
    out->jobs = calloc(k ? k : 1, sizeof *out->jobs);
    out->group_key = strdup(g->key);
    if (!out->jobs || !out->group_key) {
        store_claim_clear(out);
        diag_set(DIAG_INTERNAL, "out of memory claiming jobs");
        return -1;
    }
    mjob *j = g->head;
    for (size_t i = 0; i < k; i++, j = j->next, out->n++) {
        if (job_copy(&out->jobs[i], &j->job) != 0) {
            store_claim_clear(out);
            return -1;
        }
    }
    /* a claim whose lease expired is taken over: its batch is redone */
    memory_queue_group_release(g);
    j = g->head;
    for (size_t i = 0; i < k; i++, j = j->next) j->in_flight = 1;
    g->claimed = 1;
    g->claimed_n = k;
    g->token = ++s->next_token;
    g->lease_until = now + lease_ms;
    memory_queue_group_schedule(s, g, now);
    out->token = g->token;
    out->lease_until = g->lease_until;
    return 0;
}

int memory_queue_claim(es_store *base, const char *worker_id, size_t max_jobs,
                       int64_t now, int64_t lease_ms, int wait_ms, es_claim *out)
{
    mstore *s = (mstore *)base;
    (void)worker_id;
    memset(out, 0, sizeof *out);
    if (max_jobs == 0) {
        diag_set(DIAG_INVALID, "queue_claim: max_jobs must be at least 1");
        return -1;
    }
    int64_t start = clock_monotonic_ms(), elapsed = 0;
    memory_store_lock(s);
    int rc;
    for (;;) {
        /* while waiting, time moves on from the caller's `now` */
        rc = memory_queue_claim_due(s, max_jobs, now + elapsed, lease_ms, out);
        if (rc != 1 || elapsed >= wait_ms || s->depth > 1) break;
        int64_t deadline = start + wait_ms;
        mheap_item *top = mheap_top(&s->schedule);
        if (top && top->score - (now + elapsed) < wait_ms - elapsed)
            deadline = start + elapsed + (top->score - (now + elapsed));
        memory_store_wait(s, deadline);
        elapsed = clock_monotonic_ms() - start;
    }
    memory_store_unlock(s);
    return rc;
}

/* ---------------------------------------------------------------- leases */

/* The group of `claim` if the claim is current; else NULL with
 * DIAG_CONFLICT. */
static mgroup *memory_queue_claimed_group(mstore *s, const es_claim *claim)
{
    mgroup *g = claim->group_key ? memory_queue_group_find(s, claim->group_key) : NULL;
    if (!g || !g->claimed || g->token != claim->token) {
        diag_set(DIAG_CONFLICT, "stale claim token %lld for group %s",
                 (long long)claim->token, claim->group_key ? claim->group_key : "?");
        return NULL;
    }
    return g;
}

int memory_queue_extend(es_store *base, es_claim *claim, int64_t now, int64_t lease_ms)
{
    mstore *s = (mstore *)base;
    memory_store_lock(s);
    mgroup *g = memory_queue_claimed_group(s, claim);
    if (g) {
        g->lease_until = now + lease_ms;
        mheap_set(&s->schedule, &g->sched, g->lease_until, g->sched.seq);
        claim->lease_until = g->lease_until;
    }
    memory_store_unlock(s);
    return g ? 0 : -1;
}

/* A prepared completion or failure of a claim. */
typedef struct mrelease {
    char *group_key;
    int64_t token;
    size_t n_done;
    int fail;
    char *error;
    char *skip_payload; /* of the failed job (NULL: none) */
    size_t skip_payload_len;
    int64_t retry_at;
    int max_attempts;
    int64_t now;
} mrelease;

static void memory_queue_release_run(mstore *s, void *p)
{
    mrelease *r = p;
    mgroup *g = memory_queue_group_find(s, r->group_key);
    if (!g || !g->claimed || g->token != r->token) return; /* checked at submit */
    for (size_t i = 0; i < r->n_done; i++) {
        g->claimed_n--;
        memory_queue_job_free(s, memory_queue_group_pop(g));
    }
    memory_queue_group_release(g);
    if (r->fail) {
        mjob *head = g->head;
        head->job.attempts++;
        free(head->job.last_error);
        head->job.last_error = r->error;
        r->error = NULL;
        free(head->job.skip_payload);
        head->job.skip_payload = r->skip_payload;
        head->job.skip_payload_len = r->skip_payload_len;
        r->skip_payload = NULL;
        if (r->max_attempts > 0 && head->job.attempts >= r->max_attempts) {
            g->parked = 1;
            g->parked_at = r->now;
        } else {
            head->job.run_at = r->retry_at;
        }
    }
    memory_queue_group_settle(s, g, r->now);
}

static void memory_queue_release_drop(void *p)
{
    mrelease *r = p;
    free(r->group_key);
    free(r->error);
    free(r->skip_payload);
    free(r);
}

/* Checks the claim and submits its release. 0, or -1 with a diag. */
static int memory_queue_release(mstore *s, const es_claim *claim, size_t n_done,
                                int fail, const char *error, int64_t retry_at,
                                int max_attempts, int64_t now)
{
    mrelease *r = calloc(1, sizeof *r);
    if (r) {
        r->group_key = claim->group_key ? strdup(claim->group_key) : NULL;
        r->error = strdup(error ? error : "");
        const es_job *failed = fail && n_done < claim->n ? &claim->jobs[n_done] : NULL;
        if (failed && failed->skip_payload && r->group_key && r->error) {
            r->skip_payload = malloc(failed->skip_payload_len + 1);
            if (r->skip_payload) {
                memcpy(r->skip_payload, failed->skip_payload, failed->skip_payload_len);
                r->skip_payload[failed->skip_payload_len] = '\0';
                r->skip_payload_len = failed->skip_payload_len;
            } else {
                free(r->error);
                r->error = NULL;
            }
        }
    }
    if (!r || !r->group_key || !r->error) {
        if (r) memory_queue_release_drop(r);
        diag_set(claim->group_key ? DIAG_INTERNAL : DIAG_CONFLICT,
                 "cannot release claim of group %s",
                 claim->group_key ? claim->group_key : "(none)");
        return -1;
    }
    r->token = claim->token;
    r->n_done = n_done;
    r->fail = fail;
    r->retry_at = retry_at;
    r->max_attempts = max_attempts;
    r->now = now;
    memory_store_lock(s);
    int rc = -1;
    mgroup *g = memory_queue_claimed_group(s, claim);
    if (!g) {
        memory_queue_release_drop(r);
    } else if (fail ? n_done >= g->claimed_n : n_done > g->claimed_n) {
        diag_set(DIAG_INVALID, "%zu jobs done of a claim of %zu%s", n_done, g->claimed_n,
                 fail ? " with a failed job" : "");
        memory_queue_release_drop(r);
    } else {
        rc = memory_store_submit(s, memory_queue_release_run, memory_queue_release_drop, r);
    }
    memory_store_unlock(s);
    return rc;
}

int memory_queue_complete(es_store *base, const es_claim *claim, size_t n_done,
                          int64_t now)
{
    return memory_queue_release((mstore *)base, claim, n_done, 0, NULL, 0, 0, now);
}

int memory_queue_fail(es_store *base, const es_claim *claim, size_t n_done,
                      const char *error, int64_t retry_at, int max_attempts,
                      int64_t now)
{
    return memory_queue_release((mstore *)base, claim, n_done, 1, error, retry_at,
                                max_attempts, now);
}

/* ---------------------------------------------------------------- close */

static void memory_queue_free_group(mmap_node *node, void *ud)
{
    (void)ud;
    mgroup *g = MMAP_ENTRY(node, mgroup, node);
    while (g->head) {
        mjob *j = g->head;
        g->head = j->next;
        memory_queue_job_destroy(j);
    }
    free(g->key);
    free(g);
}

void memory_queue_free(mstore *s)
{
    mmap_each(&s->groups, memory_queue_free_group, NULL);
    while (s->dead) {
        mjob *j = s->dead;
        s->dead = j->next;
        memory_queue_job_destroy(j);
    }
    free(s->fresh);
}
