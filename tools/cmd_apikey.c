/* cmd_apikey.c — named API keys of a root account: create, list, show, edit,
 * reroll, enable, disable, delete. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "csv.h"
#include "output.h"
#include "table.h"

#define APIKEY_NOTE                                                                                    \
    "latchkey: note: this is the only time the API key is shown; it cannot be retrieved later. " \
    "Store it safely now.\n"

/* Words that stand for an empty list: "--scope all", "--allow-ip none". */
#define SCOPE_ALL "all"
#define ALLOW_ANY "none"

/* ------------------------------------------------------------ options */

/* --scope / --allow-ip: *given tells whether the option was on the line; the
 * keyword gives an empty list (all services / any address). */
static int list_option(struct cli *c, enum opt_id id, const char *keyword, struct csv *out, int *given)
{
    memset(out, 0, sizeof *out);
    const char *v = c->a.val[id];
    *given = v != NULL;
    if (!v || strcmp(v, keyword) == 0)
        return CLI_EXIT_OK;
    return csv_split(v, out) == 0 ? CLI_EXIT_OK : out_nomem(c);
}

/* --rate-limit N/SPAN ("100/1s", "6000/1m"), or with allow_none "none":
 * *given tells whether it was on the line. */
static int rate_option(struct cli *c, int allow_none, uint32_t *limit, uint32_t *window, int *given)
{
    const char *v = c->a.val[OPT_RATE_LIMIT];
    *limit = *window = 0;
    *given = v != NULL;
    if (v == NULL || (allow_none && strcmp(v, "none") == 0))
        return CLI_EXIT_OK;
    if (args_parse_rate(v, limit, window) != 0)
        return out_usage(c,
                         "--rate-limit '%.40s': give N/SPAN, 1..%u requests per a span of 1s..1d (100/1s, 6000/1m)%s",
                         v, LK_RATE_MAX, allow_none ? ", or none" : "");
    return CLI_EXIT_OK;
}

static const char *rate_text(const lk_apikey *k, char buf[32])
{
    if (k->rate_limit == 0)
        return "-";
    snprintf(buf, 32, "%u/%us", (unsigned)k->rate_limit, (unsigned)k->rate_window_s);
    return buf;
}

/* ------------------------------------------------------------ printing */

/* value (the full key) only right after create; it must outlive the
 * document's printing (jo_secret keeps a pointer, never a copy). */
static void json_apikey(struct jdoc *d, json_object *parent, const char *key, const lk_apikey *k,
                        const lk_secret *value)
{
    json_object *o = jo_obj(d, parent, key);
    jo_str(d, o, "KeyId", k->id);
    jo_str(d, o, "Name", k->name);
    jo_str(d, o, "Description", k->description);
    if (value)
        jo_secret(d, o, "ApiKey", lk_secret_str(value), lk_secret_len(value));
    jo_str(d, o, "MaskedKey", k->masked);
    jo_str(d, o, "Status", lk_key_status_name(k->status));
    if (k->scope_count == 0)
        jo_str(d, o, "Scope", SCOPE_ALL);
    else
        jo_strlist(d, o, "Scope", k->scope, k->scope_count);
    jo_strlist(d, o, "AllowIp", k->allow_ip, k->allow_ip_count);
    jo_u64(d, o, "RootUin", k->root_uin);
    out_jtime(d, o, "CreateTime", k->create_time);
    out_jtime(d, o, "LastAccessTime", k->last_access_time);
    out_jtime(d, o, "ExpireTime", k->expire_time);
    if (out_key_expired(k->status, k->expire_time)) /* else Tencent's shape, unchanged */
        jo_bool(d, o, "Expired", true);
    if (k->rate_limit == 0) {
        jo_null(d, o, "RateLimit");
    } else {
        json_object *r = jo_obj(d, o, "RateLimit");
        jo_u64(d, r, "Requests", k->rate_limit);
        jo_u64(d, r, "WindowSeconds", k->rate_window_s);
    }
}

