/* config.h: every command-line flag of the esengine binary, declared once in
 * a table (name, type, default, environment variable, help), parsed into one
 * struct. Flags override ESENGINE_* variables, which override defaults. */
#ifndef ES_CONFIG_H
#define ES_CONFIG_H

#include "engine.h"

#define CONFIG_MAX_POSITIONAL 8

typedef struct es_config {
    es_engine_options engine;
    const char *tenant;      /* --tenant, ESENGINE_TENANT */
    const char *listen;      /* --listen (web role) */
    const char *api_keys;    /* --api-keys FILE */
    const char *cluster;     /* --cluster NAME (migrate) */
    const char *job_id;      /* --id: deterministic job id for send */
    const char *log_level;   /* --log-level */
    int json;                /* --json */
    int reject;              /* --reject: pause refuses new commands */
    int hold;                /* --hold: pause accepts and holds them */
    const char *since;       /* --since DATE (replay) */
    const char *aggregate;   /* --aggregate ID (replay) */
    int dry_run;             /* --dry-run (replay) */
    int abort_replay;        /* --abort (replay) */
    int page_events;         /* --page-events N (replay) */
    int limit;               /* --limit N */
    double wait_seconds;     /* --wait[=S]: < 0 when not given */
    int help;                /* --help */
    const char *positional[CONFIG_MAX_POSITIONAL];
    int n_positional;
} es_config;

/* Parses argv (after the command word) into cfg, starting from defaults and
 * the environment. 0, or -1 with DIAG_INVALID naming the bad flag or value.
 * Strings point into argv or the environment. */
int config_parse(es_config *cfg, int argc, char **argv);

/* Prints the flags a command accepts (names listed in `flags`, a
 * NULL-terminated array) with their env variables and defaults. */
void config_print_flags(const char *const *flags);

#endif
