/* sqlite_waiters.h: whether another connection, of any process, waits for
 * the database's write lock. A connection whose write meets the lock
 * stamps the time into the file DB-waiters (its busy handler, every
 * millisecond while it waits); an engine ending a batch of units leaves
 * the lock free for a moment only when a stamp is fresh (sqlite_units.c),
 * instead of after every batch. */
#ifndef ES_SQLITE_WAITERS_H
#define ES_SQLITE_WAITERS_H

#include <stdint.h>

typedef struct sqlite_waiters sqlite_waiters;

/* Opens (creating it) the waiters file of the database at db_path. Never
 * fails: without the file (read-only directory, out of memory) every
 * question answers "someone waits", the safe side. Free with
 * sqlite_waiters_close. */
sqlite_waiters *sqlite_waiters_open(const char *db_path);

/* Records that this connection waits for the write lock now. Called from
 * SQLite's busy handler: no allocation, one write system call. */
void sqlite_waiters_stamp(sqlite_waiters *w);

/* 1 when a connection stamped within the last within_ms milliseconds (or
 * the file is missing), else 0. */
int sqlite_waiters_recent(sqlite_waiters *w, int64_t within_ms);

/* Closes the file and frees w. NULL is a no-op. */
void sqlite_waiters_close(sqlite_waiters *w);

#endif
