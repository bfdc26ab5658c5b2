/* memory_workers.c: the worker registry of the memory store: an array of
 * entries kept ordered by id (a handful of processes), each a deep copy of
 * the last beat. */
#include "memory_internal.h"
#include "diag.h"

#include <stdlib.h>
#include <string.h>

static void worker_entry_free(es_worker_info *w)
{
    free((char *)w->id);
    free((char *)w->host);
    free((char *)w->role);
    free((char *)w->generation);
}

/* Deep-copies w into *out with last_beat = now. -1 with a diag on OOM. */
static int worker_entry_copy(es_worker_info *out, const es_worker_info *w, int64_t now)
{
    *out = *w;
    out->id = strdup(w->id);
    out->host = strdup(w->host ? w->host : "");
    out->role = strdup(w->role ? w->role : "");
    out->generation = strdup(w->generation ? w->generation : "");
    out->last_beat = now;
    out->lost = 0;
    if (!out->id || !out->host || !out->role || !out->generation) {
        worker_entry_free(out);
        diag_set(DIAG_INTERNAL, "out of memory recording a worker beat");
        return -1;
    }
    return 0;
}

/* Index of id in the ordered array, or where it would go (*found = 0). */
static size_t worker_find(const mstore *s, const char *id, int *found)
{
    size_t lo = 0, hi = s->n_workers;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(s->workers[mid].id, id);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    *found = 0;
    return lo;
}

int memory_worker_beat(es_store *base, const es_worker_info *w, int64_t now)
{
    mstore *s = (mstore *)base;
    if (!w->id || !*w->id) {
        diag_set(DIAG_INVALID, "worker beat: an id is required");
        return -1;
    }
    es_worker_info copy;
    if (worker_entry_copy(&copy, w, now) != 0) return -1;
    memory_store_lock(s);
    int found;
    size_t at = worker_find(s, w->id, &found);
    if (found) {
        worker_entry_free(&s->workers[at]);
        s->workers[at] = copy;
        memory_store_unlock(s);
        return 0;
    }
    if (s->n_workers == s->cap_workers) {
        size_t cap = s->cap_workers ? s->cap_workers * 2 : 4;
        es_worker_info *items = realloc(s->workers, cap * sizeof *items);
        if (!items) {
            memory_store_unlock(s);
            worker_entry_free(&copy);
            diag_set(DIAG_INTERNAL, "out of memory recording a worker beat");
            return -1;
        }
        s->workers = items;
        s->cap_workers = cap;
    }
    memmove(&s->workers[at + 1], &s->workers[at], (s->n_workers - at) * sizeof *s->workers);
    s->workers[at] = copy;
    s->n_workers++;
    memory_store_unlock(s);
    return 0;
}

int memory_worker_list(es_store *base, int64_t now, es_worker_cb cb, void *ud)
{
    mstore *s = (mstore *)base;
    memory_store_lock(s);
    size_t kept = 0;
    for (size_t i = 0; i < s->n_workers; i++) {
        es_worker_info *w = &s->workers[i];
        int state = store_worker_age_state(w->last_beat, w->lease_ms, now);
        if (state == 2) {
            worker_entry_free(w);
            continue;
        }
        w->lost = state;
        s->workers[kept++] = *w;
    }
    s->n_workers = kept;
    for (size_t i = 0; i < s->n_workers; i++)
        if (cb(ud, &s->workers[i]) != 0) break;
    memory_store_unlock(s);
    return 0;
}

void memory_workers_free(mstore *s)
{
    for (size_t i = 0; i < s->n_workers; i++) worker_entry_free(&s->workers[i]);
    free(s->workers);
    s->workers = NULL;
    s->n_workers = s->cap_workers = 0;
}
