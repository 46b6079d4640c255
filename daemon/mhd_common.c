/*
 * mhd_common.c — see mhd_common.h.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "mhd_common.h"

bool lkd_mhd_addr(const char *listen, struct sockaddr_storage *ss, bool *v6, char host[64], uint16_t *port_out)
{
    memset(ss, 0, sizeof *ss);
    const char *colon = strrchr(listen, ':');
    if (colon == NULL)
        return false;
    *v6 = listen[0] == '[';
    size_t hl = (size_t)(colon - listen) - (*v6 ? 2 : 0);
    if (hl >= 64)
        return false;
    memcpy(host, listen + (*v6 ? 1 : 0), hl);
    host[hl] = '\0';
    uint16_t port = (uint16_t)strtoul(colon + 1, NULL, 10);
    *port_out = port;
    if (*v6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        return inet_pton(AF_INET6, host, &s6->sin6_addr) == 1;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    return inet_pton(AF_INET, host, &s4->sin_addr) == 1;
}

void lkd_mhd_peer(const struct sockaddr *sa, char *buf, size_t n)
{
    buf[0] = '\0';
    if (sa == NULL)
        return;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf, (socklen_t)n);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, buf, (socklen_t)n);
}

void lkd_mhd_conn_peer(struct MHD_Connection *c, char *buf, size_t n)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    lkd_mhd_peer(ci ? ci->client_addr : NULL, buf, n);
}

void lkd_mhd_wait_init(struct lkd_mhd_wait *w, struct MHD_Connection *conn)
{
    memset(w, 0, sizeof *w);
    w->conn = conn;
    pthread_mutex_init(&w->lock, NULL);
}

void lkd_mhd_wait_destroy(struct lkd_mhd_wait *w)
{
    pthread_mutex_destroy(&w->lock);
}

void lkd_mhd_wait_done(void *arg, lk_status st, const lk_verify_info *info)
{
    struct lkd_mhd_wait *w = arg;
    pthread_mutex_lock(&w->lock);
    w->st = st;
    w->info = *info;
    w->done = true;
    if (w->suspended)
        MHD_resume_connection(w->conn);
    pthread_mutex_unlock(&w->lock);
}

bool lkd_mhd_wait_begin(struct lkd_mhd_wait *w, lk_status *st, lk_verify_info *info)
{
    pthread_mutex_lock(&w->lock);
    w->queued = true;
    if (!w->done) {
        MHD_suspend_connection(w->conn);
        w->suspended = true;
    }
    bool done = w->done;
    *st = w->st;
    *info = w->info;
    pthread_mutex_unlock(&w->lock);
    return done;
}

bool lkd_mhd_wait_take(struct lkd_mhd_wait *w, lk_status *st, lk_verify_info *info)
{
    if (!w->queued)
        return false;
    pthread_mutex_lock(&w->lock);
    *st = w->st;
    *info = w->info;
    pthread_mutex_unlock(&w->lock);
    return true;
}
