/* redis_sha1.c: the first 12 hex digits of a string's SHA-1 (nettle's) and
 * its next 12 bytes, on the client, for the event index's bloom filters:
 * they are an id's bit positions (stores/redis/event_index.lua), which the
 * script computed with redis.sha1hex for every id it added, a few
 * microseconds each in Redis's Lua. The client hashes the ids of its own
 * events instead and sends the digits with them; the positions are the
 * same, so filters written either way answer alike. */
#include "redis_int.h"

#include <nettle/sha1.h>
#include <string.h>

void redis_sha1_bloom(const char *s, size_t len, char out[REDIS_BLOOM_DIGITS])
{
    struct sha1_ctx ctx;
    uint8_t digest[SHA1_DIGEST_SIZE];
    sha1_init(&ctx);
    sha1_update(&ctx, len, (const uint8_t *)s);
    sha1_digest(&ctx, sizeof digest, digest);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 6; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    memcpy(out + 12, digest + 6, REDIS_BLOOM_DIGITS - 12);
}
