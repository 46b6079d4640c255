/*
 * ngx_http_auth_latchkey_module — nginx checks API keys itself, asking
 * latchkeyd over its UNIX socket (protocol: client/lk_proto.h) in the
 * access phase. nginx's workers never open the store.
 *
 * The event loop never blocks: each worker keeps a few connections per
 * socket, made with ngx_event_connect_peer (a non-blocking AF_UNIX connect)
 * and watched by nginx's own event loop. A connection carries up to
 * LK_NGX_SLOTS verifies at once, each with its own request id (unique in
 * the worker), and latchkeyd may answer them in any order (a cold verify
 * waits for Argon2id without holding the warm ones behind it). The handler
 * appends its frame to the connection's output and returns NGX_AGAIN; the
 * output is sent by a posted write event, so every verify of one turn of
 * the event loop leaves in one write, and one read takes every answer that
 * came back: per request, a fraction of a syscall and of a wakeup on each
 * side instead of a write, a read and a wakeup each (issue 22). The answer
 * resumes the request's phases (as ngx_http_upstream resumes a request). A
 * timer per request bounds its wait (auth_latchkey_timeout). A connection
 * that fails takes its requests with it: each is retried once on a new
 * connection (latchkeyd may have closed it while idle), else answered 503.
 * A request that ends, or times out, before its answer leaves its id
 * behind: the answer is read and dropped, never given to another request.
 *
 * Answers are the verify endpoint's (daemon/http.c): the credential is read
 * by the same code (lkh_credentials) and the status mapped by the same
 * table (lkh_http_status): 401 with WWW-Authenticate, 403, 503 when
 * latchkeyd is unreachable, busy or too slow (fail closed).
 *
 * Secrets: the credential is decoded and the request framed in one guarded
 * buffer per worker (sodium_malloc); the frame is then copied to the
 * request's pool (kept for the one retry; wiped at the verdict or when the
 * request ends, whichever comes first) and to the connection's output
 * (guarded, wiped as it is sent). nginx's own copy of the header is in its
 * request buffer, beyond our reach; unless auth_latchkey_pass_credentials
 * is on, the header is removed from the request before it is proxied.
 */
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <pwd.h>
#include <sys/un.h>

#include <sodium.h>

#include "http_parse.h"
#include "lk_config.h" /* LK_DEFAULT_SOCKET */
#include "lk_proto.h"

#define LK_NGX_HELLO_ID 1u /* request ids start above it */
#define LK_NGX_TX_CAP (LKP_LEN_PREFIX + LKP_MAX_REQUEST)
#define LK_NGX_HDR_MAX (2 * LKH_CRED_BUF) /* a longer credential header is refused unread */
#define LK_NGX_SLOTS 64                   /* verifies in flight per connection (a bit each in busy) */
#define LK_NGX_OUT (16 * LK_NGX_TX_CAP)   /* frames waiting to be sent per connection */
#define LK_NGX_KEEPALIVE 4                /* idle connections kept per socket and worker */
#ifndef LK_DAEMON_USER
#define LK_DAEMON_USER "latchkey"
#endif

typedef struct lk_conn_s lk_conn_t;

/* One latchkeyd socket, as this worker sees it: its address and its open
 * connections (each worker has its own copy). */
typedef struct {
    ngx_str_t path;
    struct sockaddr_un sun;
    ngx_queue_t conns;
    ngx_uint_t nidle;
    ngx_uint_t gen; /* of the last connection opened */
} lk_peer_t;

typedef struct {
    ngx_flag_t enable;
    lk_peer_t *peer;
    ngx_http_complex_value_t *service;
    ngx_str_t header;
    ngx_str_t realm;
    ngx_str_t www_bearer, www_basic; /* the WWW-Authenticate values, built once */
    ngx_flag_t pass_credentials;
    ngx_msec_t timeout;
} ngx_http_auth_latchkey_loc_conf_t;

typedef struct {
    ngx_http_request_t *r;
    lk_peer_t *peer;
    lk_conn_t *conn; /* the connection carrying the verify, until its answer */
    ngx_uint_t slot; /* its place there */
    uint32_t id;
    u_char *tx; /* the verify frame (holds the secret), for one retry: wiped at the verdict */
    size_t tx_len;
    ngx_event_t timer; /* auth_latchkey_timeout */
    ngx_msec_t timeout;
    unsigned done : 1;
    unsigned retried : 1;
    lk_status st;
    uint64_t uin;
    ngx_str_t key_id;
} ngx_http_auth_latchkey_ctx_t;

/* A connection to latchkeyd. Its busy slots are the requests whose answers
 * it awaits; a slot whose request is gone (timed out, ended) stays busy,
 * with no request, until its answer is read and dropped. A connection on
 * which an answer timed out takes no new verify (dead) and is closed once
 * no request waits on it: a latchkeyd that stops answering costs no
 * connection per LK_NGX_SLOTS timeouts. */
struct lk_conn_s {
    ngx_connection_t *c;
    lk_peer_t *peer;
    ngx_queue_t q; /* in peer->conns */
    ngx_uint_t gen; /* when it was opened (peer->gen) */
    uint64_t busy;
    ngx_uint_t nlive; /* busy slots that still have their request */
    ngx_http_auth_latchkey_ctx_t *slot[LK_NGX_SLOTS];
    uint32_t slot_id[LK_NGX_SLOTS];
    uint8_t slot_op[LK_NGX_SLOTS]; /* the answer must be to the op asked */
    unsigned hello_done : 1;
    unsigned idle : 1; /* no request waits on it: counted in peer->nidle */
    unsigned dead : 1; /* an answer timed out: no new verify goes there */
    u_char *out;       /* sodium_malloc (LK_NGX_OUT): frames hold secrets; wiped as sent */
    size_t out_len, out_sent;
    size_t rx_len;
    u_char rx[LKP_LEN_PREFIX + LKP_MAX_BODY];
};

