/* sqlite_store.c: the embedded store object: open/close, the shared
 * connection and the reader connections with cached statements, commit
 * and rollback of the shared connection's transaction (units of work:
 * sqlite_units.c), the WAL checkpointer thread, claim wake-ups. */
#include "sqlite_internal.h"

#include "diag.h"
#include "sqlite_walbuf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define SQLITE_BUSY_TIMEOUT_MS 10000
#define CONN_CACHE_SLOTS 4
/* Page cache of the shared connection (KiB): it holds the hot pages of the
 * queue, the fold states and the tails of the event log. Readers keep
 * SQLite's small default. */
#define SHARED_CACHE_KIB 65536
/* WAL checkpoints run on a checkpointer thread of the store, never on a
 * committing thread (an HTTP request or a worker's unit never pays for
 * one): every CKPT_SOFT_FRAMES new WAL frames a commit asks it for a
 * PASSIVE checkpoint on its own connection, outside shared_mu, so the
 * writers keep committing meanwhile. Commits that land during such a
 * checkpoint keep the WAL from ever being fully copied, and SQLite rewinds
 * the WAL only then; past CKPT_HARD_FRAMES the checkpointer therefore
 * copies the rest holding shared_mu (no writer of this process in
 * between) and the next write rewinds the WAL. Writers wait for that
 * locked checkpoint (two fsyncs and the copy of what it finds uncopied),
 * so it runs only once further PASSIVE passes have brought the uncopied
 * tail under CKPT_TAIL_FRAMES (or CKPT_TAIL_PASSES passes did not).
 * A batch of units (sqlite_units.c) keeps its write transaction open
 * between units, and with it the snapshot it began with: SQLite rewinds
 * the WAL only in a transaction that began on a fully copied WAL, so the
 * locked pass commits an open batch first. Without that, a worker writing
 * batches back to back kept the WAL from ever rewinding: bench/embedded's
 * WAL grew to ~330,000 frames (1.3 GB) and a locked pass ran every
 * CKPT_SOFT_FRAMES past CKPT_HARD_FRAMES, each a stall of the writers
 * (up to 58 ms measured); with it, 4 locked passes in the same run.
 * Those fsyncs took 35-90 ms on the benchmark machine, however few
 * frames were left, so under a sustained write load this stall is the
 * tail of every commit's latency: CKPT_HARD_FRAMES (512 MiB of WAL at
 * 4 KiB pages) makes it rare (every ~5 s at 50,000 spans/s), at the price
 * of a WAL file that big on disk after such a load.
 * journal_size_limit truncates the file after a rewind only when it grew
 * past WAL_SIZE_LIMIT, twice the size CKPT_HARD_FRAMES keeps it under:
 * truncating ~70 MB of WAL in the first commit after each rewind (the
 * former 64 MiB limit) stalled that commit 25-120 ms. */
#define CKPT_SOFT_FRAMES 4096
#define CKPT_HARD_FRAMES 131072
#define CKPT_TAIL_FRAMES 512
#define CKPT_TAIL_PASSES 8
#define WAL_SIZE_LIMIT "1073741824"

/* Per-thread shortcut from a store to this thread's reader connection, so
 * the read path takes no lock. Store ids are never reused, so a stale slot
 * of a closed store never matches. */
typedef struct conn_cache_slot {
    uint64_t store_id;
    sqlite_conn *conn;
} conn_cache_slot;

static _Thread_local conn_cache_slot conn_cache[CONN_CACHE_SLOTS];
static _Thread_local unsigned conn_cache_next;
static atomic_uint_fast64_t store_next_id = 1;
/* Its address identifies the calling thread (shared_owner). */
static _Thread_local char thread_token;

static uintptr_t thread_self(void)
{
    return (uintptr_t)&thread_token;
}

static int conn_exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        diag_set(DIAG_BACKEND, "sqlite %s: %s", sql, err ? err : sqlite3_errmsg(db));
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

