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
 * child may keep using the ctx, even if other threads of the parent were
 * inside latchkey calls at the fork: on first use the child reopens the
 * store, re-creates the ctx's locks, starts with an empty verified-secret
 * cache and leaves the access records the parent had queued to the parent
 * (whose flusher thread does not exist in the child: the child's first
 * queued record starts one of its own).
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
    LK_DENY_BAD_SECRET,       /* AuthFailure.SignatureFailure: a wrong secret, or a request refused
                               * before its secret was checked (the three below), whatever the secret */
    /* the reasons of those refusals, in access records (a verify answers LK_DENY_BAD_SECRET) */
    LK_DENY_DISABLED,         /* AuthFailure.SecretIdDisabled (also lk_login_check's: no Active key) */
    LK_DENY_IP,               /* AuthFailure.IpNotAllowed */
    LK_DENY_SCOPE,            /* AuthFailure.UnauthorizedOperation (also lk_authorize's refusal) */
    /* environment */
    LK_ERR_CONFIG,            /* InvalidParameter.Config */
    LK_ERR_STORE,             /* FailedOperation.Storage: I/O error, corrupt store */
    LK_ERR_STORE_PERM,        /* FailedOperation.StorePermission: loose mode, owner, read-only */
    LK_ERR_STORE_FULL,        /* FailedOperation.StoreFull: disk or map full */
    LK_ERR_NOMEM,             /* InternalError.OutOfMemory */
    LK_ERR_INTERNAL,          /* InternalError */
    /* Appended: the numbers above are frozen by the plugin ABI. */
    LK_DENY_LOGIN,            /* AuthFailure.LoginNotMatch: the credential is not the claimed identity's */
    LK_DENY_THROTTLED,        /* AuthFailure.TooManyAttempts: too many wrong secrets for this key
                               * lately (latchkeyd); refused without checking the secret */
    LK_ERR_BUSY,              /* RequestLimitExceeded.Busy: latchkeyd's Argon2id queue is full; fail closed */
    LK_ERR_NEEDS_HASH,        /* FailedOperation.NeedsHash: lk_verify_*_cached and the answer needs an
                               * Argon2id (not a verdict; nothing recorded) */
    LK_ERR_LOGIN_EXISTS,      /* InvalidParameter.LoginExist: login name bound to another user */
    LK_DENY_EXPIRED,          /* AuthFailure.SecretIdExpired: the key's expiry time has passed; decided
                               * after the secret is checked, like LK_DENY_LOGIN */
    LK_DENY_RATE_LIMIT,       /* LimitExceeded.RequestLimit: the API key's own request limit for the
                               * current window is used up; decided last, after everything else
                               * allowed the request */
    LK_DENY_MISSING,          /* AuthFailure.MissingCredential: the request carried no credential at
                               * all (latchkeyd's HTTP endpoint: no Authorization, no API key header) */
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

/* Copy text into buf (bufsz bytes, always NUL-terminated, cut to fit) with
 * every credential in it cut to its public part: a SecretId is kept, an API
 * key keeps its id (first LK_APIKEY_ID_LEN characters), a SecretKey only its
 * "LKSK" prefix; what follows becomes "..." (at most as many dots as
 * characters removed, so the result is never longer than text). For
 * messages and logs that show untrusted input, which may be a key pasted in
 * the wrong place. Returns buf ("" when buf is NULL or bufsz is 0). */
LK_EXPORT const char *lk_redact(const char *text, char *buf, size_t bufsz);

/* ---------------------------------------------------------------- config */

/* Load a YAML configuration file (see etc/latchkey.yaml). path NULL: the
 * default file, SYSCONFDIR/latchkey/latchkey.yaml of this build
 * (/etc/latchkey/latchkey.yaml for --prefix=/usr); no environment variable
 * is consulted. Unknown keys, wrong types and out-of-range values fail with
 * LK_ERR_CONFIG and a message naming the file, line and key; so does a
 * missing file. Relative store paths are resolved against the directory of
 * the file. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_config_load(const char *path, lk_config **out);
/* A configuration with every default (LMDB store at the compiled-in path,
 * LOCALSTATEDIR/lib/latchkey/store.mdb: /var/lib/latchkey/store.mdb for
 * --prefix=/usr). */
LK_EXPORT LK_WARN_UNUSED lk_status lk_config_default(lk_config **out);
/* Set one dotted key, e.g. ("store.path", "/tmp/s.mdb"), with the same
 * validation as the file. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_config_set(lk_config *cfg, const char *key, const char *value);
/* Read back a setting as text (for display); NULL for an unknown key. */
LK_EXPORT const char *lk_config_get(const lk_config *cfg, const char *key);
LK_EXPORT void lk_config_free(lk_config *cfg);

/* ---------------------------------------------------------------- context */

/* Open the store named by the configuration. The store must exist (see
 * lk_store_create): a missing one is LK_ERR_STORE, with a message naming the
 * path, and nothing is created. An existing store that is group- or
 * world-writable, owned by another non-root user, a symbolic link, or in a
 * directory other users may write (unless sticky), is refused with
 * LK_ERR_STORE_PERM. A store this process can read but not write (a
 * read-only mount) is opened for reading: verification works, without
 * access records, and every change fails with LK_ERR_STORE_PERM. config_path NULL: the
 * default configuration file, as for lk_config_load. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_open(const char *config_path, lk_ctx **out);
LK_EXPORT LK_WARN_UNUSED lk_status lk_open_config(const lk_config *cfg, lk_ctx **out);
/* Create the empty store the configuration names (mode 0600; its directory
 * must exist), the only call that creates one. An existing store is
 * checked as lk_open checks it and left unchanged: LK_OK. Safe to call from
 * several processes at once; the store is closed again on return.
 * Errors: LK_ERR_CONFIG, LK_ERR_STORE (missing directory, I/O),
 * LK_ERR_STORE_PERM (directory not writable, unsafe store or directory). */