/* Per worker: where a credential is decoded and the frame built, and the
 * next request id. */
typedef struct {
    char auth[LK_NGX_HDR_MAX + 1];
    char apikey[LK_NGX_HDR_MAX + 1];
    char cred[LKH_CRED_BUF];
    uint8_t tx[LK_NGX_TX_CAP];
    lkp_msg msg;
    uint32_t next_id;
} ngx_http_auth_latchkey_scratch_t;

static ngx_http_auth_latchkey_scratch_t *lk_scratch;
static uid_t lk_trusted_uid[3];
static ngx_uint_t lk_ntrusted;

static ngx_int_t ngx_http_auth_latchkey_handler(ngx_http_request_t *r);
static void *ngx_http_auth_latchkey_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_auth_latchkey_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child);
static ngx_int_t ngx_http_auth_latchkey_preconf(ngx_conf_t *cf);
static ngx_int_t ngx_http_auth_latchkey_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_auth_latchkey_init_process(ngx_cycle_t *cycle);
static void ngx_http_auth_latchkey_exit_process(ngx_cycle_t *cycle);
static char *ngx_http_auth_latchkey_socket(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

static ngx_command_t ngx_http_auth_latchkey_commands[] = {
    {ngx_string("auth_latchkey"), NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_FLAG,
     ngx_conf_set_flag_slot, NGX_HTTP_LOC_CONF_OFFSET, offsetof(ngx_http_auth_latchkey_loc_conf_t, enable), NULL},
    {ngx_string("auth_latchkey_socket"), NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1,
     ngx_http_auth_latchkey_socket, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL},
    {ngx_string("auth_latchkey_service"), NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1,
     ngx_http_set_complex_value_slot, NGX_HTTP_LOC_CONF_OFFSET,
     offsetof(ngx_http_auth_latchkey_loc_conf_t, service), NULL},
    {ngx_string("auth_latchkey_header"), NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_str_slot, NGX_HTTP_LOC_CONF_OFFSET, offsetof(ngx_http_auth_latchkey_loc_conf_t, header), NULL},
    {ngx_string("auth_latchkey_realm"), NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_str_slot, NGX_HTTP_LOC_CONF_OFFSET, offsetof(ngx_http_auth_latchkey_loc_conf_t, realm), NULL},
    {ngx_string("auth_latchkey_pass_credentials"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_FLAG, ngx_conf_set_flag_slot,
     NGX_HTTP_LOC_CONF_OFFSET, offsetof(ngx_http_auth_latchkey_loc_conf_t, pass_credentials), NULL},
    {ngx_string("auth_latchkey_timeout"), NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_msec_slot, NGX_HTTP_LOC_CONF_OFFSET, offsetof(ngx_http_auth_latchkey_loc_conf_t, timeout), NULL},
    ngx_null_command};

static ngx_http_module_t ngx_http_auth_latchkey_module_ctx = {
    ngx_http_auth_latchkey_preconf,         /* preconfiguration */
    ngx_http_auth_latchkey_init,            /* postconfiguration */
    NULL, NULL,                             /* main conf */
    NULL, NULL,                             /* server conf */
    ngx_http_auth_latchkey_create_loc_conf, /* location conf */
    ngx_http_auth_latchkey_merge_loc_conf};

ngx_module_t ngx_http_auth_latchkey_module = {NGX_MODULE_V1,
                                              &ngx_http_auth_latchkey_module_ctx,
                                              ngx_http_auth_latchkey_commands,
                                              NGX_HTTP_MODULE,
                                              NULL,                                /* init master */
                                              NULL,                                /* init module */
                                              ngx_http_auth_latchkey_init_process, /* init process */
                                              NULL,                                /* init thread */
                                              NULL,                                /* exit thread */
                                              ngx_http_auth_latchkey_exit_process, /* exit process */
                                              NULL,                                /* exit master */
                                              NGX_MODULE_V1_PADDING};

/* ------------------------------------------------------------ configuration */

static void *ngx_http_auth_latchkey_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_auth_latchkey_loc_conf_t *conf = ngx_pcalloc(cf->pool, sizeof *conf);
    if (conf == NULL)
        return NULL;
    conf->enable = NGX_CONF_UNSET;
    conf->pass_credentials = NGX_CONF_UNSET;
    conf->timeout = NGX_CONF_UNSET_MSEC;
    conf->service = NGX_CONF_UNSET_PTR;
    conf->peer = NGX_CONF_UNSET_PTR;
    return conf;
}

static char *lk_set_socket(ngx_conf_t *cf, ngx_http_auth_latchkey_loc_conf_t *conf, ngx_str_t *path)
{
    lk_peer_t *peer;
    if (path->len == 0 || path->len >= sizeof peer->sun.sun_path) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "auth_latchkey_socket \"%V\": empty or longer than %uz bytes",
                           path, sizeof peer->sun.sun_path - 1);
        return NGX_CONF_ERROR;
    }
    peer = ngx_pcalloc(cf->pool, sizeof *peer);
    if (peer == NULL)
        return NGX_CONF_ERROR;
    peer->sun.sun_family = AF_UNIX;
    ngx_memcpy(peer->sun.sun_path, path->data, path->len);
    peer->path = *path;
    ngx_queue_init(&peer->conns);
    conf->peer = peer;
    return NGX_CONF_OK;
}

