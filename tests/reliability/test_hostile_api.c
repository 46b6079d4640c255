/*
 * test_hostile_api — bad input straight to the library API (what a plugin
 * host or an embedding service could pass), on both backends:
 * out-of-range UINs, 1 MiB strings, NUL bytes inside counted secrets,
 * invalid UTF-8 and control characters, oversized lists. Each call must
 * return its documented error (never crash, never LK_OK), cost no Argon2id
 * when the input is malformed, and leave the store exactly as it was (every
 * record compared before and after through the backend).
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
    char sid[LK_SECRET_ID_LEN + 1];
    char sk[LK_SECRET_KEY_LEN + 1];
    char akid[LK_APIKEY_ID_LEN + 1];
    char ak[LK_APIKEY_LEN + 1];
    char *snap; /* the store's records when the test started */
} fixture;

/* Every record, escaped, in key order. */
static int snap_cb(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    lk_rec *r = arg;
    char *copy = malloc(kl + vl + 2);
    assert_non_null(copy);
    memcpy(copy, k, kl);
    copy[kl] = '=';
    memcpy(copy + kl + 1, v, vl);
    copy[kl + vl + 1] = '\0';
    lk_rec_add(r, "r", copy);
    free(copy);
    return 0;
}

static char *snapshot(lk_ctx *ctx)
{
    lk_txn txn;
    lk_rec r;
    lk_rec_init(&r);
    /* queued records written now, not by the flusher thread mid-comparison */
    assert_int_equal(lk_flush(ctx), LK_OK);
    assert_int_equal(lk_txn_begin(ctx, false, &txn), LK_OK);
    assert_int_equal(lk_txn_scan(&txn, "", snap_cb, &r), LK_OK);
    lk_txn_abort(&txn);
    assert_int_equal(lk_rec_status(&r), LK_OK);
    char *s = strdup(r.buf ? r.buf : "");
    lk_rec_free(&r);
    return s;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char path[128];
    lk_access_key k;
    lk_apikey a;
    lk_secret *s;
    const char *const ip[] = {"10.0.0.0/8"};
    lk_apikey_spec spec = {.name = "main", .allow_ip = ip, .allow_ip_count = 1};
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/lk-hostile-api-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(path, sizeof path, "%s/store", f->dir);
    if (lk_config_default(&f->cfg) != LK_OK || lk_config_set(f->cfg, "store.backend", backend_for_group) != LK_OK ||
        lk_config_set(f->cfg, "store.path", path) != LK_OK || lk_config_set(f->cfg, "hash.opslimit", "1") != LK_OK ||
        lk_config_set(f->cfg, "hash.memlimit_kib", "8") != LK_OK ||
        lk_config_set(f->cfg, "records.flush_interval_ms", "0") != LK_OK || lk_store_create(f->cfg) != LK_OK ||
        lk_open_config(f->cfg, &f->ctx) != LK_OK)
        return -1;
    if (lk_user_add(f->ctx, 100, LK_USER_ROOT, 0) != LK_OK || lk_user_add(f->ctx, 101, LK_USER_SUB, 100) != LK_OK ||
        lk_key_create(f->ctx, 100, &k, &s) != LK_OK)
        return -1;
    memcpy(f->sid, k.secret_id, sizeof f->sid);
    memcpy(f->sk, lk_secret_str(s), sizeof f->sk);
    lk_secret_free(s);
    if (lk_apikey_create(f->ctx, 100, &spec, &a, &s) != LK_OK)
        return -1;
    memcpy(f->akid, a.id, sizeof f->akid);
    memcpy(f->ak, lk_secret_str(s), sizeof f->ak);
    lk_secret_free(s);
    lk_apikey_release(&a);
    f->snap = snapshot(f->ctx);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];
    /* whatever the test did, the store must be as it was */
    char *now = snapshot(f->ctx);
    int same = strcmp(now, f->snap) == 0;
    free(now);
    free(f->snap);
    lk_close(f->ctx);
    lk_config_free(f->cfg);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    if (!same)
        fprintf(stderr, "hostile input changed the store\n");
    return same && rc == 0 ? 0 : -1;
}