/* Text listing of one key; value (the full key) only right after create. */
static int field_apikey(struct cli *c, const lk_apikey *k, const lk_secret *value)
{
    char root[24], ct[OUT_TIME_LEN], at[OUT_TIME_LEN];
    char *scope = csv_join(k->scope, k->scope_count, SCOPE_ALL);
    char *ips = csv_join(k->allow_ip, k->allow_ip_count, "any");
    if (!scope || !ips) {
        free(scope);
        free(ips);
        return out_nomem(c);
    }
    snprintf(root, sizeof root, "%llu", (unsigned long long)k->root_uin);
    field_print(stdout, "KeyId", k->id);
    field_print(stdout, "Name", k->name);
    field_print(stdout, "Description", k->description[0] ? k->description : "-");
    if (value)
        field_print_secret(stdout, "ApiKey", lk_secret_str(value), lk_secret_len(value));
    field_print(stdout, "MaskedKey", k->masked);
    field_print(stdout, "Status", out_key_status(k->status, k->expire_time));
    field_print(stdout, "Scope", scope);
    field_print(stdout, "AllowIp", ips);
    field_print(stdout, "RootUin", root);
    field_print(stdout, "CreateTime", out_time(k->create_time, ct));
    field_print(stdout, "LastAccessTime", out_time(k->last_access_time, at));
    field_print(stdout, "ExpireTime", out_time(k->expire_time, at));
    char rb[32];
    field_print(stdout, "RateLimit", rate_text(k, rb));
    free(scope);
    free(ips);
    return CLI_EXIT_OK;
}

static int print_apikey(struct cli *c, const char *member, const lk_apikey *k, const lk_secret *value)
{
    if (!c->json)
        return field_apikey(c, k, value);
    struct jdoc d;
    json_object *resp = out_begin(&d);
    json_apikey(&d, resp, member, k, value);
    return out_end(c, &d, resp);
}

/* One table row, all columns (--wide) or those that fit 100 columns; 0 or
 * -1 on out of memory. */
static int table_apikey(struct table *t, const lk_apikey *k, int wide)
{
    char ct[OUT_TIME_LEN], at[OUT_TIME_LEN], et[OUT_TIME_LEN], rb[32];
    char *scope = csv_join(k->scope, k->scope_count, SCOPE_ALL);
    char *ips = csv_join(k->allow_ip, k->allow_ip_count, "any");
    int r = -1;
    if (scope && ips) {
        const char *row[] = {k->id,  k->name, k->masked, out_key_status(k->status, k->expire_time), scope, ips,
                             out_time(k->create_time, ct), out_time(k->last_access_time, at),
                             out_time(k->expire_time, et), rate_text(k, rb)};
        const char *narrow[] = {row[0], row[1], row[3], row[4], row[8], row[9]};
        table_row(t, wide ? row : narrow);
        r = t->oom ? -1 : 0;
    }
    free(scope);
    free(ips);
    return r;
}

static int print_apikeys(struct cli *c, const lk_apikey *keys, size_t n)
{
    if (c->json) {
        struct jdoc d;
        json_object *resp = out_begin(&d);
        json_object *a = jo_arr(&d, resp, "ApiKeys");
        for (size_t i = 0; i < n; i++)
            json_apikey(&d, a, NULL, &keys[i], NULL);
        jo_u64(&d, resp, "TotalCount", n);
        return out_end(c, &d, resp);
    }
    static const char *const head[] = {"KeyId",      "Name",           "Key",        "Status",   "Scope", "AllowIp",
                                       "CreateTime", "LastAccessTime", "ExpireTime", "RateLimit"};
    static const char *const narrow[] = {"KeyId", "Name", "Status", "Scope", "ExpireTime", "RateLimit"};
    /* 100 columns: KeyId 15, Status 8, ExpireTime 25, RateLimit at most 17
     * ("1000000000/86400s") and the gaps leave 25 for Name and Scope, which
     * are cut with "…" */
    int wide = (c->a.seen & OPT_BIT(OPT_WIDE)) != 0;
    struct table t;
    int r = 0;
    if (wide) {
        table_init(&t, 10, head);
    } else {
        table_init(&t, 6, narrow);
        table_limit(&t, 1, 13);
        table_limit(&t, 3, 12);
    }
    for (size_t i = 0; i < n && r == 0; i++)
        r = table_apikey(&t, &keys[i], wide);
    if (r == 0)
        r = table_print(&t, stdout);
    table_free(&t);
    return r == 0 ? CLI_EXIT_OK : out_nomem(c);
}

/* ------------------------------------------------------------ commands */

static int create_with(struct cli *c, uint64_t root, const lk_apikey_spec *spec)
{
    lk_apikey k;
    lk_secret *value = NULL;
    lk_status st = lk_apikey_create(c->ctx, root, spec, &k, &value);
    if (st != LK_OK)
        return out_status_error(c, st);
    int rc = print_apikey(c, "ApiKey", &k, value);
    lk_secret_free(value);
    lk_apikey_release(&k);
    if (rc == CLI_EXIT_OK && !c->json) {
        fflush(stdout);
        fputs(APIKEY_NOTE, stderr);
    }
    return rc;
}

