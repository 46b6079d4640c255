/*
 * records.c — access records: each key keeps its latest records.keep (20)
 * verification attempts within records.retention_days (90), success and
 * failure, plus its last access time.
 *
 * Verification must not wait for the store's single writer, so attempts are
 * queued in the ctx and written in one transaction by the ctx's flusher
 * thread when records.flush_batch attempts are queued or the oldest is
 * records.flush_interval_ms old, and by lk_flush and lk_close. The thread is
 * started by the first queued attempt (a ctx that never verifies has none;
 * nor has one with auto flush off, whose owner runs lk_flush itself), so a
 * verifying thread never waits for a write. A crash loses at most the queued
 * attempts; never a key or a status change.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "lk_internal.h"
#include "lk_ip.h"

#define NO_VALUE "-" /* list items cannot be empty */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *lk_result_code(lk_status st)
{
    return lk_status_code(st);
}

lk_status lk_result_from_code(const char *code)
{
    for (int i = 0; i < LK_STATUS_COUNT_; i++)
        if (strcmp(lk_status_code((lk_status)i), code) == 0)
            return (lk_status)i;
    return LK_ERR_INTERNAL;
}

lk_status lk_verify_req_check(const lk_verify_req *req)
{
    lk_cidr ip;
    bool has_ip;
    return lk_verify_req_parse(req, &ip, &has_ip);
}

lk_status lk_verify_req_parse(const lk_verify_req *req, lk_cidr *ip, bool *has_ip)
{
    char q[64];

    *has_ip = false;
    if (req == NULL)
        return LK_OK;
    /* "" is "unknown" like NULL: the safe reading, since it denies a key with an allowlist. */
    if (req->client_ip != NULL && req->client_ip[0] != '\0' && !(*has_ip = lk_ip_parse(req->client_ip, ip) == LK_OK)) {
        char why[LK_ERRMSG_MAX]; /* the parser's detail, copied: lk_seterr rewrites that buffer */
        snprintf(why, sizeof why, "%s", lk_errmsg(NULL));
        return lk_seterr(LK_ERR_PARAM, "client address: %s", why);
    }
    /* "" is "none named" like NULL: a key restricted to services then denies. */
    if (req->service != NULL && req->service[0] != '\0' && !lk_service_name_ok(req->service, strlen(req->service)))
        return lk_seterr(LK_ERR_PARAM, "service '%s' is not a scope entry (1-%d of A-Z a-z 0-9 . _ : / -)",
                         lk_quote(req->service, q, sizeof q), LK_SERVICE_MAX);
    return LK_OK;
}

static bool is_key_id(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    return lk_keyfmt_secret_id_ok(id, n) || lk_keyfmt_apikey_id_ok(id, n);
}

/* ------------------------------------------------------------ the flusher thread */

static void init_cond(lk_ctx *ctx)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC); /* deadlines from mono_ms; wall-clock steps don't matter */
    pthread_cond_init(&ctx->flush_cond, &a);
    pthread_condattr_destroy(&a);
}

void lk_flusher_init(lk_ctx *ctx)
{
    init_cond(ctx);
    pthread_mutex_init(&ctx->flush_lock, NULL);
}

/* Called by lk_ctx_adopt in a forked child before any other use of the ctx:
 * the parent's flusher (and any flush it was in) does not exist here, and
 * its locks may be held for ever, so they are made anew, never unlocked. The
 * child's first queued record starts its own flusher. */
void lk_flusher_reset_after_fork(lk_ctx *ctx)
{
    init_cond(ctx);
    pthread_mutex_init(&ctx->flush_lock, NULL);
    ctx->flusher_running = ctx->flusher_stop = false;
    ctx->inflight = NULL;
    ctx->ninflight = 0;
}

