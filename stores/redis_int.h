/* redis_int.h: the private pieces of the Redis store shared by its files:
 * the per-thread connection pool (redis_conn.c) and its Redis Cluster
 * routing (redis_cluster.c), argument vectors, the
 * EVALSHA script set (redis_script.c), the job blob codec (redis_codec.c),
 * SHA-1 for the event index (redis_sha1.c) and the store object itself
 * (redis_store.c). */
#ifndef ES_REDIS_INT_H
#define ES_REDIS_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "store.h"
#include "text_format.h"

/* ---- connections (redis_conn.c) ---- */

typedef struct redis_conn_pool redis_conn_pool;

/* Parses `url` and prepares a pool; no connection is made yet. Returns the
 * pool (caller frees with redis_conn_pool_free) or NULL with DIAG_INVALID. */
redis_conn_pool *redis_conn_pool_new(const char *url);

/* Closes every thread's connection and frees the pool. No thread may use
 * the pool any more. */
void redis_conn_pool_free(redis_conn_pool *p);

/* Sets how long a command keeps retrying transient errors (ms). */
void redis_conn_pool_set_retry_ms(redis_conn_pool *p, int ms);

/* Runs one command on the calling thread's connection to the node serving
 * the command's key (redis_command_slot; the URL's node until a cluster
 * redirect says otherwise). A MOVED reply re-routes the key's slot for the
 * whole pool and the command is sent again to the named node; an ASK reply
 * sends ASKING and the command to the named node, this once. A node that
 * cannot be reached has its slots routed via the URL's node again (which
 * redirects to whoever serves them after a failover). Connection
 * errors and transient server states (LOADING, BUSY, TRYAGAIN, MASTERDOWN,
 * READONLY, CLUSTERDOWN) are retried with exponential backoff after
 * reconnecting, until the retry budget runs out. `block_ms` > 0 is the
 * longest the command may block in the server (BLPOP), added to the socket
 * timeout. Returns the reply (caller frees with freeReplyObject; it may be
 * an error reply other than the transient ones), or NULL with DIAG_IO. */
redisReply *redis_conn_command(redis_conn_pool *p, int argc, const char **argv,
                               const size_t *lens, int block_ms);

/* redis_conn_command sent to the node serving hash slot `slot` instead of
 * the command's key (for keyless commands that must reach one node: SCAN);
 * slot -1 is the URL's node. */
redisReply *redis_conn_command_at(redis_conn_pool *p, int slot, int argc, const char **argv,
                                  const size_t *lens);

/* Sends n commands at once (pipelined), each on the calling thread's
 * connection to the node serving its key, and reads their n replies into
 * replies[] (caller frees each). A command redirected by the cluster is
 * sent again alone, as redis_conn_command does. On a connection error or a
 * transient server state, all n are sent again after reconnecting with
 * backoff: only for commands that are safe to repeat. Returns 0, or -1 with
 * DIAG_IO (replies[] all NULL). */
int redis_conn_pipeline(redis_conn_pool *p, int n, const int *argc, const char *const *const *argv,
                        const size_t *const *lens, redisReply **replies);

/* Asks the URL's node for the cluster's slot ranges (CLUSTER SLOTS), routes
 * every slot by it, and writes one slot served by each master into
 * slots[0..max). Returns the number of masters; 1 with slots[0] = -1 when
 * the server is not a cluster (CLUSTER SLOTS refused by a server that never
 * redirected); -1 with DIAG_IO or DIAG_BACKEND. */
int redis_conn_masters(redis_conn_pool *p, int *slots, int max);

/* One PING on the calling thread's connection without backoff: 1 ok, 0 not. */
int redis_conn_ping(redis_conn_pool *p);

/* ---- Redis Cluster (redis_cluster.c) ---- */

#define REDIS_SLOTS 16384

/* The hash slot of a key: CRC16 of its hash tag (the bytes between the
 * first '{' and the next '}', when not empty), else of the whole key. */
int redis_key_slot(const char *key, size_t len);

/* The hash slot a command is routed by: the first key of EVAL/EVALSHA
 * (argv[3]), none (-1) for keyless commands (SCRIPT, SCAN, PING, INFO,
 * CLUSTER, ASKING, AUTH, SELECT) and for scripts without keys, else
 * argv[1]. Every command of the store names its key first. */
int redis_command_slot(int argc, const char *const *argv, const size_t *lens);

/* A cluster redirect: "MOVED <slot> <host>:<port>" or "ASK ...". */
typedef struct redis_redirect {
    int slot, port, ask;
    char host[256];
} redis_redirect;

