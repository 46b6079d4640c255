/*
 * http.c — the HTTP verify endpoint (see http.h), on libmicrohttpd: a
 * well-kept HTTP/1.1 server library from Debian, so latchkeyd has no HTTP
 * parser of its own. Its internal thread pool (daemon.http.threads) polls
 * with epoll; a connection limit, libmicrohttpd's inactivity timeout and
 * our own whole-request deadline (the reaper below: a request must arrive
 * complete within timeout_s, however slowly its bytes trickle) keep slow or
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
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>
#include <sodium.h>

#include "http.h"
#include "http_parse.h"
#include "mhd_common.h"

#define MAX_TRUSTED 256
#define MEMORY_LIMIT (32 * 1024) /* per connection: headers beyond it are refused (431) */

/* Latency buckets, in microseconds (le= in seconds). */
static const uint64_t bucket_us[] = {250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000};
#define NBUCKETS (sizeof bucket_us / sizeof bucket_us[0])

/* One connection, accept to close, as the reaper sees it. */
struct hconn {
    struct hconn *prev, *next;
    int fd;
    unsigned char ip[16]; /* the peer's address (IPv4 in the first 4 bytes) */
    _Atomic int64_t since_us; /* when the request being received began to be awaited; 0: none is */
    bool cut;                 /* shut down by the reaper */
};

struct lkd_http {
    struct lkd *d;
    struct MHD_Daemon *mhd;
    /* the reaper: closes a connection whose request is not in by its deadline */
    pthread_mutex_t conns_lock;
    pthread_cond_t reaper_cv;
    struct hconn *conns; /* under conns_lock, as is each one's fd */
    bool reaper_started, stopping;
    pthread_t reaper;
    int64_t deadline_us;
    unsigned max_per_ip; /* connections at once from one peer not in trusted_proxies */
    _Atomic uint64_t request_timeouts, per_ip_refused;
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
    struct hconn *hc; /* NULL when untracked (out of memory at accept) */
    int64_t t0_us;
    struct lkd_mhd_wait wait; /* the verdict, handed over by an Argon2id thread */
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

/* sa's address as text into buf ("" for another family) and, when ip is
 * not NULL, as 16 bytes (IPv4 in the first 4, the rest 0). */
static const char *addr_text(const struct sockaddr *sa, char *buf, size_t n, unsigned char *ip)
{
    buf[0] = '\0';
    if (ip != NULL)
        memset(ip, 0, 16);
    if (sa == NULL)
        return buf;
    if (sa->sa_family == AF_INET) {
        const struct in_addr *a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
        inet_ntop(AF_INET, a, buf, (socklen_t)n);
        if (ip != NULL)
            memcpy(ip, a, 4);
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        inet_ntop(AF_INET6, a, buf, (socklen_t)n);
        if (ip != NULL)
            memcpy(ip, a, 16);
    }
    return buf;
}

static enum MHD_Result verify(struct hreq *q, const char *url)
{
    struct lkd_http *h = q->h;
    struct MHD_Connection *c = q->conn;
    char peer[INET6_ADDRSTRLEN + 1], ip[64], svc[LK_SERVICE_MAX + 2];
    if (cred_buf == NULL && (cred_buf = sodium_malloc(LKH_CRED_BUF)) == NULL)
        return answer(q, LK_ERR_NOMEM, NULL);

    lkd_mhd_conn_peer(c, peer, sizeof peer);
    bool trusted = lkh_trusted(peer, h->trusted, h->ntrusted);
    lkh_client_ip(peer, header(c, h->client_ip_header), h->trusted, h->ntrusted, ip, sizeof ip);

