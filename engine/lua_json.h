/* lua_json.h: JSON for the runtime's hot paths (commands, events, states,
 * records), as the core module's json_encode and json_decode: the same
 * results as the runtime's lua-cjson instance (its default settings), in
 * less time: integers are written without printf, strings are copied in
 * runs rather than a byte at a time, and a string without escapes is
 * pushed straight from the input. */
#ifndef ES_LUA_JSON_H
#define ES_LUA_JSON_H

#include <lua.h>

/* Sets json_encode and json_decode on the table at the top of L's stack.
 *
 * json_encode(value) -> string. As cjson.encode: a table is an array when
 * its keys are all integers from 1 to 2^31 - 1 (holes as null; a largest
 * key over 10 and over twice the number of items is an error, "excessively
 * sparse"), else an
 * object whose keys are strings or numbers; an empty table is {}; numbers
 * are written as "%.14g" would (NaN and infinities are errors); '/' and
 * control bytes are escaped; the null light userdata (cjson.null) is null;
 * nesting beyond 1000 is an error. Raises "Cannot serialise ...".
 *
 * json_decode(string) -> value, nonfinite. As cjson.decode (nonfinite, a
 * second result cjson lacks: whether a NaN or an infinity was read, which
 * json_encode would refuse to write back): the input ends at its
 * first NUL byte, null is cjson.null,
 * numbers are read as strtod reads them (cjson's default also takes hex,
 * a leading '+', NaN and infinities), \u escapes (surrogate pairs too) become UTF-8,
 * nesting beyond 1000 is an error. Raises "Expected ... at character N". */
void lua_json_register(lua_State *L);

#endif
