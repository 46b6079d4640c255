/*
 * store_copy.c — lk_store_copy: every record of one store into another,
 * through the two backends' vtables, so any pair works (an LMDB store on one
 * machine grows into a PostgreSQL one for a fleet).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lk_internal.h"

/* What a record is, by its key: the kinds a person counts (the indexes
 * that go with them are not counted). */
enum { KIND_USER, KIND_AK, KIND_API, KIND_RECORDS, KIND_AUDIT, KIND_INDEX, KIND_OTHER };

/* The prefixes a replace empties, each at once when the backend can:
 * everything but the audit log ("au/", its mark "am") and the change
 * counter ("g"). A key under none of them is deleted one by one. */
static const char *const clear_prefixes[] = {"u/", "k/", "uk/", "a/", "ua/", "an/", "r/", "ul/"};
#define NCLEAR (sizeof clear_prefixes / sizeof clear_prefixes[0])

static int kind_of(const char *k, size_t kl)
{
    if (kl >= 2 && k[1] == '/') {
        switch (k[0]) {
        case 'u':
            return KIND_USER;
        case 'k':
            return KIND_AK;
        case 'a':
            return KIND_API;
        case 'r':
            return KIND_RECORDS;
        default:
            return KIND_OTHER;
        }
    }
    if (kl > 3 && memcmp(k, "au/", 3) == 0)
        return KIND_AUDIT;
    for (size_t i = 0; i < NCLEAR; i++)
        if (kl >= 3 && memcmp(k, clear_prefixes[i], 3) == 0 && strlen(clear_prefixes[i]) == 3)
            return KIND_INDEX;
    return KIND_OTHER;
}

/* The access records in an "r/" value: one "r=" field each. */
static size_t records_in(const char *v, size_t vl)
{
    lk_rec_iter it;
    const char *name, *val;
    size_t nl, fl, n = 0;
    lk_rec_iter_init(&it, v, vl);
    while (lk_rec_next(&it, &name, &nl, &val, &fl))
        n += nl == 1 && name[0] == 'r';
    return n;
}

static void count_kind(lk_copy_counts *c, const char *k, size_t kl, const char *v, size_t vl)
{
    switch (kind_of(k, kl)) {
    case KIND_USER:
        c->users++;
        break;
    case KIND_AK:
        c->access_keys++;
        break;
    case KIND_API:
        c->apikeys++;
        break;
    case KIND_RECORDS:
        c->access_records += records_in(v, vl);
        break;
    case KIND_AUDIT:
        c->audit_entries++;
        break;
    default:
        break;
    }
}

/* The audit keys the target holds (and this copy wrote), each with a digest
 * of its entry, in memory: a source entry is placed without a read of the
 * target per entry (PostgreSQL: a round trip each, and a second's worth of
 * them each probed in turn: 7 s for a store of 2,400 records), and an entry
 * the target holds already (a second copy from the same source) is not
 * logged twice. Open addressing, at most half full. */
#define AUDIT_KEY_LEN (3 + 24) /* "au/" TIME16 SEQ8 */
typedef struct audit_slot {
    char key[AUDIT_KEY_LEN];
    unsigned char digest[16];
    bool used;
} audit_slot;
typedef struct audit_set {
    audit_slot *e;
    size_t cap, n; /* cap a power of two, or 0 */
} audit_set;

static size_t slot_of(const audit_set *s, const char *k)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < AUDIT_KEY_LEN; i++)
        h = (h ^ (unsigned char)k[i]) * 1099511628211ull;
    size_t i = (size_t)(h ^ (h >> 29)) & (s->cap - 1);
    while (s->e[i].used && memcmp(s->e[i].key, k, AUDIT_KEY_LEN) != 0)
        i = (i + 1) & (s->cap - 1);
    return i;
}

static const audit_slot *aset_find(const audit_set *s, const char *k)
{
    if (s->cap == 0)
        return NULL;
    const audit_slot *e = &s->e[slot_of(s, k)];
    return e->used ? e : NULL;
}

static lk_status aset_add(audit_set *s, const char *k, const unsigned char digest[16])
{
    if (2 * (s->n + 1) > s->cap) {
        audit_set g = {.cap = s->cap ? 2 * s->cap : 1024};
        if ((g.e = calloc(g.cap, sizeof *g.e)) == NULL)
            return lk_seterr(LK_ERR_NOMEM, "out of memory merging %zu audit entries", s->n);
        for (size_t i = 0; i < s->cap; i++)
            if (s->e[i].used)
                g.e[slot_of(&g, s->e[i].key)] = s->e[i];
        g.n = s->n;
        free(s->e);
        *s = g;
    }
    audit_slot *e = &s->e[slot_of(s, k)];
    if (!e->used)
        s->n++;
    memcpy(e->key, k, AUDIT_KEY_LEN);
    memcpy(e->digest, digest, 16);
    e->used = true;
    return LK_OK;
}

