/* sqlite_walbuf.c: the "esengine-walbuf" VFS (sqlite_walbuf.h). SQLite
 * writes each WAL frame as two pwrite calls (its 24-byte header, then the
 * page), so a commit of 800 pages made 1,600 system calls: ~20% of the
 * embedded writer's time in bench/embedded (ESENGINE_SQLITE_PROFILE's
 * COMMIT line). Here the frames a connection appends are copied into a
 * buffer and written in runs of up to WALBUF_CAP bytes (31 frames).
 *
 * When the buffer is written: when the page of a commit frame (a frame
 * header whose "database size" field is non-zero) has been appended, so
 * the commit's last write reports any error and SQLite fails the commit
 * and publishes nothing; before any other operation on the WAL file
 * (a read, a write that is not an append, truncate, sync, size, close);
 * before a barrier or lock on the database's shared memory (where SQLite
 * publishes frames to other connections); and when it is full. Between
 * two of those points only appends happen, in file order. */
#include "sqlite_walbuf.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WALBUF_VFS_NAME "esengine-walbuf"
/* The unix VFS takes at most 128 KiB - 1 per write (it masks the length
 * with 0x1ffff): 31 frames of a 4 KiB page. */
#define WALBUF_CAP 0x1ffff
#define WAL_FRAME_HEADER 24

typedef struct walbuf_file walbuf_file;
struct walbuf_file {
    sqlite3_file base;  /* pMethods: walbuf_io */
    sqlite3_file *real; /* the default VFS's file, stored after this struct */
    int is_wal;
    walbuf_file *wal;   /* a database file: its connection's WAL, when open */
    walbuf_file *db;    /* a WAL file: its database file */
    unsigned char *buf; /* pending bytes [off, off + len) of the file */
    size_t len;
    sqlite3_int64 off;
    int commit_page_next; /* the next append is a commit frame's page */
};

static sqlite3_vfs *real_vfs;
static sqlite3_vfs walbuf_vfs;
static sqlite3_io_methods walbuf_io;
static pthread_once_t walbuf_once = PTHREAD_ONCE_INIT;
static int walbuf_registered;

/* Writes the pending bytes; SQLITE_OK when there were none. They are
 * dropped when the write fails: pending bytes are always frames of the
 * open write transaction (a commit's are written before it returns), and
 * the error fails that transaction, which SQLite then rolls back. */
static int walbuf_flush(walbuf_file *f)
{
    if (f->len == 0) return SQLITE_OK;
    int rc = f->real->pMethods->xWrite(f->real, f->buf, (int)f->len, f->off);
    f->len = 0;
    return rc;
}

static int walbuf_close(sqlite3_file *file)
{
    walbuf_file *f = (walbuf_file *)file;
    int rc = walbuf_flush(f);
    if (f->db) f->db->wal = NULL;
    if (f->wal) f->wal->db = NULL;
    free(f->buf);
    f->buf = NULL;
    int rc2 = f->real->pMethods->xClose(f->real);
    return rc != SQLITE_OK ? rc : rc2;
}

static int walbuf_read(sqlite3_file *file, void *out, int n, sqlite3_int64 off)
{
    walbuf_file *f = (walbuf_file *)file;
    int rc = walbuf_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xRead(f->real, out, n, off);
}

/* True for a WAL frame header that closes a transaction: its second field,
 * the database size after the commit, is non-zero only there. */
static int is_commit_frame_header(const void *data, int n)
{
    const unsigned char *h = data;
    return n == WAL_FRAME_HEADER && (h[4] | h[5] | h[6] | h[7]) != 0;
}

/* A WAL write continuing the pending run joins it; any other writes the
 * run first, then starts a new one (or goes to the file directly: a commit
 * frame's page that did not continue the run, or a write as large as the
 * buffer). A commit frame's page ends the run: written now. */
static int walbuf_write(sqlite3_file *file, const void *data, int n, sqlite3_int64 off)
{
    walbuf_file *f = (walbuf_file *)file;
    if (!f->is_wal) return f->real->pMethods->xWrite(f->real, data, n, off);
    int append = f->len > 0 && off == f->off + (sqlite3_int64)f->len && f->len + (size_t)n <= WALBUF_CAP;
    if (!append) {
        int rc = walbuf_flush(f);
        if (rc != SQLITE_OK) return rc;
        if (!f->buf) f->buf = malloc(WALBUF_CAP);
        if (!f->buf || (size_t)n >= WALBUF_CAP || f->commit_page_next) {
            f->commit_page_next = 0;
            return f->real->pMethods->xWrite(f->real, data, n, off);
        }
        f->off = off;
    }
    memcpy(f->buf + f->len, data, (size_t)n);
    f->len += (size_t)n;
    if (f->commit_page_next) {
        f->commit_page_next = 0;
        return walbuf_flush(f);
    }
    f->commit_page_next = is_commit_frame_header(data, n);
    return SQLITE_OK;
}

