/*
 * latchkey.h — issue, store and check API credentials without keeping a
 * secret in readable form.
 *
 * Model (after Tencent Cloud CAM and TokenHub):
 *   - users: a root account and its sub-users / collaborators, by numeric UIN;
 *   - access keys: SecretId/SecretKey pairs, at most 2 per user (configurable);
 *   - API keys: named keys of a root account, with description, scope,
 *     IP allowlist; at most 50 per root account (configurable);
 *   - access records: the latest 20 verification attempts of each key within
 *     the retention window (90 days), success and failure.
 *
 * What is stored: for every secret only an Argon2id hash
 * (crypto_pwhash_str). A SecretKey or API key value is returned exactly once,
 * by the create call, in guarded memory (lk_secret) that the caller wipes with
 * lk_secret_free(). Nothing in this API can read a secret back.
 *
 * Errors: every call that can fail returns an lk_status. LK_OK (0) is success.
 * lk_status_code() gives the CAM-style code ("OperationDenied.AccessKeyOverLimit"),
 * lk_strerror() a fixed description, and lk_errmsg() the detailed message of
 * the last failed call made by the calling thread. Messages never contain a
 * secret.
 *
 * Threads and processes: an lk_ctx may be shared by any number of threads.
 * Any number of processes may open the same store; writes are serialised by
 * the backend (one writer at a time), readers never block. After fork() the
 * child may keep using the ctx: the store is reopened on first use.
 */
#ifndef LATCHKEY_H
#define LATCHKEY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define LK_WARN_UNUSED __attribute__((warn_unused_result))
#define LK_EXPORT __attribute__((visibility("default")))
#else
#define LK_WARN_UNUSED
#define LK_EXPORT
#endif

#define LK_VERSION_STRING "0.1.0"

/* The library's version, e.g. "0.1.0". */
LK_EXPORT const char *lk_version(void);

/* ---------------------------------------------------------------- status */

typedef enum lk_status {
    LK_OK = 0,
    /* caller errors */
    LK_ERR_PARAM,             /* InvalidParameter.ParamError */
    LK_ERR_USER_NOT_EXIST,    /* InvalidParameter.UserNotExist */
    LK_ERR_USER_EXISTS,       /* InvalidParameter.UserAlreadyExist */
    LK_ERR_KEY_NOT_EXIST,     /* InvalidParameter.AccessKeyNotExist */
    LK_ERR_NAME_EXISTS,       /* InvalidParameter.ApiKeyNameExist */
    LK_ERR_KEY_OVER_LIMIT,    /* OperationDenied.AccessKeyOverLimit */
    LK_ERR_APIKEY_OVER_LIMIT, /* OperationDenied.ApiKeyOverLimit */
    LK_ERR_SUB_UIN,           /* OperationDenied.SubUin */
    LK_ERR_UIN_NOT_MATCH,     /* OperationDenied.UinNotMatch */
    LK_ERR_USER_HAS_KEYS,     /* OperationDenied.UserHasKeys */
    LK_ERR_KEY_ENABLED,       /* FailedOperation.Accesskey: delete needs disable first */
    LK_ERR_NOT_FOUND,         /* ResourceNotFound: a store record (backend level) */
    /* verification denials: the credential was checked and refused */
    LK_DENY_MALFORMED,        /* AuthFailure.InvalidSecretId */
    LK_DENY_UNKNOWN_KEY,      /* AuthFailure.SecretIdNotFound */
    LK_DENY_BAD_SECRET,       /* AuthFailure.SignatureFailure */
    LK_DENY_DISABLED,         /* AuthFailure.SecretIdDisabled */
    LK_DENY_IP,               /* AuthFailure.IpNotAllowed */
    LK_DENY_SCOPE,            /* AuthFailure.UnauthorizedOperation */
    /* environment */
    LK_ERR_CONFIG,            /* InvalidParameter.Config */
    LK_ERR_STORE,             /* FailedOperation.Storage: I/O error, corrupt store */
    LK_ERR_STORE_PERM,        /* FailedOperation.StorePermission: loose mode, owner, read-only */
    LK_ERR_STORE_FULL,        /* FailedOperation.StoreFull: disk or map full */
    LK_ERR_NOMEM,             /* InternalError.OutOfMemory */
    LK_ERR_INTERNAL,          /* InternalError */
    LK_STATUS_COUNT_
} lk_status;

