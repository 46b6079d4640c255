/* cmd_user.c — user add / edit / list / show / delete. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "output.h"
#include "table.h"

/* Kind names come from the library, so the two can never disagree. */
static int parse_kind(struct cli *c, const char *s, lk_user_kind *out)
{
    static const lk_user_kind kinds[] = {LK_USER_ROOT, LK_USER_SUB, LK_USER_COLLABORATOR};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (strcmp(s, lk_user_kind_name(kinds[i])) == 0) {
            *out = kinds[i];
            return CLI_EXIT_OK;
        }
    }
    return out_usage(c, "--kind '%.40s': expected %s, %s or %s", s, lk_user_kind_name(LK_USER_ROOT),
                     lk_user_kind_name(LK_USER_SUB), lk_user_kind_name(LK_USER_COLLABORATOR));
}

/* --self-service: the names come from the library, like the kinds. */
static int parse_self_service(struct cli *c, lk_self_service *out)
{
    const char *v = c->a.val[OPT_SELF_SERVICE];
    if (lk_self_service_parse(v, out) == LK_OK)
        return CLI_EXIT_OK;
    return out_usage(c, "--self-service '%.40s': expected %s, %s or %s", v, lk_self_service_name(LK_SELF_NONE),
                     lk_self_service_name(LK_SELF_READ), lk_self_service_name(LK_SELF_MANAGE));
}

static int root_grant_usage(struct cli *c, uint64_t uin)
{
    return out_usage(c, "--self-service: %llu is a root account, which manages every key of its account; the "
                        "grant is for sub-users and collaborators", (unsigned long long)uin);
}

static void json_user(struct jdoc *d, json_object *parent, const char *key, const lk_user *u)
{
    json_object *o = jo_obj(d, parent, key);
    jo_u64(d, o, "Uin", u->uin);
    jo_str(d, o, "Kind", lk_user_kind_name(u->kind));
    jo_u64(d, o, "RootUin", u->root_uin);
    jo_str(d, o, "Login", u->login);
    jo_str(d, o, "SelfService", lk_self_service_name(u->self_service));
    out_jtime(d, o, "CreateTime", u->create_time);
}

static int print_user(struct cli *c, const lk_user *u)
{
    if (c->json) {
        struct jdoc d;
        json_object *resp = out_begin(&d);
        json_user(&d, resp, "User", u);
        return out_end(c, &d, resp);
    }
    char uin[24], root[24], t[OUT_TIME_LEN];
    snprintf(uin, sizeof uin, "%llu", (unsigned long long)u->uin);
    snprintf(root, sizeof root, "%llu", (unsigned long long)u->root_uin);
    field_print(stdout, "Uin", uin);
    field_print(stdout, "Kind", lk_user_kind_name(u->kind));
    field_print(stdout, "RootUin", root);
    field_print(stdout, "Login", u->login[0] ? u->login : "-");
    field_print(stdout, "SelfService", lk_self_service_name(u->self_service));
    field_print(stdout, "CreateTime", out_time(u->create_time, t));
    return CLI_EXIT_OK;
}

int cmd_user_add(struct cli *c)
{
    uint64_t uin, root = 0;
    lk_user_kind kind = LK_USER_ROOT;
    lk_self_service self = LK_SELF_NONE;
    int rc = cli_uin(c, c->arg[0], "UIN", &uin);
    if (rc == CLI_EXIT_OK && c->a.val[OPT_KIND])
        rc = parse_kind(c, c->a.val[OPT_KIND], &kind);
    if (rc == CLI_EXIT_OK && c->a.val[OPT_ROOT])
        rc = cli_uin(c, c->a.val[OPT_ROOT], "--root", &root);
    if (rc == CLI_EXIT_OK && c->a.val[OPT_SELF_SERVICE])
        rc = parse_self_service(c, &self);
    if (rc == CLI_EXIT_OK && kind == LK_USER_ROOT && self != LK_SELF_NONE)
        rc = root_grant_usage(c, uin);
    if (rc == CLI_EXIT_OK)
        rc = cli_open(c);
    if (rc != CLI_EXIT_OK)
        return rc;
    lk_status st = lk_user_add_self_service(c->ctx, uin, kind, root, c->a.val[OPT_LOGIN], self);
    lk_user u;
    if (st == LK_OK)
        st = lk_user_get(c->ctx, uin, &u);
    return st == LK_OK ? print_user(c, &u) : out_status_error(c, st);
}

int cmd_user_show(struct cli *c)
{
    uint64_t uin = 0;
    const char *login = c->a.val[OPT_LOGIN];
    int rc = CLI_EXIT_OK;
    if ((c->narg == 1) == (login != NULL))
        return out_usage(c, "give either a UIN or --login NAME");
    if (login == NULL)
        rc = cli_uin(c, c->arg[0], "UIN", &uin);
    if (rc == CLI_EXIT_OK)
        rc = cli_open(c);
    if (rc != CLI_EXIT_OK)
        return rc;
    lk_user u;
    lk_status st = login ? lk_user_find_login(c->ctx, login, &u) : lk_user_get(c->ctx, uin, &u);
    return st == LK_OK ? print_user(c, &u) : out_status_error(c, st);
}

