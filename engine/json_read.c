/* json_read.c: the small JSON reader (see json_read.h). */
#include "json_read.h"
#include "diag.h"
#include "json_buf.h"
#include "text_format.h"

#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 200

typedef struct reader {
    const char *s;
    size_t pos;
    int depth;
} reader;

static int fail(reader *r, const char *what)
{
    diag_set(DIAG_INVALID, "JSON: %s at offset %zu", what, r->pos);
    return -1;
}

static void skip_ws(reader *r)
{
    while (r->s[r->pos] == ' ' || r->s[r->pos] == '\t' || r->s[r->pos] == '\n' ||
           r->s[r->pos] == '\r')
        r->pos++;
}

static void put_utf8(json_buf *b, unsigned cp)
{
    char out[4];
    jb_raw(b, out, text_utf8(out, cp));
}

static int hex4(reader *r, unsigned *cp)
{
    *cp = 0;
    for (int i = 0; i < 4; i++) {
        char c = r->s[r->pos++];
        unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                            : 16;
        if (d == 16) return fail(r, "bad \\u escape");
        *cp = *cp * 16 + d;
    }
    return 0;
}

/* Reads a string at r->pos (on the opening quote) into *out (malloc'd). */
static int read_string(reader *r, char **out)
{
    json_buf b;
    jb_init(&b);
    r->pos++;
    for (;;) {
        char c = r->s[r->pos];
        if (c == '\0') {
            jb_free(&b);
            return fail(r, "unterminated string");
        }
        r->pos++;
        if (c == '"') break;
        if (c != '\\') {
            jb_raw(&b, &c, 1);
            continue;
        }
        char e = r->s[r->pos++];
        const char *plain = strchr("\"\\/bfnrt", e);
        if (e && plain) {
            static const char map[] = "\"\\/\b\f\n\r\t";
            jb_raw(&b, &map[plain - "\"\\/bfnrt"], 1);
        } else if (e == 'u') {
            unsigned cp, lo;
            if (hex4(r, &cp) != 0) goto bad;
            if (cp >= 0xD800 && cp < 0xDC00 && r->s[r->pos] == '\\' && r->s[r->pos + 1] == 'u') {
                r->pos += 2;
                if (hex4(r, &lo) != 0) goto bad;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            put_utf8(&b, cp);
        } else {
            fail(r, "bad escape");
            goto bad;
        }
    }
    *out = jb_take(&b);
    if (!*out) {
        diag_set(DIAG_INTERNAL, "out of memory reading JSON");
        return -1;
    }
    return 0;
bad:
    jb_free(&b);
    return -1;
}

static int read_value(reader *r, jv *out);

/* Appends one element (and key) to an array or object being read. */
static int push_item(jv *v, char *key, jv *item)
{
    jv *items = realloc(v->items, (v->n + 1) * sizeof *items);
    if (!items) goto oom;
    v->items = items;
    if (v->type == JV_OBJECT) {
        char **keys = realloc(v->keys, (v->n + 1) * sizeof *keys);
        if (!keys) goto oom;
        v->keys = keys;
        keys[v->n] = key;
    }
    items[v->n++] = *item;
    return 0;
oom:
    free(key);
    json_value_free(item);
    diag_set(DIAG_INTERNAL, "out of memory reading JSON");
    return -1;
}

static int read_container(reader *r, jv *out, char close)
{
    if (++r->depth > JSON_MAX_DEPTH) return fail(r, "too deeply nested");
    r->pos++;
    skip_ws(r);
    if (r->s[r->pos] == close) {
        r->pos++;
        r->depth--;
        return 0;
    }
    for (;;) {
        char *key = NULL;
        skip_ws(r);
        if (close == '}') {
            if (r->s[r->pos] != '"') return fail(r, "expected a key");
            if (read_string(r, &key) != 0) return -1;
            skip_ws(r);
            if (r->s[r->pos] != ':') {
                free(key);
                return fail(r, "expected ':'");
            }
            r->pos++;
        }
        jv item;
        if (read_value(r, &item) != 0) {
            free(key);
            return -1;
        }
        if (push_item(out, key, &item) != 0) return -1;
        skip_ws(r);
        char c = r->s[r->pos++];
        if (c == close) break;
        if (c != ',') return fail(r, "expected ',' or a closing bracket");
    }
    r->depth--;
    return 0;
}

static int read_value(reader *r, jv *out)
{
    memset(out, 0, sizeof *out);
    skip_ws(r);
    const char *p = r->s + r->pos;
    int rc = 0;
    if (*p == '{' || *p == '[') {
        out->type = *p == '{' ? JV_OBJECT : JV_ARRAY;
        rc = read_container(r, out, *p == '{' ? '}' : ']');
    } else if (*p == '"') {
        out->type = JV_STRING;
        rc = read_string(r, &out->str);
    } else if (strncmp(p, "true", 4) == 0 || strncmp(p, "false", 5) == 0) {
        out->type = JV_BOOL;
        out->boolean = *p == 't';
        r->pos += out->boolean ? 4 : 5;
    } else if (strncmp(p, "null", 4) == 0) {
        r->pos += 4;
    } else if (*p == '-' || (*p >= '0' && *p <= '9')) {
        size_t n = strspn(p, "+-0123456789.eE");
        out->type = JV_NUMBER;
        out->str = strndup(p, n);
        r->pos += n;
        if (!out->str) {
            diag_set(DIAG_INTERNAL, "out of memory reading JSON");
            rc = -1;
        }
    } else {
        return fail(r, "unexpected character");
    }
    if (rc != 0) json_value_free(out);
    return rc;
}

int json_read(const char *text, jv *out)
{
    reader r = {text ? text : "", 0, 0};
    if (read_value(&r, out) != 0) return -1;
    skip_ws(&r);
    if (r.s[r.pos] != '\0') {
        json_value_free(out);
        return fail(&r, "trailing characters");
    }
    return 0;
}

void json_value_free(jv *v)
{
    for (size_t i = 0; i < v->n; i++) {
        json_value_free(&v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
    memset(v, 0, sizeof *v);
}

const jv *json_get(const jv *obj, const char *key)
{
    if (!obj || obj->type != JV_OBJECT) return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0) return &obj->items[i];
    return NULL;
}

const char *json_get_str(const jv *obj, const char *key)
{
    const jv *v = json_get(obj, key);
    return v && v->type == JV_STRING ? v->str : NULL;
}

static _Thread_local const jv *sort_obj; /* the object qsort is ordering */

static int key_cmp(const void *a, const void *b)
{
    return strcmp(sort_obj->keys[*(const size_t *)a], sort_obj->keys[*(const size_t *)b]);
}

static void write_canonical(json_buf *b, const jv *v)
{
    switch (v->type) {
    case JV_NULL: jb_str(b, "null"); break;
    case JV_BOOL: jb_str(b, v->boolean ? "true" : "false"); break;
    case JV_NUMBER: jb_str(b, v->str); break;
    case JV_STRING: jb_quoted(b, v->str); break;
    case JV_ARRAY:
        jb_str(b, "[");
        for (size_t i = 0; i < v->n; i++) {
            if (i) jb_str(b, ",");
            write_canonical(b, &v->items[i]);
        }
        jb_str(b, "]");
        break;
    case JV_OBJECT: {
        size_t *order = malloc((v->n ? v->n : 1) * sizeof *order);
        if (!order) {
            b->oom = 1;
            return;
        }
        for (size_t i = 0; i < v->n; i++) order[i] = i;
        sort_obj = v;
        if (v->n > 1) qsort(order, v->n, sizeof *order, key_cmp);
        jb_str(b, "{");
        for (size_t i = 0; i < v->n; i++) {
            if (i) jb_str(b, ",");
            jb_quoted(b, v->keys[order[i]]);
            jb_str(b, ":");
            write_canonical(b, &v->items[order[i]]);
        }
        jb_str(b, "}");
        free(order);
        break;
    }
    }
}

char *json_canonical(const jv *v)
{
    json_buf b;
    jb_init(&b);
    write_canonical(&b, v);
    return jb_take(&b);
}