static void *flusher_main(void *arg)
{
    lk_ctx *ctx = arg;
    /* Background work: when the host's cores are all busy, its request
     * threads go first; a starved flusher just writes bigger batches (the
     * cost of a flush grows with the keys in it, hardly with the records).
     * Linux nices threads one by one (by thread id). */
#ifdef SYS_gettid
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
#endif
    pthread_mutex_lock(&ctx->lock);
    while (!ctx->flusher_stop) {
        if (ctx->npending == 0 || atomic_load(&ctx->no_auto_flush)) {
            pthread_cond_wait(&ctx->flush_cond, &ctx->lock);
            continue;
        }
        int64_t due = ctx->pending_since_ms + (int64_t)ctx->cfg.flush_interval_ms;
        if (ctx->npending < ctx->cfg.flush_batch && mono_ms() < due) {
            struct timespec ts = {.tv_sec = due / 1000, .tv_nsec = (long)(due % 1000) * 1000000};
            pthread_cond_timedwait(&ctx->flush_cond, &ctx->lock, &ts);
            continue;
        }
        pthread_mutex_unlock(&ctx->lock);
        (void)lk_records_flush(ctx); /* best effort: records never change a verdict */
        pthread_mutex_lock(&ctx->lock);
    }
    pthread_mutex_unlock(&ctx->lock);
    return NULL;
}

/* Under ctx->lock. With every signal blocked, so a host's signals (sshd's
 * SIGCHLD, a timer) go to its own threads. false if it could not start. */
static bool start_flusher(lk_ctx *ctx)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&ctx->flusher, NULL, flusher_main, ctx);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    ctx->flusher_running = rc == 0;
    return rc == 0;
}

void lk_flusher_poke(lk_ctx *ctx)
{
    lk_ctx_lock(ctx);
    pthread_cond_signal(&ctx->flush_cond);
    lk_ctx_unlock(ctx);
}

/* lk_close, after lk_ctx_adopt: in a forked child that never queued, no
 * thread is running and none is joined. */
void lk_flusher_stop(lk_ctx *ctx)
{
    lk_ctx_lock(ctx);
    bool join = ctx->flusher_running;
    ctx->flusher_stop = true;
    ctx->flusher_running = false;
    pthread_cond_signal(&ctx->flush_cond);
    lk_ctx_unlock(ctx);
    if (join)
        pthread_join(ctx->flusher, NULL);
}

void lk_flusher_destroy(lk_ctx *ctx)
{
    pthread_cond_destroy(&ctx->flush_cond);
    pthread_mutex_destroy(&ctx->flush_lock);
}

/* ------------------------------------------------------------ queueing */

/* FNV-1a over a key id. */
static uint64_t id_hash(const char *id)
{
    uint64_t h = 1469598103934665603ull;
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 1099511628211ull;
    return h ^ (h >> 29);
}

/* ------------------------------------------------------------ the last-access maps */

static lk_last_entry *last_slot(const lk_last_map *m, const char *id, uint64_t h)
{
    for (size_t i = (size_t)h & (m->cap - 1);; i = (i + 1) & (m->cap - 1))
        if (m->e[i].key_id[0] == '\0' || strcmp(m->e[i].key_id, id) == 0)
            return &m->e[i];
}

/* Under ctx->lock. false on NOMEM (then last access may lag until the flush). */
static bool last_note(lk_last_map *m, const char *id, uint64_t h, int64_t t)
{
    if (2 * (m->n + 1) > m->cap) { /* at most half full: probes stay short */
        lk_last_map g = {.cap = m->cap ? 2 * m->cap : 64};
        g.e = calloc(g.cap, sizeof *g.e);
        if (g.e == NULL)
            return false;
        for (size_t i = 0; i < m->cap; i++)
            if (m->e[i].key_id[0] != '\0')
                *last_slot(&g, m->e[i].key_id, id_hash(m->e[i].key_id)) = m->e[i];
        g.n = m->n;
        free(m->e);
        *m = g;
    }
    lk_last_entry *e = last_slot(m, id, h);
    if (e->key_id[0] == '\0') {
        memcpy(e->key_id, id, strlen(id) + 1);
        e->time = t;
        m->n++;
    } else if (t > e->time) {
        e->time = t;
    }
    return true;
}

static int64_t last_get(const lk_last_map *m, const char *id, uint64_t h)
{
    if (m->cap == 0)
        return 0;
    const lk_last_entry *e = last_slot(m, id, h);
    return e->key_id[0] != '\0' ? e->time : 0;
}

static void last_clear(lk_last_map *m)
{
    if (m->n > 0)
        memset(m->e, 0, m->cap * sizeof *m->e);
    m->n = 0;
}

void lk_records_forget(lk_ctx *ctx, bool free_them)
{
    if (free_them) {
        free(ctx->pending);
        free(ctx->spare);
        free(ctx->last_pending.e);
        free(ctx->last_inflight.e);
    }
    ctx->pending = ctx->spare = NULL;
    ctx->npending = ctx->pending_cap = ctx->spare_cap = 0;
    memset(&ctx->last_pending, 0, sizeof ctx->last_pending);
    memset(&ctx->last_inflight, 0, sizeof ctx->last_inflight);
}