int cmd_apikey_create(struct cli *c)
{
    uint64_t root;
    struct csv scope = {0}, ips = {0};
    int given;
    int64_t expires = 0;
    uint32_t limit = 0, window = 0;
    int rc = cli_uin(c, c->arg[0], "ROOT_UIN", &root);
    if (rc == CLI_EXIT_OK)
        rc = cli_time(c, OPT_EXPIRES, LK_TIME_FUTURE, 0, &expires);
    if (rc == CLI_EXIT_OK)
        rc = rate_option(c, 0, &limit, &window, &given);
    if (rc == CLI_EXIT_OK && !c->a.val[OPT_NAME])
        rc = out_usage(c, "'apikey create': --name NAME is required");
    if (rc == CLI_EXIT_OK)
        rc = list_option(c, OPT_SCOPE, SCOPE_ALL, &scope, &given);
    if (rc == CLI_EXIT_OK)
        rc = list_option(c, OPT_ALLOW_IP, ALLOW_ANY, &ips, &given);
    if (rc == CLI_EXIT_OK)
        rc = cli_open(c);
    if (rc == CLI_EXIT_OK) {
        lk_apikey_spec spec = {
            .name = c->a.val[OPT_NAME],
            .description = c->a.val[OPT_DESCRIPTION],
            .scope = scope.items,
            .scope_count = scope.n,
            .allow_ip = ips.items,
            .allow_ip_count = ips.n,
            .expire_time = expires,
            .rate_limit = limit,
            .rate_window_s = window,
        };
        rc = create_with(c, root, &spec);
    }
    csv_free(&scope);
    csv_free(&ips);
    return rc;
}

int cmd_apikey_list(struct cli *c)
{
    uint64_t root;
    int rc = cli_uin(c, c->arg[0], "ROOT_UIN", &root);
    if (rc == CLI_EXIT_OK)
        rc = cli_open(c);
    if (rc != CLI_EXIT_OK)
        return rc;
    lk_apikey *keys = NULL;
    size_t n = 0;
    lk_status st = lk_apikey_list(c->ctx, root, &keys, &n);
    if (st != LK_OK)
        return out_status_error(c, st);
    rc = print_apikeys(c, keys, n);
    lk_apikey_list_free(keys, n);
    return rc;
}

/* Either ID, or --account and --name together. */
static int show_args(struct cli *c, uint64_t *account)
{
    int by_name = (c->a.seen & (OPT_BIT(OPT_ACCOUNT) | OPT_BIT(OPT_NAME))) != 0;
    if (c->narg == 1 && by_name)
        return out_usage(c, "'apikey show': give either ID or --account and --name, not both");
    if (c->narg == 1)
        return CLI_EXIT_OK;
    if (!c->a.val[OPT_ACCOUNT] || !c->a.val[OPT_NAME])
        return out_usage(c, "'apikey show': give ID, or --account ROOT_UIN and --name NAME");
    return cli_uin(c, c->a.val[OPT_ACCOUNT], "--account", account);
}

int cmd_apikey_show(struct cli *c)
{
    uint64_t account = 0;
    int rc = show_args(c, &account);
    if (rc == CLI_EXIT_OK)
        rc = cli_open(c);
    if (rc != CLI_EXIT_OK)
        return rc;
    lk_apikey k;
    lk_status st = c->narg == 1 ? lk_apikey_get(c->ctx, c->arg[0], &k)
                                : lk_apikey_find(c->ctx, account, c->a.val[OPT_NAME], &k);
    if (st != LK_OK)
        return out_status_error(c, st);
    rc = print_apikey(c, "ApiKey", &k, NULL);
    lk_apikey_release(&k);
    return rc;
}

