/* lua_json.c: JSON encode and decode for the runtime, as lua-cjson does
 * them with its default settings, faster (see lua_json.h). The error
 * messages follow cjson's ("Cannot serialise ...", "Expected ... but found
 * ... at character N"). */
#include "lua_json.h"
#include "text_format.h"

#include <lauxlib.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* cjson's defaults: encode_max_depth, decode_max_depth, and the sparse
 * array test (encode_sparse_ratio, encode_sparse_safe) */
#define JSON_MAX_DEPTH 1000
#define SPARSE_RATIO 2
#define SPARSE_SAFE 10
/* A buffer grown past this is freed after its call: a rare huge state
 * must not stay resident outside the Lua state's memory limit. */
#define KEEP_BUFFER_BYTES (1u << 20)

/* A growable byte buffer, one per function and Lua state (an upvalue,
 * freed by its __gc): an error raised mid-call leaves nothing to free. */
typedef struct json_buffer {
    char *p;
    size_t n, cap;
} json_buffer;

static int buffer_gc(lua_State *L)
{
    json_buffer *b = lua_touserdata(L, 1);
    free(b->p);
    memset(b, 0, sizeof *b);
    return 0;
}

static void buffer_reserve(lua_State *L, json_buffer *b, size_t more)
{
    if (b->n + more <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + more) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) luaL_error(L, "JSON: out of memory");
    b->p = p;
    b->cap = cap;
}

static void buffer_put(lua_State *L, json_buffer *b, const char *s, size_t n)
{
    if (n == 0) return;
    buffer_reserve(L, b, n);
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void buffer_char(lua_State *L, json_buffer *b, char c)
{
    buffer_reserve(L, b, 1);
    b->p[b->n++] = c;
}

/* Frees a buffer that grew past KEEP_BUFFER_BYTES. */
static void buffer_trim(json_buffer *b)
{
    if (b->cap <= KEEP_BUFFER_BYTES) return;
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ---- encode ---- */

static void put_number(lua_State *L, json_buffer *b, double v)
{
    if (isnan(v) || isinf(v)) luaL_error(L, "Cannot serialise number: must not be NaN or Inf");
    char text[32];
    size_t len;
    /* an integer of up to 14 digits is what "%.14g" writes in full */
    if (v > -1e14 && v < 1e14 && v == (double)(int64_t)v && !(v == 0 && signbit(v)))
        len = text_decimal(text, (int64_t)v);
    else
        len = (size_t)snprintf(text, sizeof text, "%.14g", v);
    buffer_put(L, b, text, len);
}

/* cjson's escapes: control bytes, '"', '/', '\\' and DEL (1 = escaped),
 * looked up per byte rather than compared five times. */
static const unsigned char escaped_byte[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

static void put_escape(lua_State *L, json_buffer *b, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    char e[6] = {'\\', 0, 0, 0, 0, 0};
    size_t len = 2;
    switch (c) {
    case '"': e[1] = '"'; break;
    case '/': e[1] = '/'; break;
    case '\\': e[1] = '\\'; break;
    case '\b': e[1] = 'b'; break;
    case '\f': e[1] = 'f'; break;
    case '\n': e[1] = 'n'; break;
    case '\r': e[1] = 'r'; break;
    case '\t': e[1] = 't'; break;
    default:
        memcpy(e + 1, "u00", 3);
        e[4] = hex[c >> 4];
        e[5] = hex[c & 15];
        len = 6;
    }
    buffer_put(L, b, e, len);
}

static void put_string(lua_State *L, json_buffer *b, const char *s, size_t n)
{
    buffer_reserve(L, b, n + 2);
    b->p[b->n++] = '"';
    size_t run = 0; /* start of the bytes not written yet */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!escaped_byte[c]) continue;
        buffer_put(L, b, s + run, i - run);
        put_escape(L, b, c);
        run = i + 1;
    }
    buffer_put(L, b, s + run, n - run);
    buffer_char(L, b, '"');
}

static void put_value(lua_State *L, json_buffer *b, int depth);

/* The array length of the table at index t as cjson counts it: its
 * largest key when every key is a positive integer, else -1 (an object);
 * raises for an excessively sparse array. */
static double array_length(lua_State *L, int t)
{
    double max = 0, items = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        double k;
        /* past INT_MAX cjson's int count overflows: an object then */
        if (lua_type(L, -1) != LUA_TNUMBER || (k = lua_tonumber(L, -1)) < 1 || floor(k) != k ||
            k > INT_MAX) {
            lua_pop(L, 1);
            return -1;
        }
        if (k > max) max = k;
        items++;
    }
    if (max > items * SPARSE_RATIO && max > SPARSE_SAFE)
        luaL_error(L, "Cannot serialise table: excessively sparse array");
    return max;
}

