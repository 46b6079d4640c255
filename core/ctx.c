/*
 * ctx.c — opening a store, one handle per process, transactions.
 */
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mman.h>
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
    if (ctx->remote_ops != NULL) /* the service keeps its own time */
        return;
    ctx->now = now ? now : system_clock;
    ctx->now_arg = arg;
}

static lk_status open_backend(lk_ctx *ctx, bool create, char *report, size_t report_size)
{
    lk_backend_conf bc = {
        .path = ctx->cfg.store_path, .conninfo = ctx->cfg.conninfo, .map_size = ctx->cfg.map_size,
        .cache_entries = ctx->cfg.store_cache_entries, .read_only = 0, .create = create, .report = report,
        .report_size = report_size};
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

/* A page of its own that a forked child sees zeroed (Linux 4.14+: the way
 * BoringSSL's RNG notices a fork without a system call), set to 1. NULL
 * where the kernel lacks MADV_WIPEONFORK: the caller then asks getpid(). */
_Atomic int *lk_fork_canary_new(void)
{
#ifdef MADV_WIPEONFORK
    long page = sysconf(_SC_PAGESIZE);
    void *p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (madvise(p, (size_t)page, MADV_WIPEONFORK) != 0) {
        munmap(p, (size_t)page);
        return NULL;
    }
    _Atomic int *c = p;
    atomic_init(c, 1);
    return c;
#else
    return NULL;
#endif
}

void lk_fork_canary_free(_Atomic int *c)
{
    if (c != NULL)
        munmap((void *)c, (size_t)sysconf(_SC_PAGESIZE));
}

static lk_status open_ctx(const lk_config *cfg, bool create, char *report, size_t report_size, lk_ctx **out)
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
    /* the daemon section belongs to latchkeyd; the ctx keeps no pointer into cfg */
    ctx->cfg.daemon_socket = ctx->cfg.daemon_allow_uids = ctx->cfg.daemon_allow_gids = NULL;
    ctx->cfg.conninfo = cfg->conninfo ? strdup(cfg->conninfo) : NULL;
    ctx->ops = ops;
    atomic_init(&ctx->pid, getpid());
    atomic_init(&ctx->lock_pid, atomic_load(&ctx->pid));
    ctx->fork_canary = lk_fork_canary_new();
    /* as crypto_pwhash_str writes it (Argon2 1.3, one lane); were that to
     * change, every verify would ask libsodium: slower, still right */
    snprintf(ctx->hash_params, sizeof ctx->hash_params, "%sv=19$m=%zu,t=%" PRIu64 ",p=1$",
             crypto_pwhash_argon2id_STRPREFIX, ctx->cfg.memlimit / 1024, ctx->cfg.opslimit);
    ctx->now = system_clock;
    pthread_mutex_init(&ctx->lock, NULL);
    lk_flusher_init(ctx);
    if (ctx->cfg.backend == NULL || ctx->cfg.store_path == NULL || (cfg->conninfo && !ctx->cfg.conninfo)) {
        lk_close(ctx);
        return lk_seterr(LK_ERR_NOMEM, "out of memory");
    }
    lk_status st = open_backend(ctx, create, report, report_size);
    if (st != LK_OK) {
        ctx->backend = NULL;
        lk_close(ctx);
        return st;
    }
    ctx->cache = lk_cache_new(cfg->cache_entries); /* NULL = no cache, still correct */
    *out = ctx;
    return LK_OK;
}

lk_status lk_open_config(const lk_config *cfg, lk_ctx **out)
{
    return open_ctx(cfg, false, NULL, 0, out);
}

/* "WHERE\nWHAT" from a backend that says: the first line; else the path. */
static void report_where(const lk_config *cfg, char *report, char *where, size_t where_size)
{
    char *nl = strchr(report, '\n');
    if (nl != NULL)
        *nl = '\0';
    if (where != NULL && where_size > 0)
        snprintf(where, where_size, "%s", nl != NULL ? report : cfg->store_path ? cfg->store_path : "");
}

lk_status lk_open_described(const lk_config *cfg, char *where, size_t where_size, lk_ctx **out)
{
    char report[512] = "";
    lk_status st = open_ctx(cfg, false, report, sizeof report, out);
    if (st == LK_OK)
        report_where(cfg, report, where, where_size);
    return st;
}

