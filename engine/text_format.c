/* text_format.c: integers in decimal, code points in UTF-8 (see
 * text_format.h). */
#include "text_format.h"

#include <string.h>

/* "00" "01" ... "99": two digits per division. */
static const char DIGIT_PAIRS[] =
    "0001020304050607080910111213141516171819"
    "2021222324252627282930313233343536373839"
    "4041424344454647484950515253545556575859"
    "6061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

size_t text_decimal_u(char *out, uint64_t v)
{
    char digits[20];
    size_t at = sizeof digits;
    while (v >= 100) {
        unsigned pair = (unsigned)(v % 100);
        v /= 100;
        at -= 2;
        memcpy(digits + at, DIGIT_PAIRS + 2 * pair, 2);
    }
    if (v >= 10) {
        at -= 2;
        memcpy(digits + at, DIGIT_PAIRS + 2 * v, 2);
    } else {
        digits[--at] = (char)('0' + v);
    }
    memcpy(out, digits + at, sizeof digits - at);
    return sizeof digits - at;
}

size_t text_decimal(char *out, int64_t v)
{
    if (v >= 0) return text_decimal_u(out, (uint64_t)v);
    out[0] = '-';
    return 1 + text_decimal_u(out + 1, 0 - (uint64_t)v);
}

int text_parse_int64(const char *s, size_t len, int64_t *out)
{
    int negative = len > 0 && s[0] == '-';
    size_t i = negative ? 1 : 0;
    if (i == len) return -1;
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    for (; i < len; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9 || v > (limit - d) / 10) return -1;
        v = v * 10 + d;
    }
    *out = negative ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

size_t text_utf8(char *out, unsigned long cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}
