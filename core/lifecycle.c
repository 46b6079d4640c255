/*
 * lifecycle.c — key expiry: the rule at verify, the times a command line
 * gives (spans and dates), and the list of keys about to expire.
 *
 * An expiry is an optional "expires=" field of a key's record (Unix
 * seconds); a record without one never expires, so stores written before
 * expiry existed load unchanged. The rule is applied after the secret was
 * checked, like the login rule: only the holder of the secret learns that a
 * key has expired, and a verified-secret cache hit never skips it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lk_internal.h"

bool lk_rec_expires(const char *v, size_t vl, int64_t *out)
{
    const char *f;
    size_t fl;
    *out = 0;
    if (!lk_rec_find(v, vl, "expires", &f, &fl))
        return true;
    return lk_rec_parse_i64(f, fl, out) && *out >= 0;
}

const char *lk_format_time(int64_t t, lk_time_shape shape, char buf[LK_TIME_STRLEN])
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (localtime_r(&tt, &tm) == NULL ||
        strftime(buf, LK_TIME_STRLEN,
                 shape == LK_TIMEFMT_TENCENT ? "%Y-%m-%d %H:%M:%S"
                 : shape == LK_TIMEFMT_ISO   ? "%Y-%m-%dT%H:%M:%S%z"
                                             : "%Y-%m-%d %H:%M:%S %z",
                 &tm) == 0) {
        snprintf(buf, LK_TIME_STRLEN, "@%lld", (long long)t);
        return buf;
    }
    size_t n = strlen(buf);
    if (shape == LK_TIMEFMT_ISO && n >= 5 && n + 1 < LK_TIME_STRLEN) { /* +0800 -> +08:00, as RFC 3339 writes it */
        memmove(buf + n - 1, buf + n - 2, 3);
        buf[n - 2] = ':';
    }
    return buf;
}

/* "N/W": N and W decimal, within the limits lk_apikey_set_rate_limit takes. */
static bool parse_rate(const char *f, size_t fl, uint32_t *rate, uint32_t *window)
{
    const char *slash = memchr(f, '/', fl);
    uint64_t n, w;
    if (slash == NULL || !lk_rec_parse_u64(f, (size_t)(slash - f), &n) ||
        !lk_rec_parse_u64(slash + 1, fl - (size_t)(slash - f) - 1, &w) || n < 1 || n > LK_RATE_MAX || w < 1 ||
        w > LK_RATE_WINDOW_MAX)
        return false;
    *rate = (uint32_t)n;
    *window = (uint32_t)w;
    return true;
}

bool lk_rec_api_options(const char *v, size_t vl, int64_t *expires, uint32_t *rate, uint32_t *window)
{
    lk_rec_iter it;
    const char *n, *f;
    size_t nl, fl;
    *expires = 0;
    *rate = *window = 0;
    lk_rec_iter_init(&it, v, vl);
    while (lk_rec_next(&it, &n, &nl, &f, &fl)) { /* one pass: this is the verify path */
        if (nl == 7 && memcmp(n, "expires", 7) == 0 && (!lk_rec_parse_i64(f, fl, expires) || *expires < 0))
            return false;
        if (nl == 4 && memcmp(n, "rate", 4) == 0 && !parse_rate(f, fl, rate, window))
            return false;
    }
    return true;
}

lk_status lk_expiry_verdict(lk_ctx *ctx, const char *key_id, int64_t expire_time)
{
    char t[LK_TIME_STRLEN];
    if (expire_time == LK_EXPIRES_NEVER || lk_now(ctx) < expire_time)
        return LK_OK;
    return lk_seterr(LK_DENY_EXPIRED, "key %s expired at %s", key_id, lk_fmt_time(expire_time, t));
}

lk_status lk_expiry_check_new(lk_ctx *ctx, int64_t expire_time)
{
    char t[LK_TIME_STRLEN];
    if (expire_time == LK_EXPIRES_NEVER || expire_time > lk_now(ctx))
        return LK_OK;
    return lk_seterr(LK_ERR_PARAM, "expiry %s is not in the future", lk_fmt_time(expire_time, t));
}

