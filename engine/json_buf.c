/* json_buf.c: growable buffer with JSON escaping (see json_buf.h). */
#include "json_buf.h"
#include "text_format.h"

#include <stdarg.h>
#include <stdint.h>
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

/* Formats into a stack buffer first: most calls write a few numbers, and
 * measuring with a first vsnprintf doubled their cost. */
void jb_printf(json_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        jb_raw(b, small, (size_t)n);
        return;
    }
    if (jb_reserve(b, (size_t)n) != 0) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Room for the worst case (every byte a 6-byte \u00XX) is reserved once,
 * then runs of plain bytes are copied and escapes written in place: rows of
 * JSON payloads quoted as strings escape every '"' they hold. */
void jb_quoted_n(json_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (n > (SIZE_MAX - 3) / 6 || jb_reserve(b, 6 * n + 2) != 0) return;
    char *out = b->data + b->len;
    *out++ = '"';
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        memcpy(out, s + run, i - run);
        out += i - run;
        run = i + 1;
        *out++ = '\\';
        switch (c) {
        case '"': *out++ = '"'; break;
        case '\\': *out++ = '\\'; break;
        case '\n': *out++ = 'n'; break;
        case '\r': *out++ = 'r'; break;
        case '\t': *out++ = 't'; break;
        case '\b': *out++ = 'b'; break;
        case '\f': *out++ = 'f'; break;
        default:
            memcpy(out, "u00", 3);
            out[3] = hex[c >> 4];
            out[4] = hex[c & 15];
            out += 5;
        }
    }
    memcpy(out, s + run, n - run);
    out += n - run;
    *out++ = '"';
    *out = '\0';
    b->len = (size_t)(out - b->data);
}

void jb_quoted(json_buf *b, const char *s)
{
    if (!s) jb_str(b, "null");
    else jb_quoted_n(b, s, strlen(s));
}

/* Digits by hand: printf's machinery cost more than the row text around
 * the numbers of an event row. */
void jb_int(json_buf *b, int64_t v)
{
    char digits[24];
    jb_raw(b, digits, text_decimal(digits, v));
}

void jb_uint(json_buf *b, uint64_t v)
{
    char digits[24];
    jb_raw(b, digits, text_decimal_u(digits, v));
}

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
