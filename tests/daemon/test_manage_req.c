/*
 * test_manage_req.c — the management API's request reading
 * (daemon/manage_req.c) without a server: bodies, queries, every action's
 * parameters with the exact code for each mistake, the caller's credential
 * from Authorization, and the per-caller request limits on an injected clock.
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
#include "manage_req.h"

#define ID "AKIDabcdefghijklmnopqrstuvwxyz012345" /* 36 characters */
#define SK "LKSKabcdefghijklmnopqrstuvwxyz0123456789abcdef"

static char msg[LKM_MSG_MAX];

/* Decode a POST: body text, action, version. */
static enum lkm_err post(const char *action, const char *version, const char *body, struct lkm_req *r,
                         json_object **params)
{
    enum lkm_err e = lkm_parse_body(body, strlen(body), params, msg, sizeof msg);
    if (e != LKM_OK)
        return e;
    return lkm_decode(action, version, *params, r, msg, sizeof msg);
}

static void expect(const char *action, const char *version, const char *body, enum lkm_err want, const char *in_msg)
{
    struct lkm_req r;
    json_object *p = NULL;
    enum lkm_err e = post(action, version, body, &r, &p);
    if (e != want || (in_msg && strstr(msg, in_msg) == NULL))
        fail_msg("%s %s: got %s '%s', want %s '%s'", action, body, lkm_err_code(e), msg, lkm_err_code(want),
                 in_msg ? in_msg : "");
    json_object_put(p);
}

static void test_bodies(void **state)
{
    (void)state;
    expect("ListAccessKeys", LKM_VERSION_CAM, "{}", LKM_OK, NULL);
    expect("ListAccessKeys", LKM_VERSION_CAM, " {} \n", LKM_OK, NULL);
    expect("ListAccessKeys", LKM_VERSION_CAM, "", LKM_PARAM_ERROR, "empty");
    expect("ListAccessKeys", LKM_VERSION_CAM, "[]", LKM_PARAM_ERROR, "JSON object");
    expect("ListAccessKeys", LKM_VERSION_CAM, "{} {}", LKM_PARAM_ERROR, "not one JSON object");
    expect("ListAccessKeys", LKM_VERSION_CAM, "{\"TargetUin\":", LKM_PARAM_ERROR, "not one JSON object");
    expect("ListAccessKeys", LKM_VERSION_CAM, "{'a':1}", LKM_PARAM_ERROR, NULL);
    expect("ListAccessKeys", LKM_VERSION_CAM, "{\"a\":[[[[[[[[[[1]]]]]]]]]]}", LKM_PARAM_ERROR, "not one JSON");
    /* a NUL inside the body */
    json_object *p = NULL;
    assert_int_equal(lkm_parse_body("{}\0", 3, &p, msg, sizeof msg), LKM_PARAM_ERROR);
    assert_null(p);
}