static char *big(size_t n, char c)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static void bad_uins(void **state)
{
    fixture *f = *state;
    const uint64_t uins[] = {0, (uint64_t)INT64_MAX + 1, UINT64_MAX, (uint64_t)-1 / 2 + 2};
    lk_access_key k, *kl;
    lk_secret *s;
    lk_apikey a, *al;
    lk_user u;
    size_t n;
    lk_apikey_spec spec = {.name = "x"};
    for (size_t i = 0; i < sizeof uins / sizeof uins[0]; i++) {
        uint64_t v = uins[i];
        assert_int_equal(lk_user_add(f->ctx, v, LK_USER_ROOT, 0), LK_ERR_PARAM);
        assert_int_equal(lk_user_add(f->ctx, 200, LK_USER_SUB, v), LK_ERR_PARAM);
        assert_int_not_equal(lk_user_get(f->ctx, v, &u), LK_OK);
        assert_int_not_equal(lk_user_delete(f->ctx, v, 1), LK_OK);
        assert_int_equal(lk_key_create(f->ctx, v, &k, &s), LK_ERR_PARAM);
        assert_null(s);
        assert_int_equal(lk_key_list(f->ctx, v, &kl, &n), LK_ERR_PARAM);
        assert_int_equal(lk_apikey_create(f->ctx, v, &spec, &a, &s), LK_ERR_PARAM);
        assert_int_equal(lk_apikey_list(f->ctx, v, &al, &n), LK_ERR_PARAM);
        assert_int_not_equal(lk_apikey_find(f->ctx, v, "main", &a), LK_OK);
    }
    /* a wrong owner is refused, the key unchanged */
    assert_int_equal(lk_key_set_status(f->ctx, f->sid, UINT64_MAX, LK_KEY_INACTIVE), LK_ERR_UIN_NOT_MATCH);
    assert_int_equal(lk_key_set_status(f->ctx, f->sid, 0, (lk_key_status)7), LK_ERR_PARAM);
    assert_int_equal(lk_user_add(f->ctx, 300, (lk_user_kind)-1, 0), LK_ERR_PARAM);
    assert_int_equal(lk_user_add(f->ctx, 300, (lk_user_kind)3, 100), LK_ERR_PARAM);
}

static void huge_strings(void **state)
{
    fixture *f = *state;
    char *m = big(1 << 20, 'A');
    lk_access_key k;
    lk_apikey a;
    lk_secret *s;
    lk_access_record rec[LK_RECORDS_MAX];
    size_t n;
    int64_t last;
    lk_stats before, after;
    lk_get_stats(f->ctx, &before);

    assert_int_equal(lk_key_get(f->ctx, m, &k), LK_ERR_PARAM);
    assert_int_equal(lk_key_set_status(f->ctx, m, 0, LK_KEY_INACTIVE), LK_ERR_PARAM);
    assert_int_equal(lk_key_delete(f->ctx, m, 0), LK_ERR_PARAM);
    assert_int_equal(lk_apikey_get(f->ctx, m, &a), LK_ERR_PARAM);
    assert_int_equal(lk_apikey_set_status(f->ctx, m, LK_KEY_INACTIVE), LK_ERR_PARAM);
    assert_int_equal(lk_apikey_delete(f->ctx, m), LK_ERR_PARAM);
    assert_int_not_equal(lk_records(f->ctx, m, rec, &n, &last), LK_OK);
    assert_int_equal(lk_apikey_find(f->ctx, 100, m, &a), LK_ERR_PARAM);
    /* a 1 MiB SecretId, and a 1 MiB secret under a real id: refused with no Argon2id */
    assert_int_equal(lk_verify_key(f->ctx, m, f->sk, LK_SECRET_KEY_LEN, NULL, NULL), LK_DENY_MALFORMED);
    lk_status st = lk_verify_key(f->ctx, f->sid, m, 1 << 20, NULL, NULL);
    assert_true(st == LK_DENY_MALFORMED || st == LK_DENY_BAD_SECRET);
    assert_int_equal(lk_verify_apikey(f->ctx, m, 1 << 20, NULL, NULL), LK_DENY_MALFORMED);
    /* a 1 MiB address or service: the caller's error, before any lookup */
    lk_verify_req req = {.client_ip = m, .service = m};
    assert_int_equal(lk_verify_apikey(f->ctx, f->ak, LK_APIKEY_LEN, &req, NULL), LK_ERR_PARAM);
    lk_verify_req req_svc = {.client_ip = "10.1.1.1", .service = m};
    assert_int_equal(lk_verify_apikey(f->ctx, f->ak, LK_APIKEY_LEN, &req_svc, NULL), LK_ERR_PARAM);
    lk_get_stats(f->ctx, &after);
    assert_int_equal(after.argon2_verifies, before.argon2_verifies);
    /* the attempts on known keys were recorded: the new baseline */
    free(f->snap);
    f->snap = snapshot(f->ctx);

    lk_apikey_spec spec = {.name = m};
    assert_int_equal(lk_apikey_create(f->ctx, 100, &spec, &a, &s), LK_ERR_PARAM);
    spec.name = "ok";
    spec.description = m;
    assert_int_equal(lk_apikey_create(f->ctx, 100, &spec, &a, &s), LK_ERR_PARAM);
    lk_apikey_edit ed = {.description = m};
    assert_int_equal(lk_apikey_edit_key(f->ctx, f->akid, &ed), LK_ERR_PARAM);
    const char *one[] = {m};
    lk_apikey_spec spec2 = {.name = "ok", .scope = one, .scope_count = 1};
    assert_int_equal(lk_apikey_create(f->ctx, 100, &spec2, &a, &s), LK_ERR_PARAM);
    lk_apikey_spec spec3 = {.name = "ok", .allow_ip = one, .allow_ip_count = 1};
    assert_int_equal(lk_apikey_create(f->ctx, 100, &spec3, &a, &s), LK_ERR_PARAM);
    assert_null(s);
    assert_int_not_equal(lk_config_set(f->cfg, "store.path", m), LK_OK);
    assert_int_not_equal(lk_config_set(f->cfg, m, "1"), LK_OK);
    free(m);
}

