/*
 * endpoint.c — lk_connect_endpoint: a ctx whose key-management calls are
 * actions of latchkeyd's management API (daemon/manage.c), made over HTTP
 * with libcurl as the caller whose access-key pair the configuration names.
 * It fills the key-management members of the core's remote table
 * (core/lk_remote.h) and has no policy of its own: what the caller may do
 * is the service's answer.
 *
 * Requests are Tencent Cloud API 3.0 shaped: POST / with a JSON body and
 * X-TC-Action / X-TC-Version; the caller's pair goes in Authorization:
 * Basic. Plain http:// is taken only to a loopback address (and then never
 * through a proxy); else https://, with the peer and its host name checked.
 *
 * Secrets: the caller's SecretKey lives only in guarded memory (the
 * Authorization header is built there; libcurl's copy in its header list
 * is wiped after each request). An answer is read into a guarded buffer;
 * a created key's secret is copied from it into an lk_secret and every
 * other copy we can reach (the buffer, json-c's string and its tokener's
 * scratch buffer) is wiped; libcurl's own memory, and OpenSSL's when
 * libcurl uses it, is wiped before it is freed (when latchkey is the first
 * in the process to initialise them; else the process's choice stays).
 *
 * Threads: idle connections (CURL handles, kept alive) wait in a small pool
 * of slots taken with atomic exchanges, as in client.c. A handle made by
 * another process (before a fork) is never used nor cleaned up in the
 * child: its TLS session belongs to the parent.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* libcurl's calls go through the table below (loaded on first use), never
 * through curl.h's type-checking macros. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <sodium.h>

#include "lk_internal.h"
#include "lk_proto.h"

#define POOL_SLOTS 8
#define ANSWER_MAX (4u << 20)  /* bytes: the largest answer (50 API keys with full lists) is far below */
#define CRED_FILE_MAX 4096
#define AUTH_MAX 256           /* "Authorization: Basic " + base64 of "SecretId:SecretKey" */
#define VERSION_CAM "2019-01-16"
#define VERSION_APIKEY "2026-12-07"

struct econn {
    CURL *h;
    pid_t pid;
    char err[CURL_ERROR_SIZE];
    char *rx; /* guarded */
    size_t len, cap;
    bool over;
};

struct endpoint {
    char *url;
    char *cacert;
    bool plain_loopback;
    char *auth; /* guarded: the Authorization header line */
    _Atomic(struct econn *) idle[POOL_SLOTS];
};

/* ------------------------------------------------------------ libcurl, loaded on first use */

/* liblatchkey is loaded by every PAM service, Mosquitto, Apache...: they
 * must not all map libcurl and its TLS, LDAP, SSH and HTTP/2 libraries for
 * a call only the admin tool makes. So libcurl is opened the first time
 * lk_connect_endpoint runs, and its functions are called through this
 * table (written once, under pthread_once; read-only after). */
static struct {
    void *lib;
    CURLcode (*global_init_mem)(long, curl_malloc_callback, curl_free_callback, curl_realloc_callback,
                                curl_strdup_callback, curl_calloc_callback);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    void (*easy_cleanup)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    void (*free)(void *);
    CURLU *(*url)(void);
    void (*url_cleanup)(CURLU *);
    CURLUcode (*url_get)(const CURLU *, CURLUPart, char **, unsigned int);
    CURLUcode (*url_set)(CURLU *, CURLUPart, const char *, unsigned int);
    char missing[64]; /* "": loaded; else what could not be found */
} lkcurl;
static pthread_once_t lkcurl_once = PTHREAD_ONCE_INIT;

/* (curl.h defines these two as pass-through macros) */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_global_init_mem (*lkcurl.global_init_mem)
#define curl_easy_init (*lkcurl.easy_init)
#define curl_easy_setopt (*lkcurl.easy_setopt)
#define curl_easy_perform (*lkcurl.easy_perform)
#define curl_easy_getinfo (*lkcurl.easy_getinfo)
#define curl_easy_cleanup (*lkcurl.easy_cleanup)
#define curl_easy_strerror (*lkcurl.easy_strerror)
#define curl_slist_append (*lkcurl.slist_append)
#define curl_slist_free_all (*lkcurl.slist_free_all)
#define curl_free (*lkcurl.free)
#define curl_url (*lkcurl.url)
#define curl_url_cleanup (*lkcurl.url_cleanup)
#define curl_url_get (*lkcurl.url_get)
#define curl_url_set (*lkcurl.url_set)

static void wipe_tls_memory(void *lib);

static void lkcurl_load(void)
{
    void *lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        snprintf(lkcurl.missing, sizeof lkcurl.missing, "libcurl.so.4");
        return;
    }
    static const char *const names[] = {
        "curl_global_init_mem", "curl_easy_init",  "curl_easy_setopt", "curl_easy_perform", "curl_easy_getinfo",
        "curl_easy_cleanup",    "curl_easy_strerror", "curl_slist_append", "curl_slist_free_all", "curl_free",
        "curl_url",             "curl_url_cleanup", "curl_url_get",     "curl_url_set",
    };
    void **slots[] = {
        (void **)&lkcurl.global_init_mem, (void **)&lkcurl.easy_init,      (void **)&lkcurl.easy_setopt,
        (void **)&lkcurl.easy_perform,    (void **)&lkcurl.easy_getinfo,   (void **)&lkcurl.easy_cleanup,
        (void **)&lkcurl.easy_strerror,   (void **)&lkcurl.slist_append,   (void **)&lkcurl.slist_free_all,
        (void **)&lkcurl.free,            (void **)&lkcurl.url,            (void **)&lkcurl.url_cleanup,
        (void **)&lkcurl.url_get,         (void **)&lkcurl.url_set,
    };
    _Static_assert(sizeof names / sizeof names[0] == sizeof slots / sizeof slots[0], "one slot per name");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if ((*slots[i] = dlsym(lib, names[i])) == NULL) {
            snprintf(lkcurl.missing, sizeof lkcurl.missing, "%s in libcurl.so.4", names[i]);
            return; /* lib stays open: harmless, and nothing half-loaded is used */
        }
    }
    /* before libcurl starts OpenSSL (curl_global_init_mem) */
    wipe_tls_memory(lib);
    lkcurl.lib = lib;
}

/* ------------------------------------------------------------ libcurl's memory */

/* libcurl's buffers hold each answer (a created secret) and each request
 * (the caller's pair, base64): freed memory keeps what it held, and the
 * next malloc hands it to anyone. So its blocks are wiped before they are
 * freed, and a realloc moves through a wiped copy. */
static void wipe_free(void *p)
{
    if (p != NULL) {
        sodium_memzero(p, malloc_usable_size(p));
        free(p);
    }
}

static void *wipe_realloc(void *p, size_t n)
{
    if (p == NULL)
        return malloc(n);
    size_t old = malloc_usable_size(p);
    void *q = malloc(n ? n : 1);
    if (q == NULL)
        return NULL; /* p is left as it was, as realloc does */
    memcpy(q, p, old < n ? old : n);
    wipe_free(p);
    return q;
}

