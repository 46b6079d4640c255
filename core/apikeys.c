/*
 * apikeys.c — named API keys of a root account (TokenHub model).
 *
 * Rules: at most limits.apikeys_per_account per root account (50); name
 * unique within the account; name and key value immutable; description,
 * scope and IP allowlist editable; deleted only once disabled. Only the
 * Argon2id hash of the key and its masked form (first 5 + *** + last 4) are
 * stored.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lk_internal.h"
#include "lk_ip.h"

typedef struct api_rec {
    lk_apikey info;
    char hash[crypto_pwhash_STRBYTES];
} api_rec;

void lk_apikey_release(lk_apikey *k)
{
    if (k == NULL)
        return;
    free(k->scope);
    free(k->allow_ip);
    k->scope = k->allow_ip = NULL;
    k->scope_count = k->allow_ip_count = 0;
}

void lk_apikey_list_free(lk_apikey *arr, size_t count)
{
    if (arr == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        lk_apikey_release(&arr[i]);
    free(arr);
}

static lk_status decode_api(const char *id, const char *v, size_t vl, api_rec *out)
{
    const char *f;
    size_t fl;
    uint64_t status;
    bool oom = false;

    memset(out, 0, sizeof *out);
    if (!lk_rec_find(v, vl, "root", &f, &fl) || !lk_rec_parse_u64(f, fl, &out->info.root_uin) ||
        !lk_rec_find(v, vl, "name", &f, &fl) || !lk_rec_unescape(f, fl, out->info.name, sizeof out->info.name) ||
        !lk_rec_find(v, vl, "desc", &f, &fl) ||
        !lk_rec_unescape(f, fl, out->info.description, sizeof out->info.description) ||
        !lk_rec_find(v, vl, "status", &f, &fl) || !lk_rec_parse_u64(f, fl, &status) || status > 1 ||
        !lk_rec_find(v, vl, "masked", &f, &fl) || !lk_rec_unescape(f, fl, out->info.masked, sizeof out->info.masked) ||
        !lk_rec_find(v, vl, "created", &f, &fl) || !lk_rec_parse_i64(f, fl, &out->info.create_time) ||
        !lk_rec_find(v, vl, "hash", &f, &fl) || !lk_rec_unescape(f, fl, out->hash, sizeof out->hash))
        goto corrupt;
    out->info.status = (lk_key_status)status;
    if (!lk_rec_find(v, vl, "scope", &f, &fl) ||
        !lk_rec_parse_list(f, fl, LK_SCOPE_MAX, LK_SERVICE_MAX, &out->info.scope, &out->info.scope_count, &oom))
        goto corrupt;
    if (!lk_rec_find(v, vl, "ip", &f, &fl) ||
        !lk_rec_parse_list(f, fl, LK_ALLOW_IP_MAX, LK_IP_STRLEN + 4, &out->info.allow_ip, &out->info.allow_ip_count,
                           &oom))
        goto corrupt;
    snprintf(out->info.id, sizeof out->info.id, "%s", id);
    return LK_OK;
corrupt:
    lk_apikey_release(&out->info);
    if (oom)
        return lk_seterr(LK_ERR_NOMEM, "out of memory reading API key %s", id);
    return lk_seterr(LK_ERR_STORE, "corrupt API key record %s", id);
}

static lk_status put_api(lk_txn *txn, const api_rec *r)
{
    char key[LK_KEYBUF];
    lk_rec rec;
    lk_rec_init(&rec);
    lk_rec_add_u64(&rec, "root", r->info.root_uin);
    lk_rec_add(&rec, "name", r->info.name);
    lk_rec_add(&rec, "desc", r->info.description);
    lk_rec_add_u64(&rec, "status", (uint64_t)r->info.status);
    lk_rec_add_list(&rec, "scope", (const char *const *)r->info.scope, r->info.scope_count);
    lk_rec_add_list(&rec, "ip", (const char *const *)r->info.allow_ip, r->info.allow_ip_count);
    lk_rec_add(&rec, "masked", r->info.masked);
    lk_rec_add_i64(&rec, "created", r->info.create_time);
    lk_rec_add(&rec, "hash", r->hash);
    lk_key_api(key, r->info.id);
    lk_status st = lk_txn_put(txn, key, &rec);
    lk_rec_free(&rec);
    return st;
}

static lk_status check_id(const char *id)
{
    char q[64];
    if (id == NULL || !lk_keyfmt_apikey_id_ok(id, strlen(id)))
        return lk_seterr(LK_ERR_PARAM, "'%s' is not an API key id (lk- followed by 12 letters or digits)",
                         lk_quote(id, q, sizeof q));
    return LK_OK;
}

static lk_status load_api_rec(lk_txn *txn, const char *id, api_rec *out)
{
    char key[LK_KEYBUF];
    const char *v;
    size_t vl;

    lk_key_api(key, id);
    lk_status st = lk_txn_get(txn, key, &v, &vl);
    if (st == LK_ERR_NOT_FOUND)
        return lk_seterr(LK_ERR_KEY_NOT_EXIST, "API key %s does not exist", id);
    if (st != LK_OK)
        return st;
    return decode_api(id, v, vl, out);
}

lk_status lk_apikey_load(lk_txn *txn, const char *id, lk_apikey *out)
{
    api_rec r;
    lk_status st = load_api_rec(txn, id, &r);
    if (st == LK_OK)
        *out = r.info;
    return st;
}

/* ------------------------------------------------------------ validation */

