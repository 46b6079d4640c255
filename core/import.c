/*
 * import.c — lk_import: many users and keys in one write transaction, all
 * or nothing (400 accounts were 800 admin tool calls, each a transaction
 * and a process).
 *
 * Three passes, so a bad item costs no Argon2id and the writer lock is held
 * only for the writes: check every item (no store), hash every new secret,
 * then add them in order inside one write txn, where each item's store
 * checks (exists, owner, limits, names) see the items before it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lk_internal.h"

typedef struct draft {
    lk_api_draft *api;
    lk_ak_draft *ak;
    uint64_t root_uin; /* a user's, after lk_user_new_check */
    lk_secret *secret; /* a key's, from its _hash until handed to out */
} draft;

static void drafts_free(draft *d, size_t n)
{
    for (size_t i = 0; d != NULL && i < n; i++) {
        lk_api_draft_free(d[i].api);
        lk_ak_draft_free(d[i].ak);
        lk_secret_free(d[i].secret);
    }
    free(d);
}

static lk_status check_item(lk_ctx *ctx, const lk_import_item *it, draft *d)
{
    switch (it->kind) {
    case LK_IMPORT_USER:
        d->root_uin = it->root_uin;
        return lk_user_new_check(it->uin, it->user_kind, &d->root_uin, it->login, it->self_service);
    case LK_IMPORT_APIKEY:
        return lk_api_draft_new(ctx, it->uin, &it->apikey, &d->api);
    case LK_IMPORT_KEY:
        return lk_ak_draft_new(ctx, it->uin, it->expire_time, &d->ak);
    }
    return lk_seterr(LK_ERR_PARAM, "unknown import item kind %d", (int)it->kind);
}

static lk_status insert_item(lk_ctx *ctx, lk_txn *txn, const lk_import_item *it, const draft *d,
                             lk_import_result *out)
{
    if (d->api != NULL)
        return lk_api_draft_insert(ctx, txn, d->api, out->id);
    if (d->ak != NULL)
        return lk_ak_draft_insert(ctx, txn, d->ak, out->id);
    return lk_user_new_insert(ctx, txn, it->uin, it->user_kind, d->root_uin, it->login, it->self_service);
}

lk_status lk_import(lk_ctx *ctx, const lk_import_item *items, size_t n, lk_import_result *out, size_t *failed)
{
    size_t at = 0, users = 0, apikeys = 0, aks = 0;
    lk_txn txn;
    if (failed != NULL)
        *failed = n; /* no item of its own */
    LK_LOCAL_ONLY(ctx);
    if ((items == NULL || out == NULL) && n > 0)
        return lk_seterr(LK_ERR_PARAM, "lk_import: %s is NULL", items == NULL ? "items" : "out");
    if (n > 0)
        memset(out, 0, n * sizeof *out);
    draft *d = n > 0 ? calloc(n, sizeof *d) : NULL;
    if (n > 0 && d == NULL)
        return lk_seterr(LK_ERR_NOMEM, "out of memory for %zu import items", n);
    lk_status st = LK_OK;
    for (at = 0; at < n && st == LK_OK; at++)
        st = check_item(ctx, &items[at], &d[at]);
    for (size_t i = 0; i < n && st == LK_OK; i++, at = i) {
        if (d[i].api != NULL)
            st = lk_api_draft_hash(ctx, d[i].api, &d[i].secret);
        else if (d[i].ak != NULL)
            st = lk_ak_draft_hash(ctx, d[i].ak, &d[i].secret);
    }
    if (st == LK_OK && (st = lk_txn_begin(ctx, true, &txn)) == LK_OK) {
        for (at = 0; at < n && st == LK_OK; at++) {
            st = insert_item(ctx, &txn, &items[at], &d[at], &out[at]);
            users += items[at].kind == LK_IMPORT_USER;
            apikeys += items[at].kind == LK_IMPORT_APIKEY;
            aks += items[at].kind == LK_IMPORT_KEY;
        }
        if (st == LK_OK) {
            at = n + 1; /* no item of its own */
            st = lk_audit(ctx, &txn, "store.import", "", 0, "imported %zu user(s), %zu API key(s) and %zu access key(s)",
                          users, apikeys, aks);
        }
        if (st == LK_OK)
            st = lk_txn_commit(&txn);
        else
            lk_txn_abort(&txn);
    }
    if (st != LK_OK) {
        /* at is one past the item that failed (n + 1: none did) */
        if (failed != NULL)
            *failed = at > 0 && at <= n ? at - 1 : n;
        drafts_free(d, n);
        if (n > 0)
            memset(out, 0, n * sizeof *out); /* no id of a key that was not added */
        return st;
    }
    for (size_t i = 0; i < n; i++) {
        out[i].secret = d[i].secret;
        d[i].secret = NULL;
    }
    drafts_free(d, n);
    return LK_OK;
}
