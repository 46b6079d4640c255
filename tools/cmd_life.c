/* cmd_life.c — key lifecycle across keys: expiring (what expires soon),
 * revoke (disable every key of a user), scan (find leaked credentials in
 * text) and audit (the log of changes). Like grep, expiring and scan exit 0 when they found something
 * and 1 when they found nothing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "cli.h"
#include "output.h"
#include "table.h"

#define DEFAULT_WITHIN "7d"

/* ------------------------------------------------------------ expiring */

static const char *exp_state(const lk_expiring_key *k, int64_t now)
{
    return k->expire_time <= now ? "Expired" : "Expiring";
}

static int print_expiring(struct cli *c, const lk_expiring_key *keys, size_t n, int64_t now)
{
    if (c->json) {
        struct jdoc d;
        json_object *resp = out_begin(&d);
        json_object *a = jo_arr(&d, resp, "Keys");
        for (size_t i = 0; i < n; i++) {
            json_object *o = jo_obj(&d, a, NULL);
            jo_str(&d, o, "KeyId", keys[i].key_id);
            jo_str(&d, o, "Kind", keys[i].is_apikey ? "ApiKey" : "AccessKey");
            jo_u64(&d, o, "Uin", keys[i].uin);
            jo_str(&d, o, "Name", keys[i].name);
            jo_str(&d, o, "Status", lk_key_status_name(keys[i].status));
            out_jtime(&d, o, "ExpireTime", keys[i].expire_time);
            jo_str(&d, o, "State", exp_state(&keys[i], now));
        }
        jo_u64(&d, resp, "TotalCount", n);
        return out_end(c, &d, resp);
    }
    static const char *const head[] = {"KeyId", "Kind", "Uin", "Name", "Status", "ExpireTime", "State"};
    struct table t;
    if (n == 0) { /* a bare header would look like a failure */
        printf("No key expires within %s.\n", c->a.val[OPT_WITHIN] ? c->a.val[OPT_WITHIN] : DEFAULT_WITHIN);
        return CLI_EXIT_OK;
    }
    table_init(&t, 7, head);
    for (size_t i = 0; i < n; i++) {
        char uin[24], et[OUT_TIME_LEN];
        snprintf(uin, sizeof uin, "%llu", (unsigned long long)keys[i].uin);
        const char *row[] = {keys[i].key_id, keys[i].is_apikey ? "ApiKey" : "AccessKey", uin,
                             keys[i].name[0] ? keys[i].name : "-", lk_key_status_name(keys[i].status),
                             out_time(keys[i].expire_time, et), exp_state(&keys[i], now)};
        table_row(&t, row);
    }
    int r = table_print(&t, stdout);
    table_free(&t);
    return r == 0 ? CLI_EXIT_OK : out_nomem(c);
}

int cmd_expiring(struct cli *c)
{
    int64_t within;
    int64_t now = (int64_t)time(NULL);
    int rc;
    if (c->a.val[OPT_WITHIN])
        rc = cli_time(c, OPT_WITHIN, LK_TIME_SPAN_ONLY, 0, &within);
    else
        rc = lk_parse_time(DEFAULT_WITHIN, now, 1, &within) == LK_OK ? CLI_EXIT_OK : out_nomem(c);
    if (rc == CLI_EXIT_OK)
        rc = cli_open(c);
    if (rc != CLI_EXIT_OK)
        return rc;
    lk_expiring_key *keys = NULL;
    size_t n = 0;
    lk_status st = lk_expiring(c->ctx, now + within, &keys, &n);
    if (st != LK_OK)
        return out_status_error(c, st);
    rc = print_expiring(c, keys, n, now);
    lk_free(keys);
    if (rc == CLI_EXIT_OK && n == 0)
        return CLI_EXIT_REFUSED; /* nothing found: 1, like grep */
    return rc;
}

/* ------------------------------------------------------------ revoke */

int cmd_revoke(struct cli *c)
{
    uint64_t uin;
    int rc = CLI_EXIT_OK;
    if (!c->a.val[OPT_USER])
        rc = out_usage(c, "'revoke': --user UIN is required");
    if (rc == CLI_EXIT_OK)
        rc = cli_uin(c, c->a.val[OPT_USER], "--user", &uin);
    if (rc == CLI_EXIT_OK)
        rc = cli_open(c);
    if (rc != CLI_EXIT_OK)
        return rc;
    size_t n = 0;
    lk_status st = lk_revoke_user(c->ctx, uin, &n);
    if (st != LK_OK)
        return out_status_error(c, st);
    if (c->json) {
        struct jdoc d;
        json_object *resp = out_begin(&d);
        jo_u64(&d, resp, "Uin", uin);
        jo_u64(&d, resp, "DisabledCount", n);
        return out_end(c, &d, resp);
    }
    return out_done(c, "Disabled %zu key(s) of user %llu%s.", n, (unsigned long long)uin,
                    " (and of its members, for a root account)");
}