static lk_status check_scope(const char *const *scope, size_t n, char ***out)
{
    char q[64];
    *out = NULL;
    if (n > LK_SCOPE_MAX)
        return lk_seterr(LK_ERR_PARAM, "scope has %zu entries; at most %d are allowed", n, LK_SCOPE_MAX);
    for (size_t i = 0; i < n; i++) {
        if (scope[i] == NULL || !lk_service_name_ok(scope[i], strlen(scope[i])))
            return lk_seterr(LK_ERR_PARAM,
                             "scope entry '%s' is not a service name (1-%d of A-Z a-z 0-9 . _ : / -)",
                             lk_quote(scope[i], q, sizeof q), LK_SERVICE_MAX);
        for (size_t j = 0; j < i; j++)
            if (strcmp(scope[i], scope[j]) == 0)
                return lk_seterr(LK_ERR_PARAM, "scope entry '%s' is listed twice", scope[i]);
    }
    if (n > 0 && (*out = lk_strlist_dup(scope, n)) == NULL)
        return lk_seterr(LK_ERR_NOMEM, "out of memory");
    return LK_OK;
}

/* Parse, canonicalise and de-duplicate an allowlist. */
static lk_status check_allow_ip(const char *const *ips, size_t n, char ***out)
{
    char q[64];
    *out = NULL;
    if (n > LK_ALLOW_IP_MAX)
        return lk_seterr(LK_ERR_PARAM, "IP allowlist has %zu entries; at most %d are allowed", n, LK_ALLOW_IP_MAX);
    if (n == 0)
        return LK_OK;
    char canon[LK_ALLOW_IP_MAX][LK_IP_STRLEN + 4];
    const char *ptrs[LK_ALLOW_IP_MAX];
    for (size_t i = 0; i < n; i++) {
        lk_cidr c;
        if (ips[i] == NULL)
            return lk_seterr(LK_ERR_PARAM, "IP allowlist entry %zu is missing", i + 1);
        lk_status st = lk_cidr_parse(ips[i], &c);
        if (st != LK_OK)
            return st;
        if (lk_cidr_format(&c, canon[i], sizeof canon[i]) != 0)
            return lk_seterr(LK_ERR_PARAM, "IP allowlist entry '%s' cannot be formatted", lk_quote(ips[i], q, sizeof q));
        for (size_t j = 0; j < i; j++)
            if (strcmp(canon[i], canon[j]) == 0)
                return lk_seterr(LK_ERR_PARAM, "IP allowlist entry '%s' is listed twice", canon[i]);
        ptrs[i] = canon[i];
    }
    if ((*out = lk_strlist_dup(ptrs, n)) == NULL)
        return lk_seterr(LK_ERR_NOMEM, "out of memory");
    return LK_OK;
}

