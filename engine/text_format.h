/* text_format.h: the byte-level pieces the JSON and Redis writers share:
 * integers in decimal (without printf, which showed in profiles of
 * writers that format several numbers per event; and read back without
 * strtoll) and code points in UTF-8. */
#ifndef ES_TEXT_FORMAT_H
#define ES_TEXT_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* Writes v in decimal at out (at most 20 bytes, no NUL); the length. */
size_t text_decimal_u(char *out, uint64_t v);

/* Writes v in decimal at out, '-' first when negative (at most 20 bytes,
 * no NUL); the length. */
size_t text_decimal(char *out, int64_t v);

/* Reads s[0..len) as a decimal int64 ('-' allowed first, digits only,
 * no spaces nor '+'): 0 and *out, or -1 when it is not one or overflows.
 * strtoll cost ~200 instructions a call in the claim's job decoding. */
int text_parse_int64(const char *s, size_t len, int64_t *out);

/* Writes code point cp (at most 0x10FFFF) in UTF-8 at out (1 to 4
 * bytes); the length. */
size_t text_utf8(char *out, unsigned long cp);

#endif
