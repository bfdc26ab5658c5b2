/* backend_select.c: which store serves which kind, from the options:
 *   memory (tests)          everything in process
 *   default (embedded)      everything in one SQLite database under --data
 *   --redis URL             queues in Redis; events and projections embedded
 *   --clickhouse URL        event log and map records in ClickHouse; fold
 *                           state of record in Redis (or SQLite without
 *                           --redis) with a queryable copy in ClickHouse */
#include "backend_select.h"
#include "clickhouse_store.h"
#include "diag.h"
#include "fold_mirror.h"
#include "memory_store.h"
#include "redis_store.h"
#include "sqlite_store.h"

#include <string.h>

static int given(const char *s) { return s && *s; }

int backends_open(const es_engine_options *opt, es_backends *out)
{
    memset(out, 0, sizeof *out);
    if (opt->memory) {
        es_store *m = memory_store_open();
        if (!m) return -1;
        out->events = out->queue = out->folds = out->records = m;
        return 0;
    }
    es_store *embedded = sqlite_store_open(opt->data_dir);
    if (!embedded) {
        diag_prefix("embedded store in %s", opt->data_dir);
        return -1;
    }
    out->events = out->queue = out->folds = out->records = embedded;
    if (given(opt->redis_url)) {
        es_store *redis = redis_store_open(opt->redis_url, "esengine");
        if (!redis) {
            diag_prefix("redis %s", opt->redis_url);
            backends_close(out);
            return -1;
        }
        out->queue = redis;
    }
    if (given(opt->clickhouse_url)) {
        es_store *ch = clickhouse_store_open_lazy(opt->clickhouse_url);
        if (!ch) {
            diag_prefix("clickhouse");
            backends_close(out);
            return -1;
        }
        out->events = out->records = ch;
        es_store *folds = fold_mirror_open(out->queue != embedded ? out->queue : embedded, ch);
        if (!folds) {
            backends_close(out);
            return -1;
        }
        out->folds = folds;
        /* Seqs and idempotency from the queue's event index when it keeps one. */
        if (out->queue != embedded && out->queue->ops->event_index_assign &&
            clickhouse_store_use_index(ch, out->queue) != 0) {
            backends_close(out);
            return -1;
        }
        /* With Redis and ClickHouse nothing is embedded any more. */
        if (out->queue != embedded) embedded->ops->close(embedded);
    }
    return 0;
}