static lk_status check_description(const char *d)
{
    size_t n = d ? strlen(d) : 0;
    if (n > LK_DESC_MAX)
        return lk_seterr(LK_ERR_PARAM, "description is %zu bytes; at most %d are allowed", n, LK_DESC_MAX);
    if (!lk_text_ok(d ? d : "", n))
        return lk_seterr(LK_ERR_PARAM, "description must be UTF-8 text without control characters");
    return LK_OK;
}

static lk_status check_root(lk_txn *txn, uint64_t root_uin)
{
    lk_user u;
    lk_status st = lk_user_load(txn, root_uin, &u);
    if (st != LK_OK)
        return st;
    if (u.kind != LK_USER_ROOT)
        return lk_seterr(LK_ERR_SUB_UIN, "%" PRIu64 " is a %s: API keys belong to root accounts", root_uin,
                         lk_user_kind_name(u.kind));
    return LK_OK;
}

/* ------------------------------------------------------------ operations */

lk_status lk_apikey_create(lk_ctx *ctx, uint64_t root_uin, const lk_apikey_spec *spec, lk_apikey *out,
                           lk_secret **key_out)
{
    lk_txn txn;
    api_rec r;
    char key[LK_KEYBUF];
    size_t count;
    const char *v;
    size_t vl;
    lk_secret *sk = NULL;

    *key_out = NULL;
    memset(&r, 0, sizeof r);
    if (out)
        memset(out, 0, sizeof *out);
    if (!lk_uin_ok(root_uin))
        return lk_seterr(LK_ERR_PARAM, "UIN %" PRIu64 " is out of range", root_uin);
    if (spec == NULL || spec->name == NULL || spec->name[0] == '\0')
        return lk_seterr(LK_ERR_PARAM, "an API key needs a name");
    size_t nl = strlen(spec->name);
    if (nl > LK_NAME_MAX)
        return lk_seterr(LK_ERR_PARAM, "name is %zu bytes; at most %d are allowed", nl, LK_NAME_MAX);
    if (!lk_text_ok(spec->name, nl))
        return lk_seterr(LK_ERR_PARAM, "name must be UTF-8 text without control characters");
    lk_status st = check_description(spec->description);
    if (st != LK_OK)
        return st;
    if ((st = check_scope(spec->scope, spec->scope_count, &r.info.scope)) != LK_OK)
        return st;
    r.info.scope_count = spec->scope_count;
    if ((st = check_allow_ip(spec->allow_ip, spec->allow_ip_count, &r.info.allow_ip)) != LK_OK)
        goto fail;
    r.info.allow_ip_count = spec->allow_ip_count;
    memcpy(r.info.name, spec->name, nl + 1);
    snprintf(r.info.description, sizeof r.info.description, "%s", spec->description ? spec->description : "");
    r.info.root_uin = root_uin;
    r.info.status = LK_KEY_ACTIVE;
    r.info.create_time = lk_now(ctx);

    /* Cheap refusals before the Argon2id. */
    if ((st = lk_txn_begin(ctx, false, &txn)) != LK_OK)
        goto fail;
    st = check_root(&txn, root_uin);
    lk_txn_abort(&txn);
    if (st != LK_OK)
        goto fail;

    if ((sk = lk_secret_new(LK_APIKEY_LEN)) == NULL) {
        st = lk_seterr(LK_ERR_NOMEM, "out of guarded memory for the API key");
        goto fail;
    }
    lk_keyfmt_new_apikey(sk->str);
    lk_keyfmt_mask(sk->str, sk->len, r.info.masked);
    if ((st = lk_hash_secret(&ctx->cfg, sk->str, sk->len, r.hash, sizeof r.hash)) != LK_OK)
        goto fail;

    if ((st = lk_txn_begin(ctx, true, &txn)) != LK_OK)
        goto fail;
    if ((st = check_root(&txn, root_uin)) != LK_OK)
        goto abort;
    lk_key_api_index(key, root_uin, "");
    if ((st = lk_txn_count(&txn, key, &count)) != LK_OK)
        goto abort;
    if (count >= ctx->cfg.apikeys_per_account) {
        st = lk_seterr(LK_ERR_APIKEY_OVER_LIMIT, "account %" PRIu64 " already has %zu API key(s); the limit is %u",
                       root_uin, count, ctx->cfg.apikeys_per_account);
        goto abort;
    }
    lk_key_api_name(key, root_uin, r.info.name);
    st = lk_txn_get(&txn, key, &v, &vl);
    if (st == LK_OK) {
        st = lk_seterr(LK_ERR_NAME_EXISTS, "account %" PRIu64 " already has an API key named '%s'", root_uin,
                       r.info.name);
        goto abort;
    }
    if (st != LK_ERR_NOT_FOUND)
        goto abort;
    memcpy(r.info.id, sk->str, LK_APIKEY_ID_LEN);
    r.info.id[LK_APIKEY_ID_LEN] = '\0';
    lk_key_api(key, r.info.id);
    st = lk_txn_get(&txn, key, &v, &vl);
    if (st == LK_OK) /* 71 random bits: a collision means a broken RNG; refuse rather than overwrite */
        st = lk_seterr(LK_ERR_INTERNAL, "API key id collision; try again");
    if (st != LK_ERR_NOT_FOUND)
        goto abort;
    if ((st = put_api(&txn, &r)) != LK_OK)
        goto abort;
    lk_key_api_index(key, root_uin, r.info.id);
    if ((st = lk_txn_put_raw(&txn, key, "", 0)) != LK_OK)
        goto abort;
    lk_key_api_name(key, root_uin, r.info.name);
    if ((st = lk_txn_put_raw(&txn, key, r.info.id, LK_APIKEY_ID_LEN)) != LK_OK)
        goto abort;
    if ((st = lk_txn_commit(&txn)) != LK_OK)
        goto fail;
    if (out)
        *out = r.info;
    else
        lk_apikey_release(&r.info);
    *key_out = sk;
    return LK_OK;
abort:
    lk_txn_abort(&txn);
fail:
    lk_secret_free(sk);
    lk_apikey_release(&r.info);
    return st;
}

