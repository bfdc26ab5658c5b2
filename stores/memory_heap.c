/* memory_heap.c: an intrusive binary min-heap (see memory_heap.h). */
#include "memory_heap.h"
#include "diag.h"

#include <stdlib.h>

static int mheap_less(const mheap_item *a, const mheap_item *b)
{
    return a->score < b->score || (a->score == b->score && a->seq < b->seq);
}

static void mheap_place(mheap *h, mheap_item *it, size_t i)
{
    h->items[i] = it;
    it->index = i;
}

static void mheap_sift_up(mheap *h, size_t i)
{
    mheap_item *it = h->items[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!mheap_less(it, h->items[parent])) break;
        mheap_place(h, h->items[parent], i);
        i = parent;
    }
    mheap_place(h, it, i);
}

static void mheap_sift_down(mheap *h, size_t i)
{
    mheap_item *it = h->items[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->n) break;
        if (child + 1 < h->n && mheap_less(h->items[child + 1], h->items[child])) child++;
        if (!mheap_less(h->items[child], it)) break;
        mheap_place(h, h->items[child], i);
        i = child;
    }
    mheap_place(h, it, i);
}

int mheap_reserve(mheap *h, size_t cap)
{
    if (cap <= h->cap) return 0;
    size_t ncap = h->cap ? h->cap * 2 : 64;
    while (ncap < cap) ncap *= 2;
    mheap_item **items = realloc(h->items, ncap * sizeof *items);
    if (!items) {
        diag_set(DIAG_INTERNAL, "out of memory growing the memory queue schedule");
        return -1;
    }
    h->items = items;
    h->cap = ncap;
    return 0;
}

void mheap_destroy(mheap *h)
{
    free(h->items);
    h->items = NULL;
    h->n = h->cap = 0;
}

void mheap_set(mheap *h, mheap_item *it, int64_t score, uint64_t seq)
{
    it->score = score;
    it->seq = seq;
    if (it->index == MHEAP_NONE) {
        mheap_place(h, it, h->n++);
        mheap_sift_up(h, it->index);
        return;
    }
    mheap_sift_up(h, it->index);
    mheap_sift_down(h, it->index);
}

void mheap_remove(mheap *h, mheap_item *it)
{
    size_t i = it->index;
    if (i == MHEAP_NONE) return;
    it->index = MHEAP_NONE;
    mheap_item *last = h->items[--h->n];
    if (i == h->n) return;
    mheap_place(h, last, i);
    mheap_sift_up(h, i);
    mheap_sift_down(h, last->index);
}

mheap_item *mheap_top(const mheap *h)
{
    return h->n ? h->items[0] : NULL;
}
