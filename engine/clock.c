/* clock.c: real and fixed clocks (see clock.h). */
#include "clock.h"

#include <errno.h>
#include <stdatomic.h>
#include <time.h>

static _Atomic int64_t fixed_ms = -1;

int64_t clock_now_ms(void)
{
    int64_t fixed = atomic_load(&fixed_ms);
    if (fixed >= 0) return fixed;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void clock_set_fixed(int64_t ms) { atomic_store(&fixed_ms, ms); }

void clock_advance(int64_t ms)
{
    if (atomic_load(&fixed_ms) >= 0) atomic_fetch_add(&fixed_ms, ms);
}

int64_t clock_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void clock_sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}
