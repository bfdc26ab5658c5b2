/* sqlite_walbuf.h: a SQLite VFS that writes a transaction's WAL frames in
 * large writes instead of two system calls per frame. */
#ifndef ES_SQLITE_WALBUF_H
#define ES_SQLITE_WALBUF_H

/* The name of the VFS to pass to sqlite3_open_v2, registered (not as the
 * default) on the first call; NULL when registering failed. It wraps the
 * default VFS: every file passes through unchanged except a WAL file, whose
 * appended frames are gathered in memory and written when the commit frame
 * is complete, before anything else touches the file, or when the buffer
 * fills. A commit therefore returns only once its frames are in the file
 * (a failed write fails the commit), and readers never see a frame the
 * file does not hold. Durability is the default VFS's: nothing is synced
 * that synchronous= would not sync. Thread-safe. */
const char *sqlite_walbuf_vfs(void);

#endif