static void entry_digest(const char *v, size_t vl, unsigned char out[16])
{
    crypto_generichash(out, 16, (const unsigned char *)v, vl, NULL, 0);
}

/* Where a source audit entry goes in the target: its own key, or (both
 * logged a change in the same second) the next free sequence number of that
 * second; *dup when the target holds this very entry already. */
static void place_audit(const audit_set *s, const char *k, const unsigned char digest[16], char *out, bool *dup)
{
    memcpy(out, k, AUDIT_KEY_LEN);
    out[AUDIT_KEY_LEN] = '\0';
    *dup = false;
    unsigned long seq = strtoul(out + 3 + 16, NULL, 16);
    for (const audit_slot *e; (e = aset_find(s, out)) != NULL;) {
        if (memcmp(e->digest, digest, 16) == 0) {
            *dup = true;
            return;
        }
        snprintf(out + 3 + 16, 9, "%08lx", ++seq & 0xfffffffful);
    }
}

typedef struct copy_arg {
    lk_txn *to;
    size_t n, kept; /* records written (deleted); the target's audit entries kept */
    size_t others;  /* the target's keys under none of clear_prefixes (a replace deletes them one by one) */
    lk_copy_counts *counts;
    audit_set audit; /* the target's audit keys */
    const lk_copy_opts *opts;
    size_t total, seen; /* the source's records, and those read so far: for progress */
    lk_status st;
} copy_arg;

/* The target keeps its own change counter (the commit adds one): a copied
 * one could equal a number a host already saw, and the change go unseen. */
static bool is_generation(const char *k, size_t kl)
{
    return kl == strlen(LK_KEY_GENERATION) && memcmp(k, LK_KEY_GENERATION, kl) == 0;
}

/* The audit log of the target is history, not content: a replace keeps it
 * (with the source's entries merged in time order, and one entry saying what
 * the copy did), and the target's audit mark stays its own. */
static bool is_audit(const char *k, size_t kl, bool *mark)
{
    *mark = kl == 2 && memcmp(k, "am", 2) == 0;
    return *mark || (kl > 3 && memcmp(k, "au/", 3) == 0);
}

/* Progress every this many records (and at the end): a callback per record
 * would cost more than the copy on a fast store. */
#define PROGRESS_EVERY 256

static int copy_fn(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    copy_arg *c = arg;
    char free_key[LK_KEYBUF];
    const char *key = k;
    bool mark;
    if (c->opts->progress != NULL && ++c->seen % PROGRESS_EVERY == 0)
        c->opts->progress(c->opts->progress_arg, c->seen, c->total);
    if (is_generation(k, kl))
        return 0;
    if (is_audit(k, kl, &mark) && kl == AUDIT_KEY_LEN) {
        unsigned char digest[16];
        bool dup;
        entry_digest(v, vl, digest);
        place_audit(&c->audit, k, digest, free_key, &dup);
        if (dup)
            return 0;
        if ((c->st = aset_add(&c->audit, free_key, digest)) != LK_OK)
            return 1;
        key = free_key;
    } else if (mark) {
        return 0;
    }
    c->st = c->to->ctx->ops->put(c->to->t, key, kl, v, vl);
    if (c->st != LK_OK)
        return 1;
    c->n++;
    count_kind(c->counts, k, kl, v, vl);
    return 0;
}

/* What the target holds, by kind, before a copy into it. */
static int census_fn(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    copy_arg *c = arg;
    bool mark;
    if (is_generation(k, kl))
        return 0;
    if (is_audit(k, kl, &mark)) {
        c->kept += !mark;
        if (kl == AUDIT_KEY_LEN) {
            unsigned char digest[16];
            entry_digest(v, vl, digest);
            c->st = aset_add(&c->audit, k, digest);
        }
        return c->st != LK_OK;
    }
    c->n++;
    count_kind(c->counts, k, kl, v, vl);
    c->others += kind_of(k, kl) == KIND_OTHER;
    return 0;
}

/* A replace's fallback, for a backend without del_prefix or a key under
 * none of clear_prefixes: one delete per key. */
static int del_fn(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    copy_arg *c = arg;
    bool mark;
    (void)v, (void)vl;
    if (is_generation(k, kl) || is_audit(k, kl, &mark))
        return 0;
    c->st = c->to->ctx->ops->del(c->to->t, k, kl);
    return c->st != LK_OK;
}

/* Empty the target but for its audit log, one bulk delete per kind. */
static lk_status clear_target(copy_arg *c)
{
    const lk_backend_ops *ops = c->to->ctx->ops;
    lk_status st = LK_OK;
    for (size_t i = 0; i < NCLEAR && st == LK_OK && ops->del_prefix != NULL; i++) {
        size_t n;
        st = ops->del_prefix(c->to->t, clear_prefixes[i], strlen(clear_prefixes[i]), &n);
    }
    if (st != LK_OK || (ops->del_prefix != NULL && c->others == 0))
        return st;
    c->st = LK_OK;
    st = lk_txn_scan(c->to, "", del_fn, c);
    return st != LK_OK ? st : c->st;
}

