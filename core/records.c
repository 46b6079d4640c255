/*
 * records.c — access records: each key keeps its latest records.keep (20)
 * verification attempts within records.retention_days (90), success and
 * failure, plus its last access time.
 *
 * Verification must not wait for the store's single writer, so attempts are
 * queued in the ctx and written in one transaction when records.flush_batch
 * attempts are queued or the oldest is records.flush_interval_ms old (checked
 * on each verify), on lk_flush and on lk_close. A crash loses at most the
 * queued attempts; never a key or a status change.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

static bool is_key_id(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    return lk_keyfmt_secret_id_ok(id, n) || lk_keyfmt_apikey_id_ok(id, n);
}

void lk_record_attempt(lk_ctx *ctx, const char *key_id, const lk_verify_req *req, lk_status result)
{
    lk_pending_record p;
    lk_cidr ip;
    bool flush;

    if (ctx->read_only) /* nowhere to keep them: a read-only store */
        return;
    memset(&p, 0, sizeof p);
    snprintf(p.key_id, sizeof p.key_id, "%s", key_id);
    p.rec.time = lk_now(ctx);
    p.rec.result = result;
    /* Store only what parses: records are shown to operators later. */
    if (req && req->client_ip && lk_ip_parse(req->client_ip, &ip) == LK_OK)
        lk_cidr_format(&ip, p.rec.client_ip, sizeof p.rec.client_ip);
    if (req && req->service && lk_service_name_ok(req->service, strlen(req->service)))
        snprintf(p.rec.service, sizeof p.rec.service, "%s", req->service);

    pthread_mutex_lock(&ctx->lock);
    lk_pending_record *grown = lk_grow(ctx->pending, &ctx->pending_cap, ctx->npending, sizeof *grown, 64);
    if (grown == NULL) { /* records are best effort; the verdict stands */
        pthread_mutex_unlock(&ctx->lock);
        return;
    }
    ctx->pending = grown;
    int64_t now = mono_ms();
    if (ctx->npending == 0)
        ctx->pending_since_ms = now;
    ctx->pending[ctx->npending++] = p;
    flush = ctx->npending >= ctx->cfg.flush_batch || now - ctx->pending_since_ms >= (int64_t)ctx->cfg.flush_interval_ms;
    /* One automatic flush at a time: while it waits for and holds the
     * store's writer lock, other threads keep verifying and queueing instead
     * of queueing up behind it; the next attempt after it flushes theirs. */
    if (flush)
        flush = !atomic_exchange(&ctx->flushing, true);
    pthread_mutex_unlock(&ctx->lock);
    if (flush) {
        (void)lk_records_flush(ctx); /* a failed flush must not turn an allow into a deny */
        atomic_store(&ctx->flushing, false);
    }
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
        char **items;
        size_t n;
        bool oom;
        if (!lk_rec_parse_list(val, fl, 4, 64, &items, &n, &oom) || n != 4) {
            free(items);
            continue; /* skip a damaged entry rather than lose the others */
        }
        lk_access_record *r = &s->r[s->n];
        memset(r, 0, sizeof *r);
        if (lk_rec_parse_i64(items[0], strlen(items[0]), &r->time)) {
            if (strcmp(items[1], NO_VALUE) != 0)
                snprintf(r->client_ip, sizeof r->client_ip, "%s", items[1]);
            if (strcmp(items[2], NO_VALUE) != 0)
                snprintf(r->service, sizeof r->service, "%s", items[2]);
            r->result = lk_result_from_code(items[3]);
            s->n++;
        }
        free(items);
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
        char t[24];
        const lk_access_record *r = &s->r[i];
        snprintf(t, sizeof t, "%" PRId64, r->time);
        const char *items[4] = {t, r->client_ip[0] ? r->client_ip : NO_VALUE, r->service[0] ? r->service : NO_VALUE,
                                lk_result_code(r->result)};
        lk_rec_add_list(rec, "r", items, 4);
    }
    return lk_rec_status(rec);
}

static bool key_exists(lk_txn *txn, const char *id)
{
    char key[LK_KEYBUF];
    const char *v;
    size_t vl;
    if (strncmp(id, LK_SECRET_ID_PREFIX, LK_PREFIX_LEN) == 0)
        lk_key_ak(key, id);
    else
        lk_key_api(key, id);
    return lk_txn_get(txn, key, &v, &vl) == LK_OK;
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
    s->r[s->n++] = p->rec;
}

