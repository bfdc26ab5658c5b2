/* diag.h: the one error currency. A failing C function returns -1 (or NULL)
 * and leaves a thread-local error with a code and a message here; the caller
 * reads it, adds context, or passes it up. Modeled on Tarantool's diag_set. */
#ifndef ES_DIAG_H
#define ES_DIAG_H

typedef enum {
    DIAG_OK = 0,
    DIAG_INVALID,      /* bad input from a user: payload, flag, id (CLI exit 2, HTTP 400) */
    DIAG_NOT_FOUND,    /* unknown pipeline, command, aggregate, state (HTTP 404) */
    DIAG_CONFLICT,     /* stale lease token, duplicate name */
    DIAG_IO,           /* file system, network, server unreachable: retry later */
    DIAG_BACKEND,      /* the store answered with an error (SQL error, Redis error) */
    DIAG_SCRIPT,       /* a Lua script raised or returned the wrong shape */
    DIAG_TIMEOUT,      /* a deadline passed */
    DIAG_BUSY,         /* backpressure: queue or buffer full (HTTP 429/503) */
    DIAG_INTERNAL      /* a bug in the engine */
} diag_code;

/* Records an error for the calling thread, replacing any earlier one.
 * The message is formatted like printf and truncated to 1 KiB. */
void diag_set(diag_code code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prepends "prefix: " to the current message, keeping its code. */
void diag_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The calling thread's last error code and message ("" when none). The
 * string is owned by the thread and valid until the next diag_set. */
diag_code diag_code_get(void);
const char *diag_message(void);

/* Forgets the current error. */
void diag_clear(void);

/* A short lowercase name for a code ("invalid", "not_found", ...). */
const char *diag_code_name(diag_code code);

#endif
