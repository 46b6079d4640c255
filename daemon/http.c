/*
 * http.c — the HTTP verify endpoint (see http.h), on libmicrohttpd: a
 * well-kept HTTP/1.1 server library from Debian, so latchkeyd has no HTTP
 * parser of its own. Its internal thread pool (daemon.http.threads) polls
 * with epoll; a connection timeout and a connection limit keep slow or
 * malformed clients from holding the service.
 *
 *   GET|HEAD|any  /, /verify, /verify/...   verify the request's credential
 *   GET           /healthz                 200 "ok" when the store answers, else 503
 *   GET           /metrics                 Prometheus text format
 *
 * A verify goes through the socket protocol's path (lkd_verify in ops.c):
 * a verdict that needs no Argon2id (a cache hit, an unknown or disabled
 * key...) is answered by the libmicrohttpd thread at once; one that needs
 * a hash suspends the connection until an Argon2id thread has the verdict,
 * so no HTTP thread waits on a hash.
 *
 * Only a trusted proxy (daemon.http.trusted_proxies) may say who the client
 * is (daemon.http.client_ip_header), which service it asks for
 * (daemon.http.service_header) and which URI it requested (X-Original-URI,
 * X-Forwarded-Uri, or the path under /verify/): from any other peer the
 * address is the peer's and no service is named.
 *
 * Secrets: the decoded credential lives in one guarded buffer per thread,
 * wiped after each request; libmicrohttpd's own copy of the header is in
 * its connection memory, beyond our reach. No secret is logged or answered.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>
#include <sodium.h>

#include "http.h"
#include "http_parse.h"

#define MAX_TRUSTED 256
#define MEMORY_LIMIT (32 * 1024) /* per connection: headers beyond it are refused (431) */

/* Latency buckets, in microseconds (le= in seconds). */
static const uint64_t bucket_us[] = {250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000};
#define NBUCKETS (sizeof bucket_us / sizeof bucket_us[0])

struct lkd_http {
    struct lkd *d;
    struct MHD_Daemon *mhd;
    char *apikey_header, *client_ip_header, *service_header, *service_map; /* "" off */
    lk_cidr trusted[MAX_TRUSTED];
    size_t ntrusted;
    bool any_user;
    _Atomic uint64_t verifies[LK_STATUS_COUNT_], no_credential, waited;
    _Atomic uint64_t lat_bucket[NBUCKETS + 1], lat_sum_us, lat_count;
};

/* One request, from its first header to its completion. */
struct hreq {
    struct lkd_http *h;
    struct MHD_Connection *conn;
    int64_t t0_us;
    pthread_mutex_t lock; /* the verdict, handed over by an Argon2id thread */
    bool queued, suspended, done;
    lk_status st;
    lk_verify_info info;
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static _Thread_local char *cred_buf; /* guarded; one per libmicrohttpd thread, never freed */

static const char *header(struct MHD_Connection *c, const char *name)
{
    if (name == NULL || *name == '\0')
        return NULL;
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

static void observe(struct lkd_http *h, int64_t us)
{
    size_t i = 0;
    while (i < NBUCKETS && (uint64_t)us > bucket_us[i])
        i++;
    atomic_fetch_add(&h->lat_bucket[i], 1);
    atomic_fetch_add(&h->lat_sum_us, (uint64_t)(us > 0 ? us : 0));
    atomic_fetch_add(&h->lat_count, 1);
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *code, const char *body,
                                 const char *ctype, const lk_verify_info *info)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", ctype);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (code != NULL)
        MHD_add_response_header(r, "X-Latchkey-Code", code);
    if (status == 200 && info != NULL) {
        char uin[24];
        snprintf(uin, sizeof uin, "%" PRIu64, info->uin);
        MHD_add_response_header(r, "X-Latchkey-Uin", uin);
        MHD_add_response_header(r, "X-Latchkey-Key-Id", info->key_id);
    }
    if (status == 401) {
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"latchkey\"");
        MHD_add_response_header(r, "WWW-Authenticate", "Basic realm=\"latchkey\", charset=\"UTF-8\"");
    }
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* The verdict's answer: status, code header, identity on success, and no
 * body: nginx reads only the headers of an auth_request answer, and closes
 * the upstream connection instead of reusing it when a body follows. */
static enum MHD_Result answer(struct hreq *q, lk_status st, const lk_verify_info *info)
{
    struct lkd_http *h = q->h;
    int status = lkh_http_status(st);
    if ((unsigned)st < LK_STATUS_COUNT_)
        atomic_fetch_add(&h->verifies[st], 1);
    observe(h, mono_us() - q->t0_us);
    return send_text(q->conn, (unsigned)status, lk_status_code(st), "", "text/plain; charset=utf-8",
                     st == LK_OK ? info : NULL);
}

/* From an Argon2id thread: the verdict for a suspended request. */
static void verify_done(void *arg, lk_status st, const lk_verify_info *info)
{
    struct hreq *q = arg;
    pthread_mutex_lock(&q->lock);
    q->st = st;
    q->info = *info;
    q->done = true;
    if (q->suspended)
        MHD_resume_connection(q->conn);
    pthread_mutex_unlock(&q->lock);
}

static const char *peer_text(struct MHD_Connection *c, char *buf, size_t n)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    buf[0] = '\0';
    if (ci == NULL || ci->client_addr == NULL)
        return buf;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf, (socklen_t)n);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, buf, (socklen_t)n);
    return buf;
}