static char *ngx_http_auth_latchkey_socket(ngx_conf_t *cf, ngx_command_t *cmd, void *c)
{
    ngx_http_auth_latchkey_loc_conf_t *conf = c;
    ngx_str_t *value = cf->args->elts;
    (void)cmd;
    if (conf->peer != NGX_CONF_UNSET_PTR)
        return "is duplicate";
    return lk_set_socket(cf, conf, &value[1]);
}

static char *lk_www_value(ngx_conf_t *cf, ngx_str_t *out, const char *scheme, ngx_str_t *realm, const char *tail)
{
    size_t len = ngx_strlen(scheme) + sizeof(" realm=\"\"") - 1 + realm->len + ngx_strlen(tail);
    u_char *p = ngx_pnalloc(cf->pool, len);
    if (p == NULL)
        return NGX_CONF_ERROR;
    out->data = p;
    out->len = (size_t)(ngx_sprintf(p, "%s realm=\"%V\"%s", scheme, realm, tail) - p);
    return NGX_CONF_OK;
}

static char *ngx_http_auth_latchkey_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_auth_latchkey_loc_conf_t *prev = parent, *conf = child;
    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_value(conf->pass_credentials, prev->pass_credentials, 0);
    ngx_conf_merge_msec_value(conf->timeout, prev->timeout, LKP_CLIENT_TIMEOUT_MS);
    ngx_conf_merge_ptr_value(conf->service, prev->service, NULL);
    ngx_conf_merge_str_value(conf->header, prev->header, "");
    ngx_conf_merge_str_value(conf->realm, prev->realm, "latchkey");
    if (conf->peer == NGX_CONF_UNSET_PTR) {
        if (prev->peer != NGX_CONF_UNSET_PTR) {
            conf->peer = prev->peer; /* one set of connections for the locations that inherit it */
        } else {
            ngx_str_t def = ngx_string(LK_DEFAULT_SOCKET);
            if (lk_set_socket(cf, conf, &def) != NGX_CONF_OK)
                return NGX_CONF_ERROR;
        }
    }
    for (size_t i = 0; i < conf->realm.len; i++)
        if (conf->realm.data[i] == '"' || conf->realm.data[i] == '\\' || conf->realm.data[i] < 0x20) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "auth_latchkey_realm \"%V\": no quote, backslash or control",
                               &conf->realm);
            return NGX_CONF_ERROR;
        }
    if (lk_www_value(cf, &conf->www_bearer, "Bearer", &conf->realm, "") != NGX_CONF_OK ||
        lk_www_value(cf, &conf->www_basic, "Basic", &conf->realm, ", charset=\"UTF-8\"") != NGX_CONF_OK)
        return NGX_CONF_ERROR;
    return NGX_CONF_OK;
}

static ngx_int_t ngx_http_auth_latchkey_init(ngx_conf_t *cf)
{
    ngx_http_core_main_conf_t *cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    ngx_http_handler_pt *h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL)
        return NGX_ERROR;
    *h = ngx_http_auth_latchkey_handler;
    return NGX_OK;
}

static ngx_int_t ngx_http_auth_latchkey_init_process(ngx_cycle_t *cycle)
{
    if (sodium_init() < 0 || (lk_scratch = sodium_malloc(sizeof *lk_scratch)) == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0, "auth_latchkey: libsodium could not be set up");
        return NGX_ERROR;
    }
    /* Whom the secret may be sent to: as lk_connect (client/client.c), the
     * service runs as root, as this worker's user, or as the service user. */
    lk_ntrusted = 0;
    lk_trusted_uid[lk_ntrusted++] = 0;
    lk_trusted_uid[lk_ntrusted++] = geteuid();
    struct passwd *pw = getpwnam(LK_DAEMON_USER);
    if (pw != NULL)
        lk_trusted_uid[lk_ntrusted++] = pw->pw_uid;
    return NGX_OK;
}

static void ngx_http_auth_latchkey_exit_process(ngx_cycle_t *cycle)
{
    (void)cycle;
    sodium_free(lk_scratch);
    lk_scratch = NULL;
}

/* ------------------------------------------------------------ variables */

static ngx_http_auth_latchkey_ctx_t *lk_done_ctx(ngx_http_request_t *r)
{
    ngx_http_auth_latchkey_ctx_t *ctx = ngx_http_get_module_ctx(r, ngx_http_auth_latchkey_module);
    return ctx != NULL && ctx->done ? ctx : NULL;
}

static void lk_var_set(ngx_http_variable_value_t *v, u_char *data, size_t len)
{
    v->data = data;
    v->len = len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
}

static ngx_int_t lk_var_uin(ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_auth_latchkey_ctx_t *ctx = lk_done_ctx(r);
    (void)data;
    if (ctx == NULL || ctx->st != LK_OK) {
        v->not_found = 1;
        return NGX_OK;
    }
    u_char *p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL)
        return NGX_ERROR;
    lk_var_set(v, p, (size_t)(ngx_sprintf(p, "%uL", ctx->uin) - p));
    return NGX_OK;
}

static ngx_int_t lk_var_key_id(ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_auth_latchkey_ctx_t *ctx = lk_done_ctx(r);
    (void)data;
    if (ctx == NULL || ctx->st != LK_OK) {
        v->not_found = 1;
        return NGX_OK;
    }
    lk_var_set(v, ctx->key_id.data, ctx->key_id.len);
    return NGX_OK;
}

static ngx_int_t lk_var_code(ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_auth_latchkey_ctx_t *ctx = lk_done_ctx(r);
    (void)data;
    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }
    const char *code = lk_status_code(ctx->st);
    lk_var_set(v, (u_char *)code, ngx_strlen(code));
    return NGX_OK;
}

