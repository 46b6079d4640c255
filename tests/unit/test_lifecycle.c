/*
 * Key lifecycle through the public API: the time parser, expiry (with the
 * test clock), rotation and reroll with a grace period, revoke, the list of
 * expiring keys, and the credential scanner with look-alikes. Run once per
 * backend (LMDB, flat file); with LK_TEST_PG_CONNINFO set (tests/pg/unit.sh)
 * on PostgreSQL instead.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "latchkey.h"
#include "lk_backend.h"
#include "pg_empty.h"

#define T0 1800000000 /* 2027-01-15T08:00:00Z */

typedef struct fixture {
    char dir[64];
    char path[128];
    lk_config *cfg;
    lk_ctx *ctx;
    int64_t now; /* the test clock */
} fixture;

static const char *backend_for_group;

static int64_t fake_clock(void *arg)
{
    return *(const int64_t *)arg;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/lk-life-XXXXXX");
    if (f == NULL || mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof f->path, "%s/store", f->dir);
    if (lk_config_default(&f->cfg) != LK_OK || lk_config_set(f->cfg, "store.backend", backend_for_group) != LK_OK ||
        lk_config_set(f->cfg, "store.path", f->path) != LK_OK ||
        lk_config_set(f->cfg, "hash.opslimit", "1") != LK_OK ||
        lk_config_set(f->cfg, "hash.memlimit_kib", "8") != LK_OK)
        return -1;
    if (strcmp(backend_for_group, "postgresql") == 0 &&
        (lk_config_set(f->cfg, "store.conninfo", getenv("LK_TEST_PG_CONNINFO")) != LK_OK || pg_empty() != 0))
        return -1;
    if (lk_store_create(f->cfg) != LK_OK || lk_open_config(f->cfg, &f->ctx) != LK_OK)
        return -1;
    f->now = T0;
    lk_set_clock(f->ctx, fake_clock, &f->now);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[160];
    lk_close(f->ctx);
    lk_config_free(f->cfg);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static lk_status verify(fixture *f, const char *id, const lk_secret *s)
{
    return lk_verify_key(f->ctx, id, lk_secret_str(s), lk_secret_len(s), NULL, NULL);
}

static lk_status verify_api(fixture *f, const lk_secret *s)
{
    return lk_verify_apikey(f->ctx, lk_secret_str(s), lk_secret_len(s), NULL, NULL);
}

static lk_status last_result(fixture *f, const char *id)
{
    lk_access_record r[LK_RECORDS_MAX];
    size_t n = 0;
    assert_int_equal(lk_records(f->ctx, id, r, &n, NULL), LK_OK);
    assert_true(n > 0);
    return r[0].result;
}

/* ------------------------------------------------------------ the time parser (no store) */

static void time_parser(void **state)
{
    (void)state;
    int64_t t;
    assert_int_equal(lk_parse_time("90d", T0, 0, &t), LK_OK);
    assert_true(t == T0 + 90 * 86400);
    assert_int_equal(lk_parse_time("24h", T0, 0, &t), LK_OK);
    assert_true(t == T0 + 86400);
    assert_int_equal(lk_parse_time("30m", T0, 1, &t), LK_OK);
    assert_true(t == 1800);
    assert_int_equal(lk_parse_time("45s", 0, 1, &t), LK_OK);
    assert_true(t == 45);
    assert_int_equal(lk_parse_time("2w", 0, 1, &t), LK_OK);
    assert_true(t == 14 * 86400);
    assert_int_equal(lk_parse_time("2027-01-31", T0, 0, &t), LK_OK);
    assert_true(t == 1801353600);
    assert_int_equal(lk_parse_time("2027-01-31T12:34:56Z", T0, 0, &t), LK_OK);
    assert_true(t == 1801353600 + 12 * 3600 + 34 * 60 + 56);
    assert_int_equal(lk_parse_time("2028-02-29", T0, 0, &t), LK_OK); /* leap year */
    assert_int_equal(lk_parse_time("1970-01-01", T0, 0, &t), LK_OK);
    assert_true(t == 0);
    static const char *const bad[] = {"",         "d",           "0d",         "-1d",        "1.5d",
                                      "10y",      "90 d",        "d90",        "1000000000000s",
                                      "2027-02-29", "2027-13-01", "2027-00-10", "2027-1-1", "27-01-01",
                                      "2027-01-31T25:00:00Z", "2027-01-31T12:00:00", "2027-01-31 12:00:00Z",
                                      "1969-12-31", "never"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(lk_parse_time(bad[i], T0, 0, &t), LK_ERR_PARAM);
        assert_non_null(strstr(lk_errmsg(NULL), "is neither a time span"));
    }
    assert_int_equal(lk_parse_time(NULL, T0, 0, &t), LK_ERR_PARAM);
    /* a span only where a span is meant */
    assert_int_equal(lk_parse_time("2027-01-31", T0, 1, &t), LK_ERR_PARAM);
    assert_non_null(strstr(lk_errmsg(NULL), "is not a time span"));
    /* near the end of time */
    assert_int_equal(lk_parse_time("999999999999w", INT64_MAX - 10, 0, &t), LK_ERR_PARAM);
}

/* ------------------------------------------------------------ expiry */

static void access_key_expires(void **state)
{
    fixture *f = *state;
    lk_access_key k, k2, got;
    lk_secret *s, *other;
    assert_int_equal(lk_user_add(f->ctx, 100001, LK_USER_ROOT, 0), LK_OK);
    /* an expiry must lie in the future at create */
    assert_int_equal(lk_key_create_expiring(f->ctx, 100001, T0, &k, &s), LK_ERR_PARAM);
    assert_null(s);
    assert_int_equal(lk_key_create_expiring(f->ctx, 100001, T0 + 3600, &k, &s), LK_OK);
    assert_true(k.expire_time == T0 + 3600);
    assert_int_equal(lk_key_create(f->ctx, 100001, &k2, &other), LK_OK);
    assert_true(k2.expire_time == 0);
    assert_int_equal(lk_key_get(f->ctx, k.secret_id, &got), LK_OK);
    assert_true(got.expire_time == T0 + 3600);

    assert_int_equal(verify(f, k.secret_id, s), LK_OK); /* and now in the verified-secret cache */
    f->now = T0 + 3599;
    assert_int_equal(verify(f, k.secret_id, s), LK_OK);
    f->now = T0 + 3600; /* from this second on */
    assert_int_equal(verify(f, k.secret_id, s), LK_DENY_EXPIRED);
    assert_non_null(strstr(lk_errmsg(f->ctx), "expired at 2027-01-15T09:00:00Z"));
    assert_true(lk_status_is_denial(LK_DENY_EXPIRED));
    assert_string_equal(lk_status_code(LK_DENY_EXPIRED), "AuthFailure.SecretIdExpired");
    /* the cached path (latchkeyd's warm path) refuses it too */
    assert_int_equal(lk_verify_key_cached(f->ctx, k.secret_id, lk_secret_str(s), lk_secret_len(s), NULL, NULL),
                     LK_DENY_EXPIRED);
    /* decided after the secret: a wrong one is still a wrong secret */
    assert_int_equal(verify(f, k.secret_id, other), LK_DENY_BAD_SECRET);
    assert_int_equal(lk_flush(f->ctx), LK_OK);
    lk_access_record r[LK_RECORDS_MAX];
    size_t n;
    assert_int_equal(lk_records(f->ctx, k.secret_id, r, &n, NULL), LK_OK);
    assert_int_equal(n, 5);
    assert_int_equal(r[0].result, LK_DENY_BAD_SECRET);
    assert_int_equal(r[1].result, LK_DENY_EXPIRED);
    assert_int_equal(r[2].result, LK_DENY_EXPIRED);
    assert_int_equal(r[3].result, LK_OK);

    /* cleared: works again; set in the past: expired at once */
    assert_int_equal(lk_key_set_expiry(f->ctx, k.secret_id, 0, 0), LK_OK);
    assert_int_equal(verify(f, k.secret_id, s), LK_OK);
    assert_int_equal(lk_key_set_expiry(f->ctx, k.secret_id, 0, T0), LK_OK);
    assert_int_equal(verify(f, k.secret_id, s), LK_DENY_EXPIRED);
    assert_int_equal(lk_key_set_expiry(f->ctx, k.secret_id, 999, T0), LK_ERR_UIN_NOT_MATCH);
    assert_int_equal(lk_key_set_expiry(f->ctx, k.secret_id, 0, -5), LK_ERR_PARAM);
    /* a disabled key is disabled first */
    assert_int_equal(lk_key_set_status(f->ctx, k.secret_id, 0, LK_KEY_INACTIVE), LK_OK);
    assert_int_equal(verify(f, k.secret_id, s), LK_DENY_DISABLED);
    /* the account phase: an expired credential is no usable credential */
    assert_int_equal(lk_user_set_login(f->ctx, 100001, "alice"), LK_OK);
    assert_int_equal(lk_login_check(f->ctx, "alice", NULL), LK_OK); /* the other key */
    assert_int_equal(lk_key_set_expiry(f->ctx, k2.secret_id, 0, T0), LK_OK);
    assert_int_equal(lk_login_check(f->ctx, "alice", NULL), LK_DENY_DISABLED);
    assert_non_null(strstr(lk_errmsg(f->ctx), "no Active credential that has not expired"));
    lk_secret_free(s);
    lk_secret_free(other);
}

static void apikey_expires(void **state)
{
    fixture *f = *state;
    lk_apikey a, got;
    lk_secret *v;
    assert_int_equal(lk_user_add(f->ctx, 100001, LK_USER_ROOT, 0), LK_OK);
    lk_apikey_spec spec = {.name = "ci", .expire_time = T0 - 1};
    assert_int_equal(lk_apikey_create(f->ctx, 100001, &spec, &a, &v), LK_ERR_PARAM);
    spec.expire_time = T0 + 60;
    assert_int_equal(lk_apikey_create(f->ctx, 100001, &spec, &a, &v), LK_OK);
    assert_true(a.expire_time == T0 + 60);
    assert_int_equal(verify_api(f, v), LK_OK);
    f->now = T0 + 60;
    assert_int_equal(verify_api(f, v), LK_DENY_EXPIRED);
    assert_int_equal(
        lk_verify_apikey_cached(f->ctx, lk_secret_str(v), lk_secret_len(v), NULL, NULL), LK_DENY_EXPIRED);
    assert_int_equal(lk_flush(f->ctx), LK_OK);
    assert_int_equal(last_result(f, a.id), LK_DENY_EXPIRED);
    /* the allowlist and scope still come first: they need no secret */
    const char *ip[] = {"10.0.0.0/8"};
    lk_apikey_edit e = {.set_allow_ip = 1, .allow_ip = ip, .allow_ip_count = 1};
    assert_int_equal(lk_apikey_edit_key(f->ctx, a.id, &e), LK_OK);
    assert_int_equal(verify_api(f, v), LK_DENY_IP);
    assert_int_equal(lk_apikey_set_expiry(f->ctx, a.id, 0), LK_OK);
    assert_int_equal(lk_apikey_get(f->ctx, a.id, &got), LK_OK);
    assert_true(got.expire_time == 0);
    assert_int_equal(got.allow_ip_count, 1); /* an expiry change keeps the rest */
    lk_apikey_release(&got);
    lk_verify_req req = {.client_ip = "10.1.2.3"};
    assert_int_equal(lk_verify_apikey(f->ctx, lk_secret_str(v), lk_secret_len(v), &req, NULL), LK_OK);
    lk_apikey_release(&a);
    lk_secret_free(v);
}

/* A store written before expiry existed: records without the field. */
static void old_records_never_expire(void **state)
{
    fixture *f = *state;
    lk_access_key k;
    lk_secret *s;
    assert_int_equal(lk_user_add(f->ctx, 100001, LK_USER_ROOT, 0), LK_OK);
    assert_int_equal(lk_key_create(f->ctx, 100001, &k, &s), LK_OK);
    /* the record as this version writes it has no expires= field at all */
    const lk_backend_ops *ops = lk_backend_find(backend_for_group);
    assert_non_null(ops);
    lk_close(f->ctx);
    lk_backend_conf bc = {.path = f->path, .conninfo = getenv("LK_TEST_PG_CONNINFO")};
    void *h, *t;
    const char *v;
    size_t vl;
    char key[64];
    snprintf(key, sizeof key, "k/%s", k.secret_id);
    assert_int_equal(ops->open(&bc, &h), LK_OK);
    assert_int_equal(ops->begin(h, 0, &t), LK_OK);
    assert_int_equal(ops->get(t, key, strlen(key), &v, &vl), LK_OK);
    assert_null(memmem(v, vl, "expires", 7));
    ops->abort(t);
    ops->close(h);
    assert_int_equal(lk_open_config(f->cfg, &f->ctx), LK_OK);
    f->now = INT64_MAX / 2;
    lk_set_clock(f->ctx, fake_clock, &f->now);
    assert_int_equal(verify(f, k.secret_id, s), LK_OK);
    lk_secret_free(s);
}

/* ------------------------------------------------------------ rotation and reroll */

static void rotate_with_grace(void **state)
{
    fixture *f = *state;
    lk_access_key k1, k2, k3, got;
    lk_secret *s1, *s2, *s3 = NULL;
    assert_int_equal(lk_user_add(f->ctx, 100001, LK_USER_ROOT, 0), LK_OK);
    assert_int_equal(lk_key_create(f->ctx, 100001, &k1, &s1), LK_OK);
    assert_int_equal(lk_key_rotate(f->ctx, k1.secret_id, 0, -1, 0, &k2, &s2), LK_ERR_PARAM);
    assert_int_equal(lk_key_rotate(f->ctx, k1.secret_id, 999, 3600, 0, &k2, &s2), LK_ERR_UIN_NOT_MATCH);
    assert_int_equal(lk_key_rotate(f->ctx, k1.secret_id, 100001, 86400, 0, &k2, &s2), LK_OK);
    assert_string_not_equal(k1.secret_id, k2.secret_id);
    assert_true(k2.uin == 100001 && k2.expire_time == 0 && k2.status == LK_KEY_ACTIVE);
    assert_int_equal(lk_key_get(f->ctx, k1.secret_id, &got), LK_OK);
    assert_true(got.expire_time == T0 + 86400);
    /* both work during the grace period, only the new one after */
    f->now = T0 + 86399;
    assert_int_equal(verify(f, k1.secret_id, s1), LK_OK);
    assert_int_equal(verify(f, k2.secret_id, s2), LK_OK);
    f->now = T0 + 86400;
    assert_int_equal(verify(f, k1.secret_id, s1), LK_DENY_EXPIRED);
    assert_int_equal(verify(f, k2.secret_id, s2), LK_OK);
    /* two pairs held: the CAM limit stays, with a message saying what to do */
    assert_int_equal(lk_key_rotate(f->ctx, k2.secret_id, 0, 60, 0, &k3, &s3), LK_ERR_KEY_OVER_LIMIT);
    assert_null(s3);
    assert_non_null(strstr(lk_errmsg(f->ctx), "delete one"));
    lk_access_key *list;
    size_t n;
    assert_int_equal(lk_key_list(f->ctx, 100001, &list, &n), LK_OK);
    assert_int_equal(n, 2); /* nothing was written */
    lk_free(list);
    /* a grace never extends an earlier expiry */
    assert_int_equal(lk_key_set_status(f->ctx, k1.secret_id, 0, LK_KEY_INACTIVE), LK_OK);
    assert_int_equal(lk_key_delete(f->ctx, k1.secret_id, 0), LK_OK);
    assert_int_equal(lk_key_set_expiry(f->ctx, k2.secret_id, 0, f->now + 60), LK_OK);
    assert_int_equal(lk_key_rotate(f->ctx, k2.secret_id, 0, 86400, f->now + 7200, &k3, &s3), LK_OK);
    assert_true(k3.expire_time == f->now + 7200);
    assert_int_equal(lk_key_get(f->ctx, k2.secret_id, &got), LK_OK);
    assert_true(got.expire_time == f->now + 60);
    lk_secret_free(s1);
    lk_secret_free(s2);
    lk_secret_free(s3);
}

static void apikey_reroll(void **state)
{
    fixture *f = *state;
    lk_apikey a, b, got;
    lk_secret *v1, *v2;
    const char *scope[] = {"svc-a", "svc-b"};
    const char *ip[] = {"10.0.0.0/8"};
    assert_int_equal(lk_user_add(f->ctx, 100001, LK_USER_ROOT, 0), LK_OK);
    assert_int_equal(lk_config_set(f->cfg, "limits.apikeys_per_account", "1"), LK_OK);
    lk_close(f->ctx);
    assert_int_equal(lk_open_config(f->cfg, &f->ctx), LK_OK);
    lk_set_clock(f->ctx, fake_clock, &f->now);
    lk_apikey_spec spec = {.name = "prod", .description = "d", .scope = scope, .scope_count = 2,
                           .allow_ip = ip, .allow_ip_count = 1};
    assert_int_equal(lk_apikey_create(f->ctx, 100001, &spec, &a, &v1), LK_OK);
    assert_int_equal(lk_apikey_reroll(f->ctx, a.id, -1, 0, &b, &v2), LK_ERR_PARAM);
    /* at the account limit (1 here): the pair is allowed during the grace */
    assert_int_equal(lk_apikey_reroll(f->ctx, a.id, 3600, 0, &b, &v2), LK_OK);
    assert_string_not_equal(a.id, b.id);
    assert_memory_equal(lk_secret_str(v2), b.id, LK_APIKEY_ID_LEN);
    assert_string_equal(b.name, "prod");
    assert_string_equal(b.description, "d");
    assert_int_equal(b.scope_count, 2);
    assert_string_equal(b.scope[1], "svc-b");
    assert_int_equal(b.allow_ip_count, 1);
    assert_true(b.expire_time == 0);
    /* the name finds the new key */
    assert_int_equal(lk_apikey_find(f->ctx, 100001, "prod", &got), LK_OK);
    assert_string_equal(got.id, b.id);
    lk_apikey_release(&got);
    assert_int_equal(lk_apikey_get(f->ctx, a.id, &got), LK_OK);
    assert_true(got.expire_time == T0 + 3600);
    lk_apikey_release(&got);
    lk_verify_req req = {.client_ip = "10.0.0.1", .service = "svc-a"};
    f->now = T0 + 3599;
    assert_int_equal(lk_verify_apikey(f->ctx, lk_secret_str(v1), lk_secret_len(v1), &req, NULL), LK_OK);
    assert_int_equal(lk_verify_apikey(f->ctx, lk_secret_str(v2), lk_secret_len(v2), &req, NULL), LK_OK);
    f->now = T0 + 3600;
    assert_int_equal(lk_verify_apikey(f->ctx, lk_secret_str(v1), lk_secret_len(v1), &req, NULL), LK_DENY_EXPIRED);
    assert_int_equal(lk_verify_apikey(f->ctx, lk_secret_str(v2), lk_secret_len(v2), &req, NULL), LK_OK);
    /* deleting the old key leaves the name with the new one */
    assert_int_equal(lk_apikey_set_status(f->ctx, a.id, LK_KEY_INACTIVE), LK_OK);
    assert_int_equal(lk_apikey_delete(f->ctx, a.id), LK_OK);
    assert_int_equal(lk_apikey_find(f->ctx, 100001, "prod", &got), LK_OK);
    assert_string_equal(got.id, b.id);
    lk_apikey_release(&got);
    /* and a new key by that name is still refused */
    lk_secret *v3 = NULL;
    lk_apikey c;
    assert_int_equal(lk_config_set(f->cfg, "limits.apikeys_per_account", "50"), LK_OK);
    lk_close(f->ctx);
    assert_int_equal(lk_open_config(f->cfg, &f->ctx), LK_OK);
    assert_int_equal(lk_apikey_create(f->ctx, 100001, &spec, &c, &v3), LK_ERR_NAME_EXISTS);
    assert_int_equal(lk_apikey_reroll(f->ctx, "lk-000000000000", 60, 0, &c, &v3), LK_ERR_KEY_NOT_EXIST);
    assert_null(v3);
    lk_apikey_release(&a);
    lk_apikey_release(&b);
    lk_secret_free(v1);
    lk_secret_free(v2);
}

/* ------------------------------------------------------------ expiring, revoke */

static void expiring_lists_soonest_first(void **state)
{
    fixture *f = *state;
    lk_access_key k1, k2, k3;
    lk_secret *s1, *s2, *s3, *v;
    lk_apikey a;
    assert_int_equal(lk_user_add(f->ctx, 100001, LK_USER_ROOT, 0), LK_OK);
    assert_int_equal(lk_user_add(f->ctx, 200001, LK_USER_SUB, 100001), LK_OK);
    assert_int_equal(lk_key_create_expiring(f->ctx, 100001, T0 + 10 * 86400, &k1, &s1), LK_OK);
    assert_int_equal(lk_key_create_expiring(f->ctx, 200001, T0 + 86400, &k2, &s2), LK_OK);
    assert_int_equal(lk_key_create(f->ctx, 200001, &k3, &s3), LK_OK);
    lk_apikey_spec spec = {.name = "x", .expire_time = T0 + 3600};
    assert_int_equal(lk_apikey_create(f->ctx, 100001, &spec, &a, &v), LK_OK);
    lk_expiring_key *e;
    size_t n;
    assert_int_equal(lk_expiring(f->ctx, T0 + 7 * 86400, &e, &n), LK_OK);
    assert_int_equal(n, 2);
    assert_string_equal(e[0].key_id, a.id);
    assert_true(e[0].is_apikey && e[0].uin == 100001 && e[0].expire_time == T0 + 3600);
    assert_string_equal(e[0].name, "x");
    assert_string_equal(e[1].key_id, k2.secret_id);
    assert_true(!e[1].is_apikey && e[1].uin == 200001);
    lk_free(e);
    /* already expired ones are listed too */
    f->now = T0 + 20 * 86400;
    assert_int_equal(lk_expiring(f->ctx, f->now, &e, &n), LK_OK);
    assert_int_equal(n, 3);
    assert_string_equal(e[2].key_id, k1.secret_id);
    lk_free(e);
    assert_int_equal(lk_expiring(f->ctx, T0, &e, &n), LK_OK);
    assert_int_equal(n, 0);
    lk_free(e);
    lk_apikey_release(&a);
    lk_secret_free(s1);
    lk_secret_free(s2);
    lk_secret_free(s3);
    lk_secret_free(v);
}

static void revoke_disables_account_and_members(void **state)
{
    fixture *f = *state;
    lk_access_key k1, k2, k3;
    lk_secret *s1, *s2, *s3, *v;
    lk_apikey a;
    size_t n = 99;
    assert_int_equal(lk_user_add(f->ctx, 100001, LK_USER_ROOT, 0), LK_OK);
    assert_int_equal(lk_user_add(f->ctx, 200001, LK_USER_SUB, 100001), LK_OK);
    assert_int_equal(lk_user_add(f->ctx, 100002, LK_USER_ROOT, 0), LK_OK);
    assert_int_equal(lk_key_create(f->ctx, 100001, &k1, &s1), LK_OK);
    assert_int_equal(lk_key_create(f->ctx, 200001, &k2, &s2), LK_OK);
    assert_int_equal(lk_key_create(f->ctx, 100002, &k3, &s3), LK_OK);
    lk_apikey_spec spec = {.name = "x"};
    assert_int_equal(lk_apikey_create(f->ctx, 100001, &spec, &a, &v), LK_OK);
    assert_int_equal(verify(f, k2.secret_id, s2), LK_OK); /* cached */
    /* a member: only its own keys */
    assert_int_equal(lk_revoke_user(f->ctx, 200001, &n), LK_OK);
    assert_int_equal(n, 1);
    assert_int_equal(verify(f, k2.secret_id, s2), LK_DENY_DISABLED);
    assert_int_equal(verify(f, k1.secret_id, s1), LK_OK);
    /* the root: its keys, its API keys, its members' (already off) */
    assert_int_equal(lk_revoke_user(f->ctx, 100001, &n), LK_OK);
    assert_int_equal(n, 2);
    assert_int_equal(verify(f, k1.secret_id, s1), LK_DENY_DISABLED);
    assert_int_equal(verify_api(f, v), LK_DENY_DISABLED);
    assert_int_equal(verify(f, k3.secret_id, s3), LK_OK); /* another account */
    assert_int_equal(lk_revoke_user(f->ctx, 100001, &n), LK_OK);
    assert_int_equal(n, 0);
    assert_int_equal(lk_revoke_user(f->ctx, 999, &n), LK_ERR_USER_NOT_EXIST);
    assert_int_equal(lk_revoke_user(f->ctx, 0, NULL), LK_ERR_PARAM);
    lk_apikey_release(&a);
    lk_secret_free(s1);
    lk_secret_free(s2);
    lk_secret_free(s3);
    lk_secret_free(v);
}

/* ------------------------------------------------------------ request limits */

typedef struct rl_thread {
    fixture *f;
    const lk_secret *v;
    int allowed, limited, other;
} rl_thread;

static void *rl_run(void *arg)
{
    rl_thread *t = arg;
    for (int i = 0; i < 200; i++) {
        lk_status st = verify_api(t->f, t->v);
        if (st == LK_OK)
            t->allowed++;
        else if (st == LK_DENY_RATE_LIMIT)
            t->limited++;
        else
            t->other++;
    }
    return NULL;
}

static void request_limits(void **state)
{
    fixture *f = *state;
    lk_apikey a, b, got;
    lk_secret *v, *v2, *w;
    assert_int_equal(lk_user_add(f->ctx, 100001, LK_USER_ROOT, 0), LK_OK);
    lk_apikey_spec spec = {.name = "limited", .rate_limit = 3, .rate_window_s = 10};
    lk_apikey_spec bad = {.name = "bad", .rate_limit = 3};
    assert_int_equal(lk_apikey_create(f->ctx, 100001, &bad, &b, &w), LK_ERR_PARAM);
    bad.rate_limit = LK_RATE_MAX + 1, bad.rate_window_s = 1;
    assert_int_equal(lk_apikey_create(f->ctx, 100001, &bad, &b, &w), LK_ERR_PARAM);
    bad.rate_limit = 1, bad.rate_window_s = LK_RATE_WINDOW_MAX + 1;
    assert_int_equal(lk_apikey_create(f->ctx, 100001, &bad, &b, &w), LK_ERR_PARAM);
    assert_int_equal(lk_apikey_create(f->ctx, 100001, &spec, &a, &v), LK_OK);
    assert_true(a.rate_limit == 3 && a.rate_window_s == 10);
    lk_apikey_spec other = {.name = "other"};
    assert_int_equal(lk_apikey_create(f->ctx, 100001, &other, &b, &w), LK_OK);
    /* a refused attempt does not use the limit up: here a's id with another key's rest (bad checksum) */
    char wrong[LK_APIKEY_LEN + 1];
    memcpy(wrong, lk_secret_str(w), LK_APIKEY_LEN + 1);
    memcpy(wrong, a.id, LK_APIKEY_ID_LEN);
    assert_int_equal(lk_verify_apikey(f->ctx, wrong, LK_APIKEY_LEN, NULL, NULL), LK_DENY_MALFORMED);
    lk_verify_req scoped = {.service = "elsewhere"};
    assert_int_equal(lk_apikey_edit_key(f->ctx, a.id, &(lk_apikey_edit){.set_scope = 1, .scope = (const char *[]){"svc"},
                                                                          .scope_count = 1}),
                     LK_OK);
    for (int i = 0; i < 5; i++) /* refused for scope: never counted */
        assert_int_equal(lk_verify_apikey(f->ctx, lk_secret_str(v), lk_secret_len(v), &scoped, NULL), LK_DENY_SCOPE);
    assert_int_equal(lk_apikey_edit_key(f->ctx, a.id, &(lk_apikey_edit){.set_scope = 1}), LK_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(verify_api(f, v), LK_OK);
    assert_int_equal(verify_api(f, v), LK_DENY_RATE_LIMIT);
    assert_non_null(strstr(lk_errmsg(f->ctx), "3 request(s) per 10 s used up"));
    assert_string_equal(lk_status_code(LK_DENY_RATE_LIMIT), "LimitExceeded.RequestLimit");
    assert_true(lk_status_is_denial(LK_DENY_RATE_LIMIT));
    assert_int_equal(
        lk_verify_apikey_cached(f->ctx, lk_secret_str(v), lk_secret_len(v), NULL, NULL), LK_DENY_RATE_LIMIT);
    assert_int_equal(verify_api(f, w), LK_OK); /* another key has its own count */
    assert_int_equal(lk_flush(f->ctx), LK_OK);
    assert_int_equal(last_result(f, a.id), LK_DENY_RATE_LIMIT);
    /* the next window */
    f->now += 9;
    assert_int_equal(verify_api(f, v), LK_DENY_RATE_LIMIT);
    f->now += 1;
    assert_int_equal(verify_api(f, v), LK_OK);
    /* a reroll keeps the limit; clearing it lifts it */
    assert_int_equal(lk_apikey_reroll(f->ctx, a.id, 60, 0, &got, &v2), LK_OK);
    assert_true(got.rate_limit == 3 && got.rate_window_s == 10);
    lk_apikey_release(&got);
    assert_int_equal(lk_apikey_set_rate_limit(f->ctx, a.id, 5, 0), LK_ERR_PARAM);
    assert_int_equal(lk_apikey_set_rate_limit(f->ctx, a.id, 0, 0), LK_OK);
    assert_int_equal(lk_apikey_get(f->ctx, a.id, &got), LK_OK);
    assert_true(got.rate_limit == 0 && got.rate_window_s == 0);
    lk_apikey_release(&got);
    for (int i = 0; i < 10; i++)
        assert_int_equal(verify_api(f, v), LK_OK);
    /* exact across threads of one ctx (latchkeyd's case) */
    assert_int_equal(lk_apikey_set_rate_limit(f->ctx, a.id, 500, 3600), LK_OK);
    rl_thread t[8];
    pthread_t tid[8];
    for (int i = 0; i < 8; i++) {
        t[i] = (rl_thread){.f = f, .v = v};
        assert_int_equal(pthread_create(&tid[i], NULL, rl_run, &t[i]), 0);
    }
    int allowed = 0, limited = 0, others = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(tid[i], NULL);
        allowed += t[i].allowed, limited += t[i].limited, others += t[i].other;
    }
    assert_int_equal(others, 0);
    assert_int_equal(allowed, 500);
    assert_int_equal(limited, 8 * 200 - 500);
    /* the same store through another ctx: a count of its own */
    lk_ctx *second;
    assert_int_equal(lk_open_config(f->cfg, &second), LK_OK);
    lk_set_clock(second, fake_clock, &f->now);
    assert_int_equal(lk_verify_apikey(second, lk_secret_str(v), lk_secret_len(v), NULL, NULL), LK_OK);
    lk_close(second);
    lk_apikey_release(&a);
    lk_apikey_release(&b);
    lk_secret_free(v);
    lk_secret_free(v2);
    lk_secret_free(w);
}

/* ------------------------------------------------------------ the audit log */

static size_t audit_count(fixture *f, const char *key_id, uint64_t uin, lk_audit_entry **e)
{
    size_t n = 99;
    assert_int_equal(lk_audit_list(f->ctx, 0, key_id, uin, e, &n), LK_OK);
    return n;
}

static void every_change_is_audited(void **state)
{
    fixture *f = *state;
    lk_access_key k, k2;
    lk_secret *s, *s2, *v, *v2;
    lk_apikey a, b;
    lk_audit_entry *e;
    assert_int_equal(lk_audit_reason("onboarding"), LK_OK);
    assert_int_equal(lk_user_add_login(f->ctx, 100001, LK_USER_ROOT, 0, "alice"), LK_OK);
    assert_int_equal(lk_audit_reason(NULL), LK_OK);
    assert_int_equal(lk_user_add(f->ctx, 200001, LK_USER_SUB, 100001), LK_OK);
    assert_int_equal(lk_user_set_login(f->ctx, 200001, "bob"), LK_OK);
    assert_int_equal(lk_key_create_expiring(f->ctx, 200001, T0 + 3600, &k, &s), LK_OK);
    assert_int_equal(lk_key_set_status(f->ctx, k.secret_id, 0, LK_KEY_INACTIVE), LK_OK);
    assert_int_equal(lk_key_set_status(f->ctx, k.secret_id, 0, LK_KEY_INACTIVE), LK_OK); /* no change: no entry */
    assert_int_equal(lk_key_set_status(f->ctx, k.secret_id, 0, LK_KEY_ACTIVE), LK_OK);
    assert_int_equal(lk_key_set_expiry(f->ctx, k.secret_id, 0, 0), LK_OK);
    assert_int_equal(lk_key_rotate(f->ctx, k.secret_id, 0, 60, 0, &k2, &s2), LK_OK);
    lk_apikey_spec spec = {.name = "ci"};
    assert_int_equal(lk_apikey_create(f->ctx, 100001, &spec, &a, &v), LK_OK);
    lk_apikey_edit ed = {.description = "build bot"};
    assert_int_equal(lk_apikey_edit_key(f->ctx, a.id, &ed), LK_OK);
    assert_int_equal(lk_apikey_set_expiry(f->ctx, a.id, T0 + 99), LK_OK);
    assert_int_equal(lk_apikey_reroll(f->ctx, a.id, 60, 0, &b, &v2), LK_OK);
    assert_int_equal(lk_apikey_set_status(f->ctx, a.id, LK_KEY_INACTIVE), LK_OK);
    assert_int_equal(lk_apikey_delete(f->ctx, a.id), LK_OK);
    assert_int_equal(lk_audit_reason("leaked"), LK_OK);
    assert_int_equal(lk_revoke_user(f->ctx, 100001, NULL), LK_OK);
    assert_int_equal(lk_audit_reason(NULL), LK_OK);
    assert_int_equal(lk_key_delete(f->ctx, k.secret_id, 0), LK_OK);
    assert_int_equal(lk_user_delete(f->ctx, 200001, 1), LK_OK);
    /* refused changes leave no entry: the entry is in the change's transaction */
    assert_int_equal(lk_user_add(f->ctx, 100001, LK_USER_ROOT, 0), LK_ERR_USER_EXISTS);
    assert_int_equal(lk_key_delete(f->ctx, k2.secret_id, 0), LK_ERR_KEY_NOT_EXIST);

    static const char *const want[] = {
        "user.add",      "user.add",    "user.edit",     "key.create",     "key.disable",    "key.enable",
        "key.edit",      "key.rotate",  "key.create",    "apikey.create",  "apikey.edit",    "apikey.edit",
        "apikey.reroll", "apikey.create", "apikey.disable", "apikey.delete", "revoke",         "key.delete",
        "user.delete"};
    size_t n = audit_count(f, NULL, 0, &e);
    assert_int_equal(n, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(e[i].action, want[i]);
        assert_true(e[i].time == T0);
        assert_true(e[i].uid == (uint32_t)getuid());
    }
    assert_string_equal(e[0].target, "100001");
    assert_string_equal(e[0].reason, "onboarding");
    assert_string_equal(e[0].fields, "kind=root root=100001 login=alice");
    assert_string_equal(e[1].reason, "");
    assert_string_equal(e[4].target, k.secret_id);
    assert_true(e[4].uin == 200001);
    assert_string_equal(e[4].fields, "status=Inactive");
    assert_non_null(strstr(e[7].fields, k2.secret_id)); /* rotate names the new pair */
    assert_non_null(strstr(e[10].fields, "name=ci"));
    assert_non_null(strstr(e[12].fields, b.id));
    assert_string_equal(e[16].reason, "leaked");
    assert_string_equal(e[16].fields, "disabled=3 members=1"); /* k, k2 and b */
    lk_free(e);
    /* never a secret */
    n = audit_count(f, NULL, 0, &e);
    for (size_t i = 0; i < n; i++) {
        assert_null(strstr(e[i].fields, lk_secret_str(s)));
        assert_null(strstr(e[i].fields, lk_secret_str(v)));
        assert_null(strstr(e[i].fields, lk_secret_str(v2)));
    }
    lk_free(e);
    /* filters */
    assert_int_equal(audit_count(f, k.secret_id, 0, &e), 6);
    lk_free(e);
    assert_int_equal(audit_count(f, NULL, 200001, &e), 10);
    lk_free(e);
    assert_int_equal(audit_count(f, b.id, 0, &e), 1);
    lk_free(e);
    assert_int_equal(lk_audit_list(f->ctx, T0 + 1, NULL, 0, &e, &n), LK_OK);
    assert_int_equal(n, 0);
    lk_free(e);
    /* a bad reason is refused and changes nothing */
    char big[LK_AUDIT_TEXT_MAX + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(lk_audit_reason(big), LK_ERR_PARAM);
    assert_int_equal(lk_audit_reason("a\nb"), LK_ERR_PARAM);
    assert_int_equal(lk_audit_reason(NULL), LK_OK);
    lk_apikey_release(&a);
    lk_apikey_release(&b);
    lk_secret_free(s);
    lk_secret_free(s2);
    lk_secret_free(v);
    lk_secret_free(v2);
}

/* An edit of several fields is one change: applied together with one audit
 * entry, or, when any part is refused, not at all. */
static void apikey_edit_is_one_change(void **state)
{
    fixture *f = *state;
    lk_apikey a, got;
    lk_secret *v;
    lk_audit_entry *e;
    assert_int_equal(lk_user_add(f->ctx, 100001, LK_USER_ROOT, 0), LK_OK);
    lk_apikey_spec spec = {.name = "ci"};
    assert_int_equal(lk_apikey_create(f->ctx, 100001, &spec, &a, &v), LK_OK);
    const char *svc[] = {"svc"}, *bad_svc[] = {"bad service"};
    lk_apikey_edit all = {.description = "build bot", .set_scope = 1, .scope = svc, .scope_count = 1,
                          .set_expiry = 1, .expire_time = T0 + 500, .set_rate_limit = 1, .rate_limit = 10,
                          .rate_window_s = 60};
    assert_int_equal(lk_apikey_edit_key(f->ctx, a.id, &all), LK_OK);
    assert_int_equal(lk_apikey_get(f->ctx, a.id, &got), LK_OK);
    assert_string_equal(got.description, "build bot");
    assert_true(got.scope_count == 1 && strcmp(got.scope[0], "svc") == 0);
    assert_true(got.expire_time == T0 + 500 && got.rate_limit == 10 && got.rate_window_s == 60);
    lk_apikey_release(&got);
    assert_int_equal(audit_count(f, a.id, 0, &e), 2); /* apikey.create, one apikey.edit */
    assert_string_equal(e[1].action, "apikey.edit");
    assert_non_null(strstr(e[1].fields, "scope=svc"));
    assert_non_null(strstr(e[1].fields, "rate=10/60"));
    lk_free(e);
    /* one bad part refuses the whole edit, whichever part it is */
    lk_apikey_edit refused[] = {
        {.description = "changed", .set_expiry = 1, .expire_time = -1},
        {.description = "changed", .set_rate_limit = 1, .rate_limit = 5, .rate_window_s = 0},
        {.set_expiry = 1, .expire_time = 0, .set_scope = 1, .scope = bad_svc, .scope_count = 1},
        {.set_rate_limit = 1, .rate_limit = 0, .rate_window_s = 0, .description = "bad\x01text"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        assert_int_equal(lk_apikey_edit_key(f->ctx, a.id, &refused[i]), LK_ERR_PARAM);
    assert_int_equal(lk_apikey_get(f->ctx, a.id, &got), LK_OK);
    assert_string_equal(got.description, "build bot");
    assert_true(got.scope_count == 1 && strcmp(got.scope[0], "svc") == 0);
    assert_true(got.expire_time == T0 + 500 && got.rate_limit == 10 && got.rate_window_s == 60);
    lk_apikey_release(&got);
    assert_int_equal(audit_count(f, a.id, 0, &e), 2);
    lk_free(e);
    lk_apikey_release(&a);
    lk_secret_free(v);
}

static void audit_retention(void **state)
{
    fixture *f = *state;
    lk_audit_entry *e;
    size_t n;
    assert_int_equal(lk_config_set(f->cfg, "audit.retention_days", "2"), LK_OK);
    lk_close(f->ctx);
    assert_int_equal(lk_open_config(f->cfg, &f->ctx), LK_OK);
    lk_set_clock(f->ctx, fake_clock, &f->now);
    assert_int_equal(lk_user_add(f->ctx, 1, LK_USER_ROOT, 0), LK_OK);
    f->now += 86400;
    assert_int_equal(lk_user_add(f->ctx, 2, LK_USER_ROOT, 0), LK_OK);
    f->now += 86400 + 1; /* the first is now older than 2 days */
    assert_int_equal(lk_user_add(f->ctx, 3, LK_USER_ROOT, 0), LK_OK);
    assert_int_equal(lk_audit_list(f->ctx, 0, NULL, 0, &e, &n), LK_OK);
    assert_int_equal(n, 2);
    assert_string_equal(e[0].target, "2");
    assert_string_equal(e[1].target, "3");
    lk_free(e);
    assert_int_equal(lk_config_set(f->cfg, "audit.retention_days", "0"), LK_ERR_CONFIG);
}

/* ------------------------------------------------------------ the scanner (no store) */

typedef struct found_list {
    lk_found_cred c[16];
    size_t n;
} found_list;

static int collect(void *arg, const lk_found_cred *c)
{
    found_list *l = arg;
    if (l->n < 16)
        l->c[l->n++] = *c;
    return 0;
}

static size_t scan(const char *text, found_list *l)
{
    memset(l, 0, sizeof *l);
    return lk_scan_text(text, strlen(text), collect, l);
}

static void scanner_finds_real_ones_only(void **state)
{
    fixture *f = *state;
    lk_access_key k;
    lk_secret *s, *v;
    lk_apikey a;
    found_list l;
    char text[1024], id[LK_SECRET_ID_LEN + 1], sk[LK_SECRET_KEY_LEN + 1], ak[LK_APIKEY_LEN + 1];
    assert_int_equal(lk_user_add(f->ctx, 100001, LK_USER_ROOT, 0), LK_OK);
    assert_int_equal(lk_key_create(f->ctx, 100001, &k, &s), LK_OK);
    lk_apikey_spec spec = {.name = "x"};
    assert_int_equal(lk_apikey_create(f->ctx, 100001, &spec, &a, &v), LK_OK);
    snprintf(id, sizeof id, "%s", k.secret_id);
    snprintf(sk, sizeof sk, "%s", lk_secret_str(s));
    snprintf(ak, sizeof ak, "%s", lk_secret_str(v));

    snprintf(text, sizeof text, "export ID=%s\nKEY='%s'\n{\"k\":\"%s\"}", id, sk, ak);
    assert_int_equal(scan(text, &l), 3);
    assert_int_equal(l.c[0].kind, LK_CRED_SECRET_ID);
    assert_string_equal(l.c[0].public_id, id);
    assert_int_equal(l.c[0].offset, 10);
    assert_int_equal(l.c[1].kind, LK_CRED_SECRET_KEY);
    assert_string_equal(l.c[1].public_id, "");
    assert_int_equal(l.c[2].kind, LK_CRED_APIKEY);
    assert_string_equal(l.c[2].public_id, a.id);
    assert_int_equal(l.c[2].len, LK_APIKEY_LEN);
    assert_int_equal(scan(id, &l), 1); /* the whole text */

    /* look-alikes: a wrong checksum, one character more or less, glued to a
     * word, the wrong case, an API key id alone (no checksum) */
    char bad[LK_APIKEY_LEN + 8];
    snprintf(bad, sizeof bad, "%s", id);
    bad[LK_SECRET_ID_LEN - 1] = bad[LK_SECRET_ID_LEN - 1] == 'a' ? 'b' : 'a';
    assert_int_equal(scan(bad, &l), 0);
    snprintf(bad, sizeof bad, "%sX", id);
    assert_int_equal(scan(bad, &l), 0);
    snprintf(bad, sizeof bad, "%.*s", LK_SECRET_ID_LEN - 1, id);
    assert_int_equal(scan(bad, &l), 0);
    snprintf(bad, sizeof bad, "x%s", id);
    assert_int_equal(scan(bad, &l), 0);
    snprintf(bad, sizeof bad, "7%s", ak);
    assert_int_equal(scan(bad, &l), 0);
    snprintf(bad, sizeof bad, "%s", ak);
    bad[3] = bad[3] == 'Q' ? 'R' : 'Q';
    assert_int_equal(scan(bad, &l), 0);
    snprintf(bad, sizeof bad, "akid%s", id + 4);
    assert_int_equal(scan(bad, &l), 0);
    assert_int_equal(scan(a.id, &l), 0);
    assert_int_equal(scan("AKID0000000000000000000000000000000 lk-xxx LKSK", &l), 0);
    /* punctuation around it is fine; so is '-' (only letters and digits glue) */
    snprintf(text, sizeof text, "-%s-", id);
    assert_int_equal(scan(text, &l), 1);
    /* a stop from the callback */
    snprintf(text, sizeof text, "%s %s", id, id);
    assert_int_equal(lk_scan_text(text, strlen(text), NULL, NULL), 2);
    assert_int_equal(lk_scan_text(NULL, 5, NULL, NULL), 0);
    lk_apikey_release(&a);
    lk_secret_free(s);
    lk_secret_free(v);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(time_parser),
        T(access_key_expires),
        T(apikey_expires),
        T(old_records_never_expire),
        T(rotate_with_grace),
        T(apikey_reroll),
        T(expiring_lists_soonest_first),
        T(revoke_disables_account_and_members),
        T(scanner_finds_real_ones_only),
        T(every_change_is_audited),
        T(apikey_edit_is_one_change),
        T(audit_retention),
        T(request_limits),
    };
    if (getenv("LK_TEST_PG_CONNINFO") != NULL) {
        backend_for_group = "postgresql";
        return cmocka_run_group_tests_name("lifecycle on postgresql", tests, NULL, NULL) ? 1 : 0;
    }
    int failed = 0;
    backend_for_group = "lmdb";
    failed += cmocka_run_group_tests_name("lifecycle on lmdb", tests, NULL, NULL);
    backend_for_group = "flatfile";
    failed += cmocka_run_group_tests_name("lifecycle on flatfile", tests, NULL, NULL);
    return failed ? 1 : 0;
}
