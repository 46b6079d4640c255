/* cmd_verify.c — check a SecretId/SecretKey pair or an API key; the secret
 * comes from stdin. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"
#include "output.h"
#include "secret_in.h"
#include "table.h"

static int print_allowed(struct cli *c, const lk_verify_info *info)
{
    if (c->json) {
        struct jdoc d;
        json_object *resp = out_begin(&d);
        jo_str(&d, resp, "Result", "Allow");
        jo_u64(&d, resp, "Uin", info->uin);
        jo_str(&d, resp, "KeyId", info->key_id);
        return out_end(c, &d, resp);
    }
    char uin[24];
    snprintf(uin, sizeof uin, "%llu", (unsigned long long)info->uin);
    field_print(stdout, "Result", "Allow");
    field_print(stdout, "Uin", uin);
    field_print(stdout, "KeyId", info->key_id);
    return CLI_EXIT_OK;
}

/* Access records are deferred by the library; write them now so a failure
 * is visible. It does not change the verdict, which has been made. */
static void flush_records(struct cli *c)
{
    lk_status st = lk_flush(c->ctx);
    if (st != LK_OK)
        fprintf(stderr, "latchkey: warning: %s: access record not written: %s\n", lk_status_code(st),
                lk_errmsg(c->ctx));
}

static lk_status check(struct cli *c, const struct secret_in *in, lk_verify_info *info)
{
    lk_verify_req req = {.client_ip = c->a.val[OPT_IP], .service = c->a.val[OPT_SERVICE], .login = c->a.val[OPT_LOGIN]};
    if (c->a.seen & OPT_BIT(OPT_APIKEY))
        return lk_verify_apikey(c->ctx, in->buf, in->len, &req, info);
    return lk_verify_key(c->ctx, c->arg[0], in->buf, in->len, &req, info);
}

/* A malformed --ip or --service is the caller's mistake, not a denial: a
 * usage error naming the option, before the secret is read. */
static int check_request_options(struct cli *c)
{
    lk_verify_req ip_only = {.client_ip = c->a.val[OPT_IP], .service = NULL};
    if (lk_verify_req_check(&ip_only) != LK_OK)
        return out_usage(c, "--ip: %s", lk_errmsg(NULL));
    /* The library reads "" as "no service named"; on the command line an
     * empty value is a mistake (leave the option out instead). */
    if (c->a.val[OPT_SERVICE] != NULL && c->a.val[OPT_SERVICE][0] == '\0')
        return out_usage(c, "--service: an empty name (leave --service out to name none)");
    lk_verify_req service_only = {.client_ip = NULL, .service = c->a.val[OPT_SERVICE]};
    if (lk_verify_req_check(&service_only) != LK_OK)
        return out_usage(c, "--service: %s", lk_errmsg(NULL));
    return CLI_EXIT_OK;
}

static int read_secret(struct cli *c, struct secret_in *in)
{
    switch (secret_in_read(in)) {
    case SECRET_IN_OK:
        return CLI_EXIT_OK;
    case SECRET_IN_TOO_LONG:
        return out_usage(c, "the secret on stdin is longer than %d bytes; refusing it", SECRET_IN_MAX);
    case SECRET_IN_IO:
    default:
        return out_error(c, CLI_EXIT_SYSTEM, "InternalError", "could not read the secret from stdin: %s",
                         strerror(errno));
    }
}

int cmd_verify(struct cli *c)
{
    int apikey = (c->a.seen & OPT_BIT(OPT_APIKEY)) != 0;
    if (apikey && c->narg == 1)
        return out_usage(c, "'verify --apikey' takes no SECRETID: the API key is read from stdin");
    if (!apikey && c->narg == 0)
        return out_usage(c, "'verify': missing SECRETID (or use --apikey); the secret is read from stdin");
    int rc = check_request_options(c);
    if (rc != CLI_EXIT_OK)
        return rc;
    if ((rc = cli_open(c)) != CLI_EXIT_OK)
        return rc;
    struct secret_in *in = malloc(sizeof *in);
    if (!in)
        return out_nomem(c);
    rc = read_secret(c, in);
    if (rc == CLI_EXIT_OK) {
        lk_verify_info info;
        memset(&info, 0, sizeof info);
        lk_status st = check(c, in, &info);
        secret_in_wipe(in); /* not needed past this point */
        /* The verdict first: a failing flush replaces the thread's last
         * error message, which out_status_error prints for a denial. */
        rc = st == LK_OK ? print_allowed(c, &info) : out_status_error(c, st);
        flush_records(c);
    }
    secret_in_wipe(in);
    free(in);
    return rc;
}
