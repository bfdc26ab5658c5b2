/* diag.c: thread-local last error (see diag.h). */
#include "diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define DIAG_MESSAGE_MAX 1024

static _Thread_local diag_code current_code;
static _Thread_local char current_message[DIAG_MESSAGE_MAX];

void diag_set(diag_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(current_message, sizeof current_message, fmt, ap);
    va_end(ap);
    current_code = code;
}

void diag_prefix(const char *fmt, ...)
{
    char prefix[DIAG_MESSAGE_MAX];
    char joined[2 * DIAG_MESSAGE_MAX + 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    snprintf(joined, sizeof joined, "%s: %s", prefix, current_message);
    memcpy(current_message, joined, sizeof current_message - 1);
    current_message[sizeof current_message - 1] = '\0';
}

diag_code diag_code_get(void) { return current_code; }

const char *diag_message(void) { return current_message; }

void diag_clear(void)
{
    current_code = DIAG_OK;
    current_message[0] = '\0';
}

const char *diag_code_name(diag_code code)
{
    static const char *const names[] = {
        "ok", "invalid", "not_found", "conflict", "io", "backend",
        "script", "timeout", "busy", "internal",
    };
    if ((unsigned)code >= sizeof names / sizeof names[0]) return "unknown";
    return names[code];
}
