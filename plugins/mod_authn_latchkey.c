/*
 * mod_authn_latchkey.c — Apache httpd 2.4 module over latchkey.h.
 *
 *   LoadModule authn_latchkey_module .../mod_authn_latchkey.so
 *   LatchkeyConfig /etc/latchkey/latchkey.yaml
 *
 *   <Location /app>             # browsers, curl -u: HTTP Basic
 *       AuthType Basic
 *       AuthName "app"
 *       AuthBasicProvider latchkey
 *       LatchkeyService app
 *       Require valid-user
 *   </Location>
 *   <Location /api>             # API clients: Authorization: Bearer <API key>
 *       AuthType latchkey
 *       AuthName "api"
 *       LatchkeyService api
 *       Require valid-user
 *   </Location>
 *
 * Two ways in, one verify path:
 *  - an authn provider "latchkey" for mod_auth_basic: user SecretId and
 *    password SecretKey, or a user and an API key as password. The user must
 *    be the credential's own public id or the login bound to its owner
 *    (lk_verify_req.login, as in pam_latchkey) unless LatchkeyAnyUser On;
 *  - AuthType latchkey, a check_authn hook of its own (Apache has no Bearer
 *    scheme): "Authorization: Bearer <API key>" or the header named by
 *    LatchkeyApiKeyHeader. 401 + WWW-Authenticate: Bearer for a missing,
 *    malformed, unknown or wrong key; 403 for a disabled key, an address
 *    outside the allowlist, a service outside the scope.
 *
 * On success r->user is the owner's login when one is bound, else its UIN,
 * and LATCHKEY_UIN / LATCHKEY_KEY_ID are set for CGI and proxies.
 *
 * Contexts: one lk_ctx per configuration file per process, from the same
 * pool as the PAM module (ctx_pool.c), opened lazily by the first request of
 * each child: the parent never opens the store (it runs as root and
 * forks), and an lk_ctx is thread-safe for mpm_event. At child exit the
 * queued access records are flushed. No storage or crypto logic here.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "apr_lib.h"
#include "apr_network_io.h"
#include "apr_strings.h"

/* httpd.h first: the others use its types. */
#include "httpd.h"
#include "ap_provider.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "mod_auth.h"

#include "ctx_pool.h"
#include "latchkey.h"

#ifndef LK_SYSCONFDIR
#define LK_SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG LK_SYSCONFDIR "/latchkey/latchkey.yaml"
#define AUTH_TYPE "latchkey"
#define USER_SHOWN_MAX 128

/* Declares authn_latchkey_module for the log macros used before its
 * definition at the end. */
APLOG_USE_MODULE(authn_latchkey);

enum ip_source { IP_UNSET = 0, IP_PEER, IP_HEADER };

/* Per directory. Every field has an "unset" value so that a <Location>
 * inherits what it does not say (merge_dir_config). */
struct lk_dir_conf {
    const char *config;       /* NULL: unset (DEFAULT_CONFIG) */
    const char *service;      /* NULL: unset; "" after "LatchkeyService none" */
    const char *apikey_header; /* NULL: unset (Authorization: Bearer only) */
    enum ip_source ip_source;
    const char *ip_header;
    apr_array_header_t *proxies; /* apr_ipsubnet_t *; NULL: unset */
    int any_user;             /* -1: unset */
};

static void *create_dir_conf(apr_pool_t *p, char *dir)
{
    struct lk_dir_conf *c = apr_pcalloc(p, sizeof *c);
    (void)dir;
    c->any_user = -1;
    return c;
}

static void *merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    const struct lk_dir_conf *base = basev, *add = addv;
    struct lk_dir_conf *c = apr_pcalloc(p, sizeof *c);
    c->config = add->config ? add->config : base->config;
    c->service = add->service ? add->service : base->service;
    c->apikey_header = add->apikey_header ? add->apikey_header : base->apikey_header;
    if (add->ip_source != IP_UNSET) {
        c->ip_source = add->ip_source;
        c->ip_header = add->ip_header;
    } else {
        c->ip_source = base->ip_source;
        c->ip_header = base->ip_header;
    }
    c->proxies = add->proxies ? add->proxies : base->proxies;
    c->any_user = add->any_user != -1 ? add->any_user : base->any_user;
    return c;
}

