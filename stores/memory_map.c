/* memory_map.c: an intrusive string-keyed hash map (see memory_map.h). */
#include "memory_map.h"
#include "diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MMAP_INITIAL_BUCKETS 16

/* FNV-1a, 64 bit. */
static uint64_t mmap_hash(const char *key)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= UINT64_C(1099511628211);
    }
    return h;
}

/* Doubles the bucket array when the load passes 1; keeps the old one when
 * the allocation fails. */
static void mmap_grow(mmap *m)
{
    if (m->count < m->nbuckets) return;
    size_t nb = m->nbuckets * 2;
    mmap_node **buckets = calloc(nb, sizeof *buckets);
    if (!buckets) return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        mmap_node *node = m->buckets[i];
        while (node) {
            mmap_node *next = node->next;
            size_t b = node->hash & (nb - 1);
            node->next = buckets[b];
            buckets[b] = node;
            node = next;
        }
    }
    free(m->buckets);
    m->buckets = buckets;
    m->nbuckets = nb;
}

int mmap_init(mmap *m)
{
    m->count = 0;
    m->nbuckets = MMAP_INITIAL_BUCKETS;
    m->buckets = calloc(m->nbuckets, sizeof *m->buckets);
    if (!m->buckets) {
        diag_set(DIAG_INTERNAL, "out of memory creating a memory store map");
        return -1;
    }
    return 0;
}

void mmap_destroy(mmap *m)
{
    free(m->buckets);
    memset(m, 0, sizeof *m);
}

mmap_node *mmap_get(const mmap *m, const char *key)
{
    uint64_t h = mmap_hash(key);
    for (mmap_node *node = m->buckets[h & (m->nbuckets - 1)]; node; node = node->next)
        if (node->hash == h && strcmp(node->key, key) == 0) return node;
    return NULL;
}

void mmap_insert(mmap *m, mmap_node *node, const char *key)
{
    mmap_grow(m);
    node->key = key;
    node->hash = mmap_hash(key);
    size_t b = node->hash & (m->nbuckets - 1);
    node->next = m->buckets[b];
    m->buckets[b] = node;
    m->count++;
}

void mmap_remove(mmap *m, mmap_node *node)
{
    mmap_node **link = &m->buckets[node->hash & (m->nbuckets - 1)];
    while (*link && *link != node) link = &(*link)->next;
    if (!*link) return;
    *link = node->next;
    node->next = NULL;
    m->count--;
}

void mmap_each(const mmap *m, void (*fn)(mmap_node *node, void *ud), void *ud)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        mmap_node *node = m->buckets[i];
        while (node) {
            mmap_node *next = node->next;
            fn(node, ud);
            node = next;
        }
    }
}

char *mmap_key(int n, ...)
{
    va_list ap;
    size_t len = 0;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        const char *part = va_arg(ap, const char *);
        len += (part ? strlen(part) : 0) + 1;
    }
    va_end(ap);
    char *key = malloc(len ? len : 1);
    if (!key) {
        diag_set(DIAG_INTERNAL, "out of memory building a memory store key");
        return NULL;
    }
    char *p = key;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        const char *part = va_arg(ap, const char *);
        size_t plen = part ? strlen(part) : 0;
        memcpy(p, part ? part : "", plen);
        p += plen;
        if (i + 1 < n) *p++ = '\x1f';
    }
    va_end(ap);
    *p = '\0';
    return key;
}
