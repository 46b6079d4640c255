/*
 * manage.h — latchkeyd's management API (issue 20): the CAM access-key
 * actions and latchkey's API-key actions in the shape of Tencent Cloud API
 * 3.0, on a listener of its own (daemon.manage.listen), served by
 * libmicrohttpd, with TLS when daemon.manage.tls_cert is set.
 */
#ifndef LKD_MANAGE_H
#define LKD_MANAGE_H

#include "latchkeyd.h"

struct lkd_manage;

/* Start serving cfg's daemon.manage.listen; NULL (logged) on failure, with
 * *config_error set when a setting must change (plain HTTP on an address
 * that is not loopback, TLS files), naming it. */
struct lkd_manage *lkd_manage_start(struct lkd *d, const lk_config *cfg, bool *config_error);
/* Stop: after lkd_drain, when no request is waiting for an Argon2id thread. */
void lkd_manage_stop(struct lkd_manage *m);

#endif
