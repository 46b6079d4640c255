/*
 * postgresql.c — the PostgreSQL backend, through libpq: one store shared by
 * every machine of a fleet.
 *
 * The map is one table, latchkey_kv (key bytea primary key, value bytea),
 * beside latchkey_schema (one row: the schema version, and the writers'
 * lock). Only the create path (lk_store_create, `latchkey init`) creates,
 * repairs or upgrades them; any other open checks the version and refuses
 * a store without a schema (run `latchkey init`) or with a newer one than
 * this code knows.
 *
 * Transactions:
 *  - read: BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY, a snapshot for
 *    the whole txn, as the vtable promises; begun at the first read the
 *    record cache cannot answer (see "the record cache" below).
 *  - write: BEGIN (READ COMMITTED) then SELECT ... FROM latchkey_schema
 *    FOR UPDATE (the schema row; on a version 1 store also version 1's
 *    pg_advisory_xact_lock, see PG_SCHEMA_VERSION), waiting at most
 *    lock_timeout: writers of every process on every machine go one at a
 *    time, the vtable's contract (LMDB's single writer). The core runs a whole
 *    read-check-write (at most 2 access keys per user, unique names) in one
 *    write txn; with the lock held no other writer can change what it read,
 *    so the rule holds fleet-wide, and no serialization failure (40001) can
 *    happen that the core would have to redo the txn for. READ COMMITTED,
 *    not REPEATABLE READ: its snapshot is taken per statement, after the
 *    lock is granted, so every read sees all earlier writers' commits (a
 *    REPEATABLE READ snapshot would date from before the wait).
 *    Readers never wait for the lock. The price: write throughput is one
 *    txn at a time per store, which is what the other backends give too.
 *
 * Connections: each handle keeps a small pool of idle PGconns; a txn takes
 * one (or connects) at begin and gives it back at its end, so threads share
 * a handle and one thread may hold a read txn while it starts another (the
 * generic suite does). A conn whose query failed at the connection level is
 * closed, never pooled; a begin that finds a dead pooled conn drops every
 * idle one (a restarted server killed them all) and connects afresh, so the
 * next call after an outage reconnects by itself. After a failed connect
 * the next attempts wait 50 ms, doubling up to 2 s; meanwhile a begin fails
 * at once with the last connect error (fail closed, no pile-up of
 * connects timing out). A failure inside a txn
 * fails that txn (the verify path then fails closed with LK_ERR_STORE).
 * Errors name the server as host:port/db with libpq's last line
 * (Dovecot's driver-pgsql habit); the conninfo itself is never echoed, and
 * one that carries a password is refused (use a passfile).
 *
 * Values returned by get/scan point into PGresults that the txn keeps until
 * it ends.
 *
 * Round trips: a write txn does not send each put. Puts wait in the txn
 * (one per key: a second put of a key replaces the first) and go as one
 * INSERT ... SELECT FROM unnest(keys, values) per PG_PUT_BATCH rows, before
 * a delete or a scan (which must see them) and at commit; a get answers
 * from them first. The core's prefetch hint (the access-record flush:
 * two reads per key) becomes one SELECT ... WHERE key = ANY(keys), and a
 * txn's notifications one SELECT pg_notify(...) FROM unnest(payloads). A
 * flush of 1000 keys' records is then a handful of round trips, not 3000.
 * A put's failure is reported by the call that sent it, and fails the txn.
 *
 * fork(): a child must not talk on its parent's sockets (a Terminate would
 * end the parent's sessions). Closing an inherited handle only closes the
 * child's copies of the idle sockets and leaks the PGconn objects.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "lk_backend.h"
#include "lk_error.h"

/* Version 2: writers lock latchkey_schema's row (SELECT ... FOR UPDATE,
 * which needs UPDATE on the table: latchkey's role, not any role that can
 * connect). Version 1's writers took pg_advisory_xact_lock(PG_LOCK_KEY),
 * a lock any connected role can take and hold; on a version 1 store
 * writers take both, so processes of an older latchkey still exclude them
 * until `latchkey init` upgrades it. */
#define PG_SCHEMA_VERSION 2
/* How long a writer waits for the write lock when neither the role
 * (ALTER ROLE ... SET lock_timeout) nor the conninfo (options='-c
 * lock_timeout=...') sets one. */
#define PG_LOCK_TIMEOUT "10s"
#define PG_MAX_KEY 511         /* the same limit as LMDB's, so stores can be copied */
#define PG_POOL_MAX 8          /* idle connections kept per handle */
/* pg_advisory_xact_lock key of version 1's single writer: "latchkey" in ASCII. */
#define PG_LOCK_KEY "7809643707706734969"

/* NOTIFY channel of every committed change, and the limits of what one
 * write txn lists in its notifications before it says "drop everything". */
#define PG_CHANNEL "latchkey_kv"
#define PG_NOTIFY_CHUNK 7900             /* a payload stays under the server's 8000 bytes */
#define PG_NOTIFY_MAX (256 * 1024)       /* keys listed per txn; more: one "*" (drop all) */
#define PG_STRIPES 64                    /* cache stripes, each with its mutex and LRU list */
#define PG_PUT_BATCH 1000                /* rows per INSERT of a write txn's waiting puts */
#define PG_PUT_BATCH_BYTES (8u << 20)    /* ...or this many key and value bytes */
#define PG_PREFETCH_BATCH 5000           /* keys per SELECT of a prefetch */
#define PG_OID_BYTEA 17                  /* element types of the binary arrays sent */
#define PG_OID_TEXT 25
/* A drain of the listener that meets more than this many notifications, or
 * takes longer, gives up: the listener is closed (its backlog with it) and
 * the cache dropped, so reads go to the server until it listens again. */
#define PG_DRAIN_MAX 10000
#define PG_DRAIN_MS 1000
/* Reconnect backoff (query pool and listener): 50 ms doubling to 2 s. */
#define PG_BACKOFF_MIN_MS 50
#define PG_BACKOFF_MAX_MS 2000

typedef struct kv_entry {
    struct kv_entry *hnext;            /* hash chain */
    struct kv_entry *prev, *next;      /* LRU list of the stripe, most recent first */
    uint64_t hash;
    size_t klen, vlen;
    bool absent;                       /* a negative entry: the key does not exist */
    char data[];                       /* key, then value */
} kv_entry;

typedef struct kv_stripe {
    pthread_mutex_t mu;
    kv_entry **buckets;                /* nbuckets, a power of two */
    size_t nbuckets, n, cap;
    kv_entry *head, *tail;
} kv_stripe;

typedef struct kv_cache {
    kv_stripe s[PG_STRIPES];
    /* Bumped by every invalidation (and by the listener going down or up),
     * under the stripe lock of what it invalidates: a read that went to the
     * server stores its value only if gen is what it was before its
     * snapshot was taken, so a value older than an invalidation that has
     * already been applied is never put back. */
    atomic_uint_fast64_t gen;
} kv_cache;

/* Reconnect pacing after a failed connect. */
typedef struct backoff {
    int64_t next_ms;                   /* no attempt before this (CLOCK_MONOTONIC ms) */
    int delay_ms;                      /* 0: connected, or never failed */
} backoff;

typedef struct pg_handle {
    struct pg_handle *next_cached; /* in the process's list of handles with a cache */
    char *conninfo;
    int read_only;
    pid_t pid;               /* the process that opened it */
    pthread_mutex_t lock;    /* guards pool, npool, server, down, down_msg */
    PGconn *pool[PG_POOL_MAX];
    size_t npool;
    char server[256];        /* host:port/db of the last connection, for messages */
    backoff down;            /* query connections: after a failed connect */
    char down_msg[512];      /* that failure, repeated while backing off */
    long long lock_ms;       /* the sessions' lock_timeout, for messages */
    /* The record cache (NULL: store.cache_entries 0) and its listener. */
    kv_cache *cache;
    pthread_mutex_t lmu;     /* guards lconn, lback, lgen; trylock'ed by readers */
    PGconn *lconn;           /* LISTENing connection, NULL while down */
    uint64_t lgen;           /* bumped when lconn changes (the drainer's poll set) */
    /* The background drainer (started with the first listener): keeps an
     * idle process's listener read, so its server session never blocks
     * writing to it and stalls the server's notification queue. */
    pthread_t lthread;
    bool lthread_on;
    int lwake[2];            /* pipe: lconn changed, or stop */
    atomic_bool lstop;
    bool lnotice;            /* the server said something unasked on lconn */
    backoff lback;
    atomic_bool listening;   /* lconn is up: cached values may be served */
    bool listened;           /* lconn was up once (under lmu) */
    atomic_uint read_txns;   /* read txns begun, counted up to 2 */
    /* The readers' lock-free check (listener_poll): lseq is odd while a
     * thread holds lmu (so while it may be reading the listener or changing
     * lconn), and lfd is lconn's socket (-1: down), set under lmu. */
    _Atomic uint64_t lseq;
    _Atomic int lfd;
} pg_handle;

typedef struct pg_txn {
    pg_handle *h;
    PGconn *c;
    bool write;
    bool broken;             /* the conn failed: close it instead of pooling it */
    bool failed;             /* a statement failed: PostgreSQL aborted the txn */
    /* Bumped by put/del of any key but the row a scan's callback is at
     * (scan_key), so the scan reads again only after a write that may
     * change the rows still to come: a store copy --replace deleting row
     * after row reads the table once, not once per row. */
    unsigned long writes;
    const char *scan_key;
    size_t scan_klen;
    /* Kept until the txn ends (get/scan pointers): PGresults, and the
     * malloc'd copies of cached values. */
    struct kept { void *p; bool result; } *kept;
    size_t nkept, capkept;
    struct kept kept_few[4]; /* kept's first block: a verify keeps one or two (no realloc per verify) */
    uint64_t gen_begin;      /* read txn: the cache's gen at begin */
    uint64_t gen0;           /* read txn: the cache's gen before its snapshot */
    bool cacheable;          /* read txn: values it reads may go into the cache */
    bool served;             /* read txn: answered a get from the cache */
    char *chg;               /* write txn: changed keys, each followed by '\n' */
    size_t chglen, chgcap;
    bool chg_all;            /* write txn: too many, or unprintable: notify "*" */
    /* Write txn: puts not sent yet (one per key; blocks of key then value;
     * lent: a get returned it, so it is kept until the txn ends, else freed
     * once sent; del: a delete of a key known to exist, sent in one DELETE
     * per batch before the puts), and their index by key hash (open
     * addressing, entries + 1, 0 empty). */
    struct pend { char *kv; size_t klen, vlen; bool lent, del; } *pend;
    size_t npend, cappend, pend_bytes;
    uint32_t *pend_ix;
    size_t pend_ixcap;
    /* Write txn: prefetched keys, sorted. Values point into kept PGresults,
     * keys into kept blocks. A put makes its key's entry unknown (the
     * server or the waiting puts answer); a delete makes it absent. */
    struct pre { const char *k; size_t klen; const char *v; size_t vlen; enum { PRE_ABSENT, PRE_VALUE, PRE_UNKNOWN } state; } *pre;
    size_t npre;
} pg_txn;

/* ------------------------------------------------------------ messages */

/* libpq's message on one line: its lines (PostgreSQL 15 puts the failed
 * socket on one and a hint on the next) joined by "; ", without tabs or the
 * trailing newline, so the admin tool reports it in one line. */
