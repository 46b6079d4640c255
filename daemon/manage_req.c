/*
 * manage_req.c — see manage_req.h. Untrusted input only reaches messages
 * through shown(): printable ASCII, cut short.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http_parse.h"
#include "manage_req.h"

#define MAX_DEPTH 8
#define LIST_INDEX_MAX 100

const char *lkm_err_code(enum lkm_err e)
{
    switch (e) {
    case LKM_OK: return "OK";
    case LKM_INVALID_ACTION: return "InvalidAction";
    case LKM_MISSING_PARAM: return "MissingParameter";
    default: return "InvalidParameter.ParamError";
    }
}

/* Untrusted text for a message: printable ASCII, at most 48 bytes. */
static const char *shown(const char *s, char buf[64])
{
    size_t o = 0;
    for (size_t i = 0; s[i] != '\0' && o < 48; i++)
        buf[o++] = (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f ? s[i] : '?';
    if (o == 48 && s[48] != '\0') {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

static enum lkm_err fail(enum lkm_err e, char *msg, size_t msgsz, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static enum lkm_err fail(enum lkm_err e, char *msg, size_t msgsz, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msgsz, fmt, ap);
    va_end(ap);
    return e;
}

/* ------------------------------------------------------------ bodies and queries */

enum lkm_err lkm_parse_body(const char *body, size_t len, json_object **out, char *msg, size_t msgsz)
{
    *out = NULL;
    if (len == 0)
        return fail(LKM_PARAM_ERROR, msg, msgsz, "the request body is empty: send a JSON object ({} for none)");
    if (len > INT32_MAX || memchr(body, '\0', len) != NULL)
        return fail(LKM_PARAM_ERROR, msg, msgsz, "the request body is not JSON text");
    json_tokener *tok = json_tokener_new_ex(MAX_DEPTH);
    if (tok == NULL)
        return fail(LKM_PARAM_ERROR, msg, msgsz, "out of memory");
    int flags = JSON_TOKENER_STRICT;
#ifdef JSON_TOKENER_VALIDATE_UTF8
    flags |= JSON_TOKENER_VALIDATE_UTF8;
#endif
    json_tokener_set_flags(tok, flags);
    json_object *o = json_tokener_parse_ex(tok, body, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t used = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    /* only white space may follow the object */
    while (o != NULL && used < len && (body[used] == ' ' || body[used] == '\t' || body[used] == '\r' || body[used] == '\n'))
        used++;
    if (o == NULL || jerr != json_tokener_success || used != len) {
        json_object_put(o);
        return fail(LKM_PARAM_ERROR, msg, msgsz, "the request body is not one JSON object: %s",
                    jerr != json_tokener_success ? json_tokener_error_desc(jerr) : "text after it");
    }
    if (!json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return fail(LKM_PARAM_ERROR, msg, msgsz, "the request body must be a JSON object of parameters");
    }
    *out = o;
    return LKM_OK;
}

enum lkm_err lkm_query_add(json_object *params, const char *key, const char *value, char *msg, size_t msgsz)
{
    char b1[64], name[64];
    if (strcmp(key, "Action") == 0 || strcmp(key, "Version") == 0)
        return LKM_OK;
    if (value == NULL)
        value = "";
    const char *dot = strchr(key, '.');
    size_t nl = dot ? (size_t)(dot - key) : strlen(key);
    if (nl == 0 || nl >= sizeof name)
        return fail(LKM_PARAM_ERROR, msg, msgsz, "unknown parameter '%s'", shown(key, b1));
    memcpy(name, key, nl);
    name[nl] = '\0';
    json_object *have = NULL;
    bool exists = json_object_object_get_ex(params, name, &have);
    if (dot == NULL) {
        if (exists)
            return fail(LKM_PARAM_ERROR, msg, msgsz, "parameter '%s' is given twice", shown(name, b1));
        json_object *s = json_object_new_string(value);
        return s != NULL && json_object_object_add(params, name, s) == 0
                   ? LKM_OK
                   : fail(LKM_PARAM_ERROR, msg, msgsz, "out of memory");
    }
    /* Name.N: element N of the list Name */
    unsigned long idx = 0;
    const char *p = dot + 1;
    if (*p == '\0' || (p[0] == '0' && p[1] != '\0') || strlen(p) > 2)
        return fail(LKM_PARAM_ERROR, msg, msgsz, "'%s': a list element is Name.N, N 0..%d", shown(key, b1),
                    LIST_INDEX_MAX - 1);
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return fail(LKM_PARAM_ERROR, msg, msgsz, "'%s': a list element is Name.N, N 0..%d", shown(key, b1),
                        LIST_INDEX_MAX - 1);
        idx = idx * 10 + (unsigned long)(*p - '0');
    }
    if (exists && !json_object_is_type(have, json_type_array))
        return fail(LKM_PARAM_ERROR, msg, msgsz, "parameter '%s' is given twice", shown(name, b1));
    if (!exists) {
        have = json_object_new_array();
        if (have == NULL || json_object_object_add(params, name, have) != 0) {
            json_object_put(have);
            return fail(LKM_PARAM_ERROR, msg, msgsz, "out of memory");
        }
    }
    if (idx < json_object_array_length(have) && json_object_array_get_idx(have, idx) != NULL)
        return fail(LKM_PARAM_ERROR, msg, msgsz, "parameter '%s' is given twice", shown(key, b1));
    json_object *s = json_object_new_string(value);
    if (s == NULL || json_object_array_put_idx(have, idx, s) != 0) {
        json_object_put(s);
        return fail(LKM_PARAM_ERROR, msg, msgsz, "out of memory");
    }
    return LKM_OK;
}

/* ------------------------------------------------------------ actions and parameters */

enum param {
    P_TARGET_UIN,
    P_ACCESS_KEY_ID,
    P_STATUS,
    P_SECRET_ID_LIST,
    P_API_KEY_ID,
    P_NAME,
    P_DESCRIPTION,
    P_SCOPE,
    P_IP_ALLOWLIST,
    P_EXPIRE_TIME,
    P_RATE_LIMIT,
    P_RATE_WINDOW,
    P_SELF_SERVICE,
    P_GRACE,
    P_FORCE,
    P_REASON,
    P_COUNT_
};

static const char *const param_names[P_COUNT_] = {
    [P_TARGET_UIN] = "TargetUin",     [P_ACCESS_KEY_ID] = "AccessKeyId", [P_STATUS] = "Status",
    [P_SECRET_ID_LIST] = "SecretIdList", [P_API_KEY_ID] = "ApiKeyId",  [P_NAME] = "Name",
    [P_DESCRIPTION] = "Description",  [P_SCOPE] = "Scope",             [P_IP_ALLOWLIST] = "IpAllowlist",
    [P_EXPIRE_TIME] = "ExpireTime",   [P_RATE_LIMIT] = "RateLimit",    [P_RATE_WINDOW] = "RateWindowSeconds",
    [P_SELF_SERVICE] = "SelfService", [P_GRACE] = "GraceSeconds", [P_FORCE] = "Force",
    [P_REASON] = "Reason",
};

/* Common parameters of Tencent Cloud API 3.0 that a client may send and that mean nothing here. */
static const char *const ignored[] = {"Region", "Timestamp", "Nonce", "Language", "RequestClient"};

#define B(p) (1u << (p))

struct action_def {
    const char *name, *version;
    lk_action action;
    enum lkm_op op;
    unsigned allowed, required;
};

static const struct action_def actions[] = {
    /* with latchkey's ExpireTime (latchkey key create --expires) */
    {"CreateAccessKey", LKM_VERSION_CAM, LK_ACT_KEY_CREATE, LKM_OP_KEY_CREATE, B(P_TARGET_UIN) | B(P_EXPIRE_TIME), 0},
    /* with latchkey's AccessKeyId: that key alone (latchkey key show), the target its owner by default */
    {"ListAccessKeys", LKM_VERSION_CAM, LK_ACT_KEY_LIST, LKM_OP_KEY_LIST, B(P_TARGET_UIN) | B(P_ACCESS_KEY_ID), 0},
    {"UpdateAccessKey", LKM_VERSION_CAM, LK_ACT_KEY_UPDATE, LKM_OP_KEY_SET_STATUS,
     B(P_TARGET_UIN) | B(P_ACCESS_KEY_ID) | B(P_STATUS),
     B(P_ACCESS_KEY_ID) | B(P_STATUS)},
    {"DeleteAccessKey", LKM_VERSION_CAM, LK_ACT_KEY_DELETE, LKM_OP_KEY_DELETE,
     B(P_TARGET_UIN) | B(P_ACCESS_KEY_ID), B(P_ACCESS_KEY_ID)},
    {"GetSecurityLastUsed", LKM_VERSION_CAM, LK_ACT_KEY_LAST_USED, LKM_OP_KEY_LAST_USED,
     B(P_TARGET_UIN) | B(P_SECRET_ID_LIST),
     B(P_SECRET_ID_LIST)},
    {"ListAccessRecords", LKM_VERSION_CAM, LK_ACT_KEY_RECORDS, LKM_OP_KEY_RECORDS, B(P_TARGET_UIN) | B(P_ACCESS_KEY_ID),
     B(P_ACCESS_KEY_ID)},
    /* latchkey's own: an access key's expiry (latchkey key edit), and a rotation with a grace period
     * (latchkey key rotate: a new pair, so the create rules and limit) */
    {"ModifyAccessKey", LKM_VERSION_CAM, LK_ACT_KEY_UPDATE, LKM_OP_KEY_SET_EXPIRY,
     B(P_TARGET_UIN) | B(P_ACCESS_KEY_ID) | B(P_EXPIRE_TIME),
     B(P_ACCESS_KEY_ID) | B(P_EXPIRE_TIME)},
    {"RotateAccessKey", LKM_VERSION_CAM, LK_ACT_KEY_CREATE, LKM_OP_KEY_ROTATE,
     B(P_TARGET_UIN) | B(P_ACCESS_KEY_ID) | B(P_GRACE) | B(P_EXPIRE_TIME) | B(P_FORCE),
     B(P_ACCESS_KEY_ID) | B(P_GRACE)},
    {"CreateApiKey", LKM_VERSION_APIKEY, LK_ACT_APIKEY_CREATE, LKM_OP_APIKEY_CREATE,
     B(P_TARGET_UIN) | B(P_NAME) | B(P_DESCRIPTION) | B(P_SCOPE) | B(P_IP_ALLOWLIST) | B(P_EXPIRE_TIME) |
         B(P_RATE_LIMIT) | B(P_RATE_WINDOW),
     B(P_NAME)},
    /* with ApiKeyId or Name: that key alone (latchkey apikey show) */
    {"DescribeApiKeys", LKM_VERSION_APIKEY, LK_ACT_APIKEY_DESCRIBE, LKM_OP_APIKEY_DESCRIBE,
     B(P_TARGET_UIN) | B(P_API_KEY_ID) | B(P_NAME), 0},
    {"ModifyApiKey", LKM_VERSION_APIKEY, LK_ACT_APIKEY_MODIFY, LKM_OP_APIKEY_MODIFY,
     B(P_TARGET_UIN) | B(P_API_KEY_ID) | B(P_DESCRIPTION) | B(P_SCOPE) | B(P_IP_ALLOWLIST) | B(P_STATUS) |
         B(P_EXPIRE_TIME) | B(P_RATE_LIMIT) | B(P_RATE_WINDOW),
     B(P_API_KEY_ID)},
    {"DeleteApiKey", LKM_VERSION_APIKEY, LK_ACT_APIKEY_DELETE, LKM_OP_APIKEY_DELETE,
     B(P_TARGET_UIN) | B(P_API_KEY_ID), B(P_API_KEY_ID)},
    /* an API key's access records (latchkey records on an API key): the account's, as its description */
    {"ListApiKeyRecords", LKM_VERSION_APIKEY, LK_ACT_APIKEY_DESCRIBE, LKM_OP_APIKEY_RECORDS,
     B(P_TARGET_UIN) | B(P_API_KEY_ID),
     B(P_API_KEY_ID)},
    /* a new value with a grace period for the old (latchkey apikey reroll): a new key, so the create rules */
    {"RerollApiKey", LKM_VERSION_APIKEY, LK_ACT_APIKEY_CREATE, LKM_OP_APIKEY_REROLL,
     B(P_TARGET_UIN) | B(P_API_KEY_ID) | B(P_GRACE) | B(P_EXPIRE_TIME) | B(P_FORCE), B(P_API_KEY_ID) | B(P_GRACE)},
    /* the key console's (issue 21): the account's users, and its audit entries (filtered by key or user) */
    {"ListUsers", LKM_VERSION_CAM, LK_ACT_USER_LIST, LKM_OP_USER_LIST, B(P_TARGET_UIN), 0},
    {"DescribeAuditEvents", LKM_VERSION_APIKEY, LK_ACT_AUDIT_READ, LKM_OP_AUDIT_READ,
     B(P_TARGET_UIN) | B(P_ACCESS_KEY_ID) | B(P_API_KEY_ID), 0},
    /* a member's self-service grant, set by its root account (the console's and latchkey user edit's) */
    {"UpdateUser", LKM_VERSION_CAM, LK_ACT_USER_UPDATE, LKM_OP_USER_UPDATE, B(P_TARGET_UIN) | B(P_SELF_SERVICE),
     B(P_TARGET_UIN) | B(P_SELF_SERVICE)},
};

/* A string parameter: no NUL inside, 1..max bytes (0..max when empty_ok). */
static enum lkm_err get_str(json_object *v, const char *pname, size_t max, bool empty_ok, const char **out,
                            char *msg, size_t msgsz)
{
    if (!json_object_is_type(v, json_type_string))
        return fail(LKM_PARAM_ERROR, msg, msgsz, "%s must be a string", pname);
    const char *s = json_object_get_string(v);
    size_t len = (size_t)json_object_get_string_len(v);
    if (strlen(s) != len || len > max || (len == 0 && !empty_ok))
        return fail(LKM_PARAM_ERROR, msg, msgsz, "%s must be %s1..%zu bytes of text", pname, empty_ok ? "0 or " : "",
                    max);
    *out = s;
    return LKM_OK;
}

/* An unsigned integer: a JSON number, or decimal digits in a string (a GET's query). */
static enum lkm_err get_uint(json_object *v, const char *pname, uint64_t min, uint64_t max, uint64_t *out,
                             char *msg, size_t msgsz)
{
    uint64_t n = 0;
    bool ok = false;
    if (json_object_is_type(v, json_type_int)) {
        ok = json_object_get_int64(v) >= 0;
        n = ok ? json_object_get_uint64(v) : 0;
    } else if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        size_t len = (size_t)json_object_get_string_len(v);
        ok = len > 0 && len <= 19 && strlen(s) == len && (s[0] != '0' || len == 1);
        for (size_t i = 0; ok && i < len; i++) {
            ok = s[i] >= '0' && s[i] <= '9';
            n = n * 10 + (uint64_t)(s[i] - '0');
        }
    }
    if (!ok || n < min || n > max)
        return fail(LKM_PARAM_ERROR, msg, msgsz, "%s must be an integer %llu..%llu", pname, (unsigned long long)min,
                    (unsigned long long)max);
    *out = n;
    return LKM_OK;
}

/* A list of strings (a JSON array, or Name.N elements of a query). */
static enum lkm_err get_list(json_object *v, const char *pname, size_t max_items, size_t max_len, const char **out,
                             size_t *n, char *msg, size_t msgsz)
{
    if (!json_object_is_type(v, json_type_array))
        return fail(LKM_PARAM_ERROR, msg, msgsz, "%s must be a list of strings", pname);
    size_t len = json_object_array_length(v);
    if (len > max_items)
        return fail(LKM_PARAM_ERROR, msg, msgsz, "%s holds %zu entries; at most %zu are allowed", pname, len,
                    max_items);
    for (size_t i = 0; i < len; i++) {
        json_object *e = json_object_array_get_idx(v, i);
        if (e == NULL)
            return fail(LKM_PARAM_ERROR, msg, msgsz, "%s: entry %zu is missing", pname, i);
        enum lkm_err r = get_str(e, pname, max_len, false, &out[i], msg, msgsz);
        if (r != LKM_OK)
            return r;
    }
    *n = len;
    return LKM_OK;
}

/* "YYYY-MM-DD hh:mm:ss" (UTC), as Tencent writes times, or Unix seconds. */
static enum lkm_err get_time(json_object *v, int64_t *out, char *msg, size_t msgsz)
{
    if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        struct tm tm, back;
        int y, mo, d, h, mi, se, used = -1;
        memset(&tm, 0, sizeof tm);
        if (strlen(s) == 19 && sscanf(s, "%4d-%2d-%2d %2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &used) == 6 &&
            used == 19 && s[4] == '-' && s[7] == '-' && s[10] == ' ' && y >= 1970 && y <= 9999) {
            tm.tm_year = y - 1900;
            tm.tm_mon = mo - 1;
            tm.tm_mday = d;
            tm.tm_hour = h;
            tm.tm_min = mi;
            tm.tm_sec = se;
            time_t t = timegm(&tm);
            /* a date that does not exist (02-30, 25:00) comes back different */
            if (t >= 0 && gmtime_r(&t, &back) != NULL && back.tm_year == y - 1900 && back.tm_mon == mo - 1 &&
                back.tm_mday == d && back.tm_hour == h && back.tm_min == mi && back.tm_sec == se) {
                *out = (int64_t)t;
                return LKM_OK;
            }
        }
        /* or Unix seconds written as digits (a GET) */
    }
    uint64_t n;
    if (get_uint(v, "ExpireTime", 0, (uint64_t)253402300799, &n, msg, msgsz) != LKM_OK)
        return fail(LKM_PARAM_ERROR, msg, msgsz,
                    "ExpireTime must be \"YYYY-MM-DD hh:mm:ss\" (UTC) or Unix seconds (0: never)");
    *out = (int64_t)n;
    return LKM_OK;
}

static enum lkm_err get_status(json_object *v, int *out, char *msg, size_t msgsz)
{
    const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
    if (strcmp(s, "Active") == 0)
        *out = LK_KEY_ACTIVE;
    else if (strcmp(s, "Inactive") == 0)
        *out = LK_KEY_INACTIVE;
    else
        return fail(LKM_PARAM_ERROR, msg, msgsz, "Status must be \"Active\" or \"Inactive\"");
    return LKM_OK;
}

/* A JSON boolean, or "true"/"false" (a GET's query). */
static enum lkm_err get_bool(json_object *v, const char *pname, bool *out, char *msg, size_t msgsz)
{
    const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
    if (json_object_is_type(v, json_type_boolean))
        *out = json_object_get_boolean(v);
    else if (s != NULL && (strcmp(s, "true") == 0 || strcmp(s, "false") == 0))
        *out = s[0] == 't';
    else
        return fail(LKM_PARAM_ERROR, msg, msgsz, "%s must be true or false", pname);
    return LKM_OK;
}

/* "none", "read" or "manage": the names are the library's. */
static enum lkm_err get_self_service(json_object *v, int *out, char *msg, size_t msgsz)
{
    lk_self_service s;
    const char *text = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
    if (text == NULL || (size_t)json_object_get_string_len(v) != strlen(text) ||
        lk_self_service_parse(text, &s) != LK_OK)
        return fail(LKM_PARAM_ERROR, msg, msgsz, "SelfService must be \"%s\", \"%s\" or \"%s\"",
                    lk_self_service_name(LK_SELF_NONE), lk_self_service_name(LK_SELF_READ),
                    lk_self_service_name(LK_SELF_MANAGE));
    *out = (int)s;
    return LKM_OK;
}

static enum lkm_err get_param(enum param p, json_object *v, struct lkm_req *r, char *msg, size_t msgsz)
{
    uint64_t n;
    enum lkm_err e;
    switch (p) {
    case P_TARGET_UIN:
        e = get_uint(v, "TargetUin", 1, (uint64_t)INT64_MAX, &n, msg, msgsz);
        r->target_uin = n;
        return e;
    case P_ACCESS_KEY_ID: return get_str(v, "AccessKeyId", LK_SECRET_ID_LEN, false, &r->access_key_id, msg, msgsz);
    case P_API_KEY_ID: return get_str(v, "ApiKeyId", LK_APIKEY_ID_LEN, false, &r->api_key_id, msg, msgsz);
    case P_STATUS: return get_status(v, &r->status, msg, msgsz);
    case P_SECRET_ID_LIST:
        e = get_list(v, "SecretIdList", LKM_IDS_MAX, LK_SECRET_ID_LEN, r->ids, &r->nids, msg, msgsz);
        if (e == LKM_OK && r->nids == 0)
            return fail(LKM_PARAM_ERROR, msg, msgsz, "SecretIdList must name 1..%d access keys", LKM_IDS_MAX);
        return e;
    case P_NAME: return get_str(v, "Name", LK_NAME_MAX, false, &r->name, msg, msgsz);
    case P_DESCRIPTION: return get_str(v, "Description", LK_DESC_MAX, true, &r->description, msg, msgsz);
    case P_SCOPE:
        r->has_scope = true;
        e = get_list(v, "Scope", LK_SCOPE_MAX, LK_SERVICE_MAX, r->scope, &r->nscope, msg, msgsz);
        if (e == LKM_OK && r->nscope == 1 && strcmp(r->scope[0], "all") == 0)
            r->nscope = 0;
        return e;
    case P_IP_ALLOWLIST:
        r->has_allow_ip = true;
        return get_list(v, "IpAllowlist", LK_ALLOW_IP_MAX, 64, r->allow_ip, &r->nallow_ip, msg, msgsz);
    case P_EXPIRE_TIME: r->has_expire = true; return get_time(v, &r->expire_time, msg, msgsz);
    case P_RATE_LIMIT:
        r->has_rate = true;
        e = get_uint(v, "RateLimit", 0, LK_RATE_MAX, &n, msg, msgsz);
        r->rate_limit = (uint32_t)n;
        return e;
    case P_RATE_WINDOW:
        e = get_uint(v, "RateWindowSeconds", 1, LK_RATE_WINDOW_MAX, &n, msg, msgsz);
        r->rate_window_s = (uint32_t)n;
        return e;
    case P_SELF_SERVICE: return get_self_service(v, &r->self_service, msg, msgsz);
    case P_GRACE:
        r->has_grace = true;
        e = get_uint(v, "GraceSeconds", 0, LKM_GRACE_MAX, &n, msg, msgsz);
        r->grace_s = (int64_t)n;
        return e;
    case P_FORCE: return get_bool(v, "Force", &r->force, msg, msgsz);
    case P_REASON: return get_str(v, "Reason", LK_AUDIT_TEXT_MAX, true, &r->reason, msg, msgsz);
    default: return LKM_PARAM_ERROR;
    }
}

enum lkm_err lkm_decode(const char *action, const char *version, json_object *params, struct lkm_req *out,
                        char *msg, size_t msgsz)
{
    char b1[64], b2[64];
    memset(out, 0, sizeof *out);
    out->status = -1;
    out->self_service = -1;
    if (action == NULL || *action == '\0')
        return fail(LKM_MISSING_PARAM, msg, msgsz,
                    "no action: send it in the X-TC-Action header (POST) or the Action parameter (GET)");
    const struct action_def *def = NULL;
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
        if (strcmp(actions[i].name, action) == 0)
            def = &actions[i];
    if (def == NULL)
        return fail(LKM_INVALID_ACTION, msg, msgsz, "action '%s' does not exist", shown(action, b1));
    if (version == NULL || *version == '\0')
        return fail(LKM_MISSING_PARAM, msg, msgsz,
                    "no version: send X-TC-Version (POST) or Version (GET): %s for %s", def->version, def->name);
    if (strcmp(version, def->version) != 0)
        return fail(LKM_INVALID_ACTION, msg, msgsz, "action %s does not exist in version '%s' (it is in %s)",
                    def->name, shown(version, b2), def->version);
    out->action = def->action;
    out->op = def->op;
    out->action_name = def->name;

    unsigned seen = 0;
    if (params != NULL) {
        json_object_object_foreach(params, key, val)
        {
            int p = -1;
            for (int i = 0; i < P_COUNT_; i++)
                if (strcmp(param_names[i], key) == 0)
                    p = i;
            bool skip = false;
            for (size_t i = 0; p < 0 && i < sizeof ignored / sizeof ignored[0]; i++)
                skip = skip || strcmp(ignored[i], key) == 0;
            if (skip)
                continue;
            /* every change takes a Reason for its audit entry, as latchkey --reason */
            bool allowed = p >= 0 && ((def->allowed & B(p)) || (p == P_REASON && lkm_action_writes(def->action)));
            if (!allowed) {
                if (p == P_NAME && def->action == LK_ACT_APIKEY_MODIFY)
                    return fail(LKM_PARAM_ERROR, msg, msgsz, "an API key's Name cannot change");
                return fail(LKM_PARAM_ERROR, msg, msgsz, "%s takes no parameter '%s'", def->name, shown(key, b1));
            }
            if (val == NULL)
                return fail(LKM_PARAM_ERROR, msg, msgsz, "%s must not be null", param_names[p]);
            enum lkm_err e = get_param((enum param)p, val, out, msg, msgsz);
            if (e != LKM_OK)
                return e;
            seen |= B(p);
        }
    }
    for (int i = 0; i < P_COUNT_; i++)
        if ((def->required & B(i)) && !(seen & B(i)))
            return fail(LKM_MISSING_PARAM, msg, msgsz, "%s needs %s", def->name, param_names[i]);
    if ((seen & B(P_RATE_WINDOW)) && !(seen & B(P_RATE_LIMIT)))
        return fail(LKM_PARAM_ERROR, msg, msgsz, "RateWindowSeconds is given without RateLimit");
    if (out->has_rate && out->rate_limit > 0 && out->rate_window_s == 0)
        out->rate_window_s = 1;
    if (out->has_rate && out->rate_limit == 0)
        out->rate_window_s = 0;
    return LKM_OK;
}

/* ------------------------------------------------------------ credentials */

static const char *skip_sp(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

enum lkm_cred_kind lkm_credentials(const char *authorization, char *buf, size_t bufsz, struct lkm_cred *out)
{
    memset(out, 0, sizeof *out);
    out->id = out->secret = "";
    if (authorization == NULL)
        return LKM_CRED_NONE;
    const char *h = skip_sp(authorization);
    if (strncasecmp(h, "TC3-HMAC-SHA256", 15) == 0)
        return LKM_CRED_TC3;
    if (strncasecmp(h, "Bearer", 6) == 0 && (h[6] == ' ' || h[6] == '\t')) {
        const char *t = skip_sp(h + 7);
        size_t len = strlen(t);
        while (len > 0 && (t[len - 1] == ' ' || t[len - 1] == '\t'))
            len--;
        if (len >= 3 && strncmp(t, "lk-", 3) == 0)
            return LKM_CRED_APIKEY;
        const char *colon = memchr(t, ':', len);
        if (colon == NULL || colon - t != LK_SECRET_ID_LEN || len >= bufsz || strncmp(t, "AKID", 4) != 0)
            return LKM_CRED_BAD;
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
                return LKM_CRED_BAD;
        memcpy(buf, t, len);
        buf[len] = '\0';
        buf[LK_SECRET_ID_LEN] = '\0';
        out->id = buf;
        out->secret = buf + LK_SECRET_ID_LEN + 1;
        out->secret_len = len - LK_SECRET_ID_LEN - 1;
        return LKM_CRED_PAIR;
    }
    struct lkh_cred c;
    switch (lkh_credentials(authorization, NULL, buf, bufsz, &c)) {
    case LKH_CRED_APIKEY: return LKM_CRED_APIKEY;
    case LKH_CRED_PAIR:
        if (strlen(c.id) != LK_SECRET_ID_LEN) /* no SecretId: never cut down or padded to one */
            return LKM_CRED_BAD;
        out->id = c.id;
        out->secret = c.secret;
        out->secret_len = c.secret_len;
        return LKM_CRED_PAIR;
    case LKH_CRED_NONE: return LKM_CRED_NONE;
    default: return LKM_CRED_BAD;
    }
}

void lkm_time(int64_t t, char out[20])
{
    struct tm tm;
    time_t tt = (time_t)t;
    out[0] = '\0';
    if (t > 0 && gmtime_r(&tt, &tm) != NULL)
        strftime(out, 20, "%Y-%m-%d %H:%M:%S", &tm);
}

/* ------------------------------------------------------------ limits */

bool lkm_action_writes(lk_action a)
{
    return a == LK_ACT_KEY_CREATE || a == LK_ACT_KEY_UPDATE || a == LK_ACT_KEY_DELETE || a == LK_ACT_APIKEY_CREATE ||
           a == LK_ACT_APIKEY_MODIFY || a == LK_ACT_APIKEY_DELETE || a == LK_ACT_USER_UPDATE;
}

#define PROBE 16
#define UNIT 1000000u

bool lkm_limit_take(struct lkm_limiter *l, uint64_t uin, bool write, int64_t now_us)
{
    size_t home = (size_t)((uin * UINT64_C(0x9E3779B97F4A7C15)) >> 52) % LKM_LIMIT_SLOTS;
    struct lkm_bucket *e = NULL, *oldest = NULL;
    for (size_t i = 0; i < PROBE && e == NULL; i++) {
        struct lkm_bucket *x = &l->b[(home + i) % LKM_LIMIT_SLOTS];
        if (x->uin == uin)
            e = x;
        else if (oldest == NULL || (oldest->uin != 0 && (x->uin == 0 || x->last_us < oldest->last_us)))
            oldest = x;
    }
    if (e == NULL) { /* a new caller, in a free slot or the least recently seen one's */
        e = oldest;
        e->uin = uin;
        e->last_us = now_us;
        e->tokens[0] = (uint64_t)LKM_LIMIT_READ * UNIT;
        e->tokens[1] = (uint64_t)LKM_LIMIT_WRITE * UNIT;
    }
    int64_t elapsed = now_us > e->last_us ? now_us - e->last_us : 0;
    if (elapsed > 10 * 1000000)
        elapsed = 10 * 1000000; /* full long before: no overflow */
    e->last_us = now_us > e->last_us ? now_us : e->last_us;
    static const uint64_t rate[2] = {LKM_LIMIT_READ, LKM_LIMIT_WRITE};
    for (int k = 0; k < 2; k++) {
        e->tokens[k] += (uint64_t)elapsed * rate[k];
        if (e->tokens[k] > rate[k] * UNIT)
            e->tokens[k] = rate[k] * UNIT;
    }
    uint64_t *t = &e->tokens[write ? 1 : 0];
    if (*t < UNIT)
        return false;
    *t -= UNIT;
    return true;
}
