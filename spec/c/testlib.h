/* testlib.h: a minimal unit-test harness for the C tests under ctest. Each
 * test file defines static test functions and runs them from main with
 * RUN_TEST; the process exits nonzero when any check failed. */
#ifndef ES_TESTLIB_H
#define ES_TESTLIB_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int testlib_failures;
static int testlib_checks;
static const char *testlib_current = "";

#define CHECK(cond)                                                             \
    do {                                                                        \
        testlib_checks++;                                                       \
        if (!(cond)) {                                                          \
            testlib_failures++;                                                 \
            fprintf(stderr, "FAIL %s (%s:%d): %s\n", testlib_current, __FILE__, \
                    __LINE__, #cond);                                           \
        }                                                                       \
    } while (0)

#define CHECK_INT(actual, expected)                                             \
    do {                                                                        \
        long long a_ = (long long)(actual), e_ = (long long)(expected);         \
        testlib_checks++;                                                       \
        if (a_ != e_) {                                                         \
            testlib_failures++;                                                 \
            fprintf(stderr, "FAIL %s (%s:%d): %s == %lld, expected %lld\n",     \
                    testlib_current, __FILE__, __LINE__, #actual, a_, e_);      \
        }                                                                       \
    } while (0)

#define CHECK_STR(actual, expected)                                             \
    do {                                                                        \
        const char *a_ = (actual), *e_ = (expected);                            \
        testlib_checks++;                                                       \
        if (!a_ || !e_ || strcmp(a_, e_) != 0) {                                \
            testlib_failures++;                                                 \
            fprintf(stderr, "FAIL %s (%s:%d): %s == \"%s\", expected \"%s\"\n", \
                    testlib_current, __FILE__, __LINE__, #actual,               \
                    a_ ? a_ : "(null)", e_ ? e_ : "(null)");                    \
        }                                                                       \
    } while (0)

#define RUN_TEST(fn)                                     \
    do {                                                 \
        int before_ = testlib_failures;                  \
        testlib_current = #fn;                           \
        fn();                                            \
        fprintf(stderr, "%s %s\n",                       \
                testlib_failures == before_ ? "ok  " : "FAIL", #fn); \
    } while (0)

#define TEST_EXIT()                                                          \
    (fprintf(stderr, "%d checks, %d failed\n", testlib_checks, testlib_failures), \
     testlib_failures ? 1 : 0)

#endif
