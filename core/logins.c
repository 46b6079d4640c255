/*
 * logins.c — login names: the binding of a latchkey user to a host account
 * (a Unix user name), and the identity checks hosts make with it.
 *
 * A PAM host authenticates a user *name*; a credential alone says nothing
 * about which name it may log in as. The binding answers that: a credential
 * may act as its own public id, or as the login bound to its owner (for an
 * API key, its root account). Index: ul/LOGIN → uin.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lk_internal.h"

static bool login_char_ok(unsigned char c, bool first)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')
        return true;
    return !first && (c == '.' || c == '-');
}

bool lk_login_ok(const char *login)
{
    size_t n = login ? strlen(login) : 0;
    if (n == 0 || n > LK_LOGIN_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!login_char_ok((unsigned char)login[i], i == 0))
            return false;
    /* A name shaped like a credential id would make "the credential's own
     * public id" ambiguous: another user's key could claim it. */
    if (strncmp(login, LK_APIKEY_PREFIX, LK_APIKEY_PREFIX_LEN) == 0)
        return false;
    if (n == LK_SECRET_ID_LEN && strncmp(login, LK_SECRET_ID_PREFIX, LK_PREFIX_LEN) == 0)
        return false;
    return true;
}

lk_status lk_login_invalid(const char *login)
{
    char q[64];
    return lk_seterr(LK_ERR_PARAM,
                     "login '%s' is not a valid login name (1-%d of A-Z a-z 0-9 _ . -, not starting with . or -, "
                     "not shaped like a SecretId or an API key id)",
                     lk_quote(login ? login : "", q, sizeof q), LK_LOGIN_MAX);
}

static lk_status login_owner(lk_txn *txn, const char *login, uint64_t *uin)
{
    char key[LK_KEYBUF];
    const char *v, *f;
    size_t vl, fl;

    lk_key_login(key, login);
    lk_status st = lk_txn_get(txn, key, &v, &vl);
    if (st != LK_OK)
        return st;
    if (!lk_rec_find(v, vl, "uin", &f, &fl) || !lk_rec_parse_u64(f, fl, uin))
        return lk_seterr(LK_ERR_STORE, "corrupt login index entry for '%s'", login);
    return LK_OK;
}

lk_status lk_login_bind(lk_txn *txn, uint64_t uin, const char *login)
{
    char key[LK_KEYBUF];
    uint64_t holder;

    lk_status st = login_owner(txn, login, &holder);
    if (st == LK_OK)
        return holder == uin ? LK_OK
                             : lk_seterr(LK_ERR_LOGIN_EXISTS, "login '%s' is already bound to user %" PRIu64, login,
                                         holder);
    if (st != LK_ERR_NOT_FOUND)
        return st;
    lk_rec rec;
    lk_rec_init(&rec);
    lk_rec_add_u64(&rec, "uin", uin);
    lk_key_login(key, login);
    st = lk_txn_put(txn, key, &rec);
    lk_rec_free(&rec);
    return st;
}

lk_status lk_login_unbind(lk_txn *txn, const char *login)
{
    char key[LK_KEYBUF];
    lk_key_login(key, login);
    lk_status st = lk_txn_del(txn, key);
    return st == LK_ERR_NOT_FOUND ? LK_OK : st;
}

lk_status lk_login_matches(lk_txn *txn, uint64_t owner_uin, const char *key_id, const char *login, bool *match)
{
    uint64_t holder;

    *match = strcmp(login, key_id) == 0;
    if (*match || !lk_login_ok(login))
        return LK_OK;
    lk_status st = login_owner(txn, login, &holder);
    if (st == LK_ERR_NOT_FOUND)
        return LK_OK;
    if (st != LK_OK)
        return st;
    *match = holder == owner_uin;
    return LK_OK;
}

lk_status lk_login_verdict(const char *key_id, const char *login, bool match)
{
    char q[64];
    if (match)
        return LK_OK;
    return lk_seterr(LK_DENY_LOGIN, "credential %s does not belong to login '%s'", key_id,
                     lk_quote(login, q, sizeof q));
}

