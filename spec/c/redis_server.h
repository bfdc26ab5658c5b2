/* redis_server.h: header-only helper for tests that need a real Redis: starts
 * a private redis-server (never the system one) on a free loopback port in a
 * temporary directory, without persistence, waits until PING answers
 * (deadline, no blind sleeps), restarts it on the same port, and kills it.
 * With `cluster` set before redis_server_start, the server is a Redis
 * Cluster node (cluster-enabled, not yet part of a cluster).
 * The binary is `redis-server` from PATH, or $ESENGINE_REDIS_SERVER. */
#ifndef ES_TEST_REDIS_SERVER_H
#define ES_TEST_REDIS_SERVER_H

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

typedef struct redis_server {
    pid_t pid;     /* 0 when not running */
    int port;
    char dir[256]; /* temporary working directory (logs) */
    char url[64];  /* redis://127.0.0.1:<port> */
    char why[1024]; /* why start failed */
    int cluster;    /* a cluster-enabled node (set before start) */
} redis_server;

/* A loopback TCP port nobody listens on right now, or -1. */
static inline int redis_server_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static inline long long redis_server_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 1 when the server at `port` answers PING. */
static inline int redis_server_pings(int port)
{
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    int ok = 0;
    if (c && !c->err) {
        redisReply *r = redisCommand(c, "PING");
        ok = r && r->type == REDIS_REPLY_STATUS;
        if (r) freeReplyObject(r);
    }
    if (c) redisFree(c);
    return ok;
}

/* Spawns redis-server on rs->port and waits (up to 10 s) for PING.
 * 0, or -1 with rs->why set. */
static inline int redis_server_spawn(redis_server *rs)
{
    const char *bin = getenv("ESENGINE_REDIS_SERVER");
    if (!bin || !bin[0]) bin = "redis-server";
    char port[16], log[300];
    snprintf(port, sizeof port, "%d", rs->port);
    snprintf(log, sizeof log, "%s/redis.log", rs->dir);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(rs->why, sizeof rs->why, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (!freopen(log, "a", stdout) || !freopen(log, "a", stderr)) _exit(126);
        if (rs->cluster)
            execlp(bin, bin, "--port", port, "--bind", "127.0.0.1", "--dir", rs->dir,
                   "--save", "", "--appendonly", "no", "--cluster-enabled", "yes",
                   "--cluster-config-file", "nodes.conf", (char *)NULL);
        else
            execlp(bin, bin, "--port", port, "--bind", "127.0.0.1", "--dir", rs->dir,
                   "--save", "", "--appendonly", "no", (char *)NULL);
        _exit(127);
    }
    rs->pid = pid;
    long long deadline = redis_server_now_ms() + 10000;
    while (redis_server_now_ms() < deadline) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            rs->pid = 0;
            snprintf(rs->why, sizeof rs->why, "%s exited with status %d (see %s)", bin,
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1, log);
            return -1;
        }
        if (redis_server_pings(rs->port)) return 0;
        struct timespec ts = {0, 5 * 1000000};
        nanosleep(&ts, NULL);
    }
    snprintf(rs->why, sizeof rs->why, "%s did not answer PING within 10 s (see %s)", bin, log);
    return -1;
}

/* Kills the server (SIGKILL, like a crash) and reaps it. */
static inline void redis_server_kill(redis_server *rs)
{
    if (rs->pid <= 0) return;
    kill(rs->pid, SIGKILL);
    waitpid(rs->pid, NULL, 0);
    rs->pid = 0;
}

/* Starts a fresh server on a free port. 0, or -1 with rs->why. */
static inline int redis_server_start(redis_server *rs)
{
    int cluster = rs->cluster;
    memset(rs, 0, sizeof *rs);
    rs->cluster = cluster;
    snprintf(rs->dir, sizeof rs->dir, "/tmp/esengine-redis-XXXXXX");
    if (!mkdtemp(rs->dir)) {
        snprintf(rs->why, sizeof rs->why, "mkdtemp: %s", strerror(errno));
        return -1;
    }
    for (int attempt = 0; attempt < 5; attempt++) {
        rs->port = redis_server_free_port();
        /* a cluster node also listens on port + 10000 (its bus) */
        for (int k = 0; cluster && k < 100 && rs->port > 55535; k++)
            rs->port = redis_server_free_port();
        if (rs->port <= 0) continue;
        snprintf(rs->url, sizeof rs->url, "redis://127.0.0.1:%d", rs->port);
        if (redis_server_spawn(rs) == 0) return 0;
    }
    return -1;
}

/* Kills the server and starts it again on the same port (empty data).
 * 0, or -1 with rs->why. */
static inline int redis_server_restart(redis_server *rs)
{
    redis_server_kill(rs);
    return redis_server_spawn(rs);
}

/* Kills the server and removes its directory. */
static inline void redis_server_stop(redis_server *rs)
{
    redis_server_kill(rs);
    char log[300];
    snprintf(log, sizeof log, "%s/redis.log", rs->dir);
    unlink(log);
    snprintf(log, sizeof log, "%s/nodes.conf", rs->dir);
    unlink(log);
    rmdir(rs->dir);
}

#endif
