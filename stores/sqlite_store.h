/* sqlite_store.h: the embedded backend: event log, durable group queue, fold
 * states and map records in one SQLite database (WAL) under a data dir. */
#ifndef ES_SQLITE_STORE_H
#define ES_SQLITE_STORE_H

#include "store.h"

/* Opens (creating when missing) the directory `data_dir` and the database
 * `<data_dir>/esengine.db`, and creates the schema if needed. The store
 * implements all four kinds of store.h; every kind shares the calling
 * thread's connection, so tx_begin..tx_commit makes one atomic unit of
 * events, jobs, claim completion, fold states and records. Several
 * processes may open the same directory at once. Returns a store owned by
 * the caller (release with ops->close), or NULL with a diag set (DIAG_IO
 * for the directory or file, DIAG_BACKEND for SQL errors). */
es_store *sqlite_store_open(const char *data_dir);

/* Sets after how many new WAL frames a commit asks for a checkpoint, and
 * past how many WAL frames the checkpointer finishes one holding the
 * write lock so that the WAL rewinds (defaults 4,096 and 131,072), so
 * that tests reach them with a few megabytes. */
void sqlite_store_set_checkpoint_frames(es_store *s, int soft_frames, int hard_frames);

#endif