static void test_actions_and_versions(void **state)
{
    (void)state;
    expect(NULL, LKM_VERSION_CAM, "{}", LKM_MISSING_PARAM, "X-TC-Action");
    expect("", LKM_VERSION_CAM, "{}", LKM_MISSING_PARAM, "X-TC-Action");
    expect("DropStore", LKM_VERSION_CAM, "{}", LKM_INVALID_ACTION, "'DropStore' does not exist");
    expect("listaccesskeys", LKM_VERSION_CAM, "{}", LKM_INVALID_ACTION, NULL);
    expect("ListAccessKeys", NULL, "{}", LKM_MISSING_PARAM, "2019-01-16");
    expect("ListAccessKeys", "2017-03-12", "{}", LKM_INVALID_ACTION, "it is in 2019-01-16");
    expect("CreateApiKey", LKM_VERSION_CAM, "{\"Name\":\"a\"}", LKM_INVALID_ACTION, "it is in " LKM_VERSION_APIKEY);
    /* the key console's actions (issue 21) */
    expect("ListUsers", LKM_VERSION_CAM, "{}", LKM_OK, NULL);
    expect("ListUsers", LKM_VERSION_CAM, "{\"TargetUin\":100}", LKM_OK, NULL);
    expect("ListUsers", LKM_VERSION_CAM, "{\"Login\":\"x\"}", LKM_PARAM_ERROR, "Login");
    expect("DescribeAuditEvents", LKM_VERSION_APIKEY, "{}", LKM_OK, NULL);
    expect("DescribeAuditEvents", LKM_VERSION_APIKEY, "{\"TargetUin\":101,\"AccessKeyId\":\"" ID "\"}", LKM_OK,
           NULL);
    expect("DescribeAuditEvents", LKM_VERSION_CAM, "{}", LKM_INVALID_ACTION, "it is in " LKM_VERSION_APIKEY);
    expect("DescribeAuditEvents", LKM_VERSION_APIKEY, "{\"Since\":1}", LKM_PARAM_ERROR, "Since");
    /* a member's self-service grant (UpdateUser): both parameters, the library's names only */
    struct lkm_req r;
    json_object *p = NULL;
    assert_int_equal(post("UpdateUser", LKM_VERSION_CAM, "{\"TargetUin\":101,\"SelfService\":\"read\"}", &r, &p),
                     LKM_OK);
    assert_int_equal(r.action, LK_ACT_USER_UPDATE);
    assert_int_equal(r.target_uin, 101);
    assert_int_equal(r.self_service, LK_SELF_READ);
    assert_true(lkm_action_writes(r.action)); /* the 5/s class */
    json_object_put(p);
    expect("UpdateUser", LKM_VERSION_CAM, "{\"TargetUin\":101,\"SelfService\":\"none\"}", LKM_OK, NULL);
    expect("UpdateUser", LKM_VERSION_CAM, "{\"TargetUin\":101,\"SelfService\":\"manage\"}", LKM_OK, NULL);
    expect("UpdateUser", LKM_VERSION_CAM, "{\"SelfService\":\"read\"}", LKM_MISSING_PARAM, "needs TargetUin");
    expect("UpdateUser", LKM_VERSION_CAM, "{\"TargetUin\":101}", LKM_MISSING_PARAM, "needs SelfService");
    expect("UpdateUser", LKM_VERSION_CAM, "{\"TargetUin\":101,\"SelfService\":\"Manage\"}", LKM_PARAM_ERROR,
           "SelfService must be \"none\", \"read\" or \"manage\"");
    expect("UpdateUser", LKM_VERSION_CAM, "{\"TargetUin\":101,\"SelfService\":2}", LKM_PARAM_ERROR, "SelfService");
    expect("UpdateUser", LKM_VERSION_CAM, "{\"TargetUin\":101,\"SelfService\":\"\"}", LKM_PARAM_ERROR,
           "SelfService");
    expect("UpdateUser", LKM_VERSION_CAM, "{\"TargetUin\":101,\"SelfService\":\"read\",\"Login\":\"x\"}",
           LKM_PARAM_ERROR, "no parameter 'Login'");
    expect("UpdateUser", LKM_VERSION_APIKEY, "{}", LKM_INVALID_ACTION, "it is in 2019-01-16");
    expect("ListAccessKeys", LKM_VERSION_CAM, "{\"SelfService\":\"read\"}", LKM_PARAM_ERROR, "no parameter");
    /* unprintable action names are not echoed */
    expect("Drop\x01\x7f", LKM_VERSION_CAM, "{}", LKM_INVALID_ACTION, "'Drop?" "?'");
}

