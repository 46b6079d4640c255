/* Key formats, the text record codec, text checks and the verified-secret cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "lk_internal.h"

static void generated_keys_have_documented_shape(void **state)
{
    (void)state;
    char id[LK_SECRET_ID_LEN + 1], sk[LK_SECRET_KEY_LEN + 1], ak[LK_APIKEY_LEN + 1];
    for (int i = 0; i < 200; i++) {
        lk_keyfmt_new_secret_id(id);
        lk_keyfmt_new_secret_key(sk);
        lk_keyfmt_new_apikey(ak);
        assert_int_equal(strlen(id), 36);
        assert_int_equal(strlen(sk), 46);
        assert_int_equal(strlen(ak), 57);
        assert_memory_equal(id, "AKID", 4);
        assert_memory_equal(sk, "LKSK", 4);
        assert_memory_equal(ak, "lk-", 3);
        assert_true(lk_keyfmt_secret_id_ok(id, strlen(id)));
        assert_true(lk_keyfmt_secret_key_ok(sk, strlen(sk)));
        assert_true(lk_keyfmt_apikey_ok(ak, strlen(ak)));
        assert_true(lk_keyfmt_apikey_id_ok(ak, LK_APIKEY_ID_LEN));
        /* a SecretKey is not accepted as a SecretId and vice versa */
        assert_false(lk_keyfmt_secret_id_ok(sk, strlen(sk)));
        assert_false(lk_keyfmt_secret_key_ok(id, strlen(id)));
    }
}

static void keys_are_unique(void **state)
{
    (void)state;
    enum { N = 2000 };
    char (*keys)[LK_SECRET_KEY_LEN + 1] = malloc(N * sizeof *keys);
    assert_non_null(keys);
    for (int i = 0; i < N; i++)
        lk_keyfmt_new_secret_key(keys[i]);
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            assert_string_not_equal(keys[i], keys[j]);
    free(keys);
}

/* Every single-character change or truncation is caught by the checksum. */
static void typos_and_truncation_are_rejected(void **state)
{
    (void)state;
    char sk[LK_SECRET_KEY_LEN + 1], bad[LK_SECRET_KEY_LEN + 1];
    lk_keyfmt_new_secret_key(sk);
    for (size_t pos = 4; pos < LK_SECRET_KEY_LEN; pos++) {
        memcpy(bad, sk, sizeof bad);
        bad[pos] = bad[pos] == 'a' ? 'b' : 'a';
        assert_false(lk_keyfmt_secret_key_ok(bad, LK_SECRET_KEY_LEN));
    }
    for (size_t len = 0; len < LK_SECRET_KEY_LEN; len++)
        assert_false(lk_keyfmt_secret_key_ok(sk, len));
    /* swapped adjacent characters */
    memcpy(bad, sk, sizeof bad);
    for (size_t pos = 4; pos + 1 < LK_SECRET_KEY_LEN; pos++) {
        memcpy(bad, sk, sizeof bad);
        if (bad[pos] == bad[pos + 1])
            continue;
        char t = bad[pos];
        bad[pos] = bad[pos + 1];
        bad[pos + 1] = t;
        assert_false(lk_keyfmt_secret_key_ok(bad, LK_SECRET_KEY_LEN));
    }
    assert_false(lk_keyfmt_secret_key_ok(NULL, 0));
    assert_false(lk_keyfmt_apikey_ok("lk-", 3));
}

static void base62_digits_are_uniform(void **state)
{
    (void)state;
    enum { N = 62 * 2000 };
    char *buf = malloc(N);
    int counts[256] = {0};
    assert_non_null(buf);
    lk_b62_random(buf, N);
    for (int i = 0; i < N; i++)
        counts[(unsigned char)buf[i]]++;
    int distinct = 0;
    for (int c = 0; c < 256; c++) {
        if (counts[c] == 0)
            continue;
        distinct++;
        /* expected 2000 each; 6 sigma is about 270 */
        assert_in_range(counts[c], 1700, 2300);
    }
    assert_int_equal(distinct, 62);
    free(buf);
}

static void mask_shows_first_five_and_last_four(void **state)
{
    (void)state;
    char m[LK_APIKEY_MASKED_LEN + 1];
    const char *key = "lk-abcdefghijkl0123456789012345678901234567890123456WXYZ";
    lk_keyfmt_mask(key, strlen(key), m);
    assert_string_equal(m, "lk-ab***WXYZ");
}

static void crc32_matches_reference(void **state)
{
    (void)state;
    assert_int_equal(lk_crc32("123456789", 9), 0xCBF43926u);
}