/* Changeable: the auth_request recipe (etc/nginx/latchkey.conf) sets
 * variables of the same names with auth_request_set, and must keep working
 * in an nginx that loads the module (the package enables it). */
#define LK_VAR_FLAGS (NGX_HTTP_VAR_NOCACHEABLE | NGX_HTTP_VAR_CHANGEABLE)
static ngx_http_variable_t lk_vars[] = {
    {ngx_string("latchkey_uin"), NULL, lk_var_uin, 0, LK_VAR_FLAGS, 0},
    {ngx_string("latchkey_key_id"), NULL, lk_var_key_id, 0, LK_VAR_FLAGS, 0},
    {ngx_string("latchkey_code"), NULL, lk_var_code, 0, LK_VAR_FLAGS, 0},
    ngx_http_null_variable};

static ngx_int_t ngx_http_auth_latchkey_preconf(ngx_conf_t *cf)
{
    for (ngx_http_variable_t *v = lk_vars; v->name.len; v++) {
        ngx_http_variable_t *var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL)
            return NGX_ERROR;
        var->get_handler = v->get_handler;
        var->data = v->data;
    }
    return NGX_OK;
}

/* ------------------------------------------------------------ the request */

/* Copy a header value, NUL-terminated, into dst (LK_NGX_HDR_MAX + 1). A
 * value too long for any credential becomes "-": unreadable, so refused. */
static const char *lk_hdr_copy(char *dst, ngx_table_elt_t *h)
{
    if (h == NULL)
        return NULL;
    if (h->value.len > LK_NGX_HDR_MAX) {
        dst[0] = '-';
        dst[1] = '\0';
    } else {
        ngx_memcpy(dst, h->value.data, h->value.len);
        dst[h->value.len] = '\0';
    }
    return dst;
}

static ngx_table_elt_t *lk_find_header(ngx_http_request_t *r, ngx_str_t *name)
{
    ngx_list_part_t *part = &r->headers_in.headers.part;
    ngx_table_elt_t *h = part->elts;
    if (name->len == 0)
        return NULL;
    for (ngx_uint_t i = 0;; i++) {
        if (i >= part->nelts) {
            if (part->next == NULL)
                return NULL;
            part = part->next;
            h = part->elts;
            i = 0;
        }
        if (h[i].hash != 0 && h[i].key.len == name->len && ngx_strncasecmp(h[i].key.data, name->data, name->len) == 0)
            return &h[i];
    }
}

/* Remove one element from the request's header list without moving any
 * other (r->headers_in keeps pointers into it): drop it from the end or
 * the start of its part, or split the part in two around it (as
 * headers-more does). A part left empty is unlinked (nginx's loops read
 * the first element of every part after the first); the first part may
 * stay empty. When the last part's array now starts later, l->nalloc
 * shrinks to match, so ngx_list_push never writes past that array. Never
 * a "dead" element: the proxy would send it as a ": " header line. */
static ngx_int_t lk_remove_header(ngx_http_request_t *r, ngx_table_elt_t *target)
{
    ngx_list_t *l = &r->headers_in.headers;
    ngx_list_part_t *prev = NULL;
    for (ngx_list_part_t *part = &l->part; part != NULL; prev = part, part = part->next) {
        ngx_table_elt_t *h = part->elts;
        for (ngx_uint_t i = 0; i < part->nelts; i++) {
            if (&h[i] != target)
                continue;
            if (i == part->nelts - 1) {
                part->nelts--;
            } else if (i == 0) {
                part->elts = &h[1];
                part->nelts--;
                if (l->last == part)
                    l->nalloc--;
            } else {
                ngx_list_part_t *tail = ngx_palloc(r->pool, sizeof *tail);
                if (tail == NULL)
                    return NGX_ERROR;
                tail->elts = &h[i + 1];
                tail->nelts = part->nelts - i - 1;
                tail->next = part->next;
                part->nelts = i;
                part->next = tail;
                if (l->last == part) {
                    l->last = tail;
                    l->nalloc -= i + 1;
                }
            }
            if (part->nelts == 0 && prev != NULL) {
                prev->next = part->next;
                if (l->last == part) {
                    /* prev's array may end where its elements do: let
                     * the next push start a new part. (An empty first
                     * part left last keeps its nalloc: it takes pushes
                     * only if the request had no header left.) */
                    l->last = prev;
                    if (prev->nelts > 0 && prev->nelts < l->nalloc)
                        l->nalloc = prev->nelts;
                }
            }
            return NGX_OK;
        }
    }
    return NGX_OK;
}

static void lk_wipe_tx(ngx_http_auth_latchkey_ctx_t *ctx)
{
    if (ctx->tx != NULL) {
        sodium_memzero(ctx->tx, ctx->tx_len);
        ctx->tx = NULL;
        ctx->tx_len = 0;
    }
}

/* ------------------------------------------------------------ connections */

static void lk_read_handler(ngx_event_t *rev);
static void lk_write_handler(ngx_event_t *wev);
static void lk_finish(ngx_http_auth_latchkey_ctx_t *ctx, lk_status st);
static lk_status lk_dispatch(ngx_http_auth_latchkey_ctx_t *ctx, ngx_uint_t min_gen);

/* Close lc, which awaits no answer for any request (each was detached). */
static void lk_conn_close(lk_conn_t *lc)
{
    if (lc->idle)
        lc->peer->nidle--;
    ngx_queue_remove(&lc->q);
    ngx_close_connection(lc->c);
    sodium_free(lc->out); /* wipes what was not sent */
    ngx_free(lc);
}

