/*
 * server.c — latchkeyd's socket: the listening socket, the peer check on
 * every connection (SO_PEERCRED, never only the socket's mode), the
 * connection table, read and idle timeouts, and the request workers.
 *
 * A connection is watched by one epoll set shared by the workers, armed
 * EPOLLONESHOT: exactly one worker reads it at a time, so its receive buffer
 * needs no lock. A worker serves at most SERVE_BATCH requests and one read
 * per turn, then re-arms the connection, so a client that keeps its buffer
 * full cannot hold a worker. Answers may also come from Argon2id threads,
 * so sending takes the connection's lock. Sending never waits: what the
 * socket does not take goes to a bounded output buffer, flushed when the
 * socket is writable (by the worker, or by the main thread's timeout scan);
 * while a worker serves a turn the connection is corked: the turn's answers
 * wait in the output buffer and leave in one send at its end (a client that
 * pipelines, as nginx's module does, costs one send per turn, not one per
 * request);
 * past OUT_SOFT the connection is not read, past OUT_CAP it is dropped, and
 * an output buffer that makes no progress for read_timeout_ms closes it. A
 * client that does not read its answers holds no thread.
 *
 * A connection lives while anyone holds a reference (its epoll
 * registration, queued Argon2id jobs); the fd is closed with the last one,
 * under the table's lock, so the timeout scan never touches a reused fd.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>

#include "latchkeyd.h"

#define RX_CAP (LKP_LEN_PREFIX + LKP_MAX_REQUEST)
#define SERVE_BATCH 32 /* requests per connection per turn */
/* Answers waiting for a client that does not read: past OUT_SOFT its
 * requests are no longer read; OUT_CAP leaves room for one more answer of a
 * worker and for every Argon2id answer it may still be owed. */
#define OUT_SOFT (16 * 1024)
#define OUT_CAP (OUT_SOFT + LKP_LEN_PREFIX + LKP_MAX_BODY + LKD_CONN_WAITING_MAX * 1024)

struct lkd_conn {
    int fd;
    unsigned slot;
    struct ucred cred; /* the peer at connect time: a reload checks it again */
    atomic_int refs;
    atomic_bool closing;
    atomic_bool serving; /* a worker holds it (EPOLLONESHOT): hand-offs pass through this flag */
    atomic_llong deadline_ms; /* the timeout scan shuts the socket down past it */
    atomic_llong out_since;   /* answers waiting since (or last progress), 0: none */
    atomic_uint waiting;      /* its requests waiting for an Argon2id thread */
    bool hello_done;
    int64_t req_start_ms; /* worker only: when the request being read began */
    pthread_mutex_t send_lock;
    bool corked;  /* under send_lock: a worker's turn is on; answers wait in out */
    uint8_t *out; /* under send_lock: answers the socket did not take yet */
    size_t outlen, outcap;
    atomic_size_t outq; /* outlen, for reading without the lock */
    uint8_t *rx; /* sodium_malloc: requests carry secrets */
    size_t rxlen;
};

/* ------------------------------------------------------------ listening */

/* The socket's directory (/run/latchkey) is made by systemd's
 * RuntimeDirectory=; started any other way it may be missing (/run is a
 * tmpfs). Create it, owned by this process's user (the service never drops
 * to another), mode 0755 so clients reach the socket; an existing one is
 * left as it is, never loosened. What cannot be created is named with the
 * command that creates it. */
