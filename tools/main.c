/*
 * main.c — the latchkey admin tool: global options, command dispatch and the
 * argument-count / option checks shared by every command.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "output.h"


/* Options every command accepts. */
#define GLOBAL_OPTS \
    (OPT_BIT(OPT_CONFIG) | OPT_BIT(OPT_JSON) | OPT_BIT(OPT_HELP) | OPT_BIT(OPT_VERSION) | OPT_BIT(OPT_SOCKET) | \
     OPT_BIT(OPT_ENDPOINT) | OPT_BIT(OPT_CREDENTIALS) | OPT_BIT(OPT_CACERT))
/* With --endpoint: the options of the management plane itself, and --reason (sent as Reason with
 * every change). */
#define ENDPOINT_OPTS (OPT_BIT(OPT_JSON) | OPT_BIT(OPT_HELP) | OPT_BIT(OPT_VERSION) | OPT_BIT(OPT_ENDPOINT) | \
                       OPT_BIT(OPT_CREDENTIALS) | OPT_BIT(OPT_CACERT) | OPT_BIT(OPT_REASON))
/* remote: the command's options that the management API carries (--endpoint);
 * NOT_REMOTE: a command it does not serve. */
#define NOT_REMOTE UINT64_MAX

struct command {
    const char *group; /* first word */
    const char *sub;   /* second word, NULL for one-word commands */
    int (*run)(struct cli *c);
    size_t min_args, max_args; /* positionals after the command words */
    uint64_t opts;             /* accepted options besides GLOBAL_OPTS */
    const char *usage;
    uint64_t remote;           /* with --endpoint: the options of opts it takes, or NOT_REMOTE */
};

