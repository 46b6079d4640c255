/*
 * manage.c — the management API (see manage.h), on libmicrohttpd like the
 * verify endpoint (http.c) but on a listener of its own: the verify endpoint
 * stays internal to the proxy, this one faces users.
 *
 *   POST /   JSON body, X-TC-Action and X-TC-Version headers
 *   GET  /?Action=...&Version=...&TargetUin=...
 *
 * Every answer is HTTP 200 with {"Response": {..., "RequestId"}} or
 * {"Response": {"Error": {"Code", "Message"}, "RequestId"}}, as Tencent Cloud
 * API 3.0 answers; transport-level refusals have their own status and the
 * same body: 404 (another path), 405 (another method), 413 (a body over
 * daemon.manage.max_body_bytes), 415 (a POST that is not application/json).
 *
 * Per request: read and check the parameters (manage_req.c, pure), then the
 * caller: its own access-key pair through lkd_verify, the path of every
 * verify (cache, throttling, expiry, records; a hash suspends the
 * connection until an Argon2id thread has the verdict), or the login a
 * trusted proxy names in daemon.manage.user_header. Then the caller's
 * request limit, then lk_authorize (every rule is the core's), then the
 * action with lk_audit_caller set, so the audit entry names the caller.
 *
 * Secrets: the credential is decoded into one guarded buffer per thread,
 * wiped after each request; a created key's secret goes into a guarded
 * answer buffer, wiped when libmicrohttpd is done with it. Answers are
 * Cache-Control: no-store. Nothing secret is logged.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>
#include <sodium.h>

#include "../tools/json.h"
#include "http_parse.h"
#include "console_session.h"
#include "manage.h"
#include "manage_req.h"
#include "mhd_common.h"

#define MAX_TRUSTED 256
#define MEMORY_LIMIT (32 * 1024) /* per connection, headers: beyond it 431 */
#define PEM_MAX (1024 * 1024)
#define DROP_MAX (1024 * 1024) /* body bytes read past the limit before the connection is closed */
#define SESSIONS_MAX 4096         /* console sessions; beyond, the longest unused is ended */
#define STATIC_MAX (1024 * 1024)  /* a console file larger than this is not served */

/* On every answer: the console's pages and the API's answers (which carry
 * secrets at creation) are never cached, framed, sniffed or referred. */
static const struct {
    const char *name, *value;
} secure_headers[] = {
    {"Cache-Control", "no-store"},
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "no-referrer"},
    {"Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; "
                                "base-uri 'none'; form-action 'self'"},
    {"X-Frame-Options", "DENY"},
};

struct lkd_manage {
    struct lkd *d;
    struct MHD_Daemon *mhd;
    lk_cidr trusted[MAX_TRUSTED];
    size_t ntrusted;
    bool trusted_only; /* plain HTTP beyond loopback: only trusted proxies may connect */
    char *user_header; /* "" none */
    size_t max_body;
    char *cert, *key; /* PEM; key guarded */
    size_t key_len;
    bool frozen_clock; /* LATCHKEYD_TEST_FROZEN_LIMITS: the tests' exact limits */
    pthread_mutex_t limit_lock;
    struct lkm_limiter *limits;
    char *console_dir;      /* realpath of daemon.manage.console_dir; NULL: no console */
    struct lkc_table *sessions;
    bool cookie_secure;     /* false only for plain HTTP on loopback */
    const char *cookie;     /* "__Host-lk_session", or "lk_session" without Secure */
    char *clock_file;       /* LATCHKEYD_TEST_SESSION_CLOCK: the sessions' clock, read from a file */
    unsigned idle_s;
};

/* What a request is for. */
enum mkind {
    MK_API,    /* POST / or GET /: an action */
    MK_LOGIN,  /* POST /console/api/login: a session for the caller */
    MK_PROBE,  /* GET /console/api/session: the session's caller and CSRF token */
    MK_LOGOUT  /* POST /console/api/logout: the session ends */
};

/* One request, from its headers to its answer. */
struct mreq {
    struct lkd_manage *m;
    struct MHD_Connection *conn;
    bool post, refused, too_big;
    enum mkind kind;
    char *body;
    size_t len, dropped;
    json_object *params;
    struct lkm_req r;
    lk_caller caller;
    char client_ip[64];
    struct lkd_mhd_wait wait; /* the verdict, handed over by an Argon2id thread */
    char msg[LKM_MSG_MAX]; /* a refusal decided here; "" when the library's (lk_errmsg) */
    char set_cookie[256];  /* a Set-Cookie for the answer; "" none */
};

