/* json_read.h: a small JSON reader (RFC 8259) into a tree, for the few
 * places the C side must look inside JSON the Lua side produced: pipeline
 * descriptions and fold states compared by the replay. Not for hot paths. */
#ifndef ES_JSON_READ_H
#define ES_JSON_READ_H

#include <stddef.h>

typedef enum { JV_NULL, JV_BOOL, JV_NUMBER, JV_STRING, JV_ARRAY, JV_OBJECT } jv_type;

typedef struct jv {
    jv_type type;
    char *str;         /* JV_STRING: decoded text; JV_NUMBER: the literal */
    int boolean;       /* JV_BOOL */
    struct jv *items;  /* JV_ARRAY elements / JV_OBJECT values */
    char **keys;       /* JV_OBJECT keys (decoded) */
    size_t n;
} jv;

/* Parses `text` into *out (owned by the caller: json_value_free). 0, or -1
 * with DIAG_INVALID naming the offset of the problem. */
int json_read(const char *text, jv *out);
void json_value_free(jv *v);

/* The value of `key` in an object, or NULL. */
const jv *json_get(const jv *obj, const char *key);

/* The string of `key` in an object, or NULL when absent or not a string. */
const char *json_get_str(const jv *obj, const char *key);

/* The value re-encoded with object keys sorted (so that two encodings of
 * the same value compare equal as strings). malloc'd, NULL on OOM. */
char *json_canonical(const jv *v);

#endif
