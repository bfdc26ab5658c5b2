/* test_command_envelope.c: a command job's envelope split without
 * decoding it (engine/command_envelope.c): its parts in any key order,
 * data whose strings hold brackets, quotes and escapes, other keys
 * skipped; every envelope it must leave to the full decode; and envelopes
 * built around a payload as sent. */
#include <stdlib.h>
#include <string.h>

#include "command_envelope.h"
#include "testlib.h"

/* span as a NUL-terminated copy in buf (for CHECK_STR). */
static const char *text(json_span span, char *buf, size_t size)
{
    size_t n = span.len < size - 1 ? span.len : size - 1;
    memcpy(buf, span.at ? span.at : "", n);
    buf[n] = '\0';
    return buf;
}

static int split(const char *json, command_envelope *e)
{
    return command_envelope_split(json, strlen(json), e);
}

static void test_parts_in_any_order(void)
{
    command_envelope e;
    char buf[256];
    CHECK_INT(split("{\"tenant_id\":\"t1\",\"pipeline\":\"orders\",\"command\":\"place\","
                    "\"aggregate_id\":\"o-1\",\"data\":{\"amount\":42}}",
                    &e),
              1);
    CHECK_STR(text(e.tenant_id, buf, sizeof buf), "t1");
    CHECK_STR(text(e.pipeline, buf, sizeof buf), "orders");
    CHECK_STR(text(e.command, buf, sizeof buf), "place");
    CHECK_STR(text(e.aggregate_id, buf, sizeof buf), "o-1");
    CHECK_STR(text(e.data, buf, sizeof buf), "{\"amount\":42}");
    /* data first, spaces between tokens, a key the envelope does not know
     * (with a nested value) skipped, unicode kept as bytes */
    CHECK_INT(split(" { \"data\" : { \"s\" : \"}{][\\\"\\\\\", \"l\" : [1, {\"x\": null}] } ,"
                    " \"extra\": {\"a\": [\"]\"]}, \"n\": -1.5e3,"
                    " \"aggregate_id\": \"\xc3\xa9t\xc3\xa9\", \"command\": \"c\","
                    " \"pipeline\": \"p\", \"tenant_id\": \"t\" } \n",
                    &e),
              1);
    CHECK_STR(text(e.data, buf, sizeof buf),
              "{ \"s\" : \"}{][\\\"\\\\\", \"l\" : [1, {\"x\": null}] }");
    CHECK_STR(text(e.aggregate_id, buf, sizeof buf), "\xc3\xa9t\xc3\xa9");
    CHECK_STR(text(e.tenant_id, buf, sizeof buf), "t");
    /* an empty payload and an empty aggregate id are parts too */
    CHECK_INT(split("{\"tenant_id\":\"t\",\"pipeline\":\"p\",\"command\":\"c\","
                    "\"aggregate_id\":\"\",\"data\":{}}",
                    &e),
              1);
    CHECK_STR(text(e.data, buf, sizeof buf), "{}");
    CHECK_INT(e.aggregate_id.len, 0);
}

/* What the full decode must see: escaped or control characters in the
 * identity strings, a part missing or of another type, data that is not
 * an object, and anything that is not one well-formed object. */
static void test_left_to_the_full_decode(void)
{
    command_envelope e;
    const char *tail = ",\"pipeline\":\"p\",\"command\":\"c\",\"aggregate_id\":\"a\",\"data\":{}}";
    char json[256];
    static const char *const heads[] = {
        "{\"tenant_id\":\"t\\\"1\"",  /* escaped quote */
        "{\"tenant_id\":\"t\\u0031\"", /* \u escape */
        "{\"tenant_id\":\"t\x01\"",    /* raw control character */
        "{\"tenant_id\":1",            /* not a string */
        "{\"tenant_id\":null",
        "{\"other\":\"t\"",            /* tenant_id missing */
        "[{\"tenant_id\":\"t\"",       /* not an object */
        "{\"tenant_id\":\"t",          /* string not closed */
        "{\"tenant_id\" \"t\"",        /* no colon */
        "{\"tenant_id\":\"t\",",       /* a comma too many */
    };
    for (size_t i = 0; i < sizeof heads / sizeof *heads; i++) {
        snprintf(json, sizeof json, "%s%s", heads[i], tail);
        if (split(json, &e) != 0) fprintf(stderr, "  split: %s\n", json);
        CHECK_INT(split(json, &e), 0);
    }
    static const char *const others[] = {
        "{\"tenant_id\":\"t\",\"pipeline\":\"p\",\"command\":\"c\",\"aggregate_id\":\"a\","
        "\"data\":[1]}",
        "{\"tenant_id\":\"t\",\"pipeline\":\"p\",\"command\":\"c\",\"aggregate_id\":\"a\","
        "\"data\":\"{}\"}",
        "{\"tenant_id\":\"t\",\"pipeline\":\"p\",\"command\":\"c\",\"aggregate_id\":\"a\"}",
        "{\"tenant_id\":\"t\",\"pipeline\":\"p\",\"command\":\"c\",\"aggregate_id\":\"a\","
        "\"data\":{\"x\":1}",
        "{\"tenant_id\":\"t\",\"pipeline\":\"p\",\"command\":\"c\",\"aggregate_id\":\"a\","
        "\"data\":{\"x\":\"}\"}} trailing",
        "{\"tenant_id\":\"t\",\"pipeline\":\"p\",\"command\":\"c\",\"aggregate_id\":\"a\","
        "\"data\":{}}}",
        "",
        "{",
        "{}",
    };
    for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
        if (split(others[i], &e) != 0) fprintf(stderr, "  split: %s\n", others[i]);
        CHECK_INT(split(others[i], &e), 0);
    }
}

static void test_built_envelopes(void)
{
    command_envelope e;
    char buf[256];
    char *json = command_envelope_build("t1", "orders", "place", "o-1", "{\"amount\":42}");
    CHECK_STR(json, "{\"tenant_id\":\"t1\",\"pipeline\":\"orders\",\"command\":\"place\","
                    "\"aggregate_id\":\"o-1\",\"data\":{\"amount\":42}}");
    CHECK_INT(split(json, &e), 1);
    CHECK_STR(text(e.aggregate_id, buf, sizeof buf), "o-1");
    CHECK_STR(text(e.data, buf, sizeof buf), "{\"amount\":42}");
    free(json);
    /* hostile parts are escaped; the payload is kept byte for byte */
    json = command_envelope_build("t\"1\\", "p", "c", "a\nb\xc3\xa9", "{\"s\":\"\\u00e9\"}");
    CHECK_STR(json, "{\"tenant_id\":\"t\\\"1\\\\\",\"pipeline\":\"p\",\"command\":\"c\","
                    "\"aggregate_id\":\"a\\nb\xc3\xa9\",\"data\":{\"s\":\"\\u00e9\"}}");
    free(json);
}

int main(void)
{
    RUN_TEST(test_parts_in_any_order);
    RUN_TEST(test_left_to_the_full_decode);
    RUN_TEST(test_built_envelopes);
    return TEST_EXIT();
}
