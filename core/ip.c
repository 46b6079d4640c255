/*
 * ip.c — IPv4/IPv6 addresses and CIDR ranges for API key allowlists.
 *
 * Input is untrusted (API callers, client addresses from the network), so
 * parsing is strict and bounded: at most IP_TEXT_MAX bytes are ever looked
 * at, only address characters are let through to inet_pton, and the prefix
 * length is plain decimal.
 *
 * IPv4-mapped IPv6 (::ffff:a.b.c.d) is treated as the IPv4 address it
 * carries: a dual-stack socket reports IPv4 clients in that form. So a
 * mapped client matches IPv4 ranges (and ranges written inside
 * ::ffff:0:0/96), but not other IPv6 ranges such as ::/0.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "lk_error.h"
#include "lk_ip.h"

/* Longest accepted text; the longest real form ("ffff:...:ffff/128" or
 * "::ffff:255.255.255.255/128") is well below it. */
#define IP_TEXT_MAX 64
#define QUOTE_BUF (IP_TEXT_MAX * 4 + 4)

static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Untrusted text for a message: credentials cut to their public part,
 * printable ASCII kept, anything else (and the quote and backslash) as \xNN,
 * at most IP_TEXT_MAX input bytes then "...". */
static const char *quote(const char *s, char *buf)
{
    char safe[IP_TEXT_MAX + 2]; /* one more than is shown: tells whether to cut */
    size_t o = 0, i;
    lk_redact(s, safe, sizeof safe); /* a key pasted as an address: its public part only */
    s = safe;
    for (i = 0; s[i] != '\0' && i < IP_TEXT_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\')
            buf[o++] = (char)c;
        else
            o += (size_t)snprintf(buf + o, 5, "\\x%02x", c);
    }
    if (s[i] != '\0') {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

static unsigned full_len(unsigned family)
{
    return family == 4 ? 32 : 128;
}

static bool cidr_valid(const lk_cidr *c)
{
    return (c->family == 4 && c->prefix <= 32) || (c->family == 6 && c->prefix <= 128);
}

static bool addr_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
}

/* Clear every bit past the first prefix bits of a (nbytes long). */
static void mask_bits(uint8_t *a, unsigned nbytes, unsigned prefix)
{
    for (unsigned i = 0; i < nbytes; i++) {
        unsigned bit = i * 8;
        if (prefix >= bit + 8)
            continue;
        a[i] &= prefix <= bit ? 0 : (uint8_t)(0xffu << (8 - (prefix - bit)));
    }
}

/* A plain dotted quad, accepted exactly as inet_pton(AF_INET) accepts it (four
 * decimal octets 0..255, no leading zeros, nothing else): the address every
 * verify parses, twice, without the copy and the library call. Anything else
 * (a range, IPv6, an error to explain) takes the general path. */
static bool plain_v4(const char *s, uint8_t a[4])
{
    unsigned octets = 0, v = 0;
    bool digit = false;
    for (;; s++) {
        if (*s >= '0' && *s <= '9') {
            if (digit && v == 0) /* "01" */
                return false;
            v = v * 10 + (unsigned)(*s - '0');
            if (v > 255)
                return false;
            digit = true;
        } else if ((*s == '.' || *s == '\0') && digit && octets < 4) {
            a[octets++] = (uint8_t)v;
            v = 0;
            digit = false;
            if (*s == '\0')
                return octets == 4;
        } else {
            return false;
        }
    }
}

static lk_status parse(const char *s, lk_cidr *out, bool allow_prefix)
{
    const char *what = allow_prefix ? "IP address or CIDR range" : "IP address";
    char q[QUOTE_BUF];

    if (out == NULL)
        return lk_seterr(LK_ERR_PARAM, "%s: no output given", what);
    memset(out, 0, sizeof *out);
    if (s == NULL || s[0] == '\0')
        return lk_seterr(LK_ERR_PARAM, "empty %s", what);
    /* A local buffer: a dotted quad that stops short (a "/8" suffix) must not
     * leave its first octets in *out for the error paths below. */
    uint8_t quad[4];
    if (plain_v4(s, quad)) {
        memcpy(out->addr, quad, sizeof quad);
        out->family = 4;
        out->prefix = 32;
        return LK_OK;
    }
    /* strnlen: never walk further into hostile input than needed. */
    size_t len = strnlen(s, IP_TEXT_MAX + 1);
    if (len > IP_TEXT_MAX)
        return lk_seterr(LK_ERR_PARAM, "%s '%s' is longer than %d characters", what, quote(s, q), IP_TEXT_MAX);

    /* Only address characters reach inet_pton; the prefix is checked below. */
    const char *slash = NULL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '/' && slash == NULL) {
            slash = s + i;
        } else if (s[i] == '/' || (slash == NULL && !addr_char(s[i]))) {
            char bad[8];
            snprintf(bad, sizeof bad, s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\'' && s[i] != '\\' ? "%c" : "\\x%02x",
                     (unsigned char)s[i]);
            return lk_seterr(LK_ERR_PARAM, "%s '%s': unexpected character '%s' at position %zu", what, quote(s, q),
                             bad, i + 1);
        }
    }
    if (slash != NULL && !allow_prefix)
        return lk_seterr(LK_ERR_PARAM, "%s '%s': a single address is expected, not a range", what, quote(s, q));

    char addr[IP_TEXT_MAX + 1];
    size_t alen = slash ? (size_t)(slash - s) : len;
    memcpy(addr, s, alen);
    addr[alen] = '\0';
    uint8_t family = memchr(addr, ':', alen) ? 6 : 4;
    if (alen == 0 || inet_pton(family == 6 ? AF_INET6 : AF_INET, addr, out->addr) != 1) {
        memset(out, 0, sizeof *out);
        return lk_seterr(LK_ERR_PARAM, "%s '%s': not a valid IPv%u address", what, quote(s, q), family);
    }

    unsigned full = full_len(family), prefix = full;
    if (slash != NULL) {
        const char *p = slash + 1;
        size_t plen = len - alen - 1;
        bool ok = plen >= 1 && plen <= 3 && !(plen > 1 && p[0] == '0');
        prefix = 0;
        for (size_t i = 0; ok && i < plen; i++) {
            ok = p[i] >= '0' && p[i] <= '9';
            prefix = prefix * 10 + (unsigned)(p[i] - '0');
        }
        if (!ok || prefix > full) {
            memset(out, 0, sizeof *out);
            return lk_seterr(LK_ERR_PARAM, "%s '%s': the prefix length must be a decimal number 0..%u", what,
                             quote(s, q), full);
        }
    }

    /* "10.0.0.1/8" is refused rather than silently widened: the caller
     * probably meant one host, or a different network. */
    uint8_t masked[16];
    memcpy(masked, out->addr, sizeof masked);
    mask_bits(masked, full / 8, prefix);
    if (memcmp(masked, out->addr, sizeof masked) != 0) {
        char net[INET6_ADDRSTRLEN];
        if (inet_ntop(family == 6 ? AF_INET6 : AF_INET, masked, net, sizeof net) == NULL)
            net[0] = '\0';
        memset(out, 0, sizeof *out);
        return lk_seterr(LK_ERR_PARAM, "%s '%s': host bits are set beyond /%u (the network is %s/%u)", what,
                         quote(s, q), prefix, net, prefix);
    }
    out->family = family;
    out->prefix = (uint8_t)prefix;
    return LK_OK;
}