    struct lkh_cred cred;
    enum lkh_cred_kind kind = lkh_credentials(header(c, MHD_HTTP_HEADER_AUTHORIZATION), header(c, h->apikey_header),
                                              cred_buf, LKH_CRED_BUF, &cred);
    if (kind == LKH_CRED_NONE || kind == LKH_CRED_BAD) {
        sodium_memzero(cred_buf, LKH_CRED_BUF);
        if (kind == LKH_CRED_NONE)
            atomic_fetch_add(&h->no_credential, 1);
        lk_status st = kind == LKH_CRED_NONE ? LK_DENY_MISSING : LK_DENY_MALFORMED;
        lk_verify_req req = {.client_ip = ip[0] ? ip : NULL};
        lkd_note_verdict(h->d, st, NULL, NULL, NULL, &req); /* a denial like any other, in the log */
        return answer(q, st, NULL);
    }
    const char *service = NULL;
    bool refused = false;
    if (trusted) {
        const char *uri = header(c, "X-Original-URI");
        if (uri == NULL)
            uri = header(c, "X-Forwarded-Uri");
        if (uri == NULL && strncmp(url, "/verify/", 8) == 0)
            uri = url + 7; /* Envoy's ext_authz: path_prefix /verify, then the original path */
        service = lkh_service(header(c, h->service_header), uri, h->service_map, svc, sizeof svc, &refused);
    }
    if (refused) { /* a path the proxy may route elsewhere than the map says: no service can be trusted */
        sodium_memzero(cred_buf, LKH_CRED_BUF);
        return answer(q, LK_DENY_SCOPE, NULL);
    }
    struct lkd_verify_args a = {
        .apikey = kind == LKH_CRED_APIKEY,
        .secret_id = cred.id,
        .secret = cred.secret,
        .secret_len = cred.secret_len,
        .req = {.client_ip = ip[0] ? ip : NULL,
                .service = service,
                .login = h->any_user ? NULL : cred.login}, /* never "": lkh_credentials refuses that */
    };
    lk_verify_info info;
    memset(&info, 0, sizeof info);
    lk_status st = lkd_verify(h->d, &a, &info, lkd_mhd_wait_done, &q->wait);
    sodium_memzero(cred_buf, LKH_CRED_BUF); /* the job took its own copy */
    if (st != LK_ERR_NEEDS_HASH)
        return answer(q, st, &info);
    /* An Argon2id thread answers: wait for it off this thread. */
    atomic_fetch_add(&h->waited, 1);
    return lkd_mhd_wait_begin(&q->wait, &st, &info) ? answer(q, st, &info) : MHD_YES;
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
    counter(&b, "latchkey_http_request_timeouts_total",
            "HTTP connections closed because a request was not received whole within timeout_s.",
            atomic_load(&h->request_timeouts));
    counter(&b, "latchkey_http_per_ip_refused_total",
            "HTTP connections refused: their address, not a trusted proxy, had max_connections_per_ip open.",
            atomic_load(&h->per_ip_refused));
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
    sb_printf(&b, "# HELP latchkey_manage_requests_total Management API requests answered: done, or refused "
                  "(an error answer).\n# TYPE latchkey_manage_requests_total counter\n"
                  "latchkey_manage_requests_total{result=\"ok\"} %" PRIu64 "\n"
                  "latchkey_manage_requests_total{result=\"refused\"} %" PRIu64 "\n",
              atomic_load(&d->st_manage_ok), atomic_load(&d->st_manage_refused));
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
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        q->hc = ci != NULL ? ci->socket_context : NULL;
        lkd_mhd_wait_init(&q->wait, conn);
        *con_cls = q;
        return MHD_YES;
    }
    if (*upload_size != 0) { /* a body is never needed: drop it */
        *upload_size = 0;
        return MHD_YES;
    }
    if (q->hc != NULL) /* the request is in, body and all: what follows is ours to answer */
        atomic_store(&q->hc->since_us, 0);
    lk_status st;
    lk_verify_info info;
    if (lkd_mhd_wait_take(&q->wait, &st, &info)) /* resumed: the Argon2id thread's verdict is in */
        return answer(q, st, &info);
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
    if (q->hc != NULL) /* keep-alive: the next request's deadline runs from this answer */
        atomic_store(&q->hc->since_us, mono_us());
    lkd_mhd_wait_destroy(&q->wait);
    free(q);
    *con_cls = NULL;
}

/* Connections in and out of the reaper's list. An fd is closed by
 * libmicrohttpd only after NOTIFY_CLOSED, so one in the list is open. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct lkd_http *h = cls;
    struct hconn *hc = *socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *ai = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (ci == NULL || (hc = calloc(1, sizeof *hc)) == NULL)
            return; /* untracked: libmicrohttpd's inactivity timeout still applies */
        hc->fd = ci->connect_fd;
        char text[INET6_ADDRSTRLEN + 1];
        addr_text(ai != NULL ? ai->client_addr : NULL, text, sizeof text, hc->ip);
        atomic_store(&hc->since_us, mono_us());
        pthread_mutex_lock(&h->conns_lock);
        hc->next = h->conns;
        if (h->conns != NULL)
            h->conns->prev = hc;
        h->conns = hc;
        pthread_mutex_unlock(&h->conns_lock);
        *socket_context = hc;
        return;
    }
    if (hc == NULL)
        return;
    pthread_mutex_lock(&h->conns_lock);
    if (hc->prev != NULL)
        hc->prev->next = hc->next;
    else
        h->conns = hc->next;
    if (hc->next != NULL)
        hc->next->prev = hc->prev;
    pthread_mutex_unlock(&h->conns_lock);
    free(hc);
    *socket_context = NULL;
}

/* libmicrohttpd's accept policy: a peer that is not a trusted proxy may
 * hold max_connections_per_ip connections, so one address trickling bytes
 * cannot take every connection (MHD_OPTION_PER_IP_CONNECTION_LIMIT would
 * hold the proxies, which carry every client, to the same number). */
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    struct lkd_http *h = cls;
    char text[INET6_ADDRSTRLEN + 1];
    unsigned char ip[16];
    (void)addrlen;
    addr_text(addr, text, sizeof text, ip);
    if (lkh_trusted(text, h->trusted, h->ntrusted))
        return MHD_YES;
    unsigned n = 0;
    pthread_mutex_lock(&h->conns_lock);
    for (struct hconn *hc = h->conns; hc != NULL && n < h->max_per_ip; hc = hc->next)
        n += memcmp(hc->ip, ip, sizeof ip) == 0 && !hc->cut;
    pthread_mutex_unlock(&h->conns_lock);
    if (n < h->max_per_ip)
        return MHD_YES;
    atomic_fetch_add(&h->per_ip_refused, 1);
    return MHD_NO;
}

