/* sqlite_profile.h: opt-in time per SQL statement of a connection
 * (ESENGINE_SQLITE_PROFILE=1), logged at close. */
#ifndef ESENGINE_SQLITE_PROFILE_H
#define ESENGINE_SQLITE_PROFILE_H

#include <sqlite3.h>

typedef struct sqlite_profile sqlite_profile;

/* When ESENGINE_SQLITE_PROFILE is set (and not "0"), traces every statement
 * that db runs and returns the totals; else (or out of memory) NULL. db
 * must be used by one thread at a time, and must not outlive the
 * returned object unless the trace is cleared. */
sqlite_profile *sqlite_profile_attach(sqlite3 *db);

/* Logs the statements' shares of the time (largest first, at info level),
 * then frees prof. NULL is a no-op. Call after the connection is closed. */
void sqlite_profile_report_free(sqlite_profile *prof);

#endif