/* OpenSSL decrypts each record in place in a buffer it frees when the read
 * is done: the same wiping, through its own hook. Found at run time (it is
 * libcurl's dependency, not ours, and absent with GnuTLS); it takes effect
 * only before OpenSSL's first allocation, i.e. before libcurl starts it. */
static void *ossl_malloc(size_t n, const char *file, int line)
{
    (void)file, (void)line;
    return malloc(n);
}

static void *ossl_realloc(void *p, size_t n, const char *file, int line)
{
    (void)file, (void)line;
    return wipe_realloc(p, n);
}

static void ossl_free(void *p, const char *file, int line)
{
    (void)file, (void)line;
    wipe_free(p);
}

static void wipe_tls_memory(void *lib)
{
    typedef int set_fn(void *(*)(size_t, const char *, int), void *(*)(void *, size_t, const char *, int),
                       void (*)(void *, const char *, int));
    set_fn *set;
    /* searched in libcurl's own dependencies (it was opened RTLD_LOCAL) */
    *(void **)&set = dlsym(lib, "CRYPTO_set_mem_functions");
    if (set != NULL)
        (void)set(ossl_malloc, ossl_realloc, ossl_free); /* 0 when OpenSSL is already in use: then as it is */
}

/* ------------------------------------------------------------ connections */

static void econn_free(struct econn *c)
{
    if (c == NULL)
        return;
    if (c->pid == getpid() && c->h != NULL)
        curl_easy_cleanup(c->h);
    if (c->rx != NULL) {
        sodium_memzero(c->rx, c->cap);
        sodium_free(c->rx);
    }
    free(c);
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    struct econn *c = arg;
    size_t add = size * n;
    if (c->over || add > ANSWER_MAX - c->len) {
        c->over = true;
        return 0; /* aborts the transfer */
    }
    if (c->len + add + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 16384;
        while (cap < c->len + add + 1)
            cap *= 2;
        char *nb = sodium_malloc(cap);
        if (nb == NULL) {
            c->over = true;
            return 0;
        }
        if (c->rx != NULL) {
            memcpy(nb, c->rx, c->len);
            sodium_memzero(c->rx, c->cap);
            sodium_free(c->rx);
        }
        c->rx = nb;
        c->cap = cap;
    }
    memcpy(c->rx + c->len, p, add);
    c->len += add;
    c->rx[c->len] = '\0';
    return add;
}