static void one_line(const char *msg, char *out, size_t outsz)
{
    size_t o = 0;
    bool sep = false;
    if (msg == NULL || *msg == '\0')
        msg = "(no error message)";
    for (const char *p = msg; *p != '\0' && o + 3 < outsz; p++) {
        if (*p == '\n' || *p == '\r' || *p == '\t') {
            sep = sep || *p == '\n';
            continue;
        }
        if (sep && o > 0) {
            out[o++] = ';';
            out[o++] = ' ';
        }
        sep = false;
        out[o++] = *p;
    }
    while (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
}

static void set_server(pg_handle *h, PGconn *c)
{
    const char *host = PQhost(c), *port = PQport(c), *db = PQdb(c);
    pthread_mutex_lock(&h->lock);
    snprintf(h->server, sizeof h->server, "%s:%s/%s", host && *host ? host : "localhost",
             port && *port ? port : "5432", db ? db : "?");
    pthread_mutex_unlock(&h->lock);
}

static void server_of(pg_handle *h, char *out, size_t outsz)
{
    pthread_mutex_lock(&h->lock);
    snprintf(out, outsz, "%s", h->server);
    pthread_mutex_unlock(&h->lock);
}

static bool conn_lost(PGconn *c, const PGresult *r)
{
    if (PQstatus(c) == CONNECTION_BAD)
        return true;
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    /* 08: connection exception; 57P0x: the server is shutting down or restarting */
    return state == NULL || strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0;
}

static lk_status status_of(const PGresult *r)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (state == NULL)
        return LK_ERR_STORE;
    if (strncmp(state, "53", 2) == 0) /* insufficient resources: disk full, out of memory */
        return LK_ERR_STORE_FULL;
    if (strcmp(state, "42501") == 0 || strcmp(state, "25006") == 0) /* no privilege; read-only txn */
        return LK_ERR_STORE_PERM;
    return LK_ERR_STORE;
}

/* A failed query: the message names the server, what was being done and
 * libpq's error, on one line. */
static lk_status query_err(pg_handle *h, PGconn *c, const PGresult *r, const char *what)
{
    char server[256], msg[400];
    server_of(h, server, sizeof server);
    const char *m = r ? PQresultErrorMessage(r) : NULL;
    one_line(m && *m ? m : PQerrorMessage(c), msg, sizeof msg);
    return lk_seterr(status_of(r), "postgresql store %s: %s: %s", server, what, msg);
}

/* ------------------------------------------------------------ connections */

static void no_notices(void *arg, const char *message)
{
    (void)arg, (void)message; /* "relation already exists, skipping" is not for stderr */
}

static bool ok_result(const PGresult *r)
{
    ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

/* A duration as the server shows a setting ("500ms", "10s", "2min"), in ms. */
static long long timeout_ms(const char *v)
{
    char *end;
    long long n = strtoll(v, &end, 10);
    static const struct { const char *unit; long long ms; } units[] = {
        {"us", 0}, {"ms", 1}, {"s", 1000}, {"min", 60000}, {"h", 3600000}, {"d", 86400000}, {"", 1}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(end, units[i].unit) == 0)
            return units[i].ms ? n * units[i].ms : n / 1000;
    return n;
}

/* A statement that waited for a lock past lock_timeout (55P03): what lock,
 * how long, and what to do. */
static bool lock_timed_out(const PGresult *r)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    return state != NULL && strcmp(state, "55P03") == 0;
}

static lk_status lock_err(pg_handle *h)
{
    char server[256];
    long long ms;
    server_of(h, server, sizeof server);
    pthread_mutex_lock(&h->lock);
    ms = h->lock_ms;
    pthread_mutex_unlock(&h->lock);
    return lk_seterr(LK_ERR_STORE,
                     "postgresql store %s: the store's write lock was not obtained within %lld ms (another "
                     "session holds it: see pg_locks for latchkey_schema; lock_timeout sets the wait)",
                     server, ms);
}

static lk_status connect_new(pg_handle *h, PGconn **out)
{
    /* The conninfo comes last, so its own connect_timeout wins; expand_dbname
     * makes libpq read "dbname" as a whole conninfo (or URI, or service=). */
    /* TCP keepalives: a peer that vanished without a FIN (a partitioned
     * network) is noticed within about a minute, by the listener too. */
    const char *const kw[] = {"connect_timeout", "application_name", "keepalives_idle", "keepalives_interval",
                              "keepalives_count", "dbname", NULL};
    const char *const val[] = {"5", "latchkey", "30", "10", "3", h->conninfo, NULL};
    PGconn *c = PQconnectdbParams(kw, val, 1);
    if (c == NULL)
        return lk_seterr(LK_ERR_NOMEM, "postgresql store: out of memory connecting");
    set_server(h, c);
    if (PQstatus(c) != CONNECTION_OK) {
        char server[256], msg[400];
        server_of(h, server, sizeof server);
        one_line(PQerrorMessage(c), msg, sizeof msg);
        PQfinish(c);
        return lk_seterr(LK_ERR_STORE, "postgresql store %s: cannot connect: %s", server, msg);
    }
    PQsetNoticeProcessor(c, no_notices, NULL);
    /* A writer that stops mid-txn (SIGSTOP, a hung host) would hold the
     * writers' lock for the whole fleet: the server ends such a session
     * after a minute. The core's txns last milliseconds. A writer waits
     * for the lock at most lock_timeout (PG_LOCK_TIMEOUT unless the role or
     * the conninfo set one), then fails with a clear error, not a hang. */
    PGresult *r = PQexec(c, "SELECT set_config('idle_in_transaction_session_timeout', '60s', false), "
                            "set_config('lock_timeout', CASE current_setting('lock_timeout') WHEN '0' THEN '" PG_LOCK_TIMEOUT
                            "' ELSE current_setting('lock_timeout') END, false)");
    bool ok = ok_result(r) && PQntuples(r) == 1;
    if (ok) {
        long long ms = timeout_ms(PQgetvalue(r, 0, 1));
        pthread_mutex_lock(&h->lock);
        h->lock_ms = ms;
        pthread_mutex_unlock(&h->lock);
    }
    PQclear(r);
    if (!ok) {
        char server[256], msg[400];
        server_of(h, server, sizeof server);
        one_line(PQerrorMessage(c), msg, sizeof msg);
        PQfinish(c);
        return lk_seterr(LK_ERR_STORE, "postgresql store %s: setting up the session: %s", server, msg);
    }
    *out = c;
    return LK_OK;
}

static PGconn *pool_take(pg_handle *h)
{
    PGconn *c = NULL;
    pthread_mutex_lock(&h->lock);
    if (h->npool > 0)
        c = h->pool[--h->npool];
    pthread_mutex_unlock(&h->lock);
    return c;
}

static void pool_give(pg_handle *h, PGconn *c)
{
    pthread_mutex_lock(&h->lock);
    if (h->npool < PG_POOL_MAX) {
        h->pool[h->npool++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&h->lock);
    if (c != NULL)
        PQfinish(c);
}

/* After a connection-level failure the other idle conns are most likely dead
 * too (the server restarted): drop them all. */
static void pool_flush(pg_handle *h)
{
    PGconn *dead[PG_POOL_MAX];
    size_t n;
    pthread_mutex_lock(&h->lock);
    n = h->npool;
    memcpy(dead, h->pool, n * sizeof dead[0]);
    h->npool = 0;
    pthread_mutex_unlock(&h->lock);
    for (size_t i = 0; i < n; i++)
        PQfinish(dead[i]);
}

/* Run a command without parameters; LK_OK when it returned cmd_ok or tuples. */
static PGresult *run(PGconn *c, const char *sql)
{
    return PQexec(c, sql);
}


/* ------------------------------------------------------------ pacing */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void backoff_failed(backoff *b)
{
    b->delay_ms = b->delay_ms == 0 ? PG_BACKOFF_MIN_MS
                  : b->delay_ms >= PG_BACKOFF_MAX_MS / 2 ? PG_BACKOFF_MAX_MS
                                                         : b->delay_ms * 2;
    b->next_ms = now_ms() + b->delay_ms;
}

/* Milliseconds still to wait before the next attempt; 0: try now. */
static int64_t backoff_left(const backoff *b)
{
    if (b->delay_ms == 0)
        return 0;
    int64_t left = b->next_ms - now_ms();
    return left > 0 ? left : 0;
}

/* A query connection, or the error of the last failed attempt while the
 * backoff after it lasts: a server that is down is not hammered by every
 * verify, and verifies fail closed at once instead of each waiting for a
 * connect to time out. */
static lk_status connect_paced(pg_handle *h, PGconn **out)
{
    char msg[sizeof h->down_msg];
    pthread_mutex_lock(&h->lock);
    int64_t left = backoff_left(&h->down);
    if (left > 0)
        snprintf(msg, sizeof msg, "%s", h->down_msg);
    pthread_mutex_unlock(&h->lock);
    if (left > 0)
        return lk_seterr(LK_ERR_STORE, "%s (next attempt in %lld ms)", msg, (long long)left);
    lk_status st = connect_new(h, out);
    pthread_mutex_lock(&h->lock);
    if (st == LK_OK) {
        h->down.delay_ms = 0;
    } else {
        snprintf(h->down_msg, sizeof h->down_msg, "%s", lk_errmsg(NULL));
        backoff_failed(&h->down);
    }
    pthread_mutex_unlock(&h->lock);
    return st;
}

/* ------------------------------------------------------------ the record cache
 *
 * What this process has read, key -> value or "absent", kept until a
 * notification names the key. Every write txn sends the keys it changed
 * with pg_notify() in the same txn (so the notification exists if and only
 * if the change committed), in payloads "K\nkey1\nkey2\n..." of at most
 * PG_NOTIFY_CHUNK bytes, or "*" (drop everything) when it changed more
 * than PG_NOTIFY_MAX bytes of keys or a key that is not printable ASCII.
 *
 * A dedicated connection LISTENs. Before a read txn answers a get from the
 * cache it drains that connection: one poll() that usually finds nothing;
 * when something came in, it reads until the socket is empty and then
 * makes one round trip on the listener (listener_sync), after which every
 * change committed before that round trip is applied, however many
 * notifications anyone queued in front of it; what it cannot see is a
 * change whose notification the server has not started to send (the
 * revocation delay, flood or not). Bounded: past PG_DRAIN_MAX notifications
 * or PG_DRAIN_MS the listener is closed and the cache dropped (reads go to
 * the server until it listens again). A reader that finds another thread
 * draining reads through rather than wait. A background thread (started
 * with the first listener, stopped by close) drains the same way whenever
 * the socket has data, so an idle process's server session never blocks
 * writing to it: such a session holds back the server's notification
 * queue, and a full queue fails every NOTIFY and so every latchkey write.
 * While the listener is down (never connected, lost, backing off) every
 * get reads through to the server; when it (re)connects the whole cache
 * is dropped, since notifications sent while it was away are lost.
 *
 * Transactions. A write txn never uses the cache (it must read its own
 * writes, and what it read must not be cached: it may roll back); after
 * COMMIT it drops the keys it changed from every handle of this process at
 * once. A read txn starts no server txn until the cache misses; then it
 * takes its REPEATABLE READ snapshot as before, and stores what it read
 * only if no invalidation was applied since just before that snapshot
 * (kv_cache.gen), so a value older than an applied notification is never
 * put back. What the vtable loses: a read txn that takes some values from
 * the cache and others from a snapshot sees each value as it was at some
 * moment between (txn start - notification delay) and now, not all at one
 * instant; two changes committed apart within one notification delay may
 * be seen half. Verify reads one key's record (and, with a login, the
 * login's owner): its answer is one that a verify up to one notification
 * delay earlier could have given, which is the revocation delay itself.
 * Administration reads scan, and scans always read the server.
 *
 * Bounded: store.cache_entries entries, split over PG_STRIPES stripes,
 * each an LRU list under its own mutex. Values are copied into the txn, so
 * an eviction never pulls a pointer from under a caller.
 */

/* Eight bytes a step (FNV-1a a byte a step was a tenth of a cached
 * verify's time); only this process's buckets and stripes use it. */
static uint64_t kv_hash(const char *k, size_t n)
{
    uint64_t x = 1469598103934665603ULL ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, k + i, 8);
        x = (x ^ w) * 0x9E3779B97F4A7C15ULL;
        x ^= x >> 32;
    }
    for (; i < n; i++)
        x = (x ^ (unsigned char)k[i]) * 1099511628211ULL;
    return x ^ (x >> 29);
}

