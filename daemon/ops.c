/*
 * ops.c — latchkeyd's answers: one handler per protocol op, the bounded
 * Argon2id pool, and per-key failure throttling.
 *
 * A verify is first tried with lk_verify_*_cached on the request worker:
 * every verdict that needs no Argon2id (malformed, unknown, disabled, IP,
 * scope, a cache hit) is answered at once. Only LK_ERR_NEEDS_HASH goes to
 * the Argon2id pool, whose queue is bounded: a full queue answers
 * RequestLimitExceeded.Busy (fail closed). So memory stays within
 * argon2_workers × hash.memlimit, and warm verifies never wait behind a hash.
 *
 * Concurrent requests with the same secret for the same key (every host
 * logging in again after a restart, a client retrying) share one Argon2id:
 * later ones wait for the first one's job, then take the cache (or its
 * verdict, for a wrong secret), each with its own access record.
 *
 * Throttling: after throttle_failures wrong secrets for one key id within
 * throttle_window_s, a request that would need an Argon2id for that id is
 * refused with AuthFailure.TooManyAttempts, and recorded as a failure,
 * without hashing, until the window ends. A hash queued for an id counts
 * from the moment it is queued (failures + hashes in flight), so pipelining
 * many guesses does not buy more than throttle_failures hashes before the
 * first one ends. A cache hit is still allowed: it proves the caller holds
 * the right secret, so an attacker guessing cannot lock out a client whose
 * secret is warm.
 *
 * Memory: every request waiting for an Argon2id thread (a queued job, or one
 * that joined a job for the same secret) is a guarded allocation. At most
 * LKD_CONN_WAITING_MAX wait per connection and LKD_WAITERS_MAX join jobs
 * overall; past either the answer is RequestLimitExceeded.Busy.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sodium.h>

#include "latchkeyd.h"

/* ------------------------------------------------------------ throttle */

#define ARGON2_NICE 10

#define THROTTLE_SLOTS 8192 /* key ids tracked; the oldest window is evicted */
#define THROTTLE_PROBE 16

struct throttle_entry {
    char id[LK_SECRET_ID_LEN + 1];
    int64_t start_ms;
    unsigned failures;
    unsigned inflight; /* hashes queued or running for id */
};

struct lkd_throttle {
    pthread_mutex_t lock;
    unsigned char key[crypto_shorthash_KEYBYTES]; /* ids are chosen by clients: keyed hash */
    struct throttle_entry e[THROTTLE_SLOTS];
};

static size_t throttle_home(const struct lkd_throttle *t, const char *id)
{
    unsigned char h[crypto_shorthash_BYTES];
    uint64_t v = 0;
    crypto_shorthash(h, (const unsigned char *)id, strlen(id), t->key);
    memcpy(&v, h, sizeof v);
    return (size_t)(v % THROTTLE_SLOTS);
}

/* The entry for id, or NULL. Lock held. */
static struct throttle_entry *throttle_find(struct lkd_throttle *t, const char *id)
{
    size_t h = throttle_home(t, id);
    for (size_t i = 0; i < THROTTLE_PROBE; i++) {
        struct throttle_entry *e = &t->e[(h + i) % THROTTLE_SLOTS];
        if (strcmp(e->id, id) == 0)
            return e;
    }
    return NULL;
}

static bool throttled(struct lkd *d, const char *id)
{
    unsigned limit = atomic_load(&d->pol.throttle_failures);
    int64_t window = (int64_t)atomic_load(&d->pol.throttle_window_s) * 1000;
    bool out = false;
    if (limit == 0 || id[0] == '\0')
        return false;
    pthread_mutex_lock(&d->throttle->lock);
    struct throttle_entry *e = throttle_find(d->throttle, id);
    if (e != NULL && lkd_mono_ms() - e->start_ms < window && e->failures >= limit)
        out = true;
    pthread_mutex_unlock(&d->throttle->lock);
    return out;
}

/* id's entry, a new one in a free slot or the oldest window's. Lock held. */
static struct throttle_entry *throttle_claim(struct lkd_throttle *t, const char *id, int64_t now)
{
    struct throttle_entry *e = throttle_find(t, id);
    if (e != NULL)
        return e;
    size_t h = throttle_home(t, id);
    e = &t->e[h];
    for (size_t i = 0; i < THROTTLE_PROBE; i++) {
        struct throttle_entry *x = &t->e[(h + i) % THROTTLE_SLOTS];
        if (x->id[0] == '\0') {
            e = x;
            break;
        }
        if (x->start_ms < e->start_ms)
            e = x;
    }
    snprintf(e->id, sizeof e->id, "%s", id);
    e->start_ms = now;
    e->failures = 0;
    e->inflight = 0;
    return e;
}

