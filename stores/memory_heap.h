/* memory_heap.h: an intrusive binary min-heap ordered by (score, seq), the
 * memory queue's schedule of groups. */
#ifndef ES_MEMORY_HEAP_H
#define ES_MEMORY_HEAP_H

#include <stddef.h>
#include <stdint.h>

#define MHEAP_NONE SIZE_MAX

/* Embedded in the scheduled object; index is MHEAP_NONE when not in a heap. */
typedef struct mheap_item {
    int64_t score; /* ms at which the object becomes due */
    uint64_t seq;  /* tie-break: earlier insertions first */
    size_t index;
} mheap_item;

typedef struct mheap {
    mheap_item **items;
    size_t n, cap;
} mheap;

/* Ensures room for `cap` items so that mheap_set never allocates. 0, or -1
 * with a diag on OOM. */
int mheap_reserve(mheap *h, size_t cap);

/* Frees the array (not the items). */
void mheap_destroy(mheap *h);

/* Inserts `it` or moves it to its new key. Room must have been reserved. */
void mheap_set(mheap *h, mheap_item *it, int64_t score, uint64_t seq);

/* Removes `it` when it is in the heap. */
void mheap_remove(mheap *h, mheap_item *it);

/* The smallest item, or NULL when empty. O(1). */
mheap_item *mheap_top(const mheap *h);

#endif
