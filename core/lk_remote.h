/*
 * lk_remote.h — a ctx whose calls are answered by another process
 * (latchkeyd). The core knows only this table; client/ fills it with the
 * socket code, so core/ never touches a socket.
 *
 * A remote ctx has no store, cache or pending records: the calls listed
 * here go through the table, lk_flush is a no-op, and every other call
 * fails with LK_ERR_PARAM ("not available through latchkeyd").
 */
#ifndef LK_REMOTE_H
#define LK_REMOTE_H

#include "latchkey.h"

typedef struct lk_remote_ops {
    lk_status (*verify_key)(void *remote, const char *secret_id, const char *secret_key, size_t secret_len,
                            const lk_verify_req *req, lk_verify_info *info);
    lk_status (*verify_apikey)(void *remote, const char *apikey, size_t len, const lk_verify_req *req,
                               lk_verify_info *info);
    lk_status (*key_get)(void *remote, const char *secret_id, lk_access_key *out);
    /* out's lists are malloc'd like lk_apikey_get's (lk_apikey_release). */
    lk_status (*apikey_get)(void *remote, const char *id, lk_apikey *out);
    lk_status (*stats)(void *remote, lk_stats *out);
    /* As lk_login_check; out gets uin and login only. */
    lk_status (*login_check)(void *remote, const char *login, lk_user *out);
    /* Release everything; called once by lk_close. */
    void (*close)(void *remote);
} lk_remote_ops;

/* A ctx in client mode: takes ownership of remote (closed with ops->close,
 * also when this fails). */
lk_status lk_ctx_new_remote(const lk_remote_ops *ops, void *remote, lk_ctx **out);

#endif