static kv_cache *kv_new(size_t entries)
{
    if (entries == 0)
        return NULL;
    kv_cache *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    size_t cap = (entries + PG_STRIPES - 1) / PG_STRIPES, nb = 1;
    while (nb < cap)
        nb <<= 1;
    for (int i = 0; i < PG_STRIPES; i++) {
        kv_stripe *s = &c->s[i];
        pthread_mutex_init(&s->mu, NULL);
        s->cap = cap;
        s->nbuckets = nb;
        if ((s->buckets = calloc(nb, sizeof *s->buckets)) == NULL) {
            for (int j = 0; j <= i; j++) {
                free(c->s[j].buckets);
                pthread_mutex_destroy(&c->s[j].mu);
            }
            free(c);
            return NULL;
        }
    }
    atomic_init(&c->gen, 1);
    return c;
}

static void stripe_clear(kv_stripe *s)
{
    for (kv_entry *e = s->head, *next; e != NULL; e = next) {
        next = e->next;
        free(e);
    }
    memset(s->buckets, 0, s->nbuckets * sizeof *s->buckets);
    s->head = s->tail = NULL;
    s->n = 0;
}

static void kv_free(kv_cache *c)
{
    if (c == NULL)
        return;
    for (int i = 0; i < PG_STRIPES; i++) {
        stripe_clear(&c->s[i]);
        free(c->s[i].buckets);
        pthread_mutex_destroy(&c->s[i].mu);
    }
    free(c);
}

static kv_stripe *stripe_of(kv_cache *c, uint64_t hash)
{
    return &c->s[hash & (PG_STRIPES - 1)];
}

static kv_entry **slot_of(kv_stripe *s, uint64_t hash)
{
    return &s->buckets[(hash >> 6) & (s->nbuckets - 1)];
}

static kv_entry **find(kv_stripe *s, uint64_t hash, const char *key, size_t klen)
{
    kv_entry **p = slot_of(s, hash);
    while (*p != NULL && !((*p)->hash == hash && (*p)->klen == klen && memcmp((*p)->data, key, klen) == 0))
        p = &(*p)->hnext;
    return p;
}

static void lru_unlink(kv_stripe *s, kv_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        s->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        s->tail = e->prev;
}

static void lru_front(kv_stripe *s, kv_entry *e)
{
    e->prev = NULL;
    e->next = s->head;
    if (s->head)
        s->head->prev = e;
    s->head = e;
    if (s->tail == NULL)
        s->tail = e;
}

/* Remove the entry *p points at (its hash chain link). */
static void remove_at(kv_stripe *s, kv_entry **p)
{
    kv_entry *e = *p;
    *p = e->hnext;
    lru_unlink(s, e);
    s->n--;
    free(e);
}

/* A hit: a malloc'd copy of the value (NUL-terminated) in *copy, or
 * *absent for a negative entry. */
static bool kv_get(kv_cache *c, const char *key, size_t klen, char **copy, size_t *vlen, bool *absent)
{
    uint64_t hash = kv_hash(key, klen);
    kv_stripe *s = stripe_of(c, hash);
    bool hit = false;
    pthread_mutex_lock(&s->mu);
    kv_entry *e = *find(s, hash, key, klen);
    if (e != NULL) {
        *absent = e->absent;
        *vlen = e->vlen;
        *copy = NULL;
        if (e->absent || (*copy = malloc(e->vlen + 1)) != NULL) {
            if (*copy) {
                memcpy(*copy, e->data + klen, e->vlen);
                (*copy)[e->vlen] = '\0';
            }
            hit = true;
            if (s->head != e) {
                lru_unlink(s, e);
                lru_front(s, e);
            }
        }
    }
    pthread_mutex_unlock(&s->mu);
    return hit;
}

/* Store what a read txn found, unless an invalidation came since gen0 (the
 * value may be older than it) or the listener is down. */
static void kv_put(pg_handle *h, uint64_t gen0, const char *key, size_t klen, const char *val, size_t vlen, bool absent)
{
    kv_cache *c = h->cache;
    uint64_t hash = kv_hash(key, klen);
    kv_stripe *s = stripe_of(c, hash);
    kv_entry *e = malloc(sizeof *e + klen + (absent ? 0 : vlen));
    if (e == NULL)
        return;
    e->hash = hash;
    e->klen = klen;
    e->vlen = absent ? 0 : vlen;
    e->absent = absent;
    memcpy(e->data, key, klen);
    if (!absent)
        memcpy(e->data + klen, val, vlen);
    pthread_mutex_lock(&s->mu);
    if (atomic_load(&c->gen) != gen0 || !atomic_load(&h->listening)) {
        pthread_mutex_unlock(&s->mu);
        free(e);
        return;
    }
    kv_entry **p = find(s, hash, key, klen);
    if (*p != NULL)
        remove_at(s, p);
    while (s->n >= s->cap && s->tail != NULL)
        remove_at(s, find(s, s->tail->hash, s->tail->data, s->tail->klen));
    e->hnext = *slot_of(s, hash);
    *slot_of(s, hash) = e;
    lru_front(s, e);
    s->n++;
    pthread_mutex_unlock(&s->mu);
}

static void kv_drop(kv_cache *c, const char *key, size_t klen)
{
    uint64_t hash = kv_hash(key, klen);
    kv_stripe *s = stripe_of(c, hash);
    pthread_mutex_lock(&s->mu);
    atomic_fetch_add(&c->gen, 1);
    kv_entry **p = find(s, hash, key, klen);
    if (*p != NULL)
        remove_at(s, p);
    pthread_mutex_unlock(&s->mu);
}

static void kv_drop_all(kv_cache *c)
{
    if (c == NULL)
        return;
    atomic_fetch_add(&c->gen, 1); /* before the stripes: a put after this sees it */
    for (int i = 0; i < PG_STRIPES; i++) {
        pthread_mutex_lock(&c->s[i].mu);
        stripe_clear(&c->s[i]);
        pthread_mutex_unlock(&c->s[i].mu);
    }
}

/* Keys of a "K\n..." payload (each ending in '\n'), or anything else: all. */
static void kv_drop_listed(kv_cache *c, const char *payload, size_t len)
{
    if (c == NULL)
        return;
    if (len < 2 || payload[0] != 'K' || payload[1] != '\n') {
        kv_drop_all(c);
        return;
    }
    const char *p = payload + 2, *end = payload + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n > 0)
            kv_drop(c, p, n);
        p += n + 1;
    }
}

/* Every handle of this process that has a cache: a commit through one
 * drops what it changed from all of them at once, so two handles of one
 * process (latchkeyd and an admin ctx, the tests' "other process") never
 * wait for a notification to see each other's writes. A forked child's
 * inherited handles are skipped (their locks may be held for ever). */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pg_handle *g_cached;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void g_lock(void)
{
    pthread_mutex_lock(&g_mu);
}

static void g_unlock(void)
{
    pthread_mutex_unlock(&g_mu);
}

static void g_atfork(void)
{
    (void)pthread_atfork(g_lock, g_unlock, g_unlock);
}

static void cached_add(pg_handle *h)
{
    pthread_once(&g_once, g_atfork);
    g_lock();
    h->next_cached = g_cached;
    g_cached = h;
    g_unlock();
}

static void cached_remove(pg_handle *h)
{
    g_lock();
    for (pg_handle **p = &g_cached; *p != NULL; p = &(*p)->next_cached)
        if (*p == h) {
            *p = h->next_cached;
            break;
        }
    g_unlock();
}

/* After a commit: keys is "k1\nk2\n...", or NULL for everything. */
static void drop_everywhere(const char *keys, size_t len)
{
    pid_t me = getpid();
    g_lock();
    for (pg_handle *h = g_cached; h != NULL; h = h->next_cached) {
        if (h->pid != me)
            continue;
        if (keys == NULL) {
            kv_drop_all(h->cache);
            continue;
        }
        for (size_t o = 0; o < len;) {
            const char *nl = memchr(keys + o, '\n', len - o);
            kv_drop(h->cache, keys + o, (size_t)(nl - (keys + o)));
            o = (size_t)(nl - keys) + 1;
        }
    }
    g_unlock();
}

/* ------------------------------------------------------------ the listener */

/* Every holder of lmu goes through these: lseq is odd while it is held, so
 * a reader's lock-free check (listener_poll) that overlaps any drain or any
 * change of lconn sees lseq move and takes the locked path instead. */
static void lmu_entered(pg_handle *h)
{
    atomic_fetch_add(&h->lseq, 1); /* odd: before this thread reads lconn's socket */
}

static void lmu_lock(pg_handle *h)
{
    pthread_mutex_lock(&h->lmu);
    lmu_entered(h);
}

static bool lmu_trylock(pg_handle *h)
{
    if (pthread_mutex_trylock(&h->lmu) != 0)
        return false;
    lmu_entered(h);
    return true;
}

static void lmu_unlock(pg_handle *h)
{
    atomic_store(&h->lfd, h->lconn != NULL ? PQsocket(h->lconn) : -1);
    atomic_fetch_add(&h->lseq, 1); /* even: every notification it read is applied */
    pthread_mutex_unlock(&h->lmu);
}

/* Tell the drainer that lconn changed (or that it must stop). */
static void listener_wake(pg_handle *h)
{
    if (h->lthread_on) {
        ssize_t n = write(h->lwake[1], "", 1); /* a full pipe already says it */
        (void)n;
    }
}

/* lmu held. */
static void listener_down(pg_handle *h)
{
    atomic_store(&h->listening, false);
    PQfinish(h->lconn);
    h->lconn = NULL;
    h->lgen++;
    kv_drop_all(h->cache);
    backoff_failed(&h->lback);
    listener_wake(h);
}

/* The listener runs no query: anything the server reports on it unasked is
 * the end of the session ("terminating connection due to administrator
 * command" when the server stops or the session is killed), which libpq
 * hands to the notice processor, often before the socket shows EOF. */
static void listener_notice(void *arg, const char *message)
{
    (void)message;
    ((pg_handle *)arg)->lnotice = true; /* called under lmu, from PQconsumeInput */
}

static void *listener_thread(void *arg);

/* lmu held. The drainer starts with the first listener; signals stay with
 * the application's threads. */
static void listener_thread_start(pg_handle *h)
{
    sigset_t all, old;
    if (h->lthread_on || pipe(h->lwake) != 0)
        return;
    for (int i = 0; i < 2; i++) {
        fcntl(h->lwake[i], F_SETFL, O_NONBLOCK);
        fcntl(h->lwake[i], F_SETFD, FD_CLOEXEC);
    }
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    h->lthread_on = pthread_create(&h->lthread, NULL, listener_thread, h) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!h->lthread_on) { /* readers still drain: only an idle process's listener waits */
        close(h->lwake[0]);
        close(h->lwake[1]);
    }
}