/* 1 and *out filled when `r` is a MOVED or ASK error reply, else 0. */
int redis_redirect_parse(const redisReply *r, redis_redirect *out);

/* ---- argument vectors (redis_conn.c) ---- */

/* A growable argv for redis_conn_command; strings added with _str are
 * borrowed (must outlive the call), the others are owned by the vector. */
typedef struct redis_args {
    int n, cap;
    const char **v;
    size_t *len;
    char **owned;
    int n_owned, cap_owned;
} redis_args;

/* Each returns 0, or -1 with DIAG_INTERNAL on OOM. */
int redis_args_str(redis_args *a, const char *s, size_t len);
int redis_args_cstr(redis_args *a, const char *s); /* NULL adds "" */
int redis_args_int(redis_args *a, int64_t v);
/* Adds a copy of s[0..len), owned. */
int redis_args_dup(redis_args *a, const char *s, size_t len);
/* Adds the parts joined by '\x1f' (NULL parts as ""), owned. */
int redis_args_join(redis_args *a, const char *const *parts, int n);
void redis_args_free(redis_args *a);

/* ---- server-side scripts (redis_script.c) ---- */

typedef enum {
    REDIS_SCRIPT_ENQUEUE,
    REDIS_SCRIPT_CLAIM,
    REDIS_SCRIPT_EXTEND,
    REDIS_SCRIPT_FAIL,
    REDIS_SCRIPT_PARKED_LIST,
    REDIS_SCRIPT_PARKED_RETRY,
    REDIS_SCRIPT_PARKED_SKIP,
    REDIS_SCRIPT_STATS,
    REDIS_SCRIPT_FOLD_PUT,
    REDIS_SCRIPT_PAUSE_SET,
    REDIS_SCRIPT_FOLD_SWAP,
    REDIS_SCRIPT_EVENT_INDEX,
    REDIS_SCRIPT_FINISH,
    REDIS_SCRIPT_COUNT
} redis_script_id;

typedef struct redis_scripts {
    char *body[REDIS_SCRIPT_COUNT]; /* queue_lib.lua prepended to queue_*, and
                                     queue_push.lua to the scripts that enqueue */
    size_t len[REDIS_SCRIPT_COUNT];
    char sha[REDIS_SCRIPT_COUNT][41]; /* "" until loaded */
    pthread_mutex_t lock;
} redis_script_set;

/* Builds the script bodies from the embedded .lua files of stores/redis. 0, or -1
 * with DIAG_INTERNAL when one is missing. */
int redis_scripts_init(redis_script_set *s);
void redis_scripts_destroy(redis_script_set *s);

/* EVALSHA of script `id` with KEYS[1] = key and `args` as ARGV, loading the
 * script first when needed; on NOSCRIPT (a server restart, or a cluster
 * node that never ran it) the call is sent again as EVAL with the body.
 * Returns a non-error reply (caller frees) or NULL with DIAG_IO (no
 * connection) or DIAG_BACKEND (error reply). */
redisReply *redis_script_call(redis_conn_pool *p, redis_script_set *s, redis_script_id id,
                              const char *key, const redis_args *args, int block_ms);

/* EVALSHA of script `id` once per element of args[0..n), pipelined, with
 * the same loading; the whole batch is sent again on NOSCRIPT (its first
 * call as EVAL) or a connection error, so the script must be idempotent. Returns
 * 0 with every reply a non-error (caller frees), or -1 with diag (replies
 * freed). */
int redis_script_call_many(redis_conn_pool *p, redis_script_set *s, redis_script_id id,
                           const char *key, int n, const redis_args *args,
                           redisReply **replies);

/* ---- job blobs (redis_codec.c) ---- */

/* Encodes the fields of `job` that never change in the queue (id, kind,
 * tenant, pipeline, component, group, dedup, origin, payload) into a
 * malloc'd blob of *len bytes. NULL with DIAG_INTERNAL on OOM. */
char *redis_codec_encode_job(const es_job *job, size_t *len);

/* Fills the zeroed `job` from a blob (strings malloc'd, owned by the job).
 * 0, or -1 with DIAG_BACKEND for a malformed blob (job cleared). */
int redis_codec_decode_job(es_job *job, const char *blob, size_t len);

/* ---- SHA-1 (redis_sha1.c) ---- */

/* The event index's bloom digits of s[0..len): the first 12 hex digits
 * (lowercase) of its SHA-1, as redis.sha1hex gives them (the small
 * filter's positions), then the SHA-1's next 12 bytes (the big slices'). */
