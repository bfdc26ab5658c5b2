/* sqlite_profile.c: opt-in time per SQL statement on the embedded store's
 * shared connection (ESENGINE_SQLITE_PROFILE=1), logged when the store
 * closes. It tells where the serialized write section goes (inserts of
 * events, records and jobs, job deletes, COMMIT) without a profiler; the
 * times are wall-clock, so a loaded machine inflates them all alike. */
#include "sqlite_profile.h"

#include "log.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Distinct statement texts kept; later ones count under "(other)". */
#define PROFILE_SLOTS 64
/* Statements under this share of the total are left out of the report. */
#define PROFILE_MIN_PERMILLE 5
/* Statements running at once on the connection (a read stepping its rows
 * while others run) whose start times are kept. */
#define PROFILE_RUNNING 16

typedef struct profile_slot {
    char *sql;
    uint64_t ns;
    uint64_t runs;
} profile_slot;

typedef struct profile_start {
    sqlite3_stmt *stmt;
    uint64_t ns;
} profile_start;

struct sqlite_profile {
    profile_slot slots[PROFILE_SLOTS];
    profile_slot other;
    profile_start running[PROFILE_RUNNING];
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Where stmt's start time is kept (or goes): its own entry, else a free
 * one; NULL when all are taken by others. */
static profile_start *start_of(sqlite_profile *prof, sqlite3_stmt *stmt)
{
    profile_start *free_entry = NULL;
    for (int i = 0; i < PROFILE_RUNNING; i++) {
        if (prof->running[i].stmt == stmt) return &prof->running[i];
        if (!prof->running[i].stmt && !free_entry) free_entry = &prof->running[i];
    }
    return free_entry;
}

/* Trace callback: SQLITE_TRACE_STMT when statement `p` starts, and
 * SQLITE_TRACE_PROFILE when it ends. Times come from the monotonic clock:
 * the run time SQLite passes with PROFILE has a resolution of 1 ms. Runs
 * on the thread that holds the connection, so nothing here needs a lock. */
static int profile_trace(unsigned type, void *ud, void *p, void *x)
{
    (void)x;
    sqlite_profile *prof = ud;
    profile_start *start = start_of(prof, (sqlite3_stmt *)p);
    if (type == SQLITE_TRACE_STMT) {
        if (start && !start->stmt) *start = (profile_start){(sqlite3_stmt *)p, now_ns()};
        return 0;
    }
    if (!start || start->stmt != p) return 0;
    uint64_t ns = now_ns() - start->ns;
    start->stmt = NULL;
    const char *sql = sqlite3_sql((sqlite3_stmt *)p);
    profile_slot *slot = &prof->other;
    for (int i = 0; sql && i < PROFILE_SLOTS; i++) {
        if (!prof->slots[i].sql) {
            if (!(prof->slots[i].sql = strdup(sql))) break;
            slot = &prof->slots[i];
            break;
        }
        if (strcmp(prof->slots[i].sql, sql) == 0) {
            slot = &prof->slots[i];
            break;
        }
    }
    slot->ns += ns;
    slot->runs++;
    return 0;
}

sqlite_profile *sqlite_profile_attach(sqlite3 *db)
{
    const char *on = getenv("ESENGINE_SQLITE_PROFILE");
    if (!on || !*on || strcmp(on, "0") == 0) return NULL;
    sqlite_profile *prof = calloc(1, sizeof *prof);
    if (!prof) return NULL;
    sqlite3_trace_v2(db, SQLITE_TRACE_STMT | SQLITE_TRACE_PROFILE, profile_trace, prof);
    return prof;
}

static int slot_by_time_desc(const void *a, const void *b)
{
    const profile_slot *x = a, *y = b;
    return x->ns < y->ns ? 1 : x->ns > y->ns ? -1 : 0;
}

static void report_slot(const profile_slot *slot, const char *sql, uint64_t total)
{
    log_info("sqlite profile: %5.1f%% %9.3f s %9llu runs %8.2f us/run  %.100s",
             100.0 * (double)slot->ns / (double)total, (double)slot->ns / 1e9,
             (unsigned long long)slot->runs, (double)slot->ns / 1e3 / (double)slot->runs, sql);
}

void sqlite_profile_report_free(sqlite_profile *prof)
{
    if (!prof) return;
    int used = 0;
    uint64_t total = prof->other.ns;
    while (used < PROFILE_SLOTS && prof->slots[used].sql) total += prof->slots[used++].ns;
    qsort(prof->slots, (size_t)used, sizeof prof->slots[0], slot_by_time_desc);
    log_info("sqlite profile: %.3f s in statements of the shared connection", (double)total / 1e9);
    for (int i = 0; i < used && total > 0; i++)
        if (prof->slots[i].ns * 1000 >= total * PROFILE_MIN_PERMILLE)
            report_slot(&prof->slots[i], prof->slots[i].sql, total);
    if (prof->other.runs > 0) report_slot(&prof->other, "(other statements)", total);
    for (int i = 0; i < used; i++) free(prof->slots[i].sql);
    free(prof);
}
