/*
 * pam_latchkey.c — PAM module over latchkey.h (auth and account).
 *
 *   auth    required pam_latchkey.so [config=/etc/latchkey/latchkey.yaml | socket=PATH]
 *                    [mode=secretid|apikey|any] [service=NAME] [any_user]
 *                    [use_first_pass|try_first_pass] [debug]
 *   account required pam_latchkey.so (same arguments)
 *
 * mode=secretid (default): a SecretId/SecretKey pair, as user SecretId and
 * password SecretKey, or as password "SecretId:SecretKey" for a login name.
 * mode=apikey: the password is an API key. mode=any: either. service= is the
 * scope entry the key must hold; PAM_RHOST, when it is an IP address, is
 * checked against the allowlist.
 *
 * Identity: the PAM user must be the credential's own public id or the
 * login name bound to its owner (the core checks it: lk_verify_req.login).
 * any_user waives that, for setups where the key alone decides.
 *
 * Contexts come from a process-wide pool keyed by config path (ctx_pool.c):
 * PAM makes a new handle per transaction, and a long-lived host (saslauthd,
 * Dovecot's auth worker) would otherwise reopen the store and start with a
 * cold verified-secret cache at every login. The handle holds a reference
 * (pam_set_data), released at pam_end.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#define PAM_SM_AUTH
#define PAM_SM_ACCOUNT
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "ctx_pool.h"
#include "latchkey.h"

#ifndef LK_SYSCONFDIR
#define LK_SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG LK_SYSCONFDIR "/latchkey/latchkey.yaml"

/* pam_set_data names; the ctx name is followed by the config path. */
#define DATA_CTX_PREFIX "pam_latchkey:ctx:"
#define DATA_KEY_ID "pam_latchkey:key_id"

/* "SecretId:SecretKey" as one password, for a login name. */
#define PAIR_SEPARATOR ':'

enum pam_lk_mode { MODE_SECRETID, MODE_APIKEY, MODE_ANY };

struct pam_lk_args {
    const char *config;  /* points into argv or DEFAULT_CONFIG */
    const char *socket;  /* latchkeyd's socket: the host never opens the store */
    const char *service; /* NULL: no scope required */
    enum pam_lk_mode mode;
    int any_user; /* waive the identity binding: any PAM user with a valid key */
    int debug;
};

/* Same character set the core accepts for a scope entry. */
static int valid_service(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > LK_SERVICE_MAX)
        return 0;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:/-") == n;
}

/* Parse once into a struct; every problem is a service (admin) error. */
static int parse_args(pam_handle_t *pamh, int argc, const char **argv, struct pam_lk_args *a)
{
    a->config = DEFAULT_CONFIG;
    a->socket = NULL;
    int config_given = 0;
    a->service = NULL;
    a->mode = MODE_SECRETID;
    a->any_user = 0;
    a->debug = 0;

    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (arg == NULL) {
            pam_syslog(pamh, LOG_ERR, "NULL module argument");
            return PAM_SERVICE_ERR;
        }
        if (strcmp(arg, "debug") == 0) {
            a->debug = 1;
        } else if (strcmp(arg, "any_user") == 0) {
            a->any_user = 1;
        } else if (strcmp(arg, "use_first_pass") == 0 || strcmp(arg, "try_first_pass") == 0) {
            /* Honoured by pam_get_authtok itself, which reads the module's
             * arguments: use_first_pass never prompts, try_first_pass reuses
             * an earlier module's password and prompts only without one. */
        } else if (strncmp(arg, "socket=", 7) == 0) {
            a->socket = arg + 7;
            if (a->socket[0] != '/') {
                pam_syslog(pamh, LOG_ERR, "socket= needs an absolute path: %s", arg);
                return PAM_SERVICE_ERR;
            }
        } else if (strncmp(arg, "config=", 7) == 0) {
            config_given = 1;
            a->config = arg + 7;
            /* PAM hosts run in any working directory: relative is a trap. */
            if (a->config[0] != '/') {
                pam_syslog(pamh, LOG_ERR, "config= needs an absolute path: %s", arg);
                return PAM_SERVICE_ERR;
            }
        } else if (strncmp(arg, "service=", 8) == 0) {
            a->service = arg + 8;
            if (!valid_service(a->service)) {
                pam_syslog(pamh, LOG_ERR, "service= is not a valid scope entry: %s", arg);
                return PAM_SERVICE_ERR;
            }
        } else if (strncmp(arg, "mode=", 5) == 0) {
            const char *m = arg + 5;
            if (strcmp(m, "secretid") == 0)
                a->mode = MODE_SECRETID;
            else if (strcmp(m, "apikey") == 0)
                a->mode = MODE_APIKEY;
            else if (strcmp(m, "any") == 0)
                a->mode = MODE_ANY;
            else {
                pam_syslog(pamh, LOG_ERR, "mode= must be secretid, apikey or any: %s", arg);
                return PAM_SERVICE_ERR;
            }
        } else {
            pam_syslog(pamh, LOG_ERR, "unknown option: %s", arg);
            return PAM_SERVICE_ERR;
        }
    }
    if (config_given && a->socket != NULL) {
        pam_syslog(pamh, LOG_ERR, "config= and socket= exclude each other: latchkeyd reads the config");
        return PAM_SERVICE_ERR;
    }
    return PAM_SUCCESS;
}