LK_EXPORT LK_WARN_UNUSED lk_status lk_store_create(const lk_config *cfg);
/* lk_store_create, saying for a person where the store is and what was
 * done: *where the store's path, or for PostgreSQL its server as
 * host:port/db (never the conninfo); *what "" for a file store, for
 * PostgreSQL "schema version N, " and then "created", "already current",
 * "upgraded from version M" or "repaired (...)". Either buffer may be NULL.
 * Errors: those of lk_store_create. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_store_create_described(const lk_config *cfg, char *where, size_t where_size,
                                                             char *what, size_t what_size);
/* Copy every record (users, keys with their hashes, API keys, access
 * records) of the store `from` names into the store `to` names, between any
 * two backends; both must exist (lk_store_create). A target that holds
 * anything is refused (LK_ERR_PARAM) unless replace is set, which empties it
 * first, all but its audit log: that is history and is kept, with the
 * source's entries merged into it in time order. Either way the target's
 * log gets a "store.copy" entry (the source's backend and file, what was
 * replaced, copied and kept). One write txn on the target: all or nothing; writers of the source
 * may go on meanwhile (the copy is the snapshot it read). *copied (may be
 * NULL): the records written. Errors: LK_ERR_PARAM (the same store, a
 * non-empty target), those of lk_open_config, LK_ERR_STORE_FULL. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_store_copy(const lk_config *from, const lk_config *to, int replace,
                                                 size_t *copied);
/* What a store copy wrote (or a replace removed), by kind. */
typedef struct lk_copy_counts {
    size_t users, access_keys, apikeys;
    size_t access_records; /* attempts recorded (up to records.keep per key) */
    size_t audit_entries;
    size_t records;        /* every stored record, the indexes included */
} lk_copy_counts;
typedef struct lk_copy_opts {
    int replace; /* as lk_store_copy's */
    /* Optional: called from the copying thread every few hundred records
     * and once at the end, with the source's records read so far and its
     * total (done == total at the end; the source is counted first only
     * when this is set). */
    void (*progress)(void *arg, size_t done, size_t total);
    void *progress_arg;
} lk_copy_opts;
/* lk_store_copy with options (NULL: none) and counts: *copied what was
 * copied, *removed (replace) what the target held before, its audit log
 * aside (either may be NULL). A replace empties the target one kind at a
 * time, each in one operation where the backend can (PostgreSQL: one
 * DELETE), inside the copy's transaction. The refusal of a non-empty
 * target says what it holds and names --replace. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_store_copy_counted(const lk_config *from, const lk_config *to,
                                                         const lk_copy_opts *opts, lk_copy_counts *copied,
                                                         lk_copy_counts *removed);
/* Stops and joins the ctx's flusher thread, flushes deferred access
 * records, closes the store, wipes every secret the ctx held. No other
 * thread may be using the ctx. NULL is a no-op. */
LK_EXPORT void lk_close(lk_ctx *ctx);
/* Write deferred access records now, on the calling thread: when it
 * returns, every record queued before the call is written (it waits for a
 * flush the flusher thread is in). On a ctx from lk_connect: a no-op (the
 * service writes its own). */
LK_EXPORT LK_WARN_UNUSED lk_status lk_flush(lk_ctx *ctx);
/* Default 1: verifications queue access records and a thread of the ctx's
 * own (started by the first queued record; never on a read-only store)
 * writes them every records.flush_interval_ms, or sooner when
 * records.flush_batch are queued; no verifying thread ever writes them. It
 * runs at nice 10 and blocks every signal: the host's threads come first.
 * enabled 0: records only queue (no thread is started; a running one
 * sleeps) and the caller runs lk_flush from a thread of its own, every
 * records.flush_interval_ms. latchkeyd does this. See doc/storage.md. */
LK_EXPORT void lk_set_auto_flush(lk_ctx *ctx, int enabled);

/* Connect to latchkeyd on the UNIX socket socket_path and return a ctx in
 * client mode. Before any secret is sent, the socket must be owned by root,
 * by this process's effective user or by the "latchkey" service user, and
 * the server process (SO_PEERCRED) must run as that owner or as root.
 * Through it work: lk_verify_key, lk_verify_apikey, lk_key_get,
 * lk_apikey_get, lk_login_check, lk_get_stats (the service's counters), lk_flush (no-op),
 * lk_close; every other call fails with LK_ERR_PARAM.
 * A service that is gone, or silent for longer than the timeout (15 s),
 * fails the call at once with LK_ERR_STORE (fail closed); the next call
 * reconnects. Threads: the ctx may be shared; each concurrent call uses its
 * own connection from a small pool. Processes: after fork() the child never
 * uses the parent's connections, it opens its own. Secrets are sent from the
 * caller's buffer and the copies in the request buffer are wiped. A secret
 * the protocol cannot carry (empty, over 256 bytes, or holding a NUL: no
 * real one does) is refused as LK_DENY_MALFORMED without asking the
 * service, so it leaves no access record. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_connect(const char *socket_path, lk_ctx **out);

/* Where and as whom lk_connect_endpoint calls the management API. */
typedef struct lk_endpoint_conf {
    const char *url;         /* https://HOST[:PORT][/PATH]; http:// only to a loopback address (127.0.0.0/8,
                              * [::1], localhost), since the caller's SecretKey travels in every request */
    const char *cacert;      /* NULL: the system's CA store; else a PEM file of the CAs to trust */
    const char *secret_id;   /* the caller's access key; NULL: both are read from credentials_file */
    const char *secret_key;  /* secret_key_len bytes; copied into guarded memory */
    size_t secret_key_len;
    const char *credentials_file; /* read when secret_id is NULL: lines "secret_id = AKID..." and
                                   * "secret_key = LKSK..." (blank lines and # comments allowed); it must be
                                   * a regular file owned by this user that neither group nor others may
                                   * read or write (0600), else refused with LK_ERR_CONFIG, as ssh refuses
                                   * a loose private key */
} lk_endpoint_conf;