static _Thread_local char *cred_buf; /* guarded; one per libmicrohttpd thread */

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static const char *header(struct MHD_Connection *c, const char *name)
{
    if (name == NULL || *name == '\0')
        return NULL;
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* ------------------------------------------------------------ answers */

struct answer_buf {
    char *p;
    size_t len;
    int guarded;
};

static void answer_free(void *cls)
{
    struct answer_buf *a = cls;
    sodium_memzero(a->p, a->len);
    if (a->guarded)
        sodium_free(a->p);
    else
        free(a->p);
    free(a);
}

static void add_secure_headers(struct MHD_Response *r)
{
    for (size_t i = 0; i < sizeof secure_headers / sizeof secure_headers[0]; i++)
        MHD_add_response_header(r, secure_headers[i].name, secure_headers[i].value);
}

/* {"Response": {...}}: the members go into the returned object. */
static json_object *begin(struct jdoc *doc)
{
    json_object *root = jo_doc(doc);
    return root ? jo_obj(doc, root, "Response") : NULL;
}

/* Finish the document with the RequestId and queue it; frees the tree. */
static enum MHD_Result send_doc(struct mreq *q, unsigned status, struct jdoc *doc, json_object *resp)
{
    struct answer_buf *a = calloc(1, sizeof *a);
    if (a == NULL) {
        jo_free(doc);
        return MHD_NO;
    }
    if (resp != NULL)
        jo_str(doc, resp, "RequestId", q->caller.request_id);
    atomic_fetch_add(q->refused ? &q->m->d->st_manage_refused : &q->m->d->st_manage_ok, 1);
    if (jo_render(doc, &a->p, &a->len, &a->guarded) != 0) {
        free(a);
        return MHD_NO;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback_cls(a->len, a->p, answer_free, a);
    if (r == NULL) {
        answer_free(a);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json; charset=utf-8");
    add_secure_headers(r);
    if (q->set_cookie[0] != '\0')
        MHD_add_response_header(r, "Set-Cookie", q->set_cookie);
    enum MHD_Result ret = MHD_queue_response(q->conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_error(struct mreq *q, unsigned status, const char *code, const char *message)
{
    struct jdoc doc;
    json_object *resp = begin(&doc);
    json_object *e = jo_obj(&doc, resp, "Error");
    jo_str(&doc, e, "Code", code);
    jo_str(&doc, e, "Message", message);
    q->refused = true;
    return send_doc(q, status, &doc, resp);
}

/* An lk_status refusal: its CAM code and the message, ours or the library's
 * (never a secret). */
static enum MHD_Result send_status(struct mreq *q, lk_status st)
{
    return send_error(q, 200, lk_status_code(st), q->msg[0] ? q->msg : lk_errmsg(NULL));
}

/* A refusal decided here (latchkeyd's lk_seterr keeps no message). */
static lk_status qerr(struct mreq *q, lk_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static lk_status qerr(struct mreq *q, lk_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q->msg, sizeof q->msg, fmt, ap);
    va_end(ap);
    return st;
}

/* ------------------------------------------------------------ the actions */

static void put_time(struct jdoc *doc, json_object *o, const char *key, int64_t t)
{
    char buf[20];
    lkm_time(t, buf);
    jo_str(doc, o, key, buf);
}

static void put_apikey(struct jdoc *doc, json_object *o, const lk_apikey *k, const lk_secret *value)
{
    jo_str(doc, o, "ApiKeyId", k->id);
    jo_str(doc, o, "Name", k->name);
    jo_str(doc, o, "Description", k->description);
    if (value != NULL)
        jo_secret(doc, o, "ApiKey", lk_secret_str(value), lk_secret_len(value));
    jo_str(doc, o, "MaskedKey", k->masked);
    jo_str(doc, o, "Status", lk_key_status_name(k->status));
    if (k->scope_count == 0) {
        json_object *a = jo_arr(doc, o, "Scope");
        jo_str(doc, a, NULL, "all");
    } else {
        jo_strlist(doc, o, "Scope", k->scope, k->scope_count);
    }
    jo_strlist(doc, o, "IpAllowlist", k->allow_ip, k->allow_ip_count);
    jo_u64(doc, o, "RootUin", k->root_uin);
    put_time(doc, o, "CreateTime", k->create_time);
    put_time(doc, o, "LastAccessTime", k->last_access_time);
    put_time(doc, o, "ExpireTime", k->expire_time);
    jo_u64(doc, o, "RateLimit", k->rate_limit);
    jo_u64(doc, o, "RateWindowSeconds", k->rate_window_s);
}

/* An access key named in the request must be the target's. */
static lk_status own_key(struct mreq *q, const char *id, uint64_t target, lk_access_key *k)
{
    lk_status st = lk_key_get(q->m->d->ctx, id, k);
    if (st == LK_OK && k->uin != target)
        return qerr(q, LK_ERR_UIN_NOT_MATCH, "access key %s is not user %" PRIu64 "'s", k->secret_id, target);
    return st;
}

static lk_status own_apikey(struct mreq *q, const char *id, uint64_t target, lk_apikey *k)
{
    lk_status st = lk_apikey_get(q->m->d->ctx, id, k);
    if (st == LK_OK && k->root_uin != target) {
        lk_apikey_release(k);
        return qerr(q, LK_ERR_UIN_NOT_MATCH, "API key %s is not account %" PRIu64 "'s", k->id, target);
    }
    return st;
}

/* A created (or rotated-to) access key and its secret. */
static void put_new_key(struct jdoc *doc, json_object *o, const lk_access_key *k, const lk_secret *secret)
{
    jo_str(doc, o, "AccessKeyId", k->secret_id);
    jo_secret(doc, o, "SecretAccessKey", lk_secret_str(secret), lk_secret_len(secret));
    jo_str(doc, o, "Status", lk_key_status_name(k->status));
    put_time(doc, o, "CreateTime", k->create_time);
}

/* RotateAccessKey: a new pair for the target's key; the old one works for GraceSeconds more. */
static lk_status rotate_key(struct mreq *q, uint64_t target, struct jdoc *doc, json_object *resp, lk_secret **secret)
{
    const struct lkm_req *r = &q->r;
    lk_access_key k, old;
    lk_rotate_opts o = {.grace_seconds = r->grace_s, .set_expiry = r->has_expire, .expire_time = r->expire_time,
                        .force = r->force};
    lk_status st = lk_key_rotate_with(q->m->d->ctx, r->access_key_id, target, &o, &k, secret);
    if (st != LK_OK)
        return st;
    json_object *n = jo_obj(doc, resp, "AccessKey");
    put_new_key(doc, n, &k, *secret);
    put_time(doc, n, "ExpireTime", k.expire_time);
    if (lk_key_get(q->m->d->ctx, r->access_key_id, &old) == LK_OK) { /* its expiry after the grace */
        json_object *p = jo_obj(doc, resp, "RotatedAccessKey");
        jo_str(doc, p, "AccessKeyId", old.secret_id);
        put_time(doc, p, "ExpireTime", old.expire_time);
    }
    return LK_OK;
}

/* RerollApiKey: a new value for the account's API key; the old one works for GraceSeconds more. */
static lk_status reroll_apikey(struct mreq *q, uint64_t target, struct jdoc *doc, json_object *resp,
                               lk_secret **secret)
{
    const struct lkm_req *r = &q->r;
    lk_apikey k, old;
    lk_status st = own_apikey(q, r->api_key_id, target, &k);
    if (st != LK_OK)
        return st;
    lk_apikey_release(&k);
    lk_rotate_opts o = {.grace_seconds = r->grace_s, .set_expiry = r->has_expire, .expire_time = r->expire_time,
                        .force = r->force};
    if ((st = lk_apikey_reroll_with(q->m->d->ctx, r->api_key_id, &o, &k, secret)) != LK_OK)
        return st;
    put_apikey(doc, jo_obj(doc, resp, "ApiKey"), &k, *secret);
    lk_apikey_release(&k);
    if (lk_apikey_get(q->m->d->ctx, r->api_key_id, &old) == LK_OK) {
        json_object *p = jo_obj(doc, resp, "RerolledApiKey");
        jo_str(doc, p, "ApiKeyId", old.id);
        put_time(doc, p, "ExpireTime", old.expire_time);
        lk_apikey_release(&old);
    }
    return LK_OK;
}

/* ListAccessRecords / ListApiKeyRecords: a key's records, successes and failures. */
static lk_status records(struct mreq *q, const char *idname, const char *id, struct jdoc *doc, json_object *resp)
{
    lk_access_record recs[LK_RECORDS_MAX];
    size_t n = 0;
    int64_t last = 0;
    lk_status st = lk_records(q->m->d->ctx, id, recs, &n, &last);
    if (st != LK_OK)
        return st;
    jo_str(doc, resp, idname, id);
    put_time(doc, resp, "LastAccessTime", last);
    json_object *a = jo_arr(doc, resp, "Records");
    for (size_t i = 0; i < n; i++) {
        json_object *o = jo_obj(doc, a, NULL);
        put_time(doc, o, "Time", recs[i].time);
        jo_str(doc, o, "ClientIp", recs[i].client_ip);
        jo_str(doc, o, "Service", recs[i].service);
        jo_str(doc, o, "Result", lk_status_code(recs[i].result));
    }
    jo_u64(doc, resp, "TotalCount", n);
    return LK_OK;
}

/* ListUsers: the account's users, with their key counts. */
static lk_status list_users(struct mreq *q, uint64_t target, struct jdoc *doc, json_object *resp)
{
    lk_user *users = NULL;
    size_t n = 0;
    lk_status st = lk_user_list(q->m->d->ctx, target, &users, &n);
    if (st != LK_OK)
        return st;
    json_object *a = jo_arr(doc, resp, "Users");
    for (size_t i = 0; i < n && st == LK_OK; i++) {
        lk_access_key *keys = NULL;
        size_t nk = 0;
        if ((st = lk_key_list(q->m->d->ctx, users[i].uin, &keys, &nk)) != LK_OK)
            break;
        lk_free(keys);
        json_object *o = jo_obj(doc, a, NULL);
        jo_u64(doc, o, "Uin", users[i].uin);
        jo_str(doc, o, "Kind", lk_user_kind_name(users[i].kind));
        jo_str(doc, o, "Login", users[i].login);
        jo_str(doc, o, "SelfService", lk_self_service_name(users[i].self_service));
        put_time(doc, o, "CreateTime", users[i].create_time);
        jo_u64(doc, o, "KeyCount", nk);
        jo_u64(doc, o, "RootUin", users[i].root_uin);
    }
    jo_u64(doc, resp, "TotalCount", n);
    lk_free(users);
    return st;
}

#define AUDIT_DAYS 90
#define AUDIT_MAX 200

/* DescribeAuditEvents: the newest AUDIT_MAX entries of AUDIT_DAYS days
 * about the account's users (or the one TargetUin names), by key when asked. */
static lk_status audit_events(struct mreq *q, uint64_t target, struct jdoc *doc, json_object *resp)
{
    lk_ctx *ctx = q->m->d->ctx;
    lk_user *users = NULL;
    size_t nu = 0;
    lk_status st = q->r.target_uin ? LK_OK : lk_user_list(ctx, target, &users, &nu);
    if (st != LK_OK)
        return st;
    lk_audit_entry *e = NULL;
    size_t n = 0;
    const char *key = q->r.access_key_id ? q->r.access_key_id : q->r.api_key_id;
    st = lk_audit_list(ctx, (int64_t)time(NULL) - AUDIT_DAYS * 86400, key, q->r.target_uin, &e, &n);
    if (st != LK_OK) {
        lk_free(users);
        return st;
    }
    json_object *a = jo_arr(doc, resp, "Events");
    size_t shown = 0;
    for (size_t i = n; i-- > 0 && shown < AUDIT_MAX;) { /* newest first */
        bool ours = q->r.target_uin != 0;
        for (size_t u = 0; !ours && u < nu; u++)
            ours = users[u].uin == e[i].uin;
        if (!ours)
            continue;
        json_object *o = jo_obj(doc, a, NULL);
        put_time(doc, o, "Time", e[i].time);
        jo_u64(doc, o, "Uin", e[i].uin);
        jo_u64(doc, o, "CallerUin", e[i].caller_uin);
        const char *const text[][2] = {
            {"Action", e[i].action},           {"Target", e[i].target},
            {"Fields", e[i].fields},           {"Reason", e[i].reason},
            {"CallerSecretId", e[i].caller_secret_id}, {"CallerLogin", e[i].caller_login},
            {"CallerIp", e[i].caller_peer},    {"OperatorUser", e[i].user},
            {"AuditRequestId", e[i].request_id}, {"Host", e[i].host},
        };
        for (size_t t = 0; t < sizeof text / sizeof text[0]; t++)
            jo_str(doc, o, text[t][0], text[t][1]);
        shown++;
    }
    jo_u64(doc, resp, "TotalCount", shown);
    lk_free(e);
    lk_free(users);
    return LK_OK;
}

/* The action, for an authorized caller; resp gets the answer's members. */
static lk_status act(struct mreq *q, uint64_t target, struct jdoc *doc, json_object *resp, lk_secret **secret)
{
    lk_ctx *ctx = q->m->d->ctx;
    const struct lkm_req *r = &q->r;
    lk_status st;
    switch (r->op) {
    case LKM_OP_KEY_ROTATE: return rotate_key(q, target, doc, resp, secret);
    case LKM_OP_KEY_CREATE: {
        lk_access_key k;
        if ((st = lk_key_create_expiring(ctx, target, r->expire_time, &k, secret)) != LK_OK)
            return st;
        json_object *o = jo_obj(doc, resp, "AccessKey");
        put_new_key(doc, o, &k, *secret);
        if (k.expire_time != LK_EXPIRES_NEVER) /* else exactly CAM's answer */
            put_time(doc, o, "ExpireTime", k.expire_time);
        return LK_OK;
    }
    case LKM_OP_KEY_LIST: {
        lk_access_key *keys = NULL, one;
        size_t n = 0;
        if (r->access_key_id != NULL) { /* that key alone, with its owner and last use (latchkey key show) */
            if ((st = own_key(q, r->access_key_id, target, &one)) != LK_OK)
                return st;
            json_object *o = jo_obj(doc, jo_arr(doc, resp, "AccessKeys"), NULL);
            jo_str(doc, o, "AccessKeyId", one.secret_id);
            jo_str(doc, o, "Status", lk_key_status_name(one.status));
            put_time(doc, o, "CreateTime", one.create_time);
            put_time(doc, o, "ExpireTime", one.expire_time);
            jo_u64(doc, o, "Uin", one.uin);
            put_time(doc, o, "LastAccessTime", one.last_access_time);
            jo_u64(doc, resp, "TotalCount", 1);
            return LK_OK;
        }
        if ((st = lk_key_list(ctx, target, &keys, &n)) != LK_OK)
            return st;
        json_object *a = jo_arr(doc, resp, "AccessKeys");
        for (size_t i = 0; i < n; i++) {
            json_object *o = jo_obj(doc, a, NULL);
            jo_str(doc, o, "AccessKeyId", keys[i].secret_id);
            jo_str(doc, o, "Status", lk_key_status_name(keys[i].status));
            put_time(doc, o, "CreateTime", keys[i].create_time);
            put_time(doc, o, "ExpireTime", keys[i].expire_time);
        }
        jo_u64(doc, resp, "TotalCount", n);
        lk_free(keys);
        return LK_OK;
    }
    case LKM_OP_KEY_SET_EXPIRY: return lk_key_set_expiry(ctx, r->access_key_id, target, r->expire_time);
    case LKM_OP_KEY_SET_STATUS: return lk_key_set_status(ctx, r->access_key_id, target, (lk_key_status)r->status);
    case LKM_OP_KEY_DELETE: return lk_key_delete(ctx, r->access_key_id, target);
    case LKM_OP_KEY_LAST_USED: {
        /* all or nothing: every key named must be the target's */
        int64_t last[LKM_IDS_MAX];
        lk_access_record *recs = malloc(sizeof *recs * LK_RECORDS_MAX);
        if (recs == NULL)
            return qerr(q, LK_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < r->nids; i++) {
            lk_access_key k;
            size_t n;
            if ((st = own_key(q, r->ids[i], target, &k)) != LK_OK ||
                (st = lk_records(ctx, k.secret_id, recs, &n, &last[i])) != LK_OK) {
                free(recs);
                return st;
            }
        }
        free(recs);
        json_object *a = jo_arr(doc, resp, "SecretIdLastUsedRows");
        for (size_t i = 0; i < r->nids; i++) {
            json_object *o = jo_obj(doc, a, NULL);
            jo_str(doc, o, "SecretId", r->ids[i]);
            put_time(doc, o, "LastUsedDate", last[i]);
        }
        return LK_OK;
    }
    case LKM_OP_KEY_RECORDS: {
        lk_access_key k;
        if ((st = own_key(q, r->access_key_id, target, &k)) != LK_OK)
            return st;
        return records(q, "AccessKeyId", k.secret_id, doc, resp);
    }
    case LKM_OP_APIKEY_REROLL: return reroll_apikey(q, target, doc, resp, secret);
    case LKM_OP_APIKEY_CREATE: {
        lk_apikey k;
        lk_apikey_spec spec = {
            .name = r->name,
            .description = r->description,
            .scope = r->scope,
            .scope_count = r->nscope,
            .allow_ip = r->allow_ip,
            .allow_ip_count = r->nallow_ip,
            .expire_time = r->expire_time,
            .rate_limit = r->rate_limit,
            .rate_window_s = r->rate_window_s,
        };
        if ((st = lk_apikey_create(ctx, target, &spec, &k, secret)) != LK_OK)
            return st;
        put_apikey(doc, jo_obj(doc, resp, "ApiKey"), &k, *secret);
        lk_apikey_release(&k);
        return LK_OK;
    }
    case LKM_OP_APIKEY_RECORDS: {
        lk_apikey k;
        if ((st = own_apikey(q, r->api_key_id, target, &k)) != LK_OK)
            return st;
        st = records(q, "ApiKeyId", k.id, doc, resp);
        lk_apikey_release(&k);
        return st;
    }
    case LKM_OP_APIKEY_DESCRIBE: {
        lk_apikey *keys = NULL, one;
        size_t n = 0;
        if (r->api_key_id != NULL || r->name != NULL) { /* that key alone (latchkey apikey show) */
            st = r->api_key_id != NULL ? own_apikey(q, r->api_key_id, target, &one)
                                       : lk_apikey_find(ctx, target, r->name, &one);
            if (st == LK_OK && r->api_key_id != NULL && r->name != NULL && strcmp(one.name, r->name) != 0) {
                lk_apikey_release(&one);
                st = qerr(q, LK_ERR_KEY_NOT_EXIST, "API key %s is not named as given", r->api_key_id);
            }
            if (st != LK_OK)
                return st;
            put_apikey(doc, jo_obj(doc, jo_arr(doc, resp, "ApiKeys"), NULL), &one, NULL);
            jo_u64(doc, resp, "TotalCount", 1);
            lk_apikey_release(&one);
            return LK_OK;
        }
        if ((st = lk_apikey_list(ctx, target, &keys, &n)) != LK_OK)
            return st;
        json_object *a = jo_arr(doc, resp, "ApiKeys");
        for (size_t i = 0; i < n; i++)
            put_apikey(doc, jo_obj(doc, a, NULL), &keys[i], NULL);
        jo_u64(doc, resp, "TotalCount", n);
        lk_apikey_list_free(keys, n);
        return LK_OK;
    }
    case LKM_OP_APIKEY_MODIFY: {
        lk_apikey k;
        if ((st = own_apikey(q, r->api_key_id, target, &k)) != LK_OK)
            return st;
        lk_apikey_release(&k);
        lk_apikey_edit e = {
            .description = r->description,
            .set_scope = r->has_scope,
            .scope = r->scope,
            .scope_count = r->nscope,
            .set_allow_ip = r->has_allow_ip,
            .allow_ip = r->allow_ip,
            .allow_ip_count = r->nallow_ip,
            .set_status = r->status >= 0,
            .status = r->status >= 0 ? (lk_key_status)r->status : LK_KEY_ACTIVE,
            .set_expiry = r->has_expire,
            .expire_time = r->expire_time,
            .set_rate_limit = r->has_rate,
            .rate_limit = r->rate_limit,
            .rate_window_s = r->rate_window_s,
        };
        /* one change: the edits and the status commit together or not at all */
        if (r->description != NULL || r->has_scope || r->has_allow_ip || e.set_status || e.set_expiry ||
            e.set_rate_limit)
            st = lk_apikey_edit_key(ctx, r->api_key_id, &e);
        return st;
    }
    case LKM_OP_APIKEY_DELETE: {
        lk_apikey k;
        if ((st = own_apikey(q, r->api_key_id, target, &k)) != LK_OK)
            return st;
        lk_apikey_release(&k);
        return lk_apikey_delete(ctx, r->api_key_id);
    }
    case LKM_OP_USER_LIST: return list_users(q, target, doc, resp);
    case LKM_OP_AUDIT_READ: return audit_events(q, target, doc, resp);
    case LKM_OP_USER_UPDATE: return lk_user_set_self_service(ctx, target, (lk_self_service)r->self_service);
    case LKM_OP_COUNT_: break;
    }
    return qerr(q, LK_ERR_INTERNAL, "action %s is not served here", r->action_name);
}

/* The caller is known: its limit, its rights, then the action. */
static enum MHD_Result dispatch(struct mreq *q)
{
    struct lkd_manage *m = q->m;
    bool writes = lkm_action_writes(q->r.action);
    pthread_mutex_lock(&m->limit_lock);
    bool ok = lkm_limit_take(m->limits, q->caller.uin, writes, m->frozen_clock ? 0 : mono_us());
    pthread_mutex_unlock(&m->limit_lock);
    if (!ok) {
        char msg[128];
        snprintf(msg, sizeof msg, "more than %d %s requests per second from user %" PRIu64,
                 writes ? LKM_LIMIT_WRITE : LKM_LIMIT_READ, writes ? "changing" : "reading", q->caller.uin);
        return send_error(q, 200, "RequestLimitExceeded", msg);
    }
    lk_status st;
    if (q->r.action == LK_ACT_KEY_LIST && q->r.access_key_id != NULL && q->r.target_uin == 0) {
        /* one key by its SecretId, as latchkey key show: its owner is the target */
        lk_access_key k;
        if ((st = lk_key_get(m->d->ctx, q->r.access_key_id, &k)) != LK_OK)
            return send_status(q, st);
        q->r.target_uin = k.uin;
    }
    st = lk_authorize(m->d->ctx, &q->caller, q->r.action, q->r.target_uin);
    if (st != LK_OK)
        return send_status(q, st);
    uint64_t target = q->r.target_uin ? q->r.target_uin : q->caller.uin;

    struct jdoc doc;
    json_object *resp = begin(&doc);
    lk_secret *secret = NULL;
    /* the caller and the Reason, for this request only: both are per thread, and the thread's next
     * request is another caller's, so both are cleared whatever happened */
    if ((st = lk_audit_caller(&q->caller)) == LK_OK && (st = lk_audit_reason(q->r.reason)) == LK_OK)
        st = act(q, target, &doc, resp, &secret);
    lk_status cleared = lk_audit_caller(NULL); /* NULL cannot fail */
    if (cleared == LK_OK)
        cleared = lk_audit_reason(NULL);
    if (cleared != LK_OK && st == LK_OK)
        st = qerr(q, LK_ERR_INTERNAL, "the audited caller could not be cleared");
    if (st != LK_OK) {
        jo_free(&doc);
        lk_secret_free(secret);
        return send_status(q, st);
    }
    enum MHD_Result ret = send_doc(q, 200, &doc, resp); /* the secret is copied into a guarded answer */
    lk_secret_free(secret);
    return ret;
}

/* ------------------------------------------------------------ the console */

/* The sessions' clock: Unix seconds, or the tests' file. */
static int64_t session_now(const struct lkd_manage *m)
{
    if (m->clock_file == NULL)
        return (int64_t)time(NULL);
    long long v = 0;
    FILE *f = fopen(m->clock_file, "re");
    if (f != NULL) {
        if (fscanf(f, "%lld", &v) != 1)
            v = 0;
        fclose(f);
    }
    return (int64_t)v;
}

/* The session's caller and CSRF token (sign-in and the probe). */
static enum MHD_Result send_session(struct mreq *q, const char *csrf)
{
    struct jdoc doc;
    json_object *resp = begin(&doc);
    jo_u64(&doc, resp, "Uin", q->caller.uin);
    jo_str(&doc, resp, "SecretId", q->caller.secret_id);
    jo_str(&doc, resp, "Login", q->caller.login);
    lk_user u; /* for the pages to show (the API decides what the caller may do) */
    if (lk_user_get(q->m->d->ctx, q->caller.uin, &u) == LK_OK) {
        jo_str(&doc, resp, "Kind", lk_user_kind_name(u.kind));
        jo_u64(&doc, resp, "RootUin", u.root_uin);
        jo_str(&doc, resp, "SelfService", lk_self_service_name(u.self_service));
    }
    jo_secret(&doc, resp, "CsrfToken", csrf, strlen(csrf));
    jo_u64(&doc, resp, "IdleSeconds", q->m->idle_s);
    return send_doc(q, 200, &doc, resp);
}

static void clear_cookie(struct mreq *q)
{
    snprintf(q->set_cookie, sizeof q->set_cookie, "%s=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict%s",
             q->m->cookie, q->m->cookie_secure ? "; Secure" : "");
}

/* Sign-in: the caller is known; a new session in the cookie. */
static enum MHD_Result open_session(struct mreq *q)
{
    struct lkd_manage *m = q->m;
    struct lkc_who who = {.uin = q->caller.uin};
    char id[LKC_TOKEN_HEX + 1], csrf[LKC_TOKEN_HEX + 1];
    snprintf(who.secret_id, sizeof who.secret_id, "%s", q->caller.secret_id);
    snprintf(who.login, sizeof who.login, "%s", q->caller.login);
    if (lkc_create(m->sessions, &who, session_now(m), id, csrf) != LK_OK)
        return send_status(q, qerr(q, LK_ERR_INTERNAL, "the console session could not be created"));
    snprintf(q->set_cookie, sizeof q->set_cookie, "%s=%s; Path=/; HttpOnly; SameSite=Strict%s", m->cookie, id,
             m->cookie_secure ? "; Secure" : "");
    sodium_memzero(id, sizeof id);
    lkd_log("manage: console sign-in of user %" PRIu64 " (%s) from %s", q->caller.uin,
            q->caller.secret_id[0] ? q->caller.secret_id : "trusted proxy", q->caller.peer);
    enum MHD_Result r = send_session(q, csrf);
    sodium_memzero(csrf, sizeof csrf);
    sodium_memzero(q->set_cookie, sizeof q->set_cookie); /* libmicrohttpd copied it */
    return r;
}

/* The caller is known (its pair, or a trusted proxy's login). */
static enum MHD_Result caller_known(struct mreq *q)
{
    return q->kind == MK_API ? dispatch(q) : open_session(q);
}

/* A request that came with the session cookie: the session, its CSRF token,
 * then the sign-in key (a key disabled, deleted or expired since ends it). */
static enum MHD_Result session_caller(struct mreq *q, const char *sid)
{
    struct lkd_manage *m = q->m;
    const char *csrf = header(q->conn, "X-CSRF-Token");
    if (q->kind != MK_PROBE && (csrf == NULL || *csrf == '\0'))
        return send_error(q, 403, "AuthFailure.CsrfTokenMissing",
                          "a request made with a console session must carry its X-CSRF-Token header");
    struct lkc_who who;
    char token[LKC_TOKEN_HEX + 1];
    switch (lkc_use(m->sessions, sid, q->kind == MK_PROBE ? NULL : csrf, session_now(m), &who, token)) {
    case LKC_OK: break;
    case LKC_NONE:
        clear_cookie(q);
        return send_error(q, 401, "AuthFailure.SessionInvalid", "no such console session (ended or never made): sign in");
    case LKC_EXPIRED:
        clear_cookie(q);
        return send_error(q, 401, "AuthFailure.SessionExpired", "the console session has expired: sign in again");
    case LKC_BAD_CSRF:
        return send_error(q, 403, "AuthFailure.CsrfTokenInvalid", "the X-CSRF-Token is not this session's");
    }
    if (who.secret_id[0] != '\0') {
        /* a store read, no Argon2id: the key must still be the caller's, Active and unexpired */
        lk_access_key k;
        lk_status st = lk_key_get(m->d->ctx, who.secret_id, &k);
        const char *why = st != LK_OK                                      ? "no longer exists"
                          : k.uin != who.uin                               ? "is no longer the caller's"
                          : k.status != LK_KEY_ACTIVE                      ? "is disabled"
                          : k.expire_time != 0 && time(NULL) >= k.expire_time ? "has expired"
                                                                           : NULL;
        if (why != NULL) {
            lkc_end_key(m->sessions, who.secret_id);
            sodium_memzero(token, sizeof token);
            clear_cookie(q);
            snprintf(q->msg, sizeof q->msg, "the access key %s that signed in %s: its console sessions have ended",
                     who.secret_id, why);
            return send_error(q, 401, "AuthFailure.SessionEnded", q->msg);
        }
    }
    q->caller.uin = who.uin;
    snprintf(q->caller.secret_id, sizeof q->caller.secret_id, "%s", who.secret_id);
    snprintf(q->caller.login, sizeof q->caller.login, "%s", who.login);
    enum MHD_Result r;
    if (q->kind == MK_PROBE) {
        r = send_session(q, token);
    } else if (q->kind == MK_LOGOUT) {
        lkc_end(m->sessions, sid);
        clear_cookie(q);
        struct jdoc doc;
        r = send_doc(q, 200, &doc, begin(&doc));
    } else {
        r = dispatch(q);
    }
    sodium_memzero(token, sizeof token);
    return r;
}

/* GET /console/...: a file of the console directory, and nothing else. */
static enum MHD_Result serve_static(struct mreq *q, const char *url)
{
    struct lkd_manage *m = q->m;
    q->refused = true; /* nothing more to read */
    if (strcmp(url, "/console") == 0) {
        struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (r == NULL)
            return MHD_NO;
        MHD_add_response_header(r, "Location", "/console/");
        add_secure_headers(r);
        enum MHD_Result ret = MHD_queue_response(q->conn, 301, r);
        MHD_destroy_response(r);
        return ret;
    }
    const char *rel = url + strlen("/console/");
    if (*rel == '\0')
        rel = "index.html";
    const char *type = lkc_content_type(rel);
    char path[PATH_MAX], real[PATH_MAX];
    size_t dl = strlen(m->console_dir);
    int fd = -1;
    struct stat sb;
    if (lkc_static_path_ok(rel) && type != NULL &&
        snprintf(path, sizeof path, "%s/%s", m->console_dir, rel) < (int)sizeof path && realpath(path, real) != NULL &&
        strncmp(real, m->console_dir, dl) == 0 && real[dl] == '/')
        fd = open(real, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > STATIC_MAX) {
        if (fd >= 0)
            close(fd);
        return send_error(q, 404, "ResourceNotFound", "no such console file");
    }
    struct MHD_Response *r = MHD_create_response_from_fd((size_t)sb.st_size, fd);
    if (r == NULL) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    add_secure_headers(r);
    enum MHD_Result ret = MHD_queue_response(q->conn, 200, r);
    MHD_destroy_response(r);
    return ret;
}

/* The verdict on the caller's pair is in. */
static enum MHD_Result authenticated(struct mreq *q, lk_status st, const lk_verify_info *info)
{
    if (st != LK_OK)
        return send_status(q, qerr(q, st, "the caller's access key was refused: %s", lk_strerror(st)));
    q->caller.uin = info->uin;
    snprintf(q->caller.secret_id, sizeof q->caller.secret_id, "%s", info->key_id);
    return caller_known(q);
}

static void new_request_id(char out[40])
{
    unsigned char u[16];
    randombytes_buf(u, sizeof u);
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40); /* version 4 */
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
    snprintf(out, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3],
             u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct mreq *q = cls;
    char msg[LKM_MSG_MAX];
    (void)kind;
    if (q->refused)
        return MHD_NO;
    if (lkm_query_add(q->params, key, value, msg, sizeof msg) != LKM_OK) {
        send_error(q, 200, lkm_err_code(LKM_PARAM_ERROR), msg);
        return MHD_NO;
    }
    return MHD_YES;
}

/* The whole request is in: parameters, then the caller. */
static enum MHD_Result start(struct mreq *q)
{
    struct lkd_manage *m = q->m;
    struct MHD_Connection *c = q->conn;
    char msg[LKM_MSG_MAX];
    const char *action, *version;
    enum lkm_err e;
    if (q->kind != MK_API) {
        /* sign-in, the probe, sign-out: no action */
    } else if (q->post) {
        action = header(c, "X-TC-Action");
        version = header(c, "X-TC-Version");
        e = lkm_parse_body(q->body ? q->body : "", q->len, &q->params, msg, sizeof msg);
        if (e != LKM_OK)
            return send_error(q, 200, lkm_err_code(e), msg);
    } else {
        action = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "Action");
        version = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "Version");
        if ((q->params = json_object_new_object()) == NULL)
            return MHD_NO;
        MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_query, q);
        if (q->refused)
            return MHD_YES; /* answered by collect_query */
    }
    if (q->kind == MK_API && (e = lkm_decode(action, version, q->params, &q->r, msg, sizeof msg)) != LKM_OK)
        return send_error(q, 200, lkm_err_code(e), msg);

    char peer[INET6_ADDRSTRLEN + 1];
    lkd_mhd_conn_peer(c, peer, sizeof peer);
    bool trusted = lkh_trusted(peer, m->trusted, m->ntrusted);
    lkh_client_ip(peer, header(c, "X-Forwarded-For"), m->trusted, m->ntrusted, q->client_ip, sizeof q->client_ip);
    snprintf(q->caller.peer, sizeof q->caller.peer, "%s", q->client_ip[0] ? q->client_ip : peer);

    const char *named = header(c, m->user_header);
    if (named != NULL && !trusted) {
        char shown[LK_LOGIN_MAX * 2 + 8];
        lk_redact(named, shown, sizeof shown);
        lkd_log("manage: ignored %s '%s' from %s, which is not a trusted proxy", m->user_header, shown, peer);
        named = NULL;
    }
    /* the console's session, unless a credential is sent (sign-in never reuses one); behind the
     * trusted proxy, a probe with a stale cookie signs in afresh instead of asking for a pair */
    const char *sid = m->sessions ? MHD_lookup_connection_value(c, MHD_COOKIE_KIND, m->cookie) : NULL;
    if (header(c, MHD_HTTP_HEADER_AUTHORIZATION) == NULL && q->kind != MK_LOGIN && sid != NULL &&
        !(q->kind == MK_PROBE && named != NULL && lkc_use(m->sessions, sid, NULL, session_now(m), NULL, NULL) != LKC_OK))
        return session_caller(q, sid);
    if (q->kind == MK_LOGOUT) {
        clear_cookie(q);
        return send_error(q, 401, "AuthFailure.SessionInvalid", "no console session to end");
    }
    if (cred_buf == NULL && (cred_buf = sodium_malloc(LKH_CRED_BUF)) == NULL)
        return send_status(q, qerr(q, LK_ERR_NOMEM, "out of memory"));
    struct lkm_cred cred;
    enum lkm_cred_kind kind = lkm_credentials(header(c, MHD_HTTP_HEADER_AUTHORIZATION), cred_buf, LKH_CRED_BUF, &cred);
    if (q->kind == MK_PROBE && kind != LKM_CRED_NONE) {
        /* a GET never signs in with a pair: a browser may resend cached Basic credentials by itself */
        sodium_memzero(cred_buf, LKH_CRED_BUF);
        return send_error(q, 405, "InvalidParameter.ParamError", "sign in with POST /console/api/login");
    }
    switch (kind) {
    case LKM_CRED_TC3:
        return send_error(q, 200, "AuthFailure.InvalidAuthorization",
                          "TC3-HMAC-SHA256 signatures are not accepted: checking one needs the SecretKey, which "
                          "latchkey never keeps; send Authorization: Basic base64(SecretId:SecretKey) over TLS");
    case LKM_CRED_APIKEY:
        sodium_memzero(cred_buf, LKH_CRED_BUF);
        return send_error(q, 200, "AuthFailure.ApiKeyNotAccepted",
                          "API keys are data-plane credentials: the management API takes an access-key pair, "
                          "Authorization: Basic base64(SecretId:SecretKey)");
    case LKM_CRED_BAD:
        sodium_memzero(cred_buf, LKH_CRED_BUF);
        return send_error(q, 200, "AuthFailure.InvalidAuthorization",
                          "unreadable Authorization: send Basic base64(SecretId:SecretKey) or Bearer SecretId:SecretKey");
    case LKM_CRED_NONE:
        if (named == NULL && q->kind == MK_PROBE)
            return send_error(q, 401, "AuthFailure.SessionInvalid", "not signed in");
        if (named == NULL)
            return send_error(q, 200, "AuthFailure.InvalidAuthorization",
                              "no credential: send Authorization: Basic base64(SecretId:SecretKey)");
        {
            lk_user u;
            lk_status st = lk_user_find_login(m->d->ctx, named, &u);
            if (st == LK_ERR_USER_NOT_EXIST || st == LK_ERR_PARAM)
                return send_error(q, 200, lk_status_code(LK_DENY_LOGIN),
                                  "the login the proxy named is bound to no latchkey user");
            if (st != LK_OK)
                return send_status(q, st);
            q->caller.uin = u.uin;
            snprintf(q->caller.login, sizeof q->caller.login, "%s", u.login);
            return caller_known(q);
        }
    case LKM_CRED_PAIR: break;
    }
    struct lkd_verify_args a = {
        .apikey = false,
        .secret_id = cred.id,
        .secret = cred.secret,
        .secret_len = cred.secret_len,
        .req = {.client_ip = q->client_ip[0] ? q->client_ip : NULL},
    };
    lk_verify_info info;
    memset(&info, 0, sizeof info);
    lk_status st = lkd_verify(m->d, &a, &info, lkd_mhd_wait_done, &q->wait);
    sodium_memzero(cred_buf, LKH_CRED_BUF); /* the job took its own copy */
    if (st != LK_ERR_NEEDS_HASH)
        return authenticated(q, st, &info);
    return lkd_mhd_wait_begin(&q->wait, &st, &info) ? authenticated(q, st, &info) : MHD_YES;
}

static bool json_content_type(const char *ct)
{
    if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0)
        return false;
    return ct[16] == '\0' || ct[16] == ';' || ct[16] == ' ';
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    struct lkd_manage *m = cls;
    struct mreq *q = *con_cls;
    (void)version;
    if (q == NULL) { /* the headers are in; the body (if any) follows */
        q = calloc(1, sizeof *q);
        if (q == NULL)
            return MHD_NO;
        q->m = m;
        q->conn = conn;
        q->post = strcmp(method, "POST") == 0;
        lkd_mhd_wait_init(&q->wait, conn);
        new_request_id(q->caller.request_id);
        *con_cls = q;
        bool console = m->sessions != NULL && strncmp(url, "/console", 8) == 0 && (url[8] == '\0' || url[8] == '/');
        if (console && strcmp(url, "/console/api/login") == 0)
            q->kind = MK_LOGIN;
        else if (console && strcmp(url, "/console/api/logout") == 0)
            q->kind = MK_LOGOUT;
        else if (console && strcmp(url, "/console/api/session") == 0)
            q->kind = MK_PROBE;
        else if (console && strncmp(url, "/console/api/", 13) == 0)
            return send_error(q, 404, "ResourceNotFound", "no such console call");
        else if (console)
            return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0
                       ? serve_static(q, url)
                       : send_error(q, 405, "InvalidParameter.ParamError", "the console's files are read with GET");
        else if (strcmp(url, "/") != 0)
            return send_error(q, 404, "InvalidAction", "not found: the management API is served at /");
        if (q->kind != MK_API && q->post != (q->kind != MK_PROBE))
            return send_error(q, 405, "InvalidParameter.ParamError",
                              q->post ? "use GET /console/api/session" : "sign-in and sign-out are POSTs");
        if (!q->post && strcmp(method, "GET") != 0)
            return send_error(q, 405, "InvalidParameter.ParamError", "use POST / (JSON) or GET /?Action=...");
        if (q->kind == MK_API && q->post && !json_content_type(header(conn, "Content-Type")))
            return send_error(q, 415, "InvalidParameter.ParamError", "a POST body must be Content-Type: application/json");
        const char *cl = header(conn, "Content-Length");
        if (cl != NULL && strtoull(cl, NULL, 10) > m->max_body)
            return send_error(q, 413, "InvalidParameter.ParamError", "the request body is larger than daemon.manage.max_body_bytes");
        return MHD_YES;
    }
    if (q->refused) { /* answered already: drop what else comes */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size != 0) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (!q->post || q->too_big || q->len + n > m->max_body) {
            /* chunked, without a Content-Length: libmicrohttpd takes an answer
             * only once the body is in, so drop the rest (closing the
             * connection once it is far beyond any reason) and answer then */
            q->too_big = true;
            q->dropped += n;
            return q->dropped > DROP_MAX ? MHD_NO : MHD_YES;
        }
        if (q->body == NULL && (q->body = malloc(m->max_body)) == NULL)
            return MHD_NO;
        memcpy(q->body + q->len, upload, n);
        q->len += n;
        return MHD_YES;
    }
    if (q->too_big)
        return send_error(q, q->post ? 413 : 400, "InvalidParameter.ParamError",
                          q->post ? "the request body is larger than daemon.manage.max_body_bytes"
                                  : "a GET takes no body");
    lk_status st;
    lk_verify_info info;
    if (lkd_mhd_wait_take(&q->wait, &st, &info)) /* resumed: the Argon2id thread's verdict is in */
        return authenticated(q, st, &info);
    return start(q);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    struct mreq *q = *con_cls;
    (void)cls;
    (void)conn;
    (void)toe;
    if (q == NULL)
        return;
    json_object_put(q->params);
    if (q->body != NULL) {
        sodium_memzero(q->body, q->len);
        free(q->body);
    }
    lkd_mhd_wait_destroy(&q->wait);
    free(q);
    *con_cls = NULL;
}

