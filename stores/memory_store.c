/* memory_store.c: the memory store object: vtable, locking and units of
 * work (see memory_store.h). */
#include "memory_store.h"
#include "memory_internal.h"
#include "diag.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Its address identifies the calling thread as a lock owner. */
static _Thread_local char memory_store_thread_marker;

static uintptr_t memory_store_self(void)
{
    return (uintptr_t)&memory_store_thread_marker;
}

void memory_store_lock(mstore *s)
{
    if (atomic_load(&s->owner) == memory_store_self()) {
        s->depth++;
        return;
    }
    pthread_mutex_lock(&s->mutex);
    atomic_store(&s->owner, memory_store_self());
    s->depth = 1;
}

void memory_store_unlock(mstore *s)
{
    if (--s->depth > 0) return;
    atomic_store(&s->owner, (uintptr_t)0);
    pthread_mutex_unlock(&s->mutex);
}

void memory_store_wait(mstore *s, int64_t deadline)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(deadline / 1000);
    ts.tv_nsec = (long)(deadline % 1000) * 1000000L;
    atomic_store(&s->owner, (uintptr_t)0);
    pthread_cond_timedwait(&s->work, &s->mutex, &ts);
    atomic_store(&s->owner, memory_store_self());
}

static int memory_store_actions_push(mstore_actions *a, void (*run)(mstore *, void *),
                                     void (*drop)(void *), void *p)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        mstore_action *items = realloc(a->items, cap * sizeof *items);
        if (!items) {
            diag_set(DIAG_INTERNAL, "out of memory recording a memory store change");
            return -1;
        }
        a->items = items;
        a->cap = cap;
    }
    a->items[a->n++] = (mstore_action){run, drop, p};
    return 0;
}

/* Drops every action without running it. */
static void memory_store_actions_drop(mstore_actions *a)
{
    for (size_t i = 0; i < a->n; i++)
        if (a->items[i].drop) a->items[i].drop(a->items[i].p);
    a->n = 0;
}

int memory_store_undo_push(mstore *s, void (*run)(mstore *, void *), void (*drop)(void *),
                           void *p)
{
    return memory_store_actions_push(&s->undo, run, drop, p);
}

size_t memory_store_undo_mark(const mstore *s)
{
    return s->undo.n;
}

void memory_store_undo_to(mstore *s, size_t mark)
{
    while (s->undo.n > mark) {
        mstore_action *a = &s->undo.items[--s->undo.n];
        a->run(s, a->p);
        if (a->drop) a->drop(a->p);
    }
}

void memory_store_undo_settle(mstore *s)
{
    if (!s->in_tx) memory_store_actions_drop(&s->undo);
}

int memory_store_submit(mstore *s, void (*run)(mstore *, void *), void (*drop)(void *),
                        void *p)
{
    if (s->in_tx) {
        if (memory_store_actions_push(&s->deferred, run, drop, p) != 0) {
            drop(p);
            return -1;
        }
        return 0;
    }
    run(s, p);
    drop(p);
    memory_queue_sweep(s);
    pthread_cond_broadcast(&s->work);
    return 0;
}

static int memory_tx_begin(es_store *base)
{
    mstore *s = (mstore *)base;
    memory_store_lock(s);
    if (s->in_tx) {
        memory_store_unlock(s);
        diag_set(DIAG_INTERNAL, "memory store: unit of work already open in this thread");
        return -1;
    }
    s->in_tx = 1;
    return 0;
}

/* True when the calling thread holds an open unit of work. */
static int memory_store_owns_tx(mstore *s)
{
    return atomic_load(&s->owner) == memory_store_self() && s->in_tx;
}

