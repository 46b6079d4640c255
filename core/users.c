/*
 * users.c — root accounts and their sub-users / collaborators.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lk_internal.h"

static const char *const kind_names[] = {"root", "sub-user", "collaborator"};

const char *lk_user_kind_name(lk_user_kind k)
{
    return (unsigned)k < 3 ? kind_names[k] : "unknown";
}

static const char *const self_names[] = {"none", "read", "manage"};

const char *lk_self_service_name(lk_self_service s)
{
    return (unsigned)s <= LK_SELF_MANAGE ? self_names[s] : "unknown";
}

lk_status lk_self_service_parse(const char *text, lk_self_service *out)
{
    char q[64];
    for (unsigned i = 0; text != NULL && i <= LK_SELF_MANAGE; i++) {
        if (strcmp(text, self_names[i]) == 0) {
            *out = (lk_self_service)i;
            return LK_OK;
        }
    }
    return lk_seterr(LK_ERR_PARAM, "self-service grant '%s': expected none, read or manage",
                     lk_quote(text ? text : "", q, sizeof q));
}

bool lk_uin_ok(uint64_t uin)
{
    return uin >= 1 && uin <= (uint64_t)INT64_MAX;
}

static lk_status decode_user(uint64_t uin, const char *v, size_t vl, lk_user *out)
{
    const char *f;
    size_t fl;
    uint64_t kind = 0, root = 0, self = LK_SELF_NONE;
    int64_t created = 0;

    memset(out, 0, sizeof *out);
    if (!lk_rec_find(v, vl, "kind", &f, &fl) || !lk_rec_parse_u64(f, fl, &kind) || kind > 2 ||
        !lk_rec_find(v, vl, "root", &f, &fl) || !lk_rec_parse_u64(f, fl, &root) ||
        !lk_rec_find(v, vl, "created", &f, &fl) || !lk_rec_parse_i64(f, fl, &created) ||
        (lk_rec_find(v, vl, "login", &f, &fl) && !lk_rec_unescape(f, fl, out->login, sizeof out->login)) ||
        /* absent in records written before the grant existed: none */
        (lk_rec_find(v, vl, "self", &f, &fl) && (!lk_rec_parse_u64(f, fl, &self) || self > LK_SELF_MANAGE)))
        return lk_seterr(LK_ERR_STORE, "corrupt user record for UIN %" PRIu64, uin);
    /* a root account manages every key of its account: it reads as such */
    out->self_service = kind == LK_USER_ROOT ? LK_SELF_MANAGE : (lk_self_service)self;
    out->uin = uin;
    out->kind = (lk_user_kind)kind;
    out->root_uin = root;
    out->create_time = created;
    return LK_OK;
}

lk_status lk_user_load(lk_txn *txn, uint64_t uin, lk_user *out)
{
    char key[LK_KEYBUF];
    const char *v;
    size_t vl;

    lk_key_user(key, uin);
    lk_status st = lk_txn_get(txn, key, &v, &vl);
    if (st == LK_ERR_NOT_FOUND)
        return lk_seterr(LK_ERR_USER_NOT_EXIST, "user %" PRIu64 " does not exist", uin);
    if (st != LK_OK)
        return st;
    return decode_user(uin, v, vl, out);
}

static lk_status put_user(lk_txn *txn, const lk_user *u)
{
    char key[LK_KEYBUF];
    lk_rec rec;
    lk_rec_init(&rec);
    lk_rec_add_u64(&rec, "kind", (uint64_t)u->kind);
    lk_rec_add_u64(&rec, "root", u->root_uin);
    lk_rec_add_i64(&rec, "created", u->create_time);
    if (u->login[0])
        lk_rec_add(&rec, "login", u->login);
    /* none is the absent field, as in records older than the grant; a root's is never stored */
    if (u->kind != LK_USER_ROOT && u->self_service != LK_SELF_NONE)
        lk_rec_add_u64(&rec, "self", (uint64_t)u->self_service);
    lk_key_user(key, u->uin);
    lk_status st = lk_txn_put(txn, key, &rec);
    lk_rec_free(&rec);
    return st;
}

