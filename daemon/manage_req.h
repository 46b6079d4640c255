/*
 * manage_req.h — the management API's request reading, without the server:
 * the caller's credential from Authorization, the action and version, and
 * the action's parameters from a JSON body (POST) or the query (GET), into
 * one checked struct. Pure functions over strings and json-c objects
 * (manage.c feeds them libmicrohttpd's values), so the unit test and the
 * fuzzer (tests/fuzz/fuzz_manage.c) reach them without a socket.
 *
 * Strict on purpose: an unknown parameter (a mistyped "TargetUIN" would
 * otherwise act on the caller itself), a wrong type, a duplicate or an
 * out-of-range value is refused with a message naming it.
 */
#ifndef LKD_MANAGE_REQ_H
#define LKD_MANAGE_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "latchkey.h"

#define LKM_VERSION_CAM "2019-01-16"       /* the CAM access-key actions, as Tencent names them */
#define LKM_VERSION_APIKEY "2026-12-07"    /* latchkey's own API-key actions */
#define LKM_IDS_MAX 10                     /* GetSecurityLastUsed: SecretIdList entries */
#define LKM_MSG_MAX 256
#define LKM_GRACE_MAX 315360000 /* GraceSeconds: ten years */

/* The answer codes of request reading (the others come from lk_status_code). */
enum lkm_err {
    LKM_OK,
    LKM_INVALID_ACTION,  /* InvalidAction: unknown action, or not in this version */
    LKM_MISSING_PARAM,   /* MissingParameter */
    LKM_PARAM_ERROR      /* InvalidParameter.ParamError */
};
const char *lkm_err_code(enum lkm_err e);

/* What the service does for an action, one per action of the table: two
 * actions may share a permission (lk_action: RotateAccessKey is decided as
 * a create) but never a handler. */
enum lkm_op {
    LKM_OP_KEY_CREATE,
    LKM_OP_KEY_LIST,
    LKM_OP_KEY_SET_STATUS,
    LKM_OP_KEY_DELETE,
    LKM_OP_KEY_LAST_USED,
    LKM_OP_KEY_RECORDS,
    LKM_OP_KEY_SET_EXPIRY,
    LKM_OP_KEY_ROTATE,
    LKM_OP_APIKEY_CREATE,
    LKM_OP_APIKEY_DESCRIBE,
    LKM_OP_APIKEY_MODIFY,
    LKM_OP_APIKEY_DELETE,
    LKM_OP_APIKEY_RECORDS,
    LKM_OP_APIKEY_REROLL,
    LKM_OP_USER_LIST,
    LKM_OP_AUDIT_READ,
    LKM_OP_USER_UPDATE,
    LKM_OP_COUNT_
};

struct lkm_req {
    lk_action action; /* the permission core decides */
    enum lkm_op op;   /* the handler */
    const char *action_name;
    uint64_t target_uin;       /* TargetUin; 0: the caller */
    const char *access_key_id; /* AccessKeyId (a SecretId); NULL when not given */
    const char *api_key_id;    /* ApiKeyId ("lk-" + 12) */
    int status;                /* Status: LK_KEY_ACTIVE / LK_KEY_INACTIVE; -1 when not given */
    const char *ids[LKM_IDS_MAX];
    size_t nids;               /* SecretIdList */
    const char *name;          /* Name */
    const char *description;   /* Description; NULL when not given */
    bool has_scope, has_allow_ip, has_expire, has_rate;
    const char *scope[LK_SCOPE_MAX];
    size_t nscope;             /* Scope: [] or ["all"] is every service */
    const char *allow_ip[LK_ALLOW_IP_MAX];
    size_t nallow_ip;          /* IpAllowlist: [] is any address */
    int64_t expire_time;       /* ExpireTime: Unix seconds ("YYYY-MM-DD hh:mm:ss" UTC, or a number); 0 never */
    uint32_t rate_limit;       /* RateLimit: requests per RateWindowSeconds (default 1); 0 none */
    uint32_t rate_window_s;
    int self_service;          /* SelfService: an lk_self_service; -1 when not given */
    bool has_grace;
    int64_t grace_s;           /* GraceSeconds: how long the old key keeps working */
    bool force;                /* Force: rotate a key a revoke disabled */
    const char *reason;        /* Reason (a change's audit entry); NULL when not given */
};

/* A JSON body (len bytes, not NUL-terminated): it must be one JSON object
 * (nesting depth at most 8). *out is a new object the caller puts. */
enum lkm_err lkm_parse_body(const char *body, size_t len, json_object **out, char *msg, size_t msgsz);

/* One query argument of a GET into params: "Name" or "Name.N" (a list's
 * element N, 0..99); Action and Version are skipped (read apart). */
enum lkm_err lkm_query_add(json_object *params, const char *key, const char *value, char *msg, size_t msgsz);

/* The action, its version and params (NULL: none) into out; its strings
 * point into params, which must outlive out. */
enum lkm_err lkm_decode(const char *action, const char *version, json_object *params, struct lkm_req *out,
                        char *msg, size_t msgsz);

/* The caller's credential, from the Authorization header. */
enum lkm_cred_kind {
    LKM_CRED_NONE,   /* no Authorization header */
    LKM_CRED_BAD,    /* unreadable */
    LKM_CRED_TC3,    /* a TC3-HMAC-SHA256 signature: never accepted */
    LKM_CRED_APIKEY, /* an API key: a data-plane credential, refused here */
    LKM_CRED_PAIR    /* id: SecretId, secret: SecretKey */
};
struct lkm_cred {
    const char *id, *secret;
    size_t secret_len;
};
/* "Basic base64(SecretId:SecretKey)" or "Bearer SecretId:SecretKey". The
 * results point into buf (bufsz >= LKH_CRED_BUF, guarded; the caller wipes). */
enum lkm_cred_kind lkm_credentials(const char *authorization, char *buf, size_t bufsz, struct lkm_cred *out);

/* Per-caller request limits (token buckets keyed by the caller's UIN, in a
 * bounded table: a caller evicted by many others starts again full). Exact
 * within one process; the caller passes the clock (microseconds) and holds
 * the lock. */
#define LKM_LIMIT_SLOTS 4096
#define LKM_LIMIT_WRITE 5  /* per second: create, update, delete, modify */
#define LKM_LIMIT_READ 20  /* per second: list, describe, last used, records */
struct lkm_bucket {
    uint64_t uin; /* 0: free */
    int64_t last_us;
    uint64_t tokens[2]; /* millionths of a request */
};
struct lkm_limiter {
    struct lkm_bucket b[LKM_LIMIT_SLOTS];
};
/* Take one request of class write (else read) for uin at now_us: false when
 * its bucket is empty. */
bool lkm_limit_take(struct lkm_limiter *l, uint64_t uin, bool write, int64_t now_us);
/* The class of an action: true for a change. */
bool lkm_action_writes(lk_action a);

/* Unix seconds as "YYYY-MM-DD hh:mm:ss" (UTC) into out (20 bytes); "" for 0. */
void lkm_time(int64_t t, char out[20]);

#endif