static enum MHD_Result verify(struct hreq *q, const char *url)
{
    struct lkd_http *h = q->h;
    struct MHD_Connection *c = q->conn;
    char peer[INET6_ADDRSTRLEN + 1], ip[64], svc[LK_SERVICE_MAX + 2];
    if (cred_buf == NULL && (cred_buf = sodium_malloc(LKH_CRED_BUF)) == NULL)
        return answer(q, LK_ERR_NOMEM, NULL);

    struct lkh_cred cred;
    enum lkh_cred_kind kind = lkh_credentials(header(c, MHD_HTTP_HEADER_AUTHORIZATION), header(c, h->apikey_header),
                                              cred_buf, LKH_CRED_BUF, &cred);
    if (kind == LKH_CRED_NONE || kind == LKH_CRED_BAD) {
        sodium_memzero(cred_buf, LKH_CRED_BUF);
        if (kind == LKH_CRED_NONE)
            atomic_fetch_add(&h->no_credential, 1);
        return answer(q, LK_DENY_MALFORMED, NULL);
    }

    peer_text(c, peer, sizeof peer);
    bool trusted = lkh_trusted(peer, h->trusted, h->ntrusted);
    lkh_client_ip(peer, header(c, h->client_ip_header), h->trusted, h->ntrusted, ip, sizeof ip);
    const char *service = NULL;
    if (trusted) {
        const char *uri = header(c, "X-Original-URI");
        if (uri == NULL)
            uri = header(c, "X-Forwarded-Uri");
        if (uri == NULL && strncmp(url, "/verify/", 8) == 0)
            uri = url + 7; /* Envoy's ext_authz: path_prefix /verify, then the original path */
        service = lkh_service(header(c, h->service_header), uri, h->service_map, svc, sizeof svc);
    }
    struct lkd_verify_args a = {
        .apikey = kind == LKH_CRED_APIKEY,
        .secret_id = cred.id,
        .secret = cred.secret,
        .secret_len = cred.secret_len,
        .req = {.client_ip = ip[0] ? ip : NULL,
                .service = service,
                .login = h->any_user || cred.login == NULL || cred.login[0] == '\0' ? NULL : cred.login},
    };
    lk_verify_info info;
    memset(&info, 0, sizeof info);
    lk_status st = lkd_verify(h->d, &a, &info, verify_done, q);
    sodium_memzero(cred_buf, LKH_CRED_BUF); /* the job took its own copy */
    if (st != LK_ERR_NEEDS_HASH)
        return answer(q, st, &info);
    /* An Argon2id thread answers: wait for it off this thread. */
    atomic_fetch_add(&h->waited, 1);
    pthread_mutex_lock(&q->lock);
    q->queued = true;
    if (!q->done) {
        MHD_suspend_connection(c);
        q->suspended = true;
    }
    bool done = q->done;
    pthread_mutex_unlock(&q->lock);
    return done ? answer(q, q->st, &q->info) : MHD_YES;
}

static enum MHD_Result healthz(struct hreq *q)
{
    lk_user u;
    /* A lookup that reads the store: any uin, present or not. */
    lk_status st = lk_user_get(q->h->d->ctx, 1, &u);
    bool ok = st == LK_OK || st == LK_ERR_USER_NOT_EXIST;
    return send_text(q->conn, ok ? 200 : 503, lk_status_code(ok ? LK_OK : st), ok ? "ok\n" : "store unavailable\n",
                     "text/plain; charset=utf-8", NULL);
}

/* printf into a growing buffer; false once out of memory. */
struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = b->oom ? 0 : vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (b->oom || n < 0)
            return;
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        char *np = realloc(b->p, b->cap * 2 + (size_t)n);
        if (np == NULL) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = b->cap * 2 + (size_t)n;
    }
}

