/*
 * main.c — latchkeyd: `latchkeyd --config FILE`. Runs in the foreground and
 * logs to stderr (systemd style). SIGHUP reloads the daemon: section's
 * policy (who may connect, timeouts, queue, throttle, max_connections);
 * SIGTERM/SIGINT stop accepting, drain in-flight requests, flush access
 * records and exit 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "latchkeyd.h"
#ifdef HAVE_HTTP
#include "http.h"
#include "manage.h"
#endif

#ifndef LK_SYSCONFDIR
#define LK_SYSCONFDIR "/etc"
#endif

#define DRAIN_MS 10000

void lkd_log(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "latchkeyd: %s\n", line); /* one write per line: threads do not interleave */
}

/* A start refused before any thread runs: let go of the store and the
 * configuration (so a refused start leaks nothing) and exit 5. */
static int refuse_start(struct lkd *d, lk_config *cfg)
{
    lk_close(d->ctx);
    lk_config_free(cfg);
    return 5;
}

int64_t lkd_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

unsigned lkd_cfg_uint(const lk_config *cfg, const char *key)
{
    const char *v = lk_config_get(cfg, key);
    return v ? (unsigned)strtoul(v, NULL, 10) : 0;
}

/* "0,998" (validated by the config loader) into ids. */
static size_t parse_ids(const char *s, unsigned *ids)
{
    size_t n = 0;
    while (s && *s && n < LKD_MAX_IDS) {
        char *end;
        ids[n++] = (unsigned)strtoul(s, &end, 10);
        s = *end == ',' ? end + 1 : end;
    }
    return n;
}

static void apply_policy(struct lkd *d, const lk_config *cfg)
{
    unsigned ids[LKD_MAX_IDS];
    atomic_store(&d->pol.read_timeout_ms, lkd_cfg_uint(cfg, "daemon.read_timeout_ms"));
    atomic_store(&d->pol.idle_timeout_s, lkd_cfg_uint(cfg, "daemon.idle_timeout_s"));
    atomic_store(&d->pol.argon2_queue, lkd_cfg_uint(cfg, "daemon.argon2_queue"));
    atomic_store(&d->pol.throttle_failures, lkd_cfg_uint(cfg, "daemon.throttle_failures"));
    atomic_store(&d->pol.throttle_window_s, lkd_cfg_uint(cfg, "daemon.throttle_window_s"));
    atomic_store(&d->pol.log_denials, lkd_log_denials_level(lk_config_get(cfg, "daemon.log_denials")));
    unsigned maxc = lkd_cfg_uint(cfg, "daemon.max_connections");
    /* the connection table is sized at start; a reload may only shrink it */
    atomic_store(&d->pol.max_connections, d->conns_cap && maxc > d->conns_cap ? (unsigned)d->conns_cap : maxc);
    d->peers.nuids = parse_ids(lk_config_get(cfg, "daemon.allow_uids"), ids);
    for (size_t i = 0; i < d->peers.nuids; i++)
        d->peers.uids[i] = (uid_t)ids[i];
    d->peers.ngids = parse_ids(lk_config_get(cfg, "daemon.allow_gids"), ids);
    for (size_t i = 0; i < d->peers.ngids; i++)
        d->peers.gids[i] = (gid_t)ids[i];
}

/* Settings the running service cannot change: a reload names the ones that
 * differ from the start-up configuration. */
static const char *const restart_keys[] = {
    "daemon.socket", "daemon.workers", "daemon.argon2_workers", "store.backend", "store.path", "store.map_size_mb",
    "hash.opslimit", "hash.memlimit_kib", "limits.keys_per_user", "limits.apikeys_per_account", "records.keep",
    "records.retention_days", "records.flush_interval_ms", "records.flush_batch", "cache.entries",
    "daemon.http.listen", "daemon.http.threads", "daemon.http.max_connections", "daemon.http.timeout_s",
    "daemon.http.max_connections_per_ip",
    "daemon.http.api_key_header", "daemon.http.client_ip_header", "daemon.http.trusted_proxies",
    "daemon.http.service_header", "daemon.http.service_map", "daemon.http.basic_any_user",
    "daemon.manage.listen", "daemon.manage.tls_cert", "daemon.manage.tls_key", "daemon.manage.trusted_proxies",
    "daemon.manage.user_header", "daemon.manage.threads", "daemon.manage.max_connections",
    "daemon.manage.max_body_bytes", "daemon.manage.timeout_s",
};