static void cleanup_ctx(pam_handle_t *pamh, void *data, int error_status)
{
    (void)pamh;
    (void)error_status;
    lk_pool_release(data);
}

static void cleanup_str(pam_handle_t *pamh, void *data, int error_status)
{
    (void)pamh;
    (void)error_status;
    free(data);
}

/* The ctx for this handle and config, opened on first use. */
static int get_ctx(pam_handle_t *pamh, const struct pam_lk_args *a, lk_ctx **out)
{
    char name[sizeof DATA_CTX_PREFIX + 4096];
    const void *data = NULL;
    lk_ctx *ctx = NULL;
    lk_status st;
    int n;

    n = snprintf(name, sizeof name, DATA_CTX_PREFIX "%s%s", a->socket ? "unix:" : "", a->socket ? a->socket : a->config);
    if (n < 0 || (size_t)n >= sizeof name) {
        pam_syslog(pamh, LOG_ERR, "config path too long");
        return PAM_SERVICE_ERR;
    }
    if (pam_get_data(pamh, name, &data) == PAM_SUCCESS && data != NULL) {
        /* acquired earlier in this transaction (auth, then account) */
        *out = lk_pool_ctx(data);
        return PAM_SUCCESS;
    }

    lk_pool_ref *ref;
    const char *source = a->socket ? a->socket : a->config;
    st = a->socket ? lk_pool_acquire_socket(a->socket, &ctx, &ref) : lk_pool_acquire(a->config, &ctx, &ref);
    if (st != LK_OK) {
        pam_syslog(pamh, LOG_ERR, "cannot open %s: %s: %s", source, lk_status_code(st), lk_errmsg(NULL));
        switch (st) {
        case LK_ERR_STORE:
        case LK_ERR_STORE_PERM:
        case LK_ERR_STORE_FULL:
            return PAM_AUTHINFO_UNAVAIL;
        case LK_ERR_NOMEM:
            return PAM_BUF_ERR;
        default: /* LK_ERR_CONFIG, LK_ERR_PARAM: the admin's setup is wrong */
            return PAM_SERVICE_ERR;
        }
    }
    if (pam_set_data(pamh, name, ref, cleanup_ctx) != PAM_SUCCESS) {
        pam_syslog(pamh, LOG_ERR, "pam_set_data failed");
        lk_pool_release(ref);
        return PAM_BUF_ERR;
    }
    *out = ctx;
    return PAM_SUCCESS;
}

/* Map a verdict of the core to PAM. account: the disabled case is an expired
 * account rather than a failed authentication. */