static void test_params(void **state)
{
    (void)state;
    struct lkm_req r;
    json_object *p = NULL;
    assert_int_equal(post("ListAccessKeys", LKM_VERSION_CAM, "{\"TargetUin\":100,\"Region\":\"ap-guangzhou\"}", &r, &p),
                     LKM_OK);
    assert_int_equal(r.action, LK_ACT_KEY_LIST);
    assert_int_equal(r.target_uin, 100);
    json_object_put(p);
    /* strictness: a mistyped name must not act on the caller itself */
    expect("ListAccessKeys", LKM_VERSION_CAM, "{\"TargetUIN\":100}", LKM_PARAM_ERROR, "no parameter 'TargetUIN'");
    expect("ListAccessKeys", LKM_VERSION_CAM, "{\"ApiKeyId\":\"lk-abcdefghijkl\"}", LKM_PARAM_ERROR, "no parameter");
    expect("ListAccessKeys", LKM_VERSION_CAM, "{\"TargetUin\":0}", LKM_PARAM_ERROR, "TargetUin");
    expect("ListAccessKeys", LKM_VERSION_CAM, "{\"TargetUin\":-5}", LKM_PARAM_ERROR, "TargetUin");
    expect("ListAccessKeys", LKM_VERSION_CAM, "{\"TargetUin\":1.5}", LKM_PARAM_ERROR, "TargetUin");
    expect("ListAccessKeys", LKM_VERSION_CAM, "{\"TargetUin\":9223372036854775808}", LKM_PARAM_ERROR, "TargetUin");
    expect("ListAccessKeys", LKM_VERSION_CAM, "{\"TargetUin\":null}", LKM_PARAM_ERROR, "null");
    expect("ListAccessKeys", LKM_VERSION_CAM, "{\"TargetUin\":\"0100\"}", LKM_PARAM_ERROR, "TargetUin");
    expect("UpdateAccessKey", LKM_VERSION_CAM, "{\"AccessKeyId\":\"" ID "\"}", LKM_MISSING_PARAM, "needs Status");
    expect("UpdateAccessKey", LKM_VERSION_CAM, "{\"Status\":\"Active\"}", LKM_MISSING_PARAM, "needs AccessKeyId");
    expect("UpdateAccessKey", LKM_VERSION_CAM, "{\"AccessKeyId\":\"" ID "\",\"Status\":\"active\"}", LKM_PARAM_ERROR,
           "Active");
    expect("UpdateAccessKey", LKM_VERSION_CAM, "{\"AccessKeyId\":\"" ID "x\",\"Status\":\"Active\"}", LKM_PARAM_ERROR,
           "AccessKeyId");
    assert_int_equal(post("UpdateAccessKey", LKM_VERSION_CAM, "{\"AccessKeyId\":\"" ID "\",\"Status\":\"Inactive\"}",
                          &r, &p),
                     LKM_OK);
    assert_int_equal(r.status, LK_KEY_INACTIVE);
    assert_string_equal(r.access_key_id, ID);
    json_object_put(p);
    expect("GetSecurityLastUsed", LKM_VERSION_CAM, "{\"SecretIdList\":[]}", LKM_PARAM_ERROR, "1..10");
    expect("GetSecurityLastUsed", LKM_VERSION_CAM, "{\"SecretIdList\":\"" ID "\"}", LKM_PARAM_ERROR, "list");
    expect("GetSecurityLastUsed", LKM_VERSION_CAM, "{\"SecretIdList\":[1]}", LKM_PARAM_ERROR, "string");
    expect("GetSecurityLastUsed", LKM_VERSION_CAM,
           "{\"SecretIdList\":[\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\"]}", LKM_PARAM_ERROR,
           "at most 10");
    /* API keys */
    assert_int_equal(post("CreateApiKey", LKM_VERSION_APIKEY,
                          "{\"Name\":\"ci\",\"Scope\":[\"all\"],\"IpAllowlist\":[\"10.0.0.0/8\"],"
                          "\"ExpireTime\":\"2030-01-02 03:04:05\",\"RateLimit\":100}",
                          &r, &p),
                     LKM_OK);
    assert_int_equal(r.nscope, 0);
    assert_true(r.has_scope);
    assert_int_equal(r.nallow_ip, 1);
    assert_int_equal(r.expire_time, 1893553445);
    assert_int_equal(r.rate_limit, 100);
    assert_int_equal(r.rate_window_s, 1);
    json_object_put(p);
    expect("CreateApiKey", LKM_VERSION_APIKEY, "{}", LKM_MISSING_PARAM, "needs Name");
    expect("CreateApiKey", LKM_VERSION_APIKEY, "{\"Name\":\"a\",\"ExpireTime\":\"2030-02-30 00:00:00\"}",
           LKM_PARAM_ERROR, "ExpireTime");
    expect("CreateApiKey", LKM_VERSION_APIKEY, "{\"Name\":\"a\",\"RateWindowSeconds\":5}", LKM_PARAM_ERROR,
           "without RateLimit");
    expect("ModifyApiKey", LKM_VERSION_APIKEY, "{\"ApiKeyId\":\"lk-abcdefghijkl\",\"Name\":\"b\"}", LKM_PARAM_ERROR,
           "Name cannot change");
    expect("ModifyApiKey", LKM_VERSION_APIKEY, "{\"ApiKeyId\":\"lk-abcdefghijkl\",\"ApiKey\":\"x\"}",
           LKM_PARAM_ERROR, "no parameter 'ApiKey'");
    expect("CreateApiKey", LKM_VERSION_APIKEY, "{\"Name\":\"a\\u0000b\"}", LKM_PARAM_ERROR, "Name");
}

