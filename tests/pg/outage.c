/*
 * outage.c — one process through a PostgreSQL outage (driven by
 * tests/pg/store.sh): verify works; the server stops ($LK_PG_STOP) and
 * verify fails closed with LK_ERR_STORE naming the server in one line; the
 * server comes back ($LK_PG_START) and the same process verifies, and
 * writes, again without being reopened. Prints one line per step; exit 0
 * when every step went as it should.
 *
 * Usage: outage CONFIG
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "latchkey.h"

static int failed;

static void check(int ok, const char *what)
{
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok)
        failed = 1;
}

int main(int argc, char **argv)
{
    lk_ctx *ctx;
    lk_access_key k;
    lk_secret *sk;
    if (argc != 2 || lk_open(argv[1], &ctx) != LK_OK) {
        fprintf(stderr, "outage: cannot open %s: %s\n", argc > 1 ? argv[1] : "(no config)", lk_errmsg(NULL));
        return 2;
    }
    if (lk_user_add(ctx, 4242, LK_USER_ROOT, 0) != LK_OK || lk_key_create(ctx, 4242, &k, &sk) != LK_OK) {
        fprintf(stderr, "outage: setup: %s\n", lk_errmsg(NULL));
        return 2;
    }
    const char *s = lk_secret_str(sk);
    size_t sl = lk_secret_len(sk);
    check(lk_verify_key(ctx, k.secret_id, s, sl, NULL, NULL) == LK_OK, "verify before the outage");

    if (system(getenv("LK_PG_STOP")) != 0)
        return 2;
    for (int i = 0; i < 3; i++) { /* not once: every attempt fails closed */
        lk_status st = lk_verify_key(ctx, k.secret_id, s, sl, NULL, NULL);
        const char *m = lk_errmsg(NULL);
        printf("     during the outage: %s: %s\n", lk_status_code(st), m);
        check(st == LK_ERR_STORE, "verify fails closed with LK_ERR_STORE");
        check(strstr(m, getenv("PG_DIR")) != NULL && strstr(m, getenv("PG_PORT")) != NULL,
              "the message names the server (host:port/db)");
        check(strchr(m, '\n') == NULL, "the message is one line");
    }
    check(lk_key_set_status(ctx, k.secret_id, 0, LK_KEY_INACTIVE) == LK_ERR_STORE, "a write fails too");

    if (system(getenv("LK_PG_START")) != 0)
        return 2;
    check(lk_verify_key(ctx, k.secret_id, s, sl, NULL, NULL) == LK_OK, "verify after the restart (same process)");
    check(lk_key_set_status(ctx, k.secret_id, 0, LK_KEY_INACTIVE) == LK_OK, "disable after the restart");
    check(lk_verify_key(ctx, k.secret_id, s, sl, NULL, NULL) != LK_OK, "the disabled key is refused");
    lk_secret_free(sk);
    lk_close(ctx);
    return failed;
}
