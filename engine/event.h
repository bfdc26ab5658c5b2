/* event.h: the immutable fact the engine stores, as a plain C struct.
 * All strings are owned by the struct (heap, NUL-terminated); data_json and
 * metadata_json hold JSON object text. */
#ifndef ES_EVENT_H
#define ES_EVENT_H

#include <stddef.h>
#include <stdint.h>

typedef struct es_event {
    char *id;              /* deterministic: derived from the command job id */
    char *tenant_id;
    char *aggregate_type;
    char *aggregate_id;
    int64_t seq;           /* 1,2,3.. per aggregate; assigned by the event store */
    char *type;            /* e.g. "lw.obs.trace.span_received" */
    char *version;         /* schema version of the type, a date string */
    int64_t occurred_at;   /* business time, ms */
    int64_t created_at;    /* write time, ms; assigned on append */
    char *idempotency_key; /* never NULL once appended; defaults to id */
    char *data_json;       /* JSON object text, never NULL ("{}") */
    char *metadata_json;   /* JSON object text, never NULL ("{}") */
} es_event;

/* Frees the strings of `ev` (not `ev` itself) and zeroes it. */
void event_clear(es_event *ev);

/* Deep-copies `src` into `dst` (which must be zeroed or cleared). Returns 0,
 * or -1 on allocation failure with a diag set. */
int event_copy(es_event *dst, const es_event *src);

/* Clears and frees an array of `n` events allocated with malloc. */
void event_array_free(es_event *events, size_t n);

/* A growable array of events, as filled by event store reads. */
typedef struct es_event_list {
    es_event *items;
    size_t len, cap;
} es_event_list;

/* Appends a zeroed slot and returns it (owned by the list), or NULL on OOM. */
es_event *event_list_push(es_event_list *list);
void event_list_free(es_event_list *list);

/* Writes `ev` as one JSON object (all fields, data and metadata inlined)
 * into a malloc'd string stored in *out. Returns 0 or -1. */
int event_to_json(const es_event *ev, char **out);

#endif