/* ---------------------------------------------------------------- directives */

/* A broken configuration file stops Apache at start-up, not at the first
 * request. Only the file is checked here: the store is opened by the
 * children, as their User. */
static const char *set_config(cmd_parms *cmd, void *dcfg, const char *arg)
{
    struct lk_dir_conf *c = dcfg;
    lk_config *cfg = NULL;
    const char *path = ap_server_root_relative(cmd->pool, arg);

    if (path == NULL)
        return apr_psprintf(cmd->pool, "LatchkeyConfig: invalid path %s", arg);
    lk_status st = lk_config_load(path, &cfg);
    if (st != LK_OK)
        return apr_psprintf(cmd->pool, "LatchkeyConfig: %s: %s", lk_status_code(st), lk_errmsg(NULL));
    lk_config_free(cfg);
    c->config = path;
    return NULL;
}

/* Same character set the core accepts for a scope entry. */
static int valid_service(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > LK_SERVICE_MAX)
        return 0;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:/-") == n;
}

static const char *set_service(cmd_parms *cmd, void *dcfg, const char *arg)
{
    struct lk_dir_conf *c = dcfg;
    if (strcasecmp(arg, "none") == 0) {
        c->service = ""; /* undo an outer LatchkeyService */
        return NULL;
    }
    if (!valid_service(arg))
        return apr_psprintf(cmd->pool, "LatchkeyService: not a valid scope entry: %s", arg);
    c->service = arg;
    return NULL;
}

static const char *set_apikey_header(cmd_parms *cmd, void *dcfg, const char *arg)
{
    struct lk_dir_conf *c = dcfg;
    (void)cmd;
    /* Authorization is read for Bearer anyway; naming it would read a Basic
     * header's base64 as a key. */
    if (strcasecmp(arg, "Authorization") == 0)
        return "LatchkeyApiKeyHeader: Authorization is always read for Bearer; name another header";
    c->apikey_header = arg;
    return NULL;
}

static const char *set_client_ip(cmd_parms *cmd, void *dcfg, const char *how, const char *header)
{
    struct lk_dir_conf *c = dcfg;
    (void)cmd;
    if (strcasecmp(how, "peer") == 0 && header == NULL) {
        c->ip_source = IP_PEER;
        c->ip_header = NULL;
    } else if (strcasecmp(how, "header") == 0 && header != NULL && *header) {
        c->ip_source = IP_HEADER;
        c->ip_header = header;
    } else {
        return "LatchkeyClientIP: peer, or header NAME (e.g. header X-Forwarded-For)";
    }
    return NULL;
}

static const char *add_trusted_proxy(cmd_parms *cmd, void *dcfg, const char *arg)
{
    struct lk_dir_conf *c = dcfg;
    char *ip = apr_pstrdup(cmd->pool, arg), *mask = strchr(ip, '/');
    apr_ipsubnet_t *net;
    char err[128];

    if (mask != NULL)
        *mask++ = '\0';
    apr_status_t rv = apr_ipsubnet_create(&net, ip, mask, cmd->pool);
    if (rv != APR_SUCCESS)
        return apr_psprintf(cmd->pool, "LatchkeyTrustedProxy: %s is not an address or CIDR: %s", arg,
                            apr_strerror(rv, err, sizeof err));
    if (c->proxies == NULL)
        c->proxies = apr_array_make(cmd->pool, 4, sizeof(apr_ipsubnet_t *));
    *(apr_ipsubnet_t **)apr_array_push(c->proxies) = net;
    return NULL;
}