/* latchkey's own actions and parameters beside Tencent's (the admin tool's commands through --endpoint) */
static void test_latchkey_actions(void **state)
{
    (void)state;
    struct lkm_req r;
    json_object *p = NULL;
    /* ListAccessKeys by AccessKeyId (key show); DescribeApiKeys by ApiKeyId or Name (apikey show) */
    assert_int_equal(post("ListAccessKeys", LKM_VERSION_CAM, "{\"AccessKeyId\":\"" ID "\"}", &r, &p), LKM_OK);
    assert_string_equal(r.access_key_id, ID);
    assert_int_equal(r.target_uin, 0);
    json_object_put(p);
    expect("DescribeApiKeys", LKM_VERSION_APIKEY, "{\"ApiKeyId\":\"lk-abcdefghijkl\"}", LKM_OK, NULL);
    expect("DescribeApiKeys", LKM_VERSION_APIKEY, "{\"Name\":\"ci\"}", LKM_OK, NULL);
    expect("DescribeApiKeys", LKM_VERSION_APIKEY, "{\"Name\":\"\"}", LKM_PARAM_ERROR, "Name");
    /* ModifyAccessKey: an expiry (key edit), a change */
    assert_int_equal(post("ModifyAccessKey", LKM_VERSION_CAM, "{\"AccessKeyId\":\"" ID "\",\"ExpireTime\":0}", &r, &p),
                     LKM_OK);
    assert_int_equal(r.action, LK_ACT_KEY_UPDATE);
    assert_int_equal(r.op, LKM_OP_KEY_SET_EXPIRY);
    assert_true(r.has_expire);
    assert_int_equal(r.expire_time, 0);
    assert_int_equal(r.status, -1);
    json_object_put(p);
    expect("ModifyAccessKey", LKM_VERSION_CAM, "{\"AccessKeyId\":\"" ID "\"}", LKM_MISSING_PARAM, "needs ExpireTime");
    expect("ModifyAccessKey", LKM_VERSION_CAM, "{\"ExpireTime\":0}", LKM_MISSING_PARAM, "needs AccessKeyId");
    expect("ModifyAccessKey", LKM_VERSION_CAM, "{\"AccessKeyId\":\"" ID "\",\"ExpireTime\":0,\"Status\":\"Active\"}",
           LKM_PARAM_ERROR, "no parameter 'Status'");
    expect("UpdateAccessKey", LKM_VERSION_CAM, "{\"AccessKeyId\":\"" ID "\",\"Status\":\"Active\",\"ExpireTime\":0}",
           LKM_PARAM_ERROR, "no parameter 'ExpireTime'");
    /* RotateAccessKey (key rotate) and RerollApiKey (apikey reroll): creates */
    assert_int_equal(post("RotateAccessKey", LKM_VERSION_CAM,
                          "{\"AccessKeyId\":\"" ID "\",\"GraceSeconds\":3600,\"Force\":true,\"ExpireTime\":\"2030-01-02 03:04:05\"}",
                          &r, &p),
                     LKM_OK);
    assert_int_equal(r.action, LK_ACT_KEY_CREATE);
    assert_int_equal(r.op, LKM_OP_KEY_ROTATE); /* decided as a create, served as a rotation */
    assert_true(r.has_grace && r.force && r.has_expire);
    assert_int_equal(r.grace_s, 3600);
    assert_int_equal(r.expire_time, 1893553445);
    json_object_put(p);
    expect("RotateAccessKey", LKM_VERSION_CAM, "{\"AccessKeyId\":\"" ID "\"}", LKM_MISSING_PARAM, "needs GraceSeconds");
    expect("RotateAccessKey", LKM_VERSION_CAM, "{\"AccessKeyId\":\"" ID "\",\"GraceSeconds\":315360001}",
           LKM_PARAM_ERROR, "GraceSeconds must be an integer 0..315360000");
    expect("RotateAccessKey", LKM_VERSION_CAM, "{\"AccessKeyId\":\"" ID "\",\"GraceSeconds\":1,\"Force\":1}",
           LKM_PARAM_ERROR, "Force must be true or false");
    expect("RotateAccessKey", LKM_VERSION_APIKEY, "{}", LKM_INVALID_ACTION, "it is in 2019-01-16");
    assert_int_equal(post("RerollApiKey", LKM_VERSION_APIKEY, "{\"ApiKeyId\":\"lk-abcdefghijkl\",\"GraceSeconds\":0}",
                          &r, &p),
                     LKM_OK);
    assert_int_equal(r.action, LK_ACT_APIKEY_CREATE);
    assert_int_equal(r.op, LKM_OP_APIKEY_REROLL);
    assert_false(r.force || r.has_expire);
    json_object_put(p);
    expect("RerollApiKey", LKM_VERSION_APIKEY, "{\"GraceSeconds\":0}", LKM_MISSING_PARAM, "needs ApiKeyId");
    /* CreateAccessKey with an expiry (key create --expires); ModifyApiKey's expiry and limit */
    assert_int_equal(post("CreateAccessKey", LKM_VERSION_CAM, "{\"ExpireTime\":1893553445}", &r, &p), LKM_OK);
    assert_int_equal(r.op, LKM_OP_KEY_CREATE);
    assert_int_equal(r.expire_time, 1893553445);
    json_object_put(p);
    assert_int_equal(post("ModifyApiKey", LKM_VERSION_APIKEY,
                          "{\"ApiKeyId\":\"lk-abcdefghijkl\",\"ExpireTime\":0,\"RateLimit\":0}", &r, &p),
                     LKM_OK);
    assert_true(r.has_expire && r.has_rate);
    assert_int_equal(r.rate_limit, 0);
    assert_int_equal(r.rate_window_s, 0);
    json_object_put(p);
    /* ListApiKeyRecords (records on an API key): the account's */
    assert_int_equal(post("ListApiKeyRecords", LKM_VERSION_APIKEY, "{\"ApiKeyId\":\"lk-abcdefghijkl\"}", &r, &p),
                     LKM_OK);
    assert_int_equal(r.action, LK_ACT_APIKEY_DESCRIBE);
    assert_int_equal(r.op, LKM_OP_APIKEY_RECORDS);
    assert_false(lkm_action_writes(r.action));
    json_object_put(p);
    expect("ListApiKeyRecords", LKM_VERSION_APIKEY, "{}", LKM_MISSING_PARAM, "needs ApiKeyId");
    /* Reason: on every change, never on a read */
    assert_int_equal(post("DeleteAccessKey", LKM_VERSION_CAM, "{\"AccessKeyId\":\"" ID "\",\"Reason\":\"leaked\"}", &r, &p),
                     LKM_OK);
    assert_string_equal(r.reason, "leaked");
    json_object_put(p);
    expect("UpdateUser", LKM_VERSION_CAM, "{\"TargetUin\":1,\"SelfService\":\"none\",\"Reason\":\"\"}", LKM_OK, NULL);
    expect("ListAccessKeys", LKM_VERSION_CAM, "{\"Reason\":\"x\"}", LKM_PARAM_ERROR, "no parameter 'Reason'");
    expect("ListApiKeyRecords", LKM_VERSION_APIKEY, "{\"ApiKeyId\":\"lk-abcdefghijkl\",\"Reason\":\"x\"}",
           LKM_PARAM_ERROR, "no parameter 'Reason'");
    expect("DeleteAccessKey", LKM_VERSION_CAM, "{\"AccessKeyId\":\"" ID "\",\"Reason\":7}", LKM_PARAM_ERROR,
           "Reason must be a string");
}

