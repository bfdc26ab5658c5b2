/* log.h: leveled logging to stderr with file:line, and a rate-limited form
 * for errors that can repeat per event or per batch. */
#ifndef ES_LOG_H
#define ES_LOG_H

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/* Sets the lowest level printed (default LOG_INFO; ESENGINE_LOG_LEVEL). */
void log_set_level(log_level level);
log_level log_get_level(void);

/* Parses "debug", "info", "warn", "error"; returns -1 for anything else. */
int log_level_parse(const char *name);

void log_write(log_level level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Like log_write, but prints at most one line per `key` per `interval_ms`,
 * adding how many were suppressed. `key` is a static string identifying the
 * call site or the error kind. */
void log_write_limited(log_level level, const char *key, int interval_ms,
                       const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

#define log_debug(...) log_write(LOG_DEBUG, __FILE__, __LINE__, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, __FILE__, __LINE__, __VA_ARGS__)
#define log_error_limited(key, ...) \
    log_write_limited(LOG_ERROR, key, 5000, __FILE__, __LINE__, __VA_ARGS__)
#define log_warn_limited(key, ...) \
    log_write_limited(LOG_WARN, key, 5000, __FILE__, __LINE__, __VA_ARGS__)

#endif