lk_status lk_apikey_get(lk_ctx *ctx, const char *id, lk_apikey *out)
{
    lk_txn txn;
    memset(out, 0, sizeof *out);
    lk_status st = check_id(id);
    if (st != LK_OK)
        return st;
    if ((st = lk_txn_begin(ctx, false, &txn)) != LK_OK)
        return st;
    st = lk_apikey_load(&txn, id, out);
    if (st == LK_OK)
        out->last_access_time = lk_last_access(ctx, &txn, id);
    lk_txn_abort(&txn);
    return st;
}

lk_status lk_apikey_find(lk_ctx *ctx, uint64_t root_uin, const char *name, lk_apikey *out)
{
    lk_txn txn;
    char key[LK_KEYBUF], id[LK_APIKEY_ID_LEN + 1];
    const char *v;
    size_t vl;

    memset(out, 0, sizeof *out);
    if (!lk_uin_ok(root_uin))
        return lk_seterr(LK_ERR_PARAM, "UIN %" PRIu64 " is out of range", root_uin);
    if (name == NULL || name[0] == '\0' || strlen(name) > LK_NAME_MAX)
        return lk_seterr(LK_ERR_PARAM, "an API key name is 1-%d bytes", LK_NAME_MAX);
    lk_status st = lk_txn_begin(ctx, false, &txn);
    if (st != LK_OK)
        return st;
    lk_key_api_name(key, root_uin, name);
    st = lk_txn_get(&txn, key, &v, &vl);
    if (st == LK_ERR_NOT_FOUND)
        st = lk_seterr(LK_ERR_KEY_NOT_EXIST, "account %" PRIu64 " has no API key named '%s'", root_uin, name);
    if (st == LK_OK && vl != LK_APIKEY_ID_LEN)
        st = lk_seterr(LK_ERR_STORE, "corrupt API key name index for '%s'", name);
    if (st == LK_OK) {
        memcpy(id, v, LK_APIKEY_ID_LEN);
        id[LK_APIKEY_ID_LEN] = '\0';
        st = lk_apikey_load(&txn, id, out);
        if (st == LK_OK)
            out->last_access_time = lk_last_access(ctx, &txn, id);
    }
    lk_txn_abort(&txn);
    return st;
}