/* The table at the top of the stack, at nesting depth `depth`. */
static void put_table(lua_State *L, json_buffer *b, int depth)
{
    if (depth > JSON_MAX_DEPTH) luaL_error(L, "Cannot serialise, excessive nesting (%d)", depth);
    luaL_checkstack(L, 3, "JSON nesting");
    int t = lua_gettop(L);
    double length = array_length(L, t);
    if (length > 0) {
        buffer_char(L, b, '[');
        for (double i = 1; i <= length; i++) {
            if (i > 1) buffer_char(L, b, ',');
            lua_rawgeti(L, t, (int)i);
            put_value(L, b, depth);
            lua_pop(L, 1);
        }
        buffer_char(L, b, ']');
        return;
    }
    buffer_char(L, b, '{');
    int first = 1;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        if (!first) buffer_char(L, b, ',');
        first = 0;
        int key_type = lua_type(L, -2);
        if (key_type == LUA_TSTRING) {
            size_t n;
            const char *key = lua_tolstring(L, -2, &n);
            put_string(L, b, key, n);
        } else if (key_type == LUA_TNUMBER) {
            buffer_char(L, b, '"');
            put_number(L, b, lua_tonumber(L, -2));
            buffer_char(L, b, '"');
        } else {
            luaL_error(L, "Cannot serialise %s: table key must be a number or string",
                       lua_typename(L, key_type));
        }
        buffer_char(L, b, ':');
        put_value(L, b, depth);
        lua_pop(L, 1);
    }
    buffer_char(L, b, '}');
}

/* The value at the top of the stack (left there). */
static void put_value(lua_State *L, json_buffer *b, int depth)
{
    switch (lua_type(L, -1)) {
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, -1, &n);
        put_string(L, b, s, n);
        break;
    }
    case LUA_TNUMBER: put_number(L, b, lua_tonumber(L, -1)); break;
    case LUA_TBOOLEAN:
        if (lua_toboolean(L, -1)) buffer_put(L, b, "true", 4);
        else buffer_put(L, b, "false", 5);
        break;
    case LUA_TTABLE: put_table(L, b, depth + 1); break;
    case LUA_TNIL: buffer_put(L, b, "null", 4); break;
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, -1) == NULL) {
            buffer_put(L, b, "null", 4);
            break;
        }
        /* fall through */
    default:
        luaL_error(L, "Cannot serialise %s: type not supported", luaL_typename(L, -1));
    }
}

static int l_json_encode(lua_State *L)
{
    luaL_checkany(L, 1);
    lua_settop(L, 1);
    json_buffer *b = lua_touserdata(L, lua_upvalueindex(1));
    b->n = 0;
    put_value(L, b, 0);
    lua_pushlstring(L, b->p ? b->p : "", b->n);
    buffer_trim(b);
    return 1;
}

/* ---- decode ---- */

typedef struct json_reader {
    lua_State *L;
    const char *start, *p, *end; /* the input is NUL-terminated at end */
    json_buffer *scratch;        /* strings with escapes */
    int nonfinite;               /* a NaN or an infinity was read */
} json_reader;

static void fail(json_reader *r, const char *expected, const char *found)
{
    luaL_error(r->L, "Expected %s but found %s at character %d", expected, found,
               (int)(r->p - r->start) + 1);
}

