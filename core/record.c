/*
 * record.c — one stored record as one line of text, `name=value ...`.
 *
 * Text rather than binary so that the flat-file store is a file a human can
 * read and diff, and both backends hold the same bytes. Values are escaped
 * as %XX for space, '%', ',' and bytes outside printable ASCII except UTF-8
 * (>= 0x80), which stays readable.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lk_internal.h"

void lk_rec_init(lk_rec *r)
{
    memset(r, 0, sizeof *r);
}

void lk_rec_free(lk_rec *r)
{
    free(r->buf);
    memset(r, 0, sizeof *r);
}

lk_status lk_rec_status(const lk_rec *r)
{
    return r->oom ? lk_seterr(LK_ERR_NOMEM, "out of memory building a record") : LK_OK;
}

static bool reserve(lk_rec *r, size_t more)
{
    if (r->oom)
        return false;
    if (r->len + more + 1 <= r->cap)
        return true;
    size_t cap = r->cap ? r->cap : 128;
    while (cap < r->len + more + 1)
        cap *= 2;
    char *nb = realloc(r->buf, cap);
    if (nb == NULL) {
        r->oom = true;
        return false;
    }
    r->buf = nb;
    r->cap = cap;
    return true;
}

static bool needs_escape(unsigned char c)
{
    return c <= ' ' || c == '%' || c == ',' || c == 0x7f;
}

static void put_escaped(lk_rec *r, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    if (!reserve(r, 3 * strlen(s))) /* at most 3 bytes each: one reserve, not one per byte */
        return;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (needs_escape(c)) {
            r->buf[r->len++] = '%';
            r->buf[r->len++] = hex[c >> 4];
            r->buf[r->len++] = hex[c & 15];
        } else {
            r->buf[r->len++] = (char)c;
        }
    }
    r->buf[r->len] = '\0';
}

static void put_name_n(lk_rec *r, const char *name, size_t n)
{
    if (!reserve(r, n + 2))
        return;
    if (r->len > 0)
        r->buf[r->len++] = ' ';
    memcpy(r->buf + r->len, name, n);
    r->len += n;
    r->buf[r->len++] = '=';
    r->buf[r->len] = '\0';
}

static void put_name(lk_rec *r, const char *name)
{
    put_name_n(r, name, strlen(name));
}

void lk_rec_add(lk_rec *r, const char *name, const char *val)
{
    put_name(r, name);
    put_escaped(r, val ? val : "");
}

void lk_rec_add_escaped(lk_rec *r, const char *name, size_t nlen, const char *val, size_t vlen)
{
    put_name_n(r, name, nlen);
    if (!reserve(r, vlen))
        return;
    memcpy(r->buf + r->len, val, vlen);
    r->len += vlen;
    r->buf[r->len] = '\0';
}

/* Decimal digits of u after an optional '-', without stdio: a flush writes
 * thousands of numbers. buf holds LK_I64_STRLEN (20 digits or '-' and 19). */
static size_t fmt_dec(char buf[LK_I64_STRLEN], bool minus, uint64_t u)
{
    char tmp[LK_I64_STRLEN];
    size_t n = 0, l = 0;
    do
        tmp[n++] = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (minus)
        buf[l++] = '-';
    while (n > 0)
        buf[l++] = tmp[--n];
    buf[l] = '\0';
    return l;
}

void lk_rec_add_u64(lk_rec *r, const char *name, uint64_t v)
{
    char num[LK_I64_STRLEN];
    fmt_dec(num, false, v);
    lk_rec_add(r, name, num);
}

size_t lk_fmt_i64(char buf[LK_I64_STRLEN], int64_t v)
{
    /* the magnitude as unsigned: INT64_MIN has no positive int64 */
    return fmt_dec(buf, v < 0, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
}

void lk_rec_add_i64(lk_rec *r, const char *name, int64_t v)
{
    char num[LK_I64_STRLEN];
    lk_fmt_i64(num, v);
    lk_rec_add(r, name, num);
}

void lk_rec_add_list(lk_rec *r, const char *name, const char *const *items, size_t n)
{
    put_name(r, name);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && reserve(r, 1)) {
            r->buf[r->len++] = ',';
            r->buf[r->len] = '\0';
        }
        put_escaped(r, items[i]);
    }
}

void lk_rec_iter_init(lk_rec_iter *it, const char *rec, size_t len)
{
    it->p = rec;
    it->end = rec + len;
}

bool lk_rec_next(lk_rec_iter *it, const char **name, size_t *nlen, const char **val, size_t *vlen)
{
    while (it->p < it->end && *it->p == ' ')
        it->p++;
    if (it->p >= it->end)
        return false;
    const char *field = it->p;
    const char *sp = memchr(field, ' ', (size_t)(it->end - field));
    const char *fend = sp ? sp : it->end;
    const char *eq = memchr(field, '=', (size_t)(fend - field));
    it->p = fend;
    if (eq == NULL) { /* a bare word: treat as a name with an empty value */
        *name = field;
        *nlen = (size_t)(fend - field);
        *val = fend;
        *vlen = 0;
        return true;
    }
    *name = field;
    *nlen = (size_t)(eq - field);
    *val = eq + 1;
    *vlen = (size_t)(fend - eq - 1);
    return true;
}

bool lk_rec_find(const char *rec, size_t len, const char *name, const char **val, size_t *vlen)
{
    lk_rec_iter it;
    const char *n;
    size_t nl, want = strlen(name);

    lk_rec_iter_init(&it, rec, len);
    while (lk_rec_next(&it, &n, &nl, val, vlen))
        if (nl == want && memcmp(n, name, nl) == 0)
            return true;
    return false;
}