/* The whole-request deadline. libmicrohttpd's timeout counts inactivity,
 * so a client sending a header byte every few seconds kept its connection
 * (and, max_connections of them, the endpoint) for ever. A request not in
 * by timeout_s after its connection opened or its previous answer went
 * out has its socket shut down here; libmicrohttpd then reads the end and
 * closes the connection in its own thread. */
static void *reaper_main(void *arg)
{
    struct lkd_http *h = arg;
    int64_t tick_us = h->deadline_us / 4 < 1000000 ? h->deadline_us / 4 : 1000000;
    pthread_mutex_lock(&h->conns_lock);
    while (!h->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t wake = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 + tick_us;
        ts.tv_sec = (time_t)(wake / 1000000);
        ts.tv_nsec = (long)(wake % 1000000) * 1000;
        pthread_cond_timedwait(&h->reaper_cv, &h->conns_lock, &ts);
        int64_t now = mono_us();
        for (struct hconn *hc = h->conns; hc != NULL && !h->stopping; hc = hc->next) {
            int64_t since = atomic_load(&hc->since_us);
            if (!hc->cut && since != 0 && now - since > h->deadline_us) {
                shutdown(hc->fd, SHUT_RDWR);
                hc->cut = true;
                atomic_fetch_add(&h->request_timeouts, 1);
            }
        }
    }
    pthread_mutex_unlock(&h->conns_lock);
    return NULL;
}

static char *dup_cfg(const lk_config *cfg, const char *key)
{
    const char *v = lk_config_get(cfg, key);
    return strdup(v ? v : "");
}

void lkd_http_stop(struct lkd_http *h)
{
    if (h == NULL)
        return;
    if (h->reaper_started) {
        pthread_mutex_lock(&h->conns_lock);
        h->stopping = true;
        pthread_cond_signal(&h->reaper_cv);
        pthread_mutex_unlock(&h->conns_lock);
        pthread_join(h->reaper, NULL);
    }
    if (h->mhd != NULL)
        MHD_stop_daemon(h->mhd); /* notifies every connection closed, under conns_lock */
    pthread_cond_destroy(&h->reaper_cv);
    pthread_mutex_destroy(&h->conns_lock);
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
    bool v6;
    uint16_t port;
    if (!lkd_mhd_addr(listen, &ss, &v6, host, &port)) /* validated by the config loader */
        return NULL;

    struct lkd_http *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    h->d = d;
    pthread_mutex_init(&h->conns_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->reaper_cv, &ca);
    pthread_condattr_destroy(&ca);
    h->apikey_header = dup_cfg(cfg, "daemon.http.api_key_header");
    h->client_ip_header = dup_cfg(cfg, "daemon.http.client_ip_header");
    h->service_header = dup_cfg(cfg, "daemon.http.service_header");
    h->service_map = dup_cfg(cfg, "daemon.http.service_map");
    h->ntrusted = lkh_parse_ranges(lk_config_get(cfg, "daemon.http.trusted_proxies"), h->trusted, MAX_TRUSTED);
    h->any_user = lkd_cfg_uint(cfg, "daemon.http.basic_any_user") != 0;
    if (h->apikey_header == NULL || h->client_ip_header == NULL || h->service_header == NULL ||
        h->service_map == NULL) {
        lkd_http_stop(h);
        return NULL;
    }
    unsigned threads = lkd_cfg_uint(cfg, "daemon.http.threads"), maxc = lkd_cfg_uint(cfg, "daemon.http.max_connections");
    unsigned timeout = lkd_cfg_uint(cfg, "daemon.http.timeout_s");
    h->max_per_ip = lkd_cfg_uint(cfg, "daemon.http.max_connections_per_ip");
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | (v6 ? MHD_USE_IPv6 : 0);
    h->mhd = MHD_start_daemon(flags, port, accept_policy, h, on_request, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                              MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT, maxc,
                              MHD_OPTION_CONNECTION_TIMEOUT, timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                              (size_t)MEMORY_LIMIT,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_NOTIFY_CONNECTION,
                              on_connection, h, MHD_OPTION_END);
    if (h->mhd == NULL) {
        lkd_log("error: cannot serve HTTP on %s: %s", listen, strerror(errno ? errno : EADDRINUSE));
        lkd_http_stop(h);
        return NULL;
    }
    h->deadline_us = (int64_t)timeout * 1000000;
    if (pthread_create(&h->reaper, NULL, reaper_main, h) != 0) {
        lkd_log("error: cannot serve HTTP on %s: cannot start a thread", listen);
        lkd_http_stop(h);
        return NULL;
    }
    h->reaper_started = true;
    lkd_log("serving HTTP on %s (%u threads, max %u connections, %u per untrusted address, timeout %u s; "
            "%zu trusted proxies)",
            listen, threads, maxc, h->max_per_ip, timeout, h->ntrusted);
    return h;
}
