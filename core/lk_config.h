/*
 * lk_config.h — the parsed configuration (core/config.c fills it from YAML
 * with libyaml). Internal: callers use the lk_config_* functions.
 */
#ifndef LK_CONFIG_H
#define LK_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include "latchkey.h"

#ifndef LK_DEFAULT_STORE
#define LK_DEFAULT_STORE "/var/lib/latchkey/store.mdb"
#endif

struct lk_config {
    char *source;              /* file it came from, or NULL */
    char *backend;             /* store.backend: "lmdb" (default) | "flatfile" */
    char *store_path;          /* store.path, made absolute against the file's dir */
    uint64_t map_size;         /* store.map_size_mb (LMDB), in bytes; default 1024 MiB */
    uint64_t opslimit;         /* hash.opslimit; default crypto_pwhash_OPSLIMIT_INTERACTIVE */
    size_t memlimit;           /* hash.memlimit_kib, in bytes; default MEMLIMIT_INTERACTIVE */
    unsigned keys_per_user;    /* limits.keys_per_user: default 2, 1..100 */
    unsigned apikeys_per_account; /* limits.apikeys_per_account: default 50, 1..100000 */
    unsigned records_keep;     /* records.keep: default 20, 0..20 */
    unsigned retention_days;   /* records.retention_days: default 90, 1..3650 */
    unsigned flush_interval_ms;/* records.flush_interval_ms: default 1000, 0..60000 (0: write at once) */
    unsigned flush_batch;      /* records.flush_batch: default 4096, 1..100000 */
    unsigned cache_entries;    /* cache.entries: default 10000, 0..10000000 (0: no cache) */
    char getbuf[64];           /* lk_config_get's scratch for numbers (not thread-safe per cfg) */
};

#endif
