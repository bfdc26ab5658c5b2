/* http_auth.c: the API keys table, its file format and hot reload. */
#include "http_auth.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "diag.h"
#include "log.h"

typedef struct auth_entry {
    char key[HTTP_AUTH_MAX_KEY];
    size_t key_len;
    char tenant[HTTP_AUTH_MAX_TENANT + 1];
} auth_entry;

typedef struct auth_keys {
    auth_entry *entries;
    size_t n;
} auth_keys;

struct http_auth {
    pthread_rwlock_t lock;
    auth_keys keys;
    char *path;                 /* NULL for a parsed table */
    pthread_mutex_t reload_lock;
    struct timespec checked_at; /* monotonic time of the last stat */
    struct stat seen;           /* the file as last seen (loaded or refused) */
};

int http_auth_tenant_valid(const char *s) {
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' || c == '-';
        if (!ok || n >= HTTP_AUTH_MAX_TENANT) return 0;
    }
    return n > 0;
}

/* Constant-time equality of a presented key with a stored one: always walks
 * the whole stored key and folds the length difference in. */
static int key_equal(const auth_entry *e, const char *key, size_t key_len) {
    unsigned char diff = (unsigned char)(key_len != e->key_len);
    for (size_t i = 0; i < e->key_len; i++) {
        unsigned char k = i < key_len ? (unsigned char)key[i] : 0;
        diff |= (unsigned char)(k ^ (unsigned char)e->key[i]);
    }
    return diff == 0;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* Parses one non-comment line into e; -1 with a diag (no key material). */
static int parse_line(const char *p, const char *end, size_t line, auth_entry *e) {
    const char *k = p;
    while (p < end && !is_space(*p)) p++;
    size_t key_len = (size_t)(p - k);
    while (p < end && is_space(*p)) p++;
    const char *t = p;
    while (p < end && !is_space(*p)) p++;
    size_t tenant_len = (size_t)(p - t);
    while (p < end && is_space(*p)) p++;
    if (tenant_len == 0 || p != end) {
        diag_set(DIAG_INVALID, "line %zu: expected `KEY TENANT_ID`", line);
        return -1;
    }
    if (key_len < 8 || key_len > HTTP_AUTH_MAX_KEY) {
        diag_set(DIAG_INVALID, "line %zu: a key must be 8 to %d bytes long", line,
                 HTTP_AUTH_MAX_KEY);
        return -1;
    }
    for (size_t i = 0; i < key_len; i++) {
        if ((unsigned char)k[i] < 0x21 || (unsigned char)k[i] > 0x7e) {
            diag_set(DIAG_INVALID, "line %zu: a key must be printable ASCII", line);
            return -1;
        }
    }
    if (tenant_len > HTTP_AUTH_MAX_TENANT) {
        diag_set(DIAG_INVALID, "line %zu: tenant id longer than %d bytes", line,
                 HTTP_AUTH_MAX_TENANT);
        return -1;
    }
    memcpy(e->key, k, key_len);
    e->key_len = key_len;
    memcpy(e->tenant, t, tenant_len);
    e->tenant[tenant_len] = '\0';
    if (!http_auth_tenant_valid(e->tenant)) {
        diag_set(DIAG_INVALID, "line %zu: tenant id may hold only [A-Za-z0-9_.:-]", line);
        return -1;
    }
    return 0;
}

static int keys_parse(const char *text, size_t len, auth_keys *out) {
    auth_keys keys = {NULL, 0};
    size_t cap = 0, line = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        line++;
        const char *s = p;
        while (s < eol && is_space(*s)) s++;
        if (s < eol && *s != '#') {
            if (memchr(s, '\0', (size_t)(eol - s))) {
                diag_set(DIAG_INVALID, "line %zu: NUL byte", line);
                goto fail;
            }
            if (keys.n == cap) {
                size_t ncap = cap ? cap * 2 : 8;
                auth_entry *ne = realloc(keys.entries, ncap * sizeof *ne);
                if (!ne) {
                    diag_set(DIAG_INTERNAL, "out of memory");
                    goto fail;
                }
                keys.entries = ne;
                cap = ncap;
            }
            auth_entry *e = &keys.entries[keys.n];
            if (parse_line(s, eol, line, e) != 0) goto fail;
            for (size_t i = 0; i < keys.n; i++) {
                if (key_equal(&keys.entries[i], e->key, e->key_len)) {
                    diag_set(DIAG_INVALID, "line %zu: duplicate key (first on an earlier line)",
                             line);
                    goto fail;
                }
            }
            keys.n++;
        }
        p = eol + 1;
    }
    *out = keys;
    return 0;
fail:
    if (keys.entries) memset(keys.entries, 0, cap * sizeof *keys.entries);
    free(keys.entries);
    return -1;
}