/* libmicrohttpd decodes "%00" into a NUL that ends the string the handler
 * sees: "/console/%00.html" would read as "/console/" (index.html) and a
 * query's "TargetUin=101%00x" as 101. An encoded NUL becomes DEL instead,
 * a control byte every check here refuses. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    size_t n = MHD_http_unescape(s);
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\0')
            s[i] = 0x7f;
    return n;
}

/* Plain HTTP beyond loopback: only trusted proxies connect. */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    struct lkd_manage *m = cls;
    char peer[INET6_ADDRSTRLEN + 1];
    (void)addrlen;
    if (!m->trusted_only)
        return MHD_YES;
    lkd_mhd_peer(addr, peer, sizeof peer);
    if (lkh_trusted(peer, m->trusted, m->ntrusted))
        return MHD_YES;
    lkd_log("manage: refused a plain-HTTP connection from %s, which is not in daemon.manage.trusted_proxies", peer);
    return MHD_NO;
}

/* ------------------------------------------------------------ start and stop */

/* A PEM file, whole (bounded); guarded when it holds a private key. */
static char *read_pem(const char *path, bool guarded, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat sb;
    char *buf = NULL;
    *len = 0;
    if (fd < 0)
        return NULL;
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0 && sb.st_size <= PEM_MAX) {
        size_t n = (size_t)sb.st_size;
        buf = guarded ? sodium_malloc(n + 1) : malloc(n + 1);
        ssize_t r = buf ? read(fd, buf, n) : -1;
        if (r == (ssize_t)n) {
            buf[n] = '\0';
            *len = n;
        } else if (buf != NULL) {
            sodium_memzero(buf, n + 1);
            guarded ? sodium_free(buf) : free(buf);
            buf = NULL;
            errno = EIO;
        }
    } else {
        errno = errno ? errno : EINVAL;
    }
    int e = errno;
    close(fd);
    errno = e;
    return buf;
}

