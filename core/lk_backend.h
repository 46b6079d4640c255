/*
 * lk_backend.h — the storage vtable. The core talks to storage only through
 * this table; each file in backends/ fills one (Dovecot's passdb model).
 *
 * Data model: an ordered map of byte-string keys to byte-string values. The
 * core stores printable text in both, but a backend must accept any bytes.
 *
 * Transactions: every get/put/del/scan happens inside one. A read
 * transaction sees one consistent snapshot. A write transaction is exclusive
 * across threads and processes (one writer at a time, readers never blocked)
 * and its changes become visible to others all at once at commit, or never.
 * Pointers returned by get/scan stay valid until the transaction ends or the
 * same transaction writes. A thread holds at most one transaction of a
 * handle at a time (LMDB waits for the transactions in flight before it
 * switches to a replaced store file).
 *
 * Errors: functions return an lk_status and, on failure, set the thread's
 * message with lk_seterr(). Missing keys are LK_ERR_NOT_FOUND (no message
 * needed).
 */
#ifndef LK_BACKEND_H
#define LK_BACKEND_H

#include "latchkey.h"

typedef struct lk_backend_conf {
    const char *path;      /* store file (file backends) */
    const char *conninfo;  /* PostgreSQL: libpq connection string (store.conninfo); others ignore */
    uint64_t map_size;     /* LMDB: map size in bytes; others ignore */
    size_t cache_entries;  /* PostgreSQL: records cached per handle, 0: none (store.cache_entries); others ignore */
    int read_only;         /* open for reading only (never creates) */
    int create;            /* create the store if missing; else a missing store is LK_ERR_STORE */
    /* Optional (NULL: not asked). A backend that stores elsewhere than path
     * writes there, on a successful open, "WHERE\nWHAT": where the store is,
     * for a person (PostgreSQL: host:port/db, never the conninfo), and with
     * create, what was done ("schema version 2, created", "..., already
     * current", "..., upgraded from version 1"). Others leave it alone. */
    char *report;
    size_t report_size;
} lk_backend_conf;

/* Return 0 to continue, non-zero to stop the scan (scan then returns LK_OK). */
typedef int (*lk_scan_fn)(void *arg, const char *key, size_t klen, const char *val, size_t vlen);

typedef struct lk_backend_ops {
    const char *name;
    /* Create the store (mode 0600) if missing when create is set and
     * read_only is not; otherwise a missing store is LK_ERR_STORE with a
     * message naming the path and `latchkey init`. Refuse an existing store
     * that is group/world-writable or owned by another non-root user
     * (LK_ERR_STORE_PERM). A missing parent directory is an LK_ERR_STORE
     * error naming it. */
    lk_status (*open)(const lk_backend_conf *conf, void **handle);
    void (*close)(void *handle);
    lk_status (*begin)(void *handle, int write, void **txn);
    lk_status (*commit)(void *txn);  /* ends the txn, also on failure */
    void (*abort)(void *txn);
    lk_status (*get)(void *txn, const char *key, size_t klen, const char **val, size_t *vlen);
    lk_status (*put)(void *txn, const char *key, size_t klen, const char *val, size_t vlen);
    lk_status (*del)(void *txn, const char *key, size_t klen);
    /* Keys starting with prefix, in ascending byte order. */
    lk_status (*scan)(void *txn, const char *prefix, size_t plen, lk_scan_fn fn, void *arg);
    /* Optional (NULL: the backend cannot tell, and lk_store_generation
     * answers 0, "read every time"). Without a txn, and cheaply (no system
     * call on most calls: it runs per MQTT message): *token changes whenever
     * a write txn commits on the store, in any process; *epoch changes when
     * the handle switched to another store file (a restore renamed a copy
     * over it). Equal values twice mean nothing was committed between. */
    lk_status (*change_token)(void *handle, uint64_t *epoch, uint64_t *token);
    /* Optional (NULL: nothing to gain). A hint that the txn is about to get
     * these n keys: a backend whose every get is a round trip may fetch them
     * all at once. Gets must answer exactly as without the hint, including
     * after the txn's own puts and deletes. */
    lk_status (*prefetch)(void *txn, const char *const *keys, const size_t *klens, size_t n);
    /* Optional (NULL: the core deletes key by key). Delete every key that
     * starts with prefix (plen >= 1) inside the write txn, at once (a store
     * copy's --replace empties thousands of records: PostgreSQL deletes them
     * in one statement, not one round trip each). *deleted: how many. As
     * with del, the txn's later gets and scans see them gone, others only
     * after the commit. */
    lk_status (*del_prefix)(void *txn, const char *prefix, size_t plen, size_t *deleted);
} lk_backend_ops;

/* backends/registry.c: the compiled-in backends, by config name. */
const lk_backend_ops *lk_backend_find(const char *name);
extern const lk_backend_ops lk_backend_lmdb;
extern const lk_backend_ops lk_backend_flatfile;
#ifdef HAVE_POSTGRESQL
extern const lk_backend_ops lk_backend_postgresql;
#endif

#endif
