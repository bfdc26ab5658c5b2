/* config.c: the declarative flag table and its parser (see config.h). */
#include "config.h"
#include "diag.h"
#include "log.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { OPT_STRING, OPT_INT, OPT_INT64, OPT_FLAG, OPT_SECONDS } opt_type;

typedef struct opt_def {
    const char *name;
    opt_type type;
    size_t offset;
    const char *env;
    const char *dflt; /* text for help; the value is set by the defaults */
    long long min, max;
    const char *help;
} opt_def;

#define E(field) offsetof(es_config, engine.field)
#define C(field) offsetof(es_config, field)

static const opt_def options[] = {
    {"pipelines", OPT_STRING, E(pipelines_dir), "ESENGINE_PIPELINES", "./pipelines", 0, 0,
     "directory of pipeline folders"},
    {"data", OPT_STRING, E(data_dir), "ESENGINE_DATA", "./esengine-data", 0, 0,
     "data directory of the embedded SQLite store"},
    {"redis", OPT_STRING, E(redis_url), "ESENGINE_REDIS_URL", "", 0, 0,
     "redis://host:port: queues in Redis (distributed mode)"},
    {"clickhouse", OPT_STRING, E(clickhouse_url), "ESENGINE_CLICKHOUSE_URL", "", 0, 0,
     "http://user:pass@host:8123/db: event log and projections in ClickHouse"},
    {"role", OPT_STRING, E(role), "ESENGINE_ROLE", "all", 0, 0, "all, web or worker"},
    {"workers", OPT_INT, E(workers), "ESENGINE_WORKERS", "cores", 1, 1024,
     "worker threads (twice the cores with --redis)"},
    {"batch-size", OPT_INT, E(batch_size), "ESENGINE_BATCH_SIZE", "256", 1, 100000,
     "max jobs of one group per claim"},
    {"max-attempts", OPT_INT, E(max_attempts), "ESENGINE_MAX_ATTEMPTS", "10", 1, 1000,
     "failures before a group is parked"},
    {"lease-ms", OPT_INT64, E(lease_ms), "ESENGINE_LEASE_MS", "10000", 100, 3600000,
     "claim visibility timeout"},
    {"retry-base-ms", OPT_INT64, E(retry_base_ms), "ESENGINE_RETRY_BASE_MS", "1000", 0,
     3600000, "first retry delay (doubles per attempt, with jitter)"},
    {"retry-max-ms", OPT_INT64, E(retry_max_ms), "ESENGINE_RETRY_MAX_MS", "300000", 0,
     86400000, "retry delay cap"},
    {"handler-timeout-ms", OPT_INT64, E(handler_timeout_ms), "ESENGINE_HANDLER_TIMEOUT_MS",
     "5000", 1, 3600000, "time limit of one handler call"},
    {"inline-projections", OPT_INT, E(inline_projections), "ESENGINE_INLINE_PROJECTIONS", "1",
     0, 1, "1: a command batch applies its events' folds and maps itself where no queued "
     "job of theirs waits (embedded: in its own transaction; Redis + ClickHouse: records in "
     "its ClickHouse batches, fold states written when it is acknowledged); 0: always as "
     "queued jobs"},
    {"lua-memory-mb", OPT_INT64, E(lua_memory_mb), "ESENGINE_LUA_MEMORY_MB", "512", 0, 1048576,
     "memory limit of each worker's Lua state (0 = none)"},
    {"tenant", OPT_STRING, C(tenant), "ESENGINE_TENANT", "", 0, 0, "tenant id"},
    {"listen", OPT_STRING, C(listen), "ESENGINE_LISTEN", "127.0.0.1:4318", 0, 0,
     "HTTP listen address of the web role"},
    {"api-keys", OPT_STRING, C(api_keys), "ESENGINE_API_KEYS", "", 0, 0,
     "file of 'key tenant_id' lines"},
    {"cluster", OPT_STRING, C(cluster), "ESENGINE_CLUSTER", "", 0, 0,
     "ClickHouse cluster name for migrate (ON CLUSTER)"},
    {"id", OPT_STRING, C(job_id), NULL, "", 0, 0,
     "client id of the command: resending the same id is a no-op"},
    {"log-level", OPT_STRING, C(log_level), "ESENGINE_LOG_LEVEL", "info", 0, 0,
     "debug, info, warn or error"},
    {"json", OPT_FLAG, C(json), NULL, "", 0, 0, "machine-readable output"},
    {"reject", OPT_FLAG, C(reject), NULL, "", 0, 0,
     "while paused, refuse new commands to the pipeline (default: the pipeline's "
     "kill switch mode, else accept and hold)"},
    {"hold", OPT_FLAG, C(hold), NULL, "", 0, 0,
     "while paused, accept and hold new commands, whatever the kill switch mode"},
    {"since", OPT_STRING, C(since), NULL, "", 0, 0,
     "replay only aggregates with events since this date (YYYY-MM-DD[THH:MM:SS], UTC)"},
    {"aggregate", OPT_STRING, C(aggregate), NULL, "", 0, 0, "replay one aggregate id"},
    {"dry-run", OPT_FLAG, C(dry_run), NULL, "", 0, 0,
     "fold a sample of aggregates and print how stored and rebuilt states differ"},
    {"page-events", OPT_INT, C(page_events), "ESENGINE_REPLAY_PAGE_EVENTS", "20000", 1, 10000000,
     "events read per page of a replay (one checkpoint per page)"},
    {"abort", OPT_FLAG, C(abort_replay), NULL, "", 0, 0,
     "abandon an interrupted replay (drops its shadow copy and checkpoint)"},
    {"limit", OPT_INT, C(limit), NULL, "0", 0, 100000000, "max rows (0 = all)"},
    {"wait", OPT_SECONDS, C(wait_seconds), NULL, "60", 0, 86400,
     "wait until the command is folded (optional =SECONDS)"},
    {"help", OPT_FLAG, C(help), NULL, "", 0, 0, "this help"},
};

