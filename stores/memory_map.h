/* memory_map.h: an intrusive string-keyed hash map for the memory store. */
#ifndef ES_MEMORY_MAP_H
#define ES_MEMORY_MAP_H

#include <stddef.h>
#include <stdint.h>

/* Embedded in the object it indexes; the key string is owned by that object
 * and must outlive its membership in the map. */
typedef struct mmap_node {
    struct mmap_node *next;
    const char *key;
    uint64_t hash;
} mmap_node;

typedef struct mmap {
    mmap_node **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
} mmap;

/* The object holding `node` as its member `member`. */
#define MMAP_ENTRY(node, type, member) \
    ((type *)(void *)((char *)(node) - offsetof(type, member)))

/* Allocates the initial buckets. 0, or -1 with a diag on OOM. */
int mmap_init(mmap *m);

/* Frees the buckets (not the nodes, which belong to their objects). */
void mmap_destroy(mmap *m);

/* The node stored under `key`, or NULL. */
mmap_node *mmap_get(const mmap *m, const char *key);

/* Links `node` under `key` (not already present). Never fails: when the
 * table cannot grow, its chains get longer. */
void mmap_insert(mmap *m, mmap_node *node, const char *key);

/* Unlinks `node`, which must be in `m`. */
void mmap_remove(mmap *m, mmap_node *node);

/* Calls fn for every node; fn may unlink or free the node it is given. */
void mmap_each(const mmap *m, void (*fn)(mmap_node *node, void *ud), void *ud);

/* Joins `n` strings with the 0x1f separator into a malloc'd key (NULL parts
 * count as ""). Returns NULL with a diag on OOM; the caller frees. */
char *mmap_key(int n, ...);

#endif