/* A verdict on id: a wrong secret counts, a success clears the count. */
static void throttle_note(struct lkd *d, const char *id, lk_status st)
{
    struct lkd_throttle *t = d->throttle;
    int64_t now = lkd_mono_ms(), window = (int64_t)atomic_load(&d->pol.throttle_window_s) * 1000;
    if (atomic_load(&d->pol.throttle_failures) == 0 || id[0] == '\0' || (st != LK_OK && st != LK_DENY_BAD_SECRET))
        return;
    pthread_mutex_lock(&t->lock);
    struct throttle_entry *e = throttle_find(t, id);
    if (st == LK_OK) {
        if (e != NULL && e->inflight == 0)
            e->id[0] = '\0';
        else if (e != NULL)
            e->failures = 0;
    } else {
        e = throttle_claim(t, id, now);
        if (now - e->start_ms >= window) {
            e->start_ms = now;
            e->failures = 0;
        }
        e->failures++;
    }
    pthread_mutex_unlock(&t->lock);
}

/* Before queueing a hash for id: 1 counted as in flight (release it with
 * throttle_release), 0 nothing to count, -1 throttled: the wrong secrets
 * and the hashes already in flight reach throttle_failures. */
static int throttle_reserve(struct lkd *d, const char *id)
{
    struct lkd_throttle *t = d->throttle;
    unsigned limit = atomic_load(&d->pol.throttle_failures);
    int64_t now = lkd_mono_ms(), window = (int64_t)atomic_load(&d->pol.throttle_window_s) * 1000;
    if (limit == 0 || id[0] == '\0')
        return 0;
    pthread_mutex_lock(&t->lock);
    struct throttle_entry *e = throttle_claim(t, id, now);
    if (now - e->start_ms >= window) {
        e->start_ms = now; /* the window runs from the first attempt queued */
        e->failures = 0;
    }
    int r = e->failures + e->inflight >= limit ? -1 : 1;
    if (r > 0)
        e->inflight++;
    pthread_mutex_unlock(&t->lock);
    return r;
}

static void throttle_release(struct lkd *d, const char *id)
{
    pthread_mutex_lock(&d->throttle->lock);
    struct throttle_entry *e = throttle_find(d->throttle, id);
    if (e != NULL && e->inflight > 0)
        e->inflight--;
    pthread_mutex_unlock(&d->throttle->lock);
}

/* ------------------------------------------------------------ answers */

/* msg NULL: the library's message for this thread (never holds a secret). */
static void begin_answer(lkp_buf *b, uint8_t *out, uint8_t op, uint32_t id, lk_status st, const char *msg)
{
    lkp_begin(b, out, LKP_LEN_PREFIX + LKP_MAX_BODY, op, true, id);
    lkp_put_text(b, LKP_F_STATUS_CODE, lk_status_code(st));
    if (st != LK_OK)
        lkp_put_text(b, LKP_F_MESSAGE, msg ? msg : lk_errmsg(NULL));
}

void lkd_error_frame(lkp_buf *b, uint8_t *out, uint8_t op, uint32_t id, lk_status st, const char *msg)
{
    lkp_begin(b, out, LKP_LEN_PREFIX + LKP_MAX_BODY, op, true, id);
    lkp_put_text(b, LKP_F_STATUS_CODE, lk_status_code(st));
    lkp_put_text(b, LKP_F_MESSAGE, msg);
    (void)lkp_end(b);
}

static bool finish(struct lkd *d, struct lkd_conn *c, lkp_buf *b)
{
    if (lkp_end(b) != 0) { /* cannot happen: answers are bounded well below the frame limit */
        lkd_log("error: an answer did not fit in a frame");
        return false;
    }
    atomic_fetch_add(&d->st_requests, 1);
    return lkd_send(d, c, b);
}

static void put_verify_info(lkp_buf *b, const lk_verify_info *info)
{
    if (info->key_id[0] != '\0') {
        lkp_put_text(b, LKP_F_KEY_ID, info->key_id);
        lkp_put_u64(b, LKP_F_UIN, info->uin);
    }
}

