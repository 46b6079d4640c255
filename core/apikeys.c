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
    int64_t revoked;                  /* when lk_revoke_user disabled it; 0: not */
    char next[LK_APIKEY_ID_LEN + 1];  /* the key a reroll made from it; "": none */
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
        !lk_rec_find(v, vl, "hash", &f, &fl) || !lk_rec_unescape(f, fl, out->hash, sizeof out->hash) ||
        !lk_rec_api_options(v, vl, &out->info.expire_time, &out->info.rate_limit, &out->info.rate_window_s))
        goto corrupt;
    out->info.status = (lk_key_status)status;
    if (!lk_rec_find(v, vl, "scope", &f, &fl) ||
        !lk_rec_parse_list(f, fl, LK_SCOPE_MAX, LK_SERVICE_MAX, &out->info.scope, &out->info.scope_count, &oom))
        goto corrupt;
    if (!lk_rec_find(v, vl, "ip", &f, &fl) ||
        !lk_rec_parse_list(f, fl, LK_ALLOW_IP_MAX, LK_IP_STRLEN + 4, &out->info.allow_ip, &out->info.allow_ip_count,
                           &oom))
        goto corrupt;
    if ((lk_rec_find(v, vl, "revoked", &f, &fl) && !lk_rec_parse_i64(f, fl, &out->revoked)) ||
        (lk_rec_find(v, vl, "next", &f, &fl) && !lk_rec_unescape(f, fl, out->next, sizeof out->next)))
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
    if (r->info.expire_time != LK_EXPIRES_NEVER) /* absent means never: records of older versions load unchanged */
        lk_rec_add_i64(&rec, "expires", r->info.expire_time);
    if (r->revoked != 0)
        lk_rec_add_i64(&rec, "revoked", r->revoked);
    if (r->next[0] != '\0')
        lk_rec_add(&rec, "next", r->next);
    if (r->info.rate_limit != 0) { /* absent means no limit */
        char rate[24];
        snprintf(rate, sizeof rate, "%u/%u", (unsigned)r->info.rate_limit, (unsigned)r->info.rate_window_s);
        lk_rec_add(&rec, "rate", rate);
    }
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
                return lk_seterr(LK_ERR_PARAM, "scope entry '%s' is listed twice", lk_quote(scope[i], q, sizeof q));
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

static lk_status check_rate(uint32_t limit, uint32_t window)
{
    if ((limit == 0) != (window == 0) || limit > LK_RATE_MAX || window > LK_RATE_WINDOW_MAX)
        return lk_seterr(LK_ERR_PARAM,
                         "request limit %u per %u s: give 1..%u requests per 1..%u seconds, or 0 and 0 for none",
                         (unsigned)limit, (unsigned)window, LK_RATE_MAX, LK_RATE_WINDOW_MAX);
    return LK_OK;
}