static const char *set_any_user(cmd_parms *cmd, void *dcfg, int on)
{
    struct lk_dir_conf *c = dcfg;
    (void)cmd;
    c->any_user = on;
    return NULL;
}

static const command_rec lk_cmds[] = {
    AP_INIT_TAKE1("LatchkeyConfig", set_config, NULL, RSRC_CONF | ACCESS_CONF,
                  "path of latchkey.yaml (default " DEFAULT_CONFIG ")"),
    AP_INIT_TAKE1("LatchkeyService", set_service, NULL, RSRC_CONF | ACCESS_CONF,
                  "the scope entry an API key needs here, or none"),
    AP_INIT_TAKE1("LatchkeyApiKeyHeader", set_apikey_header, NULL, RSRC_CONF | ACCESS_CONF,
                  "a request header holding the API key (besides Authorization: Bearer)"),
    AP_INIT_TAKE12("LatchkeyClientIP", set_client_ip, NULL, RSRC_CONF | ACCESS_CONF,
                   "peer (default), or header NAME: the client address checked against allowlists"),
    AP_INIT_ITERATE("LatchkeyTrustedProxy", add_trusted_proxy, NULL, RSRC_CONF | ACCESS_CONF,
                    "addresses or CIDRs of proxies whose LatchkeyClientIP header is believed"),
    AP_INIT_FLAG("LatchkeyAnyUser", set_any_user, NULL, RSRC_CONF | ACCESS_CONF,
                 "On: any Basic user name with a valid key (no identity check)"),
    {.name = NULL}, /* end of the table */
};

/* ---------------------------------------------------------------- helpers */

static const char *config_path(const struct lk_dir_conf *c)
{
    return c->config ? c->config : DEFAULT_CONFIG;
}

static int is_ip(const char *s)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* The address checked against an API key's allowlist. The header is
 * believed only when the TCP peer is a trusted proxy; X-Forwarded-For's
 * last entry is the one that proxy added. Otherwise the peer (or what
 * mod_remoteip made of it). Anything that is no IP address is "unknown",
 * which a key with an allowlist refuses. */
static const char *client_ip(request_rec *r, const struct lk_dir_conf *c)
{
    const char *ip = r->useragent_ip;

    if (c->ip_source == IP_HEADER && c->proxies != NULL && r->connection->client_addr != NULL) {
        int trusted = 0;
        for (int i = 0; i < c->proxies->nelts && !trusted; i++)
            trusted = apr_ipsubnet_test(APR_ARRAY_IDX(c->proxies, i, apr_ipsubnet_t *), r->connection->client_addr);
        const char *v = trusted ? apr_table_get(r->headers_in, c->ip_header) : NULL;
        if (v != NULL) {
            const char *last = strrchr(v, ',');
            char *s = apr_pstrdup(r->pool, last ? last + 1 : v);
            while (*s == ' ' || *s == '\t')
                s++;
            size_t n = strlen(s);
            while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
                s[--n] = '\0';
            ip = s;
        }
    }
    return ip != NULL && is_ip(ip) ? ip : NULL;
}

/* The ctx for this directory's configuration; failures are logged. */
static lk_status get_ctx(request_rec *r, const struct lk_dir_conf *c, lk_ctx **ctx, lk_pool_ref **ref)
{
    lk_status st = lk_pool_acquire(config_path(c), ctx, ref);
    if (st != LK_OK)
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "cannot open latchkey store of %s: %s: %s", config_path(c),
                      lk_status_code(st), lk_errmsg(NULL));
    return st;
}

/* r->user and the environment for CGI, SSI and proxies. A failure to read
 * the owner (store error) is returned: the request fails closed rather than
 * running under a name other than the one the owner has. */