static const struct command commands[] = {
    {"init", NULL, cmd_init, 0, 0, OPT_BIT(OPT_BACKEND) | OPT_BIT(OPT_STORE),
     "init [--backend lmdb|flatfile] [--store PATH]", NOT_REMOTE},
    {"user", "add", cmd_user_add, 1, 1,
     OPT_BIT(OPT_KIND) | OPT_BIT(OPT_ROOT) | OPT_BIT(OPT_LOGIN) | OPT_BIT(OPT_SELF_SERVICE) | OPT_BIT(OPT_REASON),
     "user add UIN [--kind root|sub-user|collaborator] [--root ROOT_UIN] [--login NAME] "
     "[--self-service none|read|manage] [--reason TEXT]", NOT_REMOTE},
    {"user", "edit", cmd_user_edit, 1, 1,
     OPT_BIT(OPT_LOGIN) | OPT_BIT(OPT_NO_LOGIN) | OPT_BIT(OPT_SELF_SERVICE) | OPT_BIT(OPT_REASON),
     "user edit UIN [--login NAME | --no-login] [--self-service none|read|manage] [--reason TEXT]",
     OPT_BIT(OPT_SELF_SERVICE)},
    {"user", "list", cmd_user_list, 0, 0, OPT_BIT(OPT_ROOT), "user list [--root ROOT_UIN]", NOT_REMOTE},
    {"user", "show", cmd_user_show, 0, 1, OPT_BIT(OPT_LOGIN), "user show UIN | user show --login NAME", NOT_REMOTE},
    {"user", "delete", cmd_user_delete, 1, 1, OPT_BIT(OPT_FORCE) | OPT_BIT(OPT_REASON), "user delete UIN [--force] [--reason TEXT]", NOT_REMOTE},
    {"key", "create", cmd_key_create, 1, 1, OPT_BIT(OPT_EXPIRES) | OPT_BIT(OPT_REASON), "key create UIN [--expires WHEN] [--reason TEXT]",
     OPT_BIT(OPT_EXPIRES)},
    {"key", "list", cmd_key_list, 1, 1, 0, "key list UIN", 0},
    {"key", "show", cmd_key_show, 1, 1, 0, "key show SECRETID", 0},
    {"key", "enable", cmd_key_enable, 1, 1, OPT_BIT(OPT_UIN) | OPT_BIT(OPT_REASON), "key enable SECRETID [--uin UIN] [--reason TEXT]", OPT_BIT(OPT_UIN)},
    {"key", "disable", cmd_key_disable, 1, 1, OPT_BIT(OPT_UIN) | OPT_BIT(OPT_REASON), "key disable SECRETID [--uin UIN] [--reason TEXT]", OPT_BIT(OPT_UIN)},
    {"key", "delete", cmd_key_delete, 1, 1, OPT_BIT(OPT_UIN) | OPT_BIT(OPT_REASON), "key delete SECRETID [--uin UIN] [--reason TEXT]", OPT_BIT(OPT_UIN)},
    {"key", "edit", cmd_key_edit, 1, 1, OPT_BIT(OPT_EXPIRES) | OPT_BIT(OPT_UIN) | OPT_BIT(OPT_REASON),
     "key edit SECRETID --expires WHEN|never [--uin UIN] [--reason TEXT]", OPT_BIT(OPT_EXPIRES) | OPT_BIT(OPT_UIN)},
    {"key", "rotate", cmd_key_rotate, 1, 1,
     OPT_BIT(OPT_GRACE) | OPT_BIT(OPT_EXPIRES) | OPT_BIT(OPT_UIN) | OPT_BIT(OPT_FORCE) | OPT_BIT(OPT_REASON),
     "key rotate SECRETID --grace SPAN [--expires WHEN|never] [--uin UIN] [--force] [--reason TEXT]",
     OPT_BIT(OPT_GRACE) | OPT_BIT(OPT_EXPIRES) | OPT_BIT(OPT_UIN) | OPT_BIT(OPT_FORCE)},
    {"apikey", "create", cmd_apikey_create, 1, 1,
     OPT_BIT(OPT_NAME) | OPT_BIT(OPT_DESCRIPTION) | OPT_BIT(OPT_SCOPE) | OPT_BIT(OPT_ALLOW_IP) | OPT_BIT(OPT_EXPIRES) |
         OPT_BIT(OPT_RATE_LIMIT) | OPT_BIT(OPT_REASON),
     "apikey create ROOT_UIN --name NAME [--description TEXT] [--scope all|SVC,...] [--allow-ip ADDR,...] "
     "[--expires WHEN] [--rate-limit N/SPAN] [--reason TEXT]",
     OPT_BIT(OPT_NAME) | OPT_BIT(OPT_DESCRIPTION) | OPT_BIT(OPT_SCOPE) | OPT_BIT(OPT_ALLOW_IP) | OPT_BIT(OPT_EXPIRES) |
         OPT_BIT(OPT_RATE_LIMIT)},
    {"apikey", "list", cmd_apikey_list, 1, 1, OPT_BIT(OPT_WIDE), "apikey list ROOT_UIN [--wide]", OPT_BIT(OPT_WIDE)},
    {"apikey", "show", cmd_apikey_show, 0, 1, OPT_BIT(OPT_ACCOUNT) | OPT_BIT(OPT_NAME),
     "apikey show ID | apikey show --account ROOT_UIN --name NAME", OPT_BIT(OPT_ACCOUNT) | OPT_BIT(OPT_NAME)},
    {"apikey", "edit", cmd_apikey_edit, 1, 1,
     OPT_BIT(OPT_DESCRIPTION) | OPT_BIT(OPT_SCOPE) | OPT_BIT(OPT_ALLOW_IP) | OPT_BIT(OPT_EXPIRES) |
         OPT_BIT(OPT_RATE_LIMIT) | OPT_BIT(OPT_REASON),
     "apikey edit ID [--description TEXT] [--scope all|SVC,...] [--allow-ip ADDR,...|none] [--expires WHEN|never] "
     "[--rate-limit N/SPAN|none] [--reason TEXT]",
     OPT_BIT(OPT_DESCRIPTION) | OPT_BIT(OPT_SCOPE) | OPT_BIT(OPT_ALLOW_IP) | OPT_BIT(OPT_EXPIRES) | OPT_BIT(OPT_RATE_LIMIT)},
    {"apikey", "reroll", cmd_apikey_reroll, 1, 1,
     OPT_BIT(OPT_GRACE) | OPT_BIT(OPT_EXPIRES) | OPT_BIT(OPT_FORCE) | OPT_BIT(OPT_REASON),
     "apikey reroll ID --grace SPAN [--expires WHEN|never] [--force] [--reason TEXT]",
     OPT_BIT(OPT_GRACE) | OPT_BIT(OPT_EXPIRES) | OPT_BIT(OPT_FORCE)},
    {"apikey", "enable", cmd_apikey_enable, 1, 1, OPT_BIT(OPT_REASON), "apikey enable ID [--reason TEXT]", 0},
    {"apikey", "disable", cmd_apikey_disable, 1, 1, OPT_BIT(OPT_REASON), "apikey disable ID [--reason TEXT]", 0},
    {"apikey", "delete", cmd_apikey_delete, 1, 1, OPT_BIT(OPT_REASON), "apikey delete ID [--reason TEXT]", 0},
    {"verify", NULL, cmd_verify, 0, 1, OPT_BIT(OPT_APIKEY) | OPT_BIT(OPT_IP) | OPT_BIT(OPT_SERVICE) | OPT_BIT(OPT_LOGIN),
     "verify SECRETID [--ip ADDR] [--service NAME] [--login NAME] | verify --apikey [--ip ADDR] [--service NAME] "
     "[--login NAME]", NOT_REMOTE},
    {"records", NULL, cmd_records, 1, 1, 0, "records KEYID", 0},
    {"expiring", NULL, cmd_expiring, 0, 0, OPT_BIT(OPT_WITHIN), "expiring [--within SPAN]", NOT_REMOTE},
    {"revoke", NULL, cmd_revoke, 0, 0, OPT_BIT(OPT_USER) | OPT_BIT(OPT_REASON), "revoke --user UIN [--reason TEXT]", NOT_REMOTE},
    {"audit", NULL, cmd_audit, 0, 0, OPT_BIT(OPT_SINCE) | OPT_BIT(OPT_KEY) | OPT_BIT(OPT_USER),
     "audit [--since WHEN] [--key KEYID] [--user UIN]", NOT_REMOTE},
    {"scan", NULL, cmd_scan, 0, SIZE_MAX, OPT_BIT(OPT_DISABLE) | OPT_BIT(OPT_REASON), "scan [--disable] [FILE...] [--reason TEXT]", NOT_REMOTE},
    {"stats", NULL, cmd_stats, 0, 0, 0, "stats", NOT_REMOTE},
    {"store", "copy", cmd_store_copy, 0, 0, OPT_BIT(OPT_FROM) | OPT_BIT(OPT_TO) | OPT_BIT(OPT_REPLACE),
     "store copy --from CONFIG --to CONFIG [--replace]", NOT_REMOTE},
    {"import", NULL, cmd_import, 1, 1, OPT_BIT(OPT_SECRETS_OUT) | OPT_BIT(OPT_REASON),
     "import FILE|- [--secrets-out FILE] [--reason TEXT]", NOT_REMOTE},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static int group_known(const char *w)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].group, w) == 0)
            return 1;
    return 0;
}

