/* test_json_buf.c: JSON string escaping and formatting into a json_buf,
 * and decimal integers read back (text_format.h). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "json_buf.h"
#include "text_format.h"
#include "testlib.h"

static void test_quoted_escapes(void)
{
    json_buf b;
    jb_init(&b);
    jb_quoted(&b, "plain");
    jb_raw(&b, ",", 1);
    jb_quoted(&b, "{\"a\":\"b\\c\"}\n\r\t\b\f");
    jb_raw(&b, ",", 1);
    jb_quoted_n(&b, "\x01x\x1f\0y", 5);
    jb_raw(&b, ",", 1);
    jb_quoted(&b, "");
    jb_raw(&b, ",", 1);
    jb_quoted(&b, NULL);
    CHECK_STR(b.data, "\"plain\",\"{\\\"a\\\":\\\"b\\\\c\\\"}\\n\\r\\t\\b\\f\","
                      "\"\\u0001x\\u001f\\u0000y\",\"\",null");
    CHECK_INT(b.len, strlen(b.data));
    jb_free(&b);
}

static void test_quoted_long_escaped_string(void)
{
    char s[5000];
    for (size_t i = 0; i < sizeof s - 1; i++) s[i] = i % 2 ? '"' : '\x02';
    s[sizeof s - 1] = '\0';
    json_buf b;
    jb_init(&b);
    jb_quoted(&b, s);
    CHECK(!b.oom);
    CHECK_INT(b.len, 2 + 2499 * 2 + 2500 * 6);
    CHECK(strncmp(b.data, "\"\\u0002\\\"\\u0002", 15) == 0);
    CHECK_INT(b.data[b.len - 1], '"');
    CHECK_INT(b.data[b.len], '\0');
    jb_free(&b);
}

static void test_printf_short_and_long(void)
{
    json_buf b;
    jb_init(&b);
    jb_printf(&b, "{\"seq\":%lld,", 42LL);
    char long_text[1000];
    memset(long_text, 'z', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    jb_printf(&b, "\"t\":\"%s\"}", long_text);
    CHECK(strncmp(b.data, "{\"seq\":42,\"t\":\"zzz", 18) == 0);
    CHECK_INT(b.len, strlen("{\"seq\":42,\"t\":\"\"}") + 999);
    CHECK_INT(strlen(b.data), b.len);
    jb_free(&b);
}

static void test_int_extremes(void)
{
    json_buf b;
    jb_init(&b);
    jb_int(&b, 0);
    jb_raw(&b, ",", 1);
    jb_int(&b, -42);
    jb_raw(&b, ",", 1);
    jb_int(&b, INT64_MAX);
    jb_raw(&b, ",", 1);
    jb_int(&b, INT64_MIN);
    CHECK_STR(b.data, "0,-42,9223372036854775807,-9223372036854775808");
    jb_free(&b);
}

static int parse(const char *s, int64_t *v)
{
    return text_parse_int64(s, strlen(s), v);
}

static void test_parse_int64(void)
{
    int64_t v = 7;
    CHECK_INT(parse("0", &v), 0);
    CHECK(v == 0);
    CHECK_INT(parse("-0", &v), 0);
    CHECK(v == 0);
    CHECK_INT(parse("1732000000123", &v), 0);
    CHECK(v == 1732000000123LL);
    CHECK_INT(parse("9223372036854775807", &v), 0);
    CHECK(v == INT64_MAX);
    CHECK_INT(parse("-9223372036854775808", &v), 0);
    CHECK(v == INT64_MIN);
    const char *bad[] = {"", "-", "9223372036854775808", "-9223372036854775809",
                         "99999999999999999999", "12a", " 1", "+1", "1 ", "--1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (parse(bad[i], &v) != -1) fprintf(stderr, "  parsed: '%s'\n", bad[i]);
        CHECK_INT(parse(bad[i], &v), -1);
    }
    /* only len bytes are read */
    CHECK_INT(text_parse_int64("42\x1f" "9", 2, &v), 0);
    CHECK(v == 42);
}

int main(void)
{
    RUN_TEST(test_quoted_escapes);
    RUN_TEST(test_quoted_long_escaped_string);
    RUN_TEST(test_printf_short_and_long);
    RUN_TEST(test_int_extremes);
    RUN_TEST(test_parse_int64);
    return TEST_EXIT();
}