/* The write txn of a change to user uin, with the user loaded into *u:
 * LK_OK, or the error with no txn left open. */
static lk_status change_begin(lk_ctx *ctx, uint64_t uin, lk_txn *txn, lk_user *u)
{
    if (!lk_uin_ok(uin))
        return lk_seterr(LK_ERR_PARAM, "UIN %" PRIu64 " is out of range", uin);
    lk_status st = lk_txn_begin(ctx, true, txn);
    if (st == LK_OK && (st = lk_user_load(txn, uin, u)) != LK_OK)
        lk_txn_abort(txn);
    return st;
}

/* Store the edited user with its "user.edit" audit entry ("what from → to")
 * and commit; the txn is ended either way. */
static lk_status edit_commit(lk_ctx *ctx, lk_txn *txn, const lk_user *u, const char *what, const char *from,
                             const char *to)
{
    char target[24];
    snprintf(target, sizeof target, "%" PRIu64, u->uin);
    lk_status st = put_user(txn, u);
    if (st == LK_OK)
        st = lk_audit(ctx, txn, "user.edit", target, u->uin, "%s %s \u2192 %s", what, from, to);
    if (st != LK_OK) {
        lk_txn_abort(txn);
        return st;
    }
    return lk_txn_commit(txn);
}

/* A grant would say a root account is restricted: it never is. */
static lk_status root_grant_refused(uint64_t uin)
{
    return lk_seterr(LK_ERR_PARAM, "user %" PRIu64 " is a root account: it manages every key of its account, and "
                                   "a self-service grant is for sub-users and collaborators", uin);
}

lk_status lk_user_add(lk_ctx *ctx, uint64_t uin, lk_user_kind kind, uint64_t root_uin)
{
    return lk_user_add_login(ctx, uin, kind, root_uin, NULL);
}

lk_status lk_user_add_login(lk_ctx *ctx, uint64_t uin, lk_user_kind kind, uint64_t root_uin, const char *login)
{
    return lk_user_add_self_service(ctx, uin, kind, root_uin, login, LK_SELF_NONE);
}

lk_status lk_user_add_self_service(lk_ctx *ctx, uint64_t uin, lk_user_kind kind, uint64_t root_uin,
                                   const char *login, lk_self_service self)
{
    LK_LOCAL_ONLY(ctx);
    lk_txn txn;
    lk_status st = lk_user_new_check(uin, kind, &root_uin, login, self);
    if (st != LK_OK || (st = lk_txn_begin(ctx, true, &txn)) != LK_OK)
        return st;
    if ((st = lk_user_new_insert(ctx, &txn, uin, kind, root_uin, login, self)) != LK_OK) {
        lk_txn_abort(&txn);
        return st;
    }
    return lk_txn_commit(&txn);
}

lk_status lk_user_new_check(uint64_t uin, lk_user_kind kind, uint64_t *root_uin_io, const char *login,
                            lk_self_service self)
{
    uint64_t root_uin = *root_uin_io;
    if (!lk_uin_ok(uin))
        return lk_seterr(LK_ERR_PARAM, "UIN %" PRIu64 " is out of range (1..%" PRId64 ")", uin, INT64_MAX);
    if ((unsigned)kind > LK_USER_COLLABORATOR)
        return lk_seterr(LK_ERR_PARAM, "unknown user kind %d", (int)kind);
    if (kind == LK_USER_ROOT) {
        if (root_uin != 0 && root_uin != uin)
            return lk_seterr(LK_ERR_PARAM, "a root account cannot belong to root account %" PRIu64, root_uin);
        root_uin = uin;
    } else if (!lk_uin_ok(root_uin) || root_uin == uin) {
        return lk_seterr(LK_ERR_PARAM, "a %s needs the UIN of its root account", lk_user_kind_name(kind));
    }
    if (login != NULL && login[0] != '\0' && !lk_login_ok(login))
        return lk_login_invalid(login);
    if ((unsigned)self > LK_SELF_MANAGE)
        return lk_seterr(LK_ERR_PARAM, "unknown self-service grant %d", (int)self);
    if (kind == LK_USER_ROOT && self != LK_SELF_NONE)
        return root_grant_refused(uin);
    *root_uin_io = root_uin;
    return LK_OK;
}

