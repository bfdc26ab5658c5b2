/* clock.h: wall-clock milliseconds with an injectable fixed clock (for the
 * memory backend under tests), and a monotonic clock for durations. */
#ifndef ES_CLOCK_H
#define ES_CLOCK_H

#include <stdint.h>

/* Milliseconds since the Unix epoch; the fixed value when one is set. */
int64_t clock_now_ms(void);

/* Makes clock_now_ms return `ms` until clock_set_fixed(-1) restores the real
 * clock. Process-wide: meant for single-threaded tests. */
void clock_set_fixed(int64_t ms);

/* Advances a fixed clock by `ms` (no effect on the real clock). */
void clock_advance(int64_t ms);

/* Monotonic milliseconds, for timeouts and rates; never fixed. */
int64_t clock_monotonic_ms(void);

/* Sleeps for `ms` milliseconds (interrupted sleeps resume). */
void clock_sleep_ms(int64_t ms);

#endif