/* ------------------------------------------------------------ the Argon2id pool */

/* A verify waiting for (or in) an Argon2id thread: a copy of the request,
 * in guarded memory because it holds the secret. */
struct job {
    struct lkd_conn *c; /* held; NULL: the answer goes to done(done_arg, ...) */
    lkd_verify_done *done;
    void *done_arg;
    uint8_t op;
    uint32_t id;
    unsigned flags;
    bool has_ip, has_service, has_login;
    char secret_id[LK_SECRET_ID_LEN + 1];
    char client_ip[65], service[129], login[257];
    size_t secret_len;
    char secret[LKP_MAX_SECRET + 1];
    /* Coalescing: requests for the same (op, key, secret) while this job is
     * queued or running wait for it instead of hashing again. */
    unsigned char digest[crypto_generichash_BYTES_MIN];
    struct job *waiters, *next_waiter;
    unsigned nwaiters;
    struct job *prev_active, *next_active;
    char throttle_id[LK_SECRET_ID_LEN + 1]; /* the key id its hash counts for */
    bool reserved;                          /* counted in flight (throttle_reserve) */
};

struct lkd_pool {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct job **q; /* ring */
    size_t cap, head, n;
    unsigned idle, running;
    bool stop;
    pthread_t *threads;
    unsigned nthreads;
    struct job *active; /* queued or running jobs, for coalescing */
    unsigned nwaiters;  /* requests joined to a job, overall (LKD_WAITERS_MAX) */
    unsigned char digest_key[crypto_generichash_KEYBYTES];
};

unsigned lkd_queued(struct lkd *d)
{
    pthread_mutex_lock(&d->pool->lock);
    unsigned n = (unsigned)d->pool->n;
    pthread_mutex_unlock(&d->pool->lock);
    return n;
}

unsigned lkd_argon2_running(struct lkd *d)
{
    pthread_mutex_lock(&d->pool->lock);
    unsigned n = d->pool->running;
    pthread_mutex_unlock(&d->pool->lock);
    return n;
}

static lk_status run_verify(struct lkd *d, const struct job *j, lk_verify_info *info)
{
    lk_verify_req req = {.client_ip = j->has_ip ? j->client_ip : NULL,
                         .service = j->has_service ? j->service : NULL,
                         .login = j->has_login ? j->login : NULL,
                         .flags = j->flags};
    if (j->op == LKP_OP_VERIFY_KEY)
        return lk_verify_key(d->ctx, j->secret_id, j->secret, j->secret_len, &req, info);
    return lk_verify_apikey(d->ctx, j->secret, j->secret_len, &req, info);
}

static void unlink_active(struct lkd_pool *p, struct job *j)
{
    if (j->prev_active != NULL)
        j->prev_active->next_active = j->next_active;
    else if (p->active == j)
        p->active = j->next_active;
    if (j->next_active != NULL)
        j->next_active->prev_active = j->prev_active;
    j->prev_active = j->next_active = NULL;
}

/* The verdict of a queued job to whoever asked: a frame on the socket, or
 * the front end's callback. */
static void deliver(struct lkd *d, struct job *j, lk_status st, const char *why, const lk_verify_info *info,
                    uint8_t *out)
{
    lk_verify_req req = {.client_ip = j->has_ip ? j->client_ip : NULL, .service = j->has_service ? j->service : NULL};
    lkd_note_verdict(d, st, info, j->op == LKP_OP_VERIFY_KEY ? j->secret_id : NULL, j->c, &req);
    if (j->c == NULL) {
        j->done(j->done_arg, st, info);
        return;
    }
    atomic_fetch_sub(lkd_conn_waiting(j->c), 1);
    lkp_buf b;
    begin_answer(&b, out, j->op, j->id, st, why);
    put_verify_info(&b, info);
    (void)finish(d, j->c, &b);
    lkd_conn_release(d, j->c);
}

/* A request that waited for a job with the same secret. It re-runs the
 * cached verify, so its own access record is written and a status change
 * since is honoured: after a right secret the cache answers. After a wrong
 * one it would need a hash again; the leader's verdict holds for the same
 * secret, so it is refused without one (and recorded). Anything else (no
 * cache, an error) gets its own full verify. */