lk_status lk_expiry_after_grace(lk_ctx *ctx, int64_t current, int64_t grace_seconds, int64_t *out)
{
    if (grace_seconds < 0)
        return lk_seterr(LK_ERR_PARAM, "a grace period cannot be negative");
    int64_t now = lk_now(ctx);
    int64_t end = grace_seconds > INT64_MAX - now ? INT64_MAX : now + grace_seconds;
    /* never extend a key's life: an earlier expiry stays */
    *out = current != LK_EXPIRES_NEVER && current < end ? current : end;
    return LK_OK;
}

lk_status lk_rotation_plan(lk_ctx *ctx, lk_txn *txn, const lk_rotation_state *s, const lk_rotate_opts *o,
                           int64_t *new_expiry)
{
    char t[LK_TIME_STRLEN];
    const char *v;
    size_t vl;
    lk_status st;
    if (o->grace_seconds < 0)
        return lk_seterr(LK_ERR_PARAM, "a grace period cannot be negative");
    if (s->revoked != 0 && !o->force)
        return lk_seterr(LK_ERR_PARAM,
                         "%s %s was disabled by 'revoke --user' at %s: a rotation would hand out a working key "
                         "again (enable it first, or force the rotation)",
                         s->what, s->id, lk_fmt_time(s->revoked, t));
    /* a successor that was deleted since frees the key to be rotated again */
    if (s->next[0] != '\0' && (st = lk_txn_get(txn, s->next_key, &v, &vl)) != LK_ERR_NOT_FOUND) {
        if (st != LK_OK)
            return st;
        return lk_seterr(LK_ERR_PARAM,
                         "%s %s is already being rotated out: its successor %s exists (rotate that one, or "
                         "disable and delete it first)",
                         s->what, s->id, s->next);
    }
    if (o->set_expiry) {
        if ((st = lk_expiry_check_new(ctx, o->expire_time)) != LK_OK)
            return st;
        *new_expiry = o->expire_time;
        return LK_OK;
    }
    /* the new key keeps the old one's expiry: a rotation does not extend a key's life */
    if (s->expire_time != LK_EXPIRES_NEVER && s->expire_time <= lk_now(ctx))
        return lk_seterr(LK_ERR_PARAM, "%s %s expired at %s: give the new key an expiry of its own", s->what, s->id,
                         lk_fmt_time(s->expire_time, t));
    *new_expiry = s->expire_time;
    return LK_OK;
}

/* ------------------------------------------------------------ times on a command line */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool digits(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return true;
}

static bool parse_date(const char *s, int64_t *out)
{
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned y, mo, d, h = 0, mi = 0, se = 0;
    size_t n = strlen(s);
    if ((n != 10 && n != 20) || s[4] != '-' || s[7] != '-' || !digits(s, 4, &y) || !digits(s + 5, 2, &mo) ||
        !digits(s + 8, 2, &d))
        return false;
    if (n == 20 && (s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z' || !digits(s + 11, 2, &h) ||
                    !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &se)))
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap) || h > 23 || mi > 59 ||
        se > 59)
        return false;
    *out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    return true;
}

static bool parse_span(const char *s, int64_t *out)
{
    size_t n = strlen(s);
    int64_t v = 0, unit;
    if (n < 2)
        return false;
    switch (s[n - 1]) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    case 'w': unit = 7 * 86400; break;
    default: return false;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] < '0' || s[i] > '9' || i >= 12) /* at most 12 digits: no overflow below */
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v == 0)
        return false;
    *out = v * unit;
    return true;
}

