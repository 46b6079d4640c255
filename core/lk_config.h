/*
 * lk_config.h — the parsed configuration (core/config.c fills it from YAML
 * with libyaml). Internal: callers use the lk_config_* functions.
 */
#ifndef LK_CONFIG_H
#define LK_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include "latchkey.h"

/* Install directories, from the build (Makefile.am); these fallbacks are a
 * --prefix=/usr build's. */
#ifndef LK_SYSCONFDIR
#define LK_SYSCONFDIR "/etc"
#endif
#ifndef LK_STATEDIR
#define LK_STATEDIR "/var/lib/latchkey"
#endif
/* The file lk_config_load(NULL) and lk_open(NULL) read. */
#define LK_DEFAULT_CONFIG LK_SYSCONFDIR "/latchkey/latchkey.yaml"
#ifndef LK_DEFAULT_STORE
#define LK_DEFAULT_STORE LK_STATEDIR "/store.mdb"
#endif
#ifndef LK_DEFAULT_CONSOLE_DIR
#define LK_DEFAULT_CONSOLE_DIR "/usr/share/latchkey/console"
#endif
/* daemon.log_denials: which denials latchkeyd logs. */
enum { LK_LOG_DENIALS_NONE, LK_LOG_DENIALS_FIRST, LK_LOG_DENIALS_ALL };

#ifndef LK_DEFAULT_SOCKET
#define LK_DEFAULT_SOCKET "/run/latchkey/latchkeyd.sock"
/* Argon2id cost of a stored secret: 2 passes over 4 MiB, a verify of about
 * 1.5-3 ms on the 2-core build machine (libsodium's INTERACTIVE, 64 MiB, is
 * sized for passwords; these secrets carry 214 random bits). */
#define LK_DEFAULT_OPSLIMIT 2
#define LK_DEFAULT_MEMLIMIT ((size_t)4096 * 1024)
#endif

struct lk_config {
    char *source;              /* file it came from, or NULL */
    char *backend;             /* store.backend: "lmdb" (default) | "flatfile" | "postgresql" */
    char *store_path;          /* store.path, made absolute against the file's dir */
    char *conninfo;            /* store.conninfo (postgresql): a libpq connection string, or NULL */
    uint64_t map_size;         /* store.map_size_mb (LMDB), in bytes; default 1024 MiB */
    unsigned store_cache_entries; /* store.cache_entries (postgresql): records kept per process, default 100000, 0..10000000 (0: off) */
    uint64_t opslimit;         /* hash.opslimit; default LK_DEFAULT_OPSLIMIT */
    size_t memlimit;           /* hash.memlimit_kib, in bytes; default LK_DEFAULT_MEMLIMIT */
    unsigned keys_per_user;    /* limits.keys_per_user: default 2, 1..100 */
    unsigned apikeys_per_account; /* limits.apikeys_per_account: default 50, 1..100000 */
    unsigned records_keep;     /* records.keep: default 20, 0..20 */
    unsigned retention_days;   /* records.retention_days: default 90, 1..3650 */
    unsigned flush_interval_ms;/* records.flush_interval_ms: default 1000, 0..60000 (0: write at once) */
    unsigned flush_batch;      /* records.flush_batch: default 4096, 1..100000 */
    unsigned cache_entries;    /* cache.entries: default 10000, 0..10000000 (0: no cache) */
    /* daemon: latchkeyd only; the library ignores it. */
    char *daemon_socket;       /* daemon.socket: default LK_DEFAULT_SOCKET; relative: against the file's dir */
    char *daemon_allow_uids;   /* daemon.allow_uids: canonical "0,998" ("" none); a YAML list or a comma list */
    char *daemon_allow_gids;   /* daemon.allow_gids: same, matched against the peer's primary gid */
    unsigned daemon_workers;   /* daemon.workers: request threads, default 2, 1..256 */
    unsigned argon2_workers;   /* daemon.argon2_workers: Argon2id threads, default 2, 1..64 */
    unsigned argon2_queue;     /* daemon.argon2_queue: waiting Argon2id jobs, default 64, 0..100000 */
    unsigned throttle_failures;/* daemon.throttle_failures: wrong secrets per key per window, default 10, 0 (off)..1000000 */
    unsigned throttle_window_s;/* daemon.throttle_window_s: default 300, 1..86400 */
    unsigned read_timeout_ms;  /* daemon.read_timeout_ms: handshake and rest of a request, default 5000, 10..600000 */
    unsigned idle_timeout_s;   /* daemon.idle_timeout_s: a connection with no request, default 600, 1..86400 */
    unsigned max_connections;  /* daemon.max_connections: default 1024, 1..100000 */
    unsigned log_denials;      /* daemon.log_denials: LK_LOG_DENIALS_* (none, first: default, all) */
    /* daemon.http.*: latchkeyd's HTTP verify endpoint */
    char *http_listen;         /* daemon.http.listen: "" (off, default), "IPv4:port" or "[IPv6]:port" */
    unsigned http_threads;     /* daemon.http.threads: default 2, 1..64 */
    unsigned http_max_connections; /* daemon.http.max_connections: default 1024, 1..100000 */
    unsigned http_max_per_ip;  /* daemon.http.max_connections_per_ip: a peer not in trusted_proxies, default 64 */
    unsigned http_timeout_s;   /* daemon.http.timeout_s: an idle or slow connection, default 10, 1..3600 */
    char *http_apikey_header;  /* daemon.http.api_key_header: default "X-Api-Key"; "" none */
    char *http_client_ip_header; /* daemon.http.client_ip_header: default "X-Forwarded-For"; "" none */
    char *http_trusted_proxies;  /* daemon.http.trusted_proxies: canonical "10.0.0.0/8,::1" ("" none) */
    char *http_service_header; /* daemon.http.service_header: default "X-Latchkey-Service"; "" none */
    char *http_service_map;    /* daemon.http.service_map: "/prefix=service,..." ("" none) */
    unsigned http_basic_any_user; /* daemon.http.basic_any_user: 0 (default) or 1 */
    /* daemon.manage.*: the management API (daemon/manage.c), a listener of its own */
    char *manage_listen;       /* daemon.manage.listen: "" (off, default), "IPv4:port" or "[IPv6]:port" */
    char *manage_tls_cert;     /* daemon.manage.tls_cert: PEM certificate chain; "" plain HTTP */
    char *manage_tls_key;      /* daemon.manage.tls_key: PEM private key; "" plain HTTP */
    char *manage_trusted_proxies; /* daemon.manage.trusted_proxies: canonical "10.0.0.0/8,::1" ("" none) */
    char *manage_user_header;  /* daemon.manage.user_header: a trusted proxy's login header; "" (default) none */
    unsigned manage_threads;   /* daemon.manage.threads: default 2, 1..64 */
    unsigned manage_max_connections; /* daemon.manage.max_connections: default 256, 1..100000 */
    unsigned manage_max_body;  /* daemon.manage.max_body_bytes: default 65536, 256..1048576 */
    unsigned manage_timeout_s; /* daemon.manage.timeout_s: an idle or slow connection, default 10, 1..3600 */
    char *manage_console_dir;  /* daemon.manage.console_dir: the key console's files; "" no console */
    unsigned manage_session_idle_s; /* daemon.manage.session_idle_s: a console session's idle timeout, default 900 */
    unsigned manage_session_max_s;  /* daemon.manage.session_max_s: a console session's lifetime, default 28800 */
    unsigned audit_retention_days; /* audit.retention_days: default 365, 1..36500 */
    char getbuf[64];           /* lk_config_get's scratch for numbers (not thread-safe per cfg) */
};

#endif