typedef struct api_list {
    lk_txn *txn;
    size_t skip;
    lk_apikey *items;
    size_t n, cap;
    lk_status st;
} api_list;

static int list_cb(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    api_list *l = arg;
    char id[LK_APIKEY_ID_LEN + 1];
    (void)v, (void)vl;

    if (kl - l->skip != LK_APIKEY_ID_LEN) {
        l->st = lk_seterr(LK_ERR_STORE, "corrupt API key index in store");
        return 1;
    }
    memcpy(id, k + l->skip, LK_APIKEY_ID_LEN);
    id[LK_APIKEY_ID_LEN] = '\0';
    void *grown = lk_grow(l->items, &l->cap, l->n, sizeof *l->items, 8);
    if (grown == NULL) {
        l->st = lk_seterr(LK_ERR_NOMEM, "out of memory listing API keys");
        return 1;
    }
    l->items = grown;
    if ((l->st = lk_apikey_load(l->txn, id, &l->items[l->n])) != LK_OK)
        return 1;
    l->n++;
    return 0;
}

lk_status lk_apikey_list(lk_ctx *ctx, uint64_t root_uin, lk_apikey **out, size_t *count)
{
    lk_txn txn;
    char prefix[LK_KEYBUF];

    *out = NULL;
    *count = 0;
    if (!lk_uin_ok(root_uin))
        return lk_seterr(LK_ERR_PARAM, "UIN %" PRIu64 " is out of range", root_uin);
    lk_status st = lk_txn_begin(ctx, false, &txn);
    if (st != LK_OK)
        return st;
    api_list l = {.txn = &txn};
    if ((st = check_root(&txn, root_uin)) == LK_OK) {
        lk_key_api_index(prefix, root_uin, "");
        l.skip = strlen(prefix);
        st = lk_txn_scan(&txn, prefix, list_cb, &l);
        if (st == LK_OK)
            st = l.st;
    }
    if (st == LK_OK) {
        for (size_t i = 0; i < l.n; i++)
            l.items[i].last_access_time = lk_last_access(ctx, &txn, l.items[i].id);
        *out = l.items;
        *count = l.n;
    } else {
        lk_apikey_list_free(l.items, l.n);
    }
    lk_txn_abort(&txn);
    return st;
}

/* Load, change with fn, store. fn returns LK_OK to write, or an error. */
typedef lk_status (*api_change_fn)(api_rec *r, const void *arg);

static lk_status change_api(lk_ctx *ctx, const char *id, api_change_fn fn, const void *arg)
{
    lk_txn txn;
    api_rec r;
    lk_status st = check_id(id);
    if (st != LK_OK)
        return st;
    if ((st = lk_txn_begin(ctx, true, &txn)) != LK_OK)
        return st;
    if ((st = load_api_rec(&txn, id, &r)) != LK_OK) {
        lk_txn_abort(&txn);
        return st;
    }
    st = fn(&r, arg);
    if (st == LK_OK)
        st = put_api(&txn, &r);
    lk_apikey_release(&r.info);
    if (st != LK_OK) {
        lk_txn_abort(&txn);
        return st;
    }
    st = lk_txn_commit(&txn);
    if (st == LK_OK)
        lk_cache_evict(ctx->cache, id);
    return st;
}

