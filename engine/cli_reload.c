/* cli_reload.c: `esengine reload`: validate the pipelines dir, then ask the
 * engine running on the same data dir (its esengine.pid) to reload. */
#include "cli.h"
#include "diag.h"
#include "lua_host.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

int cli_reload(es_config *cfg)
{
    lua_host *h = lua_host_new();
    if (!h) return EXIT_FAIL;
    int loaded = lua_host_load(h, cfg->engine.pipelines_dir, NULL);
    if (loaded != 0) fprintf(stderr, "%s\nesengine reload: not signalled\n", diag_message());
    lua_host_free(h);
    if (loaded != 0) return EXIT_USAGE;
    char path[4096];
    snprintf(path, sizeof path, "%s/esengine.pid", cfg->engine.data_dir);
    FILE *f = fopen(path, "r");
    int pid = 0;
    if (!f || fscanf(f, "%d", &pid) != 1 || pid <= 0) {
        if (f) fclose(f);
        fprintf(stderr, "esengine reload: no running engine for %s (no %s)\n",
                cfg->engine.data_dir, path);
        return EXIT_NOT_FOUND;
    }
    fclose(f);
    if (kill(pid, SIGHUP) != 0) {
        fprintf(stderr, "esengine reload: pid %d: %s\n", pid, strerror(errno));
        return EXIT_FAIL;
    }
    printf("reload signalled to pid %d\n", pid);
    return EXIT_OK;
}