static bool loopback(const char *host, bool v6)
{
    unsigned char a[16];
    if (v6)
        return inet_pton(AF_INET6, host, a) == 1 && memcmp(a, in6addr_loopback.s6_addr, 16) == 0;
    return inet_pton(AF_INET, host, a) == 1 && a[0] == 127;
}

void lkd_manage_stop(struct lkd_manage *m)
{
    if (m == NULL)
        return;
    if (m->mhd != NULL)
        MHD_stop_daemon(m->mhd);
    free(m->cert);
    if (m->key != NULL) {
        sodium_memzero(m->key, m->key_len);
        sodium_free(m->key);
    }
    free(m->user_header);
    free(m->limits);
    free(m->console_dir);
    free(m->clock_file);
    lkc_free(m->sessions);
    pthread_mutex_destroy(&m->limit_lock);
    free(m);
}

struct lkd_manage *lkd_manage_start(struct lkd *d, const lk_config *cfg, bool *config_error)
{
    *config_error = false;
    const char *listen = lk_config_get(cfg, "daemon.manage.listen");
    const char *cert = lk_config_get(cfg, "daemon.manage.tls_cert"), *key = lk_config_get(cfg, "daemon.manage.tls_key");
    struct sockaddr_storage ss;
    char host[64];
    bool v6;
    uint16_t port;
    if (!lkd_mhd_addr(listen, &ss, &v6, host, &port)) /* validated by the config loader */
        return NULL;