static lk_status econn_new(const struct endpoint *ep, struct econn **out)
{
    struct econn *c = calloc(1, sizeof *c);
    *out = NULL;
    if (c == NULL || (c->h = curl_easy_init()) == NULL) {
        free(c);
        return lk_seterr(LK_ERR_NOMEM, "out of memory");
    }
    c->pid = getpid();
    CURL *h = c->h;
    CURLcode e = CURLE_OK;
#define SET(opt, val) (e = e != CURLE_OK ? e : curl_easy_setopt(h, opt, val))
    SET(CURLOPT_URL, ep->url);
    SET(CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    SET(CURLOPT_CONNECTTIMEOUT, 15L);
    SET(CURLOPT_TIMEOUT, 60L); /* a create waits for one Argon2id behind others */
    SET(CURLOPT_USERAGENT, "latchkey/" LK_VERSION_STRING);
    SET(CURLOPT_ERRORBUFFER, c->err);
    SET(CURLOPT_WRITEFUNCTION, on_data);
    SET(CURLOPT_WRITEDATA, c);
    SET(CURLOPT_POST, 1L);
    if (ep->cacert != NULL)
        SET(CURLOPT_CAINFO, ep->cacert);
    if (ep->plain_loopback) /* the SecretKey in clear text must not go to a proxy */
        SET(CURLOPT_NOPROXY, "*");
#undef SET
    if (e != CURLE_OK) {
        econn_free(c);
        return lk_seterr(LK_ERR_INTERNAL, "the HTTP client cannot be set up: %s", curl_easy_strerror(e));
    }
    *out = c;
    return LK_OK;
}

static lk_status econn_get(struct endpoint *ep, struct econn **out)
{
    pid_t me = getpid();
    for (size_t i = 0; i < POOL_SLOTS; i++) {
        if (atomic_load_explicit(&ep->idle[i], memory_order_relaxed) == NULL)
            continue;
        struct econn *c = atomic_exchange_explicit(&ep->idle[i], NULL, memory_order_acquire);
        if (c == NULL)
            continue;
        if (c->pid != me) { /* forked: the parent's; its handle is left alone */
            econn_free(c);
            continue;
        }
        *out = c;
        return LK_OK;
    }
    return econn_new(ep, out);
}

static void econn_put(struct endpoint *ep, struct econn *c)
{
    if (c->pid == getpid())
        for (size_t i = 0; i < POOL_SLOTS; i++) {
            struct econn *empty = NULL;
            if (atomic_compare_exchange_strong_explicit(&ep->idle[i], &empty, c, memory_order_release,
                                                        memory_order_relaxed))
                return;
        }
    econn_free(c);
}

/* ------------------------------------------------------------ one action */

/* An error code of the service that is no lk_status (request reading,
 * limits, the caller's credential): the nearest status; the message keeps
 * the service's own code. */
static lk_status code_status(const char *code)
{
    lk_status st = lkp_status_from_code(code);
    if (st != LK_ERR_INTERNAL || strcmp(code, "InternalError") == 0)
        return st;
    if (strncmp(code, "RequestLimitExceeded", 20) == 0)
        return LK_ERR_BUSY;
    if (strncmp(code, "AuthFailure.", 12) == 0)
        return LK_DENY_MALFORMED;
    if (strcmp(code, "InvalidAction") == 0 || strcmp(code, "MissingParameter") == 0 ||
        strncmp(code, "InvalidParameter", 16) == 0)
        return LK_ERR_PARAM;
    return LK_ERR_INTERNAL;
}

static const char *jstr(json_object *o, const char *key)
{
    json_object *v;
    if (o == NULL || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static json_object *jget(json_object *o, const char *key, json_type t)
{
    json_object *v;
    if (o == NULL || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, t))
        return NULL;
    return v;
}

static lk_status bad_answer(const struct endpoint *ep, const char *what)
{
    return lk_seterr(LK_ERR_STORE, "the management API at %s answered %s", ep->url, what);
}

/* Parse c->rx (wiped after) into *root. */
static lk_status parse_answer(const struct endpoint *ep, struct econn *c, long http, json_object **root)
{
    char what[64];
    json_tokener *tok = json_tokener_new();
    if (tok == NULL)
        return lk_seterr(LK_ERR_NOMEM, "out of memory");
    *root = c->len > 0 && c->len <= INT32_MAX ? json_tokener_parse_ex(tok, c->rx, (int)c->len) : NULL;
    bool whole = *root != NULL && json_tokener_get_error(tok) == json_tokener_success &&
                 json_tokener_get_parse_end(tok) == c->len;
    /* The tokener's scratch buffer held every string of the answer, a
     * created secret included: wiped before it is freed. */
    if (tok->pb != NULL && tok->pb->buf != NULL)
        sodium_memzero(tok->pb->buf, (size_t)tok->pb->size);
    json_tokener_free(tok);
    sodium_memzero(c->rx, c->len);
    c->len = 0;
    if (!whole || !json_object_is_type(*root, json_type_object) ||
        jget(*root, "Response", json_type_object) == NULL) {
        json_object_put(*root);
        *root = NULL;
        snprintf(what, sizeof what, "HTTP %ld without a Tencent Cloud API answer", http);
        return bad_answer(ep, what);
    }
    return LK_OK;
}

/* Run action with params (taken: put here) and return the answer's
 * Response in *resp, which lives in *root (the caller puts *root). A
 * refusal of the service becomes its status, with its message. */
static lk_status call(struct endpoint *ep, const char *action, const char *version, json_object *params,
                      json_object **root, json_object **resp)
{
    struct econn *c = NULL;
    struct curl_slist *hdrs = NULL, *auth = NULL;
    char act[96], ver[64];
    *root = *resp = NULL;
    const char *body = params ? json_object_to_json_string_ext(params, JSON_C_TO_STRING_PLAIN |
                                                                           JSON_C_TO_STRING_NOSLASHESCAPE)
                              : NULL;
    lk_status st = body == NULL ? lk_seterr(LK_ERR_NOMEM, "out of memory") : econn_get(ep, &c);
    if (st != LK_OK) {
        json_object_put(params);
        return st;
    }
    snprintf(act, sizeof act, "X-TC-Action: %s", action);
    snprintf(ver, sizeof ver, "X-TC-Version: %s", version);
    struct curl_slist *t;
    bool built = (t = curl_slist_append(NULL, "Content-Type: application/json")) != NULL && (hdrs = t) &&
                 (t = curl_slist_append(hdrs, act)) != NULL && (t = curl_slist_append(hdrs, ver)) != NULL &&
                 (t = curl_slist_append(hdrs, "Expect:")) != NULL && (t = curl_slist_append(hdrs, ep->auth)) != NULL;
    if (built)
        for (auth = hdrs; auth->next != NULL; auth = auth->next)
            ;
    c->len = 0;
    c->over = false;
    c->err[0] = '\0';
    CURLcode e = CURLE_OUT_OF_MEMORY;
    if (built && curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, hdrs) == CURLE_OK &&
        curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE, (long)strlen(body)) == CURLE_OK &&
        curl_easy_setopt(c->h, CURLOPT_COPYPOSTFIELDS, body) == CURLE_OK)
        e = curl_easy_perform(c->h);
    long http = 0;
    (void)curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &http);
    (void)curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, NULL);
    if (auth != NULL) /* libcurl's copy of the caller's pair */
        sodium_memzero(auth->data, strlen(auth->data));
    curl_slist_free_all(hdrs);
    json_object_put(params);

    if (e != CURLE_OK) {
        if (c->over)
            st = bad_answer(ep, "more than the largest answer there is");
        else if (e == CURLE_OUT_OF_MEMORY)
            st = lk_seterr(LK_ERR_NOMEM, "out of memory");
        else if (e == CURLE_PEER_FAILED_VERIFICATION || e == CURLE_SSL_CONNECT_ERROR || e == CURLE_SSL_CACERT_BADFILE ||
                 e == CURLE_SSL_CERTPROBLEM)
            st = lk_seterr(LK_ERR_STORE, "TLS with the management API at %s failed (is its certificate signed by a "
                           "CA you trust?): %s", ep->url, c->err[0] ? c->err : curl_easy_strerror(e));
        else
            st = lk_seterr(LK_ERR_STORE, "cannot reach the management API at %s: %s", ep->url,
                           c->err[0] ? c->err : curl_easy_strerror(e));
        sodium_memzero(c->rx, c->cap);
        econn_free(c); /* a broken connection is never reused */
        return st;
    }
    st = parse_answer(ep, c, http, root);
    econn_put(ep, c);
    if (st != LK_OK)
        return st;
    json_object *r = jget(*root, "Response", json_type_object);
    json_object *err = jget(r, "Error", json_type_object);
    if (err != NULL) {
        const char *code = jstr(err, "Code"), *msg = jstr(err, "Message");
        if (code == NULL)
            st = bad_answer(ep, "an error without a code");
        else {
            st = code_status(code);
            /* a code no status has is kept in the message */
            if (strcmp(lk_status_code(st), code) != 0)
                st = lk_seterr(st, "%s: %s", code, msg ? msg : "");
            else
                st = lk_seterr(st, "%s", msg ? msg : lk_strerror(st));
        }
        json_object_put(*root);
        *root = NULL;
        return st;
    }
    *resp = r;
    return LK_OK;
}

/* A change: call, with the thread's lk_audit_reason (latchkey --reason) as Reason. */
static lk_status change(struct endpoint *ep, const char *action, const char *version, json_object *params,
                        json_object **root, json_object **resp)
{
    const char *reason = lk_audit_reason_get();
    if (params != NULL && reason[0] != '\0')
        json_object_object_add(params, "Reason", json_object_new_string(reason));
    return call(ep, action, version, params, root, resp);
}

/* ------------------------------------------------------------ answers and parameters */

/* "YYYY-MM-DD hh:mm:ss" (UTC) as the service writes times; "" or absent is 0. */
static int64_t jtime(json_object *o, const char *key)
{
    const char *s = jstr(o, key), *end;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (s == NULL || (end = strptime(s, "%Y-%m-%d %H:%M:%S", &tm)) == NULL || *end != '\0')
        return 0;
    return (int64_t)timegm(&tm);
}

static uint64_t juint(json_object *o, const char *key)
{
    json_object *v = jget(o, key, json_type_int);
    return v != NULL && json_object_get_int64(v) >= 0 ? json_object_get_uint64(v) : 0;
}

static lk_key_status jstatus(json_object *o)
{
    const char *s = jstr(o, "Status");
    return s != NULL && strcmp(s, "Active") == 0 ? LK_KEY_ACTIVE : LK_KEY_INACTIVE;
}

static void jcopy(char *dst, size_t n, json_object *o, const char *key)
{
    const char *s = jstr(o, key);
    snprintf(dst, n, "%s", s ? s : "");
}

/* A new params object, with TargetUin when uin is not 0 (0: the caller). */
static json_object *params_for(uint64_t uin)
{
    json_object *p = json_object_new_object();
    if (p != NULL && uin != 0)
        json_object_object_add(p, "TargetUin", json_object_new_uint64(uin));
    return p;
}

static void put_str(json_object *p, const char *key, const char *s)
{
    if (p != NULL && s != NULL)
        json_object_object_add(p, key, json_object_new_string(s));
}

static void put_list(json_object *p, const char *key, const char *const *items, size_t n)
{
    json_object *a = json_object_new_array();
    for (size_t i = 0; a != NULL && i < n; i++)
        json_object_array_add(a, json_object_new_string(items[i]));
    if (p != NULL && a != NULL)
        json_object_object_add(p, key, a);
}

