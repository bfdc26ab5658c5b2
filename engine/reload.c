/* reload.c: the pipelines-dir watcher behind hot reload: inotify watches on
 * the dir and every subfolder, a 200 ms quiet period so an editor writing
 * several files causes one reload, then engine_reload. */
#include "engine_internal.h"
#include "diag.h"
#include "log.h"

#include <dirent.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#define QUIET_MS 200
#define WATCH_MASK (IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF)

/* Adds a watch on dir and, recursively, its subfolders. */
static void watch_tree(int fd, const char *dir, int depth)
{
    if (inotify_add_watch(fd, dir, WATCH_MASK) < 0 || depth > 8) return;
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        if (ent->d_name[0] == '.' || ent->d_type != DT_DIR) continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
        watch_tree(fd, path, depth + 1);
    }
    closedir(d);
}

/* Drains pending inotify events; returns 1 if any was read. */
static int drain_events(int fd)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    int any = 0;
    while (read(fd, buf, sizeof buf) > 0) any = 1;
    return any;
}

static void *watch_main(void *arg)
{
    es_engine *e = arg;
    struct pollfd fds[2] = {{e->watch_fd, POLLIN, 0}, {e->watch_pipe[0], POLLIN, 0}};
    int dirty = 0;
    for (;;) {
        int rc = poll(fds, 2, dirty ? QUIET_MS : -1);
        if (rc < 0) continue;
        if (fds[1].revents) break;
        if (rc == 0 && dirty) {
            /* Quiet period over: re-watch (new folders) and reload. */
            watch_tree(e->watch_fd, e->opt.pipelines_dir, 0);
            engine_reload(e);
            dirty = 0;
            continue;
        }
        if (fds[0].revents && drain_events(e->watch_fd)) dirty = 1;
    }
    return NULL;
}

int reload_watch_start(es_engine *e)
{
    if (e->watch_fd >= 0) return 0;
    e->watch_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (e->watch_fd < 0 || pipe(e->watch_pipe) != 0) {
        diag_set(DIAG_IO, "cannot watch %s for changes", e->opt.pipelines_dir);
        if (e->watch_fd >= 0) close(e->watch_fd);
        e->watch_fd = -1;
        return -1;
    }
    watch_tree(e->watch_fd, e->opt.pipelines_dir, 0);
    if (pthread_create(&e->watch_thread, NULL, watch_main, e) != 0) {
        close(e->watch_fd);
        close(e->watch_pipe[0]);
        close(e->watch_pipe[1]);
        e->watch_fd = -1;
        diag_set(DIAG_INTERNAL, "cannot start the watcher thread");
        return -1;
    }
    return 0;
}

void reload_watch_stop(es_engine *e)
{
    if (e->watch_fd < 0) return;
    if (write(e->watch_pipe[1], "x", 1) != 1) log_warn("watcher stop signal not sent");
    pthread_join(e->watch_thread, NULL);
    close(e->watch_fd);
    close(e->watch_pipe[0]);
    close(e->watch_pipe[1]);
    e->watch_fd = -1;
}
