/*
 * mhd_common.h — what latchkeyd's two libmicrohttpd listeners share: the
 * verify endpoint (http.c) and the management API (manage.c). Their
 * listening address, the peer's address as text, and the hand-over of a
 * verdict from an Argon2id thread to a suspended connection.
 */
#ifndef LKD_MHD_COMMON_H
#define LKD_MHD_COMMON_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "latchkeyd.h"

/* A validated listen setting ("a.b.c.d:port" or "[v6]:port") into ss; host
 * (64 bytes) gets the address text, port the port. false when it does not fit. */
bool lkd_mhd_addr(const char *listen, struct sockaddr_storage *ss, bool *v6, char host[64], uint16_t *port);

/* The peer's address as text ("" when unknown); n >= INET6_ADDRSTRLEN. */
void lkd_mhd_peer(const struct sockaddr *sa, char *buf, size_t n);
void lkd_mhd_conn_peer(struct MHD_Connection *c, char *buf, size_t n);

/* A verify that went to the Argon2id pool: the connection is suspended
 * until lkd_mhd_wait_done (an lkd_verify_done, called from the Argon2id
 * thread) resumes it, and the verdict is taken when libmicrohttpd calls the
 * request handler again. */
struct lkd_mhd_wait {
    struct MHD_Connection *conn;
    pthread_mutex_t lock;
    bool queued, suspended, done;
    lk_status st;
    lk_verify_info info;
};
void lkd_mhd_wait_init(struct lkd_mhd_wait *w, struct MHD_Connection *conn);
void lkd_mhd_wait_destroy(struct lkd_mhd_wait *w);
lkd_verify_done lkd_mhd_wait_done; /* arg: the struct lkd_mhd_wait */
/* After lkd_verify answered LK_ERR_NEEDS_HASH: suspend unless the verdict
 * is in already; true (st, info filled) when it is. */
bool lkd_mhd_wait_begin(struct lkd_mhd_wait *w, lk_status *st, lk_verify_info *info);
/* On a later call of the handler: true (st, info filled) when this request
 * waited and its verdict is in. */
bool lkd_mhd_wait_take(struct lkd_mhd_wait *w, lk_status *st, lk_verify_info *info);

#endif
