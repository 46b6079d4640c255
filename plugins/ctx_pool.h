/*
 * ctx_pool.h — one shared lk_ctx per configuration file, per process.
 *
 * For hosts whose plugin API has no per-process state of its own (PAM makes
 * a new handle for every transaction). Without it, every login would reopen
 * the store and start with a cold verified-secret cache: one Argon2id per
 * login even for a key verified a moment ago.
 */
#ifndef LK_CTX_POOL_H
#define LK_CTX_POOL_H

#include "latchkey.h"

typedef struct lk_pool_ref lk_pool_ref;

/* The ctx for config_path, opened on first use, reopened when the file
 * changes (inode, size or mtime). On failure returns lk_open's status. */
lk_status lk_pool_acquire(const char *config_path, lk_ctx **ctx, lk_pool_ref **ref);
/* The same for a connection to latchkeyd on socket_path (lk_connect),
 * renewed when the socket file is replaced (the service restarted). */
lk_status lk_pool_acquire_socket(const char *socket_path, lk_ctx **ctx, lk_pool_ref **ref);
lk_ctx *lk_pool_ctx(const lk_pool_ref *ref);
/* Give back what acquire returned; a retired ctx is closed at its last release. */
void lk_pool_release(lk_pool_ref *ref);

/* Write the access records every pooled ctx still queues: for hosts whose
 * processes exit without closing what they opened (Apache children). */
void lk_pool_flush_all(void);

#endif