lk_status lk_cidr_parse(const char *s, lk_cidr *out)
{
    return parse(s, out, true);
}

lk_status lk_ip_parse(const char *s, lk_cidr *out)
{
    return parse(s, out, false);
}

/* v (0-255) in decimal without leading zeros, as inet_ntop writes it; the
 * length written (no NUL). */
static size_t put_dec(char *p, unsigned v)
{
    size_t l = 0;
    if (v >= 100)
        p[l++] = (char)('0' + v / 100);
    if (v >= 10)
        p[l++] = (char)('0' + v / 10 % 10);
    p[l++] = (char)('0' + v % 10);
    return l;
}

int lk_cidr_format(const lk_cidr *c, char *buf, size_t n)
{
    char tmp[INET6_ADDRSTRLEN + 5];
    if (buf == NULL || n == 0)
        return -1;
    buf[0] = '\0';
    if (c == NULL || !cidr_valid(c))
        return -1;
    size_t l = 0;
    if (c->family == 4) /* every queued access record formats one: no stdio here */
        for (int i = 0; i < 4; i++) {
            if (i)
                tmp[l++] = '.';
            l += put_dec(tmp + l, c->addr[i]);
        }
    else if (inet_ntop(AF_INET6, c->addr, tmp, INET6_ADDRSTRLEN) != NULL)
        l = strlen(tmp);
    else
        return -1;
    if (c->prefix != full_len(c->family)) {
        tmp[l++] = '/';
        l += put_dec(tmp + l, c->prefix);
    }
    tmp[l] = '\0';
    if (l >= n)
        return -1;
    memcpy(buf, tmp, l + 1);
    return 0;
}

/* A mapped IPv6 address or range inside ::ffff:0:0/96 as the IPv4 one it
 * carries; anything else unchanged. */
static lk_cidr unmap(const lk_cidr *c)
{
    lk_cidr r = *c;
    if (c->family == 6 && c->prefix >= 96 && memcmp(c->addr, v4mapped_prefix, sizeof v4mapped_prefix) == 0) {
        memset(&r, 0, sizeof r);
        r.family = 4;
        r.prefix = (uint8_t)(c->prefix - 96);
        memcpy(r.addr, c->addr + 12, 4);
    }
    return r;
}

int lk_cidr_match(const lk_cidr *net, const lk_cidr *ip)
{
    if (net == NULL || ip == NULL || !cidr_valid(net) || !cidr_valid(ip))
        return 0;
    lk_cidr n = unmap(net), a = unmap(ip);
    /* ip must lie wholly inside net: same family, at least as long a prefix. */
    if (n.family != a.family || a.prefix < n.prefix)
        return 0;
    unsigned whole = n.prefix / 8u, rest = n.prefix % 8u;
    if (memcmp(n.addr, a.addr, whole) != 0)
        return 0;
    if (rest != 0) {
        uint8_t m = (uint8_t)(0xffu << (8 - rest));
        if (((n.addr[whole] ^ a.addr[whole]) & m) != 0)
            return 0;
    }
    return 1;
}
