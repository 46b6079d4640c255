/*
 * test_http_parse.c — latchkeyd's HTTP request reading (daemon/http_parse.c)
 * without a server: Bearer, Basic and API-key header credentials (the
 * mod_authn_latchkey rule for Basic), X-Forwarded-For behind trusted
 * proxies, the service from a header or the URI map (normalised as the
 * proxies route it, whole segments, dot-segment tricks refused), and the status of
 * every verdict (never 200 but for LK_OK).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "http_parse.h"

static char buf[LKH_CRED_BUF];

static const char *b64(const char *s)
{
    static char out[512];
    sodium_bin2base64(out, sizeof out, (const unsigned char *)s, strlen(s), sodium_base64_VARIANT_ORIGINAL);
    return out;
}

static enum lkh_cred_kind basic(const char *userpass, struct lkh_cred *c)
{
    char h[600];
    snprintf(h, sizeof h, "Basic %s", b64(userpass));
    return lkh_credentials(h, NULL, buf, sizeof buf, c);
}

#define ID "AKIDabcdefghijklmnopqrstuvwxyz012345" /* 36 characters, as LK_SECRET_ID_LEN */

static void test_bearer_and_header(void **state)
{
    struct lkh_cred c;
    (void)state;
    assert_int_equal(lkh_credentials("Bearer lk-abc.def", NULL, buf, sizeof buf, &c), LKH_CRED_APIKEY);
    assert_string_equal(c.secret, "lk-abc.def");
    assert_int_equal(c.secret_len, 10);
    assert_null(c.login);
    /* scheme case-insensitive, blanks around the token */
    assert_int_equal(lkh_credentials("  bEaReR \t lk-x  ", NULL, buf, sizeof buf, &c), LKH_CRED_APIKEY);
    assert_string_equal(c.secret, "lk-x");
    /* Authorization wins over the API-key header */
    assert_int_equal(lkh_credentials("Bearer lk-a", "lk-b", buf, sizeof buf, &c), LKH_CRED_APIKEY);
    assert_string_equal(c.secret, "lk-a");
    assert_int_equal(lkh_credentials(NULL, " lk-b ", buf, sizeof buf, &c), LKH_CRED_APIKEY);
    assert_string_equal(c.secret, "lk-b");
    /* another scheme: the API-key header still counts; alone it is unreadable */
    assert_int_equal(lkh_credentials("Digest x=1", "lk-b", buf, sizeof buf, &c), LKH_CRED_APIKEY);
    assert_int_equal(lkh_credentials("Digest x=1", NULL, buf, sizeof buf, &c), LKH_CRED_BAD);
    assert_int_equal(lkh_credentials(NULL, NULL, buf, sizeof buf, &c), LKH_CRED_NONE);
    assert_int_equal(lkh_credentials("", NULL, buf, sizeof buf, &c), LKH_CRED_NONE);
    /* Bearer without a token, with a blank inside it, with control bytes */
    assert_int_equal(lkh_credentials("Bearer", NULL, buf, sizeof buf, &c), LKH_CRED_BAD);
    assert_int_equal(lkh_credentials("Bearer ", NULL, buf, sizeof buf, &c), LKH_CRED_BAD);
    assert_int_equal(lkh_credentials("Bearer a b", NULL, buf, sizeof buf, &c), LKH_CRED_BAD);
    assert_int_equal(lkh_credentials("Bearer a\x01", NULL, buf, sizeof buf, &c), LKH_CRED_BAD);
    assert_int_equal(lkh_credentials("Bearerlk-a", NULL, buf, sizeof buf, &c), LKH_CRED_BAD);
    assert_int_equal(lkh_credentials(NULL, "", buf, sizeof buf, &c), LKH_CRED_BAD);
    /* longer than the buffer: refused, not cut */
    char big[LKH_CRED_BUF + 16];
    memcpy(big, "Bearer ", 7);
    memset(big + 7, 'a', sizeof big - 8);
    big[sizeof big - 1] = '\0';
    assert_int_equal(lkh_credentials(big, NULL, buf, sizeof buf, &c), LKH_CRED_BAD);
}