static lk_status apply_edit(api_rec *r, const void *arg)
{
    const lk_apikey_edit *e = arg;
    lk_status st;
    if (e->description != NULL) {
        if ((st = check_description(e->description)) != LK_OK)
            return st;
        snprintf(r->info.description, sizeof r->info.description, "%s", e->description);
    }
    if (e->set_scope) {
        char **scope;
        if ((st = check_scope(e->scope, e->scope_count, &scope)) != LK_OK)
            return st;
        /* The new scope replaces the old one entirely (TokenHub: "the previous scope becomes void"). */
        free(r->info.scope);
        r->info.scope = scope;
        r->info.scope_count = e->scope_count;
    }
    if (e->set_allow_ip) {
        char **ips;
        if ((st = check_allow_ip(e->allow_ip, e->allow_ip_count, &ips)) != LK_OK)
            return st;
        free(r->info.allow_ip);
        r->info.allow_ip = ips;
        r->info.allow_ip_count = e->allow_ip_count;
    }
    return LK_OK;
}

lk_status lk_apikey_edit_key(lk_ctx *ctx, const char *id, const lk_apikey_edit *edit)
{
    if (edit == NULL)
        return lk_seterr(LK_ERR_PARAM, "no edit given");
    return change_api(ctx, id, apply_edit, edit);
}

static lk_status apply_status(api_rec *r, const void *arg)
{
    r->info.status = *(const lk_key_status *)arg;
    return LK_OK;
}

lk_status lk_apikey_set_status(lk_ctx *ctx, const char *id, lk_key_status st)
{
    if (st != LK_KEY_ACTIVE && st != LK_KEY_INACTIVE)
        return lk_seterr(LK_ERR_PARAM, "unknown key status %d", (int)st);
    return change_api(ctx, id, apply_status, &st);
}

lk_status lk_apikey_delete(lk_ctx *ctx, const char *id)
{
    lk_txn txn;
    api_rec r;
    char key[LK_KEYBUF];
    lk_status st = check_id(id);
    if (st != LK_OK)
        return st;
    if ((st = lk_txn_begin(ctx, true, &txn)) != LK_OK)
        return st;
    if ((st = load_api_rec(&txn, id, &r)) != LK_OK)
        goto abort;
    if (r.info.status == LK_KEY_ACTIVE) {
        st = lk_seterr(LK_ERR_KEY_ENABLED, "API key %s is enabled: disable it before deleting", id);
        goto release;
    }
    lk_key_api(key, id);
    if ((st = lk_txn_del(&txn, key)) != LK_OK)
        goto release;
    lk_key_api_index(key, r.info.root_uin, id);
    if ((st = lk_txn_del(&txn, key)) != LK_OK && st != LK_ERR_NOT_FOUND)
        goto release;
    lk_key_api_name(key, r.info.root_uin, r.info.name);
    if ((st = lk_txn_del(&txn, key)) != LK_OK && st != LK_ERR_NOT_FOUND)
        goto release;
    if ((st = lk_records_delete(ctx, &txn, id)) != LK_OK)
        goto release;
    lk_apikey_release(&r.info);
    st = lk_txn_commit(&txn);
    if (st == LK_OK)
        lk_cache_evict(ctx->cache, id);
    return st;
release:
    lk_apikey_release(&r.info);
abort:
    lk_txn_abort(&txn);
    return st;
}

/* ------------------------------------------------------------ verification */

/* Walk a stored ','-list without allocating (the hot path). */
static bool list_any(const char *f, size_t fl, bool (*match)(const char *item, const void *arg), const void *arg)
{
    const char *p = f, *end = f + fl;
    char item[LK_IP_STRLEN + LK_SERVICE_MAX];
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end;
        if (lk_rec_unescape(p, (size_t)(e - p), item, sizeof item) && match(item, arg))
            return true;
        p = e + 1;
    }
    return false;
}

static bool match_ip(const char *item, const void *arg)
{
    lk_cidr net;
    return lk_cidr_parse(item, &net) == LK_OK && lk_cidr_match(&net, arg);
}

static bool match_service(const char *item, const void *arg)
{
    return strcmp(item, arg) == 0;
}