static lk_status check_description(const char *d)
{
    size_t n = d ? strlen(d) : 0;
    if (n > LK_DESC_MAX)
        return lk_seterr(LK_ERR_PARAM, "description is %zu bytes; at most %d are allowed", n, LK_DESC_MAX);
    char why[80];
    if (lk_text_fault(d ? d : "", n, why, sizeof why) != NULL)
        return lk_seterr(LK_ERR_PARAM,
                         "description %s: it must be UTF-8 text without control, bidirectional formatting or line "
                         "separator characters",
                         why);
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

/* A fresh key value for r: its id, masked form and hash (outside any write
 * txn: Argon2id is slow and the writer lock is shared). */
static lk_status new_api_value(lk_ctx *ctx, api_rec *r, lk_secret **out)
{
    lk_secret *sk = lk_secret_new(LK_APIKEY_LEN);
    *out = NULL;
    if (sk == NULL)
        return lk_seterr(LK_ERR_NOMEM, "out of guarded memory for the API key");
    lk_keyfmt_new_apikey(sk->str);
    lk_keyfmt_mask(sk->str, sk->len, r->info.masked);
    lk_status st = lk_hash_secret(&ctx->cfg, sk->str, sk->len, r->hash, sizeof r->hash);
    if (st != LK_OK) {
        lk_secret_free(sk);
        return st;
    }
    memcpy(r->info.id, sk->str, LK_APIKEY_ID_LEN); /* the key carries its own lookup id */
    r->info.id[LK_APIKEY_ID_LEN] = '\0';
    *out = sk;
    return LK_OK;
}

/* An API key's settings in words, for its audit entries (never a secret:
 * not even the masked form). */
enum { AW_NAME, AW_DESC, AW_STATUS, AW_SCOPE, AW_IP, AW_EXPIRY, AW_RATE, AW_N };
static const char *const aw_what[AW_N] = {"name",         "description", "status",    "scope",
                                          "IP allowlist", "expiry",      "rate limit"};
typedef struct api_words {
    char *v[AW_N];
} api_words;

static void api_words_free(api_words *w)
{
    for (size_t i = 0; i < AW_N; i++)
        free(w->v[i]);
    memset(w, 0, sizeof *w);
}

/* items joined by ',', or none for an empty list (malloc'd) */
static char *join_words(const char *const *items, size_t n, const char *none)
{
    size_t len = n == 0 ? strlen(none) : 0;
    for (size_t i = 0; i < n; i++)
        len += strlen(items[i]) + 1;
    char *out = malloc(len + 1);
    if (out == NULL)
        return NULL;
    if (n == 0)
        memcpy(out, none, strlen(none) + 1);
    for (size_t i = 0, o = 0; i < n; i++) {
        size_t l = strlen(items[i]);
        memcpy(out + o, items[i], l);
        o += l;
        out[o++] = i + 1 < n ? ',' : '\0';
    }
    return out;
}

/* "6000/1m": requests per window, the window in the largest whole unit */
static void rate_words(uint32_t limit, uint32_t window, char *buf, size_t sz)
{
    static const struct {
        uint32_t s;
        char u;
    } unit[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
    if (limit == 0 || window == 0) {
        snprintf(buf, sz, "none");
        return;
    }
    size_t i = 0;
    while (window % unit[i].s != 0)
        i++;
    snprintf(buf, sz, "%u/%u%c", (unsigned)limit, (unsigned)(window / unit[i].s), unit[i].u);
}

static bool api_words_of(const lk_apikey *k, api_words *w)
{
    char when[LK_TIME_STRLEN], rate[32];
    lk_expiry_words(k->expire_time, when);
    rate_words(k->rate_limit, k->rate_window_s, rate, sizeof rate);
    size_t nl = strlen(k->name) + 3, dl = strlen(k->description) + 3;
    memset(w, 0, sizeof *w);
    if ((w->v[AW_NAME] = malloc(nl)) != NULL)
        snprintf(w->v[AW_NAME], nl, "'%s'", k->name);
    if ((w->v[AW_DESC] = malloc(dl)) != NULL)
        snprintf(w->v[AW_DESC], dl, "'%s'", k->description);
    w->v[AW_STATUS] = strdup(lk_key_status_name(k->status));
    w->v[AW_SCOPE] = join_words((const char *const *)k->scope, k->scope_count, "all");
    w->v[AW_IP] = join_words((const char *const *)k->allow_ip, k->allow_ip_count, "any");
    w->v[AW_EXPIRY] = strdup(when);
    w->v[AW_RATE] = strdup(rate);
    for (size_t i = 0; i < AW_N; i++)
        if (w->v[i] == NULL) {
            api_words_free(w);
            return false;
        }
    return true;
}

/* The audit entry of a change to k, in words: note first (may be ""), then
 * what changed from before, or with before NULL k's settings (a new key;
 * a deleted one: its name only). */
static lk_status audit_api(lk_ctx *ctx, lk_txn *txn, const char *action, const api_words *before, const lk_apikey *k,
                           const char *note)
{
    api_words now;
    lk_change c;
    if (!api_words_of(k, &now))
        return lk_seterr(LK_ERR_NOMEM, "out of memory writing the audit log");
    lk_rec_init(&c);
    if (note[0])
        lk_change_add(&c, "%s", note);
    bool deleted = strcmp(action, "apikey.delete") == 0;
    for (size_t i = 0; i < AW_N; i++) {
        if (before != NULL)
            lk_change_diff(&c, aw_what[i], before->v[i], now.v[i]);
        else if (i == AW_NAME || (!deleted && i != AW_STATUS && (i != AW_DESC || k->description[0])))
            lk_change_add(&c, "%s %s", aw_what[i], now.v[i]);
    }
    if (c.len == 0 && !c.oom)
        lk_change_add(&c, "nothing changed");
    lk_status st = lk_audit_change(ctx, txn, action, k->id, k->root_uin, &c);
    lk_rec_free(&c);
    api_words_free(&now);
    return st;
}

/* Store a new key r inside the write txn: record, account index, and the
 * name index pointing at it. Limits and name checks are the caller's. */
static lk_status insert_new_api(lk_txn *txn, const api_rec *r)
{
    char key[LK_KEYBUF];
    const char *v;
    size_t vl;
    lk_key_api(key, r->info.id);
    lk_status st = lk_txn_get(txn, key, &v, &vl);
    if (st == LK_OK) /* 71 random bits: a collision means a broken RNG; refuse rather than overwrite */
        return lk_seterr(LK_ERR_INTERNAL, "API key id collision; try again");
    if (st != LK_ERR_NOT_FOUND)
        return st;
    if ((st = put_api(txn, r)) != LK_OK)
        return st;
    lk_key_api_index(key, r->info.root_uin, r->info.id);
    if ((st = lk_txn_put_raw(txn, key, "", 0)) != LK_OK)
        return st;
    lk_key_api_name(key, r->info.root_uin, r->info.name);
    return lk_txn_put_raw(txn, key, r->info.id, LK_APIKEY_ID_LEN);
}

typedef struct name_scan {
    lk_txn *txn;
    size_t skip;
    const char *name;
    bool taken;
    lk_status st;
} name_scan;

static int name_cb(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    name_scan *n = arg;
    char id[LK_APIKEY_ID_LEN + 1], key[LK_KEYBUF], name[LK_NAME_MAX + 1];
    const char *rv, *f;
    size_t rvl, fl;
    (void)v, (void)vl;
    if (kl - n->skip != LK_APIKEY_ID_LEN) {
        n->st = lk_seterr(LK_ERR_STORE, "corrupt API key index in store");
        return 1;
    }
    memcpy(id, k + n->skip, LK_APIKEY_ID_LEN);
    id[LK_APIKEY_ID_LEN] = '\0';
    lk_key_api(key, id);
    if ((n->st = lk_txn_get(n->txn, key, &rv, &rvl)) != LK_OK)
        return 1;
    if (!lk_rec_find(rv, rvl, "name", &f, &fl) || !lk_rec_unescape(f, fl, name, sizeof name)) {
        n->st = lk_seterr(LK_ERR_STORE, "corrupt API key record %s", id);
        return 1;
    }
    n->taken = strcmp(name, n->name) == 0;
    return n->taken;
}

/* Whether a key of the account, rolled out or not, has this name: the name
 * index finds only the newest of a reroll's pair, and a key that can still
 * verify must not share its name with a new one (at most limit + 1 loads). */
static lk_status name_in_use(lk_txn *txn, uint64_t root_uin, const char *name, bool *taken)
{
    char prefix[LK_KEYBUF];
    lk_key_api_index(prefix, root_uin, "");
    name_scan n = {.txn = txn, .skip = strlen(prefix), .name = name};
    lk_status st = lk_txn_scan(txn, prefix, name_cb, &n);
    *taken = n.taken;
    return st != LK_OK ? st : n.st;
}

/* The checks of a new key that need no store, filling r (its lists are
 * r's own: lk_apikey_release). */
static lk_status new_api_check(lk_ctx *ctx, uint64_t root_uin, const lk_apikey_spec *spec, api_rec *r)
{
    memset(r, 0, sizeof *r);
    if (!lk_uin_ok(root_uin))
        return lk_seterr(LK_ERR_PARAM, "UIN %" PRIu64 " is out of range", root_uin);
    if (spec == NULL || spec->name == NULL || spec->name[0] == '\0')
        return lk_seterr(LK_ERR_PARAM, "an API key needs a name");
    size_t nl = strlen(spec->name);
    if (nl > LK_NAME_MAX)
        return lk_seterr(LK_ERR_PARAM, "name is %zu bytes; at most %d are allowed", nl, LK_NAME_MAX);
    char why[80];
    if (lk_text_fault(spec->name, nl, why, sizeof why) != NULL)
        return lk_seterr(LK_ERR_PARAM,
                         "name %s: it must be UTF-8 text without control, bidirectional formatting or line separator "
                         "characters",
                         why);
    const char *name_fault = lk_name_fault(spec->name, nl);
    if (name_fault != NULL)
        return lk_seterr(LK_ERR_PARAM, "name %s: an API key name is shown and looked up exactly as given", name_fault);
    lk_status st = check_description(spec->description);
    if (st != LK_OK)
        return st;
    if ((st = lk_expiry_check_new(ctx, spec->expire_time)) != LK_OK)
        return st;
    if ((st = check_rate(spec->rate_limit, spec->rate_window_s)) != LK_OK)
        return st;
    r->info.expire_time = spec->expire_time;
    r->info.rate_limit = spec->rate_limit;
    r->info.rate_window_s = spec->rate_window_s;
    if ((st = check_scope(spec->scope, spec->scope_count, &r->info.scope)) != LK_OK)
        return st;
    r->info.scope_count = spec->scope_count;
    if ((st = check_allow_ip(spec->allow_ip, spec->allow_ip_count, &r->info.allow_ip)) != LK_OK) {
        lk_apikey_release(&r->info);
        return st;
    }
    r->info.allow_ip_count = spec->allow_ip_count;
    memcpy(r->info.name, spec->name, nl + 1);
    snprintf(r->info.description, sizeof r->info.description, "%s", spec->description ? spec->description : "");
    r->info.root_uin = root_uin;
    r->info.status = LK_KEY_ACTIVE;
    r->info.create_time = lk_now(ctx);
    return LK_OK;
}

/* Store the new key r (hashed) inside the write txn, with its audit entry:
 * the account, its limit and the name are checked here, where the txn
 * sees every change before it (an import's earlier lines too). */
static lk_status new_api_insert(lk_ctx *ctx, lk_txn *txn, const api_rec *r)
{
    char key[LK_KEYBUF];
    size_t count;
    const char *v;
    size_t vl;
    uint64_t root_uin = r->info.root_uin;
    lk_status st = check_root(txn, root_uin);
    if (st != LK_OK)
        return st;
    lk_key_api_index(key, root_uin, "");
    if ((st = lk_txn_count(txn, key, &count)) != LK_OK)
        return st;
    if (count >= ctx->cfg.apikeys_per_account)
        return lk_seterr(LK_ERR_APIKEY_OVER_LIMIT, "account %" PRIu64 " already has %zu API key(s); the limit is %u",
                         root_uin, count, ctx->cfg.apikeys_per_account);
    lk_key_api_name(key, root_uin, r->info.name);
    st = lk_txn_get(txn, key, &v, &vl);
    bool taken = st == LK_OK;
    if (st == LK_ERR_NOT_FOUND && (st = name_in_use(txn, root_uin, r->info.name, &taken)) == LK_OK && !taken)
        st = LK_ERR_NOT_FOUND;
    if (taken) {
        char shown[LK_NAME_MAX + 1]; /* a checked name: UTF-8 kept, a pasted key cut */
        return lk_seterr(LK_ERR_NAME_EXISTS, "account %" PRIu64 " already has an API key named '%s'", root_uin,
                         lk_redact(r->info.name, shown, sizeof shown));
    }
    if (st != LK_ERR_NOT_FOUND)
        return st;
    if ((st = insert_new_api(txn, r)) != LK_OK)
        return st;
    return audit_api(ctx, txn, "apikey.create", NULL, &r->info, "");
}

lk_status lk_apikey_create(lk_ctx *ctx, uint64_t root_uin, const lk_apikey_spec *spec, lk_apikey *out,
                           lk_secret **key_out)
{
    LK_REMOTE_CALL(ctx, apikey_create, root_uin, spec, out, key_out);
    lk_txn txn;
    api_rec r;
    lk_secret *sk = NULL;

    *key_out = NULL;
    if (out)
        memset(out, 0, sizeof *out);
    lk_status st = new_api_check(ctx, root_uin, spec, &r);
    if (st != LK_OK)
        return st;

    /* Cheap refusals before the Argon2id. */
    if ((st = lk_txn_begin(ctx, false, &txn)) != LK_OK)
        goto fail;
    st = check_root(&txn, root_uin);
    lk_txn_abort(&txn);
    if (st != LK_OK)
        goto fail;

    if ((st = new_api_value(ctx, &r, &sk)) != LK_OK)
        goto fail;

    if ((st = lk_txn_begin(ctx, true, &txn)) != LK_OK)
        goto fail;
    if ((st = new_api_insert(ctx, &txn, &r)) != LK_OK)
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

/* ------------------------------------------------------------ drafts (lk_import) */

struct lk_api_draft {
    api_rec r;
};

lk_status lk_api_draft_new(lk_ctx *ctx, uint64_t root_uin, const lk_apikey_spec *spec, lk_api_draft **out)
{
    lk_api_draft *d = calloc(1, sizeof *d);
    *out = NULL;
    if (d == NULL)
        return lk_seterr(LK_ERR_NOMEM, "out of memory");
    lk_status st = new_api_check(ctx, root_uin, spec, &d->r);
    if (st != LK_OK) {
        free(d);
        return st;
    }
    *out = d;
    return LK_OK;
}

lk_status lk_api_draft_hash(lk_ctx *ctx, lk_api_draft *d, lk_secret **secret)
{
    return new_api_value(ctx, &d->r, secret);
}

lk_status lk_api_draft_insert(lk_ctx *ctx, lk_txn *txn, const lk_api_draft *d, char id[LK_SECRET_ID_LEN + 1])
{
    snprintf(id, LK_SECRET_ID_LEN + 1, "%s", d->r.info.id);
    return new_api_insert(ctx, txn, &d->r);
}

void lk_api_draft_free(lk_api_draft *d)
{
    if (d != NULL)
        lk_apikey_release(&d->r.info);
    free(d);
}

/* An API key's record, read in a read txn of its own, with its last access
 * time; released with lk_apikey_release(&out->info). */
static lk_status read_api(lk_ctx *ctx, const char *id, api_rec *out)
{
    lk_txn txn;
    memset(out, 0, sizeof *out);
    lk_status st = check_id(id);
    if (st != LK_OK)
        return st;
    if ((st = lk_txn_begin(ctx, false, &txn)) != LK_OK)
        return st;
    st = load_api_rec(&txn, id, out);
    if (st == LK_OK)
        out->info.last_access_time = lk_last_access(ctx, &txn, id);
    lk_txn_abort(&txn);
    return st;
}

lk_status lk_apikey_get(lk_ctx *ctx, const char *id, lk_apikey *out)
{
    LK_REMOTE_CALL(ctx, apikey_get, id, out);
    api_rec r;
    memset(out, 0, sizeof *out);
    lk_status st = read_api(ctx, id, &r);
    if (st == LK_OK)
        *out = r.info;
    sodium_memzero(r.hash, sizeof r.hash);
    return st;
}

lk_status lk_apikey_find(lk_ctx *ctx, uint64_t root_uin, const char *name, lk_apikey *out)
{
    LK_REMOTE_CALL(ctx, apikey_find, root_uin, name, out);
    LK_LOCAL_ONLY(ctx);
    lk_txn txn;
    char key[LK_KEYBUF], id[LK_APIKEY_ID_LEN + 1], q[64];
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
        st = lk_seterr(LK_ERR_KEY_NOT_EXIST, "account %" PRIu64 " has no API key named '%s'", root_uin,
                       lk_quote(name, q, sizeof q));
    if (st == LK_OK && vl != LK_APIKEY_ID_LEN)
        st = lk_seterr(LK_ERR_STORE, "corrupt API key name index for '%s'", lk_quote(name, q, sizeof q));
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
    LK_REMOTE_CALL(ctx, apikey_list, root_uin, out, count);
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

static lk_status change_api(lk_ctx *ctx, const char *id, api_change_fn fn, const void *arg, const char *action)
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
    api_words before;
    st = api_words_of(&r.info, &before) ? fn(&r, arg) : lk_seterr(LK_ERR_NOMEM, "out of memory");
    if (st == LK_OK)
        st = put_api(&txn, &r);
    if (st == LK_OK)
        st = audit_api(ctx, &txn, action ? action : r.info.status == LK_KEY_ACTIVE ? "apikey.enable" : "apikey.disable",
                       &before, &r.info, "");
    api_words_free(&before);
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

static lk_status apply_status(api_rec *r, const void *arg)
{
    r->info.status = *(const lk_key_status *)arg;
    if (r->info.status == LK_KEY_ACTIVE)
        r->revoked = 0; /* an operator's enable ends what a revoke started */
    return LK_OK;
}

static lk_status apply_edit(api_rec *r, const void *arg)
{
    const lk_apikey_edit *e = arg;
    lk_status st;
    if (e->set_expiry && e->expire_time < 0) {
        char t[LK_TIME_STRLEN];
        return lk_seterr(LK_ERR_PARAM, "expiry %s is before 1970", lk_fmt_time(e->expire_time, t));
    }
    if (e->set_rate_limit && (st = check_rate(e->rate_limit, e->rate_window_s)) != LK_OK)
        return st;
    if (e->set_status && e->status != LK_KEY_ACTIVE && e->status != LK_KEY_INACTIVE)
        return lk_seterr(LK_ERR_PARAM, "unknown key status %d", (int)e->status);
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
    if (e->set_expiry)
        r->info.expire_time = e->expire_time;
    if (e->set_rate_limit) {
        r->info.rate_limit = e->rate_limit;
        r->info.rate_window_s = e->rate_window_s;
    }
    if (e->set_status)
        (void)apply_status(r, &e->status);
    return LK_OK;
}

lk_status lk_apikey_edit_key(lk_ctx *ctx, const char *id, const lk_apikey_edit *edit)
{
    LK_REMOTE_CALL(ctx, apikey_edit, id, edit);
    if (edit == NULL)
        return lk_seterr(LK_ERR_PARAM, "no edit given");
    return change_api(ctx, id, apply_edit, edit, "apikey.edit");
}

lk_status lk_apikey_set_status(lk_ctx *ctx, const char *id, lk_key_status st)
{
    LK_REMOTE_CALL(ctx, apikey_set_status, id, st);
    if (st != LK_KEY_ACTIVE && st != LK_KEY_INACTIVE)
        return lk_seterr(LK_ERR_PARAM, "unknown key status %d", (int)st);
    return change_api(ctx, id, apply_status, &st, NULL);
}

lk_status lk_apikey_set_expiry(lk_ctx *ctx, const char *id, int64_t expire_time)
{
    lk_apikey_edit e = {.set_expiry = 1, .expire_time = expire_time};
    return lk_apikey_edit_key(ctx, id, &e);
}

lk_status lk_apikey_set_rate_limit(lk_ctx *ctx, const char *id, uint32_t limit, uint32_t window_s)
{
    lk_apikey_edit e = {.set_rate_limit = 1, .rate_limit = limit, .rate_window_s = window_s};
    return lk_apikey_edit_key(ctx, id, &e);
}

lk_status lk_apikey_disable_in(lk_txn *txn, const char *id, bool *changed)
{
    api_rec r;
    *changed = false;
    lk_status st = load_api_rec(txn, id, &r);
    if (st != LK_OK)
        return st;
    if (r.info.status == LK_KEY_ACTIVE || r.revoked == 0) {
        bool was_active = r.info.status == LK_KEY_ACTIVE;
        r.info.status = LK_KEY_INACTIVE;
        if (r.revoked == 0) /* so that no reroll hands out a working key again */
            r.revoked = lk_now(txn->ctx) > 0 ? lk_now(txn->ctx) : 1;
        st = put_api(txn, &r);
        *changed = st == LK_OK && was_active;
    }
    lk_apikey_release(&r.info);
    return st;
}

/* The checks of a reroll of old, inside txn (read or write): the key's
 * state, the account's count; sets *new_expiry. */
static lk_status reroll_check(lk_ctx *ctx, lk_txn *txn, const api_rec *old, const lk_rotate_opts *o,
                              int64_t *new_expiry)
{
    char key[LK_KEYBUF], next_key[LK_KEYBUF];
    size_t count;
    lk_key_api(next_key, old->next);
    lk_rotation_state rs = {.what = "API key", .id = old->info.id, .revoked = old->revoked, .next = old->next,
                            .next_key = next_key, .expire_time = old->info.expire_time};
    lk_status st = lk_rotation_plan(ctx, txn, &rs, o, new_expiry);
    if (st != LK_OK)
        return st;
    /* the pair may exceed the limit by one during the grace, never more */
    lk_key_api_index(key, old->info.root_uin, "");
    if ((st = lk_txn_count(txn, key, &count)) == LK_OK && count > ctx->cfg.apikeys_per_account)
        st = lk_seterr(LK_ERR_APIKEY_OVER_LIMIT,
                       "account %" PRIu64 " already holds %zu API key(s), one over its limit (%u) while a rerolled "
                       "key runs out: disable and delete that one before rerolling %s",
                       old->info.root_uin, count, ctx->cfg.apikeys_per_account, old->info.id);
    return st;
}

lk_status lk_apikey_reroll(lk_ctx *ctx, const char *id, int64_t grace_seconds, int64_t new_expire_time,
                           lk_apikey *out, lk_secret **key_out)
{
    lk_rotate_opts o = {.grace_seconds = grace_seconds, .set_expiry = 1, .expire_time = new_expire_time};
    return lk_apikey_reroll_with(ctx, id, &o, out, key_out);
}

lk_status lk_apikey_reroll_with(lk_ctx *ctx, const char *id, const lk_rotate_opts *o, lk_apikey *out,
                                lk_secret **key_out)
{
    LK_REMOTE_CALL(ctx, apikey_reroll, id, o, out, key_out);
    LK_LOCAL_ONLY(ctx);
    lk_txn txn;
    api_rec old, r;
    lk_secret *sk = NULL;
    int64_t old_expiry, new_expiry;

    *key_out = NULL;
    if (out)
        memset(out, 0, sizeof *out);
    memset(&old, 0, sizeof old);
    memset(&r, 0, sizeof r);
    lk_status st = check_id(id);
    if (st != LK_OK)
        return st;
    if (o == NULL)
        return lk_seterr(LK_ERR_PARAM, "no reroll options given");
    /* Cheap refusals before the Argon2id. */
    if ((st = lk_txn_begin(ctx, false, &txn)) != LK_OK)
        return st;
    if ((st = load_api_rec(&txn, id, &old)) == LK_OK) {
        st = lk_expiry_after_grace(ctx, old.info.expire_time, o->grace_seconds, &old_expiry);
        if (st == LK_OK)
            st = reroll_check(ctx, &txn, &old, o, &new_expiry);
        lk_apikey_release(&old.info);
    }
    lk_txn_abort(&txn);
    if (st != LK_OK)
        return st;
    if ((st = new_api_value(ctx, &r, &sk)) != LK_OK)
        return st;
    if ((st = lk_txn_begin(ctx, true, &txn)) != LK_OK)
        goto fail;
    if ((st = load_api_rec(&txn, id, &old)) != LK_OK)
        goto abort;
    if ((st = lk_expiry_after_grace(ctx, old.info.expire_time, o->grace_seconds, &old_expiry)) != LK_OK ||
        (st = reroll_check(ctx, &txn, &old, o, &new_expiry)) != LK_OK)
        goto abort;
    /* The new key: everything of the old one but the value, its times and status. */
    r.info.root_uin = old.info.root_uin;
    memcpy(r.info.name, old.info.name, sizeof r.info.name);
    memcpy(r.info.description, old.info.description, sizeof r.info.description);
    r.info.status = LK_KEY_ACTIVE;
    r.info.create_time = lk_now(ctx);
    r.info.expire_time = new_expiry;
    r.info.rate_limit = old.info.rate_limit;
    r.info.rate_window_s = old.info.rate_window_s;
    r.info.scope_count = old.info.scope_count;
    r.info.allow_ip_count = old.info.allow_ip_count;
    if ((old.info.scope_count > 0 &&
         (r.info.scope = lk_strlist_dup((const char *const *)old.info.scope, old.info.scope_count)) == NULL) ||
        (old.info.allow_ip_count > 0 &&
         (r.info.allow_ip = lk_strlist_dup((const char *const *)old.info.allow_ip, old.info.allow_ip_count)) == NULL)) {
        st = lk_seterr(LK_ERR_NOMEM, "out of memory");
        goto abort;
    }
    if ((st = insert_new_api(&txn, &r)) != LK_OK)
        goto abort;
    api_words was;
    if (!api_words_of(&old.info, &was)) {
        st = lk_seterr(LK_ERR_NOMEM, "out of memory");
        goto abort;
    }
    old.info.expire_time = old_expiry;
    memcpy(old.next, r.info.id, sizeof old.next);
    char note[128];
    snprintf(note, sizeof note, "replaced by %s%s", r.info.id, old.revoked ? "; rerolled although revoked (--force)" : "");
    if ((st = put_api(&txn, &old)) == LK_OK)
        st = audit_api(ctx, &txn, "apikey.reroll", &was, &old.info, note);
    api_words_free(&was);
    if (st != LK_OK)
        goto abort;
    snprintf(note, sizeof note, "rerolled from %s%s", id, o->set_expiry ? "" : " (expiry carried over)");
    if ((st = audit_api(ctx, &txn, "apikey.create", NULL, &r.info, note)) != LK_OK)
        goto abort;
    if ((st = lk_txn_commit(&txn)) != LK_OK)
        goto fail;
    lk_apikey_release(&old.info);
    if (out)
        *out = r.info;
    else
        lk_apikey_release(&r.info);
    *key_out = sk;
    return LK_OK;
abort:
    lk_txn_abort(&txn);
fail:
    lk_apikey_release(&old.info);
    lk_apikey_release(&r.info);
    lk_secret_free(sk);
    return st;
}

lk_status lk_apikey_delete(lk_ctx *ctx, const char *id)
{
    LK_REMOTE_CALL(ctx, apikey_delete, id);
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
    /* After a reroll the name finds the new key: drop the name only if it is this key's. */
    lk_key_api_name(key, r.info.root_uin, r.info.name);
    const char *nv;
    size_t nvl;
    st = lk_txn_get(&txn, key, &nv, &nvl);
    if (st == LK_OK && nvl == LK_APIKEY_ID_LEN && memcmp(nv, id, nvl) == 0)
        st = lk_txn_del(&txn, key);
    if (st != LK_OK && st != LK_ERR_NOT_FOUND)
        goto release;
    if ((st = lk_records_delete(ctx, &txn, id)) != LK_OK)
        goto release;
    if ((st = audit_api(ctx, &txn, "apikey.delete", NULL, &r.info, "")) != LK_OK)
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

lk_status lk_apikey_matches(lk_ctx *ctx, const char *apikey, size_t len)
{
    LK_LOCAL_ONLY(ctx);
    api_rec r;
    char id[LK_APIKEY_ID_LEN + 1];
    if (apikey == NULL || !lk_keyfmt_apikey_ok(apikey, len))
        return lk_seterr(LK_ERR_PARAM, "not an API key value (lk- + 54 characters with a valid checksum)");
    memcpy(id, apikey, LK_APIKEY_ID_LEN);
    id[LK_APIKEY_ID_LEN] = '\0';
    lk_status st = read_api(ctx, id, &r);
    if (st != LK_OK)
        return st;
    lk_apikey_release(&r.info);
    atomic_fetch_add(&ctx->st_argon2, 1);
    if (!lk_hash_verify(r.hash, apikey, len))
        st = lk_seterr(LK_DENY_BAD_SECRET, "the value is not that of API key %s", id);
    sodium_memzero(r.hash, sizeof r.hash);
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
    if (lk_rec_find(v, vl, "scope", &f, &fl) && fl > 0 && !(req && (req->flags & LK_VERIFY_SCOPE_BY_CALLER))) {
        char q[64];
        /* A key restricted to services is not valid for "no service named":
         * a host that forgot to name one must not let it in everywhere. */
        if (req == NULL || req->service == NULL || req->service[0] == '\0')
            return lk_seterr(LK_DENY_SCOPE, "API key %s is restricted to a list of services and no service was named",
                             id);
        if (!list_any(f, fl, match_service, req->service))
            return lk_seterr(LK_DENY_SCOPE, "service '%s' is not in the access scope of API key %s",
                             lk_quote(req->service, q, sizeof q), id);
    }
    return LK_OK;
}

/* What a wrong secret gets, and so does every request refused before its
 * secret was checked (disabled, IP allowlist, scope): a caller that has not
 * proven it holds the key must not learn the key's state or rules (issue 19). */
static lk_status wrong_secret(const char *id)
{
    return lk_seterr(LK_DENY_BAD_SECRET,
                     "wrong secret for API key %s, or a request the key's state or rules refuse (its access records "
                     "say which)",
                     id);
}

/* cached_only: stop with LK_ERR_NEEDS_HASH where an Argon2id would run. */
static lk_status verify_apikey(lk_ctx *ctx, const char *apikey, size_t len, const lk_verify_req *req,
                               lk_verify_info *info, bool cached_only)
{
    lk_txn txn;
    char id[LK_APIKEY_ID_LEN + 1], key[LK_KEYBUF], hash[crypto_pwhash_STRBYTES];
    const char *v;
    size_t vl;
    uint64_t root = 0;
    int64_t expires = 0;
    uint32_t rate[2] = {0, 0}; /* limit, window */
    const char *login = req ? req->login : NULL;
    bool login_match = true;

    if (info)
        memset(info, 0, sizeof *info);
    lk_cidr client_ip;
    bool has_ip;
    lk_status req_st = lk_verify_req_parse(req, &client_ip, &has_ip); /* the caller's error: no lookup, no record */
    if (req_st != LK_OK)
        return req_st;
    if (apikey == NULL || !lk_keyfmt_apikey_ok(apikey, len)) {
        atomic_fetch_add(&ctx->st_early, 1);
        return lk_seterr_id(LK_DENY_MALFORMED, "malformed API key", "", "");
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
        return lk_seterr_id(LK_DENY_UNKNOWN_KEY, "API key ", id, " does not exist");
    }
    if (st == LK_OK)
        st = check_request(id, v, vl, req, hash, &root);
    if (st == LK_OK && !lk_rec_api_options(v, vl, &expires, &rate[0], &rate[1])) /* lifecycle.c */
        st = lk_seterr(LK_ERR_STORE, "corrupt API key record %s", id);
    if (st == LK_OK && login != NULL) {
        lk_status lst = lk_login_matches(&txn, root, id, login, &login_match);
        if (lst != LK_OK)
            st = lst;
    }
    lk_txn_abort(&txn);
    if (st != LK_OK && !lk_status_is_denial(st))
        return st;
    if (info) {
        info->uin = root;
        snprintf(info->key_id, sizeof info->key_id, "%s", id);
    }
    /* Refused by check_request, without Argon2id and whatever the secret:
     * the secret is unproven, so answered as a wrong one and recorded with
     * the real reason, for the operator. */
    lk_status recorded = st;
    if (st != LK_OK)
        st = wrong_secret(id);
    if (st == LK_OK) {
        if (lk_cache_check(ctx->cache, id, hash, apikey, len)) {
            /* A hash to upgrade costs Argon2id: not on latchkeyd's request thread. */
            if (cached_only && lk_hash_outdated(ctx, hash))
                return lk_seterr(LK_ERR_NEEDS_HASH, "API key %s: the stored hash is to be upgraded", id);
            atomic_fetch_add(&ctx->st_cache_hits, 1);
        } else if (cached_only) {
            return lk_seterr(LK_ERR_NEEDS_HASH, "API key %s: the secret needs an Argon2id verification", id);
        } else {
            atomic_fetch_add(&ctx->st_argon2, 1);
            if (lk_hash_verify(hash, apikey, len))
                lk_cache_put(ctx->cache, id, hash, apikey, len);
            else
                st = wrong_secret(id);
        }
    }
    if (st == LK_OK)
        st = lk_expiry_verdict(ctx, id, expires);
    if (st == LK_OK)
        st = lk_login_verdict(id, login, login_match);
    if (st == LK_OK && rate[0] != 0) /* only a request everything else allows counts */
        st = lk_rate_take(ctx, id, rate[0], rate[1], lk_now(ctx));
    if (st == LK_OK && lk_hash_outdated(ctx, hash)) { /* only after the right secret */
        lk_key_api(key, id);
        lk_hash_upgrade(ctx, id, key, hash, apikey, len);
    }
    lk_record_attempt(ctx, id, req, has_ip ? &client_ip : NULL, recorded != LK_OK ? recorded : st);
    return st;
}

lk_status lk_verify_apikey(lk_ctx *ctx, const char *apikey, size_t len, const lk_verify_req *req,
                           lk_verify_info *info)
{
    LK_REMOTE_CALL(ctx, verify_apikey, apikey, len, req, info);
    return verify_apikey(ctx, apikey, len, req, info, false);
}

lk_status lk_verify_apikey_cached(lk_ctx *ctx, const char *apikey, size_t len, const lk_verify_req *req,
                                  lk_verify_info *info)
{
    LK_LOCAL_ONLY(ctx);
    return verify_apikey(ctx, apikey, len, req, info, true);
}