/* lmu held. */
static void listener_connect(pg_handle *h)
{
    PGconn *c;
    if (connect_new(h, &c) != LK_OK) {
        backoff_failed(&h->lback);
        return;
    }
    PGresult *r = run(c, "LISTEN " PG_CHANNEL);
    bool ok = ok_result(r);
    PQclear(r);
    if (!ok || PQsetnonblocking(c, 1) != 0) {
        PQfinish(c);
        backoff_failed(&h->lback);
        return;
    }
    h->lnotice = false;
    PQsetNoticeProcessor(c, listener_notice, h);
    h->lconn = c;
    h->lgen++;
    h->listened = true;
    h->lback.delay_ms = 0;
    /* Whatever changed before LISTEN took effect was never announced here. */
    kv_drop_all(h->cache);
    atomic_store(&h->listening, true);
    listener_thread_start(h);
    listener_wake(h);
}

/* Wait until fd is ready for events or the deadline passes. */
static bool wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return false;
        struct pollfd p = {fd, events, 0};
        int n = poll(&p, 1, (int)left);
        if (n > 0)
            return true;
        if (n < 0 && errno != EINTR)
            return false;
    }
}

static bool readable_now(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, 0) > 0;
}

/* lmu held: apply the notifications libpq has parsed; false past the
 * bound. */
static bool listener_apply(pg_handle *h, size_t *seen)
{
    PGnotify *n;
    while ((n = PQnotifies(h->lconn)) != NULL) {
        kv_drop_listed(h->cache, n->extra, strlen(n->extra));
        PQfreemem(n);
        ++*seen;
    }
    return *seen <= PG_DRAIN_MAX;
}

/* lmu held. After data came in, a round trip on the listener: the server
 * session sends every notification it has been told of before it answers
 * a query, so when the answer is in, every change that committed before
 * the query was sent has been applied here, however many notifications
 * were queued in front of it (a socket that looks empty may only mean the
 * session has not written the rest yet). The query is the LISTEN again (a
 * no-op), so pg_stat_activity keeps naming the session by it. */
static bool listener_sync(pg_handle *h, size_t *seen, int64_t deadline)
{
    PGconn *c = h->lconn;
    int fd = PQsocket(c), f;
    if (!PQsendQuery(c, "LISTEN " PG_CHANNEL))
        return false;
    while ((f = PQflush(c)) == 1) /* reading meanwhile: the session may be blocked writing to us */
        if (!wait_fd(fd, POLLIN | POLLOUT, deadline) || !PQconsumeInput(c) || !listener_apply(h, seen))
            return false;
    if (f != 0)
        return false;
    for (;;) {
        if (!PQconsumeInput(c) || !listener_apply(h, seen))
            return false;
        while (!PQisBusy(c)) {
            PGresult *r = PQgetResult(c);
            if (r == NULL)
                return listener_apply(h, seen) && !h->lnotice;
            bool ok = ok_result(r);
            PQclear(r);
            if (!ok)
                return false;
        }
        if (!wait_fd(fd, POLLIN, deadline))
            return false;
    }
}

/* lmu held, lconn up: apply every notification that has arrived, and when
 * anything had, those still on their way (listener_sync). Bounded: past
 * PG_DRAIN_MAX notifications or PG_DRAIN_MS, the listener goes down (and
 * its backlog on the server with its session), the cache is dropped and
 * reads go to the server until it listens again: whatever others send, a
 * change that committed before a read is either applied or not served
 * from the cache. */
static void listener_drain(pg_handle *h)
{
    int fd = PQsocket(h->lconn);
    if (fd < 0 || !readable_now(fd)) {
        if (fd < 0)
            listener_down(h);
        return;
    }
    int64_t deadline = now_ms() + PG_DRAIN_MS;
    size_t seen = 0;
    bool ok = true;
    do {
        /* PQconsumeInput only reads; PQnotifies parses, which is when an
         * unasked error reaches listener_notice. */
        ok = PQconsumeInput(h->lconn) != 0 && listener_apply(h, &seen) && now_ms() < deadline;
    } while (ok && PQstatus(h->lconn) == CONNECTION_OK && !h->lnotice && readable_now(fd));
    if (ok && PQstatus(h->lconn) == CONNECTION_OK && !h->lnotice)
        ok = listener_sync(h, &seen, deadline);
    if (!ok || PQstatus(h->lconn) != CONNECTION_OK || h->lnotice)
        listener_down(h);
}

/* The drainer: whenever the listener's socket has something, drain it as
 * a reader would. It never connects (a reader does); while the listener
 * is down it sleeps on the pipe. */
static void *listener_thread(void *arg)
{
    pg_handle *h = arg;
    while (!atomic_load(&h->lstop)) {
        lmu_lock(h);
        int fd = h->lconn != NULL ? PQsocket(h->lconn) : -1;
        uint64_t gen = h->lgen;
        lmu_unlock(h);
        struct pollfd p[2] = {{h->lwake[0], POLLIN, 0}, {fd, POLLIN, 0}};
        if (poll(p, fd >= 0 ? 2 : 1, -1) <= 0)
            continue;
        if (p[0].revents != 0) {
            char buf[64];
            while (read(h->lwake[0], buf, sizeof buf) > 0)
                ;
            continue; /* lconn changed, or stop */
        }
        lmu_lock(h);
        if (h->lgen == gen && h->lconn != NULL)
            listener_drain(h);
        lmu_unlock(h);
    }
    return NULL;
}

/* Apply every notification that has arrived; (re)connect the listener when
 * it is down and its backoff is over. True when cached values may be
 * served: false also while another thread drains (what it is reading may
 * name the key), so the caller reads through. */
static bool listener_poll(pg_handle *h)
{
    /* The common case without lmu (issue 24): no thread held lmu from
     * before the socket was found empty until after, so nothing had been
     * read from it and left unapplied, and nothing waits in it: every
     * notification that reached this process is applied, as after a drain
     * that found nothing. A drainer bumps lseq (a locked RMW) before it reads
     * the socket, so if the second load does not see the bump, its read
     * began after this poll returned. lfd only changes under lmu, so an fd
     * closed (and its number reused) in between also moves lseq. Any doubt
     * (lmu held, the listener down, data waiting) takes the locked path,
     * which drains or reads through as before. One poll() per verify is
     * still made: a flag set by the drainer would miss notifications that
     * arrived before the drainer was scheduled (tests/pg/hostile.sh's
     * stopped-and-continued verifier). */
    uint64_t s1 = atomic_load(&h->lseq);
    int fd = atomic_load(&h->lfd);
    if (s1 % 2 == 0 && fd >= 0 && atomic_load(&h->listening) && !readable_now(fd) && atomic_load(&h->lseq) == s1)
        return true;
    if (!lmu_trylock(h))
        return false;
    if (h->lconn != NULL)
        listener_drain(h);
    /* Not for a process's first read txn: a one-shot verifier (the admin
     * tool, a PAM host forking a process per login) would pay a second
     * connection for a cache it never uses. */
    if (h->lconn == NULL && backoff_left(&h->lback) == 0 && (h->listened || atomic_load(&h->read_txns) > 1))
        listener_connect(h);
    bool up = h->lconn != NULL;
    lmu_unlock(h);
    return up;
}

/* ------------------------------------------------------------ the schema */

static const char *const create_sql =
    "CREATE TABLE IF NOT EXISTS latchkey_schema (version integer NOT NULL);"
    "CREATE TABLE IF NOT EXISTS latchkey_kv (key bytea PRIMARY KEY, value bytea NOT NULL)";

/* The one row of latchkey_schema in r: its version, or 0 with *why set. */
static int schema_version(const PGresult *r, char *why, size_t whysz)
{
    int n = PQntuples(r);
    if (n != 1) {
        snprintf(why, whysz, "table latchkey_schema has %d rows, expected 1", n);
        return 0;
    }
    int v = atoi(PQgetvalue(r, 0, 0));
    if (v < 1)
        snprintf(why, whysz, "table latchkey_schema holds version %d, which no latchkey writes", v);
    return v < 1 ? 0 : v;
}

/* Create, repair or upgrade the schema, in one txn on c; *done says which.
 * No writer of this version runs meanwhile (the schema table's lock). A
 * schema table with no row gets the current
 * version (both versions have the same tables); one with several rows of
 * one version keeps one; rows of different versions are refused: which one
 * the data follows is for a person to decide. */
static lk_status create_schema(pg_handle *h, PGconn *c, char *done, size_t donesz)
{
    char server[256];
    lk_status st = LK_OK;
    PGresult *r = run(c, "BEGIN; SELECT to_regclass('latchkey_schema') IS NOT NULL, "
                         "to_regclass('latchkey_kv') IS NOT NULL");
    if (!ok_result(r)) {
        st = query_err(h, c, r, "creating the schema");
        PQclear(r);
        PQclear(run(c, "ROLLBACK"));
        return st;
    }
    bool had_schema = strcmp(PQgetvalue(r, 0, 0), "t") == 0, had_kv = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
    PQclear(r);
    /* Two inits of an empty database: the advisory lock keeps their DDL
     * apart (there is no row to lock yet). Then the table lock, which
     * only latchkey's role may take, waits for the writers and keeps them
     * out. */
    r = had_schema ? NULL : run(c, "SELECT pg_advisory_xact_lock(" PG_LOCK_KEY ")");
    if (r == NULL || ok_result(r)) {
        PQclear(r);
        r = run(c, create_sql);
    }
    if (ok_result(r)) {
        PQclear(r);
        r = run(c, "LOCK TABLE latchkey_schema IN EXCLUSIVE MODE");
    }
    if (ok_result(r)) {
        PQclear(r);
        r = run(c, "SELECT version, count(*) OVER (), count(*) OVER (PARTITION BY version) FROM latchkey_schema");
    }
    if (!ok_result(r)) {
        st = lock_timed_out(r) ? lock_err(h) : query_err(h, c, r, "creating the schema");
        goto out;
    }
    server_of(h, server, sizeof server);
    int rows = PQntuples(r), v = rows > 0 ? atoi(PQgetvalue(r, 0, 0)) : PG_SCHEMA_VERSION;
    const char *fix = NULL;
    char fixbuf[160];
    if (rows > 1 && atoi(PQgetvalue(r, 0, 2)) != rows) {
        st = lk_seterr(LK_ERR_STORE,
                       "postgresql store %s: table latchkey_schema has %d rows of different versions; which one "
                       "the data follows cannot be told: delete all rows but the right one (DELETE FROM "
                       "latchkey_schema WHERE version <> N), then run `latchkey init` again",
                       server, rows);
        goto out;
    }
    if (v < 1 || v > PG_SCHEMA_VERSION) {
        st = v < 1 ? lk_seterr(LK_ERR_STORE,
                               "postgresql store %s: table latchkey_schema holds version %d, which no latchkey "
                               "writes: set it to the version the store is at (UPDATE latchkey_schema SET version "
                               "= N), then run `latchkey init` again",
                               server, v)
                   : lk_seterr(LK_ERR_STORE,
                               "postgresql store %s: schema version %d is newer than this latchkey understands "
                               "(%d): upgrade latchkey",
                               server, v, PG_SCHEMA_VERSION);
        goto out;
    }
    if (rows != 1) {
        if (rows == 0 && (had_schema || had_kv))
            fix = "table latchkey_schema had no row";
        else if (rows > 1)
            fix = (snprintf(fixbuf, sizeof fixbuf, "table latchkey_schema had %d rows of version %d", rows, v), fixbuf);
        PQclear(r);
        char sql[120];
        snprintf(sql, sizeof sql, "DELETE FROM latchkey_schema; INSERT INTO latchkey_schema (version) VALUES (%d)", v);
        r = run(c, sql);
        if (!ok_result(r)) {
            st = query_err(h, c, r, "repairing the schema");
            goto out;
        }
    }
    PQclear(r);
    r = NULL;
    /* Upgrades, one step per version. 1 -> 2: only the writers' lock
     * changed (from the advisory lock to the schema row). */
    if (v < PG_SCHEMA_VERSION) {
        r = run(c, "UPDATE latchkey_schema SET version = 2");
        if (!ok_result(r)) {
            st = query_err(h, c, r, "upgrading the schema");
            goto out;
        }
        PQclear(r);
        r = NULL;
    }
    if (!had_schema && !had_kv)
        snprintf(done, donesz, "schema version %d, created", PG_SCHEMA_VERSION);
    else if (fix != NULL && v < PG_SCHEMA_VERSION)
        snprintf(done, donesz, "schema version %d, repaired (%s) and upgraded from version %d", PG_SCHEMA_VERSION, fix,
                 v);
    else if (fix != NULL)
        snprintf(done, donesz, "schema version %d, repaired (%s)", PG_SCHEMA_VERSION, fix);
    else if (v < PG_SCHEMA_VERSION)
        snprintf(done, donesz, "schema version %d, upgraded from version %d", PG_SCHEMA_VERSION, v);
    else if (!had_schema || !had_kv)
        snprintf(done, donesz, "schema version %d, repaired (a table was missing)", PG_SCHEMA_VERSION);
    else
        snprintf(done, donesz, "schema version %d, already current", PG_SCHEMA_VERSION);
out:
    PQclear(r);
    r = run(c, st == LK_OK ? "COMMIT" : "ROLLBACK");
    if (st == LK_OK && !ok_result(r))
        st = query_err(h, c, r, "creating the schema");
    PQclear(r);
    return st;
}

