/* redis_pause.c: the kill switch on Redis. Pauses are the fields of one
 * small hash {NAME}:pauses, pipeline\x1fcomponent\x1ftenant -> mode\x1f
 * paused_at, where an empty component is the whole pipeline and an empty
 * tenant every tenant. Pausing and resuming is the queue_pause_set.lua
 * script (a resume also puts the held groups back, one page per call); a
 * claim holds covered groups (queue_claim.lua). Checking and listing read the hash with one
 * HGETALL and filter here: a fleet has few pauses. */
#include "redis_int.h"

#include <stdlib.h>
#include <string.h>

#include "diag.h"

static redis_store *store_of(es_store *s) { return (redis_store *)s; }

int redis_pause_set(es_store *s, const char *tenant_id, const char *pipeline,
                    const char *component, pause_mode mode, int64_t now)
{
    redis_store *rs = store_of(s);
    if (!pipeline || !*pipeline) {
        diag_set(DIAG_INVALID, "pause: a pipeline is required");
        return -1;
    }
    int rc = -1;
    char cursor[32] = "";
    do {
        redis_args a = {0};
        redisReply *r = NULL;
        if (!redis_args_cstr(&a, pipeline) && !redis_args_cstr(&a, component) &&
            !redis_args_cstr(&a, tenant_id) && !redis_args_int(&a, (int64_t)mode) &&
            !redis_args_int(&a, now) && !redis_args_cstr(&a, cursor))
            r = redis_script_call(rs->pool, &rs->scripts, REDIS_SCRIPT_PAUSE_SET, rs->tag, &a,
                                  0);
        redis_args_free(&a);
        if (!r) return -1;
        int ok = r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                 r->element[0]->type == REDIS_REPLY_INTEGER &&
                 r->element[1]->type == REDIS_REPLY_STRING && r->element[1]->len > 0 &&
                 r->element[1]->len < sizeof cursor;
        if (ok) {
            if (!cursor[0]) rc = r->element[0]->integer ? 1 : 0;
            memcpy(cursor, r->element[1]->str, r->element[1]->len);
            cursor[r->element[1]->len] = '\0';
        }
        freeReplyObject(r);
        if (!ok) {
            diag_set(DIAG_BACKEND, "redis pause: malformed reply");
            return -1;
        }
    } while (strcmp(cursor, "0") != 0);
    return rc;
}

/* One pause decoded from a hash field and value: strings point into `buf`
 * (a copy of the field), NULL for the empty component or tenant. */
typedef struct pause_entry {
    es_pause p;
    char *buf;
} pause_entry;

/* Decodes one field/value pair; -1 when malformed (then skipped). */
static int pause_decode(pause_entry *e, const redisReply *field, const redisReply *value)
{
    if (field->type != REDIS_REPLY_STRING || value->type != REDIS_REPLY_STRING) return -1;
    const char *sep = memchr(value->str, '\x1f', value->len);
    if (!sep) return -1;
    if (!(e->buf = strndup(field->str, field->len))) return -1;
    char *component = strchr(e->buf, '\x1f');
    char *tenant = component ? strchr(component + 1, '\x1f') : NULL;
    if (!tenant) {
        free(e->buf);
        e->buf = NULL;
        return -1;
    }
    *component++ = '\0';
    *tenant++ = '\0';
    e->p = (es_pause){
        .tenant_id = *tenant ? tenant : NULL,
        .pipeline = e->buf,
        .component = *component ? component : NULL,
        .mode = (pause_mode)strtol(value->str, NULL, 10),
        .paused_at = strtoll(sep + 1, NULL, 10),
    };
    return 0;
}

/* Orders by pipeline, component, tenant; the empty (NULL) scope first. */
static int entry_cmp(const void *a, const void *b)
{
    const es_pause *x = &((const pause_entry *)a)->p, *y = &((const pause_entry *)b)->p;
    int c = strcmp(x->pipeline, y->pipeline);
    if (c) return c;
    c = strcmp(x->component ? x->component : "", y->component ? y->component : "");
    if (c) return c;
    return strcmp(x->tenant_id ? x->tenant_id : "", y->tenant_id ? y->tenant_id : "");
}

/* Reads every pause, sorted (entry_cmp). Returns the entries (caller frees
 * with entries_free) and *n, or NULL with diag. */
static pause_entry *pauses_read(redis_store *rs, size_t *n)
{
    char key[512];
    snprintf(key, sizeof key, "%s:pauses", rs->tag);
    const char *argv[2] = {"HGETALL", key};
    size_t lens[2] = {7, strlen(key)};
    redisReply *r = redis_conn_command(rs->pool, 2, argv, lens, 0);
    if (!r) return NULL;
    pause_entry *entries = NULL;
    if (r->type != REDIS_REPLY_ARRAY) {
        diag_set(DIAG_BACKEND, "redis pause list: %s",
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        goto out;
    }
    size_t pairs = r->elements / 2;
    if (!(entries = calloc(pairs ? pairs : 1, sizeof *entries))) {
        diag_set(DIAG_INTERNAL, "out of memory listing pauses");
        goto out;
    }
    *n = 0;
    for (size_t i = 0; i < pairs; i++)
        if (pause_decode(&entries[*n], r->element[2 * i], r->element[2 * i + 1]) == 0) (*n)++;
    if (*n > 1) qsort(entries, *n, sizeof *entries, entry_cmp);
out:
    freeReplyObject(r);
    return entries;
}

static void entries_free(pause_entry *entries, size_t n)
{
    for (size_t i = 0; i < n; i++) free(entries[i].buf);
    free(entries);
}

static int same(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

int redis_pause_check(es_store *s, const char *tenant_id, const char *pipeline,
                      const char *component, pause_mode *mode)
{
    size_t n = 0;
    pause_entry *entries = pauses_read(store_of(s), &n);
    if (!entries) return -1;
    *mode = PAUSE_NONE;
    for (size_t i = 0; i < n; i++) {
        const es_pause *p = &entries[i].p;
        if (!same(p->pipeline, pipeline)) continue;
        if (p->tenant_id && !same(p->tenant_id, tenant_id)) continue;
        if (component && p->component && !same(p->component, component)) continue;
        if (p->mode > *mode) *mode = p->mode;
    }
    entries_free(entries, n);
    return 0;
}

int redis_pause_list(es_store *s, es_pause_cb cb, void *ud)
{
    size_t n = 0;
    pause_entry *entries = pauses_read(store_of(s), &n);
    if (!entries) return -1;
    for (size_t i = 0; i < n; i++)
        if (cb(ud, &entries[i].p) != 0) break;
    entries_free(entries, n);
    return 0;
}
