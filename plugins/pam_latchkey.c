/*
 * pam_latchkey.c — PAM module over latchkey.h (auth and account).
 *
 *   auth    required pam_latchkey.so [config=/etc/latchkey/latchkey.yaml]
 *                    [mode=secretid|apikey|any] [service=NAME]
 *                    [use_first_pass|try_first_pass] [debug]
 *   account required pam_latchkey.so (same arguments)
 *
 * mode=secretid (default): the PAM user is a SecretId, the password its
 * SecretKey. mode=apikey: any user, the password is an API key. mode=any: a
 * user that looks like a SecretId ("AKID...") is checked as one, anything
 * else as an API key. service= is the scope entry the key must hold;
 * PAM_RHOST, when it is an IP address, is checked against the allowlist.
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

enum pam_lk_mode { MODE_SECRETID, MODE_APIKEY, MODE_ANY };

struct pam_lk_args {
    const char *config;  /* points into argv or DEFAULT_CONFIG */
    const char *service; /* NULL: no scope required */
    enum pam_lk_mode mode;
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
    a->service = NULL;
    a->mode = MODE_SECRETID;
    a->debug = 0;

    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (arg == NULL) {
            pam_syslog(pamh, LOG_ERR, "NULL module argument");
            return PAM_SERVICE_ERR;
        }
        if (strcmp(arg, "debug") == 0) {
            a->debug = 1;
        } else if (strcmp(arg, "use_first_pass") == 0 || strcmp(arg, "try_first_pass") == 0) {
            /* Honoured by pam_get_authtok itself, which reads the module's
             * arguments: use_first_pass never prompts, try_first_pass reuses
             * an earlier module's password and prompts only without one. */
        } else if (strncmp(arg, "config=", 7) == 0) {
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

    n = snprintf(name, sizeof name, DATA_CTX_PREFIX "%s", a->config);
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
    st = lk_pool_acquire(a->config, &ctx, &ref);
    if (st != LK_OK) {
        pam_syslog(pamh, LOG_ERR, "cannot open %s: %s: %s", a->config, lk_status_code(st), lk_errmsg(NULL));
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
    case LK_DENY_IP:
    case LK_DENY_SCOPE:
        return PAM_AUTH_ERR;
    case LK_DENY_DISABLED:
        return account ? PAM_ACCT_EXPIRED : PAM_AUTH_ERR;
    case LK_ERR_CONFIG:
        return PAM_SERVICE_ERR;
    case LK_ERR_NOMEM:
        return PAM_BUF_ERR;
    default: /* store unreachable, corrupt, internal: fail closed */
        return PAM_AUTHINFO_UNAVAIL;
    }
}

static void log_status(pam_handle_t *pamh, lk_status st, const char *what, const char *user)
{
    /* The user name is a SecretId or an arbitrary name: public either way.
     * The core promises lk_errmsg never carries a secret. */
    int prio = lk_status_is_denial(st) ? LOG_NOTICE : LOG_ERR;
    pam_syslog(pamh, prio, "%s for user '%s' refused: %s: %s", what, user, lk_status_code(st), lk_errmsg(NULL));
}

