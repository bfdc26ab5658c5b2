/* cli_replay.c: `esengine replay`: runs engine_replay with a progress bar
 * on a terminal (events done/total, events/s, ETA), plain lines otherwise,
 * or JSON lines with --json; prints the differences of a --dry-run. */
#include "cli.h"
#include "clock.h"
#include "diag.h"
#include "json_buf.h"
#include "replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PLAIN_EVERY_MS 1000

typedef struct progress_out {
    es_config *cfg;
    int tty;
    int64_t last_print;
} progress_out;

/* Parses YYYY-MM-DD[THH:MM[:SS]] (UTC) into ms since the epoch. */
static int parse_since(const char *text, int64_t *ms)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int n = 0, y, mo, d, h = 0, mi = 0, s = 0;
    if (sscanf(text, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3) return -1;
    const char *rest = text + n;
    if ((*rest == 'T' || *rest == ' ') &&
        sscanf(rest + 1, "%2d:%2d:%2d%n", &h, &mi, &s, &n) < 2)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    if (mo < 1 || mo > 12 || d < 1 || d > 31) return -1;
    *ms = (int64_t)timegm(&tm) * 1000;
    return 0;
}

static int on_progress(void *ud, const replay_progress *p)
{
    progress_out *o = ud;
    int64_t now = clock_monotonic_ms();
    int last = strcmp(p->phase, "done") == 0;
    if (o->cfg->json) {
        printf("{\"phase\":\"%s\",\"done\":%lld,\"total\":%lld,\"events_per_s\":%.0f,"
               "\"eta_s\":%.1f}\n",
               p->phase, (long long)p->done, (long long)p->total, p->rate, p->eta_s);
        fflush(stdout);
    } else if (o->tty) {
        int width = 30;
        double frac = p->total > 0 ? (double)p->done / (double)p->total : 1.0;
        if (frac > 1) frac = 1;
        int fill = (int)(frac * width);
        fprintf(stderr, "\r%-5s [%.*s%*s] %lld/%lld events  %.0f ev/s  ETA %.0fs   ", p->phase,
                fill, "##############################", width - fill, "", (long long)p->done,
                (long long)p->total, p->rate, p->eta_s < 0 ? 0 : p->eta_s);
        if (last) fprintf(stderr, "\n");
    } else if (last || now - o->last_print >= PLAIN_EVERY_MS || strcmp(p->phase, "swap") == 0) {
        fprintf(stderr, "replay %s: %lld/%lld events, %.0f events/s, ETA %.0f s\n", p->phase,
                (long long)p->done, (long long)p->total, p->rate,
                p->eta_s < 0 ? 0 : p->eta_s);
        o->last_print = now;
    }
    return 0;
}

static void on_diff(void *ud, const char *tenant_id, const char *aggregate_id,
                     const char *stored, int64_t stored_seq, const char *rebuilt,
                     int64_t rebuilt_seq, int differs)
{
    progress_out *o = ud;
    if (o->cfg->json) {
        json_buf b;
        jb_init(&b);
        jb_str(&b, "{\"tenant_id\":");
        jb_quoted(&b, tenant_id);
        jb_str(&b, ",\"aggregate_id\":");
        jb_quoted(&b, aggregate_id);
        jb_printf(&b, ",\"differs\":%s,\"stored_seq\":%lld,\"rebuilt_seq\":%lld,\"stored\":",
                  differs ? "true" : "false", (long long)stored_seq, (long long)rebuilt_seq);
        jb_str(&b, stored ? stored : "null");
        jb_str(&b, ",\"rebuilt\":");
        jb_str(&b, rebuilt ? rebuilt : "null");
        jb_str(&b, "}");
        char *line = jb_take(&b);
        printf("%s\n", line ? line : "{}");
        free(line);
    } else if (differs) {
        printf("%s %s differs\n  stored  (seq %lld): %s\n  rebuilt (seq %lld): %s\n",
               tenant_id, aggregate_id, (long long)stored_seq, stored ? stored : "(none)",
               (long long)rebuilt_seq, rebuilt ? rebuilt : "(none)");
    } else {
        printf("%s %s same (seq %lld)\n", tenant_id, aggregate_id, (long long)rebuilt_seq);
    }
}

int cli_replay(es_config *cfg)
{
    if (cfg->n_positional != 2) {
        fprintf(stderr, "usage: esengine replay PIPELINE PROJECTION [--tenant T] [--since DATE] "
                        "[--aggregate ID] [--dry-run] [--json] [--abort]\n");
        return EXIT_USAGE;
    }
    replay_options opt;
    memset(&opt, 0, sizeof opt);
    opt.pipeline = cfg->positional[0];
    opt.projection = cfg->positional[1];
    opt.tenant_id = cfg->tenant && *cfg->tenant ? cfg->tenant : NULL;
    opt.aggregate_id = cfg->aggregate && *cfg->aggregate ? cfg->aggregate : NULL;
    opt.dry_run = cfg->dry_run;
    opt.abort = cfg->abort_replay;
    opt.page_events = cfg->page_events > 0 ? (size_t)cfg->page_events : 0;
    if (cfg->since && *cfg->since && parse_since(cfg->since, &opt.since_ms) != 0) {
        fprintf(stderr, "esengine replay: --since: expected YYYY-MM-DD[THH:MM:SS], got '%s'\n",
                cfg->since);
        return EXIT_USAGE;
    }
    progress_out o = {cfg, isatty(STDERR_FILENO), 0};
    opt.progress = on_progress;
    opt.diff = on_diff;
    opt.ud = &o;
    int code;
    es_engine *e = cli_open_engine(cfg, &code);
    if (!e) return code;
    replay_result res;
    int rc = engine_replay(e, &opt, &res);
    if (rc < 0) {
        fprintf(stderr, "esengine replay: %s\n", diag_message());
        code = cli_exit_code();
    } else if (opt.abort) {
        if (rc == 1) fprintf(stderr, "esengine replay: no interrupted replay of %s/%s\n",
                             opt.pipeline, opt.projection);
        else printf("abandoned the replay of %s/%s\n", opt.pipeline, opt.projection);
        code = rc == 1 ? EXIT_NOT_FOUND : EXIT_OK;
    } else if (opt.dry_run) {
        fprintf(stderr, "dry run: %lld aggregates sampled, %lld differ\n",
                (long long)res.aggregates, (long long)res.differ);
        code = EXIT_OK;
    } else {
        double rate = res.seconds > 0 ? (double)res.events / res.seconds : 0;
        if (cfg->json)
            printf("{\"replayed\":\"%s/%s\",\"events\":%lld,\"aggregates\":%lld,"
                   "\"caught_up\":%lld,\"resumed\":%s,\"seconds\":%.3f,\"events_per_s\":%.0f}\n",
                   opt.pipeline, opt.projection, (long long)res.events,
                   (long long)res.aggregates, (long long)res.caught_up,
                   res.resumed ? "true" : "false", res.seconds, rate);
        else
            printf("replayed %s/%s: %lld events over %lld aggregates in %.2f s (%.0f events/s)"
                   "%s; %lld caught up at the swap\n",
                   opt.pipeline, opt.projection, (long long)res.events,
                   (long long)res.aggregates, res.seconds, rate,
                   res.resumed ? ", resumed from a checkpoint" : "", (long long)res.caught_up);
        code = EXIT_OK;
    }
    engine_close(e);
    return code;
}