/* No request waits on lc (answers to requests gone may still come, and are
 * dropped): nginx may close it on shutdown (c->idle: the read handler is
 * then called with c->close); past LK_NGX_KEEPALIVE idle ones, when it is
 * dead, or when the worker is exiting, it is closed now. */
static void lk_conn_idle(lk_conn_t *lc)
{
    if (lc->idle || lc->nlive != 0)
        return;
    if (lc->peer->nidle >= LK_NGX_KEEPALIVE || lc->dead || ngx_exiting || ngx_terminate) {
        lk_conn_close(lc);
        return;
    }
    lc->idle = 1;
    lc->c->idle = 1;
    lc->peer->nidle++;
}

/* The connection failed: every request it carries is retried once on a
 * connection opened from now on (retry: it was closed or reset; latchkeyd
 * may have closed it while idle, as lk_connect retries), else answered 503. */
static void lk_conn_fail(lk_conn_t *lc, const char *why, int retry)
{
    ngx_http_auth_latchkey_ctx_t *pending[LK_NGX_SLOTS];
    ngx_uint_t n = 0;
    for (uint64_t b = lc->busy; b != 0; b &= b - 1) {
        ngx_http_auth_latchkey_ctx_t *ctx = lc->slot[__builtin_ctzll(b)];
        if (ctx != NULL) {
            ctx->conn = NULL;
            pending[n++] = ctx;
        }
    }
    lc->busy = 0;
    lc->nlive = 0;
    ngx_uint_t fresh = lc->peer->gen + 1;
    ngx_log_t *log = n > 0 ? pending[0]->r->connection->log : ngx_cycle->log;
    if (n > 0 && !(retry && !pending[0]->retried))
        ngx_log_error(NGX_LOG_ERR, log, 0, "auth_latchkey: latchkeyd at %V: %s", &lc->peer->path, why);
    lk_conn_close(lc);
    for (ngx_uint_t i = 0; i < n; i++) {
        ngx_http_auth_latchkey_ctx_t *ctx = pending[i];
        lk_status st = LK_ERR_STORE;
        if (retry && !ctx->retried) {
            ctx->retried = 1;
            st = lk_dispatch(ctx, fresh);
        }
        if (st != LK_OK)
            lk_finish(ctx, st);
    }
}

static int lk_peer_trusted(ngx_connection_t *c)
{
    struct ucred cr;
    socklen_t len = sizeof cr;
    if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0)
        return 0;
    for (ngx_uint_t i = 0; i < lk_ntrusted; i++)
        if (lk_trusted_uid[i] == cr.uid)
            return 1;
    return 0;
}

/* A new connection, connected (AF_UNIX connects at once or fails) to a
 * latchkeyd whose uid we trust, with HELLO waiting in its output; NULL on
 * failure (logged). It logs to the worker's log: it outlives the request
 * that opened it. */
static lk_conn_t *lk_conn_open(lk_peer_t *peer, ngx_log_t *rlog)
{
    ngx_peer_connection_t pc;
    ngx_memzero(&pc, sizeof pc);
    pc.sockaddr = (struct sockaddr *)&peer->sun;
    pc.socklen = sizeof peer->sun;
    pc.name = &peer->path;
    pc.get = ngx_event_get_peer;
    pc.log = ngx_cycle->log;
    pc.log_error = NGX_ERROR_ERR;
    ngx_int_t rc = ngx_event_connect_peer(&pc);
    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_ERR, rlog, 0, "auth_latchkey: cannot connect to latchkeyd at %V", &peer->path);
        return NULL;
    }
    ngx_connection_t *c = pc.connection;
    /* NGX_AGAIN does not happen with AF_UNIX on Linux; elsewhere the
     * peer's uid is not known yet: fail closed rather than send unchecked. */
    if (rc == NGX_AGAIN || !lk_peer_trusted(c)) {
        ngx_log_error(NGX_LOG_ERR, rlog, 0, "auth_latchkey: %V is served by an untrusted user: no secret sent",
                      &peer->path);
        ngx_close_connection(c);
        return NULL;
    }
    lk_conn_t *lc = ngx_alloc(sizeof *lc, rlog);
    u_char *out = sodium_malloc(LK_NGX_OUT);
    if (lc == NULL || out == NULL) {
        ngx_free(lc);
        sodium_free(out);
        ngx_close_connection(c);
        return NULL;
    }
    ngx_memzero(lc, offsetof(lk_conn_t, rx));
    lc->c = c;
    lc->peer = peer;
    lc->gen = ++peer->gen;
    lc->out = out;
    lkp_buf b;
    lkp_begin(&b, out, LK_NGX_OUT, LKP_OP_HELLO, false, LK_NGX_HELLO_ID);
    lkp_put_u32(&b, LKP_F_VERSION, LKP_VERSION);
    (void)lkp_end(&b); /* cannot fail: a few bytes */
    lc->out_len = b.len;
    c->data = lc;
    c->read->handler = lk_read_handler;
    c->write->handler = lk_write_handler;
    ngx_queue_insert_tail(&peer->conns, &lc->q);
    return lc;
}

/* A connection opened at min_gen or later with a free slot and room for
 * len more bytes of output. */
static lk_conn_t *lk_conn_pick(lk_peer_t *peer, size_t len, ngx_uint_t min_gen)
{
    for (ngx_queue_t *q = ngx_queue_head(&peer->conns); q != ngx_queue_sentinel(&peer->conns);
         q = ngx_queue_next(q)) {
        lk_conn_t *lc = ngx_queue_data(q, lk_conn_t, q);
        if (lc->gen >= min_gen && !lc->dead && ~lc->busy != 0 && LK_NGX_OUT - (lc->out_len - lc->out_sent) >= len)
            return lc;
    }
    return NULL;
}