static void counter(struct sbuf *b, const char *name, const char *help, uint64_t v)
{
    sb_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %" PRIu64 "\n", name, help, name, name, v);
}

static void gauge(struct sbuf *b, const char *name, const char *help, uint64_t v)
{
    sb_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %" PRIu64 "\n", name, help, name, name, v);
}

static enum MHD_Result metrics(struct hreq *q)
{
    struct lkd_http *h = q->h;
    struct lkd *d = h->d;
    struct sbuf b = {.p = malloc(8192), .cap = 8192};
    lk_stats s;
    if (b.p == NULL)
        return MHD_NO;
    b.p[0] = '\0';
    lk_get_stats(d->ctx, &s);
    sb_printf(&b, "# HELP latchkey_http_verifies_total HTTP verify requests answered, by result code and HTTP status.\n"
                  "# TYPE latchkey_http_verifies_total counter\n");
    for (unsigned i = 0; i < LK_STATUS_COUNT_; i++) {
        uint64_t v = atomic_load(&h->verifies[i]);
        if (v > 0 || i == LK_OK)
            sb_printf(&b, "latchkey_http_verifies_total{code=\"%s\",status=\"%d\"} %" PRIu64 "\n",
                      lk_status_code((lk_status)i), lkh_http_status((lk_status)i), v);
    }
    counter(&b, "latchkey_http_no_credential_total", "HTTP verify requests that offered no credential (401).",
            atomic_load(&h->no_credential));
    counter(&b, "latchkey_http_argon2_waits_total",
            "HTTP verify requests that waited for an Argon2id thread (not answered from the cache).",
            atomic_load(&h->waited));
    sb_printf(&b, "# HELP latchkey_http_verify_duration_seconds Time from a verify request's headers to its answer.\n"
                  "# TYPE latchkey_http_verify_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (size_t i = 0; i <= NBUCKETS; i++) {
        cum += atomic_load(&h->lat_bucket[i]);
        if (i < NBUCKETS)
            sb_printf(&b, "latchkey_http_verify_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
                      (double)bucket_us[i] / 1e6, cum);
        else
            sb_printf(&b, "latchkey_http_verify_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", cum);
    }
    sb_printf(&b, "latchkey_http_verify_duration_seconds_sum %.6f\nlatchkey_http_verify_duration_seconds_count %" PRIu64 "\n",
              (double)atomic_load(&h->lat_sum_us) / 1e6, atomic_load(&h->lat_count));
    /* What `latchkey stats` shows, for every client of this latchkeyd. */
    counter(&b, "latchkey_argon2_verifies_total", "Full Argon2id verifications (verified-secret cache misses).",
            s.argon2_verifies);
    counter(&b, "latchkey_cache_hits_total", "Verifications answered by the verified-secret cache.", s.cache_hits);
    counter(&b, "latchkey_early_rejects_total", "Verifications refused before any hash (malformed or unknown id).",
            s.early_rejects);
    counter(&b, "latchkey_records_flushed_total", "Access records written.", s.records_flushed);
    gauge(&b, "latchkey_argon2_queue_depth", "Verifications waiting for an Argon2id thread.", lkd_queued(d));
    gauge(&b, "latchkey_argon2_running", "Argon2id verifications running now.", lkd_argon2_running(d));
    counter(&b, "latchkey_busy_total", "Verifications refused because the Argon2id queue was full.",
            atomic_load(&d->st_busy));
    counter(&b, "latchkey_throttled_total", "Verifications refused by the per-key failure throttle.",
            atomic_load(&d->st_throttled));
    counter(&b, "latchkey_socket_connections_total", "Connections accepted on the UNIX socket.",
            atomic_load(&d->st_connections));
    counter(&b, "latchkey_socket_requests_total", "Requests answered on the UNIX socket.", atomic_load(&d->st_requests));
    counter(&b, "latchkey_socket_refused_total", "UNIX socket connections refused.", atomic_load(&d->st_refused));
    counter(&b, "latchkey_socket_timeouts_total", "UNIX socket connections closed by a timeout.",
            atomic_load(&d->st_timeouts));
    enum MHD_Result ret = b.oom ? MHD_NO : send_text(q->conn, 200, NULL, b.p, "text/plain; version=0.0.4; charset=utf-8", NULL);
    free(b.p);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    struct lkd_http *h = cls;
    struct hreq *q = *con_cls;
    (void)method;
    (void)version;
    (void)upload;
    if (q == NULL) { /* the headers are in; the body (if any) follows */
        q = calloc(1, sizeof *q);
        if (q == NULL)
            return MHD_NO;
        q->h = h;
        q->conn = conn;
        q->t0_us = mono_us();
        pthread_mutex_init(&q->lock, NULL);
        *con_cls = q;
        return MHD_YES;
    }
    if (*upload_size != 0) { /* a body is never needed: drop it */
        *upload_size = 0;
        return MHD_YES;
    }
    if (q->queued) { /* resumed: the Argon2id thread's verdict is in */
        pthread_mutex_lock(&q->lock);
        lk_status st = q->st;
        lk_verify_info info = q->info;
        pthread_mutex_unlock(&q->lock);
        return answer(q, st, &info);
    }
    if (strcmp(url, "/healthz") == 0)
        return healthz(q);
    if (strcmp(url, "/metrics") == 0)
        return metrics(q);
    if (strcmp(url, "/") == 0 || strcmp(url, "/verify") == 0 || strncmp(url, "/verify/", 8) == 0)
        return verify(q, url);
    return send_text(conn, 404, lk_status_code(LK_ERR_PARAM), "not found: verify at /verify, or /healthz, /metrics\n",
                     "text/plain; charset=utf-8", NULL);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    struct hreq *q = *con_cls;
    (void)cls;
    (void)conn;
    (void)toe;
    if (q == NULL)
        return;
    pthread_mutex_destroy(&q->lock);
    free(q);
    *con_cls = NULL;
}