static void test_basic(void **state)
{
    struct lkh_cred c;
    (void)state;
    /* SecretId:SecretKey */
    assert_int_equal(basic(ID ":s3cret", &c), LKH_CRED_PAIR);
    assert_string_equal(c.id, ID);
    assert_string_equal(c.secret, "s3cret");
    assert_int_equal(c.secret_len, 6);
    assert_string_equal(c.login, ID);
    /* login + SecretId:SecretKey */
    assert_int_equal(basic("alice:" ID ":s3:cret", &c), LKH_CRED_PAIR);
    assert_string_equal(c.id, ID);
    assert_string_equal(c.secret, "s3:cret");
    assert_int_equal(c.secret_len, 7);
    assert_string_equal(c.login, "alice");
    /* login + API key; SecretId user + API key is an API key too */
    assert_int_equal(basic("alice:lk-key", &c), LKH_CRED_APIKEY);
    assert_string_equal(c.secret, "lk-key");
    assert_string_equal(c.login, "alice");
    assert_int_equal(basic(ID ":lk-key", &c), LKH_CRED_APIKEY);
    /* any user, anything else as password: an API key (the verify refuses it) */
    assert_int_equal(basic("bob:whatever", &c), LKH_CRED_APIKEY);
    assert_string_equal(c.login, "bob");
    /* no user at all: unreadable, as Apache has it (no identity to check) */
    assert_int_equal(basic(":lk-key", &c), LKH_CRED_BAD);
    assert_int_equal(c.secret_len, 0);
    assert_int_equal(basic(":" ID ":s3cret", &c), LKH_CRED_BAD);
    assert_int_equal(basic(":", &c), LKH_CRED_BAD);
    /* a user longer than a SecretId is never cut down to one */
    assert_int_equal(basic(ID "zz:s3cret", &c), LKH_CRED_PAIR);
    assert_string_equal(c.id, "");
    /* unreadable: no ':', bad base64, a NUL inside, no token */
    assert_int_equal(basic("nocolon", &c), LKH_CRED_BAD);
    assert_int_equal(lkh_credentials("Basic %%%", NULL, buf, sizeof buf, &c), LKH_CRED_BAD);
    assert_int_equal(lkh_credentials("Basic", NULL, buf, sizeof buf, &c), LKH_CRED_BAD);
    assert_int_equal(lkh_credentials("Basic YQBiOmM=", NULL, buf, sizeof buf, &c), LKH_CRED_BAD); /* "a\0b:c" */
    assert_int_equal(lkh_credentials("Basic YTpi", "lk-x", buf, sizeof buf, &c), LKH_CRED_APIKEY); /* "a:b" */
    assert_string_equal(c.secret, "b");
}