/* Like conn_exec, retrying while the database is locked. Switching to WAL
 * needs a lock SQLite's busy handler does not wait for while another
 * process recovers the WAL after a crash (kill -9 of an engine). */
static int conn_exec_locked_retry(sqlite3 *db, const char *sql)
{
    for (int waited_ms = 0;; waited_ms += 10) {
        int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
        if (rc == SQLITE_OK) return 0;
        if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || waited_ms >= SQLITE_BUSY_TIMEOUT_MS)
            return conn_exec(db, sql);
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Busy handler (ud: the store's sqlite_waiters): tries again every
 * millisecond for SQLITE_BUSY_TIMEOUT_MS, stamping each try in the waiters
 * file. An engine under load holds the write lock in batches of units and,
 * when it sees a fresh stamp, frees it between them for a moment
 * (sqlite_units.c); SQLite's own handler sleeps up to 100 ms between tries
 * and missed those moments for seconds (a `send` waited 5 s for a busy
 * engine). */
static int conn_busy(void *ud, int tries)
{
    sqlite_waiters_stamp(ud);
    if (tries >= SQLITE_BUSY_TIMEOUT_MS) return 0;
    struct timespec ts = {0, 1000000L};
    nanosleep(&ts, NULL);
    return 1;
}

/* Opens a connection to `path` with the per-connection settings, through
 * the buffered-WAL VFS (sqlite_walbuf.c). secure_delete: Debian builds
 * SQLite with it on, which zeroes every page a delete frees and so writes
 * it to the WAL once more; FAST still zeroes deleted content inside the
 * pages a write changes anyway. Completing jobs (deleting their rows) then
 * wrote 35% more WAL frames (38,140 against 28,149 for 200,000 rows of
 * ~250 bytes deleted group by group). */
static sqlite3 *conn_open_db(const char *path, sqlite_waiters *waiters)
{
    sqlite3 *db = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &db, flags, sqlite_walbuf_vfs()) != SQLITE_OK) {
        diag_set(DIAG_IO, "sqlite open %s: %s", path,
                 db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_handler(db, conn_busy, waiters);
    if (conn_exec_locked_retry(db, "PRAGMA journal_mode=WAL") != 0 ||
        conn_exec(db, "PRAGMA synchronous=NORMAL") != 0 ||
        conn_exec(db, "PRAGMA temp_store=MEMORY") != 0 ||
        conn_exec(db, "PRAGMA secure_delete=FAST") != 0 ||
        conn_exec(db, "PRAGMA journal_size_limit=" WAL_SIZE_LIMIT) != 0) {
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

static void conn_free(sqlite_conn *c)
{
    if (!c) return;
    for (int i = 0; i < SQ_COUNT; i++) sqlite3_finalize(c->stmts[i]);
    sqlite_counters_free(c);
    sqlite3_close(c->db);
    free(c);
}

/* Records the WAL size after each commit of the shared connection (called
 * by SQLite inside the commit, shared_mu held). */
static int store_wal_hook(void *ud, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    atomic_store(&((sqlite_store *)ud)->wal_frames, frames);
    return SQLITE_OK;
}

static sqlite_conn *store_open_shared(sqlite_store *s)
{
    sqlite_conn *c = calloc(1, sizeof *c);
    if (!c) {
        diag_set(DIAG_INTERNAL, "out of memory opening a sqlite connection");
        return NULL;
    }
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA cache_size=-%d", SHARED_CACHE_KIB);
    if (!(c->db = conn_open_db(s->path, s->waiters)) || conn_exec(c->db, pragma) != 0 ||
        conn_exec(c->db, "PRAGMA wal_autocheckpoint=0") != 0) {
        conn_free(c);
        return NULL;
    }
    sqlite3_wal_hook(c->db, store_wal_hook, s);
    return c;
}

static void store_checkpoint_ask(sqlite_store *s);

sqlite_conn *sqlite_shared_lock(sqlite_store *s)
{
    uintptr_t self = thread_self();
    if (atomic_load(&s->shared_owner) != self) {
        pthread_mutex_lock(&s->shared_mu);
        atomic_store(&s->shared_owner, self);
    }
    s->shared_depth++;
    return s->shared;
}

void sqlite_shared_unlock(sqlite_store *s)
{
    if (--s->shared_depth > 0) return;
    int ckpt = s->ckpt_due;
    s->ckpt_due = 0;
    atomic_store(&s->shared_owner, (uintptr_t)0);
    pthread_mutex_unlock(&s->shared_mu);
    if (ckpt) store_checkpoint_ask(s);
}

int sqlite_shared_held(sqlite_store *s)
{
    return atomic_load(&s->shared_owner) == thread_self();
}

int sqlite_in_unit(sqlite_store *s)
{
    return sqlite_shared_held(s) && s->unit_open;
}

sqlite_conn *sqlite_conn_get(sqlite_store *s)
{
    if (atomic_load(&s->shared_owner) == thread_self()) return s->shared;
    for (unsigned i = 0; i < CONN_CACHE_SLOTS; i++)
        if (conn_cache[i].store_id == s->id) return conn_cache[i].conn;

    pthread_t self = pthread_self();
    pthread_mutex_lock(&s->mu);
    sqlite_conn *c = s->readers;
    while (c && !pthread_equal(c->owner, self)) c = c->next;
    pthread_mutex_unlock(&s->mu);
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c) {
            diag_set(DIAG_INTERNAL, "out of memory opening a sqlite connection");
            return NULL;
        }
        if (!(c->db = conn_open_db(s->path, s->waiters))) {
            free(c);
            return NULL;
        }
        c->owner = self;
        pthread_mutex_lock(&s->mu);
        c->next = s->readers;
        s->readers = c;
        pthread_mutex_unlock(&s->mu);
    }
    conn_cache_slot *slot = &conn_cache[conn_cache_next++ % CONN_CACHE_SLOTS];
    slot->store_id = s->id;
    slot->conn = c;
    return c;
}

sqlite3_stmt *sqlite_conn_stmt(sqlite_conn *c, sqlite_stmt_id id, const char *sql)
{
    sqlite3_stmt *st = c->stmts[id];
    if (st) {
        sqlite3_reset(st);
        return st;
    }
    if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) !=
        SQLITE_OK) {
        diag_set(DIAG_BACKEND, "sqlite prepare: %s: %s", sqlite3_errmsg(c->db), sql);
        return NULL;
    }
    c->stmts[id] = st;
    return st;
}

