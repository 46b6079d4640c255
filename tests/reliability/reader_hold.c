/*
 * reader_hold — one verifier process for tests/reliability/readers.sh.
 *
 *   reader_hold CONFIG SECRETID hold   verify once, print the outcome, then
 *                                      stay idle with the store open until
 *                                      SIGTERM (then close, exit 0)
 *   reader_hold CONFIG SECRETID once   verify once, print it, exit
 *
 * The secret given is a well-formed one that does not match, so the verdict
 * is a denial; what matters is that it is a verdict and not a store error
 * (MDB_READERS_FULL when idle processes keep reader slots). Prints one line:
 * "ok CODE" or "error CODE: message"; exit 0 only for "ok".
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "latchkey.h"

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[3], "hold") != 0 && strcmp(argv[3], "once") != 0)) {
        fprintf(stderr, "usage: reader_hold CONFIG SECRETID hold|once\n");
        return 2;
    }
    /* blocked from the start: a SIGTERM sent early waits for sigwait */
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigprocmask(SIG_BLOCK, &term, NULL);

    static const char secret[] = "LKSK0000000000000000000000000000000000000000";
    lk_ctx *ctx;
    lk_status st = lk_open(argv[1], &ctx);
    if (st == LK_OK)
        st = lk_verify_key(ctx, argv[2], secret, strlen(secret), NULL, NULL);
    int ok = st == LK_OK || lk_status_is_denial(st);
    /* one write(): lines of concurrent processes appended to one file stay whole */
    char line[600];
    snprintf(line, sizeof line, "%s %s%s%s\n", ok ? "ok" : "error", lk_status_code(st), ok ? "" : ": ",
             ok ? "" : lk_errmsg(NULL));
    fputs(line, stdout);
    fflush(stdout);
    if (strcmp(argv[3], "hold") == 0) {
        int sig;
        sigwait(&term, &sig);
    }
    lk_close(ctx); /* NULL when the open failed */
    return ok ? 0 : 1;
}
