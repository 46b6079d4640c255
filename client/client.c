/*
 * client.c — lk_connect: a ctx whose verify calls are answered by latchkeyd
 * over its UNIX socket (protocol: lk_proto.h). It fills the core's remote
 * table (core/lk_remote.h); it has no policy of its own.
 *
 * Like SSSD's client, it is paranoid before it sends a secret: the socket
 * must be a socket owned by a trusted uid (root, this process's euid, or the
 * service user), and the process at the other end (SO_PEERCRED) must run as
 * that owner or as root. Every read and write has a timeout. A connection
 * that fails is dropped and the call fails closed (LK_ERR_STORE); only a
 * reused connection that the service had closed while idle is retried once,
 * on a fresh connection (SSSD retries once on EPIPE too).
 *
 * Threads: idle connections wait in a small pool of slots taken and
 * filled with atomic exchanges, so no call ever sleeps on a lock (nor can a
 * fork leave one held); each call takes one (or opens one), so concurrent
 * calls never share a connection. Processes: every connection remembers its
 * pid, known without a system call while a MADV_WIPEONFORK page says no
 * fork happened; a forked child closes the parent's connections (its copies
 * of the fds) and opens its own.
 */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>

#include "lk_internal.h"
#include "lk_proto.h"

#ifndef LK_DAEMON_USER
#define LK_DAEMON_USER "latchkey"
#endif

#define POOL_SLOTS 16
#define TX_CAP (LKP_LEN_PREFIX + LKP_MAX_REQUEST)

struct conn {
    int fd;
    pid_t pid;
    uint32_t next_id;
    bool reused; /* served a request before: the service may have closed it while idle */
    uint8_t *tx; /* sodium_malloc: holds a secret while a verify is sent */
    uint8_t *rx;
    lkp_msg *msg;
};

struct lk_client {
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    uid_t trusted[3];
    size_t ntrusted;
    _Atomic(struct conn *) idle[POOL_SLOTS];
    _Atomic int *fork_canary; /* see client_pid */
    _Atomic pid_t pid;
};

static void conn_free(struct conn *c)
{
    if (c == NULL)
        return;
    if (c->fd >= 0)
        close(c->fd);
    sodium_free(c->tx);
    sodium_free(c->rx);
    sodium_free(c->msg);
    free(c);
}

static bool uid_trusted(const struct lk_client *cl, uid_t uid)
{
    for (size_t i = 0; i < cl->ntrusted; i++)
        if (cl->trusted[i] == uid)
            return true;
    return false;
}

static lk_status unavailable(const struct lk_client *cl, const char *what, int err)
{
    return lk_seterr(LK_ERR_STORE, "latchkeyd at %s unavailable: %s%s%s", cl->path, what, err ? ": " : "",
                     err ? strerror(err) : "");
}

static int send_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? ETIMEDOUT : (w < 0 ? errno : EPIPE);
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* One recv of up to n bytes (*got > 0): 0, or an errno (EPIPE for end of
 * stream, ETIMEDOUT past SO_RCVTIMEO). */
static int recv_some(int fd, uint8_t *p, size_t n, size_t *got)
{
    for (;;) {
        /* Wait in poll(POLLIN), not in a blocking recv: a task asleep in
         * recv on a UNIX socket is also woken each time the service reads
         * our request (the socket's "write space" wake-up), a wasted context
         * switch per call; poll's wait ignores those. The poll timeout is
         * the read timeout. */
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, LKP_CLIENT_TIMEOUT_MS);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0)
            return ETIMEDOUT;
        if (pr < 0)
            return errno;
        ssize_t r = recv(fd, p, n, MSG_DONTWAIT);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            return EPIPE;
        if (r < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? ETIMEDOUT : errno;
        *got = (size_t)r;
        return 0;
    }
}

/* Send the frame in c->tx (len bytes), wipe it, read one response into c->msg.
 * *retryable: a reused connection the service had closed (nothing answered). */
