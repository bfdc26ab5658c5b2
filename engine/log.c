/* log.c: leveled, rate-limited logging to stderr (see log.h). */
#include "log.h"
#include "clock.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define LIMIT_SLOTS 64

static log_level min_level = LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

/* One rate-limit slot per distinct key; keys are static strings so the
 * pointer identifies them. */
static struct {
    const char *key;
    int64_t window_start;
    long suppressed;
} limits[LIMIT_SLOTS];

static const char *level_name(log_level level)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    return names[level];
}

static const char *short_file(const char *file)
{
    const char *slash = strrchr(file, '/');
    return slash ? slash + 1 : file;
}

static void log_vwrite(log_level level, const char *file, int line,
                       long suppressed, const char *fmt, va_list ap)
{
    char message[2048];
    vsnprintf(message, sizeof message, fmt, ap);
    pthread_mutex_lock(&log_lock);
    if (suppressed > 0)
        fprintf(stderr, "esengine %s %s:%d: %s (%ld similar suppressed)\n",
                level_name(level), short_file(file), line, message, suppressed);
    else
        fprintf(stderr, "esengine %s %s:%d: %s\n", level_name(level),
                short_file(file), line, message);
    pthread_mutex_unlock(&log_lock);
}

void log_set_level(log_level level) { min_level = level; }

log_level log_get_level(void) { return min_level; }

int log_level_parse(const char *name)
{
    for (int i = LOG_DEBUG; i <= LOG_ERROR; i++)
        if (strcasecmp(name, level_name((log_level)i)) == 0) return i;
    return -1;
}

void log_write(log_level level, const char *file, int line, const char *fmt, ...)
{
    if (level < min_level) return;
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, file, line, 0, fmt, ap);
    va_end(ap);
}

void log_write_limited(log_level level, const char *key, int interval_ms,
                       const char *file, int line, const char *fmt, ...)
{
    if (level < min_level) return;
    int64_t now = clock_monotonic_ms();
    long suppressed = 0;
    int print = 1;
    pthread_mutex_lock(&log_lock);
    int slot = -1;
    for (int i = 0; i < LIMIT_SLOTS; i++) {
        if (limits[i].key == key || limits[i].key == NULL) {
            slot = i;
            break;
        }
    }
    if (slot >= 0) {
        if (limits[slot].key == NULL) {
            limits[slot].key = key;
            limits[slot].window_start = now;
        } else if (now - limits[slot].window_start < interval_ms) {
            limits[slot].suppressed++;
            print = 0;
        } else {
            suppressed = limits[slot].suppressed;
            limits[slot].suppressed = 0;
            limits[slot].window_start = now;
        }
    }
    pthread_mutex_unlock(&log_lock);
    if (!print) return;
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, file, line, suppressed, fmt, ap);
    va_end(ap);
}