/* The checks that need no secret, inside the read txn; copies out the hash. */
static lk_status check_request(const char *id, const char *v, size_t vl, const lk_verify_req *req,
                               char hash[crypto_pwhash_STRBYTES], uint64_t *root)
{
    const char *f;
    size_t fl;
    uint64_t status;

    if (!lk_rec_find(v, vl, "root", &f, &fl) || !lk_rec_parse_u64(f, fl, root) ||
        !lk_rec_find(v, vl, "status", &f, &fl) || !lk_rec_parse_u64(f, fl, &status) ||
        !lk_rec_find(v, vl, "hash", &f, &fl) || !lk_rec_unescape(f, fl, hash, crypto_pwhash_STRBYTES))
        return lk_seterr(LK_ERR_STORE, "corrupt API key record %s", id);
    if (status != LK_KEY_ACTIVE)
        return lk_seterr(LK_DENY_DISABLED, "API key %s is disabled", id);
    if (lk_rec_find(v, vl, "ip", &f, &fl) && fl > 0) {
        lk_cidr client;
        char q[64];
        const char *ip = req ? req->client_ip : NULL;
        if (ip == NULL || ip[0] == '\0')
            return lk_seterr(LK_DENY_IP, "API key %s has an IP allowlist and no client address was given", id);
        if (lk_ip_parse(ip, &client) != LK_OK)
            return lk_seterr(LK_DENY_IP, "client address '%s' is not an IP address", lk_quote(ip, q, sizeof q));
        if (!list_any(f, fl, match_ip, &client))
            return lk_seterr(LK_DENY_IP, "client address %s is not in the allowlist of API key %s", ip, id);
    }
    if (req && req->service && lk_rec_find(v, vl, "scope", &f, &fl) && fl > 0 &&
        !list_any(f, fl, match_service, req->service)) {
        char q[64];
        return lk_seterr(LK_DENY_SCOPE, "service '%s' is not in the access scope of API key %s",
                         lk_quote(req->service, q, sizeof q), id);
    }
    return LK_OK;
}

lk_status lk_verify_apikey(lk_ctx *ctx, const char *apikey, size_t len, const lk_verify_req *req,
                           lk_verify_info *info)
{
    lk_txn txn;
    char id[LK_APIKEY_ID_LEN + 1], key[LK_KEYBUF], hash[crypto_pwhash_STRBYTES];
    const char *v;
    size_t vl;
    uint64_t root = 0;

    if (info)
        memset(info, 0, sizeof *info);
    if (apikey == NULL || !lk_keyfmt_apikey_ok(apikey, len)) {
        atomic_fetch_add(&ctx->st_early, 1);
        return lk_seterr(LK_DENY_MALFORMED, "malformed API key");
    }
    memcpy(id, apikey, LK_APIKEY_ID_LEN); /* the key carries its own lookup id */
    id[LK_APIKEY_ID_LEN] = '\0';
    lk_status st = lk_txn_begin(ctx, false, &txn);
    if (st != LK_OK)
        return st;
    lk_key_api(key, id);
    st = lk_txn_get(&txn, key, &v, &vl);
    if (st == LK_ERR_NOT_FOUND) {
        lk_txn_abort(&txn);
        atomic_fetch_add(&ctx->st_early, 1);
        return lk_seterr(LK_DENY_UNKNOWN_KEY, "API key %s does not exist", id);
    }
    if (st == LK_OK)
        st = check_request(id, v, vl, req, hash, &root);
    lk_txn_abort(&txn);
    if (st != LK_OK && !lk_status_is_denial(st))
        return st;
    if (info) {
        info->uin = root;
        snprintf(info->key_id, sizeof info->key_id, "%s", id);
    }
    if (st == LK_OK) {
        if (lk_cache_check(ctx->cache, id, hash, apikey, len)) {
            atomic_fetch_add(&ctx->st_cache_hits, 1);
        } else {
            atomic_fetch_add(&ctx->st_argon2, 1);
            if (lk_hash_verify(hash, apikey, len))
                lk_cache_put(ctx->cache, id, hash, apikey, len);
            else
                st = lk_seterr(LK_DENY_BAD_SECRET, "wrong secret for API key %s", id);
        }
    }
    lk_record_attempt(ctx, id, req, st);
    return st;
}
