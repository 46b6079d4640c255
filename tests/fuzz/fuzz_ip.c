/*
 * fuzz_ip — IP/CIDR parsing, formatting and matching (core/ip.c).
 *
 * Input: two strings separated by a 0xff byte (a range and a client
 * address), or, when the first byte is 'S', raw lk_cidr structs.
 *
 * Invariants:
 *  - parse never reads past the string, never crashes;
 *  - on success: family 4/6, prefix within range, host bits zero, and
 *    format(parse(x)) parses back to the identical struct (round trip), and
 *    the canonical text is a fixed point: format(parse(format(c))) == format(c);
 *  - lk_ip_parse succeeds only on what lk_cidr_parse gives the full prefix;
 *  - on failure *out is zeroed and a message is set;
 *  - lk_cidr_match agrees with a plain reference bit comparison (with the
 *    documented IPv4-mapped rule), and every range matches itself;
 *  - format of an arbitrary struct never overruns its buffer.
 */
#include <arpa/inet.h>

#include "fuzz_common.h"
#include "latchkey.h"
#include "lk_ip.h"

static const lk_cidr zero;

static int get_bit(const uint8_t *a, unsigned i)
{
    return (a[i / 8] >> (7 - i % 8)) & 1;
}

static lk_cidr ref_unmap(lk_cidr c)
{
    static const uint8_t pfx[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (c.family == 6 && c.prefix >= 96 && memcmp(c.addr, pfx, 12) == 0) {
        lk_cidr r = zero;
        r.family = 4;
        r.prefix = (uint8_t)(c.prefix - 96);
        memcpy(r.addr, c.addr + 12, 4);
        return r;
    }
    return c;
}

/* Reference: ip's range lies inside net's, bit by bit. */
static int ref_match(lk_cidr net, lk_cidr ip)
{
    net = ref_unmap(net);
    ip = ref_unmap(ip);
    if (net.family != ip.family || ip.prefix < net.prefix)
        return 0;
    for (unsigned i = 0; i < net.prefix; i++)
        if (get_bit(net.addr, i) != get_bit(ip.addr, i))
            return 0;
    return 1;
}

static void check_parsed(const char *s, const lk_cidr *c, int single)
{
    char buf[80], buf2[80];
    lk_cidr again, ip;
    unsigned full = c->family == 4 ? 32 : 128;

    FUZZ_CHECK(c->family == 4 || c->family == 6);
    FUZZ_CHECK(c->prefix <= full);
    if (single)
        FUZZ_CHECK(c->prefix == full);
    for (unsigned i = c->prefix; i < full; i++)
        FUZZ_CHECK(get_bit(c->addr, i) == 0);
    if (c->family == 4)
        for (int i = 4; i < 16; i++)
            FUZZ_CHECK(c->addr[i] == 0);

    FUZZ_CHECK(lk_cidr_format(c, buf, sizeof buf) == 0);
    FUZZ_CHECK(strlen(buf) < LK_IP_STRLEN + 4); /* what an allowlist entry may hold */
    FUZZ_CHECK(lk_cidr_parse(buf, &again) == LK_OK);
    FUZZ_CHECK(memcmp(&again, c, sizeof again) == 0);
    FUZZ_CHECK(lk_cidr_format(&again, buf2, sizeof buf2) == 0);
    FUZZ_CHECK(strcmp(buf, buf2) == 0);
    /* a buffer one byte short is refused, never overrun */
    size_t l = strlen(buf);
    char *tight = malloc(l);
    FUZZ_CHECK(tight != NULL);
    FUZZ_CHECK(lk_cidr_format(c, tight, l) == -1);
    free(tight);
    /* single address <=> full prefix */
    lk_status st = lk_ip_parse(s, &ip);
    if (st == LK_OK)
        FUZZ_CHECK(memcmp(&ip, c, sizeof ip) == 0);
    else
        FUZZ_CHECK(c->prefix != full || strchr(s, '/') != NULL);
    /* a range contains itself */
    FUZZ_CHECK(lk_cidr_match(c, c) == 1);
}

static void check_failed(const lk_cidr *c)
{
    FUZZ_CHECK(memcmp(c, &zero, sizeof zero) == 0);
    const char *m = lk_errmsg(NULL);
    FUZZ_CHECK(m != NULL && m[0] != '\0');
}

static void raw_structs(const uint8_t *data, size_t size)
{
    lk_cidr a, b;
    char buf[INET6_ADDRSTRLEN + 8];
    if (size < 2 * sizeof a)
        return;
    memcpy(&a, data, sizeof a);
    memcpy(&b, data + sizeof a, sizeof b);
    int fa = lk_cidr_format(&a, buf, sizeof buf);
    if (fa == 0) {
        FUZZ_CHECK(strlen(buf) < sizeof buf);
    } else {
        FUZZ_CHECK(buf[0] == '\0');
    }
    int valid_a = (a.family == 4 && a.prefix <= 32) || (a.family == 6 && a.prefix <= 128);
    int valid_b = (b.family == 4 && b.prefix <= 32) || (b.family == 6 && b.prefix <= 128);
    int m = lk_cidr_match(&a, &b);
    FUZZ_CHECK(m == 0 || m == 1);
    if (!valid_a || !valid_b)
        FUZZ_CHECK(m == 0);
    else
        FUZZ_CHECK(m == ref_match(a, b));
    FUZZ_CHECK(lk_cidr_match(NULL, &b) == 0 && lk_cidr_match(&a, NULL) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 0 && data[0] == 'S') {
        raw_structs(data + 1, size - 1);
        return 0;
    }
    fz_in in = {data, size};
    char *s1 = fz_str(&in, 4096, NULL);
    char *s2 = fz_str(&in, 4096, NULL);
    lk_cidr net, ip;

    lk_status st1 = lk_cidr_parse(s1, &net);
    FUZZ_CHECK(st1 == LK_OK || st1 == LK_ERR_PARAM);
    if (st1 == LK_OK)
        check_parsed(s1, &net, 0);
    else
        check_failed(&net);

    lk_status st2 = lk_ip_parse(s2, &ip);
    FUZZ_CHECK(st2 == LK_OK || st2 == LK_ERR_PARAM);
    if (st2 == LK_OK) {
        check_parsed(s2, &ip, 1);
    } else {
        check_failed(&ip);
    }
    if (st1 == LK_OK && st2 == LK_OK) {
        int m = lk_cidr_match(&net, &ip);
        FUZZ_CHECK(m == ref_match(net, ip));
        /* the IPv4-mapped form of an IPv4 client matches the same ranges */
        if (ip.family == 4) {
            char mapped[64];
            lk_cidr mip;
            snprintf(mapped, sizeof mapped, "::ffff:%u.%u.%u.%u", ip.addr[0], ip.addr[1], ip.addr[2], ip.addr[3]);
            FUZZ_CHECK(lk_ip_parse(mapped, &mip) == LK_OK);
            FUZZ_CHECK(lk_cidr_match(&net, &mip) == m);
        }
    }
    free(s1);
    free(s2);
    return 0;
}
