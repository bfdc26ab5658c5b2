/* test_http_server.c: the HTTP server in-process over real sockets (libcurl
 * client), on an engine with memory backends and the ledger fixture
 * pipeline: statuses, tenancy, limits, auth, metrics. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <errno.h>

#include "diag.h"
#include "engine.h"
#include "http_server.h"
#include "testlib.h"

static es_engine *engine;
static int port;

typedef struct reply {
    long status;
    char body[65536];
    size_t len;
    char headers[4096];
    size_t hlen;
} reply;

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    reply *r = ud;
    size_t k = size * n;
    size_t room = sizeof r->body - 1 - r->len;
    memcpy(r->body + r->len, p, k < room ? k : room);
    r->len += k < room ? k : room;
    r->body[r->len] = '\0';
    return k;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
    reply *r = ud;
    size_t k = size * n;
    size_t room = sizeof r->headers - 1 - r->hlen;
    memcpy(r->headers + r->hlen, p, k < room ? k : room);
    r->hlen += k < room ? k : room;
    r->headers[r->hlen] = '\0';
    return k;
}

/* One request; `headers` is a NULL-terminated list; body NULL means GET. */
static void request(reply *r, const char *method, const char *path, const char *const *headers,
                    const char *body, size_t body_len) {
    memset(r, 0, sizeof *r);
    CURL *c = curl_easy_init();
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    struct curl_slist *hl = NULL;
    for (int i = 0; headers && headers[i]; i++) hl = curl_slist_append(hl, headers[i]);
    hl = curl_slist_append(hl, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
}

static const char *const tenant_a[] = {"X-Tenant-Id: tenant-a", "Content-Type: application/json", NULL};
static const char *const tenant_b[] = {"X-Tenant-Id: tenant-b", NULL};

static void test_health(void) {
    reply r;
    request(&r, "GET", "/healthz", NULL, NULL, 0);
    CHECK_INT(r.status, 200);
    request(&r, "GET", "/readyz", NULL, NULL, 0);
    CHECK_INT(r.status, 200);
    CHECK(strstr(r.body, "ready") != NULL);
    request(&r, "POST", "/healthz", NULL, "", 0);
    CHECK_INT(r.status, 405);
    CHECK(strstr(r.headers, "Allow: GET") != NULL);
    request(&r, "GET", "/nope", NULL, NULL, 0);
    CHECK_INT(r.status, 404);
}

static void test_commands_and_reads(void) {
    reply r;
    const char *ok = "{\"account\":\"acc-1\",\"amount\":5}";
    request(&r, "POST", "/api/commands/ledger/deposit", tenant_a, ok, strlen(ok));
    CHECK_INT(r.status, 202);
    CHECK(strstr(r.body, "\"job_id\":\"") != NULL);

    const char *bad = "{\"account\":7,\"amount\":\"x\"}";
    request(&r, "POST", "/api/commands/ledger/deposit", tenant_a, bad, strlen(bad));
    CHECK_INT(r.status, 400);
    CHECK(strstr(r.body, "account") != NULL && strstr(r.body, "amount") != NULL);
    CHECK(strstr(r.body, "\"errors\":[") != NULL);

    request(&r, "POST", "/api/commands/ledger/nope", tenant_a, ok, strlen(ok));
    CHECK_INT(r.status, 404);
    request(&r, "POST", "/api/commands/nope/deposit", tenant_a, ok, strlen(ok));
    CHECK_INT(r.status, 404);
    request(&r, "POST", "/api/commands/ledger/deposit", tenant_a, "{\"a\":", 5);
    CHECK_INT(r.status, 400);
    request(&r, "GET", "/api/commands/ledger/deposit", tenant_a, NULL, 0);
    CHECK_INT(r.status, 405);
    /* No tenant at all. */
    request(&r, "POST", "/api/commands/ledger/deposit", NULL, ok, strlen(ok));
    CHECK_INT(r.status, 401);
    /* Nesting past the limit. */
    char deep[400];
    memset(deep, '[', 200);
    memset(deep + 200, ']', 200);
    request(&r, "POST", "/api/commands/ledger/deposit", tenant_a, deep, sizeof deep);
    CHECK_INT(r.status, 400);
    CHECK(strstr(r.body, "nested deeper") != NULL);
    /* Unsupported media type. */
    const char *const xml[] = {"X-Tenant-Id: tenant-a", "Content-Type: text/xml", NULL};
    request(&r, "POST", "/api/commands/ledger/deposit", xml, ok, strlen(ok));
    CHECK_INT(r.status, 415);

    /* Process the queue, then read back: tenant a sees it, tenant b cannot. */
    CHECK(engine_drain(engine) > 0);
    request(&r, "GET", "/api/state/ledger/balance/acc-1", tenant_a, NULL, 0);
    CHECK_INT(r.status, 200);
    CHECK(r.body[0] == '{');
    request(&r, "GET", "/api/state/ledger/balance/acc-1", tenant_b, NULL, 0);
    CHECK_INT(r.status, 404);
    request(&r, "GET", "/api/state/ledger/nofold/acc-1", tenant_a, NULL, 0);
    CHECK_INT(r.status, 404);
    request(&r, "GET", "/api/events/account/acc-1", tenant_a, NULL, 0);
    CHECK_INT(r.status, 200);
    CHECK(strstr(r.body, "ledger.deposited") != NULL);
    CHECK(strstr(r.body, "\"seq\":1") != NULL);
    request(&r, "GET", "/api/events/account/acc-1", tenant_b, NULL, 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "[]");
}

static void test_limits(void) {
    reply r;
    size_t big = (1u << 20) + 10;
    char *body = malloc(big);
    memset(body, ' ', big);
    request(&r, "POST", "/api/commands/ledger/deposit", tenant_a, body, big);
    CHECK_INT(r.status, 413);
    /* Chunked, no Content-Length: read, dropped, refused. */
    const char *const chunked[] = {"X-Tenant-Id: tenant-a", "Transfer-Encoding: chunked", NULL};
    request(&r, "POST", "/api/commands/ledger/deposit", chunked, body, big);
    CHECK_INT(r.status, 413);
    free(body);
    /* Headers past the limit. */
    char hdr[20000];
    snprintf(hdr, sizeof hdr, "X-Big: %0*d", 19000, 0);
    const char *const huge[] = {hdr, NULL};
    request(&r, "GET", "/healthz", huge, NULL, 0);
    CHECK(r.status == 431 || r.status == 413 || r.status == 400);
}

static void test_otlp_without_converter(void) {
    reply r;
    const char *const json[] = {"X-Tenant-Id: tenant-a", "Content-Type: application/json", NULL};
    request(&r, "POST", "/v1/traces", json, "{}", 2);
    CHECK_INT(r.status, 501);
    const char *const text[] = {"X-Tenant-Id: tenant-a", "Content-Type: text/plain", NULL};
    request(&r, "POST", "/v1/traces", text, "{}", 2);
    CHECK_INT(r.status, 415);
}

static void test_metrics(void) {
    reply r;
    request(&r, "GET", "/metrics", NULL, NULL, 0);
    CHECK_INT(r.status, 200);
    CHECK(strstr(r.headers, "text/plain; version=0.0.4") != NULL);
    CHECK(strstr(r.body, "esengine_commands_accepted_total{pipeline=\"ledger\",command=\"deposit\"} 1") != NULL);
    CHECK(strstr(r.body, "esengine_http_requests_total{route=\"/api/commands\",status=\"202\"}") != NULL);
    CHECK(strstr(r.body, "esengine_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"+Inf\"}") != NULL);
}

static void test_api_keys(void) {
    char path[] = "/tmp/test_http_keys_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char *keys = "key-for-tenant-a tenant-a\nkey-for-tenant-b tenant-b\n";
    CHECK_INT(write(fd, keys, strlen(keys)), (long long)strlen(keys));
    close(fd);

    http_server_options opt;
    http_server_options_default(&opt);
    opt.listen = "0.0.0.0:0";
    CHECK(http_server_start(engine, &opt) == NULL); /* no keys: loopback only */
    CHECK_INT(diag_code_get(), DIAG_INVALID);
    opt.api_keys_file = path;
    opt.listen = "127.0.0.1:0";
    http_server *s = http_server_start(engine, &opt);
    CHECK(s != NULL);
    if (!s) return;
    int saved = port;
    port = http_server_port(s);
    reply r;
    const char *const none[] = {"X-Tenant-Id: tenant-a", NULL};
    request(&r, "GET", "/api/state/ledger/balance/acc-1", none, NULL, 0);
    CHECK_INT(r.status, 401);
    CHECK(strstr(r.headers, "WWW-Authenticate: Bearer") != NULL);
    const char *const wrong[] = {"Authorization: Bearer key-for-tenant-c", NULL};
    request(&r, "GET", "/api/state/ledger/balance/acc-1", wrong, NULL, 0);
    CHECK_INT(r.status, 401);
    const char *const a[] = {"Authorization: Bearer key-for-tenant-a", NULL};
    request(&r, "GET", "/api/state/ledger/balance/acc-1", a, NULL, 0);
    CHECK_INT(r.status, 200);
    /* The tenant header cannot override the key's tenant. */
    const char *const b[] = {"Authorization: Bearer key-for-tenant-b", "X-Tenant-Id: tenant-a", NULL};
    request(&r, "GET", "/api/state/ledger/balance/acc-1", b, NULL, 0);
    CHECK_INT(r.status, 404);
    http_server_stop(s);
    port = saved;
    unlink(path);
}

/* A client that stops halfway through its headers is disconnected after
 * the connection timeout (here 1 s; the deadline to observe it is 15 s). */
static void test_slow_client_timeout(void) {
    http_server_options opt;
    http_server_options_default(&opt);
    opt.listen = "127.0.0.1:0";
    opt.connection_timeout_s = 1;
    http_server *s = http_server_start(engine, &opt);
    CHECK(s != NULL);
    if (!s) return;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)http_server_port(s))};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_INT(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    const char *partial = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
    CHECK_INT(write(fd, partial, strlen(partial)), (long long)strlen(partial));
    struct timeval deadline = {15, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &deadline, sizeof deadline);
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf);
    CHECK(n == 0 || (n < 0 && errno == ECONNRESET)); /* closed, not our own timeout */
    close(fd);
    http_server_stop(s);
}

