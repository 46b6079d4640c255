/*
 * config.c — struct lk_config: defaults, the YAML file (libyaml's event
 * parser) and single-key updates. The file and lk_config_set go through one
 * table of keys and one validator, so both accept exactly the same values.
 *
 * The file is strict on purpose: a typo in a security setting must stop the
 * service, not silently fall back to a default. Unknown keys, duplicates,
 * wrong types, anchors/aliases and tags are all errors that name the file,
 * the line and the dotted key.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>
#include <yaml.h>

#include "latchkey.h"
#include "lk_config.h"
#include "lk_error.h"
#include "lk_internal.h"
#include "lk_ip.h"

#define CONFIG_MAX_BYTES (1024 * 1024)
#define MIB (UINT64_C(1024) * 1024)

/* Untrusted text in messages: at most this many input bytes, then "...". */
#define QUOTE_MAX 64
#define QUOTE_PATH_MAX 200
#define QUOTE_BUF(maxin) ((maxin) * 4 + 4)

/* ------------------------------------------------------------ the keys */

enum key_id {
    K_BACKEND,
    K_PATH,
    K_CONNINFO,
    K_MAP_SIZE,
    K_OPSLIMIT,
    K_MEMLIMIT,
    K_KEYS_PER_USER,
    K_APIKEYS_PER_ACCOUNT,
    K_RECORDS_KEEP,
    K_RETENTION_DAYS,
    K_FLUSH_INTERVAL,
    K_FLUSH_BATCH,
    K_CACHE_ENTRIES,
    K_STORE_CACHE,
    K_SOCKET,
    K_ALLOW_UIDS,
    K_ALLOW_GIDS,
    K_WORKERS,
    K_ARGON2_WORKERS,
    K_ARGON2_QUEUE,
    K_THROTTLE_FAILURES,
    K_THROTTLE_WINDOW,
    K_READ_TIMEOUT,
    K_IDLE_TIMEOUT,
    K_MAX_CONNECTIONS,
    K_HTTP_LISTEN,
    K_HTTP_THREADS,
    K_HTTP_MAX_CONNECTIONS,
    K_HTTP_MAX_PER_IP,
    K_HTTP_TIMEOUT,
    K_HTTP_APIKEY_HEADER,
    K_HTTP_CLIENT_IP_HEADER,
    K_HTTP_TRUSTED_PROXIES,
    K_HTTP_SERVICE_HEADER,
    K_HTTP_SERVICE_MAP,
    K_HTTP_BASIC_ANY_USER,
    K_MANAGE_LISTEN,
    K_MANAGE_TLS_CERT,
    K_MANAGE_TLS_KEY,
    K_MANAGE_TRUSTED_PROXIES,
    K_MANAGE_USER_HEADER,
    K_MANAGE_CONSOLE_DIR,
    K_MANAGE_SESSION_IDLE,
    K_MANAGE_SESSION_MAX,
    K_MANAGE_THREADS,
    K_MANAGE_MAX_CONNECTIONS,
    K_MANAGE_MAX_BODY,
    K_MANAGE_TIMEOUT,
    K_AUDIT_RETENTION,
    K_LOG_DENIALS
};

/* Keys whose value may be a YAML sequence (joined with ',' before checking). */
static bool is_list_key(enum key_id id)
{
    return id == K_ALLOW_UIDS || id == K_ALLOW_GIDS || id == K_HTTP_TRUSTED_PROXIES || id == K_HTTP_SERVICE_MAP ||
           id == K_MANAGE_TRUSTED_PROXIES;
}

struct keydef {
    const char *name;
    enum key_id id;
};