static int walbuf_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    walbuf_file *f = (walbuf_file *)file;
    int rc = walbuf_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int walbuf_sync(sqlite3_file *file, int flags)
{
    walbuf_file *f = (walbuf_file *)file;
    int rc = walbuf_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int walbuf_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    walbuf_file *f = (walbuf_file *)file;
    int rc = walbuf_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int walbuf_lock(sqlite3_file *file, int level)
{
    walbuf_file *f = (walbuf_file *)file;
    return f->real->pMethods->xLock(f->real, level);
}

static int walbuf_unlock(sqlite3_file *file, int level)
{
    walbuf_file *f = (walbuf_file *)file;
    return f->real->pMethods->xUnlock(f->real, level);
}

static int walbuf_check_reserved(sqlite3_file *file, int *out)
{
    walbuf_file *f = (walbuf_file *)file;
    return f->real->pMethods->xCheckReservedLock(f->real, out);
}

/* Passes file controls on; SQLITE_FCNTL_VFSNAME answers this VFS's name
 * before the wrapped one's, as SQLite asks of shims. */
static int walbuf_file_control(sqlite3_file *file, int op, void *arg)
{
    walbuf_file *f = (walbuf_file *)file;
    int rc = walbuf_flush(f);
    if (rc != SQLITE_OK) return rc;
    rc = f->real->pMethods->xFileControl(f->real, op, arg);
    if (op == SQLITE_FCNTL_VFSNAME) {
        char **name = arg;
        *name = *name ? sqlite3_mprintf("%s/%z", WALBUF_VFS_NAME, *name)
                      : sqlite3_mprintf("%s", WALBUF_VFS_NAME);
        rc = SQLITE_OK;
    }
    return rc;
}

static int walbuf_sector_size(sqlite3_file *file)
{
    walbuf_file *f = (walbuf_file *)file;
    return f->real->pMethods->xSectorSize(f->real);
}

static int walbuf_device_characteristics(sqlite3_file *file)
{
    walbuf_file *f = (walbuf_file *)file;
    return f->real->pMethods->xDeviceCharacteristics(f->real);
}

/* Writes what the connection's WAL holds back before SQLite touches the
 * shared memory through which other connections learn of new frames. A
 * commit's frames are already written (walbuf_write); this catches any
 * other order. No error can be returned from a barrier: a write failing
 * there would publish frames the file lacks, so the process stops. */
static void walbuf_publish(walbuf_file *db)
{
    if (!db->wal) return;
    db->wal->commit_page_next = 0;
    int rc = walbuf_flush(db->wal);
    if (rc == SQLITE_OK) return;
    fprintf(stderr, "esengine: writing the SQLite WAL failed before publishing a commit: %s\n",
            sqlite3_errstr(rc));
    abort();
}

static int walbuf_shm_map(sqlite3_file *file, int region, int size, int extend,
                          void volatile **out)
{
    walbuf_file *f = (walbuf_file *)file;
    return f->real->pMethods->xShmMap(f->real, region, size, extend, out);
}

static int walbuf_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
    walbuf_file *f = (walbuf_file *)file;
    walbuf_publish(f);
    return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

static void walbuf_shm_barrier(sqlite3_file *file)
{
    walbuf_file *f = (walbuf_file *)file;
    walbuf_publish(f);
    f->real->pMethods->xShmBarrier(f->real);
}

static int walbuf_shm_unmap(sqlite3_file *file, int delete_flag)
{
    walbuf_file *f = (walbuf_file *)file;
    return f->real->pMethods->xShmUnmap(f->real, delete_flag);
}

static int walbuf_fetch(sqlite3_file *file, sqlite3_int64 off, int n, void **out)
{
    walbuf_file *f = (walbuf_file *)file;
    return f->real->pMethods->xFetch(f->real, off, n, out);
}

static int walbuf_unfetch(sqlite3_file *file, sqlite3_int64 off, void *p)
{
    walbuf_file *f = (walbuf_file *)file;
    return f->real->pMethods->xUnfetch(f->real, off, p);
}

static int walbuf_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                       int *out_flags)
{
    (void)vfs;
    walbuf_file *f = (walbuf_file *)file;
    memset(f, 0, sizeof *f);
    f->real = (sqlite3_file *)(f + 1);
    int rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
    if (!f->real->pMethods) return rc; /* nothing to close: base.pMethods stays NULL */
    f->base.pMethods = &walbuf_io;
    if (rc == SQLITE_OK && (flags & SQLITE_OPEN_WAL) && name) {
        f->is_wal = 1;
        f->db = (walbuf_file *)sqlite3_database_file_object(name);
        if (f->db->base.pMethods == &walbuf_io) f->db->wal = f;
        else f->db = NULL;
    }
    return rc;
}