/* A ctx in client mode for latchkeyd's management API (daemon.manage):
 * every call is an HTTP request made as the caller whose access-key pair
 * conf names, and what the caller may do is latchkeyd's decision (its
 * refusals come back as their statuses, e.g. LK_ERR_SUB_UIN). Through it
 * work: lk_key_create (lk_key_create_expiring with no expiry), lk_key_list,
 * lk_key_set_status, lk_key_delete (owner_uin 0: the caller's own key),
 * lk_records (access keys only; the caller's own or those of owner shown by
 * the service), lk_apikey_create, lk_apikey_list, lk_apikey_edit_key
 * (description, scope and allowlist only), lk_apikey_set_status,
 * lk_apikey_delete, lk_flush (no-op), lk_close; every other call fails with
 * LK_ERR_PARAM. Certificates are checked (peer and host name) against the
 * system's CA store or conf->cacert; redirects are never followed. Nothing
 * is sent here: a server that cannot be reached fails the first call with
 * LK_ERR_STORE. Errors: LK_ERR_PARAM (the URL), LK_ERR_CONFIG (the
 * credentials: missing, malformed, a loose file), LK_ERR_NOMEM. The
 * SecretKey is kept in guarded memory and never appears in a message.
 * Threads: the ctx may be shared; each concurrent call uses its own
 * connection (kept alive between calls). */
LK_EXPORT LK_WARN_UNUSED lk_status lk_connect_endpoint(const lk_endpoint_conf *conf, lk_ctx **out);

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

/* A login name binds a user to a host account (a Unix user name): letters,
 * digits, '_', '.', '-', starting with a letter, digit or '_', at most 32
 * bytes (useradd's limit), and not shaped like a SecretId or an API key id.
 * Unique in the store. */
#define LK_LOGIN_MAX 32

/* What a sub-user or collaborator may do to its own access keys through the
 * management plane (lk_authorize). A user record written before this
 * existed reads as LK_SELF_NONE. */
typedef enum lk_self_service {
    LK_SELF_NONE = 0,   /* the default: may not manage its own keys */
    LK_SELF_READ = 1,   /* list its own keys, their last use and access records */
    LK_SELF_MANAGE = 2  /* every action on its own access keys */
} lk_self_service;
LK_EXPORT const char *lk_self_service_name(lk_self_service s); /* "none", "read", "manage" */
/* "none", "read" or "manage"; else LK_ERR_PARAM with a message naming the text. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_self_service_parse(const char *text, lk_self_service *out);

/* UINs are 1 .. 2^63-1. */
typedef struct lk_user {
    uint64_t uin;
    lk_user_kind kind;
    uint64_t root_uin;   /* == uin for a root account */
    int64_t create_time; /* Unix seconds */
    char login[LK_LOGIN_MAX + 1]; /* "" when none is bound */
    lk_self_service self_service; /* a member's grant; LK_SELF_MANAGE for a root account, which is
                                   * never restricted (and never given a grant) */
} lk_user;

LK_EXPORT const char *lk_user_kind_name(lk_user_kind k); /* "root", "sub-user", "collaborator" */

/* Add a user. A root account has root_uin == uin (or 0); a sub-user or
 * collaborator names an existing root account (LK_ERR_USER_NOT_EXIST). */
LK_EXPORT LK_WARN_UNUSED lk_status lk_user_add(lk_ctx *ctx, uint64_t uin, lk_user_kind kind, uint64_t root_uin);
/* The same, binding login (NULL or "": none) in the same transaction.
 * LK_ERR_PARAM for a malformed login, LK_ERR_LOGIN_EXISTS when another user
 * holds it. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_user_add_login(lk_ctx *ctx, uint64_t uin, lk_user_kind kind, uint64_t root_uin,
                                                     const char *login);
/* The same, with the user's self-service grant (LK_SELF_NONE: as
 * lk_user_add_login), in the same transaction and audit entry. A root
 * account takes none (LK_ERR_PARAM otherwise). */
LK_EXPORT LK_WARN_UNUSED lk_status lk_user_add_self_service(lk_ctx *ctx, uint64_t uin, lk_user_kind kind,
                                                            uint64_t root_uin, const char *login,
                                                            lk_self_service self);
