/* clickhouse_http.c: one ClickHouse HTTP request per call over a per-thread
 * libcurl easy handle (connections are reused), and URL parsing. */
#include "clickhouse_internal.h"

#include "../engine/diag.h"

#include <ctype.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static pthread_key_t curl_key;
static _Thread_local int last_error_code;

static void curl_handle_free(void *h) { curl_easy_cleanup(h); }

static void curl_setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_key_create(&curl_key, curl_handle_free);
}

/* The calling thread's easy handle, created on first use (freed when the
 * thread exits). */
static CURL *curl_handle(void)
{
    pthread_once(&curl_once, curl_setup);
    CURL *h = pthread_getspecific(curl_key);
    if (!h) {
        h = curl_easy_init();
        if (h) pthread_setspecific(curl_key, h);
    }
    return h;
}

static size_t collect_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    json_buf *b = ud;
    jb_raw(b, ptr, size * nmemb);
    return b->oom ? 0 : size * nmemb;
}

/* Decodes %XX escapes of s[0..n) into a malloc'd string. */
static char *percent_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    if (!out) return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2])) {
            char hex[3] = {s[i + 1], s[i + 2], 0};
            out[j++] = (char)strtol(hex, NULL, 16);
            i += 2;
            continue;
        }
        out[j++] = s[i];
    }
    out[j] = '\0';
    return out;
}

/* Applies one "name=value" option of the URL's query string. */
static int apply_option(const char *opt_s, size_t n, clickhouse_options *opt)
{
    const char *eq = memchr(opt_s, '=', n);
    if (!eq) goto bad;
    size_t klen = (size_t)(eq - opt_s);
    char val[32];
    size_t vlen = n - klen - 1;
    if (vlen == 0 || vlen >= sizeof val) goto bad;
    memcpy(val, eq + 1, vlen);
    val[vlen] = '\0';
    char *end;
    long long v = strtoll(val, &end, 10);
    if (*end || v < 0) goto bad;
#define OPT_IS(name) (klen == strlen(name) && memcmp(opt_s, name, klen) == 0)
    if (OPT_IS("flush_rows") && v > 0) opt->flush_rows = (size_t)v;
    else if (OPT_IS("flush_ms")) opt->flush_ms = v;
    else if (OPT_IS("buffer_mb") && v > 0) opt->buffer_bytes = (size_t)v << 20;
    else if (OPT_IS("busy_wait_ms")) opt->busy_wait_ms = v;
    else if (OPT_IS("commit_timeout_ms")) opt->commit_timeout_ms = v;
    else if (OPT_IS("timeout_ms") && v > 0) opt->timeout_ms = v;
    else goto bad;
#undef OPT_IS
    return 0;
bad:
    diag_set(DIAG_INVALID, "clickhouse url: bad option '%.*s'", (int)n, opt_s);
    return -1;
}

int chhttp_parse_url(const char *url, ch_conn *conn, clickhouse_options *opt)
{
    memset(conn, 0, sizeof *conn);
    if (!url || strncmp(url, "http://", 7) != 0) {
        diag_set(DIAG_INVALID, "clickhouse url must start with http://: '%s'",
                 url ? url : "(null)");
        return -1;
    }
    const char *p = url + 7;
    size_t auth_len = strcspn(p, "/?");
    const char *at = NULL;
    /* the last '@' before the path separates credentials from the host */
    for (const char *q = p; q < p + auth_len; q++)
        if (*q == '@') at = q;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        size_t ulen = colon ? (size_t)(colon - p) : (size_t)(at - p);
        conn->user = percent_decode(p, ulen);
        if (colon) conn->password = percent_decode(colon + 1, (size_t)(at - colon - 1));
        p = at + 1;
    }
    size_t host_len = strcspn(p, "/?");
    if (host_len == 0) {
        diag_set(DIAG_INVALID, "clickhouse url has no host: '%s'", url);
        goto fail;
    }
    const char *colon = memchr(p, ':', host_len);
    conn->base_url = malloc(host_len + 32);
    if (!conn->base_url) goto oom;
    if (colon) snprintf(conn->base_url, host_len + 32, "http://%.*s/", (int)host_len, p);
    else snprintf(conn->base_url, host_len + 32, "http://%.*s:8123/", (int)host_len, p);
    p += host_len;
    const char *db = "default";
    size_t db_len = strlen(db);
    if (*p == '/') {
        p++;
        size_t n = strcspn(p, "?");
        if (n > 0) {
            db = p;
            db_len = n;
        }
        p += n;
    }
    conn->database = percent_decode(db, db_len);
    if (!conn->database) goto oom;
    if (!chsql_valid_name(conn->database)) {
        diag_set(DIAG_INVALID, "clickhouse url: bad database name '%s'", conn->database);
        goto fail;
    }
    if (*p == '?') {
        p++;
        while (*p) {
            size_t n = strcspn(p, "&");
            if (n > 0 && apply_option(p, n, opt) != 0) goto fail;
            p += n;
            if (*p == '&') p++;
        }
    }
    conn->timeout_ms = opt->timeout_ms;
    return 0;
