/*
 * as_caller — a test-only helper for tests/e2e/selfservice.sh: makes one
 * change (a user's self-service grant) with a management-plane caller set by
 * lk_audit_caller, as latchkeyd's management API does for each request, so
 * the script can check what `latchkey audit` shows of it. Never installed.
 *
 *   as_caller CONFIG CALLER_UIN SECRETID|login:NAME PEER REQUEST_ID UIN GRANT
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "latchkey.h"

int main(int argc, char **argv)
{
    lk_caller c;
    lk_self_service grant;
    lk_ctx *ctx;

    if (argc != 8) {
        fprintf(stderr, "usage: as_caller CONFIG CALLER_UIN SECRETID|login:NAME PEER REQUEST_ID UIN GRANT\n");
        return 2;
    }
    memset(&c, 0, sizeof c);
    c.uin = strtoull(argv[2], NULL, 10);
    if (strncmp(argv[3], "login:", 6) == 0)
        snprintf(c.login, sizeof c.login, "%s", argv[3] + 6);
    else
        snprintf(c.secret_id, sizeof c.secret_id, "%s", argv[3]);
    snprintf(c.peer, sizeof c.peer, "%s", argv[4]);
    snprintf(c.request_id, sizeof c.request_id, "%s", argv[5]);
    lk_status st = lk_self_service_parse(argv[7], &grant);
    if (st == LK_OK)
        st = lk_audit_caller(&c);
    if (st == LK_OK && (st = lk_open(argv[1], &ctx)) == LK_OK) {
        st = lk_user_set_self_service(ctx, strtoull(argv[6], NULL, 10), grant);
        lk_close(ctx);
    }
    if (st != LK_OK) {
        fprintf(stderr, "as_caller: %s: %s\n", lk_status_code(st), lk_errmsg(NULL));
        return 1;
    }
    return 0;
}