lk_status lk_parse_time(const char *text, int64_t now, int flags, int64_t *out)
{
    char q[64], t[LK_TIME_STRLEN];
    int64_t v;
    bool span_only = (flags & LK_TIME_SPAN_ONLY) != 0;
    if (text != NULL && parse_span(text, &v)) {
        if (span_only) {
            *out = v;
            return LK_OK;
        }
        if (now < 0 || v > INT64_MAX - now)
            return lk_seterr(LK_ERR_PARAM, "'%s' is too far in the future", lk_quote(text, q, sizeof q));
        *out = now + v;
        return LK_OK;
    }
    if (!span_only && text != NULL && parse_date(text, &v)) {
        /* "1970-01-01" is 0, the value that means never: an expiry in the past
         * would be no expiry at all */
        if ((flags & LK_TIME_FUTURE) && (v <= now || v == LK_EXPIRES_NEVER))
            return lk_seterr(LK_ERR_PARAM, "'%s' is not in the future (it is now %s)", lk_quote(text, q, sizeof q),
                             lk_fmt_time(now, t));
        *out = v;
        return LK_OK;
    }
    if (span_only)
        return lk_seterr(LK_ERR_PARAM,
                         "'%s' is not a time span (a positive whole number and a unit: s, m, h, d or w, as in 24h)",
                         lk_quote(text, q, sizeof q));
    return lk_seterr(LK_ERR_PARAM,
                     "'%s' is neither a time span (90d, 24h, 30m, 45s, 2w) nor a UTC date (YYYY-MM-DD or "
                     "YYYY-MM-DDTHH:MM:SSZ)",
                     lk_quote(text, q, sizeof q));
}

/* ------------------------------------------------------------ keys about to expire */

typedef struct exp_list {
    lk_txn *txn;
    int64_t before;
    bool apikeys;
    lk_expiring_key *items;
    size_t n, cap;
    lk_status st;
} exp_list;

static int exp_cb(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    exp_list *l = arg;
    int64_t expires;
    char id[LK_SECRET_ID_LEN + 1];
    /* a cheap look at the one field first: most keys never expire */
    if (!lk_rec_expires(v, vl, &expires) || kl < 3 || kl - 2 > LK_SECRET_ID_LEN) {
        l->st = lk_seterr(LK_ERR_STORE, "corrupt key record in store");
        return 1;
    }
    if (expires == LK_EXPIRES_NEVER || expires >= l->before)
        return 0;
    memcpy(id, k + 2, kl - 2);
    id[kl - 2] = '\0';
    void *grown = lk_grow(l->items, &l->cap, l->n, sizeof *l->items, 8);
    if (grown == NULL) {
        l->st = lk_seterr(LK_ERR_NOMEM, "out of memory listing keys");
        return 1;
    }
    l->items = grown;
    lk_expiring_key *e = &l->items[l->n];
    memset(e, 0, sizeof *e);
    snprintf(e->key_id, sizeof e->key_id, "%s", id);
    e->expire_time = expires;
    e->is_apikey = l->apikeys;
    if (l->apikeys) {
        lk_apikey a;
        if ((l->st = lk_apikey_load(l->txn, id, &a)) != LK_OK)
            return 1;
        e->uin = a.root_uin;
        e->status = a.status;
        snprintf(e->name, sizeof e->name, "%s", a.name);
        lk_apikey_release(&a);
    } else {
        lk_access_key a;
        if ((l->st = lk_key_load(l->txn, id, &a)) != LK_OK)
            return 1;
        e->uin = a.uin;
        e->status = a.status;
    }
    l->n++;
    return 0;
}

static int by_expiry(const void *a, const void *b)
{
    const lk_expiring_key *x = a, *y = b;
    if (x->expire_time != y->expire_time)
        return x->expire_time < y->expire_time ? -1 : 1;
    return strcmp(x->key_id, y->key_id);
}

lk_status lk_expiring(lk_ctx *ctx, int64_t before, lk_expiring_key **out, size_t *count)
{
    LK_LOCAL_ONLY(ctx);
    lk_txn txn;
    *out = NULL;
    *count = 0;
    lk_status st = lk_txn_begin(ctx, false, &txn);
    if (st != LK_OK)
        return st;
    exp_list l = {.txn = &txn, .before = before};
    st = lk_txn_scan(&txn, "k/", exp_cb, &l);
    if (st == LK_OK && (st = l.st) == LK_OK) {
        l.apikeys = true;
        st = lk_txn_scan(&txn, "a/", exp_cb, &l);
        if (st == LK_OK)
            st = l.st;
    }
    lk_txn_abort(&txn);
    if (st != LK_OK) {
        free(l.items);
        return st;
    }
    if (l.n > 1)
        qsort(l.items, l.n, sizeof *l.items, by_expiry);
    *out = l.items;
    *count = l.n;
    return LK_OK;
}
