/*
 * audit.c — the audit log of changes, kept in the store itself so it works
 * on every backend and is written in the transaction of the change it
 * describes: a change and its entry are committed together or not at all.
 *
 * Layout: au/<16 hex digits of the time><8 hex digits of a sequence>, so a
 * scan of au/ is in time order. The value is a text record like the keys'.
 * Entries older than audit.retention_days are deleted a few at a time as
 * new ones are written.
 */
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lk_internal.h"

#define AUDIT_PREFIX "au/"
#define PRUNE_MAX 64 /* old entries dropped per write: bounded work per change */

static _Thread_local char reason_buf[LK_AUDIT_TEXT_MAX + 1];

lk_status lk_audit_reason(const char *reason)
{
    char why[80];
    size_t n = reason ? strlen(reason) : 0;
    if (n > LK_AUDIT_TEXT_MAX)
        return lk_seterr(LK_ERR_PARAM, "reason is %zu bytes; at most %d are allowed", n, LK_AUDIT_TEXT_MAX);
    if (n > 0 && lk_text_fault(reason, n, why, sizeof why) != NULL)
        return lk_seterr(LK_ERR_PARAM, "reason %s: it must be printable UTF-8 text", why);
    memcpy(reason_buf, n ? reason : "", n + 1);
    return LK_OK;
}

static void actor(uint32_t *uid, char name[LK_LOGIN_MAX + 1])
{
    struct passwd pw, *res = NULL;
    char buf[1024];
    *uid = (uint32_t)getuid();
    name[0] = '\0';
    if (getpwuid_r((uid_t)*uid, &pw, buf, sizeof buf, &res) == 0 && res != NULL)
        snprintf(name, LK_LOGIN_MAX + 1, "%s", res->pw_name);
}

typedef struct old_keys {
    int64_t before;
    char keys[PRUNE_MAX][40];
    size_t n;
} old_keys;