static void nul_bytes_in_counted_secrets(void **state)
{
    fixture *f = *state;
    char buf[128];
    /* the right secret followed by a NUL (or a NUL and more): never accepted
     * as the right one cut short */
    memcpy(buf, f->sk, LK_SECRET_KEY_LEN);
    buf[LK_SECRET_KEY_LEN] = '\0';
    buf[LK_SECRET_KEY_LEN + 1] = 'x';
    assert_int_not_equal(lk_verify_key(f->ctx, f->sid, buf, LK_SECRET_KEY_LEN + 1, NULL, NULL), LK_OK);
    assert_int_not_equal(lk_verify_key(f->ctx, f->sid, buf, LK_SECRET_KEY_LEN + 2, NULL, NULL), LK_OK);
    buf[10] = '\0';
    assert_int_not_equal(lk_verify_key(f->ctx, f->sid, buf, LK_SECRET_KEY_LEN, NULL, NULL), LK_OK);
    memcpy(buf, f->ak, LK_APIKEY_LEN);
    buf[LK_APIKEY_LEN] = '\0';
    lk_verify_req req = {.client_ip = "10.1.1.1"};
    assert_int_not_equal(lk_verify_apikey(f->ctx, buf, LK_APIKEY_LEN + 1, &req, NULL), LK_OK);
    buf[20] = '\0';
    assert_int_not_equal(lk_verify_apikey(f->ctx, buf, LK_APIKEY_LEN, &req, NULL), LK_OK);
    /* one too short */
    assert_int_not_equal(lk_verify_key(f->ctx, f->sid, f->sk, LK_SECRET_KEY_LEN - 1, NULL, NULL), LK_OK);
    assert_int_not_equal(lk_verify_apikey(f->ctx, f->ak, LK_APIKEY_LEN - 1, &req, NULL), LK_OK);
    /* NULLs */
    assert_int_not_equal(lk_verify_key(f->ctx, NULL, NULL, 0, NULL, NULL), LK_OK);
    assert_int_not_equal(lk_verify_key(f->ctx, f->sid, NULL, LK_SECRET_KEY_LEN, NULL, NULL), LK_OK);
    assert_int_not_equal(lk_verify_apikey(f->ctx, NULL, LK_APIKEY_LEN, NULL, NULL), LK_OK);
    /* and the real ones still work (the calls above are denials only) */
    assert_int_equal(lk_verify_key(f->ctx, f->sid, f->sk, LK_SECRET_KEY_LEN, NULL, NULL), LK_OK);
    assert_int_equal(lk_verify_apikey(f->ctx, f->ak, LK_APIKEY_LEN, &req, NULL), LK_OK);
    /* those verifications wrote access records: take them as the new baseline */
    free(f->snap);
    f->snap = snapshot(f->ctx);
}

