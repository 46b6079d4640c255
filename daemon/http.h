/*
 * http.h — latchkeyd's HTTP verify endpoint for reverse proxies (nginx
 * auth_request, Traefik forwardAuth, Caddy forward_auth, Envoy ext_authz),
 * served by libmicrohttpd when daemon.http.listen is set.
 */
#ifndef LKD_HTTP_H
#define LKD_HTTP_H

#include "latchkeyd.h"

struct lkd_http;

/* Start serving cfg's daemon.http.listen; NULL (logged) on failure. */
struct lkd_http *lkd_http_start(struct lkd *d, const lk_config *cfg);
/* Stop: after lkd_drain, when no verify is waiting for an Argon2id thread. */
void lkd_http_stop(struct lkd_http *h);

#endif
