/*
 * bench.h — what the files of the latchkey benchmark share: the timed-loop
 * runner, the result table, the bulk loader and the PAM part.
 *
 * The benchmark links libcore.la, so it may use the internal API
 * (lk_internal.h) — only to bulk-load a large store in one transaction in
 * exactly the layout the core writes. Every measurement goes through the
 * public verify calls.
 */
#ifndef LK_BENCH_H
#define LK_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "lk_internal.h"

/* ------------------------------------------------------------ timed loops (bench_util.c) */

/* One operation: returns true when the call gave the expected result. i is
 * the thread's call number plus a per-thread offset, so threads spread over
 * different keys. */
typedef struct bench_op {
    bool (*fn)(void *arg, uint64_t i);
    void *arg;
} bench_op;

typedef struct bench_result {
    uint64_t calls, bad;
    double seconds;       /* wall time from the first start to the last stop */
    double rate;          /* calls per second, all threads together */
    double p50_us, p99_us, p999_us, max_us;
    double cores;         /* CPU time used / wall time: cores the run really got */
} bench_result;

uint64_t bench_now_ns(void);
/* Run op on `threads` threads, each until `seconds` have passed or it made
 * max_calls calls (whichever first). Every call is timed with clock_gettime. */
int bench_run(const bench_op *op, int threads, double seconds, uint64_t max_calls, bench_result *out);

/* ------------------------------------------------------------ the table (bench_util.c) */

void bench_table_header(void);
void bench_table_section(const char *title);
/* One row: a case, its thread count and result, and a free-form note. */
void bench_table_row(const char *what, int threads, const bench_result *r, const char *note);
/* A row with only a rate (no latency distribution). */
void bench_table_rate(const char *what, int threads, uint64_t calls, double seconds, const char *note);
void bench_table_end(void);
/* printf to stdout, flushed at once (the table is read while it runs). */
void bench_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print the machine: nproc, CPU model, RAM, kernel, compiler, libraries. */
void bench_print_machine(void);
int bench_nproc(void);
/* The load average: other work on the machine skews the N-thread rows. */
void bench_print_load(const char *when);

/* ------------------------------------------------------------ credentials */

/* A credential with a known secret: a SecretId pair or an API key. */
typedef struct bench_cred {
    char id[LK_APIKEY_LEN + 1];     /* SecretId, or the API key id */
    char secret[LK_APIKEY_LEN + 1]; /* SecretKey, or the whole API key */
    size_t secret_len;
    bool apikey;
} bench_cred;

/* ------------------------------------------------------------ bulk loading (bench_load.c) */

/* Filler keys all carry one Argon2id string (minimal cost) of one known
 * SecretKey, so any of them verifies with that secret. */
typedef struct bench_filler {
    char secret[LK_SECRET_KEY_LEN + 1];
    char hash[crypto_pwhash_STRBYTES];
    uint64_t next_pair;   /* pairs (users) loaded so far */
} bench_filler;

lk_status bench_filler_init(bench_filler *f);
/* Add `count` access keys (2 per new user, the default limit) in ONE write
 * transaction, records built exactly as lk_user_add / lk_key_create build
 * them. The first min(count, want_ids) SecretIds are copied to ids
 * (LK_SECRET_ID_LEN + 1 bytes each); *got says how many. */
lk_status bench_bulk_load(lk_ctx *ctx, bench_filler *f, size_t count, char (*ids)[LK_SECRET_ID_LEN + 1],
                          size_t want_ids, size_t *got, double *seconds);
/* Read one loaded key back through the public API: proves the layout. */
lk_status bench_bulk_check(lk_ctx *ctx, const bench_filler *f, const char *id);

/* ------------------------------------------------------------ PAM (bench_pam.c) */

typedef struct bench_pam_result {
    char service[32];
    uint64_t calls, bad;
    double seconds;
    double p50_us, p99_us;
} bench_pam_result;

/* The services measured, in this order (bench_pam_services names them):
 * in one long-lived process, pam_latchkey config= (in-process), socket=
 * (through latchkeyd), pam_userdb, pam_permit; then a fresh process per
 * login (fork + exec, as a forking host re-executes) for config=, socket=
 * and pam_permit. */
enum {
    BENCH_PAM_LK,
    BENCH_PAM_USERDB,
    BENCH_PAM_PERMIT,
    BENCH_PAM_LKD,
    BENCH_PAM_LK_FRESH,
    BENCH_PAM_LKD_FRESH,
    BENCH_PAM_PERMIT_FRESH,
    BENCH_PAM_NSERVICES
};
extern const char *const bench_pam_services[BENCH_PAM_NSERVICES];

/* Parent: build the services in dir (the socket= ones only when socket is
 * not NULL: latchkeyd already listens there), run the child under
 * pam_wrapper, fill res (calls 0: not measured). */
int bench_pam_run(const char *dir, const char *module, const char *config, const char *socket,
                  const bench_cred *creds, size_t n, double seconds, bench_pam_result res[BENCH_PAM_NSERVICES],
                  char *why, size_t whysz);
/* Child entries (argv after --pam-child; after --pam-once: SERVICE USER,
 * the password on stdin, exit 0 when PAM says yes). */
int bench_pam_child(int argc, char **argv);
int bench_pam_once(int argc, char **argv);

#endif
