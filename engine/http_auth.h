/* http_auth.h: API keys that map bearer tokens to tenants, read from a file
 * (`key tenant_id` per line) that is reloaded when it changes. */
#ifndef ES_HTTP_AUTH_H
#define ES_HTTP_AUTH_H

#include <stddef.h>

typedef struct http_auth http_auth;

/* Longest key and tenant id accepted, in bytes. */
#define HTTP_AUTH_MAX_KEY 256
#define HTTP_AUTH_MAX_TENANT 128

/* Parses the text of a keys file. Lines are `KEY TENANT_ID` separated by
 * spaces or tabs; blank lines and lines starting with '#' are ignored. A key
 * is 8..256 printable non-space bytes, a tenant id 1..128 bytes of
 * [A-Za-z0-9_.:-] (http_auth_tenant_valid). Returns a new table (free with
 * http_auth_free) or NULL with DIAG_INVALID naming the line ("line 3: ...");
 * the message never contains a key. A duplicate key is an error. */
http_auth *http_auth_parse(const char *text, size_t len);

/* Loads `path` (http_auth_parse) and remembers it for http_auth_reload.
 * NULL with a diag (DIAG_IO when unreadable). */
http_auth *http_auth_open(const char *path);

void http_auth_free(http_auth *a);

/* Re-reads the file when its mtime, size or inode changed, at most once per
 * `min_interval_ms`. A file that no longer parses keeps the previous keys
 * and is reported once per change (log_error, without key material).
 * Returns 1 when new keys were loaded, 0 when unchanged or kept, and is a
 * no-op for a table made by http_auth_parse. Thread-safe. */
int http_auth_reload(http_auth *a, long min_interval_ms);

/* Looks up a bearer key. Every configured key is compared in full, in
 * constant time with respect to where the keys differ, so the time taken
 * does not reveal a key's prefix. Returns 1 and copies the tenant id into
 * `tenant` (NUL-terminated, `cap` >= HTTP_AUTH_MAX_TENANT + 1) when the key
 * is known, 0 otherwise. Thread-safe. */
int http_auth_lookup(http_auth *a, const char *key, size_t key_len, char *tenant,
                     size_t cap);

/* Number of keys loaded. */
size_t http_auth_count(http_auth *a);

/* 1 when `s` is an acceptable tenant id: 1..128 bytes of [A-Za-z0-9_.:-]. */
int http_auth_tenant_valid(const char *s);

#endif