static int map_status(lk_status st, int account)
{
    switch (st) {
    case LK_OK:
        return PAM_SUCCESS;
    case LK_DENY_UNKNOWN_KEY:
    case LK_DENY_MALFORMED:
    case LK_ERR_KEY_NOT_EXIST:
    case LK_ERR_NOT_FOUND:
        return PAM_USER_UNKNOWN;
    case LK_ERR_PARAM: /* account: a user that is no SecretId at all */
        return account ? PAM_USER_UNKNOWN : PAM_AUTH_ERR;
    case LK_DENY_BAD_SECRET:
    case LK_DENY_MISSING: /* no credential: a failed authentication, not an unknown user */
    case LK_DENY_IP:
    case LK_DENY_SCOPE:
    case LK_DENY_LOGIN:
    case LK_DENY_THROTTLED: /* latchkeyd: too many wrong secrets for this key lately */
    case LK_DENY_RATE_LIMIT: /* the API key's request limit is used up for now */
        return PAM_AUTH_ERR;
    case LK_DENY_DISABLED:
    case LK_DENY_EXPIRED:
        return account ? PAM_ACCT_EXPIRED : PAM_AUTH_ERR;
    case LK_ERR_CONFIG:
        return PAM_SERVICE_ERR;
    case LK_ERR_NOMEM:
        return PAM_BUF_ERR;
    default: /* store unreachable, corrupt, internal: fail closed */
        return PAM_AUTHINFO_UNAVAIL;
    }
}

/* The user name for a log line. Meant to be a SecretId or a name, but a key
 * typed at the wrong prompt must not reach syslog: only its public part. */
#define USER_SHOWN_MAX 128
static const char *user_shown(const char *user, char buf[USER_SHOWN_MAX])
{
    return lk_redact(user, buf, USER_SHOWN_MAX);
}

static void log_status(pam_handle_t *pamh, lk_status st, const char *what, const char *user)
{
    /* The core promises lk_errmsg never carries a secret. */
    char shown[USER_SHOWN_MAX];
    int prio = lk_status_is_denial(st) ? LOG_NOTICE : LOG_ERR;
    pam_syslog(pamh, prio, "%s for user '%s' refused: %s: %s", what, user_shown(user, shown), lk_status_code(st),
               lk_errmsg(NULL));
}

static int looks_like_secret_id(const char *user)
{
    return strncmp(user, "AKID", 4) == 0;
}

static int looks_like_apikey_id(const char *user)
{
    return strncmp(user, "lk-", 3) == 0 && strlen(user) == LK_APIKEY_ID_LEN;
}

/* What the user presented: a pair (id + secret) or an API key. The pair's
 * secret points into the token, never copied. */
struct presented {
    int is_pair;
    char id[LK_SECRET_ID_LEN + 1]; /* the pair's SecretId */
    const char *secret;
    size_t secret_len;
};

static void classify(const struct pam_lk_args *a, const char *user, const char *tok, struct presented *p)
{
    const char *sep = strchr(tok, PAIR_SEPARATOR);
    memset(p, 0, sizeof *p);
    if (a->mode != MODE_APIKEY && sep != NULL && (size_t)(sep - tok) == LK_SECRET_ID_LEN && looks_like_secret_id(tok)) {
        p->is_pair = 1;
        memcpy(p->id, tok, LK_SECRET_ID_LEN);
        p->secret = sep + 1;
    } else if (a->mode == MODE_SECRETID || (a->mode == MODE_ANY && looks_like_secret_id(user))) {
        p->is_pair = 1;
        snprintf(p->id, sizeof p->id, "%s", user); /* a longer user is no SecretId: cut, still malformed */
        if (strlen(user) > LK_SECRET_ID_LEN)
            p->id[0] = '\0';
        p->secret = tok;
    } else {
        p->secret = tok;
    }
    p->secret_len = strlen(p->secret);
}

/* PAM_RHOST may be a host name; the allowlist only knows addresses, and an
 * unknown address already denies a key that has an allowlist. */