static void answer_waiter(struct lkd *d, struct job *w, lk_status leader, uint8_t *out)
{
    lk_verify_info info;
    lk_verify_req req = {.client_ip = w->has_ip ? w->client_ip : NULL,
                         .service = w->has_service ? w->service : NULL,
                         .login = w->has_login ? w->login : NULL,
                         .flags = w->flags};
    const char *why = NULL;
    char msg[160];
    lk_status st = w->op == LKP_OP_VERIFY_KEY
                       ? lk_verify_key_cached(d->ctx, w->secret_id, w->secret, w->secret_len, &req, &info)
                       : lk_verify_apikey_cached(d->ctx, w->secret, w->secret_len, &req, &info);
    if (st == LK_ERR_NEEDS_HASH && leader == LK_DENY_BAD_SECRET) {
        st = LK_DENY_BAD_SECRET;
        snprintf(msg, sizeof msg, "wrong secret for %s", info.key_id);
        why = msg;
        if (lk_record_refusal(d->ctx, info.key_id, &req, st) != LK_OK)
            lkd_log("warning: cannot record a refusal for %s: %s", info.key_id, lk_errmsg(NULL));
    } else if (st == LK_ERR_NEEDS_HASH) {
        st = run_verify(d, w, &info);
    }
    throttle_note(d, info.key_id, st);
    deliver(d, w, st, why, &info, out);
}

static void *argon2_main(void *arg)
{
    struct lkd *d = arg;
    struct lkd_pool *p = d->pool;
    uint8_t *out = malloc(LKP_LEN_PREFIX + LKP_MAX_BODY);
    if (out == NULL) {
        lkd_log("error: out of memory starting an Argon2id thread");
        return NULL;
    }
    /* Hashes yield the CPU to warm verifies: on a small machine a saturated
     * pool would otherwise take the cores the request threads need. (Linux:
     * the nice value is per thread.) */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), ARGON2_NICE) != 0)
        lkd_log("warning: cannot lower the Argon2id threads' priority: %s", strerror(errno));
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (p->n == 0 && !p->stop)
            pthread_cond_wait(&p->cond, &p->lock);
        if (p->n == 0 && p->stop)
            break;
        struct job *j = p->q[p->head];
        p->head = (p->head + 1) % p->cap;
        p->n--;
        p->idle--;
        p->running++;
        pthread_mutex_unlock(&p->lock);

        lk_verify_info info;
        lk_status st = run_verify(d, j, &info);
        throttle_note(d, info.key_id, st);
        if (j->reserved)
            throttle_release(d, j->throttle_id);
        /* From here on, a new request for the same secret finds the cache
         * (or does its own hash): take the waiters that came meanwhile. */
        pthread_mutex_lock(&p->lock);
        unlink_active(p, j);
        struct job *w = j->waiters;
        j->waiters = NULL;
        p->nwaiters -= j->nwaiters;
        pthread_mutex_unlock(&p->lock);
        deliver(d, j, st, NULL, &info, out);
        sodium_free(j); /* wipes the secret */
        while (w != NULL) {
            struct job *next = w->next_waiter;
            answer_waiter(d, w, st, out);
            sodium_free(w);
            w = next;
        }

        pthread_mutex_lock(&p->lock);
        p->running--;
        p->idle++;
    }
    pthread_mutex_unlock(&p->lock);
    free(out);
    return NULL;
}

enum push { PUSH_OK, PUSH_BUSY, PUSH_THROTTLED };

/* Hand a job to the pool: joined to a queued or running job for the same
 * digest, else queued (counted in flight for the throttle). */
static enum push pool_push(struct lkd *d, struct job *j)
{
    struct lkd_pool *p = d->pool;
    enum push r = PUSH_BUSY;
    crypto_generichash_state h;
    crypto_generichash_init(&h, p->digest_key, sizeof p->digest_key, sizeof j->digest);
    crypto_generichash_update(&h, &j->op, 1);
    crypto_generichash_update(&h, (const unsigned char *)j->secret_id, strlen(j->secret_id) + 1);
    crypto_generichash_update(&h, (const unsigned char *)j->secret, j->secret_len);
    crypto_generichash_final(&h, j->digest, sizeof j->digest);
    sodium_memzero(&h, sizeof h);