/* Several fields in one pass over the record: vals[i]/vlens[i] get the first
 * field named names[i] (as lk_rec_find would); the result has bit i set for
 * each one found. A decode on the verify path reads five fields: one pass
 * instead of five. n is at most 32. */
uint32_t lk_rec_find_many(const char *rec, size_t len, const char *const *names, size_t n, const char **vals,
                          size_t *vlens)
{
    lk_rec_iter it;
    const char *nm, *v;
    size_t nl, vl;
    uint32_t found = 0, all = n >= 32 ? UINT32_MAX : ((uint32_t)1 << n) - 1;

    lk_rec_iter_init(&it, rec, len);
    while (found != all && lk_rec_next(&it, &nm, &nl, &v, &vl))
        for (size_t i = 0; i < n && i < 32; i++)
            if (!(found & ((uint32_t)1 << i)) && strlen(names[i]) == nl && memcmp(names[i], nm, nl) == 0) {
                vals[i] = v;
                vlens[i] = vl;
                found |= (uint32_t)1 << i;
                break;
            }
    return found;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

bool lk_rec_unescape(const char *val, size_t vlen, char *out, size_t outsz)
{
    size_t o = 0, i = 0;
    if (outsz == 0)
        return false;
    while (i < vlen) {
        /* the run up to the next escape, copied whole (a stored hash has few) */
        const char *pct = memchr(val + i, '%', vlen - i);
        size_t run = pct ? (size_t)(pct - (val + i)) : vlen - i;
        if (run >= outsz - o)
            return false;
        memcpy(out + o, val + i, run);
        o += run;
        i += run;
        if (pct == NULL)
            break;
        if (vlen - i < 3) /* '%' needs two hex digits after it */
            return false;
        int hi = hexval(val[i + 1]), lo = hexval(val[i + 2]);
        if (hi < 0 || lo < 0 || o + 1 >= outsz)
            return false;
        out[o++] = (char)(hi * 16 + lo);
        i += 3;
    }
    out[o] = '\0';
    return true;
}

bool lk_rec_parse_u64(const char *val, size_t vlen, uint64_t *out)
{
    uint64_t v = 0;
    if (vlen == 0 || vlen > 20)
        return false;
    for (size_t i = 0; i < vlen; i++) {
        if (val[i] < '0' || val[i] > '9')
            return false;
        unsigned d = (unsigned)(val[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

bool lk_rec_parse_i64(const char *val, size_t vlen, int64_t *out)
{
    uint64_t u;
    bool neg = vlen > 0 && val[0] == '-';
    /* a negative value may reach 2^63: INT64_MIN, which lk_rec_add_i64 writes */
    if (!lk_rec_parse_u64(val + neg, vlen - neg, &u) || u > (uint64_t)INT64_MAX + neg)
        return false;
    *out = !neg ? (int64_t)u : u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
    return true;
}

/* One block: n+1 pointers, then the strings, so one free() releases a list. */
static char **list_block(size_t n, size_t bytes)
{
    char **items = malloc((n + 1) * sizeof(char *) + bytes);
    if (items)
        items[n] = NULL;
    return items;
}

static size_t list_count(const char *val, size_t vlen)
{
    size_t count = vlen ? 1 : 0;
    for (size_t i = 0; i < vlen; i++)
        count += val[i] == ',';
    return count;
}

bool lk_rec_parse_list_in(const char *val, size_t vlen, size_t max_items, size_t max_len, char *buf, size_t bufsz,
                          char **items, size_t *n)
{
    size_t count = list_count(val, vlen);
    *n = 0;
    if (count > max_items || bufsz < vlen + count)
        return false;
    char *dst = buf;
    const char *p = val, *end = val + vlen;
    for (size_t k = 0; k < count; k++) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end;
        size_t room = (size_t)(e - p) + 1;
        if (!lk_rec_unescape(p, (size_t)(e - p), dst, room) || dst[0] == '\0' || strlen(dst) > max_len)
            return false;
        items[k] = dst;
        dst += strlen(dst) + 1;
        p = e + 1;
    }
    *n = count;
    return true;
}

bool lk_rec_parse_list(const char *val, size_t vlen, size_t max_items, size_t max_len, char ***items, size_t *n,
                       bool *oom)
{
    size_t count = list_count(val, vlen);
    *oom = false;
    *items = NULL;
    *n = 0;
    if (count > max_items)
        return false;
    if (count == 0)
        return true;
    char **list = list_block(count, vlen + count);
    if (list == NULL) {
        *oom = true;
        return false;
    }
    if (!lk_rec_parse_list_in(val, vlen, max_items, max_len, (char *)(list + count + 1), vlen + count, list, n)) {
        free(list);
        return false;
    }
    *items = list;
    return true;
}

void *lk_grow(void *items, size_t *cap, size_t n, size_t elem_size, size_t first)
{
    if (n < *cap)
        return items;
    size_t ncap = *cap ? *cap * 2 : first;
    if (ncap > SIZE_MAX / elem_size)
        return NULL;
    void *p = realloc(items, ncap * elem_size);
    if (p != NULL)
        *cap = ncap;
    return p;
}

char **lk_strlist_dup(const char *const *items, size_t n)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += strlen(items[i]) + 1;
    char **list = list_block(n, bytes);
    if (list == NULL)
        return NULL;
    char *dst = (char *)(list + n + 1);
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(items[i]) + 1;
        memcpy(dst, items[i], l);
        list[i] = dst;
        dst += l;
    }
    return list;
}