static void test_query(void **state)
{
    (void)state;
    struct lkm_req r;
    json_object *p = json_object_new_object();
    assert_int_equal(lkm_query_add(p, "Action", "GetSecurityLastUsed", msg, sizeof msg), LKM_OK);
    assert_int_equal(lkm_query_add(p, "SecretIdList.1", "b", msg, sizeof msg), LKM_OK);
    assert_int_equal(lkm_query_add(p, "SecretIdList.0", "a", msg, sizeof msg), LKM_OK);
    assert_int_equal(lkm_query_add(p, "TargetUin", "7", msg, sizeof msg), LKM_OK);
    assert_int_equal(lkm_query_add(p, "TargetUin", "8", msg, sizeof msg), LKM_PARAM_ERROR);
    assert_int_equal(lkm_query_add(p, "SecretIdList.0", "c", msg, sizeof msg), LKM_PARAM_ERROR);
    assert_int_equal(lkm_query_add(p, "SecretIdList.01", "c", msg, sizeof msg), LKM_PARAM_ERROR);
    assert_int_equal(lkm_query_add(p, "SecretIdList.100", "c", msg, sizeof msg), LKM_PARAM_ERROR);
    assert_int_equal(lkm_query_add(p, "TargetUin.0", "c", msg, sizeof msg), LKM_PARAM_ERROR);
    assert_int_equal(lkm_decode("GetSecurityLastUsed", LKM_VERSION_CAM, p, &r, msg, sizeof msg), LKM_OK);
    assert_int_equal(r.nids, 2);
    assert_string_equal(r.ids[0], "a");
    assert_string_equal(r.ids[1], "b");
    assert_int_equal(r.target_uin, 7);
    json_object_put(p);
    /* a gap in a list */
    p = json_object_new_object();
    assert_int_equal(lkm_query_add(p, "SecretIdList.1", "b", msg, sizeof msg), LKM_OK);
    assert_int_equal(lkm_decode("GetSecurityLastUsed", LKM_VERSION_CAM, p, &r, msg, sizeof msg), LKM_PARAM_ERROR);
    assert_non_null(strstr(msg, "entry 0 is missing"));
    json_object_put(p);
}

