/* clickhouse_server.h: header-only test helper that runs a private
 * clickhouse-server as the current user: its own config (reduced from the
 * packaged /etc/clickhouse-server/config.xml and users.xml) in a mkdtemp
 * directory holding data, tmp and logs, free HTTP and TCP ports on
 * 127.0.0.1, no interserver port. Start waits until GET /ping answers "Ok."
 * (polling against a deadline); stop and restart keep the directory and
 * ports, so data survives an outage; destroy kills it and removes the
 * directory. Works with Debian's clickhouse-server 18.16. */
#ifndef ES_CLICKHOUSE_SERVER_H
#define ES_CLICKHOUSE_SERVER_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct ch_test_server {
    char dir[256];
    char url[320]; /* http://127.0.0.1:PORT (append "/db" for a database) */
    int http_port, tcp_port;
    pid_t pid;
} ch_test_server;

static long long ch_server_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A port the kernel considers free on 127.0.0.1 right now. */
static int ch_server_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

/* 1 when GET /ping on the server's HTTP port answers "Ok.". */
static int ch_server_ping(const ch_test_server *srv)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)srv->http_port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = 0;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
        const char req[] = "GET /ping HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        if (write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1)) {
            char buf[512];
            size_t got = 0;
            ssize_t n;
            while (got < sizeof buf - 1 && (n = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
                got += (size_t)n;
            buf[got] = '\0';
            ok = strstr(buf, " 200 ") && strstr(buf, "Ok.");
        }
    }
    close(fd);
    return ok;
}

static int ch_server_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

/* Writes config.xml and users.xml into srv->dir. */
static int ch_server_write_config(ch_test_server *srv)
{
    char path[400], text[4096];
    snprintf(text, sizeof text,
             "<?xml version=\"1.0\"?>\n<yandex>\n"
             "  <logger><level>warning</level><log>%1$s/server.log</log>"
             "<errorlog>%1$s/server.err.log</errorlog><size>10M</size><count>1</count></logger>\n"
             "  <http_port>%2$d</http_port>\n  <tcp_port>%3$d</tcp_port>\n"
             "  <listen_host>127.0.0.1</listen_host>\n"
             "  <path>%1$s/data/</path>\n  <tmp_path>%1$s/tmp/</tmp_path>\n"
             "  <user_files_path>%1$s/user_files/</user_files_path>\n"
             "  <format_schema_path>%1$s/format_schemas/</format_schema_path>\n"
             "  <users_config>%1$s/users.xml</users_config>\n"
             "  <default_profile>default</default_profile>\n"
             "  <default_database>default</default_database>\n"
             "  <max_concurrent_queries>100</max_concurrent_queries>\n"
             "  <mark_cache_size>268435456</mark_cache_size>\n"
             "  <uncompressed_cache_size>268435456</uncompressed_cache_size>\n"
             "  <mlock_executable>false</mlock_executable>\n"
             /* flushed every 7.5 s (ClickHouse's default) or on SYSTEM FLUSH LOGS:
              * at 500 ms, writing its parts (~80 files each) and merging them
              * took ~8% of all CPU in bench/clickhouse, mostly ext4 inode
              * allocation in the kernel */
             "  <query_log><database>system</database><table>query_log</table></query_log>\n"
             "</yandex>\n",
             srv->dir, srv->http_port, srv->tcp_port);
    snprintf(path, sizeof path, "%s/config.xml", srv->dir);
    if (ch_server_write_file(path, text) != 0) return -1;
    snprintf(path, sizeof path, "%s/users.xml", srv->dir);
    return ch_server_write_file(
        path,
        "<?xml version=\"1.0\"?>\n<yandex>\n"
        "  <profiles><default><max_memory_usage>4000000000</max_memory_usage>"
        "<log_queries>1</log_queries></default></profiles>\n"
        "  <users><default><password></password><networks><ip>127.0.0.1</ip>"
        "<ip>::1</ip></networks><profile>default</profile><quota>default</quota>"
        "</default></users>\n"
        "  <quotas><default><interval><duration>3600</duration><queries>0</queries>"
        "<errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows>"
        "<execution_time>0</execution_time></interval></default></quotas>\n"
        "</yandex>\n");
}

/* Starts the server (creating dir, ports and config the first time) and
 * waits up to 60 s for /ping. 0, or -1 with a message on stderr. */
static int ch_server_start(ch_test_server *srv)
{
    if (!srv->dir[0]) {
        snprintf(srv->dir, sizeof srv->dir, "/tmp/esengine-ch-XXXXXX");
        if (!mkdtemp(srv->dir)) {
            perror("mkdtemp");
            srv->dir[0] = '\0';
            return -1;
        }
        srv->http_port = ch_server_free_port();
        srv->tcp_port = ch_server_free_port();
        snprintf(srv->url, sizeof srv->url, "http://127.0.0.1:%d", srv->http_port);
        if (ch_server_write_config(srv) != 0) {
            fprintf(stderr, "clickhouse_server: cannot write config in %s\n", srv->dir);
            return -1;
        }
    }
    char config_arg[400], out_path[400];
    snprintf(config_arg, sizeof config_arg, "--config-file=%s/config.xml", srv->dir);
    snprintf(out_path, sizeof out_path, "%s/stdout.log", srv->dir);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a crashed test */
        if (getppid() != parent) _exit(1);
        FILE *out = freopen(out_path, "a", stdout);
        if (out) dup2(fileno(stdout), 2);
        if (chdir(srv->dir) != 0) _exit(1);
        execlp("clickhouse-server", "clickhouse-server", config_arg, (char *)NULL);
        execl("/usr/sbin/clickhouse-server", "clickhouse-server", config_arg, (char *)NULL);
        _exit(127);
    }
    srv->pid = pid;
    long long deadline = ch_server_now_ms() + 60000;
    while (ch_server_now_ms() < deadline) {
        if (ch_server_ping(srv)) return 0;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "clickhouse_server: exited early (see %s/stdout.log)\n", srv->dir);
            srv->pid = 0;
            return -1;
        }
        usleep(20000); /* poll interval, not an assertion */
    }
    fprintf(stderr, "clickhouse_server: no /ping answer within 60 s (%s)\n", srv->dir);
    return -1;
}

/* Stops the server (SIGTERM, then SIGKILL after 10 s) and reaps it. With
 * hard = 1 it is killed at once (a crash). */
static void ch_server_stop(ch_test_server *srv, int hard)
{
    if (srv->pid <= 0) return;
    kill(srv->pid, hard ? SIGKILL : SIGTERM);
    long long deadline = ch_server_now_ms() + 10000;
    int status;
    while (waitpid(srv->pid, &status, WNOHANG) != srv->pid) {
        if (ch_server_now_ms() > deadline) {
            kill(srv->pid, SIGKILL);
            waitpid(srv->pid, &status, 0);
            break;
        }
        usleep(20000);
    }
    srv->pid = 0;
    /* the port must be closed before a restart reuses it */
    while (ch_server_ping(srv) && ch_server_now_ms() < deadline) usleep(20000);
}

/* Stops the server and removes its directory (keeps it when
 * ESENGINE_KEEP_TMP is set, for post-mortems). */
static void ch_server_destroy(ch_test_server *srv)
{
    ch_server_stop(srv, 0);
    if (srv->dir[0] && !getenv("ESENGINE_KEEP_TMP")) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", srv->dir);
        if (system(cmd) != 0) fprintf(stderr, "clickhouse_server: cannot remove %s\n", srv->dir);
    }
    srv->dir[0] = '\0';
}

#endif
