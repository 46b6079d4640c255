/*
 * test_ip.c — lk_cidr_parse / lk_ip_parse / lk_cidr_format / lk_cidr_match:
 * canonical forms, range boundaries, IPv4-mapped clients, and the inputs
 * that must be refused (with a message quoting them safely).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "latchkey.h"
#include "lk_ip.h"

static lk_cidr net_of(const char *s)
{
    lk_cidr c;
    lk_status st = lk_cidr_parse(s, &c);
    if (st != LK_OK) {
        print_error("lk_cidr_parse(\"%s\"): %s\n", s, lk_errmsg(NULL));
        fail();
    }
    return c;
}

static lk_cidr ip_of(const char *s)
{
    lk_cidr c;
    lk_status st = lk_ip_parse(s, &c);
    if (st != LK_OK) {
        print_error("lk_ip_parse(\"%s\"): %s\n", s, lk_errmsg(NULL));
        fail();
    }
    return c;
}

static void assert_canon(const char *in, const char *want)
{
    char buf[64];
    lk_cidr c = net_of(in);
    assert_int_equal(lk_cidr_format(&c, buf, sizeof buf), 0);
    if (strcmp(buf, want) != 0) {
        print_error("%s formats as %s, expected %s\n", in, buf, want);
        fail();
    }
    /* the canonical form parses back to the same value */
    lk_cidr again = net_of(buf);
    assert_memory_equal(&c, &again, sizeof c);
}

/* 1 when ip lies in net (both given as text). */
static int in(const char *net, const char *ip)
{
    lk_cidr n = net_of(net), a = ip_of(ip);
    return lk_cidr_match(&n, &a);
}

/* ------------------------------------------------------------ parse and format */

static void test_parse_v4(void **state)
{
    (void)state;
    lk_cidr c = ip_of("192.0.2.1");
    assert_int_equal(c.family, 4);
    assert_int_equal(c.prefix, 32);
    static const uint8_t want[16] = {192, 0, 2, 1};
    assert_memory_equal(c.addr, want, 16);

    c = net_of("10.0.0.0/8");
    assert_int_equal(c.family, 4);
    assert_int_equal(c.prefix, 8);
    static const uint8_t ten[16] = {10};
    assert_memory_equal(c.addr, ten, 16);

    assert_canon("192.0.2.1", "192.0.2.1");
    assert_canon("192.0.2.1/32", "192.0.2.1"); /* no "/len" at full length */
    assert_canon("10.0.0.0/8", "10.0.0.0/8");
    assert_canon("0.0.0.0/0", "0.0.0.0/0");
    assert_canon("255.255.255.255", "255.255.255.255");
    assert_canon("192.0.2.128/25", "192.0.2.128/25");
    assert_canon("0.0.0.0", "0.0.0.0");
}