static int make_socket_dir(const char *sock)
{
    char dir[sizeof ((struct sockaddr_un *)0)->sun_path];
    struct stat sb;
    const char *slash = strrchr(sock, '/');
    if (slash == NULL || slash == sock) /* the working directory, or / */
        return 0;
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - sock), sock);
    if (stat(dir, &sb) == 0 || errno != ENOENT)
        return 0; /* bind names what is wrong with an existing one */
    if (mkdir(dir, 0755) == 0) {
        if (chmod(dir, 0755) != 0) { /* the umask may have taken the clients' x bit */
            lkd_log("error: cannot set the mode of %s: %s", dir, strerror(errno));
            return -1;
        }
        lkd_log("created %s (mode 0755, uid %u)", dir, (unsigned)geteuid());
        return 0;
    }
    int e = errno;
    char user[64], group[64], buf[1024];
    struct passwd pw, *pwp = NULL;
    struct group gr, *grp = NULL;
    if (getpwuid_r(geteuid(), &pw, buf, sizeof buf, &pwp) == 0 && pwp != NULL)
        snprintf(user, sizeof user, "%s", pw.pw_name);
    else
        snprintf(user, sizeof user, "%u", (unsigned)geteuid());
    if (getgrgid_r(getegid(), &gr, buf, sizeof buf, &grp) == 0 && grp != NULL)
        snprintf(group, sizeof group, "%s", gr.gr_name);
    else
        snprintf(group, sizeof group, "%u", (unsigned)getegid());
    lkd_log("error: the socket's directory %s does not exist and cannot be created: %s; create it first, as root: "
            "install -d -o %s -g %s -m 0755 %s (systemd's RuntimeDirectory= does this for latchkeyd.service)",
            dir, strerror(e), user, group, dir);
    return -1;
}

int lkd_listen(struct lkd *d)
{
    struct sockaddr_un sa;
    struct stat sb;

    if (make_socket_dir(d->socket_path) != 0)
        return -1;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, d->socket_path, strlen(d->socket_path) + 1);
    if (lstat(d->socket_path, &sb) == 0) {
        if (!S_ISSOCK(sb.st_mode)) {
            lkd_log("error: %s exists and is not a socket; refusing to replace it", d->socket_path);
            return -1;
        }
        /* A socket someone answers on belongs to a running latchkeyd. */
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0) {
            close(probe);
            lkd_log("error: another latchkeyd is listening on %s", d->socket_path);
            return -1;
        }
        if (probe >= 0)
            close(probe);
        unlink(d->socket_path); /* stale, from a killed service */
    }
    d->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (d->listen_fd < 0 || bind(d->listen_fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        lkd_log("error: cannot bind %s: %s", d->socket_path, strerror(errno));
        return -1;
    }
    /* Anyone may connect; who is served is decided by SO_PEERCRED. */
    if (chmod(d->socket_path, 0666) != 0 || listen(d->listen_fd, 4096) != 0) {
        lkd_log("error: cannot listen on %s: %s", d->socket_path, strerror(errno));
        return -1;
    }
    return 0;
}

static bool peer_allowed(const struct lkd *d, const struct ucred *cr)
{
    const struct lkd_peers *p = &d->peers;
    if (p->nuids == 0 && p->ngids == 0) /* default: root and the service's own user */
        return cr->uid == 0 || cr->uid == geteuid();
    for (size_t i = 0; i < p->nuids; i++)
        if (p->uids[i] == cr->uid)
            return true;
    for (size_t i = 0; i < p->ngids; i++)
        if (p->gids[i] == cr->gid)
            return true;
    return false;
}

/* ------------------------------------------------------------ connections */

void lkd_conn_hold(struct lkd_conn *c)
{
    atomic_fetch_add(&c->refs, 1);
}

void lkd_conn_release(struct lkd *d, struct lkd_conn *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    pthread_mutex_lock(&d->lock);
    d->conns[c->slot] = NULL;
    d->nconns--;
    close(c->fd);
    pthread_mutex_unlock(&d->lock);
    pthread_mutex_destroy(&c->send_lock);
    sodium_free(c->rx);
    free(c->out);
    free(c);
}

atomic_uint *lkd_conn_waiting(struct lkd_conn *c)
{
    return &c->waiting;
}