/* CAM-style error code, e.g. "OperationDenied.AccessKeyOverLimit"; "Success" for LK_OK. */
LK_EXPORT const char *lk_status_code(lk_status st);
/* Fixed one-line description of a status. Never NULL. */
LK_EXPORT const char *lk_strerror(lk_status st);
/* 1 when st is a verification denial (LK_DENY_*). */
LK_EXPORT int lk_status_is_denial(lk_status st);

typedef struct lk_ctx lk_ctx;
typedef struct lk_config lk_config;

/* Detailed message of the last call that failed in the calling thread (on any
 * ctx, or while no ctx existed yet, e.g. lk_open). Valid until the thread's
 * next failing call. ctx may be NULL. Never NULL, never contains a secret. */
LK_EXPORT const char *lk_errmsg(const lk_ctx *ctx);

/* ---------------------------------------------------------------- config */

/* Load a YAML configuration file (see etc/latchkey.yaml). Unknown keys, wrong
 * types and out-of-range values fail with LK_ERR_CONFIG and a message naming
 * the file, line and key. Relative store paths are resolved against the
 * directory of the file. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_config_load(const char *path, lk_config **out);
/* A configuration with every default (LMDB store at the compiled-in path). */
LK_EXPORT LK_WARN_UNUSED lk_status lk_config_default(lk_config **out);
/* Set one dotted key, e.g. ("store.path", "/tmp/s.mdb"), with the same
 * validation as the file. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_config_set(lk_config *cfg, const char *key, const char *value);
/* Read back a setting as text (for display); NULL for an unknown key. */
LK_EXPORT const char *lk_config_get(const lk_config *cfg, const char *key);
LK_EXPORT void lk_config_free(lk_config *cfg);

/* ---------------------------------------------------------------- context */

/* Open the store named by the configuration. The store file is created (mode
 * 0600) if missing; an existing one that is group- or world-writable, or
 * owned by another non-root user, is refused with LK_ERR_STORE_PERM. A store
 * this process can read but not write (a read-only mount) is opened for
 * reading: verification works, without access records, and every change
 * fails with LK_ERR_STORE_PERM. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_open(const char *config_path, lk_ctx **out);
LK_EXPORT LK_WARN_UNUSED lk_status lk_open_config(const lk_config *cfg, lk_ctx **out);
/* Flushes deferred access records, closes the store, wipes every secret the
 * ctx held. NULL is a no-op. */
LK_EXPORT void lk_close(lk_ctx *ctx);
/* Write deferred access records now (verification batches them). */
LK_EXPORT LK_WARN_UNUSED lk_status lk_flush(lk_ctx *ctx);

/* Release memory returned by list calls (users, access keys). */
LK_EXPORT void lk_free(void *p);

/* ---------------------------------------------------------------- secrets */

/* A secret in guarded memory (sodium_malloc): NUL-terminated text. */
typedef struct lk_secret lk_secret;
LK_EXPORT const char *lk_secret_str(const lk_secret *s);
LK_EXPORT size_t lk_secret_len(const lk_secret *s);
/* Wipes and frees. NULL is a no-op. */
LK_EXPORT void lk_secret_free(lk_secret *s);

/* ---------------------------------------------------------------- users */

typedef enum lk_user_kind {
    LK_USER_ROOT = 0,
    LK_USER_SUB = 1,
    LK_USER_COLLABORATOR = 2
} lk_user_kind;

/* UINs are 1 .. 2^63-1. */
typedef struct lk_user {
    uint64_t uin;
    lk_user_kind kind;
    uint64_t root_uin;   /* == uin for a root account */
    int64_t create_time; /* Unix seconds */
} lk_user;

LK_EXPORT const char *lk_user_kind_name(lk_user_kind k); /* "root", "sub-user", "collaborator" */

/* Add a user. A root account has root_uin == uin (or 0); a sub-user or
 * collaborator names an existing root account (LK_ERR_USER_NOT_EXIST). */
LK_EXPORT LK_WARN_UNUSED lk_status lk_user_add(lk_ctx *ctx, uint64_t uin, lk_user_kind kind, uint64_t root_uin);
LK_EXPORT LK_WARN_UNUSED lk_status lk_user_get(lk_ctx *ctx, uint64_t uin, lk_user *out);
/* All users (root_uin 0) or one root account and its members, by UIN.
 * *out is freed with lk_free. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_user_list(lk_ctx *ctx, uint64_t root_uin, lk_user **out, size_t *count);
/* Delete a user. Refused with LK_ERR_USER_HAS_KEYS while it has access keys
 * or API keys, or (root) members — unless force, which deletes its keys
 * (never its members). */
