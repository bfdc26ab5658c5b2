/* sqlite_waiters.c: see sqlite_waiters.h. The file holds one int64: the
 * CLOCK_MONOTONIC millisecond of the latest stamp, a clock every process
 * of the machine shares (SQLite's WAL mode needs them on one machine
 * anyway). An 8-byte pwrite at offset 0 is read whole or not at all. */
#include "sqlite_waiters.h"

#include "clock.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct sqlite_waiters {
    int fd; /* -1: no file */
};

sqlite_waiters *sqlite_waiters_open(const char *db_path)
{
    static sqlite_waiters none = {-1};
    sqlite_waiters *w = malloc(sizeof *w);
    char path[4096];
    if (!w || snprintf(path, sizeof path, "%s-waiters", db_path) >= (int)sizeof path) {
        free(w);
        return &none;
    }
    w->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        free(w);
        return &none;
    }
    return w;
}

void sqlite_waiters_stamp(sqlite_waiters *w)
{
    if (w->fd < 0) return;
    int64_t now = clock_monotonic_ms();
    if (pwrite(w->fd, &now, sizeof now, 0) != (ssize_t)sizeof now) return;
}

int sqlite_waiters_recent(sqlite_waiters *w, int64_t within_ms)
{
    if (w->fd < 0) return 1;
    int64_t stamp = 0;
    if (pread(w->fd, &stamp, sizeof stamp, 0) != (ssize_t)sizeof stamp) return 0;
    return clock_monotonic_ms() - stamp <= within_ms;
}

void sqlite_waiters_close(sqlite_waiters *w)
{
    if (!w || w->fd < 0) return;
    close(w->fd);
    free(w);
}
