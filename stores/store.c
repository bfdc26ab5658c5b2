/* store.c: helpers shared by every backend and by the engine (see store.h). */
#include "store.h"

#include <stdlib.h>
#include <string.h>

void store_claim_clear(es_claim *claim)
{
    for (size_t i = 0; i < claim->n; i++) job_clear(&claim->jobs[i]);
    free(claim->jobs);
    free(claim->group_key);
    memset(claim, 0, sizeof *claim);
}

/* Fills `out` with the distinct stores of b in a fixed order. */
static size_t distinct_stores(es_backends *b, es_store *out[4])
{
    es_store *all[4] = {b->events, b->queue, b->folds, b->records};
    size_t n = 0;
    for (int i = 0; i < 4; i++) {
        if (!all[i]) continue;
        int seen = 0;
        for (size_t j = 0; j < n; j++) seen |= out[j] == all[i];
        if (!seen) out[n++] = all[i];
    }
    return n;
}

void backends_close(es_backends *b)
{
    es_store *s[4];
    size_t n = distinct_stores(b, s);
    for (size_t i = 0; i < n; i++) s[i]->ops->close(s[i]);
    memset(b, 0, sizeof *b);
}

int backends_tx_begin(es_backends *b)
{
    es_store *s[4];
    size_t n = distinct_stores(b, s);
    for (size_t i = 0; i < n; i++) {
        if (s[i]->ops->tx_begin && s[i]->ops->tx_begin(s[i]) != 0) {
            while (i-- > 0)
                if (s[i]->ops->tx_rollback) s[i]->ops->tx_rollback(s[i]);
            return -1;
        }
    }
    return 0;
}

int backends_busy(es_backends *b)
{
    es_store *s[4];
    size_t n = distinct_stores(b, s);
    for (size_t i = 0; i < n; i++)
        if (s[i]->ops->busy && s[i]->ops->busy(s[i])) return 1;
    return 0;
}

/* Commits the distinct stores of b in order, batched where `batched` and
 * the store can; on a failure rolls back the stores not yet committed. */
static int stores_commit(es_backends *b, int batched)
{
    es_store *s[4];
    size_t n = distinct_stores(b, s);
    for (size_t i = 0; i < n; i++) {
        int (*commit)(es_store *) = batched && s[i]->ops->tx_commit_batched
                                        ? s[i]->ops->tx_commit_batched
                                        : s[i]->ops->tx_commit;
        if (commit && commit(s[i]) != 0) {
            for (size_t j = i; j < n; j++)
                if (s[j]->ops->tx_rollback) s[j]->ops->tx_rollback(s[j]);
            return -1;
        }
    }
    return 0;
}

int backends_tx_commit(es_backends *b)
{
    return stores_commit(b, 0);
}

int backends_tx_commit_batched(es_backends *b)
{
    return stores_commit(b, 1);
}

int backends_async_count(es_backends *b)
{
    es_store *s[4];
    size_t n = distinct_stores(b, s);
    int count = 0;
    for (size_t i = 0; i < n; i++) count += s[i]->ops->tx_commit_async != NULL;
    return count;
}

int backends_tx_commit_async(es_backends *b, void (*done)(void *ud, int status), void *ud)
{
    es_store *s[4];
    size_t n = distinct_stores(b, s);
    for (size_t i = 0; i < n; i++) {
        if (s[i]->ops->tx_commit_async || !s[i]->ops->tx_commit) continue;
        if (s[i]->ops->tx_commit(s[i]) != 0) {
            backends_tx_rollback(b);
            return -1;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (s[i]->ops->tx_commit_async && s[i]->ops->tx_commit_async(s[i], done, ud) != 0)
            return -1;
    return 0;
}

void backends_tx_rollback(es_backends *b)
{
    es_store *s[4];
    size_t n = distinct_stores(b, s);
    for (size_t i = 0; i < n; i++)
        if (s[i]->ops->tx_rollback) s[i]->ops->tx_rollback(s[i]);
}
