/* redis_cluster.c: what the connection pool (redis_conn.c) needs to know
 * about Redis Cluster: the hash slot of a key (CRC16 of its hash tag, as
 * the cluster specification defines it), which argument of a command is
 * the key the command is routed by, and the MOVED/ASK redirect replies. */
#include "redis_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* CRC16-CCITT (XMODEM: polynomial 0x1021, initial 0), bitwise: keys are
 * hashed only in cluster mode, and only their hash tag, a few bytes. */
static unsigned crc16(const char *s, size_t len)
{
    unsigned crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (unsigned)(unsigned char)s[i] << 8;
        for (int b = 0; b < 8; b++)
            crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
    return crc;
}

int redis_key_slot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open) {
        size_t rest = len - (size_t)(open + 1 - key);
        const char *close = memchr(open + 1, '}', rest);
        if (close && close > open + 1) {
            key = open + 1;
            len = (size_t)(close - key);
        }
    }
    return (int)(crc16(key, len) & (REDIS_SLOTS - 1));
}

int redis_command_slot(int argc, const char *const *argv, const size_t *lens)
{
    if (argc < 2) return -1;
    const char *cmd = argv[0];
    if (strcasecmp(cmd, "EVALSHA") == 0 || strcasecmp(cmd, "EVAL") == 0) {
        if (argc < 4 || (lens[2] == 1 && argv[2][0] == '0')) return -1;
        return redis_key_slot(argv[3], lens[3]);
    }
    static const char *const keyless[] = {"SCRIPT", "SCAN", "PING", "INFO", "CLUSTER",
                                          "ASKING", "AUTH", "SELECT"};
    for (size_t i = 0; i < sizeof keyless / sizeof *keyless; i++)
        if (strcasecmp(cmd, keyless[i]) == 0) return -1;
    return redis_key_slot(argv[1], lens[1]);
}

int redis_redirect_parse(const redisReply *r, redis_redirect *out)
{
    if (r->type != REDIS_REPLY_ERROR) return 0;
    int ask;
    const char *s = r->str;
    if (strncmp(s, "MOVED ", 6) == 0) ask = 0;
    else if (strncmp(s, "ASK ", 4) == 0) ask = 1;
    else return 0;
    s += ask ? 4 : 6;
    char *end;
    long slot = strtol(s, &end, 10);
    if (end == s || *end != ' ' || slot < 0 || slot >= REDIS_SLOTS) return 0;
    const char *addr = end + 1;
    /* "host:port": the host may be IPv6, or empty (the node does not know
     * its endpoint: the one we asked, redis_conn.c) */
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof out->host) return 0;
    long port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end || port <= 0 || port > 65535) return 0;
    memcpy(out->host, addr, (size_t)(colon - addr));
    out->host[colon - addr] = '\0';
    out->port = (int)port;
    out->slot = (int)slot;
    out->ask = ask;
    return 1;
}
