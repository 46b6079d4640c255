/*
 * store_copy.c — lk_store_copy: every record of one store into another,
 * through the two backends' vtables, so any pair works (an LMDB store on one
 * machine grows into a PostgreSQL one for a fleet).
 */
#include <string.h>

#include "lk_internal.h"

typedef struct copy_arg {
    lk_txn *to;
    size_t n;
    lk_status st;
} copy_arg;

/* The target keeps its own change counter (the commit adds one): a copied
 * one could equal a number a host already saw, and the change go unseen. */
static bool is_generation(const char *k, size_t kl)
{
    return kl == strlen(LK_KEY_GENERATION) && memcmp(k, LK_KEY_GENERATION, kl) == 0;
}

static int copy_fn(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    copy_arg *c = arg;
    if (is_generation(k, kl))
        return 0;
    c->st = c->to->ctx->ops->put(c->to->t, k, kl, v, vl);
    if (c->st == LK_OK)
        c->n++;
    return c->st != LK_OK;
}

static int del_fn(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    copy_arg *c = arg;
    (void)v, (void)vl;
    if (is_generation(k, kl))
        return 0;
    c->st = c->to->ctx->ops->del(c->to->t, k, kl);
    if (c->st == LK_OK)
        c->n++;
    return c->st != LK_OK;
}

static bool same_text(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

lk_status lk_store_copy(const lk_config *from, const lk_config *to, int replace, size_t *copied)
{
    lk_ctx *src = NULL, *dst = NULL;
    lk_txn rt = {0}, wt = {0};
    size_t held = 0;
    if (copied != NULL)
        *copied = 0;
    if (from == NULL || to == NULL)
        return lk_seterr(LK_ERR_PARAM, "lk_store_copy: %s is NULL", from == NULL ? "from" : "to");
    if (same_text(from->backend, to->backend) && same_text(from->store_path, to->store_path) &&
        same_text(from->conninfo, to->conninfo))
        return lk_seterr(LK_ERR_PARAM, "the source and the target are the same store");
    lk_status st = lk_open_config(from, &src);
    if (st == LK_OK)
        st = lk_open_config(to, &dst);
    if (st == LK_OK)
        st = lk_txn_begin(src, false, &rt);
    if (st == LK_OK)
        st = lk_txn_begin(dst, true, &wt);
    if (st == LK_OK)
        st = lk_txn_count(&wt, "", &held);
    const char *gv;
    size_t gl;
    if (st == LK_OK && held > 0 && lk_txn_get(&wt, LK_KEY_GENERATION, &gv, &gl) == LK_OK)
        held--; /* its change counter alone is no content */
    if (st == LK_OK && held > 0 && !replace)
        st = lk_seterr(LK_ERR_PARAM, "the target store already holds %zu records; refusing to copy into it (replace "
                                     "empties it first)",
                       held);
    copy_arg c = {.to = &wt, .st = LK_OK};
    if (st == LK_OK && held > 0) { /* replace: one txn, so a failed copy leaves the target as it was */
        st = lk_txn_scan(&wt, "", del_fn, &c);
        if (st == LK_OK)
            st = c.st;
        c.n = 0;
    }
    if (st == LK_OK) {
        st = lk_txn_scan(&rt, "", copy_fn, &c);
        if (st == LK_OK)
            st = c.st;
    }
    if (st == LK_OK) {
        wt.keys_changed = true;
        st = lk_txn_commit(&wt);
        if (st == LK_OK && copied != NULL)
            *copied = c.n;
    } else {
        lk_txn_abort(&wt);
    }
    lk_txn_abort(&rt);
    lk_close(dst);
    lk_close(src);
    return st;
}