/* ------------------------------------------------------------ queueing */

static void copy_str(char *dst, size_t dsz, const char *src)
{
    size_t n = strnlen(src, dsz - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* On the verifying thread: parse and copy only; the flusher formats. */
static void queue_attempt(lk_ctx *ctx, const char *key_id, const lk_verify_req *req, const lk_cidr *ip,
                          lk_status result)
{
    lk_pending_record p;
    bool flush_here = false;

    if (ctx->read_only) /* nowhere to keep them: a read-only store */
        return;
    p.has_ip = false;
    copy_str(p.key_id, sizeof p.key_id, key_id);
    p.key_hash = id_hash(p.key_id);
    p.rec.time = lk_now(ctx);
    p.rec.result = result;
    p.rec.client_ip[0] = p.rec.service[0] = '\0';
    /* Store only what parses: records are shown to operators later. */
    if (ip != NULL) { /* parsed by the verify's request check */
        p.ip = *ip;
        p.has_ip = true;
    } else if (req && req->client_ip && req->client_ip[0] && lk_ip_parse(req->client_ip, &p.ip) == LK_OK) {
        p.has_ip = true;
    }
    if (req && req->service && lk_service_name_ok(req->service, strlen(req->service)))
        copy_str(p.rec.service, sizeof p.rec.service, req->service);

    lk_ctx_lock(ctx);
    if (ctx->pending == NULL && ctx->spare != NULL) { /* the last flush's buffer: no realloc, no page faults */
        ctx->pending = ctx->spare;
        ctx->pending_cap = ctx->spare_cap;
        ctx->spare = NULL;
        ctx->spare_cap = 0;
    }
    lk_pending_record *grown = lk_grow(ctx->pending, &ctx->pending_cap, ctx->npending, sizeof *grown, 64);
    if (grown == NULL) { /* records are best effort; the verdict stands */
        lk_ctx_unlock(ctx);
        return;
    }
    ctx->pending = grown;
    if (ctx->npending == 0)
        ctx->pending_since_ms = mono_ms();
    ctx->pending[ctx->npending++] = p;
    (void)last_note(&ctx->last_pending, p.key_id, p.key_hash, p.rec.time);
    /* Auto flush off: the caller's own thread runs lk_flush (latchkeyd). */
    if (!atomic_load(&ctx->no_auto_flush) && !ctx->flusher_stop) {
        bool full = ctx->npending >= ctx->cfg.flush_batch;
        if (!ctx->flusher_running && !start_flusher(ctx))
            /* No thread to be had: write on this one when due, as a last resort. */
            flush_here = full || mono_ms() - ctx->pending_since_ms >= (int64_t)ctx->cfg.flush_interval_ms;
        /* The flusher sleeps without a deadline on an empty queue, and
         * until the oldest is due otherwise: wake it for a first record
         * (to set its deadline) and for a full batch. A signal nobody
         * waits for costs no system call. */
        else if (ctx->npending == 1 || full)
            pthread_cond_signal(&ctx->flush_cond);
    }
    lk_ctx_unlock(ctx);
    if (flush_here)
        (void)lk_records_flush(ctx); /* a failed flush must not turn an allow into a deny */
}

/* The verdict's message is what the caller reads next (lk_errmsg): parsing
 * the client address or a flush failing here must not replace it. */
void lk_record_attempt(lk_ctx *ctx, const char *key_id, const lk_verify_req *req, const lk_cidr *ip,
                       lk_status result)
{
    char verdict_msg[LK_ERRMSG_MAX];
    lk_errmsg_save(verdict_msg);
    queue_attempt(ctx, key_id, req, ip, result);
    lk_errmsg_restore(verdict_msg);
}

/* ------------------------------------------------------------ the stored form */

typedef struct rec_set {
    lk_access_record r[LK_RECORDS_MAX * 2 + 1];
    size_t n;
    int64_t last;
} rec_set;

static void decode_records(const char *v, size_t vl, rec_set *s)
{
    lk_rec_iter it;
    const char *name, *val;
    size_t nl, fl;

    lk_rec_iter_init(&it, v, vl);
    while (lk_rec_next(&it, &name, &nl, &val, &fl)) {
        if (nl == 4 && memcmp(name, "last", 4) == 0) {
            int64_t t;
            if (lk_rec_parse_i64(val, fl, &t) && t > s->last)
                s->last = t;
            continue;
        }
        if (!(nl == 1 && name[0] == 'r') || s->n >= LK_RECORDS_MAX)
            continue;
        /* a flush decodes every stored record of every key it touches: on the
         * stack, unless a damaged one is too long for it */
        char buf[1024], *items[4], **heap = NULL;
        size_t n;
        bool oom, ok = fl + 4 <= sizeof buf ? lk_rec_parse_list_in(val, fl, 4, 64, buf, sizeof buf, items, &n)
                                            : lk_rec_parse_list(val, fl, 4, 64, &heap, &n, &oom);
        if (!ok || n != 4) {
            free(heap);
            continue; /* skip a damaged entry rather than lose the others */
        }
        if (heap != NULL)
            memcpy(items, heap, sizeof items);
        lk_access_record *r = &s->r[s->n];
        memset(r, 0, sizeof *r);
        if (lk_rec_parse_i64(items[0], strlen(items[0]), &r->time)) {
            if (strcmp(items[1], NO_VALUE) != 0)
                copy_str(r->client_ip, sizeof r->client_ip, items[1]);
            if (strcmp(items[2], NO_VALUE) != 0)
                copy_str(r->service, sizeof r->service, items[2]);
            r->result = lk_result_from_code(items[3]);
            s->n++;
        }
        free(heap);
    }
}

static int newest_first(const void *a, const void *b)
{
    const lk_access_record *x = a, *y = b;
    return (x->time < y->time) - (x->time > y->time);
}

/* Sort, drop what is past retention, keep the newest `keep`. */
static void prune(lk_ctx *ctx, rec_set *s)
{
    int64_t oldest = lk_now(ctx) - (int64_t)ctx->cfg.retention_days * 86400;
    size_t o = 0;
    /* a stable order for equal times: newer arrivals were appended later, so
     * reverse before sorting by time descending */
    for (size_t i = 0; i < s->n / 2; i++) {
        lk_access_record t = s->r[i];
        s->r[i] = s->r[s->n - 1 - i];
        s->r[s->n - 1 - i] = t;
    }
    qsort(s->r, s->n, sizeof s->r[0], newest_first);
    for (size_t i = 0; i < s->n && o < ctx->cfg.records_keep; i++)
        if (s->r[i].time >= oldest)
            s->r[o++] = s->r[i];
    s->n = o;
}

static lk_status encode_records(const rec_set *s, lk_rec *rec)
{
    lk_rec_add_i64(rec, "last", s->last);
    /* oldest first in the record, so appending keeps arrival order */
    for (size_t i = s->n; i-- > 0;) {
        char t[LK_I64_STRLEN];
        const lk_access_record *r = &s->r[i];
        lk_fmt_i64(t, r->time);
        const char *items[4] = {t, r->client_ip[0] ? r->client_ip : NO_VALUE, r->service[0] ? r->service : NO_VALUE,
                                lk_result_code(r->result)};
        lk_rec_add_list(rec, "r", items, 4);
    }
    return lk_rec_status(rec);
}

static void key_of(char key[LK_KEYBUF], const char *id)
{
    if (strncmp(id, LK_SECRET_ID_PREFIX, LK_PREFIX_LEN) == 0)
        lk_key_ak(key, id);
    else
        lk_key_api(key, id);
}

static bool key_exists(lk_txn *txn, const char *id)
{
    char key[LK_KEYBUF];
    const char *v;
    size_t vl;
    key_of(key, id);
    return lk_txn_get(txn, key, &v, &vl) == LK_OK;
}

/* The flush reads two records per key (the key's, its access records):
 * on a store where each read is a round trip, fetch them all in one. */
static lk_status prefetch_runs(lk_txn *txn, lk_pending_record *const *order, const size_t *run_end, size_t nruns)
{
    char(*buf)[LK_KEYBUF] = malloc(2 * nruns * sizeof *buf);
    const char **keys = malloc(2 * nruns * sizeof *keys);
    lk_status st = LK_OK;
    if (buf != NULL && keys != NULL) {
        for (size_t r = 0, i = 0; r < nruns; i = run_end[r++]) {
            key_of(buf[2 * r], order[i]->key_id);
            lk_key_records(buf[2 * r + 1], order[i]->key_id);
            keys[2 * r] = buf[2 * r];
            keys[2 * r + 1] = buf[2 * r + 1];
        }
        st = lk_txn_prefetch(txn, keys, 2 * nruns);
    } /* else: only a hint */
    free(buf);
    free(keys);
    return st;
}

static void load_records(lk_txn *txn, const char *id, rec_set *s)
{
    char key[LK_KEYBUF];
    const char *v;
    size_t vl;
    memset(s, 0, sizeof *s);
    lk_key_records(key, id);
    if (lk_txn_get(txn, key, &v, &vl) == LK_OK)
        decode_records(v, vl, s);
}

/* Old records are appended; then the new ones (arrival order). */
static void add_one(rec_set *s, const lk_pending_record *p)
{
    if (p->rec.time > s->last)
        s->last = p->rec.time;
    if (s->n == sizeof s->r / sizeof s->r[0]) { /* full: drop the oldest-arrived */
        memmove(&s->r[0], &s->r[1], (s->n - 1) * sizeof s->r[0]);
        s->n--;
    }
    lk_access_record *r = &s->r[s->n++];
    *r = p->rec;
    if (p->has_ip)
        lk_cidr_format(&p->ip, r->client_ip, sizeof r->client_ip);
}

/* add_one for each of run[0..n) in turn, without the work it would throw
 * away: the set keeps the latest-arrived entries, so of a long run only its
 * last `cap` can stay (their times still count for `last`), and the stored
 * ones they push out go in one move. A flush of 4096 attempts on 16 keys
 * spent most of its time moving and formatting records it then dropped. */
static void add_run(rec_set *s, lk_pending_record *const *run, size_t n)
{
    const size_t cap = sizeof s->r / sizeof s->r[0];
    size_t from = n > cap ? n - cap : 0;
    for (size_t k = 0; k < from; k++)
        if (run[k]->rec.time > s->last)
            s->last = run[k]->rec.time;
    size_t excess = s->n + (n - from) > cap ? s->n + (n - from) - cap : 0; /* <= s->n, as n - from <= cap */
    if (excess > 0) {
        memmove(&s->r[0], &s->r[excess], (s->n - excess) * sizeof s->r[0]);
        s->n -= excess;
    }
    for (size_t k = from; k < n; k++)
        add_one(s, run[k]);
}

static void add_pending(rec_set *s, const lk_pending_record *p, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(p[i].key_id, id) == 0)
            add_one(s, &p[i]);
}

/* Flush order: each key's records as one run, in arrival order, the runs in
 * the order their keys first arrived. One pass with a hash table of the keys
 * (their id hash is in each record), then one placing pass: O(n). Scanning
 * the queue for every key was O(n^2); a sort by (key, arrival) was
 * O(n log n) and, once the dropped records cost nothing, 90% of a flush of
 * 4096 attempts (callgrind). Fills order[0..n) and run_end[0..*nruns) (the
 * end of each run); false without memory. */
static bool group_by_key(lk_pending_record *q, size_t n, lk_pending_record **order, size_t *run_end, size_t *nruns)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    uint32_t *slot = malloc(cap * sizeof *slot);     /* run + 1, 0 = free */
    uint32_t *run_of = malloc(n * sizeof *run_of);   /* each record's run */
    size_t *first = malloc(n * sizeof *first);       /* each run's first record */
    if (slot == NULL || run_of == NULL || first == NULL) {
        free(slot);
        free(run_of);
        free(first);
        return false;
    }
    memset(slot, 0, cap * sizeof *slot);
    size_t runs = 0;
    for (size_t i = 0; i < n; i++) {
        size_t at = (size_t)q[i].key_hash & (cap - 1);
        for (;; at = (at + 1) & (cap - 1)) {
            if (slot[at] == 0) {
                first[runs] = i;
                run_end[runs] = 0;
                slot[at] = (uint32_t)++runs;
                break;
            }
            const lk_pending_record *r = &q[first[slot[at] - 1]];
            if (r->key_hash == q[i].key_hash && strcmp(r->key_id, q[i].key_id) == 0)
                break;
        }
        run_of[i] = slot[at] - 1;
        run_end[run_of[i]]++; /* a count for now */
    }
    size_t end = 0;
    for (size_t r = 0; r < runs; r++) {
        end += run_end[r];
        first[r] = end - run_end[r]; /* now: the next place in run r */
        run_end[r] = end;
    }
    for (size_t i = 0; i < n; i++)
        order[first[run_of[i]]++] = &q[i];
    *nruns = runs;
    free(slot);
    free(run_of);
    free(first);
    return true;
}

