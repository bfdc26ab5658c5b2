/* lua_heap.h: the memory of one Lua state. Blocks up to LUA_HEAP_SMALL
 * bytes (tables, strings, closures: nearly all of what pipeline code
 * allocates and the GC frees) come from free lists per 16-byte size class,
 * carved out of 64 KiB chunks; larger ones from malloc. A state is used by
 * one thread at a time, so nothing here locks. Small blocks go back to
 * their list, not to the system, until the heap is destroyed.
 * Why: LuaJIT's own allocator cost ~85 instructions per call, and an event
 * through a command, a fold and a map allocates and frees ~50 objects,
 * tables of 9 to 16 fields among them (a 384-byte node array each). */
#ifndef ES_LUA_HEAP_H
#define ES_LUA_HEAP_H

#include <stddef.h>

#define LUA_HEAP_SMALL 512
#define LUA_HEAP_CLASSES (LUA_HEAP_SMALL / 16)

typedef struct lua_heap_chunk lua_heap_chunk;

typedef struct lua_heap {
    void *free_list[LUA_HEAP_CLASSES]; /* [c]: free blocks of 16 * (c + 1) bytes */
    char *bump, *bump_end;             /* the uncarved rest of the newest chunk */
    lua_heap_chunk *chunks;            /* every chunk, newest first */
} lua_heap;

/* lua_heap_realloc for the cases the inline fast path leaves out. */
void *lua_heap_realloc_slow(lua_heap *heap, void *ptr, size_t osize, size_t nsize);

/* Resizes a block as lua_Alloc does: ptr of osize bytes (NULL: a new one)
 * to nsize bytes, keeping the first min(osize, nsize); nsize 0 frees it and
 * returns NULL. NULL when memory is out (ptr is then untouched). osize must
 * be the size the block was allocated with, as LuaJIT always passes.
 * Inline: freeing a small block and taking one from its free list are
 * most calls, and a few instructions each. */
static inline void *lua_heap_realloc(lua_heap *heap, void *ptr, size_t osize, size_t nsize)
{
    if (nsize == 0) {
        if (ptr && osize <= LUA_HEAP_SMALL) {
            void **list = &heap->free_list[(osize - 1) >> 4];
            *(void **)ptr = *list;
            *list = ptr;
            return NULL;
        }
    } else if (!ptr && nsize <= LUA_HEAP_SMALL) {
        void **list = &heap->free_list[(nsize - 1) >> 4];
        void *p = *list;
        if (p) {
            void *next = *(void **)p;
            *list = next;
            /* the next block of this class is usually cold (the GC freed
             * it a while ago): start loading it now, not at its pop */
            __builtin_prefetch(next, 1);
            return p;
        }
    }
    return lua_heap_realloc_slow(heap, ptr, osize, nsize);
}

/* Gives every chunk back to the system. Call after lua_close: blocks still
 * handed out are gone with it. The heap is empty and usable afterwards. */
void lua_heap_release(lua_heap *heap);

#endif
