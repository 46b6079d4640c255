/* cmd_key.c — access keys (SecretId/SecretKey): create, list, show, edit
 * (expiry), rotate, enable, disable, delete. */
#include <stdio.h>

#include "cli.h"
#include "output.h"
#include "table.h"

#define SECRET_NOTE                                                                                      \
    "latchkey: note: this is the only time the SecretKey is shown; it cannot be retrieved later. " \
    "Store it safely now.\n"

/* The SecretKey is written from guarded memory and freed right after; this
 * is the only place a SecretKey is ever printed. Returns an exit code. */
static int print_created(struct cli *c, const lk_access_key *k, lk_secret *secret, const lk_access_key *old)
{
    char t[OUT_TIME_LEN];
    if (c->json) {
        struct jdoc d;
        json_object *resp = out_begin(&d);
        json_object *o = jo_obj(&d, resp, "AccessKey");
        jo_str(&d, o, "AccessKeyId", k->secret_id);
        jo_secret(&d, o, "SecretAccessKey", lk_secret_str(secret), lk_secret_len(secret));
        jo_str(&d, o, "Status", lk_key_status_name(k->status));
        out_jtime(&d, o, "CreateTime", k->create_time);
        if (k->expire_time != LK_EXPIRES_NEVER) /* else exactly CAM's CreateAccessKey response */
            out_jtime(&d, o, "ExpireTime", k->expire_time);
        if (old) { /* rotate: the pair it replaces, and when that stops working */
            json_object *p = jo_obj(&d, resp, "RotatedAccessKey");
            jo_str(&d, p, "AccessKeyId", old->secret_id);
            out_jtime(&d, p, "ExpireTime", old->expire_time);
        }
        int rc = out_end(c, &d, resp);
        lk_secret_free(secret);
        return rc;
    }
    field_print(stdout, "SecretId", k->secret_id);
    field_print_secret(stdout, "SecretKey", lk_secret_str(secret), lk_secret_len(secret));
    lk_secret_free(secret);
    field_print(stdout, "Status", lk_key_status_name(k->status));
    field_print(stdout, "CreateTime", out_time(k->create_time, t));
    field_print(stdout, "ExpireTime", out_time(k->expire_time, t));
    if (old) {
        field_print(stdout, "RotatedSecretId", old->secret_id);
        field_print(stdout, "RotatedExpireTime", out_time(old->expire_time, t));
    }
    fflush(stdout);
    fputs(SECRET_NOTE, stderr);
    return CLI_EXIT_OK;
}

int cmd_key_create(struct cli *c)
{
    uint64_t uin;
    int64_t expires;
    int rc = cli_uin(c, c->arg[0], "UIN", &uin);
    if (rc == CLI_EXIT_OK)
        rc = cli_time(c, OPT_EXPIRES, LK_TIME_FUTURE, 0, &expires);
    if (rc == CLI_EXIT_OK)
        rc = cli_open(c);
    if (rc != CLI_EXIT_OK)
        return rc;
    lk_access_key k;
    lk_secret *secret = NULL;
    lk_status st = lk_key_create_expiring(c->ctx, uin, expires, &k, &secret);
    if (st != LK_OK)
        return out_status_error(c, st);
    return print_created(c, &k, secret, NULL);
}

static void json_key(struct jdoc *d, json_object *parent, const char *key, const lk_access_key *k, int with_uin)
{
    json_object *o = jo_obj(d, parent, key);
    jo_str(d, o, "AccessKeyId", k->secret_id);
    if (with_uin)
        jo_u64(d, o, "Uin", k->uin);
    jo_str(d, o, "Status", lk_key_status_name(k->status));
    out_jtime(d, o, "CreateTime", k->create_time);
    out_jtime(d, o, "LastAccessTime", k->last_access_time);
    out_jtime(d, o, "ExpireTime", k->expire_time);
    if (out_key_expired(k->status, k->expire_time)) /* else CAM's shape, unchanged */
        jo_bool(d, o, "Expired", true);
}

static int print_keys(struct cli *c, const lk_access_key *keys, size_t n)
{
    if (c->json) {
        struct jdoc d;
        json_object *resp = out_begin(&d);
        json_object *a = jo_arr(&d, resp, "AccessKeys");
        for (size_t i = 0; i < n; i++)
            json_key(&d, a, NULL, &keys[i], 0);
        jo_u64(&d, resp, "TotalCount", n);
        return out_end(c, &d, resp);
    }
    static const char *const head[] = {"SecretId", "Status", "CreateTime", "LastAccessTime", "ExpireTime"};
    struct table t;
    table_init(&t, 5, head);
    for (size_t i = 0; i < n; i++) {
        char ct[OUT_TIME_LEN], at[OUT_TIME_LEN], et[OUT_TIME_LEN];
        const char *row[] = {keys[i].secret_id, out_key_status(keys[i].status, keys[i].expire_time),
                             out_time(keys[i].create_time, ct), out_time(keys[i].last_access_time, at),
                             out_time(keys[i].expire_time, et)};
        table_row(&t, row);
    }
    int r = table_print(&t, stdout);
    table_free(&t);
    return r == 0 ? CLI_EXIT_OK : out_nomem(c);
}

int cmd_key_list(struct cli *c)
{
    uint64_t uin;
    int rc = cli_uin(c, c->arg[0], "UIN", &uin);
    if (rc == CLI_EXIT_OK)
        rc = cli_open(c);
    if (rc != CLI_EXIT_OK)
        return rc;
    lk_access_key *keys = NULL;
    size_t n = 0;
    lk_status st = lk_key_list(c->ctx, uin, &keys, &n);
    if (st != LK_OK)
        return out_status_error(c, st);
    rc = print_keys(c, keys, n);
    lk_free(keys);
    return rc;
}

