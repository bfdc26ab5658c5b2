/* reload_status.c: the running engine's report on its script generation,
 * <data>/esengine.status.json: per pipeline the content hash, when it was
 * loaded, folds whose version changed (needing replay), and the last
 * reload's outcome. The engine rewrites it on start and on every reload
 * (atomically: write aside, rename); `esengine status` prints it. */
#include "engine_internal.h"
#include "clock.h"
#include "diag.h"
#include "log.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATUS_FILE "esengine.status.json"
#define STATUS_MAX (1 << 20)

/* The file's content (malloc'd), or NULL when absent or unreadable. */
static char *read_status(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *text = malloc(STATUS_MAX + 1);
    size_t n = text ? fread(text, 1, STATUS_MAX, f) : 0;
    fclose(f);
    if (!text || n == 0) {
        free(text);
        return NULL;
    }
    text[n] = '\0';
    return text;
}

void reload_status_write(es_engine *e, const char *error)
{
    if (e->opt.memory || !e->opt.data_dir) return;
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/%s", e->opt.data_dir, STATUS_FILE);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    char *previous = read_status(path);
    char *json = lua_host_reload_status(e->control, previous, clock_now_ms(), error);
    free(previous);
    if (!json) {
        log_warn("reload status not written: %s", diag_message());
        return;
    }
    FILE *f = fopen(tmp, "wb");
    int ok = f && fputs(json, f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f) != 0) ok = 0;
    if (!ok || rename(tmp, path) != 0) log_warn("cannot write %s", path);
    free(json);
}

char *engine_reload_status_json(es_engine *e)
{
    if (e->opt.memory) return NULL;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", e->opt.data_dir ? e->opt.data_dir : ".", STATUS_FILE);
    return read_status(path);
}

int engine_print_reload_status(es_engine *e, int json)
{
    char *text = engine_reload_status_json(e);
    if (!text) return 0;
    for (size_t n = strlen(text); n > 0 && text[n - 1] == '\n'; n--) text[n - 1] = '\0';
    if (json) printf("{\"reload\":%s}\n", text);
    else printf("\nscript generation (%s/%s):\n%s\n", e->opt.data_dir ? e->opt.data_dir : ".",
                STATUS_FILE, text);
    free(text);
    return 0;
}