    pthread_mutex_lock(&p->lock);
    for (struct job *a = p->active; a != NULL && !p->stop; a = a->next_active) {
        if (sodium_memcmp(a->digest, j->digest, sizeof j->digest) == 0) {
            if (p->nwaiters < LKD_WAITERS_MAX) {
                j->next_waiter = a->waiters;
                a->waiters = j;
                a->nwaiters++;
                p->nwaiters++;
                r = PUSH_OK;
            }
            pthread_mutex_unlock(&p->lock); /* full: busy, not a second hash of the same secret */
            return r;
        }
    }
    /* argon2_queue jobs may wait, plus one per idle thread that takes it at once */
    size_t limit = atomic_load(&d->pol.argon2_queue) + p->idle;
    int reserve = 0;
    if (!p->stop && p->n < limit && p->n < p->cap && (reserve = throttle_reserve(d, j->throttle_id)) < 0) {
        r = PUSH_THROTTLED;
    } else if (!p->stop && p->n < limit && p->n < p->cap) {
        j->reserved = reserve > 0;
        p->q[(p->head + p->n) % p->cap] = j;
        p->n++;
        j->next_active = p->active;
        if (p->active != NULL)
            p->active->prev_active = j;
        p->active = j;
        r = PUSH_OK;
        pthread_cond_signal(&p->cond);
    }
    pthread_mutex_unlock(&p->lock);
    return r;
}

/* ------------------------------------------------------------ handlers */

static bool op_hello(struct lkd_worker *w, struct lkd_conn *c, bool *hello_done)
{
    const lkp_msg *m = w->msg;
    lkp_buf b;
    if (*hello_done || m->version < 1) {
        const char *msg = *hello_done ? "HELLO sent twice" : "no protocol version in common (this latchkeyd speaks 1)";
        begin_answer(&b, w->out, m->op, m->id, LK_ERR_PARAM, msg);
        (void)finish(w->d, c, &b);
        return false;
    }
    *hello_done = true;
    begin_answer(&b, w->out, m->op, m->id, LK_OK, NULL);
    lkp_put_u32(&b, LKP_F_VERSION, LKP_VERSION);
    return finish(w->d, c, &b);
}

static bool op_ping(struct lkd_worker *w, struct lkd_conn *c, bool *hello_done)
{
    lkp_buf b;
    (void)hello_done;
    begin_answer(&b, w->out, w->msg->op, w->msg->id, LK_OK, NULL);
    return finish(w->d, c, &b);
}

/* The answer to a throttled key; record: write the refusal to its access
 * records (false: the verify recorded its own reason already). */
static lk_status refuse_throttled(struct lkd *d, const lk_verify_req *req, const lk_verify_info *info, bool record,
                                  char *msg, size_t msgsz, const char **why)
{
    atomic_fetch_add(&d->st_throttled, 1);
    snprintf(msg, msgsz, "key %s: too many wrong secrets; refused until the window ends", info->key_id);
    *why = msg;
    if (record && lk_record_refusal(d->ctx, info->key_id, req, LK_DENY_THROTTLED) != LK_OK)
        lkd_log("warning: cannot record a refusal for %s: %s", info->key_id, lk_errmsg(NULL));
    return LK_DENY_THROTTLED;
}

/* Every verify, whoever asks (the socket's op_verify, the HTTP endpoint's
 * lkd_verify): the cached answer at once, else the throttle, else a job for
 * the Argon2id pool, answered later to c (a socket connection) or to done.
 * LK_ERR_NEEDS_HASH: queued. *why: a message for the answer, or NULL for the
 * library's. */
