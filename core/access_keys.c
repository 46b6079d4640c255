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
    int64_t revoked;                       /* when lk_revoke_user disabled it; 0: not */
    char next[LK_SECRET_ID_LEN + 1];       /* the pair a rotation made from it; "": none */
} ak_rec;

static lk_status decode_ak(const char *id, const char *v, size_t vl, ak_rec *out)
{
    /* one pass over the record (this runs on every verify) */
    static const char *const names[] = {"uin", "status", "created", "hash", "expires", "revoked", "next"};
    const char *f[7];
    size_t fl[7];
    uint64_t status;

    memset(out, 0, sizeof *out);
    uint32_t found = lk_rec_find_many(v, vl, names, 7, f, fl);
    if ((found & 0xf) != 0xf || !lk_rec_parse_u64(f[0], fl[0], &out->info.uin) ||
        !lk_rec_parse_u64(f[1], fl[1], &status) || status > 1 ||
        !lk_rec_parse_i64(f[2], fl[2], &out->info.create_time) ||
        !lk_rec_unescape(f[3], fl[3], out->hash, sizeof out->hash) ||
        ((found & 0x10) && (!lk_rec_parse_i64(f[4], fl[4], &out->info.expire_time) || out->info.expire_time < 0)) ||
        ((found & 0x20) && !lk_rec_parse_i64(f[5], fl[5], &out->revoked)) ||
        ((found & 0x40) && !lk_rec_unescape(f[6], fl[6], out->next, sizeof out->next)))
        return lk_seterr(LK_ERR_STORE, "corrupt access key record %s", id);
    out->info.status = (lk_key_status)status;
    size_t il = strnlen(id, sizeof out->info.secret_id - 1);
    memcpy(out->info.secret_id, id, il);
    out->info.secret_id[il] = '\0';
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
    if (r->info.expire_time != LK_EXPIRES_NEVER) /* absent means never: records of older versions load unchanged */
        lk_rec_add_i64(&rec, "expires", r->info.expire_time);
    if (r->revoked != 0)
        lk_rec_add_i64(&rec, "revoked", r->revoked);
    if (r->next[0] != '\0')
        lk_rec_add(&rec, "next", r->next);
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

/* A new pair for uin, inside the open write txn: the limit, a unique id, the
 * record and its index. r holds the hash and the fields; gets the id. */
static lk_status insert_new_ak(lk_ctx *ctx, lk_txn *txn, ak_rec *r)
{
    char key[LK_KEYBUF];
    size_t count;
    uint64_t uin = r->info.uin;
    lk_key_ak_index(key, uin, "");
    lk_status st = lk_txn_count(txn, key, &count);
    if (st != LK_OK)
        return st;
    if (count >= ctx->cfg.keys_per_user)
        return lk_seterr(LK_ERR_KEY_OVER_LIMIT, "user %" PRIu64 " already has %zu access key(s); the limit is %u", uin,
                         count, ctx->cfg.keys_per_user);
    for (int tries = 0;; tries++) { /* 155 bits of id: a collision means a broken RNG */
        const char *v;
        size_t vl;
        lk_keyfmt_new_secret_id(r->info.secret_id);
        lk_key_ak(key, r->info.secret_id);
        st = lk_txn_get(txn, key, &v, &vl);
        if (st == LK_ERR_NOT_FOUND)
            break;
        if (st != LK_OK)
            return st;
        if (tries == 3)
            return lk_seterr(LK_ERR_INTERNAL, "could not generate a unique SecretId");
    }
    if ((st = put_ak(txn, r)) != LK_OK)
        return st;
    lk_key_ak_index(key, uin, r->info.secret_id);
    return lk_txn_put_raw(txn, key, "", 0);
}

/* A fresh SecretKey and its hash (outside any write txn: Argon2id is slow
 * and the writer lock is shared). */
static lk_status new_secret_key(lk_ctx *ctx, ak_rec *r, lk_secret **out)
{
    lk_secret *sk = lk_secret_new(LK_SECRET_KEY_LEN);
    *out = NULL;
    if (sk == NULL)
        return lk_seterr(LK_ERR_NOMEM, "out of guarded memory for the SecretKey");
    lk_keyfmt_new_secret_key(sk->str);
    lk_status st = lk_hash_secret(&ctx->cfg, sk->str, sk->len, r->hash, sizeof r->hash);
    if (st != LK_OK) {
        lk_secret_free(sk);
        return st;
    }
    *out = sk;
    return LK_OK;
}

/* Store the new pair r (hashed) inside the write txn, with its audit
 * entry. The owner is (re-)checked here: another process may have changed
 * things since a read txn looked, and an import's earlier lines count. */
static lk_status new_ak_insert(lk_ctx *ctx, lk_txn *txn, ak_rec *r)
{
    lk_user user;
    lk_status st = lk_user_load(txn, r->info.uin, &user);
    if (st == LK_OK)
        st = insert_new_ak(ctx, txn, r);
    char when[LK_TIME_STRLEN];
    if (st == LK_OK)
        st = lk_audit(ctx, txn, "key.create", r->info.secret_id, r->info.uin, "expiry %s",
                      lk_expiry_words(r->info.expire_time, when));
    return st;
}

/* ------------------------------------------------------------ drafts (lk_import) */

struct lk_ak_draft {
    ak_rec r;
};

lk_status lk_ak_draft_new(lk_ctx *ctx, uint64_t uin, int64_t expire_time, lk_ak_draft **out)
{
    *out = NULL;
    if (!lk_uin_ok(uin))
        return lk_seterr(LK_ERR_PARAM, "UIN %" PRIu64 " is out of range", uin);
    lk_status st = lk_expiry_check_new(ctx, expire_time);
    if (st != LK_OK)
        return st;
    lk_ak_draft *d = calloc(1, sizeof *d);
    if (d == NULL)
        return lk_seterr(LK_ERR_NOMEM, "out of memory");
    d->r.info.uin = uin;
    d->r.info.status = LK_KEY_ACTIVE;
    d->r.info.create_time = lk_now(ctx);
    d->r.info.expire_time = expire_time;
    *out = d;
    return LK_OK;
}

lk_status lk_ak_draft_hash(lk_ctx *ctx, lk_ak_draft *d, lk_secret **secret)
{
    return new_secret_key(ctx, &d->r, secret);
}

lk_status lk_ak_draft_insert(lk_ctx *ctx, lk_txn *txn, lk_ak_draft *d, char id[LK_SECRET_ID_LEN + 1])
{
    lk_status st = new_ak_insert(ctx, txn, &d->r);
    memcpy(id, d->r.info.secret_id, LK_SECRET_ID_LEN + 1);
    return st;
}

void lk_ak_draft_free(lk_ak_draft *d)
{
    if (d != NULL)
        sodium_memzero(&d->r, sizeof d->r);
    free(d);
}

lk_status lk_key_create(lk_ctx *ctx, uint64_t uin, lk_access_key *out, lk_secret **secret_key)
{
    return lk_key_create_expiring(ctx, uin, 0, out, secret_key);
}

lk_status lk_key_create_expiring(lk_ctx *ctx, uint64_t uin, int64_t expire_time, lk_access_key *out,
                                 lk_secret **secret_key)
{
    LK_REMOTE_CALL(ctx, key_create, uin, expire_time, out, secret_key);
    lk_txn txn;
    lk_user user;
    ak_rec r;

    *secret_key = NULL;
    if (!lk_uin_ok(uin))
        return lk_seterr(LK_ERR_PARAM, "UIN %" PRIu64 " is out of range", uin);
    lk_status st0 = lk_expiry_check_new(ctx, expire_time);
    if (st0 != LK_OK)
        return st0;

    /* Cheap checks first so a refused create costs no Argon2id. */
    lk_status st = lk_txn_begin(ctx, false, &txn);
    if (st != LK_OK)
        return st;
    st = lk_user_load(&txn, uin, &user);
    lk_txn_abort(&txn);
    if (st != LK_OK)
        return st;

    lk_secret *sk;
    memset(&r, 0, sizeof r);
    if ((st = new_secret_key(ctx, &r, &sk)) != LK_OK)
        return st;
    r.info.uin = uin;
    r.info.status = LK_KEY_ACTIVE;
    r.info.create_time = lk_now(ctx);
    r.info.expire_time = expire_time;

    if ((st = lk_txn_begin(ctx, true, &txn)) != LK_OK)
        goto fail;
    if ((st = new_ak_insert(ctx, &txn, &r)) != LK_OK)
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

/* A pair's record, read in a read txn of its own, with its last access time. */
static lk_status read_ak(lk_ctx *ctx, const char *secret_id, ak_rec *r)
{
    lk_txn txn;
    lk_status st = check_secret_id(secret_id);
    if (st != LK_OK)
        return st;
    if ((st = lk_txn_begin(ctx, false, &txn)) != LK_OK)
        return st;
    st = load_ak(&txn, secret_id, 0, r);
    if (st == LK_OK)
        r->info.last_access_time = lk_last_access(ctx, &txn, secret_id);
    lk_txn_abort(&txn);
    return st;
}

lk_status lk_key_get(lk_ctx *ctx, const char *secret_id, lk_access_key *out)
{
    LK_REMOTE_CALL(ctx, key_get, secret_id, out);
    ak_rec r;
    lk_status st = read_ak(ctx, secret_id, &r);
    if (st == LK_OK)
        *out = r.info;
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
    LK_REMOTE_CALL(ctx, key_list, uin, out, count);
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
    LK_REMOTE_CALL(ctx, key_set_status, secret_id, owner_uin, status);
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
    if (status == LK_KEY_ACTIVE)
        r.revoked = 0; /* an operator's enable ends what a revoke started */
    if ((st = put_ak(&txn, &r)) != LK_OK)
        goto abort;
    if ((st = lk_audit(ctx, &txn, status == LK_KEY_ACTIVE ? "key.enable" : "key.disable", secret_id, r.info.uin,
                       "status %s \u2192 %s", lk_key_status_name(r.info.status == LK_KEY_ACTIVE ? LK_KEY_INACTIVE
                                                                                                   : LK_KEY_ACTIVE),
                       lk_key_status_name(status))) != LK_OK)
        goto abort;
    st = lk_txn_commit(&txn);
    if (st == LK_OK)
        lk_cache_evict(ctx->cache, secret_id);
    return st;
abort:
    lk_txn_abort(&txn);
    return st;
}

lk_status lk_key_set_expiry(lk_ctx *ctx, const char *secret_id, uint64_t owner_uin, int64_t expire_time)
{
    LK_REMOTE_CALL(ctx, key_set_expiry, secret_id, owner_uin, expire_time);
    LK_LOCAL_ONLY(ctx);
    lk_txn txn;
    ak_rec r;
    char was[LK_TIME_STRLEN], now[LK_TIME_STRLEN];
    lk_status st = check_secret_id(secret_id);
    if (st != LK_OK)
        return st;
    if (expire_time < 0)
        return lk_seterr(LK_ERR_PARAM, "expiry %s is before 1970", lk_fmt_time(expire_time, was));
    if ((st = lk_txn_begin(ctx, true, &txn)) != LK_OK)
        return st;
    if ((st = load_ak(&txn, secret_id, owner_uin, &r)) == LK_OK) {
        lk_expiry_words(r.info.expire_time, was);
        r.info.expire_time = expire_time;
        st = put_ak(&txn, &r);
    }
    if (st == LK_OK)
        st = lk_audit(ctx, &txn, "key.edit", secret_id, r.info.uin, "expiry %s \u2192 %s", was,
                      lk_expiry_words(expire_time, now));
    sodium_memzero(r.hash, sizeof r.hash);
    if (st != LK_OK) {
        lk_txn_abort(&txn);
        return st;
    }
    return lk_txn_commit(&txn);
}

/* The checks of a rotation of old, inside txn (read or write): the key's
 * state, the limit; sets *new_expiry. */
static lk_status rotate_check(lk_ctx *ctx, lk_txn *txn, const ak_rec *old, const lk_rotate_opts *o,
                              int64_t *new_expiry)
{
    char key[LK_KEYBUF], next_key[LK_KEYBUF];
    size_t count;
    lk_key_ak(next_key, old->next);
    lk_rotation_state rs = {.what = "access key", .id = old->info.secret_id, .revoked = old->revoked,
                            .next = old->next, .next_key = next_key, .expire_time = old->info.expire_time};
    lk_status st = lk_rotation_plan(ctx, txn, &rs, o, new_expiry);
    if (st != LK_OK)
        return st;
    lk_key_ak_index(key, old->info.uin, "");
    if ((st = lk_txn_count(txn, key, &count)) == LK_OK && count >= ctx->cfg.keys_per_user)
        st = lk_seterr(LK_ERR_KEY_OVER_LIMIT,
                       "user %" PRIu64 " already holds %zu access key(s), the limit (%u): delete one (disable, "
                       "then delete) before rotating %s",
                       old->info.uin, count, ctx->cfg.keys_per_user, old->info.secret_id);
    return st;
}

lk_status lk_key_rotate(lk_ctx *ctx, const char *secret_id, uint64_t owner_uin, int64_t grace_seconds,
                        int64_t new_expire_time, lk_access_key *out, lk_secret **secret_key)
{
    lk_rotate_opts o = {.grace_seconds = grace_seconds, .set_expiry = 1, .expire_time = new_expire_time};
    return lk_key_rotate_with(ctx, secret_id, owner_uin, &o, out, secret_key);
}

lk_status lk_key_rotate_with(lk_ctx *ctx, const char *secret_id, uint64_t owner_uin, const lk_rotate_opts *o,
                             lk_access_key *out, lk_secret **secret_key)
{
    LK_REMOTE_CALL(ctx, key_rotate, secret_id, owner_uin, o, out, secret_key);
    LK_LOCAL_ONLY(ctx);
    lk_txn txn;
    ak_rec old, r;
    lk_secret *sk = NULL;
    int64_t old_expiry, new_expiry;

    *secret_key = NULL;
    memset(&old, 0, sizeof old);
    lk_status st = check_secret_id(secret_id);
    if (st != LK_OK)
        return st;
    if (o == NULL)
        return lk_seterr(LK_ERR_PARAM, "no rotation options given");
    /* Cheap refusals (no such key, the limit) before the Argon2id. */
    if ((st = lk_txn_begin(ctx, false, &txn)) != LK_OK)
        return st;
    st = load_ak(&txn, secret_id, owner_uin, &old);
    if (st == LK_OK)
        st = lk_expiry_after_grace(ctx, old.info.expire_time, o->grace_seconds, &old_expiry);
    if (st == LK_OK)
        st = rotate_check(ctx, &txn, &old, o, &new_expiry);
    lk_txn_abort(&txn);
    if (st != LK_OK)
        goto out;

    memset(&r, 0, sizeof r);
    if ((st = new_secret_key(ctx, &r, &sk)) != LK_OK)
        goto out;
    if ((st = lk_txn_begin(ctx, true, &txn)) != LK_OK)
        goto out;
    /* Everything again inside the write txn: the key may have changed meanwhile. */
    if ((st = load_ak(&txn, secret_id, owner_uin, &old)) != LK_OK ||
        (st = lk_expiry_after_grace(ctx, old.info.expire_time, o->grace_seconds, &old_expiry)) != LK_OK ||
        (st = rotate_check(ctx, &txn, &old, o, &new_expiry)) != LK_OK) {
        lk_txn_abort(&txn);
        goto out;
    }
    r.info.uin = old.info.uin;
    r.info.status = LK_KEY_ACTIVE;
    r.info.create_time = lk_now(ctx);
    r.info.expire_time = new_expiry;
    if ((st = insert_new_ak(ctx, &txn, &r)) != LK_OK) {
        lk_txn_abort(&txn);
        goto out;
    }
    int64_t was_expiry = old.info.expire_time;
    char was[LK_TIME_STRLEN], now[LK_TIME_STRLEN];
    old.info.expire_time = old_expiry;
    memcpy(old.next, r.info.secret_id, sizeof old.next);
    if ((st = put_ak(&txn, &old)) != LK_OK ||
        (st = lk_audit(ctx, &txn, "key.rotate", secret_id, old.info.uin, "replaced by %s; expiry %s \u2192 %s%s",
                       r.info.secret_id, lk_expiry_words(was_expiry, was), lk_expiry_words(old_expiry, now),
                       old.revoked ? "; rotated although revoked (--force)" : "")) != LK_OK ||
        (st = lk_audit(ctx, &txn, "key.create", r.info.secret_id, r.info.uin, "rotated from %s; expiry %s%s", secret_id,
                       lk_expiry_words(new_expiry, now), o->set_expiry ? "" : " (carried over)")) != LK_OK) {
        lk_txn_abort(&txn);
        goto out;
    }
    if ((st = lk_txn_commit(&txn)) != LK_OK)
        goto out;
    if (out)
        *out = r.info;
    *secret_key = sk;
    sk = NULL;
out:
    lk_secret_free(sk);
    sodium_memzero(old.hash, sizeof old.hash);
    return st;
}

lk_status lk_key_load(lk_txn *txn, const char *secret_id, lk_access_key *out)
{
    ak_rec r;
    lk_status st = load_ak(txn, secret_id, 0, &r);
    if (st == LK_OK)
        *out = r.info;
    sodium_memzero(r.hash, sizeof r.hash);
    return st;
}

lk_status lk_key_disable_in(lk_txn *txn, const char *secret_id, bool *changed)
{
    ak_rec r;
    *changed = false;
    lk_status st = load_ak(txn, secret_id, 0, &r);
    if (st == LK_OK && (r.info.status == LK_KEY_ACTIVE || r.revoked == 0)) {
        bool was_active = r.info.status == LK_KEY_ACTIVE;
        r.info.status = LK_KEY_INACTIVE;
        if (r.revoked == 0) /* so that no rotation hands out a working key again */
            r.revoked = lk_now(txn->ctx) > 0 ? lk_now(txn->ctx) : 1;
        st = put_ak(txn, &r);
        *changed = st == LK_OK && was_active;
    }
    sodium_memzero(r.hash, sizeof r.hash);
    return st;
}

lk_status lk_key_delete(lk_ctx *ctx, const char *secret_id, uint64_t owner_uin)
{
    LK_REMOTE_CALL(ctx, key_delete, secret_id, owner_uin);
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
    if ((st = lk_audit(ctx, &txn, "key.delete", secret_id, r.info.uin, "%s", "")) != LK_OK)
        goto abort;
    st = lk_txn_commit(&txn);
    if (st == LK_OK)
        lk_cache_evict(ctx->cache, secret_id);
    return st;
abort:
    lk_txn_abort(&txn);
    return st;
}

lk_status lk_key_matches(lk_ctx *ctx, const char *secret_id, const char *secret_key, size_t secret_len)
{
    LK_LOCAL_ONLY(ctx);
    ak_rec r;
    memset(&r, 0, sizeof r);
    lk_status st = read_ak(ctx, secret_id, &r);
    if (st == LK_OK && secret_key != NULL && lk_keyfmt_secret_key_ok(secret_key, secret_len)) {
        atomic_fetch_add(&ctx->st_argon2, 1);
        if (!lk_hash_verify(r.hash, secret_key, secret_len))
            st = lk_seterr(LK_DENY_BAD_SECRET, "the SecretKey is not that of access key %s", secret_id);
    } else if (st == LK_OK) {
        st = lk_seterr(LK_DENY_BAD_SECRET, "malformed SecretKey for %s", secret_id);
    }
    sodium_memzero(r.hash, sizeof r.hash);
    return st;
}

/* What a wrong SecretKey gets, and so does every request refused before its
 * secret was checked (the key disabled): a caller that has not proven it
 * holds the key must not learn the key's state (issue 19). */
static lk_status wrong_secret(const char *secret_id)
{
    return lk_seterr(LK_DENY_BAD_SECRET,
                     "wrong SecretKey for %s, or a request the key's state or rules refuse (its access records say "
                     "which)",
                     secret_id);
}

/* Verification of a pair lives here because it needs the record's layout.
 * cached_only: stop with LK_ERR_NEEDS_HASH where an Argon2id would run. */
static lk_status verify_key(lk_ctx *ctx, const char *secret_id, const char *secret_key, size_t secret_len,
                            const lk_verify_req *req, lk_verify_info *info, bool cached_only)
{
    lk_txn txn;
    ak_rec r;
    const char *login = req ? req->login : NULL;
    bool login_match = true;

    if (info)
        memset(info, 0, sizeof *info);
    lk_cidr client_ip;
    bool has_ip;
    lk_status req_st = lk_verify_req_parse(req, &client_ip, &has_ip); /* the caller's error: no lookup, no record */
    if (req_st != LK_OK)
        return req_st;
    if (secret_id == NULL || !lk_keyfmt_secret_id_ok(secret_id, strlen(secret_id))) {
        atomic_fetch_add(&ctx->st_early, 1);
        return lk_seterr_id(LK_DENY_MALFORMED, "malformed SecretId", "", "");
    }
    lk_status st = lk_txn_begin(ctx, false, &txn);
    if (st != LK_OK)
        return st;
    st = load_ak(&txn, secret_id, 0, &r);
    if (st == LK_OK && login != NULL)
        st = lk_login_matches(&txn, r.info.uin, secret_id, login, &login_match);
    lk_txn_abort(&txn);
    if (st == LK_ERR_KEY_NOT_EXIST) {
        atomic_fetch_add(&ctx->st_early, 1);
        return lk_seterr_id(LK_DENY_UNKNOWN_KEY, "SecretId ", secret_id, " does not exist");
    }
    if (st != LK_OK)
        return st;
    /* A SecretKey that fails its checksum cannot match: no Argon2id, but for a
     * known key it is a wrong secret, and recorded like one. Checked once
     * the key is found: an unknown id's reject skips it. */
    bool secret_well_formed = secret_key != NULL && lk_keyfmt_secret_key_ok(secret_key, secret_len);
    if (info) {
        info->uin = r.info.uin;
        snprintf(info->key_id, sizeof info->key_id, "%s", secret_id);
    }
    /* A disabled key is refused without Argon2id and whatever the secret,
     * so the secret is unproven: answered as a wrong one, recorded as
     * disabled. (A malformed secret first: its own message tells the caller
     * only about its own input, for every key alike.) */
    lk_status recorded = LK_OK;
    if (!secret_well_formed) {
        atomic_fetch_add(&ctx->st_early, 1);
        st = lk_seterr(LK_DENY_BAD_SECRET, "malformed SecretKey for %s (bad length, prefix or checksum)", secret_id);
    } else if (r.info.status != LK_KEY_ACTIVE) {
        recorded = LK_DENY_DISABLED;
        st = wrong_secret(secret_id);
    } else if (lk_cache_check(ctx->cache, secret_id, r.hash, secret_key, secret_len)) {
        /* A hash to upgrade costs Argon2id: not on latchkeyd's request thread. */
        if (cached_only && lk_hash_outdated(ctx, r.hash))
            return lk_seterr(LK_ERR_NEEDS_HASH, "access key %s: the stored hash is to be upgraded", secret_id);
        atomic_fetch_add(&ctx->st_cache_hits, 1);
        st = LK_OK;
    } else if (cached_only) {
        return lk_seterr(LK_ERR_NEEDS_HASH, "access key %s: the secret needs an Argon2id verification", secret_id);
    } else {
        atomic_fetch_add(&ctx->st_argon2, 1);
        if (lk_hash_verify(r.hash, secret_key, secret_len)) {
            lk_cache_put(ctx->cache, secret_id, r.hash, secret_key, secret_len);
            st = LK_OK;
        } else {
            st = wrong_secret(secret_id);
        }
    }
    if (st == LK_OK)
        st = lk_expiry_verdict(ctx, secret_id, r.info.expire_time);
    if (st == LK_OK)
        st = lk_login_verdict(secret_id, login, login_match);
    if (st == LK_OK && lk_hash_outdated(ctx, r.hash)) { /* only after the right secret */
        char key[LK_KEYBUF];
        lk_key_ak(key, secret_id);
        lk_hash_upgrade(ctx, secret_id, key, r.hash, secret_key, secret_len);
    }
    sodium_memzero(r.hash, sizeof r.hash);
    lk_record_attempt(ctx, secret_id, req, has_ip ? &client_ip : NULL, recorded != LK_OK ? recorded : st);
    return st;
}

lk_status lk_verify_key(lk_ctx *ctx, const char *secret_id, const char *secret_key, size_t secret_len,
                        const lk_verify_req *req, lk_verify_info *info)
{
    LK_REMOTE_CALL(ctx, verify_key, secret_id, secret_key, secret_len, req, info);
    return verify_key(ctx, secret_id, secret_key, secret_len, req, info, false);
}

lk_status lk_verify_key_cached(lk_ctx *ctx, const char *secret_id, const char *secret_key, size_t secret_len,
                               const lk_verify_req *req, lk_verify_info *info)
{
    LK_LOCAL_ONLY(ctx);
    return verify_key(ctx, secret_id, secret_key, secret_len, req, info, true);
}
