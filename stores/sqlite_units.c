/* sqlite_units.c: units of work on the shared connection. A unit (one
 * claimed batch's writes and the completion of its claim) runs in the
 * connection's write transaction. tx_commit makes it durable at once. A
 * worker's unit is committed with tx_commit_batched instead: the
 * transaction stays open for the units that follow, up to BATCH_MAX_UNITS
 * units or BATCH_MAX_MS, and is committed earlier by any other write of
 * the process (an HTTP enqueue, a heartbeat), by a claim that finds
 * nothing to do, and at close.
 * A unit that fails after changing rows (a store error) undoes the whole
 * open transaction, the units batched before it included: those are
 * redone once their claims' leases expire, as after a failed commit or a
 * crash. A unit that changed nothing leaves the batch as it is: a worker
 * whose claim went stale learns it before its unit writes
 * (queue_claim_current). Units once ran each in a SAVEPOINT and were
 * undone alone; the savepoint copied every page the batch had already
 * changed into its sub-journal before the unit changed it again, which was
 * a third of the statement time of bench/embedded's process phase
 * (17.7-24.1 s without against 32.9-34.9 s with, 1M events).
 * A unit dirties the pages of the jobs it completes. Those of one enqueue
 * sit together, so consecutive units of different groups share pages (a
 * page holds the jobs of ~13 aggregates in bench/embedded) and each WAL
 * page written per commit carries the work of several units: 3.4 ->
 * 1.0 WAL frames per event there, 30% less CPU per event. */
#include "sqlite_internal.h"

#include "clock.h"
#include "diag.h"

#define BATCH_MAX_UNITS 256
/* 50 ms before: bench/embedded wrote 4.95 and 4.76 GB (WAL and
 * checkpoints, /proc/self/io write_bytes) per 1M events, against 4.15 and
 * 3.97 GB at 100 ms, and spent 30% less time in COMMIT. */
#define BATCH_MAX_MS 100
/* After a batch that ended on these limits (work keeps coming), while
 * another connection waits for the write lock (a stamp of its busy handler
 * younger than WAITER_FRESH_MS: a waiter stamps every millisecond it is
 * scheduled, sqlite_waiters.h), this process takes no
 * write lock for BATCH_GAP_MS, so that the other's write (a `send`,
 * polling every millisecond) gets in: the next unit would otherwise take
 * the lock again at once. Pausing after every batch instead cost a process
 * alone on its database ~4% of its writing time (2 ms per 50 ms batch). */
#define BATCH_GAP_MS 2
#define WAITER_FRESH_MS 50

/* Undoes the open unit: the whole transaction when the unit changed rows
 * (see above), else only its pending queue counts. */
static void unit_undo(sqlite_store *s)
{
    if (sqlite3_total_changes64(s->shared->db) != s->unit_changes) sqlite_rollback_held(s);
    sqlite_counters_end(s->shared);
}

int sqlite_tx_begin(es_store *base)
{
    sqlite_store *s = (sqlite_store *)base;
    if (sqlite_in_unit(s)) {
        diag_set(DIAG_INTERNAL, "sqlite tx_begin: a unit of work is already open");
        return -1;
    }
    sqlite_group_yield(s);
    sqlite_shared_lock(s);
    int opened = sqlite3_get_autocommit(s->shared->db);
    if (opened) {
        if (sqlite_begin_held(s) != 0) {
            sqlite_shared_unlock(s);
            return -1;
        }
        s->batch_units = 0;
        s->batch_opened_ms = clock_monotonic_ms();
    }
    s->unit_changes = sqlite3_total_changes64(s->shared->db);
    s->unit_open = 1;
    return 0;
}

/* Ends the open unit, keeping its writes in the transaction (its queue
 * counters written first). On failure the unit is undone. */
static int unit_release(sqlite_store *s)
{
    s->unit_open = 0;
    if (sqlite_counters_flush(s->shared) == 0) {
        sqlite_counters_end(s->shared);
        return 0;
    }
    unit_undo(s);
    return -1;
}

static int unit_check_open(sqlite_store *s, const char *what)
{
    if (sqlite_in_unit(s)) return 0;
    diag_set(DIAG_INTERNAL, "sqlite %s: no unit of work is open", what);
    return -1;
}

int sqlite_tx_commit(es_store *base)
{
    sqlite_store *s = (sqlite_store *)base;
    if (unit_check_open(s, "tx_commit") != 0) return -1;
    int rc = unit_release(s);
    if (rc == 0) rc = sqlite_commit_held(s);
    sqlite_shared_unlock(s);
    return rc;
}

int sqlite_tx_commit_batched(es_store *base)
{
    sqlite_store *s = (sqlite_store *)base;
    if (unit_check_open(s, "tx_commit_batched") != 0) return -1;
    int rc = unit_release(s);
    if (rc == 0 && (++s->batch_units >= BATCH_MAX_UNITS ||
                    clock_monotonic_ms() - s->batch_opened_ms >= BATCH_MAX_MS)) {
        rc = sqlite_commit_held(s);
        /* shared_mu held: this process waits */
        if (sqlite_waiters_recent(s->waiters, WAITER_FRESH_MS)) clock_sleep_ms(BATCH_GAP_MS);
    } else if (rc == 0) {
        atomic_store(&s->batch_open, 1);
        /* this process's claims read through this connection: they see
         * the unit's jobs now */
        if (s->shared->notify) {
            s->shared->notify = 0;
            sqlite_store_wake(s);
        }
    }
    sqlite_shared_unlock(s);
    return rc;
}

void sqlite_tx_rollback(es_store *base)
{
    sqlite_store *s = (sqlite_store *)base;
    if (!sqlite_in_unit(s)) return;
    s->unit_open = 0;
    unit_undo(s);
    s->shared->notify = 0;
    sqlite_shared_unlock(s);
}

void sqlite_batch_flush(sqlite_store *s)
{
    if (!atomic_load(&s->batch_open)) return;
    sqlite_shared_lock(s);
    if (atomic_load(&s->batch_open) && !s->unit_open) sqlite_commit_held(s);
    sqlite_shared_unlock(s);
}
