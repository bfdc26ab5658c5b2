/* event.c: lifetime helpers and JSON rendering for es_event (see event.h). */
#include "event.h"
#include "diag.h"
#include "json_buf.h"

#include <stdlib.h>
#include <string.h>

static int dup_field(char **dst, const char *src)
{
    if (!src) {
        *dst = NULL;
        return 0;
    }
    *dst = strdup(src);
    if (!*dst) {
        diag_set(DIAG_INTERNAL, "out of memory copying an event");
        return -1;
    }
    return 0;
}

void event_clear(es_event *ev)
{
    free(ev->id);
    free(ev->tenant_id);
    free(ev->aggregate_type);
    free(ev->aggregate_id);
    free(ev->type);
    free(ev->version);
    free(ev->idempotency_key);
    free(ev->data_json);
    free(ev->metadata_json);
    memset(ev, 0, sizeof *ev);
}

int event_copy(es_event *dst, const es_event *src)
{
    memset(dst, 0, sizeof *dst);
    dst->seq = src->seq;
    dst->occurred_at = src->occurred_at;
    dst->created_at = src->created_at;
    if (dup_field(&dst->id, src->id) || dup_field(&dst->tenant_id, src->tenant_id) ||
        dup_field(&dst->aggregate_type, src->aggregate_type) ||
        dup_field(&dst->aggregate_id, src->aggregate_id) ||
        dup_field(&dst->type, src->type) || dup_field(&dst->version, src->version) ||
        dup_field(&dst->idempotency_key, src->idempotency_key) ||
        dup_field(&dst->data_json, src->data_json) ||
        dup_field(&dst->metadata_json, src->metadata_json)) {
        event_clear(dst);
        return -1;
    }
    return 0;
}

void event_array_free(es_event *events, size_t n)
{
    if (!events) return;
    for (size_t i = 0; i < n; i++) event_clear(&events[i]);
    free(events);
}

es_event *event_list_push(es_event_list *list)
{
    if (list->len == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 16;
        es_event *items = realloc(list->items, cap * sizeof *items);
        if (!items) {
            diag_set(DIAG_INTERNAL, "out of memory growing an event list");
            return NULL;
        }
        list->items = items;
        list->cap = cap;
    }
    es_event *ev = &list->items[list->len++];
    memset(ev, 0, sizeof *ev);
    return ev;
}

void event_list_free(es_event_list *list)
{
    event_array_free(list->items, list->len);
    memset(list, 0, sizeof *list);
}

int event_to_json(const es_event *ev, char **out)
{
    json_buf b;
    jb_init(&b);
    jb_str(&b, "{\"id\":");
    jb_quoted(&b, ev->id);
    jb_str(&b, ",\"tenant_id\":");
    jb_quoted(&b, ev->tenant_id);
    jb_str(&b, ",\"aggregate_type\":");
    jb_quoted(&b, ev->aggregate_type);
    jb_str(&b, ",\"aggregate_id\":");
    jb_quoted(&b, ev->aggregate_id);
    jb_str(&b, ",\"seq\":");
    jb_int(&b, ev->seq);
    jb_str(&b, ",\"type\":");
    jb_quoted(&b, ev->type);
    jb_str(&b, ",\"version\":");
    jb_quoted(&b, ev->version);
    jb_str(&b, ",\"occurred_at\":");
    jb_int(&b, ev->occurred_at);
    jb_str(&b, ",\"created_at\":");
    jb_int(&b, ev->created_at);
    jb_str(&b, ",\"idempotency_key\":");
    jb_quoted(&b, ev->idempotency_key);
    jb_str(&b, ",\"data\":");
    jb_str(&b, ev->data_json ? ev->data_json : "{}");
    jb_str(&b, ",\"metadata\":");
    jb_str(&b, ev->metadata_json ? ev->metadata_json : "{}");
    jb_str(&b, "}");
    *out = jb_take(&b);
    if (!*out) {
        diag_set(DIAG_INTERNAL, "out of memory rendering an event");
        return -1;
    }
    return 0;
}
