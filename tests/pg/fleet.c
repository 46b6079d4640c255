/*
 * fleet.c — the long-lived verifier of tests/pg/fleet.sh: "machine B", one
 * process with its own record cache, driven line by line on stdin while
 * "machine A" (the latchkey tool, other processes) changes the store.
 *
 * Commands (one per line; one answer line each on stdout, flushed):
 *   key SID SECRET CODE MS   verify the pair until the verdict's code (as
 *                            lk_status_code names it, e.g. Success,
 *                            AuthFailure.SignatureFailure) is CODE, for at
 *                            most MS milliseconds (0: once)
 *   api APIKEY CODE MS       the same with lk_verify_apikey
 *   quit
 * Answers: "ok CODE AFTER_MS TRIES", or "timeout LASTCODE TRIES: MESSAGE".
 *
 * Usage: fleet CONFIG
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "latchkey.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    lk_ctx *ctx;
    char line[512], cmd[16], a[128], b[128], code[96];
    if (argc != 2 || lk_open(argv[1], &ctx) != LK_OK) {
        fprintf(stderr, "fleet: cannot open %s: %s\n", argc > 1 ? argv[1] : "(no config)", lk_errmsg(NULL));
        return 2;
    }
    while (fgets(line, sizeof line, stdin) != NULL) {
        long ms = 0;
        bool api = false;
        if (sscanf(line, "%15s", cmd) != 1)
            continue;
        if (strcmp(cmd, "quit") == 0)
            break;
        if (strcmp(cmd, "key") == 0 && sscanf(line, "%*s %127s %127s %95s %ld", a, b, code, &ms) == 4) {
            api = false;
        } else if (strcmp(cmd, "api") == 0 && sscanf(line, "%*s %127s %95s %ld", a, code, &ms) == 3) {
            api = true;
        } else {
            printf("error bad command: %s", line);
            fflush(stdout);
            continue;
        }
        double start = now_ms();
        long tries = 0;
        lk_status st;
        for (;;) {
            tries++;
            st = api ? lk_verify_apikey(ctx, a, strlen(a), NULL, NULL)
                     : lk_verify_key(ctx, a, b, strlen(b), NULL, NULL);
            if (strcmp(lk_status_code(st), code) == 0 || now_ms() - start >= (double)ms)
                break;
            nanosleep(&(struct timespec){.tv_nsec = 200000}, NULL); /* 0.2 ms between tries */
        }
        if (strcmp(lk_status_code(st), code) == 0)
            printf("ok %s %.3f %ld\n", code, now_ms() - start, tries);
        else
            printf("timeout %s %ld: %s\n", lk_status_code(st), tries, lk_errmsg(NULL));
        fflush(stdout);
    }
    lk_close(ctx);
    return 0;
}