static lk_status exchange(const struct lk_client *cl, struct conn *c, size_t len, uint8_t op, uint32_t id,
                          bool *retryable)
{
    size_t got = 0;
    int e = send_all(c->fd, c->tx, len);
    sodium_memzero(c->tx, len);
    *retryable = false;
    if (e != 0) {
        *retryable = c->reused && (e == EPIPE || e == ECONNRESET);
        return unavailable(cl, "send", e);
    }
    /* One request is outstanding, so whatever arrives is its answer: read
     * as much as comes (usually the whole frame in one call). */
    size_t blen = 0;
    while (got < LKP_LEN_PREFIX || got < LKP_LEN_PREFIX + blen) {
        size_t part = 0;
        e = recv_some(c->fd, c->rx + got, LKP_LEN_PREFIX + LKP_MAX_BODY - got, &part);
        if (e != 0) {
            *retryable = c->reused && got == 0 && (e == EPIPE || e == ECONNRESET);
            return unavailable(cl, e == ETIMEDOUT ? "no answer in time" : "receive", e == ETIMEDOUT ? 0 : e);
        }
        got += part;
        if (got >= LKP_LEN_PREFIX && blen == 0 && (blen = lkp_frame_len(c->rx, LKP_MAX_BODY)) == 0)
            return unavailable(cl, "malformed answer (frame length)", 0);
    }
    if (got != LKP_LEN_PREFIX + blen)
        return unavailable(cl, "unexpected bytes after the answer", 0);
    lkp_err de = lkp_decode(c->rx + LKP_LEN_PREFIX, blen, c->msg);
    if (de != LKP_OK || !c->msg->response || c->msg->op != op || c->msg->id != id ||
        c->msg->status_code == NULL)
        return unavailable(cl, de != LKP_OK ? lkp_err_str(de) : "answer does not match the request", 0);
    return LK_OK;
}

/* This process's pid: from the canary page while it reads 1 (no fork since
 * it was set), else from the kernel. Threads of a new child may race here;
 * they store the same value. */
static pid_t client_pid(struct lk_client *cl)
{
    if (cl->fork_canary != NULL && atomic_load_explicit(cl->fork_canary, memory_order_acquire) != 0)
        return atomic_load_explicit(&cl->pid, memory_order_relaxed);
    pid_t me = getpid();
    atomic_store_explicit(&cl->pid, me, memory_order_relaxed);
    if (cl->fork_canary != NULL)
        atomic_store_explicit(cl->fork_canary, 1, memory_order_release);
    return me;
}

static lk_status conn_open(struct lk_client *cl, struct conn **out)
{
    struct stat sb;
    struct sockaddr_un sa;
    struct ucred peer;
    socklen_t plen = sizeof peer;
    struct timeval tv = {.tv_sec = LKP_CLIENT_TIMEOUT_MS / 1000, .tv_usec = (LKP_CLIENT_TIMEOUT_MS % 1000) * 1000};

    *out = NULL;
    if (stat(cl->path, &sb) != 0)
        return unavailable(cl, "stat", errno);
    if (!S_ISSOCK(sb.st_mode))
        return lk_seterr(LK_ERR_STORE_PERM, "%s is not a socket", cl->path);
    if (!uid_trusted(cl, sb.st_uid))
        return lk_seterr(LK_ERR_STORE_PERM, "socket %s belongs to uid %u, not to root or the latchkey service",
                         cl->path, (unsigned)sb.st_uid);
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return lk_seterr(LK_ERR_NOMEM, "out of memory");
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    c->pid = client_pid(cl);
    c->tx = sodium_malloc(TX_CAP);
    c->rx = sodium_malloc(LKP_LEN_PREFIX + LKP_MAX_BODY);
    c->msg = sodium_malloc(sizeof *c->msg);
    if (c->fd < 0 || c->tx == NULL || c->rx == NULL || c->msg == NULL) {
        int e = errno;
        conn_free(c);
        return e == EMFILE || e == ENFILE ? unavailable(cl, "socket", e) : lk_seterr(LK_ERR_NOMEM, "out of memory");
    }
    /* SO_SNDTIMEO also bounds connect() on a UNIX socket whose backlog is full. */
    (void)setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void)setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, cl->path, strlen(cl->path) + 1);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        lk_status st = unavailable(cl, "connect", errno);
        conn_free(c);
        return st;
    }
    if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &peer, &plen) != 0 || plen != sizeof peer ||
        (peer.uid != 0 && peer.uid != sb.st_uid)) {
        conn_free(c);
        return lk_seterr(LK_ERR_STORE_PERM, "the process serving %s (uid %u) is not the socket's owner or root",
                         cl->path, plen == sizeof peer ? (unsigned)peer.uid : 0u);
    }
    /* Handshake: we speak version 1. */
    lkp_buf b;
    bool retry;
    lkp_begin(&b, c->tx, TX_CAP, LKP_OP_HELLO, false, 0);
    lkp_put_u32(&b, LKP_F_VERSION, LKP_VERSION);
    (void)lkp_end(&b);
    lk_status st = exchange(cl, c, b.len, LKP_OP_HELLO, 0, &retry);
    if (st == LK_OK && lkp_status_from_code(c->msg->status_code) != LK_OK)
        st = lk_seterr(LK_ERR_STORE_PERM, "latchkeyd at %s refused this client: %s", cl->path,
                       c->msg->message ? c->msg->message : c->msg->status_code);
    else if (st == LK_OK && c->msg->version != LKP_VERSION)
        st = unavailable(cl, "unsupported protocol version", 0);
    if (st != LK_OK) {
        conn_free(c);
        return st;
    }
    c->next_id = 1;
    *out = c;
    return LK_OK;
}

