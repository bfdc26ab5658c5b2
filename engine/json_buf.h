/* json_buf.h: a growable byte buffer with JSON writing helpers (string
 * escaping per RFC 8259), for CLI output, ClickHouse rows and HTTP bodies. */
#ifndef ES_JSON_BUF_H
#define ES_JSON_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct json_buf {
    char *data; /* NUL-terminated while len < cap */
    size_t len, cap;
    int oom;    /* set when an allocation failed; later writes are ignored */
} json_buf;

void jb_init(json_buf *b);
void jb_free(json_buf *b);
void jb_reset(json_buf *b);

/* Appends raw bytes / a C string / formatted text. */
void jb_raw(json_buf *b, const char *s, size_t n);
void jb_str(json_buf *b, const char *s);
void jb_printf(json_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends `s` as a quoted, escaped JSON string ("null" when s is NULL). */
void jb_quoted(json_buf *b, const char *s);
void jb_quoted_n(json_buf *b, const char *s, size_t n);

/* Append an integer in decimal (without printf: rows of every event). */
void jb_int(json_buf *b, int64_t v);
void jb_uint(json_buf *b, uint64_t v);

/* Hands the buffer to the caller (malloc'd, NUL-terminated) and resets b.
 * Returns NULL when an allocation failed along the way. */
char *jb_take(json_buf *b);

#endif
