/* test_sqlite_walbuf.c: the buffered-WAL VFS (stores/sqlite_walbuf.c): a
 * commit is in the file when it returns, for another connection and after
 * a crash; a transaction that spills and rewrites pages stays intact; a
 * failed WAL write fails the commit instead of publishing it. */
#include "sqlite_test_dirs.h"
#include "sqlite_walbuf.h"
#include "testlib.h"

#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROW_BYTES 3000

/* A connection to DIR/db in WAL mode through `vfs` (NULL: the default). */
static sqlite3 *open_db(const char *dir, const char *vfs)
{
    char path[256];
    snprintf(path, sizeof path, "%s/db", dir);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                         "PRAGMA wal_autocheckpoint=0;"
                         "CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)",
                     NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

/* Inserts rows [from, from + n) of ROW_BYTES each in one transaction;
 * the SQLite result code of its COMMIT (or of the first failing step). */
static int insert_tx(sqlite3 *db, int from, int n)
{
    int rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    sqlite3_stmt *st = NULL;
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "INSERT INTO t (k, v) VALUES (?1, zeroblob(?2))", -1, &st, NULL);
    for (int i = 0; i < n && rc == SQLITE_OK; i++) {
        sqlite3_bind_int(st, 1, from + i);
        sqlite3_bind_int(st, 2, ROW_BYTES);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* The integer result of `sql` on db; -1 on error. */
static long long query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* True when PRAGMA integrity_check answers ok. */
static int intact(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int ok = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
             sqlite3_step(st) == SQLITE_ROW &&
             strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
    sqlite3_finalize(st);
    return ok;
}

static void test_vfs_registered(void)
{
    const char *name = sqlite_walbuf_vfs();
    CHECK(name != NULL);
    CHECK(name && sqlite3_vfs_find(name) != NULL);
    CHECK(sqlite3_vfs_find(NULL) != sqlite3_vfs_find(name)); /* not made the default */
    CHECK_STR(sqlite_walbuf_vfs(), name);
}

/* Each commit (many frames, more than one buffer's worth) is read in full
 * by a connection of the default VFS right after it returns. */
static void test_commit_visible_to_other_connection(void)
{
    char *dir = test_make_dir();
    sqlite3 *w = dir ? open_db(dir, sqlite_walbuf_vfs()) : NULL;
    sqlite3 *r = dir ? open_db(dir, NULL) : NULL;
    CHECK(w && r);
    if (!w || !r) goto out;
    for (int tx = 0; tx < 40; tx++) {
        CHECK_INT(insert_tx(w, tx * 50, 50), SQLITE_OK);
        CHECK_INT(query_int(r, "SELECT count(*) FROM t"), (tx + 1) * 50);
        CHECK_INT(query_int(r, "SELECT sum(length(v)) FROM t"), (long long)(tx + 1) * 50 * ROW_BYTES);
    }
    CHECK(intact(r));
out:
    sqlite3_close(w);
    sqlite3_close(r);
}

/* A transaction larger than the page cache spills pages into the WAL,
 * reads them back and writes some again before its commit. */
static void test_spilling_transaction(void)
{
    char *dir = test_make_dir();
    sqlite3 *w = dir ? open_db(dir, sqlite_walbuf_vfs()) : NULL;
    CHECK(w != NULL);
    if (!w) return;
    CHECK_INT(sqlite3_exec(w, "PRAGMA cache_size=20", NULL, NULL, NULL), SQLITE_OK);
    CHECK_INT(sqlite3_exec(w, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    CHECK_INT(sqlite3_exec(w,
                           "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)"
                           " INSERT INTO t (k, v) SELECT i, randomblob(900) FROM n;"
                           "UPDATE t SET v = zeroblob(700) WHERE k % 3 = 0;"
                           "DELETE FROM t WHERE k % 5 = 0;",
                           NULL, NULL, NULL),
              SQLITE_OK);
    CHECK_INT(sqlite3_exec(w, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(w);
    sqlite3 *r = open_db(dir, NULL);
    CHECK(r != NULL);
    if (!r) return;
    CHECK_INT(query_int(r, "SELECT count(*) FROM t"), 2400);
    CHECK_INT(query_int(r, "SELECT count(*) FROM t WHERE length(v) = 700"), 800);
    CHECK(intact(r));
    sqlite3_close(r);
}

/* A process that dies without closing (as kill -9) leaves every commit it
 * returned from, and none of its open transaction. */
static void test_crash_keeps_commits(void)
{
    char *dir = test_make_dir();
    CHECK(dir != NULL);
    if (!dir) return;
    pid_t pid = fork();
    if (pid == 0) {
        sqlite3 *w = open_db(dir, sqlite_walbuf_vfs());
        int rc = w ? SQLITE_OK : SQLITE_ERROR;
        for (int tx = 0; tx < 30 && rc == SQLITE_OK; tx++) rc = insert_tx(w, tx * 40, 40);
        if (rc == SQLITE_OK) rc = sqlite3_exec(w, "BEGIN; INSERT INTO t (k, v) VALUES (-1, x'00')",
                                               NULL, NULL, NULL);
        _exit(rc == SQLITE_OK ? 0 : 1);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    sqlite3 *r = open_db(dir, NULL);
    CHECK(r != NULL);
    if (!r) return;
    CHECK_INT(query_int(r, "SELECT count(*) FROM t"), 30 * 40);
    CHECK_INT(query_int(r, "SELECT count(*) FROM t WHERE k = -1"), 0);
    CHECK(intact(r));
    sqlite3_close(r);
}

/* With the file size capped, a commit whose frames cannot be written fails
 * (the process does not abort, the WAL holds no half commit), and every
 * commit that succeeded before it is read back afterwards. */
static void test_write_error_fails_commit(void)
{
    char *dir = test_make_dir();
    int fds[2];
    CHECK(dir != NULL && pipe(fds) == 0);
    if (!dir) return;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        signal(SIGXFSZ, SIG_IGN);
        sqlite3 *w = open_db(dir, sqlite_walbuf_vfs());
        struct rlimit lim = {2 << 20, 2 << 20};
        int done = 0, rc = w && setrlimit(RLIMIT_FSIZE, &lim) == 0 ? SQLITE_OK : SQLITE_ERROR;
        while (rc == SQLITE_OK && done < 1000) {
            rc = insert_tx(w, done * 30, 30);
            if (rc == SQLITE_OK) done++;
        }
        /* the connection stays usable: a small read still works */
        long long n = query_int(w, "SELECT count(*) FROM t");
        int out[2] = {done, (int)n};
        _exit(write(fds[1], out, sizeof out) == sizeof out && rc != SQLITE_OK ? 0 : 1);
    }
    close(fds[1]);
    int got[2] = {-1, -1}, status = 0;
    CHECK(read(fds[0], got, sizeof got) == sizeof got);
    close(fds[0]);
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0); /* not killed by abort() */
    CHECK(got[0] > 0 && got[0] < 1000);
    CHECK_INT(got[1], got[0] * 30);
    sqlite3 *r = open_db(dir, NULL);
    CHECK(r != NULL);
    if (!r) return;
    CHECK_INT(query_int(r, "SELECT count(*) FROM t"), got[0] * 30);
    CHECK(intact(r));
    sqlite3_close(r);
}

int main(void)
{
    RUN_TEST(test_vfs_registered);
    RUN_TEST(test_commit_visible_to_other_connection);
    RUN_TEST(test_spilling_transaction);
    RUN_TEST(test_crash_keeps_commits);
    RUN_TEST(test_write_error_fails_commit);
    test_remove_dirs();
    return TEST_EXIT();
}