static lk_status conn_get(struct lk_client *cl, struct conn **out)
{
    pid_t me = client_pid(cl);
    for (size_t i = 0; i < POOL_SLOTS; i++) {
        if (atomic_load_explicit(&cl->idle[i], memory_order_relaxed) == NULL)
            continue;
        struct conn *c = atomic_exchange_explicit(&cl->idle[i], NULL, memory_order_acquire);
        if (c == NULL)
            continue;
        if (c->pid != me) { /* forked: the parent's */
            conn_free(c);  /* closes the child's copies only */
            continue;
        }
        *out = c;
        return LK_OK;
    }
    return conn_open(cl, out);
}

static void conn_put(struct lk_client *cl, struct conn *c)
{
    c->reused = true;
    if (c->pid == client_pid(cl)) {
        for (size_t i = 0; i < POOL_SLOTS; i++) {
            struct conn *empty = NULL;
            if (atomic_compare_exchange_strong_explicit(&cl->idle[i], &empty, c, memory_order_release,
                                                        memory_order_relaxed))
                return;
        }
    }
    conn_free(c); /* the pool is full, or it is a parent's */
}

/* One request: build(arg) fills the frame; on LK_OK the answer is in
 * (*conn)->msg and the caller gives the connection back with conn_put. */
typedef void build_fn(lkp_buf *b, const void *arg);

static lk_status call(struct lk_client *cl, uint8_t op, build_fn *build, const void *arg, struct conn **out)
{
    for (int attempt = 0;; attempt++) {
        struct conn *c;
        lk_status st = conn_get(cl, &c);
        if (st != LK_OK)
            return st;
        uint32_t id = c->next_id++;
        lkp_buf b;
        lkp_begin(&b, c->tx, TX_CAP, op, false, id);
        build(&b, arg);
        if (lkp_end(&b) != 0) {
            sodium_memzero(c->tx, TX_CAP);
            conn_put(cl, c);
            return lk_seterr(LK_ERR_PARAM, "request too large for latchkeyd");
        }
        bool retry;
        st = exchange(cl, c, b.len, op, id, &retry);
        if (st == LK_OK) {
            *out = c;
            return LK_OK;
        }
        conn_free(c);
        if (!retry || attempt > 0)
            return st;
    }
}

/* The answer's status, with its message as this thread's lk_errmsg. */
static lk_status answer_status(const lkp_msg *m)
{
    lk_status st = lkp_status_from_code(m->status_code);
    if (st != LK_OK)
        return lk_seterr(st, "%s", m->message ? m->message : lk_strerror(st));
    return LK_OK;
}

/* ---------------------------------------------------------------- verify */

struct verify_args {
    const char *secret_id; /* NULL: an API key */
    const char *secret;
    size_t len;
    const lk_verify_req *req;
};

static void build_verify(lkp_buf *b, const void *arg)
{
    const struct verify_args *a = arg;
    lkp_put_text(b, LKP_F_SECRET_ID, a->secret_id);
    lkp_put_bytes(b, LKP_F_SECRET, a->secret, a->len);
    if (a->req != NULL) {
        lkp_put_text(b, LKP_F_CLIENT_IP, a->req->client_ip);
        lkp_put_text(b, LKP_F_SERVICE, a->req->service);
        lkp_put_text(b, LKP_F_LOGIN, a->req->login);
        if (a->req->flags != 0)
            lkp_put_u32(b, LKP_F_FLAGS, a->req->flags);
    }
}

