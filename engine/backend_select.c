/* backend_select.c: which store serves which kind, from the options:
 *   --memory (tests)          everything in process
 *   default (embedded)        everything in one SQLite database under --data
 *   --redis URL               queues in Redis; the rest stays embedded
 * (ClickHouse joins here when its backend is wired.) */
#include "backend_select.h"
#include "diag.h"
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
    return 0;
}