static void bad_text(void **state)
{
    fixture *f = *state;
    const char *bad[] = {"\xff", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "a\x01z",
                         "\x1b[2J", "a\x7fz", "tab\there", "line\nbreak", ""};
    lk_apikey a;
    lk_secret *s;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lk_apikey_spec spec = {.name = bad[i]};
        assert_int_equal(lk_apikey_create(f->ctx, 100, &spec, &a, &s), LK_ERR_PARAM);
        if (bad[i][0] == '\0')
            continue;
        lk_apikey_spec spec2 = {.name = "fine", .description = bad[i]};
        assert_int_equal(lk_apikey_create(f->ctx, 100, &spec2, &a, &s), LK_ERR_PARAM);
        lk_apikey_edit ed = {.description = bad[i]};
        assert_int_equal(lk_apikey_edit_key(f->ctx, f->akid, &ed), LK_ERR_PARAM);
        const char *one[] = {bad[i]};
        lk_apikey_spec spec3 = {.name = "fine", .scope = one, .scope_count = 1};
        assert_int_equal(lk_apikey_create(f->ctx, 100, &spec3, &a, &s), LK_ERR_PARAM);
        lk_apikey_spec spec4 = {.name = "fine", .allow_ip = one, .allow_ip_count = 1};
        assert_int_equal(lk_apikey_create(f->ctx, 100, &spec4, &a, &s), LK_ERR_PARAM);
        /* the message quotes hostile text escaped: no control byte in it */
        const char *m = lk_errmsg(f->ctx);
        for (const char *p = m; *p; p++)
            assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p != 0x7f);
    }
}

static void oversized_lists(void **state)
{
    fixture *f = *state;
    enum { N = 10000 };
    char(*ips)[32] = calloc(N, sizeof *ips);
    const char **ptrs = calloc(N, sizeof *ptrs);
    lk_apikey a;
    lk_secret *s;
    assert_non_null(ips);
    assert_non_null(ptrs);
    for (int i = 0; i < N; i++) {
        snprintf(ips[i], sizeof ips[i], "10.%d.%d.%d", i / 65536, i / 256 % 256, i % 256);
        ptrs[i] = ips[i];
    }
    size_t counts[] = {N, LK_ALLOW_IP_MAX + 1};
    for (int c = 0; c < 2; c++) {
        lk_apikey_spec spec = {.name = "many", .allow_ip = ptrs, .allow_ip_count = counts[c]};
        assert_int_equal(lk_apikey_create(f->ctx, 100, &spec, &a, &s), LK_ERR_PARAM);
        lk_apikey_edit ed = {.set_allow_ip = 1, .allow_ip = ptrs, .allow_ip_count = counts[c]};
        assert_int_equal(lk_apikey_edit_key(f->ctx, f->akid, &ed), LK_ERR_PARAM);
    }
    for (int i = 0; i < N; i++)
        snprintf(ips[i], sizeof ips[i], "svc%d", i);
    size_t scounts[] = {N, LK_SCOPE_MAX + 1};
    for (int c = 0; c < 2; c++) {
        lk_apikey_spec spec = {.name = "many", .scope = ptrs, .scope_count = scounts[c]};
        assert_int_equal(lk_apikey_create(f->ctx, 100, &spec, &a, &s), LK_ERR_PARAM);
    }
    /* duplicates are refused too */
    const char *dup[] = {"10.0.0.0/8", "10.0.0.0/8"};
    lk_apikey_spec spec = {.name = "dup", .allow_ip = dup, .allow_ip_count = 2};
    assert_int_equal(lk_apikey_create(f->ctx, 100, &spec, &a, &s), LK_ERR_PARAM);
    /* a sub-user cannot own API keys */
    lk_apikey_spec ok = {.name = "sub"};
    assert_int_equal(lk_apikey_create(f->ctx, 101, &ok, &a, &s), LK_ERR_SUB_UIN);
    free(ips);
    free(ptrs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(bad_uins, setup, teardown),
        cmocka_unit_test_setup_teardown(huge_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(nul_bytes_in_counted_secrets, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_text, setup, teardown),
        cmocka_unit_test_setup_teardown(oversized_lists, setup, teardown),
    };
    int failed = 0;
    const char *backends[] = {"lmdb", "flatfile"};
    for (int b = 0; b < 2; b++) {
        char name[64];
        backend_for_group = backends[b];
        snprintf(name, sizeof name, "hostile API input, %s", backends[b]);
        failed += _cmocka_run_group_tests(name, tests, sizeof tests / sizeof tests[0], NULL, NULL);
    }
    return failed ? 1 : 0;
}
