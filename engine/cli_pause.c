/* cli_pause.c: `esengine pause` and `resume` (the kill switch), and the
 * pauses section of `esengine status`. */
#include "cli.h"
#include "clock.h"
#include "diag.h"
#include "json_buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *mode_name(pause_mode mode)
{
    return mode == PAUSE_REJECT ? "reject" : mode == PAUSE_HOLD ? "hold" : "none";
}

/* Shared by pause and resume: PIPELINE[/COMPONENT] [--tenant T]. A pause
 * takes --reject or --hold, else the pipeline's declared kill switch mode. */
static int pause_command(es_config *cfg, int pausing, const char *verb)
{
    if (cfg->n_positional != 1 || !*cfg->positional[0]) {
        fprintf(stderr, "usage: esengine %s PIPELINE[/COMPONENT] [--tenant T]%s\n", verb,
                pausing ? " [--reject|--hold]" : "");
        return EXIT_USAGE;
    }
    if (cfg->reject && cfg->hold) {
        fprintf(stderr, "esengine %s: --reject and --hold exclude each other\n", verb);
        return EXIT_USAGE;
    }
    char *pipeline = strdup(cfg->positional[0]);
    if (!pipeline) return EXIT_FAIL;
    char *slash = strchr(pipeline, '/');
    const char *component = NULL;
    if (slash) {
        *slash = '\0';
        component = slash + 1;
    }
    const char *tenant = cfg->tenant && *cfg->tenant ? cfg->tenant : NULL;
    int code;
    es_engine *e = cli_open_engine(cfg, &code);
    if (!e) {
        free(pipeline);
        return code;
    }
    pause_mode mode = !pausing     ? PAUSE_NONE
                      : cfg->reject ? PAUSE_REJECT
                      : cfg->hold   ? PAUSE_HOLD
                                    : engine_pause_declared_mode(e, pipeline);
    int rc = engine_pause(e, tenant, pipeline, component && *component ? component : NULL, mode);
    const char *scope = cfg->positional[0];
    if (rc < 0) {
        fprintf(stderr, "esengine %s: %s\n", verb, diag_message());
        code = cli_exit_code();
    } else if (rc == 1) {
        fprintf(stderr, "esengine %s: %s is not paused%s%s\n", verb, scope,
                tenant ? " for tenant " : "", tenant ? tenant : "");
        code = EXIT_NOT_FOUND;
    } else if (mode != PAUSE_NONE) {
        printf("paused %s for %s%s (%s): workers stop claiming its jobs within a second; "
               "they stay queued%s\n",
               scope, tenant ? "tenant " : "every tenant", tenant ? tenant : "",
               mode_name(mode),
               mode == PAUSE_REJECT ? ", and new commands are refused" : "");
        code = EXIT_OK;
    } else {
        printf("resumed %s for %s%s: held jobs run in order\n", scope,
               tenant ? "tenant " : "every tenant", tenant ? tenant : "");
        code = EXIT_OK;
    }
    free(pipeline);
    engine_close(e);
    return code;
}

int cli_pause(es_config *cfg)
{
    return pause_command(cfg, 1, "pause");
}

int cli_resume(es_config *cfg)
{
    return pause_command(cfg, 0, "resume");
}

typedef struct pauses_out {
    es_config *cfg;
    int rows;
} pauses_out;

static int print_pause(void *ud, const es_pause *p)
{
    pauses_out *o = ud;
    if (o->cfg->json) {
        json_buf b;
        jb_init(&b);
        jb_str(&b, "{\"pause\":{\"pipeline\":");
        jb_quoted(&b, p->pipeline);
        jb_str(&b, ",\"component\":");
        jb_quoted(&b, p->component);
        jb_str(&b, ",\"tenant_id\":");
        jb_quoted(&b, p->tenant_id);
        jb_printf(&b, ",\"mode\":\"%s\",\"paused_at\":%lld}}", mode_name(p->mode),
                  (long long)p->paused_at);
        char *line = jb_take(&b);
        printf("%s\n", line ? line : "{}");
        free(line);
    } else {
        if (o->rows == 0)
            printf("\n%-24s %-24s %-16s %-7s %s\n", "PAUSED", "COMPONENT", "TENANT", "MODE",
                   "FOR_S");
        printf("%-24s %-24s %-16s %-7s %lld\n", p->pipeline, p->component ? p->component : "*",
               p->tenant_id ? p->tenant_id : "*", mode_name(p->mode),
               (long long)((clock_now_ms() - p->paused_at) / 1000));
    }
    o->rows++;
    return 0;
}

int cli_status_pauses(es_engine *e, es_config *cfg)
{
    es_store *q = engine_backends(e)->queue;
    if (!q->ops->pause_list) return 0;
    pauses_out o = {cfg, 0};
    return q->ops->pause_list(q, print_pause, &o);
}
