/* ids.h: job and event identifiers. Random ids for new commands;
 * deterministic ids derived from a parent id so that a retried job produces
 * the same ids and the stores deduplicate it. */
#ifndef ES_IDS_H
#define ES_IDS_H

#include <stddef.h>

#define ID_HEX_LEN 32 /* 128 bits as lowercase hex */

/* Writes a random 32-hex-digit id plus NUL into out (33 bytes). */
void ids_random(char out[ID_HEX_LEN + 1]);

/* Writes a 32-hex-digit id derived from (parent, salt, index) into out:
 * the same inputs always give the same id. */
void ids_derive(char out[ID_HEX_LEN + 1], const char *parent, const char *salt,
                size_t index);

/* A 64-bit FNV-1a hash of n bytes, for content hashes. */
unsigned long long ids_hash64(const void *data, size_t n, unsigned long long seed);

#endif