/* ------------------------------------------------------------ the exchange */

/* ctx leaves its connection before its answer: its slot stays busy until
 * the answer is read (and dropped), so the id is never reused meanwhile.
 * When no request waits there any more, the connection's read handler is
 * posted to keep or close it (never closed here: we may be inside its read
 * handler, finishing another request). */
static void lk_detach(ngx_http_auth_latchkey_ctx_t *ctx)
{
    lk_conn_t *lc = ctx->conn;
    if (lc != NULL) {
        lc->slot[ctx->slot] = NULL;
        ctx->conn = NULL;
        if (--lc->nlive == 0) {
            ngx_post_event(lc->c->read, &ngx_posted_events);
        }
    }
    if (ctx->timer.timer_set)
        ngx_del_timer(&ctx->timer);
}

static void lk_cleanup(void *data)
{
    ngx_http_auth_latchkey_ctx_t *ctx = data;
    lk_detach(ctx); /* the request ended before the answer */
    lk_wipe_tx(ctx);
}

/* The verdict is in: run the request's phases again (the handler answers
 * from ctx), as ngx_http_upstream resumes a request. */
static void lk_finish(ngx_http_auth_latchkey_ctx_t *ctx, lk_status st)
{
    ngx_http_request_t *r = ctx->r;
    ngx_connection_t *c = r->connection;
    lk_detach(ctx);
    lk_wipe_tx(ctx);
    ctx->st = st;
    ctx->done = 1;
    r->write_event_handler(r);
    ngx_http_run_posted_requests(c);
}

static void lk_timeout_handler(ngx_event_t *ev)
{
    ngx_http_auth_latchkey_ctx_t *ctx = ev->data;
    ngx_log_error(NGX_LOG_ERR, ctx->r->connection->log, 0, "auth_latchkey: latchkeyd at %V: timed out",
                  &ctx->peer->path);
    if (ctx->conn != NULL)
        ctx->conn->dead = 1;
    lk_finish(ctx, LK_ERR_STORE);
}

/* One complete response frame: 0 when taken (the handshake's, or a verdict,
 * given to its request or dropped), -1 when the stream is broken. */
static int lk_on_frame(lk_conn_t *lc, const u_char *body, size_t len)
{
    lkp_msg *m = &lk_scratch->msg;
    if (lkp_decode(body, len, m) != LKP_OK || !m->response)
        return -1;
    lk_status st = lkp_status_from_code(m->status_code);
    if (!lc->hello_done) {
        if (m->id != LK_NGX_HELLO_ID || m->op != LKP_OP_HELLO || st != LK_OK || m->version != LKP_VERSION)
            return -1;
        lc->hello_done = 1;
        return 0;
    }
    ngx_uint_t i = LK_NGX_SLOTS;
    for (uint64_t b = lc->busy; b != 0; b &= b - 1)
        if (lc->slot_id[__builtin_ctzll(b)] == m->id) {
            i = (ngx_uint_t)__builtin_ctzll(b);
            break;
        }
    if (i == LK_NGX_SLOTS || m->op != lc->slot_op[i])
        return -1; /* an answer to nothing asked */
    ngx_http_auth_latchkey_ctx_t *ctx = lc->slot[i];
    lc->slot[i] = NULL;
    lc->busy &= ~((uint64_t)1 << i);
    if (ctx == NULL)
        return 0; /* its request is gone */
    lc->nlive--;
    ctx->conn = NULL;
    if (st == LK_OK) {
        if (!(m->present & (1u << LKP_F_UIN)) || m->key_id == NULL) {
            lk_finish(ctx, LK_ERR_STORE);
            return -1;
        }
        ctx->uin = m->uin;
        ctx->key_id.len = ngx_strlen(m->key_id);
        ctx->key_id.data = ngx_pnalloc(ctx->r->pool, ctx->key_id.len);
        if (ctx->key_id.data == NULL)
            st = LK_ERR_NOMEM;
        else
            ngx_memcpy(ctx->key_id.data, m->key_id, ctx->key_id.len);
    }
    lk_finish(ctx, st);
    return 0;
}

static void lk_read_handler(ngx_event_t *rev)
{
    ngx_connection_t *c = rev->data;
    lk_conn_t *lc = c->data;
    if (c->close) { /* nginx is shutting down: lc is idle (c->idle) */
        lk_conn_fail(lc, "closed at shutdown", 0);
        return;
    }
    for (;;) {
        ssize_t n = c->recv(c, lc->rx + lc->rx_len, sizeof lc->rx - lc->rx_len);
        if (n == NGX_AGAIN)
            break;
        if (n == 0 || n == NGX_ERROR) {
            lk_conn_fail(lc, "connection closed", 1);
            return;
        }
        lc->rx_len += (size_t)n;
        size_t off = 0;
        while (lc->rx_len - off >= LKP_LEN_PREFIX) {
            size_t blen = lkp_frame_len(lc->rx + off, LKP_MAX_BODY);
            if (blen == 0) {
                lk_conn_fail(lc, "bad frame length", 0);
                return;
            }
            if (lc->rx_len - off < LKP_LEN_PREFIX + blen)
                break;
            if (lk_on_frame(lc, lc->rx + off + LKP_LEN_PREFIX, blen) < 0) {
                lk_conn_fail(lc, "malformed or unexpected response", 0);
                return;
            }
            off += LKP_LEN_PREFIX + blen;
        }
        if (off > 0) {
            ngx_memmove(lc->rx, lc->rx + off, lc->rx_len - off);
            lc->rx_len -= off;
        }
    }
    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        lk_conn_fail(lc, "event registration failed", 0);
        return;
    }
    lk_conn_idle(lc);
}