    struct lkd_manage *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    pthread_mutex_init(&m->limit_lock, NULL);
    m->d = d;
    m->limits = calloc(1, sizeof *m->limits);
    const char *uh = lk_config_get(cfg, "daemon.manage.user_header");
    m->user_header = strdup(uh ? uh : "");
    m->ntrusted = lkh_parse_ranges(lk_config_get(cfg, "daemon.manage.trusted_proxies"), m->trusted, MAX_TRUSTED);
    m->max_body = lkd_cfg_uint(cfg, "daemon.manage.max_body_bytes");
    const char *frozen = getenv("LATCHKEYD_TEST_FROZEN_LIMITS");
    m->frozen_clock = frozen != NULL && strcmp(frozen, "1") == 0;
    if (m->limits == NULL || m->user_header == NULL) {
        lkd_manage_stop(m);
        return NULL;
    }
    bool tls = cert[0] != '\0' || key[0] != '\0';
    /* the console: only when its directory exists (a missing one is logged, not fatal: the API still serves) */
    const char *cdir = lk_config_get(cfg, "daemon.manage.console_dir");
    m->idle_s = lkd_cfg_uint(cfg, "daemon.manage.session_idle_s");
    if (cdir != NULL && cdir[0] != '\0') {
        char real[PATH_MAX];
        struct stat sb;
        if (realpath(cdir, real) == NULL || stat(real, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            lkd_log("manage: no key console: daemon.manage.console_dir %s: %s", cdir,
                    errno ? strerror(errno) : "not a directory");
        } else {
            const char *clock = getenv("LATCHKEYD_TEST_SESSION_CLOCK");
            m->console_dir = strdup(real);
            m->clock_file = clock && *clock ? strdup(clock) : NULL;
            m->sessions = lkc_new(SESSIONS_MAX, m->idle_s, lkd_cfg_uint(cfg, "daemon.manage.session_max_s"));
            if (m->console_dir == NULL || m->sessions == NULL) {
                lkd_manage_stop(m);
                return NULL;
            }
            /* the __Host- prefix and Secure, unless plain HTTP on loopback (a browser sends no Secure cookie there) */
            m->cookie_secure = tls || !loopback(host, v6);
            m->cookie = m->cookie_secure ? "__Host-lk_session" : "lk_session";
        }
    }
    if (tls && (cert[0] == '\0' || key[0] == '\0')) {
        *config_error = true;
        lkd_log("error: %s: daemon.manage.%s is set but daemon.manage.%s is not: TLS needs both",
                lk_status_code(LK_ERR_CONFIG), cert[0] ? "tls_cert" : "tls_key", cert[0] ? "tls_key" : "tls_cert");
        lkd_manage_stop(m);
        return NULL;
    }
    if (!tls && !loopback(host, v6)) {
        if (m->ntrusted == 0) {
            *config_error = true;
            lkd_log("error: %s: daemon.manage.listen %s is not a loopback address and daemon.manage.tls_cert is not "
                    "set: callers would send their SecretKey in clear text. Set daemon.manage.tls_cert and tls_key, "
                    "listen on 127.0.0.1, or list the TLS-terminating proxies in daemon.manage.trusted_proxies",
                    lk_status_code(LK_ERR_CONFIG), listen);
            lkd_manage_stop(m);
            return NULL;
        }
        m->trusted_only = true;
    }
    if (tls) {
        m->cert = read_pem(cert, false, &(size_t){0});
        if (m->cert == NULL) {
            *config_error = true;
            lkd_log("error: %s: daemon.manage.tls_cert %s: %s", lk_status_code(LK_ERR_CONFIG), cert, strerror(errno));
            lkd_manage_stop(m);
            return NULL;
        }
        m->key = read_pem(key, true, &m->key_len);
        if (m->key == NULL) {
            *config_error = true;
            lkd_log("error: %s: daemon.manage.tls_key %s: %s", lk_status_code(LK_ERR_CONFIG), key, strerror(errno));
            lkd_manage_stop(m);
            return NULL;
        }
    }
    unsigned threads = lkd_cfg_uint(cfg, "daemon.manage.threads"), maxc = lkd_cfg_uint(cfg, "daemon.manage.max_connections");
    unsigned timeout = lkd_cfg_uint(cfg, "daemon.manage.timeout_s");
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | (v6 ? MHD_USE_IPv6 : 0) |
                     (tls ? MHD_USE_TLS : 0);
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, m->cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, m->key},
        {MHD_OPTION_END, 0, NULL},
    };
    errno = 0;
    m->mhd = MHD_start_daemon(flags, port, on_accept, m, on_request, m, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                              MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT, maxc,
                              MHD_OPTION_CONNECTION_TIMEOUT, timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                              (size_t)MEMORY_LIMIT, MHD_OPTION_NOTIFY_COMPLETED,
                              on_completed, m, MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL, MHD_OPTION_ARRAY, tls ? tls_opts : tls_opts + 2, MHD_OPTION_END);
    if (m->mhd == NULL) {
        lkd_log("error: cannot serve the management API on %s%s: %s", listen,
                tls ? " (is daemon.manage.tls_cert/tls_key a valid PEM pair?)" : "",
                strerror(errno ? errno : EADDRINUSE));
        lkd_manage_stop(m);
        return NULL;
    }
    lkd_log("serving the management API on %s (%s%s; %u threads, max %u connections, timeout %u s, body %zu bytes; "
            "%zu trusted proxies; key console %s)",
            listen, tls ? "TLS" : "plain HTTP", m->trusted_only ? ", trusted proxies only" : "", threads, maxc,
            timeout, m->max_body, m->ntrusted, m->console_dir ? m->console_dir : "off");
    return m;
}