#define REDIS_BLOOM_DIGITS 24
void redis_sha1_bloom(const char *s, size_t len, char out[REDIS_BLOOM_DIGITS]);

/* ---- the store (redis_store.c) ---- */

/* Enqueues waiting for those on the wire (redis_enqueue_group.c). */
typedef struct redis_enqueue_req redis_enqueue_req;
typedef struct redis_enqueue_group {
    pthread_mutex_t lock;
    pthread_cond_t cond;      /* signalled when a group was sent */
    redis_enqueue_req *head, *tail;
    int sending;              /* leaders sending a group now */
} redis_enqueue_group;

/* Sets up an empty group (cannot fail) / frees it (no caller waiting). */
void redis_enqueue_group_init(redis_enqueue_group *g);
void redis_enqueue_group_destroy(redis_enqueue_group *g);

typedef struct redis_store {
    es_store base;
    redis_conn_pool *pool;
    redis_script_set scripts;
    char *name;      /* queue name */
    char *tag;       /* "{name}": KEYS[1] of every queue script */
    size_t max_payload;
    redis_enqueue_group enqueue_group;
    /* positions of the jobs whose list elements the client builds
     * (redis_queue.c), reserved from the queue's counter in blocks */
    pthread_mutex_t positions_lock;
    int64_t position_next, position_end;
    /* whether the finish writes fold states (redis_queue_writes_folds):
     * 0 not asked yet, 1 yes (a single server), 2 no (a cluster) */
    atomic_int writes_folds;
} redis_store;

/* The byte between an inline job's id and its record in a list element
 * (queue_lib.lua). */
#define RECORD_INLINE_SEP 0x1e

/* One call of a script that pushes jobs, being built: its arguments and
 * the blobs they point into (redis_enqueue_args.c). */
typedef struct redis_enqueue_chunk {
    redis_args args;
    char **blobs;
    size_t n_blobs, cap_blobs;
} redis_enqueue_chunk;

/* Checks what the queue needs of job j (the i-th) before anything is
 * sent: 0, or -1 with DIAG_INVALID. */
int redis_enqueue_validate(const redis_store *rs, const es_job *j, size_t i);

/* Adds the fields of job j, enqueued at `now`, to chunk c (see
 * queue_push.lua). `finishing`: the job is enqueued by the finish of the
 * claim whose unit made it (queue_finish.lua), which may take its id as
 * fresh (fresh_when_finished) and write its fold_write instead of it.
 * 0, or -1 with a diag. */
int redis_enqueue_chunk_add(redis_store *rs, redis_enqueue_chunk *c, const es_job *j,
                            int finishing, int64_t now);

/* Adds fast job j (not finishing) as mode 4 with its list element built
 * already (redis_enqueue_fast_element), which c then owns (freed on
 * failure too). 0, or -1 with a diag. */
int redis_enqueue_chunk_add_element(redis_store *rs, redis_enqueue_chunk *c, const es_job *j,
                                    char *element, size_t len);

void redis_enqueue_chunk_free(redis_enqueue_chunk *c);

/* Whether job j goes as a fast job (queue_push.lua mode 4 or 5: its list
 * element holds all of it): a fresh id (or, `finishing`, one its unit
 * made fresh), no dedup key nor origin, due at `now`. */
int redis_enqueue_is_fast(const es_job *j, int finishing, int64_t now);

/* The list element of fast job j enqueued at `now`, with a position from
 * the store's reserved block: malloc'd, length in *len; NULL with a diag. */
char *redis_enqueue_fast_element(redis_store *rs, const es_job *j, int64_t now, size_t *len);

/* What redis_enqueue_fast_push did with each of n jobs: pushed[i] when
 * job i is in its group's list; else element[i] (length len[i]) is its
 * list element when it is fast and its group had no list, NULL when the
 * job is not fast (or its group has a job that is not). */
typedef struct redis_fast_push {
    char *pushed;
    char **element;
    size_t *len;
    size_t n;
} redis_fast_push;

/* Appends the fast jobs among validated jobs[0..n) whose groups already
 * hold jobs, one RPUSHX per group (redis_enqueue_fast.c), and says which
 * in *out (freed with redis_fast_push_free, also after a failure). 0, or
 * -1 with a diag (some groups may have taken their jobs). */
int redis_enqueue_fast_push(redis_store *rs, const es_job *jobs, size_t n, int64_t now,
                            redis_fast_push *out);
void redis_fast_push_free(redis_fast_push *fp);

/* Enqueues validated jobs together with those of concurrent callers (group
 * commit, redis_enqueue_group.c). 0, or -1 with the diag of the shared
 * call (some jobs of the group may have been enqueued: ids make a retry
 * idempotent). */