void lkd_conn_peer(const struct lkd_conn *c, char *buf, size_t size)
{
    snprintf(buf, size, "uid %u pid %d", (unsigned)c->cred.uid, (int)c->cred.pid);
}

/* Stop watching c and drop the epoll reference. Only the worker that holds
 * it (EPOLLONESHOT) calls this. */
static void conn_close(struct lkd *d, struct lkd_conn *c)
{
    atomic_store(&c->closing, true);
    epoll_ctl(d->conn_ep, EPOLL_CTL_DEL, c->fd, NULL);
    shutdown(c->fd, SHUT_RDWR); /* queued Argon2id answers now fail at once */
    if (c->rxlen)
        sodium_memzero(c->rx, c->rxlen);
    lkd_conn_release(d, c);
}

void lkd_accept(struct lkd *d)
{
    for (;;) {
        int fd = accept4(d->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if ((errno == EMFILE || errno == ENFILE) && d->spare_fd >= 0) {
                /* The waiting connection would keep the listening socket
                 * readable and the main loop spinning: accept it with the
                 * spare descriptor and close it at once (the client fails
                 * closed), then take the spare back. */
                close(d->spare_fd);
                int drop = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
                if (drop >= 0)
                    close(drop);
                d->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                atomic_fetch_add(&d->st_refused, 1);
                int64_t now = lkd_mono_ms();
                if (now - d->fd_warned_ms >= 10000) { /* once per 10 s, not per connection */
                    d->fd_warned_ms = now;
                    lkd_log("warning: out of file descriptors, refusing connections; raise LimitNOFILE or lower "
                            "daemon.max_connections");
                }
                if (drop >= 0)
                    continue;
            }
            return;
        }
        struct ucred cr;
        socklen_t crl = sizeof cr;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crl) != 0 || crl != sizeof cr || !peer_allowed(d, &cr)) {
            atomic_fetch_add(&d->st_refused, 1);
            /* Once per 10 s, with a count: a refused peer that reconnects
             * in a loop must not fill the journal. */
            int64_t now = lkd_mono_ms();
            if (now - d->peer_warned_ms >= 10000) {
                lkd_log("refused a connection from uid %u gid %u pid %d: not in daemon.allow_uids/allow_gids "
                        "(%llu more refused peers since the last such line)",
                        crl == sizeof cr ? (unsigned)cr.uid : 0u, crl == sizeof cr ? (unsigned)cr.gid : 0u,
                        crl == sizeof cr ? (int)cr.pid : 0, (unsigned long long)d->peer_unlogged);
                d->peer_warned_ms = now;
                d->peer_unlogged = 0;
            } else {
                d->peer_unlogged++;
            }
            close(fd);
            continue;
        }
        struct lkd_conn *c = calloc(1, sizeof *c);
        uint8_t *rx = sodium_malloc(RX_CAP);
        pthread_mutex_lock(&d->lock);
        bool full = d->nconns >= atomic_load(&d->pol.max_connections) || d->nconns >= d->conns_cap;
        size_t slot = 0;
        if (!full && c != NULL && rx != NULL) {
            while (d->conns[slot] != NULL)
                slot++;
            d->conns[slot] = c;
            d->nconns++;
        }
        pthread_mutex_unlock(&d->lock);
        if (full || c == NULL || rx == NULL) {
            atomic_fetch_add(&d->st_refused, 1);
            if (full)
                lkd_log("refused a connection from uid %u: daemon.max_connections reached", (unsigned)cr.uid);
            free(c);
            sodium_free(rx);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->slot = (unsigned)slot;
        c->cred = cr;
        c->rx = rx;
        atomic_init(&c->refs, 1);
        pthread_mutex_init(&c->send_lock, NULL);
        c->req_start_ms = lkd_mono_ms(); /* the handshake is due within read_timeout_ms of the connect */
        atomic_store(&c->deadline_ms, c->req_start_ms + atomic_load(&d->pol.read_timeout_ms));
        atomic_fetch_add(&d->st_connections, 1);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT, .data.ptr = c};
        if (epoll_ctl(d->conn_ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            lkd_log("warning: epoll_ctl: %s", strerror(errno));
            lkd_conn_release(d, c);
        }
    }
}

