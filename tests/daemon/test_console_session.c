/*
 * test_console_session.c — the key console's sessions (daemon/console_session.c)
 * on an injected clock: ids and CSRF tokens, the idle timeout and the
 * absolute lifetime, a wrong or missing token, sign-out, a key's sessions
 * ended together, eviction when full; and the static files' path check
 * against hostile paths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "console_session.h"

static const struct lkc_who alice = {.uin = 100000000001ULL, .secret_id = "AKIDabcdefghijklmnopqrstuvwxyz012345"};

static void test_create_use(void **state)
{
    (void)state;
    struct lkc_table *t = lkc_new(8, 900, 28800);
    char id[LKC_TOKEN_HEX + 1], csrf[LKC_TOKEN_HEX + 1], id2[LKC_TOKEN_HEX + 1], csrf2[LKC_TOKEN_HEX + 1];
    assert_int_equal(lkc_create(t, &alice, 1000, id, csrf), LK_OK);
    assert_int_equal(strlen(id), 64);
    assert_int_equal(strspn(id, "0123456789abcdef"), 64);
    assert_int_equal(lkc_create(t, &alice, 1000, id2, csrf2), LK_OK);
    assert_string_not_equal(id, id2);     /* random, 256 bits */
    assert_string_not_equal(csrf, csrf2);
    assert_string_not_equal(id, csrf);
    struct lkc_who who;
    char tok[LKC_TOKEN_HEX + 1];
    assert_int_equal(lkc_use(t, id, csrf, 1001, &who, tok), LKC_OK);
    assert_int_equal(who.uin, alice.uin);
    assert_string_equal(who.secret_id, alice.secret_id);
    assert_string_equal(tok, csrf);
    /* the probe (no token checked) hands the token back */
    assert_int_equal(lkc_use(t, id, NULL, 1002, &who, tok), LKC_OK);
    assert_string_equal(tok, csrf);
    /* another session's token, a wrong one, a short one */
    assert_int_equal(lkc_use(t, id, csrf2, 1003, &who, NULL), LKC_BAD_CSRF);
    char wrong[LKC_TOKEN_HEX + 1];
    memcpy(wrong, csrf, sizeof wrong);
    wrong[10] = wrong[10] == 'a' ? 'b' : 'a';
    assert_int_equal(lkc_use(t, id, wrong, 1003, &who, NULL), LKC_BAD_CSRF);
    assert_int_equal(lkc_use(t, id, "", 1003, &who, NULL), LKC_BAD_CSRF);
    /* malformed or unknown ids */
    assert_int_equal(lkc_use(t, "", csrf, 1003, &who, NULL), LKC_NONE);
    assert_int_equal(lkc_use(t, "../../etc", csrf, 1003, &who, NULL), LKC_NONE);
    char upper[LKC_TOKEN_HEX + 1];
    memcpy(upper, id, sizeof upper);
    for (char *p = upper; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 32);
    assert_int_equal(lkc_use(t, upper, csrf, 1003, &who, NULL), LKC_NONE);
    assert_int_equal(lkc_use(t, csrf, csrf, 1003, &who, NULL), LKC_NONE); /* the token is no id */
    /* sign-out */
    assert_true(lkc_end(t, id));
    assert_false(lkc_end(t, id));
    assert_int_equal(lkc_use(t, id, csrf, 1004, &who, NULL), LKC_NONE);
    assert_int_equal(lkc_count(t), 1);
    lkc_free(t);
}

static void test_timeouts(void **state)
{
    (void)state;
    struct lkc_table *t = lkc_new(8, 900, 28800);
    char id[LKC_TOKEN_HEX + 1], csrf[LKC_TOKEN_HEX + 1];
    struct lkc_who who;
    /* idle: used at 899 s keeps it; 900 s without use ends it */
    assert_int_equal(lkc_create(t, &alice, 0, id, csrf), LK_OK);
    assert_int_equal(lkc_use(t, id, csrf, 899, &who, NULL), LKC_OK);
    assert_int_equal(lkc_use(t, id, csrf, 1798, &who, NULL), LKC_OK);
    assert_int_equal(lkc_use(t, id, csrf, 2698, &who, NULL), LKC_EXPIRED);
    assert_int_equal(lkc_use(t, id, csrf, 2698, &who, NULL), LKC_NONE); /* ended, not just refused */
    /* absolute: used every 800 s, it still ends at 28800 s */
    assert_int_equal(lkc_create(t, &alice, 0, id, csrf), LK_OK);
    int64_t now = 0;
    while (now + 800 < 28800) {
        now += 800;
        assert_int_equal(lkc_use(t, id, csrf, now, &who, NULL), LKC_OK);
    }
    assert_int_equal(lkc_use(t, id, csrf, 28800, &who, NULL), LKC_EXPIRED);
    /* a clock that went backwards: fail closed */
    assert_int_equal(lkc_create(t, &alice, 5000, id, csrf), LK_OK);
    assert_int_equal(lkc_use(t, id, csrf, 4999, &who, NULL), LKC_EXPIRED);
    /* a wrong token does not keep a session alive */
    assert_int_equal(lkc_create(t, &alice, 0, id, csrf), LK_OK);
    assert_int_equal(lkc_use(t, id, "x", 800, &who, NULL), LKC_BAD_CSRF);
    assert_int_equal(lkc_use(t, id, csrf, 900, &who, NULL), LKC_EXPIRED);
    lkc_free(t);
}

