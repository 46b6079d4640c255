/*
 * events.c — what latchkeyd tells the operator about its traffic: denials
 * (daemon.log_denials) and the store going away and coming back.
 *
 * A denial line names the code, the key id, the peer (uid and pid on the
 * socket, the client's address as the HTTP endpoint took it) and the
 * service; never a secret, a login or the library's message. With "first"
 * (the default) the lines are bounded by counts, however fast denials come:
 * for a key and a peer (a uid on the socket, an address on HTTP) the 1st,
 * 10th, 100th... denial of a DENY_WINDOW_MS window is logged with its
 * count, and at most DENY_LINES_MAX lines are written per window in all (a
 * flood over many keys), the rest counted in the next line. A store outage
 * is logged when the first request fails on it, and its end when a request
 * or a flush succeeds again; a request that succeeds while the store is up
 * reads one atomic flag, no lock.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "latchkeyd.h"

#define DENY_SLOTS 1024
#define DENY_WINDOW_MS 60000
#define DENY_LINES_MAX 100 /* per window, every key and peer together */

struct deny_slot {
    uint64_t tag; /* keyed hash of (key id, peer); 0: free */
    int64_t since_ms;
    unsigned long long count;
};

struct lkd_events {
    pthread_mutex_t lock;
    unsigned char key[crypto_shorthash_KEYBYTES];
    struct deny_slot slots[DENY_SLOTS];
    int64_t window_ms;
    unsigned lines;
    unsigned long long unlogged; /* over DENY_LINES_MAX since the last line */
    atomic_bool store_down; /* written under lock; read without it on the hot path */
    int64_t down_since_ms;
    unsigned long long down_failures;
};

int lkd_events_init(struct lkd *d)
{
    d->events = calloc(1, sizeof *d->events);
    if (d->events == NULL)
        return -1;
    pthread_mutex_init(&d->events->lock, NULL);
    crypto_shorthash_keygen(d->events->key);
    return 0;
}

void lkd_events_free(struct lkd *d)
{
    if (d->events == NULL)
        return;
    pthread_mutex_destroy(&d->events->lock);
    free(d->events);
    d->events = NULL;
}

unsigned lkd_log_denials_level(const char *name)
{
    if (name != NULL && strcmp(name, "none") == 0)
        return LKD_LOG_DENIALS_NONE;
    if (name != NULL && strcmp(name, "all") == 0)
        return LKD_LOG_DENIALS_ALL;
    return LKD_LOG_DENIALS_FIRST;
}

static bool power_of_ten(unsigned long long n)
{
    while (n >= 10 && n % 10 == 0)
        n /= 10;
    return n == 1;
}

/* Whether this denial is logged, under "first"; *count: the key and
 * peer's denials in this window, *unlogged: the lines held back before it. */
static bool deny_due(struct lkd_events *ev, const char *key_id, const char *peer, unsigned long long *count,
                     unsigned long long *unlogged)
{
    uint64_t tag;
    unsigned char in[LK_SECRET_ID_LEN + 1 + 96];
    size_t kl = strnlen(key_id, LK_SECRET_ID_LEN), pl = strnlen(peer, 95);
    memcpy(in, key_id, kl);
    in[kl] = '\n';
    memcpy(in + kl + 1, peer, pl);
    crypto_shorthash((unsigned char *)&tag, in, kl + 1 + pl, ev->key);
    tag |= 1; /* never 0: a free slot */
    int64_t now = lkd_mono_ms();
    bool due;
    pthread_mutex_lock(&ev->lock);
    if (now - ev->window_ms >= DENY_WINDOW_MS) {
        ev->window_ms = now;
        ev->lines = 0;
    }
    struct deny_slot *s = &ev->slots[tag % DENY_SLOTS];
    if (s->tag != tag || now - s->since_ms >= DENY_WINDOW_MS) {
        s->tag = tag;
        s->since_ms = now;
        s->count = 0;
    }
    *count = ++s->count;
    due = power_of_ten(s->count);
    if (due && ev->lines >= DENY_LINES_MAX) {
        ev->unlogged++;
        due = false;
    }
    if (due) {
        ev->lines++;
        *unlogged = ev->unlogged;
        ev->unlogged = 0;
    }
    pthread_mutex_unlock(&ev->lock);
    return due;
}

