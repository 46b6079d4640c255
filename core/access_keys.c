/*
 * access_keys.c — SecretId/SecretKey pairs (CAM access keys).
 *
 * Rules (from CAM): at most limits.keys_per_user pairs per user (2); the
 * SecretKey is returned once, by create, and only its Argon2id hash is kept;
 * a key is deleted only once disabled.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lk_internal.h"

const char *lk_key_status_name(lk_key_status s)
{
    return s == LK_KEY_ACTIVE ? "Active" : "Inactive";
}

typedef struct ak_rec {
    lk_access_key info;
    char hash[crypto_pwhash_STRBYTES];
} ak_rec;

static lk_status decode_ak(const char *id, const char *v, size_t vl, ak_rec *out)
{
    const char *f;
    size_t fl;
    uint64_t status;

    memset(out, 0, sizeof *out);
    if (!lk_rec_find(v, vl, "uin", &f, &fl) || !lk_rec_parse_u64(f, fl, &out->info.uin) ||
        !lk_rec_find(v, vl, "status", &f, &fl) || !lk_rec_parse_u64(f, fl, &status) || status > 1 ||
        !lk_rec_find(v, vl, "created", &f, &fl) || !lk_rec_parse_i64(f, fl, &out->info.create_time) ||
        !lk_rec_find(v, vl, "hash", &f, &fl) || !lk_rec_unescape(f, fl, out->hash, sizeof out->hash))
        return lk_seterr(LK_ERR_STORE, "corrupt access key record %s", id);
    out->info.status = (lk_key_status)status;
    snprintf(out->info.secret_id, sizeof out->info.secret_id, "%s", id);
    return LK_OK;
}

static lk_status put_ak(lk_txn *txn, const ak_rec *r)
{
    char key[LK_KEYBUF];
    lk_rec rec;
    lk_rec_init(&rec);
    lk_rec_add_u64(&rec, "uin", r->info.uin);
    lk_rec_add_u64(&rec, "status", (uint64_t)r->info.status);
    lk_rec_add_i64(&rec, "created", r->info.create_time);
    lk_rec_add(&rec, "hash", r->hash);
    lk_key_ak(key, r->info.secret_id);
    lk_status st = lk_txn_put(txn, key, &rec);
    lk_rec_free(&rec);
    return st;
}

static lk_status check_secret_id(const char *secret_id)
{
    char q[64];
    if (secret_id == NULL || !lk_keyfmt_secret_id_ok(secret_id, strlen(secret_id)))
        return lk_seterr(LK_ERR_PARAM, "'%s' is not a SecretId (AKID + 32 characters with a valid checksum)",
                         lk_quote(secret_id, q, sizeof q));
    return LK_OK;
}

/* Load an access key inside txn; owner_uin != 0 must match. */
static lk_status load_ak(lk_txn *txn, const char *secret_id, uint64_t owner_uin, ak_rec *out)
{
    char key[LK_KEYBUF];
    const char *v;
    size_t vl;

    lk_key_ak(key, secret_id);
    lk_status st = lk_txn_get(txn, key, &v, &vl);
    if (st == LK_ERR_NOT_FOUND)
        return lk_seterr(LK_ERR_KEY_NOT_EXIST, "access key %s does not exist", secret_id);
    if (st != LK_OK)
        return st;
    if ((st = decode_ak(secret_id, v, vl, out)) != LK_OK)
        return st;
    if (owner_uin != 0 && out->info.uin != owner_uin)
        return lk_seterr(LK_ERR_UIN_NOT_MATCH, "access key %s does not belong to user %" PRIu64, secret_id, owner_uin);
    return LK_OK;
}