static lk_status verify_begin(struct lkd *d, uint8_t op, const char *secret_id, const char *secret,
                              size_t secret_len, const lk_verify_req *req, struct lkd_conn *c, uint32_t id,
                              lkd_verify_done *done, void *done_arg, lk_verify_info *info, char *msg, size_t msgsz,
                              const char **why)
{
    *why = NULL;
    lk_status st = op == LKP_OP_VERIFY_KEY
                       ? lk_verify_key_cached(d->ctx, secret_id, secret, secret_len, req, info)
                       : lk_verify_apikey_cached(d->ctx, secret, secret_len, req, info);
    /* A request the key's rules refuse is answered, without a hash, as a
     * wrong secret (the core: the caller has not proven the secret). On a
     * throttled key it is answered as throttled like every other unproven
     * one, or the throttle would tell which requests the rules refuse; its
     * access record (the real reason) is written already. */
    if (st == LK_DENY_BAD_SECRET && throttled(d, info->key_id))
        return refuse_throttled(d, req, info, false, msg, msgsz, why);
    if (st != LK_ERR_NEEDS_HASH) {
        throttle_note(d, info->key_id, st);
        return st;
    }
    if (throttled(d, info->key_id))
        return refuse_throttled(d, req, info, true, msg, msgsz, why);
    /* A connection's waiting requests are bounded: a pipelining client
     * cannot make the service allocate without limit. */
    if (c != NULL && atomic_fetch_add(lkd_conn_waiting(c), 1) >= LKD_CONN_WAITING_MAX) {
        atomic_fetch_sub(lkd_conn_waiting(c), 1);
        atomic_fetch_add(&d->st_busy, 1);
        *why = "latchkeyd: too many requests of this connection wait for an Argon2id thread; try again";
        return LK_ERR_BUSY;
    }
    struct job *j = sodium_malloc(sizeof *j);
    if (j == NULL) {
        if (c != NULL)
            atomic_fetch_sub(lkd_conn_waiting(c), 1);
        *why = "latchkeyd: out of guarded memory";
        return LK_ERR_NOMEM;
    }
    memset(j, 0, sizeof *j);
    j->op = op;
    j->id = id;
    j->flags = req->flags;
    snprintf(j->secret_id, sizeof j->secret_id, "%s", secret_id ? secret_id : "");
    j->has_ip = req->client_ip != NULL;
    j->has_service = req->service != NULL;
    j->has_login = req->login != NULL;
    snprintf(j->client_ip, sizeof j->client_ip, "%s", req->client_ip ? req->client_ip : "");
    snprintf(j->service, sizeof j->service, "%s", req->service ? req->service : "");
    snprintf(j->login, sizeof j->login, "%s", req->login ? req->login : "");
    memcpy(j->secret, secret, secret_len);
    j->secret_len = secret_len;
    snprintf(j->throttle_id, sizeof j->throttle_id, "%s", info->key_id);
    j->c = c;
    j->done = done;
    j->done_arg = done_arg;
    if (c != NULL)
        lkd_conn_hold(c);
    enum push r = pool_push(d, j);
    if (r == PUSH_OK)
        return LK_ERR_NEEDS_HASH; /* answered by the Argon2id thread */
    if (c != NULL) {
        atomic_fetch_sub(lkd_conn_waiting(c), 1);
        lkd_conn_release(d, c);
    }
    sodium_free(j);
    if (r == PUSH_THROTTLED)
        return refuse_throttled(d, req, info, true, msg, msgsz, why);
    atomic_fetch_add(&d->st_busy, 1);
    *why = "latchkeyd: the Argon2id queue is full; try again";
    return LK_ERR_BUSY;
}

static bool op_verify(struct lkd_worker *w, struct lkd_conn *c, bool *hello_done)
{
    struct lkd *d = w->d;
    const lkp_msg *m = w->msg;
    lk_verify_info info;
    lkp_buf b;
    char msg[160];
    const char *why;
    (void)hello_done;
    /* Clients may ask only for what changes the verdict's scope rule. */
    unsigned flags = m->flags & LK_VERIFY_SCOPE_BY_CALLER;
    lk_verify_req req = {.client_ip = m->client_ip, .service = m->service, .login = m->login, .flags = flags};
    lk_status st = verify_begin(d, m->op, m->secret_id, m->secret, m->secret_len, &req, c, m->id, NULL, NULL, &info,
                                msg, sizeof msg, &why);
    if (st == LK_ERR_NEEDS_HASH)
        return true;
    lkd_note_verdict(d, st, &info, m->op == LKP_OP_VERIFY_KEY ? m->secret_id : NULL, c, &req);
    begin_answer(&b, w->out, m->op, m->id, st, why);
    put_verify_info(&b, &info);
    return finish(d, c, &b);
}

lk_status lkd_verify(struct lkd *d, const struct lkd_verify_args *a, lk_verify_info *info, lkd_verify_done *done,
                     void *arg)
{
    char msg[160];
    const char *why;
    if (a->secret_len > LKP_MAX_SECRET) { /* what the socket's codec refuses too */
        memset(info, 0, sizeof *info);
        return LK_DENY_MALFORMED;
    }
    lk_status st = verify_begin(d, a->apikey ? LKP_OP_VERIFY_APIKEY : LKP_OP_VERIFY_KEY, a->secret_id, a->secret,
                                a->secret_len, &a->req, NULL, 0, done, arg, info, msg, sizeof msg, &why);
    if (st != LK_ERR_NEEDS_HASH)
        lkd_note_verdict(d, st, info, a->apikey ? NULL : a->secret_id, NULL, &a->req);
    return st;
}

