/* retry.h: when to try a failed job again: exponential backoff with jitter. */
#ifndef ES_RETRY_H
#define ES_RETRY_H

#include <stdint.h>

/* Delay before attempt number `attempts + 1`, after `attempts` failures
 * (>= 1): base * 2^(attempts-1), capped at max_ms, then scaled by a random
 * factor in [0.75, 1.25) so that failing groups do not retry in lockstep. */
int64_t retry_delay_ms(int attempts, int64_t base_ms, int64_t max_ms);

#endif