/* One flush at a time (flush_lock, held from taking the queue to the
 * commit): lk_flush then returns only when every record queued before it
 * is written, even those a running automatic flush took. */
lk_status lk_records_flush(lk_ctx *ctx)
{
    lk_txn txn;
    lk_status st;

    (void)lk_ctx_adopt(ctx); /* in a forked child, before flush_lock: a parent's flusher may hold it */
    pthread_mutex_lock(&ctx->flush_lock);
    lk_ctx_lock(ctx);
    lk_pending_record *q = ctx->pending;
    size_t n = ctx->npending, qcap = ctx->pending_cap;
    /* the next records go to the spare buffer at once: verifying threads
     * queueing during this flush do not regrow one from nothing */
    ctx->pending = ctx->spare;
    ctx->pending_cap = ctx->spare_cap;
    ctx->npending = 0;
    ctx->spare = NULL;
    ctx->spare_cap = 0;
    ctx->inflight = q; /* still seen by lk_last_access until committed */
    ctx->ninflight = n;
    lk_last_map m = ctx->last_inflight; /* empty: the last flush cleared it */
    ctx->last_inflight = ctx->last_pending;
    ctx->last_pending = m;
    lk_ctx_unlock(ctx);
    lk_pending_record **order = NULL;
    size_t *run_end = NULL, nruns = 0;
    if (n == 0) {
        st = LK_OK;
        goto out;
    }
    order = malloc(n * sizeof *order);
    run_end = malloc(n * sizeof *run_end);
    if (order == NULL || run_end == NULL || !group_by_key(q, n, order, run_end, &nruns)) {
        st = lk_seterr(LK_ERR_NOMEM, "out of memory writing %zu access records", n);
        goto out;
    }
    if ((st = lk_txn_begin(ctx, true, &txn)) != LK_OK)
        goto out;
    st = prefetch_runs(&txn, order, run_end, nruns);
    for (size_t r = 0, i = 0, j; r < nruns && st == LK_OK; r++, i = j) {
        j = run_end[r];
        const char *id = order[i]->key_id;
        if (!key_exists(&txn, id)) /* deleted meanwhile: drop its records */
            continue;
        rec_set s;
        lk_rec rec;
        char key[LK_KEYBUF];
        load_records(&txn, id, &s);
        add_run(&s, order + i, j - i);
        prune(ctx, &s);
        lk_rec_init(&rec);
        if ((st = encode_records(&s, &rec)) == LK_OK) {
            lk_key_records(key, id);
            st = lk_txn_put(&txn, key, &rec);
        }
        lk_rec_free(&rec);
    }
    if (st == LK_OK)
        st = lk_txn_commit(&txn);
    else
        lk_txn_abort(&txn);
    if (st == LK_OK)
        atomic_fetch_add(&ctx->st_flushed, n);
out:
    lk_ctx_lock(ctx);
    ctx->inflight = NULL;
    ctx->ninflight = 0;
    last_clear(&ctx->last_inflight);
    if (ctx->spare == NULL && qcap <= 2 * (size_t)ctx->cfg.flush_batch) { /* kept for the next batch */
        ctx->spare = q;
        ctx->spare_cap = qcap;
        q = NULL;
    }
    lk_ctx_unlock(ctx);
    pthread_mutex_unlock(&ctx->flush_lock);
    free(order);
    free(run_end);
    free(q);
    return st;
}