int sqlite_fail(sqlite_conn *c, const char *what)
{
    diag_set(DIAG_BACKEND, "sqlite %s: %s", what, sqlite3_errmsg(c->db));
    return -1;
}

int sqlite_conn_run(sqlite_conn *c, sqlite_stmt_id id, const char *sql)
{
    sqlite3_stmt *st = sqlite_conn_stmt(c, id, sql);
    if (!st) return -1;
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return sqlite_fail(c, sql);
    return 0;
}

/* Copies the WAL into the database file (PASSIVE: never waits for
 * writers), then, when the WAL is past ckpt_hard_frames, commits an open
 * batch and copies the rest holding shared_mu so that the next write
 * rewinds it, after PASSIVE passes have shortened that rest. A failure leaves the WAL longer; the
 * next request retries. */
static void store_checkpoint(sqlite_store *s)
{
    if (!s->ckpt_db) s->ckpt_db = conn_open_db(s->path, s->waiters);
    if (!s->ckpt_db) return;
    int in_wal = 0, copied = 0;
    if (sqlite3_wal_checkpoint_v2(s->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, &in_wal,
                                  &copied) != SQLITE_OK)
        return;
    if (atomic_load(&s->wal_frames) < s->ckpt_hard_frames) return;
    for (int pass = 0; pass < CKPT_TAIL_PASSES; pass++) {
        int frames = atomic_load(&s->wal_frames);
        if (frames < copied || frames - copied <= CKPT_TAIL_FRAMES) break;
        if (sqlite3_wal_checkpoint_v2(s->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, &in_wal,
                                      &copied) != SQLITE_OK)
            return;
    }
    sqlite_shared_lock(s);
    sqlite_batch_flush(s);
    sqlite3_wal_checkpoint_v2(s->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, &in_wal, &copied);
    sqlite_shared_unlock(s);
}

