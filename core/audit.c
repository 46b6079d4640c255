/*
 * audit.c — the audit log of changes, kept in the store itself so it works
 * on every backend and is written in the transaction of the change it
 * describes: a change and its entry are committed together or not at all.
 *
 * Layout: au/<16 hex digits of the time><8 hex digits of a sequence>, so a
 * scan of au/ is in time order. The value is a text record like the keys':
 * a list of named fields (time, uid, user, action, target, uin, fields,
 * reason, host), read by name, so a field added later is one lk_rec_add here and
 * one member of lk_audit_entry (an entry older than the field reads as ""). The
 * fields say what changed in words, from → to (lk_change), in full:
 * they are bounded by the limits of what they describe (names, scopes,
 * allowlists), and an entry beyond LK_AUDIT_FIELDS_MAX refuses the change
 * rather than record less.
 *
 * One more record, am ("audit mark"), keeps the position: the newest
 * entry's key (its sequence without a count of the entries in its second)
 * and the times of the RECENT newest entries. Entries older than
 * audit.retention_days are deleted a few at a time as new ones are written,
 * oldest first (a scan that stops at the first entry not due), by the audit
 * clock: the writer's clock, but never more than AUDIT_CLOCK_STEP past the
 * oldest of the RECENT newest entries' times. So a host whose clock runs a
 * year ahead drops nothing early unless it makes RECENT changes in a row
 * with no change from a host with the right time between them; in a store
 * changed rarely, entries stay up to RECENT intervals between changes
 * longer than the retention.
 */
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lk_internal.h"

#define AUDIT_PREFIX "au/"
#define AUDIT_KEY_LEN (sizeof AUDIT_PREFIX - 1 + 24)
#define AUDIT_MARK "am"
#define AUDIT_CLOCK_STEP 86400 /* how far past the recent entries' times the audit clock may be */
#define RECENT 8
#define PRUNE_MAX 64           /* old entries dropped per write: bounded work per change */

static _Thread_local char reason_buf[LK_AUDIT_TEXT_MAX + 1];

/* lk_scan_text's callback: stop at the first secret (a SecretId is public), copied to arg. */
static int secret_found(void *arg, const lk_found_cred *found)
{
    if (found->kind == LK_CRED_SECRET_ID)
        return 0;
    *(lk_found_cred *)arg = *found;
    return 1;
}

lk_status lk_audit_reason(const char *reason)
{
    char why[80];
    size_t n = reason ? strlen(reason) : 0;
    if (n > LK_AUDIT_TEXT_MAX)
        return lk_seterr(LK_ERR_PARAM, "reason is %zu bytes; at most %d are allowed", n, LK_AUDIT_TEXT_MAX);
    if (n > 0 && lk_text_fault(reason, n, why, sizeof why) != NULL)
        return lk_seterr(LK_ERR_PARAM, "reason %s: it must be printable UTF-8 text", why);
    /* everyone who reads the audit log would read it: a secret pasted into a reason (a remote
     * caller's Reason, --reason "leaked: <the key>") is refused, never recorded */
    lk_found_cred found = {.kind = LK_CRED_SECRET_ID};
    if (n > 0 && lk_scan_text(reason, n, secret_found, &found) > 0 && found.kind != LK_CRED_SECRET_ID)
        return lk_seterr(LK_ERR_PARAM, "reason holds %s at byte %zu: a secret is never written to the audit log; "
                                       "name the key by its SecretId or API key id instead",
                         found.kind == LK_CRED_SECRET_KEY ? "a SecretKey" : "an API key value", found.offset);
    memcpy(reason_buf, n ? reason : "", n + 1);
    return LK_OK;
}

const char *lk_audit_reason_get(void)
{
    return reason_buf;
}