static int memory_tx_commit(es_store *base)
{
    mstore *s = (mstore *)base;
    if (!memory_store_owns_tx(s)) {
        diag_set(DIAG_INTERNAL, "memory store: commit without tx_begin");
        return -1;
    }
    for (size_t i = 0; i < s->deferred.n; i++) {
        mstore_action *a = &s->deferred.items[i];
        a->run(s, a->p);
        a->drop(a->p);
    }
    s->deferred.n = 0;
    memory_queue_sweep(s);
    memory_store_actions_drop(&s->undo);
    s->in_tx = 0;
    pthread_cond_broadcast(&s->work);
    memory_store_unlock(s);
    return 0;
}

static void memory_tx_rollback(es_store *base)
{
    mstore *s = (mstore *)base;
    if (!memory_store_owns_tx(s)) return;
    memory_store_actions_drop(&s->deferred);
    memory_queue_sweep(s);
    memory_store_undo_to(s, 0);
    s->in_tx = 0;
    memory_store_unlock(s);
}

static void memory_close(es_store *base)
{
    mstore *s = (mstore *)base;
    if (!s) return;
    memory_store_actions_drop(&s->deferred);
    memory_store_actions_drop(&s->undo);
    free(s->deferred.items);
    free(s->undo.items);
    memory_events_free(s);
    memory_queue_free(s);
    memory_folds_free(s);
    memory_pauses_free(s);
    memory_workers_free(s);
    memory_records_free(s);
    mmap_destroy(&s->aggregates);
    mmap_destroy(&s->event_ids);
    mmap_destroy(&s->event_ikeys);
    mmap_destroy(&s->groups);
    mmap_destroy(&s->job_ids);
    mmap_destroy(&s->job_dedup);
    mmap_destroy(&s->folds);
    mmap_destroy(&s->tables);
    mmap_destroy(&s->records);
    mheap_destroy(&s->schedule);
    pthread_cond_destroy(&s->work);
    pthread_mutex_destroy(&s->mutex);
    free(s);
}

static const es_store_ops memory_ops = {
    .name = "memory",
    .counts_items = 1,
    .close = memory_close,
    .tx_begin = memory_tx_begin,
    .tx_commit = memory_tx_commit,
    .tx_rollback = memory_tx_rollback,
    .event_append = memory_event_append,
    .event_read = memory_event_read,
    .event_last_seq = memory_event_last_seq,
    .queue_enqueue = memory_queue_enqueue,
    .queue_claim = memory_queue_claim,
    .queue_extend = memory_queue_extend,
    .queue_complete = memory_queue_complete,
    .queue_fail = memory_queue_fail,
    .queue_stats = memory_queue_stats,
    .queue_parked_list = memory_queue_parked_list,
    .queue_parked_retry = memory_queue_parked_retry,
    .queue_parked_skip = memory_queue_parked_skip,
    .queue_origin_pending = memory_queue_origin_pending,
    .queue_group_idle = memory_queue_group_idle,
    .pause_set = memory_pause_set,
    .pause_check = memory_pause_check,
    .pause_list = memory_pause_list,
    .worker_beat = memory_worker_beat,
    .worker_list = memory_worker_list,
    .fold_get = memory_fold_get,
    .fold_put = memory_fold_put,
    .record_append = memory_record_append,
    .record_list = memory_record_list,
};

es_store *memory_store_open(void)
{
    mstore *s = calloc(1, sizeof *s);
    if (!s) {
        diag_set(DIAG_INTERNAL, "out of memory opening a memory store");
        return NULL;
    }
    s->base.ops = &memory_ops;
    atomic_init(&s->owner, (uintptr_t)0);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->work, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&s->mutex, NULL);
    mmap *maps[] = {&s->aggregates, &s->event_ids, &s->event_ikeys, &s->groups,
                    &s->job_ids,    &s->job_dedup, &s->folds,       &s->tables,
                    &s->records};
    for (size_t i = 0; i < sizeof maps / sizeof maps[0]; i++) {
        if (mmap_init(maps[i]) != 0) {
            memory_close(&s->base);
            return NULL;
        }
    }
    return &s->base;
}