static void record_roundtrip_escapes_awkward_text(void **state)
{
    (void)state;
    lk_rec r;
    const char *v;
    size_t vl;
    char out[256];
    const char *items[] = {"a b", "c,d", "100%", "\xe4\xb8\xad"};
    char **list;
    size_t n;
    bool oom;

    lk_rec_init(&r);
    lk_rec_add(&r, "name", "Production = text, svc %20\nline");
    lk_rec_add_u64(&r, "n", UINT64_MAX);
    lk_rec_add_i64(&r, "neg", -42);
    lk_rec_add_list(&r, "list", items, 4);
    lk_rec_add(&r, "empty", "");
    assert_int_equal(lk_rec_status(&r), LK_OK);
    assert_null(memchr(r.buf, '\n', r.len)); /* one line: the flat file stays line-based */

    assert_true(lk_rec_find(r.buf, r.len, "name", &v, &vl));
    assert_true(lk_rec_unescape(v, vl, out, sizeof out));
    assert_string_equal(out, "Production = text, svc %20\nline");
    uint64_t u;
    int64_t i;
    assert_true(lk_rec_find(r.buf, r.len, "n", &v, &vl));
    assert_true(lk_rec_parse_u64(v, vl, &u));
    assert_true(u == UINT64_MAX);
    assert_true(lk_rec_find(r.buf, r.len, "neg", &v, &vl));
    assert_true(lk_rec_parse_i64(v, vl, &i));
    assert_int_equal(i, -42);
    assert_true(lk_rec_find(r.buf, r.len, "list", &v, &vl));
    assert_true(lk_rec_parse_list(v, vl, 10, 64, &list, &n, &oom));
    assert_int_equal(n, 4);
    for (size_t k = 0; k < 4; k++)
        assert_string_equal(list[k], items[k]);
    free(list);
    assert_true(lk_rec_find(r.buf, r.len, "empty", &v, &vl));
    assert_int_equal(vl, 0);
    assert_false(lk_rec_find(r.buf, r.len, "missing", &v, &vl));
    lk_rec_free(&r);
}

/* The flush's integer formatter writes what printf's %lld writes. */
static void fmt_i64_matches_printf(void **state)
{
    (void)state;
    static const int64_t cases[] = {0, 1, -1, 9, 10, -10, 99, 100, 1800000000, -1800000000,
                                    INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1, 999999999999999999,
                                    1000000000000000000};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char got[LK_I64_STRLEN], want[32];
        snprintf(want, sizeof want, "%lld", (long long)cases[k]);
        assert_int_equal(lk_fmt_i64(got, cases[k]), strlen(want));
        assert_string_equal(got, want);
    }
}

static void record_parser_rejects_damage(void **state)
{
    (void)state;
    char out[8];
    uint64_t u;
    char **list;
    size_t n;
    bool oom;
    assert_false(lk_rec_unescape("%4", 2, out, sizeof out));
    assert_false(lk_rec_unescape("%zz", 3, out, sizeof out));
    assert_false(lk_rec_unescape("123456789", 9, out, sizeof out)); /* does not fit */
    assert_false(lk_rec_parse_u64("18446744073709551616", 20, &u));
    assert_false(lk_rec_parse_u64("", 0, &u));
    assert_false(lk_rec_parse_u64("12a", 3, &u));
    assert_false(lk_rec_parse_list("a,,b", 4, 10, 10, &list, &n, &oom));
    assert_false(lk_rec_parse_list("a,b,c", 5, 2, 10, &list, &n, &oom));
}

static void text_checks(void **state)
{
    (void)state;
    assert_true(lk_utf8_valid("h\xc3\xa9llo \xe4\xb8\xad\xf0\x9f\x94\x91", 14));
    assert_false(lk_utf8_valid("\xc3", 1));         /* truncated */
    assert_false(lk_utf8_valid("\xc0\xaf", 2));     /* overlong */
    assert_false(lk_utf8_valid("\xed\xa0\x80", 3)); /* surrogate */
    assert_false(lk_utf8_valid("\xff", 1));
    assert_false(lk_text_ok("a\nb", 3));
    assert_false(lk_text_ok("a\0b", 3));
    assert_true(lk_service_name_ok("hunyuan-t1:v2/chat.x_y", 22));
    assert_false(lk_service_name_ok("a b", 3));
    assert_false(lk_service_name_ok("", 0));
}

/* Names and descriptions are printed to terminals: C1 controls and bidi
 * overrides, isolates and marks (which reorder what is shown around them),
 * and Unicode line separators are refused like C0 controls. */