static lk_status verify(struct lk_client *cl, uint8_t op, const struct verify_args *a, lk_verify_info *info)
{
    struct conn *c;
    if (info)
        memset(info, 0, sizeof *info);
    /* What the wire cannot carry is refused here, without a record: a
     * secret of no or absurd length, or one with a NUL, matches no key. */
    if (a->secret == NULL || a->len == 0 || a->len > LKP_MAX_SECRET || memchr(a->secret, '\0', a->len) != NULL ||
        (op == LKP_OP_VERIFY_KEY && (a->secret_id == NULL || strlen(a->secret_id) > LK_SECRET_ID_LEN)))
        return lk_seterr(LK_DENY_MALFORMED, "malformed credential");
    if (a->req != NULL &&
        ((a->req->client_ip && strlen(a->req->client_ip) > 64) || (a->req->service && strlen(a->req->service) > 128) ||
         (a->req->login && strlen(a->req->login) > 256)))
        return lk_seterr(LK_ERR_PARAM, "client address, service or login too long for latchkeyd");
    lk_status st = call(cl, op, build_verify, a, &c);
    if (st != LK_OK)
        return st;
    st = answer_status(c->msg);
    if (info && c->msg->key_id != NULL) {
        info->uin = c->msg->uin;
        snprintf(info->key_id, sizeof info->key_id, "%s", c->msg->key_id);
    }
    conn_put(cl, c);
    return st;
}

static lk_status r_verify_key(void *remote, const char *secret_id, const char *secret_key, size_t secret_len,
                              const lk_verify_req *req, lk_verify_info *info)
{
    struct verify_args a = {secret_id, secret_key, secret_len, req};
    return verify(remote, LKP_OP_VERIFY_KEY, &a, info);
}

static lk_status r_verify_apikey(void *remote, const char *apikey, size_t len, const lk_verify_req *req,
                                 lk_verify_info *info)
{
    struct verify_args a = {NULL, apikey, len, req};
    return verify(remote, LKP_OP_VERIFY_APIKEY, &a, info);
}

/* ---------------------------------------------------------------- lookups */

static void build_key_id(lkp_buf *b, const void *arg)
{
    lkp_put_text(b, LKP_F_KEY_ID, arg);
}

static lk_status r_key_get(void *remote, const char *secret_id, lk_access_key *out)
{
    struct conn *c;
    char q[64];
    if (secret_id == NULL || !lk_keyfmt_secret_id_ok(secret_id, strlen(secret_id)))
        return lk_seterr(LK_ERR_PARAM, "'%s' is not a SecretId", lk_quote(secret_id, q, sizeof q));
    lk_status st = call(remote, LKP_OP_KEY_STATUS, build_key_id, secret_id, &c);
    if (st != LK_OK)
        return st;
    if ((st = answer_status(c->msg)) == LK_OK) {
        memset(out, 0, sizeof *out);
        snprintf(out->secret_id, sizeof out->secret_id, "%s", secret_id);
        out->uin = c->msg->uin;
        out->status = c->msg->key_status == LK_KEY_ACTIVE ? LK_KEY_ACTIVE : LK_KEY_INACTIVE;
        out->create_time = c->msg->create_time;
        out->last_access_time = c->msg->last_access;
        out->expire_time = c->msg->expire_time;
    }
    conn_put(remote, c);
    return st;
}

static void build_login(lkp_buf *b, const void *arg)
{
    lkp_put_text(b, LKP_F_LOGIN, arg);
}

static lk_status r_login_check(void *remote, const char *login, lk_user *out)
{
    struct conn *c;
    if (!lk_login_ok(login)) /* the core's own rule, so a bad name never reaches the service */
        return lk_login_invalid(login);
    lk_status st = call(remote, LKP_OP_LOGIN_CHECK, build_login, login, &c);
    if (st != LK_OK)
        return st;
    st = answer_status(c->msg);
    if (out != NULL && (st == LK_OK || st == LK_DENY_DISABLED)) {
        memset(out, 0, sizeof *out);
        out->uin = c->msg->uin;
        snprintf(out->login, sizeof out->login, "%s", login);
    }
    conn_put(remote, c);
    return st;
}

