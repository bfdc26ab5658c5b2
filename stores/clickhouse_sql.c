/* clickhouse_sql.c: SQL text safety (string literals, identifiers), the
 * RowBinary decoder used for every read, so values never need unescaping,
 * and the RowBinary encoder of the event log's rows. */
#include "clickhouse_internal.h"

#include "../engine/diag.h"

#include <stdlib.h>
#include <string.h>

void chsql_quote(json_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    jb_raw(b, "'", 1);
    size_t run = 0, i = 0;
    for (; s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c != '\'' && c != '\\' && c >= 0x20 && c != 0x7f) continue;
        jb_raw(b, s + run, i - run);
        if (c == '\'' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            jb_raw(b, esc, 2);
        } else {
            char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            jb_raw(b, esc, 4);
        }
        run = i + 1;
    }
    jb_raw(b, s + run, i - run);
    jb_raw(b, "'", 1);
}

int chsql_valid_name(const char *name)
{
    size_t n = 0;
    for (const char *p = name; *p; p++, n++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (n > 0 && c >= '0' && c <= '9');
        if (!ok) return 0;
    }
    return n > 0 && n <= 64;
}

int chsql_check_table(const char *table)
{
    if (chsql_valid_name(table) && strcmp(table, "events") != 0 &&
        strcmp(table, "schema_version") != 0)
        return 0;
    diag_set(DIAG_INVALID, "clickhouse: bad projection table name '%s'", table);
    return -1;
}

void chsql_table(json_buf *b, const char *db, const char *name)
{
    jb_printf(b, "`%s`.`%s`", db, name);
}

void chrows_init(ch_rows *r, const json_buf *response)
{
    r->p = (const unsigned char *)(response->data ? response->data : "");
    r->end = r->p + response->len;
    r->err = 0;
}

int chrows_more(const ch_rows *r) { return !r->err && r->p < r->end; }

uint64_t chrows_u64(ch_rows *r)
{
    if (r->end - r->p < 8) {
        r->err = 1;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | r->p[i];
    r->p += 8;
    return v;
}

uint8_t chrows_u8(ch_rows *r)
{
    if (r->p >= r->end) {
        r->err = 1;
        return 0;
    }
    return *r->p++;
}

const char *chrows_span(ch_rows *r, size_t *len)
{
    uint64_t n = 0;
    *len = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) {
            r->err = 1;
            return NULL;
        }
        unsigned char c = *r->p++;
        n |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) break;
    }
    if ((uint64_t)(r->end - r->p) < n) {
        r->err = 1;
        return NULL;
    }
    const char *s = (const char *)r->p;
    r->p += n;
    *len = (size_t)n;
    return s;
}

char *chrows_str(ch_rows *r)
{
    size_t len;
    const char *span = chrows_span(r, &len);
    if (!span) return NULL;
    char *s = malloc(len + 1);
    if (!s) {
        r->err = 1;
        return NULL;
    }
    memcpy(s, span, len);
    s[len] = '\0';
    return s;
}

void chrow_put_u64(json_buf *b, uint64_t v)
{
    char le[8];
    for (int i = 0; i < 8; i++) le[i] = (char)(v >> (8 * i));
    jb_raw(b, le, 8);
}

void chrow_put_str(json_buf *b, const char *s, size_t len)
{
    char varint[10];
    size_t n = 0;
    uint64_t v = len;
    do {
        varint[n++] = (char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    jb_raw(b, varint, n);
    jb_raw(b, s, len);
}

void chrow_put_cstr(json_buf *b, const char *s)
{
    chrow_put_str(b, s ? s : "", s ? strlen(s) : 0);
}
