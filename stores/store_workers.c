/* store_workers.c: the worker registry's aging rule, shared by every
 * backend that implements worker_beat / worker_list (store.h). */
#include "store.h"

int store_worker_age_state(int64_t last_beat, int64_t lease_ms, int64_t now)
{
    int64_t lost_after = STORE_WORKER_LOST_LEASES * (lease_ms > 0 ? lease_ms : 1);
    int64_t age = now - last_beat;
    if (age > lost_after + STORE_WORKER_PRUNE_MS) return 2;
    return age > lost_after ? 1 : 0;
}