int cmd_apikey_edit(struct cli *c)
{
    struct csv scope = {0}, ips = {0};
    lk_apikey_edit edit = {.description = c->a.val[OPT_DESCRIPTION]};
    int64_t expires = 0;
    uint32_t limit = 0, window = 0;
    int rate_given;
    uint64_t edits = c->a.seen & (OPT_BIT(OPT_DESCRIPTION) | OPT_BIT(OPT_SCOPE) | OPT_BIT(OPT_ALLOW_IP));
    int rc = CLI_EXIT_OK;
    if (!edits && !c->a.val[OPT_EXPIRES] && !c->a.val[OPT_RATE_LIMIT])
        rc = out_usage(c, "'apikey edit': nothing to change (give --description, --scope, --allow-ip, --expires or "
                          "--rate-limit)");
    if (rc == CLI_EXIT_OK)
        rc = cli_time(c, OPT_EXPIRES, LK_TIME_FUTURE, 1, &expires);
    if (rc == CLI_EXIT_OK)
        rc = rate_option(c, 1, &limit, &window, &rate_given);
    if (rc == CLI_EXIT_OK)
        rc = list_option(c, OPT_SCOPE, SCOPE_ALL, &scope, &edit.set_scope);
    if (rc == CLI_EXIT_OK)
        rc = list_option(c, OPT_ALLOW_IP, ALLOW_ANY, &ips, &edit.set_allow_ip);
    if (rc == CLI_EXIT_OK)
        rc = cli_open(c);
    if (rc == CLI_EXIT_OK) {
        edit.scope = scope.items;
        edit.scope_count = scope.n;
        edit.allow_ip = ips.items;
        edit.allow_ip_count = ips.n;
        edit.set_expiry = c->a.val[OPT_EXPIRES] != NULL;
        edit.expire_time = expires;
        edit.set_rate_limit = rate_given;
        edit.rate_limit = limit;
        edit.rate_window_s = window;
        lk_status st = lk_apikey_edit_key(c->ctx, c->arg[0], &edit); /* all of it, or nothing */
        rc = st == LK_OK ? out_done(c, "Updated API key %s.", c->arg[0]) : out_status_error(c, st);
        lk_apikey k; /* the new values, as user edit shows them */
        if (rc == CLI_EXIT_OK && !c->json && lk_apikey_get(c->ctx, c->arg[0], &k) == LK_OK) {
            rc = field_apikey(c, &k, NULL);
            lk_apikey_release(&k);
        }
    }
    csv_free(&scope);
    csv_free(&ips);
    return rc;
}

static int set_status(struct cli *c, lk_key_status ks, const char *done)
{
    int rc = cli_open(c);
    if (rc != CLI_EXIT_OK)
        return rc;
    lk_status st = lk_apikey_set_status(c->ctx, c->arg[0], ks);
    if (st != LK_OK)
        return out_status_error(c, st);
    return out_done(c, "%s API key %s.", done, c->arg[0]);
}

int cmd_apikey_enable(struct cli *c)
{
    return set_status(c, LK_KEY_ACTIVE, "Enabled");
}

int cmd_apikey_disable(struct cli *c)
{
    return set_status(c, LK_KEY_INACTIVE, "Disabled");
}

int cmd_apikey_delete(struct cli *c)
{
    int rc = cli_open(c);
    if (rc != CLI_EXIT_OK)
        return rc;
    lk_status st = lk_apikey_delete(c->ctx, c->arg[0]);
    if (st != LK_OK)
        return out_status_error(c, st);
    return out_done(c, "Deleted API key %s.", c->arg[0]);
}

int cmd_apikey_reroll(struct cli *c)
{
    int64_t grace, expires;
    int rc = CLI_EXIT_OK;
    if (!c->a.val[OPT_GRACE])
        rc = out_usage(c, "'apikey reroll': --grace SPAN is required (how long the old value keeps working, e.g. 1h)");
    if (rc == CLI_EXIT_OK)
        rc = cli_time(c, OPT_GRACE, LK_TIME_SPAN_ONLY, 0, &grace);
    if (rc == CLI_EXIT_OK)
        rc = cli_time(c, OPT_EXPIRES, LK_TIME_FUTURE, 1, &expires);
    if (rc == CLI_EXIT_OK)
        rc = cli_open(c);
    if (rc != CLI_EXIT_OK)
        return rc;
    lk_apikey k;
    lk_secret *value = NULL;
    lk_rotate_opts o = cli_rotate_opts(c, grace, expires);
    lk_status st = lk_apikey_reroll_with(c->ctx, c->arg[0], &o, &k, &value);
    if (st != LK_OK)
        return out_status_error(c, st);
    cli_note_carried_expiry(c, &o, k.expire_time);
    lk_apikey old;
    char t[OUT_TIME_LEN];
    bool have_old = lk_apikey_get(c->ctx, c->arg[0], &old) == LK_OK;
    if (c->json) {
        struct jdoc d;
        json_object *resp = out_begin(&d);
        json_apikey(&d, resp, "ApiKey", &k, value);
        if (have_old) {
            json_object *p = jo_obj(&d, resp, "RerolledApiKey");
            jo_str(&d, p, "KeyId", old.id);
            out_jtime(&d, p, "ExpireTime", old.expire_time);
        }
        rc = out_end(c, &d, resp);
    } else {
        rc = field_apikey(c, &k, value);
        if (rc == CLI_EXIT_OK && have_old) {
            field_print(stdout, "RerolledKeyId", old.id);
            field_print(stdout, "RerolledExpireTime", out_time(old.expire_time, t));
        }
    }
    lk_secret_free(value);
    lk_apikey_release(&k);
    if (have_old)
        lk_apikey_release(&old);
    if (rc == CLI_EXIT_OK && !c->json) {
        fflush(stdout);
        fputs(APIKEY_NOTE, stderr);
    }
    return rc;
}