/* Send p[*off..len) as far as the socket takes it without waiting.
 * false: the connection failed. */
static bool send_nowait(int fd, const uint8_t *p, size_t len, size_t *off)
{
    while (*off < len) {
        ssize_t w = send(fd, p + *off, len - *off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0)
            *off += (size_t)w;
        else if (w < 0 && errno == EINTR)
            continue;
        else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        else
            return false;
    }
    return true;
}

/* Send what waits in c's output buffer, as far as the socket takes it.
 * false: the connection failed. send_lock held. */
static bool flush_locked(struct lkd_conn *c)
{
    size_t off = 0;
    if (!send_nowait(c->fd, c->out, c->outlen, &off))
        return false;
    if (off > 0) {
        memmove(c->out, c->out + off, c->outlen - off);
        c->outlen -= off;
        atomic_store(&c->outq, c->outlen);
        atomic_store(&c->out_since, c->outlen ? lkd_mono_ms() : 0); /* progress restarts the clock */
    }
    return true;
}

static bool conn_flush(struct lkd_conn *c)
{
    if (atomic_load(&c->outq) == 0) /* the usual case: no lock */
        return true;
    pthread_mutex_lock(&c->send_lock);
    /* A corked connection's worker sends at the end of its turn. */
    bool ok = !atomic_load(&c->closing) && (c->corked || flush_locked(c));
    if (!ok)
        shutdown(c->fd, SHUT_RDWR);
    pthread_mutex_unlock(&c->send_lock);
    return ok;
}

/* Bytes of answers waiting for the client. */
static size_t conn_outlen(struct lkd_conn *c)
{
    return atomic_load(&c->outq);
}

/* Past its deadline, a connection is shut down; the worker that wakes on it
 * sees the end of the stream and frees it. Answers a client left waiting
 * are sent on here when no worker is woken for them (an Argon2id answer to
 * a connection that was not writable). */
void lkd_reap(struct lkd *d)
{
    int64_t now = lkd_mono_ms();
    int64_t rt = atomic_load(&d->pol.read_timeout_ms);
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < d->conns_cap; i++) {
        struct lkd_conn *c = d->conns[i];
        long long dl, os;
        if (c == NULL || atomic_load(&c->closing))
            continue;
        if (atomic_load(&c->out_since) != 0)
            (void)conn_flush(c);
        os = atomic_load(&c->out_since);
        dl = atomic_load(&c->deadline_ms);
        if ((dl == 0 || dl > now) && (os == 0 || os + rt > now))
            continue;
        atomic_store(&c->deadline_ms, 0);
        atomic_store(&c->out_since, 0);
        atomic_fetch_add(&d->st_timeouts, 1);
        shutdown(c->fd, SHUT_RDWR);
    }
    pthread_mutex_unlock(&d->lock);
}

void lkd_recheck_peers(struct lkd *d)
{
    unsigned closed = 0;
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < d->conns_cap; i++) {
        struct lkd_conn *c = d->conns[i];
        if (c == NULL || atomic_load(&c->closing) || peer_allowed(d, &c->cred))
            continue;
        shutdown(c->fd, SHUT_RDWR); /* its worker wakes on the end of the stream and frees it */
        closed++;
    }
    pthread_mutex_unlock(&d->lock);
    if (closed > 0)
        lkd_log("reload: closed %u connection(s) of peers no longer in daemon.allow_uids/allow_gids", closed);
}