struct section {
    const char *name;
    const struct keydef *keys;
    size_t nkeys;
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const struct keydef store_keys[] = {
    {"backend", K_BACKEND},
    {"path", K_PATH},
    {"conninfo", K_CONNINFO},
    {"map_size_mb", K_MAP_SIZE},
    {"cache_entries", K_STORE_CACHE},
};
static const struct keydef hash_keys[] = {
    {"opslimit", K_OPSLIMIT},
    {"memlimit_kib", K_MEMLIMIT},
};
static const struct keydef limits_keys[] = {
    {"keys_per_user", K_KEYS_PER_USER},
    {"apikeys_per_account", K_APIKEYS_PER_ACCOUNT},
};
static const struct keydef records_keys[] = {
    {"keep", K_RECORDS_KEEP},
    {"retention_days", K_RETENTION_DAYS},
    {"flush_interval_ms", K_FLUSH_INTERVAL},
    {"flush_batch", K_FLUSH_BATCH},
};
static const struct keydef cache_keys[] = {
    {"entries", K_CACHE_ENTRIES},
};
static const struct keydef daemon_keys[] = {
    {"socket", K_SOCKET},
    {"allow_uids", K_ALLOW_UIDS},
    {"allow_gids", K_ALLOW_GIDS},
    {"workers", K_WORKERS},
    {"argon2_workers", K_ARGON2_WORKERS},
    {"argon2_queue", K_ARGON2_QUEUE},
    {"throttle_failures", K_THROTTLE_FAILURES},
    {"throttle_window_s", K_THROTTLE_WINDOW},
    {"read_timeout_ms", K_READ_TIMEOUT},
    {"idle_timeout_s", K_IDLE_TIMEOUT},
    {"max_connections", K_MAX_CONNECTIONS},
    {"log_denials", K_LOG_DENIALS},
    /* daemon.http.*: written "http.listen: ..." or as a nested "http:" mapping */
    {"http.listen", K_HTTP_LISTEN},
    {"http.threads", K_HTTP_THREADS},
    {"http.max_connections", K_HTTP_MAX_CONNECTIONS},
    {"http.max_connections_per_ip", K_HTTP_MAX_PER_IP},
    {"http.timeout_s", K_HTTP_TIMEOUT},
    {"http.api_key_header", K_HTTP_APIKEY_HEADER},
    {"http.client_ip_header", K_HTTP_CLIENT_IP_HEADER},
    {"http.trusted_proxies", K_HTTP_TRUSTED_PROXIES},
    {"http.service_header", K_HTTP_SERVICE_HEADER},
    {"http.service_map", K_HTTP_SERVICE_MAP},
    {"http.basic_any_user", K_HTTP_BASIC_ANY_USER},
    /* daemon.manage.*: the management API's own listener */
    {"manage.listen", K_MANAGE_LISTEN},
    {"manage.tls_cert", K_MANAGE_TLS_CERT},
    {"manage.tls_key", K_MANAGE_TLS_KEY},
    {"manage.trusted_proxies", K_MANAGE_TRUSTED_PROXIES},
    {"manage.user_header", K_MANAGE_USER_HEADER},
    {"manage.console_dir", K_MANAGE_CONSOLE_DIR},
    {"manage.session_idle_s", K_MANAGE_SESSION_IDLE},
    {"manage.session_max_s", K_MANAGE_SESSION_MAX},
    {"manage.threads", K_MANAGE_THREADS},
    {"manage.max_connections", K_MANAGE_MAX_CONNECTIONS},
    {"manage.max_body_bytes", K_MANAGE_MAX_BODY},
    {"manage.timeout_s", K_MANAGE_TIMEOUT},
};

static const struct keydef audit_keys[] = {
    {"retention_days", K_AUDIT_RETENTION},
};

static const struct section sections[] = {
    {"store", store_keys, COUNT(store_keys)},
    {"hash", hash_keys, COUNT(hash_keys)},
    {"limits", limits_keys, COUNT(limits_keys)},
    {"records", records_keys, COUNT(records_keys)},
    {"cache", cache_keys, COUNT(cache_keys)},
    {"daemon", daemon_keys, COUNT(daemon_keys)},
    {"audit", audit_keys, COUNT(audit_keys)},
};

/* Accepted range of a numeric key, in the file's units (MiB, KiB, ...). The
 * hash bounds come from libsodium at run time so they follow the library. */
static void key_bounds(enum key_id id, uint64_t *min, uint64_t *max)
{
    switch (id) {
    case K_MAP_SIZE: *min = 1; *max = 1048576; break;
    case K_OPSLIMIT:
        *min = crypto_pwhash_opslimit_min();
        *max = crypto_pwhash_opslimit_max();
        break;
    case K_MEMLIMIT:
        *min = (crypto_pwhash_memlimit_min() + 1023) / 1024;
        /* 4 GiB, or less where size_t cannot hold it in bytes (32-bit). */
        *max = (uint64_t)SIZE_MAX / 1024 < 4194304 ? (uint64_t)SIZE_MAX / 1024 : 4194304;
        break;
    case K_KEYS_PER_USER: *min = 1; *max = 100; break;
    case K_APIKEYS_PER_ACCOUNT: *min = 1; *max = 100000; break;
    case K_RECORDS_KEEP: *min = 0; *max = LK_RECORDS_MAX; break;
    case K_RETENTION_DAYS: *min = 1; *max = 3650; break;
    case K_FLUSH_INTERVAL: *min = 0; *max = 60000; break;
    case K_FLUSH_BATCH: *min = 1; *max = 100000; break;
    case K_CACHE_ENTRIES: *min = 0; *max = 10000000; break;
    case K_STORE_CACHE: *min = 0; *max = 10000000; break;
    case K_WORKERS: *min = 1; *max = 256; break;
    case K_ARGON2_WORKERS: *min = 1; *max = 64; break;
    case K_ARGON2_QUEUE: *min = 0; *max = 100000; break;
    case K_THROTTLE_FAILURES: *min = 0; *max = 1000000; break;
    case K_THROTTLE_WINDOW: *min = 1; *max = 86400; break;
    case K_LOG_DENIALS: *min = 0; *max = 2; break;
    case K_READ_TIMEOUT: *min = 10; *max = 600000; break;
    case K_IDLE_TIMEOUT: *min = 1; *max = 86400; break;
    case K_MAX_CONNECTIONS: *min = 1; *max = 100000; break;
    case K_HTTP_THREADS: *min = 1; *max = 64; break;
    case K_HTTP_MAX_CONNECTIONS: *min = 1; *max = 100000; break;
    case K_HTTP_MAX_PER_IP: *min = 1; *max = 100000; break;
    case K_HTTP_TIMEOUT: *min = 1; *max = 3600; break;
    case K_HTTP_BASIC_ANY_USER: *min = 0; *max = 1; break;
    case K_MANAGE_THREADS: *min = 1; *max = 64; break;
    case K_MANAGE_MAX_CONNECTIONS: *min = 1; *max = 100000; break;
    case K_MANAGE_MAX_BODY: *min = 256; *max = 1048576; break;
    case K_MANAGE_TIMEOUT: *min = 1; *max = 3600; break;
    case K_MANAGE_SESSION_IDLE: *min = 1; *max = 86400; break;
    case K_MANAGE_SESSION_MAX: *min = 1; *max = 604800; break;
    case K_AUDIT_RETENTION: *min = 1; *max = 36500; break;
    default: *min = 1; *max = 0; break; /* not numeric: nothing fits */
    }
}

/* Callers pass v within key_bounds, so the narrowing casts cannot truncate. */
static void set_uint(lk_config *cfg, enum key_id id, uint64_t v)
{
    switch (id) {
    case K_MAP_SIZE: cfg->map_size = v * MIB; break;
    case K_OPSLIMIT: cfg->opslimit = v; break;
    case K_MEMLIMIT: cfg->memlimit = (size_t)v * 1024; break;
    case K_KEYS_PER_USER: cfg->keys_per_user = (unsigned)v; break;
    case K_APIKEYS_PER_ACCOUNT: cfg->apikeys_per_account = (unsigned)v; break;
    case K_RECORDS_KEEP: cfg->records_keep = (unsigned)v; break;
    case K_RETENTION_DAYS: cfg->retention_days = (unsigned)v; break;
    case K_FLUSH_INTERVAL: cfg->flush_interval_ms = (unsigned)v; break;
    case K_FLUSH_BATCH: cfg->flush_batch = (unsigned)v; break;
    case K_CACHE_ENTRIES: cfg->cache_entries = (unsigned)v; break;
    case K_STORE_CACHE: cfg->store_cache_entries = (unsigned)v; break;
    case K_WORKERS: cfg->daemon_workers = (unsigned)v; break;
    case K_ARGON2_WORKERS: cfg->argon2_workers = (unsigned)v; break;
    case K_ARGON2_QUEUE: cfg->argon2_queue = (unsigned)v; break;
    case K_THROTTLE_FAILURES: cfg->throttle_failures = (unsigned)v; break;
    case K_THROTTLE_WINDOW: cfg->throttle_window_s = (unsigned)v; break;
    case K_READ_TIMEOUT: cfg->read_timeout_ms = (unsigned)v; break;
    case K_IDLE_TIMEOUT: cfg->idle_timeout_s = (unsigned)v; break;
    case K_MAX_CONNECTIONS: cfg->max_connections = (unsigned)v; break;
    case K_LOG_DENIALS: cfg->log_denials = (unsigned)v; break;
    case K_HTTP_THREADS: cfg->http_threads = (unsigned)v; break;
    case K_HTTP_MAX_CONNECTIONS: cfg->http_max_connections = (unsigned)v; break;
    case K_HTTP_MAX_PER_IP: cfg->http_max_per_ip = (unsigned)v; break;
    case K_HTTP_TIMEOUT: cfg->http_timeout_s = (unsigned)v; break;
    case K_HTTP_BASIC_ANY_USER: cfg->http_basic_any_user = (unsigned)v; break;
    case K_MANAGE_THREADS: cfg->manage_threads = (unsigned)v; break;
    case K_MANAGE_MAX_CONNECTIONS: cfg->manage_max_connections = (unsigned)v; break;
    case K_MANAGE_MAX_BODY: cfg->manage_max_body = (unsigned)v; break;
    case K_MANAGE_TIMEOUT: cfg->manage_timeout_s = (unsigned)v; break;
    case K_MANAGE_SESSION_IDLE: cfg->manage_session_idle_s = (unsigned)v; break;
    case K_MANAGE_SESSION_MAX: cfg->manage_session_max_s = (unsigned)v; break;
    case K_AUDIT_RETENTION: cfg->audit_retention_days = (unsigned)v; break;
    default: break;
    }
}

static uint64_t get_uint(const lk_config *cfg, enum key_id id)
{
    switch (id) {
    case K_MAP_SIZE: return cfg->map_size / MIB;
    case K_OPSLIMIT: return cfg->opslimit;
    case K_MEMLIMIT: return (uint64_t)cfg->memlimit / 1024;
    case K_KEYS_PER_USER: return cfg->keys_per_user;
    case K_APIKEYS_PER_ACCOUNT: return cfg->apikeys_per_account;
    case K_RECORDS_KEEP: return cfg->records_keep;
    case K_RETENTION_DAYS: return cfg->retention_days;
    case K_FLUSH_INTERVAL: return cfg->flush_interval_ms;
    case K_FLUSH_BATCH: return cfg->flush_batch;
    case K_CACHE_ENTRIES: return cfg->cache_entries;
    case K_STORE_CACHE: return cfg->store_cache_entries;
    case K_WORKERS: return cfg->daemon_workers;
    case K_ARGON2_WORKERS: return cfg->argon2_workers;
    case K_ARGON2_QUEUE: return cfg->argon2_queue;
    case K_THROTTLE_FAILURES: return cfg->throttle_failures;
    case K_THROTTLE_WINDOW: return cfg->throttle_window_s;
    case K_READ_TIMEOUT: return cfg->read_timeout_ms;
    case K_IDLE_TIMEOUT: return cfg->idle_timeout_s;
    case K_MAX_CONNECTIONS: return cfg->max_connections;
    case K_LOG_DENIALS: return cfg->log_denials;
    case K_HTTP_THREADS: return cfg->http_threads;
    case K_HTTP_MAX_CONNECTIONS: return cfg->http_max_connections;
    case K_HTTP_MAX_PER_IP: return cfg->http_max_per_ip;
    case K_HTTP_TIMEOUT: return cfg->http_timeout_s;
    case K_HTTP_BASIC_ANY_USER: return cfg->http_basic_any_user;
    case K_MANAGE_THREADS: return cfg->manage_threads;
    case K_MANAGE_MAX_CONNECTIONS: return cfg->manage_max_connections;
    case K_MANAGE_MAX_BODY: return cfg->manage_max_body;
    case K_MANAGE_TIMEOUT: return cfg->manage_timeout_s;
    case K_MANAGE_SESSION_IDLE: return cfg->manage_session_idle_s;
    case K_MANAGE_SESSION_MAX: return cfg->manage_session_max_s;
    case K_AUDIT_RETENTION: return cfg->audit_retention_days;
    default: return 0;
    }
}

/* daemon.log_denials, indexed by LK_LOG_DENIALS_*: a word in the file, a
 * number inside. */
static const char *const log_denials_names[] = {"none", "first", "all"};

/* The text keys' fields; NULL for a numeric key. */
static char **str_field(lk_config *cfg, enum key_id id)
{
    switch (id) {
    case K_BACKEND: return &cfg->backend;
    case K_PATH: return &cfg->store_path;
    case K_CONNINFO: return &cfg->conninfo;
    case K_SOCKET: return &cfg->daemon_socket;
    case K_ALLOW_UIDS: return &cfg->daemon_allow_uids;
    case K_ALLOW_GIDS: return &cfg->daemon_allow_gids;
    case K_HTTP_LISTEN: return &cfg->http_listen;
    case K_HTTP_APIKEY_HEADER: return &cfg->http_apikey_header;
    case K_HTTP_CLIENT_IP_HEADER: return &cfg->http_client_ip_header;
    case K_HTTP_TRUSTED_PROXIES: return &cfg->http_trusted_proxies;
    case K_HTTP_SERVICE_HEADER: return &cfg->http_service_header;
    case K_HTTP_SERVICE_MAP: return &cfg->http_service_map;
    case K_MANAGE_LISTEN: return &cfg->manage_listen;
    case K_MANAGE_TLS_CERT: return &cfg->manage_tls_cert;
    case K_MANAGE_TLS_KEY: return &cfg->manage_tls_key;
    case K_MANAGE_TRUSTED_PROXIES: return &cfg->manage_trusted_proxies;
    case K_MANAGE_USER_HEADER: return &cfg->manage_user_header;
    case K_MANAGE_CONSOLE_DIR: return &cfg->manage_console_dir;
    default: return NULL;
    }
}

/* name equals the counted (possibly NUL-containing) string s. */
static bool name_is(const char *name, const void *s, size_t len)
{
    return strlen(name) == len && memcmp(name, s, len) == 0;
}

static const struct section *find_section(const void *name, size_t len)
{
    for (size_t i = 0; i < COUNT(sections); i++)
        if (name_is(sections[i].name, name, len))
            return &sections[i];
    return NULL;
}

static const struct keydef *find_key(const struct section *sec, const void *name, size_t len)
{
    for (size_t i = 0; i < sec->nkeys; i++)
        if (name_is(sec->keys[i].name, name, len))
            return &sec->keys[i];
    return NULL;
}

/* "section.key" → its section and key; false if there is no such key. */
static bool find_dotted(const char *dotted, const struct section **sec, const struct keydef **kd)
{
    const char *dot = strchr(dotted, '.');
    if (dot == NULL)
        return false;
    *sec = find_section(dotted, (size_t)(dot - dotted));
    if (*sec == NULL)
        return false;
    *kd = find_key(*sec, dot + 1, strlen(dot + 1));
    return *kd != NULL;
}

/* For "expected one of: ..." hints: the section names (sec NULL) or the keys
 * of one section at one level: prefix "" lists its own keys and each
 * nested mapping once ("http"), prefix "http." the keys inside that one. */
static const char *key_list(const struct section *sec, const char *prefix, char *buf, size_t n)
{
    size_t o = 0, count = sec ? sec->nkeys : COUNT(sections), plen = strlen(prefix);
    buf[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        const char *name = sec ? sec->keys[i].name : sections[i].name;
        if (strncmp(name, prefix, plen) != 0)
            continue;
        name += plen;
        const char *dot = strchr(name, '.');
        size_t len = dot ? (size_t)(dot - name) : strlen(name);
        /* a nested mapping: named once, at its first key */
        if (dot != NULL && i > 0 && strncmp(sec->keys[i - 1].name, sec->keys[i].name, plen + len + 1) == 0)
            continue;
        o += (size_t)snprintf(buf + o, o < n ? n - o : 0, "%s%.*s", o ? ", " : "", (int)len, name);
    }
    return buf;
}

/* Every dotted key, for lk_config_set's unknown-key message. */
static const char *all_keys(char *buf, size_t n)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < COUNT(sections); i++)
        for (size_t k = 0; k < sections[i].nkeys; k++)
            o += (size_t)snprintf(buf + o, o < n ? n - o : 0, "%s%s.%s", o ? ", " : "", sections[i].name,
                                  sections[i].keys[k].name);
    return buf;
}