/* The checkpointer thread: one checkpoint per request (requests made
 * while one runs coalesce) until the store closes. */
static void *store_checkpointer(void *ud)
{
    sqlite_store *s = ud;
    pthread_mutex_lock(&s->ckpt_mu);
    while (!s->ckpt_stop) {
        if (!s->ckpt_asked) {
            pthread_cond_wait(&s->ckpt_cv, &s->ckpt_mu);
            continue;
        }
        s->ckpt_asked = 0;
        pthread_mutex_unlock(&s->ckpt_mu);
        store_checkpoint(s);
        pthread_mutex_lock(&s->ckpt_mu);
    }
    pthread_mutex_unlock(&s->ckpt_mu);
    return NULL;
}

/* Asks the checkpointer for a checkpoint, starting it on first use (when
 * it cannot start, the calling thread checkpoints). */
static void store_checkpoint_ask(sqlite_store *s)
{
    pthread_mutex_lock(&s->ckpt_mu);
    if (!s->ckpt_started &&
        pthread_create(&s->ckpt_thread, NULL, store_checkpointer, s) == 0)
        s->ckpt_started = 1;
    if (s->ckpt_started) {
        s->ckpt_asked = 1;
        pthread_cond_signal(&s->ckpt_cv);
    } else {
        store_checkpoint(s);
    }
    pthread_mutex_unlock(&s->ckpt_mu);
}

int sqlite_begin_held(sqlite_store *s)
{
    return sqlite_conn_run(s->shared, SQ_BEGIN_IMMEDIATE, "BEGIN IMMEDIATE");
}

void sqlite_rollback_held(sqlite_store *s)
{
    sqlite_conn *c = s->shared;
    if (!sqlite3_get_autocommit(c->db)) sqlite_conn_run(c, SQ_ROLLBACK, "ROLLBACK");
    sqlite_counters_end(c);
    c->notify = 0;
    atomic_store(&s->batch_open, 0);
}

int sqlite_commit_held(sqlite_store *s)
{
    sqlite_conn *c = s->shared;
    if (sqlite_counters_flush(c) != 0 || sqlite_conn_run(c, SQ_COMMIT, "COMMIT") != 0) {
        sqlite_rollback_held(s);
        return -1;
    }
    sqlite_counters_end(c);
    atomic_store(&s->batch_open, 0);
    int frames = atomic_load(&s->wal_frames);
    if (frames < s->ckpt_mark) s->ckpt_mark = 0; /* the WAL was rewound */
    if (frames - s->ckpt_mark >= s->ckpt_soft_frames) {
        s->ckpt_mark = frames;
        s->ckpt_due = 1;
    }
    if (c->notify) {
        c->notify = 0;
        sqlite_store_wake(s);
    }
    return 0;
}

/* BEGIN IMMEDIATE on the shared connection, taking it: the threads of this
 * process queue on shared_mu and hand the SQLite write lock over at once;
 * only other processes meet the busy handler. */
int sqlite_write_begin(sqlite_store *s, sqlite_conn **c, int *own)
{
    *c = sqlite_shared_lock(s);
    /* a write of its own (not a worker's unit) commits the units waiting
     * in a batch first: it is acknowledged after its own commit */
    if (atomic_load(&s->batch_open) && !s->unit_open && sqlite_commit_held(s) != 0) {
        sqlite_shared_unlock(s);
        return -1;
    }
    *own = sqlite3_get_autocommit((*c)->db);
    /* BEGIN under the same hold: released in between, a worker's unit
     * could open its transaction first ("cannot start a transaction
     * within a transaction", seen on worker registry beats) */
    if (!*own || sqlite_begin_held(s) == 0) return 0;
    sqlite_shared_unlock(s);
    return -1;
}