lk_status lk_user_new_insert(lk_ctx *ctx, lk_txn *txn, uint64_t uin, lk_user_kind kind, uint64_t root_uin,
                             const char *login, lk_self_service self)
{
    lk_user existing, root;
    lk_status st = lk_user_load(txn, uin, &existing);
    if (st == LK_OK) {
        st = lk_seterr(LK_ERR_USER_EXISTS, "user %" PRIu64 " already exists", uin);
        goto out;
    }
    if (st != LK_ERR_USER_NOT_EXIST)
        goto out;
    if (kind != LK_USER_ROOT) {
        st = lk_user_load(txn, root_uin, &root);
        if (st == LK_ERR_USER_NOT_EXIST)
            st = lk_seterr(LK_ERR_USER_NOT_EXIST, "root account %" PRIu64 " does not exist", root_uin);
        if (st != LK_OK)
            goto out;
        if (root.kind != LK_USER_ROOT) {
            st = lk_seterr(LK_ERR_SUB_UIN, "%" PRIu64 " is a %s, not a root account", root_uin,
                           lk_user_kind_name(root.kind));
            goto out;
        }
    }
    lk_user u = {.uin = uin, .kind = kind, .root_uin = root_uin, .create_time = lk_now(ctx), .self_service = self};
    if (login != NULL && login[0] != '\0') {
        snprintf(u.login, sizeof u.login, "%s", login);
        if ((st = lk_login_bind(txn, uin, login)) != LK_OK)
            goto out;
    }
    if ((st = put_user(txn, &u)) != LK_OK)
        goto out;
    char target[24];
    snprintf(target, sizeof target, "%" PRIu64, uin);
    bool member = kind != LK_USER_ROOT; /* a root account has no grant */
    if ((st = lk_audit(ctx, txn, "user.add", target, uin, "kind %s; root account %" PRIu64 "; login %s%s%s",
                       lk_user_kind_name(kind), root_uin, u.login[0] ? u.login : "none",
                       member ? "; self-service " : "", member ? lk_self_service_name(self) : "")) != LK_OK)
        goto out;
out:
    return st;
}

lk_status lk_user_set_login(lk_ctx *ctx, uint64_t uin, const char *login)
{
    LK_LOCAL_ONLY(ctx);
    lk_txn txn;
    lk_user u;

    if (login == NULL)
        login = "";
    if (login[0] != '\0' && !lk_login_ok(login))
        return lk_login_invalid(login);
    lk_status st = change_begin(ctx, uin, &txn, &u);
    if (st != LK_OK)
        return st;
    if (strcmp(u.login, login) == 0) { /* nothing to change */
        lk_txn_abort(&txn);
        return LK_OK;
    }
    /* Bind the new name first: it fails cleanly when another user holds it. */
    if ((login[0] != '\0' && (st = lk_login_bind(&txn, uin, login)) != LK_OK) ||
        (u.login[0] != '\0' && (st = lk_login_unbind(&txn, u.login)) != LK_OK)) {
        lk_txn_abort(&txn);
        return st;
    }
    char was[LK_LOGIN_MAX + 1];
    snprintf(was, sizeof was, "%s", u.login[0] ? u.login : "none");
    snprintf(u.login, sizeof u.login, "%s", login);
    return edit_commit(ctx, &txn, &u, "login", was, login[0] ? login : "none");
}

