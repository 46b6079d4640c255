/*
 * ctx.c — opening a store, one handle per process, transactions.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "lk_internal.h"

static int64_t system_clock(void *arg)
{
    (void)arg;
    return (int64_t)time(NULL);
}

int64_t lk_now(lk_ctx *ctx)
{
    return ctx->now(ctx->now_arg);
}

void lk_set_clock(lk_ctx *ctx, int64_t (*now)(void *arg), void *arg)
{
    ctx->now = now ? now : system_clock;
    ctx->now_arg = arg;
}

static lk_status open_backend(lk_ctx *ctx)
{
    lk_backend_conf bc = {.path = ctx->cfg.store_path, .map_size = ctx->cfg.map_size, .read_only = 0};
    lk_status st = ctx->ops->open(&bc, &ctx->backend);
    if (st != LK_ERR_STORE_PERM)
        return st;
    /* A store this process may read but not write (a read-only mount, a
     * file it may not change): verifiers still work from a read-only open,
     * which makes the same owner and mode checks, so a loose store is still
     * refused. Writes then fail with StorePermission. */
    char first[512];
    snprintf(first, sizeof first, "%s", lk_errmsg(NULL));
    bc.read_only = 1;
    if (ctx->ops->open(&bc, &ctx->backend) == LK_OK) {
        ctx->read_only = true;
        return LK_OK;
    }
    ctx->backend = NULL;
    return lk_seterr(st, "%s", first); /* the read-write refusal says more */
}

lk_status lk_open_config(const lk_config *cfg, lk_ctx **out)
{
    *out = NULL;
    if (sodium_init() < 0)
        return lk_seterr(LK_ERR_INTERNAL, "libsodium failed to initialise");
    if (cfg == NULL || cfg->store_path == NULL || cfg->backend == NULL)
        return lk_seterr(LK_ERR_CONFIG, "no configuration given");
    const lk_backend_ops *ops = lk_backend_find(cfg->backend);
    if (ops == NULL)
        return lk_seterr(LK_ERR_CONFIG, "unknown store backend '%s'", cfg->backend);

    lk_ctx *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL)
        return lk_seterr(LK_ERR_NOMEM, "out of memory");
    ctx->cfg = *cfg;
    ctx->cfg.source = NULL;
    ctx->cfg.backend = strdup(cfg->backend);
    ctx->cfg.store_path = strdup(cfg->store_path);
    ctx->ops = ops;
    ctx->pid = getpid();
    ctx->now = system_clock;
    pthread_mutex_init(&ctx->lock, NULL);
    if (ctx->cfg.backend == NULL || ctx->cfg.store_path == NULL) {
        lk_close(ctx);
        return lk_seterr(LK_ERR_NOMEM, "out of memory");
    }
    lk_status st = open_backend(ctx);
    if (st != LK_OK) {
        ctx->backend = NULL;
        lk_close(ctx);
        return st;
    }
    ctx->cache = lk_cache_new(cfg->cache_entries); /* NULL = no cache, still correct */
    *out = ctx;
    return LK_OK;
}

lk_status lk_open(const char *config_path, lk_ctx **out)
{
    lk_config *cfg;
    *out = NULL;
    lk_status st = lk_config_load(config_path, &cfg);
    if (st != LK_OK)
        return st;
    st = lk_open_config(cfg, out);
    lk_config_free(cfg);
    return st;
}

void lk_close(lk_ctx *ctx)
{
    if (ctx == NULL)
        return;
    if (ctx->backend != NULL) {
        /* Best effort: a failure here has nowhere to be reported but the thread's message. */
        (void)lk_records_flush(ctx);
        ctx->ops->close(ctx->backend);
    }
    lk_cache_free(ctx->cache);
    free(ctx->pending);
    free(ctx->cfg.backend);
    free(ctx->cfg.store_path);
    pthread_mutex_destroy(&ctx->lock);
    free(ctx);
}

lk_status lk_ctx_backend(lk_ctx *ctx, void **backend)
{
    /* LMDB forbids using an environment across fork(); a child reopens. */
    if (ctx->pid != getpid()) {
        pthread_mutex_lock(&ctx->lock);
        if (ctx->pid != getpid()) {
            void *old = ctx->backend;
            /* Pending records belong to the parent, which will write them;
             * so does a flush that was running in one of its threads. */
            ctx->npending = 0;
            atomic_store(&ctx->flushing, false);
            lk_status st = open_backend(ctx);
            if (st != LK_OK) {
                ctx->backend = old;
                pthread_mutex_unlock(&ctx->lock);
                return st;
            }
            if (old != NULL)
                ctx->ops->close(old);
            ctx->pid = getpid();
        }
        pthread_mutex_unlock(&ctx->lock);
    }
    *backend = ctx->backend;
    return LK_OK;
}

