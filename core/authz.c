/*
 * authz.c — who may do what on the management plane (issue 20), decided
 * here once for every front end, and the caller recorded in the audit log.
 *
 * The order of the checks is the order of the answers a caller may see,
 * from the most general to the most particular: the target exists, it is of
 * the caller's account, the action is one the caller's kind may do at all,
 * the caller acts on itself, and last its own grant. lk_authorize only
 * reads the store.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lk_internal.h"

/* Actions on one user's own access keys; the others are the account's. */
static bool key_action(lk_action a)
{
    return a <= LK_ACT_KEY_RECORDS;
}

/* What a member granted read may do to its own keys. */
static bool read_action(lk_action a)
{
    return a == LK_ACT_KEY_LIST || a == LK_ACT_KEY_LAST_USED || a == LK_ACT_KEY_RECORDS;
}

/* Actions whose target is the account itself: only its root account is one. */
static bool account_action(lk_action a)
{
    return (a >= LK_ACT_APIKEY_CREATE && a <= LK_ACT_APIKEY_DELETE) || a == LK_ACT_USER_LIST;
}

/* Actions whose target is one member of the account: never a root account. */
static bool member_action(lk_action a)
{
    return a == LK_ACT_USER_UPDATE;
}

static const char *const action_names[LK_ACT_COUNT_] = {
    [LK_ACT_KEY_CREATE] = "create access keys",
    [LK_ACT_KEY_LIST] = "list access keys",
    [LK_ACT_KEY_UPDATE] = "update access keys",
    [LK_ACT_KEY_DELETE] = "delete access keys",
    [LK_ACT_KEY_LAST_USED] = "read the last use of access keys",
    [LK_ACT_KEY_RECORDS] = "read access records",
    [LK_ACT_APIKEY_CREATE] = "create API keys",
    [LK_ACT_APIKEY_DESCRIBE] = "describe API keys",
    [LK_ACT_APIKEY_MODIFY] = "modify API keys",
    [LK_ACT_APIKEY_DELETE] = "delete API keys",
    [LK_ACT_USER_LIST] = "list users",
    [LK_ACT_AUDIT_READ] = "read the audit log",
    [LK_ACT_USER_UPDATE] = "change the self-service grant",
};

/* The rules table of issue 20, on the two loaded users. */
static lk_status decide(const lk_user *caller, lk_action action, const lk_user *target)
{
    const char *what = action_names[action];

    if (target->root_uin != caller->root_uin)
        return lk_seterr(LK_ERR_UIN_NOT_MATCH, "user %" PRIu64 " is not of the account of user %" PRIu64,
                         target->uin, caller->uin);
    if (caller->kind == LK_USER_ROOT) {
        /* API keys and the user list are the account's: a member has none of its own */
        if (account_action(action) && target->kind != LK_USER_ROOT)
            return lk_seterr(LK_ERR_SUB_UIN, "%" PRIu64 " is a %s, not a root account: cannot %s of it", target->uin,
                             lk_user_kind_name(target->kind), what);
        /* a bad parameter, not a denial: a root account is never restricted, so never granted */
        if (member_action(action) && target->kind == LK_USER_ROOT)
            return lk_seterr(LK_ERR_PARAM, "TargetUin %" PRIu64 " is a root account, which manages every key of "
                                           "its account: cannot %s of it (a grant is for sub-users and "
                                           "collaborators)", target->uin, what);
        return LK_OK;
    }
    if (!key_action(action))
        return lk_seterr(LK_DENY_SCOPE, "user %" PRIu64 " is a %s: only its root account may %s", caller->uin,
                         lk_user_kind_name(caller->kind), what);
    if (target->kind == LK_USER_ROOT)
        return lk_seterr(LK_ERR_SUB_UIN, "user %" PRIu64 " is a %s and may not %s of its root account %" PRIu64,
                         caller->uin, lk_user_kind_name(caller->kind), what, target->uin);
    if (target->uin != caller->uin)
        return lk_seterr(LK_DENY_SCOPE, "user %" PRIu64 " may not %s of user %" PRIu64
                                        ": only their root account may", caller->uin, what, target->uin);
    if (caller->self_service == LK_SELF_MANAGE || (caller->self_service == LK_SELF_READ && read_action(action)))
        return LK_OK;
    return lk_seterr(LK_DENY_SCOPE, "user %" PRIu64 " is granted self-service '%s': it may not %s", caller->uin,
                     lk_self_service_name(caller->self_service), what);
}

