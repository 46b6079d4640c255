/*
 * http_parse.c — see http_parse.h. No allocation; every string written is
 * NUL-terminated within its buffer; untrusted input is only read up to its
 * NUL (libmicrohttpd hands header values as C strings).
 */
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "http_parse.h"

static const char *skip_sp(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* s (len bytes) without trailing blanks. */
static size_t trim_len(const char *s, size_t len)
{
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    return len;
}

/* A token68-ish value: visible ASCII, no blank. */
static bool token_ok(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return len > 0;
}

/* "Scheme rest": rest when the scheme matches (case-insensitive), else NULL. */
static const char *scheme(const char *h, const char *name)
{
    size_t n = strlen(name);
    if (strncasecmp(h, name, n) != 0 || (h[n] != ' ' && h[n] != '\t'))
        return NULL;
    return skip_sp(h + n);
}

static enum lkh_cred_kind take_apikey(const char *v, char *buf, size_t bufsz, struct lkh_cred *out)
{
    v = skip_sp(v);
    size_t len = trim_len(v, strlen(v));
    if (!token_ok(v, len) || len >= bufsz)
        return out->kind = LKH_CRED_BAD;
    memcpy(buf, v, len);
    buf[len] = '\0';
    out->secret = buf;
    out->secret_len = len;
    return out->kind = LKH_CRED_APIKEY;
}

static enum lkh_cred_kind take_basic(const char *v, char *buf, size_t bufsz, struct lkh_cred *out)
{
    size_t len = trim_len(v, strlen(v)), bin = 0;
    if (!token_ok(v, len) ||
        sodium_base642bin((unsigned char *)buf, bufsz - 1, v, len, NULL, &bin, NULL, sodium_base64_VARIANT_ORIGINAL) !=
            0)
        return out->kind = LKH_CRED_BAD;
    buf[bin] = '\0';
    char *user = buf, *pass = memchr(buf, ':', bin);
    /* No user: Apache's mod_auth_basic refuses it before any provider, so
     * the identity check cannot be skipped by leaving the name out. */
    if (pass == NULL || pass == buf || memchr(buf, '\0', bin) != NULL)
        return out->kind = LKH_CRED_BAD;
    *pass++ = '\0';
    size_t plen = bin - (size_t)(pass - buf);
    out->login = user;
    /* The rule of mod_authn_latchkey's check_password. */
    char *sep = strchr(pass, ':');
    if (sep != NULL && sep - pass == LK_SECRET_ID_LEN && strncmp(pass, "AKID", 4) == 0) {
        *sep = '\0';
        out->id = pass;
        out->secret = sep + 1;
        out->secret_len = plen - LK_SECRET_ID_LEN - 1;
        return out->kind = LKH_CRED_PAIR;
    }
    out->secret = pass;
    out->secret_len = plen;
    if (strncmp(user, "AKID", 4) == 0 && strncmp(pass, "lk-", 3) != 0) {
        /* A longer user is no SecretId: never cut it down to one. */
        out->id = strlen(user) > LK_SECRET_ID_LEN ? "" : user;
        return out->kind = LKH_CRED_PAIR;
    }
    return out->kind = LKH_CRED_APIKEY;
}

enum lkh_cred_kind lkh_credentials(const char *authorization, const char *apikey, char *buf, size_t bufsz,
                                   struct lkh_cred *out)
{
    memset(out, 0, sizeof *out);
    out->id = out->secret = "";
    if (bufsz < 2)
        return out->kind = LKH_CRED_BAD;
    if (authorization != NULL) {
        const char *h = skip_sp(authorization), *rest;
        if ((rest = scheme(h, "Bearer")) != NULL)
            return take_apikey(rest, buf, bufsz, out);
        if ((rest = scheme(h, "Basic")) != NULL)
            return take_basic(rest, buf, bufsz, out);
        if (apikey == NULL) /* another scheme (or none) and nothing else offered */
            return out->kind = *h ? LKH_CRED_BAD : LKH_CRED_NONE;
    }
    if (apikey != NULL)
        return take_apikey(apikey, buf, bufsz, out);
    return out->kind = LKH_CRED_NONE;
}

size_t lkh_parse_ranges(const char *list, lk_cidr *out, size_t max)
{
    size_t n = 0;
    char item[128];
    while (list != NULL && *list && n < max) {
        const char *end = strchr(list, ',');
        size_t len = end ? (size_t)(end - list) : strlen(list);
        if (len < sizeof item) {
            memcpy(item, list, len);
            item[len] = '\0';
            if (lk_cidr_parse(item, &out[n]) == LK_OK)
                n++;
        }
        list = end ? end + 1 : list + len;
    }
    return n;
}

static bool in_ranges(const lk_cidr *ip, const lk_cidr *trusted, size_t ntrusted)
{
    for (size_t i = 0; i < ntrusted; i++)
        if (lk_cidr_match(&trusted[i], ip))
            return true;
    return false;
}

bool lkh_trusted(const char *peer, const lk_cidr *trusted, size_t ntrusted)
{
    lk_cidr ip;
    return peer != NULL && lk_ip_parse(peer, &ip) == LK_OK && in_ranges(&ip, trusted, ntrusted);
}

static void copy(char *out, size_t outsz, const char *s, size_t len)
{
    if (outsz == 0)
        return;
    if (len >= outsz)
        len = 0; /* too long for an address: none */
    memcpy(out, s, len);
    out[len] = '\0';
}

bool lkh_client_ip(const char *peer, const char *hdr, const lk_cidr *trusted, size_t ntrusted, char *out,
                   size_t outsz)
{
    const char *p = peer ? peer : "";
    if (hdr == NULL || !lkh_trusted(peer, trusted, ntrusted)) {
        copy(out, outsz, p, strlen(p));
        return true;
    }
    /* From the right: each hop appended the address it saw. */
    size_t end = strlen(hdr);
    char item[64];
    for (;;) {
        size_t stop = end;
        while (end > 0 && hdr[end - 1] != ',')
            end--;
        const char *s = skip_sp(hdr + end);
        size_t len = trim_len(s, (size_t)(hdr + stop - s > 0 ? hdr + stop - s : 0));
        lk_cidr ip;
        if (len == 0 || len >= sizeof item)
            break;
        memcpy(item, s, len);
        item[len] = '\0';
        if (lk_ip_parse(item, &ip) != LK_OK)
            break;
        if (end == 0 || !in_ranges(&ip, trusted, ntrusted)) {
            copy(out, outsz, item, len);
            return true;
        }
        end--; /* the ',' */
    }
    copy(out, outsz, "", 0);
    return false;
}

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

/* One segment of uri (up to '/', '?', '#' or its end), decoded as RFC 3986
 * §6.2.2 normalises it, appended to out at *o: unreserved characters
 * decoded, other escapes kept with upper-case hex. false for what no proxy
 * routes the same way everywhere: an encoded '/', '\' or NUL, a raw '\' or
 * control byte, a '%' without two hex digits, no room. *end: past it. */
static bool segment(const char *uri, const char **end, char *out, size_t outsz, size_t *o)
{
    const char *p = uri;
    for (; *p && *p != '/' && *p != '?' && *p != '#'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '%') {
            size_t n = 0;
            if (p[1] == '\0' || sodium_hex2bin(&c, 1, p + 1, 2, NULL, &n, NULL) != 0 || n != 1)
                return false;
            p += 2;
            if (c == '/' || c == '\\' || c == '\0')
                return false;
            if (!unreserved(c)) {
                if (*o + 3 >= outsz)
                    return false;
                out[(*o)++] = '%';
                out[(*o)++] = "0123456789ABCDEF"[c >> 4];
                out[(*o)++] = "0123456789ABCDEF"[c & 15];
                continue;
            }
        } else if (c == '\\' || c < 0x20 || c == 0x7f) {
            return false;
        }
        if (*o + 1 >= outsz)
            return false;
        out[(*o)++] = (char)c;
    }
    *end = p;
    return true;
}