lk_status lk_store_create(const lk_config *cfg)
{
    return lk_store_create_described(cfg, NULL, 0, NULL, 0);
}

lk_status lk_store_create_described(const lk_config *cfg, char *where, size_t where_size, char *what,
                                    size_t what_size)
{
    lk_ctx *ctx;
    char report[512] = "";
    lk_status st = open_ctx(cfg, true, report, sizeof report, &ctx);
    if (st != LK_OK)
        return st;
    lk_close(ctx);
    char *nl = strchr(report, '\n');
    if (what != NULL && what_size > 0)
        snprintf(what, what_size, "%s", nl != NULL ? nl + 1 : "");
    report_where(cfg, report, where, where_size);
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

lk_status lk_ctx_local_only(const lk_ctx *ctx, const char *fn)
{
    if (ctx == NULL)
        return lk_seterr(LK_ERR_PARAM, "%s: ctx is NULL", fn);
    if (ctx->remote_ops != NULL)
        return lk_seterr(LK_ERR_PARAM, "%s: not available through latchkeyd (open the store with lk_open)", fn);
    return LK_OK;
}

lk_status lk_ctx_new_remote(const lk_remote_ops *ops, void *remote, lk_ctx **out)
{
    *out = NULL;
    lk_ctx *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL) {
        ops->close(remote);
        return lk_seterr(LK_ERR_NOMEM, "out of memory");
    }
    ctx->remote_ops = ops;
    ctx->remote = remote;
    ctx->now = system_clock;
    *out = ctx;
    return LK_OK;
}

void lk_set_auto_flush(lk_ctx *ctx, int enabled)
{
    if (ctx != NULL && ctx->remote_ops == NULL) {
        atomic_store(&ctx->no_auto_flush, !enabled);
        lk_flusher_poke(ctx); /* a running flusher sleeps or writes accordingly */
    }
}

void lk_close(lk_ctx *ctx)
{
    if (ctx == NULL)
        return;
    if (ctx->remote_ops != NULL) {
        ctx->remote_ops->close(ctx->remote);
        free(ctx);
        return;
    }
    (void)lk_ctx_adopt(ctx); /* never destroy a lock a parent thread held */
    lk_flusher_stop(ctx);    /* joined before the last flush, which writes what it left */
    if (ctx->backend != NULL) {
        /* Best effort: a failure here has nowhere to be reported but the thread's message. */
        (void)lk_records_flush(ctx);
        ctx->ops->close(ctx->backend);
    }
    lk_cache_free(ctx->cache);
    lk_records_forget(ctx, true);
    lk_rates_free(atomic_load(&ctx->rates));
    free(ctx->cfg.backend);
    free(ctx->cfg.store_path);
    free(ctx->cfg.conninfo);
    lk_flusher_destroy(ctx);
    pthread_mutex_destroy(&ctx->lock);
    lk_fork_canary_free(ctx->fork_canary);
    free(ctx);
}

/* ------------------------------------------------------------ fork
 *
 * A forked child has a single thread, the one that called fork(). A lock
 * another parent thread held at that moment stays locked for ever in the
 * child, and what it guarded may be half-updated. Such a lock can only be
 * re-initialised (its owner is gone: unlocking it is undefined), and the
 * cache and record queue it guarded must not be trusted; nor does the
 * parent's flusher thread exist. So the first call in a new process
 * rebuilds them, without taking any lock and without
 * process-global state: lock_pid names the process they belong to, and holds
 * -pid while one thread of that process is rebuilding them (its other
 * threads, started after the fork, wait for it).
 * Caveat: a descendant that gets the very pid which last adopted the ctx
 * (that process has exited and its pid was reused) trusts the ctx as is. */
static void adopt_after_fork(lk_ctx *ctx, pid_t me, pid_t seen)
{
    while (seen != me) {
        if (seen == -me) { /* another thread of this process is rebuilding */
            sched_yield();
            seen = atomic_load_explicit(&ctx->lock_pid, memory_order_acquire);
            continue;
        }
        /* seen is another process's pid, or -pid of one that forked us
         * while rebuilding: its rebuilding thread does not exist here. */
        if (!atomic_compare_exchange_weak_explicit(&ctx->lock_pid, &seen, -me, memory_order_acquire,
                                                   memory_order_acquire))
            continue;
        pthread_mutex_init(&ctx->lock, NULL);
        lk_cache_reset_after_fork(ctx->cache);
        lk_rates_reset_after_fork(atomic_load(&ctx->rates));
        /* The parent writes its own queued records. Its queue may be in the
         * middle of a realloc, so it is abandoned, not freed. */
        lk_records_forget(ctx, false);
        lk_flusher_reset_after_fork(ctx); /* the parent's flusher thread is not here */
        atomic_store_explicit(&ctx->lock_pid, me, memory_order_release);
        return;
    }
}