static void test_client_ip(void **state)
{
    lk_cidr t[4];
    char out[64];
    (void)state;
    size_t n = lkh_parse_ranges("127.0.0.1,10.0.0.0/8,::1", t, 4);
    assert_int_equal(n, 3);
    assert_true(lkh_trusted("127.0.0.1", t, n));
    assert_true(lkh_trusted("10.9.8.7", t, n));
    assert_false(lkh_trusted("127.0.0.2", t, n));
    assert_false(lkh_trusted("", t, n));
    assert_false(lkh_trusted(NULL, t, n));
    /* untrusted peer: its header is ignored */
    assert_true(lkh_client_ip("192.0.2.7", "10.1.2.3", t, n, out, sizeof out));
    assert_string_equal(out, "192.0.2.7");
    /* trusted peer: the right-most address that is not a proxy */
    assert_true(lkh_client_ip("127.0.0.1", "203.0.113.9, 198.51.100.4, 10.1.2.3", t, n, out, sizeof out));
    assert_string_equal(out, "198.51.100.4");
    assert_true(lkh_client_ip("127.0.0.1", "203.0.113.9", t, n, out, sizeof out));
    assert_string_equal(out, "203.0.113.9");
    /* every hop trusted: the left-most */
    assert_true(lkh_client_ip("127.0.0.1", "10.0.0.1,10.0.0.2", t, n, out, sizeof out));
    assert_string_equal(out, "10.0.0.1");
    /* no header: the peer */
    assert_true(lkh_client_ip("::1", NULL, t, n, out, sizeof out));
    assert_string_equal(out, "::1");
    /* malformed from a trusted proxy: no address at all (allowlists refuse) */
    assert_false(lkh_client_ip("127.0.0.1", "203.0.113.9:443", t, n, out, sizeof out));
    assert_string_equal(out, "");
    assert_false(lkh_client_ip("127.0.0.1", "", t, n, out, sizeof out));
    assert_false(lkh_client_ip("127.0.0.1", "1.2.3.4,,", t, n, out, sizeof out));
    assert_false(lkh_client_ip("127.0.0.1", "unknown, 10.0.0.1", t, n, out, sizeof out));
    /* a bad entry left of the client does not matter */
    assert_true(lkh_client_ip("127.0.0.1", "junk, 2001:db8::5", t, n, out, sizeof out));
    assert_string_equal(out, "2001:db8::5");
}

static void test_service(void **state)
{
    char out[LK_SERVICE_MAX + 2];
    bool refused;
    const char *map = "/api/=api,/api/billing/=billing,/web=web";
    (void)state;
#define SVC(hdr, uri, m) lkh_service(hdr, uri, m, out, sizeof out, &refused)
    assert_string_equal(SVC(NULL, "/api/x", map), "api");
    assert_false(refused);
    assert_string_equal(SVC(NULL, "/api/billing/1", map), "billing"); /* longest */
    assert_string_equal(SVC(NULL, "/web", map), "web");
    assert_string_equal(SVC(NULL, "/web/x?q=/api/", map), "web"); /* the query is no path */
    assert_null(SVC(NULL, "/other", map));
    assert_false(refused);
    assert_null(SVC(NULL, "/ap", map));
    assert_null(SVC(NULL, NULL, map));
    assert_null(SVC(NULL, "/api/x", ""));
    /* whole segments: "/web" is not "/website", "/api/" not "/api" */
    assert_null(SVC(NULL, "/website", map));
    assert_false(refused);
    assert_null(SVC(NULL, "/api", map));
    assert_null(SVC(NULL, "/apifoo/x", "/api=api"));
    assert_string_equal(SVC(NULL, "/api", "/api=api"), "api");
    assert_string_equal(SVC(NULL, "/api/x", "/api=api"), "api");
    assert_string_equal(SVC(NULL, "/anything", "/=root,/api/=api"), "root");
    /* the path the proxy routes on, not the one the client wrote */
    const char *two = "/api/=api,/web/=web";
    assert_string_equal(SVC(NULL, "/web/../api/x", two), "api");
    assert_string_equal(SVC(NULL, "/web/%2e%2e/api/x", two), "api");
    assert_string_equal(SVC(NULL, "/web/.%2E/api/x", two), "api");
    assert_string_equal(SVC(NULL, "/web//../api/x", two), "api"); /* "//" merged first, as nginx does */
    assert_string_equal(SVC(NULL, "/web/./../api/x", two), "api");
    assert_string_equal(SVC(NULL, "//api//x", two), "api");
    assert_string_equal(SVC(NULL, "/%61pi/x", two), "api"); /* unreserved escapes decoded */
    assert_string_equal(SVC(NULL, "/api/../web/x?/api/", two), "web");
    /* refused: what proxies route differently, or no client means */
    const char *bad[] = {"/web/..%2fapi/x", "/web/..%2Fapi/x", "/web%2f..%2fapi/x", "/web/..%5capi/x",
                         "/web/..\\api/x", "/web/%00/x", "/web/x%0", "/web/x%zz", "/../api/x", "/web/../../api/x",
                         "/web/..;/api/x", "/web/.../x", "/web/\x01/x", "api/x", "http://h/api/x", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_null(SVC(NULL, bad[i], two));
        if (!refused)
            fail_msg("not refused: \"%s\"", bad[i]);
    }
    /* too long for the normalised path: refused, never cut */
    static char lng[LKH_PATH_MAX + 8];
    memset(lng, 'a', sizeof lng - 1);
    memcpy(lng, "/web/", 5);
    assert_null(SVC(NULL, lng, two));
    assert_true(refused);
    /* the header wins, as sent (the verify judges it) */
    assert_string_equal(SVC("cvm", "/api/x", map), "cvm");
    assert_string_equal(SVC("", "/api/x", map), "");
    assert_string_equal(SVC("web", "/web/..%2fapi/x", two), "web");
    assert_false(refused);
#undef SVC
}

