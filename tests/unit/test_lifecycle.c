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

/* Change one setting and reopen the store with it (the test clock kept). */
static void reopen_with(fixture *f, const char *key, const char *value)
{
    assert_int_equal(lk_config_set(f->cfg, key, value), LK_OK);
    lk_close(f->ctx);
    assert_int_equal(lk_open_config(f->cfg, &f->ctx), LK_OK);
    lk_set_clock(f->ctx, fake_clock, &f->now);
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

static size_t audit_count(fixture *f, const char *key_id, uint64_t uin, lk_audit_entry **e)
{
    size_t n = 99;
    assert_int_equal(lk_audit_list(f->ctx, 0, key_id, uin, e, &n), LK_OK);
    return n;
}

/* The entries about key_id with this action, in *e (freed with lk_free). */
static size_t audit_count_action(fixture *f, const char *key_id, const char *action, lk_audit_entry **e)
{
    size_t n = audit_count(f, key_id, 0, e), k = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp((*e)[i].action, action) == 0)
            (*e)[k++] = (*e)[i];
    return k;
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
    assert_int_equal(lk_parse_time("1970-01-01", T0, 0, &t), LK_OK); /* a --since: from the start */
    assert_true(t == 0);
    /* Issue 19, finding 10: an expiry date must lie in the future; 1970-01-01
     * was 0, "never", even with a clock at 0 */
    static const char *const past[] = {"1970-01-01", "1970-01-01T00:00:00Z", "2001-01-01", "2027-01-15T08:00:00Z"};
    for (size_t i = 0; i < sizeof past / sizeof past[0]; i++) {
        assert_int_equal(lk_parse_time(past[i], T0, LK_TIME_FUTURE, &t), LK_ERR_PARAM);
        assert_non_null(strstr(lk_errmsg(NULL), "is not in the future"));
    }
    assert_int_equal(lk_parse_time("1970-01-01", 0, LK_TIME_FUTURE, &t), LK_ERR_PARAM);
    assert_int_equal(lk_parse_time("1970-01-01", -5, LK_TIME_FUTURE, &t), LK_ERR_PARAM);
    assert_int_equal(lk_parse_time("2027-01-15T08:00:01Z", T0, LK_TIME_FUTURE, &t), LK_OK);
    assert_true(t == T0 + 1 && t != LK_EXPIRES_NEVER);
    assert_int_equal(lk_parse_time("1s", T0, LK_TIME_FUTURE, &t), LK_OK);
    assert_true(t == T0 + 1);
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
    assert_non_null(strstr(lk_errmsg(f->ctx), "expired at 2027-01-15 09:00:00 +0000"));
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
    /* a disabled key is disabled first: refused before the secret, so
     * answered as a wrong secret, and recorded as disabled (issue 19) */
    assert_int_equal(lk_key_set_status(f->ctx, k.secret_id, 0, LK_KEY_INACTIVE), LK_OK);
    assert_int_equal(verify(f, k.secret_id, s), LK_DENY_BAD_SECRET);
    assert_int_equal(last_result(f, k.secret_id), LK_DENY_DISABLED);
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
    /* the allowlist and scope still come first: they need no secret (and
     * so tell nothing to a caller: a wrong secret's answer, issue 19) */
    const char *ip[] = {"10.0.0.0/8"};
    lk_apikey_edit e = {.set_allow_ip = 1, .allow_ip = ip, .allow_ip_count = 1};
    assert_int_equal(lk_apikey_edit_key(f->ctx, a.id, &e), LK_OK);
    assert_int_equal(verify_api(f, v), LK_DENY_BAD_SECRET);
    assert_int_equal(last_result(f, a.id), LK_DENY_IP);
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
    reopen_with(f, "limits.apikeys_per_account", "1");
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

/* Issue 19, finding 3: five rerolls of one key at apikeys_per_account 3 left
 * 8 keys, six named alike. A reroll counts the account's keys (limit + 1
 * during a grace), refuses a key already rolled out, and names stay unique. */
static void reroll_is_bounded(void **state)
{
    fixture *f = *state;
    lk_apikey a[3], n1, got, *list;
    lk_secret *v[3], *w1, *w2 = NULL;
    size_t n;
    assert_int_equal(lk_user_add(f->ctx, 100001, LK_USER_ROOT, 0), LK_OK);
    reopen_with(f, "limits.apikeys_per_account", "3");
    static const char *const names[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        lk_apikey_spec spec = {.name = names[i]};
        assert_int_equal(lk_apikey_create(f->ctx, 100001, &spec, &a[i], &v[i]), LK_OK);
    }
    assert_int_equal(lk_apikey_reroll(f->ctx, a[0].id, 3600, 0, &n1, &w1), LK_OK);
    for (int i = 0; i < 4; i++) { /* the same key again: its successor exists */
        assert_int_equal(lk_apikey_reroll(f->ctx, a[0].id, 3600, 0, &got, &w2), LK_ERR_PARAM);
        assert_null(w2);
        assert_non_null(strstr(lk_errmsg(f->ctx), "already being rotated out"));
    }
    /* another key: the account already holds limit + 1 */
    assert_int_equal(lk_apikey_reroll(f->ctx, a[1].id, 3600, 0, &got, &w2), LK_ERR_APIKEY_OVER_LIMIT);
    assert_int_equal(lk_apikey_reroll(f->ctx, n1.id, 3600, 0, &got, &w2), LK_ERR_APIKEY_OVER_LIMIT);
    assert_null(w2);
    assert_int_equal(lk_apikey_list(f->ctx, 100001, &list, &n), LK_OK);
    assert_int_equal(n, 4);
    int named_a = 0;
    for (size_t i = 0; i < n; i++)
        named_a += strcmp(list[i].name, "a") == 0;
    assert_int_equal(named_a, 2); /* the rolled-out key and its successor */
    lk_apikey_list_free(list, n);
    /* the successor deleted: the old key still exists, so its name is not free */
    assert_int_equal(lk_apikey_set_status(f->ctx, n1.id, LK_KEY_INACTIVE), LK_OK);
    assert_int_equal(lk_apikey_delete(f->ctx, n1.id), LK_OK);
    assert_int_equal(lk_apikey_set_status(f->ctx, a[2].id, LK_KEY_INACTIVE), LK_OK);
    assert_int_equal(lk_apikey_delete(f->ctx, a[2].id), LK_OK); /* room for one more */
    lk_apikey_spec again = {.name = "a"};
    assert_int_equal(lk_apikey_create(f->ctx, 100001, &again, &got, &w2), LK_ERR_NAME_EXISTS);
    assert_null(w2);
    /* and the old key may be rolled out again, to a successor of its own */
    assert_int_equal(lk_apikey_reroll(f->ctx, a[0].id, 3600, 0, &got, &w2), LK_OK);
    assert_string_equal(got.name, "a");
    lk_apikey_release(&got);
    lk_secret_free(w2);
    for (int i = 0; i < 3; i++) {
        lk_apikey_release(&a[i]);
        lk_secret_free(v[i]);
    }
    lk_apikey_release(&n1);
    lk_secret_free(w1);
}

/* Issue 19, finding 3: a key that revoke --user disabled is not handed out
 * again by a rotation, unless forced; an explicit enable ends the revoke. */
static void rotation_after_revoke_needs_force(void **state)
{
    fixture *f = *state;
    lk_access_key k, k2, k3;
    lk_secret *s, *s2 = NULL, *v, *v2 = NULL;
    lk_apikey a, b;
    lk_audit_entry *e;
    assert_int_equal(lk_user_add(f->ctx, 100001, LK_USER_ROOT, 0), LK_OK);
    assert_int_equal(lk_key_create(f->ctx, 100001, &k, &s), LK_OK);
    lk_apikey_spec spec = {.name = "x"};
    assert_int_equal(lk_apikey_create(f->ctx, 100001, &spec, &a, &v), LK_OK);
    assert_int_equal(lk_revoke_user(f->ctx, 100001, NULL), LK_OK);
    lk_rotate_opts o = {.grace_seconds = 60};
    assert_int_equal(lk_key_rotate_with(f->ctx, k.secret_id, 0, &o, &k2, &s2), LK_ERR_PARAM);
    assert_non_null(strstr(lk_errmsg(f->ctx), "revoke --user"));
    assert_null(s2);
    assert_int_equal(lk_key_rotate(f->ctx, k.secret_id, 0, 60, 0, &k2, &s2), LK_ERR_PARAM);
    assert_int_equal(lk_apikey_reroll_with(f->ctx, a.id, &o, &b, &v2), LK_ERR_PARAM);
    assert_int_equal(lk_apikey_reroll(f->ctx, a.id, 60, 0, &b, &v2), LK_ERR_PARAM);
    assert_null(v2);
    o.force = 1;
    assert_int_equal(lk_apikey_reroll_with(f->ctx, a.id, &o, &b, &v2), LK_OK);
    assert_int_equal(verify_api(f, v2), LK_OK);
    assert_int_equal(audit_count_action(f, a.id, "apikey.reroll", &e), 1);
    assert_non_null(strstr(e[0].fields, "rerolled although revoked (--force)"));
    lk_free(e);
    /* an enable by hand ends the revoke: rotating needs no force then */
    assert_int_equal(lk_key_set_status(f->ctx, k.secret_id, 0, LK_KEY_ACTIVE), LK_OK);
    o.force = 0;
    assert_int_equal(lk_key_rotate_with(f->ctx, k.secret_id, 0, &o, &k2, &s2), LK_OK);
    assert_int_equal(verify(f, k2.secret_id, s2), LK_OK);
    /* revoked again, a rotation of the new pair is refused too (and the old pair's) */
    assert_int_equal(lk_revoke_user(f->ctx, 100001, NULL), LK_OK);
    lk_secret *s3 = NULL;
    assert_int_equal(lk_key_rotate_with(f->ctx, k2.secret_id, 0, &o, &k3, &s3), LK_ERR_PARAM);
    assert_null(s3);
    lk_apikey_release(&a);
    lk_apikey_release(&b);
    lk_secret_free(s);
    lk_secret_free(s2);
    lk_secret_free(v);
    lk_secret_free(v2);
}

/* Issue 23 (with finding 3): a rotation keeps the old key's expiry unless
 * told otherwise; an old key already expired needs an expiry of its own. */
static void rotation_carries_expiry(void **state)
{
    fixture *f = *state;
    lk_access_key k, k2;
    lk_secret *s, *s2 = NULL, *v, *v2 = NULL;
    lk_apikey a, b;
    assert_int_equal(lk_user_add(f->ctx, 100001, LK_USER_ROOT, 0), LK_OK);
    reopen_with(f, "limits.keys_per_user", "5");
    assert_int_equal(lk_key_create_expiring(f->ctx, 100001, T0 + 30 * 86400, &k, &s), LK_OK);
    lk_rotate_opts keep = {.grace_seconds = 3600};
    assert_int_equal(lk_key_rotate_with(f->ctx, k.secret_id, 0, &keep, &k2, &s2), LK_OK);
    assert_true(k2.expire_time == T0 + 30 * 86400);
    lk_secret_free(s2);
    s2 = NULL;
    lk_rotate_opts never = {.grace_seconds = 3600, .set_expiry = 1, .expire_time = LK_EXPIRES_NEVER};
    assert_int_equal(lk_key_rotate_with(f->ctx, k2.secret_id, 0, &never, &k, &s2), LK_OK);
    assert_true(k.expire_time == LK_EXPIRES_NEVER);
    lk_secret_free(s2);
    s2 = NULL;
    lk_apikey_spec spec = {.name = "x", .expire_time = T0 + 600};
    assert_int_equal(lk_apikey_create(f->ctx, 100001, &spec, &a, &v), LK_OK);
    assert_int_equal(lk_apikey_reroll_with(f->ctx, a.id, &keep, &b, &v2), LK_OK);
    assert_true(b.expire_time == T0 + 600);
    lk_secret_free(v2);
    v2 = NULL;
    /* expired: the new key must get an expiry of its own */
    f->now = T0 + 600;
    lk_apikey c;
    assert_int_equal(lk_apikey_reroll_with(f->ctx, b.id, &keep, &c, &v2), LK_ERR_PARAM);
    assert_non_null(strstr(lk_errmsg(f->ctx), "expired at"));
    lk_rotate_opts later = {.grace_seconds = 60, .set_expiry = 1, .expire_time = T0 + 7200};
    assert_int_equal(lk_apikey_reroll_with(f->ctx, b.id, &later, &c, &v2), LK_OK);
    assert_true(c.expire_time == T0 + 7200);
    lk_apikey_release(&c);
    lk_apikey_release(&a);
    lk_apikey_release(&b);
    lk_secret_free(s);
    lk_secret_free(v);
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
    assert_int_equal(verify(f, k2.secret_id, s2), LK_DENY_BAD_SECRET); /* the record: disabled */
    assert_int_equal(last_result(f, k2.secret_id), LK_DENY_DISABLED);
    assert_int_equal(verify(f, k1.secret_id, s1), LK_OK);
    /* the root: its keys, its API keys, its members' (already off) */
    assert_int_equal(lk_revoke_user(f->ctx, 100001, &n), LK_OK);
    assert_int_equal(n, 2);
    assert_int_equal(verify(f, k1.secret_id, s1), LK_DENY_BAD_SECRET);
    assert_int_equal(last_result(f, k1.secret_id), LK_DENY_DISABLED);
    assert_int_equal(verify_api(f, v), LK_DENY_BAD_SECRET);
    assert_int_equal(last_result(f, a.id), LK_DENY_DISABLED);
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
    for (int i = 0; i < 5; i++) /* refused for scope (answered as a wrong secret): never counted */
        assert_int_equal(lk_verify_apikey(f->ctx, lk_secret_str(v), lk_secret_len(v), &scoped, NULL),
                         LK_DENY_BAD_SECRET);
    assert_int_equal(last_result(f, a.id), LK_DENY_SCOPE);
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
    /* what changed, in words (issue 23), and where */
    char host[LK_AUDIT_HOST_MAX + 1] = "";
    assert_int_equal(gethostname(host, sizeof host - 1), 0);
    assert_string_equal(e[0].host, host);
    assert_string_equal(e[0].fields, "kind root; root account 100001; login alice");
    assert_string_equal(e[2].fields, "login none \u2192 bob");
    assert_string_equal(e[3].fields, "expiry 2027-01-15 09:00:00 +0000");
    assert_string_equal(e[6].fields, "expiry 2027-01-15 09:00:00 +0000 \u2192 never");
    assert_string_equal(e[10].fields, "description '' \u2192 'build bot'");
    assert_string_equal(e[11].fields, "expiry never \u2192 2027-01-15 08:01:39 +0000");
    assert_string_equal(e[1].reason, "");
    assert_string_equal(e[4].target, k.secret_id);
    assert_true(e[4].uin == 200001);
    assert_string_equal(e[4].fields, "status Active \u2192 Inactive");
    assert_non_null(strstr(e[7].fields, k2.secret_id)); /* rotate names the new pair */
    assert_string_equal(e[9].fields, "name 'ci'; scope all; IP allowlist any; expiry never; rate limit none");
    assert_non_null(strstr(e[12].fields, b.id));
    assert_string_equal(e[16].reason, "leaked");
    assert_string_equal(e[16].fields, "disabled 3 key(s); members 1"); /* k, k2 and b */
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
    /* nor a secret in it, which everyone reading the log would read; a SecretId names a key */
    char why[LK_AUDIT_TEXT_MAX + 1];
    snprintf(why, sizeof why, "leaked: %s", lk_secret_str(s));
    assert_int_equal(lk_audit_reason(why), LK_ERR_PARAM);
    assert_null(strstr(lk_errmsg(NULL), lk_secret_str(s)));
    snprintf(why, sizeof why, "pasted in CI:%s.", lk_secret_str(v));
    assert_int_equal(lk_audit_reason(why), LK_ERR_PARAM);
    snprintf(why, sizeof why, "leaked: %s (API key %s)", k.secret_id, a.id);
    assert_int_equal(lk_audit_reason(why), LK_OK);
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
    assert_string_equal(e[1].fields, "description '' \u2192 'build bot'; scope all \u2192 svc; expiry never \u2192 "
                                     "2027-01-15 08:08:20 +0000; rate limit none \u2192 10/1m");
    lk_free(e);
    /* one bad part refuses the whole edit, whichever part it is */
    lk_apikey_edit refused[] = {
        {.description = "changed", .set_expiry = 1, .expire_time = -1},
        {.description = "changed", .set_rate_limit = 1, .rate_limit = 5, .rate_window_s = 0},
        {.set_expiry = 1, .expire_time = 0, .set_scope = 1, .scope = bad_svc, .scope_count = 1},
        {.set_rate_limit = 1, .rate_limit = 0, .rate_window_s = 0, .description = "bad\x01text"},
        /* a status change with a bad part: the key stays Active (ModifyApiKey's edit and Status) */
        {.set_status = 1, .status = LK_KEY_INACTIVE, .set_scope = 1, .scope = bad_svc, .scope_count = 1},
        {.set_status = 1, .status = (lk_key_status)7, .description = "changed"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        assert_int_equal(lk_apikey_edit_key(f->ctx, a.id, &refused[i]), LK_ERR_PARAM);
    assert_int_equal(lk_apikey_get(f->ctx, a.id, &got), LK_OK);
    assert_string_equal(got.description, "build bot");
    assert_true(got.scope_count == 1 && strcmp(got.scope[0], "svc") == 0);
    assert_true(got.expire_time == T0 + 500 && got.rate_limit == 10 && got.rate_window_s == 60);
    assert_int_equal(got.status, LK_KEY_ACTIVE);
    lk_apikey_release(&got);
    assert_int_equal(audit_count(f, a.id, 0, &e), 2);
    lk_free(e);
    /* an edit and a disable in one change, one entry */
    lk_apikey_edit both = {.description = "retired", .set_status = 1, .status = LK_KEY_INACTIVE};
    assert_int_equal(lk_apikey_edit_key(f->ctx, a.id, &both), LK_OK);
    assert_int_equal(lk_apikey_get(f->ctx, a.id, &got), LK_OK);
    assert_string_equal(got.description, "retired");
    assert_int_equal(got.status, LK_KEY_INACTIVE);
    lk_apikey_release(&got);
    assert_int_equal(audit_count(f, a.id, 0, &e), 3);
    lk_free(e);
    lk_apikey_release(&a);
    lk_secret_free(v);
}

/* n changes (root users first, first + 1, ...), each step seconds after the last. */
static void changes_every(fixture *f, uint64_t first, int n, int64_t step)
{
    for (int i = 0; i < n; i++) {
        f->now += step;
        assert_int_equal(lk_user_add(f->ctx, first + (uint64_t)i, LK_USER_ROOT, 0), LK_OK);
    }
}

static void audit_retention(void **state)
{
    fixture *f = *state;
    lk_audit_entry *e;
    size_t n;
    reopen_with(f, "audit.retention_days", "2");
    assert_int_equal(lk_user_add(f->ctx, 1, LK_USER_ROOT, 0), LK_OK);
    changes_every(f, 100, 16, 3 * 3600); /* a busy store: the audit clock follows it */
    assert_int_equal(lk_audit_list(f->ctx, 0, NULL, 0, &e, &n), LK_OK);
    assert_int_equal(n, 17); /* the first is now 2 days old: kept */
    lk_free(e);
    f->now += 1; /* and now older than 2 days */
    assert_int_equal(lk_user_add(f->ctx, 200, LK_USER_ROOT, 0), LK_OK);
    assert_int_equal(lk_audit_list(f->ctx, 0, NULL, 0, &e, &n), LK_OK);
    assert_int_equal(n, 17);
    assert_string_equal(e[0].target, "100");
    assert_string_equal(e[16].target, "200");
    lk_free(e);
    assert_int_equal(lk_config_set(f->cfg, "audit.retention_days", "0"), LK_ERR_CONFIG);
}

/* Issue 19, finding 9: an entry was cut at 256 bytes (allowlists, expiry
 * and limits lost), and an edit of the description recorded none. */
static void audit_records_fields_in_full(void **state)
{
    fixture *f = *state;
    lk_apikey a;
    lk_secret *v;
    lk_audit_entry *e;
    static char svc[LK_SCOPE_MAX][LK_SERVICE_MAX + 1], ip[LK_ALLOW_IP_MAX][48];
    const char *scope[LK_SCOPE_MAX], *ips[LK_ALLOW_IP_MAX];
    for (int i = 0; i < LK_SCOPE_MAX; i++) {
        snprintf(svc[i], sizeof svc[i], "service-%02d-%.*s", i, LK_SERVICE_MAX - 11,
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        scope[i] = svc[i];
    }
    for (int i = 0; i < LK_ALLOW_IP_MAX; i++) {
        snprintf(ip[i], sizeof ip[i], "2001:db8:%x:ffff:ffff:ffff:ffff:0/112", i + 1);
        ips[i] = ip[i];
    }
    char desc[LK_DESC_MAX + 1];
    memset(desc, 'd', LK_DESC_MAX);
    desc[LK_DESC_MAX] = '\0';
    assert_int_equal(lk_user_add(f->ctx, 100001, LK_USER_ROOT, 0), LK_OK);
    lk_apikey_spec spec = {.name = "full", .description = desc, .scope = scope, .scope_count = LK_SCOPE_MAX,
                           .allow_ip = ips, .allow_ip_count = LK_ALLOW_IP_MAX, .expire_time = T0 + 99,
                           .rate_limit = 7, .rate_window_s = 60};
    assert_int_equal(lk_apikey_create(f->ctx, 100001, &spec, &a, &v), LK_OK);
    assert_int_equal(audit_count_action(f, a.id, "apikey.create", &e), 1);
    assert_true(strlen(e[0].fields) > 6000);
    assert_non_null(strstr(e[0].fields, svc[LK_SCOPE_MAX - 1]));
    assert_non_null(strstr(e[0].fields, "2001:db8:32:ffff:ffff:ffff:ffff:0/112"));
    assert_non_null(strstr(e[0].fields, desc));
    assert_non_null(strstr(e[0].fields, "expiry 2027-01-15 08:01:39 +0000"));
    assert_non_null(strstr(e[0].fields, "rate limit 7/1m"));
    lk_free(e);
    lk_apikey_edit ed = {.description = "build bot"};
    assert_int_equal(lk_apikey_edit_key(f->ctx, a.id, &ed), LK_OK);
    assert_int_equal(audit_count_action(f, a.id, "apikey.edit", &e), 1);
    assert_non_null(strstr(e[0].fields, "\u2192 'build bot'"));
    lk_free(e);
    lk_apikey_release(&a);
    lk_secret_free(v);
}

/* Issue 19, finding 9: one change from a host whose clock ran 400 days
 * ahead pruned up to 64 entries. The audit clock may run at most a day past
 * the oldest of the 8 newest entries: such a host drops nothing early
 * unless it makes 8 changes in a row, and one change with the right time
 * in between resets it. */
static void audit_clock_skew_prunes_nothing(void **state)
{
    fixture *f = *state;
    lk_audit_entry *e;
    size_t n;
    assert_int_equal(lk_user_add(f->ctx, 1000, LK_USER_ROOT, 0), LK_OK);
    changes_every(f, 1001, 99, 3 * 86400); /* an entry every 3 days: all within the year kept */
    int64_t honest = f->now + 3 * 86400;
    f->now = honest + 400 * 86400;
    assert_int_equal(lk_user_add(f->ctx, 2000, LK_USER_ROOT, 0), LK_OK);
    assert_int_equal(lk_audit_list(f->ctx, 0, NULL, 0, &e, &n), LK_OK);
    assert_int_equal(n, 101);
    lk_free(e);
    for (int i = 1; i < 8; i++) /* the same host, 8 changes in a row: still nothing */
        assert_int_equal(lk_user_add(f->ctx, (uint64_t)(2000 + i), LK_USER_ROOT, 0), LK_OK);
    f->now = honest + 60; /* the right time again */
    assert_int_equal(lk_user_add(f->ctx, 2100, LK_USER_ROOT, 0), LK_OK);
    assert_int_equal(lk_audit_list(f->ctx, 0, NULL, 0, &e, &n), LK_OK);
    assert_int_equal(n, 109);
    assert_string_equal(e[0].target, "1000");
    lk_free(e);
    /* retention still works on the right time: 75 days later (a change
     * every 3 hours) the entries of the first 12 days are older than a year */
    changes_every(f, 3000, 600, 3 * 3600);
    assert_int_equal(lk_audit_list(f->ctx, 0, NULL, 0, &e, &n), LK_OK);
    for (size_t i = 0; i < n; i++)
        assert_true(e[i].time >= f->now - 365 * 86400);
    assert_true(e[0].time == T0 + 12 * 86400);
    lk_free(e);
}

/* Issue 19, finding 9: store copy --replace erased the target's audit log
 * and wrote no entry of its own. */
static void store_copy_keeps_and_records(void **state)
{
    fixture *f = *state;
    lk_config *src;
    lk_ctx *sctx;
    lk_audit_entry *e;
    size_t n, copied;
    char path[160];
    if (strcmp(backend_for_group, "postgresql") == 0)
        skip(); /* one database per run: tests/e2e/copy.sh covers PostgreSQL targets */
    snprintf(path, sizeof path, "%s/source", f->dir);
    assert_int_equal(lk_config_default(&src), LK_OK);
    assert_int_equal(lk_config_set(src, "store.backend", backend_for_group), LK_OK);
    assert_int_equal(lk_config_set(src, "store.path", path), LK_OK);
    assert_int_equal(lk_store_create(src), LK_OK);
    assert_int_equal(lk_open_config(src, &sctx), LK_OK);
    lk_set_clock(sctx, fake_clock, &f->now);
    assert_int_equal(lk_user_add(sctx, 7, LK_USER_ROOT, 0), LK_OK); /* the same second as the target's */
    lk_close(sctx);
    assert_int_equal(lk_user_add(f->ctx, 1, LK_USER_ROOT, 0), LK_OK);
    assert_int_equal(lk_user_add(f->ctx, 2, LK_USER_ROOT, 0), LK_OK);
    lk_close(f->ctx);
    assert_int_equal(lk_store_copy(src, f->cfg, 0, &copied), LK_ERR_PARAM);
    assert_int_equal(lk_store_copy(src, f->cfg, 1, &copied), LK_OK);
    assert_int_equal(lk_open_config(f->cfg, &f->ctx), LK_OK);
    lk_set_clock(f->ctx, fake_clock, &f->now);
    lk_user u;
    assert_int_equal(lk_user_get(f->ctx, 1, &u), LK_ERR_USER_NOT_EXIST); /* replaced */
    assert_int_equal(lk_user_get(f->ctx, 7, &u), LK_OK);
    assert_int_equal(lk_audit_list(f->ctx, 0, NULL, 0, &e, &n), LK_OK);
    assert_int_equal(n, 4); /* the target's two, the source's one (same second), the copy (real clock) */
    const char *order[3];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(e[i].action, "store.copy") == 0) {
            char from[256];
            snprintf(from, sizeof from, "from %s %s to %s ", backend_for_group, path, backend_for_group);
            assert_non_null(strstr(e[i].fields, from));
            /* one counting for the tool and the audit: access records are attempts, as the tool prints them */
            assert_non_null(
                strstr(e[i].fields, ": 1 user(s), 0 access key(s), 0 API key(s), 0 access record(s), 1 audit entries"));
            assert_non_null(strstr(e[i].fields, "of the target (2 user(s), 0 access key(s), 0 API key(s)), whose 2 "
                                                "audit entries were kept"));
        } else if (k < 3) {
            order[k++] = e[i].target;
        }
    }
    assert_int_equal(k, 3);
    assert_string_equal(order[0], "1");
    assert_string_equal(order[1], "2");
    assert_string_equal(order[2], "7");
    lk_free(e);
    /* and the log goes on */
    assert_int_equal(lk_user_add(f->ctx, 3, LK_USER_ROOT, 0), LK_OK);
    assert_int_equal(lk_audit_list(f->ctx, 0, NULL, 0, &e, &n), LK_OK);
    assert_int_equal(n, 5);
    lk_free(e);
    lk_config_free(src);
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
        T(reroll_is_bounded),
        T(rotation_after_revoke_needs_force),
        T(rotation_carries_expiry),
        T(expiring_lists_soonest_first),
        T(revoke_disables_account_and_members),
        T(scanner_finds_real_ones_only),
        T(every_change_is_audited),
        T(apikey_edit_is_one_change),
        T(audit_retention),
        T(audit_records_fields_in_full),
        T(audit_clock_skew_prunes_nothing),
        T(store_copy_keeps_and_records),
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
