/* command_envelope.c: a command job's JSON envelope split into its parts
 * without decoding it. A command batch's Lua call then decodes only the
 * payload (rt.handle_command_parts): decoding the envelope's own strings
 * (tenant, pipeline, command, aggregate id, and the keys) cost about as
 * much again as the payload in bench/clickhouse's commands (lua-cjson:
 * 1.65 us for the envelope against 0.73 us for its data). The scan checks
 * the envelope's structure (strings, nesting, separators) but not the
 * data's content, which the runtime decodes; anything unusual makes it
 * give up, and the envelope is decoded whole as before.
 * command_envelope_build writes the envelope of a new command in C, around
 * the payload's JSON as sent (rt.prepare_commands_parts leaves that to it):
 * Lua's concatenation interned a ~300-byte string per command. */
#include "command_envelope.h"

#include "diag.h"
#include "json_buf.h"

#include <string.h>

typedef struct scanner {
    const char *p, *end;
} scanner;

static void skip_space(scanner *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

/* Skips the string at s->p (at its opening quote): to the first quote
 * not escaped (memchr, then the backslashes before it counted). 0 when it
 * is closed, -1 when not. */
static int skip_string(scanner *s)
{
    const char *from = s->p + 1;
    for (;;) {
        const char *q = memchr(from, '"', (size_t)(s->end - from));
        if (!q) return -1;
        const char *b = q;
        while (b > s->p + 1 && b[-1] == '\\') b--;
        if ((q - b) % 2 == 0) {
            s->p = q + 1;
            return 0;
        }
        from = q + 1;
    }
}

/* Whether the string whose characters are at[0..len) holds no escape
 * nor control character (so that they are its value). */
static int plain_string(const char *at, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)at[i] < 0x20 || at[i] == '\\') return 0;
    return 1;
}

/* Skips the value at s->p: a string, or an object or array (brackets
 * matched, strings inside skipped), or a number or literal (up to the next
 * separator). 0, or -1 when it is not well formed at that level. */
static int skip_value(scanner *s)
{
    if (s->p == s->end) return -1;
    if (*s->p == '"') return skip_string(s);
    if (*s->p != '{' && *s->p != '[') {
        const char *from = s->p;
        while (s->p < s->end) {
            char c = *s->p;
            if (c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' ||
                c == '\r')
                break;
            s->p++;
        }
        return s->p > from ? 0 : -1;
    }
    int depth = 0;
    while (s->p < s->end) {
        char c = *s->p;
        if (c == '"') {
            if (skip_string(s) != 0) return -1;
            continue;
        }
        if (c == '{' || c == '[') depth++;
        if ((c == '}' || c == ']') && --depth == 0) {
            s->p++;
            return 0;
        }
        s->p++;
    }
    return -1;
}

/* The span that `key` (key_len bytes) names among the envelope's string
 * fields, or NULL when it is none of them. */
static json_span *string_field(command_envelope *out, const char *key, size_t key_len)
{
    static const struct {
        const char *name;
        size_t len, offset;
    } fields[] = {
        {"tenant_id", 9, offsetof(command_envelope, tenant_id)},
        {"pipeline", 8, offsetof(command_envelope, pipeline)},
        {"command", 7, offsetof(command_envelope, command)},
        {"aggregate_id", 12, offsetof(command_envelope, aggregate_id)},
    };
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        if (fields[i].len == key_len && memcmp(fields[i].name, key, key_len) == 0)
            return (json_span *)(void *)((char *)out + fields[i].offset);
    return NULL;
}

int command_envelope_split(const char *json, size_t len, command_envelope *out)
{
    memset(out, 0, sizeof *out);
    scanner s = {json, json + len};
    skip_space(&s);
    if (s.p == s.end || *s.p++ != '{') return 0;
    for (;;) {
        skip_space(&s);
        if (s.p == s.end || *s.p != '"') return 0;
        const char *key = s.p + 1;
        if (skip_string(&s) != 0) return 0;
        /* an escaped key matches none of the names, and is skipped */
        size_t key_len = (size_t)(s.p - 1 - key);
        skip_space(&s);
        if (s.p == s.end || *s.p++ != ':') return 0;
        skip_space(&s);
        const char *value = s.p;
        if (skip_value(&s) != 0) return 0;
        json_span *field = string_field(out, key, key_len);
        if (field) {
            /* the characters between the quotes, when nothing is escaped */
            *field = (json_span){value + 1, (size_t)(s.p - value) - 2};
            if (*value != '"' || !plain_string(field->at, field->len)) return 0;
        } else if (key_len == 4 && memcmp(key, "data", 4) == 0) {
            if (*value != '{') return 0;
            out->data = (json_span){value, (size_t)(s.p - value)};
        }
        skip_space(&s);
        if (s.p == s.end) return 0;
        if (*s.p == '}') break;
        if (*s.p++ != ',') return 0;
    }
    s.p++;
    skip_space(&s);
    return s.p == s.end && out->tenant_id.at && out->pipeline.at && out->command.at &&
           out->aggregate_id.at && out->data.at;
}

char *command_envelope_build(const char *tenant_id, const char *pipeline, const char *command,
                             const char *aggregate_id, const char *data_json)
{
    json_buf b;
    jb_init(&b);
    jb_raw(&b, "{\"tenant_id\":", 13);
    jb_quoted(&b, tenant_id);
    jb_raw(&b, ",\"pipeline\":", 12);
    jb_quoted(&b, pipeline);
    jb_raw(&b, ",\"command\":", 11);
    jb_quoted(&b, command);
    jb_raw(&b, ",\"aggregate_id\":", 16);
    jb_quoted(&b, aggregate_id);
    jb_raw(&b, ",\"data\":", 8);
    jb_str(&b, data_json);
    jb_raw(&b, "}", 1);
    char *json = jb_take(&b);
    if (!json) diag_set(DIAG_INTERNAL, "out of memory building a command envelope");
    return json;
}