static void test_normalize(void **state)
{
    char out[64];
    (void)state;
    static const char *const cases[][2] = {
        {"/", "/"},
        {"/a/b", "/a/b"},
        {"/a/b/", "/a/b/"},
        {"/a/./b/.", "/a/b/"},
        {"/a/b/..", "/a/"},
        {"/a/b/../..", "/"},
        {"/a//b///c", "/a/b/c"},
        {"/a/%7e%41%2D", "/a/~A-"},
        {"/a/%3b%20x", "/a/%3B%20x"}, /* reserved and others stay escaped */
        {"/a/b?x=../..#f", "/a/b"},
        {"/a/\xc3\xa9", "/a/\xc3\xa9"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        if (!lkh_normalize_path(cases[i][0], out, sizeof out))
            fail_msg("refused: \"%s\"", cases[i][0]);
        assert_string_equal(out, cases[i][1]);
    }
    assert_false(lkh_normalize_path("/a/%2f", out, sizeof out));
    assert_string_equal(out, "");
    assert_false(lkh_normalize_path("/0123456789/0123456789/0123456789/0123456789/0123456789/0123456789", out,
                                    sizeof out));
    assert_false(lkh_normalize_path(NULL, out, sizeof out));
}

static void test_status(void **state)
{
    (void)state;
    assert_int_equal(lkh_http_status(LK_OK), 200);
    assert_int_equal(lkh_http_status(LK_DENY_MALFORMED), 401);
    assert_int_equal(lkh_http_status(LK_DENY_MISSING), 401); /* no credential: the challenges say how */
    assert_int_equal(lkh_http_status(LK_DENY_UNKNOWN_KEY), 401);
    assert_int_equal(lkh_http_status(LK_DENY_BAD_SECRET), 401);
    assert_int_equal(lkh_http_status(LK_DENY_LOGIN), 401);
    assert_int_equal(lkh_http_status(LK_DENY_EXPIRED), 401);
    assert_int_equal(lkh_http_status(LK_DENY_RATE_LIMIT), 403);
    assert_int_equal(lkh_http_status(LK_DENY_DISABLED), 403);
    assert_int_equal(lkh_http_status(LK_DENY_IP), 403);
    assert_int_equal(lkh_http_status(LK_DENY_SCOPE), 403);
    assert_int_equal(lkh_http_status(LK_DENY_THROTTLED), 403);
    assert_int_equal(lkh_http_status(LK_ERR_PARAM), 403);
    assert_int_equal(lkh_http_status(LK_ERR_STORE), 503);
    assert_int_equal(lkh_http_status(LK_ERR_BUSY), 503);
    assert_int_equal(lkh_http_status(LK_ERR_NOMEM), 500);
    /* fail closed: nothing but LK_OK is ever 200 */
    for (int s = 1; s < LK_STATUS_COUNT_ + 8; s++)
        assert_int_not_equal(lkh_http_status((lk_status)s), 200);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bearer_and_header), cmocka_unit_test(test_basic), cmocka_unit_test(test_client_ip),
        cmocka_unit_test(test_service),           cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
