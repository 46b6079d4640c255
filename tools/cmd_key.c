/* cmd_key.c — access keys (SecretId/SecretKey): create, list, show,
 * enable, disable, delete. */
#include <stdio.h>

#include "cli.h"
#include "output.h"
#include "table.h"

#define SECRET_NOTE                                                                                      \
    "latchkey: note: this is the only time the SecretKey is shown; it cannot be retrieved later. " \
    "Store it safely now.\n"

/* The SecretKey is written from guarded memory and freed at once; this is
 * the only place a SecretKey is ever printed. */
static void print_created(struct cli *c, const lk_access_key *k, lk_secret *secret)
{
    char t[OUT_TIME_LEN];
    if (c->json) {
        struct jw w;
        out_begin(&w);
        jw_obj(&w, "AccessKey");
        jw_str(&w, "AccessKeyId", k->secret_id);
        jw_secret(&w, "SecretAccessKey", lk_secret_str(secret), lk_secret_len(secret));
        lk_secret_free(secret);
        jw_str(&w, "Status", lk_key_status_name(k->status));
        out_jtime(&w, "CreateTime", k->create_time);
        jw_obj_end(&w);
        out_end(&w);
        return;
    }
    field_print(stdout, "SecretId", k->secret_id);
    field_print_secret(stdout, "SecretKey", lk_secret_str(secret), lk_secret_len(secret));
    lk_secret_free(secret);
    field_print(stdout, "Status", lk_key_status_name(k->status));
    field_print(stdout, "CreateTime", out_time(k->create_time, t));
    fflush(stdout);
    fputs(SECRET_NOTE, stderr);
}

int cmd_key_create(struct cli *c)
{
    uint64_t uin;
    int rc = cli_uin(c, c->arg[0], "UIN", &uin);
    if (rc == CLI_EXIT_OK)
        rc = cli_open(c);
    if (rc != CLI_EXIT_OK)
        return rc;
    lk_access_key k;
    lk_secret *secret = NULL;
    lk_status st = lk_key_create(c->ctx, uin, &k, &secret);
    if (st != LK_OK)
        return out_status_error(c, st);
    print_created(c, &k, secret);
    return CLI_EXIT_OK;
}

static void json_key(struct jw *w, const char *key, const lk_access_key *k, int with_uin)
{
    jw_obj(w, key);
    jw_str(w, "AccessKeyId", k->secret_id);
    if (with_uin)
        jw_u64(w, "Uin", k->uin);
    jw_str(w, "Status", lk_key_status_name(k->status));
    out_jtime(w, "CreateTime", k->create_time);
    out_jtime(w, "LastAccessTime", k->last_access_time);
    jw_obj_end(w);
}

static int print_keys(struct cli *c, const lk_access_key *keys, size_t n)
{
    if (c->json) {
        struct jw w;
        out_begin(&w);
        jw_arr(&w, "AccessKeys");
        for (size_t i = 0; i < n; i++)
            json_key(&w, NULL, &keys[i], 0);
        jw_arr_end(&w);
        jw_u64(&w, "TotalCount", n);
        out_end(&w);
        return CLI_EXIT_OK;
    }
    static const char *const head[] = {"SecretId", "Status", "CreateTime", "LastAccessTime"};
    struct table t;
    table_init(&t, 4, head);
    for (size_t i = 0; i < n; i++) {
        char ct[OUT_TIME_LEN], at[OUT_TIME_LEN];
        const char *row[] = {keys[i].secret_id, lk_key_status_name(keys[i].status),
                             out_time(keys[i].create_time, ct), out_time(keys[i].last_access_time, at)};
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
        struct jw w;
        out_begin(&w);
        json_key(&w, "AccessKey", &k, 1);
        out_end(&w);
        return CLI_EXIT_OK;
    }
    char uin[24], ct[OUT_TIME_LEN], at[OUT_TIME_LEN];
    snprintf(uin, sizeof uin, "%llu", (unsigned long long)k.uin);
    field_print(stdout, "SecretId", k.secret_id);
    field_print(stdout, "Uin", uin);
    field_print(stdout, "Status", lk_key_status_name(k.status));
    field_print(stdout, "CreateTime", out_time(k.create_time, ct));
    field_print(stdout, "LastAccessTime", out_time(k.last_access_time, at));
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