static void keys_clear(auth_keys *k) {
    if (k->entries) memset(k->entries, 0, k->n * sizeof *k->entries);
    free(k->entries);
    k->entries = NULL;
    k->n = 0;
}

static http_auth *auth_new(auth_keys keys) {
    http_auth *a = calloc(1, sizeof *a);
    if (!a) {
        keys_clear(&keys);
        diag_set(DIAG_INTERNAL, "out of memory");
        return NULL;
    }
    pthread_rwlock_init(&a->lock, NULL);
    pthread_mutex_init(&a->reload_lock, NULL);
    a->keys = keys;
    return a;
}

http_auth *http_auth_parse(const char *text, size_t len) {
    auth_keys keys;
    if (keys_parse(text, len, &keys) != 0) return NULL;
    return auth_new(keys);
}

/* Reads and parses the file; st receives what was read. */
static int keys_load(const char *path, auth_keys *out, struct stat *st) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        diag_set(DIAG_IO, "%s: cannot open the API keys file", path);
        return -1;
    }
    if (fstat(fileno(f), st) != 0 || st->st_size > (1 << 24)) {
        fclose(f);
        diag_set(DIAG_IO, "%s: unreadable or larger than 16 MiB", path);
        return -1;
    }
    size_t size = (size_t)st->st_size;
    char *text = malloc(size + 1);
    size_t got = text ? fread(text, 1, size, f) : 0;
    fclose(f);
    if (!text || got != size) {
        free(text);
        diag_set(DIAG_IO, "%s: read failed", path);
        return -1;
    }
    int rc = keys_parse(text, size, out);
    memset(text, 0, size);
    free(text);
    if (rc != 0) diag_prefix("%s", path);
    return rc;
}

http_auth *http_auth_open(const char *path) {
    auth_keys keys;
    struct stat st;
    if (keys_load(path, &keys, &st) != 0) return NULL;
    http_auth *a = auth_new(keys);
    if (!a) return NULL;
    a->path = strdup(path);
    a->seen = st;
    clock_gettime(CLOCK_MONOTONIC, &a->checked_at);
    if (!a->path) {
        http_auth_free(a);
        diag_set(DIAG_INTERNAL, "out of memory");
        return NULL;
    }
    return a;
}

void http_auth_free(http_auth *a) {
    if (!a) return;
    keys_clear(&a->keys);
    pthread_rwlock_destroy(&a->lock);
    pthread_mutex_destroy(&a->reload_lock);
    free(a->path);
    free(a);
}

static int same_file(const struct stat *x, const struct stat *y) {
    return x->st_ino == y->st_ino && x->st_dev == y->st_dev && x->st_size == y->st_size &&
           x->st_mtim.tv_sec == y->st_mtim.tv_sec && x->st_mtim.tv_nsec == y->st_mtim.tv_nsec;
}

int http_auth_reload(http_auth *a, long min_interval_ms) {
    if (!a->path) return 0;
    /* One thread checks at a time; the others go on with the current keys. */
    if (pthread_mutex_trylock(&a->reload_lock) != 0) return 0;
    int loaded = 0;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long elapsed_ms = (now.tv_sec - a->checked_at.tv_sec) * 1000 +
                      (now.tv_nsec - a->checked_at.tv_nsec) / 1000000;
    struct stat st;
    if (elapsed_ms >= min_interval_ms) {
        a->checked_at = now;
        if (stat(a->path, &st) == 0 && !same_file(&st, &a->seen)) {
            auth_keys keys;
            if (keys_load(a->path, &keys, &st) == 0) {
                pthread_rwlock_wrlock(&a->lock);
                auth_keys old = a->keys;
                a->keys = keys;
                pthread_rwlock_unlock(&a->lock);
                keys_clear(&old);
                log_info("API keys reloaded from %s: %zu keys", a->path, keys.n);
                loaded = 1;
            } else {
                log_error("API keys file not reloaded, keeping the previous keys: %s",
                          diag_message());
            }
            a->seen = st;
        }
    }
    pthread_mutex_unlock(&a->reload_lock);
    return loaded;
}

int http_auth_lookup(http_auth *a, const char *key, size_t key_len, char *tenant,
                     size_t cap) {
    int found = 0;
    pthread_rwlock_rdlock(&a->lock);
    /* No early exit: every key is compared whatever matched. */
    for (size_t i = 0; i < a->keys.n; i++) {
        int eq = key_equal(&a->keys.entries[i], key, key_len);
        if (eq && !found) {
            snprintf(tenant, cap, "%s", a->keys.entries[i].tenant);
            found = 1;
        }
    }
    pthread_rwlock_unlock(&a->lock);
    return found;
}

size_t http_auth_count(http_auth *a) {
    pthread_rwlock_rdlock(&a->lock);
    size_t n = a->keys.n;
    pthread_rwlock_unlock(&a->lock);
    return n;
}