/* An expiry as the service takes it: Unix seconds, 0 (LK_EXPIRES_NEVER) never. */
static void put_expiry(json_object *p, int64_t t)
{
    if (p != NULL)
        json_object_object_add(p, "ExpireTime", json_object_new_int64(t));
}

static lk_status nomem(void)
{
    return lk_seterr(LK_ERR_NOMEM, "out of memory");
}

/* The secret member key of o into a new lk_secret; json-c's copy is wiped. */
static lk_status take_secret(const struct endpoint *ep, json_object *o, const char *key, lk_secret **out)
{
    json_object *v = jget(o, key, json_type_string);
    *out = NULL;
    if (v == NULL)
        return bad_answer(ep, "a create without the new secret");
    char *s = (char *)json_object_get_string(v); /* wiped in place: json-c frees without wiping */
    size_t len = (size_t)json_object_get_string_len(v);
    lk_secret *sec = len > 0 && len <= 256 ? lk_secret_new(len) : NULL;
    if (sec != NULL)
        memcpy(sec->str, s, len);
    sodium_memzero(s, len);
    if (sec == NULL)
        return len > 0 && len <= 256 ? nomem() : bad_answer(ep, "a malformed secret");
    *out = sec;
    return LK_OK;
}

static lk_status check_secret_id(const char *id)
{
    char q[64];
    if (id == NULL || !lk_keyfmt_secret_id_ok(id, strlen(id)))
        return lk_seterr(LK_ERR_PARAM, "'%s' is not a SecretId", lk_quote(id, q, sizeof q));
    return LK_OK;
}

static lk_status check_apikey_id(const char *id)
{
    char q[64];
    if (id == NULL || !lk_keyfmt_apikey_id_ok(id, strlen(id)))
        return lk_seterr(LK_ERR_PARAM, "'%s' is not an API key id", lk_quote(id, q, sizeof q));
    return LK_OK;
}

/* ------------------------------------------------------------ access keys */

/* The answer's AccessKey, created or rotated to, and its secret (the only time it is sent). */
static lk_status take_new_key(void *remote, json_object *resp, uint64_t uin, lk_access_key *out, lk_secret **secret)
{
    json_object *k = jget(resp, "AccessKey", json_type_object);
    lk_status st = take_secret(remote, k, "SecretAccessKey", secret);
    if (st == LK_OK) {
        memset(out, 0, sizeof *out);
        jcopy(out->secret_id, sizeof out->secret_id, k, "AccessKeyId");
        out->uin = uin;
        out->status = jstatus(k);
        out->create_time = jtime(k, "CreateTime");
        out->expire_time = jtime(k, "ExpireTime");
    }
    return st;
}

static lk_status r_key_create(void *remote, uint64_t uin, int64_t expire_time, lk_access_key *out, lk_secret **secret)
{
    json_object *root, *resp;
    *secret = NULL;
    if (expire_time < 0)
        return lk_seterr(LK_ERR_PARAM, "an expiry before 1970 cannot be sent");
    json_object *p = params_for(uin);
    if (expire_time != LK_EXPIRES_NEVER)
        put_expiry(p, expire_time);
    lk_status st = change(remote, "CreateAccessKey", VERSION_CAM, p, &root, &resp);
    if (st != LK_OK)
        return st;
    st = take_new_key(remote, resp, uin, out, secret);
    json_object_put(root);
    return st;
}

static lk_status r_key_list(void *remote, uint64_t uin, lk_access_key **out, size_t *count)
{
    json_object *root, *resp, *root2 = NULL, *resp2;
    *out = NULL;
    *count = 0;
    lk_status st = call(remote, "ListAccessKeys", VERSION_CAM, params_for(uin), &root, &resp);
    if (st != LK_OK)
        return st;
    json_object *a = jget(resp, "AccessKeys", json_type_array);
    size_t n = a ? json_object_array_length(a) : 0;
    lk_access_key *keys = calloc(n ? n : 1, sizeof *keys);
    if (keys == NULL) {
        json_object_put(root);
        return nomem();
    }
    json_object *ids = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        json_object *k = json_object_array_get_idx(a, i);
        jcopy(keys[i].secret_id, sizeof keys[i].secret_id, k, "AccessKeyId");
        keys[i].uin = uin;
        keys[i].status = jstatus(k);
        keys[i].create_time = jtime(k, "CreateTime");
        keys[i].expire_time = jtime(k, "ExpireTime");
        if (ids != NULL)
            json_object_array_add(ids, json_object_new_string(keys[i].secret_id));
    }
    json_object_put(root);
    /* ListAccessKeys has no last use: GetSecurityLastUsed, as the console does */
    if (n > 0) {
        json_object *p = params_for(uin);
        if (p != NULL && ids != NULL) {
            json_object_object_add(p, "SecretIdList", ids);
            ids = NULL;
        }
        st = call(remote, "GetSecurityLastUsed", VERSION_CAM, p, &root2, &resp2);
        json_object *rows = st == LK_OK ? jget(resp2, "SecretIdLastUsedRows", json_type_array) : NULL;
        for (size_t i = 0; rows != NULL && i < json_object_array_length(rows); i++) {
            json_object *row = json_object_array_get_idx(rows, i);
            const char *id = jstr(row, "SecretId");
            for (size_t j = 0; id != NULL && j < n; j++)
                if (strcmp(keys[j].secret_id, id) == 0)
                    keys[j].last_access_time = jtime(row, "LastUsedDate");
        }
        json_object_put(root2);
    }
    json_object_put(ids);
    if (st != LK_OK) {
        free(keys);
        return st;
    }
    *out = keys;
    *count = n;
    return LK_OK;
}

/* UpdateAccessKey / DeleteAccessKey: the key, its owner (0: the caller). */
static lk_status key_change(void *remote, const char *action, const char *secret_id, uint64_t owner_uin,
                            const char *status)
{
    json_object *root, *resp;
    lk_status st = check_secret_id(secret_id);
    if (st != LK_OK)
        return st;
    json_object *p = params_for(owner_uin);
    put_str(p, "AccessKeyId", secret_id);
    put_str(p, "Status", status);
    if ((st = change(remote, action, VERSION_CAM, p, &root, &resp)) == LK_OK)
        json_object_put(root);
    return st;
}

static lk_status r_key_set_status(void *remote, const char *secret_id, uint64_t owner_uin, lk_key_status ks)
{
    if (ks != LK_KEY_ACTIVE && ks != LK_KEY_INACTIVE)
        return lk_seterr(LK_ERR_PARAM, "status %d is neither Active nor Inactive", (int)ks);
    return key_change(remote, "UpdateAccessKey", secret_id, owner_uin, lk_key_status_name(ks));
}

static lk_status r_key_delete(void *remote, const char *secret_id, uint64_t owner_uin)
{
    return key_change(remote, "DeleteAccessKey", secret_id, owner_uin, NULL);
}