/* Bind, change (login) or remove (NULL or "") a user's login name. Binding
 * the name the user already has is a no-op. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_user_set_login(lk_ctx *ctx, uint64_t uin, const char *login);
/* The user bound to login: LK_ERR_USER_NOT_EXIST when none is. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_user_find_login(lk_ctx *ctx, const char *login, lk_user *out);
/* May a host account named login use latchkey credentials now (the account
 * phase of PAM, with no secret)? LK_OK when login is bound and its user holds
 * at least one Active credential (an access key of its own, or for a root
 * account also an API key); LK_DENY_DISABLED when it is bound and holds none;
 * LK_ERR_USER_NOT_EXIST when no user is bound to it (latchkey does not know
 * this account: the host decides). out (may be NULL) gets the user. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_login_check(lk_ctx *ctx, const char *login, lk_user *out);
LK_EXPORT LK_WARN_UNUSED lk_status lk_user_get(lk_ctx *ctx, uint64_t uin, lk_user *out);
/* All users (root_uin 0) or one root account and its members, by UIN.
 * *out is freed with lk_free. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_user_list(lk_ctx *ctx, uint64_t root_uin, lk_user **out, size_t *count);
/* Set a sub-user's or collaborator's self-service grant, audited as
 * "user.edit". Setting the grant it already has is a no-op. LK_ERR_PARAM for
 * a value out of range or a root account (never restricted, so never
 * granted), LK_ERR_USER_NOT_EXIST. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_user_set_self_service(lk_ctx *ctx, uint64_t uin, lk_self_service s);
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

/* "Never expires", as an expiry time. No date maps to it: every time a
 * command line gives for an expiry lies in the future (lk_parse_time with
 * LK_TIME_FUTURE), and 0 is 1970-01-01T00:00:00Z. A record without an
 * expiry (as every older version wrote) never expires. */
#define LK_EXPIRES_NEVER 0

typedef struct lk_access_key {
    char secret_id[LK_SECRET_ID_LEN + 1];
    uint64_t uin;
    lk_key_status status;
    int64_t create_time;
    int64_t last_access_time; /* 0: never used */
    int64_t expire_time;      /* Unix seconds; 0: never expires. Refused (LK_DENY_EXPIRED) from
                               * this second on */
} lk_access_key;

/* Create a SecretId/SecretKey pair for uin (LK_ERR_USER_NOT_EXIST,
 * LK_ERR_KEY_OVER_LIMIT at the per-user limit). On LK_OK *secret_key holds the
 * SecretKey: the only time it exists outside the caller's input. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_key_create(lk_ctx *ctx, uint64_t uin, lk_access_key *out, lk_secret **secret_key);
/* The same, with an expiry time (Unix seconds; 0: never). An expiry that is
 * not in the future is LK_ERR_PARAM. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_key_create_expiring(lk_ctx *ctx, uint64_t uin, int64_t expire_time,
                                                          lk_access_key *out, lk_secret **secret_key);
/* Set (Unix seconds) or clear (0) an access key's expiry. A time in the past
 * is allowed here (it expires the key at once). owner_uin as below. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_key_set_expiry(lk_ctx *ctx, const char *secret_id, uint64_t owner_uin,
                                                     int64_t expire_time);
/* Rotation with a grace period, in one write transaction: create a new pair
 * for the owner of secret_id (with expiry new_expire_time, 0: never) and make
 * the old one expire grace_seconds from now (never later than an expiry it
 * already has). Refused with LK_ERR_KEY_OVER_LIMIT when the owner already
 * holds limits.keys_per_user pairs (delete one first), LK_ERR_PARAM for a
 * negative grace, a key rotated already or disabled by lk_revoke_user (see
 * lk_key_rotate_with), LK_ERR_KEY_NOT_EXIST, LK_ERR_UIN_NOT_MATCH
 * (owner_uin != 0 and not the owner). out/secret_key as for lk_key_create. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_key_rotate(lk_ctx *ctx, const char *secret_id, uint64_t owner_uin,
                                                 int64_t grace_seconds, int64_t new_expire_time, lk_access_key *out,
                                                 lk_secret **secret_key);
/* How lk_key_rotate_with and lk_apikey_reroll_with make the new key. */
typedef struct lk_rotate_opts {
    int64_t grace_seconds; /* how long the old key keeps working (>= 0; never past an expiry it has) */
    int set_expiry;        /* 0: the new key keeps the old key's expiry (refused, LK_ERR_PARAM, when
                            * that has passed); 1: expire_time (in the future, or LK_EXPIRES_NEVER) */
    int64_t expire_time;
    int force;             /* also rotate a key that lk_revoke_user disabled: without it that is
                            * LK_ERR_PARAM (an incident response is not undone by a rotation) */
} lk_rotate_opts;
/* lk_key_rotate with options. Also refused (LK_ERR_PARAM): a key already
 * rotated whose successor still exists (rotate that one), a key disabled by
 * lk_revoke_user and not re-enabled since (unless force). The old key
 * records its successor; the audit entries say whether the expiry was
 * carried over and whether a revoke was overridden. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_key_rotate_with(lk_ctx *ctx, const char *secret_id, uint64_t owner_uin,
                                                      const lk_rotate_opts *opts, lk_access_key *out,
                                                      lk_secret **secret_key);
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
    int64_t expire_time;   /* Unix seconds; 0: never expires */
    uint32_t rate_limit;   /* allowed requests per rate_window_s; 0: no limit */
    uint32_t rate_window_s;
} lk_apikey;

typedef struct lk_apikey_spec {
    const char *name;         /* required, 1..LK_NAME_MAX bytes UTF-8, unique per account; not only
                               * white space, and neither beginning nor ending with it */
    const char *description;  /* optional */
    const char *const *scope; /* scope_count 0: all */
    size_t scope_count;
    const char *const *allow_ip;
    size_t allow_ip_count;
    int64_t expire_time;      /* Unix seconds, in the future; 0: never expires */
    uint32_t rate_limit;      /* 1..LK_RATE_MAX requests per rate_window_s (1..LK_RATE_WINDOW_MAX); 0: none */
    uint32_t rate_window_s;
} lk_apikey_spec;

/* Per-key request limits: counted in memory by each ctx, in fixed windows
 * of rate_window_s starting at a key's first allowed request; only requests
 * that would otherwise be allowed count. One ctx: exact across its threads
 * (latchkeyd has one, so the limit is exact across all its clients); each
 * process that opens the store itself counts on its own. Nothing is written
 * to the store per request. */