static void reload(struct lkd *d)
{
    lk_config *cfg;
    char pending[512] = "";
    size_t o = 0;
    if (lk_config_load(d->config_path, &cfg) != LK_OK) {
        lkd_log("reload refused, keeping the running configuration: %s", lk_errmsg(NULL));
        return;
    }
    for (size_t i = 0; i < sizeof restart_keys / sizeof restart_keys[0]; i++) {
        const char *now = lk_config_get(cfg, restart_keys[i]), *was = lk_config_get(d->started, restart_keys[i]);
        if (now && was && strcmp(now, was) != 0 && o < sizeof pending)
            o += (size_t)snprintf(pending + o, sizeof pending - o, "%s%s", o ? ", " : "", restart_keys[i]);
    }
    if (o > 0)
        lkd_log("reload: %s changed; that takes effect at the next start", pending);
    apply_policy(d, cfg);
    lk_config_free(cfg);
    lkd_recheck_peers(d); /* a peer removed from allow_uids/allow_gids loses its open connections too */
    lkd_log("reloaded %s", d->config_path);
}

static void *flusher_main(void *arg)
{
    struct lkd *d = arg;
    pthread_mutex_lock(&d->flush_lock);
    while (!atomic_load(&d->stopping)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (int64_t)d->flush_interval_ms * 1000000;
        ts.tv_sec += ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&d->flush_cond, &d->flush_lock, &ts);
        pthread_mutex_unlock(&d->flush_lock);
        lk_stats before, after;
        lk_get_stats(d->ctx, &before);
        lk_status st = lk_flush(d->ctx);
        lk_get_stats(d->ctx, &after);
        if (st == LK_ERR_STORE) /* logged once per outage; the next round retries what is still queued */
            lkd_store_note(d, false, lk_errmsg(NULL));
        else if (st != LK_OK)
            lkd_log("warning: access records not written: %s", lk_errmsg(NULL));
        else if (after.records_flushed != before.records_flushed) /* a write reached the store */
            lkd_store_note(d, true, NULL);
        pthread_mutex_lock(&d->flush_lock);
    }
    pthread_mutex_unlock(&d->flush_lock);
    return NULL;
}

/* As many descriptors as connections need (the hard limit allows). */
static void raise_nofile(unsigned want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t need = (rlim_t)want + 64;
    if (rl.rlim_cur >= need)
        return;
    rl.rlim_cur = need < rl.rlim_max ? need : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < need)
        lkd_log("warning: only %llu file descriptors for daemon.max_connections %u",
                (unsigned long long)rl.rlim_cur, want);
}

static int usage(FILE *f, int rc)
{
    fprintf(f, "Usage: latchkeyd [--config FILE]\n"
               "The latchkey verification service: owns the store and the verified-secret cache\n"
               "and answers clients (lk_connect, the plugins, latchkey --socket) on the UNIX\n"
               "socket named by the daemon: section of the configuration.\n"
               "  --config FILE   default: $LATCHKEY_CONFIG, else " LK_SYSCONFDIR "/latchkey/latchkey.yaml\n"
               "Runs in the foreground, logs to stderr. SIGHUP reloads, SIGTERM drains and exits.\n");
    return rc;
}

int main(int argc, char **argv)
{
    struct lkd d;
    const char *config = getenv("LATCHKEY_CONFIG");
    if (config == NULL || *config == '\0')
        config = LK_SYSCONFDIR "/latchkey/latchkey.yaml";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config = argv[++i];
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return usage(stdout, 0);
        else if (strcmp(argv[i], "--version") == 0)
            return printf("latchkeyd %s\n", lk_version()) < 0;
        else
            return usage(stderr, 2);
    }
    if (sodium_init() < 0) {
        lkd_log("error: libsodium could not be initialised");
        return 1;
    }
    memset(&d, 0, sizeof d);
    d.listen_fd = d.conn_ep = d.wake_fd = -1;
    d.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    pthread_mutex_init(&d.lock, NULL);
    pthread_mutex_init(&d.flush_lock, NULL);
    pthread_cond_init(&d.flush_cond, NULL);
    snprintf(d.config_path, sizeof d.config_path, "%s", config);

    lk_config *cfg;
    if (lk_config_load(config, &cfg) != LK_OK) {
        lkd_log("error: %s: %s", lk_status_code(LK_ERR_CONFIG), lk_errmsg(NULL));
        return 4;
    }
    const char *http_listen = lk_config_get(cfg, "daemon.http.listen");
    const char *manage_listen = lk_config_get(cfg, "daemon.manage.listen");
#ifndef HAVE_HTTP
    if ((http_listen != NULL && *http_listen != '\0') || (manage_listen != NULL && *manage_listen != '\0')) {
        lkd_log("error: %s: daemon.%s.listen is set, but this latchkeyd was built without HTTP support "
                "(libmicrohttpd)", lk_status_code(LK_ERR_CONFIG), http_listen && *http_listen ? "http" : "manage");
        lk_config_free(cfg);
        return 4;
    }
