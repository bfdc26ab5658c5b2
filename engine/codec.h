/* codec.h: job payloads as bytes (MessagePack via msgpack-c): one or several
 * events of one aggregate for fold and map jobs, an event plus the fold
 * state for reactor jobs, several commands of one aggregate for a command
 * job that carries more than one (one command is its JSON text). */
#ifndef ES_CODEC_H
#define ES_CODEC_H

#include <stddef.h>

#include "event.h"

/* Encodes `ev` into a malloc'd buffer (*out, *out_len). If state_json is not
 * NULL it is appended (reactor payloads). 0, or -1 with a diag. */
int codec_event_encode(const es_event *ev, const char *state_json, char **out,
                       size_t *out_len);

/* Decodes a payload made by codec_event_encode into `ev` (zeroed by the
 * caller; strings owned by ev afterwards). *state_json (may be NULL when not
 * wanted) receives a malloc'd copy of the state, or NULL when absent.
 * 0, or -1 with DIAG_INVALID on malformed bytes. */
int codec_event_decode(const char *buf, size_t len, es_event *ev, char **state_json);

/* Encodes n events (n >= 1) into one payload, which codec_events_decode
 * reads back. 0, or -1 with a diag. */
int codec_events_encode(const es_event *const *events, size_t n, char **out,
                        size_t *out_len);

/* Decodes a fold or map payload: several events (codec_events_encode) or
 * one (codec_event_encode), into a malloc'd array (*events, *n; free with
 * event_array_free). 0, or -1 with DIAG_INVALID and nothing allocated. */
int codec_events_decode(const char *buf, size_t len, es_event **events, size_t *n);

/* Encodes n strings as one payload (the commands of a batched command job).
 * 0, or -1 with a diag. */
int codec_strings_encode(const char *const *strings, size_t n, char **out, size_t *out_len);

/* Decodes codec_strings_encode's payload into a malloc'd array of malloc'd
 * strings (*strings, *n). 0, or -1 with DIAG_INVALID and nothing allocated. */
int codec_strings_decode(const char *buf, size_t len, char ***strings, size_t *n);

#endif
