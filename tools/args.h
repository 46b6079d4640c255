/*
 * args.h — the latchkey command line, parsed in one pass.
 *
 * Every option the tool knows is in one table, so the parser can tell a
 * value-taking option from a flag wherever it appears (`key create 1 --json`
 * works like `--json key create 1`). Which options a command accepts is
 * checked afterwards, by the dispatcher.
 */
#ifndef LK_TOOLS_ARGS_H
#define LK_TOOLS_ARGS_H

#include <stddef.h>
#include <stdint.h>

enum opt_id {
    OPT_CONFIG,
    OPT_JSON,
    OPT_HELP,
    OPT_VERSION,
    OPT_BACKEND,
    OPT_STORE,
    OPT_KIND,
    OPT_ROOT,
    OPT_FORCE,
    OPT_UIN,
    OPT_NAME,
    OPT_DESCRIPTION,
    OPT_SCOPE,
    OPT_ALLOW_IP,
    OPT_ACCOUNT,
    OPT_APIKEY,
    OPT_IP,
    OPT_SERVICE,
    OPT_SOCKET,
    OPT_LOGIN,
    OPT_NO_LOGIN,
    OPT_FROM,
    OPT_TO,
    OPT_REPLACE,
    OPT_EXPIRES,
    OPT_GRACE,
    OPT_WITHIN,
    OPT_USER,
    OPT_DISABLE,
    OPT_REASON,
    OPT_SINCE,
    OPT_KEY,
    OPT_RATE_LIMIT,
    OPT_SELF_SERVICE,
    OPT_ENDPOINT,
    OPT_CREDENTIALS,
    OPT_CACERT,
    OPT_SECRETS_OUT,
    OPT_WIDE,
    OPT_COUNT_
};

#define OPT_BIT(id) ((uint64_t)1 << (id))
_Static_assert(OPT_COUNT_ <= 64, "option bits are a uint64_t");

#define ARGS_ERR_MAX 256

struct args {
    const char *val[OPT_COUNT_]; /* value of each option seen ("" for a flag) */
    uint64_t seen;               /* OPT_BIT of every option given */
    const char **pos;            /* positional arguments, in order */
    size_t npos;
    char err[ARGS_ERR_MAX];      /* first usage error, "" if none */
};

/* Parse argv[1..argc). Never stops early, so --json is known even when an
 * earlier argument is wrong. Returns 0, or -1 on out of memory. */
int args_parse(struct args *a, int argc, char **argv);
void args_free(struct args *a);

/* "--scope" for OPT_SCOPE. */
const char *args_opt_name(enum opt_id id);
/* The first option in mask, or OPT_COUNT_ if none. */
enum opt_id args_first_opt(uint64_t mask);

/* A UIN: decimal digits only, 1 .. 2^63-1. 0 on success; -1 otherwise. */
int args_parse_uin(const char *s, uint64_t *out);

/* A rate limit as N/SPAN ("100/1s", "6000/1m"): 1..LK_RATE_MAX requests per
 * a span of 1 s..LK_RATE_WINDOW_MAX. 0 on success; -1 otherwise. Shared by
 * `apikey create/edit --rate-limit` and `latchkey import`. */
int args_parse_rate(const char *s, uint32_t *limit, uint32_t *window_s);

#endif
