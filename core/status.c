/* status.c — status codes, their CAM-style names, and the per-thread message. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "latchkey.h"
#include "lk_error.h"

static const struct {
    const char *code;
    const char *text;
} status_table[LK_STATUS_COUNT_] = {
    [LK_OK] = {"Success", "success"},
    [LK_ERR_PARAM] = {"InvalidParameter.ParamError", "invalid input parameter"},
    [LK_ERR_USER_NOT_EXIST] = {"InvalidParameter.UserNotExist", "user object does not exist"},
    [LK_ERR_USER_EXISTS] = {"InvalidParameter.UserAlreadyExist", "user already exists"},
    [LK_ERR_KEY_NOT_EXIST] = {"InvalidParameter.AccessKeyNotExist", "key does not exist"},
    [LK_ERR_NAME_EXISTS] = {"InvalidParameter.ApiKeyNameExist", "an API key with this name already exists"},
    [LK_ERR_KEY_OVER_LIMIT] = {"OperationDenied.AccessKeyOverLimit", "the user already has the maximum number of access keys"},
    [LK_ERR_APIKEY_OVER_LIMIT] = {"OperationDenied.ApiKeyOverLimit", "the account already has the maximum number of API keys"},
    [LK_ERR_SUB_UIN] = {"OperationDenied.SubUin", "not allowed for a sub-user or collaborator"},
    [LK_ERR_UIN_NOT_MATCH] = {"OperationDenied.UinNotMatch", "the key does not match the account"},
    [LK_ERR_USER_HAS_KEYS] = {"OperationDenied.UserHasKeys", "the user still has keys or members"},
    [LK_ERR_KEY_ENABLED] = {"FailedOperation.Accesskey", "the key is enabled: disable it before deleting"},
    [LK_ERR_NOT_FOUND] = {"ResourceNotFound", "record not found"},
    [LK_DENY_MALFORMED] = {"AuthFailure.InvalidSecretId", "malformed credential"},
    [LK_DENY_UNKNOWN_KEY] = {"AuthFailure.SecretIdNotFound", "key does not exist"},
    [LK_DENY_BAD_SECRET] = {"AuthFailure.SignatureFailure", "wrong secret"},
    [LK_DENY_DISABLED] = {"AuthFailure.SecretIdDisabled", "key is disabled"},
    [LK_DENY_IP] = {"AuthFailure.IpNotAllowed", "client address not in the key's allowlist"},
    [LK_DENY_SCOPE] = {"AuthFailure.UnauthorizedOperation", "service not in the key's access scope"},
    [LK_DENY_LOGIN] = {"AuthFailure.LoginNotMatch", "the credential does not belong to the login"},
    [LK_DENY_THROTTLED] = {"AuthFailure.TooManyAttempts", "too many wrong secrets for this key; try again later"},
    [LK_ERR_CONFIG] = {"InvalidParameter.Config", "invalid configuration"},
    [LK_ERR_STORE] = {"FailedOperation.Storage", "store error"},
    [LK_ERR_STORE_PERM] = {"FailedOperation.StorePermission", "store permission error"},
    [LK_ERR_STORE_FULL] = {"FailedOperation.StoreFull", "store is full"},
    [LK_ERR_NOMEM] = {"InternalError.OutOfMemory", "out of memory"},
    [LK_ERR_INTERNAL] = {"InternalError", "internal error"},
    [LK_ERR_BUSY] = {"RequestLimitExceeded.Busy", "the verification service is busy; try again"},
    [LK_ERR_NEEDS_HASH] = {"FailedOperation.NeedsHash", "the answer needs an Argon2id verification"},
    [LK_ERR_LOGIN_EXISTS] = {"InvalidParameter.LoginExist", "the login name is bound to another user"},
    [LK_DENY_EXPIRED] = {"AuthFailure.SecretIdExpired", "key has expired"},
    [LK_DENY_RATE_LIMIT] = {"LimitExceeded.RequestLimit", "the key's request limit for this window is used up"},
    [LK_DENY_MISSING] = {"AuthFailure.MissingCredential", "the request carried no credential"},
};

static int status_valid(lk_status st)
{
    return (int)st >= 0 && st < LK_STATUS_COUNT_;
}

const char *lk_status_code(lk_status st)
{
    return status_valid(st) ? status_table[st].code : "InternalError.UnknownStatus";
}

const char *lk_strerror(lk_status st)
{
    return status_valid(st) ? status_table[st].text : "unknown status";
}

int lk_status_is_denial(lk_status st)
{
    return (st >= LK_DENY_MALFORMED && st <= LK_DENY_SCOPE) || st == LK_DENY_LOGIN || st == LK_DENY_THROTTLED ||
           st == LK_DENY_EXPIRED || st == LK_DENY_RATE_LIMIT || st == LK_DENY_MISSING;
}

/* Like errno: one slot per thread, so a shared ctx stays thread-safe. */
static _Thread_local char last_message[LK_ERRMSG_MAX];

lk_status lk_seterr(lk_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    return st;
}

/* The hot rejects' message without vsnprintf (a third of an unknown-id
 * reject's cost): before + id + after, cut to fit. */
lk_status lk_seterr_id(lk_status st, const char *before, const char *id, const char *after)
{
    const char *parts[3] = {before, id, after};
    size_t n = 0;
    for (int i = 0; i < 3; i++) {
        size_t l = strlen(parts[i]);
        if (l > sizeof last_message - 1 - n)
            l = sizeof last_message - 1 - n;
        memcpy(last_message + n, parts[i], l);
        n += l;
    }
    last_message[n] = '\0';
    return st;
}

void lk_errmsg_save(char saved[LK_ERRMSG_MAX])
{
    memcpy(saved, last_message, strlen(last_message) + 1);
}

void lk_errmsg_restore(const char saved[LK_ERRMSG_MAX])
{
    memcpy(last_message, saved, strlen(saved) + 1);
}

const char *lk_errmsg(const lk_ctx *ctx)
{
    (void)ctx;
    return last_message[0] ? last_message : "no error";
}