/* Untrusted text for a message: printable ASCII kept, anything else (and the
 * quote and backslash) as \xNN, cut after maxin bytes with "...". buf must
 * hold QUOTE_BUF(maxin) bytes. */
static const char *quote(const void *s, size_t len, char *buf, size_t maxin)
{
    const unsigned char *p = s;
    size_t o = 0, i;
    for (i = 0; i < len && i < maxin; i++) {
        unsigned char c = p[i];
        if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\')
            buf[o++] = (char)c;
        else
            o += (size_t)snprintf(buf + o, 5, "\\x%02x", c);
    }
    if (i < len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

/* ------------------------------------------------------------ values */

/* "0" or [1-9][0-9]*: decimal only, so "-1", "+1", "1e3", "0x10", " 2" and
 * the YAML 1.1 octal look-alike "010" are all refused. */
static bool parse_decimal(const char *s, size_t len, uint64_t *out, bool *overflow)
{
    uint64_t v = 0;
    *overflow = false;
    if (len == 0 || (len > 1 && s[0] == '0'))
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            *overflow = true;
        else
            v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* A list of uids or gids: decimal numbers separated by ',' (spaces
 * allowed around them), stored canonically ("0,998"); "" is the empty list. */
static lk_status apply_id_list(lk_config *cfg, enum key_id id, const char *val, size_t len, char *err, size_t errsz)
{
    char q[QUOTE_BUF(QUOTE_MAX)];
    char *out = malloc(len + 1);
    size_t o = 0, n = 0;
    if (out == NULL)
        return LK_ERR_NOMEM;
    for (size_t i = 0; i < len;) {
        while (i < len && val[i] == ' ')
            i++;
        size_t start = i;
        while (i < len && val[i] != ',' && val[i] != ' ')
            i++;
        size_t end = i;
        while (i < len && val[i] == ' ')
            i++;
        uint64_t v;
        bool overflow;
        if (!parse_decimal(val + start, end - start, &v, &overflow) || overflow || v >= UINT32_MAX ||
            (i < len && val[i] != ',') || (i < len && i + 1 == len)) {
            snprintf(err, errsz, "expected numeric %s separated by ',', got '%s'",
                     id == K_ALLOW_UIDS ? "uids" : "gids", quote(val, len, q, QUOTE_MAX));
            free(out);
            return LK_ERR_CONFIG;
        }
        if (++n > 256) {
            snprintf(err, errsz, "at most 256 entries are allowed");
            free(out);
            return LK_ERR_CONFIG;
        }
        o += (size_t)snprintf(out + o, len + 1 - o, "%s%" PRIu64, o ? "," : "", v);
        if (i < len)
            i++; /* the ',' */
    }
    out[o] = '\0';
    char **field = id == K_ALLOW_UIDS ? &cfg->daemon_allow_uids : &cfg->daemon_allow_gids;
    free(*field);
    *field = out;
    return LK_OK;
}

/* daemon.http.listen: "" (off), "IPv4:port" or "[IPv6]:port", port 1..65535. */
static bool listen_ok(const char *val, size_t len)
{
    char host[64];
    const char *colon;
    size_t hl;
    if (len == 0)
        return true;
    if (val[0] == '[') {
        const char *rb = memchr(val, ']', len);
        if (rb == NULL || (size_t)(rb - val) + 1 >= len || rb[1] != ':')
            return false;
        hl = (size_t)(rb - val) - 1;
        colon = rb + 1;
        if (hl == 0 || hl >= sizeof host)
            return false;
        memcpy(host, val + 1, hl);
    } else {
        colon = memchr(val, ':', len);
        if (colon == NULL || (hl = (size_t)(colon - val)) == 0 || hl >= sizeof host)
            return false;
        memcpy(host, val, hl);
    }
    host[hl] = '\0';
    unsigned char addr[16];
    if (inet_pton(val[0] == '[' ? AF_INET6 : AF_INET, host, addr) != 1)
        return false;
    uint64_t port;
    bool overflow;
    size_t plen = len - (size_t)(colon + 1 - val);
    return parse_decimal(colon + 1, plen, &port, &overflow) && !overflow && port >= 1 && port <= 65535;
}

/* An HTTP header name (RFC 9110 token), 1..64 bytes; "" turns the header off. */
static bool header_name_ok(const char *val, size_t len)
{
    if (len > 64)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)val[i];
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || strchr("!#$%&'*+-.^_`|~", c)))
            return false;
    }
    return true;
}

