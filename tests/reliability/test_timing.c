/*
 * test_timing — what tests/unit/test_rules.c's
 * verify_code_path_is_the_same_for_right_and_wrong does not cover: the
 * verdicts that must not depend on whether the secret was right, counted in
 * Argon2id runs (lk_get_stats), the deterministic proxy for time.
 *
 *  - a disabled access key or API key: right and wrong secrets both get
 *    the answer of a wrong secret (LK_DENY_BAD_SECRET, the same message) with
 *    no Argon2id and no cache hit, even when the right secret is in the
 *    verified-secret cache from before the disable; the access record says
 *    LK_DENY_DISABLED (issue 19: a caller that has not proven the secret
 *    learns nothing of the key's state or rules);
 *  - API keys: right and wrong secrets cost one Argon2id each (cache off);
 *    refusals by IP allowlist or scope happen before any Argon2id, whatever
 *    the secret, and are answered as a wrong secret (recorded as
 *    LK_DENY_IP / LK_DENY_SCOPE), by the cached-only call too; malformed
 *    keys and unknown ids cost none;
 *  - a deleted key: right and wrong both LK_DENY_UNKNOWN_KEY, no Argon2id;
 *  - the detailed message does not differ between right and wrong secret.
 * Run on both backends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lk_internal.h"

static const char *backend_for_group;

typedef struct fixture {
    char dir[64];
    lk_config *cfg;
    lk_ctx *ctx;
} fixture;

static int setup_with_cache(void **state, const char *entries)
{
    fixture *f = calloc(1, sizeof *f);
    char path[128];
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/lk-timing-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(path, sizeof path, "%s/store", f->dir);
    if (lk_config_default(&f->cfg) != LK_OK || lk_config_set(f->cfg, "store.backend", backend_for_group) != LK_OK ||
        lk_config_set(f->cfg, "store.path", path) != LK_OK || lk_config_set(f->cfg, "hash.opslimit", "1") != LK_OK ||
        lk_config_set(f->cfg, "hash.memlimit_kib", "8") != LK_OK ||
        lk_config_set(f->cfg, "cache.entries", entries) != LK_OK || lk_store_create(f->cfg) != LK_OK ||
        lk_open_config(f->cfg, &f->ctx) != LK_OK) {
        fprintf(stderr, "setup: %s\n", lk_errmsg(NULL));
        return -1;
    }
    if (lk_user_add(f->ctx, 7, LK_USER_ROOT, 0) != LK_OK)
        return -1;
    *state = f;
    return 0;
}

static int setup_nocache(void **state)
{
    return setup_with_cache(state, "0");
}

static int setup_cache(void **state)
{
    return setup_with_cache(state, "64");
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];
    lk_close(f->ctx);
    lk_config_free(f->cfg);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static uint64_t argon2(lk_ctx *ctx)
{
    lk_stats s;
    lk_get_stats(ctx, &s);
    return s.argon2_verifies;
}

/* The result of key_id's latest access record. */
static lk_status last_result(lk_ctx *ctx, const char *key_id)
{
    lk_access_record recs[LK_RECORDS_MAX];
    size_t n = 0;
    int64_t last;
    assert_int_equal(lk_records(ctx, key_id, recs, &n, &last), LK_OK);
    assert_true(n > 0);
    return recs[0].result;
}

static uint64_t cache_hits(lk_ctx *ctx)
{
    lk_stats s;
    lk_get_stats(ctx, &s);
    return s.cache_hits;
}

/* Two access keys of user 7: *right is k's secret, *wrong the other's. */
static void two_keys(lk_ctx *ctx, lk_access_key *k, char right[LK_SECRET_KEY_LEN + 1],
                     char wrong[LK_SECRET_KEY_LEN + 1])
{
    lk_secret *s;
    lk_access_key other;
    assert_int_equal(lk_key_create(ctx, 7, k, &s), LK_OK);
    memcpy(right, lk_secret_str(s), LK_SECRET_KEY_LEN + 1);
    lk_secret_free(s);
    assert_int_equal(lk_key_create(ctx, 7, &other, &s), LK_OK);
    memcpy(wrong, lk_secret_str(s), LK_SECRET_KEY_LEN + 1);
    lk_secret_free(s);
}