static bool same_text(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

lk_status lk_store_copy(const lk_config *from, const lk_config *to, int replace, size_t *copied)
{
    lk_copy_opts o = {.replace = replace};
    lk_copy_counts n;
    lk_status st = lk_store_copy_counted(from, to, &o, &n, NULL);
    if (copied != NULL)
        *copied = st == LK_OK ? n.records : 0;
    return st;
}

lk_status lk_store_copy_counted(const lk_config *from, const lk_config *to, const lk_copy_opts *opts,
                                lk_copy_counts *copied, lk_copy_counts *removed)
{
    lk_ctx *src = NULL, *dst = NULL;
    char src_where[256] = "", dst_where[256] = "";
    lk_txn rt = {0}, wt = {0};
    lk_copy_opts none = {0};
    lk_copy_counts in = {0}, held = {0};
    if (copied != NULL)
        memset(copied, 0, sizeof *copied);
    if (removed != NULL)
        memset(removed, 0, sizeof *removed);
    if (opts == NULL)
        opts = &none;
    if (from == NULL || to == NULL)
        return lk_seterr(LK_ERR_PARAM, "lk_store_copy: %s is NULL", from == NULL ? "from" : "to");
    if (same_text(from->backend, to->backend) && same_text(from->store_path, to->store_path) &&
        same_text(from->conninfo, to->conninfo))
        return lk_seterr(LK_ERR_PARAM, "the source and the target are the same store");
    lk_status st = lk_open_described(from, src_where, sizeof src_where, &src);
    if (st == LK_OK)
        st = lk_open_described(to, dst_where, sizeof dst_where, &dst);
    if (st == LK_OK)
        st = lk_txn_begin(src, false, &rt);
    if (st == LK_OK)
        st = lk_txn_begin(dst, true, &wt);
    copy_arg c = {.to = &wt, .counts = &held, .opts = opts, .st = LK_OK};
    if (st == LK_OK && (st = lk_txn_scan(&wt, "", census_fn, &c)) == LK_OK)
        st = c.st;
    held.records = c.n;
    if (st == LK_OK && c.n + c.kept > 0 && !opts->replace)
        st = lk_seterr(LK_ERR_PARAM,
                       "the target store already holds %zu records (%zu users, %zu access keys, %zu API keys, %zu "
                       "audit entries); refusing to copy into it: --replace empties it first (its audit log is "
                       "kept)",
                       c.n + c.kept, held.users, held.access_keys, held.apikeys, c.kept);
    size_t deleted = c.n;
    if (st == LK_OK && c.n > 0) /* replace: one txn, so a failed copy leaves the target as it was */
        st = clear_target(&c);
    c.n = 0;
    c.counts = &in;
    if (st == LK_OK && opts->progress != NULL)
        st = lk_txn_count(&rt, "", &c.total);
    if (st == LK_OK) {
        st = lk_txn_scan(&rt, "", copy_fn, &c);
        if (st == LK_OK)
            st = c.st;
    }
    in.records = c.n;
    if (st == LK_OK && opts->progress != NULL)
        opts->progress(opts->progress_arg, c.total, c.total);
    if (st == LK_OK) { /* where from and to: paths or host:port/db, never a conninfo (it may hold a password) */
        lk_change w;
        lk_rec_init(&w);
        lk_change_add(&w, "from %s %s to %s %s", from->backend, src_where, to->backend, dst_where);
        lk_change_add(&w, "copied %zu record(s): %zu user(s), %zu access key(s), %zu API key(s), %zu access "
                          "record(s), %zu audit entries",
                      in.records, in.users, in.access_keys, in.apikeys, in.access_records, in.audit_entries);
        if (deleted + c.kept > 0)
            lk_change_add(&w, "replaced %zu record(s) of the target (%zu user(s), %zu access key(s), %zu API key(s)), "
                              "whose %zu audit entries were kept",
                          deleted, held.users, held.access_keys, held.apikeys, c.kept);
        st = lk_audit_change(dst, &wt, "store.copy", "", 0, &w);
        lk_rec_free(&w);
    }
    if (st == LK_OK) {
        wt.keys_changed = true;
        st = lk_txn_commit(&wt);
    } else {
        lk_txn_abort(&wt);
    }
    if (st == LK_OK && copied != NULL)
        *copied = in;
    if (st == LK_OK && removed != NULL)
        *removed = held;
    free(c.audit.e);
    lk_txn_abort(&rt);
    lk_close(dst);
    lk_close(src);
    return st;
}