/* One key, by ListAccessKeys with latchkey's AccessKeyId: the service finds its owner. */
static lk_status r_key_get(void *remote, const char *secret_id, lk_access_key *out)
{
    json_object *root, *resp;
    lk_status st = check_secret_id(secret_id);
    if (st != LK_OK)
        return st;
    json_object *p = params_for(0);
    put_str(p, "AccessKeyId", secret_id);
    if ((st = call(remote, "ListAccessKeys", VERSION_CAM, p, &root, &resp)) != LK_OK)
        return st;
    json_object *a = jget(resp, "AccessKeys", json_type_array);
    json_object *k = a != NULL && json_object_array_length(a) == 1 ? json_object_array_get_idx(a, 0) : NULL;
    const char *id = jstr(k, "AccessKeyId");
    if (id == NULL || strcmp(id, secret_id) != 0) {
        st = bad_answer(remote, "another key than the one asked for");
    } else {
        memset(out, 0, sizeof *out);
        jcopy(out->secret_id, sizeof out->secret_id, k, "AccessKeyId");
        out->uin = juint(k, "Uin");
        out->status = jstatus(k);
        out->create_time = jtime(k, "CreateTime");
        out->last_access_time = jtime(k, "LastAccessTime");
        out->expire_time = jtime(k, "ExpireTime");
    }
    json_object_put(root);
    return st;
}

static lk_status r_key_set_expiry(void *remote, const char *secret_id, uint64_t owner_uin, int64_t expire_time)
{
    json_object *root, *resp;
    lk_status st = check_secret_id(secret_id);
    if (st != LK_OK)
        return st;
    if (expire_time < 0)
        return lk_seterr(LK_ERR_PARAM, "an expiry before 1970 cannot be sent");
    json_object *p = params_for(owner_uin);
    put_str(p, "AccessKeyId", secret_id);
    put_expiry(p, expire_time);
    if ((st = change(remote, "ModifyAccessKey", VERSION_CAM, p, &root, &resp)) == LK_OK)
        json_object_put(root);
    return st;
}

/* GraceSeconds, ExpireTime (only when it is set) and Force of a rotation. */
static lk_status rotate_params(json_object *p, const lk_rotate_opts *o)
{
    if (o == NULL)
        return lk_seterr(LK_ERR_PARAM, "no rotation options given");
    if (o->grace_seconds < 0 || (o->set_expiry && o->expire_time < 0))
        return lk_seterr(LK_ERR_PARAM, "a negative grace period or expiry cannot be sent");
    if (p == NULL)
        return nomem();
    json_object_object_add(p, "GraceSeconds", json_object_new_int64(o->grace_seconds));
    if (o->set_expiry)
        put_expiry(p, o->expire_time);
    if (o->force)
        json_object_object_add(p, "Force", json_object_new_boolean(1));
    return LK_OK;
}

/* RotateAccessKey's or RerollApiKey's parameters in *p (NULL on a refusal): the key, its
 * form already checked (id_ok), as idname, the target uin, and the options. */
static lk_status rotate_request(lk_status id_ok, uint64_t uin, const char *idname, const char *id,
                                const lk_rotate_opts *o, json_object **p)
{
    *p = NULL;
    if (id_ok != LK_OK)
        return id_ok;
    *p = params_for(uin);
    put_str(*p, idname, id);
    lk_status st = rotate_params(*p, o);
    if (st != LK_OK) {
        json_object_put(*p);
        *p = NULL;
    }
    return st;
}

static lk_status r_key_rotate(void *remote, const char *secret_id, uint64_t owner_uin, const lk_rotate_opts *o,
                              lk_access_key *out, lk_secret **secret)
{
    json_object *root, *resp, *p;
    *secret = NULL;
    lk_status st = rotate_request(check_secret_id(secret_id), owner_uin, "AccessKeyId", secret_id, o, &p);
    if (st != LK_OK || (st = change(remote, "RotateAccessKey", VERSION_CAM, p, &root, &resp)) != LK_OK)
        return st;
    st = take_new_key(remote, resp, owner_uin, out, secret);
    json_object_put(root);
    return st;
}

static lk_status r_records(void *remote, const char *key_id, lk_access_record out[LK_RECORDS_MAX], size_t *count,
                           int64_t *last_access_time)
{
    json_object *root, *resp;
    *count = 0;
    if (last_access_time)
        *last_access_time = 0;
    /* an API key's (the caller's account's), or an access key's */
    bool api = key_id != NULL && lk_keyfmt_apikey_id_ok(key_id, strlen(key_id));
    lk_status st = api ? LK_OK : check_secret_id(key_id);
    if (st != LK_OK)
        return st;
    json_object *p = params_for(0);
    put_str(p, api ? "ApiKeyId" : "AccessKeyId", key_id);
    if ((st = call(remote, api ? "ListApiKeyRecords" : "ListAccessRecords", api ? VERSION_APIKEY : VERSION_CAM, p,
                   &root, &resp)) != LK_OK)
        return st;
    json_object *a = jget(resp, "Records", json_type_array);
    size_t n = a ? json_object_array_length(a) : 0;
    for (size_t i = 0; i < n && i < LK_RECORDS_MAX; i++) {
        json_object *r = json_object_array_get_idx(a, i);
        memset(&out[i], 0, sizeof out[i]);
        out[i].time = jtime(r, "Time");
        jcopy(out[i].client_ip, sizeof out[i].client_ip, r, "ClientIp");
        jcopy(out[i].service, sizeof out[i].service, r, "Service");
        const char *res = jstr(r, "Result");
        out[i].result = res == NULL ? LK_ERR_INTERNAL : strcmp(res, "Success") == 0 ? LK_OK : lkp_status_from_code(res);
        *count = i + 1;
    }
    if (last_access_time)
        *last_access_time = jtime(resp, "LastAccessTime");
    json_object_put(root);
    return LK_OK;
}

/* ------------------------------------------------------------ API keys */

/* A list member of strings as an lk_apikey list (malloc'd block); "all"
 * alone (Scope) is the empty list. */
static int jlist(json_object *o, const char *key, const char *all, char ***out, size_t *n)
{
    json_object *a = jget(o, key, json_type_array);
    size_t len = a ? json_object_array_length(a) : 0;
    *out = NULL;
    *n = 0;
    if (len == 0 || len > 64)
        return 0;
    const char *items[64];
    for (size_t i = 0; i < len; i++) {
        const char *s = json_object_get_string(json_object_array_get_idx(a, i));
        items[i] = s ? s : "";
    }
    if (all != NULL && len == 1 && strcmp(items[0], all) == 0)
        return 0;
    if ((*out = lk_strlist_dup(items, len)) == NULL)
        return -1;
    *n = len;
    return 0;
}