static const struct command *find_command(const struct args *a)
{
    for (size_t i = 0; i < NCOMMANDS; i++) {
        const struct command *cmd = &commands[i];
        if (strcmp(cmd->group, a->pos[0]) != 0)
            continue;
        if (!cmd->sub || (a->npos > 1 && strcmp(cmd->sub, a->pos[1]) == 0))
            return cmd;
    }
    return NULL;
}

/* The subcommands of a group, for "unknown subcommand" messages. */
static void list_subs(const char *group, char *buf, size_t bufsz)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < NCOMMANDS && len < bufsz; i++) {
        if (strcmp(commands[i].group, group) != 0 || !commands[i].sub)
            continue;
        int n = snprintf(buf + len, bufsz - len, "%s%s", len ? ", " : "", commands[i].sub);
        if (n < 0)
            break;
        len += (size_t)n;
    }
}

static int unknown_command(struct cli *c)
{
    const char *w = c->a.pos[0];
    if (!group_known(w))
        return out_usage(c, "unknown command '%s'", w);
    char subs[128];
    list_subs(w, subs, sizeof subs);
    if (c->a.npos < 2)
        return out_usage(c, "'%s' needs a subcommand: %s", w, subs);
    return out_usage(c, "unknown command '%s %s' (expected one of: %s)", w, c->a.pos[1], subs);
}

