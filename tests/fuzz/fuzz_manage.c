/*
 * fuzz_manage — the management API's request reading (daemon/manage_req.c):
 * what any client may send to latchkeyd's daemon.manage listener.
 *
 * Input: pieces separated by 0xff bytes: flags, the action, the version,
 * the JSON body, then query arguments as KEY=VALUE pieces (a GET when the
 * flag's bit 0 is set), and last an Authorization header.
 *
 * Invariants:
 *  - no crash, no read or write outside the buffers, no leak (ASan);
 *  - a decoded request names a known action, its strings are NUL-terminated
 *    within the bounds the core accepts, its lists within their maxima, and
 *    TargetUin is 0 or a UIN (1..2^63-1), SelfService one of the grants and
 *    given exactly when the action is UpdateUser (which needs it);
 *    GraceSeconds within its bound, a Reason on changes only;
 *  - a refusal always carries a message;
 *  - a credential's strings lie inside the caller's buffer; a pair's id is
 *    exactly LK_SECRET_ID_LEN bytes and starts with AKID.
 */
#include "fuzz_common.h"
#include <sodium.h>

#include "http_parse.h"
#include "manage_req.h"

static char cred[LKH_CRED_BUF];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return sodium_init() < 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = {data, size};
    uint8_t flags = fz_u8(&in);
    char msg[LKM_MSG_MAX];
    size_t blen;
    char *action = fz_str(&in, 64, NULL), *version = fz_str(&in, 32, NULL), *body = fz_str(&in, 8192, &blen);
    json_object *params = NULL;
    enum lkm_err e = LKM_OK;
    msg[0] = '\0';
    if (flags & 1) {
        params = json_object_new_object();
        for (int i = 0; i < 16 && in.n > 0 && e == LKM_OK; i++) {
            char *kv = fz_str(&in, 256, NULL);
            char *eq = strchr(kv, '=');
            if (eq != NULL)
                *eq = '\0';
            e = lkm_query_add(params, kv, eq ? eq + 1 : NULL, msg, sizeof msg);
            free(kv);
        }
    } else {
        e = lkm_parse_body(body, blen, &params, msg, sizeof msg);
        FUZZ_CHECK((e == LKM_OK) == (params != NULL));
    }
    FUZZ_CHECK(e == LKM_OK || msg[0] != '\0');
    if (e == LKM_OK) {
        struct lkm_req r;
        msg[0] = '\0';
        e = lkm_decode(flags & 2 ? NULL : action, version, params, &r, msg, sizeof msg);
        FUZZ_CHECK(e == LKM_OK || msg[0] != '\0');
        FUZZ_CHECK(strcmp(lkm_err_code(e), "") != 0);
        if (e == LKM_OK) {
            FUZZ_CHECK((unsigned)r.action < LK_ACT_COUNT_ && (unsigned)r.op < LKM_OP_COUNT_ && r.action_name != NULL);
            FUZZ_CHECK(r.target_uin <= (uint64_t)INT64_MAX);
            FUZZ_CHECK(r.access_key_id == NULL || strlen(r.access_key_id) <= LK_SECRET_ID_LEN);
            FUZZ_CHECK(r.api_key_id == NULL || strlen(r.api_key_id) <= LK_APIKEY_ID_LEN);
            FUZZ_CHECK(r.name == NULL || (r.name[0] != '\0' && strlen(r.name) <= LK_NAME_MAX));
            FUZZ_CHECK(r.description == NULL || strlen(r.description) <= LK_DESC_MAX);
            FUZZ_CHECK(r.nids <= LKM_IDS_MAX && r.nscope <= LK_SCOPE_MAX && r.nallow_ip <= LK_ALLOW_IP_MAX);
            for (size_t i = 0; i < r.nids; i++)
                FUZZ_CHECK(strlen(r.ids[i]) <= LK_SECRET_ID_LEN);
            for (size_t i = 0; i < r.nscope; i++)
                FUZZ_CHECK(strlen(r.scope[i]) <= LK_SERVICE_MAX);
            FUZZ_CHECK(r.status == -1 || r.status == LK_KEY_ACTIVE || r.status == LK_KEY_INACTIVE);
            FUZZ_CHECK(r.rate_limit <= LK_RATE_MAX && r.rate_window_s <= LK_RATE_WINDOW_MAX);
            FUZZ_CHECK(r.rate_limit == 0 || r.rate_window_s >= 1);
            FUZZ_CHECK(r.self_service == -1 || (r.self_service >= LK_SELF_NONE && r.self_service <= LK_SELF_MANAGE));
            FUZZ_CHECK((r.action == LK_ACT_USER_UPDATE) == (r.self_service != -1));
            FUZZ_CHECK(r.grace_s >= 0 && r.grace_s <= LKM_GRACE_MAX && (r.has_grace || r.grace_s == 0));
            FUZZ_CHECK(r.reason == NULL || (strlen(r.reason) <= LK_AUDIT_TEXT_MAX && lkm_action_writes(r.action)));
            FUZZ_CHECK(r.expire_time >= 0);
        }
    }
    json_object_put(params);

    char *authz = fz_str(&in, 2048, NULL);
    struct lkm_cred c;
    enum lkm_cred_kind k = lkm_credentials(flags & 4 ? NULL : authz, cred, sizeof cred, &c);
    if (k == LKM_CRED_PAIR) {
        FUZZ_CHECK(c.id >= cred && c.id < cred + sizeof cred && strlen(c.id) == LK_SECRET_ID_LEN);
        FUZZ_CHECK(strncmp(c.id, "AKID", 4) == 0);
        FUZZ_CHECK(c.secret >= cred && c.secret < cred + sizeof cred && strlen(c.secret) == c.secret_len);
    } else {
        FUZZ_CHECK(c.secret_len == 0);
    }
    sodium_memzero(cred, sizeof cred);
    free(action);
    free(version);
    free(body);
    free(authz);
    return 0;
}