static void skip_space(json_reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The 4 hex digits at p as a number, or -1. */
static long hex4(const char *p, const char *end)
{
    if (end - p < 4) return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_value(p[i]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

static void put_utf8(json_reader *r, unsigned long cp)
{
    char u[4];
    buffer_put(r->L, r->scratch, u, text_utf8(u, cp));
}

/* The \u escape at r->p (at its backslash), a surrogate pair too, written
 * as UTF-8; r->p moves past it. */
static void read_unicode_escape(json_reader *r)
{
    long cp = hex4(r->p + 2, r->end);
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        long low = r->end - r->p >= 12 && r->p[6] == '\\' && r->p[7] == 'u'
                       ? hex4(r->p + 8, r->end)
                       : -1;
        if (low < 0xDC00 || low > 0xDFFF) fail(r, "string", "invalid unicode escape code");
        put_utf8(r, 0x10000 + (((unsigned long)cp - 0xD800) << 10) + ((unsigned long)low - 0xDC00));
        r->p += 12;
        return;
    }
    if (cp < 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
        fail(r, "string", "invalid unicode escape code");
    put_utf8(r, (unsigned long)cp);
    r->p += 6;
}

/* Pushes the string at r->p (at its opening quote). */
/* The first '"' or '\\' in [p, end), or end: 8 bytes a step (a byte is
 * one of them when XORing it with the character gives a zero byte), then
 * byte by byte. Event data is mostly long plain strings; a loop per byte
 * was most of the decoder's own time. */
static const char *scan_plain(const char *p, const char *end)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    while (end - p >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        uint64_t quote = v ^ (ones * '"'), backslash = v ^ (ones * '\\');
        if (((quote - ones) & ~quote & highs) | ((backslash - ones) & ~backslash & highs)) break;
        p += 8;
    }
    while (p < end && *p != '"' && *p != '\\') p++;
    return p;
}

static void read_string(json_reader *r)
{
    const char *s = ++r->p, *p = scan_plain(s, r->end);
    r->p = p;
    if (r->p < r->end && *r->p == '"') { /* no escapes: straight from the input */
        lua_pushlstring(r->L, s, (size_t)(r->p - s));
        r->p++;
        return;
    }
    json_buffer *b = r->scratch;
    b->n = 0;
    buffer_put(r->L, b, s, (size_t)(r->p - s));
    for (;;) {
        if (r->p >= r->end) fail(r, "value", "unexpected end of string");
        char c = *r->p;
        if (c == '"') break;
        if (c != '\\') {
            const char *run = r->p;
            r->p = scan_plain(run, r->end);
            buffer_put(r->L, b, run, (size_t)(r->p - run));
            continue;
        }
        if (r->end - r->p < 2) fail(r, "value", "unexpected end of string");
        char e = r->p[1], out = 0;
        switch (e) {
        case '"': out = '"'; break;
        case '\\': out = '\\'; break;
        case '/': out = '/'; break;
        case 'b': out = '\b'; break;
        case 'f': out = '\f'; break;
        case 'n': out = '\n'; break;
        case 'r': out = '\r'; break;
        case 't': out = '\t'; break;
        case 'u': read_unicode_escape(r); continue;
        default: fail(r, "value", "invalid escape code");
        }
        buffer_char(r->L, b, out);
        r->p += 2;
    }
    lua_pushlstring(r->L, b->p, b->n);
    r->p++;
    buffer_trim(b);
}

/* Pushes the number at r->p: digits alone (up to 15) read here, anything
 * else as strtod reads it (as cjson does). */
static void read_number(json_reader *r)
{
    const char *q = r->p;
    int negative = *q == '-';
    if (negative) q++;
    int64_t v = 0;
    const char *digits = q;
    while (q < r->end && q - digits < 16 && *q >= '0' && *q <= '9') v = v * 10 + (*q++ - '0');
    if (q > digits && q - digits < 16 &&
        (q == r->end || !strchr(".eExX0123456789", *q) || *q == '\0')) {
        lua_pushnumber(r->L, negative ? -(double)v : (double)v);
        r->p = q;
        return;
    }
    char *after;
    double d = strtod(r->p, &after);
    if (after == r->p) fail(r, "value", "invalid number");
    if (isnan(d) || isinf(d)) r->nonfinite = 1;
    lua_pushnumber(r->L, d);
    r->p = after;
}

static void read_value(json_reader *r, int depth);

/* Raises past the nesting limit; makes room on the stack. */
static void enter(json_reader *r, int depth)
{
    if (depth > JSON_MAX_DEPTH)
        luaL_error(r->L, "Found too many nested data structures (%d) at character %d", depth,
                   (int)(r->p - r->start) + 1);
    luaL_checkstack(r->L, 3, "JSON nesting");
}

/* Members are gathered on the stack, up to this many, before they are
 * set: the table is then made at its size once, not grown key by key (a
 * rehash each time the count passes a power of two). */
#define GATHER_MAX 64

/* Sets the n key/value pairs (object) or n values (array, from index
 * *next on) gathered above the table's slot t, making the table first at
 * their size, and pops them. */
static void flush_members(lua_State *L, int t, int n, int object, int *next)
{
    if (lua_isnil(L, t)) {
        lua_createtable(L, object ? 0 : n, object ? n : 0);
        lua_replace(L, t);
    }
    for (int i = 0; i < n; i++) {
        if (object) {
            lua_pushvalue(L, t + 1 + 2 * i);
            lua_pushvalue(L, t + 2 + 2 * i);
            lua_rawset(L, t);
        } else {
            lua_pushvalue(L, t + 1 + i);
            lua_rawseti(L, t, (*next)++);
        }
    }
    lua_settop(L, t);
}

/* Reads the object or array at r->p (at its '{' or '['): its members
 * gathered on the stack, then set (flush_members). */
static void read_container(json_reader *r, int depth, int object)
{
    enter(r, depth);
    lua_State *L = r->L;
    char close = object ? '}' : ']';
    int t = lua_gettop(L) + 1, n = 0, next = 1;
    lua_pushnil(L); /* the table's slot */
    r->p++;
    skip_space(r);
    if (r->p < r->end && *r->p == close) {
        r->p++;
        flush_members(L, t, 0, object, &next);
        return;
    }
    for (;;) {
        luaL_checkstack(L, 4, "JSON members");
        if (object) {
            skip_space(r);
            if (r->p >= r->end) fail(r, "object key string", "T_END");
            if (*r->p != '"') fail(r, "object key string", "invalid token");
            read_string(r);
            skip_space(r);
            if (r->p >= r->end || *r->p != ':')
                fail(r, "colon", r->p >= r->end ? "T_END" : "invalid token");
            r->p++;
        }
        read_value(r, depth);
        if (++n == GATHER_MAX) {
            flush_members(L, t, n, object, &next);
            n = 0;
        }
        skip_space(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == close) {
            r->p++;
            flush_members(L, t, n, object, &next);
            return;
        }
        fail(r, object ? "comma or object end" : "comma or array end",
             r->p >= r->end ? "T_END" : "invalid token");
    }
}

/* 1 when the input at r->p starts with word (and moves past it). */
static int literal(json_reader *r, const char *word, size_t n)
{
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0) return 0;
    r->p += n;
    return 1;
}

static void read_value(json_reader *r, int depth)
{
    skip_space(r);
    if (r->p >= r->end) fail(r, "value", "T_END");
    char c = *r->p;
    if (c == '{')
        read_container(r, depth + 1, 1);
    else if (c == '[')
        read_container(r, depth + 1, 0);
    else if (c == '"')
        read_string(r);
    else if (c == '-' || (c >= '0' && c <= '9'))
        read_number(r);
    else if (literal(r, "true", 4))
        lua_pushboolean(r->L, 1);
    else if (literal(r, "false", 5))
        lua_pushboolean(r->L, 0);
    else if (literal(r, "null", 4))
        lua_pushlightuserdata(r->L, NULL);
    /* cjson's default takes what strtod takes of '+', NaN and infinities */
    else if (c == '+' || (r->end - r->p >= 3 && (strncasecmp(r->p, "inf", 3) == 0 ||
                                                   strncasecmp(r->p, "nan", 3) == 0)))
        read_number(r);
    else
        fail(r, "value", "invalid token");
}

static int l_json_decode(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    lua_settop(L, 1);
    /* cjson's test for UTF-16 and UTF-32, then its reading of the input as
     * a C string: it ends at a NUL byte */
    if (n >= 2 && (!s[0] || !s[1])) luaL_error(L, "JSON parser does not support UTF-16 or UTF-32");
    const char *nul = memchr(s, '\0', n);
    json_reader r = {L, s, s, nul ? nul : s + n, lua_touserdata(L, lua_upvalueindex(1)), 0};
    read_value(&r, 0);
    skip_space(&r);
    if (r.p < r.end) fail(&r, "the end", "invalid token");
    lua_pushboolean(L, r.nonfinite);
    return 2;
}

/* Pushes a closure of fn over a new buffer. */
static void push_with_buffer(lua_State *L, lua_CFunction fn)
{
    json_buffer *b = lua_newuserdata(L, sizeof *b);
    memset(b, 0, sizeof *b);
    lua_newtable(L);
    lua_pushcfunction(L, buffer_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_pushcclosure(L, fn, 1);
}

void lua_json_register(lua_State *L)
{
    push_with_buffer(L, l_json_encode);
    lua_setfield(L, -2, "json_encode");
    push_with_buffer(L, l_json_decode);
    lua_setfield(L, -2, "json_decode");
}
