/* heartbeat.c: one thread per engine that extends the leases of the claims
 * its workers are running, every third of the lease, so a long batch keeps
 * its group while a crashed process's groups become claimable after one
 * lease; and that beats the worker registry (registry.c) every
 * REGISTRY_BEAT_MS, or every third of the lease when that is shorter. */
#include "engine_internal.h"
#include "clock.h"
#include "diag.h"

#include <errno.h>
#include <time.h>

static void *heartbeat_main(void *arg)
{
    es_engine *e = arg;
    int64_t extend_every = e->opt.lease_ms / 3 > 0 ? e->opt.lease_ms / 3 : 1;
    int64_t interval = extend_every < REGISTRY_BEAT_MS ? extend_every : REGISTRY_BEAT_MS;
    int64_t next_extend = clock_monotonic_ms() + extend_every;
    registry_beat(e);
    pthread_mutex_lock(&e->heartbeat_lock);
    while (!atomic_load(&e->stopping)) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += interval / 1000;
        until.tv_nsec += (interval % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        int rc = pthread_cond_timedwait(&e->heartbeat_cond, &e->heartbeat_lock, &until);
        if (rc != ETIMEDOUT) continue;
        pthread_mutex_unlock(&e->heartbeat_lock);
        if (clock_monotonic_ms() >= next_extend) {
            for (int i = 0; i < e->n_workers; i++) worker_heartbeat(e->workers[i]);
            next_extend = clock_monotonic_ms() + extend_every;
        }
        registry_beat(e);
        pthread_mutex_lock(&e->heartbeat_lock);
    }
    pthread_mutex_unlock(&e->heartbeat_lock);
    return NULL;
}

int heartbeat_start(es_engine *e)
{
    e->started_at = clock_now_ms();
    if (pthread_create(&e->heartbeat_thread, NULL, heartbeat_main, e) != 0) {
        diag_set(DIAG_INTERNAL, "cannot start the heartbeat thread");
        return -1;
    }
    return 0;
}

void heartbeat_stop(es_engine *e)
{
    pthread_mutex_lock(&e->heartbeat_lock);
    pthread_cond_broadcast(&e->heartbeat_cond);
    pthread_mutex_unlock(&e->heartbeat_lock);
    pthread_join(e->heartbeat_thread, NULL);
}