bool lkh_normalize_path(const char *uri, char *out, size_t outsz)
{
    size_t o = 0;
    if (outsz < 2 || uri == NULL || uri[0] != '/')
        goto refuse; /* origin form only: no "http://host/..." */
    const char *p = uri;
    bool dir = true; /* the path so far ends in '/' */
    while (*p == '/') {
        while (*p == '/') /* "//" is one '/', as nginx and Caddy route it */
            p++;
        size_t start = o;
        if (o + 1 >= outsz)
            goto refuse;
        out[o++] = '/';
        if (!segment(p, &p, out, outsz, &o))
            goto refuse;
        const char *seg = out + start + 1;
        size_t len = o - start - 1;
        dir = len == 0;
        if (len == 1 && seg[0] == '.') { /* RFC 3986 §5.2.4: "." goes */
            o = start;
            dir = true;
        } else if (len == 2 && seg[0] == '.' && seg[1] == '.') { /* ".." takes the one before it */
            if (start == 0)
                goto refuse; /* above the root: nothing a client means */
            o = start;
            while (o > 0 && out[--o] != '/')
                ;
            dir = true;
        } else if (len >= 2 && seg[0] == '.' && seg[1] == '.') {
            goto refuse; /* "..;", "...": a dot-segment to some servers behind the proxy */
        } else if (len == 0) {
            o = start; /* the trailing '/' is put back below */
        }
    }
    if (*p != '\0' && *p != '?' && *p != '#')
        goto refuse;
    if (dir || o == 0)
        out[o++] = '/';
    out[o] = '\0';
    return true;
refuse:
    if (outsz > 0)
        out[0] = '\0';
    return false;
}