static const char *client_ip(pam_handle_t *pamh, int debug)
{
    const void *item = NULL;
    unsigned char buf[sizeof(struct in6_addr)];

    if (pam_get_item(pamh, PAM_RHOST, &item) != PAM_SUCCESS || item == NULL || *(const char *)item == '\0')
        return NULL;
    if (inet_pton(AF_INET, item, buf) == 1 || inet_pton(AF_INET6, item, buf) == 1)
        return item;
    if (debug)
        pam_syslog(pamh, LOG_DEBUG, "PAM_RHOST '%s' is not an IP address: no client IP given", (const char *)item);
    return NULL;
}

/* Most PAM hosts are a process per login (sshd's PAM child, su, vsftpd,
 * PostgreSQL backends) and leave with _exit(): a queued access record would
 * be lost, so it is written before the verdict is returned. One write
 * transaction per login; a host with a high login rate should verify through
 * latchkeyd instead. */
static void write_records(pam_handle_t *pamh, lk_ctx *ctx)
{
    lk_status st = lk_flush(ctx);
    if (st != LK_OK)
        pam_syslog(pamh, LOG_WARNING, "access record not written: %s: %s", lk_status_code(st), lk_errmsg(ctx));
}

int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    struct pam_lk_args a;
    const char *user = NULL, *tok = NULL;
    lk_ctx *ctx;
    lk_verify_req req;
    lk_verify_info info;
    lk_status st;
    struct presented cred;
    int rc;

    (void)flags;
    if ((rc = parse_args(pamh, argc, argv, &a)) != PAM_SUCCESS)
        return rc;

    rc = pam_get_user(pamh, &user, NULL);
    if (rc != PAM_SUCCESS || user == NULL) {
        pam_syslog(pamh, LOG_NOTICE, "cannot determine user name: %s", pam_strerror(pamh, rc));
        return rc == PAM_CONV_AGAIN ? PAM_INCOMPLETE : PAM_USER_UNKNOWN;
    }
    /* Owned by libpam: never freed here. */
    rc = pam_get_authtok(pamh, PAM_AUTHTOK, &tok, NULL);
    if (rc != PAM_SUCCESS || tok == NULL) {
        if (rc == PAM_CONV_AGAIN)
            return PAM_INCOMPLETE;
        char shown[USER_SHOWN_MAX];
        pam_syslog(pamh, LOG_NOTICE, "cannot obtain the secret for user '%s': %s", user_shown(user, shown),
                   pam_strerror(pamh, rc));
        return rc == PAM_SUCCESS ? PAM_AUTH_ERR : rc;
    }

    if ((rc = get_ctx(pamh, &a, &ctx)) != PAM_SUCCESS)
        return rc;

    /* A failed retry on this handle must not leave an earlier success's key
     * for the account phase to find. */
    (void)pam_set_data(pamh, DATA_KEY_ID, NULL, NULL);

    classify(&a, user, tok, &cred);
    memset(&req, 0, sizeof req);
    req.client_ip = client_ip(pamh, a.debug);
    req.service = a.service;
    req.login = a.any_user ? NULL : user;
    memset(&info, 0, sizeof info);
    if (cred.is_pair)
        st = lk_verify_key(ctx, cred.id, cred.secret, cred.secret_len, &req, &info);
    else
        st = lk_verify_apikey(ctx, cred.secret, cred.secret_len, &req, &info);

    if (st != LK_OK)
        log_status(pamh, st, cred.is_pair ? "SecretId" : "API key", user);
    write_records(pamh, ctx);
    if (st != LK_OK) {
        /* The core says "malformed SecretId or SecretKey" without saying
         * which: a SecretId that exists makes it a bad secret, so the user
         * is not reported unknown for a mistyped SecretKey. */
        if (st == LK_DENY_MALFORMED && cred.is_pair) {
            lk_access_key k;
            if (cred.id[0] && lk_key_get(ctx, cred.id, &k) == LK_OK)
                return PAM_AUTH_ERR;
        }
        return map_status(st, 0);
    }

    /* Let the account phase check the same key, without the secret. */
    {
        char *id = strdup(info.key_id);
        if (id == NULL || pam_set_data(pamh, DATA_KEY_ID, id, cleanup_str) != PAM_SUCCESS) {
            free(id);
            pam_syslog(pamh, LOG_ERR, "cannot remember the API key id");
            return PAM_BUF_ERR;
        }
    }
    char shown[USER_SHOWN_MAX];
    if (a.debug)
        pam_syslog(pamh, LOG_DEBUG, "user '%s' granted by %s %s (uin %llu)", user_shown(user, shown),
                   cred.is_pair ? "SecretId" : "API key", info.key_id, (unsigned long long)info.uin);
    return PAM_SUCCESS;
}