int main(void) {
    const char *src = getenv("ESENGINE_SOURCE_DIR");
    char pipelines[1024];
    snprintf(pipelines, sizeof pipelines, "%s/spec/functional/fixtures/pipelines",
             src ? src : ".");
    es_engine_options eo;
    engine_options_default(&eo);
    eo.memory = 1;
    eo.pipelines_dir = pipelines;
    engine = engine_open(&eo);
    if (!engine) {
        fprintf(stderr, "engine_open: %s\n", diag_message());
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    http_server_options opt;
    http_server_options_default(&opt);
    opt.listen = "127.0.0.1:0";
    opt.max_body_bytes = 1u << 20;
    opt.max_json_depth = 100;
    http_server *s = http_server_start(engine, &opt);
    if (!s) {
        fprintf(stderr, "http_server_start: %s\n", diag_message());
        return 1;
    }
    port = http_server_port(s);
    RUN_TEST(test_health);
    RUN_TEST(test_commands_and_reads);
    RUN_TEST(test_limits);
    RUN_TEST(test_otlp_without_converter);
    RUN_TEST(test_metrics);
    RUN_TEST(test_api_keys);
    RUN_TEST(test_slow_client_timeout);
    http_server_stop(s);
    engine_close(engine);
    curl_global_cleanup();
    return TEST_EXIT();
}
