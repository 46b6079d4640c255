/*
 * lk_remote.h — a ctx whose calls are answered by another process
 * (latchkeyd). The core knows only this table; client/ fills it with the
 * socket code, so core/ never touches a socket.
 *
 * A remote ctx has no store, cache or pending records: the calls listed
 * here go through the table, lk_flush is a no-op, and every other call
 * fails with LK_ERR_PARAM ("not available through latchkeyd"). Two clients
 * fill it: client/client.c (lk_connect, latchkeyd's UNIX socket: the
 * verify and lookup members) and client/endpoint.c (lk_connect_endpoint,
 * the management API over HTTP: the key-management members). A member
 * left NULL is a call that client does not serve (LK_ERR_PARAM).
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
    /* The management plane, as the public calls of the same names; an
     * owner_uin / uin of 0 means the caller itself. */
    lk_status (*key_create)(void *remote, uint64_t uin, int64_t expire_time, lk_access_key *out,
                            lk_secret **secret_key);
    lk_status (*key_list)(void *remote, uint64_t uin, lk_access_key **out, size_t *count);
    lk_status (*key_set_status)(void *remote, const char *secret_id, uint64_t owner_uin, lk_key_status st);
    lk_status (*key_delete)(void *remote, const char *secret_id, uint64_t owner_uin);
    lk_status (*records)(void *remote, const char *key_id, lk_access_record out[LK_RECORDS_MAX], size_t *count,
                         int64_t *last_access_time);
    lk_status (*apikey_create)(void *remote, uint64_t root_uin, const lk_apikey_spec *spec, lk_apikey *out,
                               lk_secret **key);
    lk_status (*apikey_list)(void *remote, uint64_t root_uin, lk_apikey **out, size_t *count);
    lk_status (*apikey_edit)(void *remote, const char *id, const lk_apikey_edit *edit);
    lk_status (*apikey_set_status)(void *remote, const char *id, lk_key_status st);
    lk_status (*apikey_delete)(void *remote, const char *id);
    lk_status (*key_set_expiry)(void *remote, const char *secret_id, uint64_t owner_uin, int64_t expire_time);
    lk_status (*key_rotate)(void *remote, const char *secret_id, uint64_t owner_uin, const lk_rotate_opts *o,
                            lk_access_key *out, lk_secret **secret_key);
    lk_status (*apikey_reroll)(void *remote, const char *id, const lk_rotate_opts *o, lk_apikey *out,
                               lk_secret **key);
    lk_status (*apikey_find)(void *remote, uint64_t root_uin, const char *name, lk_apikey *out);
    lk_status (*user_get)(void *remote, uint64_t uin, lk_user *out);
    lk_status (*user_set_self_service)(void *remote, uint64_t uin, lk_self_service s);
    /* Release everything; called once by lk_close. */
    void (*close)(void *remote);
} lk_remote_ops;

/* A ctx in client mode: takes ownership of remote (closed with ops->close,
 * also when this fails). */
lk_status lk_ctx_new_remote(const lk_remote_ops *ops, void *remote, lk_ctx **out);

#endif