static char *dup_cfg(const lk_config *cfg, const char *key)
{
    const char *v = lk_config_get(cfg, key);
    return strdup(v ? v : "");
}

static unsigned cfg_uint(const lk_config *cfg, const char *key)
{
    const char *v = lk_config_get(cfg, key);
    return v ? (unsigned)strtoul(v, NULL, 10) : 0;
}

void lkd_http_stop(struct lkd_http *h)
{
    if (h == NULL)
        return;
    if (h->mhd != NULL)
        MHD_stop_daemon(h->mhd);
    free(h->apikey_header);
    free(h->client_ip_header);
    free(h->service_header);
    free(h->service_map);
    free(h);
}

struct lkd_http *lkd_http_start(struct lkd *d, const lk_config *cfg)
{
    const char *listen = lk_config_get(cfg, "daemon.http.listen");
    struct sockaddr_storage ss;
    char host[64];
    memset(&ss, 0, sizeof ss);
    /* validated by the config loader: "a.b.c.d:port" or "[v6]:port" */
    const char *colon = strrchr(listen, ':');
    bool v6 = listen[0] == '[';
    size_t hl = (size_t)(colon - listen) - (v6 ? 2 : 0);
    if (hl >= sizeof host)
        return NULL;
    memcpy(host, listen + (v6 ? 1 : 0), hl);
    host[hl] = '\0';
    uint16_t port = (uint16_t)strtoul(colon + 1, NULL, 10);
    if (v6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        inet_pton(AF_INET6, host, &s6->sin6_addr);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        inet_pton(AF_INET, host, &s4->sin_addr);
    }

    struct lkd_http *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    h->d = d;
    h->apikey_header = dup_cfg(cfg, "daemon.http.api_key_header");
    h->client_ip_header = dup_cfg(cfg, "daemon.http.client_ip_header");
    h->service_header = dup_cfg(cfg, "daemon.http.service_header");
    h->service_map = dup_cfg(cfg, "daemon.http.service_map");
    h->ntrusted = lkh_parse_ranges(lk_config_get(cfg, "daemon.http.trusted_proxies"), h->trusted, MAX_TRUSTED);
    h->any_user = cfg_uint(cfg, "daemon.http.basic_any_user") != 0;
    if (h->apikey_header == NULL || h->client_ip_header == NULL || h->service_header == NULL ||
        h->service_map == NULL) {
        lkd_http_stop(h);
        return NULL;
    }
    unsigned threads = cfg_uint(cfg, "daemon.http.threads"), maxc = cfg_uint(cfg, "daemon.http.max_connections");
    unsigned timeout = cfg_uint(cfg, "daemon.http.timeout_s");
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | (v6 ? MHD_USE_IPv6 : 0);
    h->mhd = MHD_start_daemon(flags, port, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                              MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT, maxc,
                              MHD_OPTION_CONNECTION_TIMEOUT, timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                              (size_t)MEMORY_LIMIT, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_END);
    if (h->mhd == NULL) {
        lkd_log("error: cannot serve HTTP on %s: %s", listen, strerror(errno ? errno : EADDRINUSE));
        lkd_http_stop(h);
        return NULL;
    }
    lkd_log("serving HTTP on %s (%u threads, max %u connections, timeout %u s; %zu trusted proxies)", listen, threads,
            maxc, timeout, h->ntrusted);
    return h;
}