/* Options and argument count against the command's usage. */
static int check_command(struct cli *c, const struct command *cmd)
{
    uint64_t bad = c->a.seen & ~(cmd->opts | GLOBAL_OPTS);
    if (bad) {
        enum opt_id o = args_first_opt(bad);
        if (cmd->run == cmd_apikey_edit && o == OPT_NAME)
            return out_usage(c, "--name: the name of an API key cannot be changed");
        return out_usage(c, "option %s is not valid for '%s' (usage: latchkey %s)", args_opt_name(o), c->cmdname,
                         cmd->usage);
    }
    if (c->narg < cmd->min_args)
        return out_usage(c, "'%s': missing argument (usage: latchkey %s)", c->cmdname, cmd->usage);
    if (c->endpoint == NULL && (c->a.seen & (OPT_BIT(OPT_CREDENTIALS) | OPT_BIT(OPT_CACERT))))
        return out_usage(c, "%s is for the management API: give --endpoint URL too",
                         args_opt_name(args_first_opt(c->a.seen & (OPT_BIT(OPT_CREDENTIALS) | OPT_BIT(OPT_CACERT)))));
    if (c->endpoint != NULL && cmd->remote == NOT_REMOTE)
        return out_usage(c, "'%s' is not available with --endpoint: the management API serves the key, apikey and "
                            "records commands and user edit --self-service. "
                            "Run it on the store's machine", c->cmdname);
    if (c->endpoint != NULL && (bad = c->a.seen & ~(cmd->remote | ENDPOINT_OPTS)) != 0)
        return out_usage(c, "option %s of '%s' is not available with --endpoint (the management API does not carry "
                            "it): run it on the store's machine", args_opt_name(args_first_opt(bad)), c->cmdname);
    /* an extra verify argument is most likely a secret: never echo it */
    if (c->narg > cmd->max_args && cmd->run == cmd_verify)
        return out_usage(c, "'verify' takes at most one argument, the SECRETID; secrets are read from stdin, "
                            "never from the command line");
    if (c->narg > cmd->max_args)
        return out_usage(c, "'%s': unexpected argument '%s' (usage: latchkey %s)", c->cmdname,
                         c->arg[cmd->max_args], cmd->usage);
    return CLI_EXIT_OK;
}

static int dispatch(struct cli *c)
{
    char name[64];
    if (c->a.seen & OPT_BIT(OPT_HELP) || (c->a.npos > 0 && strcmp(c->a.pos[0], "help") == 0)) {
        help_print(stdout);
        return CLI_EXIT_OK;
    }
    if (c->a.seen & OPT_BIT(OPT_VERSION)) {
        printf("latchkey %s\n", LK_VERSION_STRING);
        return CLI_EXIT_OK;
    }
    if (c->a.err[0])
        return out_usage(c, "%s", c->a.err);
    if (c->a.npos == 0)
        return out_usage(c, "no command given");
    const struct command *cmd = find_command(&c->a);
    if (!cmd)
        return unknown_command(c);
    size_t words = cmd->sub ? 2 : 1;
    snprintf(name, sizeof name, "%s%s%s", cmd->group, cmd->sub ? " " : "", cmd->sub ? cmd->sub : "");
    c->cmdname = name;
    c->arg = c->a.pos + words;
    c->narg = c->a.npos - words;
    int rc = check_command(c, cmd);
    if (rc != CLI_EXIT_OK)
        return rc;
    /* --reason: recorded in the audit entry of every change this run makes */
    if (c->a.val[OPT_REASON] && lk_audit_reason(c->a.val[OPT_REASON]) != LK_OK)
        return out_usage(c, "--reason: %s", lk_errmsg(NULL));
    return cmd->run(c);
}