/* ------------------------------------------------------------ scan */

/* The text being scanned may hold live secrets: it is kept in guarded
 * memory and wiped. */
struct gbuf {
    char *p;
    size_t len, cap;
};

static int gbuf_read(FILE *f, struct gbuf *b)
{
    for (;;) {
        if (b->len == b->cap) {
            size_t ncap = b->cap ? b->cap * 2 : 65536;
            char *np = sodium_malloc(ncap);
            if (np == NULL)
                return -1;
            if (b->p) {
                memcpy(np, b->p, b->len);
                sodium_free(b->p);
            }
            b->p = np;
            b->cap = ncap;
        }
        size_t got = fread(b->p + b->len, 1, b->cap - b->len, f);
        b->len += got;
        if (got == 0)
            return ferror(f) ? -2 : 0;
    }
}

static void gbuf_free(struct gbuf *b)
{
    sodium_free(b->p); /* wipes */
    memset(b, 0, sizeof *b);
}

/* What --disable learnt of a find's whole value (nothing without --disable). */
enum match {
    MATCH_UNCHECKED = 0,
    MATCH_YES,    /* the key's own value: its stored hash matches */
    MATCH_NO,     /* well-formed, names the key, but is not its value: forged or already rotated */
    MATCH_NO_PAIR /* a SecretId with no SecretKey near it to prove it (a SecretId alone is public) */
};

struct hit {
    lk_cred_kind kind;
    char id[LK_SECRET_ID_LEN + 1]; /* a SecretKey's: the SecretId it was proven with */
    const char *file;
    size_t line;
    size_t offset; /* in the file's text, while it is read */
    enum match match;
};

struct hits {
    struct hit *items;
    size_t n, cap;
    const char *file;
    const char *text;
    size_t line, pos; /* line number at pos */
    int oom;
};

static int on_found(void *arg, const lk_found_cred *f)
{
    struct hits *h = arg;
    for (; h->pos < f->offset; h->pos++)
        h->line += h->text[h->pos] == '\n';
    if (h->n == h->cap) {
        size_t ncap = h->cap ? h->cap * 2 : 16;
        struct hit *ni = realloc(h->items, ncap * sizeof *ni);
        if (ni == NULL) {
            h->oom = 1;
            return 1;
        }
        h->items = ni;
        h->cap = ncap;
    }
    struct hit *x = &h->items[h->n++];
    x->kind = f->kind;
    memcpy(x->id, f->public_id, sizeof x->id);
    x->file = h->file;
    x->line = h->line;
    x->offset = f->offset;
    x->match = MATCH_UNCHECKED;
    return 0;
}

/* A SecretId is proven by a SecretKey of the same file that matches it: the
 * next one after it, else the last one before it, not already proven to be
 * another's. At most two Argon2id. */
static lk_status match_pair(struct cli *c, struct hits *h, size_t from, size_t i, const char *text)
{
    struct hit *x = &h->items[i];
    size_t cand[2];
    int n = 0;
    for (size_t j = i + 1; j < h->n && n == 0; j++)
        if (h->items[j].kind == LK_CRED_SECRET_KEY && h->items[j].match != MATCH_YES)
            cand[n++] = j;
    for (size_t j = i; j-- > from;)
        if (h->items[j].kind == LK_CRED_SECRET_KEY && h->items[j].match != MATCH_YES) {
            cand[n++] = j;
            break;
        }
    lk_status st = LK_DENY_BAD_SECRET;
    x->match = n == 0 ? MATCH_NO_PAIR : MATCH_NO;
    for (int k = 0; k < n && st == LK_DENY_BAD_SECRET; k++) {
        st = lk_key_matches(c->ctx, x->id, text + h->items[cand[k]].offset, LK_SECRET_KEY_LEN);
        if (st == LK_OK) {
            memcpy(h->items[cand[k]].id, x->id, sizeof x->id);
            h->items[cand[k]].match = MATCH_YES;
        }
    }
    return n == 0 ? LK_DENY_BAD_SECRET : st;
}

/* --disable acts only on a value proven to be the key's own: its whole value
 * must match the stored hash (one Argon2id per find). The checksum is public,
 * so "lk-<someone's id>" + 36 random characters + a valid checksum is
 * well-formed, and must not disable that key. */