/* The canary is set (release) only once lock_pid is this process's, and a
 * fork zeroes it in the child: a thread that reads 1 (acquire) is in the
 * process that lock_pid names, without asking the kernel. */
pid_t lk_ctx_adopt(lk_ctx *ctx)
{
    _Atomic int *canary = ctx->fork_canary;
    if (canary != NULL && atomic_load_explicit(canary, memory_order_acquire) != 0)
        return atomic_load_explicit(&ctx->lock_pid, memory_order_relaxed);
    pid_t me = getpid();
    pid_t seen = atomic_load_explicit(&ctx->lock_pid, memory_order_acquire);
    if (seen != me)
        adopt_after_fork(ctx, me, seen);
    if (canary != NULL)
        atomic_store_explicit(canary, 1, memory_order_release);
    return me;
}

void lk_ctx_lock(lk_ctx *ctx)
{
    (void)lk_ctx_adopt(ctx);
    pthread_mutex_lock(&ctx->lock);
}

void lk_ctx_unlock(lk_ctx *ctx)
{
    pthread_mutex_unlock(&ctx->lock);
}

lk_status lk_ctx_backend(lk_ctx *ctx, void **backend)
{
    pid_t me = lk_ctx_adopt(ctx);
    /* LMDB forbids using an environment across fork(); a child reopens.
     * pid is stored (release) after backend, so a thread that sees its own
     * pid (acquire) also sees the backend opened for it. */
    if (atomic_load_explicit(&ctx->pid, memory_order_acquire) != me) {
        pthread_mutex_lock(&ctx->lock);
        if (atomic_load_explicit(&ctx->pid, memory_order_relaxed) != me) {
            void *old = ctx->backend;
            lk_status st = open_backend(ctx, false, NULL, 0);
            if (st != LK_OK) {
                ctx->backend = old;
                pthread_mutex_unlock(&ctx->lock);
                return st;
            }
            if (old != NULL)
                ctx->ops->close(old);
            atomic_store_explicit(&ctx->pid, me, memory_order_release);
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
    memset(out, 0, sizeof *out);
    if (ctx->remote_ops != NULL) {
        if (ctx->remote_ops->stats != NULL) /* zeros when the service is gone, or not latchkeyd's socket */
            (void)ctx->remote_ops->stats(ctx->remote, out);
        return;
    }
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
    txn->keys_changed = false;
    lk_status st = lk_ctx_backend(ctx, &b);
    if (st != LK_OK)
        return st;
    return ctx->ops->begin(b, write, &txn->t);
}

/* The change counter, + 1 in this txn. A store without one starts at 1. */
static lk_status bump_generation(lk_txn *txn)
{
    const char *v;
    size_t vl;
    uint64_t g = 0;
    lk_status st = lk_txn_get(txn, LK_KEY_GENERATION, &v, &vl);
    if (st == LK_OK && !lk_rec_parse_u64(v, vl, &g))
        g = 0; /* damaged: any other value is a change all the same */
    else if (st != LK_OK && st != LK_ERR_NOT_FOUND)
        return st;
    char num[24];
    int n = snprintf(num, sizeof num, "%" PRIu64, g + 1);
    return txn->ctx->ops->put(txn->t, LK_KEY_GENERATION, strlen(LK_KEY_GENERATION), num, (size_t)n);
}

lk_status lk_txn_commit(lk_txn *txn)
{
    /* Fail closed: a change that hosts holding a copy could miss is not committed. */
    if (txn->keys_changed) {
        lk_status st = bump_generation(txn);
        if (st != LK_OK) {
            lk_txn_abort(txn);
            return st;
        }
    }
    lk_status st = txn->ctx->ops->commit(txn->t);
    txn->t = NULL;
    return st;
}

/* Access records ("r/...") are not what hosts keep copies of. */
static void note_write(lk_txn *txn, const char *key)
{
    if (!(key[0] == 'r' && key[1] == '/'))
        txn->keys_changed = true;
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
    note_write(txn, key);
    return txn->ctx->ops->put(txn->t, key, strlen(key), val, vlen);
}

lk_status lk_txn_put(lk_txn *txn, const char *key, const lk_rec *rec)
{
    lk_status st = lk_rec_status(rec);
    if (st != LK_OK)
        return st;
    return lk_txn_put_raw(txn, key, rec->buf ? rec->buf : "", rec->len);
}

lk_status lk_txn_prefetch(lk_txn *txn, const char *const *keys, size_t n)
{
    if (txn->ctx->ops->prefetch == NULL || n == 0)
        return LK_OK;
    size_t *lens = malloc(n * sizeof *lens);
    if (lens == NULL)
        return LK_OK; /* only a hint: the gets still answer */
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(keys[i]);
    lk_status st = txn->ctx->ops->prefetch(txn->t, keys, lens, n);
    free(lens);
    return st;
}

lk_status lk_txn_del(lk_txn *txn, const char *key)
{
    note_write(txn, key);
    return txn->ctx->ops->del(txn->t, key, strlen(key));
}

/* Token first, then the counter: a commit between the two shows as a new
 * token next time (one more read), never as an old counter under a new
 * token. The number handed out only grows, by one for every counter or
 * store file seen to change. */
lk_status lk_store_generation(lk_ctx *ctx, uint64_t *gen)
{
    uint64_t epoch, token, stored = 0;
    void *b;
    lk_txn txn;
    const char *v;
    size_t vl;

    if (gen == NULL)
        return lk_seterr(LK_ERR_PARAM, "lk_store_generation: gen is NULL");
    *gen = 0;
    if (ctx == NULL)
        return lk_seterr(LK_ERR_PARAM, "lk_store_generation: ctx is NULL");
    if (ctx->remote_ops != NULL || ctx->ops->change_token == NULL)
        return LK_OK; /* cannot tell: 0 */
    lk_status st = lk_ctx_backend(ctx, &b);
    if (st == LK_OK)
        st = ctx->ops->change_token(b, &epoch, &token);
    if (st != LK_OK)
        return st;
    lk_ctx_lock(ctx);
    bool same = ctx->gen_public != 0 && epoch == ctx->gen_epoch && token == ctx->gen_token;
    *gen = ctx->gen_public;
    lk_ctx_unlock(ctx);
    if (same)
        return LK_OK;
    if ((st = lk_txn_begin(ctx, false, &txn)) != LK_OK)
        return st;
    st = lk_txn_get(&txn, LK_KEY_GENERATION, &v, &vl);
    if (st == LK_OK && !lk_rec_parse_u64(v, vl, &stored))
        stored = UINT64_MAX;
    lk_txn_abort(&txn);
    if (st != LK_OK && st != LK_ERR_NOT_FOUND)
        return st;
    lk_ctx_lock(ctx);
    if (ctx->gen_public == 0 || epoch != ctx->gen_epoch || stored != ctx->gen_stored)
        ctx->gen_public++;
    ctx->gen_epoch = epoch;
    ctx->gen_token = token;
    ctx->gen_stored = stored;
    *gen = ctx->gen_public;
    lk_ctx_unlock(ctx);
    return LK_OK;
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

/* prefix + id, without snprintf's cost: lookups build one per verify. */
static void key_of(char *buf, const char *prefix, size_t plen, const char *id)
{
    size_t n = strnlen(id, LK_KEYBUF - 1 - plen);
    memcpy(buf, prefix, plen);
    memcpy(buf + plen, id, n);
    buf[plen + n] = '\0';
}

void lk_key_ak(char *buf, const char *secret_id)
{
    key_of(buf, "k/", 2, secret_id);
}

void lk_key_ak_index(char *buf, uint64_t uin, const char *secret_id)
{
    snprintf(buf, LK_KEYBUF, "uk/%020" PRIu64 "/%s", uin, secret_id);
}

void lk_key_api(char *buf, const char *id)
{
    key_of(buf, "a/", 2, id);
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
    key_of(buf, "r/", 2, key_id);
}

void lk_key_login(char *buf, const char *login)
{
    snprintf(buf, LK_KEYBUF, "ul/%s", login); /* login names need no escaping */
}