#define LK_RATE_MAX 1000000000u
#define LK_RATE_WINDOW_MAX 86400u

/* Fields left NULL / set_* == 0 are unchanged; all the others change in one
 * write transaction, with one audit entry, or none does. Name and key value
 * cannot change. */
typedef struct lk_apikey_edit {
    const char *description;
    int set_scope;
    const char *const *scope;
    size_t scope_count;
    int set_allow_ip;
    const char *const *allow_ip;
    size_t allow_ip_count;
    int set_expiry;            /* expire_time: Unix seconds (the past expires it at once), 0 never */
    int64_t expire_time;
    int set_rate_limit;        /* rate_limit requests per rate_window_s; 0 and 0 clear it */
    uint32_t rate_limit;
    uint32_t rate_window_s;
    int set_status;            /* status, in the same change (an enable ends a revoke, as lk_apikey_set_status) */
    lk_key_status status;
} lk_apikey_edit;

/* Create an API key for a root account (LK_ERR_SUB_UIN for a member,
 * LK_ERR_APIKEY_OVER_LIMIT at the account limit). *key holds the key value. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_apikey_create(lk_ctx *ctx, uint64_t root_uin, const lk_apikey_spec *spec,
                                                    lk_apikey *out, lk_secret **key);
/* ---- bulk issuance */

typedef enum lk_import_kind { LK_IMPORT_USER, LK_IMPORT_APIKEY, LK_IMPORT_KEY } lk_import_kind;
/* One thing lk_import adds, as the single calls would. */
typedef struct lk_import_item {
    lk_import_kind kind;
    uint64_t uin;                 /* user: its UIN; API key: its root account; access key: its owner */
    lk_user_kind user_kind;       /* user: as lk_user_add_self_service's */
    uint64_t root_uin;
    const char *login;            /* NULL or "": none */
    lk_self_service self_service;
    lk_apikey_spec apikey;        /* API key: as lk_apikey_create's */
    int64_t expire_time;          /* access key: as lk_key_create_expiring's */
} lk_import_item;
/* What lk_import made for one item. */
typedef struct lk_import_result {
    char id[LK_SECRET_ID_LEN + 1]; /* the new key's SecretId or API key id; "" for a user */
    lk_secret *secret;             /* its SecretKey or API key (NULL for a user): shown once, then
                                    * lk_secret_free */
} lk_import_result;
/* Add n users and keys in ONE write transaction: all or nothing. Every item
 * is checked before anything is hashed or written, then every secret is
 * made (Argon2id, outside the write txn), then each item is added in order,
 * with the checks and audit entries of its single call (an item sees the
 * items before it: a user, then its keys; limits count them), and one
 * "store.import" entry. out[0..n) gets the results (zeroed on failure, and
 * nothing is stored). On failure *failed (may be NULL) is the index of the
 * item refused, and the message is that call's; n when no item was (the
 * store, memory, a remote ctx). Local stores only (LK_ERR_PARAM). */
LK_EXPORT LK_WARN_UNUSED lk_status lk_import(lk_ctx *ctx, const lk_import_item *items, size_t n,
                                             lk_import_result *out, size_t *failed);

/* By id ("lk-..." 15 chars). out's lists are released with lk_apikey_release. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_apikey_get(lk_ctx *ctx, const char *id, lk_apikey *out);
LK_EXPORT LK_WARN_UNUSED lk_status lk_apikey_find(lk_ctx *ctx, uint64_t root_uin, const char *name, lk_apikey *out);
/* *out is freed with lk_apikey_list_free. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_apikey_list(lk_ctx *ctx, uint64_t root_uin, lk_apikey **out, size_t *count);
LK_EXPORT LK_WARN_UNUSED lk_status lk_apikey_edit_key(lk_ctx *ctx, const char *id, const lk_apikey_edit *edit);
LK_EXPORT LK_WARN_UNUSED lk_status lk_apikey_set_status(lk_ctx *ctx, const char *id, lk_key_status st);
/* Set (limit requests per window_s) or clear (0, 0) an API key's request limit. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_apikey_set_rate_limit(lk_ctx *ctx, const char *id, uint32_t limit,
                                                            uint32_t window_s);
/* Set (Unix seconds; the past expires it at once) or clear (0) an API key's expiry. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_apikey_set_expiry(lk_ctx *ctx, const char *id, int64_t expire_time);
/* A new value for an API key, in one write transaction: a new key (a new id:
 * the id is the value's first characters) with the same account, name,
 * description, scope and allowlist (expiry new_expire_time, 0: never), and
 * the old one expires grace_seconds from now (never later than an expiry it
 * already has) and keeps working until then. The name now finds the new
 * key; the old one keeps its name in lists until deleted. The pair may
 * exceed limits.apikeys_per_account by one during the grace period, never
 * more (LK_ERR_APIKEY_OVER_LIMIT). out/key as for lk_apikey_create. Errors:
 * LK_ERR_PARAM (negative grace, a key rerolled already or disabled by
 * lk_revoke_user: see lk_apikey_reroll_with), LK_ERR_KEY_NOT_EXIST. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_apikey_reroll(lk_ctx *ctx, const char *id, int64_t grace_seconds,
                                                    int64_t new_expire_time, lk_apikey *out, lk_secret **key);
/* lk_apikey_reroll with options (see lk_rotate_opts and lk_key_rotate_with).
 * The account holds at most limits.apikeys_per_account + 1 keys during a
 * grace period: a reroll beyond that is LK_ERR_APIKEY_OVER_LIMIT (delete
 * the rolled-out key first). */
LK_EXPORT LK_WARN_UNUSED lk_status lk_apikey_reroll_with(lk_ctx *ctx, const char *id, const lk_rotate_opts *opts,
                                                         lk_apikey *out, lk_secret **key);
