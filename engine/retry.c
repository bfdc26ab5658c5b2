/* retry.c: exponential backoff with jitter (see retry.h). */
#include "retry.h"

#include <stdlib.h>
#include <time.h>

static _Thread_local unsigned int jitter_seed;

int64_t retry_delay_ms(int attempts, int64_t base_ms, int64_t max_ms)
{
    if (attempts < 1) attempts = 1;
    int64_t delay = base_ms;
    for (int i = 1; i < attempts && delay < max_ms; i++) delay *= 2;
    if (delay > max_ms) delay = max_ms;
    if (jitter_seed == 0) jitter_seed = (unsigned int)time(NULL) ^ (unsigned int)(size_t)&jitter_seed;
    double factor = 0.75 + (double)rand_r(&jitter_seed) / ((double)RAND_MAX + 1.0) * 0.5;
    return (int64_t)((double)delay * factor);
}