#endif
    snprintf(d.socket_path, sizeof d.socket_path, "%s", lk_config_get(cfg, "daemon.socket"));
    d.nworkers = lkd_cfg_uint(cfg, "daemon.workers");
    d.nargon2 = lkd_cfg_uint(cfg, "daemon.argon2_workers");
    d.flush_interval_ms = lkd_cfg_uint(cfg, "records.flush_interval_ms");
    if (d.flush_interval_ms < 10)
        d.flush_interval_ms = 10;
    apply_policy(&d, cfg);
    lk_status st = lk_open_config(cfg, &d.ctx);
    /* A missing store is refused, as the admin tool refuses it: only
     * `latchkey init` creates stores, so a mistyped store.path never starts
     * an empty service that answers every key with "not found". */
    if (st != LK_OK) {
        lkd_log("error: cannot open the store: %s: %s", lk_status_code(st), lk_errmsg(NULL));
        lk_config_free(cfg);
        return st == LK_ERR_CONFIG ? 4 : 5;
    }
    d.started = cfg; /* kept: a reload compares against it */
    lk_set_auto_flush(d.ctx, 0); /* the flusher thread writes records, never a request thread */

    /* Signals are read from a signalfd by this thread; every thread created
     * below inherits the mask. SIGPIPE: sends use MSG_NOSIGNAL anyway. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

    raise_nofile(atomic_load(&d.pol.max_connections));
    int main_ep = epoll_create1(EPOLL_CLOEXEC);
    if (lkd_listen(&d) != 0) /* it said why */
        return refuse_start(&d, cfg);
    if (lkd_events_init(&d) != 0) {
        lkd_log("error: out of memory");
        return refuse_start(&d, cfg);
    }
    if (sfd < 0 || main_ep < 0 || lkd_ops_init(&d) != 0 || lkd_start_workers(&d) != 0 ||
        pthread_create(&d.flusher, NULL, flusher_main, &d) != 0) {
        lkd_log("error: cannot start: %s", strerror(errno));
        return 5;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = d.listen_fd};
    epoll_ctl(main_ep, EPOLL_CTL_ADD, d.listen_fd, &ev);
    ev.data.fd = sfd;
    epoll_ctl(main_ep, EPOLL_CTL_ADD, sfd, &ev);
    lkd_log("listening on %s (%u workers, %u Argon2id threads, queue %u, max %u connections)", d.socket_path,
            d.nworkers, d.nargon2, atomic_load(&d.pol.argon2_queue), atomic_load(&d.pol.max_connections));
    /* A listener that cannot start stops the service the ordinary way
     * below, never by returning: the threads started above use d, which
     * lives in this frame. */
    int start_rc = 0;
#ifdef HAVE_HTTP
    struct lkd_http *http = NULL;
    struct lkd_manage *manage = NULL;
    bool manage_config_error = false;
    if (http_listen != NULL && *http_listen != '\0' && (http = lkd_http_start(&d, cfg)) == NULL)
        start_rc = 5;
    else if (manage_listen != NULL && *manage_listen != '\0' &&
             (manage = lkd_manage_start(&d, cfg, &manage_config_error)) == NULL)
        start_rc = manage_config_error ? 4 : 5;
#endif

    int64_t next_reap = lkd_mono_ms() + 50;
    bool run = start_rc == 0;
    while (run) {
        struct epoll_event evs[4];
        int n = epoll_wait(main_ep, evs, 4, 50);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.fd == d.listen_fd) {
                lkd_accept(&d);
                continue;
            }
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
                if (si.ssi_signo == SIGHUP)
                    reload(&d);
                else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
                    run = false;
            }
        }
        if (lkd_mono_ms() >= next_reap) {
            lkd_reap(&d);
            next_reap = lkd_mono_ms() + 50;
        }
    }

    lkd_log(start_rc ? "stopping: a listener could not start" : "stopping: draining in-flight requests");
    close(d.listen_fd);
    unlink(d.socket_path);
    lkd_drain(&d, DRAIN_MS);
#ifdef HAVE_HTTP
    lkd_http_stop(http); /* every verify that waited for an Argon2id thread has its answer */
    lkd_manage_stop(manage);
#endif
    pthread_mutex_lock(&d.flush_lock);
    pthread_cond_signal(&d.flush_cond);
    pthread_mutex_unlock(&d.flush_lock);
    pthread_join(d.flusher, NULL);
    st = lk_flush(d.ctx);
    if (st != LK_OK)
        lkd_log("warning: access records not written at exit: %s", lk_errmsg(NULL));
    lk_close(d.ctx);
    lk_config_free(d.started);
    lkd_ops_free(&d);
    lkd_events_free(&d);
    free(d.conns);
    free(d.workers);
    close(d.conn_ep);
    close(d.wake_fd);
    close(main_ep);
    close(sfd);
    if (d.spare_fd >= 0)
        close(d.spare_fd);
    lkd_log("stopped");
    return start_rc ? start_rc : st == LK_OK ? 0 : 5;
}