/* Only a disabled key can be deleted (LK_ERR_KEY_ENABLED). */
LK_EXPORT LK_WARN_UNUSED lk_status lk_apikey_delete(lk_ctx *ctx, const char *id);
LK_EXPORT void lk_apikey_release(lk_apikey *k);
LK_EXPORT void lk_apikey_list_free(lk_apikey *arr, size_t count);

/* ---------------------------------------------------------------- lifecycle */

/* A key with an expiry, as lk_expiring lists it. */
typedef struct lk_expiring_key {
    char key_id[LK_SECRET_ID_LEN + 1]; /* SecretId or API key id */
    int is_apikey;
    uint64_t uin;                      /* the owner (API key: its root account) */
    char name[LK_NAME_MAX + 1];        /* an API key's name; "" for an access key */
    lk_key_status status;
    int64_t expire_time;
} lk_expiring_key;

/* Every access key and API key whose expiry is set and earlier than before
 * (Unix seconds), already expired ones included, soonest first. *out is
 * freed with lk_free. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_expiring(lk_ctx *ctx, int64_t before, lk_expiring_key **out, size_t *count);

/* Disable every access key and API key of a user, and for a root account of
 * all its members, in one write transaction. *disabled (may be NULL): how
 * many were Active. LK_ERR_USER_NOT_EXIST for an unknown user. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_revoke_user(lk_ctx *ctx, uint64_t uin, size_t *disabled);

/* ---------------------------------------------------------------- audit log */

/* Every change (users, access keys, API keys, revoke) appends one entry to
 * the store's audit log in the transaction that makes the change: when, who
 * (the process's real uid and its user name), what, on which key or user,
 * on which host, what changed in words ("expiry never → 2027-01-31 12:00:00
 * +0000", never a secret) and an optional reason.
 * Entries older than audit.retention_days are dropped as new ones are
 * written, by a clock one host's wrong time cannot push far ahead (see
 * audit.c). */
#define LK_AUDIT_TEXT_MAX 256     /* a reason */
#define LK_AUDIT_HOST_MAX 255     /* a host name */
#define LK_AUDIT_FIELDS_MAX 65536 /* an entry's fields: above what the largest change (an API
                                   * key with every list full) needs; never cut */

typedef struct lk_audit_entry {
    int64_t time;
    uint32_t uid;                       /* the acting process's real uid */
    char user[LK_LOGIN_MAX + 1];        /* its user name; "" when it has none */
    char action[32];                    /* "key.create", "apikey.reroll", "user.delete", ... */
    char target[LK_SECRET_ID_LEN + 1];  /* a SecretId, an API key id, or a UIN in decimal */
    uint64_t uin;                       /* the user the change concerns (a key's owner) */
    const char *fields;                 /* what changed, "what from → to; ...", in full (at most
                                         * LK_AUDIT_FIELDS_MAX bytes); "" for none. Points into
                                         * the block lk_audit_list returns */
    char reason[LK_AUDIT_TEXT_MAX + 1]; /* "" when none was given */
    /* Set when the change was made for a caller of the management plane
     * (lk_audit_caller); uid/user are then the service's own. */
    uint64_t caller_uin;                /* 0: no caller (the local admin tool) */
    char caller_secret_id[LK_SECRET_ID_LEN + 1]; /* the SecretId it presented; "" when a proxy named it */
    char caller_login[LK_LOGIN_MAX + 1]; /* the login a trusted proxy named; "" otherwise */
    char caller_peer[64];               /* its address */
    char request_id[40];                /* the request's UUID */
    char host[LK_AUDIT_HOST_MAX + 1];   /* the host name of the machine that made the change;
                                         * "" for an entry written before hosts were recorded */
} lk_audit_entry;

/* The reason recorded with the changes the calling thread makes from now on
 * (NULL or "": none), e.g. "leaked". At most LK_AUDIT_TEXT_MAX bytes of
 * printable text holding no SecretKey or API key value (lk_scan_text; a
 * SecretId is fine), else LK_ERR_PARAM and the reason is unchanged. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_audit_reason(const char *reason);
/* The entries from since (Unix seconds) on, oldest first; key_id (NULL: any)
 * keeps those about that key, uin (0: any) those about that user. *out and
 * every entry's fields are one block, freed with lk_free. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_audit_list(lk_ctx *ctx, int64_t since, const char *key_id, uint64_t uin,
                                                 lk_audit_entry **out, size_t *count);

/* ---------------------------------------------------------------- self-service and the management plane */

typedef enum lk_action {
    LK_ACT_KEY_CREATE, LK_ACT_KEY_LIST, LK_ACT_KEY_UPDATE, LK_ACT_KEY_DELETE,
    LK_ACT_KEY_LAST_USED, LK_ACT_KEY_RECORDS,
    LK_ACT_APIKEY_CREATE, LK_ACT_APIKEY_DESCRIBE, LK_ACT_APIKEY_MODIFY, LK_ACT_APIKEY_DELETE,
    LK_ACT_USER_LIST, LK_ACT_AUDIT_READ,
    LK_ACT_USER_UPDATE, /* a member's self-service grant: its root account's, on a member only */
    LK_ACT_COUNT_
} lk_action;

/* Who asks, on the management plane. */
typedef struct lk_caller {
    uint64_t uin;                         /* the authenticated user */
    char secret_id[LK_SECRET_ID_LEN + 1]; /* the access key it presented; "" when a proxy named it */
    char login[LK_LOGIN_MAX + 1];         /* the login a trusted proxy named; "" otherwise */
    char peer[64];                        /* the peer's address, as text */
    char request_id[40];                  /* the request's UUID */
} lk_caller;

