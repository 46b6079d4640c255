/*
 * cli.h — what the latchkey tool's files share: the run context, exit codes,
 * and the command handlers. The tool only parses arguments and prints; every
 * rule is the library's.
 */
#ifndef LK_TOOLS_CLI_H
#define LK_TOOLS_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "args.h"
#include "latchkey.h"

/* Exit codes (documented in `latchkey --help`). */
enum {
    CLI_EXIT_OK = 0,      /* success; verification allowed */
    CLI_EXIT_REFUSED = 1, /* the library refused the operation */
    CLI_EXIT_USAGE = 2,   /* bad command line */
    CLI_EXIT_DENIED = 3,  /* verification denied */
    CLI_EXIT_CONFIG = 4,  /* configuration error */
    CLI_EXIT_SYSTEM = 5   /* store or system error */
};

/* Install directories, from the build (Makefile.am); these fallbacks are a
 * --prefix=/usr build's. */
#ifndef LK_SYSCONFDIR
#define LK_SYSCONFDIR "/etc"
#endif
#ifndef LK_STATEDIR
#define LK_STATEDIR "/var/lib/latchkey"
#endif
/* The configuration without --config or $LATCHKEY_CONFIG. */
#define CLI_DEFAULT_CONFIG LK_SYSCONFDIR "/latchkey/latchkey.yaml"

/* Error code for problems the tool finds itself in the command line. */
#define CLI_CODE_USAGE "InvalidParameter.ParamError"

/* One run of the tool. Lives on main's stack: no global state. */
struct cli {
    struct args a;
    int json;
    const char *config_path;
    const char *cmdname;    /* "key create", for messages */
    const char *const *arg; /* positionals after the command words */
    size_t narg;
    lk_ctx *ctx;            /* opened by cli_open, closed by main */
    const char *endpoint;   /* --endpoint or $LATCHKEY_ENDPOINT: the management API; NULL: local */
};

/* Open the store named by the config (sets c->ctx). Returns an exit code. */
int cli_open(struct cli *c);

/* Parse a UIN argument; what names it in the error ("UIN", "--root").
 * Returns CLI_EXIT_OK or reports a usage error and returns CLI_EXIT_USAGE. */
int cli_uin(struct cli *c, const char *s, const char *what, uint64_t *out);

/* A time option (--expires, --grace, --within): flags as lk_parse_time's
 * (LK_TIME_SPAN_ONLY takes only a span, "24h", and gives seconds; else a
 * span from now or a UTC date, as Unix seconds; LK_TIME_FUTURE refuses a
 * date not in the future, as every --expires does); allow_never accepts
 * "never" as LK_EXPIRES_NEVER. Returns an exit code. */
int cli_time(struct cli *c, enum opt_id id, int flags, int allow_never, int64_t *out);

/* The options of key rotate / apikey reroll: --force, and --expires when
 * given (else the new key keeps the old one's expiry). */
lk_rotate_opts cli_rotate_opts(const struct cli *c, int64_t grace, int64_t expires);
/* Say on stderr that the new key kept the old one's expiry (text output). */
void cli_note_carried_expiry(const struct cli *c, const lk_rotate_opts *o, int64_t expire_time);

/* command handlers: each returns an exit code */
int cmd_init(struct cli *c);
int cmd_user_add(struct cli *c);
int cmd_user_list(struct cli *c);
int cmd_user_show(struct cli *c);
int cmd_user_edit(struct cli *c);
int cmd_user_delete(struct cli *c);
int cmd_key_create(struct cli *c);
int cmd_key_list(struct cli *c);
int cmd_key_show(struct cli *c);
int cmd_key_enable(struct cli *c);
int cmd_key_disable(struct cli *c);
int cmd_key_delete(struct cli *c);
int cmd_key_edit(struct cli *c);
int cmd_key_rotate(struct cli *c);
int cmd_apikey_reroll(struct cli *c);
int cmd_expiring(struct cli *c);
int cmd_revoke(struct cli *c);
int cmd_scan(struct cli *c);
int cmd_audit(struct cli *c);
int cmd_apikey_create(struct cli *c);
int cmd_apikey_list(struct cli *c);
int cmd_apikey_show(struct cli *c);
int cmd_apikey_edit(struct cli *c);
int cmd_apikey_enable(struct cli *c);
int cmd_apikey_disable(struct cli *c);
int cmd_apikey_delete(struct cli *c);
int cmd_verify(struct cli *c);
int cmd_records(struct cli *c);
int cmd_stats(struct cli *c);
int cmd_store_copy(struct cli *c);
int cmd_import(struct cli *c);

/* help.c */
void help_print(FILE *f);
void help_usage_hint(FILE *f);

#endif
