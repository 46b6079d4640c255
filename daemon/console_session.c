/*
 * console_session.c — see console_session.h.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "console_session.h"

struct lkc_slot {
    bool used;
    unsigned char id_hash[crypto_generichash_BYTES];
    char csrf[LKC_TOKEN_HEX + 1];
    struct lkc_who who;
    int64_t created, last;
};

struct lkc_table {
    pthread_mutex_t lock;
    struct lkc_slot *s;
    size_t cap;
    unsigned idle_s, max_s;
};

struct lkc_table *lkc_new(size_t cap, unsigned idle_s, unsigned max_s)
{
    struct lkc_table *t = calloc(1, sizeof *t);
    if (t == NULL || cap == 0)
        return free(t), NULL;
    /* guarded: the CSRF tokens are live credentials */
    t->s = sodium_allocarray(cap, sizeof *t->s);
    if (t->s == NULL)
        return free(t), NULL;
    sodium_memzero(t->s, cap * sizeof *t->s);
    pthread_mutex_init(&t->lock, NULL);
    t->cap = cap;
    t->idle_s = idle_s;
    t->max_s = max_s;
    return t;
}

void lkc_free(struct lkc_table *t)
{
    if (t == NULL)
        return;
    sodium_free(t->s); /* wipes */
    pthread_mutex_destroy(&t->lock);
    free(t);
}

static void random_hex(char out[LKC_TOKEN_HEX + 1])
{
    unsigned char b[LKC_TOKEN_HEX / 2];
    randombytes_buf(b, sizeof b);
    sodium_bin2hex(out, LKC_TOKEN_HEX + 1, b, sizeof b);
    sodium_memzero(b, sizeof b);
}

/* The hash of a well-formed id (64 lower-case hex digits); false otherwise. */
static bool id_hash(const char *id, unsigned char h[crypto_generichash_BYTES])
{
    if (id == NULL || strlen(id) != LKC_TOKEN_HEX || strspn(id, "0123456789abcdef") != LKC_TOKEN_HEX)
        return false;
    crypto_generichash(h, crypto_generichash_BYTES, (const unsigned char *)id, LKC_TOKEN_HEX, NULL, 0);
    return true;
}

static void clear(struct lkc_slot *s)
{
    sodium_memzero(s, sizeof *s);
}

lk_status lkc_create(struct lkc_table *t, const struct lkc_who *who, int64_t now, char id[LKC_TOKEN_HEX + 1],
                     char csrf[LKC_TOKEN_HEX + 1])
{
    if (t == NULL || who == NULL || who->uin == 0)
        return LK_ERR_PARAM;
    random_hex(id);
    random_hex(csrf);
    pthread_mutex_lock(&t->lock);
    struct lkc_slot *pick = NULL;
    for (size_t i = 0; i < t->cap; i++) {
        struct lkc_slot *s = &t->s[i];
        if (!s->used) {
            pick = s;
            break;
        }
        if (pick == NULL || s->last < pick->last)
            pick = s; /* full: the longest unused goes */
    }
    clear(pick);
    pick->used = true;
    id_hash(id, pick->id_hash);
    memcpy(pick->csrf, csrf, LKC_TOKEN_HEX + 1);
    pick->who = *who;
    pick->created = pick->last = now;
    pthread_mutex_unlock(&t->lock);
    return LK_OK;
}

static struct lkc_slot *find(struct lkc_table *t, const unsigned char h[crypto_generichash_BYTES])
{
    for (size_t i = 0; i < t->cap; i++)
        if (t->s[i].used && sodium_memcmp(t->s[i].id_hash, h, crypto_generichash_BYTES) == 0)
            return &t->s[i];
    return NULL;
}

enum lkc_result lkc_use(struct lkc_table *t, const char *id, const char *csrf, int64_t now, struct lkc_who *who,
                        char csrf_out[LKC_TOKEN_HEX + 1])
{
    unsigned char h[crypto_generichash_BYTES];
    if (t == NULL || !id_hash(id, h))
        return LKC_NONE;
    pthread_mutex_lock(&t->lock);
    enum lkc_result r = LKC_OK;
    struct lkc_slot *s = find(t, h);
    if (s == NULL) {
        r = LKC_NONE;
    } else if (now - s->last >= (int64_t)t->idle_s || now - s->created >= (int64_t)t->max_s || now < s->created) {
        clear(s); /* a clock gone backwards ends it too: fail closed */
        r = LKC_EXPIRED;
    } else if (csrf != NULL && (strlen(csrf) != LKC_TOKEN_HEX ||
                                sodium_memcmp(csrf, s->csrf, LKC_TOKEN_HEX) != 0)) {
        r = LKC_BAD_CSRF;
    } else {
        s->last = now;
        if (who != NULL)
            *who = s->who;
        if (csrf_out != NULL)
            memcpy(csrf_out, s->csrf, LKC_TOKEN_HEX + 1);
    }
    pthread_mutex_unlock(&t->lock);
    return r;
}

bool lkc_end(struct lkc_table *t, const char *id)
{
    unsigned char h[crypto_generichash_BYTES];
    if (t == NULL || !id_hash(id, h))
        return false;
    pthread_mutex_lock(&t->lock);
    struct lkc_slot *s = find(t, h);
    if (s != NULL)
        clear(s);
    pthread_mutex_unlock(&t->lock);
    return s != NULL;
}

void lkc_end_key(struct lkc_table *t, const char *secret_id)
{
    if (t == NULL || secret_id == NULL || *secret_id == '\0')
        return;
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < t->cap; i++)
        if (t->s[i].used && strcmp(t->s[i].who.secret_id, secret_id) == 0)
            clear(&t->s[i]);
    pthread_mutex_unlock(&t->lock);
}

size_t lkc_count(struct lkc_table *t)
{
    size_t n = 0;
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < t->cap; i++)
        n += t->s[i].used;
    pthread_mutex_unlock(&t->lock);
    return n;
}

bool lkc_static_path_ok(const char *rel)
{
    size_t n = strlen(rel);
    if (n == 0 || n > 200 || strspn(rel, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/") != n)
        return false;
    for (const char *seg = rel;;) {
        if (*seg == '\0' || *seg == '/' || *seg == '.')
            return false; /* empty, "//", trailing '/', ".", "..", hidden */
        const char *slash = strchr(seg, '/');
        if (slash == NULL)
            return true;
        seg = slash + 1;
    }
}

const char *lkc_content_type(const char *rel)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(rel, '.'), *slash = strrchr(rel, '/');
    if (dot == NULL || (slash != NULL && dot < slash))
        return NULL;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return NULL;
}