void lkd_note_verdict(struct lkd *d, lk_status st, const lk_verify_info *info, const char *secret_id,
                      const struct lkd_conn *c, const lk_verify_req *req)
{
    /* An unknown SecretId passed the format's checksum to be looked up: an
     * id, not a secret, and what the operator needs to see. */
    const char *key_id = info != NULL && info->key_id[0] ? info->key_id
                         : st == LK_DENY_UNKNOWN_KEY && secret_id != NULL ? secret_id
                                                                          : NULL;
    if (st == LK_ERR_STORE) {
        lkd_store_note(d, false, lk_errmsg(NULL));
        return;
    }
    if (st == LK_OK) {
        lkd_store_note(d, true, NULL); /* every verify reads the key's record: the store answered */
        return;
    }
    unsigned level = atomic_load(&d->pol.log_denials);
    if (!lk_status_is_denial(st) || level == LKD_LOG_DENIALS_NONE)
        return;
    char peer[96], more[128] = "";
    if (c != NULL)
        lkd_conn_peer(c, peer, sizeof peer);
    else
        snprintf(peer, sizeof peer, "address %.64s", req != NULL && req->client_ip ? req->client_ip : "-");
    if (key_id == NULL || *key_id == '\0')
        key_id = "-";
    if (level == LKD_LOG_DENIALS_FIRST) {
        unsigned long long count, unlogged;
        /* per uid, not per pid: a forking host (sshd) is one peer */
        int same = (int)(strstr(peer, " pid ") ? (size_t)(strstr(peer, " pid ") - peer) : strlen(peer));
        char who[96];
        snprintf(who, sizeof who, "%.*s", same, peer);
        if (!deny_due(d->events, key_id, who, &count, &unlogged))
            return;
        size_t o = 0;
        if (count > 1)
            o += (size_t)snprintf(more, sizeof more, " (%llu such denials within %d s; the next line at %llu)", count,
                                  DENY_WINDOW_MS / 1000, count * 10);
        if (unlogged > 0 && o < sizeof more)
            snprintf(more + o, sizeof more - o, " (%llu other denials not logged: over %d lines a minute)", unlogged,
                     DENY_LINES_MAX);
    }
    /* The service is the client's word: bounded, and printable only. */
    char svc[72] = "-";
    if (req != NULL && req->service != NULL) {
        size_t o = 0;
        for (const char *p = req->service; *p && o < 64; p++)
            svc[o++] = (*p > ' ' && *p < 0x7f && *p != '"') ? *p : '?';
        svc[o] = '\0';
    }
    lkd_log("denied %s: key %s, %s, service %s%s", lk_status_code(st), key_id, peer, svc, more);
}

void lkd_store_note(struct lkd *d, bool ok, const char *msg)
{
    struct lkd_events *ev = d->events;
    char line[600];
    if (ok && !atomic_load(&ev->store_down)) /* every allowed verify: no lock */
        return;
    line[0] = '\0';
    pthread_mutex_lock(&ev->lock);
    if (!ok && !atomic_load(&ev->store_down)) {
        atomic_store(&ev->store_down, true);
        ev->down_since_ms = lkd_mono_ms();
        ev->down_failures = 1;
        snprintf(line, sizeof line,
                 "error: the store is unavailable: %.400s; requests that need it fail (FailedOperation.Storage) until "
                 "it answers again",
                 msg ? msg : "?");
    } else if (!ok) {
        ev->down_failures++;
    } else if (atomic_load(&ev->store_down)) {
        atomic_store(&ev->store_down, false);
        snprintf(line, sizeof line, "the store answers again, after %" PRId64 " s (%llu failures meanwhile)",
                 (lkd_mono_ms() - ev->down_since_ms) / 1000, ev->down_failures);
    }
    pthread_mutex_unlock(&ev->lock);
    if (line[0] != '\0')
        lkd_log("%s", line);
}
