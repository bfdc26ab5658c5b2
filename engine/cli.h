/* cli.h: the esengine subcommands. Each takes the parsed configuration and
 * returns the process exit code: 0 success, 1 failure or timeout, 2 bad
 * usage or invalid input, 3 not found. */
#ifndef ES_CLI_H
#define ES_CLI_H

#include "config.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_NOT_FOUND = 3 };

int cli_run(es_config *cfg);
int cli_send(es_config *cfg);
int cli_check(es_config *cfg);
int cli_state(es_config *cfg);
int cli_events(es_config *cfg);
int cli_records(es_config *cfg);
int cli_status(es_config *cfg);
int cli_parked(es_config *cfg);
int cli_reload(es_config *cfg);
int cli_migrate(es_config *cfg);
int cli_pause(es_config *cfg);
int cli_resume(es_config *cfg);
int cli_replay(es_config *cfg);

/* Prints the pauses in force after `status` output (text or --json lines
 * {"pause":{...}}); nothing when the queue cannot pause. 0 or -1. */
int cli_status_pauses(es_engine *e, es_config *cfg);

/* Prints the worker registry after `status` output (text, or --json lines
 * {"worker":{...}}); nothing when the queue has no registry. 0, or -1 with
 * a diag. */
int cli_status_workers(es_engine *e, es_config *cfg);

/* Opens the engine for a one-shot command; prints the error and returns
 * NULL on failure (*exit_code set). */
es_engine *cli_open_engine(es_config *cfg, int *exit_code);

/* Maps a diag code to an exit code (invalid -> 2, not found -> 3, else 1). */
int cli_exit_code(void);

#endif