lk_status lk_flush(lk_ctx *ctx)
{
    if (ctx != NULL && ctx->remote_ops != NULL) /* the service writes its own records */
        return LK_OK;
    return lk_records_flush(ctx);
}

static void drop_pending(lk_ctx *ctx, const char *id)
{
    lk_ctx_lock(ctx);
    size_t o = 0;
    for (size_t i = 0; i < ctx->npending; i++)
        if (strcmp(ctx->pending[i].key_id, id) != 0)
            ctx->pending[o++] = ctx->pending[i];
    ctx->npending = o;
    if (ctx->last_pending.cap > 0) {
        lk_last_entry *e = last_slot(&ctx->last_pending, id, id_hash(id));
        if (e->key_id[0] != '\0')
            e->time = 0; /* kept as a tombstone: the probe chains stay whole */
    }
    lk_ctx_unlock(ctx);
}

lk_status lk_records_delete(lk_ctx *ctx, lk_txn *txn, const char *key_id)
{
    char key[LK_KEYBUF];
    lk_key_records(key, key_id);
    lk_status st = lk_txn_del(txn, key);
    if (st == LK_ERR_NOT_FOUND)
        st = LK_OK;
    if (st == LK_OK)
        drop_pending(ctx, key_id);
    return st;
}

/* Stored and queued records of one key. With inflight, also those a flush
 * is writing: they may then be counted twice, harmless for a maximum. */