static int old_cb(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    old_keys *o = arg;
    uint64_t t;
    (void)v, (void)vl;
    if (kl != strlen(AUDIT_PREFIX) + 24 || o->n == PRUNE_MAX)
        return 1;
    /* the key is not NUL-terminated (it may end a backend's mapped page): parse exactly 16 digits */
    t = 0;
    for (size_t i = strlen(AUDIT_PREFIX); i < strlen(AUDIT_PREFIX) + 16; i++) {
        char c = k[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return 1; /* not an entry key: stop pruning rather than guess */
        t = t << 4 | (uint64_t)d;
    }
    if ((int64_t)t >= o->before)
        return 1; /* time order: the rest is newer */
    memcpy(o->keys[o->n], k, kl);
    o->keys[o->n++][kl] = '\0';
    return 0;
}

lk_status lk_audit(lk_ctx *ctx, lk_txn *txn, const char *action, const char *target, uint64_t uin,
                   const char *fields, ...)
{
    char key[LK_KEYBUF], text[LK_AUDIT_TEXT_MAX + 1], user[LK_LOGIN_MAX + 1];
    uint32_t uid;
    va_list ap;
    va_start(ap, fields);
    vsnprintf(text, sizeof text, fields, ap);
    va_end(ap);
    actor(&uid, user);
    int64_t now = lk_now(ctx);
    uint64_t t = now > 0 ? (uint64_t)now : 0;

    /* a free sequence number within this second (this txn holds the writer lock) */
    size_t seq = 0;
    char prefix[24]; /* au/ + 16 hex digits */
    snprintf(prefix, sizeof prefix, AUDIT_PREFIX "%016" PRIx64, t);
    lk_status st = lk_txn_count(txn, prefix, &seq);
    for (;; seq++) {
        const char *v;
        size_t vl;
        if (st != LK_OK)
            return st;
        snprintf(key, sizeof key, "%s%08x", prefix, (unsigned)(seq & 0xffffffffu));
        st = lk_txn_get(txn, key, &v, &vl);
        if (st == LK_ERR_NOT_FOUND)
            break;
    }
    lk_rec rec;
    lk_rec_init(&rec);
    lk_rec_add_i64(&rec, "time", now);
    lk_rec_add_u64(&rec, "uid", uid);
    lk_rec_add(&rec, "user", user);
    lk_rec_add(&rec, "action", action);
    lk_rec_add(&rec, "target", target);
    lk_rec_add_u64(&rec, "uin", uin);
    lk_rec_add(&rec, "fields", text);
    lk_rec_add(&rec, "reason", reason_buf);
    st = lk_txn_put(txn, key, &rec);
    lk_rec_free(&rec);
    if (st != LK_OK)
        return st;

    /* retention: drop a few entries that have aged out */
    old_keys *o = malloc(sizeof *o);
    if (o == NULL)
        return LK_OK; /* pruning can wait for the next change */
    o->n = 0;
    o->before = now - (int64_t)ctx->cfg.audit_retention_days * 86400;
    st = lk_txn_scan(txn, AUDIT_PREFIX, old_cb, o);
    for (size_t i = 0; i < o->n && st == LK_OK; i++)
        st = lk_txn_del(txn, o->keys[i]);
    free(o);
    return st == LK_ERR_NOT_FOUND ? LK_OK : st;
}

typedef struct audit_list {
    int64_t since;
    const char *key_id;
    uint64_t uin;
    lk_audit_entry *items;
    size_t n, cap;
    lk_status st;
} audit_list;

static bool text_field(const char *v, size_t vl, const char *name, char *out, size_t outsz)
{
    const char *f;
    size_t fl;
    return lk_rec_find(v, vl, name, &f, &fl) && lk_rec_unescape(f, fl, out, outsz);
}

static int list_cb(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    audit_list *l = arg;
    lk_audit_entry e;
    const char *f;
    size_t fl;
    uint64_t uid;
    (void)k, (void)kl;
    memset(&e, 0, sizeof e);
    if (!lk_rec_find(v, vl, "time", &f, &fl) || !lk_rec_parse_i64(f, fl, &e.time) ||
        !lk_rec_find(v, vl, "uid", &f, &fl) || !lk_rec_parse_u64(f, fl, &uid) || uid > UINT32_MAX ||
        !lk_rec_find(v, vl, "uin", &f, &fl) || !lk_rec_parse_u64(f, fl, &e.uin) ||
        !text_field(v, vl, "user", e.user, sizeof e.user) || !text_field(v, vl, "action", e.action, sizeof e.action) ||
        !text_field(v, vl, "target", e.target, sizeof e.target) ||
        !text_field(v, vl, "fields", e.fields, sizeof e.fields) ||
        !text_field(v, vl, "reason", e.reason, sizeof e.reason)) {
        l->st = lk_seterr(LK_ERR_STORE, "corrupt audit entry in store");
        return 1;
    }
    e.uid = (uint32_t)uid;
    if (e.time < l->since || (l->key_id && strcmp(l->key_id, e.target) != 0) || (l->uin && l->uin != e.uin))
        return 0;
    void *grown = lk_grow(l->items, &l->cap, l->n, sizeof *l->items, 16);
    if (grown == NULL) {
        l->st = lk_seterr(LK_ERR_NOMEM, "out of memory listing the audit log");
        return 1;
    }
    l->items = grown;
    l->items[l->n++] = e;
    return 0;
}

lk_status lk_audit_list(lk_ctx *ctx, int64_t since, const char *key_id, uint64_t uin, lk_audit_entry **out,
                        size_t *count)
{
    LK_LOCAL_ONLY(ctx);
    lk_txn txn;
    *out = NULL;
    *count = 0;
    lk_status st = lk_txn_begin(ctx, false, &txn);
    if (st != LK_OK)
        return st;
    audit_list l = {.since = since, .key_id = key_id && key_id[0] ? key_id : NULL, .uin = uin};
    st = lk_txn_scan(&txn, AUDIT_PREFIX, list_cb, &l);
    lk_txn_abort(&txn);
    if (st == LK_OK)
        st = l.st;
    if (st != LK_OK) {
        free(l.items);
        return st;
    }
    *out = l.items;
    *count = l.n;
    return LK_OK;
}