/* One entry of daemon.http.service_map: "/uri/prefix=service". */
static bool service_map_entry_ok(const char *e, size_t len)
{
    const char *eq = memchr(e, '=', len);
    if (eq == NULL || e[0] != '/' || (size_t)(eq - e) > 256)
        return false;
    for (const char *p = e; p < eq; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return false;
    return lk_service_name_ok(eq + 1, len - (size_t)(eq + 1 - e));
}

/* daemon.http.trusted_proxies (addresses or CIDR ranges) or
 * daemon.http.service_map (PREFIX=SERVICE): entries separated by ',',
 * spaces around them allowed, stored as "a,b" (ranges canonical). */
static lk_status apply_http_list(lk_config *cfg, enum key_id id, const char *val, size_t len, char *err, size_t errsz)
{
    char q[QUOTE_BUF(QUOTE_MAX)], item[300];
    size_t cap = len * 2 + 64, o = 0, n = 0;
    char *out = malloc(cap);
    if (out == NULL)
        return LK_ERR_NOMEM;
    out[0] = '\0';
    for (size_t i = 0; i < len;) {
        while (i < len && val[i] == ' ')
            i++;
        size_t start = i;
        while (i < len && val[i] != ',')
            i++;
        size_t end = i;
        while (end > start && val[end - 1] == ' ')
            end--;
        if (i < len)
            i++; /* the ',' */
        bool ok = end > start && end - start < sizeof item;
        if (ok) {
            memcpy(item, val + start, end - start);
            item[end - start] = '\0';
        }
        bool proxies = id == K_HTTP_TRUSTED_PROXIES || id == K_MANAGE_TRUSTED_PROXIES;
        if (ok && proxies) {
            lk_cidr c;
            ok = lk_cidr_parse(item, &c) == LK_OK && lk_cidr_format(&c, item, sizeof item) == 0;
        } else if (ok) {
            ok = service_map_entry_ok(item, end - start);
        }
        if (!ok || ++n > 256) {
            snprintf(err, errsz, n > 256 ? "at most 256 entries are allowed"
                                 : proxies ? "expected addresses or CIDR ranges separated by ',', got '%s'"
                                                                : "expected /PREFIX=SERVICE entries separated by ',', got '%s'",
                     quote(val, len, q, QUOTE_MAX));
            free(out);
            return LK_ERR_CONFIG;
        }
        o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? "," : "", item);
    }
    free(*str_field(cfg, id));
    *str_field(cfg, id) = out;
    return LK_OK;
}

/* A text key's new value: a copy of val[0..len), replacing the old one. */
static lk_status set_text(lk_config *cfg, enum key_id id, const char *val, size_t len)
{
    char *dup = strndup(val, len);
    if (dup == NULL)
        return LK_ERR_NOMEM;
    free(*str_field(cfg, id));
    *str_field(cfg, id) = dup;
    return LK_OK;
}

/* Validate value (len bytes; from YAML it may contain NUL) for key id and
 * store it in cfg. On LK_ERR_CONFIG, err says why (without the key name);
 * LK_ERR_NOMEM leaves err empty. cfg is unchanged on failure. */