lk_status lk_key_create(lk_ctx *ctx, uint64_t uin, lk_access_key *out, lk_secret **secret_key)
{
    lk_txn txn;
    lk_user user;
    ak_rec r;
    char key[LK_KEYBUF];
    size_t count;

    *secret_key = NULL;
    if (!lk_uin_ok(uin))
        return lk_seterr(LK_ERR_PARAM, "UIN %" PRIu64 " is out of range", uin);

    /* Cheap checks first so a refused create costs no Argon2id. */
    lk_status st = lk_txn_begin(ctx, false, &txn);
    if (st != LK_OK)
        return st;
    st = lk_user_load(&txn, uin, &user);
    lk_txn_abort(&txn);
    if (st != LK_OK)
        return st;

    lk_secret *sk = lk_secret_new(LK_SECRET_KEY_LEN);
    if (sk == NULL)
        return lk_seterr(LK_ERR_NOMEM, "out of guarded memory for the SecretKey");
    lk_keyfmt_new_secret_key(sk->str);
    memset(&r, 0, sizeof r);
    /* Hash outside the write transaction: Argon2id is slow and the writer lock is shared. */
    if ((st = lk_hash_secret(&ctx->cfg, sk->str, sk->len, r.hash, sizeof r.hash)) != LK_OK)
        goto fail;
    r.info.uin = uin;
    r.info.status = LK_KEY_ACTIVE;
    r.info.create_time = lk_now(ctx);

    if ((st = lk_txn_begin(ctx, true, &txn)) != LK_OK)
        goto fail;
    /* Re-check inside the write txn: another process may have changed things. */
    if ((st = lk_user_load(&txn, uin, &user)) != LK_OK)
        goto abort;
    lk_key_ak_index(key, uin, "");
    if ((st = lk_txn_count(&txn, key, &count)) != LK_OK)
        goto abort;
    if (count >= ctx->cfg.keys_per_user) {
        st = lk_seterr(LK_ERR_KEY_OVER_LIMIT, "user %" PRIu64 " already has %zu access key(s); the limit is %u", uin,
                       count, ctx->cfg.keys_per_user);
        goto abort;
    }
    for (int tries = 0;; tries++) { /* 155 bits of id: a collision means a broken RNG */
        const char *v;
        size_t vl;
        lk_keyfmt_new_secret_id(r.info.secret_id);
        lk_key_ak(key, r.info.secret_id);
        st = lk_txn_get(&txn, key, &v, &vl);
        if (st == LK_ERR_NOT_FOUND)
            break;
        if (st != LK_OK)
            goto abort;
        if (tries == 3) {
            st = lk_seterr(LK_ERR_INTERNAL, "could not generate a unique SecretId");
            goto abort;
        }
    }
    if ((st = put_ak(&txn, &r)) != LK_OK)
        goto abort;
    lk_key_ak_index(key, uin, r.info.secret_id);
    if ((st = lk_txn_put_raw(&txn, key, "", 0)) != LK_OK)
        goto abort;
    if ((st = lk_txn_commit(&txn)) != LK_OK)
        goto fail;
    if (out)
        *out = r.info;
    *secret_key = sk;
    return LK_OK;
abort:
    lk_txn_abort(&txn);
fail:
    lk_secret_free(sk);
    return st;
}

lk_status lk_key_get(lk_ctx *ctx, const char *secret_id, lk_access_key *out)
{
    lk_txn txn;
    ak_rec r;
    lk_status st = check_secret_id(secret_id);
    if (st != LK_OK)
        return st;
    if ((st = lk_txn_begin(ctx, false, &txn)) != LK_OK)
        return st;
    st = load_ak(&txn, secret_id, 0, &r);
    if (st == LK_OK) {
        r.info.last_access_time = lk_last_access(ctx, &txn, secret_id);
        *out = r.info;
    }
    lk_txn_abort(&txn);
    return st;
}

typedef struct ak_list {
    lk_txn *txn;
    size_t skip;
    lk_access_key *items;
    size_t n, cap;
    lk_status st;
} ak_list;

static int list_cb(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    ak_list *l = arg;
    char id[LK_SECRET_ID_LEN + 1];
    ak_rec r;
    (void)v, (void)vl;

    if (kl - l->skip != LK_SECRET_ID_LEN) {
        l->st = lk_seterr(LK_ERR_STORE, "corrupt access key index in store");
        return 1;
    }
    memcpy(id, k + l->skip, LK_SECRET_ID_LEN);
    id[LK_SECRET_ID_LEN] = '\0';
    void *grown = lk_grow(l->items, &l->cap, l->n, sizeof *l->items, 4);
    if (grown == NULL) {
        l->st = lk_seterr(LK_ERR_NOMEM, "out of memory listing keys");
        return 1;
    }
    l->items = grown;
    /* Index entries point at the key record; pointers from the scan stay
     * valid while we read another key in the same read transaction. */
    if ((l->st = load_ak(l->txn, id, 0, &r)) != LK_OK)
        return 1;
    l->items[l->n++] = r.info;
    return 0;
}

lk_status lk_key_list(lk_ctx *ctx, uint64_t uin, lk_access_key **out, size_t *count)
{
    lk_txn txn;
    lk_user user;
    char prefix[LK_KEYBUF];

    *out = NULL;
    *count = 0;
    if (!lk_uin_ok(uin))
        return lk_seterr(LK_ERR_PARAM, "UIN %" PRIu64 " is out of range", uin);
    lk_status st = lk_txn_begin(ctx, false, &txn);
    if (st != LK_OK)
        return st;
    ak_list l = {.txn = &txn};
    if ((st = lk_user_load(&txn, uin, &user)) != LK_OK)
        goto out;
    lk_key_ak_index(prefix, uin, "");
    l.skip = strlen(prefix);
    st = lk_txn_scan(&txn, prefix, list_cb, &l);
    if (st == LK_OK)
        st = l.st;
    if (st == LK_OK) {
        for (size_t i = 0; i < l.n; i++)
            l.items[i].last_access_time = lk_last_access(ctx, &txn, l.items[i].secret_id);
        *out = l.items;
        *count = l.n;
        l.items = NULL;
    }
out:
    free(l.items);
    lk_txn_abort(&txn);
    return st;
}