static void text_refuses_c1_and_bidi_controls(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "a\xc2\x80" "b",    /* U+0080 */
        "\xc2\x9b" "31m",   /* U+009B CSI */
        "\xc2\x9f",         /* U+009F */
        "x\xe2\x80\xaa",    /* U+202A LRE */
        "x\xe2\x80\xae" "y", /* U+202E RLO */
        "\xe2\x81\xa6" "a", /* U+2066 LRI */
        "\xe2\x81\xa9",     /* U+2069 PDI */
        "\xe2\x80\x8e",     /* U+200E LRM */
        "\xe2\x80\x8f",     /* U+200F RLM */
        "\xd8\x9c",         /* U+061C ALM */
        "\xe2\x80\xa8",     /* U+2028 line separator */
        "\xe2\x80\xa9",     /* U+2029 paragraph separator */
    };
    static const char *const good[] = {
        "\xc2\xa0",     /* U+00A0 no-break space, just past C1 */
        "\xe2\x80\x8d", /* U+200D zero-width joiner (emoji sequences) */
        "\xe2\x80\xaf", /* U+202F narrow no-break space */
        "\xe2\x81\xa5", /* U+2065 */
        "\xd8\x9b",     /* U+061B Arabic semicolon */
        "\xe4\xb8\xad\xe6\x96\x87 Prod",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_true(lk_utf8_valid(bad[i], strlen(bad[i])));
        if (lk_text_ok(bad[i], strlen(bad[i])))
            fail_msg("bad[%zu] accepted", i);
    }
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!lk_text_ok(good[i], strlen(good[i])))
            fail_msg("good[%zu] refused", i);
}

/* A key pasted where an id or a name is expected: messages show its public
 * part only (lk_quote for one value, lk_redact for a whole message). */
static void quoting_never_shows_a_secret(void **state)
{
    (void)state;
    char sid[LK_SECRET_ID_LEN + 1], sk[LK_SECRET_KEY_LEN + 1], ak[LK_APIKEY_LEN + 1], in[256], q[64], r[256];
    lk_keyfmt_new_secret_id(sid);
    lk_keyfmt_new_secret_key(sk);
    lk_keyfmt_new_apikey(ak);
    const char *sk_secret = sk + LK_PREFIX_LEN, *ak_secret = ak + LK_APIKEY_ID_LEN;
    char sk_piece[6], ak_piece[6];
    /* before, first credential, between, second credential (NULL: none), after */
    const char *forms[][3] = {{"", "", ""}, {"x", "", ""}, {"", ":", ""}, {"", "", "."}, {"name=", ",", ","}, {"", " ", ""}};

    /* the public parts stay */
    assert_string_equal(lk_quote(sid, q, sizeof q), sid);
    snprintf(in, sizeof in, "%.15s...", ak);
    assert_string_equal(lk_quote(ak, q, sizeof q), in);
    assert_string_equal(lk_quote(sk, q, sizeof q), "LKSK...");
    assert_string_equal(lk_quote("bulk-import", q, sizeof q), "bulk-import");
    assert_string_equal(lk_redact("AKIDshort", r, sizeof r), "AKIDshort");

    for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
        const char *creds[][2] = {{sk, sk}, {ak, ak}, {sid, sk}, {sid, ak}, {ak, sk}};
        for (size_t c = 0; c < sizeof creds / sizeof creds[0]; c++) {
            bool two = f >= 2;
            snprintf(in, sizeof in, "%s%s%s%s%s", forms[f][0], creds[c][0], two ? forms[f][1] : "",
                     two ? creds[c][1] : "", forms[f][2]);
            lk_quote(in, q, sizeof q);
            lk_redact(in, r, sizeof r);
            assert_true(strlen(r) <= strlen(in));
            /* no 5 consecutive characters of either secret, anywhere */
            for (size_t i = 0; i + 5 <= LK_RANDOM_SECRET_CHARS + LK_CHECKSUM_LEN; i++) {
                memcpy(sk_piece, sk_secret + i, 5);
                sk_piece[5] = '\0';
                memcpy(ak_piece, ak_secret + i, 5);
                ak_piece[5] = '\0';
                if (strstr(q, sk_piece) || strstr(r, sk_piece) || strstr(q, ak_piece) || strstr(r, ak_piece))
                    fail_msg("'%s' shows a secret: quote '%s', redact '%s'", in, q, r);
            }
        }
    }
}

static const char HASH[] = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA";

/* Issue 19, finding 7: keys in URL-encoded, JSON-escaped and C-escaped text.
 * The escape's last character is a letter or digit, which used to glue the
 * key to it: "k%3Dlk-..." and "\\nlk-..." were not found. */
static int count_cb(void *arg, const lk_found_cred *c)
{
    size_t *offsets = arg;
    offsets[offsets[0] + 1] = c->offset;
    offsets[0]++;
    return offsets[0] == 8;
}