/* Check the schema on c: a missing one, or one a newer latchkey wrote, is
 * refused; version 1 is still served (writers then also take its lock). */
static lk_status check_schema(pg_handle *h, PGconn *c)
{
    lk_status st = LK_OK;
    char server[256], why[160];
    PGresult *r = run(c, "SELECT version FROM latchkey_schema");
    server_of(h, server, sizeof server);
    if (!ok_result(r)) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (state != NULL && strcmp(state, "42P01") == 0)
            st = lk_seterr(LK_ERR_STORE,
                           "postgresql store %s: not found: no latchkey schema in this database (run `latchkey "
                           "init` to create it)",
                           server);
        else
            st = query_err(h, c, r, "reading the schema version");
        PQclear(r);
        return st;
    }
    int v = schema_version(r, why, sizeof why);
    PQclear(r);
    if (v == 0)
        return lk_seterr(LK_ERR_STORE, "postgresql store %s: %s (run `latchkey init` to repair it)", server, why);
    if (v > PG_SCHEMA_VERSION)
        return lk_seterr(LK_ERR_STORE,
                         "postgresql store %s: schema version %d is newer than this latchkey understands (%d): "
                         "upgrade latchkey",
                         server, v, PG_SCHEMA_VERSION);
    return LK_OK;
}

/* ------------------------------------------------------------ open, close */

/* libpq reads a dbname that is a URI or holds '=' as a conninfo of its own
 * (expand_dbname, as connect_new asks). */
static bool is_conninfo(const char *s)
{
    return strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0 || strchr(s, '=') != NULL;
}

/* Refuse a conninfo that holds a password anywhere: a password= keyword, a
 * URI's user:password@, or either inside a dbname libpq would expand. No
 * part of it is ever repeated: libpq's parse errors quote the string, so
 * only an unknown keyword's name is shown. */
static lk_status check_conninfo(const char *ci, int depth)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(ci, &perr);
    if (opts == NULL) {
        static const char unknown[] = "invalid connection option \"";
        const size_t ul = sizeof unknown - 1;
        char msg[160] = "";
        const char *q;
        if (perr != NULL && strncmp(perr, unknown, ul) == 0 && (q = strchr(perr + ul, '"')) != NULL) {
            int kl = (int)(q - (perr + ul));
            snprintf(msg, sizeof msg, ": unknown keyword \"%.*s\"", kl > 60 ? 60 : kl, perr + ul);
        }
        PQfreemem(perr);
        return lk_seterr(LK_ERR_CONFIG, "postgresql store: store.conninfo is not a valid libpq connection string%s%s",
                         depth > 0 ? " (in its dbname)" : "", msg);
    }
    lk_status st = LK_OK;
    for (PQconninfoOption *o = opts; o->keyword != NULL && st == LK_OK; o++) {
        if (o->val == NULL || *o->val == '\0')
            continue;
        if (strcmp(o->keyword, "password") == 0)
            st = lk_seterr(LK_ERR_CONFIG, "postgresql store: store.conninfo contains a password%s; put it in a "
                                          "passfile instead (PGPASSFILE, passfile=PATH or ~/.pgpass, mode 0600)",
                           depth > 0 ? " (in its dbname)" : "");
        else if (strcmp(o->keyword, "dbname") == 0 && depth < 2 && is_conninfo(o->val))
            st = check_conninfo(o->val, depth + 1);
    }
    PQconninfoFree(opts);
    return st;
}

static lk_status pg_open(const lk_backend_conf *conf, void **handle)
{
    *handle = NULL;
    const char *ci = conf->conninfo;
    if (ci == NULL || *ci == '\0')
        return lk_seterr(LK_ERR_CONFIG, "postgresql store: store.conninfo is not set (a libpq connection "
                                        "string, e.g. \"host=db.example port=5432 dbname=latchkey\", or "
                                        "\"service=NAME\")");
    /* Passwords live in a passfile (PGPASSFILE, passfile=, ~/.pgpass), never
     * in the configuration, whose text ends up in messages and backups. */
    lk_status st = check_conninfo(ci, 0);
    if (st != LK_OK)
        return st;

    pg_handle *h = calloc(1, sizeof *h);
    if (h == NULL || (h->conninfo = strdup(ci)) == NULL) {
        free(h);
        return lk_seterr(LK_ERR_NOMEM, "out of memory opening the postgresql store");
    }
    h->read_only = conf->read_only;
    h->pid = getpid();
    pthread_mutex_init(&h->lock, NULL);
    pthread_mutex_init(&h->lmu, NULL);
    atomic_init(&h->listening, false);
    atomic_init(&h->lstop, false);
    atomic_init(&h->read_txns, 0);
    atomic_init(&h->lseq, 0);
    atomic_init(&h->lfd, -1);
    snprintf(h->server, sizeof h->server, "(not connected)");
    /* No cache: every get a round trip, as before (store.cache_entries 0). */
    h->cache = kv_new(conf->cache_entries);

    PGconn *c;
    st = connect_new(h, &c);
    if (st == LK_OK) {
        char done[320] = "";
        st = conf->create && !conf->read_only ? create_schema(h, c, done, sizeof done) : LK_OK;
        if (st == LK_OK)
            st = check_schema(h, c);
        if (st == LK_OK && conf->report != NULL && conf->report_size > 0) {
            char server[256];
            server_of(h, server, sizeof server);
            snprintf(conf->report, conf->report_size, "%s\n%s", server, done);
        }
        if (st == LK_OK)
            pool_give(h, c);
        else
            PQfinish(c);
    }
    if (st != LK_OK) {
        kv_free(h->cache);
        pthread_mutex_destroy(&h->lmu);
        pthread_mutex_destroy(&h->lock);
        free(h->conninfo);
        free(h);
        return st;
    }
    /* The listener connects at the first read of the second read txn: a
     * process that only writes (the admin tool), or verifies once, never
     * opens it. */
    if (h->cache != NULL)
        cached_add(h);
    *handle = h;
    return LK_OK;
}

static void pg_close(void *handle)
{
    pg_handle *h = handle;
    if (h == NULL)
        return;
    if (h->pid != getpid()) {
        /* Inherited across fork(): PQfinish would send Terminate on the
         * parent's sessions. Close this process's copies of the sockets and
         * leak the rest. A parent thread may have held the lock at fork():
         * then the list may be mid-update, and is left alone. */
        if (pthread_mutex_trylock(&h->lock) == 0) {
            for (size_t i = 0; i < h->npool; i++)
                if (PQsocket(h->pool[i]) >= 0)
                    close(PQsocket(h->pool[i]));
        }
        if (pthread_mutex_trylock(&h->lmu) == 0 && h->lconn != NULL && PQsocket(h->lconn) >= 0)
            close(PQsocket(h->lconn));
        if (h->lthread_on) { /* the drainer stayed in the parent */
            close(h->lwake[0]);
            close(h->lwake[1]);
        }
        return;
    }
    if (h->lthread_on) {
        atomic_store(&h->lstop, true);
        listener_wake(h);
        pthread_join(h->lthread, NULL);
        close(h->lwake[0]);
        close(h->lwake[1]);
    }
    if (h->cache != NULL)
        cached_remove(h);
    pool_flush(h);
    PQfinish(h->lconn);
    kv_free(h->cache);
    pthread_mutex_destroy(&h->lmu);
    pthread_mutex_destroy(&h->lock);
    free(h->conninfo);
    free(h);
}

/* ------------------------------------------------------------ transactions */

static lk_status notify_changes(pg_txn *t);

/* A write txn holds the row lock of latchkey_schema (r: its version). The
 * row must be there, alone: with none nothing would be locked. A version 1
 * store also takes version 1's advisory lock, which the writers of an
 * older latchkey still on it take. */
static lk_status write_locked(pg_txn *t, const PGresult *r)
{
    char server[256];
    if (PQntuples(r) != 1) {
        server_of(t->h, server, sizeof server);
        return lk_seterr(LK_ERR_STORE,
                         "postgresql store %s: table latchkey_schema has %d rows, expected 1: no write is safe "
                         "(run `latchkey init` to repair it)",
                         server, PQntuples(r));
    }
    if (atoi(PQgetvalue(r, 0, 0)) >= 2)
        return LK_OK;
    PGresult *a = run(t->c, "SELECT pg_advisory_xact_lock(" PG_LOCK_KEY ")");
    lk_status st = ok_result(a) ? LK_OK
                   : lock_timed_out(a) ? lock_err(t->h)
                                       : query_err(t->h, t->c, a, "beginning a write transaction");
    PQclear(a);
    return st;
}

/* Give the txn its connection and BEGIN on it: at begin for a write txn, at
 * its first read the cache cannot answer for a read txn. */