lk_status lk_key_set_status(lk_ctx *ctx, const char *secret_id, uint64_t owner_uin, lk_key_status status)
{
    lk_txn txn;
    ak_rec r;
    lk_status st = check_secret_id(secret_id);
    if (st != LK_OK)
        return st;
    if (status != LK_KEY_ACTIVE && status != LK_KEY_INACTIVE)
        return lk_seterr(LK_ERR_PARAM, "unknown key status %d", (int)status);
    if ((st = lk_txn_begin(ctx, true, &txn)) != LK_OK)
        return st;
    if ((st = load_ak(&txn, secret_id, owner_uin, &r)) != LK_OK)
        goto abort;
    if (r.info.status == status) { /* nothing to change; not an error */
        lk_txn_abort(&txn);
        return LK_OK;
    }
    r.info.status = status;
    if ((st = put_ak(&txn, &r)) != LK_OK)
        goto abort;
    st = lk_txn_commit(&txn);
    if (st == LK_OK)
        lk_cache_evict(ctx->cache, secret_id);
    return st;
abort:
    lk_txn_abort(&txn);
    return st;
}

lk_status lk_key_delete(lk_ctx *ctx, const char *secret_id, uint64_t owner_uin)
{
    lk_txn txn;
    ak_rec r;
    char key[LK_KEYBUF];
    lk_status st = check_secret_id(secret_id);
    if (st != LK_OK)
        return st;
    if ((st = lk_txn_begin(ctx, true, &txn)) != LK_OK)
        return st;
    if ((st = load_ak(&txn, secret_id, owner_uin, &r)) != LK_OK)
        goto abort;
    if (r.info.status == LK_KEY_ACTIVE) {
        st = lk_seterr(LK_ERR_KEY_ENABLED, "access key %s is enabled: disable it before deleting", secret_id);
        goto abort;
    }
    lk_key_ak(key, secret_id);
    if ((st = lk_txn_del(&txn, key)) != LK_OK)
        goto abort;
    lk_key_ak_index(key, r.info.uin, secret_id);
    if ((st = lk_txn_del(&txn, key)) != LK_OK && st != LK_ERR_NOT_FOUND)
        goto abort;
    if ((st = lk_records_delete(ctx, &txn, secret_id)) != LK_OK)
        goto abort;
    st = lk_txn_commit(&txn);
    if (st == LK_OK)
        lk_cache_evict(ctx->cache, secret_id);
    return st;
abort:
    lk_txn_abort(&txn);
    return st;
}

/* Verification of a pair lives here because it needs the record's layout. */
lk_status lk_verify_key(lk_ctx *ctx, const char *secret_id, const char *secret_key, size_t secret_len,
                        const lk_verify_req *req, lk_verify_info *info)
{
    lk_txn txn;
    ak_rec r;

    if (info)
        memset(info, 0, sizeof *info);
    if (secret_id == NULL || !lk_keyfmt_secret_id_ok(secret_id, strlen(secret_id))) {
        atomic_fetch_add(&ctx->st_early, 1);
        return lk_seterr(LK_DENY_MALFORMED, "malformed SecretId");
    }
    /* A SecretKey that fails its checksum cannot match: no Argon2id, but for a
     * known key it is a wrong secret, and recorded like one. */
    bool secret_well_formed = secret_key != NULL && lk_keyfmt_secret_key_ok(secret_key, secret_len);
    lk_status st = lk_txn_begin(ctx, false, &txn);
    if (st != LK_OK)
        return st;
    st = load_ak(&txn, secret_id, 0, &r);
    lk_txn_abort(&txn);
    if (st == LK_ERR_KEY_NOT_EXIST) {
        atomic_fetch_add(&ctx->st_early, 1);
        return lk_seterr(LK_DENY_UNKNOWN_KEY, "SecretId %s does not exist", secret_id);
    }
    if (st != LK_OK)
        return st;
    if (info) {
        info->uin = r.info.uin;
        snprintf(info->key_id, sizeof info->key_id, "%s", secret_id);
    }
    if (r.info.status != LK_KEY_ACTIVE) {
        st = lk_seterr(LK_DENY_DISABLED, "access key %s is disabled", secret_id);
    } else if (!secret_well_formed) {
        atomic_fetch_add(&ctx->st_early, 1);
        st = lk_seterr(LK_DENY_BAD_SECRET, "malformed SecretKey for %s (bad length, prefix or checksum)", secret_id);
    } else if (lk_cache_check(ctx->cache, secret_id, r.hash, secret_key, secret_len)) {
        atomic_fetch_add(&ctx->st_cache_hits, 1);
        st = LK_OK;
    } else {
        atomic_fetch_add(&ctx->st_argon2, 1);
        if (lk_hash_verify(r.hash, secret_key, secret_len)) {
            lk_cache_put(ctx->cache, secret_id, r.hash, secret_key, secret_len);
            st = LK_OK;
        } else {
            st = lk_seterr(LK_DENY_BAD_SECRET, "wrong SecretKey for %s", secret_id);
        }
    }
    lk_record_attempt(ctx, secret_id, req, st);
    return st;
}
