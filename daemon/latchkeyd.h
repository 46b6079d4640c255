/*
 * latchkeyd.h — what the service's files share.
 *
 *   main.c     arguments, configuration, signals, start and drain
 *   server.c   the socket: accept, peer check, connections, timeouts, workers
 *   ops.c      one handler per protocol op; the Argon2id pool; throttling
 *   events.c   what the log says of denials and of the store's outages
 *
 * Threads: the main thread accepts connections, handles signals and
 * enforces timeouts; `workers` threads read requests and answer everything
 * that needs no Argon2id; `argon2_workers` threads run the Argon2id
 * verifications queued by the workers (at most argon2_queue jobs, and
 * LKD_CONN_WAITING_MAX / LKD_WAITERS_MAX requests, waiting); one
 * flusher thread writes access records every records.flush_interval_ms.
 */
#ifndef LATCHKEYD_H
#define LATCHKEYD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "latchkey.h"
#include "lk_proto.h"

#define LKD_MAX_IDS 256
/* Requests waiting for an Argon2id thread (queued jobs and requests that
 * joined one): per connection, and coalesced waiters overall. Past either,
 * RequestLimitExceeded.Busy. */
#define LKD_CONN_WAITING_MAX 64
#define LKD_WAITERS_MAX 4096

void lkd_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A numeric setting of cfg (validated by the config loader). */
unsigned lkd_cfg_uint(const lk_config *cfg, const char *key);
int64_t lkd_mono_ms(void);

/* Settings SIGHUP may change, read by any thread (atomics). */
struct lkd_policy {
    _Atomic unsigned read_timeout_ms, idle_timeout_s, max_connections, argon2_queue;
    _Atomic unsigned throttle_failures, throttle_window_s;
    _Atomic unsigned log_denials; /* LKD_LOG_DENIALS_* */
};

/* Who may connect: main thread only (accept and SIGHUP both run there). */
struct lkd_peers {
    uid_t uids[LKD_MAX_IDS];
    size_t nuids;
    gid_t gids[LKD_MAX_IDS];
    size_t ngids;
};

struct lkd_conn;
struct lkd_throttle;
struct lkd_pool;
struct lkd_events;

struct lkd {
    lk_ctx *ctx;
    lk_config *started; /* the configuration at start-up */
    char config_path[4096];
    char socket_path[108];
    unsigned nworkers, nargon2;
    unsigned flush_interval_ms;
    struct lkd_policy pol;
    struct lkd_peers peers;

    int listen_fd, conn_ep, wake_fd;
    int spare_fd;          /* held back for refusing a connection when out of descriptors */
    int64_t fd_warned_ms;  /* main thread only */
    int64_t peer_warned_ms; /* main thread only: refused peers are logged once per 10 s */
    unsigned long long peer_unlogged;
    pthread_mutex_t lock; /* the connection table */
    struct lkd_conn **conns;
    size_t conns_cap, nconns;
    atomic_bool stopping;
    atomic_uint busy_workers;

    pthread_t *workers;
    pthread_t flusher;
    pthread_mutex_t flush_lock;
    pthread_cond_t flush_cond;

    struct lkd_pool *pool;
    struct lkd_throttle *throttle;
    struct lkd_events *events;

    _Atomic uint64_t st_connections, st_refused, st_requests, st_busy, st_throttled, st_timeouts, st_bad_frames;
    _Atomic uint64_t st_manage_ok, st_manage_refused; /* management API answers (manage.c) */
};

/* A worker's scratch space: one decoded request (guarded memory: it may
 * hold a secret) and one response frame. */
struct lkd_worker {
    struct lkd *d;
    lkp_msg *msg;
    uint8_t *out;
};

/* server.c */
int lkd_listen(struct lkd *d);
int lkd_start_workers(struct lkd *d);
/* Accept what is waiting; timeouts. Main thread. */
void lkd_accept(struct lkd *d);
void lkd_reap(struct lkd *d);
/* After a reload: close the connections of peers no longer allowed. Main thread. */
void lkd_recheck_peers(struct lkd *d);
/* Stop reading, wait for in-flight answers (at most wait_ms), stop the workers. */
void lkd_drain(struct lkd *d, int64_t wait_ms);
/* Send a finished frame on c (any thread), never waiting: what the socket
 * does not take is kept for later (bounded). false if the connection is gone
 * or dropped. */
bool lkd_send(struct lkd *d, struct lkd_conn *c, const lkp_buf *b);
void lkd_conn_hold(struct lkd_conn *c);
void lkd_conn_release(struct lkd *d, struct lkd_conn *c);
/* The count of c's requests waiting for an Argon2id thread. */
atomic_uint *lkd_conn_waiting(struct lkd_conn *c);
/* "uid U pid P": who is at the other end of c, for the log. */
void lkd_conn_peer(const struct lkd_conn *c, char *buf, size_t size);

/* ops.c */
int lkd_ops_init(struct lkd *d);
void lkd_ops_stop(struct lkd *d);
void lkd_ops_free(struct lkd *d);
unsigned lkd_queued(struct lkd *d);
unsigned lkd_argon2_running(struct lkd *d);
/* Answer one request. false: the connection must be closed. */
bool lkd_handle(struct lkd_worker *w, struct lkd_conn *c, bool *hello_done);
/* Build the error answer for a request that could not be decoded. */
void lkd_error_frame(lkp_buf *b, uint8_t *out, uint8_t op, uint32_t id, lk_status st, const char *msg);

/* A verification for another front end than the socket (http.c), through
 * the socket's own path: a verdict that needs no Argon2id is returned at
 * once (info filled); LK_ERR_NEEDS_HASH means the request went to the
 * Argon2id pool and done(arg, st, info) will be called exactly once, from an
 * Argon2id thread. The secret is copied; the caller wipes its own. */
typedef void lkd_verify_done(void *arg, lk_status st, const lk_verify_info *info);
struct lkd_verify_args {
    bool apikey;           /* else a SecretId/SecretKey pair */
    const char *secret_id; /* the pair's SecretId */
    const char *secret;
    size_t secret_len;
    lk_verify_req req;
};
lk_status lkd_verify(struct lkd *d, const struct lkd_verify_args *a, lk_verify_info *info, lkd_verify_done *done,
                     void *arg);

/* events.c */
enum { LKD_LOG_DENIALS_NONE, LKD_LOG_DENIALS_FIRST, LKD_LOG_DENIALS_ALL };
/* daemon.log_denials' value ("none", "first", "all") as LKD_LOG_DENIALS_*. */
unsigned lkd_log_denials_level(const char *name);
int lkd_events_init(struct lkd *d);
void lkd_events_free(struct lkd *d);
/* A verify's verdict, any thread: a denial is logged as daemon.log_denials
 * says; LK_ERR_STORE and LK_OK tell whether the store answers. c: the
 * socket connection, or NULL (HTTP: the peer is req->client_ip).
 * secret_id: the request's SecretId (NULL for an API key). */
void lkd_note_verdict(struct lkd *d, lk_status st, const lk_verify_info *info, const char *secret_id,
                      const struct lkd_conn *c, const lk_verify_req *req);
/* The store failed (ok false; msg: why) or answered: the first failure and
 * the recovery are logged once each. Any thread. */
void lkd_store_note(struct lkd *d, bool ok, const char *msg);

#endif