int cmd_key_show(struct cli *c)
{
    int rc = cli_open(c);
    if (rc != CLI_EXIT_OK)
        return rc;
    lk_access_key k;
    lk_status st = lk_key_get(c->ctx, c->arg[0], &k);
    if (st != LK_OK)
        return out_status_error(c, st);
    if (c->json) {
        struct jdoc d;
        json_object *resp = out_begin(&d);
        json_key(&d, resp, "AccessKey", &k, 1);
        return out_end(c, &d, resp);
    }
    char uin[24], ct[OUT_TIME_LEN], at[OUT_TIME_LEN];
    snprintf(uin, sizeof uin, "%llu", (unsigned long long)k.uin);
    field_print(stdout, "SecretId", k.secret_id);
    field_print(stdout, "Uin", uin);
    field_print(stdout, "Status", out_key_status(k.status, k.expire_time));
    field_print(stdout, "CreateTime", out_time(k.create_time, ct));
    field_print(stdout, "LastAccessTime", out_time(k.last_access_time, at));
    field_print(stdout, "ExpireTime", out_time(k.expire_time, at));
    return CLI_EXIT_OK;
}

/* --uin, when given, makes the library check the key's owner. */
static int owner_uin(struct cli *c, uint64_t *owner)
{
    *owner = 0;
    if (!c->a.val[OPT_UIN])
        return CLI_EXIT_OK;
    return cli_uin(c, c->a.val[OPT_UIN], "--uin", owner);
}

static int set_status(struct cli *c, lk_key_status ks, const char *done)
{
    uint64_t owner;
    int rc = owner_uin(c, &owner);
    if (rc == CLI_EXIT_OK)
        rc = cli_open(c);
    if (rc != CLI_EXIT_OK)
        return rc;
    lk_status st = lk_key_set_status(c->ctx, c->arg[0], owner, ks);
    if (st != LK_OK)
        return out_status_error(c, st);
    return out_done(c, "%s access key %s.", done, c->arg[0]);
}

int cmd_key_enable(struct cli *c)
{
    return set_status(c, LK_KEY_ACTIVE, "Enabled");
}

int cmd_key_disable(struct cli *c)
{
    return set_status(c, LK_KEY_INACTIVE, "Disabled");
}

int cmd_key_delete(struct cli *c)
{
    uint64_t owner;
    int rc = owner_uin(c, &owner);
    if (rc == CLI_EXIT_OK)
        rc = cli_open(c);
    if (rc != CLI_EXIT_OK)
        return rc;
    lk_status st = lk_key_delete(c->ctx, c->arg[0], owner);
    if (st != LK_OK)
        return out_status_error(c, st);
    return out_done(c, "Deleted access key %s.", c->arg[0]);
}

int cmd_key_edit(struct cli *c)
{
    uint64_t owner;
    int64_t expires;
    int rc = CLI_EXIT_OK;
    if (!c->a.val[OPT_EXPIRES])
        rc = out_usage(c, "'key edit': nothing to change (give --expires WHEN|never)");
    if (rc == CLI_EXIT_OK)
        rc = owner_uin(c, &owner);
    if (rc == CLI_EXIT_OK)
        rc = cli_time(c, OPT_EXPIRES, LK_TIME_FUTURE, 1, &expires);
    if (rc == CLI_EXIT_OK)
        rc = cli_open(c);
    if (rc != CLI_EXIT_OK)
        return rc;
    lk_status st = lk_key_set_expiry(c->ctx, c->arg[0], owner, expires);
    if (st != LK_OK)
        return out_status_error(c, st);
    char t[OUT_TIME_LEN];
    return out_done(c, "Updated access key %s: ExpireTime %s.", c->arg[0],
                    expires == LK_EXPIRES_NEVER ? "never" : out_time(expires, t));
}

int cmd_key_rotate(struct cli *c)
{
    uint64_t owner;
    int64_t grace, expires;
    int rc = CLI_EXIT_OK;
    if (!c->a.val[OPT_GRACE])
        rc = out_usage(c, "'key rotate': --grace SPAN is required (how long the old pair keeps working, e.g. 24h)");
    if (rc == CLI_EXIT_OK)
        rc = owner_uin(c, &owner);
    if (rc == CLI_EXIT_OK)
        rc = cli_time(c, OPT_GRACE, LK_TIME_SPAN_ONLY, 0, &grace);
    if (rc == CLI_EXIT_OK)
        rc = cli_time(c, OPT_EXPIRES, LK_TIME_FUTURE, 1, &expires);
    if (rc == CLI_EXIT_OK)
        rc = cli_open(c);
    if (rc != CLI_EXIT_OK)
        return rc;
    lk_access_key k;
    lk_secret *secret = NULL;
    lk_rotate_opts o = cli_rotate_opts(c, grace, expires);
    lk_status st = lk_key_rotate_with(c->ctx, c->arg[0], owner, &o, &k, &secret);
    if (st != LK_OK)
        return out_status_error(c, st);
    cli_note_carried_expiry(c, &o, k.expire_time);
    /* the old pair's new expiry; the new secret is shown even if this read fails */
    lk_access_key old;
    return print_created(c, &k, secret, lk_key_get(c->ctx, c->arg[0], &old) == LK_OK ? &old : NULL);
}