/* Send what waits, as far as the socket takes it; posted by lk_dispatch, so
 * the frames of one turn of the event loop leave together. */
static void lk_write_handler(ngx_event_t *wev)
{
    ngx_connection_t *c = wev->data;
    lk_conn_t *lc = c->data;
    while (lc->out_sent < lc->out_len) {
        ssize_t n = c->send(c, lc->out + lc->out_sent, lc->out_len - lc->out_sent);
        if (n == NGX_AGAIN)
            break;
        if (n <= 0) {
            lk_conn_fail(lc, "send failed", 1);
            return;
        }
        lc->out_sent += (size_t)n;
    }
    if (lc->out_sent == lc->out_len) {
        sodium_memzero(lc->out, lc->out_len);
        lc->out_len = lc->out_sent = 0;
    } else if (ngx_handle_write_event(wev, 0) != NGX_OK) {
        lk_conn_fail(lc, "event registration failed", 0);
    }
}

/* Put the request on a connection (one opened at min_gen or later; a new
 * one when none has room) and queue its frame. LK_OK when under way; else
 * the verdict to answer. */
static lk_status lk_dispatch(ngx_http_auth_latchkey_ctx_t *ctx, ngx_uint_t min_gen)
{
    lk_peer_t *peer = ctx->peer;
    lk_conn_t *lc = lk_conn_pick(peer, ctx->tx_len, min_gen);
    if (lc == NULL && (lc = lk_conn_open(peer, ctx->r->connection->log)) == NULL)
        return LK_ERR_STORE;
    ngx_uint_t i = (ngx_uint_t)__builtin_ctzll(~lc->busy);
    lc->busy |= (uint64_t)1 << i;
    lc->slot[i] = ctx;
    lc->slot_id[i] = ctx->id;
    lc->slot_op[i] = ctx->tx[LKP_LEN_PREFIX];
    lc->nlive++;
    ctx->conn = lc;
    ctx->slot = i;
    if (lc->idle) {
        lc->idle = 0;
        lc->c->idle = 0;
        peer->nidle--;
    }
    if (lc->out_sent > 0) { /* what was sent makes room: move the rest to the front */
        ngx_memmove(lc->out, lc->out + lc->out_sent, lc->out_len - lc->out_sent);
        sodium_memzero(lc->out + lc->out_len - lc->out_sent, lc->out_sent);
        lc->out_len -= lc->out_sent;
        lc->out_sent = 0;
    }
    ngx_memcpy(lc->out + lc->out_len, ctx->tx, ctx->tx_len);
    lc->out_len += ctx->tx_len;
    ngx_post_event(lc->c->write, &ngx_posted_events); /* once: a posted event is not posted again */
    if (!ctx->timer.timer_set)
        ngx_add_timer(&ctx->timer, ctx->timeout);
    return LK_OK;
}

/* The client's address as latchkeyd takes it; NULL for a non-IP peer (a
 * key with an allowlist is then refused). c->sockaddr is the one real_ip
 * set, when it applies. */
static const char *lk_client_ip(ngx_http_request_t *r, char *buf, size_t n)
{
    ngx_connection_t *c = r->connection;
    if (c->sockaddr == NULL || (c->sockaddr->sa_family != AF_INET && c->sockaddr->sa_family != AF_INET6))
        return NULL;
    size_t len = ngx_sock_ntop(c->sockaddr, c->socklen, (u_char *)buf, n - 1, 0);
    if (len == 0)
        return NULL;
    buf[len] = '\0';
    return buf;
}

/* Frame the verify, with the request's id, into the scratch buffer; 0 on
 * success, 1 for a credential too large for any key, -1 on error. */
static int lk_frame(ngx_http_request_t *r, ngx_http_auth_latchkey_loc_conf_t *lcf, enum lkh_cred_kind kind,
                    const struct lkh_cred *cred, uint32_t id, size_t *out_len)
{
    char ip[NGX_SOCKADDR_STRLEN + 1];
    char svc[LK_SERVICE_MAX + 2];
    const char *service = NULL;
    ngx_str_t sv;
    lkp_buf b;

    if (lcf->service != NULL) {
        if (ngx_http_complex_value(r, lcf->service, &sv) != NGX_OK)
            return -1;
        if (sv.len > LK_SERVICE_MAX)
            sv.len = LK_SERVICE_MAX + 1; /* too long: latchkeyd refuses it, never a prefix match */
        if (sv.len > 0) {
            ngx_memcpy(svc, sv.data, sv.len);
            svc[sv.len] = '\0';
            service = svc;
        }
    }
    lkp_begin(&b, lk_scratch->tx, sizeof lk_scratch->tx,
              kind == LKH_CRED_APIKEY ? LKP_OP_VERIFY_APIKEY : LKP_OP_VERIFY_KEY, false, id);
    if (kind == LKH_CRED_PAIR)
        lkp_put_text(&b, LKP_F_SECRET_ID, cred->id);
    lkp_put_bytes(&b, LKP_F_SECRET, cred->secret, cred->secret_len);
    lkp_put_text(&b, LKP_F_CLIENT_IP, lk_client_ip(r, ip, sizeof ip));
    lkp_put_text(&b, LKP_F_SERVICE, service);
    lkp_put_text(&b, LKP_F_LOGIN, cred->login);
    *out_len = b.len;
    return lkp_end(&b) != 0 ? 1 : 0;
}

/* A request id for this worker: unique among those in flight on any of
 * its connections (a retry keeps its id on the new connection). */
