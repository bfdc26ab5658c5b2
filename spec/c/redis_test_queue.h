/* redis_test_queue.h: what the Redis store's C tests share: the private
 * redis-server of the test run, stores on queue names never used before,
 * jobs with a tenant, one integer or string command to the server, and the
 * server's count of calls of a command (static inline: a test uses some).
 * Include after store_conformance.h or store_conformance_helpers.h. */
#ifndef ES_REDIS_TEST_QUEUE_H
#define ES_REDIS_TEST_QUEUE_H

#include "redis_server.h"
#include "redis_store.h"

#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static redis_server server;
static int queue_counter;

/* A store on a queue name never used before in this run. */
static inline es_store *open_fresh(void *ud)
{
    (void)ud;
    char name[64];
    snprintf(name, sizeof name, "test-%d-%d", (int)getpid(), ++queue_counter);
    return redis_store_open(server.url, name);
}

/* open_fresh, with the queue's name (its keys' hash tag) into `queue`. */
static inline es_store *open_fresh_named(char queue[64])
{
    es_store *s = open_fresh(NULL);
    snprintf(queue, 64, "test-%d-%d", (int)getpid(), queue_counter);
    return s;
}

static inline es_job make_job(const char *id, const char *tenant, const char *group,
                                int64_t run_at)
{
    es_job j = conformance_job(id, group, "payload", run_at);
    j.tenant_id = (char *)tenant;
    return j;
}

/* The integer reply of one command to the test server, or -1 (an error
 * reply is printed). */
static inline long long redis_integer(const char *format, ...)
{
    redisContext *rc = redisConnect("127.0.0.1", server.port);
    va_list ap;
    va_start(ap, format);
    redisReply *r = rc ? redisvCommand(rc, format, ap) : NULL;
    va_end(ap);
    long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r && r->type == REDIS_REPLY_ERROR) fprintf(stderr, "redis: %s\n", r->str);
    if (r) freeReplyObject(r);
    if (rc) redisFree(rc);
    return n;
}

/* 1 when one command to the test server replies the string `want`. */
static inline int redis_string_is(const char *want, const char *format, ...)
{
    redisContext *rc = redisConnect("127.0.0.1", server.port);
    va_list ap;
    va_start(ap, format);
    redisReply *r = rc ? redisvCommand(rc, format, ap) : NULL;
    va_end(ap);
    int same = r && r->type == REDIS_REPLY_STRING && strcmp(r->str, want) == 0;
    if (r) freeReplyObject(r);
    if (rc) redisFree(rc);
    return same;
}

/* Calls of `command` the test server counted (INFO commandstats), or -1. */
static inline long long command_calls(const char *command)
{
    redisContext *rc = redisConnect("127.0.0.1", server.port);
    redisReply *r = rc ? redisCommand(rc, "INFO commandstats") : NULL;
    long long n = -1;
    char field[64];
    snprintf(field, sizeof field, "cmdstat_%s:calls=", command);
    if (r && r->type == REDIS_REPLY_STRING) {
        const char *at = strstr(r->str, field);
        n = at ? atoll(at + strlen(field)) : 0;
    }
    if (r) freeReplyObject(r);
    if (rc) redisFree(rc);
    return n;
}

/* Starts the test run's redis-server; prints why and returns -1 when it
 * cannot. */
static inline int start_test_server(void)
{
    if (redis_server_start(&server) == 0) return 0;
    fprintf(stderr, "FAIL: cannot start redis-server: %s\n"
                    "install it (apt-get install redis-server) or set ESENGINE_REDIS_SERVER\n",
            server.why);
    return -1;
}

#endif