static lk_status txn_start(pg_txn *t)
{
    pg_handle *h = t->h;
    const char *sql = t->write ? "BEGIN; SELECT version FROM latchkey_schema FOR UPDATE"
                               : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
    if (!t->write && h->cache != NULL) {
        /* Before the snapshot: whether what it reads may be cached, and the
         * invalidation count it must still match when it stores it and
         * when it answers from the cache. After answers from the cache,
         * the count at begin: an invalidation since then means the cache
         * answered older than this snapshot, so it answers no more. */
        t->cacheable = atomic_load(&h->listening);
        t->gen0 = t->served ? t->gen_begin : atomic_load(&h->cache->gen);
    }
    /* A pooled conn may have died with its server; nothing has happened in
     * this txn yet, so one retry on a fresh connection is safe. */
    for (int attempt = 0;; attempt++) {
        PGconn *c = attempt == 0 ? pool_take(h) : NULL;
        lk_status st = LK_OK;
        if (c == NULL && (st = connect_paced(h, &c)) != LK_OK)
            return st;
        PGresult *r = run(c, sql);
        if (ok_result(r)) {
            t->c = c;
            st = t->write ? write_locked(t, r) : LK_OK;
            PQclear(r);
            if (st != LK_OK) {
                PQclear(run(c, "ROLLBACK"));
                t->c = NULL;
                if (PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) == PQTRANS_IDLE)
                    pool_give(h, c);
                else
                    PQfinish(c);
            }
            return st;
        }
        bool lost = conn_lost(c, r);
        if (t->write && lock_timed_out(r))
            st = lock_err(h);
        else
            st = query_err(h, c, r, t->write ? "beginning a write transaction" : "beginning a read transaction");
        PQclear(r);
        PQfinish(c);
        if (lost)
            pool_flush(h);
        if (!lost || attempt > 0)
            return st;
    }
}

static lk_status pg_begin(void *handle, int write, void **txn)
{
    pg_handle *h = handle;
    *txn = NULL;
    if (write && h->read_only) {
        char server[256];
        server_of(h, server, sizeof server);
        return lk_seterr(LK_ERR_STORE_PERM, "postgresql store %s: opened read-only", server);
    }
    pg_txn *t = calloc(1, sizeof *t);
    if (t == NULL)
        return lk_seterr(LK_ERR_NOMEM, "out of memory");
    t->h = h;
    t->write = write != 0;
    if (h->cache != NULL && !t->write) {
        t->gen_begin = atomic_load(&h->cache->gen);
        if (atomic_load_explicit(&h->read_txns, memory_order_relaxed) < 2)
            atomic_fetch_add(&h->read_txns, 1);
    }
    /* A read txn talks to the server only when the cache cannot answer. */
    if (t->write) {
        lk_status st = txn_start(t);
        if (st != LK_OK) {
            free(t);
            return st;
        }
    }
    *txn = t;
    return LK_OK;
}

static void txn_free(pg_txn *t)
{
    for (size_t i = 0; i < t->npend; i++)
        free(t->pend[i].kv);
    free(t->pend);
    free(t->pend_ix);
    free(t->pre);
    for (size_t i = 0; i < t->nkept; i++)
        if (t->kept[i].result)
            PQclear(t->kept[i].p);
        else
            free(t->kept[i].p);
    if (t->kept != t->kept_few)
        free(t->kept);
    free(t->chg);
    if (t->c != NULL) {
        if (t->broken || PQstatus(t->c) != CONNECTION_OK || PQtransactionStatus(t->c) != PQTRANS_IDLE)
            PQfinish(t->c);
        else
            pool_give(t->h, t->c);
    }
    free(t);
}

/* A failed statement: the txn is done for (PostgreSQL aborts it). */
static lk_status fail(pg_txn *t, PGresult *r, const char *what)
{
    lk_status st = query_err(t->h, t->c, r, what);
    t->failed = true;
    if (conn_lost(t->c, r)) {
        t->broken = true;
        pool_flush(t->h);
    }
    PQclear(r);
    return st;
}

/* ------------------------------------------------------------ batched statements */

/* A parameter in PostgreSQL's binary array format (array_recv): one
 * dimension, no NULLs, elements of one type. Built with arr_begin, then
 * arr_elem per element; each returns false when out of memory or past
 * what a parameter can carry (2 GiB). */
typedef struct pg_array {
    char *p;
    size_t len, cap;
} pg_array;

static bool arr_put(pg_array *a, const void *p, size_t n)
{
    if (a->len + n > a->cap) {
        size_t cap = a->cap ? a->cap : 256;
        while (cap < a->len + n)
            cap *= 2;
        char *q = realloc(a->p, cap);
        if (q == NULL)
            return false;
        a->p = q;
        a->cap = cap;
    }
    memcpy(a->p + a->len, p, n);
    a->len += n;
    return true;
}

static bool arr_u32(pg_array *a, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8),
                          (unsigned char)v};
    return arr_put(a, b, 4);
}

/* The header for n elements of type oid; elements follow with arr_elem. */
static bool arr_begin(pg_array *a, uint32_t oid, size_t n)
{
    a->len = 0;
    return n <= INT32_MAX && arr_u32(a, 1) && arr_u32(a, 0) && arr_u32(a, oid) && arr_u32(a, (uint32_t)n) &&
           arr_u32(a, 1);
}

/* The element count in the header, for an array begun with 0 (a count
 * known only once the elements are in). */
static void arr_set_count(pg_array *a, size_t n)
{
    size_t len = a->len;
    a->len = 12; /* after ndim, the NULL flag and the element type */
    (void)arr_u32(a, (uint32_t)n); /* overwrites: no growth, cannot fail */
    a->len = len;
}

static bool arr_elem(pg_array *a, const void *p, size_t n)
{
    return n <= INT32_MAX && arr_u32(a, (uint32_t)n) && arr_put(a, p, n) && a->len <= INT32_MAX;
}

/* The slot of key in the pending index: its entry, or the empty one where
 * it would go. */
static uint32_t *pend_slot(pg_txn *t, const char *key, size_t klen)
{
    size_t mask = t->pend_ixcap - 1;
    for (size_t i = (size_t)kv_hash(key, klen) & mask;; i = (i + 1) & mask) {
        uint32_t e = t->pend_ix[i];
        if (e == 0)
            return &t->pend_ix[i];
        const struct pend *p = &t->pend[e - 1];
        if (p->klen == klen && memcmp(p->kv, key, klen) == 0)
            return &t->pend_ix[i];
    }
}

/* Room for one more pending put (index at most half full). */
static bool pend_grow(pg_txn *t)
{
    if (t->npend == t->cappend) {
        size_t cap = t->cappend ? t->cappend * 2 : 64;
        struct pend *n = realloc(t->pend, cap * sizeof *n);
        if (n == NULL)
            return false;
        t->pend = n;
        t->cappend = cap;
    }
    if (2 * (t->npend + 1) > t->pend_ixcap) {
        size_t cap = t->pend_ixcap ? t->pend_ixcap * 2 : 128;
        uint32_t *ix = calloc(cap, sizeof *ix);
        if (ix == NULL || t->npend >= UINT32_MAX)
            return free(ix), false;
        free(t->pend_ix);
        t->pend_ix = ix;
        t->pend_ixcap = cap;
        for (size_t i = 0; i < t->npend; i++)
            *pend_slot(t, t->pend[i].kv, t->pend[i].klen) = (uint32_t)(i + 1);
    }
    return true;
}

static struct pend *pend_find(pg_txn *t, const char *key, size_t klen)
{
    if (t->npend == 0)
        return NULL;
    uint32_t e = *pend_slot(t, key, klen);
    return e ? &t->pend[e - 1] : NULL;
}

static lk_status fail(pg_txn *t, PGresult *r, const char *what);
static lk_status keep_item(pg_txn *t, void *p, bool result);
static lk_status keep(pg_txn *t, PGresult *r);

/* A waiting put is done with (sent, or replaced): its block goes, unless a
 * get returned its value, which must stay valid until the txn ends. A big
 * write txn (store copy) so holds no more than a batch of values. */
static lk_status pend_release(pg_txn *t, struct pend *p)
{
    if (!p->lent) {
        free(p->kv);
        return LK_OK;
    }
    return keep_item(t, p->kv, false); /* on failure it freed the block */
}

/* Send every waiting put and delete: one DELETE, then one INSERT, per batch
 * of rows (one entry per key, so the order between keys does not matter). */
static lk_status send_pending(pg_txn *t)
{
    static const char ins[] = "INSERT INTO latchkey_kv (key, value) SELECT k, v FROM unnest($1::bytea[], $2::bytea[]) "
                              "AS u(k, v) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value";
    static const char del[] = "DELETE FROM latchkey_kv WHERE key = ANY($1::bytea[])";
    static const int binary[2] = {1, 1};
    if (t->npend == 0)
        return LK_OK;
    lk_status st = LK_OK;
    pg_array ka = {0}, va = {0};
    for (int pass = 0; pass < 2 && st == LK_OK; pass++) {
        bool dels = pass == 0;
        size_t i = 0;
        while (st == LK_OK) {
            size_t n = 0, bytes = 0;
            bool ok = arr_begin(&ka, PG_OID_BYTEA, 0) && arr_begin(&va, PG_OID_BYTEA, 0);
            for (; i < t->npend && n < PG_PUT_BATCH && ok; i++) {
                const struct pend *p = &t->pend[i];
                if (p->del != dels)
                    continue;
                if (n > 0 && bytes + p->klen + p->vlen > PG_PUT_BATCH_BYTES)
                    break; /* the next batch starts with it */
                ok = arr_elem(&ka, p->kv, p->klen) && (dels || arr_elem(&va, p->kv + p->klen, p->vlen));
                bytes += p->klen + p->vlen;
                n++;
            }
            if (!ok) {
                st = lk_seterr(LK_ERR_NOMEM, "out of memory writing %zu records", n);
                t->failed = true; /* the txn lost writes: it must not commit */
                break;
            }
            if (n == 0)
                break;
            arr_set_count(&ka, n);
            arr_set_count(&va, n);
            const char *v[2] = {ka.p, va.p};
            int l[2] = {(int)ka.len, (int)va.len};
            PGresult *r = PQexecParams(t->c, dels ? del : ins, dels ? 1 : 2, NULL, v, l, binary, 1);
            if (!ok_result(r))
                st = fail(t, r, dels ? "deleting" : "writing");
            else
                PQclear(r);
        }
    }
    free(ka.p);
    free(va.p);
    /* Sent (or the txn failed): the values a get returned stay valid. */
    for (size_t j = 0; j < t->npend; j++)
        if (pend_release(t, &t->pend[j]) != LK_OK && st == LK_OK)
            st = LK_ERR_NOMEM;
    t->npend = 0;
    t->pend_bytes = 0;
    memset(t->pend_ix, 0, t->pend_ixcap * sizeof *t->pend_ix);
    return st;
}