static uint32_t lk_next_id(void)
{
    uint32_t id = ++lk_scratch->next_id;
    if (id <= LK_NGX_HELLO_ID) /* wrapped */
        id = lk_scratch->next_id = LK_NGX_HELLO_ID + 1;
    return id;
}

/* Start the exchange: the frame into the request's pool (kept for one
 * retry, wiped at the verdict or when the request ends), then onto a
 * connection. LK_OK when it is under way (the handler returns NGX_AGAIN). */
static lk_status lk_start(ngx_http_request_t *r, ngx_http_auth_latchkey_ctx_t *ctx,
                          ngx_http_auth_latchkey_loc_conf_t *lcf, uint32_t id, size_t txlen)
{
    ctx->tx = ngx_pnalloc(r->pool, txlen);
    if (ctx->tx == NULL)
        return LK_ERR_NOMEM;
    ngx_memcpy(ctx->tx, lk_scratch->tx, txlen);
    ctx->tx_len = txlen;
    ctx->id = id;
    ctx->peer = lcf->peer;
    ctx->timeout = lcf->timeout;
    ctx->timer.handler = lk_timeout_handler;
    ctx->timer.data = ctx;
    ctx->timer.log = r->connection->log;
    return lk_dispatch(ctx, 0);
}

/* The answer for a verdict, as the verify endpoint gives it. */
static ngx_int_t lk_answer(ngx_http_request_t *r, ngx_http_auth_latchkey_ctx_t *ctx,
                           ngx_http_auth_latchkey_loc_conf_t *lcf, ngx_table_elt_t *auth, ngx_table_elt_t *apikey)
{
    int status = lkh_http_status(ctx->st);
    if (status == 200) {
        if (!lcf->pass_credentials) {
            if (auth != NULL && lk_remove_header(r, auth) != NGX_OK)
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            if (auth != NULL)
                r->headers_in.authorization = NULL;
            if (apikey != NULL && lk_remove_header(r, apikey) != NGX_OK)
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        return NGX_OK;
    }
    if (status == 401) {
        ngx_str_t *vals[2] = {&lcf->www_bearer, &lcf->www_basic};
        for (int i = 0; i < 2; i++) {
            ngx_table_elt_t *h = ngx_list_push(&r->headers_out.headers);
            if (h == NULL)
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            h->hash = 1;
            ngx_str_set(&h->key, "WWW-Authenticate");
            h->value = *vals[i];
#if defined(nginx_version) && nginx_version >= 1023000
            h->next = NULL; /* 1.23 chains headers of one name */
            if (i == 1)
                r->headers_out.www_authenticate->next = h;
#endif
            if (i == 0)
                r->headers_out.www_authenticate = h;
        }
        return NGX_HTTP_UNAUTHORIZED;
    }
    if (status == 403)
        return NGX_HTTP_FORBIDDEN;
    if (status == 503)
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}

static ngx_int_t ngx_http_auth_latchkey_handler(ngx_http_request_t *r)
{
    ngx_http_auth_latchkey_loc_conf_t *lcf = ngx_http_get_module_loc_conf(r, ngx_http_auth_latchkey_module);
    if (!lcf->enable)
        return NGX_DECLINED;
    ngx_http_auth_latchkey_ctx_t *ctx = ngx_http_get_module_ctx(r, ngx_http_auth_latchkey_module);
    ngx_table_elt_t *auth = r->headers_in.authorization;
    ngx_table_elt_t *apikey = lk_find_header(r, &lcf->header);
    if (ctx != NULL) {
        if (!ctx->done)
            return NGX_AGAIN; /* woken before the answer (a client write event) */
        return lk_answer(r, ctx, lcf, auth, apikey);
    }
    if (lk_scratch == NULL)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    ctx = ngx_pcalloc(r->pool, sizeof *ctx);
    ngx_pool_cleanup_t *cln = ngx_pool_cleanup_add(r->pool, 0);
    if (ctx == NULL || cln == NULL)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    ctx->r = r;
    cln->handler = lk_cleanup;
    cln->data = ctx;
    ngx_http_set_ctx(r, ctx, ngx_http_auth_latchkey_module);

    struct lkh_cred cred;
    enum lkh_cred_kind kind =
        lkh_credentials(lk_hdr_copy(lk_scratch->auth, auth), lk_hdr_copy(lk_scratch->apikey, apikey),
                        lk_scratch->cred, sizeof lk_scratch->cred, &cred);
    uint32_t id = lk_next_id();
    size_t txlen = 0;
    int framed = kind == LKH_CRED_NONE || kind == LKH_CRED_BAD ? 1 : lk_frame(r, lcf, kind, &cred, id, &txlen);
    /* Wipe what held the secret: the copies (as far as they were written) and the frame. */
    if (auth != NULL)
        sodium_memzero(lk_scratch->auth, ngx_min(auth->value.len, LK_NGX_HDR_MAX) + 1);
    if (apikey != NULL)
        sodium_memzero(lk_scratch->apikey, ngx_min(apikey->value.len, LK_NGX_HDR_MAX) + 1);
    sodium_memzero(lk_scratch->cred, sizeof lk_scratch->cred);
    lk_status st = framed < 0 ? LK_ERR_INTERNAL : framed > 0 ? LK_DENY_MALFORMED : lk_start(r, ctx, lcf, id, txlen);
    sodium_memzero(lk_scratch->tx, ngx_min(txlen, sizeof lk_scratch->tx));
    if (st == LK_OK)
        return NGX_AGAIN;
    lk_wipe_tx(ctx);
    ctx->st = st;
    ctx->done = 1;
    return lk_answer(r, ctx, lcf, auth, apikey);
}
