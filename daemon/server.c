/*
 * server.c — latchkeyd's socket: the listening socket, the peer check on
 * every connection (SO_PEERCRED, never only the socket's mode), the
 * connection table, read and idle timeouts, and the request workers.
 *
 * A connection is watched by one epoll set shared by the workers, armed
 * EPOLLONESHOT: exactly one worker reads it at a time, so its receive buffer
 * needs no lock. Answers may also come from Argon2id threads, so sending
 * takes the connection's lock. A connection lives while anyone holds a
 * reference (its epoll registration, queued Argon2id jobs); the fd is closed
 * with the last one, under the table's lock, so the timeout scan never
 * touches a reused fd.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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

struct lkd_conn {
    int fd;
    unsigned slot;
    atomic_int refs;
    atomic_bool closing;
    atomic_bool serving; /* a worker holds it (EPOLLONESHOT): hand-offs pass through this flag */
    atomic_llong deadline_ms; /* the timeout scan shuts the socket down past it */
    bool hello_done;
    pthread_mutex_t send_lock;
    uint8_t *rx; /* sodium_malloc: requests carry secrets */
    size_t rxlen;
};

/* ------------------------------------------------------------ listening */

int lkd_listen(struct lkd *d)
{
    struct sockaddr_un sa;
    struct stat sb;

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
    free(c);
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
            lkd_log("refused a connection from uid %u gid %u pid %d: not in daemon.allow_uids/allow_gids",
                    crl == sizeof cr ? (unsigned)cr.uid : 0u, crl == sizeof cr ? (unsigned)cr.gid : 0u,
                    crl == sizeof cr ? (int)cr.pid : 0);
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
        c->rx = rx;
        atomic_init(&c->refs, 1);
        pthread_mutex_init(&c->send_lock, NULL);
        atomic_store(&c->deadline_ms, lkd_mono_ms() + atomic_load(&d->pol.read_timeout_ms));
        atomic_fetch_add(&d->st_connections, 1);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT, .data.ptr = c};
        if (epoll_ctl(d->conn_ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            lkd_log("warning: epoll_ctl: %s", strerror(errno));
            lkd_conn_release(d, c);
        }
    }
}

/* Past its deadline, a connection is shut down; the worker that wakes on it
 * sees the end of the stream and frees it. */
void lkd_reap(struct lkd *d)
{
    int64_t now = lkd_mono_ms();
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < d->conns_cap; i++) {
        struct lkd_conn *c = d->conns[i];
        long long dl;
        if (c == NULL || atomic_load(&c->closing) || (dl = atomic_load(&c->deadline_ms)) == 0 || dl > now)
            continue;
        atomic_store(&c->deadline_ms, 0);
        atomic_fetch_add(&d->st_timeouts, 1);
        shutdown(c->fd, SHUT_RDWR);
    }
    pthread_mutex_unlock(&d->lock);
}

bool lkd_send(struct lkd *d, struct lkd_conn *c, const lkp_buf *b)
{
    size_t off = 0;
    bool ok = true;
    pthread_mutex_lock(&c->send_lock);
    while (off < b->len && ok) {
        if (atomic_load(&c->closing)) {
            ok = false;
            break;
        }
        ssize_t w = send(c->fd, b->p + off, b->len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            off += (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* a client that does not read its answers gets read_timeout_ms */
            struct pollfd pfd = {.fd = c->fd, .events = POLLOUT};
            if (poll(&pfd, 1, (int)atomic_load(&d->pol.read_timeout_ms)) <= 0)
                ok = false;
        } else {
            ok = false;
        }
    }
    if (!ok)
        shutdown(c->fd, SHUT_RDWR);
    pthread_mutex_unlock(&c->send_lock);
    return ok;
}

/* ------------------------------------------------------------ workers */

/* Read what is there and answer every complete request. false: close. */
static bool serve(struct lkd_worker *w, struct lkd_conn *c)
{
    struct lkd *d = w->d;
    for (;;) {
        ssize_t r = recv(c->fd, c->rx + c->rxlen, RX_CAP - c->rxlen, MSG_DONTWAIT);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (r <= 0)
            return false; /* end of stream, reset, or shut down by a timeout */
        /* A short read took all there was: skip the recv that would only say
         * EAGAIN (re-arming the EPOLLONESHOT registration re-checks). */
        bool drained = (size_t)r < RX_CAP - c->rxlen;
        c->rxlen += (size_t)r;
        for (;;) {
            if (c->rxlen < LKP_LEN_PREFIX)
                break;
            size_t blen = lkp_frame_len(c->rx, LKP_MAX_REQUEST);
            if (blen == 0) {
                atomic_fetch_add(&d->st_bad_frames, 1);
                return false;
            }
            if (c->rxlen < LKP_LEN_PREFIX + blen)
                break;
            lkp_err e = lkp_decode(c->rx + LKP_LEN_PREFIX, blen, w->msg);
            bool keep = true;
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
                snprintf(msg, sizeof msg, "malformed request: %s", lkp_err_str(e));
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
            if (!keep)
                return false;
        }
        if (c->rxlen == RX_CAP) /* cannot happen: a frame fits; defensive */
            return false;
        if (drained)
            break;
    }
    /* A request begun but not finished, or no handshake yet: read timeout;
     * otherwise the connection is idle. */
    int64_t now = lkd_mono_ms();
    if (c->rxlen > 0 || !c->hello_done)
        atomic_store(&c->deadline_ms, now + atomic_load(&d->pol.read_timeout_ms));
    else
        atomic_store(&c->deadline_ms, now + (int64_t)atomic_load(&d->pol.idle_timeout_s) * 1000);
    return true;
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
            if (!serve(w, c)) {
                conn_close(d, c);
            } else {
                struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT, .data.ptr = c};
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
