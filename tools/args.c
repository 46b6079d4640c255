/* args.c — one-pass command line parsing and number parsing. */
#include "args.h"

#include "latchkey.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct opt_def {
    const char *name;
    int takes_value;
};

static const struct opt_def opt_table[OPT_COUNT_] = {
    [OPT_CONFIG] = {"--config", 1},
    [OPT_JSON] = {"--json", 0},
    [OPT_HELP] = {"--help", 0},
    [OPT_VERSION] = {"--version", 0},
    [OPT_BACKEND] = {"--backend", 1},
    [OPT_STORE] = {"--store", 1},
    [OPT_KIND] = {"--kind", 1},
    [OPT_ROOT] = {"--root", 1},
    [OPT_FORCE] = {"--force", 0},
    [OPT_UIN] = {"--uin", 1},
    [OPT_NAME] = {"--name", 1},
    [OPT_DESCRIPTION] = {"--description", 1},
    [OPT_SCOPE] = {"--scope", 1},
    [OPT_ALLOW_IP] = {"--allow-ip", 1},
    [OPT_ACCOUNT] = {"--account", 1},
    [OPT_APIKEY] = {"--apikey", 0},
    [OPT_IP] = {"--ip", 1},
    [OPT_SERVICE] = {"--service", 1},
    [OPT_SOCKET] = {"--socket", 1},
    [OPT_LOGIN] = {"--login", 1},
    [OPT_NO_LOGIN] = {"--no-login", 0},
    [OPT_FROM] = {"--from", 1},
    [OPT_TO] = {"--to", 1},
    [OPT_REPLACE] = {"--replace", 0},
    [OPT_EXPIRES] = {"--expires", 1},
    [OPT_GRACE] = {"--grace", 1},
    [OPT_WITHIN] = {"--within", 1},
    [OPT_USER] = {"--user", 1},
    [OPT_DISABLE] = {"--disable", 0},
    [OPT_REASON] = {"--reason", 1},
    [OPT_SINCE] = {"--since", 1},
    [OPT_KEY] = {"--key", 1},
    [OPT_RATE_LIMIT] = {"--rate-limit", 1},
    [OPT_SELF_SERVICE] = {"--self-service", 1},
    [OPT_ENDPOINT] = {"--endpoint", 1},
    [OPT_CREDENTIALS] = {"--credentials", 1},
    [OPT_CACERT] = {"--cacert", 1},
    [OPT_SECRETS_OUT] = {"--secrets-out", 1},
    [OPT_WIDE] = {"--wide", 0},
};

const char *args_opt_name(enum opt_id id)
{
    return (unsigned)id < OPT_COUNT_ ? opt_table[id].name : "?";
}

enum opt_id args_first_opt(uint64_t mask)
{
    for (int i = 0; i < OPT_COUNT_; i++)
        if (mask & OPT_BIT(i))
            return (enum opt_id)i;
    return OPT_COUNT_;
}

/* Only the first error is kept: it is the one the user should fix first. */
static void set_err(struct args *a, const char *what, const char *arg)
{
    if (a->err[0])
        return;
    snprintf(a->err, sizeof a->err, "%s: %.200s", what, arg);
}

static int find_opt(const char *s, size_t len)
{
    for (int i = 0; i < OPT_COUNT_; i++) {
        const char *n = opt_table[i].name;
        if (strlen(n) == len && memcmp(n, s, len) == 0)
            return i;
    }
    return -1;
}

/* "-5" stays a positional, so a bad UIN is reported as a bad UIN rather
 * than as an unknown option. */
static int is_option(const char *s)
{
    if (s[0] != '-' || s[1] == '\0')
        return 0;
    if (s[1] >= '0' && s[1] <= '9')
        return 0;
    return 1;
}

/* Handle argv[*i], an option; may consume argv[*i + 1] as its value. */
static void take_option(struct args *a, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    if (strcmp(arg, "-h") == 0)
        arg = "--help";
    if (arg[1] != '-') {
        set_err(a, "unknown option", arg);
        return;
    }
    const char *eq = strchr(arg, '=');
    size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
    int id = find_opt(arg, nlen);
    if (id < 0) {
        set_err(a, "unknown option", arg);
        return;
    }
    const char *value = "";
    if (opt_table[id].takes_value) {
        if (eq) {
            value = eq + 1;
        } else if (*i + 1 < argc) {
            value = argv[++*i];
        } else {
            set_err(a, "option needs a value", opt_table[id].name);
            return;
        }
    } else if (eq) {
        set_err(a, "option takes no value", arg);
        return;
    }
    if (a->seen & OPT_BIT(id)) {
        set_err(a, "option given more than once", opt_table[id].name);
        return;
    }
    a->seen |= OPT_BIT(id);
    a->val[id] = value;
}

int args_parse(struct args *a, int argc, char **argv)
{
    memset(a, 0, sizeof *a);
    a->pos = calloc(argc > 0 ? (size_t)argc : 1, sizeof *a->pos);
    if (!a->pos)
        return -1;
    int only_positional = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!only_positional && strcmp(arg, "--") == 0)
            only_positional = 1;
        else if (!only_positional && is_option(arg))
            take_option(a, argc, argv, &i);
        else
            a->pos[a->npos++] = arg;
    }
    return 0;
}

void args_free(struct args *a)
{
    free(a->pos);
    a->pos = NULL;
    a->npos = 0;
}

int args_parse_uin(const char *s, uint64_t *out)
{
    const uint64_t max = (uint64_t)INT64_MAX;
    uint64_t v = 0;
    if (!s || !*s)
        return -1;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        unsigned d = (unsigned)(*p - '0');
        if (v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (v == 0)
        return -1;
    *out = v;
    return 0;
}

int args_parse_rate(const char *s, uint32_t *limit, uint32_t *window_s)
{
    const char *slash = s ? strchr(s, '/') : NULL;
    uint64_t n = 0;
    int64_t span;
    if (slash == NULL || slash == s || slash - s > 10)
        return -1;
    for (const char *p = s; p < slash; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        n = n * 10 + (uint64_t)(*p - '0');
    }
    if (n == 0 || n > LK_RATE_MAX || lk_parse_time(slash + 1, 0, LK_TIME_SPAN_ONLY, &span) != LK_OK || span < 1 ||
        span > (int64_t)LK_RATE_WINDOW_MAX)
        return -1;
    *limit = (uint32_t)n;
    *window_s = (uint32_t)span;
    return 0;
}
