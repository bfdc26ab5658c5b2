/* command_envelope.h: the parts of a command job's JSON envelope, found
 * without decoding it (see command_envelope.c). */
#ifndef ES_COMMAND_ENVELOPE_H
#define ES_COMMAND_ENVELOPE_H

#include <stddef.h>

/* A piece of the envelope's text: a string's characters (no quotes) or a
 * value's JSON. */
typedef struct json_span {
    const char *at;
    size_t len;
} json_span;

/* The envelope {tenant_id, pipeline, command, aggregate_id, data} that
 * runtime.lua's prepare_payload encodes. */
typedef struct command_envelope {
    json_span tenant_id, pipeline, command, aggregate_id, data;
} command_envelope;

/* Splits json (len bytes): 1 when it is one JSON object whose tenant_id,
 * pipeline, command and aggregate_id are strings without escapes nor
 * control characters (their spans are then the strings themselves) and
 * whose data is an object (its span is its JSON, for the runtime to
 * decode); other keys are skipped. 0 for anything else, for the caller to
 * decode the envelope whole (which says what is wrong with it). */
int command_envelope_split(const char *json, size_t len, command_envelope *out);

/* The envelope's JSON around data_json, the payload as the client sent it
 * (valid JSON, checked by the runtime's decode): the strings escaped, the
 * payload copied as is, keys in the order prepare_payload encodes them.
 * malloc'd; NULL when memory is out (diag set). */
char *command_envelope_build(const char *tenant_id, const char *pipeline, const char *command,
                             const char *aggregate_id, const char *data_json);

#endif