static void current_records(lk_ctx *ctx, lk_txn *txn, const char *id, rec_set *s, bool inflight)
{
    load_records(txn, id, s);
    lk_ctx_lock(ctx);
    if (inflight)
        add_pending(s, ctx->inflight, ctx->ninflight, id);
    add_pending(s, ctx->pending, ctx->npending, id);
    lk_ctx_unlock(ctx);
}

/* Called on latchkeyd's request threads and by every status read
 * (lk_key_get, lk_apikey_get: Mosquitto's ACL checks): never waits for a
 * flush, never decodes the record list nor scans the queue. The stored
 * time is the record's first field (encode_records writes it first); the
 * queued and in-flight ones come from the maps. */
int64_t lk_last_access(lk_ctx *ctx, lk_txn *txn, const char *key_id)
{
    char key[LK_KEYBUF];
    const char *v, *f;
    size_t vl, fl;
    int64_t last = 0, t;
    lk_key_records(key, key_id);
    if (lk_txn_get(txn, key, &v, &vl) == LK_OK && lk_rec_find(v, vl, "last", &f, &fl) && lk_rec_parse_i64(f, fl, &t))
        last = t;
    uint64_t h = id_hash(key_id);
    lk_ctx_lock(ctx);
    if ((t = last_get(&ctx->last_inflight, key_id, h)) > last)
        last = t;
    if ((t = last_get(&ctx->last_pending, key_id, h)) > last)
        last = t;
    lk_ctx_unlock(ctx);
    return last;
}