/* path starts with the map entry's prefix on a segment boundary: "/api"
 * and "/api/" both cover "/api/x", neither covers "/apifoo". */
static bool covers(const char *path, const char *prefix, size_t plen)
{
    if (plen == 0 || strncmp(path, prefix, plen) != 0)
        return false;
    return prefix[plen - 1] == '/' || path[plen] == '\0' || path[plen] == '/';
}

const char *lkh_service(const char *hdr, const char *uri, const char *map, char *out, size_t outsz, bool *refused)
{
    *refused = false;
    if (outsz == 0)
        return NULL;
    if (hdr != NULL) {
        size_t len = strlen(hdr);
        if (len >= outsz)
            len = outsz - 1; /* cut: still no valid service name, so refused */
        memcpy(out, hdr, len);
        out[len] = '\0';
        return out;
    }
    if (uri == NULL || map == NULL || *map == '\0')
        return NULL;
    char path[LKH_PATH_MAX];
    if (!lkh_normalize_path(uri, path, sizeof path)) {
        *refused = true;
        return NULL;
    }
    size_t best = 0;
    bool found = false;
    while (*map) {
        const char *end = strchr(map, ','), *eq;
        size_t len = end ? (size_t)(end - map) : strlen(map);
        eq = memchr(map, '=', len);
        if (eq != NULL) {
            size_t plen = (size_t)(eq - map), slen = len - plen - 1;
            if (covers(path, map, plen) && (!found || plen > best) && slen < outsz) {
                memcpy(out, eq + 1, slen);
                out[slen] = '\0';
                best = plen;
                found = true;
            }
        }
        map = end ? end + 1 : map + len;
    }
    return found ? out : NULL;
}

int lkh_http_status(lk_status st)
{
    switch (st) {
    case LK_OK: return 200;
    case LK_DENY_MISSING: /* with the challenges: a client that sent nothing learns how */
    case LK_DENY_MALFORMED:
    case LK_DENY_UNKNOWN_KEY:
    case LK_DENY_BAD_SECRET:
    case LK_DENY_LOGIN: /* not this user's credential: ask again, as Basic does */
    case LK_DENY_EXPIRED: return 401; /* RFC 6750: an expired token is invalid_token */
    case LK_DENY_DISABLED:
    case LK_DENY_IP:
    case LK_DENY_SCOPE:
    case LK_DENY_THROTTLED:
    /* Not 429: nginx auth_request takes any code but 2xx, 401 and 403 for
     * its own error (500); X-Latchkey-Code names the limit. */
    case LK_DENY_RATE_LIMIT:
    case LK_ERR_PARAM: return 403;
    case LK_ERR_STORE:
    case LK_ERR_BUSY: return 503;
    default: return 500;
    }
}
