/*
 * bench_load.c — bulk-load a store with up to millions of access keys.
 *
 * lk_key_create costs an Argon2id and a write transaction per key: far too
 * slow for a million. Here every filler key shares one precomputed Argon2id
 * string (minimal cost) of one known SecretKey, and all records of a batch go
 * in ONE write transaction. The records themselves are built with the core's
 * own helpers (lk_rec_*, lk_key_*) field by field in the order lk_user_add
 * and put_ak (access_keys.c) write them, so the store holds exactly what
 * lk_key_create would have written; bench_bulk_check reads one back through
 * the public API to prove it.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "bench.h"

/* Filler users get UINs far from the few real users the bench creates. */
#define FILLER_UIN_BASE UINT64_C(1000000000000)
#define ARENA_BLOCK (64u << 20)

typedef struct kv {
    const char *key; /* NUL-terminated, as lk_txn_put_raw wants */
    const char *val;
    size_t vlen;
} kv;

/* Bump allocator: millions of small strings, freed at once. */
typedef struct arena {
    char **blocks;
    size_t n, cap;
    char *cur;
    size_t left;
} arena;

static char *arena_dup(arena *a, const char *s, size_t len)
{
    if (len + 1 > a->left) {
        size_t sz = len + 1 > ARENA_BLOCK ? len + 1 : ARENA_BLOCK;
        if (a->n == a->cap) {
            size_t cap = a->cap ? a->cap * 2 : 16;
            char **nb = realloc(a->blocks, cap * sizeof *nb);
            if (nb == NULL)
                return NULL;
            a->blocks = nb;
            a->cap = cap;
        }
        if ((a->cur = malloc(sz)) == NULL)
            return NULL;
        a->blocks[a->n++] = a->cur;
        a->left = sz;
    }
    char *p = a->cur;
    memcpy(p, s, len);
    p[len] = '\0';
    a->cur += len + 1;
    a->left -= len + 1;
    return p;
}

static void arena_free(arena *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->blocks[i]);
    free(a->blocks);
    memset(a, 0, sizeof *a);
}

static int cmp_kv(const void *a, const void *b)
{
    return strcmp(((const kv *)a)->key, ((const kv *)b)->key);
}

lk_status bench_filler_init(bench_filler *f)
{
    memset(f, 0, sizeof *f);
    lk_keyfmt_new_secret_key(f->secret);
    /* Minimal cost: only the warm-up pays it; a warm verify never runs Argon2id. */
    if (crypto_pwhash_str(f->hash, f->secret, LK_SECRET_KEY_LEN, crypto_pwhash_OPSLIMIT_MIN,
                          crypto_pwhash_MEMLIMIT_MIN) != 0)
        return lk_seterr(LK_ERR_NOMEM, "crypto_pwhash_str failed");
    return LK_OK;
}

/* Append (key, record) to the batch; false on NOMEM. */
static bool add(arena *a, kv *out, const char *key, const char *val, size_t vlen)
{
    out->key = arena_dup(a, key, strlen(key));
    out->val = arena_dup(a, val, vlen);
    out->vlen = vlen;
    return out->key != NULL && out->val != NULL;
}

lk_status bench_bulk_load(lk_ctx *ctx, bench_filler *f, size_t count, char (*ids)[LK_SECRET_ID_LEN + 1],
                          size_t want_ids, size_t *got, double *seconds)
{
    arena a;
    lk_txn txn;
    lk_status st = LK_OK;
    size_t users = (count + 1) / 2, n = 0, cap = count * 2 + users;
    int64_t now = lk_now(ctx);

    *got = 0;
    memset(&a, 0, sizeof a);
    kv *items = malloc(cap * sizeof *items);
    if (items == NULL)
        return lk_seterr(LK_ERR_NOMEM, "out of memory for %zu records", cap);
    uint64_t t0 = bench_now_ns();

    for (size_t k = 0; k < count && st == LK_OK; k++) {
        char key[LK_KEYBUF], id[LK_SECRET_ID_LEN + 1];
        uint64_t uin = FILLER_UIN_BASE + f->next_pair + k / 2;
        lk_rec rec;

        if (k % 2 == 0) { /* a new user, as lk_user_add writes it */
            lk_rec_init(&rec);
            lk_rec_add_u64(&rec, "kind", (uint64_t)LK_USER_ROOT);
            lk_rec_add_u64(&rec, "root", uin);
            lk_rec_add_i64(&rec, "created", now);
            lk_key_user(key, uin);
            if ((st = lk_rec_status(&rec)) == LK_OK && !add(&a, &items[n++], key, rec.buf, rec.len))
                st = LK_ERR_NOMEM;
            lk_rec_free(&rec);
        }
        /* The key record, as put_ak writes it: uin, status, created, hash. */
        lk_keyfmt_new_secret_id(id); /* 155 random bits: no collision check needed */
        lk_rec_init(&rec);
        lk_rec_add_u64(&rec, "uin", uin);
        lk_rec_add_u64(&rec, "status", (uint64_t)LK_KEY_ACTIVE);
        lk_rec_add_i64(&rec, "created", now);
        lk_rec_add(&rec, "hash", f->hash);
        lk_key_ak(key, id);
        if (st == LK_OK && (st = lk_rec_status(&rec)) == LK_OK && !add(&a, &items[n++], key, rec.buf, rec.len))
            st = LK_ERR_NOMEM;
        lk_rec_free(&rec);
        /* ... and its per-user index entry (empty value), as lk_key_create. */
        lk_key_ak_index(key, uin, id);
        if (st == LK_OK && !add(&a, &items[n++], key, "", 0))
            st = LK_ERR_NOMEM;
        if (st == LK_OK && *got < want_ids)
            memcpy(ids[(*got)++], id, sizeof ids[0]);
    }
    if (st != LK_OK) {
        st = lk_seterr(LK_ERR_NOMEM, "out of memory building %zu records", cap);
        goto out;
    }
    /* Key order: what a B-tree or a sorted file likes best, and what a real
     * import tool would do too. */
    qsort(items, n, sizeof *items, cmp_kv);

    if ((st = lk_txn_begin(ctx, true, &txn)) != LK_OK)
        goto out;
    for (size_t i = 0; i < n && st == LK_OK; i++)
        st = lk_txn_put_raw(&txn, items[i].key, items[i].val, items[i].vlen);
    if (st == LK_OK)
        st = lk_txn_commit(&txn);
    else
        lk_txn_abort(&txn);
    if (st == LK_OK)
        f->next_pair += users;
out:
    *seconds = (double)(bench_now_ns() - t0) / 1e9;
    arena_free(&a);
    free(items);
    return st;
}

lk_status bench_bulk_check(lk_ctx *ctx, const bench_filler *f, const char *id)
{
    lk_access_key k, *list = NULL;
    lk_user u;
    size_t n = 0;
    (void)f;

    lk_status st = lk_key_get(ctx, id, &k);
    if (st != LK_OK)
        return st;
    if ((st = lk_user_get(ctx, k.uin, &u)) != LK_OK)
        return st;
    if ((st = lk_key_list(ctx, k.uin, &list, &n)) != LK_OK)
        return st;
    bool found = false;
    for (size_t i = 0; i < n; i++)
        found |= strcmp(list[i].secret_id, id) == 0;
    lk_free(list);
    if (!found || k.status != LK_KEY_ACTIVE || u.kind != LK_USER_ROOT)
        return lk_seterr(LK_ERR_INTERNAL, "bulk-loaded key %s does not read back as written", id);
    return LK_OK;
}