/* The management API's URL: --endpoint, else $LATCHKEY_ENDPOINT unless
 * --config or --socket asks for a store or socket here. NULL: local. */
static const char *endpoint_url(const struct args *a)
{
    if (a->seen & OPT_BIT(OPT_ENDPOINT))
        return a->val[OPT_ENDPOINT];
    const char *env = getenv("LATCHKEY_ENDPOINT");
    if (env == NULL || *env == '\0' || (a->seen & (OPT_BIT(OPT_CONFIG) | OPT_BIT(OPT_SOCKET))))
        return NULL;
    return env;
}

static const char *config_path(const struct args *a)
{
    if (a->seen & OPT_BIT(OPT_CONFIG))
        return a->val[OPT_CONFIG];
    const char *env = getenv("LATCHKEY_CONFIG");
    return env && *env ? env : CLI_DEFAULT_CONFIG;
}

/* The caller's credentials file when --credentials names none:
 * $XDG_CONFIG_HOME/latchkey/credentials, or ~/.config/latchkey/credentials. */
static const char *default_credentials(char *buf, size_t n)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    int w = xdg && *xdg == '/' ? snprintf(buf, n, "%s/latchkey/credentials", xdg)
            : home && *home   ? snprintf(buf, n, "%s/.config/latchkey/credentials", home)
                              : -1;
    return w > 0 && (size_t)w < n ? buf : NULL;
}

/* --endpoint: the caller's pair from --credentials FILE, else
 * $LATCHKEY_SECRET_ID and $LATCHKEY_SECRET_KEY, else the default file. */
static int open_endpoint(struct cli *c)
{
    char path[4096];
    lk_endpoint_conf conf = {.url = c->endpoint, .cacert = c->a.val[OPT_CACERT]};
    const char *id = getenv("LATCHKEY_SECRET_ID"), *key = getenv("LATCHKEY_SECRET_KEY");
    const char *from = "--credentials";
    if (c->a.val[OPT_CREDENTIALS] != NULL) {
        conf.credentials_file = c->a.val[OPT_CREDENTIALS];
    } else if ((id && *id) || (key && *key)) {
        if (!(id && *id) || !(key && *key))
            return out_error(c, CLI_EXIT_CONFIG, lk_status_code(LK_ERR_CONFIG),
                             "%s is set but %s is not: give both, or neither and a credentials file",
                             id && *id ? "LATCHKEY_SECRET_ID" : "LATCHKEY_SECRET_KEY",
                             id && *id ? "LATCHKEY_SECRET_KEY" : "LATCHKEY_SECRET_ID");
        conf.secret_id = id;
        conf.secret_key = key;
        conf.secret_key_len = strlen(key);
        from = "LATCHKEY_SECRET_ID/LATCHKEY_SECRET_KEY";
    } else {
        conf.credentials_file = default_credentials(path, sizeof path);
        if (conf.credentials_file == NULL || access(conf.credentials_file, F_OK) != 0)
            return out_error(c, CLI_EXIT_CONFIG, lk_status_code(LK_ERR_CONFIG),
                             "--endpoint needs your access key: set LATCHKEY_SECRET_ID and LATCHKEY_SECRET_KEY, give "
                             "--credentials FILE, or write it to %s (mode 0600; see latchkey(1))",
                             conf.credentials_file ? conf.credentials_file : "~/.config/latchkey/credentials");
        from = "the credentials file";
    }
    lk_status st = lk_connect_endpoint(&conf, &c->ctx);
    if (st == LK_OK)
        return CLI_EXIT_OK;
    c->ctx = NULL;
    if (st == LK_ERR_PARAM) /* the URL */
        return out_usage(c, "--endpoint: %s", lk_errmsg(NULL));
    if (st == LK_ERR_CONFIG && conf.secret_id != NULL)
        return out_error(c, CLI_EXIT_CONFIG, lk_status_code(st), "%s: %s", from, lk_errmsg(NULL));
    return out_status_error(c, st);
}

