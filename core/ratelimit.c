/*
 * ratelimit.c — per-API-key request limits, counted in the ctx's memory so
 * that a verify never writes to the store.
 *
 * A fixed window per key: it starts at the key's first allowed request and
 * lasts window seconds (the ctx's clock, so tests run on the test clock);
 * within it at most limit requests pass. The table has a fixed size: ids
 * hash to a group of GROUP slots guarded by one of the stripe locks; a key
 * that finds its group full takes the slot whose window ended longest ago
 * (a still-running window is only taken when every slot of the group is
 * running, which needs more than GROUP limited keys in use in one group).
 * The table (about 330 KiB) is made when the ctx first meets a key with a
 * limit.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lk_internal.h"

#define GROUP 8
#define NGROUPS 1024 /* 8192 keys with a limit in use at once */
#define STRIPES 64

typedef struct slot {
    char id[LK_APIKEY_ID_LEN + 1]; /* "" when free */
    int64_t start;                 /* window start */
    uint32_t count, window;
} slot;

struct lk_rates {
    pthread_mutex_t locks[STRIPES];
    unsigned char hash_key[crypto_shorthash_KEYBYTES];
    slot slots[NGROUPS * GROUP];
};

static lk_rates *rates_new(void)
{
    lk_rates *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&r->locks[i], NULL);
    randombytes_buf(r->hash_key, sizeof r->hash_key); /* no chosen-id collisions */
    return r;
}

void lk_rates_free(lk_rates *r)
{
    if (r == NULL)
        return;
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&r->locks[i]);
    free(r);
}

void lk_rates_reset_after_fork(lk_rates *r)
{
    if (r == NULL)
        return;
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&r->locks[i], NULL);
    memset(r->slots, 0, sizeof r->slots); /* each process counts its own */
}

lk_status lk_rate_take(lk_ctx *ctx, const char *id, uint32_t limit, uint32_t window, int64_t now)
{
    lk_rates *r = atomic_load_explicit(&ctx->rates, memory_order_acquire);
    if (r == NULL) { /* the first key with a limit this ctx sees: ctxs without any never pay the memory */
        lk_rates *mine = rates_new(), *none = NULL;
        if (mine == NULL) /* fail closed */
            return lk_seterr(LK_DENY_RATE_LIMIT, "API key %s has a request limit and no memory to count it", id);
        if (atomic_compare_exchange_strong_explicit(&ctx->rates, &none, mine, memory_order_acq_rel,
                                                    memory_order_acquire)) {
            r = mine;
        } else {
            lk_rates_free(mine);
            r = none;
        }
    }
    unsigned char h[crypto_shorthash_BYTES];
    size_t idlen = strnlen(id, LK_APIKEY_ID_LEN);
    crypto_shorthash(h, (const unsigned char *)id, idlen, r->hash_key);
    size_t g = ((size_t)h[0] | (size_t)h[1] << 8) % NGROUPS;
    slot *s = &r->slots[g * GROUP], *mine = NULL, *victim = &s[0];
    pthread_mutex_t *lock = &r->locks[g % STRIPES];
    lk_status st = LK_OK;

    pthread_mutex_lock(lock);
    for (int i = 0; i < GROUP; i++) {
        if (strncmp(s[i].id, id, sizeof s[i].id) == 0) {
            mine = &s[i];
            break;
        }
        /* the best slot to take: a free one, else the window that ended first */
        if (victim->id[0] != '\0' && (s[i].id[0] == '\0' || s[i].start + s[i].window < victim->start + victim->window))
            victim = &s[i];
    }
    if (mine == NULL) {
        mine = victim;
        memcpy(mine->id, id, idlen);
        mine->id[idlen] = '\0';
        mine->count = 0;
        mine->start = now;
    }
    if (mine->window != window || now >= mine->start + (int64_t)window || now < mine->start) {
        mine->start = now; /* a new window (or the limit changed, or the clock went back) */
        mine->count = 0;
        mine->window = window;
    }
    if (mine->count >= limit)
        st = lk_seterr(LK_DENY_RATE_LIMIT, "API key %s: %u request(s) per %u s used up; the window ends in %lld s",
                       id, limit, window, (long long)(mine->start + window - now));
    else
        mine->count++;
    pthread_mutex_unlock(lock);
    return st;
}