static int looks_like_secret_id(const char *user)
{
    return strncmp(user, "AKID", 4) == 0;
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

int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    struct pam_lk_args a;
    const char *user = NULL, *tok = NULL;
    lk_ctx *ctx;
    lk_verify_req req;
    lk_verify_info info;
    lk_status st;
    int rc, as_secretid;

    (void)flags;
    if ((rc = parse_args(pamh, argc, argv, &a)) != PAM_SUCCESS)
        return rc;

    rc = pam_get_user(pamh, &user, NULL);
    if (rc != PAM_SUCCESS || user == NULL) {
        pam_syslog(pamh, LOG_NOTICE, "cannot determine user name: %s", pam_strerror(pamh, rc));
        return rc == PAM_CONV_AGAIN ? PAM_INCOMPLETE : PAM_USER_UNKNOWN;
    }
    as_secretid = a.mode == MODE_SECRETID || (a.mode == MODE_ANY && looks_like_secret_id(user));

    /* Owned by libpam: never freed here. */
    rc = pam_get_authtok(pamh, PAM_AUTHTOK, &tok, NULL);
    if (rc != PAM_SUCCESS || tok == NULL) {
        if (rc == PAM_CONV_AGAIN)
            return PAM_INCOMPLETE;
        pam_syslog(pamh, LOG_NOTICE, "cannot obtain the secret for user '%s': %s", user, pam_strerror(pamh, rc));
        return rc == PAM_SUCCESS ? PAM_AUTH_ERR : rc;
    }

    if ((rc = get_ctx(pamh, &a, &ctx)) != PAM_SUCCESS)
        return rc;

    /* A failed retry on this handle must not leave an earlier success's key
     * for the account phase to find. */
    if (!as_secretid)
        (void)pam_set_data(pamh, DATA_KEY_ID, NULL, NULL);

    req.client_ip = client_ip(pamh, a.debug);
    req.service = a.service;
    memset(&info, 0, sizeof info);
    if (as_secretid)
        st = lk_verify_key(ctx, user, tok, strlen(tok), &req, &info);
    else
        st = lk_verify_apikey(ctx, tok, strlen(tok), &req, &info);

    if (st != LK_OK) {
        log_status(pamh, st, as_secretid ? "SecretId" : "API key", user);
        /* The core says "malformed SecretId or SecretKey" without saying
         * which: a SecretId that exists makes it a bad secret, so the user
         * is not reported unknown for a mistyped SecretKey. */
        if (st == LK_DENY_MALFORMED && as_secretid) {
            lk_access_key k;
            if (lk_key_get(ctx, user, &k) == LK_OK)
                return PAM_AUTH_ERR;
        }
        return map_status(st, 0);
    }

    /* Let the account phase find the API key without the secret. */
    if (!as_secretid) {
        char *id = strdup(info.key_id);
        if (id == NULL || pam_set_data(pamh, DATA_KEY_ID, id, cleanup_str) != PAM_SUCCESS) {
            free(id);
            pam_syslog(pamh, LOG_ERR, "cannot remember the API key id");
            return PAM_BUF_ERR;
        }
    }
    if (a.debug)
        pam_syslog(pamh, LOG_DEBUG, "user '%s' granted by %s %s (uin %llu)", user,
                   as_secretid ? "SecretId" : "API key", info.key_id, (unsigned long long)info.uin);
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

/* Is the key still there and Active? No secret needed: a session opened by
 * another auth method (an SSH public key) is still checked here. */
int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    struct pam_lk_args a;
    const char *user = NULL;
    const void *data = NULL;
    lk_ctx *ctx;
    lk_status st;
    lk_key_status status;
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

    if (a.mode == MODE_SECRETID || (a.mode == MODE_ANY && looks_like_secret_id(user))) {
        lk_access_key k;
        memset(&k, 0, sizeof k);
        st = lk_key_get(ctx, user, &k);
        status = k.status;
    } else {
        /* The API key is the password, not the user: use the id our auth
         * phase recorded, or a user that is itself an API key id. */
        const char *id = NULL;
        lk_apikey k;
        if (pam_get_data(pamh, DATA_KEY_ID, &data) == PAM_SUCCESS && data != NULL)
            id = data;
        else if (strncmp(user, "lk-", 3) == 0 && strlen(user) == LK_APIKEY_ID_LEN)
            id = user;
        if (id == NULL) {
            pam_syslog(pamh, LOG_NOTICE, "no API key known for user '%s' (auth did not run through pam_latchkey)",
                       user);
            return PAM_USER_UNKNOWN;
        }
        memset(&k, 0, sizeof k);
        st = lk_apikey_get(ctx, id, &k);
        status = k.status;
        if (st == LK_OK)
            lk_apikey_release(&k);
    }

    if (st == LK_OK && status != LK_KEY_ACTIVE)
        st = LK_DENY_DISABLED;
    if (st != LK_OK) {
        log_status(pamh, st, "account", user);
        return map_status(st, 1);
    }
    return PAM_SUCCESS;
}
