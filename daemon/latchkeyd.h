/*
 * latchkeyd.h — what the service's files share.
 *
 *   main.c     arguments, configuration, signals, start and drain
 *   server.c   the socket: accept, peer check, connections, timeouts, workers
 *   ops.c      one handler per protocol op; the Argon2id pool; throttling
 *
 * Threads: the main thread accepts connections, handles signals and
 * enforces timeouts; `workers` threads read requests and answer everything
 * that needs no Argon2id; `argon2_workers` threads run the Argon2id
 * verifications queued by the workers (at most argon2_queue waiting); one
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

void lkd_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int64_t lkd_mono_ms(void);

/* Settings SIGHUP may change, read by any thread (atomics). */
struct lkd_policy {
    _Atomic unsigned read_timeout_ms, idle_timeout_s, max_connections, argon2_queue;
    _Atomic unsigned throttle_failures, throttle_window_s;
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

    _Atomic uint64_t st_connections, st_refused, st_requests, st_busy, st_throttled, st_timeouts, st_bad_frames;
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
/* Stop reading, wait for in-flight answers (at most wait_ms), stop the workers. */
void lkd_drain(struct lkd *d, int64_t wait_ms);
/* Send a finished frame on c (any thread); false if the connection is gone. */
bool lkd_send(struct lkd *d, struct lkd_conn *c, const lkp_buf *b);
void lkd_conn_hold(struct lkd_conn *c);
void lkd_conn_release(struct lkd *d, struct lkd_conn *c);

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

#endif