lk_status lk_user_set_self_service(lk_ctx *ctx, uint64_t uin, lk_self_service s)
{
    LK_REMOTE_CALL(ctx, user_set_self_service, uin, s);
    LK_LOCAL_ONLY(ctx);
    lk_txn txn;
    lk_user u;

    if ((unsigned)s > LK_SELF_MANAGE)
        return lk_seterr(LK_ERR_PARAM, "unknown self-service grant %d", (int)s);
    lk_status st = change_begin(ctx, uin, &txn, &u);
    if (st != LK_OK)
        return st;
    if (u.kind == LK_USER_ROOT || u.self_service == s) { /* refused, or nothing to change */
        lk_txn_abort(&txn);
        return u.kind == LK_USER_ROOT ? root_grant_refused(uin) : LK_OK;
    }
    const char *was = lk_self_service_name(u.self_service);
    u.self_service = s;
    return edit_commit(ctx, &txn, &u, "self-service", was, lk_self_service_name(s));
}

lk_status lk_user_get(lk_ctx *ctx, uint64_t uin, lk_user *out)
{
    LK_REMOTE_CALL(ctx, user_get, uin, out);
    LK_LOCAL_ONLY(ctx);
    lk_txn txn;
    if (!lk_uin_ok(uin))
        return lk_seterr(LK_ERR_PARAM, "UIN %" PRIu64 " is out of range", uin);
    lk_status st = lk_txn_begin(ctx, false, &txn);
    if (st != LK_OK)
        return st;
    st = lk_user_load(&txn, uin, out);
    lk_txn_abort(&txn);
    return st;
}

typedef struct user_list {
    uint64_t root; /* 0: all */
    lk_user *items;
    size_t n, cap;
    lk_status st;
} user_list;

static int list_cb(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    user_list *l = arg;
    uint64_t uin;
    lk_user u;

    if (kl < 3 || !lk_rec_parse_u64(k + 2, kl - 2, &uin)) {
        l->st = lk_seterr(LK_ERR_STORE, "corrupt user key in store");
        return 1;
    }
    if ((l->st = decode_user(uin, v, vl, &u)) != LK_OK)
        return 1;
    if (l->root != 0 && u.root_uin != l->root)
        return 0;
    void *grown = lk_grow(l->items, &l->cap, l->n, sizeof *l->items, 16);
    if (grown == NULL) {
        l->st = lk_seterr(LK_ERR_NOMEM, "out of memory listing users");
        return 1;
    }
    l->items = grown;
    l->items[l->n++] = u;
    return 0;
}

static lk_status collect_users(lk_txn *txn, uint64_t root_uin, user_list *l)
{
    memset(l, 0, sizeof *l);
    l->root = root_uin;
    lk_status st = lk_txn_scan(txn, "u/", list_cb, l);
    if (st == LK_OK)
        st = l->st;
    if (st != LK_OK) {
        free(l->items);
        l->items = NULL;
    }
    return st;
}

lk_status lk_user_list(lk_ctx *ctx, uint64_t root_uin, lk_user **out, size_t *count)
{
    LK_LOCAL_ONLY(ctx);
    lk_txn txn;
    user_list l;

    *out = NULL;
    *count = 0;
    lk_status st = lk_txn_begin(ctx, false, &txn);
    if (st != LK_OK)
        return st;
    if (root_uin != 0) {
        lk_user root;
        st = lk_user_load(&txn, root_uin, &root);
        if (st == LK_OK && root.kind != LK_USER_ROOT)
            st = lk_seterr(LK_ERR_SUB_UIN, "%" PRIu64 " is a %s, not a root account", root_uin,
                           lk_user_kind_name(root.kind));
    }
    if (st == LK_OK)
        st = collect_users(&txn, root_uin, &l);
    lk_txn_abort(&txn);
    if (st == LK_OK) {
        *out = l.items;
        *count = l.n;
    }
    return st;
}

/* Collect the ids under an index prefix ("uk/UIN20/" or "ua/UIN20/"). */
typedef struct id_list {
    size_t skip;
    char (*ids)[LK_SECRET_ID_LEN + 1];
    size_t n, cap;
    bool oom;
} id_list;