bool lkd_send(struct lkd *d, struct lkd_conn *c, const lkp_buf *b)
{
    size_t off = 0;
    (void)d;
    pthread_mutex_lock(&c->send_lock);
    bool ok = !atomic_load(&c->closing);
    /* Straight to the socket unless earlier answers wait (their order) or
     * a turn is on (sent at its end, together). */
    if (ok && c->outlen == 0 && !c->corked)
        ok = send_nowait(c->fd, b->p, b->len, &off);
    if (ok && off < b->len) {
        size_t need = c->outlen + b->len - off;
        if (need > OUT_CAP) {
            ok = false; /* a client that does not read: dropped, never waited for */
        } else {
            if (need > c->outcap) {
                size_t cap = c->outcap ? c->outcap : 4096;
                while (cap < need)
                    cap *= 2;
                uint8_t *n = realloc(c->out, cap < OUT_CAP ? cap : OUT_CAP);
                if (n == NULL) {
                    ok = false;
                } else {
                    c->out = n;
                    c->outcap = cap < OUT_CAP ? cap : OUT_CAP;
                }
            }
            if (ok) {
                memcpy(c->out + c->outlen, b->p + off, b->len - off);
                if (c->outlen == 0)
                    atomic_store(&c->out_since, lkd_mono_ms());
                c->outlen = need;
                atomic_store(&c->outq, need);
            }
        }
    }
    if (!ok)
        shutdown(c->fd, SHUT_RDWR);
    pthread_mutex_unlock(&c->send_lock);
    return ok;
}

/* ------------------------------------------------------------ workers */

/* One request (a whole frame at the front of rx). false: close. */
static bool serve_frame(struct lkd_worker *w, struct lkd_conn *c, size_t blen)
{
    struct lkd *d = w->d;
    lkp_err e = lkp_decode(c->rx + LKP_LEN_PREFIX, blen, w->msg);
    bool keep = true;
    if ((e == LKP_OK || e == LKP_ERR_OP) && w->msg->response) {
        e = LKP_ERR_HEADER; /* an answer's frame is no request */
    }
    if (e == LKP_OK || e == LKP_ERR_OP) {
        if (!c->hello_done && (e != LKP_OK || w->msg->op != LKP_OP_HELLO)) {
            keep = false; /* nothing before the handshake */
            atomic_fetch_add(&d->st_bad_frames, 1);
        } else if (e == LKP_ERR_OP) {
            lkp_buf b;
            char msg[64];
            snprintf(msg, sizeof msg, "unknown operation %u", (unsigned)w->msg->op);
            lkd_error_frame(&b, w->out, w->msg->op, w->msg->id, LK_ERR_PARAM, msg);
            keep = lkd_send(d, c, &b);
        } else {
            keep = lkd_handle(w, c, &c->hello_done);
        }
    } else {
        lkp_buf b;
        char msg[128];
        snprintf(msg, sizeof msg, "malformed request: %s%s", lkp_err_str(e),
                 w->msg->response ? " (a response frame sent as a request)" : "");
        lkd_error_frame(&b, w->out, c->rx[LKP_LEN_PREFIX], 0, LK_ERR_PARAM, msg);
        (void)lkd_send(d, c, &b);
        atomic_fetch_add(&d->st_bad_frames, 1);
        keep = false;
    }
    /* The request may hold a secret: wipe it and the decoded copy. */
    sodium_memzero(c->rx, LKP_LEN_PREFIX + blen);
    sodium_memzero(w->msg, offsetof(lkp_msg, arena) + (blen < LKP_MAX_BODY ? blen : LKP_MAX_BODY));
    memmove(c->rx, c->rx + LKP_LEN_PREFIX + blen, c->rxlen - LKP_LEN_PREFIX - blen);
    c->rxlen -= LKP_LEN_PREFIX + blen;
    return keep;
}

/* What a turn left for the next one (worker_main re-arms accordingly). */
enum turn { TURN_IDLE, TURN_MORE, TURN_BLOCKED };

/* One turn on c: send waiting answers, then answer at most SERVE_BATCH
 * requests with at most one read, and not past OUT_SOFT of unsent
 * answers. false: close. */