static bool op_key_status(struct lkd_worker *w, struct lkd_conn *c, bool *hello_done)
{
    const lkp_msg *m = w->msg;
    lk_access_key k;
    lkp_buf b;
    (void)hello_done;
    lk_status st = lk_key_get(w->d->ctx, m->key_id, &k);
    begin_answer(&b, w->out, m->op, m->id, st, NULL);
    if (st == LK_OK) {
        lkp_put_u64(&b, LKP_F_UIN, k.uin);
        lkp_put_u32(&b, LKP_F_KEY_STATUS, (uint32_t)k.status);
        lkp_put_u64(&b, LKP_F_CREATE_TIME, (uint64_t)k.create_time);
        lkp_put_u64(&b, LKP_F_LAST_ACCESS, (uint64_t)k.last_access_time);
        if (k.expire_time != LK_EXPIRES_NEVER)
            lkp_put_u64(&b, LKP_F_EXPIRE_TIME, (uint64_t)k.expire_time);
    }
    return finish(w->d, c, &b);
}

/* The account phase of PAM through the service: is this login bound, and
 * does its user hold an Active credential? No secret involved. */
static bool op_login_check(struct lkd_worker *w, struct lkd_conn *c, bool *hello_done)
{
    const lkp_msg *m = w->msg;
    lk_user u;
    lkp_buf b;
    (void)hello_done;
    memset(&u, 0, sizeof u);
    lk_status st = lk_login_check(w->d->ctx, m->login, &u);
    begin_answer(&b, w->out, m->op, m->id, st, NULL);
    if (st == LK_OK || st == LK_DENY_DISABLED)
        lkp_put_u64(&b, LKP_F_UIN, u.uin);
    return finish(w->d, c, &b);
}

static bool op_apikey_get(struct lkd_worker *w, struct lkd_conn *c, bool *hello_done)
{
    const lkp_msg *m = w->msg;
    lk_apikey k;
    lkp_buf b;
    (void)hello_done;
    lk_status st = lk_apikey_get(w->d->ctx, m->key_id, &k);
    begin_answer(&b, w->out, m->op, m->id, st, NULL);
    if (st == LK_OK) {
        lkp_put_u64(&b, LKP_F_UIN, k.root_uin);
        lkp_put_u32(&b, LKP_F_KEY_STATUS, (uint32_t)k.status);
        lkp_put_text(&b, LKP_F_NAME, k.name);
        lkp_put_text(&b, LKP_F_DESCRIPTION, k.description);
        lkp_put_text(&b, LKP_F_MASKED, k.masked);
        lkp_put_u64(&b, LKP_F_CREATE_TIME, (uint64_t)k.create_time);
        lkp_put_u64(&b, LKP_F_LAST_ACCESS, (uint64_t)k.last_access_time);
        if (k.expire_time != LK_EXPIRES_NEVER)
            lkp_put_u64(&b, LKP_F_EXPIRE_TIME, (uint64_t)k.expire_time);
        if (k.rate_limit != 0)
            lkp_put_u64(&b, LKP_F_RATE_LIMIT, (uint64_t)k.rate_limit << 32 | k.rate_window_s);
        for (size_t i = 0; i < k.scope_count; i++)
            lkp_put_text(&b, LKP_F_SCOPE, k.scope[i]);
        for (size_t i = 0; i < k.allow_ip_count; i++)
            lkp_put_text(&b, LKP_F_ALLOW_IP, k.allow_ip[i]);
        lk_apikey_release(&k);
    }
    return finish(w->d, c, &b);
}