oom:
    diag_set(DIAG_INTERNAL, "out of memory parsing the clickhouse url");
fail:
    chhttp_conn_free(conn);
    return -1;
}

void chhttp_conn_free(ch_conn *conn)
{
    free(conn->base_url);
    free(conn->user);
    free(conn->password);
    free(conn->database);
    memset(conn, 0, sizeof *conn);
}

int chhttp_error_code(void) { return last_error_code; }

/* Sets the diag from a server error body ("Code: 60, e.displayText() = ..."). */
static void set_server_error(long status, json_buf *body, const char *sql)
{
    const char *msg = body->data ? body->data : "";
    last_error_code = 0;
    if (strncmp(msg, "Code: ", 6) == 0) last_error_code = atoi(msg + 6);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) n--;
    diag_set(DIAG_BACKEND, "clickhouse (HTTP %ld): %.*s [in: %.120s]", status,
             (int)(n > 700 ? 700 : n), msg, sql);
}

int chhttp_query(const ch_conn *conn, int use_db, const char *sql,
                 const char *body, size_t body_len, json_buf *out)
{
    last_error_code = 0;
    CURL *h = curl_handle();
    if (!h) {
        diag_set(DIAG_INTERNAL, "curl_easy_init failed");
        return -1;
    }
    json_buf url, resp;
    jb_init(&url);
    jb_init(&resp);
    jb_str(&url, conn->base_url);
    jb_str(&url, "?wait_end_of_query=1");
    if (use_db) {
        jb_str(&url, "&database=");
        jb_str(&url, conn->database);
    }
    if (body) {
        char *q = curl_easy_escape(h, sql, 0);
        jb_str(&url, "&query=");
        if (q) jb_str(&url, q);
        curl_free(q);
    }
    if (url.oom) {
        jb_free(&url);
        diag_set(DIAG_INTERNAL, "out of memory building a clickhouse request");
        return -1;
    }
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url.data);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : sql);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)(body ? body_len : strlen(sql)));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)conn->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out ? out : &resp);
    if (conn->user) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, conn->user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, conn->password ? conn->password : "");
    }
    /* responses to errors go to `resp` so a caller's buffer keeps only data */
    size_t out_start = out ? out->len : 0;
    CURLcode rc = curl_easy_perform(h);
    jb_free(&url);
    if (rc != CURLE_OK) {
        diag_set(DIAG_IO, "clickhouse %s: %s", conn->base_url, curl_easy_strerror(rc));
        jb_free(&resp);
        return -1;
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        json_buf *src = out ? out : &resp;
        json_buf msg;
        jb_init(&msg);
        jb_raw(&msg, src->data ? src->data + out_start : "", src->len - out_start);
        if (out) {
            out->len = out_start;
            if (out->data) out->data[out_start] = '\0';
        }
        set_server_error(status, &msg, sql);
        jb_free(&msg);
        jb_free(&resp);
        return -1;
    }
    jb_free(&resp);
    return 0;
}