int sqlite_write_end(sqlite_store *s, sqlite_conn *c, int own, int rc)
{
    (void)c;
    if (!own) {
        sqlite_shared_unlock(s);
        return rc;
    }
    if (rc == 0 && sqlite_commit_held(s) != 0) rc = -1;
    else if (rc != 0) sqlite_rollback_held(s);
    sqlite_shared_unlock(s);
    return rc;
}

void sqlite_store_wake(sqlite_store *s)
{
    pthread_mutex_lock(&s->wait_mu);
    s->wake_seq++;
    pthread_cond_broadcast(&s->wait_cv);
    pthread_mutex_unlock(&s->wait_mu);
}

uint64_t sqlite_store_wake_seq(sqlite_store *s)
{
    pthread_mutex_lock(&s->wait_mu);
    uint64_t seq = s->wake_seq;
    pthread_mutex_unlock(&s->wait_mu);
    return seq;
}

void sqlite_store_wait(sqlite_store *s, uint64_t seen, int ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += ms / 1000;
    deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->wait_mu);
    while (s->wake_seq == seen &&
           pthread_cond_timedwait(&s->wait_cv, &s->wait_mu, &deadline) == 0) {
    }
    pthread_mutex_unlock(&s->wait_mu);
}

int sqlite_bind_str(sqlite3_stmt *st, int idx, const char *str)
{
    if (!str) return sqlite3_bind_null(st, idx);
    return sqlite3_bind_text(st, idx, str, -1, SQLITE_STATIC);
}

char *sqlite_column_dup(sqlite3_stmt *st, int col, int *oom)
{
    const unsigned char *text = sqlite3_column_text(st, col);
    if (!text) return NULL;
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    char *out = malloc(n + 1);
    if (!out) {
        *oom = 1;
        return NULL;
    }
    memcpy(out, text, n);
    out[n] = '\0';
    return out;
}

static void sqlite_store_close(es_store *base)
{
    sqlite_store *s = (sqlite_store *)base;
    if (!s) return;
    sqlite_batch_flush(s);
    pthread_mutex_lock(&s->ckpt_mu);
    s->ckpt_stop = 1;
    pthread_cond_signal(&s->ckpt_cv);
    pthread_mutex_unlock(&s->ckpt_mu);
    if (s->ckpt_started) pthread_join(s->ckpt_thread, NULL);
    sqlite_conn *c = s->readers;
    while (c) {
        sqlite_conn *next = c->next;
        conn_free(c);
        c = next;
    }
    sqlite3_close(s->ckpt_db);
    conn_free(s->shared);
    sqlite_profile_report_free(s->shared_profile);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->shared_mu);
    pthread_mutex_destroy(&s->ckpt_mu);
    pthread_cond_destroy(&s->ckpt_cv);
    pthread_mutex_destroy(&s->wait_mu);
    pthread_mutex_destroy(&s->group_mu);
    pthread_cond_destroy(&s->group_cv);
    pthread_cond_destroy(&s->wait_cv);
    sqlite_waiters_close(s->waiters);
    free(s->path);
    free(s);
}