static int pre_cmp(const void *a, const void *b)
{
    const struct pre *x = a, *y = b;
    int c = memcmp(x->k, y->k, x->klen < y->klen ? x->klen : y->klen);
    return c ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

static const struct pre *pre_find(const pg_txn *t, const char *key, size_t klen)
{
    if (t->npre == 0)
        return NULL;
    struct pre want = {.k = key, .klen = klen};
    return bsearch(&want, t->pre, t->npre, sizeof *t->pre, pre_cmp);
}

/* This txn deleted (absent) or put (unknown) key: what was prefetched no
 * longer answers for it. */
static void pre_change(pg_txn *t, const char *key, size_t klen, int state)
{
    struct pre *p = (struct pre *)pre_find(t, key, klen);
    if (p != NULL)
        p->v = NULL, p->vlen = 0, p->state = state;
}

static lk_status pg_prefetch(void *txn, const char *const *keys, const size_t *klens, size_t n)
{
    static const char sql[] = "SELECT key, value FROM latchkey_kv WHERE key = ANY($1::bytea[])";
    static const int binary[1] = {1};
    pg_txn *t = txn;
    if (!t->write || t->failed || n == 0)
        return LK_OK; /* read txns have the record cache */
    /* The new entries, keys copied into one kept block, unknown until the
     * server answered for them; sorted, a key asked for twice kept once. */
    size_t bytes = 0, m = 0;
    for (size_t i = 0; i < n; i++)
        if (klens[i] > 0 && klens[i] <= PG_MAX_KEY)
            bytes += klens[i];
    char *block = malloc(bytes ? bytes : 1);
    struct pre *pre = malloc((n + t->npre) * sizeof *pre);
    if (block == NULL || pre == NULL || keep_item(t, block, false) != LK_OK) {
        if (pre == NULL)
            free(block); /* else keep_item freed it */
        free(pre);
        return LK_OK; /* only a hint */
    }
    for (size_t i = 0, o = 0; i < n; i++) {
        if (klens[i] == 0 || klens[i] > PG_MAX_KEY)
            continue; /* get answers those without the server */
        memcpy(block + o, keys[i], klens[i]);
        pre[m++] = (struct pre){block + o, klens[i], NULL, 0, PRE_UNKNOWN};
        o += klens[i];
    }
    qsort(pre, m, sizeof *pre, pre_cmp);
    size_t u = 0;
    for (size_t i = 0; i < m; i++)
        if (u == 0 || pre_cmp(&pre[u - 1], &pre[i]) != 0)
            pre[u++] = pre[i];
    m = u;
    /* Ask the server, a batch of keys per statement. */
    pg_array ka = {0};
    lk_status st = LK_OK;
    for (size_t i = 0, b; i < m; i += b) {
        b = m - i < PG_PREFETCH_BATCH ? m - i : PG_PREFETCH_BATCH;
        bool ok = arr_begin(&ka, PG_OID_BYTEA, b);
        for (size_t j = i; j < i + b && ok; j++)
            ok = arr_elem(&ka, pre[j].k, pre[j].klen);
        if (!ok)
            break; /* the rest stay unknown: only a hint */
        const char *v[1] = {ka.p};
        int l[1] = {(int)ka.len};
        PGresult *r = PQexecParams(t->c, sql, 1, NULL, v, l, binary, 1);
        if (!ok_result(r)) {
            st = fail(t, r, "reading");
            break;
        }
        if ((st = keep(t, r)) != LK_OK)
            break;
        /* The statement saw this txn's state but not its waiting puts:
         * those keys stay unknown (their puts answer, then the server). */
        for (size_t j = i; j < i + b; j++)
            if (pend_find(t, pre[j].k, pre[j].klen) == NULL)
                pre[j].state = PRE_ABSENT;
        for (int row = 0; row < PQntuples(r); row++) {
            struct pre want = {.k = PQgetvalue(r, row, 0), .klen = (size_t)PQgetlength(r, row, 0)};
            struct pre *e = bsearch(&want, pre + i, b, sizeof *pre, pre_cmp);
            if (e != NULL && e->state == PRE_ABSENT)
                e->v = PQgetvalue(r, row, 1), e->vlen = (size_t)PQgetlength(r, row, 1), e->state = PRE_VALUE;
        }
    }
    free(ka.p);
    if (st != LK_OK) {
        free(pre);
        return st;
    }
    /* The old entries of keys not asked again stay. */
    for (size_t j = 0; j < t->npre; j++)
        if (bsearch(&t->pre[j], pre, u, sizeof *pre, pre_cmp) == NULL)
            pre[m++] = t->pre[j];
    qsort(pre, m, sizeof *pre, pre_cmp);
    free(t->pre);
    t->pre = pre;
    t->npre = m;
    return LK_OK;
}

static void pg_abort(void *txn);

static lk_status pg_commit(void *txn)
{
    pg_txn *t = txn;
    if (t->failed) { /* COMMIT would answer ROLLBACK; the caller ignored an error */
        char server[256];
        server_of(t->h, server, sizeof server);
        pg_abort(t);
        return lk_seterr(LK_ERR_STORE, "postgresql store %s: commit of a failed transaction (rolled back)", server);
    }
    if (t->c == NULL) { /* a read txn the cache answered */
        txn_free(t);
        return LK_OK;
    }
    lk_status st = t->write ? send_pending(t) : LK_OK;
    if (st == LK_OK && t->write)
        st = notify_changes(t);
    if (st != LK_OK) {
        pg_abort(t);
        return st;
    }
    PGresult *r = run(t->c, "COMMIT");
    if (!ok_result(r))
        st = fail(t, r, "committing");
    else
        PQclear(r);
    if (t->write && (t->chglen > 0 || t->chg_all)) {
        /* This process sees its own change at once, not when its
         * notification comes back. A failed COMMIT may have committed (the
         * connection died on the way back): forget everything. */
        if (st == LK_OK && !t->chg_all)
            drop_everywhere(t->chg, t->chglen);
        else
            drop_everywhere(NULL, 0);
    }
    txn_free(t);
    return st;
}

static void pg_abort(void *txn)
{
    pg_txn *t = txn;
    if (t == NULL)
        return;
    if (t->c != NULL && PQstatus(t->c) == CONNECTION_OK) {
        PGresult *r = run(t->c, "ROLLBACK");
        if (!ok_result(r))
            t->broken = true;
        PQclear(r);
    }
    txn_free(t);
}

/* Keep p (a PGresult when result) until the txn ends; on failure it is freed. */
static lk_status keep_item(pg_txn *t, void *p, bool result)
{
    if (t->capkept == 0) {
        t->kept = t->kept_few;
        t->capkept = sizeof t->kept_few / sizeof t->kept_few[0];
    }
    if (t->nkept == t->capkept) {
        size_t cap = t->capkept * 2;
        struct kept *n = t->kept == t->kept_few ? malloc(cap * sizeof *n) : realloc(t->kept, cap * sizeof *n);
        if (n != NULL && t->kept == t->kept_few)
            memcpy(n, t->kept_few, sizeof t->kept_few);
        if (n == NULL) {
            if (result)
                PQclear(p);
            else
                free(p);
            return lk_seterr(LK_ERR_NOMEM, "out of memory");
        }
        t->kept = n;
        t->capkept = cap;
    }
    t->kept[t->nkept].p = p;
    t->kept[t->nkept++].result = result;
    return LK_OK;
}

static lk_status keep(pg_txn *t, PGresult *r)
{
    return keep_item(t, r, true);
}

/* Parameters are sent and results received in binary: keys and values are
 * byte strings, NULs included. */
static PGresult *query(pg_txn *t, const char *sql, int n, const char *const *v, const int *len)
{
    static const int binary[3] = {1, 1, 1};
    return PQexecParams(t->c, sql, n, NULL, v, len, binary, 1);
}

static lk_status pg_get(void *txn, const char *key, size_t klen, const char **val, size_t *vlen)
{
    pg_txn *t = txn;
    if (klen == 0 || klen > PG_MAX_KEY)
        return LK_ERR_NOT_FOUND;
    pg_handle *h = t->h;
    /* A write txn sees its own waiting puts and deletes first, then what it
     * prefetched (kept up to date by its deletes). */
    if (t->write) {
        struct pend *p = pend_find(t, key, klen);
        if (p != NULL && p->del)
            return LK_ERR_NOT_FOUND;
        if (p != NULL) {
            p->lent = true;
            *val = p->kv + p->klen;
            *vlen = p->vlen;
            return LK_OK;
        }
        const struct pre *q = pre_find(t, key, klen);
        if (q != NULL && q->state != PRE_UNKNOWN) {
            if (q->state == PRE_ABSENT)
                return LK_ERR_NOT_FOUND;
            *val = q->v;
            *vlen = q->vlen;
            return LK_OK;
        }
    }
    /* A write txn reads the server: it must see its own writes, and what
     * it reads must not go into the cache (it may never commit). */
    /* Once the txn has its snapshot, the cache answers only while nothing
     * was invalidated since just before it: a value cached since could be
     * newer than the snapshot (test_snapshot_stable). */
    if (!t->write && h->cache != NULL && listener_poll(h) &&
        (t->c == NULL || atomic_load(&h->cache->gen) == t->gen0)) {
        char *copy = NULL;
        bool absent = false;
        bool hit = kv_get(h->cache, key, klen, &copy, vlen, &absent);
        if (hit && t->c != NULL && atomic_load(&h->cache->gen) != t->gen0) {
            free(copy); /* invalidated during the lookup: ask the snapshot */
            hit = false;
        }
        if (hit) {
            t->served = true;
            if (absent)
                return LK_ERR_NOT_FOUND;
            lk_status st = keep_item(t, copy, false);
            if (st == LK_OK)
                *val = copy;
            return st;
        }
    }
    if (t->c == NULL) {
        lk_status st = txn_start(t);
        if (st != LK_OK)
            return st;
    }
    const char *v[1] = {key};
    int l[1] = {(int)klen};
    PGresult *r = query(t, "SELECT value FROM latchkey_kv WHERE key = $1", 1, v, l);
    if (!ok_result(r))
        return fail(t, r, "reading");
    bool absent = PQntuples(r) == 0;
    if (t->cacheable)
        kv_put(h, t->gen0, key, klen, absent ? NULL : PQgetvalue(r, 0, 0), absent ? 0 : (size_t)PQgetlength(r, 0, 0),
               absent);
    if (absent) {
        PQclear(r);
        return LK_ERR_NOT_FOUND;
    }
    *val = PQgetvalue(r, 0, 0);
    *vlen = (size_t)PQgetlength(r, 0, 0);
    return keep(t, r);
}

/* Note a key the write txn changed, for its notification. */
static void changed(pg_txn *t, const char *key, size_t klen)
{
    if (t->chg_all)
        return;
    for (size_t i = 0; i < klen; i++)
        if ((unsigned char)key[i] < 0x20 || (unsigned char)key[i] > 0x7e) {
            t->chg_all = true;
            return;
        }
    if (t->chglen + klen + 1 > PG_NOTIFY_MAX) {
        t->chg_all = true;
        return;
    }
    if (t->chglen + klen + 1 > t->chgcap) {
        size_t cap = t->chgcap ? t->chgcap : 256;
        while (cap < t->chglen + klen + 1)
            cap *= 2;
        char *n = realloc(t->chg, cap);
        if (n == NULL) {
            t->chg_all = true; /* saying more than needed is safe */
            return;
        }
        t->chg = n;
        t->chgcap = cap;
    }
    memcpy(t->chg + t->chglen, key, klen);
    t->chg[t->chglen + klen] = '\n';
    t->chglen += klen + 1;
}

static lk_status notify_one(pg_txn *t, const char *payload)
{
    const char *v[1] = {payload};
    PGresult *r = PQexecParams(t->c, "SELECT pg_notify('" PG_CHANNEL "', $1)", 1, NULL, v, NULL, NULL, 0);
    if (!ok_result(r))
        return fail(t, r, "notifying the change");
    PQclear(r);
    return LK_OK;
}

/* In the txn, before COMMIT: the notification is part of the change. All
 * of a txn's payloads go in one statement. */
static lk_status notify_changes(pg_txn *t)
{
    static const char sql[] = "SELECT pg_notify('" PG_CHANNEL "', p) FROM unnest($1::text[]) AS p";
    static const int binary[1] = {1};
    if (t->chg_all)
        return notify_one(t, "*");
    if (t->chglen == 0)
        return LK_OK;
    pg_array a = {0};
    size_t count = 0, o = 0;
    bool ok = arr_begin(&a, PG_OID_TEXT, 0);
    while (ok && o < t->chglen) {
        size_t start = o, n = 2;
        /* whole keys (with their '\n') while they fit */
        while (o < t->chglen) {
            const char *nl = memchr(t->chg + o, '\n', t->chglen - o);
            size_t kl = (size_t)(nl - (t->chg + o)) + 1;
            if (n + kl > PG_NOTIFY_CHUNK)
                break;
            n += kl;
            o += kl;
        }
        ok = arr_u32(&a, (uint32_t)n) && arr_put(&a, "K\n", 2) && arr_put(&a, t->chg + start, o - start);
        count++;
    }
    if (!ok) {
        free(a.p);
        return notify_one(t, "*"); /* out of memory: saying more than needed is safe */
    }
    arr_set_count(&a, count);
    const char *v[1] = {a.p};
    int l[1] = {(int)a.len};
    PGresult *r = PQexecParams(t->c, sql, 1, NULL, v, l, binary, 1);
    free(a.p);
    if (!ok_result(r))
        return fail(t, r, "notifying the change");
    PQclear(r);
    return LK_OK;
}

static lk_status check_write(pg_txn *t, size_t klen, const char *op)
{
    if (!t->write)
        return lk_seterr(LK_ERR_INTERNAL, "postgresql store: %s in a read transaction", op);
    if (klen == 0 || klen > PG_MAX_KEY)
        return lk_seterr(LK_ERR_PARAM, "postgresql store: key length %zu is not 1..%d", klen, PG_MAX_KEY);
    return LK_OK;
}

/* A write to the row a scan's callback is at changes none of the rows
 * still to come. */
static bool at_scan_key(const pg_txn *t, const char *key, size_t klen)
{
    return t->scan_key != NULL && t->scan_klen == klen && memcmp(t->scan_key, key, klen) == 0;
}

/* Make key's waiting write a put of val, or (del) a delete. */
static lk_status pend_add(pg_txn *t, const char *key, size_t klen, const char *val, size_t vlen, bool del)
{
    lk_status st;
    char *kv = malloc(klen + vlen + 1);
    if (kv == NULL || !pend_grow(t)) {
        free(kv);
        return lk_seterr(LK_ERR_NOMEM, "out of memory");
    }
    memcpy(kv, key, klen);
    if (vlen)
        memcpy(kv + klen, val, vlen);
    kv[klen + vlen] = '\0';
    uint32_t *slot = pend_slot(t, key, klen);
    if (*slot != 0) { /* a second write of the key: the last one wins */
        struct pend *p = &t->pend[*slot - 1];
        if ((st = pend_release(t, p)) != LK_OK) {
            free(kv);
            t->failed = true;
            return st;
        }
        t->pend_bytes -= p->klen + p->vlen;
        *p = (struct pend){kv, klen, vlen, false, del};
    } else {
        t->pend[t->npend] = (struct pend){kv, klen, vlen, false, del};
        *slot = (uint32_t)++t->npend;
    }
    t->pend_bytes += klen + vlen;
    pre_change(t, key, klen, del ? PRE_ABSENT : PRE_UNKNOWN);
    if (!at_scan_key(t, key, klen))
        t->writes++;
    changed(t, key, klen);
    /* Memory stays bounded in a long txn: a full batch goes at once. */
    if (t->npend >= PG_PUT_BATCH || t->pend_bytes >= PG_PUT_BATCH_BYTES)
        return send_pending(t);
    return LK_OK;
}

static lk_status pg_put(void *txn, const char *key, size_t klen, const char *val, size_t vlen)
{
    pg_txn *t = txn;
    lk_status st = check_write(t, klen, "put");
    if (st != LK_OK)
        return st;
    if (vlen > INT32_MAX - PG_MAX_KEY)
        return lk_seterr(LK_ERR_PARAM, "postgresql store: value of %zu bytes is too large", vlen);
    if (t->failed)
        return lk_seterr(LK_ERR_STORE, "postgresql store: write in a failed transaction");
    return pend_add(t, key, klen, val, vlen, false);
}

static lk_status pg_del(void *txn, const char *key, size_t klen)
{
    pg_txn *t = txn;
    lk_status st = check_write(t, klen, "delete");
    if (st != LK_OK)
        return klen == 0 || klen > PG_MAX_KEY ? (t->write ? LK_ERR_NOT_FOUND : st) : st;
    if (t->failed)
        return lk_seterr(LK_ERR_STORE, "postgresql store: write in a failed transaction");
    /* A key known to exist (a waiting put of it, or the row the scan is at)
     * waits like a put; whether another exists only the server can say. */
    const struct pend *p = pend_find(t, key, klen);
    if (p != NULL && p->del)
        return LK_ERR_NOT_FOUND; /* already deleted in this txn */
    if (p != NULL || at_scan_key(t, key, klen))
        return pend_add(t, key, klen, NULL, 0, true);
    if ((st = send_pending(t)) != LK_OK)
        return st;
    pre_change(t, key, klen, PRE_ABSENT);
    const char *v[1] = {key};
    int l[1] = {(int)klen};
    PGresult *r = query(t, "DELETE FROM latchkey_kv WHERE key = $1", 1, v, l);
    if (!ok_result(r))
        return fail(t, r, "deleting");
    bool none = strcmp(PQcmdTuples(r), "0") == 0;
    PQclear(r);
    if (none)
        return LK_ERR_NOT_FOUND;
    t->writes++;
    changed(t, key, klen);
    return LK_OK;
}

/* Rows with prefix <= key < successor(prefix) (no upper bound when the prefix
 * is empty or all 0xff), after `after` when given, at most limit of them. */
/* The first key after every key that starts with prefix, into succ; its
 * length, 0 when there is none (the prefix is empty or all 0xff). */
static size_t prefix_end(const char *prefix, size_t plen, char succ[PG_MAX_KEY + 1])
{
    size_t slen = plen <= PG_MAX_KEY ? plen : PG_MAX_KEY;
    memcpy(succ, prefix, slen);
    while (slen > 0 && (unsigned char)succ[slen - 1] == 0xff)
        slen--;
    if (slen > 0)
        succ[slen - 1] = (char)((unsigned char)succ[slen - 1] + 1);
    return slen;
}

static PGresult *scan_query(pg_txn *t, const char *prefix, size_t plen, const char *after, size_t alen, int limit)
{
    char succ[PG_MAX_KEY + 1];
    size_t slen = prefix_end(prefix, plen, succ);
    const char *v[3] = {after ? after : prefix, succ, NULL};
    int l[3] = {after ? (int)alen : (int)plen, (int)slen, 0};
    const char *lo = after ? "key > $1" : "key >= $1";
    char sql[192];
    snprintf(sql, sizeof sql, "SELECT key, value FROM latchkey_kv WHERE %s%s ORDER BY key LIMIT %d", lo,
             slen > 0 ? " AND key < $2" : "", limit);
    return query(t, sql, slen > 0 ? 2 : 1, v, l);
}

/* Scans read in pages, the first small, each next one twice as large: a
 * scan that stops early (the oldest audit entries, one key's records) reads
 * a few rows, not the whole range, and a whole-range scan few round trips. */
#define SCAN_PAGE_FIRST 64
#define SCAN_PAGE_MAX 8192

/* The next page, after key k (NULL: from the start), kept until the txn ends. */
static lk_status scan_page(pg_txn *t, const char *prefix, size_t plen, const char *k, size_t kl, int page,
                           PGresult **out)
{
    PGresult *r = scan_query(t, prefix, plen, k, kl, page);
    if (!ok_result(r))
        return fail(t, r, "scanning");
    *out = r;
    return keep(t, r);
}

static lk_status pg_scan(void *txn, const char *prefix, size_t plen, lk_scan_fn fn, void *arg)
{
    pg_txn *t = txn;
    lk_status st = t->c == NULL ? txn_start(t) : LK_OK;
    if (st == LK_OK)
        st = send_pending(t); /* the scan must see this txn's puts */
    if (st != LK_OK)
        return st;
    int page = SCAN_PAGE_FIRST;
    PGresult *r;
    if ((st = scan_page(t, prefix, plen, NULL, 0, page, &r)) != LK_OK)
        return st;
    for (int i = 0;; i++) {
        if (i == PQntuples(r)) {
            if (i < page || i == 0)
                return LK_OK; /* a short page is the last */
            const char *k = PQgetvalue(r, i - 1, 0);
            size_t kl = (size_t)PQgetlength(r, i - 1, 0);
            page = page < SCAN_PAGE_MAX / 2 ? page * 2 : SCAN_PAGE_MAX;
            if ((st = scan_page(t, prefix, plen, k, kl, page, &r)) != LK_OK)
                return st;
            i = -1;
            continue;
        }
        const char *k = PQgetvalue(r, i, 0);
        size_t kl = (size_t)PQgetlength(r, i, 0);
        unsigned long before = t->writes;
        const char *outer = t->scan_key; /* a callback may scan too */
        size_t outer_len = t->scan_klen;
        t->scan_key = k, t->scan_klen = kl;
        int stop = fn(arg, k, kl, PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1));
        t->scan_key = outer, t->scan_klen = outer_len;
        if (stop != 0)
            return LK_OK;
        if (t->writes != before) {
            /* The callback wrote another key: go on from this one in the
             * new state. (The next page needs no such care: the waiting
             * writes are all of keys already passed.) */
            if ((st = send_pending(t)) != LK_OK || (st = scan_page(t, prefix, plen, k, kl, page, &r)) != LK_OK)
                return st;
            i = -1;
        }
    }
}