/* ---- the rest of the VFS is the default one's */

static int walbuf_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    (void)vfs;
    return real_vfs->xDelete(real_vfs, name, sync_dir);
}

static int walbuf_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    (void)vfs;
    return real_vfs->xAccess(real_vfs, name, flags, out);
}

static int walbuf_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    (void)vfs;
    return real_vfs->xFullPathname(real_vfs, name, n, out);
}

static void *walbuf_dl_open(sqlite3_vfs *vfs, const char *name)
{
    (void)vfs;
    return real_vfs->xDlOpen(real_vfs, name);
}

static void walbuf_dl_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    real_vfs->xDlError(real_vfs, n, out);
}

static void (*walbuf_dl_sym(sqlite3_vfs *vfs, void *lib, const char *sym))(void)
{
    (void)vfs;
    return real_vfs->xDlSym(real_vfs, lib, sym);
}

static void walbuf_dl_close(sqlite3_vfs *vfs, void *lib)
{
    (void)vfs;
    real_vfs->xDlClose(real_vfs, lib);
}

static int walbuf_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return real_vfs->xRandomness(real_vfs, n, out);
}

static int walbuf_sleep(sqlite3_vfs *vfs, int us)
{
    (void)vfs;
    return real_vfs->xSleep(real_vfs, us);
}

static int walbuf_current_time(sqlite3_vfs *vfs, double *out)
{
    (void)vfs;
    return real_vfs->xCurrentTime(real_vfs, out);
}

static int walbuf_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return real_vfs->xGetLastError(real_vfs, n, out);
}

static int walbuf_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    (void)vfs;
    return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

static void walbuf_register(void)
{
    real_vfs = sqlite3_vfs_find(NULL);
    if (!real_vfs || real_vfs->iVersion < 2) return;
    walbuf_io = (sqlite3_io_methods){
        .iVersion = 3,
        .xClose = walbuf_close,
        .xRead = walbuf_read,
        .xWrite = walbuf_write,
        .xTruncate = walbuf_truncate,
        .xSync = walbuf_sync,
        .xFileSize = walbuf_file_size,
        .xLock = walbuf_lock,
        .xUnlock = walbuf_unlock,
        .xCheckReservedLock = walbuf_check_reserved,
        .xFileControl = walbuf_file_control,
        .xSectorSize = walbuf_sector_size,
        .xDeviceCharacteristics = walbuf_device_characteristics,
        .xShmMap = walbuf_shm_map,
        .xShmLock = walbuf_shm_lock,
        .xShmBarrier = walbuf_shm_barrier,
        .xShmUnmap = walbuf_shm_unmap,
        .xFetch = walbuf_fetch,
        .xUnfetch = walbuf_unfetch,
    };
    walbuf_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(walbuf_file) + real_vfs->szOsFile,
        .mxPathname = real_vfs->mxPathname,
        .zName = WALBUF_VFS_NAME,
        .xOpen = walbuf_open,
        .xDelete = walbuf_delete,
        .xAccess = walbuf_access,
        .xFullPathname = walbuf_full_pathname,
        .xDlOpen = walbuf_dl_open,
        .xDlError = walbuf_dl_error,
        .xDlSym = walbuf_dl_sym,
        .xDlClose = walbuf_dl_close,
        .xRandomness = walbuf_randomness,
        .xSleep = walbuf_sleep,
        .xCurrentTime = walbuf_current_time,
        .xGetLastError = walbuf_last_error,
        .xCurrentTimeInt64 = walbuf_current_time64,
    };
    walbuf_registered = sqlite3_vfs_register(&walbuf_vfs, 0) == SQLITE_OK;
}

const char *sqlite_walbuf_vfs(void)
{
    pthread_once(&walbuf_once, walbuf_register);
    return walbuf_registered ? WALBUF_VFS_NAME : NULL;
}
