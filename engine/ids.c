/* ids.c: random and derived identifiers (see ids.h). */
#include "ids.h"

#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

unsigned long long ids_hash64(const void *data, size_t n, unsigned long long seed)
{
    const unsigned char *p = data;
    unsigned long long h = 1469598103934665603ULL ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    /* Final avalanche (splitmix64) so short inputs spread over all bits. */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

/* Per-thread generator (xoshiro256**), seeded once per thread from
 * getrandom: one syscall per thread instead of one per id. Ids need to be
 * unique, not unpredictable; 2^256 states make a repeat across threads and
 * processes as unlikely as with getrandom itself. The engine never forks,
 * so no child repeats its parent's sequence. */
static _Thread_local unsigned long long rng_state[4];
static _Thread_local int rng_seeded;

static unsigned long long rotl64(unsigned long long x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static void rng_seed(void)
{
    if (getrandom(rng_state, sizeof rng_state, 0) != (ssize_t)sizeof rng_state) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        unsigned long long h = ids_hash64(&ts, sizeof ts, (unsigned long long)getpid());
        for (int i = 0; i < 4; i++)
            rng_state[i] = h = ids_hash64(&h, sizeof h, (unsigned long long)(size_t)&rng_state);
    }
    rng_seeded = 1;
}

static unsigned long long rng_next(void)
{
    if (!rng_seeded) rng_seed();
    unsigned long long *s = rng_state;
    unsigned long long result = rotl64(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

/* Writes the low `digits` hex digits of v, most significant first. */
static void put_hex(char *out, unsigned long long v, int digits)
{
    static const char HEX[] = "0123456789abcdef";
    for (int i = digits - 1; i >= 0; i--, v >>= 4) out[i] = HEX[v & 15];
}

void ids_random(char out[ID_HEX_LEN + 1])
{
    put_hex(out, rng_next(), 16);
    put_hex(out + 16, rng_next(), 16);
    out[ID_HEX_LEN] = '\0';
}

void ids_timed(char out[ID_HEX_LEN + 1], long long now_ms)
{
    put_hex(out, (unsigned long long)now_ms, 12);
    put_hex(out + 12, rng_next(), 16);
    put_hex(out + 28, rng_next(), 4);
    out[ID_HEX_LEN] = '\0';
}

/* Writes "#<index in decimal>#" (what snprintf "#%zu#" gives, without
 * its cost: ids_derive runs per event); returns its length. */
static size_t put_index(char out[24], size_t index)
{
    char digits[20];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + index % 10);
        index /= 10;
    } while (index);
    out[0] = '#';
    for (size_t i = 0; i < n; i++) out[1 + i] = digits[n - 1 - i];
    out[n + 1] = '#';
    return n + 2;
}

void ids_derive(char out[ID_HEX_LEN + 1], const char *parent, const char *salt,
                size_t index)
{
    char buf[24];
    size_t n = put_index(buf, index);
    unsigned long long a = ids_hash64(parent, strlen(parent), 0x9e3779b97f4a7c15ULL);
    a = ids_hash64(salt, strlen(salt), a);
    a = ids_hash64(buf, n, a);
    unsigned long long b = ids_hash64(parent, strlen(parent), a);
    b = ids_hash64(buf, n, b ^ 0x632be59bd9b4e019ULL);
    put_hex(out, a, 16);
    put_hex(out + 16, b, 16);
    out[ID_HEX_LEN] = '\0';
}

void ids_localize(char id[ID_HEX_LEN + 1], const char *locality)
{
    put_hex(id, ids_hash64(locality, strlen(locality), 0x51ed270b27f1b0c5ULL), ID_LOCAL_HEX);
}
