/* redis_sha1.c: SHA-1 (FIPS 180-4) on the client, for the event index's
 * bloom filter: the bit positions of an id are the first 12 hex digits of
 * its SHA-1 (stores/redis/event_index.lua), which the script computed with
 * redis.sha1hex for every id it added, a few microseconds each in Redis's
 * Lua. The client hashes the ids of its own events instead and sends the
 * digits with them; the positions are the same, so filters written either
 * way answer alike. */
#include "redis_int.h"

#include <stdint.h>
#include <string.h>

static uint32_t rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

/* One 64-byte block into state h. */
static void sha1_block(uint32_t h[5], const unsigned char *p)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[i * 4] << 24 | (uint32_t)p[i * 4 + 1] << 16 |
               (uint32_t)p[i * 4 + 2] << 8 | (uint32_t)p[i * 4 + 3];
    for (int i = 16; i < 80; i++) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) f = (b & c) | (~b & d), k = 0x5A827999;
        else if (i < 40) f = b ^ c ^ d, k = 0x6ED9EBA1;
        else if (i < 60) f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
        else f = b ^ c ^ d, k = 0xCA62C1D6;
        uint32_t t = rol(a, 5) + f + e + k + w[i];
        e = d, d = c, c = rol(b, 30), b = a, a = t;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

void redis_sha1_hex12(const char *s, size_t len, char out[12])
{
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    const unsigned char *p = (const unsigned char *)s;
    size_t left = len;
    for (; left >= 64; left -= 64, p += 64) sha1_block(h, p);
    /* the tail, 0x80, zeros, and the length in bits (big endian) */
    unsigned char last[128] = {0};
    memcpy(last, p, left);
    last[left] = 0x80;
    size_t end = left + 1 + 8 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++) last[end - 1 - i] = (unsigned char)(bits >> (i * 8));
    sha1_block(h, last);
    if (end == 128) sha1_block(h, last + 64);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 12; i++) out[i] = hex[(h[i / 8] >> (28 - (i % 8) * 4)) & 15];
}