int cmd_user_edit(struct cli *c)
{
    uint64_t uin;
    const char *login = c->a.val[OPT_LOGIN];
    int unbind = (c->a.seen & OPT_BIT(OPT_NO_LOGIN)) != 0;
    int grant = c->a.val[OPT_SELF_SERVICE] != NULL;
    lk_self_service self = LK_SELF_NONE;
    if (login != NULL && unbind)
        return out_usage(c, "give either --login NAME or --no-login, not both");
    if (login == NULL && !unbind && !grant)
        return out_usage(c, "nothing to change: give --login NAME, --no-login or --self-service none|read|manage");
    if (login != NULL && login[0] == '\0')
        return out_usage(c, "--login needs a name (use --no-login to remove the binding)");
    int rc = cli_uin(c, c->arg[0], "UIN", &uin);
    if (rc == CLI_EXIT_OK && grant)
        rc = parse_self_service(c, &self);
    if (rc == CLI_EXIT_OK)
        rc = cli_open(c);
    if (rc != CLI_EXIT_OK)
        return rc;
    /* Two changes, two transactions: every refusal comes before the first
     * change (a root account here, a login another user holds at the
     * first), so a refused edit changes nothing. */
    lk_user u;
    lk_status st = LK_OK;
    /* remotely the service refuses a root account (UpdateUser), and only a root account may read users */
    if (grant && c->endpoint == NULL && (st = lk_user_get(c->ctx, uin, &u)) == LK_OK && u.kind == LK_USER_ROOT)
        return root_grant_usage(c, uin);
    if (st == LK_OK && (login != NULL || unbind))
        st = lk_user_set_login(c->ctx, uin, unbind ? NULL : login);
    if (st == LK_OK && grant)
        st = lk_user_set_self_service(c->ctx, uin, self);
    if (st == LK_OK)
        st = lk_user_get(c->ctx, uin, &u);
    return st == LK_OK ? print_user(c, &u) : out_status_error(c, st);
}

static int print_users(struct cli *c, const lk_user *users, size_t n)
{
    if (c->json) {
        struct jdoc d;
        json_object *resp = out_begin(&d);
        json_object *a = jo_arr(&d, resp, "Users");
        for (size_t i = 0; i < n; i++)
            json_user(&d, a, NULL, &users[i]);
        jo_u64(&d, resp, "TotalCount", n);
        return out_end(c, &d, resp);
    }
    static const char *const head[] = {"Uin", "Kind", "RootUin", "Login", "SelfService", "CreateTime"};
    struct table t;
    table_init(&t, 6, head);
    for (size_t i = 0; i < n; i++) {
        char uin[24], root[24], tm[OUT_TIME_LEN];
        snprintf(uin, sizeof uin, "%llu", (unsigned long long)users[i].uin);
        snprintf(root, sizeof root, "%llu", (unsigned long long)users[i].root_uin);
        const char *row[] = {uin, lk_user_kind_name(users[i].kind), root, users[i].login[0] ? users[i].login : "-",
                             lk_self_service_name(users[i].self_service), out_time(users[i].create_time, tm)};
        table_row(&t, row);
    }
    int r = table_print(&t, stdout);
    table_free(&t);
    return r == 0 ? CLI_EXIT_OK : out_nomem(c);
}

int cmd_user_list(struct cli *c)
{
    uint64_t root = 0;
    int rc = CLI_EXIT_OK;
    if (c->a.val[OPT_ROOT])
        rc = cli_uin(c, c->a.val[OPT_ROOT], "--root", &root);
    if (rc == CLI_EXIT_OK)
        rc = cli_open(c);
    if (rc != CLI_EXIT_OK)
        return rc;
    lk_user *users = NULL;
    size_t n = 0;
    lk_status st = lk_user_list(c->ctx, root, &users, &n);
    if (st != LK_OK)
        return out_status_error(c, st);
    rc = print_users(c, users, n);
    lk_free(users);
    return rc;
}

int cmd_user_delete(struct cli *c)
{
    uint64_t uin;
    int rc = cli_uin(c, c->arg[0], "UIN", &uin);
    if (rc == CLI_EXIT_OK)
        rc = cli_open(c);
    if (rc != CLI_EXIT_OK)
        return rc;
    int force = (c->a.seen & OPT_BIT(OPT_FORCE)) != 0;
    lk_status st = lk_user_delete(c->ctx, uin, force);
    if (st != LK_OK)
        return out_status_error(c, st);
    return out_done(c, "Deleted user %llu%s.", (unsigned long long)uin, force ? " (and its keys)" : "");
}