static void test_end_key_and_evict(void **state)
{
    (void)state;
    struct lkc_table *t = lkc_new(3, 900, 28800);
    struct lkc_who bob = {.uin = 100000000002ULL, .secret_id = "AKIDzzcdefghijklmnopqrstuvwxyz012345"};
    char a1[LKC_TOKEN_HEX + 1], a2[LKC_TOKEN_HEX + 1], b1[LKC_TOKEN_HEX + 1], c[LKC_TOKEN_HEX + 1];
    assert_int_equal(lkc_create(t, &alice, 10, a1, c), LK_OK);
    assert_int_equal(lkc_create(t, &alice, 11, a2, c), LK_OK);
    assert_int_equal(lkc_create(t, &bob, 12, b1, c), LK_OK);
    lkc_end_key(t, alice.secret_id);
    assert_int_equal(lkc_count(t), 1);
    assert_int_equal(lkc_use(t, a1, NULL, 13, NULL, NULL), LKC_NONE);
    assert_int_equal(lkc_use(t, b1, NULL, 13, NULL, NULL), LKC_OK);
    /* full: the longest unused goes */
    assert_int_equal(lkc_create(t, &alice, 14, a1, c), LK_OK);
    assert_int_equal(lkc_create(t, &alice, 15, a2, c), LK_OK);
    assert_int_equal(lkc_use(t, b1, NULL, 16, NULL, NULL), LKC_OK);
    char a3[LKC_TOKEN_HEX + 1];
    assert_int_equal(lkc_create(t, &alice, 17, a3, c), LK_OK);
    assert_int_equal(lkc_use(t, a1, NULL, 18, NULL, NULL), LKC_NONE);
    assert_int_equal(lkc_use(t, b1, NULL, 18, NULL, NULL), LKC_OK);
    assert_int_equal(lkc_use(t, a3, NULL, 18, NULL, NULL), LKC_OK);
    struct lkc_who nobody = {.uin = 0};
    assert_int_equal(lkc_create(t, &nobody, 18, a1, c), LK_ERR_PARAM);
    lkc_free(t);
}

static void test_static_paths(void **state)
{
    (void)state;
    assert_true(lkc_static_path_ok("index.html"));
    assert_true(lkc_static_path_ok("js/app.js"));
    assert_true(lkc_static_path_ok("a-b_c.d.css"));
    const char *bad[] = {"", "..", "../etc/passwd", "js/../../x", "./index.html", ".hidden", "js/.x", "js//app.js",
                         "/etc/passwd", "js/", "a\\b", "a%2Fb", "a%2e%2e", "a b", "a\nb", "a;b",
                         "a\x7f.html", /* an encoded NUL, as manage.c hands it on */
                         NULL};
    char long_name[202];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    bad[sizeof bad / sizeof bad[0] - 1] = long_name; /* 201 bytes */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (lkc_static_path_ok(bad[i]))
            fail_msg("accepted hostile path '%s'", bad[i]);
    }
    assert_string_equal(lkc_content_type("index.html"), "text/html; charset=utf-8");
    assert_string_equal(lkc_content_type("js/app.js"), "text/javascript; charset=utf-8");
    assert_string_equal(lkc_content_type("s.css"), "text/css; charset=utf-8");
    assert_null(lkc_content_type("README"));
    assert_null(lkc_content_type("x.sh"));
    assert_null(lkc_content_type("a.js/b"));
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_use),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_end_key_and_evict),
        cmocka_unit_test(test_static_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