static void add_pending(rec_set *s, const lk_pending_record *p, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(p[i].key_id, id) == 0)
            add_one(s, &p[i]);
}

/* Flush order: by key, then arrival (the queue is in arrival order, so the
 * address breaks ties). Each key's records become one run: O(n log n),
 * where scanning the queue for every key was O(n^2) and dominated a flush
 * of a few thousand attempts. */
static int by_key_then_arrival(const void *a, const void *b)
{
    const lk_pending_record *x = *(const lk_pending_record *const *)a;
    const lk_pending_record *y = *(const lk_pending_record *const *)b;
    int c = strcmp(x->key_id, y->key_id);
    return c != 0 ? c : (x > y) - (x < y);
}

lk_status lk_records_flush(lk_ctx *ctx)
{
    lk_txn txn;
    lk_status st;

    pthread_mutex_lock(&ctx->lock);
    lk_pending_record *q = ctx->pending;
    size_t n = ctx->npending;
    ctx->pending = NULL;
    ctx->npending = ctx->pending_cap = 0;
    pthread_mutex_unlock(&ctx->lock);
    if (n == 0) {
        free(q);
        return LK_OK;
    }
    lk_pending_record **order = malloc(n * sizeof *order);
    if (order == NULL) {
        st = lk_seterr(LK_ERR_NOMEM, "out of memory writing %zu access records", n);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = &q[i];
    qsort(order, n, sizeof *order, by_key_then_arrival);
    if ((st = lk_txn_begin(ctx, true, &txn)) != LK_OK)
        goto out;
    for (size_t i = 0, j; i < n && st == LK_OK; i = j) {
        const char *id = order[i]->key_id;
        for (j = i + 1; j < n && strcmp(order[j]->key_id, id) == 0; j++)
            ;
        if (!key_exists(&txn, id)) /* deleted meanwhile: drop its records */
            continue;
        rec_set s;
        lk_rec rec;
        char key[LK_KEYBUF];
        load_records(&txn, id, &s);
        for (size_t k = i; k < j; k++)
            add_one(&s, order[k]);
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
    free(order);
    free(q);
    return st;
}

lk_status lk_flush(lk_ctx *ctx)
{
    return lk_records_flush(ctx);
}

static void drop_pending(lk_ctx *ctx, const char *id)
{
    pthread_mutex_lock(&ctx->lock);
    size_t o = 0;
    for (size_t i = 0; i < ctx->npending; i++)
        if (strcmp(ctx->pending[i].key_id, id) != 0)
            ctx->pending[o++] = ctx->pending[i];
    ctx->npending = o;
    pthread_mutex_unlock(&ctx->lock);
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

/* Stored and queued records of one key. */
static void current_records(lk_ctx *ctx, lk_txn *txn, const char *id, rec_set *s)
{
    load_records(txn, id, s);
    pthread_mutex_lock(&ctx->lock);
    add_pending(s, ctx->pending, ctx->npending, id);
    pthread_mutex_unlock(&ctx->lock);
}

int64_t lk_last_access(lk_ctx *ctx, lk_txn *txn, const char *key_id)
{
    rec_set s;
    current_records(ctx, txn, key_id, &s);
    return s.last;
}

lk_status lk_records(lk_ctx *ctx, const char *key_id, lk_access_record out[LK_RECORDS_MAX], size_t *count,
                     int64_t *last_access_time)
{
    lk_txn txn;
    rec_set s;
    char q[64];

    *count = 0;
    if (last_access_time)
        *last_access_time = 0;
    if (!is_key_id(key_id))
        return lk_seterr(LK_ERR_PARAM, "'%s' is neither a SecretId nor an API key id", lk_quote(key_id, q, sizeof q));
    lk_status st = lk_txn_begin(ctx, false, &txn);
    if (st != LK_OK)
        return st;
    if (!key_exists(&txn, key_id)) {
        lk_txn_abort(&txn);
        return lk_seterr(LK_ERR_KEY_NOT_EXIST, "key %s does not exist", key_id);
    }
    current_records(ctx, &txn, key_id, &s);
    lk_txn_abort(&txn);
    prune(ctx, &s);
    memcpy(out, s.r, s.n * sizeof s.r[0]);
    *count = s.n;
    if (last_access_time)
        *last_access_time = s.last;
    return LK_OK;
}