static void disabled_key_right_and_wrong_cost_no_argon2(void **state)
{
    fixture *f = *state;
    lk_access_key k;
    char right[LK_SECRET_KEY_LEN + 1], wrong[LK_SECRET_KEY_LEN + 1], msg_right[256], msg_wrong[256];
    char msg_active_wrong[256];
    two_keys(f->ctx, &k, right, wrong);
    assert_int_equal(lk_verify_key(f->ctx, k.secret_id, wrong, LK_SECRET_KEY_LEN, NULL, NULL), LK_DENY_BAD_SECRET);
    snprintf(msg_active_wrong, sizeof msg_active_wrong, "%s", lk_errmsg(f->ctx));

    /* warm the cache with the right secret */
    assert_int_equal(lk_verify_key(f->ctx, k.secret_id, right, LK_SECRET_KEY_LEN, NULL, NULL), LK_OK);
    assert_int_equal(lk_verify_key(f->ctx, k.secret_id, right, LK_SECRET_KEY_LEN, NULL, NULL), LK_OK);
    assert_int_equal(cache_hits(f->ctx), 1);
    assert_int_equal(lk_key_set_status(f->ctx, k.secret_id, 0, LK_KEY_INACTIVE), LK_OK);

    uint64_t a0 = argon2(f->ctx), h0 = cache_hits(f->ctx);
    assert_int_equal(lk_verify_key(f->ctx, k.secret_id, right, LK_SECRET_KEY_LEN, NULL, NULL), LK_DENY_BAD_SECRET);
    snprintf(msg_right, sizeof msg_right, "%s", lk_errmsg(f->ctx));
    assert_int_equal(last_result(f->ctx, k.secret_id), LK_DENY_DISABLED);
    assert_int_equal(lk_verify_key(f->ctx, k.secret_id, wrong, LK_SECRET_KEY_LEN, NULL, NULL), LK_DENY_BAD_SECRET);
    snprintf(msg_wrong, sizeof msg_wrong, "%s", lk_errmsg(f->ctx));
    assert_int_equal(last_result(f->ctx, k.secret_id), LK_DENY_DISABLED);
    assert_int_equal(lk_verify_key_cached(f->ctx, k.secret_id, right, LK_SECRET_KEY_LEN, NULL, NULL),
                     LK_DENY_BAD_SECRET);
    assert_int_equal(argon2(f->ctx), a0);
    assert_int_equal(cache_hits(f->ctx), h0);
    assert_string_equal(msg_right, msg_wrong);
    assert_string_equal(msg_right, msg_active_wrong); /* what an active key's wrong secret gets */

    /* another handle that never saw the key: same */
    lk_ctx *other;
    assert_int_equal(lk_open_config(f->cfg, &other), LK_OK);
    assert_int_equal(lk_verify_key(other, k.secret_id, right, LK_SECRET_KEY_LEN, NULL, NULL), LK_DENY_BAD_SECRET);
    assert_int_equal(lk_verify_key(other, k.secret_id, wrong, LK_SECRET_KEY_LEN, NULL, NULL), LK_DENY_BAD_SECRET);
    assert_int_equal(argon2(other), 0);
    lk_close(other);

    /* deleted: right and wrong are both unknown, still no Argon2id */
    assert_int_equal(lk_key_delete(f->ctx, k.secret_id, 0), LK_OK);
    assert_int_equal(lk_verify_key(f->ctx, k.secret_id, right, LK_SECRET_KEY_LEN, NULL, NULL), LK_DENY_UNKNOWN_KEY);
    assert_int_equal(lk_verify_key(f->ctx, k.secret_id, wrong, LK_SECRET_KEY_LEN, NULL, NULL), LK_DENY_UNKNOWN_KEY);
    assert_int_equal(argon2(f->ctx), a0);
}

static void reenabled_key_pays_argon2_again_for_wrong(void **state)
{
    fixture *f = *state;
    lk_access_key k;
    char right[LK_SECRET_KEY_LEN + 1], wrong[LK_SECRET_KEY_LEN + 1];
    two_keys(f->ctx, &k, right, wrong);
    assert_int_equal(lk_key_set_status(f->ctx, k.secret_id, 0, LK_KEY_INACTIVE), LK_OK);
    assert_int_equal(lk_key_set_status(f->ctx, k.secret_id, 0, LK_KEY_ACTIVE), LK_OK);
    uint64_t a0 = argon2(f->ctx);
    assert_int_equal(lk_verify_key(f->ctx, k.secret_id, wrong, LK_SECRET_KEY_LEN, NULL, NULL), LK_DENY_BAD_SECRET);
    assert_int_equal(argon2(f->ctx), a0 + 1);
    assert_int_equal(lk_verify_key(f->ctx, k.secret_id, right, LK_SECRET_KEY_LEN, NULL, NULL), LK_OK);
    assert_int_equal(argon2(f->ctx), a0 + 2);
}