static lk_status set_identity(request_rec *r, lk_ctx *ctx, const lk_verify_info *info)
{
    lk_user u;
    const char *uin = apr_psprintf(r->pool, "%" APR_UINT64_T_FMT, (apr_uint64_t)info->uin);
    lk_status st = lk_user_get(ctx, info->uin, &u);

    if (st == LK_OK && u.login[0])
        r->user = apr_pstrdup(r->pool, u.login);
    else if (st == LK_OK || st == LK_ERR_USER_NOT_EXIST) /* deleted meanwhile: its UIN */
        r->user = (char *)uin;
    else {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "latchkey: cannot read the owner of %s: %s: %s", info->key_id,
                      lk_status_code(st), lk_errmsg(ctx));
        return st;
    }
    apr_table_setn(r->subprocess_env, "LATCHKEY_UIN", uin);
    apr_table_setn(r->subprocess_env, "LATCHKEY_KEY_ID", apr_pstrdup(r->pool, info->key_id));
    return LK_OK;
}

static void log_refusal(request_rec *r, lk_ctx *ctx, lk_status st, const char *what, const char *user,
                        const char *ip)
{
    char shown[USER_SHOWN_MAX];
    /* The core promises lk_errmsg never carries a secret; a user name may be
     * a key pasted into the wrong field: only its public part. */
    ap_log_rerror(APLOG_MARK, lk_status_is_denial(st) ? APLOG_NOTICE : APLOG_ERR, 0, r,
                  "latchkey: %s%s%s%s from %s refused: %s: %s", what, user ? " for user '" : "",
                  user ? lk_redact(user, shown, sizeof shown) : "", user ? "'" : "", ip ? ip : "unknown",
                  lk_status_code(st), lk_errmsg(ctx));
}

static void init_req(request_rec *r, const struct lk_dir_conf *c, lk_verify_req *req)
{
    memset(req, 0, sizeof *req);
    req->client_ip = client_ip(r, c);
    req->service = c->service && *c->service ? c->service : NULL;
}

/* ---------------------------------------------------------------- Basic: authn provider */

static authn_status check_password(request_rec *r, const char *user, const char *password)
{
    const struct lk_dir_conf *c = ap_get_module_config(r->per_dir_config, &authn_latchkey_module);
    lk_ctx *ctx;
    lk_pool_ref *ref;
    lk_verify_req req;
    lk_verify_info info;
    lk_status st;
    int pair;

    if (get_ctx(r, c, &ctx, &ref) != LK_OK)
        return AUTH_GENERAL_ERROR; /* fail closed: 500, not a login prompt */

    /* As pam_latchkey's mode=any: a password "SecretId:SecretKey" is a pair
     * (for a login name); a SecretId user with anything but an API key as
     * password is a pair; every other combination is an API key. */
    char id[LK_SECRET_ID_LEN + 1];
    const char *secret = password, *sep = strchr(password, ':');
    pair = 1;
    if (sep != NULL && sep - password == LK_SECRET_ID_LEN && strncmp(password, "AKID", 4) == 0) {
        memcpy(id, password, LK_SECRET_ID_LEN);
        id[LK_SECRET_ID_LEN] = '\0';
        secret = sep + 1;
    } else if (strncmp(user, "AKID", 4) == 0 && strncmp(password, "lk-", 3) != 0) {
        /* A longer user is no SecretId: never cut it down to one. */
        if (strlen(user) > LK_SECRET_ID_LEN)
            id[0] = '\0';
        else
            apr_cpystrn(id, user, sizeof id);
    } else {
        pair = 0;
    }
    init_req(r, c, &req);
    req.login = c->any_user == 1 ? NULL : user;
    memset(&info, 0, sizeof info);
    if (pair)
        st = lk_verify_key(ctx, id, secret, strlen(secret), &req, &info);
    else
        st = lk_verify_apikey(ctx, password, strlen(password), &req, &info);

    authn_status ret;
    switch (st) {
    case LK_OK:
        ret = set_identity(r, ctx, &info) == LK_OK ? AUTH_GRANTED : AUTH_GENERAL_ERROR;
        break;
    case LK_DENY_MALFORMED:
    case LK_DENY_MISSING:
    case LK_DENY_UNKNOWN_KEY:
        /* Unknown to latchkey: the next provider (AuthBasicProvider latchkey
         * file) may know this user. */
        ret = AUTH_USER_NOT_FOUND;
        break;
    case LK_DENY_BAD_SECRET:
    case LK_DENY_DISABLED:
    case LK_DENY_EXPIRED:
    case LK_DENY_RATE_LIMIT:
    case LK_DENY_IP:
    case LK_DENY_SCOPE:
    case LK_DENY_LOGIN:
    case LK_ERR_PARAM: /* a malformed SecretId user: a refusal, not a server fault */
        ret = AUTH_DENIED;
        break;
    default: /* store unreachable, corrupt, internal: fail closed */
        ret = AUTH_GENERAL_ERROR;
        break;
    }
    if (st != LK_OK)
        log_refusal(r, ctx, st, pair ? "SecretId" : "API key", user, req.client_ip);
    lk_pool_release(ref);
    return ret;
}

