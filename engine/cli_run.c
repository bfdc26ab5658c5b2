/* cli_run.c: `esengine run`: start the workers (and the web role), reload
 * pipelines on SIGHUP or file changes, and on SIGINT or SIGTERM finish
 * in-flight jobs and exit 0. Writes <data>/esengine.pid for `esengine
 * reload`. */
#include "cli.h"
#include "diag.h"
#include "http_server.h"
#include "log.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int cli_run(es_config *cfg)
{
    const char *role = cfg->engine.role ? cfg->engine.role : "all";
    if (strcmp(role, "all") != 0 && strcmp(role, "web") != 0 && strcmp(role, "worker") != 0) {
        fprintf(stderr, "esengine run: --role must be all, web or worker, got '%s'\n", role);
        return EXIT_USAGE;
    }
    /* Block the stop signals in every thread; the main thread waits on them. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

    int code;
    es_engine *e = cli_open_engine(cfg, &code);
    if (!e) return code;
    int workers_on = strcmp(role, "web") != 0;
    if (workers_on && engine_start(e) != 0) {
        fprintf(stderr, "esengine run: %s\n", diag_message());
        engine_close(e);
        return EXIT_FAIL;
    }
    http_server *web = NULL;
    if (strcmp(role, "worker") != 0) {
        http_server_options hopt;
        http_server_options_default(&hopt);
        hopt.listen = cfg->listen;
        hopt.api_keys_file = cfg->api_keys && *cfg->api_keys ? cfg->api_keys : NULL;
        hopt.otlp_ingest = engine_otlp_ingest;
        hopt.otlp_ingest_ud = e;
        web = http_server_start(e, &hopt);
        if (!web) {
            fprintf(stderr, "esengine run: web role: %s\n", diag_message());
            engine_close(e);
            return cli_exit_code();
        }
        log_info("web role listening on %s (port %d)", cfg->listen, http_server_port(web));
    }
    es_backends *b = engine_backends(e);
    log_info("running role %s on pipelines %s; events in %s, queue in %s", role,
             cfg->engine.pipelines_dir, b->events->ops->name, b->queue->ops->name);
    if (strcmp(b->events->ops->name, "sqlite") == 0)
        log_info("data in %s/esengine.db; send a command with: esengine send PIPELINE "
                 "COMMAND '{...}' --tenant T --data %s",
                 cfg->engine.data_dir, cfg->engine.data_dir);
    if (workers_on && engine_watch(e) != 0)
        log_warn("hot reload on file changes is off: %s (SIGHUP still reloads)", diag_message());
    char pid_path[4096];
    snprintf(pid_path, sizeof pid_path, "%s/esengine.pid", cfg->engine.data_dir);
    FILE *pid_file = fopen(pid_path, "w");
    if (pid_file) {
        fprintf(pid_file, "%d\n", (int)getpid());
        fclose(pid_file);
    }
    int sig = 0;
    /* SIGHUP reloads the pipelines; SIGINT/SIGTERM stop. */
    while (sigwait(&stop_signals, &sig) == 0 && sig == SIGHUP) engine_reload(e);
    log_info("signal %d: finishing in-flight jobs", sig);
    if (web) http_server_stop(web);
    unlink(pid_path);
    engine_close(e);
    log_info("stopped");
    return EXIT_OK;
}