/* The host name: a fleet's hosts share one log. */
static void host_name(char out[LK_AUDIT_HOST_MAX + 1])
{
    char why[80];
    if (gethostname(out, LK_AUDIT_HOST_MAX + 1) != 0)
        out[0] = '\0';
    out[LK_AUDIT_HOST_MAX] = '\0';
    if (lk_text_fault(out, strlen(out), why, sizeof why) != NULL)
        out[0] = '\0'; /* never unprintable text in the log */
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

/* The time and sequence of an entry key (exactly AUDIT_KEY_LEN bytes, not
 * NUL-terminated: it may end a backend's mapped page). */
static bool entry_key(const char *k, size_t kl, uint64_t *t, uint32_t *seq)
{
    uint64_t v = 0;
    if (kl != AUDIT_KEY_LEN || memcmp(k, AUDIT_PREFIX, sizeof AUDIT_PREFIX - 1) != 0)
        return false;
    for (size_t i = sizeof AUDIT_PREFIX - 1; i < kl; i++) {
        char c = k[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return false;
        v = v << 4 | (uint64_t)d;
        if (i == sizeof AUDIT_PREFIX - 1 + 15) {
            *t = v;
            v = 0;
        }
    }
    *seq = (uint32_t)v;
    return true;
}

/* The audit mark: the newest entry's time and sequence, and the times of
 * the RECENT newest entries (newest first). */
typedef struct audit_mark {
    bool have_last;
    uint64_t last_time;
    uint32_t last_seq;
    int64_t recent[RECENT];
    size_t nrecent;
} audit_mark;

static void add_recent(audit_mark *m, int64_t t)
{
    memmove(m->recent + 1, m->recent, (RECENT - 1) * sizeof m->recent[0]);
    m->recent[0] = t;
    if (m->nrecent < RECENT)
        m->nrecent++;
}

static int newest_cb(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    audit_mark *m = arg;
    (void)v, (void)vl;
    if (entry_key(k, kl, &m->last_time, &m->last_seq)) {
        m->have_last = true;
        add_recent(m, (int64_t)m->last_time);
    }
    return 0;
}

static bool parse_recent(const char *f, size_t fl, audit_mark *m)
{
    const char *p = f, *end = f + fl;
    while (p < end && m->nrecent < RECENT) { /* ':'-separated: a ',' would be escaped */
        const char *colon = memchr(p, ':', (size_t)(end - p));
        const char *e = colon ? colon : end;
        if (!lk_rec_parse_i64(p, (size_t)(e - p), &m->recent[m->nrecent++]))
            return false;
        p = e + 1;
    }
    return true;
}

static lk_status read_mark(lk_txn *txn, audit_mark *m)
{
    const char *v, *f;
    size_t vl, fl;
    char last[AUDIT_KEY_LEN + 1];
    memset(m, 0, sizeof *m);
    lk_status st = lk_txn_get(txn, AUDIT_MARK, &v, &vl);
    if (st == LK_ERR_NOT_FOUND) /* a log written before the mark existed: one whole look, once */
        return lk_txn_scan(txn, AUDIT_PREFIX, newest_cb, m);
    if (st != LK_OK)
        return st;
    if (lk_rec_find(v, vl, "last", &f, &fl)) {
        if (!lk_rec_unescape(f, fl, last, sizeof last) ||
            !entry_key(last, strlen(last), &m->last_time, &m->last_seq))
            return lk_seterr(LK_ERR_STORE, "corrupt audit mark in store");
        m->have_last = true;
    }
    if (lk_rec_find(v, vl, "recent", &f, &fl) && !parse_recent(f, fl, m))
        return lk_seterr(LK_ERR_STORE, "corrupt audit mark in store");
    return LK_OK;
}

typedef struct old_keys {
    int64_t before;
    char keys[PRUNE_MAX][AUDIT_KEY_LEN + 1];
    size_t n;
} old_keys;

static int old_cb(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    old_keys *o = arg;
    uint64_t t;
    uint32_t seq;
    (void)v, (void)vl;
    if (o->n == PRUNE_MAX || !entry_key(k, kl, &t, &seq))
        return 1; /* not an entry key: stop pruning rather than guess */
    if ((int64_t)t >= o->before)
        return 1; /* time order: the rest is newer */
    memcpy(o->keys[o->n], k, kl);
    o->keys[o->n++][kl] = '\0';
    return 0;
}

/* Drop up to PRUNE_MAX entries older than the retention by the audit clock. */
static lk_status prune(lk_ctx *ctx, lk_txn *txn, int64_t clock)
{
    old_keys *o = malloc(sizeof *o);
    if (o == NULL)
        return LK_OK; /* pruning can wait for the next change */
    o->n = 0;
    o->before = clock - (int64_t)ctx->cfg.audit_retention_days * 86400;
    lk_status st = lk_txn_scan(txn, AUDIT_PREFIX, old_cb, o);
    for (size_t i = 0; i < o->n && st == LK_OK; i++)
        st = lk_txn_del(txn, o->keys[i]);
    free(o);
    return st == LK_ERR_NOT_FOUND ? LK_OK : st;
}

/* The changed fields as text, in full (malloc'd). */
static lk_status fields_text(char **out, const char *fmt, va_list ap) LK_PRINTF(2, 0);
static lk_status fields_text(char **out, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    *out = NULL;
    if (n < 0)
        return lk_seterr(LK_ERR_INTERNAL, "cannot format an audit entry");
    if (n > LK_AUDIT_FIELDS_MAX) /* never cut: a change that cannot be recorded is not made */
        return lk_seterr(LK_ERR_INTERNAL, "the audit entry of this change would be %d bytes; at most %d are kept", n,
                         LK_AUDIT_FIELDS_MAX);
    if ((*out = malloc((size_t)n + 1)) == NULL)
        return lk_seterr(LK_ERR_NOMEM, "out of memory writing the audit log");
    vsnprintf(*out, (size_t)n + 1, fmt, ap);
    return LK_OK;
}

lk_status lk_audit(lk_ctx *ctx, lk_txn *txn, const char *action, const char *target, uint64_t uin,
                   const char *fields, ...)
{
    char key[LK_KEYBUF], user[LK_LOGIN_MAX + 1], host[LK_AUDIT_HOST_MAX + 1], *text;
    uint32_t uid;
    va_list ap;
    va_start(ap, fields);
    lk_status st = fields_text(&text, fields, ap);
    va_end(ap);
    if (st != LK_OK)
        return st;
    actor(&uid, user);
    host_name(host);
    int64_t now = lk_now(ctx);
    uint64_t t = now > 0 ? (uint64_t)now : 0;

    /* the next sequence number within this second, from the mark (this txn
     * holds the writer lock); a get makes sure it is free */
    audit_mark m;
    if ((st = read_mark(txn, &m)) != LK_OK) {
        free(text);
        return st;
    }
    uint32_t seq = m.have_last && m.last_time == t ? m.last_seq + 1 : 0;
    for (;; seq++) {
        const char *v;
        size_t vl;
        snprintf(key, sizeof key, AUDIT_PREFIX "%016" PRIx64 "%08" PRIx32, t, seq);
        st = lk_txn_get(txn, key, &v, &vl);
        if (st == LK_ERR_NOT_FOUND)
            break;
        if (st != LK_OK) {
            free(text);
            return st;
        }
    }
    lk_rec rec;
    lk_rec_init(&rec);
    lk_audit_add_caller(&rec); /* authz.c: the management plane's caller, when one is set */
    lk_rec_add_i64(&rec, "time", now);
    lk_rec_add_u64(&rec, "uid", uid);
    lk_rec_add(&rec, "user", user);
    lk_rec_add(&rec, "action", action);
    lk_rec_add(&rec, "target", target);
    lk_rec_add_u64(&rec, "uin", uin);
    lk_rec_add(&rec, "fields", text);
    lk_rec_add(&rec, "reason", reason_buf);
    lk_rec_add(&rec, "host", host);
    free(text);
    st = lk_txn_put(txn, key, &rec);
    lk_rec_free(&rec);
    if (st != LK_OK)
        return st;

    /* the audit clock: this writer's, but at most a step past the oldest
     * of the recent entries' times */
    int64_t clock = now, oldest = INT64_MAX;
    for (size_t i = 0; i < m.nrecent; i++)
        oldest = m.recent[i] < oldest ? m.recent[i] : oldest;
    if (m.nrecent > 0 && oldest <= INT64_MAX - AUDIT_CLOCK_STEP && clock > oldest + AUDIT_CLOCK_STEP)
        clock = oldest + AUDIT_CLOCK_STEP;
    add_recent(&m, now);
    char recent[RECENT * 21];
    size_t rl = 0;
    for (size_t i = 0; i < m.nrecent; i++)
        rl += (size_t)snprintf(recent + rl, sizeof recent - rl, "%s%lld", i ? ":" : "", (long long)m.recent[i]);
    lk_rec_init(&rec);
    lk_rec_add(&rec, "last", key);
    lk_rec_add(&rec, "recent", recent);
    st = lk_txn_put(txn, AUDIT_MARK, &rec);
    lk_rec_free(&rec);
    if (st != LK_OK)
        return st;
    return prune(ctx, txn, clock);
}

/* ------------------------------------------------------------ a change in words */

const char *lk_expiry_words(int64_t t, char buf[LK_TIME_STRLEN])
{
    if (t == 0) {
        snprintf(buf, LK_TIME_STRLEN, "never");
        return buf;
    }
    return lk_fmt_time(t, buf);
}

void lk_change_add(lk_change *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    size_t sep = c->len > 0 ? 2 : 0;
    if (c->oom || n < 0) {
        c->oom = true;
        return;
    }
    if (c->len + sep + (size_t)n + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 128;
        while (cap < c->len + sep + (size_t)n + 1)
            cap *= 2;
        char *grown = realloc(c->buf, cap);
        if (grown == NULL) {
            c->oom = true;
            return;
        }
        c->buf = grown;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, "; ", sep);
    c->len += sep;
    va_start(ap, fmt);
    vsnprintf(c->buf + c->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    c->len += (size_t)n;
}

void lk_change_diff(lk_change *c, const char *what, const char *from, const char *to)
{
    if (strcmp(from, to) != 0)
        lk_change_add(c, "%s %s \u2192 %s", what, from, to);
}

lk_status lk_audit_change(lk_ctx *ctx, lk_txn *txn, const char *action, const char *target, uint64_t uin,
                          const lk_change *c)
{
    if (c->oom)
        return lk_seterr(LK_ERR_NOMEM, "out of memory writing the audit log");
    return lk_audit(ctx, txn, action, target, uin, "%s", c->buf ? c->buf : "");
}

typedef struct audit_list {
    int64_t since;
    const char *key_id;
    uint64_t uin;
    lk_audit_entry *items;
    size_t *offs; /* where each entry's fields begin in pool */
    size_t n, cap, ocap;
    char *pool;
    size_t plen, pcap;
    lk_status st;
} audit_list;

static bool text_field(const char *v, size_t vl, const char *name, char *out, size_t outsz)
{
    const char *f;
    size_t fl;
    return lk_rec_find(v, vl, name, &f, &fl) && lk_rec_unescape(f, fl, out, outsz);
}

/* The entry's fields, unescaped, appended to the pool (any length). */
static bool pool_field(audit_list *l, const char *v, size_t vl, size_t *off, bool *oom)
{
    const char *f;
    size_t fl;
    if (!lk_rec_find(v, vl, "fields", &f, &fl))
        return false;
    if (l->plen + fl + 1 > l->pcap) {
        size_t cap = l->pcap ? l->pcap : 4096;
        while (cap < l->plen + fl + 1)
            cap *= 2;
        char *grown = realloc(l->pool, cap);
        if (grown == NULL) {
            *oom = true;
            return false;
        }
        l->pool = grown;
        l->pcap = cap;
    }
    if (!lk_rec_unescape(f, fl, l->pool + l->plen, fl + 1))
        return false;
    *off = l->plen;
    l->plen += strlen(l->pool + l->plen) + 1;
    return true;
}

static int list_cb(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    audit_list *l = arg;
    lk_audit_entry e;
    const char *f;
    size_t fl, off = 0;
    uint64_t uid;
    bool oom = false;
    (void)k, (void)kl;
    memset(&e, 0, sizeof e);
    if (!lk_rec_find(v, vl, "time", &f, &fl) || !lk_rec_parse_i64(f, fl, &e.time) ||
        !lk_rec_find(v, vl, "uid", &f, &fl) || !lk_rec_parse_u64(f, fl, &uid) || uid > UINT32_MAX ||
        !lk_rec_find(v, vl, "uin", &f, &fl) || !lk_rec_parse_u64(f, fl, &e.uin) ||
        !text_field(v, vl, "user", e.user, sizeof e.user) || !text_field(v, vl, "action", e.action, sizeof e.action) ||
        !text_field(v, vl, "target", e.target, sizeof e.target) ||
        !text_field(v, vl, "reason", e.reason, sizeof e.reason)) {
        l->st = lk_seterr(LK_ERR_STORE, "corrupt audit entry in store");
        return 1;
    }
    e.uid = (uint32_t)uid;
    /* the host is optional: entries written before it was recorded have none */
    if (lk_rec_find(v, vl, "host", &f, &fl) && !lk_rec_unescape(f, fl, e.host, sizeof e.host)) {
        l->st = lk_seterr(LK_ERR_STORE, "corrupt audit entry in store");
        return 1;
    }
    if (!lk_audit_read_caller(v, vl, &e)) {
        l->st = lk_seterr(LK_ERR_STORE, "corrupt caller in an audit entry in store");
        return 1;
    }
    if (e.time < l->since || (l->key_id && strcmp(l->key_id, e.target) != 0) || (l->uin && l->uin != e.uin))
        return 0;
    if (!pool_field(l, v, vl, &off, &oom)) {
        l->st = oom ? lk_seterr(LK_ERR_NOMEM, "out of memory listing the audit log")
                    : lk_seterr(LK_ERR_STORE, "corrupt audit entry in store");
        return 1;
    }
    void *grown = lk_grow(l->items, &l->cap, l->n, sizeof *l->items, 16);
    void *ogrown = grown ? lk_grow(l->offs, &l->ocap, l->n, sizeof *l->offs, 16) : NULL;
    if (grown)
        l->items = grown;
    if (ogrown == NULL) {
        l->st = lk_seterr(LK_ERR_NOMEM, "out of memory listing the audit log");
        return 1;
    }
    l->offs = ogrown;
    l->offs[l->n] = off;
    l->items[l->n++] = e;
    return 0;
}

/* The entries and their fields in one block, freed with one lk_free. */
static lk_status one_block(audit_list *l, lk_audit_entry **out)
{
    size_t head = l->n * sizeof *l->items;
    char *block = malloc(head + l->plen + 1);
    if (block == NULL)
        return lk_seterr(LK_ERR_NOMEM, "out of memory listing the audit log");
    lk_audit_entry *items = (lk_audit_entry *)(void *)block;
    char *pool = block + head;
    if (l->n > 0)
        memcpy(items, l->items, head);
    if (l->plen > 0)
        memcpy(pool, l->pool, l->plen);
    for (size_t i = 0; i < l->n; i++)
        items[i].fields = pool + l->offs[i];
    *out = items;
    return LK_OK;
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
    if (st == LK_OK && (st = one_block(&l, out)) == LK_OK)
        *count = l.n;
    free(l.items);
    free(l.offs);
    free(l.pool);
    return st;
}