static const authn_provider lk_authn_provider = {
    &check_password,
    NULL, /* no Digest: latchkey stores no recoverable secret */
};

/* ---------------------------------------------------------------- AuthType latchkey */

static void note_bearer_failure(request_rec *r, const char *error)
{
    const char *realm = ap_auth_name(r) ? ap_auth_name(r) : AUTH_TYPE;
    /* RFC 6750: realm, and error="invalid_token" when one was sent. Quotes
     * in AuthName would break the header: replaced. */
    char *q = apr_pstrdup(r->pool, realm);
    for (char *s = q; *s; s++)
        if (*s == '"' || *s == '\\')
            *s = '\'';
    apr_table_setn(r->err_headers_out, (PROXYREQ_PROXY == r->proxyreq) ? "Proxy-Authenticate" : "WWW-Authenticate",
                   error ? apr_psprintf(r->pool, "Bearer realm=\"%s\", error=\"%s\"", q, error)
                         : apr_psprintf(r->pool, "Bearer realm=\"%s\"", q));
}

/* Called by the core (ap_note_auth_failure) when authz refuses a user we
 * authenticated, e.g. "Require user alice". */
static int note_auth_failure(request_rec *r, const char *auth_type)
{
    if (strcasecmp(auth_type, AUTH_TYPE) != 0)
        return DECLINED;
    note_bearer_failure(r, NULL);
    return OK;
}

/* The API key of the request: "Authorization: Bearer <key>" first, then the
 * configured header. NULL when neither is present; *bad set when
 * Authorization holds another scheme (and no configured header is sent). */
static const char *find_apikey(request_rec *r, const struct lk_dir_conf *c, int *bad)
{
    const char *h = apr_table_get(r->headers_in, PROXYREQ_PROXY == r->proxyreq ? "Proxy-Authorization"
                                                                                  : "Authorization");
    *bad = 0;
    if (h != NULL) {
        const char *scheme = ap_getword_white_nc(r->pool, (char **)&h);
        if (strcasecmp(scheme, "Bearer") == 0) {
            while (apr_isspace(*h))
                h++;
            return h;
        }
        *bad = 1;
    }
    if (c->apikey_header != NULL && (h = apr_table_get(r->headers_in, c->apikey_header)) != NULL) {
        *bad = 0;
        while (apr_isspace(*h))
            h++;
        return h;
    }
    return NULL;
}