int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    (void)pamh;
    (void)flags;
    (void)argc;
    (void)argv;
    return PAM_SUCCESS;
}

/* The status of one credential by its public id (SecretId or API key id). */
static lk_status credential_status(lk_ctx *ctx, const char *id, lk_key_status *status)
{
    lk_status st;
    if (looks_like_secret_id(id)) {
        lk_access_key k;
        st = lk_key_get(ctx, id, &k);
        *status = k.status;
    } else {
        lk_apikey k;
        st = lk_apikey_get(ctx, id, &k);
        *status = k.status;
        if (st == LK_OK)
            lk_apikey_release(&k);
    }
    return st;
}

/* Is the account still allowed, with no secret? A session opened by another
 * auth method (an SSH public key) is checked here too:
 *  - the key our auth phase verified on this handle must still be Active;
 *  - a PAM user that is a credential id: that credential must be Active;
 *  - a login name bound to a latchkey user: it must hold an Active credential;
 *  - any other user is not latchkey's: PAM_IGNORE, the rest of the stack
 *    decides (a stack of pam_latchkey alone still refuses: libpam fails a
 *    stack in which every module ignored). */
int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    struct pam_lk_args a;
    const char *user = NULL, *id = NULL;
    const void *data = NULL;
    lk_ctx *ctx;
    lk_status st;
    lk_key_status status = LK_KEY_INACTIVE;
    int rc;

    (void)flags;
    if ((rc = parse_args(pamh, argc, argv, &a)) != PAM_SUCCESS)
        return rc;
    rc = pam_get_user(pamh, &user, NULL);
    if (rc != PAM_SUCCESS || user == NULL) {
        pam_syslog(pamh, LOG_NOTICE, "cannot determine user name: %s", pam_strerror(pamh, rc));
        return rc == PAM_CONV_AGAIN ? PAM_INCOMPLETE : PAM_USER_UNKNOWN;
    }
    if ((rc = get_ctx(pamh, &a, &ctx)) != PAM_SUCCESS)
        return rc;

    if (pam_get_data(pamh, DATA_KEY_ID, &data) == PAM_SUCCESS && data != NULL)
        id = data;
    else if ((looks_like_secret_id(user) && strlen(user) == LK_SECRET_ID_LEN) || looks_like_apikey_id(user))
        id = user;

    if (id != NULL) {
        st = credential_status(ctx, id, &status);
        if (st == LK_OK && status != LK_KEY_ACTIVE) {
            char shown[USER_SHOWN_MAX];
            pam_syslog(pamh, LOG_NOTICE, "account for user '%s' refused: %s: key %s is disabled",
                       user_shown(user, shown), lk_status_code(LK_DENY_DISABLED), id);
            return PAM_ACCT_EXPIRED;
        }
    } else {
        st = lk_login_check(ctx, user, NULL);
        if (st == LK_ERR_USER_NOT_EXIST || st == LK_ERR_PARAM) {
            if (a.debug) {
                char shown[USER_SHOWN_MAX];
                pam_syslog(pamh, LOG_DEBUG, "user '%s' is not bound to latchkey: ignored", user_shown(user, shown));
            }
            return PAM_IGNORE;
        }
    }
    if (st != LK_OK) {
        log_status(pamh, st, "account", user);
        return map_status(st, 1);
    }
    return PAM_SUCCESS;
}