static void test_parse_v6(void **state)
{
    (void)state;
    lk_cidr c = ip_of("::1");
    assert_int_equal(c.family, 6);
    assert_int_equal(c.prefix, 128);
    assert_int_equal(c.addr[15], 1);

    assert_canon("::1", "::1");
    assert_canon("::", "::");
    assert_canon("::/0", "::/0");
    assert_canon("2001:DB8:0:0:0:0:0:1", "2001:db8::1");
    assert_canon("2001:0db8:0000:0000:0000:0000:0000:0001/128", "2001:db8::1");
    assert_canon("2001:db8::/32", "2001:db8::/32");
    assert_canon("2001:db8:0::/48", "2001:db8::/48");
    assert_canon("fe80::/10", "fe80::/10");
    assert_canon("2001:db8::/127", "2001:db8::/127");
    assert_canon("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    assert_canon("::ffff:192.0.2.1", "::ffff:192.0.2.1");
    assert_canon("::ffff:c000:0201", "::ffff:192.0.2.1");
    assert_canon("::ffff:0:0/96", "::ffff:0.0.0.0/96");
}

static void test_format(void **state)
{
    (void)state;
    char buf[64];
    lk_cidr c = net_of("10.0.0.0/8");
    /* "10.0.0.0/8" is 10 chars: needs 11 bytes */
    assert_int_equal(lk_cidr_format(&c, buf, 11), 0);
    assert_string_equal(buf, "10.0.0.0/8");
    assert_int_equal(lk_cidr_format(&c, buf, 10), -1);
    assert_string_equal(buf, "");
    assert_int_equal(lk_cidr_format(&c, buf, 1), -1);
    assert_int_equal(lk_cidr_format(&c, buf, 0), -1);
    assert_int_equal(lk_cidr_format(&c, NULL, 64), -1);
    assert_int_equal(lk_cidr_format(NULL, buf, sizeof buf), -1);

    lk_cidr bad = c;
    bad.family = 5;
    assert_int_equal(lk_cidr_format(&bad, buf, sizeof buf), -1);
    bad = c;
    bad.prefix = 33;
    assert_int_equal(lk_cidr_format(&bad, buf, sizeof buf), -1);

    /* the longest text fits in LK_IP_STRLEN + 4 (what the API key code uses) */
    c = net_of("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127");
    assert_int_equal(lk_cidr_format(&c, buf, LK_IP_STRLEN + 4), 0);
    c = net_of("::ffff:255.255.255.254/127");
    assert_int_equal(lk_cidr_format(&c, buf, LK_IP_STRLEN + 4), 0);
    assert_string_equal(buf, "::ffff:255.255.255.254/127");
}

/* ------------------------------------------------------------ matching */

static void test_match_v4(void **state)
{
    (void)state;
    assert_true(in("10.0.0.0/8", "10.0.0.0"));
    assert_true(in("10.0.0.0/8", "10.255.255.255"));
    assert_false(in("10.0.0.0/8", "11.0.0.0"));
    assert_false(in("10.0.0.0/8", "9.255.255.255"));

    assert_true(in("192.0.2.128/25", "192.0.2.128"));
    assert_true(in("192.0.2.128/25", "192.0.2.255"));
    assert_false(in("192.0.2.128/25", "192.0.2.127"));

    /* /0: every IPv4 address, no IPv6 one */
    assert_true(in("0.0.0.0/0", "0.0.0.0"));
    assert_true(in("0.0.0.0/0", "255.255.255.255"));
    assert_true(in("0.0.0.0/0", "::ffff:1.2.3.4"));
    assert_false(in("0.0.0.0/0", "::1"));
    assert_false(in("0.0.0.0/0", "2001:db8::1"));

    /* /32: exactly one */
    assert_true(in("192.0.2.1/32", "192.0.2.1"));
    assert_true(in("192.0.2.1", "192.0.2.1"));
    assert_false(in("192.0.2.1/32", "192.0.2.0"));
    assert_false(in("192.0.2.1/32", "192.0.2.2"));
    /* /31 */
    assert_true(in("192.0.2.0/31", "192.0.2.1"));
    assert_false(in("192.0.2.0/31", "192.0.2.2"));
}

static void test_match_v6(void **state)
{
    (void)state;
    assert_true(in("::/0", "::"));
    assert_true(in("::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    assert_false(in("::/0", "192.0.2.1")); /* IPv4 is not in "all IPv6" */

    assert_true(in("2001:db8::1/128", "2001:db8::1"));
    assert_false(in("2001:db8::1/128", "2001:db8::"));
    assert_false(in("2001:db8::1/128", "2001:db8::2"));

    assert_true(in("2001:db8::/127", "2001:db8::"));
    assert_true(in("2001:db8::/127", "2001:db8::1"));
    assert_false(in("2001:db8::/127", "2001:db8::2"));
    assert_false(in("2001:db8::2/127", "2001:db8::1"));

    assert_true(in("2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
    assert_false(in("2001:db8::/32", "2001:db9::"));
    assert_true(in("fe80::/10", "febf::1"));
    assert_false(in("fe80::/10", "fec0::1"));

    /* families never mix except through IPv4-mapped addresses */
    assert_false(in("10.0.0.0/8", "::a00:1"));   /* IPv4-compatible, not mapped */
    assert_false(in("::a00:0/104", "10.0.0.1"));
}

static void test_match_mapped(void **state)
{
    (void)state;
    assert_true(in("192.0.2.0/24", "::ffff:192.0.2.1"));
    assert_true(in("192.0.2.0/24", "::FFFF:c000:02ff"));
    assert_false(in("192.0.2.0/24", "::ffff:192.0.3.1"));
    assert_true(in("192.0.2.1", "::ffff:192.0.2.1"));
    assert_false(in("192.0.2.1", "::ffff:192.0.2.2"));
    /* a range written in mapped form matches plain IPv4 clients too */
    assert_true(in("::ffff:192.0.2.0/120", "192.0.2.9"));
    assert_false(in("::ffff:192.0.2.0/120", "192.0.3.9"));
    assert_true(in("::ffff:0:0/96", "203.0.113.7"));
    assert_true(in("::ffff:192.0.2.0/120", "::ffff:192.0.2.200"));
    /* a mapped client is an IPv4 client: not in unrelated IPv6 ranges */
    assert_false(in("::/0", "::ffff:192.0.2.1"));
    assert_false(in("2001:db8::/32", "::ffff:192.0.2.1"));
    /* ::fffe:0:0/95 is wider than the mapped space: an IPv6 range like any other */
    assert_false(in("::fffe:0:0/95", "::ffff:1.2.3.4"));
    assert_true(in("::fffe:0:0/95", "::fffe:1.2.3.4"));
    assert_false(in("::fffe:0:0/95", "1.2.3.4"));
}

static void test_match_edge(void **state)
{
    (void)state;
    lk_cidr n = net_of("10.0.0.0/8"), narrow = net_of("10.1.0.0/16"), bad = n;
    /* a range as "ip": inside only when wholly inside */
    assert_true(lk_cidr_match(&n, &narrow));
    assert_false(lk_cidr_match(&narrow, &n));
    assert_false(lk_cidr_match(NULL, &n));
    assert_false(lk_cidr_match(&n, NULL));
    bad.family = 0;
    assert_false(lk_cidr_match(&bad, &narrow));
    assert_false(lk_cidr_match(&n, &bad));
    bad = n;
    bad.prefix = 200;
    assert_false(lk_cidr_match(&bad, &narrow));
}

/* ------------------------------------------------------------ rejection */

static void assert_rejected(lk_status (*fn)(const char *, lk_cidr *), const char *s, const char *msg)
{
    lk_cidr c;
    memset(&c, 0xa5, sizeof c);
    lk_status st = fn(s, &c);
    if (st != LK_ERR_PARAM) {
        print_error("\"%s\" was accepted (status %d)\n", s, (int)st);
        fail();
    }
    if (msg != NULL && strstr(lk_errmsg(NULL), msg) == NULL) {
        print_error("message for \"%s\": \"%s\" lacks \"%s\"\n", s, lk_errmsg(NULL), msg);
        fail();
    }
    /* a refused address leaves nothing half-parsed behind (the dotted-quad
     * fast path once left "1.2.3" of "1.2.3.4/32" in it) */
    static const lk_cidr zero;
    if (memcmp(&c, &zero, sizeof c) != 0) {
        print_error("\"%s\" was refused but the output is not cleared\n", s);
        fail();
    }
}

static void test_reject(void **state)
{
    (void)state;
    static const struct {
        const char *in, *msg;
    } cases[] = {
        {"", "empty"},
        {" 10.0.0.1", "unexpected character ' ' at position 1"},
        {"10.0.0.1 ", "unexpected character ' ' at position 9"},
        {"10.0.0.1\n", "'10.0.0.1\\x0a': unexpected character '\\x0a'"},
        {"\t::1", "unexpected character '\\x09'"},
        {"10.0.0.1/", "'10.0.0.1/': the prefix length must be a decimal number 0..32"},
        {"/8", "'/8': not a valid IPv4 address"},
        {"/", "not a valid"},
        {"10.0.0.0/+8", "prefix length"},
        {"10.0.0.0/-8", "prefix length"},
        {"10.0.0.0/08", "prefix length"},
        {"10.0.0.0/008", "prefix length"},
        {"0.0.0.0/00", "prefix length"},
        {"10.0.0.0/8a", "prefix length"},
        {"10.0.0.0/ 8", "prefix length"},
        {"10.0.0.0/8 ", "prefix length"},
        {"10.0.0.0/0x8", "prefix length"},
        {"10.0.0.0/33", "0..32"},
        {"10.0.0.0/1000", "0..32"},
        {"::/129", "0..128"},
        {"::/0128", "0..128"},
        {"10.0.0.0/8/8", "unexpected character '/'"},
        {"10.0.0.1/8", "host bits are set beyond /8 (the network is 10.0.0.0/8)"},
        {"192.0.2.1/24", "192.0.2.0/24"},
        {"2001:db8::1/32", "host bits are set beyond /32 (the network is 2001:db8::/32)"},
        {"2001:db8::1/127", "the network is 2001:db8::/127"},
        {"0.0.0.1/0", "the network is 0.0.0.0/0"},
        {"1.2.3", "not a valid IPv4 address"},
        {"1.2.3.4.5", "not a valid IPv4 address"},
        {"256.1.1.1", "not a valid IPv4 address"},
        {"01.2.3.4", "not a valid IPv4 address"},
        {"1..2.3", "not a valid"},
        {"1.2.3.4.", "not a valid"},
        {"0x7f.0.0.1", "unexpected character 'x'"},
        {"2130706433", "not a valid IPv4 address"},
        {"abc", "not a valid IPv4 address"},
        {"1:2:3:4:5:6:7:8:9", "not a valid IPv6 address"},
        {"1::2::3", "not a valid IPv6 address"},
        {":::", "not a valid IPv6 address"},
        {"12345::", "not a valid IPv6 address"},
        {"::ffff:1.2.3", "not a valid IPv6 address"},
        {"fe80::1%eth0", "unexpected character '%'"},
        {"[::1]", "unexpected character '['"},
        {"g::1", "unexpected character 'g'"},
        {"localhost", "unexpected character 'l'"},
        {"1.2.3.4\xff", "\\xff"},
        {"'", "'\\x27': unexpected character '\\x27'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_rejected(lk_cidr_parse, cases[i].in, cases[i].msg);
    assert_rejected(lk_cidr_parse, NULL, "empty");
    lk_cidr c;
    assert_int_equal(lk_cidr_parse("10.0.0.0/8", NULL), LK_ERR_PARAM);

    /* a client address is one address */
    assert_rejected(lk_ip_parse, "10.0.0.0/8", "a single address is expected");
    assert_rejected(lk_ip_parse, "192.0.2.1/32", "a single address is expected");
    assert_rejected(lk_ip_parse, "", "empty IP address");
    assert_rejected(lk_ip_parse, "nope", "unexpected character 'n'");
    assert_int_equal(lk_ip_parse("::1", &c), LK_OK);
    /* a client address is parsed by a dotted-quad fast path: it refuses what inet_pton refuses */
    static const char *const not_v4[] = {"1.2.3.04", "1.2.3.256", "1.2.3.4.", "1.2.3.4.5", ".1.2.3", "1.2.3",
                                         "1..2.3", "0377.1.1.1", "1.2.3.1000"};
    for (size_t i = 0; i < sizeof not_v4 / sizeof not_v4[0]; i++)
        assert_rejected(lk_ip_parse, not_v4[i], "not a valid IPv4 address");
    assert_int_equal(lk_ip_parse("255.0.10.199", &c), LK_OK);
    static const uint8_t want[16] = {255, 0, 10, 199};
    assert_memory_equal(c.addr, want, 16);
    assert_int_equal(c.prefix, 32);
}

/* A key pasted as an address (--allow-ip, a client address): the message
 * names its public part only. */
static void test_pasted_key_not_echoed(void **state)
{
    (void)state;
    static const char ak[] = "lk-AbCdEfGhIjKlSECRETsecretSECRETsecretSECRETsecret123456";
    static const char sk[] = "LKSKSECRETsecretSECRETsecretSECRETsecret123456";
    const char *inputs[] = {ak, sk, "10.0.0.1,lk-AbCdEfGhIjKlSECRETsecretSECRETsecret"};
    lk_cidr c;
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        assert_int_equal(lk_cidr_parse(inputs[i], &c), LK_ERR_PARAM);
        if (strstr(lk_errmsg(NULL), "SECRET") || strstr(lk_errmsg(NULL), "ecret"))
            fail_msg("message shows the secret: %s", lk_errmsg(NULL));
        assert_int_equal(lk_ip_parse(inputs[i], &c), LK_ERR_PARAM);
        if (strstr(lk_errmsg(NULL), "SECRET") || strstr(lk_errmsg(NULL), "ecret"))
            fail_msg("message shows the secret: %s", lk_errmsg(NULL));
    }
}

static void test_hostile_lengths(void **state)
{
    (void)state;
    char buf[200];
    /* 64 characters is the limit; this 64-char string fails only as junk */
    memset(buf, '1', 64);
    buf[64] = '\0';
    assert_rejected(lk_cidr_parse, buf, "not a valid IPv4 address");
    /* 65: refused for its length, quoted text cut at 64 with "..." */
    buf[64] = '1';
    buf[65] = '\0';
    assert_rejected(lk_cidr_parse, buf, "is longer than 64 characters");
    char want[80];
    memset(want, '1', 64);
    memcpy(want + 64, "...'", 5);
    assert_rejected(lk_cidr_parse, buf, want);

    /* a megabyte of non-printable bytes: rejected quickly, message bounded and escaped */
    size_t n = 1024 * 1024;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 0x01, n);
    big[n] = '\0';
    assert_rejected(lk_cidr_parse, big, "is longer than 64 characters");
    assert_non_null(strstr(lk_errmsg(NULL), "\\x01\\x01"));
    assert_true(strlen(lk_errmsg(NULL)) < 400);
    free(big);
}

/* Random bytes and random mutations of valid entries: never a crash, and
 * anything accepted formats canonically and round-trips. */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

static void test_fuzz(void **state)
{
    (void)state;
    static const char *const seeds[] = {"10.0.0.0/8", "192.0.2.1", "2001:db8::/32", "::ffff:192.0.2.1", "::/0",
                                        "fe80::1/128", "0.0.0.0/0"};
    static const char alphabet[] = "0123456789abcdefABCDEF:./ \t%-+x\xff";
    char s[96], buf[64];
    size_t accepted = 0;
    for (int iter = 0; iter < 200000; iter++) {
        size_t len;
        if (iter % 2 == 0) {
            len = rng() % 80;
            for (size_t i = 0; i < len; i++)
                s[i] = (iter % 4 == 0) ? (char)(rng() % 255 + 1) : alphabet[rng() % (sizeof alphabet - 1)];
            s[len] = '\0';
        } else {
            snprintf(s, sizeof s, "%s", seeds[rng() % (sizeof seeds / sizeof seeds[0])]);
            len = strlen(s);
            for (int m = (int)(rng() % 3) + 1; m > 0 && len > 0; m--)
                s[rng() % len] = alphabet[rng() % (sizeof alphabet - 1)];
        }
        lk_cidr c, again;
        if (lk_cidr_parse(s, &c) != LK_OK)
            continue;
        accepted++;
        assert_true((c.family == 4 && c.prefix <= 32) || (c.family == 6 && c.prefix <= 128));
        assert_int_equal(lk_cidr_format(&c, buf, sizeof buf), 0);
        assert_int_equal(lk_cidr_parse(buf, &again), LK_OK);
        assert_memory_equal(&c, &again, sizeof c);
        assert_true(lk_cidr_match(&c, &c));
    }
    assert_true(accepted > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_v4),     cmocka_unit_test(test_parse_v6),
        cmocka_unit_test(test_format),       cmocka_unit_test(test_match_v4),
        cmocka_unit_test(test_match_v6),     cmocka_unit_test(test_match_mapped),
        cmocka_unit_test(test_match_edge),   cmocka_unit_test(test_reject),
        cmocka_unit_test(test_hostile_lengths), cmocka_unit_test(test_fuzz),
        cmocka_unit_test(test_pasted_key_not_echoed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