static bool op_stats(struct lkd_worker *w, struct lkd_conn *c, bool *hello_done)
{
    struct lkd *d = w->d;
    lk_stats s;
    uint8_t v[8 * LKP_NSTATS];
    uint64_t x[LKP_NSTATS];
    lkp_buf b;
    (void)hello_done;
    lk_get_stats(d->ctx, &s);
    x[LKP_STAT_ARGON2] = s.argon2_verifies;
    x[LKP_STAT_CACHE_HITS] = s.cache_hits;
    x[LKP_STAT_EARLY] = s.early_rejects;
    x[LKP_STAT_FLUSHED] = s.records_flushed;
    x[LKP_STAT_CONNECTIONS] = atomic_load(&d->st_connections);
    x[LKP_STAT_REFUSED] = atomic_load(&d->st_refused);
    x[LKP_STAT_REQUESTS] = atomic_load(&d->st_requests);
    x[LKP_STAT_BUSY] = atomic_load(&d->st_busy);
    x[LKP_STAT_THROTTLED] = atomic_load(&d->st_throttled);
    x[LKP_STAT_TIMEOUTS] = atomic_load(&d->st_timeouts);
    x[LKP_STAT_BAD_FRAMES] = atomic_load(&d->st_bad_frames);
    x[LKP_STAT_QUEUED] = lkd_queued(d);
    for (size_t i = 0; i < LKP_NSTATS; i++)
        for (int k = 0; k < 8; k++)
            v[8 * i + (size_t)k] = (uint8_t)(x[i] >> (56 - 8 * k));
    begin_answer(&b, w->out, w->msg->op, w->msg->id, LK_OK, NULL);
    lkp_put_bytes(&b, LKP_F_STATS, v, sizeof v);
    return finish(d, c, &b);
}

typedef bool op_fn(struct lkd_worker *w, struct lkd_conn *c, bool *hello_done);

/* One row per op of lk_proto.h. A NULL handler answers "not supported". */
static op_fn *const handlers[LKP_OP_COUNT_] = {
    [LKP_OP_HELLO] = op_hello,
    [LKP_OP_PING] = op_ping,
    [LKP_OP_VERIFY_KEY] = op_verify,
    [LKP_OP_VERIFY_APIKEY] = op_verify,
    [LKP_OP_KEY_STATUS] = op_key_status,
    [LKP_OP_APIKEY_GET] = op_apikey_get,
    [LKP_OP_STATS] = op_stats,
    [LKP_OP_LOGIN_CHECK] = op_login_check,
};

bool lkd_handle(struct lkd_worker *w, struct lkd_conn *c, bool *hello_done)
{
    const lkp_msg *m = w->msg;
    if (m->op >= LKP_OP_COUNT_ || handlers[m->op] == NULL) {
        lkp_buf b;
        char msg[96];
        snprintf(msg, sizeof msg, "operation %s is not supported by this latchkeyd", lkp_op_name(m->op));
        lkd_error_frame(&b, w->out, m->op, m->id, LK_ERR_PARAM, msg);
        return lkd_send(w->d, c, &b);
    }
    return handlers[m->op](w, c, hello_done);
}

/* ------------------------------------------------------------ setup */

int lkd_ops_init(struct lkd *d)
{
    d->throttle = calloc(1, sizeof *d->throttle);
    d->pool = calloc(1, sizeof *d->pool);
    if (d->throttle == NULL || d->pool == NULL)
        return -1;
    pthread_mutex_init(&d->throttle->lock, NULL);
    crypto_shorthash_keygen(d->throttle->key);
    struct lkd_pool *p = d->pool;
    crypto_generichash_keygen(p->digest_key);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    /* Room for the largest queue a reload may allow, plus the threads. */
    p->cap = 100000 + d->nargon2;
    p->q = calloc(p->cap, sizeof *p->q);
    p->threads = calloc(d->nargon2, sizeof *p->threads);
    if (p->q == NULL || p->threads == NULL)
        return -1;
    for (unsigned i = 0; i < d->nargon2; i++) {
        pthread_mutex_lock(&p->lock);
        p->idle++;
        pthread_mutex_unlock(&p->lock);
        if (pthread_create(&p->threads[i], NULL, argon2_main, d) != 0)
            return -1;
        p->nthreads++;
    }
    return 0;
}

/* Finish the queued jobs, then stop the threads. */
void lkd_ops_stop(struct lkd *d)
{
    struct lkd_pool *p = d->pool;
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    p->nthreads = 0;
}

void lkd_ops_free(struct lkd *d)
{
    if (d->pool != NULL) {
        free(d->pool->q);
        free(d->pool->threads);
        pthread_mutex_destroy(&d->pool->lock);
        pthread_cond_destroy(&d->pool->cond);
        free(d->pool);
    }
    if (d->throttle != NULL) {
        pthread_mutex_destroy(&d->throttle->lock);
        sodium_memzero(d->throttle, sizeof *d->throttle);
        free(d->throttle);
    }
}