static lk_status apply_value(lk_config *cfg, enum key_id id, const char *val, size_t len, char *err, size_t errsz)
{
    char q[QUOTE_BUF(QUOTE_MAX)];
    err[0] = '\0';
    if (memchr(val, '\0', len) != NULL) {
        snprintf(err, errsz, "value contains a NUL byte: '%s'", quote(val, len, q, QUOTE_MAX));
        return LK_ERR_CONFIG;
    }
    if (id == K_BACKEND) {
        const char *name = name_is("lmdb", val, len)         ? "lmdb"
                           : name_is("flatfile", val, len)   ? "flatfile"
                           : name_is("postgresql", val, len) ? "postgresql"
                                                             : NULL;
        if (name == NULL) {
            snprintf(err, errsz, "expected lmdb, flatfile or postgresql, got '%s'", quote(val, len, q, QUOTE_MAX));
            return LK_ERR_CONFIG;
        }
        char *dup = strdup(name);
        if (dup == NULL)
            return LK_ERR_NOMEM;
        free(cfg->backend);
        cfg->backend = dup;
        return LK_OK;
    }
    if (id == K_LOG_DENIALS) {
        for (unsigned i = 0; i < COUNT(log_denials_names); i++)
            if (name_is(log_denials_names[i], val, len)) {
                cfg->log_denials = i;
                return LK_OK;
            }
        snprintf(err, errsz, "expected none, first or all, got '%s'", quote(val, len, q, QUOTE_MAX));
        return LK_ERR_CONFIG;
    }
    if (id == K_HTTP_TRUSTED_PROXIES || id == K_HTTP_SERVICE_MAP || id == K_MANAGE_TRUSTED_PROXIES)
        return apply_http_list(cfg, id, val, len, err, errsz);
    if (is_list_key(id))
        return apply_id_list(cfg, id, val, len, err, errsz);
    if (id == K_HTTP_LISTEN || id == K_HTTP_APIKEY_HEADER || id == K_HTTP_CLIENT_IP_HEADER ||
        id == K_HTTP_SERVICE_HEADER || id == K_MANAGE_LISTEN || id == K_MANAGE_USER_HEADER) {
        bool is_listen = id == K_HTTP_LISTEN || id == K_MANAGE_LISTEN;
        if (is_listen ? !listen_ok(val, len) : !header_name_ok(val, len)) {
            snprintf(err, errsz,
                     is_listen ? "expected \"\" (off), IPv4:PORT or [IPv6]:PORT, got '%s'"
                                         : "expected an HTTP header name (up to 64 token characters) or \"\", got '%s'",
                     quote(val, len, q, QUOTE_MAX));
            return LK_ERR_CONFIG;
        }
        if ((id == K_HTTP_APIKEY_HEADER || id == K_MANAGE_USER_HEADER) && len == 13 &&
            strncasecmp(val, "Authorization", 13) == 0) {
            snprintf(err, errsz, "Authorization is always read (Bearer, Basic); name another header");
            return LK_ERR_CONFIG;
        }
        return set_text(cfg, id, val, len);
    }
    if (id == K_CONNINFO) {
        /* Checked by the backend (libpq parses it); never echoed: it may
         * hold what a password looks like. */
        if (len == 0 || len > 4096) {
            snprintf(err, errsz, "must be 1..4096 bytes, got %zu", len);
            return LK_ERR_CONFIG;
        }
        return set_text(cfg, id, val, len);
    }
    if (id == K_MANAGE_TLS_CERT || id == K_MANAGE_TLS_KEY || id == K_MANAGE_CONSOLE_DIR) {
        /* "" (no TLS; no console) or a PEM file or directory, made absolute against the file's dir */
        if (len >= PATH_MAX) {
            snprintf(err, errsz, "is %zu bytes long; at most %d are allowed", len, PATH_MAX - 1);
            return LK_ERR_CONFIG;
        }
        return set_text(cfg, id, val, len);
    }
    if (id == K_PATH || id == K_SOCKET) {
        if (len == 0) {
            snprintf(err, errsz, "must not be empty");
            return LK_ERR_CONFIG;
        }
        if (len >= PATH_MAX) {
            snprintf(err, errsz, "is %zu bytes long; at most %d are allowed", len, PATH_MAX - 1);
            return LK_ERR_CONFIG;
        }
        if (id == K_SOCKET && len >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
            snprintf(err, errsz, "is %zu bytes long; a UNIX socket path holds at most %zu", len,
                     sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
            return LK_ERR_CONFIG;
        }
        return set_text(cfg, id, val, len);
    }

    uint64_t min, max, v;
    bool overflow;
    key_bounds(id, &min, &max);
    if (!parse_decimal(val, len, &v, &overflow)) {
        snprintf(err, errsz, "expected an integer, got '%s' (decimal digits only, %" PRIu64 "..%" PRIu64 ")",
                 quote(val, len, q, QUOTE_MAX), min, max);
        return LK_ERR_CONFIG;
    }
    if (overflow || v < min || v > max) {
        snprintf(err, errsz, "%s is out of range (%" PRIu64 "..%" PRIu64 ")", quote(val, len, q, QUOTE_MAX), min,
                 max);
        return LK_ERR_CONFIG;
    }
    set_uint(cfg, id, v);
    return LK_OK;
}

/* ------------------------------------------------------------ allocation */

static lk_config *config_new(void)
{
    lk_config *cfg = calloc(1, sizeof *cfg);
    if (cfg == NULL)
        return NULL;
    cfg->backend = strdup("lmdb");
    cfg->store_path = strdup(LK_DEFAULT_STORE);
    if (cfg->backend == NULL || cfg->store_path == NULL) {
        lk_config_free(cfg);
        return NULL;
    }
    cfg->map_size = 1024 * MIB;
    /* Sized for what is hashed: 214 random bits (doc/security.md). */
    cfg->opslimit = LK_DEFAULT_OPSLIMIT;
    cfg->memlimit = LK_DEFAULT_MEMLIMIT;
    cfg->keys_per_user = 2;
    cfg->apikeys_per_account = 50;
    cfg->records_keep = LK_RECORDS_MAX;
    cfg->retention_days = 90;
    cfg->audit_retention_days = 365;
    cfg->flush_interval_ms = 1000;
    cfg->flush_batch = 4096; /* bench/RESULTS.md: a flush costs ~3 ms at any size; 4096 makes it rare */
    cfg->cache_entries = 10000;
    cfg->store_cache_entries = 100000;
    cfg->daemon_socket = strdup(LK_DEFAULT_SOCKET);
    cfg->daemon_allow_uids = strdup("");
    cfg->daemon_allow_gids = strdup("");
    cfg->http_listen = strdup("");
    cfg->http_apikey_header = strdup("X-Api-Key");
    cfg->http_client_ip_header = strdup("X-Forwarded-For");
    cfg->http_trusted_proxies = strdup("");
    cfg->http_service_header = strdup("X-Latchkey-Service");
    cfg->http_service_map = strdup("");
    cfg->manage_listen = strdup("");
    cfg->manage_tls_cert = strdup("");
    cfg->manage_tls_key = strdup("");
    cfg->manage_trusted_proxies = strdup("");
    cfg->manage_user_header = strdup("");
    cfg->manage_console_dir = strdup(LK_DEFAULT_CONSOLE_DIR);
    if (cfg->manage_console_dir == NULL || cfg->manage_listen == NULL || cfg->manage_tls_cert == NULL || cfg->manage_tls_key == NULL ||
        cfg->manage_trusted_proxies == NULL || cfg->manage_user_header == NULL) {
        lk_config_free(cfg);
        return NULL;
    }
    if (cfg->daemon_socket == NULL || cfg->daemon_allow_uids == NULL || cfg->daemon_allow_gids == NULL ||
        cfg->http_listen == NULL || cfg->http_apikey_header == NULL || cfg->http_client_ip_header == NULL ||
        cfg->http_trusted_proxies == NULL || cfg->http_service_header == NULL || cfg->http_service_map == NULL) {
        lk_config_free(cfg);
        return NULL;
    }
    cfg->daemon_workers = 2;
    cfg->argon2_workers = 2;
    cfg->argon2_queue = 64;
    cfg->throttle_failures = 10;
    cfg->throttle_window_s = 300;
    cfg->read_timeout_ms = 5000;
    cfg->idle_timeout_s = 600;
    cfg->max_connections = 1024;
    cfg->log_denials = LK_LOG_DENIALS_FIRST;
    cfg->http_threads = 2;
    cfg->http_max_connections = 1024;
    cfg->http_max_per_ip = 64;
    cfg->http_timeout_s = 10;
    cfg->http_basic_any_user = 0;
    cfg->manage_threads = 2;
    cfg->manage_max_connections = 256;
    cfg->manage_max_body = 65536;
    cfg->manage_timeout_s = 10;
    cfg->manage_session_idle_s = 900;
    cfg->manage_session_max_s = 28800;
    return cfg;
}

lk_status lk_config_default(lk_config **out)
{
    if (out == NULL)
        return lk_seterr(LK_ERR_PARAM, "lk_config_default: out is NULL");
    *out = config_new();
    if (*out == NULL)
        return lk_seterr(LK_ERR_NOMEM, "out of memory");
    return LK_OK;
}

void lk_config_free(lk_config *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->source);
    free(cfg->backend);
    free(cfg->store_path);
    free(cfg->daemon_socket);
    free(cfg->daemon_allow_uids);
    free(cfg->daemon_allow_gids);
    free(cfg->conninfo);
    for (enum key_id id = K_HTTP_LISTEN; id <= K_MANAGE_TIMEOUT; id++)
        if (str_field(cfg, id) != NULL)
            free(*str_field(cfg, id));
    free(cfg);
}

