/* lua_sources.h: the engine's Lua library (lua/), embedded in the binary at
 * build time by cmake/embed_lua.cmake. */
#ifndef ES_LUA_SOURCES_H
#define ES_LUA_SOURCES_H

#include <stddef.h>

typedef struct lua_source {
    const char *module;    /* "esengine.schema" */
    const char *chunkname; /* "@lua/esengine/schema.lua", for tracebacks */
    const char *code;
    size_t len;
} lua_source;

/* Terminated by an entry with module == NULL. */
extern const lua_source lua_sources[];

#endif