static enum lkm_cred_kind cred(const char *h, struct lkm_cred *c)
{
    static char buf[LKH_CRED_BUF];
    return lkm_credentials(h, buf, sizeof buf, c);
}

static void test_credentials(void **state)
{
    (void)state;
    struct lkm_cred c;
    char h[300], b64[200];
    assert_int_equal(cred(NULL, &c), LKM_CRED_NONE);
    assert_int_equal(cred("Bearer " ID ":" SK, &c), LKM_CRED_PAIR);
    assert_string_equal(c.id, ID);
    assert_int_equal(c.secret_len, strlen(SK));
    assert_memory_equal(c.secret, SK, strlen(SK));
    sodium_bin2base64(b64, sizeof b64, (const unsigned char *)ID ":" SK, strlen(ID ":" SK),
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(h, sizeof h, "Basic %s", b64);
    assert_int_equal(cred(h, &c), LKM_CRED_PAIR);
    assert_string_equal(c.id, ID);
    assert_int_equal(cred("Bearer lk-abcdefghijkl0123", &c), LKM_CRED_APIKEY);
    assert_int_equal(cred("TC3-HMAC-SHA256 Credential=" ID "/2026-01-01/cam/tc3_request, Signature=x", &c),
                     LKM_CRED_TC3);
    assert_int_equal(cred("Bearer " ID, &c), LKM_CRED_BAD);
    assert_int_equal(cred("Bearer AKIDshort:" SK, &c), LKM_CRED_BAD);
    assert_int_equal(cred("Digest x", &c), LKM_CRED_BAD);
    assert_int_equal(cred("Basic !!!", &c), LKM_CRED_BAD);
}

static void test_limits(void **state)
{
    (void)state;
    struct lkm_limiter *l = calloc(1, sizeof *l);
    assert_non_null(l);
    int64_t t = 1000000;
    for (int i = 0; i < LKM_LIMIT_WRITE; i++)
        assert_true(lkm_limit_take(l, 100, true, t));
    assert_false(lkm_limit_take(l, 100, true, t));
    /* reads have their own bucket; other callers theirs */
    for (int i = 0; i < LKM_LIMIT_READ; i++)
        assert_true(lkm_limit_take(l, 100, false, t));
    assert_false(lkm_limit_take(l, 100, false, t));
    assert_true(lkm_limit_take(l, 200, true, t));
    /* one write comes back after a fifth of a second, not before */
    assert_false(lkm_limit_take(l, 100, true, t + 199999));
    assert_true(lkm_limit_take(l, 100, true, t + 200000));
    assert_false(lkm_limit_take(l, 100, true, t + 200000));
    /* after a long pause: a full bucket, never more */
    for (int i = 0; i < LKM_LIMIT_WRITE; i++)
        assert_true(lkm_limit_take(l, 100, true, t + 3600000000LL));
    assert_false(lkm_limit_take(l, 100, true, t + 3600000000LL));
    /* a full table: callers beyond it take the oldest slots, the table stays bounded */
    for (uint64_t u = 1000; u < 1000 + 3 * LKM_LIMIT_SLOTS; u++)
        assert_true(lkm_limit_take(l, u, true, t + (int64_t)u));
    free(l);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bodies),      cmocka_unit_test(test_actions_and_versions),
        cmocka_unit_test(test_params),      cmocka_unit_test(test_latchkey_actions),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_credentials), cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
