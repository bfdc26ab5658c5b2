/* cli_send.c: `esengine send`: validate and enqueue one command, or one per
 * line of JSON lines on stdin (enqueued in transactions of the queue store
 * of up to SEND_TX_LINES lines or SEND_TX_MS), optionally waiting until
 * their events are folded. */
#include "cli.h"
#include "clock.h"
#include "diag.h"
#include "json_buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A transaction of sends ends after this many lines or milliseconds,
 * whichever comes first, so it never holds the store's write lock long
 * (an engine or other senders on the same SQLite file wait for it). */
#define SEND_TX_LINES 1000
#define SEND_TX_MS 100

/* The queue store's transaction (the only store a send writes). */
static int queue_tx_begin(es_engine *e)
{
    es_store *q = engine_backends(e)->queue;
    return q->ops->tx_begin ? q->ops->tx_begin(q) : 0;
}

/* Reads all of stdin into a malloc'd string. */
static char *read_stdin(void)
{
    json_buf b;
    jb_init(&b);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0) jb_raw(&b, chunk, n);
    return jb_take(&b);
}

/* Sends one payload. Returns an exit code; on success *job_id is the
 * malloc'd id. */
static int send_one(es_engine *e, es_config *cfg, const char *payload, const char *id_hint,
                    char **job_id)
{
    char *errors = NULL;
    int (*send)(es_engine *, const char *, const char *, const char *, const char *,
                const char *, char **, char **) =
        cfg->wait_seconds >= 0 ? engine_send_waitable : engine_send;
    if (send(e, cfg->tenant, cfg->positional[0], cfg->positional[1], payload, id_hint, job_id,
             &errors) != 0) {
        int code = cli_exit_code();
        fprintf(stderr, "esengine send: %s\n", diag_message());
        if (errors) fprintf(stderr, "%s\n", errors);
        free(errors);
        return code;
    }
    return EXIT_OK;
}

/* Commits the open transaction of sends and prints the job id lines of the
 * commands it enqueued (ids[from..n)). An exit code. */
static int commit_sent(es_engine *e, char **ids, size_t from, size_t n)
{
    es_store *q = engine_backends(e)->queue;
    if (q->ops->tx_commit && q->ops->tx_commit(q) != 0) {
        fprintf(stderr, "esengine send: %s\n", diag_message());
        return EXIT_FAIL;
    }
    for (size_t i = from; i < n; i++) printf("{\"job_id\":\"%s\"}\n", ids[i]);
    return EXIT_OK;
}

int cli_send(es_config *cfg)
{
    if (cfg->n_positional != 3) {
        fprintf(stderr, "usage: esengine send PIPELINE COMMAND PAYLOAD_JSON|- --tenant T\n");
        return EXIT_USAGE;
    }
    if (!cfg->tenant || !*cfg->tenant) {
        fprintf(stderr, "esengine send: --tenant is required (or ESENGINE_TENANT)\n");
        return EXIT_USAGE;
    }
    int from_stdin = strcmp(cfg->positional[2], "-") == 0;
    char *input = from_stdin ? read_stdin() : strdup(cfg->positional[2]);
    int code;
    es_engine *e = cli_open_engine(cfg, &code);
    if (!e || !input) {
        free(input);
        return e ? EXIT_FAIL : code;
    }
    /* From stdin, each non-empty line is one payload (JSON lines); a single
     * multi-line JSON document is one payload too. */
    char **ids = NULL;
    size_t n_ids = 0, cap = 0, line_no = 0;
    code = EXIT_OK;
    int one_document = !from_stdin || input[strspn(input, " \t\r\n")] != '{' ||
                       strstr(input, "}\n{") == NULL;
    char *cursor = input;
    size_t committed = 0; /* ids[0..committed) are durable and printed */
    int in_tx = 0;
    int64_t tx_started = 0;
    while (code == EXIT_OK && cursor && *cursor) {
        if (!in_tx && queue_tx_begin(e) != 0) {
            fprintf(stderr, "esengine send: %s\n", diag_message());
            code = EXIT_FAIL;
            break;
        }
        if (!in_tx) tx_started = clock_monotonic_ms();
        in_tx = 1;
        char *line = cursor;
        char *nl = one_document ? NULL : strchr(cursor, '\n');
        if (nl) *nl = '\0';
        cursor = nl ? nl + 1 : NULL;
        line_no++;
        if (line[strspn(line, " \t\r")] == '\0') continue;
        char hint[512], *job_id = NULL;
        if (cfg->job_id) snprintf(hint, sizeof hint, "%s#%zu", cfg->job_id, line_no);
        code = send_one(e, cfg, line, cfg->job_id ? (one_document ? cfg->job_id : hint) : NULL,
                        &job_id);
        if (code != EXIT_OK) {
            if (!one_document) fprintf(stderr, "esengine send: at line %zu\n", line_no);
            break;
        }
        if (n_ids == cap) {
            cap = cap ? cap * 2 : 64;
            char **grown = realloc(ids, cap * sizeof *ids);
            if (!grown) {
                free(job_id);
                code = EXIT_FAIL;
                break;
            }
            ids = grown;
        }
        ids[n_ids++] = job_id;
        if (n_ids - committed == SEND_TX_LINES ||
            clock_monotonic_ms() - tx_started >= SEND_TX_MS) {
            in_tx = 0;
            code = commit_sent(e, ids, committed, n_ids);
            committed = n_ids;
        }
    }
    /* what was accepted before a bad line stays enqueued */
    if (in_tx) {
        int committed_code = commit_sent(e, ids, committed, n_ids);
        if (code == EXIT_OK) code = committed_code;
    }
    fflush(stdout);
    if (code == EXIT_OK && cfg->wait_seconds >= 0) {
        int64_t deadline = clock_monotonic_ms() + (int64_t)(cfg->wait_seconds * 1000);
        for (size_t i = 0; i < n_ids && code == EXIT_OK; i++) {
            int64_t left = deadline - clock_monotonic_ms();
            if (engine_wait(e, ids[i], left > 0 ? left : 0) != 0) {
                fprintf(stderr, "esengine send: %s\n", diag_message());
                code = EXIT_FAIL;
            }
        }
    }
    for (size_t i = 0; i < n_ids; i++) free(ids[i]);
    free(ids);
    free(input);
    engine_close(e);
    return code;
}