static int match_file(struct cli *c, struct hits *h, size_t from, const char *text)
{
    for (size_t i = from; i < h->n; i++) {
        struct hit *x = &h->items[i];
        lk_status st;
        if (x->kind == LK_CRED_APIKEY)
            st = lk_apikey_matches(c->ctx, text + x->offset, LK_APIKEY_LEN);
        else if (x->kind == LK_CRED_SECRET_ID)
            st = match_pair(c, h, from, i, text);
        else
            continue;
        if (st == LK_OK)
            x->match = MATCH_YES;
        else if (st == LK_DENY_BAD_SECRET)
            x->match = x->match == MATCH_NO_PAIR ? MATCH_NO_PAIR : MATCH_NO;
        else if (st != LK_ERR_KEY_NOT_EXIST) /* not in the store: said so by judge; else (--socket...) fail */
            return out_status_error(c, st);
    }
    return CLI_EXIT_OK;
}

static int scan_one(struct cli *c, const char *path, struct hits *h, int disable)
{
    FILE *f = path ? fopen(path, "rb") : stdin;
    const char *name = path ? path : "-";
    if (f == NULL)
        return out_error(c, CLI_EXIT_SYSTEM, "FailedOperation.Storage", "cannot open %.200s: %s", name,
                         strerror(errno));
    struct gbuf b = {0};
    int r = gbuf_read(f, &b);
    int err = errno;
    if (path)
        fclose(f);
    if (r == -1) {
        gbuf_free(&b);
        return out_nomem(c);
    }
    if (r == -2) {
        gbuf_free(&b);
        return out_error(c, CLI_EXIT_SYSTEM, "FailedOperation.Storage", "cannot read %.200s: %s", name,
                         strerror(err));
    }
    h->file = name;
    h->text = b.p;
    h->line = 1;
    h->pos = 0;
    size_t from = h->n;
    lk_scan_text(b.p, b.len, on_found, h);
    h->text = NULL;
    r = h->oom ? out_nomem(c) : disable ? match_file(c, h, from, b.p) : CLI_EXIT_OK;
    gbuf_free(&b);
    return r;
}

static const char *kind_name(lk_cred_kind k)
{
    return k == LK_CRED_SECRET_ID ? "SecretId" : k == LK_CRED_SECRET_KEY ? "SecretKey" : "ApiKey";
}

/* Owner and status of a hit, and with --disable the action taken. */
struct verdict {
    char uin[24];
    const char *status;
    const char *action;
};

static int judge(struct cli *c, const struct hit *x, int disable, struct verdict *v)
{
    lk_status st = LK_ERR_KEY_NOT_EXIST;
    lk_key_status ks = LK_KEY_INACTIVE;
    uint64_t uin = 0;
    snprintf(v->uin, sizeof v->uin, "-");
    v->status = "-";
    v->action = "-";
    if (x->kind == LK_CRED_SECRET_KEY && x->id[0] == '\0') {
        v->status = "OwnerUnknown"; /* a SecretKey does not name its pair */
        return CLI_EXIT_OK;
    }
    if (x->kind != LK_CRED_APIKEY) { /* a SecretId, or a SecretKey proven with one */
        lk_access_key k;
        if ((st = lk_key_get(c->ctx, x->id, &k)) == LK_OK)
            uin = k.uin, ks = k.status;
    } else {
        lk_apikey k;
        if ((st = lk_apikey_get(c->ctx, x->id, &k)) == LK_OK) {
            uin = k.root_uin, ks = k.status;
            lk_apikey_release(&k);
        }
    }
    if (st == LK_ERR_KEY_NOT_EXIST || st == LK_ERR_PARAM) {
        v->status = "NotInStore";
        return CLI_EXIT_OK;
    }
    if (st != LK_OK)
        return out_status_error(c, st);
    snprintf(v->uin, sizeof v->uin, "%llu", (unsigned long long)uin);
    v->status = lk_key_status_name(ks);
    if (!disable || x->kind == LK_CRED_SECRET_KEY) /* a pair is acted on in its SecretId's row */
        return CLI_EXIT_OK;
    if (x->match != MATCH_YES) { /* never act on a value not proven to be the key's */
        v->action = x->match == MATCH_NO_PAIR ? "NoSecretKey" : "ForgedOrRotated";
        return CLI_EXIT_OK;
    }
    if (ks == LK_KEY_INACTIVE) {
        v->action = "AlreadyDisabled";
        return CLI_EXIT_OK;
    }
    st = x->kind != LK_CRED_APIKEY ? lk_key_set_status(c->ctx, x->id, 0, LK_KEY_INACTIVE)
                                      : lk_apikey_set_status(c->ctx, x->id, LK_KEY_INACTIVE);
    if (st != LK_OK)
        return out_status_error(c, st);
    v->action = "Disabled";
    v->status = lk_key_status_name(LK_KEY_INACTIVE);
    return CLI_EXIT_OK;
}