static void scanner_finds_keys_after_escapes(void **state)
{
    char id[LK_SECRET_ID_LEN + 1], sk[LK_SECRET_KEY_LEN + 1], ak[LK_APIKEY_LEN + 1], text[512];
    static const char *const before[] = {"k%3D", "k%3d", "a%20", "\"\\n", "\"\\t", "\\r", "x\\x3d", "y\\x3D",
                                         "\\u003d", "\\0"};
    (void)state;
    lk_keyfmt_new_secret_id(id);
    lk_keyfmt_new_secret_key(sk);
    lk_keyfmt_new_apikey(ak);
    const char *keys[] = {id, sk, ak};
    for (size_t e = 0; e < sizeof before / sizeof before[0]; e++) {
        for (size_t k = 0; k < 3; k++) {
            size_t offsets[9] = {0};
            snprintf(text, sizeof text, "%s%s&", before[e], keys[k]);
            assert_int_equal(lk_scan_text(text, strlen(text), count_cb, offsets), 1);
            assert_int_equal(offsets[1], strlen(before[e]));
        }
    }
    /* a JSON log line and a query string, each holding all three */
    snprintf(text, sizeof text, "{\"msg\":\"creds:\\n%s\\t%s\\n%s\"}", id, sk, ak);
    assert_int_equal(lk_scan_text(text, strlen(text), NULL, NULL), 3);
    snprintf(text, sizeof text, "GET /x?id%%3D%s%%26key%%3D%s%%26k%%3D%s HTTP/1.1", id, sk, ak);
    assert_int_equal(lk_scan_text(text, strlen(text), NULL, NULL), 3);
    /* still glued: a letter or digit that ends no escape */
    static const char *const glued[] = {"x", "%3", "3D", "%G1", "\\q", "\\x3", "\\u03d", "\\\\", "nn"};
    for (size_t g = 0; g < sizeof glued / sizeof glued[0]; g++) {
        snprintf(text, sizeof text, "%s%s", glued[g], ak);
        assert_int_equal(lk_scan_text(text, strlen(text), NULL, NULL), glued[g][strlen(glued[g]) - 1] == '\\');
    }
}

static void cache_hits_only_the_verified_secret(void **state)
{
    (void)state;
    lk_cache *c = lk_cache_new(16);
    assert_non_null(c);
    assert_false(lk_cache_check(c, "AKIDx", HASH, "secret", 6));
    lk_cache_put(c, "AKIDx", HASH, "secret", 6);
    assert_true(lk_cache_check(c, "AKIDx", HASH, "secret", 6));
    assert_false(lk_cache_check(c, "AKIDx", HASH, "secreT", 6));   /* wrong secret */
    assert_false(lk_cache_check(c, "AKIDx", HASH, "secret", 5));   /* truncated */
    assert_false(lk_cache_check(c, "AKIDy", HASH, "secret", 6));   /* other key */
    assert_false(lk_cache_check(c, "AKIDx", "$argon2id$other", "secret", 6)); /* hash changed */
    lk_cache_evict(c, "AKIDx");
    assert_false(lk_cache_check(c, "AKIDx", HASH, "secret", 6));
    lk_cache_free(c);
    /* no cache configured: always a miss, never a crash */
    assert_null(lk_cache_new(0));
    assert_false(lk_cache_check(NULL, "AKIDx", HASH, "secret", 6));
    lk_cache_put(NULL, "AKIDx", HASH, "secret", 6);
}

static void cache_memory_is_bounded(void **state)
{
    (void)state;
    lk_cache *c = lk_cache_new(8);
    char id[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof id, "AKID%d", i);
        lk_cache_put(c, id, HASH, "s", 1);
    }
    int hits = 0;
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof id, "AKID%d", i);
        hits += lk_cache_check(c, id, HASH, "s", 1);
    }
    assert_true(hits >= 1 && hits <= 8);
    /* the most recent entry survives */
    assert_true(lk_cache_check(c, "AKID999", HASH, "s", 1));
    lk_cache_free(c);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(generated_keys_have_documented_shape),
        cmocka_unit_test(fmt_i64_matches_printf),
        cmocka_unit_test(keys_are_unique),
        cmocka_unit_test(typos_and_truncation_are_rejected),
        cmocka_unit_test(base62_digits_are_uniform),
        cmocka_unit_test(mask_shows_first_five_and_last_four),
        cmocka_unit_test(crc32_matches_reference),
        cmocka_unit_test(record_roundtrip_escapes_awkward_text),
        cmocka_unit_test(record_parser_rejects_damage),
        cmocka_unit_test(text_checks),
        cmocka_unit_test(text_refuses_c1_and_bidi_controls),
        cmocka_unit_test(quoting_never_shows_a_secret),
        cmocka_unit_test(scanner_finds_keys_after_escapes),
        cmocka_unit_test(cache_hits_only_the_verified_secret),
        cmocka_unit_test(cache_memory_is_bounded),
    };
    return cmocka_run_group_tests_name("keyfmt, records, cache", tests, NULL, NULL);
}
