/* test_sqlite_waiters.c: the write-lock waiters file (stores/
 * sqlite_waiters.c): a stamp is seen through another handle, ages, and a
 * missing file answers "someone waits"; and what it is for: a write of
 * another process gets into a database whose engine writes batched units
 * without pause. */
#include "sqlite_store.h"
#include "sqlite_test_dirs.h"
#include "sqlite_waiters.h"
#include "store_conformance_helpers.h"
#include "testlib.h"

#include "clock.h"

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

/* How long the other process's write may take at most: 101-102 ms
 * measured (one batch of 100 ms). Without the engine's pause between
 * batches it failed: the busy handler, trying each millisecond, never met
 * the microseconds between a commit and the next batch's first write, and
 * gave up after 10 s. */
#define WRITE_IN_MS 1000

static void test_stamp_seen_by_other_handle(void)
{
    char *dir = test_make_dir();
    CHECK(dir != NULL);
    if (!dir) return;
    char db[512];
    snprintf(db, sizeof db, "%s/esengine.db", dir);
    sqlite_waiters *a = sqlite_waiters_open(db), *b = sqlite_waiters_open(db);
    CHECK_INT(sqlite_waiters_recent(b, 10), 0); /* nobody ever waited */
    sqlite_waiters_stamp(a);
    CHECK_INT(sqlite_waiters_recent(b, 10), 1);
    CHECK_INT(sqlite_waiters_recent(b, -1), 0); /* older than "-1 ms ago" */
    sqlite_waiters_close(a);
    sqlite_waiters_close(b);
}

static void test_missing_file_means_waiting(void)
{
    sqlite_waiters *w = sqlite_waiters_open("/nonexistent-dir/esengine.db");
    sqlite_waiters_stamp(w);
    CHECK_INT(sqlite_waiters_recent(w, 10), 1);
    sqlite_waiters_close(w);
}

/* In a child process: waits for a byte on `go`, then times one enqueue
 * through a store of its own; writes {ok, ms} to `out` and exits. */
static void child_write(const char *dir, int go, int out)
{
    char byte;
    if (read(go, &byte, 1) != 1) _exit(2);
    int64_t t0 = clock_monotonic_ms();
    es_store *s = sqlite_store_open(dir);
    int64_t now = clock_now_ms();
    int ok = s && conformance_enqueue1(s, conformance_job("x1", "gX", "p", now), now) == 0;
    int64_t result[2] = {ok, clock_monotonic_ms() - t0};
    if (s) s->ops->close(s);
    _exit(write(out, result, sizeof result) == sizeof result ? 0 : 3);
}

static void test_other_process_gets_in(void)
{
    char *dir = test_make_dir();
    es_store *s = dir ? sqlite_store_open(dir) : NULL;
    CHECK(s != NULL);
    if (!s) return;
    int go[2], out[2];
    CHECK(pipe(go) == 0 && pipe(out) == 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) child_write(dir, go[0], out[1]);
    CHECK(pid > 0);
    CHECK(write(go[1], "g", 1) == 1);
    /* write batched units of 1 ms (batches end on time, as under load)
     * back to back until the child has written */
    struct pollfd p = {out[0], POLLIN, 0};
    int64_t deadline = clock_monotonic_ms() + 15000; /* past the busy timeout */
    int64_t units = 0;
    while (poll(&p, 1, 0) == 0 && clock_monotonic_ms() < deadline) {
        CHECK_INT(s->ops->tx_begin(s), 0);
        CHECK_INT(s->ops->fold_put(s, "t1", "f", "k", "{}", ++units, CONF_T0), 0);
        clock_sleep_ms(1);
        CHECK_INT(s->ops->tx_commit_batched(s), 0);
    }
    int64_t result[2] = {0, -1};
    CHECK(read(out[0], result, sizeof result) == sizeof result);
    CHECK_INT(result[0], 1);
    CHECK(result[1] >= 0 && result[1] < WRITE_IN_MS);
    fprintf(stderr, "  other process wrote in %lld ms (%lld units meanwhile)\n",
            (long long)result[1], (long long)units);
    int status = -1;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(go[0]);
    close(go[1]);
    close(out[0]);
    close(out[1]);
    s->ops->close(s);
}

int main(void)
{
    RUN_TEST(test_stamp_seen_by_other_handle);
    RUN_TEST(test_missing_file_means_waiting);
    RUN_TEST(test_other_process_gets_in);
    test_remove_dirs();
    return TEST_EXIT();
}