static lk_status find_login(lk_txn *txn, const char *login, lk_user *out)
{
    char q[64];
    uint64_t uin;

    if (login == NULL || !lk_login_ok(login))
        return lk_login_invalid(login);
    lk_status st = login_owner(txn, login, &uin);
    if (st == LK_ERR_NOT_FOUND)
        return lk_seterr(LK_ERR_USER_NOT_EXIST, "no user is bound to login '%s'", lk_quote(login, q, sizeof q));
    if (st != LK_OK)
        return st;
    return lk_user_load(txn, uin, out);
}

lk_status lk_user_find_login(lk_ctx *ctx, const char *login, lk_user *out)
{
    LK_LOCAL_ONLY(ctx);
    lk_txn txn;
    lk_status st = lk_txn_begin(ctx, false, &txn);
    if (st != LK_OK)
        return st;
    st = find_login(&txn, login, out);
    lk_txn_abort(&txn);
    return st;
}

/* Scan an index (uk/UIN/ or ua/UIN/) for one Active credential. */
typedef struct active_scan {
    lk_txn *txn;
    size_t skip;
    bool apikeys;
    bool found;
    int64_t now;
    lk_status st;
} active_scan;

static int active_cb(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    active_scan *a = arg;
    char id[LK_SECRET_ID_LEN + 1];
    (void)v, (void)vl;

    if (kl <= a->skip || kl - a->skip > LK_SECRET_ID_LEN) {
        a->st = lk_seterr(LK_ERR_STORE, "corrupt key index entry in store");
        return 1;
    }
    memcpy(id, k + a->skip, kl - a->skip);
    id[kl - a->skip] = '\0';
    lk_key_status status = LK_KEY_INACTIVE;
    int64_t expires = 0;
    if (a->apikeys) {
        lk_apikey key;
        a->st = lk_apikey_load(a->txn, id, &key);
        if (a->st == LK_OK) {
            status = key.status;
            expires = key.expire_time;
            lk_apikey_release(&key);
        }
    } else {
        lk_access_key key;
        a->st = lk_key_load(a->txn, id, &key);
        if (a->st == LK_OK) {
            status = key.status;
            expires = key.expire_time;
        }
    }
    if (a->st == LK_ERR_KEY_NOT_EXIST) /* a dangling index entry holds no credential */
        a->st = LK_OK;
    /* an expired key is refused at verify: it is no usable credential either */
    a->found = a->st == LK_OK && status == LK_KEY_ACTIVE && (expires == LK_EXPIRES_NEVER || a->now < expires);
    return a->st != LK_OK || a->found;
}

static lk_status has_active(lk_txn *txn, const char *prefix, bool apikeys, int64_t now, bool *found)
{
    active_scan a = {.txn = txn, .skip = strlen(prefix), .apikeys = apikeys, .now = now};
    lk_status st = lk_txn_scan(txn, prefix, active_cb, &a);
    *found = a.found;
    return st != LK_OK ? st : a.st;
}

lk_status lk_login_check(lk_ctx *ctx, const char *login, lk_user *out)
{
    lk_txn txn;
    lk_user u;
    char prefix[LK_KEYBUF];
    bool found = false;

    LK_REMOTE_CALL(ctx, login_check, login, out);
    lk_status st = lk_txn_begin(ctx, false, &txn);
    if (st != LK_OK)
        return st;
    st = find_login(&txn, login, &u);
    if (st == LK_OK) {
        lk_key_ak_index(prefix, u.uin, "");
        st = has_active(&txn, prefix, false, lk_now(ctx), &found);
    }
    if (st == LK_OK && !found && u.kind == LK_USER_ROOT) {
        lk_key_api_index(prefix, u.uin, "");
        st = has_active(&txn, prefix, true, lk_now(ctx), &found);
    }
    lk_txn_abort(&txn);
    if (st == LK_OK && out)
        *out = u;
    if (st == LK_OK && !found)
        st = lk_seterr(LK_DENY_DISABLED, "login '%s' (user %" PRIu64 ") has no Active credential that has not expired", login, u.uin);
    return st;
}
