/*
 * cache.c — the verified-secret cache that keeps Argon2id off the hot path.
 *
 * Entry: key id -> BLAKE2b-256 keyed with a per-process random key over
 * (id, stored Argon2id string, secret). A later verify whose MAC matches
 * (constant-time) skips Argon2id. The cache never holds a plain secret;
 * including the stored hash means a key whose hash changed can never be
 * matched by a stale entry. Of the stored string only its last field, the
 * Argon2id output, goes in: it is a function of the salt, the parameters
 * and the secret, so any new hash (a new secret, a rehash with a new salt
 * or cost) changes it, and the MAC input fits two BLAKE2b blocks instead
 * of three (a quarter of a warm verify was this MAC). Only secrets that
 * passed Argon2id are put in.
 *
 * Layout: 4-way set-associative with a CLOCK reference bit per entry, so
 * memory is fixed at creation and lookups touch one set. Sets are guarded by
 * a stripe of mutexes. Everything lives in sodium_malloc memory.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lk_internal.h"

#define WAYS 4
#define STRIPES 64
#define MAC_LEN 32
#define ID_MAX (LK_SECRET_ID_LEN + 1)

typedef struct entry {
    char id[ID_MAX];
    unsigned char mac[MAC_LEN];
    unsigned char used, ref;
} entry;

struct lk_cache {
    size_t nsets; /* power of two */
    entry *entries;             /* nsets * WAYS, sodium_malloc */
    unsigned char *mac_key;     /* crypto_generichash_KEYBYTES, sodium_malloc, read-only */
    pthread_mutex_t locks[STRIPES];
    unsigned char hand[STRIPES]; /* CLOCK hand per stripe is enough: sets are tiny */
};

lk_cache *lk_cache_new(size_t wanted)
{
    if (wanted == 0)
        return NULL;
    lk_cache *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->nsets = 1;
    while (c->nsets * WAYS < wanted)
        c->nsets <<= 1;
    c->entries = sodium_allocarray(c->nsets * WAYS, sizeof(entry));
    c->mac_key = sodium_malloc(crypto_generichash_KEYBYTES);
    if (c->entries == NULL || c->mac_key == NULL) {
        sodium_free(c->entries);
        sodium_free(c->mac_key);
        free(c);
        return NULL;
    }
    sodium_memzero(c->entries, c->nsets * WAYS * sizeof(entry));
    randombytes_buf(c->mac_key, crypto_generichash_KEYBYTES);
    sodium_mprotect_readonly(c->mac_key);
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&c->locks[i], NULL);
    return c;
}

void lk_cache_free(lk_cache *c)
{
    if (c == NULL)
        return;
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&c->locks[i]);
    sodium_free(c->entries);
    sodium_free(c->mac_key);
    free(c);
}

/* FNV-1a: ids are random, public and checked in full after the lookup. */
static size_t set_of(const lk_cache *c, const char *id)
{
    uint64_t h = 1469598103934665603ull;
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 1099511628211ull;
    return (size_t)(h ^ (h >> 29)) & (c->nsets - 1);
}

static void mac_of(const lk_cache *c, const char *id, const char *hash, const char *secret, size_t len,
                   unsigned char out[MAC_LEN])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, c->mac_key, crypto_generichash_KEYBYTES, MAC_LEN);
    /* NUL separators keep (id, hash, secret) unambiguous. */
    const char *tag = strrchr(hash, '$'); /* "$argon2id$v=19$m=..$salt$OUTPUT" */
    tag = tag != NULL ? tag + 1 : hash;
    crypto_generichash_update(&st, (const unsigned char *)id, strlen(id) + 1);
    crypto_generichash_update(&st, (const unsigned char *)tag, strlen(tag) + 1);
    crypto_generichash_update(&st, (const unsigned char *)secret, len);
    crypto_generichash_final(&st, out, MAC_LEN);
    sodium_memzero(&st, sizeof st);
}

static entry *find(lk_cache *c, size_t set, const char *id)
{
    entry *e = &c->entries[set * WAYS];
    for (int w = 0; w < WAYS; w++)
        if (e[w].used && strcmp(e[w].id, id) == 0)
            return &e[w];
    return NULL;
}

bool lk_cache_check(lk_cache *c, const char *id, const char *hash, const char *secret, size_t len)
{
    unsigned char mac[MAC_LEN];
    bool hit = false;

    if (c == NULL || strlen(id) >= ID_MAX)
        return false;
    mac_of(c, id, hash, secret, len, mac);
    size_t set = set_of(c, id);
    pthread_mutex_t *lock = &c->locks[set % STRIPES];
    pthread_mutex_lock(lock);
    entry *e = find(c, set, id);
    if (e != NULL && sodium_memcmp(e->mac, mac, MAC_LEN) == 0) {
        e->ref = 1;
        hit = true;
    }
    pthread_mutex_unlock(lock);
    sodium_memzero(mac, sizeof mac);
    return hit;
}

void lk_cache_put(lk_cache *c, const char *id, const char *hash, const char *secret, size_t len)
{
    unsigned char mac[MAC_LEN];

    if (c == NULL || strlen(id) >= ID_MAX)
        return;
    mac_of(c, id, hash, secret, len, mac);
    size_t set = set_of(c, id);
    size_t stripe = set % STRIPES;
    pthread_mutex_lock(&c->locks[stripe]);
    entry *e = find(c, set, id);
    if (e == NULL) {
        entry *ways = &c->entries[set * WAYS];
        /* CLOCK: a free way, else the first way whose reference bit is clear,
         * clearing bits as the hand passes. */
        for (int w = 0; w < WAYS && e == NULL; w++)
            if (!ways[w].used)
                e = &ways[w];
        while (e == NULL) {
            entry *cand = &ways[c->hand[stripe] % WAYS];
            c->hand[stripe]++;
            if (cand->ref)
                cand->ref = 0;
            else
                e = cand;
        }
        strcpy(e->id, id);
        e->used = 1;
    }
    memcpy(e->mac, mac, MAC_LEN);
    e->ref = 1;
    pthread_mutex_unlock(&c->locks[stripe]);
    sodium_memzero(mac, sizeof mac);
}

void lk_cache_evict(lk_cache *c, const char *id)
{
    if (c == NULL || strlen(id) >= ID_MAX)
        return;
    size_t set = set_of(c, id);
    pthread_mutex_lock(&c->locks[set % STRIPES]);
    entry *e = find(c, set, id);
    if (e != NULL)
        sodium_memzero(e, sizeof *e);
    pthread_mutex_unlock(&c->locks[set % STRIPES]);
}

void lk_cache_reset_after_fork(lk_cache *c)
{
    if (c == NULL)
        return;
    /* Re-initialised, never unlocked: a lock held at fork() belongs to a
     * parent thread that does not exist in this process. */
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&c->locks[i], NULL);
    sodium_memzero(c->entries, c->nsets * WAYS * sizeof(entry));
    memset(c->hand, 0, sizeof c->hand);
}