LK_EXPORT LK_WARN_UNUSED lk_status lk_user_delete(lk_ctx *ctx, uint64_t uin, int force);

/* ---------------------------------------------------------------- access keys */

#define LK_SECRET_ID_LEN 36   /* "AKID" + 26 random + 6 checksum, base62 */
#define LK_SECRET_KEY_LEN 46  /* "LKSK" + 36 random (214 bits) + 6 checksum */

typedef enum lk_key_status {
    LK_KEY_ACTIVE = 0,
    LK_KEY_INACTIVE = 1
} lk_key_status;

LK_EXPORT const char *lk_key_status_name(lk_key_status s); /* "Active" / "Inactive" */

typedef struct lk_access_key {
    char secret_id[LK_SECRET_ID_LEN + 1];
    uint64_t uin;
    lk_key_status status;
    int64_t create_time;
    int64_t last_access_time; /* 0: never used */
} lk_access_key;

/* Create a SecretId/SecretKey pair for uin (LK_ERR_USER_NOT_EXIST,
 * LK_ERR_KEY_OVER_LIMIT at the per-user limit). On LK_OK *secret_key holds the
 * SecretKey: the only time it exists outside the caller's input. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_key_create(lk_ctx *ctx, uint64_t uin, lk_access_key *out, lk_secret **secret_key);
LK_EXPORT LK_WARN_UNUSED lk_status lk_key_get(lk_ctx *ctx, const char *secret_id, lk_access_key *out);
LK_EXPORT LK_WARN_UNUSED lk_status lk_key_list(lk_ctx *ctx, uint64_t uin, lk_access_key **out, size_t *count);
/* owner_uin != 0 checks the key belongs to that user (LK_ERR_UIN_NOT_MATCH). */
LK_EXPORT LK_WARN_UNUSED lk_status lk_key_set_status(lk_ctx *ctx, const char *secret_id, uint64_t owner_uin, lk_key_status st);
/* Only a disabled key can be deleted (LK_ERR_KEY_ENABLED). */
LK_EXPORT LK_WARN_UNUSED lk_status lk_key_delete(lk_ctx *ctx, const char *secret_id, uint64_t owner_uin);

/* ---------------------------------------------------------------- API keys */

#define LK_APIKEY_LEN 57      /* "lk-" + 12 id + 36 random + 6 checksum */
#define LK_APIKEY_ID_LEN 15   /* the public lookup id: the key's first 15 chars */
#define LK_APIKEY_MASKED_LEN 12 /* first 5 + "***" + last 4 */
#define LK_NAME_MAX 64        /* bytes of UTF-8 */
#define LK_DESC_MAX 256
#define LK_SERVICE_MAX 64     /* one scope entry: [A-Za-z0-9._:/-]+ */
#define LK_SCOPE_MAX 64       /* entries */
#define LK_ALLOW_IP_MAX 50    /* entries: IPv4/IPv6 address or CIDR */

typedef struct lk_apikey {
    char id[LK_APIKEY_ID_LEN + 1];
    uint64_t root_uin;
    char name[LK_NAME_MAX + 1];
    char description[LK_DESC_MAX + 1];
    lk_key_status status;
    char masked[LK_APIKEY_MASKED_LEN + 1];
    int64_t create_time;
    int64_t last_access_time;
    size_t scope_count;  /* 0: all services */
    char **scope;
    size_t allow_ip_count; /* 0: any address */
    char **allow_ip;
} lk_apikey;

typedef struct lk_apikey_spec {
    const char *name;         /* required, 1..LK_NAME_MAX bytes UTF-8, unique per account */
    const char *description;  /* optional */
    const char *const *scope; /* scope_count 0: all */
    size_t scope_count;
    const char *const *allow_ip;
    size_t allow_ip_count;
} lk_apikey_spec;

/* Fields left NULL / set_* == 0 are unchanged. Name and key value cannot change. */
typedef struct lk_apikey_edit {
    const char *description;
    int set_scope;
    const char *const *scope;
    size_t scope_count;
    int set_allow_ip;
    const char *const *allow_ip;
    size_t allow_ip_count;
} lk_apikey_edit;

