/* redis_store.c: the Redis store object: open/close, its vtable (queue and
 * fold kinds; units of work are no-ops) and its health (see redis_store.h). */
#include "redis_store.h"
#include "redis_int.h"

#include <stdlib.h>
#include <string.h>

#include "diag.h"

#define DEFAULT_MAX_PAYLOAD (1u << 20)
#define MAX_NAME_LEN 200

static void redis_store_close(es_store *s)
{
    redis_store *rs = (redis_store *)s;
    if (!rs) return;
    redis_conn_pool_free(rs->pool);
    redis_scripts_destroy(&rs->scripts);
    redis_enqueue_group_destroy(&rs->enqueue_group);
    pthread_mutex_destroy(&rs->positions_lock);
    free(rs->name);
    free(rs->tag);
    free(rs);
}

/* Every write is its own atomic script; the engine orders them so that a
 * crash between two is recoverable (store.h). */
static int redis_tx_begin(es_store *s)
{
    (void)s;
    return 0;
}

static int redis_tx_commit(es_store *s)
{
    (void)s;
    return 0;
}

static void redis_tx_rollback(es_store *s) { (void)s; }

static const es_store_ops redis_store_ops = {
    .name = "redis",
    .counts_items = 1,
    .close = redis_store_close,
    .tx_begin = redis_tx_begin,
    .tx_commit = redis_tx_commit,
    .tx_rollback = redis_tx_rollback,
    .queue_enqueue = redis_queue_enqueue,
    .queue_claim = redis_queue_claim,
    .queue_extend = redis_queue_extend,
    .queue_complete = redis_queue_complete,
    .queue_finish_many = redis_queue_finish_many,
    .queue_writes_folds = redis_queue_writes_folds,
    .queue_group_idle = redis_queue_group_idle,
    .queue_fail = redis_queue_fail,
    .queue_stats = redis_queue_stats,
    .queue_parked_list = redis_queue_parked_list,
    .queue_parked_retry = redis_queue_parked_retry,
    .queue_parked_skip = redis_queue_parked_skip,
    .queue_origin_pending = redis_queue_origin_pending,
    .pause_set = redis_pause_set,
    .pause_check = redis_pause_check,
    .pause_list = redis_pause_list,
    .worker_beat = redis_worker_beat,
    .event_index_init = redis_event_index_init,
    .event_index_assign = redis_event_index_assign,
    .event_index_record = redis_event_index_record,
    .worker_list = redis_worker_list,
    .fold_get = redis_fold_get,
    .fold_put = redis_fold_put,
    .fold_scan = redis_fold_scan,
    .fold_swap = redis_fold_swap,
    .fold_drop = redis_fold_drop,
    .replay_checkpoint_get = redis_replay_checkpoint_get,
    .replay_checkpoint_put = redis_replay_checkpoint_put,
};

es_store *redis_store_open(const char *url, const char *queue_name)
{
    if (!queue_name || !queue_name[0] || strlen(queue_name) > MAX_NAME_LEN ||
        strpbrk(queue_name, "{}")) {
        diag_set(DIAG_INVALID, "redis queue name: 1-%d characters without braces, got \"%s\"",
                 MAX_NAME_LEN, queue_name ? queue_name : "(null)");
        return NULL;
    }
    redis_store *rs = calloc(1, sizeof *rs);
    if (!rs) {
        diag_set(DIAG_INTERNAL, "out of memory");
        return NULL;
    }
    rs->base.ops = &redis_store_ops;
    rs->max_payload = DEFAULT_MAX_PAYLOAD;
    if (redis_scripts_init(&rs->scripts) != 0) {
        free(rs);
        return NULL;
    }
    redis_enqueue_group_init(&rs->enqueue_group);
    pthread_mutex_init(&rs->positions_lock, NULL);
    rs->name = strdup(queue_name);
    rs->tag = malloc(strlen(queue_name) + 3);
    if (!rs->name || !rs->tag) {
        diag_set(DIAG_INTERNAL, "out of memory");
        redis_store_close(&rs->base);
        return NULL;
    }
    sprintf(rs->tag, "{%s}", queue_name);
    if (!(rs->pool = redis_conn_pool_new(url))) {
        redis_store_close(&rs->base);
        return NULL;
    }
    return &rs->base;
}

int redis_store_healthy(es_store *s)
{
    return redis_conn_ping(((redis_store *)s)->pool);
}

void redis_store_set_max_payload(es_store *s, size_t bytes)
{
    ((redis_store *)s)->max_payload = bytes;
}

void redis_store_set_retry_ms(es_store *s, int ms)
{
    redis_conn_pool_set_retry_ms(((redis_store *)s)->pool, ms);
}