static lk_status r_apikey_get(void *remote, const char *id, lk_apikey *out)
{
    struct conn *c;
    char q[64];
    if (id == NULL || !lk_keyfmt_apikey_id_ok(id, strlen(id)))
        return lk_seterr(LK_ERR_PARAM, "'%s' is not an API key id", lk_quote(id, q, sizeof q));
    lk_status st = call(remote, LKP_OP_APIKEY_GET, build_key_id, id, &c);
    if (st != LK_OK)
        return st;
    if ((st = answer_status(c->msg)) == LK_OK) {
        const lkp_msg *m = c->msg;
        memset(out, 0, sizeof *out);
        snprintf(out->id, sizeof out->id, "%s", id);
        out->root_uin = m->uin;
        out->status = m->key_status == LK_KEY_ACTIVE ? LK_KEY_ACTIVE : LK_KEY_INACTIVE;
        snprintf(out->name, sizeof out->name, "%s", m->name ? m->name : "");
        snprintf(out->description, sizeof out->description, "%s", m->description ? m->description : "");
        snprintf(out->masked, sizeof out->masked, "%s", m->masked ? m->masked : "");
        out->create_time = m->create_time;
        out->last_access_time = m->last_access;
        out->expire_time = m->expire_time;
        if ((m->rate_limit >> 32) != 0 && (uint32_t)m->rate_limit != 0) { /* both or neither */
            out->rate_limit = (uint32_t)(m->rate_limit >> 32);
            out->rate_window_s = (uint32_t)m->rate_limit;
        }
        if ((m->scope_count && (out->scope = lk_strlist_dup(m->scope, m->scope_count)) == NULL) ||
            (m->allow_ip_count && (out->allow_ip = lk_strlist_dup(m->allow_ip, m->allow_ip_count)) == NULL)) {
            lk_apikey_release(out);
            st = lk_seterr(LK_ERR_NOMEM, "out of memory");
        } else {
            out->scope_count = m->scope_count;
            out->allow_ip_count = m->allow_ip_count;
        }
    }
    conn_put(remote, c);
    return st;
}

static void build_nothing(lkp_buf *b, const void *arg)
{
    (void)b, (void)arg;
}

static lk_status r_stats(void *remote, lk_stats *out)
{
    struct conn *c;
    lk_status st = call(remote, LKP_OP_STATS, build_nothing, NULL, &c);
    if (st != LK_OK)
        return st;
    if ((st = answer_status(c->msg)) == LK_OK) {
        out->argon2_verifies = c->msg->stats[LKP_STAT_ARGON2];
        out->cache_hits = c->msg->stats[LKP_STAT_CACHE_HITS];
        out->early_rejects = c->msg->stats[LKP_STAT_EARLY];
        out->records_flushed = c->msg->stats[LKP_STAT_FLUSHED];
    }
    conn_put(remote, c);
    return st;
}

static void r_close(void *remote)
{
    struct lk_client *cl = remote;
    for (size_t i = 0; i < POOL_SLOTS; i++)
        conn_free(atomic_exchange(&cl->idle[i], NULL));
    lk_fork_canary_free(cl->fork_canary);
    free(cl);
}

static const lk_remote_ops client_ops = {
    .verify_key = r_verify_key,
    .verify_apikey = r_verify_apikey,
    .key_get = r_key_get,
    .apikey_get = r_apikey_get,
    .login_check = r_login_check,
    .stats = r_stats,
    .close = r_close,
};

lk_status lk_connect(const char *socket_path, lk_ctx **out)
{
    struct passwd pw, *found = NULL;
    char pwbuf[1024];

    if (out == NULL)
        return lk_seterr(LK_ERR_PARAM, "lk_connect: out is NULL");
    *out = NULL;
    if (sodium_init() < 0)
        return lk_seterr(LK_ERR_INTERNAL, "libsodium failed to initialise");
    if (socket_path == NULL || socket_path[0] == '\0' ||
        strlen(socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return lk_seterr(LK_ERR_PARAM, "lk_connect: no socket path, or longer than a UNIX socket path can be");
    struct lk_client *cl = calloc(1, sizeof *cl);
    if (cl == NULL)
        return lk_seterr(LK_ERR_NOMEM, "out of memory");
    snprintf(cl->path, sizeof cl->path, "%s", socket_path);
    cl->fork_canary = lk_fork_canary_new();
    atomic_init(&cl->pid, getpid());
    cl->trusted[cl->ntrusted++] = 0;
    cl->trusted[cl->ntrusted++] = geteuid();
    if (getpwnam_r(LK_DAEMON_USER, &pw, pwbuf, sizeof pwbuf, &found) == 0 && found != NULL)
        cl->trusted[cl->ntrusted++] = found->pw_uid;
    /* Connect now, so a wrong path or an untrusted socket fails here, at
     * open time, like lk_open does for a bad store. */
    struct conn *c;
    lk_status st = conn_open(cl, &c);
    if (st != LK_OK) {
        r_close(cl);
        return st;
    }
    conn_put(cl, c);
    return lk_ctx_new_remote(&client_ops, cl, out);
}
