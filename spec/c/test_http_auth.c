/* test_http_auth.c: API keys file parsing, lookup and reload. */
#include <stdio.h>
#include <unistd.h>

#include "diag.h"
#include "http_auth.h"
#include "testlib.h"

static void test_parse_valid(void) {
    const char *text = "# keys\n\n  key-aaaaaaaa tenant_a\nkey-bbbbbbbb\ttenant.b:1 \r\n";
    http_auth *a = http_auth_parse(text, strlen(text));
    CHECK(a != NULL);
    if (!a) return;
    CHECK_INT(http_auth_count(a), 2);
    char tenant[HTTP_AUTH_MAX_TENANT + 1];
    CHECK_INT(http_auth_lookup(a, "key-aaaaaaaa", 12, tenant, sizeof tenant), 1);
    CHECK_STR(tenant, "tenant_a");
    CHECK_INT(http_auth_lookup(a, "key-bbbbbbbb", 12, tenant, sizeof tenant), 1);
    CHECK_STR(tenant, "tenant.b:1");
    CHECK_INT(http_auth_lookup(a, "key-aaaaaaa", 11, tenant, sizeof tenant), 0);
    CHECK_INT(http_auth_lookup(a, "key-aaaaaaaaa", 13, tenant, sizeof tenant), 0);
    CHECK_INT(http_auth_lookup(a, "", 0, tenant, sizeof tenant), 0);
    http_auth_free(a);
}

static void check_invalid(const char *text, const char *expect_in_message) {
    http_auth *a = http_auth_parse(text, strlen(text));
    CHECK(a == NULL);
    CHECK_INT(diag_code_get(), DIAG_INVALID);
    CHECK(strstr(diag_message(), expect_in_message) != NULL);
    /* The message never echoes key material. */
    CHECK(strstr(diag_message(), "secret") == NULL);
    http_auth_free(a);
}

static void test_parse_invalid(void) {
    check_invalid("secret-key-1\n", "line 1");
    check_invalid("ok-secret-1 t1\nsecret-key-2 t2 extra\n", "line 2");
    check_invalid("short t1\n", "8 to 256");
    check_invalid("secret-key-1 bad/tenant\n", "tenant id");
    check_invalid("secret-key-1 t1\n# c\nsecret-key-1 t2\n", "line 3: duplicate");
    check_invalid("secret-k\x01y-1 t1\n", "printable");
}

static void test_tenant_valid(void) {
    CHECK_INT(http_auth_tenant_valid("acme-1_prod.eu:x"), 1);
    CHECK_INT(http_auth_tenant_valid(""), 0);
    CHECK_INT(http_auth_tenant_valid("a b"), 0);
    CHECK_INT(http_auth_tenant_valid("a\"b"), 0);
    char longest[HTTP_AUTH_MAX_TENANT + 2];
    memset(longest, 'a', sizeof longest);
    longest[HTTP_AUTH_MAX_TENANT] = '\0';
    CHECK_INT(http_auth_tenant_valid(longest), 1);
    longest[HTTP_AUTH_MAX_TENANT] = 'a';
    longest[HTTP_AUTH_MAX_TENANT + 1] = '\0';
    CHECK_INT(http_auth_tenant_valid(longest), 0);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static void test_reload(void) {
    char path[] = "/tmp/test_http_auth_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    close(fd);
    write_file(path, "first-key-1 t1\n");
    http_auth *a = http_auth_open(path);
    CHECK(a != NULL);
    if (!a) return;
    char tenant[HTTP_AUTH_MAX_TENANT + 1];
    CHECK_INT(http_auth_reload(a, 0), 0); /* unchanged */

    write_file(path, "first-key-1 t1\nsecond-key-2 t2 \n");
    CHECK_INT(http_auth_reload(a, 0), 1);
    CHECK_INT(http_auth_lookup(a, "second-key-2", 12, tenant, sizeof tenant), 1);
    CHECK_STR(tenant, "t2");

    /* A broken edit keeps the previous keys. */
    write_file(path, "garbage\n");
    CHECK_INT(http_auth_reload(a, 0), 0);
    CHECK_INT(http_auth_count(a), 2);
    CHECK_INT(http_auth_lookup(a, "first-key-1", 11, tenant, sizeof tenant), 1);

    /* Removing a key revokes it. */
    write_file(path, "second-key-2 t2\n");
    CHECK_INT(http_auth_reload(a, 0), 1);
    CHECK_INT(http_auth_lookup(a, "first-key-1", 11, tenant, sizeof tenant), 0);
    http_auth_free(a);
    unlink(path);

    CHECK(http_auth_open("/nonexistent/keys") == NULL);
    CHECK_INT(diag_code_get(), DIAG_IO);
}

int main(void) {
    RUN_TEST(test_parse_valid);
    RUN_TEST(test_parse_invalid);
    RUN_TEST(test_tenant_valid);
    RUN_TEST(test_reload);
    return TEST_EXIT();
}