static bool serve_turn(struct lkd_worker *w, struct lkd_conn *c, enum turn *t)
{
    struct lkd *d = w->d;
    bool have_read = false;
    unsigned frames = 0;
    int64_t now = lkd_mono_ms();
    *t = TURN_IDLE;
    if (!conn_flush(c))
        return false;
    for (;;) {
        if (conn_outlen(c) >= OUT_SOFT) {
            *t = TURN_BLOCKED; /* its answers wait for the client: read nothing more */
            break;
        }
        size_t blen = 0;
        if (c->rxlen >= LKP_LEN_PREFIX && (blen = lkp_frame_len(c->rx, LKP_MAX_REQUEST)) == 0) {
            atomic_fetch_add(&d->st_bad_frames, 1);
            return false;
        }
        if (c->rxlen >= LKP_LEN_PREFIX && c->rxlen >= LKP_LEN_PREFIX + blen) {
            if (frames == SERVE_BATCH) {
                *t = TURN_MORE;
                break;
            }
            frames++;
            if (!serve_frame(w, c, blen))
                return false;
            if (c->rxlen > 0 && c->hello_done)
                c->req_start_ms = now; /* the next request has begun */
            continue;
        }
        if (have_read)
            break;
        if (c->rxlen == RX_CAP) /* cannot happen: a frame fits; defensive */
            return false;
        ssize_t r;
        do
            r = recv(c->fd, c->rx + c->rxlen, RX_CAP - c->rxlen, MSG_DONTWAIT);
        while (r < 0 && errno == EINTR);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (r <= 0)
            return false; /* end of stream, reset, or shut down by a timeout */
        have_read = true;
        if (c->rxlen == 0 && c->hello_done)
            c->req_start_ms = now;
        c->rxlen += (size_t)r;
    }
    /* A request begun but not finished, or no handshake yet: its whole
     * request is due within read_timeout_ms of its first byte (of the
     * connect, for the handshake), however it trickles in. Requests read
     * but not answered yet wait on the service, not on the client. */
    int64_t rt = atomic_load(&d->pol.read_timeout_ms);
    if (*t != TURN_IDLE)
        atomic_store(&c->deadline_ms, now + rt);
    else if (c->rxlen > 0 || !c->hello_done)
        atomic_store(&c->deadline_ms, c->req_start_ms + rt);
    else
        atomic_store(&c->deadline_ms, now + (int64_t)atomic_load(&d->pol.idle_timeout_s) * 1000);
    return true;
}

/* A turn with c corked: its answers leave together at the end (a closing
 * connection's last answer, an error frame, too). false: close. */
static bool serve(struct lkd_worker *w, struct lkd_conn *c, enum turn *t)
{
    pthread_mutex_lock(&c->send_lock);
    c->corked = true;
    pthread_mutex_unlock(&c->send_lock);
    bool keep = serve_turn(w, c, t);
    pthread_mutex_lock(&c->send_lock);
    c->corked = false;
    bool ok = atomic_load(&c->closing) || c->outlen == 0 || flush_locked(c);
    if (!ok)
        shutdown(c->fd, SHUT_RDWR);
    pthread_mutex_unlock(&c->send_lock);
    return keep && ok;
}