void lk_free(void *p)
{
    free(p);
}

void lk_get_stats(lk_ctx *ctx, lk_stats *out)
{
    out->argon2_verifies = atomic_load(&ctx->st_argon2);
    out->cache_hits = atomic_load(&ctx->st_cache_hits);
    out->early_rejects = atomic_load(&ctx->st_early);
    out->records_flushed = atomic_load(&ctx->st_flushed);
}

/* ------------------------------------------------------------ transactions */

lk_status lk_txn_begin(lk_ctx *ctx, bool write, lk_txn *txn)
{
    void *b;
    txn->ctx = ctx;
    txn->t = NULL;
    lk_status st = lk_ctx_backend(ctx, &b);
    if (st != LK_OK)
        return st;
    return ctx->ops->begin(b, write, &txn->t);
}

lk_status lk_txn_commit(lk_txn *txn)
{
    lk_status st = txn->ctx->ops->commit(txn->t);
    txn->t = NULL;
    return st;
}

void lk_txn_abort(lk_txn *txn)
{
    if (txn->t != NULL)
        txn->ctx->ops->abort(txn->t);
    txn->t = NULL;
}

lk_status lk_txn_get(lk_txn *txn, const char *key, const char **val, size_t *vlen)
{
    return txn->ctx->ops->get(txn->t, key, strlen(key), val, vlen);
}

lk_status lk_txn_put_raw(lk_txn *txn, const char *key, const char *val, size_t vlen)
{
    return txn->ctx->ops->put(txn->t, key, strlen(key), val, vlen);
}

lk_status lk_txn_put(lk_txn *txn, const char *key, const lk_rec *rec)
{
    lk_status st = lk_rec_status(rec);
    if (st != LK_OK)
        return st;
    return lk_txn_put_raw(txn, key, rec->buf ? rec->buf : "", rec->len);
}

lk_status lk_txn_del(lk_txn *txn, const char *key)
{
    return txn->ctx->ops->del(txn->t, key, strlen(key));
}

lk_status lk_txn_scan(lk_txn *txn, const char *prefix, lk_scan_fn fn, void *arg)
{
    return txn->ctx->ops->scan(txn->t, prefix, strlen(prefix), fn, arg);
}

static int count_cb(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    (void)k, (void)kl, (void)v, (void)vl;
    (*(size_t *)arg)++;
    return 0;
}

lk_status lk_txn_count(lk_txn *txn, const char *prefix, size_t *count)
{
    *count = 0;
    return lk_txn_scan(txn, prefix, count_cb, count);
}

/* ------------------------------------------------------------ key layout */

void lk_key_user(char *buf, uint64_t uin)
{
    snprintf(buf, LK_KEYBUF, "u/%020" PRIu64, uin);
}

void lk_key_ak(char *buf, const char *secret_id)
{
    snprintf(buf, LK_KEYBUF, "k/%s", secret_id);
}

void lk_key_ak_index(char *buf, uint64_t uin, const char *secret_id)
{
    snprintf(buf, LK_KEYBUF, "uk/%020" PRIu64 "/%s", uin, secret_id);
}

void lk_key_api(char *buf, const char *id)
{
    snprintf(buf, LK_KEYBUF, "a/%s", id);
}

void lk_key_api_index(char *buf, uint64_t uin, const char *id)
{
    snprintf(buf, LK_KEYBUF, "ua/%020" PRIu64 "/%s", uin, id);
}

void lk_key_api_name(char *buf, uint64_t uin, const char *name)
{
    /* Names are free text; escape them like record values so keys stay printable. */
    lk_rec r;
    lk_rec_init(&r);
    lk_rec_add(&r, "n", name);
    snprintf(buf, LK_KEYBUF, "an/%020" PRIu64 "/%s", uin, r.buf ? r.buf + 2 : "");
    lk_rec_free(&r);
}

void lk_key_records(char *buf, const char *key_id)
{
    snprintf(buf, LK_KEYBUF, "r/%s", key_id);
}
