/* host_cpu.c: CPU time per call of the Lua host's hot entry points
 * (engine/lua_host_run.c) on the embedded benchmark's pipeline
 * (bench/embedded/pipelines), in the engine's own Lua state with the C
 * side included and no store around it: lua_host_prepare_command and
 * lua_host_handle_command per command, lua_host_run_fold and
 * lua_host_run_map per event in batches of BATCH events (es_event structs,
 * as a worker reads them), then both on each batch as a command batch runs
 * them. Inputs are pooled (2,000 payloads, 20 batches)
 * so the live Lua heap stays as small as in the engine. Each round times
 * every phase with CLOCK_PROCESS_CPUTIME_ID; the median of the rounds is
 * printed. Built with the engine (CMakeLists.txt):
 *   ./build/host_cpu [CALLS] [ROUNDS] [BATCH]
 * On a shared machine CPU times move by 20% from run to run; instruction
 * counts do not: run it under valgrind --tool=callgrind with
 * --toggle-collect=lua_host_handle_command (and the other three) and divide
 * each function's inclusive count (callgrind_annotate --inclusive=yes) by
 * its calls or events. */
#include "diag.h"
#include "lua_host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POOL 2000
#define MAX_ROUNDS 64

static void die(const char *what)
{
    fprintf(stderr, "host_cpu: %s: %s\n", what, diag_message());
    exit(1);
}

static double cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, compare_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static char *format(const char *fmt, long a, long b)
{
    char buf[256];
    snprintf(buf, sizeof buf, fmt, a, b);
    return strdup(buf);
}

int main(int argc, char **argv)
{
    long calls = argc > 1 ? atol(argv[1]) : 100000;
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    long batch = argc > 3 ? atol(argv[3]) : 100;
    if (rounds < 1 || rounds > MAX_ROUNDS || batch < 1 || batch > POOL) {
        fprintf(stderr, "usage: host_cpu [CALLS] [ROUNDS<=%d] [BATCH<=%d]\n", MAX_ROUNDS, POOL);
        return 2;
    }
    lua_host *h = lua_host_new();
    if (!h || lua_host_load(h, "bench/embedded/pipelines", NULL) != 0) die("load");

    static char *payloads[POOL], *command_jsons[POOL];
    static es_event events[POOL];
    for (long i = 0; i < POOL; i++) {
        payloads[i] = format("{\"id\":\"bench-%ld\",\"amount\":%ld,"
                             "\"note\":\"benchmark event payload\"}", i % 2000, i % 100);
        es_event *ev = &events[i];
        ev->id = format("01J%06ld%06ld", i, i);
        ev->tenant_id = strdup("bench-tenant");
        ev->aggregate_type = strdup("counter");
        ev->aggregate_id = format("bench-%ld", i % 2000, 0);
        ev->seq = i + 1;
        ev->type = strdup("bench.added");
        ev->version = strdup("v1");
        ev->occurred_at = ev->created_at = 1700000000000;
        ev->idempotency_key = strdup(ev->id);
        ev->data_json = format("{\"amount\":%ld,\"note\":\"benchmark event payload %ld\"}", i % 100, i);
        ev->metadata_json = strdup("{}");
    }

    double prepare[MAX_ROUNDS], handle[MAX_ROUNDS], fold[MAX_ROUNDS], map[MAX_ROUNDS],
        both[MAX_ROUNDS];
    for (int r = 0; r < rounds; r++) {
        double t = cpu_us();
        for (long i = 0; i < calls; i++) {
            long k = i % POOL;
            char *aggregate_id, *command_json, *errors;
            if (lua_host_prepare_command(h, "bench-tenant", "bench", "add", payloads[k],
                                         &aggregate_id, &command_json, &errors) != 0)
                die("prepare_command");
            free(aggregate_id);
            free(command_jsons[k]);
            command_jsons[k] = command_json;
        }
        prepare[r] = (cpu_us() - t) / (double)calls;

        t = cpu_us();
        for (long i = 0; i < calls; i++) {
            es_new_event *out;
            size_t n;
            if (lua_host_handle_command(h, command_jsons[i % POOL], &out, &n) != 0 ||
                n != 1)
                die("handle_command");
            lua_host_new_events_free(out, n);
        }
        handle[r] = (cpu_us() - t) / (double)calls;

        long batches = calls / batch;
        char *state = NULL;
        t = cpu_us();
        for (long b = 0; b < batches; b++) {
            es_fold_result res;
            if (lua_host_run_fold(h, "bench", "totals", state, &events[(b * batch) % (POOL - POOL % batch)],
                                  (size_t)batch, &res) != 0 || res.error || res.n_applied != (size_t)batch)
                die(res.error ? res.error : "run_fold");
            free(state);
            state = res.state_json;
            res.state_json = NULL;
            lua_host_fold_result_clear(&res);
        }
        fold[r] = (cpu_us() - t) / (double)(batches * batch);
        free(state);

        t = cpu_us();
        for (long b = 0; b < batches; b++) {
            char **records, *error;
            size_t done;
            if (lua_host_run_map(h, "bench", "rows", &events[(b * batch) % (POOL - POOL % batch)],
                                 (size_t)batch, &records, &done, &error) != 0 || error ||
                done != (size_t)batch)
                die(error ? error : "run_map");
            lua_host_strings_free(records, done);
        }
        map[r] = (cpu_us() - t) / (double)(batches * batch);

        /* a command batch's projections: the map, then the fold, of the
         * same events (their rows pushed once in the batch's rows scope,
         * lua_host_run.c) */
        state = NULL;
        t = cpu_us();
        for (long b = 0; b < batches; b++) {
            const es_event *at = &events[(b * batch) % (POOL - POOL % batch)];
            char **records, *error;
            size_t done;
            es_fold_result res;
            lua_host_rows_scope(h, (uint64_t)(r * batches + b + 1));
            if (lua_host_run_map(h, "bench", "rows", at, (size_t)batch, &records, &done,
                                 &error) != 0 || error || done != (size_t)batch)
                die(error ? error : "run_map");
            lua_host_strings_free(records, done);
            if (lua_host_run_fold(h, "bench", "totals", state, at, (size_t)batch, &res) != 0 ||
                res.error || res.n_applied != (size_t)batch)
                die(res.error ? res.error : "run_fold");
            lua_host_rows_scope(h, 0);
            free(state);
            state = res.state_json;
            res.state_json = NULL;
            lua_host_fold_result_clear(&res);
        }
        both[r] = (cpu_us() - t) / (double)(batches * batch);
        free(state);
    }
    printf("lua_host_prepare_command %7.3f us CPU per command (median of %d rounds of %ld)\n",
           median(prepare, rounds), rounds, calls);
    printf("lua_host_handle_command  %7.3f us CPU per command\n", median(handle, rounds));
    printf("lua_host_run_fold        %7.3f us CPU per event (batches of %ld)\n", median(fold, rounds), batch);
    printf("lua_host_run_map         %7.3f us CPU per event (batches of %ld)\n", median(map, rounds), batch);
    printf("map then fold, same rows %7.3f us CPU per event (batches of %ld)\n", median(both, rounds),
           batch);
    for (long i = 0; i < POOL; i++) {
        free(payloads[i]);
        free(command_jsons[i]);
        event_clear(&events[i]);
    }
    lua_host_free(h);
    return 0;
}