/* Create an API key for a root account (LK_ERR_SUB_UIN for a member,
 * LK_ERR_APIKEY_OVER_LIMIT at the account limit). *key holds the key value. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_apikey_create(lk_ctx *ctx, uint64_t root_uin, const lk_apikey_spec *spec,
                                                    lk_apikey *out, lk_secret **key);
/* By id ("lk-..." 15 chars). out's lists are released with lk_apikey_release. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_apikey_get(lk_ctx *ctx, const char *id, lk_apikey *out);
LK_EXPORT LK_WARN_UNUSED lk_status lk_apikey_find(lk_ctx *ctx, uint64_t root_uin, const char *name, lk_apikey *out);
/* *out is freed with lk_apikey_list_free. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_apikey_list(lk_ctx *ctx, uint64_t root_uin, lk_apikey **out, size_t *count);
LK_EXPORT LK_WARN_UNUSED lk_status lk_apikey_edit_key(lk_ctx *ctx, const char *id, const lk_apikey_edit *edit);
LK_EXPORT LK_WARN_UNUSED lk_status lk_apikey_set_status(lk_ctx *ctx, const char *id, lk_key_status st);
/* Only a disabled key can be deleted (LK_ERR_KEY_ENABLED). */
LK_EXPORT LK_WARN_UNUSED lk_status lk_apikey_delete(lk_ctx *ctx, const char *id);
LK_EXPORT void lk_apikey_release(lk_apikey *k);
LK_EXPORT void lk_apikey_list_free(lk_apikey *arr, size_t count);

/* ---------------------------------------------------------------- verification */

typedef struct lk_verify_req {
    const char *client_ip; /* NULL: unknown; a key with an allowlist then denies */
    const char *service;   /* NULL: no scope required; else must be in the key's scope */
} lk_verify_req;

typedef struct lk_verify_info {
    uint64_t uin;        /* the key's owner (API key: its root account) */
    char key_id[LK_SECRET_ID_LEN + 1]; /* SecretId or API key id */
} lk_verify_info;

/* Verify a SecretId/SecretKey pair. Returns LK_OK when allowed, an LK_DENY_*
 * reason when refused, another status on error (store unreachable...).
 * Malformed input (bad prefix, length, checksum) and unknown ids are refused
 * before any Argon2id. The comparison of the secret is constant-time; the
 * secret is never copied outside guarded memory and intermediate copies are
 * wiped. Every attempt on a known key records an access record (deferred,
 * see lk_flush). req and info may be NULL. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_verify_key(lk_ctx *ctx, const char *secret_id, const char *secret_key,
                                                 size_t secret_len, const lk_verify_req *req, lk_verify_info *info);
LK_EXPORT LK_WARN_UNUSED lk_status lk_verify_apikey(lk_ctx *ctx, const char *apikey, size_t len,
                                                    const lk_verify_req *req, lk_verify_info *info);

/* ---------------------------------------------------------------- access records */

#define LK_RECORDS_MAX 20
#define LK_IP_STRLEN 46

typedef struct lk_access_record {
    int64_t time;
    char client_ip[LK_IP_STRLEN]; /* "" when unknown */
    char service[LK_SERVICE_MAX + 1];
    lk_status result;             /* LK_OK or the LK_DENY_* reason */
} lk_access_record;

/* The key's latest records within the retention window, newest first
 * (pending deferred records included), and its last access time. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_records(lk_ctx *ctx, const char *key_id, lk_access_record out[LK_RECORDS_MAX],
                                              size_t *count, int64_t *last_access_time);

/* ---------------------------------------------------------------- stats and testing */

typedef struct lk_stats {
    uint64_t argon2_verifies; /* full Argon2id verifications */
    uint64_t cache_hits;      /* verifications answered by the verified-secret cache */
    uint64_t early_rejects;   /* refused before any hash: malformed or unknown id */
    uint64_t records_flushed;
} lk_stats;

LK_EXPORT void lk_get_stats(lk_ctx *ctx, lk_stats *out);

/* Replace the clock (Unix seconds) — for tests of time-based rules. */
LK_EXPORT void lk_set_clock(lk_ctx *ctx, int64_t (*now)(void *arg), void *arg);

#ifdef __cplusplus
}
#endif
#endif /* LATCHKEY_H */