static lk_status japikey(json_object *o, lk_apikey *k)
{
    memset(k, 0, sizeof *k);
    jcopy(k->id, sizeof k->id, o, "ApiKeyId");
    jcopy(k->name, sizeof k->name, o, "Name");
    jcopy(k->description, sizeof k->description, o, "Description");
    jcopy(k->masked, sizeof k->masked, o, "MaskedKey");
    k->status = jstatus(o);
    k->root_uin = juint(o, "RootUin");
    k->create_time = jtime(o, "CreateTime");
    k->last_access_time = jtime(o, "LastAccessTime");
    k->expire_time = jtime(o, "ExpireTime");
    k->rate_limit = (uint32_t)juint(o, "RateLimit");
    k->rate_window_s = (uint32_t)juint(o, "RateWindowSeconds");
    if (jlist(o, "Scope", "all", &k->scope, &k->scope_count) != 0 ||
        jlist(o, "IpAllowlist", NULL, &k->allow_ip, &k->allow_ip_count) != 0) {
        lk_apikey_release(k);
        return nomem();
    }
    return LK_OK;
}

/* The answer's ApiKey, created or rerolled to, and its value (the only time it is sent). */
static lk_status take_new_apikey(void *remote, json_object *resp, lk_apikey *out, lk_secret **key)
{
    json_object *k = jget(resp, "ApiKey", json_type_object);
    lk_status st = take_secret(remote, k, "ApiKey", key);
    if (st == LK_OK && (st = japikey(k, out)) != LK_OK) {
        lk_secret_free(*key);
        *key = NULL;
    }
    return st;
}

static lk_status r_apikey_create(void *remote, uint64_t root_uin, const lk_apikey_spec *spec, lk_apikey *out,
                                 lk_secret **key)
{
    json_object *root, *resp;
    *key = NULL;
    if (spec == NULL || spec->name == NULL)
        return lk_seterr(LK_ERR_PARAM, "an API key needs a name");
    json_object *p = params_for(root_uin);
    put_str(p, "Name", spec->name);
    put_str(p, "Description", spec->description);
    if (spec->scope_count > 0)
        put_list(p, "Scope", spec->scope, spec->scope_count);
    if (spec->allow_ip_count > 0)
        put_list(p, "IpAllowlist", spec->allow_ip, spec->allow_ip_count);
    if (p != NULL && spec->expire_time != 0)
        json_object_object_add(p, "ExpireTime", json_object_new_int64(spec->expire_time));
    if (p != NULL && spec->rate_limit != 0) {
        json_object_object_add(p, "RateLimit", json_object_new_int64(spec->rate_limit));
        json_object_object_add(p, "RateWindowSeconds", json_object_new_int64(spec->rate_window_s));
    }
    lk_status st = change(remote, "CreateApiKey", VERSION_APIKEY, p, &root, &resp);
    if (st != LK_OK)
        return st;
    st = take_new_apikey(remote, resp, out, key);
    json_object_put(root);
    return st;
}

static lk_status r_apikey_list(void *remote, uint64_t root_uin, lk_apikey **out, size_t *count)
{
    json_object *root, *resp;
    *out = NULL;
    *count = 0;
    lk_status st = call(remote, "DescribeApiKeys", VERSION_APIKEY, params_for(root_uin), &root, &resp);
    if (st != LK_OK)
        return st;
    json_object *a = jget(resp, "ApiKeys", json_type_array);
    size_t n = a ? json_object_array_length(a) : 0, got = 0;
    lk_apikey *keys = calloc(n ? n : 1, sizeof *keys);
    st = keys == NULL ? nomem() : LK_OK;
    for (; st == LK_OK && got < n; got++)
        if ((st = japikey(json_object_array_get_idx(a, got), &keys[got])) != LK_OK)
            break;
    json_object_put(root);
    if (st != LK_OK) {
        lk_apikey_list_free(keys, got);
        return st;
    }
    *out = keys;
    *count = n;
    return LK_OK;
}

/* DescribeApiKeys with ApiKeyId or Name: that key alone. */
static lk_status apikey_one(void *remote, json_object *p, lk_apikey *out)
{
    json_object *root, *resp;
    lk_status st = call(remote, "DescribeApiKeys", VERSION_APIKEY, p, &root, &resp);
    if (st != LK_OK)
        return st;
    json_object *a = jget(resp, "ApiKeys", json_type_array);
    if (a == NULL || json_object_array_length(a) != 1)
        st = bad_answer(remote, "not the one API key asked for");
    else
        st = japikey(json_object_array_get_idx(a, 0), out);
    json_object_put(root);
    return st;
}

static lk_status r_apikey_get(void *remote, const char *id, lk_apikey *out)
{
    lk_status st = check_apikey_id(id);
    if (st != LK_OK)
        return st;
    json_object *p = params_for(0);
    put_str(p, "ApiKeyId", id);
    return apikey_one(remote, p, out);
}

static lk_status r_apikey_find(void *remote, uint64_t root_uin, const char *name, lk_apikey *out)
{
    if (name == NULL || name[0] == '\0')
        return lk_seterr(LK_ERR_PARAM, "no API key name given");
    json_object *p = params_for(root_uin);
    put_str(p, "Name", name);
    return apikey_one(remote, p, out);
}

static lk_status r_apikey_reroll(void *remote, const char *id, const lk_rotate_opts *o, lk_apikey *out,
                                 lk_secret **key)
{
    json_object *root, *resp, *p;
    *key = NULL;
    lk_status st = rotate_request(check_apikey_id(id), 0, "ApiKeyId", id, o, &p);
    if (st != LK_OK || (st = change(remote, "RerollApiKey", VERSION_APIKEY, p, &root, &resp)) != LK_OK)
        return st;
    st = take_new_apikey(remote, resp, out, key);
    json_object_put(root);
    return st;
}

/* ModifyApiKey / DeleteApiKey on the caller's own account. */
static lk_status apikey_change(void *remote, const char *action, const char *id, json_object *p)
{
    json_object *root, *resp;
    lk_status st = check_apikey_id(id);
    if (st != LK_OK) {
        json_object_put(p);
        return st;
    }
    put_str(p, "ApiKeyId", id);
    if ((st = change(remote, action, VERSION_APIKEY, p, &root, &resp)) == LK_OK)
        json_object_put(root);
    return st;
}

static lk_status r_apikey_edit(void *remote, const char *id, const lk_apikey_edit *edit)
{
    if (edit == NULL)
        return lk_seterr(LK_ERR_PARAM, "nothing to change");
    if ((edit->set_expiry && edit->expire_time < 0) || (edit->set_rate_limit && edit->rate_limit > 0 &&
                                                        edit->rate_window_s == 0))
        return lk_seterr(LK_ERR_PARAM, "an expiry before 1970, or a request limit without its window, cannot be sent");
    json_object *p = params_for(0);
    if (edit->set_expiry)
        put_expiry(p, edit->expire_time);
    if (p != NULL && edit->set_rate_limit) {
        json_object_object_add(p, "RateLimit", json_object_new_int64(edit->rate_limit));
        if (edit->rate_limit > 0)
            json_object_object_add(p, "RateWindowSeconds", json_object_new_int64(edit->rate_window_s));
    }
    put_str(p, "Description", edit->description);
    if (edit->set_scope)
        put_list(p, "Scope", edit->scope, edit->scope_count);
    if (edit->set_allow_ip)
        put_list(p, "IpAllowlist", edit->allow_ip, edit->allow_ip_count);
    return apikey_change(remote, "ModifyApiKey", id, p);
}