static int id_cb(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    id_list *l = arg;
    (void)v, (void)vl;
    void *grown = lk_grow(l->ids, &l->cap, l->n, sizeof *l->ids, 8);
    if (grown == NULL) {
        l->oom = true;
        return 1;
    }
    l->ids = grown;
    size_t idl = kl - l->skip;
    if (idl > LK_SECRET_ID_LEN)
        idl = LK_SECRET_ID_LEN;
    memcpy(l->ids[l->n], k + l->skip, idl);
    l->ids[l->n][idl] = '\0';
    l->n++;
    return 0;
}

/* The ids of uin's access keys and API keys, from their two indexes. */
static lk_status scan_user_keys(lk_txn *txn, uint64_t uin, id_list *aks, id_list *apis)
{
    char prefix_k[LK_KEYBUF], prefix_a[LK_KEYBUF];
    lk_key_ak_index(prefix_k, uin, "");
    lk_key_api_index(prefix_a, uin, "");
    *aks = (id_list){.skip = strlen(prefix_k)};
    *apis = (id_list){.skip = strlen(prefix_a)};
    lk_status st = lk_txn_scan(txn, prefix_k, id_cb, aks);
    if (st == LK_OK)
        st = lk_txn_scan(txn, prefix_a, id_cb, apis);
    if (st == LK_OK && (aks->oom || apis->oom))
        st = lk_seterr(LK_ERR_NOMEM, "out of memory");
    return st;
}

lk_status lk_user_delete(lk_ctx *ctx, uint64_t uin, int force)
{
    LK_LOCAL_ONLY(ctx);
    lk_txn txn;
    lk_user u;
    user_list members = {0};
    id_list aks = {0}, apis = {0};
    char key[LK_KEYBUF];

    lk_status st = change_begin(ctx, uin, &txn, &u);
    if (st != LK_OK)
        return st;
    if (u.kind == LK_USER_ROOT) {
        if ((st = collect_users(&txn, uin, &members)) != LK_OK)
            goto out;
        if (members.n > 1) { /* the root itself is listed */
            st = lk_seterr(LK_ERR_USER_HAS_KEYS, "root account %" PRIu64 " still has %zu member(s); delete them first",
                           uin, members.n - 1);
            goto out;
        }
    }
    if ((st = scan_user_keys(&txn, uin, &aks, &apis)) != LK_OK)
        goto out;
    if ((aks.n || apis.n) && !force) {
        st = lk_seterr(LK_ERR_USER_HAS_KEYS,
                       "user %" PRIu64 " still has %zu access key(s) and %zu API key(s); delete them or use force", uin,
                       aks.n, apis.n);
        goto out;
    }
    for (size_t i = 0; i < aks.n && st == LK_OK; i++) {
        lk_key_ak(key, aks.ids[i]);
        st = lk_txn_del(&txn, key);
        if (st == LK_OK || st == LK_ERR_NOT_FOUND) {
            lk_key_ak_index(key, uin, aks.ids[i]);
            st = lk_txn_del(&txn, key);
        }
        if (st == LK_OK || st == LK_ERR_NOT_FOUND)
            st = lk_records_delete(ctx, &txn, aks.ids[i]);
    }
    for (size_t i = 0; i < apis.n && st == LK_OK; i++) {
        lk_apikey k;
        if ((st = lk_apikey_load(&txn, apis.ids[i], &k)) == LK_OK) {
            lk_key_api_name(key, uin, k.name);
            lk_apikey_release(&k);
            st = lk_txn_del(&txn, key);
        }
        if (st == LK_OK || st == LK_ERR_NOT_FOUND || st == LK_ERR_KEY_NOT_EXIST) {
            lk_key_api(key, apis.ids[i]);
            st = lk_txn_del(&txn, key);
        }
        if (st == LK_OK || st == LK_ERR_NOT_FOUND) {
            lk_key_api_index(key, uin, apis.ids[i]);
            st = lk_txn_del(&txn, key);
        }
        if (st == LK_OK || st == LK_ERR_NOT_FOUND)
            st = lk_records_delete(ctx, &txn, apis.ids[i]);
    }
    if (st == LK_ERR_NOT_FOUND)
        st = LK_OK;
    if (st != LK_OK)
        goto out;
    if (u.login[0] != '\0' && (st = lk_login_unbind(&txn, u.login)) != LK_OK)
        goto out;
    lk_key_user(key, uin);
    if ((st = lk_txn_del(&txn, key)) != LK_OK)
        goto out;
    snprintf(key, sizeof key, "%" PRIu64, uin);
    if ((st = lk_audit(ctx, &txn, "user.delete", key, uin, "deleted with %zu access key(s) and %zu API key(s)", aks.n,
                       apis.n)) !=
        LK_OK)
        goto out;
    st = lk_txn_commit(&txn);
    if (st == LK_OK) {
        for (size_t i = 0; i < aks.n; i++)
            lk_cache_evict(ctx->cache, aks.ids[i]);
        for (size_t i = 0; i < apis.n; i++)
            lk_cache_evict(ctx->cache, apis.ids[i]);
    }
    goto done;
out:
    lk_txn_abort(&txn);
done:
    free(members.items);
    free(aks.ids);
    free(apis.ids);
    return st;
}

