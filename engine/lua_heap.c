/* lua_heap.c: the memory of one Lua state (see lua_heap.h): free lists per
 * 16-byte size class for small blocks, carved from 64 KiB chunks; malloc
 * for the rest. */
#include "lua_heap.h"

#include <stdlib.h>
#include <string.h>

#define CHUNK_BYTES (64 * 1024)

struct lua_heap_chunk {
    lua_heap_chunk *next;
    /* 16-byte aligned blocks follow */
};

#define CHUNK_HEADER ((sizeof(lua_heap_chunk) + 15) & ~(size_t)15)

/* The size class of a small block of n (1..LUA_HEAP_SMALL) bytes. */
static size_t class_of(size_t n)
{
    return (n - 1) >> 4;
}

/* A block of class c from its free list or the newest chunk; NULL when
 * memory is out. */
static void *small_alloc(lua_heap *heap, size_t c)
{
    void *p = heap->free_list[c];
    if (p) {
        heap->free_list[c] = *(void **)p;
        return p;
    }
    size_t bytes = (c + 1) << 4;
    if ((size_t)(heap->bump_end - heap->bump) < bytes) {
        /* The rest of the old chunk is too small for this class: it stays
         * unused (less than LUA_HEAP_SMALL bytes per chunk). */
        lua_heap_chunk *chunk = malloc(CHUNK_BYTES);
        if (!chunk) return NULL;
        chunk->next = heap->chunks;
        heap->chunks = chunk;
        heap->bump = (char *)chunk + CHUNK_HEADER;
        heap->bump_end = (char *)chunk + CHUNK_BYTES;
    }
    p = heap->bump;
    heap->bump += bytes;
    return p;
}

static void small_free(lua_heap *heap, void *p, size_t c)
{
    *(void **)p = heap->free_list[c];
    heap->free_list[c] = p;
}

void *lua_heap_realloc_slow(lua_heap *heap, void *ptr, size_t osize, size_t nsize)
{
    int was_small = ptr && osize <= LUA_HEAP_SMALL;
    if (nsize == 0) {
        if (was_small) small_free(heap, ptr, class_of(osize));
        else free(ptr);
        return NULL;
    }
    if (nsize <= LUA_HEAP_SMALL) {
        if (was_small && class_of(osize) == class_of(nsize)) return ptr;
        void *p = small_alloc(heap, class_of(nsize));
        if (!p || !ptr) return p;
        memcpy(p, ptr, osize < nsize ? osize : nsize);
        if (was_small) small_free(heap, ptr, class_of(osize));
        else free(ptr);
        return p;
    }
    if (!ptr || !was_small) return realloc(ptr, nsize);
    void *p = malloc(nsize);
    if (!p) return NULL;
    memcpy(p, ptr, osize);
    small_free(heap, ptr, class_of(osize));
    return p;
}

void lua_heap_release(lua_heap *heap)
{
    lua_heap_chunk *chunk = heap->chunks;
    while (chunk) {
        lua_heap_chunk *next = chunk->next;
        free(chunk);
        chunk = next;
    }
    memset(heap, 0, sizeof *heap);
}
