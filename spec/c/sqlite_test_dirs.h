/* sqlite_test_dirs.h: temporary data directories for the SQLite store's C
 * tests, made under /tmp and removed together at the end of a test run. */
#ifndef ES_SQLITE_TEST_DIRS_H
#define ES_SQLITE_TEST_DIRS_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DIRS 64

static char *test_dirs[MAX_DIRS];
static int n_test_dirs;

/* A new empty directory, removed by test_remove_dirs; NULL on failure. */
static char *test_make_dir(void)
{
    char tmpl[] = "/tmp/esengine-sqlite-XXXXXX";
    char *dir = mkdtemp(tmpl);
    if (!dir || n_test_dirs == MAX_DIRS) return NULL;
    return test_dirs[n_test_dirs++] = strdup(dir);
}

static int test_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes every directory test_make_dir made. */
static void test_remove_dirs(void)
{
    for (int i = 0; i < n_test_dirs; i++) {
        nftw(test_dirs[i], test_rm_entry, 8, FTW_DEPTH | FTW_PHYS);
        free(test_dirs[i]);
    }
    n_test_dirs = 0;
}

#endif