/* May caller do action on target_uin (0: the caller itself)? Decided here, once, for every
 * front end. LK_OK; LK_ERR_USER_NOT_EXIST (InvalidParameter.UserNotExist) for a target that
 * does not exist; LK_ERR_UIN_NOT_MATCH (OperationDenied.UinNotMatch) for a target of another
 * account; LK_ERR_SUB_UIN (OperationDenied.SubUin) for a sub-user/collaborator acting on its
 * root account; LK_DENY_SCOPE (AuthFailure.UnauthorizedOperation) for an action the caller's
 * grant does not allow (a member on another member, read-only writing, ungranted, API-key
 * actions by a non-root). A caller that no longer exists: LK_DENY_UNKNOWN_KEY.
 * LK_ACT_USER_UPDATE on a root account (the caller itself included): LK_ERR_PARAM, since a
 * root account is never granted (lk_user_set_self_service).
 * Reads the store only (one read transaction); LK_ERR_PARAM for a NULL caller, an action out
 * of range or a UIN out of range. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_authorize(lk_ctx *ctx, const lk_caller *caller, lk_action action,
                                                uint64_t target_uin);

/* The caller the next changes made by this thread are audited as (NULL: the process's own
 * uid, as the local admin tool). Per thread, like lk_audit_reason. LK_ERR_PARAM (and the
 * caller unchanged) for a field that is not printable text or a UIN out of range. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_audit_caller(const lk_caller *caller);

/* What lk_scan_text finds. */
typedef enum lk_cred_kind {
    LK_CRED_SECRET_ID = 0,  /* a SecretId (public; with its SecretKey a working pair) */
    LK_CRED_SECRET_KEY = 1, /* a SecretKey: names no key (its SecretId is not part of it) */
    LK_CRED_APIKEY = 2      /* a whole API key value */
} lk_cred_kind;

typedef struct lk_found_cred {
    lk_cred_kind kind;
    size_t offset;                         /* where in the text */
    size_t len;
    char public_id[LK_SECRET_ID_LEN + 1];  /* the SecretId, the API key's id; "" for a SecretKey */
} lk_found_cred;

/* Find latchkey credentials in text[0..len) (any bytes): a SecretId, a
 * SecretKey or an API key value, each recognised by its prefix, exact
 * length, alphabet and checksum, and standing alone (no letter or digit
 * right before or after it; an escape right before it counts as a separator:
 * %XX as in key%3Dlk-..., \n \t \r \b \f \v \0, \xXX, \uXXXX). A find
 * is only well-formed: anyone can write one naming any key id (the checksum
 * is public). fn is called for each, in order; a non-zero
 * return stops the scan. Returns how many were found (reported). Needs no
 * ctx or store; a found secret is never copied (found->offset points into
 * text). */
LK_EXPORT size_t lk_scan_text(const char *text, size_t len, int (*fn)(void *arg, const lk_found_cred *found),
                              void *arg);

/* Parse an expiry or a time span given on a command line, relative to now
 * (Unix seconds): "90d", "24h", "30m", "45s", "2w" (a positive whole number
 * and one unit: seconds, minutes, hours, days, weeks) is now + that span;
 * "YYYY-MM-DD" (00:00:00 UTC) or "YYYY-MM-DDTHH:MM:SSZ" an absolute UTC time.
 * flags: LK_TIME_SPAN_ONLY (1) accepts only the first form and *out is the
 * span in seconds; LK_TIME_FUTURE (2) refuses a date that is not after now
 * (and after 1970-01-01T00:00:00Z), as an expiry needs: so no date an
 * expiry is given as maps to LK_EXPIRES_NEVER. LK_ERR_PARAM with a message
 * naming the text otherwise. */
#define LK_TIME_SPAN_ONLY 1
#define LK_TIME_FUTURE 2
LK_EXPORT LK_WARN_UNUSED lk_status lk_parse_time(const char *text, int64_t now, int flags, int64_t *out);

/* A time (Unix seconds) in local time (TZ), in one of the shapes latchkey
 * prints: LK_TIMEFMT_TEXT "2027-01-31 20:00:00 +0800", what a person reads
 * (tables, messages, the audit); LK_TIMEFMT_TENCENT "2027-01-31 20:00:00",
 * the Tencent Cloud API's shape; LK_TIMEFMT_ISO "2027-01-31T20:00:00+08:00"
 * (ISO 8601, RFC 3339). "@SECONDS" should the C library fail. Returns buf. */
typedef enum lk_time_shape { LK_TIMEFMT_TEXT, LK_TIMEFMT_TENCENT, LK_TIMEFMT_ISO } lk_time_shape;
#define LK_TIME_STRLEN 40
LK_EXPORT const char *lk_format_time(int64_t t, lk_time_shape shape, char buf[LK_TIME_STRLEN]);

/* ---------------------------------------------------------------- verification */

/* What the caller asks for besides the credential. A malformed field is the
 * caller's error, not a verdict on the credential: verification returns
 * LK_ERR_PARAM before any lookup, and records nothing. A host that only has a
 * host name for the peer (PAM_RHOST may hold one) passes NULL. */
typedef struct lk_verify_req {
    const char *client_ip; /* NULL or "": unknown, and a key with an allowlist denies; else one IPv4 or
                            * IPv6 address (no prefix length, no host name) */
    const char *service;   /* NULL or "": none named, and a key whose scope is a list of services
                            * denies (LK_DENY_SCOPE), one with scope "all" allows; else a scope
                            * entry (1..LK_SERVICE_MAX of A-Z a-z 0-9 . _ : / -) that must be in
                            * the key's scope */
    const char *login;     /* NULL: no identity check. Else the identity the caller claims
                              (a PAM user): allowed only when it is the credential's own
                              public id or the login bound to the credential's owner (for
                              an API key, its root account); else LK_DENY_LOGIN, decided
                              after the secret is checked */
    unsigned flags;        /* LK_VERIFY_* */
} lk_verify_req;