lk_status lk_config_set(lk_config *cfg, const char *key, const char *value)
{
    const struct section *sec;
    const struct keydef *kd;
    char q[QUOTE_BUF(QUOTE_MAX)], err[256], list[2048];

    if (cfg == NULL || key == NULL || value == NULL)
        return lk_seterr(LK_ERR_PARAM, "lk_config_set: %s is NULL", cfg == NULL ? "cfg" : key == NULL ? "key" : "value");
    if (!find_dotted(key, &sec, &kd))
        return lk_seterr(LK_ERR_CONFIG, "unknown key '%s' (expected one of: %s)", quote(key, strlen(key), q, QUOTE_MAX),
                         all_keys(list, sizeof list));
    lk_status st = apply_value(cfg, kd->id, value, strlen(value), err, sizeof err);
    if (st == LK_ERR_NOMEM)
        return lk_seterr(st, "out of memory");
    if (st != LK_OK)
        return lk_seterr(st, "%s.%s: %s", sec->name, kd->name, err);
    return LK_OK;
}

const char *lk_config_get(const lk_config *cfg, const char *key)
{
    const struct section *sec;
    const struct keydef *kd;
    if (cfg == NULL || key == NULL || !find_dotted(key, &sec, &kd))
        return NULL;
    if (str_field((lk_config *)cfg, kd->id) != NULL)
        return *str_field((lk_config *)cfg, kd->id);
    if (kd->id == K_LOG_DENIALS)
        return log_denials_names[cfg->log_denials < COUNT(log_denials_names) ? cfg->log_denials : 1];
    /* getbuf is scratch space inside the (always heap-allocated, never
     * const-defined) config, documented as not thread-safe per config. */
    char *buf = ((lk_config *)cfg)->getbuf;
    snprintf(buf, sizeof cfg->getbuf, "%" PRIu64, get_uint(cfg, kd->id));
    return buf;
}

/* ------------------------------------------------------------ the file */

struct pstate {
    yaml_parser_t parser;
    const char *path;             /* as the caller named it */
    char shown[QUOTE_BUF(QUOTE_PATH_MAX)]; /* path, escaped for messages */
    const unsigned char *buf;
    size_t len;
    char *dir;                    /* realpath of the file's directory, on first need */
    lk_config *cfg;
};

static lk_status perr(const struct pstate *ps, size_t line, const char *fmt, ...) LK_PRINTF(3, 4);

/* An error at a line of the file: "file:line: message". */
static lk_status perr(const struct pstate *ps, size_t line, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return lk_seterr(LK_ERR_CONFIG, "%s:%zu: %s", ps->shown, line, msg);
}

static size_t mark_line(const yaml_mark_t *m)
{
    return m->line + 1;
}

/* Reader errors (bad UTF-8, control bytes) carry a byte offset, not a mark. */
static size_t line_at_offset(const struct pstate *ps, size_t off)
{
    size_t line = 1;
    for (size_t i = 0; i < off && i < ps->len; i++)
        line += ps->buf[i] == '\n';
    return line;
}

/* libyaml puts end-of-input errors on the line after the last one; report
 * the file's last line instead, which an editor can jump to. */
static size_t clamp_line(const struct pstate *ps, size_t line)
{
    size_t last = line_at_offset(ps, ps->len);
    if (last > 1 && ps->len > 0 && ps->buf[ps->len - 1] == '\n')
        last--;
    return line > last ? last : line;
}

static lk_status syntax_error(const struct pstate *ps)
{
    const yaml_parser_t *p = &ps->parser;
    char extra[80] = "";
    if (p->error == YAML_MEMORY_ERROR)
        return lk_seterr(LK_ERR_NOMEM, "%s: out of memory while parsing", ps->shown);
    if (p->error == YAML_READER_ERROR) {
        if (p->problem_value != -1)
            snprintf(extra, sizeof extra, " (byte 0x%02x)", (unsigned)p->problem_value & 0xffu);
        return perr(ps, line_at_offset(ps, p->problem_offset), "YAML syntax error: %s%s",
                    p->problem ? p->problem : "unreadable input", extra);
    }
    size_t line = clamp_line(ps, mark_line(&p->problem_mark));
    if (p->context != NULL) {
        size_t cline = clamp_line(ps, mark_line(&p->context_mark));
        if (cline != line)
            snprintf(extra, sizeof extra, " (%s at line %zu)", p->context, cline);
        else
            snprintf(extra, sizeof extra, " (%s)", p->context);
    }
    return perr(ps, line, "YAML syntax error: %s%s", p->problem ? p->problem : "malformed input", extra);
}

static const char *event_what(const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_SCALAR_EVENT: return "a scalar";
    case YAML_SEQUENCE_START_EVENT: return "a sequence";
    case YAML_MAPPING_START_EVENT: return "a mapping";
    default: return "something else";
    }
}

/* The next event; refuses aliases, anchors and tags here, once for every
 * caller: they would let one value stand for another (or change its type)
 * out of sight of the reader of the file. On failure no event is held. */
static lk_status next_event(struct pstate *ps, yaml_event_t *ev)
{
    const yaml_char_t *anchor = NULL, *tag = NULL;
    if (!yaml_parser_parse(&ps->parser, ev))
        return syntax_error(ps);
    size_t line = mark_line(&ev->start_mark);
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        yaml_event_delete(ev);
        return perr(ps, line, "YAML aliases (*name) are not supported");
    case YAML_SCALAR_EVENT:
        anchor = ev->data.scalar.anchor;
        tag = ev->data.scalar.tag;
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = ev->data.sequence_start.anchor;
        tag = ev->data.sequence_start.tag;
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = ev->data.mapping_start.anchor;
        tag = ev->data.mapping_start.tag;
        break;
    default: break;
    }
    if (anchor != NULL) {
        yaml_event_delete(ev);
        return perr(ps, line, "YAML anchors (&name) are not supported");
    }
    if (tag != NULL) {
        yaml_event_delete(ev);
        return perr(ps, line, "YAML tags (!name) are not supported");
    }
    return LK_OK;
}

