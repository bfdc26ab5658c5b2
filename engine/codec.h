/* codec.h: job payloads as bytes (MessagePack via msgpack-c): an event for
 * fold and map jobs, an event plus the fold state for reactor jobs. */
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

#endif