static void *worker_main(void *arg)
{
    struct lkd_worker *w = arg;
    struct lkd *d = w->d;
    struct epoll_event evs[16];
    for (;;) {
        int n = epoll_wait(d->conn_ep, evs, 16, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) /* the wake fd: shutting down */
                goto out;
            struct lkd_conn *c = evs[i].data.ptr;
            /* EPOLLONESHOT gives a connection to one worker at a time; the
             * flag makes that hand-off explicit (acquire here, release
             * before re-arming), which is also what ThreadSanitizer needs
             * to see it, and would catch a second owner. */
            if (atomic_exchange(&c->serving, true)) {
                lkd_log("error: a connection was handed to two workers at once; dropping the event");
                continue;
            }
            atomic_fetch_add(&d->busy_workers, 1);
            enum turn t;
            if (!serve(w, c, &t)) {
                conn_close(d, c);
            } else {
                /* Blocked: wait until the client reads. More to do, or
                 * answers waiting: EPOLLOUT fires at once on a writable
                 * socket, behind every other ready connection. */
                uint32_t mask = t == TURN_BLOCKED ? EPOLLOUT
                                : t == TURN_MORE || conn_outlen(c) > 0 ? EPOLLIN | EPOLLRDHUP | EPOLLOUT
                                                                      : EPOLLIN | EPOLLRDHUP;
                struct epoll_event ev = {.events = mask | EPOLLONESHOT, .data.ptr = c};
                int fd = c->fd;
                atomic_store(&c->serving, false);
                if (epoll_ctl(d->conn_ep, EPOLL_CTL_MOD, fd, &ev) != 0)
                    lkd_log("warning: epoll_ctl(MOD): %s", strerror(errno)); /* cannot happen: the fd is ours */
            }
            atomic_fetch_sub(&d->busy_workers, 1);
        }
    }
out:
    sodium_free(w->msg);
    free(w->out);
    free(w);
    return NULL;
}

int lkd_start_workers(struct lkd *d)
{
    d->conn_ep = epoll_create1(EPOLL_CLOEXEC);
    d->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    d->conns_cap = atomic_load(&d->pol.max_connections);
    d->conns = calloc(d->conns_cap, sizeof *d->conns);
    d->workers = calloc(d->nworkers, sizeof *d->workers);
    if (d->conn_ep < 0 || d->wake_fd < 0 || d->conns == NULL || d->workers == NULL)
        return -1;
    for (unsigned i = 0; i < d->nworkers; i++) {
        struct lkd_worker *w = calloc(1, sizeof *w);
        if (w == NULL)
            return -1;
        w->d = d;
        w->msg = sodium_malloc(sizeof *w->msg);
        w->out = malloc(LKP_LEN_PREFIX + LKP_MAX_BODY);
        if (w->msg == NULL || w->out == NULL || pthread_create(&d->workers[i], NULL, worker_main, w) != 0)
            return -1;
    }
    return 0;
}

void lkd_drain(struct lkd *d, int64_t wait_ms)
{
    int64_t until = lkd_mono_ms() + wait_ms;
    atomic_store(&d->stopping, true);
    /* In-flight: requests being read or answered, and queued Argon2id jobs. */
    while (lkd_mono_ms() < until &&
           (atomic_load(&d->busy_workers) > 0 || lkd_queued(d) > 0 || lkd_argon2_running(d) > 0)) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    /* Wake every worker for good (the eventfd stays readable). */
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    uint64_t one = 1;
    epoll_ctl(d->conn_ep, EPOLL_CTL_ADD, d->wake_fd, &ev);
    if (write(d->wake_fd, &one, sizeof one) < 0)
        lkd_log("warning: cannot wake the workers: %s", strerror(errno));
    for (unsigned i = 0; i < d->nworkers; i++)
        pthread_join(d->workers[i], NULL);
    lkd_ops_stop(d);
    /* Whatever is left is idle: close it. */
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < d->conns_cap; i++)
        if (d->conns[i] != NULL)
            shutdown(d->conns[i]->fd, SHUT_RDWR);
    pthread_mutex_unlock(&d->lock);
    for (size_t i = 0; i < d->conns_cap; i++) {
        pthread_mutex_lock(&d->lock);
        struct lkd_conn *c = d->conns[i];
        pthread_mutex_unlock(&d->lock);
        if (c != NULL && !atomic_exchange(&c->closing, true)) {
            if (c->rxlen)
                sodium_memzero(c->rx, c->rxlen);
            lkd_conn_release(d, c);
        }
    }
}