/* An empty plain scalar is YAML's null: "section:" with every key commented out. */
static bool is_null(const yaml_event_t *ev)
{
    return ev->type == YAML_SCALAR_EVENT && ev->data.scalar.length == 0 &&
           ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* Relative store paths are relative to the config file, not to whatever
 * directory the service happens to start in. */
static lk_status resolve_path(struct pstate *ps, size_t line, char **field, const char *what)
{
    const char *p = *field;
    if (p[0] == '/')
        return LK_OK;
    if (ps->dir == NULL) {
        char *copy = strdup(ps->path);
        if (copy == NULL)
            return lk_seterr(LK_ERR_NOMEM, "out of memory");
        ps->dir = realpath(dirname(copy), NULL);
        int e = errno;
        free(copy);
        if (ps->dir == NULL)
            return e == ENOMEM ? lk_seterr(LK_ERR_NOMEM, "out of memory")
                               : perr(ps, line, "%s: cannot resolve the directory of the config file: %s",
                                      what, strerror(e));
    }
    size_t dl = strlen(ps->dir), pl = strlen(p);
    bool sep = dl == 0 || ps->dir[dl - 1] != '/';
    if (dl + sep + pl >= PATH_MAX)
        return perr(ps, line, "%s: relative to %s it is longer than %d bytes", what, ps->dir, PATH_MAX - 1);
    char *abs = malloc(dl + sep + pl + 1);
    if (abs == NULL)
        return lk_seterr(LK_ERR_NOMEM, "out of memory");
    memcpy(abs, ps->dir, dl);
    if (sep)
        abs[dl] = '/';
    memcpy(abs + dl + sep, p, pl + 1);
    free(*field);
    *field = abs;
    return LK_OK;
}

/* A sequence of scalars for a list key: joined with ',' and checked like
 * the comma-separated form, so both spellings accept the same values. */
static lk_status parse_list(struct pstate *ps, const struct section *sec, const struct keydef *kd, size_t line)
{
    yaml_event_t ev;
    char err[256];
    char *joined = NULL;
    size_t len = 0;
    lk_status st;
    for (;;) {
        if ((st = next_event(ps, &ev)) != LK_OK)
            goto out;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (ev.type != YAML_SCALAR_EVENT || ev.data.scalar.length == 0 ||
            memchr(ev.data.scalar.value, ',', ev.data.scalar.length) != NULL || len > 65536) {
            st = perr(ps, mark_line(&ev.start_mark), "%s.%s: expected a list of %s, got %s", sec->name,
                      kd->name, kd->id == K_ALLOW_UIDS || kd->id == K_ALLOW_GIDS ? "numbers" : "entries", ev.type == YAML_SCALAR_EVENT ? "a bad entry" : event_what(&ev));
            yaml_event_delete(&ev);
            goto out;
        }
        char *grown = realloc(joined, len + ev.data.scalar.length + 2);
        if (grown == NULL) {
            yaml_event_delete(&ev);
            st = lk_seterr(LK_ERR_NOMEM, "out of memory");
            goto out;
        }
        joined = grown;
        if (len)
            joined[len++] = ',';
        memcpy(joined + len, ev.data.scalar.value, ev.data.scalar.length);
        len += ev.data.scalar.length;
        yaml_event_delete(&ev);
    }
    st = apply_value(ps->cfg, kd->id, joined ? joined : "", len, err, sizeof err);
    if (st == LK_ERR_NOMEM)
        st = lk_seterr(st, "out of memory");
    else if (st != LK_OK)
        st = perr(ps, line, "%s.%s: %s", sec->name, kd->name, err);
out:
    free(joined);
    return st;
}

/* The keys of sec written "prefix.name" (daemon's http.*) may also be
 * written as a nested mapping "prefix: {name: ...}": true when name is such
 * a prefix. */
static bool is_subsection(const struct section *sec, const void *name, size_t len)
{
    for (size_t i = 0; i < sec->nkeys; i++)
        if (strlen(sec->keys[i].name) > len && memcmp(sec->keys[i].name, name, len) == 0 &&
            sec->keys[i].name[len] == '.')
            return true;
    return false;
}

static lk_status parse_keys(struct pstate *ps, const struct section *sec, const char *prefix, uint64_t *seen);

/* One key's value (the key's event consumed). */
static lk_status parse_value(struct pstate *ps, const struct section *sec, const struct keydef *kd)
{
    yaml_event_t ev;
    char err[256];
    lk_status st = next_event(ps, &ev);
    if (st != LK_OK)
        return st;
    size_t line = mark_line(&ev.start_mark);
    if (ev.type == YAML_SEQUENCE_START_EVENT && is_list_key(kd->id)) {
        yaml_event_delete(&ev);
        return parse_list(ps, sec, kd, line);
    }
    if (ev.type != YAML_SCALAR_EVENT) {
        st = perr(ps, line, "%s.%s: expected a single value, got %s", sec->name, kd->name, event_what(&ev));
        yaml_event_delete(&ev);
        return st;
    }
    st = apply_value(ps->cfg, kd->id, (const char *)ev.data.scalar.value, ev.data.scalar.length, err, sizeof err);
    yaml_event_delete(&ev);
    if (st == LK_ERR_NOMEM)
        return lk_seterr(st, "out of memory");
    if (st != LK_OK)
        return perr(ps, line, "%s.%s: %s", sec->name, kd->name, err);
    if (kd->id == K_PATH && (st = resolve_path(ps, line, &ps->cfg->store_path, "store.path")) != LK_OK)
        return st;
    if (kd->id == K_SOCKET && (st = resolve_path(ps, line, &ps->cfg->daemon_socket, "daemon.socket")) != LK_OK)
        return st;
    if ((kd->id == K_MANAGE_TLS_CERT || kd->id == K_MANAGE_TLS_KEY) && *str_field(ps->cfg, kd->id)[0] != '\0' &&
        (st = resolve_path(ps, line, str_field(ps->cfg, kd->id), kd->id == K_MANAGE_TLS_CERT ? "daemon.manage.tls_cert" : "daemon.manage.tls_key")) != LK_OK)
        return st;
    if (kd->id == K_MANAGE_CONSOLE_DIR && *str_field(ps->cfg, kd->id)[0] != '\0' &&
        (st = resolve_path(ps, line, str_field(ps->cfg, kd->id), "daemon.manage.console_dir")) != LK_OK)
        return st;
    return LK_OK;
}

/* The keys of a mapping whose start was consumed, up to its end; prefix ""
 * for the section itself, "http." inside a nested mapping. */
static lk_status parse_keys(struct pstate *ps, const struct section *sec, const char *prefix, uint64_t *seen)
{
    yaml_event_t ev;
    char q[QUOTE_BUF(QUOTE_MAX)], list[1024], name[128];
    lk_status st;
    for (;;) {
        if ((st = next_event(ps, &ev)) != LK_OK)
            return st;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            return LK_OK;
        }
        size_t line = mark_line(&ev.start_mark);
        if (ev.type != YAML_SCALAR_EVENT) {
            st = perr(ps, line, "%s: expected a key name, got %s", sec->name, event_what(&ev));
            yaml_event_delete(&ev);
            return st;
        }
        size_t plen = strlen(prefix), klen = ev.data.scalar.length;
        const struct keydef *kd = NULL;
        bool sub = false;
        if (plen + klen < sizeof name && memchr(ev.data.scalar.value, '\0', klen) == NULL) {
            memcpy(name, prefix, plen);
            memcpy(name + plen, ev.data.scalar.value, klen);
            name[plen + klen] = '\0';
            kd = find_key(sec, name, plen + klen);
            sub = kd == NULL && plen == 0 && is_subsection(sec, name, klen);
        }
        if (kd == NULL && !sub) {
            st = perr(ps, line, "unknown key '%s.%s%s' (expected one of: %s)", sec->name, prefix,
                      quote(ev.data.scalar.value, ev.data.scalar.length, q, QUOTE_MAX),
                      key_list(sec, prefix, list, sizeof list));
            yaml_event_delete(&ev);
            return st;
        }
        yaml_event_delete(&ev);
        if (sub) {
            if ((st = next_event(ps, &ev)) != LK_OK)
                return st;
            bool map = ev.type == YAML_MAPPING_START_EVENT, null = is_null(&ev);
            if (!map && !null) {
                st = perr(ps, mark_line(&ev.start_mark), "%s.%s: expected a mapping of %s.%s settings, got %s",
                          sec->name, name, sec->name, name, event_what(&ev));
                yaml_event_delete(&ev);
                return st;
            }
            yaml_event_delete(&ev);
            memcpy(name + klen, ".", 2);
            if (map && (st = parse_keys(ps, sec, name, seen)) != LK_OK)
                return st;
            continue;
        }
        uint64_t bit = UINT64_C(1) << (kd - sec->keys); /* a section has at most 64 keys */
        if (*seen & bit)
            return perr(ps, line, "duplicate key '%s.%s'", sec->name, kd->name);
        *seen |= bit;
        if ((st = parse_value(ps, sec, kd)) != LK_OK)
            return st;
    }
}