static int print_hits(struct cli *c, const struct hits *h, int disable)
{
    struct jdoc d;
    json_object *resp = NULL, *arr = NULL;
    struct table t;
    static const char *const head[] = {"Kind", "KeyId", "Uin", "Status", "Action", "Where"};
    int rc = CLI_EXIT_OK;
    if (!c->json && h->n == 0) { /* a bare header would look like a failure */
        printf("No latchkey credentials found.\n");
        return CLI_EXIT_OK;
    }
    if (c->json) {
        resp = out_begin(&d);
        arr = jo_arr(&d, resp, "Found");
    } else {
        table_init(&t, 6, head);
    }
    for (size_t i = 0; i < h->n && rc == CLI_EXIT_OK; i++) {
        const struct hit *x = &h->items[i];
        struct verdict v;
        if ((rc = judge(c, x, disable, &v)) != CLI_EXIT_OK)
            break;
        char where[300];
        snprintf(where, sizeof where, "%.250s:%zu", x->file, x->line);
        const char *id = x->id[0] ? x->id : "-";
        if (c->json) {
            json_object *o = jo_obj(&d, arr, NULL);
            jo_str(&d, o, "Kind", kind_name(x->kind));
            jo_str(&d, o, "KeyId", id);
            if (v.uin[0] != '-')
                jo_u64(&d, o, "Uin", strtoull(v.uin, NULL, 10));
            else
                jo_null(&d, o, "Uin");
            jo_str(&d, o, "Status", v.status);
            jo_str(&d, o, "Action", v.action);
            jo_str(&d, o, "File", x->file);
            jo_u64(&d, o, "Line", x->line);
        } else {
            const char *row[] = {kind_name(x->kind), id, v.uin, v.status, v.action, where};
            table_row(&t, row);
        }
    }
    if (c->json) {
        if (rc != CLI_EXIT_OK) {
            jo_free(&d);
            return rc;
        }
        jo_u64(&d, resp, "TotalCount", h->n);
        return out_end(c, &d, resp);
    }
    if (rc == CLI_EXIT_OK && table_print(&t, stdout) != 0)
        rc = out_nomem(c);
    table_free(&t);
    return rc;
}

int cmd_scan(struct cli *c)
{
    int disable = (c->a.seen & OPT_BIT(OPT_DISABLE)) != 0;
    struct hits h = {0};
    int rc = CLI_EXIT_OK;
    if (disable) { /* the audit entries say why: "leaked", and the operator's --reason */
        char why[LK_AUDIT_TEXT_MAX + 1];
        const char *r = c->a.val[OPT_REASON];
        snprintf(why, sizeof why, "leaked%s%.240s", r && r[0] ? ": " : "", r ? r : "");
        if (lk_audit_reason(why) != LK_OK)
            return out_usage(c, "--reason: %s", lk_errmsg(NULL));
    }
    if (disable) /* the finds are checked against the store while their text is held */
        rc = cli_open(c);
    if (rc == CLI_EXIT_OK && c->narg == 0)
        rc = scan_one(c, NULL, &h, disable);
    for (size_t i = 0; i < c->narg && rc == CLI_EXIT_OK; i++)
        rc = scan_one(c, strcmp(c->arg[i], "-") == 0 ? NULL : c->arg[i], &h, disable);
    if (rc == CLI_EXIT_OK && !disable)
        rc = cli_open(c);
    if (rc == CLI_EXIT_OK)
        rc = print_hits(c, &h, disable);
    size_t n = h.n;
    free(h.items);
    if (rc == CLI_EXIT_OK && n == 0)
        return CLI_EXIT_REFUSED; /* nothing found: 1, like grep */
    return rc;
}

/* ------------------------------------------------------------ audit */

/* --since: a span back from now ("7d"), or a UTC date. */
static int since_option(struct cli *c, int64_t *since)
{
    const char *v = c->a.val[OPT_SINCE];
    int64_t now = (int64_t)time(NULL), span;
    *since = 0;
    if (v == NULL)
        return CLI_EXIT_OK;
    if (lk_parse_time(v, now, 1, &span) == LK_OK) {
        *since = now - span;
        return CLI_EXIT_OK;
    }
    return cli_time(c, OPT_SINCE, 0, 0, since);
}