static int authenticate_bearer(request_rec *r)
{
    const char *type = ap_auth_type(r);
    const struct lk_dir_conf *c;
    lk_ctx *ctx;
    lk_pool_ref *ref;
    lk_verify_req req;
    lk_verify_info info;
    lk_status st;
    const char *key;
    int bad;

    if (type == NULL || strcasecmp(type, AUTH_TYPE) != 0)
        return DECLINED;
    r->ap_auth_type = (char *)AUTH_TYPE;
    c = ap_get_module_config(r->per_dir_config, &authn_latchkey_module);

    key = find_apikey(r, c, &bad);
    if (key == NULL || *key == '\0') {
        if (bad)
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "latchkey: Authorization is not Bearer");
        note_bearer_failure(r, bad ? "invalid_request" : NULL);
        /* why, as latchkeyd's endpoint says it */
        apr_table_setn(r->err_headers_out, "X-Latchkey-Code",
                       lk_status_code(bad ? LK_DENY_MALFORMED : LK_DENY_MISSING));
        return HTTP_UNAUTHORIZED;
    }
    if (get_ctx(r, c, &ctx, &ref) != LK_OK)
        return HTTP_INTERNAL_SERVER_ERROR; /* fail closed */

    init_req(r, c, &req);
    memset(&info, 0, sizeof info);
    st = lk_verify_apikey(ctx, key, strlen(key), &req, &info);

    int ret;
    apr_table_setn(r->err_headers_out, "X-Latchkey-Code", lk_status_code(st));
    switch (st) {
    case LK_OK:
        ret = set_identity(r, ctx, &info) == LK_OK ? OK : HTTP_INTERNAL_SERVER_ERROR;
        break;
    case LK_DENY_MISSING:
        note_bearer_failure(r, NULL); /* RFC 6750 3.1: no error code when no credential came */
        ret = HTTP_UNAUTHORIZED;
        break;
    case LK_DENY_MALFORMED:
    case LK_DENY_UNKNOWN_KEY:
    case LK_DENY_BAD_SECRET:
        note_bearer_failure(r, "invalid_token");
        ret = HTTP_UNAUTHORIZED;
        break;
    case LK_DENY_DISABLED:
    case LK_DENY_IP:
    case LK_DENY_SCOPE:
    case LK_DENY_LOGIN:
        ret = HTTP_FORBIDDEN;
        break;
    case LK_DENY_EXPIRED: /* RFC 6750: an expired token is invalid_token */
        note_bearer_failure(r, "invalid_token");
        ret = HTTP_UNAUTHORIZED;
        break;
    case LK_DENY_RATE_LIMIT: /* RFC 6585 */
        ret = HTTP_TOO_MANY_REQUESTS;
        break;
    default: /* store unreachable, corrupt, internal: fail closed */
        ret = HTTP_INTERNAL_SERVER_ERROR;
        break;
    }
    if (st != LK_OK)
        log_refusal(r, ctx, st, "API key", NULL, req.client_ip);
    lk_pool_release(ref);
    return ret;
}

/* ---------------------------------------------------------------- process life */

/* A child leaving (MaxConnectionsPerChild, graceful stop) writes the access
 * records its ctxs still queue. */
static apr_status_t child_exit(void *data)
{
    (void)data;
    lk_pool_flush_all();
    return APR_SUCCESS;
}

static void child_init(apr_pool_t *p, server_rec *s)
{
    (void)s;
    apr_pool_cleanup_register(p, NULL, child_exit, apr_pool_cleanup_null);
}

static void register_hooks(apr_pool_t *p)
{
    ap_register_auth_provider(p, AUTHN_PROVIDER_GROUP, AUTH_TYPE, AUTHN_PROVIDER_VERSION, &lk_authn_provider,
                              AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_check_authn(authenticate_bearer, NULL, NULL, APR_HOOK_MIDDLE, AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_note_auth_failure(note_auth_failure, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(child_init, NULL, NULL, APR_HOOK_MIDDLE);
}

module AP_MODULE_DECLARE_DATA authn_latchkey_module = {
    STANDARD20_MODULE_STUFF,
    create_dir_conf,
    merge_dir_conf,
    NULL, /* server config */
    NULL,
    lk_cmds,
    register_hooks,
#if defined(AP_MODULE_FLAG_ALWAYS_MERGE)
    AP_MODULE_FLAG_NONE,
#endif
};