lk_status lk_authorize(lk_ctx *ctx, const lk_caller *caller, lk_action action, uint64_t target_uin)
{
    LK_LOCAL_ONLY(ctx);
    lk_txn txn;
    lk_user who, target;

    if (caller == NULL)
        return lk_seterr(LK_ERR_PARAM, "lk_authorize: no caller");
    if ((unsigned)action >= LK_ACT_COUNT_)
        return lk_seterr(LK_ERR_PARAM, "lk_authorize: unknown action %d", (int)action);
    if (!lk_uin_ok(caller->uin))
        return lk_seterr(LK_ERR_PARAM, "caller UIN %" PRIu64 " is out of range", caller->uin);
    if (target_uin == 0)
        target_uin = caller->uin;
    if (!lk_uin_ok(target_uin))
        return lk_seterr(LK_ERR_PARAM, "target UIN %" PRIu64 " is out of range", target_uin);

    lk_status st = lk_txn_begin(ctx, false, &txn);
    if (st != LK_OK)
        return st;
    st = lk_user_load(&txn, caller->uin, &who);
    if (st == LK_ERR_USER_NOT_EXIST) /* deleted since its credential was checked: fail closed */
        st = lk_seterr(LK_DENY_UNKNOWN_KEY, "the calling user %" PRIu64 " no longer exists", caller->uin);
    if (st == LK_OK && target_uin == who.uin)
        target = who;
    else if (st == LK_OK)
        st = lk_user_load(&txn, target_uin, &target);
    lk_txn_abort(&txn);
    return st == LK_OK ? decide(&who, action, &target) : st;
}

/* ------------------------------------------------------------ the audited caller */

/* Per thread, like the reason: a service thread sets it for one request. */
static _Thread_local lk_caller audit_caller;
static _Thread_local bool audit_caller_set;

/* A field of the caller: NUL-terminated inside its array and printable. */
static bool caller_text_ok(const char *s, size_t size)
{
    const char *end = memchr(s, '\0', size);
    return end != NULL && lk_text_ok(s, (size_t)(end - s));
}

lk_status lk_audit_caller(const lk_caller *caller)
{
    if (caller == NULL) {
        audit_caller_set = false;
        memset(&audit_caller, 0, sizeof audit_caller);
        return LK_OK;
    }
    if (!lk_uin_ok(caller->uin))
        return lk_seterr(LK_ERR_PARAM, "caller UIN %" PRIu64 " is out of range", caller->uin);
    /* only a public SecretId: never anything that could be a secret pasted in its place */
    size_t idl = strnlen(caller->secret_id, sizeof caller->secret_id);
    if (idl == sizeof caller->secret_id || (idl > 0 && !lk_keyfmt_secret_id_ok(caller->secret_id, idl)))
        return lk_seterr(LK_ERR_PARAM, "the caller's SecretId is not a SecretId");
    size_t ll = strnlen(caller->login, sizeof caller->login);
    if (ll == sizeof caller->login || (ll > 0 && !lk_login_ok(caller->login)))
        return lk_seterr(LK_ERR_PARAM, "the caller's login is not a login name");
    if (!caller_text_ok(caller->peer, sizeof caller->peer))
        return lk_seterr(LK_ERR_PARAM, "the caller's peer address is not printable text");
    if (!caller_text_ok(caller->request_id, sizeof caller->request_id))
        return lk_seterr(LK_ERR_PARAM, "the caller's RequestId is not printable text");
    audit_caller = *caller;
    audit_caller_set = true;
    return LK_OK;
}

void lk_audit_add_caller(lk_rec *rec)
{
    if (!audit_caller_set)
        return;
    lk_rec_add_u64(rec, "cuin", audit_caller.uin);
    lk_rec_add(rec, "csid", audit_caller.secret_id);
    lk_rec_add(rec, "clogin", audit_caller.login);
    lk_rec_add(rec, "cpeer", audit_caller.peer);
    lk_rec_add(rec, "creq", audit_caller.request_id);
}

bool lk_audit_read_caller(const char *v, size_t vl, lk_audit_entry *e)
{
    static const char *const names[] = {"cuin", "csid", "clogin", "cpeer", "creq"};
    const char *val[5];
    size_t len[5];
    uint32_t found = lk_rec_find_many(v, vl, names, 5, val, len);
    if (found == 0)
        return true; /* an entry of the local admin tool, or written before callers were */
    return found == 0x1f && lk_rec_parse_u64(val[0], len[0], &e->caller_uin) &&
           lk_rec_unescape(val[1], len[1], e->caller_secret_id, sizeof e->caller_secret_id) &&
           lk_rec_unescape(val[2], len[2], e->caller_login, sizeof e->caller_login) &&
           lk_rec_unescape(val[3], len[3], e->caller_peer, sizeof e->caller_peer) &&
           lk_rec_unescape(val[4], len[4], e->request_id, sizeof e->request_id);
}
