/* codec.c: MessagePack encoding of job payloads (see codec.h). An event is
 * an array of 12 fields in es_event order, plus an optional 13th: the fold
 * state JSON of a reactor job. */
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

int codec_event_encode(const es_event *ev, const char *state_json, char **out,
                       size_t *out_len)
{
    msgpack_sbuffer sbuf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, state_json ? EVENT_FIELDS + 1 : EVENT_FIELDS);
    pack_string(&pk, ev->id);
    pack_string(&pk, ev->tenant_id);
    pack_string(&pk, ev->aggregate_type);
    pack_string(&pk, ev->aggregate_id);
    msgpack_pack_int64(&pk, ev->seq);
    pack_string(&pk, ev->type);
    pack_string(&pk, ev->version);
    msgpack_pack_int64(&pk, ev->occurred_at);
    msgpack_pack_int64(&pk, ev->created_at);
    pack_string(&pk, ev->idempotency_key);
    pack_string(&pk, ev->data_json);
    pack_string(&pk, ev->metadata_json);
    if (state_json) pack_string(&pk, state_json);
    if (!sbuf.data) {
        diag_set(DIAG_INTERNAL, "out of memory encoding an event");
        return -1;
    }
    *out_len = sbuf.size;
    *out = msgpack_sbuffer_release(&sbuf);
    msgpack_sbuffer_destroy(&sbuf);
    return 0;
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

int codec_event_decode(const char *buf, size_t len, es_event *ev, char **state_json)
{
    msgpack_unpacked msg;
    msgpack_unpacked_init(&msg);
    int rc = -1;
    char *state = NULL;
    memset(ev, 0, sizeof *ev);
    if (msgpack_unpack_next(&msg, buf, len, NULL) != MSGPACK_UNPACK_SUCCESS) goto out;
    const msgpack_object *root = &msg.data;
    if (root->type != MSGPACK_OBJECT_ARRAY || root->via.array.size < EVENT_FIELDS) goto out;
    const msgpack_object *f = root->via.array.ptr;
    if (take_string(&f[0], &ev->id) || take_string(&f[1], &ev->tenant_id) ||
        take_string(&f[2], &ev->aggregate_type) || take_string(&f[3], &ev->aggregate_id) ||
        take_int(&f[4], &ev->seq) || take_string(&f[5], &ev->type) ||
        take_string(&f[6], &ev->version) || take_int(&f[7], &ev->occurred_at) ||
        take_int(&f[8], &ev->created_at) || take_string(&f[9], &ev->idempotency_key) ||
        take_string(&f[10], &ev->data_json) || take_string(&f[11], &ev->metadata_json))
        goto out;
    if (root->via.array.size > EVENT_FIELDS && take_string(&f[EVENT_FIELDS], &state))
        goto out;
    rc = 0;
out:
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