static lk_status r_apikey_set_status(void *remote, const char *id, lk_key_status ks)
{
    if (ks != LK_KEY_ACTIVE && ks != LK_KEY_INACTIVE)
        return lk_seterr(LK_ERR_PARAM, "status %d is neither Active nor Inactive", (int)ks);
    json_object *p = params_for(0);
    put_str(p, "Status", lk_key_status_name(ks));
    return apikey_change(remote, "ModifyApiKey", id, p);
}

static lk_status r_apikey_delete(void *remote, const char *id)
{
    return apikey_change(remote, "DeleteApiKey", id, params_for(0));
}

/* ------------------------------------------------------------ users */

/* A user of the caller's account, from ListUsers (a root account's only). */
static lk_status r_user_get(void *remote, uint64_t uin, lk_user *out)
{
    json_object *root, *resp;
    lk_status st = call(remote, "ListUsers", VERSION_CAM, params_for(0), &root, &resp);
    if (st != LK_OK)
        return st;
    json_object *a = jget(resp, "Users", json_type_array);
    st = lk_seterr(LK_ERR_USER_NOT_EXIST, "user %" PRIu64 " is not a user of your account", uin);
    for (size_t i = 0; a != NULL && i < json_object_array_length(a); i++) {
        json_object *u = json_object_array_get_idx(a, i);
        if (juint(u, "Uin") != uin)
            continue;
        memset(out, 0, sizeof *out);
        out->uin = uin;
        out->root_uin = juint(u, "RootUin");
        const char *kind = jstr(u, "Kind"), *self = jstr(u, "SelfService");
        out->kind = LK_USER_ROOT;
        for (int k = LK_USER_ROOT; kind != NULL && k <= LK_USER_COLLABORATOR; k++)
            if (strcmp(kind, lk_user_kind_name((lk_user_kind)k)) == 0)
                out->kind = (lk_user_kind)k;
        jcopy(out->login, sizeof out->login, u, "Login");
        if (self == NULL || lk_self_service_parse(self, &out->self_service) != LK_OK)
            out->self_service = LK_SELF_NONE;
        out->create_time = jtime(u, "CreateTime");
        st = LK_OK;
        break;
    }
    json_object_put(root);
    return st;
}

static lk_status r_user_set_self_service(void *remote, uint64_t uin, lk_self_service s)
{
    json_object *root, *resp;
    if ((unsigned)s > LK_SELF_MANAGE)
        return lk_seterr(LK_ERR_PARAM, "unknown self-service grant %d", (int)s);
    json_object *p = params_for(uin);
    put_str(p, "SelfService", lk_self_service_name(s));
    lk_status st = change(remote, "UpdateUser", VERSION_CAM, p, &root, &resp);
    if (st == LK_OK)
        json_object_put(root);
    return st;
}

/* ------------------------------------------------------------ connecting */

static void r_close(void *remote)
{
    struct endpoint *ep = remote;
    for (size_t i = 0; i < POOL_SLOTS; i++)
        econn_free(atomic_exchange(&ep->idle[i], NULL));
    if (ep->auth != NULL) {
        sodium_memzero(ep->auth, AUTH_MAX);
        sodium_free(ep->auth);
    }
    free(ep->url);
    free(ep->cacert);
    free(ep);
}

static const lk_remote_ops endpoint_ops = {
    .key_create = r_key_create,
    .key_list = r_key_list,
    .key_set_status = r_key_set_status,
    .key_delete = r_key_delete,
    .key_get = r_key_get,
    .key_set_expiry = r_key_set_expiry,
    .key_rotate = r_key_rotate,
    .records = r_records,
    .apikey_create = r_apikey_create,
    .apikey_list = r_apikey_list,
    .apikey_edit = r_apikey_edit,
    .apikey_set_status = r_apikey_set_status,
    .apikey_delete = r_apikey_delete,
    .apikey_get = r_apikey_get,
    .apikey_find = r_apikey_find,
    .apikey_reroll = r_apikey_reroll,
    .user_get = r_user_get,
    .user_set_self_service = r_user_set_self_service,
    .close = r_close,
};

static bool loopback_host(const char *host)
{
    unsigned char a[16];
    size_t n = strlen(host);
    if (strcmp(host, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, host, a) == 1)
        return a[0] == 127;
    if (n > 2 && host[0] == '[' && host[n - 1] == ']') {
        char v6[64];
        if (n - 2 >= sizeof v6)
            return false;
        memcpy(v6, host + 1, n - 2);
        v6[n - 2] = '\0';
        return inet_pton(AF_INET6, v6, a) == 1 && memcmp(a, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) == 0;
    }
    return false;
}

/* https://, or http:// to a loopback address; no credentials in it. */
static lk_status check_url(struct endpoint *ep, const char *url)
{
    char q[96];
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *user = NULL;
    lk_status st = LK_OK;
    if (u == NULL)
        return nomem();
    if (url == NULL || url[0] == '\0' || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        st = lk_seterr(LK_ERR_PARAM, "endpoint URL '%s' is not a URL (https://HOST[:PORT])",
                       lk_quote(url, q, sizeof q));
    else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK)
        st = lk_seterr(LK_ERR_PARAM, "endpoint URL: credentials do not belong in the URL");
    else if (strcmp(scheme, "https") == 0)
        ep->plain_loopback = false;
    else if (strcmp(scheme, "http") == 0 && loopback_host(host))
        ep->plain_loopback = true;
    else if (strcmp(scheme, "http") == 0)
        st = lk_seterr(LK_ERR_PARAM, "endpoint URL '%s': plain http:// is allowed only to a loopback address (the "
                                     "SecretKey would cross the network in clear text): use https://",
                       lk_quote(url, q, sizeof q));
    else
        st = lk_seterr(LK_ERR_PARAM, "endpoint URL '%s': the scheme must be https:// (or http:// to a loopback "
                                     "address)", lk_quote(url, q, sizeof q));
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_url_cleanup(u);
    return st;
}

