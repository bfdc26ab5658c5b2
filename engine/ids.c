/* ids.c: random and derived identifiers (see ids.h). */
#include "ids.h"

#include <fcntl.h>
#include <stdio.h>
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

void ids_random(char out[ID_HEX_LEN + 1])
{
    unsigned long long r[2];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        r[0] = ids_hash64(&ts, sizeof ts, (unsigned long long)getpid());
        r[1] = ids_hash64(&r[0], sizeof r[0], (unsigned long long)(size_t)out);
    }
    snprintf(out, ID_HEX_LEN + 1, "%016llx%016llx", r[0], r[1]);
}

void ids_timed(char out[ID_HEX_LEN + 1], long long now_ms)
{
    char rnd[ID_HEX_LEN + 1];
    ids_random(rnd);
    snprintf(out, ID_HEX_LEN + 1, "%012llx%.20s", (unsigned long long)now_ms & 0xffffffffffffULL,
             rnd);
}

void ids_derive(char out[ID_HEX_LEN + 1], const char *parent, const char *salt,
                size_t index)
{
    char buf[64];
    int n = snprintf(buf, sizeof buf, "#%zu#", index);
    unsigned long long a = ids_hash64(parent, strlen(parent), 0x9e3779b97f4a7c15ULL);
    a = ids_hash64(salt, strlen(salt), a);
    a = ids_hash64(buf, (size_t)n, a);
    unsigned long long b = ids_hash64(parent, strlen(parent), a);
    b = ids_hash64(buf, (size_t)n, b ^ 0x632be59bd9b4e019ULL);
    snprintf(out, ID_HEX_LEN + 1, "%016llx%016llx", a, b);
}

void ids_localize(char id[ID_HEX_LEN + 1], const char *locality)
{
    char prefix[ID_LOCAL_HEX + 1];
    snprintf(prefix, sizeof prefix, "%08llx",
             ids_hash64(locality, strlen(locality), 0x51ed270b27f1b0c5ULL) & 0xffffffffULL);
    memcpy(id, prefix, ID_LOCAL_HEX);
}
