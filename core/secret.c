/*
 * secret.c — secrets in guarded memory, and their Argon2id hashes.
 *
 * sodium_malloc puts each secret between guard pages, mlocks it (no swap)
 * and marks it MADV_DONTDUMP (no core dump); sodium_free wipes it.
 */
#include <string.h>

#include <sodium.h>

#include "lk_internal.h"

lk_secret *lk_secret_new(size_t len)
{
    /* sodium_malloc places the block so that it ends at the guard page: the
     * address is only aligned when the size is a multiple of the alignment
     * (libsodium's documentation). Unrounded, s->len was a misaligned store
     * (UBSan: "misaligned address ... for type 'lk_secret'"; SIGBUS on
     * strict-alignment CPUs). */
    size_t align = _Alignof(lk_secret), size = sizeof(lk_secret) + len + 1;
    if (len > SIZE_MAX - sizeof(lk_secret) - align)
        return NULL;
    size = (size + align - 1) / align * align;
    lk_secret *s = sodium_malloc(size);
    if (s == NULL)
        return NULL;
    s->len = len;
    sodium_memzero(s->str, len + 1);
    return s;
}

const char *lk_secret_str(const lk_secret *s)
{
    return s ? s->str : "";
}

size_t lk_secret_len(const lk_secret *s)
{
    return s ? s->len : 0;
}

void lk_secret_free(lk_secret *s)
{
    if (s != NULL)
        sodium_free(s); /* wipes before unmapping */
}

lk_status lk_hash_secret(const lk_config *cfg, const char *secret, size_t len, char *out, size_t outsz)
{
    if (outsz < crypto_pwhash_STRBYTES)
        return lk_seterr(LK_ERR_INTERNAL, "hash buffer too small");
    if (crypto_pwhash_str(out, secret, len, cfg->opslimit, cfg->memlimit) != 0)
        return lk_seterr(LK_ERR_NOMEM, "Argon2id needs %zu KiB and the system refused it", cfg->memlimit / 1024);
    return LK_OK;
}

bool lk_hash_verify(const char *hash, const char *secret, size_t len)
{
    /* crypto_pwhash_str_verify recomputes Argon2id with the parameters in the
     * stored string and compares in constant time. */
    return crypto_pwhash_str_verify(hash, secret, len) == 0;
}

bool lk_hash_outdated(const lk_ctx *ctx, const char *hash)
{
    /* 1: other parameters (or algorithm); -1: not a hash libsodium can
     * read, left alone (its verify fails anyway). */
    if (ctx->read_only || strncmp(hash, ctx->hash_params, strlen(ctx->hash_params)) == 0)
        return false; /* the common case, without libsodium decoding the string */
    return crypto_pwhash_str_needs_rehash(hash, ctx->cfg.opslimit, ctx->cfg.memlimit) == 1;
}

/* rec with its hash field replaced by new_hash, every other field copied as stored. */
static lk_status with_new_hash(const char *v, size_t vl, const char *new_hash, lk_rec *out)
{
    lk_rec_iter it;
    const char *name, *val;
    size_t nl, fl;
    lk_rec_iter_init(&it, v, vl);
    while (lk_rec_next(&it, &name, &nl, &val, &fl)) {
        if (nl == 4 && memcmp(name, "hash", 4) == 0)
            lk_rec_add(out, "hash", new_hash);
        else
            lk_rec_add_escaped(out, name, nl, val, fl);
    }
    return lk_rec_status(out);
}

void lk_hash_upgrade(lk_ctx *ctx, const char *id, const char *store_key, const char *old_hash, const char *secret,
                     size_t len)
{
    char saved[LK_ERRMSG_MAX], new_hash[crypto_pwhash_STRBYTES], stored[crypto_pwhash_STRBYTES];
    const char *v, *f;
    size_t vl, fl;
    lk_txn txn;
    lk_rec rec;

    lk_errmsg_save(saved);
    /* Hashed outside the write txn: the writer lock is shared. */
    if (lk_hash_secret(&ctx->cfg, secret, len, new_hash, sizeof new_hash) != LK_OK)
        goto out;
    if (lk_txn_begin(ctx, true, &txn) != LK_OK)
        goto out;
    lk_rec_init(&rec);
    lk_status st = lk_txn_get(&txn, store_key, &v, &vl);
    /* Deleted, or its secret replaced or upgraded since the verify read it:
     * not ours to change. */
    if (st == LK_OK && (!lk_rec_find(v, vl, "hash", &f, &fl) || !lk_rec_unescape(f, fl, stored, sizeof stored) ||
                        strcmp(stored, old_hash) != 0))
        st = LK_ERR_NOT_FOUND;
    if (st == LK_OK)
        st = with_new_hash(v, vl, new_hash, &rec);
    if (st == LK_OK)
        st = lk_txn_put(&txn, store_key, &rec);
    if (st == LK_OK)
        st = lk_txn_commit(&txn);
    else
        lk_txn_abort(&txn);
    lk_rec_free(&rec);
    if (st == LK_OK)
        lk_cache_put(ctx->cache, id, new_hash, secret, len); /* the next verify stays warm */
out:
    sodium_memzero(new_hash, sizeof new_hash);
    sodium_memzero(stored, sizeof stored);
    lk_errmsg_restore(saved);
}