/* The management plane's caller of a change: "UIN/SECRETID@PEER", or
 * "UIN/login:NAME@PEER" for a login a proxy named; "-" for the local tool. */
#define CALLER_TEXT_LEN (24 + LK_LOGIN_MAX + 8 + 64)
static const char *caller_text(const lk_audit_entry *e, char buf[CALLER_TEXT_LEN])
{
    if (e->caller_uin == 0)
        return "-";
    snprintf(buf, CALLER_TEXT_LEN, "%llu/%s%s@%s", (unsigned long long)e->caller_uin,
             e->caller_secret_id[0] ? "" : "login:", e->caller_secret_id[0] ? e->caller_secret_id : e->caller_login,
             e->caller_peer[0] ? e->caller_peer : "-");
    return buf;
}

/* "Caller": null for the local tool, else who asked (issue 20). */
static void json_caller(struct jdoc *d, json_object *o, const lk_audit_entry *e)
{
    if (e->caller_uin == 0) {
        jo_null(d, o, "Caller");
        return;
    }
    json_object *c = jo_obj(d, o, "Caller");
    jo_u64(d, c, "Uin", e->caller_uin);
    jo_str(d, c, "SecretId", e->caller_secret_id);
    jo_str(d, c, "Login", e->caller_login);
    jo_str(d, c, "Peer", e->caller_peer);
    jo_str(d, c, "RequestId", e->request_id);
}

int cmd_audit(struct cli *c)
{
    int64_t since;
    uint64_t uin = 0;
    int rc = since_option(c, &since);
    if (rc == CLI_EXIT_OK && c->a.val[OPT_USER])
        rc = cli_uin(c, c->a.val[OPT_USER], "--user", &uin);
    if (rc == CLI_EXIT_OK)
        rc = cli_open(c);
    if (rc != CLI_EXIT_OK)
        return rc;
    lk_audit_entry *e = NULL;
    size_t n = 0;
    lk_status st = lk_audit_list(c->ctx, since, c->a.val[OPT_KEY], uin, &e, &n);
    if (st != LK_OK)
        return out_status_error(c, st);
    if (c->json) {
        struct jdoc d;
        json_object *resp = out_begin(&d);
        json_object *a = jo_arr(&d, resp, "Entries");
        for (size_t i = 0; i < n; i++) {
            json_object *o = jo_obj(&d, a, NULL);
            out_jtime_iso(&d, o, "Time", e[i].time);
            if (e[i].host[0])
                jo_str(&d, o, "Host", e[i].host);
            else
                jo_null(&d, o, "Host"); /* an entry written before hosts were recorded */
            jo_u64(&d, o, "Uid", e[i].uid);
            jo_str(&d, o, "User", e[i].user);
            jo_str(&d, o, "Action", e[i].action);
            jo_str(&d, o, "Target", e[i].target);
            jo_u64(&d, o, "Uin", e[i].uin);
            jo_str(&d, o, "Fields", e[i].fields);
            jo_str(&d, o, "Reason", e[i].reason);
            json_caller(&d, o, &e[i]);
        }
        jo_u64(&d, resp, "TotalCount", n);
        rc = out_end(c, &d, resp);
    } else {
        static const char *const head[] = {"Time",   "Host",   "Uid", "User",   "Caller", "RequestId",
                                           "Action", "Target", "Uin", "Reason", "Fields"};
        struct table t;
        table_init(&t, 11, head);
        for (size_t i = 0; i < n; i++) {
            char tm[OUT_TIME_LEN], uid[16], u[24], who[CALLER_TEXT_LEN];
            snprintf(uid, sizeof uid, "%u", (unsigned)e[i].uid);
            snprintf(u, sizeof u, "%llu", (unsigned long long)e[i].uin);
            const char *row[] = {out_time(e[i].time, tm), e[i].host[0] ? e[i].host : "-", uid, e[i].user[0] ? e[i].user : "-",
                                 caller_text(&e[i], who), e[i].request_id[0] ? e[i].request_id : "-",
                                 e[i].action, e[i].target[0] ? e[i].target : "-", u, e[i].reason[0] ? e[i].reason : "-",
                                 e[i].fields[0] ? e[i].fields : "-"};
            table_row(&t, row);
        }
        rc = table_print(&t, stdout) == 0 ? CLI_EXIT_OK : out_nomem(c);
        table_free(&t);
    }
    lk_free(e);
    return rc;
}
