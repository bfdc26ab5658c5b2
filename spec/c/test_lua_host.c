/* test_lua_host.c: the per-thread Lua host: loading pipelines, command
 * validation errors, commands carrying their payload's JSON as sent,
 * handler results (one command, and a claim's in one call), a batch's event rows shared within a rows scope only,
 * and no growth over 1,000 reloads
 * (issue 7: the old generation's references are released). */
#include "diag.h"
#include "lua_host.h"
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fixtures[1024];
static char shipped[1024];

/* Resident set size of this process in KiB (from /proc/self/statm). */
static long rss_kib(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
        fclose(f);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void test_load_and_validate(void)
{
    lua_host *h = lua_host_new();
    CHECK(h != NULL);
    CHECK_INT(lua_host_load(h, fixtures, NULL), 0);
    CHECK(strlen(lua_host_generation(h)) > 0);

    char *aggregate_id = NULL, *command_json = NULL, *errors = NULL;
    CHECK_INT(lua_host_prepare_command(h, "t1", "ledger", "deposit",
                                       "{\"account\":\"a1\",\"amount\":5}", &aggregate_id,
                                       &command_json, &errors), 0);
    CHECK_STR(aggregate_id, "a1");
    CHECK(command_json && strstr(command_json, "\"tenant_id\":\"t1\""));
    free(aggregate_id);
    free(command_json);

    CHECK_INT(lua_host_prepare_command(h, "t1", "ledger", "deposit",
                                       "{\"account\":7,\"amount\":\"x\"}", &aggregate_id,
                                       &command_json, &errors), -1);
    CHECK_INT(diag_code_get(), DIAG_INVALID);
    CHECK(errors && strstr(errors, "account") && strstr(errors, "amount"));
    free(errors);
    errors = NULL;

    CHECK_INT(lua_host_prepare_command(h, "t1", "nope", "deposit", "{}", &aggregate_id,
                                       &command_json, &errors), -1);
    CHECK_INT(diag_code_get(), DIAG_NOT_FOUND);
    CHECK_INT(lua_host_prepare_command(h, "t1", "ledger", "deposit", "{not json",
                                       &aggregate_id, &command_json, &errors), -1);
    CHECK_INT(diag_code_get(), DIAG_INVALID);
    free(errors);
    lua_host_free(h);
}

/* Payloads prepared in one call: each one's aggregate and envelope, or the
 * first refused one's index and errors, with nothing handed out. */
static void test_prepare_many(void)
{
    lua_host *h = lua_host_new();
    CHECK_INT(lua_host_load(h, fixtures, NULL), 0);
    const char *payloads[3] = {"{\"account\":\"a1\",\"amount\":5}",
                               "{\"account\":\"a2\",\"amount\":6}",
                               "{\"account\":\"a3\",\"amount\":7}"};
    char *ids[3], *jsons[3], *errors = NULL;
    size_t failed = 0;
    CHECK_INT(lua_host_prepare_commands(h, "t1", "ledger", "deposit", payloads, 3, ids, jsons,
                                        &failed, &errors), 0);
    CHECK_INT((int)failed, 3);
    CHECK_STR(ids[2], "a3");
    CHECK(jsons[1] && strstr(jsons[1], "\"aggregate_id\":\"a2\"") &&
          strstr(jsons[1], payloads[1]));
    for (int i = 0; i < 3; i++) {
        free(ids[i]);
        free(jsons[i]);
    }
    payloads[1] = "{\"account\":\"a2\",\"amount\":\"six\"}";
    CHECK_INT(lua_host_prepare_commands(h, "t1", "ledger", "deposit", payloads, 3, ids, jsons,
                                        &failed, &errors), -1);
    CHECK_INT((int)failed, 1);
    CHECK_INT(diag_code_get(), DIAG_INVALID);
    CHECK(errors && strstr(errors, "amount"));
    CHECK(ids[0] == NULL && jsons[0] == NULL);
    free(errors);
    lua_host_free(h);
}

/* A command carries its payload's JSON as the client sent it (escapes and
 * spacing kept: not encoded again), and its handler runs on it; a payload
 * holding a NaN, which cannot be written back as JSON, is refused as
 * before, naming the problem. */
static void test_command_keeps_payload_json(void)
{
    lua_host *h = lua_host_new();
    CHECK_INT(lua_host_load(h, fixtures, NULL), 0);
    const char *payload = "{ \"account\" : \"a1\", \"amount\" : 5, \"note\" : \"caf\\u00e9 \\\"q\\\"\" }";
    char *aggregate_id = NULL, *command_json = NULL, *errors = NULL;
    CHECK_INT(lua_host_prepare_command(h, "t\"1", "ledger", "deposit", payload, &aggregate_id,
                                       &command_json, &errors), 0);
    CHECK(command_json && strstr(command_json, payload));
    CHECK(command_json && strstr(command_json, "\"tenant_id\":\"t\\\"1\""));
    es_new_event *events = NULL;
    size_t n = 0;
    CHECK_INT(lua_host_handle_command(h, command_json, &events, &n), 0);
    CHECK_INT(n, 1);
    if (n == 1) {
        CHECK_STR(events[0].event.tenant_id, "t\"1");
        CHECK_STR(events[0].event.aggregate_id, "a1");
        CHECK_STR(events[0].event.data_json, "{\"amount\":5}");
    }
    lua_host_new_events_free(events, n);
    free(aggregate_id);
    free(command_json);
    command_json = NULL;
    CHECK_INT(lua_host_prepare_command(h, "t1", "ledger", "deposit",
                                       "{\"account\":\"a1\",\"amount\":5,\"x\":NaN}",
                                       &aggregate_id, &command_json, &errors), -1);
    CHECK_INT(diag_code_get(), DIAG_SCRIPT);
    CHECK(strstr(diag_message(), "payload cannot be encoded as JSON") != NULL);
    CHECK(command_json == NULL);
    free(errors);
    lua_host_free(h);
}

static void test_handle_command_routes(void)
{
    lua_host *h = lua_host_new();
    CHECK_INT(lua_host_load(h, fixtures, NULL), 0);
    es_new_event *events = NULL;
    size_t n = 0;
    const char *cmd = "{\"tenant_id\":\"t1\",\"pipeline\":\"ledger\",\"command\":\"deposit\","
                      "\"aggregate_id\":\"a1\",\"data\":{\"account\":\"a1\",\"amount\":5}}";
    CHECK_INT(lua_host_handle_command(h, cmd, &events, &n), 0);
    CHECK_INT(n, 1);
    if (n == 1) {
        CHECK_STR(events[0].event.type, "ledger.deposited");
        CHECK_STR(events[0].event.aggregate_id, "a1");
        CHECK_INT(events[0].n_routes, 2); /* the balance fold and the entries map */
    }
    lua_host_new_events_free(events, n);
    lua_host_free(h);
}

/* A deposit event of amount `amount` at seq (strings owned by the test). */
static es_event deposit(int64_t seq, char *data_json)
{
    static char id[] = "e1", tenant[] = "t1", agg_type[] = "account", agg[] = "a1",
                type[] = "ledger.deposited", version[] = "v1", meta[] = "{}";
    es_event ev = {.id = id, .tenant_id = tenant, .aggregate_type = agg_type,
                   .aggregate_id = agg, .seq = seq, .type = type, .version = version,
                   .occurred_at = 1, .created_at = 2, .idempotency_key = id,
                   .data_json = data_json, .metadata_json = meta};
    return ev;
}

/* The fold's total over events[0..n) from no state. */
static char *fold_of(lua_host *h, const es_event *events, size_t n)
{
    es_fold_result res;
    CHECK_INT(lua_host_run_fold(h, "ledger", "balance", NULL, events, n, &res), 0);
    CHECK(res.error == NULL);
    char *state = res.state_json;
    res.state_json = NULL;
    lua_host_fold_result_clear(&res);
    return state;
}

static void test_rows_scope(void)
{
    lua_host *h = lua_host_new();
    CHECK_INT(lua_host_load(h, fixtures, NULL), 0);
    char five[] = "{\"amount\":5}", seven[] = "{\"amount\":7}";
    es_event events[2] = {deposit(1, five), deposit(2, five)};
    char **records = NULL, *error = NULL;
    size_t done = 0;
    /* in a scope: the map's rows serve the fold of the same events */
    lua_host_rows_scope(h, 1);
    CHECK_INT(lua_host_run_map(h, "ledger", "entries", events, 2, &records, &done, &error), 0);
    CHECK_INT((int)done, 2);
    CHECK(records && records[1] && strstr(records[1], "\"amount\":5"));
    lua_host_strings_free(records, done);
    char *state = fold_of(h, events, 2);
    CHECK(state && strstr(state, "\"total\":10"));
    free(state);
    /* another event (another data string) in the same scope: rows rebuilt */
    events[1] = deposit(2, seven);
    state = fold_of(h, events, 2);
    CHECK(state && strstr(state, "\"total\":12"));
    free(state);
    /* the same pointers in a new scope hold what they hold now: a string
     * changed in place between scopes is read again */
    lua_host_rows_scope(h, 0);
    lua_host_rows_scope(h, 2);
    memcpy(seven, "{\"amount\":9}", sizeof seven);
    state = fold_of(h, events, 2);
    CHECK(state && strstr(state, "\"total\":14"));
    free(state);
    lua_host_rows_scope(h, 0);
    /* no scope: every call builds its rows */
    memcpy(seven, "{\"amount\":3}", sizeof seven);
    state = fold_of(h, events, 2);
    CHECK(state && strstr(state, "\"total\":8"));
    free(state);
    lua_host_free(h);
}

/* A claim's commands handled in one call: each one's events, up to the
 * first whose handler raises, which names itself. */
static void test_handle_many(void)
{
    lua_host *h = lua_host_new();
    CHECK_INT(lua_host_load(h, fixtures, NULL), 0);
    const char *deposit = "{\"tenant_id\":\"t1\",\"pipeline\":\"ledger\",\"command\":\"deposit\","
                          "\"aggregate_id\":\"a1\",\"data\":{\"account\":\"a1\",\"amount\":5}}";
    /* an envelope the splitter leaves whole (an escaped key) */
    const char *escaped = "{\"tenant_id\":\"t1\",\"pipeline\":\"ledger\",\"comm\\u0061nd\":\"deposit\","
                          "\"aggregate_id\":\"a1\",\"data\":{\"account\":\"a1\",\"amount\":6}}";
    const char *explode = "{\"tenant_id\":\"t1\",\"pipeline\":\"ledger\",\"command\":\"explode\","
                          "\"aggregate_id\":\"a1\",\"data\":{\"account\":\"a1\"}}";
    const char *jsons[3] = {deposit, escaped, deposit};
    es_new_event *results[3];
    size_t counts[3], done = 9;
    CHECK_INT(lua_host_handle_commands(h, jsons, 3, results, counts, &done), 0);
    CHECK_INT((int)done, 3);
    CHECK_INT((int)counts[1], 1);
    if (counts[1] == 1) CHECK(strstr(results[1][0].event.data_json, "6") != NULL);
    for (int i = 0; i < 3; i++) lua_host_new_events_free(results[i], counts[i]);
    jsons[1] = explode;
    CHECK_INT(lua_host_handle_commands(h, jsons, 3, results, counts, &done), -1);
    CHECK_INT((int)done, 1);
    CHECK(strstr(diag_message(), "explode") != NULL);
    CHECK_INT((int)counts[0], 1);
    CHECK(results[1] == NULL && results[2] == NULL);
    lua_host_new_events_free(results[0], counts[0]);
    lua_host_free(h);
}

/* A handler past the time limit in a claim's commands: that command fails
 * (those before it stand), and the rebuilt state handles the next claim. */
static void test_handle_many_time_limit(void)
{
    char dir[] = "/tmp/esengine-luahost.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[1200];
    snprintf(path, sizeof path, "mkdir -p %s/spin", dir);
    CHECK_INT(system(path), 0);
    snprintf(path, sizeof path, "%s/spin/pipeline.lua", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs("local es = require('esengine')\n"
          "local s = es.schema\n"
          "local function cmd(spin)\n"
          "  return { schema = s.object({ id = s.string() }),\n"
          "    aggregate_id = function(p) return p.id end,\n"
          "    handle = function(c)\n"
          "      while spin do end\n"
          "      return { es.event('spin.done', { id = c.data.id }) }\n"
          "    end }\n"
          "end\n"
          "return es.define_pipeline():with_name('spin'):with_aggregate_type('s')\n"
          "  :with_command('ok', cmd(false)):with_command('loop', cmd(true)):build()\n",
          f);
    fclose(f);
    lua_host *h = lua_host_new();
    CHECK_INT(lua_host_load(h, dir, NULL), 0);
    lua_host_set_limits(h, 100, -1);
    const char *ok = "{\"tenant_id\":\"t\",\"pipeline\":\"spin\",\"command\":\"ok\","
                     "\"aggregate_id\":\"x\",\"data\":{\"id\":\"x\"}}";
    const char *loop = "{\"tenant_id\":\"t\",\"pipeline\":\"spin\",\"command\":\"loop\","
                       "\"aggregate_id\":\"x\",\"data\":{\"id\":\"x\"}}";
    const char *jsons[3] = {ok, loop, ok};
    es_new_event *results[3];
    size_t counts[3], done = 9;
    CHECK_INT(lua_host_handle_commands(h, jsons, 3, results, counts, &done), -1);
    CHECK_INT((int)done, 1);
    CHECK(strstr(diag_message(), "timed out") != NULL);
    if (!strstr(diag_message(), "timed out")) fprintf(stderr, "  got: %s\n", diag_message());
    lua_host_new_events_free(results[0], counts[0]);
    CHECK_INT(lua_host_handle_commands(h, jsons, 1, results, counts, &done), 0);
    CHECK_INT((int)counts[0], 1);
    lua_host_new_events_free(results[0], counts[0]);
    lua_host_free(h);
    snprintf(path, sizeof path, "rm -rf %s", dir);
    CHECK_INT(system(path), 0);
}

static void test_broken_reload_keeps_generation(void)
{
    char dir[] = "/tmp/esengine-luahost.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cp -r %s/ledger %s/", fixtures, dir);
    CHECK_INT(system(cmd), 0);
    lua_host *h = lua_host_new();
    CHECK_INT(lua_host_load(h, dir, NULL), 0);
    char before[64];
    snprintf(before, sizeof before, "%s", lua_host_generation(h));
    snprintf(cmd, sizeof cmd, "echo 'this is not lua' >> %s/ledger/pipeline.lua", dir);
    CHECK_INT(system(cmd), 0);
    CHECK_INT(lua_host_load(h, dir, NULL), -1);
    CHECK_INT(diag_code_get(), DIAG_SCRIPT);
    CHECK(strstr(diag_message(), "pipeline.lua:") != NULL);
    CHECK_STR(lua_host_generation(h), before);
    lua_host_free(h);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_INT(system(cmd), 0);
}

/* Loads the shipped pipelines 1,000 times: neither the Lua state nor the
 * process may keep growing. */
static void test_thousand_reloads(void)
{
    lua_host *h = lua_host_new();
    CHECK_INT(lua_host_load(h, shipped, NULL), 0);
    for (int i = 0; i < 20; i++) lua_host_load(h, shipped, NULL);
    int64_t lua_before = lua_host_memory(h);
    long rss_before = rss_kib();
    for (int i = 0; i < 1000; i++) CHECK_INT(lua_host_load(h, shipped, NULL), 0);
    int64_t lua_after = lua_host_memory(h);
    long rss_after = rss_kib();
    fprintf(stderr, "1000 reloads: Lua %lld -> %lld KiB, RSS %ld -> %ld KiB\n",
            (long long)lua_before / 1024, (long long)lua_after / 1024, rss_before, rss_after);
    CHECK(lua_after < lua_before + lua_before / 2);
#ifndef __SANITIZE_ADDRESS__
    /* AddressSanitizer keeps freed memory in quarantine (hundreds of MB),
     * so RSS says nothing there; its leak checker covers that build. */
    CHECK(rss_after < rss_before + 16 * 1024);
#endif
    lua_host_free(h);
}

int main(void)
{
    const char *src = getenv("ESENGINE_SOURCE_DIR");
    if (!src) src = ".";
    snprintf(fixtures, sizeof fixtures, "%s/spec/functional/fixtures/pipelines", src);
    snprintf(shipped, sizeof shipped, "%s/pipelines", src);
    RUN_TEST(test_load_and_validate);
    RUN_TEST(test_command_keeps_payload_json);
    RUN_TEST(test_prepare_many);
    RUN_TEST(test_handle_command_routes);
    RUN_TEST(test_handle_many);
    RUN_TEST(test_handle_many_time_limit);
    RUN_TEST(test_rows_scope);
    RUN_TEST(test_broken_reload_keeps_generation);
    RUN_TEST(test_thousand_reloads);
    return TEST_EXIT();
}