int redis_enqueue_grouped(redis_store *rs, const es_job *jobs, size_t n, int64_t now);

/* Enqueues validated jobs now, in script calls of at most a few hundred
 * jobs, pipelined (redis_queue.c). 0 or -1 with a diag. */
int redis_queue_enqueue_now(redis_store *rs, const es_job *jobs, size_t n, int64_t now);

/* Queue operations (redis_queue.c, redis_admin.c), as in store.h. */
int redis_queue_enqueue(es_store *s, const es_job *jobs, size_t n, int64_t now);
int redis_queue_claim(es_store *s, const char *worker_id, size_t max_jobs,
                      int64_t now, int64_t lease_ms, int wait_ms, es_claim *out);
int redis_queue_extend(es_store *s, es_claim *claim, int64_t now, int64_t lease_ms);
int redis_queue_complete(es_store *s, const es_claim *claim, size_t n_done, int64_t now);
int redis_queue_writes_folds(es_store *s, es_store *folds);
int redis_queue_group_idle(es_store *s, const char *group_key);
/* "{name}:g:<group_key>", the list of a group's jobs (malloc'd; NULL with
 * a diag on OOM). */
char *redis_group_list_key(const redis_store *rs, const char *group_key);
int redis_queue_finish_many(es_store *s, const es_claim *const *claims,
                            const es_job *const *jobs, const size_t *n_jobs, size_t n,
                            int64_t now, int *status);
int redis_queue_fail(es_store *s, const es_claim *claim, size_t n_done,
                     const char *error, int64_t retry_at, int max_attempts, int64_t now);
int redis_queue_stats(es_store *s, int64_t now, es_stats_cb cb, void *ud);
int redis_queue_parked_list(es_store *s, const char *tenant_id, es_parked_cb cb, void *ud);
int redis_queue_parked_retry(es_store *s, const char *group_key, int64_t now);
int redis_queue_parked_skip(es_store *s, const char *group_key, int64_t now);
int redis_queue_origin_pending(es_store *s, const char *origin_id,
                               unsigned kind_mask, int64_t *count);

/* Kill switch (redis_pause.c), as in store.h. */
int redis_pause_set(es_store *s, const char *tenant_id, const char *pipeline,
                    const char *component, pause_mode mode, int64_t now);
int redis_pause_check(es_store *s, const char *tenant_id, const char *pipeline,
                      const char *component, pause_mode *mode);
int redis_pause_list(es_store *s, es_pause_cb cb, void *ud);

/* Worker registry (redis_workers.c), as in store.h. */
int redis_worker_beat(es_store *s, const es_worker_info *w, int64_t now);
int redis_worker_list(es_store *s, int64_t now, es_worker_cb cb, void *ud);

/* Fold state (redis_fold.c), as in store.h. */
int redis_fold_get(es_store *s, const char *tenant_id, const char *table,
                   const char *key, char **state_json, int64_t *last_seq);
int redis_fold_put(es_store *s, const char *tenant_id, const char *table,
                   const char *key, const char *state_json, int64_t last_seq,
                   int64_t updated_at);

/* The hash key of one fold state (layout in redis_fold.c), malloc'd; NULL
 * with a diag on OOM. */
char *redis_fold_key(const redis_store *rs, const char *tenant, const char *table,
                     const char *key);

/* The event log's index (redis_event_index.c), as in store.h. */
int redis_event_index_init(es_store *s, const char *scope, int log_empty, char **epoch);
int redis_event_index_assign(es_store *s, const char *scope, const char *epoch,
                             es_event *events, size_t n, int64_t now,
                             append_outcome *outcomes, int64_t *last);
int redis_event_index_record(es_store *s, const char *scope, const char *epoch,
                             const es_event *events, size_t n,
                             const append_outcome *outcomes, int64_t last, int64_t base);

/* Replay (redis_replay.c), as in store.h. */
int redis_fold_scan(es_store *s, const char *tenant_id, const char *table,
                    es_fold_cb cb, void *ud);
int redis_fold_swap(es_store *s, const char *tenant_id, const char *table,
                    const char *shadow, const char *key, int only_shadowed);
int redis_fold_drop(es_store *s, const char *tenant_id, const char *table,
                    const char *key);
int redis_replay_checkpoint_get(es_store *s, const char *pipeline, const char *projection,
                                es_replay_checkpoint *out);
int redis_replay_checkpoint_put(es_store *s, const char *pipeline, const char *projection,
                                const es_replay_checkpoint *cp);

#endif
