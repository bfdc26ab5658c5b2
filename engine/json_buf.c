/* json_buf.c: growable buffer with JSON escaping (see json_buf.h). */
#include "json_buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int jb_reserve(json_buf *b, size_t extra)
{
    if (b->oom) return -1;
    if (b->len + extra + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data) {
        b->oom = 1;
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

void jb_init(json_buf *b) { memset(b, 0, sizeof *b); }

void jb_free(json_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void jb_reset(json_buf *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

void jb_raw(json_buf *b, const char *s, size_t n)
{
    if (jb_reserve(b, n) != 0) return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void jb_str(json_buf *b, const char *s) { jb_raw(b, s, strlen(s)); }

void jb_printf(json_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || jb_reserve(b, (size_t)n) != 0) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void jb_quoted_n(json_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (jb_reserve(b, n + 2) != 0) return;
    jb_raw(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[6];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (c < 0x20) {
                u[0] = '\\'; u[1] = 'u'; u[2] = '0'; u[3] = '0';
                u[4] = hex[c >> 4]; u[5] = hex[c & 15];
            }
        }
        if (!esc && c >= 0x20) continue;
        jb_raw(b, s + run, i - run);
        if (esc) jb_str(b, esc);
        else jb_raw(b, u, 6);
        run = i + 1;
    }
    jb_raw(b, s + run, n - run);
    jb_raw(b, "\"", 1);
}

void jb_quoted(json_buf *b, const char *s)
{
    if (!s) jb_str(b, "null");
    else jb_quoted_n(b, s, strlen(s));
}

void jb_int(json_buf *b, int64_t v) { jb_printf(b, "%lld", (long long)v); }

char *jb_take(json_buf *b)
{
    if (b->oom) {
        jb_free(b);
        return NULL;
    }
    if (!b->data) jb_raw(b, "", 0);
    char *out = b->data;
    memset(b, 0, sizeof *b);
    return out;
}