#define N_OPTIONS (sizeof options / sizeof options[0])

static const opt_def *find_option(const char *name, size_t len)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (strlen(options[i].name) == len && strncmp(options[i].name, name, len) == 0)
            return &options[i];
    return NULL;
}

static int set_value(es_config *cfg, const opt_def *o, const char *value, const char *source)
{
    char *base = (char *)cfg + o->offset;
    char *end;
    switch (o->type) {
    case OPT_STRING:
        *(const char **)base = value;
        return 0;
    case OPT_FLAG:
        *(int *)base = 1;
        return 0;
    case OPT_SECONDS: {
        double v = value ? strtod(value, &end) : 60.0;
        if (value && (*end || v < 0)) break;
        *(double *)base = v;
        return 0;
    }
    case OPT_INT:
    case OPT_INT64: {
        if (!value) break;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (errno || *end || end == value || v < o->min || v > o->max) break;
        if (o->type == OPT_INT) *(int *)base = (int)v;
        else *(int64_t *)base = v;
        return 0;
    }
    }
    diag_set(DIAG_INVALID, "%s %s%s: invalid value '%s'", source,
             o->env && strcmp(source, "environment") == 0 ? o->env : "--",
             o->env && strcmp(source, "environment") == 0 ? "" : o->name,
             value ? value : "");
    return -1;
}

int config_parse(es_config *cfg, int argc, char **argv)
{
    memset(cfg, 0, sizeof *cfg);
    engine_options_default(&cfg->engine);
    cfg->listen = "127.0.0.1:4318";
    cfg->wait_seconds = -1;
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const char *v = options[i].env ? getenv(options[i].env) : NULL;
        if (v && *v && set_value(cfg, &options[i], v, "environment") != 0) return -1;
    }
    int only_positional = 0;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (only_positional || arg[0] != '-' || strcmp(arg, "-") == 0) {
            if (cfg->n_positional == CONFIG_MAX_POSITIONAL) {
                diag_set(DIAG_INVALID, "too many arguments at '%s'", arg);
                return -1;
            }
            cfg->positional[cfg->n_positional++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_positional = 1;
            continue;
        }
        if (strcmp(arg, "-h") == 0) {
            cfg->help = 1;
            continue;
        }
        const char *name = arg + (arg[1] == '-' ? 2 : 1);
        const char *eq = strchr(name, '=');
        const opt_def *o = find_option(name, eq ? (size_t)(eq - name) : strlen(name));
        if (!o) {
            diag_set(DIAG_INVALID, "unknown flag %s (see --help)", arg);
            return -1;
        }
        const char *value = eq ? eq + 1 : NULL;
        if (!value && o->type != OPT_FLAG && o->type != OPT_SECONDS) {
            if (i + 1 >= argc) {
                diag_set(DIAG_INVALID, "flag --%s needs a value", o->name);
                return -1;
            }
            value = argv[++i];
        }
        if (set_value(cfg, o, value, "flag") != 0) return -1;
    }
    if (cfg->log_level) {
        int level = log_level_parse(cfg->log_level);
        if (level < 0) {
            diag_set(DIAG_INVALID, "--log-level: expected debug, info, warn or error, got '%s'",
                     cfg->log_level);
            return -1;
        }
        log_set_level((log_level)level);
    }
    return 0;
}

void config_print_flags(const char *const *flags)
{
    for (const char *const *f = flags; *f; f++) {
        const opt_def *o = find_option(*f, strlen(*f));
        if (!o) continue;
        char left[64];
        snprintf(left, sizeof left, "--%s%s", o->name,
                 o->type == OPT_FLAG ? "" : o->type == OPT_SECONDS ? "[=S]" : " V");
        printf("  %-24s %s", left, o->help);
        if (o->dflt && *o->dflt) printf(" (default %s)", o->dflt);
        if (o->env) printf(" [%s]", o->env);
        printf("\n");
    }
}