lk_status lk_records(lk_ctx *ctx, const char *key_id, lk_access_record out[LK_RECORDS_MAX], size_t *count,
                     int64_t *last_access_time)
{
    LK_REMOTE_CALL(ctx, records, key_id, out, count, last_access_time);
    lk_txn txn;
    rec_set s;
    char q[64];

    *count = 0;
    if (last_access_time)
        *last_access_time = 0;
    if (!is_key_id(key_id))
        return lk_seterr(LK_ERR_PARAM, "'%s' is neither a SecretId nor an API key id", lk_quote(key_id, q, sizeof q));
    /* Between flushes, so each record is either stored or queued, not
     * taken by a flush that has yet to commit (nor both). */
    (void)lk_ctx_adopt(ctx);
    pthread_mutex_lock(&ctx->flush_lock);
    lk_status st = lk_txn_begin(ctx, false, &txn);
    if (st != LK_OK) {
        pthread_mutex_unlock(&ctx->flush_lock);
        return st;
    }
    if (!key_exists(&txn, key_id)) {
        lk_txn_abort(&txn);
        pthread_mutex_unlock(&ctx->flush_lock);
        return lk_seterr(LK_ERR_KEY_NOT_EXIST, "key %s does not exist", key_id);
    }
    current_records(ctx, &txn, key_id, &s, false);
    lk_txn_abort(&txn);
    pthread_mutex_unlock(&ctx->flush_lock);
    prune(ctx, &s);
    memcpy(out, s.r, s.n * sizeof s.r[0]);
    *count = s.n;
    if (last_access_time)
        *last_access_time = s.last;
    return LK_OK;
}

lk_status lk_record_refusal(lk_ctx *ctx, const char *key_id, const lk_verify_req *req, lk_status result)
{
    char q[64];
    LK_LOCAL_ONLY(ctx);
    if (!is_key_id(key_id))
        return lk_seterr(LK_ERR_PARAM, "'%s' is neither a SecretId nor an API key id", lk_quote(key_id, q, sizeof q));
    if (!lk_status_is_denial(result))
        return lk_seterr(LK_ERR_PARAM, "lk_record_refusal: %s is not a denial", lk_status_code(result));
    lk_record_attempt(ctx, key_id, req, NULL, result);
    return LK_OK;
}