/* One section's value: a mapping of key: scalar (or null, meaning no keys). */
static lk_status parse_section(struct pstate *ps, const struct section *sec)
{
    yaml_event_t ev;
    char q[QUOTE_BUF(QUOTE_MAX)];
    uint64_t seen = 0;
    lk_status st = next_event(ps, &ev);
    if (st != LK_OK)
        return st;
    if (is_null(&ev)) {
        yaml_event_delete(&ev);
        return LK_OK;
    }
    if (ev.type != YAML_MAPPING_START_EVENT) {
        size_t line = mark_line(&ev.start_mark);
        if (ev.type == YAML_SCALAR_EVENT)
            quote(ev.data.scalar.value, ev.data.scalar.length, q, QUOTE_MAX);
        st = perr(ps, line, "%s: expected a mapping of %s settings, got %s%s%s%s", sec->name, sec->name,
                  event_what(&ev), ev.type == YAML_SCALAR_EVENT ? " '" : "", ev.type == YAML_SCALAR_EVENT ? q : "",
                  ev.type == YAML_SCALAR_EVENT ? "'" : "");
        yaml_event_delete(&ev);
        return st;
    }
    yaml_event_delete(&ev);
    return parse_keys(ps, sec, "", &seen);
}

/* The top-level mapping: section names to sections. */
static lk_status parse_top(struct pstate *ps)
{
    yaml_event_t ev;
    char q[QUOTE_BUF(QUOTE_MAX)], list[128];
    unsigned seen = 0;
    for (;;) {
        lk_status st = next_event(ps, &ev);
        if (st != LK_OK)
            return st;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            return LK_OK;
        }
        size_t line = mark_line(&ev.start_mark);
        if (ev.type != YAML_SCALAR_EVENT) {
            st = perr(ps, line, "expected a section name, got %s", event_what(&ev));
            yaml_event_delete(&ev);
            return st;
        }
        const struct section *sec = find_section(ev.data.scalar.value, ev.data.scalar.length);
        if (sec == NULL) {
            st = perr(ps, line, "unknown key '%s' (expected one of: %s)",
                      quote(ev.data.scalar.value, ev.data.scalar.length, q, QUOTE_MAX),
                      key_list(NULL, "", list, sizeof list));
            yaml_event_delete(&ev);
            return st;
        }
        yaml_event_delete(&ev);
        unsigned bit = 1u << (sec - sections);
        if (seen & bit)
            return perr(ps, line, "duplicate key '%s'", sec->name);
        seen |= bit;
        if ((st = parse_section(ps, sec)) != LK_OK)
            return st;
    }
}

/* stream-start, then nothing (empty file, comments only) or one document
 * holding a mapping (or null, for a bare "---"), then stream-end. */
static lk_status parse_stream(struct pstate *ps)
{
    yaml_event_t ev;
    lk_status st;
    if ((st = next_event(ps, &ev)) != LK_OK)
        return st;
    yaml_event_delete(&ev); /* stream start */
    if ((st = next_event(ps, &ev)) != LK_OK)
        return st;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        return LK_OK;
    }
    yaml_event_delete(&ev); /* document start */
    if ((st = next_event(ps, &ev)) != LK_OK)
        return st;
    if (ev.type == YAML_MAPPING_START_EVENT) {
        yaml_event_delete(&ev);
        if ((st = parse_top(ps)) != LK_OK)
            return st;
    } else if (is_null(&ev)) {
        yaml_event_delete(&ev);
    } else {
        st = perr(ps, mark_line(&ev.start_mark),
                  "the top level must be a mapping of sections (store:, hash:, limits:, records:, cache:, daemon:, audit:), got %s",
                  event_what(&ev));
        yaml_event_delete(&ev);
        return st;
    }
    if ((st = next_event(ps, &ev)) != LK_OK)
        return st;
    yaml_event_delete(&ev); /* document end */
    if ((st = next_event(ps, &ev)) != LK_OK)
        return st;
    if (ev.type != YAML_STREAM_END_EVENT) {
        st = perr(ps, mark_line(&ev.start_mark), "only one YAML document is allowed");
        yaml_event_delete(&ev);
        return st;
    }
    yaml_event_delete(&ev);
    return LK_OK;
}

/* The whole file into memory (bounded), refusing what is not a regular file. */
static lk_status read_config_file(const char *path, const char *shown, unsigned char **out, size_t *outlen)
{
    struct stat sb;
    *out = NULL;
    /* O_NONBLOCK: opening a FIFO must not hang; it is refused below. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return lk_seterr(LK_ERR_CONFIG, "cannot open config file %s: %s", shown, strerror(errno));
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return lk_seterr(LK_ERR_CONFIG, "cannot stat config file %s: %s", shown, strerror(e));
    }
    if (S_ISDIR(sb.st_mode)) {
        close(fd);
        return lk_seterr(LK_ERR_CONFIG, "cannot read config file %s: %s", shown, strerror(EISDIR));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return lk_seterr(LK_ERR_CONFIG, "config file %s is not a regular file", shown);
    }
    if (sb.st_size > CONFIG_MAX_BYTES) {
        close(fd);
        return lk_seterr(LK_ERR_CONFIG, "config file %s is %lld bytes; at most %d are allowed", shown,
                         (long long)sb.st_size, CONFIG_MAX_BYTES);
    }
    /* Read up to one byte past the limit: the file may grow after fstat. */
    size_t cap = (size_t)sb.st_size + 1, len = 0;
    unsigned char *buf = malloc(cap);
    if (buf == NULL) {
        close(fd);
        return lk_seterr(LK_ERR_NOMEM, "out of memory");
    }
    for (;;) {
        if (len == cap) {
            if (cap > CONFIG_MAX_BYTES)
                break;
            size_t ncap = cap * 2 > CONFIG_MAX_BYTES + 1 ? CONFIG_MAX_BYTES + 1 : cap * 2;
            unsigned char *nb = realloc(buf, ncap);
            if (nb == NULL) {
                free(buf);
                close(fd);
                return lk_seterr(LK_ERR_NOMEM, "out of memory");
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return lk_seterr(LK_ERR_CONFIG, "cannot read config file %s: %s", shown, strerror(e));
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    if (len > CONFIG_MAX_BYTES) {
        free(buf);
        return lk_seterr(LK_ERR_CONFIG, "config file %s is larger than %d bytes", shown, CONFIG_MAX_BYTES);
    }
    *out = buf;
    *outlen = len;
    return LK_OK;
}

lk_status lk_config_load(const char *path, lk_config **out)
{
    struct pstate ps;
    unsigned char *buf = NULL;
    size_t len = 0;
    lk_status st;

    if (out == NULL)
        return lk_seterr(LK_ERR_PARAM, "lk_config_load: out is NULL");
    *out = NULL;
    if (path == NULL)
        path = LK_DEFAULT_CONFIG;

    memset(&ps, 0, sizeof ps);
    ps.path = path;
    quote(path, strlen(path), ps.shown, QUOTE_PATH_MAX);
    if ((st = read_config_file(path, ps.shown, &buf, &len)) != LK_OK)
        return st;
    ps.buf = buf;
    ps.len = len;
    ps.cfg = config_new();
    if (ps.cfg == NULL || (ps.cfg->source = strdup(path)) == NULL) {
        lk_config_free(ps.cfg);
        free(buf);
        return lk_seterr(LK_ERR_NOMEM, "out of memory");
    }
    if (!yaml_parser_initialize(&ps.parser)) {
        lk_config_free(ps.cfg);
        free(buf);
        return lk_seterr(LK_ERR_NOMEM, "out of memory");
    }
    yaml_parser_set_input_string(&ps.parser, buf, len);
    st = parse_stream(&ps);
    yaml_parser_delete(&ps.parser);
    free(ps.dir);
    free(buf);
    if (st != LK_OK) {
        lk_config_free(ps.cfg);
        return st;
    }
    *out = ps.cfg;
    return LK_OK;
}