/* Append src's ids to dst (for the cache eviction after commit). */
static bool append_ids(id_list *dst, const id_list *src)
{
    for (size_t i = 0; i < src->n; i++) {
        void *g = lk_grow(dst->ids, &dst->cap, dst->n, sizeof *dst->ids, 8);
        if (g == NULL)
            return false;
        dst->ids = g;
        memcpy(dst->ids[dst->n++], src->ids[i], sizeof src->ids[i]);
    }
    return true;
}

/* Disable every key under one user's two indexes, inside txn; their ids go to done. */
static lk_status revoke_one(lk_txn *txn, uint64_t uin, size_t *disabled, id_list *done)
{
    id_list k, a;
    lk_status st = scan_user_keys(txn, uin, &k, &a);
    if (st == LK_OK && (!append_ids(done, &k) || !append_ids(done, &a)))
        st = lk_seterr(LK_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < k.n + a.n && st == LK_OK; i++) {
        bool changed;
        st = i < k.n ? lk_key_disable_in(txn, k.ids[i], &changed) : lk_apikey_disable_in(txn, a.ids[i - k.n], &changed);
        if (st == LK_OK && changed)
            ++*disabled;
    }
    free(k.ids);
    free(a.ids);
    return st;
}

lk_status lk_revoke_user(lk_ctx *ctx, uint64_t uin, size_t *disabled)
{
    LK_LOCAL_ONLY(ctx);
    lk_txn txn;
    lk_user u;
    user_list members = {0};
    id_list ids = {0};
    size_t n = 0;

    if (disabled)
        *disabled = 0;
    if (!lk_uin_ok(uin))
        return lk_seterr(LK_ERR_PARAM, "UIN %" PRIu64 " is out of range", uin);
    lk_status st = lk_txn_begin(ctx, true, &txn);
    if (st != LK_OK)
        return st;
    if ((st = lk_user_load(&txn, uin, &u)) != LK_OK)
        goto out;
    if (u.kind == LK_USER_ROOT) {
        /* the root account and its members (collect_users lists the root too) */
        if ((st = collect_users(&txn, uin, &members)) != LK_OK)
            goto out;
        for (size_t i = 0; i < members.n && st == LK_OK; i++)
            st = revoke_one(&txn, members.items[i].uin, &n, &ids);
    } else {
        st = revoke_one(&txn, uin, &n, &ids);
    }
    if (st != LK_OK)
        goto out;
    char target[24];
    snprintf(target, sizeof target, "%" PRIu64, uin);
    if ((st = lk_audit(ctx, &txn, "revoke", target, uin, "disabled %zu key(s); members %zu", n,
                       members.n > 0 ? members.n - 1 : 0)) != LK_OK)
        goto out;
    if ((st = lk_txn_commit(&txn)) != LK_OK)
        goto done;
    for (size_t i = 0; i < ids.n; i++)
        lk_cache_evict(ctx->cache, ids.ids[i]);
    if (disabled)
        *disabled = n;
    goto done;
out:
    lk_txn_abort(&txn);
done:
    free(members.items);
    free(ids.ids);
    return st;
}