/* A well-formed API key with a's id and a different secret part: what an
 * attacker who knows the (public) id would try. */
static void wrong_under_same_id(const char *right, char out[LK_APIKEY_LEN + 1])
{
    static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    memcpy(out, right, LK_APIKEY_LEN + 1);
    out[20] = out[20] == 'A' ? 'B' : 'A';
    uint32_t crc = lk_crc32(out, LK_APIKEY_LEN - LK_CHECKSUM_LEN);
    for (int i = LK_CHECKSUM_LEN - 1; i >= 0; i--) {
        out[LK_APIKEY_LEN - LK_CHECKSUM_LEN + i] = b62[crc % 62];
        crc /= 62;
    }
    assert_true(lk_keyfmt_apikey_ok(out, LK_APIKEY_LEN));
    assert_memory_equal(out, right, LK_APIKEY_ID_LEN);
}

static void apikey_paths(void **state)
{
    fixture *f = *state;
    const char *const allow[] = {"10.0.0.0/8"};
    const char *const scope[] = {"cvm"};
    lk_apikey_spec spec = {.name = "t", .scope = scope, .scope_count = 1, .allow_ip = allow, .allow_ip_count = 1};
    lk_apikey a;
    lk_secret *s;
    char right[LK_APIKEY_LEN + 1], wrong[LK_APIKEY_LEN + 1], msg_right[256], msg_wrong[256], msg_in_scope[256];
    assert_int_equal(lk_apikey_create(f->ctx, 7, &spec, &a, &s), LK_OK);
    memcpy(right, lk_secret_str(s), sizeof right);
    lk_secret_free(s);
    wrong_under_same_id(right, wrong);

    lk_verify_req ok_req = {.client_ip = "10.1.2.3", .service = "cvm"};
    lk_verify_req bad_ip = {.client_ip = "192.0.2.1", .service = "cvm"};
    lk_verify_req no_ip = {.client_ip = NULL, .service = "cvm"};
    lk_verify_req junk_ip = {.client_ip = "10.1.2.3/8", .service = "cvm"};
    lk_verify_req bad_svc = {.client_ip = "10.1.2.3", .service = "cos"};

    /* right and wrong: one Argon2id each (a cached right one: none, and the
     * wrong one after it still one) */
    uint64_t a0 = argon2(f->ctx), h0 = cache_hits(f->ctx);
    assert_int_equal(lk_verify_apikey(f->ctx, right, LK_APIKEY_LEN, &ok_req, NULL), LK_OK);
    assert_int_equal(argon2(f->ctx), a0 + 1);
    assert_int_equal(lk_verify_apikey(f->ctx, wrong, LK_APIKEY_LEN, &ok_req, NULL), LK_DENY_BAD_SECRET);
    snprintf(msg_in_scope, sizeof msg_in_scope, "%s", lk_errmsg(f->ctx));
    assert_int_equal(argon2(f->ctx), a0 + 2);
    assert_int_equal(cache_hits(f->ctx), h0);

    /* refusals by allowlist or scope come before the hash, whatever the
     * secret, and tell the caller nothing of the rules: the answer and
     * message of a wrong secret inside them; the reason is recorded */
    const lk_verify_req *refused[] = {&bad_ip, &no_ip, &junk_ip, &bad_svc, NULL};
    /* a malformed address is the caller's error (LK_ERR_PARAM), equally free */
    lk_status want[] = {LK_DENY_BAD_SECRET, LK_DENY_BAD_SECRET, LK_ERR_PARAM, LK_DENY_BAD_SECRET, LK_DENY_BAD_SECRET};
    lk_status reason[] = {LK_DENY_IP, LK_DENY_IP, LK_ERR_PARAM, LK_DENY_SCOPE, LK_DENY_IP};
    for (int i = 0; i < 5; i++) {
        uint64_t before = argon2(f->ctx), hits = cache_hits(f->ctx);
        assert_int_equal(lk_verify_apikey(f->ctx, right, LK_APIKEY_LEN, refused[i], NULL), want[i]);
        snprintf(msg_right, sizeof msg_right, "%s", lk_errmsg(f->ctx));
        if (want[i] == LK_DENY_BAD_SECRET)
            assert_int_equal(last_result(f->ctx, a.id), reason[i]);
        assert_int_equal(lk_verify_apikey(f->ctx, wrong, LK_APIKEY_LEN, refused[i], NULL), want[i]);
        snprintf(msg_wrong, sizeof msg_wrong, "%s", lk_errmsg(f->ctx));
        assert_int_equal(lk_verify_apikey_cached(f->ctx, right, LK_APIKEY_LEN, refused[i], NULL), want[i]);
        assert_int_equal(argon2(f->ctx), before);
        assert_int_equal(cache_hits(f->ctx), hits);
        assert_string_equal(msg_right, msg_wrong);
        if (want[i] == LK_DENY_BAD_SECRET)
            assert_string_equal(msg_right, msg_in_scope);
    }

    /* disabled: right (even cached) and wrong cost nothing, same answer */
    assert_int_equal(lk_apikey_set_status(f->ctx, a.id, LK_KEY_INACTIVE), LK_OK);
    uint64_t before = argon2(f->ctx), hits = cache_hits(f->ctx);
    assert_int_equal(lk_verify_apikey(f->ctx, right, LK_APIKEY_LEN, &ok_req, NULL), LK_DENY_BAD_SECRET);
    snprintf(msg_right, sizeof msg_right, "%s", lk_errmsg(f->ctx));
    assert_int_equal(last_result(f->ctx, a.id), LK_DENY_DISABLED);
    assert_int_equal(lk_verify_apikey(f->ctx, wrong, LK_APIKEY_LEN, &ok_req, NULL), LK_DENY_BAD_SECRET);
    snprintf(msg_wrong, sizeof msg_wrong, "%s", lk_errmsg(f->ctx));
    assert_string_equal(msg_right, msg_wrong);
    assert_string_equal(msg_right, msg_in_scope);
    /* malformed (bad checksum, short) and unknown: refused before any lookup or hash */
    char cut[LK_APIKEY_LEN + 1];
    memcpy(cut, right, sizeof cut);
    cut[20] = cut[20] == 'A' ? 'B' : 'A';
    assert_int_equal(lk_verify_apikey(f->ctx, cut, LK_APIKEY_LEN, &ok_req, NULL), LK_DENY_MALFORMED);
    assert_int_equal(lk_verify_apikey(f->ctx, right, LK_APIKEY_LEN - 1, &ok_req, NULL), LK_DENY_MALFORMED);
    assert_int_equal(argon2(f->ctx), before);
    assert_int_equal(cache_hits(f->ctx), hits);

    /* deleted: unknown id, no Argon2id, right or wrong */
    assert_int_equal(lk_apikey_delete(f->ctx, a.id), LK_OK);
    assert_int_equal(lk_verify_apikey(f->ctx, right, LK_APIKEY_LEN, &ok_req, NULL), LK_DENY_UNKNOWN_KEY);
    assert_int_equal(lk_verify_apikey(f->ctx, wrong, LK_APIKEY_LEN, &ok_req, NULL), LK_DENY_UNKNOWN_KEY);
    assert_int_equal(argon2(f->ctx), before);
    lk_apikey_release(&a);
}

int main(void)
{
    const struct CMUnitTest nocache[] = {
        cmocka_unit_test_setup_teardown(reenabled_key_pays_argon2_again_for_wrong, setup_nocache, teardown),
        cmocka_unit_test_setup_teardown(apikey_paths, setup_nocache, teardown),
    };
    const struct CMUnitTest cache[] = {
        cmocka_unit_test_setup_teardown(disabled_key_right_and_wrong_cost_no_argon2, setup_cache, teardown),
        cmocka_unit_test_setup_teardown(apikey_paths, setup_cache, teardown),
    };
    int failed = 0;
    const char *backends[] = {"lmdb", "flatfile"};
    for (int b = 0; b < 2; b++) {
        char name[64];
        backend_for_group = backends[b];
        snprintf(name, sizeof name, "timing, no cache, %s", backends[b]);
        failed += _cmocka_run_group_tests(name, nocache, sizeof nocache / sizeof nocache[0], NULL, NULL);
        snprintf(name, sizeof name, "timing, cache, %s", backends[b]);
        failed += _cmocka_run_group_tests(name, cache, sizeof cache / sizeof cache[0], NULL, NULL);
    }
    return failed ? 1 : 0;
}