/* One DELETE for the whole range; the notification then says "*" (drop
 * every cached record), as for any txn that changed too much to list. */
static lk_status pg_del_prefix(void *txn, const char *prefix, size_t plen, size_t *deleted)
{
    pg_txn *t = txn;
    *deleted = 0;
    lk_status st = check_write(t, plen, "delete");
    if (st != LK_OK)
        return st;
    if (t->failed)
        return lk_seterr(LK_ERR_STORE, "postgresql store: write in a failed transaction");
    if ((st = t->c == NULL ? txn_start(t) : LK_OK) != LK_OK || (st = send_pending(t)) != LK_OK)
        return st;
    char succ[PG_MAX_KEY + 1];
    size_t slen = prefix_end(prefix, plen, succ);
    const char *v[2] = {prefix, succ};
    int l[2] = {(int)plen, (int)slen};
    PGresult *r = query(t, slen > 0 ? "DELETE FROM latchkey_kv WHERE key >= $1 AND key < $2"
                                    : "DELETE FROM latchkey_kv WHERE key >= $1",
                        slen > 0 ? 2 : 1, v, l);
    if (!ok_result(r))
        return fail(t, r, "deleting");
    *deleted = (size_t)strtoull(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    for (size_t i = 0; i < t->npre; i++) /* what was prefetched in the range is gone */
        if (t->pre[i].klen >= plen && memcmp(t->pre[i].k, prefix, plen) == 0)
            pre_change(t, t->pre[i].k, t->pre[i].klen, PRE_ABSENT);
    if (*deleted > 0) {
        t->writes++;
        t->chg_all = true;
    }
    return LK_OK;
}

const lk_backend_ops lk_backend_postgresql = {
    .name = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .begin = pg_begin,
    .commit = pg_commit,
    .abort = pg_abort,
    .get = pg_get,
    .put = pg_put,
    .del = pg_del,
    .scan = pg_scan,
    .prefetch = pg_prefetch,
    .del_prefix = pg_del_prefix,
};