int cli_open(struct cli *c)
{
    if (c->endpoint != NULL)
        return open_endpoint(c);
    /* --socket: through latchkeyd, which owns the store (verify, key show, stats) */
    lk_status st = c->a.seen & OPT_BIT(OPT_SOCKET) ? lk_connect(c->a.val[OPT_SOCKET], &c->ctx)
                                                   : lk_open(c->config_path, &c->ctx);
    if (st != LK_OK) {
        c->ctx = NULL;
        return out_status_error(c, st);
    }
    return CLI_EXIT_OK;
}

int cli_time(struct cli *c, enum opt_id id, int flags, int allow_never, int64_t *out)
{
    const char *v = c->a.val[id];
    *out = 0;
    if (v == NULL)
        return CLI_EXIT_OK;
    if (allow_never && strcmp(v, "never") == 0) {
        *out = LK_EXPIRES_NEVER;
        return CLI_EXIT_OK;
    }
    if (lk_parse_time(v, (int64_t)time(NULL), flags, out) != LK_OK)
        return out_usage(c, "%s: %s", args_opt_name(id), lk_errmsg(NULL));
    return CLI_EXIT_OK;
}

lk_rotate_opts cli_rotate_opts(const struct cli *c, int64_t grace, int64_t expires)
{
    lk_rotate_opts o = {.grace_seconds = grace,
                        .set_expiry = c->a.val[OPT_EXPIRES] != NULL,
                        .expire_time = expires,
                        .force = (c->a.seen & OPT_BIT(OPT_FORCE)) != 0};
    return o;
}

void cli_note_carried_expiry(const struct cli *c, const lk_rotate_opts *o, int64_t expire_time)
{
    char t[OUT_TIME_LEN];
    if (c->json || o->set_expiry || expire_time == LK_EXPIRES_NEVER)
        return;
    fprintf(stderr, "latchkey: note: the new key keeps the old one's expiry, %s (give --expires to change it).\n",
            out_time(expire_time, t));
}

int cli_uin(struct cli *c, const char *s, const char *what, uint64_t *out)
{
    if (args_parse_uin(s, out) == 0)
        return CLI_EXIT_OK;
    return out_usage(c, "%s '%.40s': not a UIN (a decimal number 1..9223372036854775807)", what, s);
}

/* stdout may be a closed pipe or a full disk: a result that was not written
 * is a failure, not a success. */
static int finish_stdout(int rc)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "latchkey: InternalError: could not write the result to stdout\n");
        return rc == CLI_EXIT_OK ? CLI_EXIT_SYSTEM : rc;
    }
    return rc;
}

int main(int argc, char **argv)
{
    struct cli c;
    memset(&c, 0, sizeof c);
    if (sodium_init() < 0) {
        fprintf(stderr, "latchkey: InternalError: libsodium could not be initialised\n");
        return CLI_EXIT_SYSTEM;
    }
    if (args_parse(&c.a, argc, argv) != 0) {
        fprintf(stderr, "latchkey: InternalError.OutOfMemory: out of memory\n");
        return CLI_EXIT_SYSTEM;
    }
    c.json = (c.a.seen & OPT_BIT(OPT_JSON)) != 0;
    c.config_path = config_path(&c.a);
    c.endpoint = endpoint_url(&c.a);
    int rc = dispatch(&c);
    lk_close(c.ctx);
    args_free(&c.a);
    return finish_stdout(rc);
}
