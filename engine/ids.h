/* ids.h: job and event identifiers. Random ids for new commands;
 * deterministic ids derived from a parent id so that a retried job produces
 * the same ids and the stores deduplicate it. */
#ifndef ES_IDS_H
#define ES_IDS_H

#include <stddef.h>

#define ID_HEX_LEN 32 /* 128 bits as lowercase hex */

/* Writes a random 32-hex-digit id plus NUL into out (33 bytes). */
void ids_random(char out[ID_HEX_LEN + 1]);

/* Writes a 32-hex-digit id into out: 12 digits of the time now_ms, then
 * 20 random ones. Ids drawn later sort later (at millisecond resolution),
 * so an index keyed by them grows at its right edge. */
void ids_timed(char out[ID_HEX_LEN + 1], long long now_ms);

/* Writes a 32-hex-digit id derived from (parent, salt, index) into out:
 * the same inputs always give the same id. */
void ids_derive(char out[ID_HEX_LEN + 1], const char *parent, const char *salt,
                size_t index);

/* Ids of one aggregate's work share their first ID_LOCAL_HEX digits, a
 * hash of a locality string (the aggregate's command group key): the
 * indexes keyed by id (the queue's origin index, event ids, map record ids)
 * then hold an aggregate's entries side by side, and a batch of one
 * aggregate dirties a few index pages instead of one random page per job
 * (each a 4 KiB WAL write on SQLite). The rest of the id keeps its
 * uniqueness (96 random or derived bits). */
#define ID_LOCAL_HEX 8

/* Overwrites the first ID_LOCAL_HEX digits of id with the locality's hash. */
void ids_localize(char id[ID_HEX_LEN + 1], const char *locality);

/* A 64-bit FNV-1a hash of n bytes, for content hashes. */
unsigned long long ids_hash64(const void *data, size_t n, unsigned long long seed);

#endif