/* The caller checks the scope itself, per operation (the Mosquitto plugin
 * matches topics against it): no service is required at verify. */
#define LK_VERIFY_SCOPE_BY_CALLER 0x1u

/* LK_OK when req (may be NULL) is well-formed, else LK_ERR_PARAM with a
 * message naming the field. lk_verify_key and lk_verify_apikey check it
 * first; a caller may check earlier, e.g. before reading a secret. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_verify_req_check(const lk_verify_req *req);

typedef struct lk_verify_info {
    uint64_t uin;        /* the key's owner (API key: its root account) */
    char key_id[LK_SECRET_ID_LEN + 1]; /* SecretId or API key id */
} lk_verify_info;

/* Verify a SecretId/SecretKey pair. Returns LK_OK when allowed, an LK_DENY_*
 * reason when refused, LK_ERR_PARAM for a malformed req (lk_verify_req_check),
 * another status on error (store unreachable...).
 * Malformed input (bad prefix, length, checksum) and unknown ids are refused
 * before any Argon2id. So are a disabled key, a client address outside an
 * API key's allowlist and a service outside its scope, and, the secret being
 * unchecked, they are answered as a wrong secret (LK_DENY_BAD_SECRET, the
 * same message) whatever the secret: a caller that has not proven it holds
 * the key learns nothing of the key's state or rules. The access record
 * keeps the reason (LK_DENY_DISABLED, LK_DENY_IP, LK_DENY_SCOPE). Expiry,
 * login and request limit are decided after the secret, and told. The comparison of the secret is constant-time; the
 * secret is never copied outside guarded memory and intermediate copies are
 * wiped. Every attempt on a known key records an access record (deferred,
 * see lk_flush). req and info may be NULL. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_verify_key(lk_ctx *ctx, const char *secret_id, const char *secret_key,
                                                 size_t secret_len, const lk_verify_req *req, lk_verify_info *info);
LK_EXPORT LK_WARN_UNUSED lk_status lk_verify_apikey(lk_ctx *ctx, const char *apikey, size_t len,
                                                    const lk_verify_req *req, lk_verify_info *info);
/* The same, answering only what needs no Argon2id: a verdict reached without
 * hashing (malformed, unknown, disabled, IP, scope, a verified-secret cache
 * hit) is returned and recorded as by lk_verify_key / lk_verify_apikey (so
 * disabled, IP and scope as LK_DENY_BAD_SECRET, recorded as such); when
 * the secret would have to be hashed they return LK_ERR_NEEDS_HASH instead,
 * record nothing, and fill info (key id, owner). latchkeyd answers warm
 * verifies with these on its request threads and runs the full call on its
 * bounded Argon2id pool, so a warm verify never waits behind a hash. (Plain
 * functions rather than a request flag: a caller that leaves req->flags
 * uninitialised must never get this behaviour by accident.) */
LK_EXPORT LK_WARN_UNUSED lk_status lk_verify_key_cached(lk_ctx *ctx, const char *secret_id, const char *secret_key,
                                                        size_t secret_len, const lk_verify_req *req,
                                                        lk_verify_info *info);
LK_EXPORT LK_WARN_UNUSED lk_status lk_verify_apikey_cached(lk_ctx *ctx, const char *apikey, size_t len,
                                                           const lk_verify_req *req, lk_verify_info *info);

/* Is this the key's own value? LK_OK when the whole value (an API key; a
 * SecretKey with its SecretId) matches the key's stored hash, whatever the
 * key's status, scope, allowlist or expiry; LK_DENY_BAD_SECRET when it does
 * not (a forgery: the checksum is public, so anyone can write a well-formed
 * value naming any key id; or a value of a key since rerolled or rotated);
 * LK_ERR_KEY_NOT_EXIST for no such key; LK_ERR_PARAM for a malformed id or
 * API key value. Costs one Argon2id; uses no cache, records no access and
 * changes nothing. For `latchkey scan --disable`, which must act only on a
 * value proven to be the key. Not available through latchkeyd. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_key_matches(lk_ctx *ctx, const char *secret_id, const char *secret_key,
                                                  size_t secret_len);
LK_EXPORT LK_WARN_UNUSED lk_status lk_apikey_matches(lk_ctx *ctx, const char *apikey, size_t len);

/* Record an attempt the caller refused before verifying it (latchkeyd's
 * throttle: LK_DENY_THROTTLED) in key_id's access records, like a verify
 * would. result must be an LK_DENY_* status (else LK_ERR_PARAM). Deferred
 * like every record (see lk_flush). Not available through latchkeyd. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_record_refusal(lk_ctx *ctx, const char *key_id, const lk_verify_req *req,
                                                     lk_status result);

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

/* ---------------------------------------------------------------- change detection */

/* A number that changes whenever anything but access records changes in
 * the store (a key, its status, scope or allowlist, a user, a login), in any
 * process, and when the store file was replaced: a host may keep what it
 * read (a connected client's key record) while the number stays the same.
 * Cheap where the backend can tell (LMDB, flatfile: no transaction); *gen
 * is 0 when it cannot (PostgreSQL, a latchkeyd client): read every time.
 * Writing access records does not change it. */
LK_EXPORT LK_WARN_UNUSED lk_status lk_store_generation(lk_ctx *ctx, uint64_t *gen);

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
