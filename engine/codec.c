/* codec.c: MessagePack encoding of job payloads (see codec.h). An event is
 * an array of 12 fields in es_event order, plus an optional 13th: the fold
 * state JSON of a reactor job. Several events are an array of such arrays
 * (told apart by the type of the first element); several commands an array
 * of strings. */
#include "codec.h"
#include "diag.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#define EVENT_FIELDS 12

static void pack_string(msgpack_packer *pk, const char *s)
{
    if (!s) {
        msgpack_pack_nil(pk);
        return;
    }
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void pack_event(msgpack_packer *pk, const es_event *ev, const char *state_json)
{
    msgpack_pack_array(pk, state_json ? EVENT_FIELDS + 1 : EVENT_FIELDS);
    pack_string(pk, ev->id);
    pack_string(pk, ev->tenant_id);
    pack_string(pk, ev->aggregate_type);
    pack_string(pk, ev->aggregate_id);
    msgpack_pack_int64(pk, ev->seq);
    pack_string(pk, ev->type);
    pack_string(pk, ev->version);
    msgpack_pack_int64(pk, ev->occurred_at);
    msgpack_pack_int64(pk, ev->created_at);
    pack_string(pk, ev->idempotency_key);
    pack_string(pk, ev->data_json);
    pack_string(pk, ev->metadata_json);
    if (state_json) pack_string(pk, state_json);
}

/* Hands the packed bytes over to the caller. */
static int sbuffer_release(msgpack_sbuffer *sbuf, char **out, size_t *out_len)
{
    if (!sbuf->data) {
        diag_set(DIAG_INTERNAL, "out of memory encoding a job payload");
        return -1;
    }
    *out_len = sbuf->size;
    *out = msgpack_sbuffer_release(sbuf);
    msgpack_sbuffer_destroy(sbuf);
    return 0;
}

int codec_event_encode(const es_event *ev, const char *state_json, char **out,
                       size_t *out_len)
{
    msgpack_sbuffer sbuf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    pack_event(&pk, ev, state_json);
    return sbuffer_release(&sbuf, out, out_len);
}

int codec_events_encode(const es_event *const *events, size_t n, char **out,
                        size_t *out_len)
{
    msgpack_sbuffer sbuf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, n);
    for (size_t i = 0; i < n; i++) pack_event(&pk, events[i], NULL);
    return sbuffer_release(&sbuf, out, out_len);
}

int codec_strings_encode(const char *const *strings, size_t n, char **out, size_t *out_len)
{
    msgpack_sbuffer sbuf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, n);
    for (size_t i = 0; i < n; i++) pack_string(&pk, strings[i]);
    return sbuffer_release(&sbuf, out, out_len);
}

static int take_string(const msgpack_object *o, char **dst)
{
    if (o->type == MSGPACK_OBJECT_NIL) {
        *dst = NULL;
        return 0;
    }
    if (o->type != MSGPACK_OBJECT_STR) return -1;
    *dst = strndup(o->via.str.ptr, o->via.str.size);
    return *dst ? 0 : -1;
}

static int take_int(const msgpack_object *o, int64_t *dst)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) *dst = (int64_t)o->via.u64;
    else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) *dst = o->via.i64;
    else return -1;
    return 0;
}

/* Fills ev from one event array; -1 when it is not one. */
static int take_event(const msgpack_object *root, es_event *ev, char **state)
{
    if (root->type != MSGPACK_OBJECT_ARRAY || root->via.array.size < EVENT_FIELDS) return -1;
    const msgpack_object *f = root->via.array.ptr;
    if (take_string(&f[0], &ev->id) || take_string(&f[1], &ev->tenant_id) ||
        take_string(&f[2], &ev->aggregate_type) || take_string(&f[3], &ev->aggregate_id) ||
        take_int(&f[4], &ev->seq) || take_string(&f[5], &ev->type) ||
        take_string(&f[6], &ev->version) || take_int(&f[7], &ev->occurred_at) ||
        take_int(&f[8], &ev->created_at) || take_string(&f[9], &ev->idempotency_key) ||
        take_string(&f[10], &ev->data_json) || take_string(&f[11], &ev->metadata_json))
        return -1;
    if (state && root->via.array.size > EVENT_FIELDS && take_string(&f[EVENT_FIELDS], state))
        return -1;
    return 0;
}

int codec_event_decode(const char *buf, size_t len, es_event *ev, char **state_json)
{
    msgpack_unpacked msg;
    msgpack_unpacked_init(&msg);
    char *state = NULL;
    memset(ev, 0, sizeof *ev);
    int rc = msgpack_unpack_next(&msg, buf, len, NULL) == MSGPACK_UNPACK_SUCCESS
                 ? take_event(&msg.data, ev, &state)
                 : -1;
    msgpack_unpacked_destroy(&msg);
    if (rc != 0) {
        event_clear(ev);
        free(state);
        diag_set(DIAG_INVALID, "malformed event payload (%zu bytes)", len);
        return -1;
    }
    if (state_json) *state_json = state;
    else free(state);
    return 0;
}

int codec_events_decode(const char *buf, size_t len, es_event **events, size_t *n)
{
    msgpack_unpacked msg;
    msgpack_unpacked_init(&msg);
    *events = NULL;
    *n = 0;
    int rc = -1;
    if (msgpack_unpack_next(&msg, buf, len, NULL) != MSGPACK_UNPACK_SUCCESS) goto out;
    const msgpack_object *root = &msg.data;
    if (root->type != MSGPACK_OBJECT_ARRAY || root->via.array.size == 0) goto out;
    /* one event: its first field is a string; several: an array of them */
    int several = root->via.array.ptr[0].type == MSGPACK_OBJECT_ARRAY;
    size_t count = several ? root->via.array.size : 1;
    *events = calloc(count, sizeof **events);
    if (!*events) goto out;
    for (size_t i = 0; i < count; i++) {
        if (take_event(several ? &root->via.array.ptr[i] : root, &(*events)[i], NULL) != 0) {
            event_clear(&(*events)[i]);
            goto out;
        }
        *n = i + 1;
    }
    rc = 0;
out:
    msgpack_unpacked_destroy(&msg);
    if (rc != 0) {
        if (*events) event_array_free(*events, *n);
        *events = NULL;
        *n = 0;
        diag_set(DIAG_INVALID, "malformed event payload (%zu bytes)", len);
    }
    return rc;
}

int codec_strings_decode(const char *buf, size_t len, char ***strings, size_t *n)
{
    msgpack_unpacked msg;
    msgpack_unpacked_init(&msg);
    *strings = NULL;
    *n = 0;
    int rc = -1;
    if (msgpack_unpack_next(&msg, buf, len, NULL) != MSGPACK_UNPACK_SUCCESS) goto out;
    const msgpack_object *root = &msg.data;
    if (root->type != MSGPACK_OBJECT_ARRAY) goto out;
    *strings = calloc(root->via.array.size ? root->via.array.size : 1, sizeof **strings);
    if (!*strings) goto out;
    for (size_t i = 0; i < root->via.array.size; i++) {
        const msgpack_object *o = &root->via.array.ptr[i];
        if (o->type != MSGPACK_OBJECT_STR || take_string(o, &(*strings)[i]) != 0) goto out;
        *n = i + 1;
    }
    rc = 0;
out:
    msgpack_unpacked_destroy(&msg);
    if (rc != 0) {
        for (size_t i = 0; i < *n; i++) free((*strings)[i]);
        free(*strings);
        *strings = NULL;
        *n = 0;
        diag_set(DIAG_INVALID, "malformed command batch payload (%zu bytes)", len);
    }
    return rc;
}
