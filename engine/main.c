/* main.c: the esengine binary: picks the subcommand, parses flags, prints
 * help. */
#include "cli.h"
#include "config.h"
#include "diag.h"

#include <stdio.h>
#include <string.h>

typedef struct command {
    const char *name;
    int (*run)(es_config *cfg);
    const char *usage;
    const char *summary;
    const char *flags[24];
} command;

#define COMMON_FLAGS "pipelines", "data", "redis", "clickhouse", "log-level", "help"

static const command commands[] = {
    {"run", cli_run, "run [flags]",
     "run workers (and the web role) until SIGINT/SIGTERM",
     {COMMON_FLAGS, "role", "workers", "batch-size", "max-attempts", "lease-ms",
      "retry-base-ms", "retry-max-ms", "handler-timeout-ms", "lua-memory-mb", "listen", "api-keys", NULL}},
    {"send", cli_send, "send PIPELINE COMMAND PAYLOAD_JSON|- --tenant T [--wait[=S]]",
     "validate and enqueue a command; prints {\"job_id\":...}",
     {COMMON_FLAGS, "tenant", "wait", "id", NULL}},
    {"check", cli_check, "check [--pipelines DIR]", "load and validate every pipeline",
     {"pipelines", "log-level", "help", NULL}},
    {"state", cli_state, "state PIPELINE FOLD KEY --tenant T",
     "print a fold's stored state as JSON (exit 3 if none)",
     {COMMON_FLAGS, "tenant", NULL}},
    {"events", cli_events, "events AGGREGATE_TYPE AGGREGATE_ID --tenant T",
     "print an aggregate's events as JSON lines in seq order",
     {COMMON_FLAGS, "tenant", NULL}},
    {"records", cli_records, "records PIPELINE MAP --tenant T [--limit N]",
     "print map records as JSON lines", {COMMON_FLAGS, "tenant", "limit", NULL}},
    {"status", cli_status, "status [--json]",
     "pending, delayed, in-flight and parked jobs per pipeline and component",
     {COMMON_FLAGS, "json", NULL}},
    {"reload", cli_reload, "reload [--pipelines DIR] [--data DIR]",
     "validate the pipelines, then make the engine on that data dir reload them",
     {"pipelines", "data", "log-level", "help", NULL}},
    {"migrate", cli_migrate, "migrate --clickhouse URL [--cluster NAME]",
     "create or upgrade the ClickHouse schema for the loaded pipelines",
     {"pipelines", "clickhouse", "cluster", "log-level", "help", NULL}},
    {"pause", cli_pause, "pause PIPELINE[/COMPONENT] [--tenant T] [--reject|--hold]",
     "stop claiming a pipeline's (or one component's) jobs; they stay queued in order",
     {COMMON_FLAGS, "tenant", "reject", "hold", NULL}},
    {"resume", cli_resume, "resume PIPELINE[/COMPONENT] [--tenant T]",
     "lift the pauses within that scope; held jobs run where they were",
     {COMMON_FLAGS, "tenant", NULL}},
    {"replay", cli_replay,
     "replay PIPELINE PROJECTION [--tenant T] [--since DATE] [--aggregate ID] [--dry-run] "
     "[--json] [--abort]",
     "rebuild a fold (shadow copy, atomic swap) or a map from the event log; reactors off",
     {COMMON_FLAGS, "tenant", "since", "aggregate", "dry-run", "json", "abort", "page-events",
      NULL}},
    {"parked", cli_parked, "parked [list|retry GROUP|skip GROUP] [--tenant T] [--json]",
     "list parked groups with their error; retry or skip a group's head job",
     {COMMON_FLAGS, "tenant", "json", NULL}},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void print_usage(void)
{
    printf("usage: esengine COMMAND [flags]   (esengine COMMAND --help)\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        printf("  %-9s %s\n", commands[i].name, commands[i].summary);
}

static void print_command_help(const command *c)
{
    printf("usage: esengine %s\n\n%s\n\nflags:\n", c->usage, c->summary);
    config_print_flags(c->flags);
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        print_usage();
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(argv[1], commands[i].name) != 0) continue;
        es_config cfg;
        if (config_parse(&cfg, argc - 2, argv + 2) != 0) {
            fprintf(stderr, "esengine %s: %s\n", argv[1], diag_message());
            return EXIT_USAGE;
        }
        if (cfg.help) {
            print_command_help(&commands[i]);
            return EXIT_OK;
        }
        return commands[i].run(&cfg);
    }
    fprintf(stderr, "esengine: unknown command '%s'\n", argv[1]);
    print_usage();
    return EXIT_USAGE;
}