static const es_store_ops sqlite_store_ops = {
    .name = "sqlite",
    .counts_items = 1,
    .close = sqlite_store_close,
    .tx_begin = sqlite_tx_begin,
    .tx_commit = sqlite_tx_commit,
    .tx_commit_batched = sqlite_tx_commit_batched,
    .tx_rollback = sqlite_tx_rollback,
    .event_append = sqlite_event_append,
    .event_read = sqlite_event_read,
    .event_scan = sqlite_event_scan,
    .event_count = sqlite_event_count,
    .event_last_seq = sqlite_event_last_seq,
    .queue_enqueue = sqlite_queue_enqueue,
    .queue_claim = sqlite_queue_claim,
    .queue_extend = sqlite_queue_extend,
    .queue_claim_current = sqlite_queue_claim_current,
    .queue_complete = sqlite_queue_complete,
    .queue_fail = sqlite_queue_fail,
    .queue_stats = sqlite_queue_stats,
    .queue_parked_list = sqlite_queue_parked_list,
    .queue_parked_retry = sqlite_queue_parked_retry,
    .queue_parked_skip = sqlite_queue_parked_skip,
    .queue_origin_pending = sqlite_queue_origin_pending,
    .queue_group_idle = sqlite_queue_group_idle,
    .fold_get = sqlite_fold_get,
    .pause_set = sqlite_pause_set,
    .pause_check = sqlite_pause_check,
    .pause_list = sqlite_pause_list,
    .worker_beat = sqlite_worker_beat,
    .worker_list = sqlite_worker_list,
    .fold_put = sqlite_fold_put,
    .fold_scan = sqlite_fold_scan,
    .fold_swap = sqlite_fold_swap,
    .fold_drop = sqlite_fold_drop,
    .replay_checkpoint_get = sqlite_replay_checkpoint_get,
    .replay_checkpoint_put = sqlite_replay_checkpoint_put,
    .record_append = sqlite_record_append,
    .record_list = sqlite_record_list,
};

/* mkdir -p for the data directory. */
static int store_make_dir(const char *dir)
{
    char *path = strdup(dir);
    if (!path) {
        diag_set(DIAG_INTERNAL, "out of memory");
        return -1;
    }
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            diag_set(DIAG_IO, "cannot create data directory %s: %s", path,
                     strerror(errno));
            free(path);
            return -1;
        }
        *p = saved;
        if (saved == '\0') break;
    }
    free(path);
    return 0;
}

es_store *sqlite_store_open(const char *data_dir)
{
    if (!data_dir || !*data_dir) {
        diag_set(DIAG_INVALID, "sqlite store: empty data directory");
        return NULL;
    }
    if (store_make_dir(data_dir) != 0) return NULL;
    sqlite_store *s = calloc(1, sizeof *s);
    size_t n = strlen(data_dir) + sizeof "/esengine.db";
    if (!s || !(s->path = malloc(n))) {
        free(s);
        diag_set(DIAG_INTERNAL, "out of memory opening the sqlite store");
        return NULL;
    }
    snprintf(s->path, n, "%s/esengine.db", data_dir);
    s->base.ops = &sqlite_store_ops;
    s->id = atomic_fetch_add(&store_next_id, 1);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->shared_mu, NULL);
    pthread_mutex_init(&s->ckpt_mu, NULL);
    pthread_mutex_init(&s->wait_mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->wait_cv, &attr);
    pthread_condattr_destroy(&attr);
    pthread_cond_init(&s->ckpt_cv, NULL);
    pthread_mutex_init(&s->group_mu, NULL);
    pthread_cond_init(&s->group_cv, NULL);
    s->waiters = sqlite_waiters_open(s->path);
    s->ckpt_soft_frames = CKPT_SOFT_FRAMES;
    s->ckpt_hard_frames = CKPT_HARD_FRAMES;

    s->shared = store_open_shared(s);
    if (!s->shared || sqlite_schema_create(s->shared->db) != 0) {
        diag_prefix("sqlite store %s", s->path);
        sqlite_store_close(&s->base);
        return NULL;
    }
    s->shared_profile = sqlite_profile_attach(s->shared->db);
    return &s->base;
}

void sqlite_store_set_checkpoint_frames(es_store *base, int soft_frames, int hard_frames)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite_shared_lock(s);
    s->ckpt_soft_frames = soft_frames;
    s->ckpt_hard_frames = hard_frames;
    sqlite_shared_unlock(s);
}