/* The Authorization header for the pair, into guarded ep->auth. */
static lk_status set_auth(struct endpoint *ep, const char *id, const char *key, size_t key_len, const char *from)
{
    if (id == NULL || !lk_keyfmt_secret_id_ok(id, strlen(id)))
        return lk_seterr(LK_ERR_CONFIG, "%s: the SecretId is not one (AKID followed by 32 letters and digits)%s", from,
                         id != NULL && strncmp(id, "lk-", 3) == 0 ? "; an API key is not accepted by the management API"
                                                                  : "");
    if (key == NULL || !lk_keyfmt_secret_key_ok(key, key_len))
        return lk_seterr(LK_ERR_CONFIG, "%s: the SecretKey is not one (LKSK followed by 42 letters and digits)", from);
    char *pair = sodium_malloc(AUTH_MAX);
    ep->auth = sodium_malloc(AUTH_MAX);
    if (pair == NULL || ep->auth == NULL) {
        sodium_free(pair);
        return nomem();
    }
    size_t idl = strlen(id);
    memcpy(pair, id, idl);
    pair[idl] = ':';
    memcpy(pair + idl + 1, key, key_len);
    static const char head[] = "Authorization: Basic ";
    memcpy(ep->auth, head, sizeof head - 1);
    sodium_bin2base64(ep->auth + sizeof head - 1, AUTH_MAX - (sizeof head - 1), (const unsigned char *)pair,
                      idl + 1 + key_len, sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(pair, AUTH_MAX);
    sodium_free(pair);
    return LK_OK;
}

/* Trim ASCII white space of [*s, *e). */
static void trim(const char **s, const char **e)
{
    while (*s < *e && (**s == ' ' || **s == '\t' || **s == '\r'))
        (*s)++;
    while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t' || (*e)[-1] == '\r'))
        (*e)--;
}

/* The pair from a 0600 credentials file (see lk_endpoint_conf). */
static lk_status read_credentials(struct endpoint *ep, const char *path)
{
    struct stat sb;
    char q[96];
    if (path == NULL || path[0] == '\0')
        return lk_seterr(LK_ERR_CONFIG, "no credentials: neither a SecretId and SecretKey nor a credentials file");
    lk_quote(path, q, sizeof q);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return lk_seterr(LK_ERR_CONFIG, "credentials file %s: %s", q, strerror(errno));
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > CRED_FILE_MAX) {
        close(fd);
        return lk_seterr(LK_ERR_CONFIG, "credentials file %s: not a regular file of at most %d bytes", q,
                         CRED_FILE_MAX);
    }
    if (sb.st_uid != geteuid()) {
        close(fd);
        return lk_seterr(LK_ERR_CONFIG, "credentials file %s belongs to uid %u, not to you (uid %u)", q,
                         (unsigned)sb.st_uid, (unsigned)geteuid());
    }
    if ((sb.st_mode & 077) != 0) {
        close(fd);
        return lk_seterr(LK_ERR_CONFIG, "credentials file %s is open to group or others (mode %04o): it holds a "
                                        "SecretKey; run chmod 600 %s", q, (unsigned)(sb.st_mode & 07777), q);
    }
    char *buf = sodium_malloc(CRED_FILE_MAX + 1);
    if (buf == NULL) {
        close(fd);
        return nomem();
    }
    size_t got = 0;
    ssize_t r;
    while (got < CRED_FILE_MAX && (r = read(fd, buf + got, CRED_FILE_MAX - got)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    const char *id = NULL, *key = NULL;
    size_t idl = 0, keyl = 0;
    lk_status st = LK_OK;
    int line = 0;
    for (char *p = buf; st == LK_OK && p < buf + got; line++) {
        char *nl = memchr(p, '\n', (size_t)(buf + got - p));
        const char *s = p, *e = nl ? nl : buf + got;
        p = nl ? nl + 1 : buf + got;
        trim(&s, &e);
        if (s == e || *s == '#')
            continue;
        const char *eq = memchr(s, '=', (size_t)(e - s));
        const char *ns = s, *ne = eq ? eq : e, *vs = eq ? eq + 1 : e, *ve = e;
        trim(&ns, &ne);
        trim(&vs, &ve);
        const char **slot = NULL;
        size_t *slen = NULL;
        if (eq != NULL && ne - ns == 9 && memcmp(ns, "secret_id", 9) == 0)
            slot = &id, slen = &idl;
        else if (eq != NULL && ne - ns == 10 && memcmp(ns, "secret_key", 10) == 0)
            slot = &key, slen = &keyl;
        if (slot == NULL)
            st = lk_seterr(LK_ERR_CONFIG, "credentials file %s, line %d: expected secret_id = ... or secret_key = ...",
                           q, line + 1);
        else if (*slot != NULL)
            st = lk_seterr(LK_ERR_CONFIG, "credentials file %s, line %d: %s is given twice", q, line + 1,
                           slot == &id ? "secret_id" : "secret_key");
        else {
            *slot = vs;
            *slen = (size_t)(ve - vs);
            ((char *)vs)[*slen] = '\0'; /* the line ends here; buf is ours */
        }
    }
    if (st == LK_OK && (id == NULL || key == NULL))
        st = lk_seterr(LK_ERR_CONFIG, "credentials file %s: %s is missing", q, id == NULL ? "secret_id" : "secret_key");
    if (st == LK_OK) {
        char from[128];
        snprintf(from, sizeof from, "credentials file %s", q);
        (void)idl;
        st = set_auth(ep, id, key, keyl, from);
    }
    sodium_memzero(buf, CRED_FILE_MAX + 1);
    sodium_free(buf);
    return st;
}

lk_status lk_connect_endpoint(const lk_endpoint_conf *conf, lk_ctx **out)
{
    char q[96];
    if (out == NULL)
        return lk_seterr(LK_ERR_PARAM, "lk_connect_endpoint: out is NULL");
    *out = NULL;
    if (conf == NULL)
        return lk_seterr(LK_ERR_PARAM, "lk_connect_endpoint: conf is NULL");
    if (sodium_init() < 0)
        return lk_seterr(LK_ERR_INTERNAL, "libsodium failed to initialise");
    (void)pthread_once(&lkcurl_once, lkcurl_load);
    if (lkcurl.lib == NULL)
        return lk_seterr(LK_ERR_CONFIG, "the management API client needs libcurl: %s was not found (apt-get install libcurl4)",
                         lkcurl.missing);
    /* thread-safe since libcurl 7.84; repeated calls only count (and then
     * the allocator of whoever initialised libcurl first stays) */
    if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, malloc, wipe_free, wipe_realloc, strdup, calloc) != CURLE_OK)
        return lk_seterr(LK_ERR_INTERNAL, "the HTTP client failed to initialise");
    struct endpoint *ep = calloc(1, sizeof *ep);
    if (ep == NULL)
        return nomem();
    lk_status st = check_url(ep, conf->url);
    if (st == LK_OK && ((ep->url = strdup(conf->url)) == NULL ||
                        (conf->cacert != NULL && (ep->cacert = strdup(conf->cacert)) == NULL)))
        st = nomem();
    if (st == LK_OK && conf->cacert != NULL && access(conf->cacert, R_OK) != 0)
        st = lk_seterr(LK_ERR_CONFIG, "CA file %s: %s", lk_quote(conf->cacert, q, sizeof q), strerror(errno));
    if (st == LK_OK)
        st = conf->secret_id != NULL
                 ? set_auth(ep, conf->secret_id, conf->secret_key, conf->secret_key_len, "the caller's access key")
                 : read_credentials(ep, conf->credentials_file);
    if (st != LK_OK) {
        r_close(ep);
        return st;
    }
    return lk_ctx_new_remote(&endpoint_ops, ep, out);
}
