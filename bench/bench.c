/*
 * bench.c — latchkey's hot-path benchmark (`make bench`).
 *
 * One run prints one table:
 *   1. cold verify/s: Argon2id every time (cache.entries 0), at the default
 *      (interactive) and at the moderate hash parameters;
 *   2. warm verify/s and latency (p50/p99/p99.9/max, clock_gettime per call)
 *      on 1 and N threads, SecretId pairs and API keys, plus the cost of the
 *      deferred access-record flush;
 *   3. garbage rejects/s: malformed strings, bad checksums, unknown ids;
 *   4. warm verify with 1k, 100k and 1M keys in the store, LMDB and flat
 *      file (bulk-loaded in one write transaction, see bench_load.c);
 *   5. the same verify through libpam: pam_latchkey in-process (config=)
 *      and through latchkeyd (socket=, the bench starts one) vs pam_userdb
 *      (and pam_permit, libpam's own cost) under pam_wrapper, in one
 *      long-lived process and with a fresh process per login (bench_pam.c);
 * then the targets and whether each is met. Everything happens in a fresh
 * temporary directory, removed at the end (--keep leaves it).
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "bench.h"

#define NREAL 16          /* real keys of each kind, made by the create calls */
#define WORKING_SET 1000  /* keys verified in the scale runs */
#define MAX_CALLS_PER_THREAD 4000000u
#define HELD_OFF_CALLS 500000u   /* bounds the record queue while flushing is held off */
/* Issue 24's targets, as ratios to floors measured in the same run. */
#define WARM_FLOOR_SHARE 0.30 /* warm verify rate / (one LMDB read + one keyed BLAKE2b) */
#define WARM_P99_FLOORS 20.0  /* warm p99 / the floor's mean call */
#define REJECT_PARSES 40.0    /* unknown-id reject cost / parsing the id */

/* Issue 14's "before" (print_issue14): the base commit 4a79c54 built with
 * this bench.c, on this machine, mean of two --quick --no-pam --no-flatfile
 * --max-keys 1000 runs interleaved with two of the change (load average
 * 9-13 on 2 cores; bench/RESULTS.md). Per core = per CPU-second used. */
#define BEFORE_COLD_P50_MS 214.9
#define BEFORE_WARM_CORE 261000.0
#define BEFORE_WARM_API_CORE 257000.0
#define BEFORE_HELD_CORE 276500.0
#define BEFORE_UNKNOWN_SID_CORE 416600.0
#define BEFORE_UNKNOWN_API_CORE 432000.0

typedef struct bench_opts {
    double seconds;       /* per timed case */
    size_t max_keys;      /* largest store in the scale runs */
    int threads;          /* N of the multi-threaded runs */
    bool pam, scale, keep, strict, flatfile;
    int only;             /* 0: every section; else just this one (profiling) */
    const char *dir;      /* parent of the work directory */
    const char *flush_batch, *flush_interval; /* records.* overrides, NULL: defaults */
    const char *pam_module;
    const char *latchkeyd; /* for the PAM socket= rows */
} bench_opts;

/* What the targets are judged on. */
typedef struct bench_targets {
    double cold_rate, warm_rate, warm_p99, warm_api_p99;
    double scale_lmdb_1k, scale_lmdb_max;
    double flusher_ratio_1k; /* warm verify, 1k keys: flusher running / flush held off */
    size_t scale_max_keys;
    double garbage_min_1t, garbage_min_nt; /* slowest case: 1 thread; N threads, per core used */
    const char *garbage_min_1t_case, *garbage_min_nt_case;
    double pam_lk, pam_userdb, pam_lkd;
    bool pam_ran;
    /* issue 14's rows (1 thread; per core = per CPU-second the process used) */
    double cold_p50, warm_core, warm_api_core, held_core, unknown_sid_core, unknown_api_core;
    /* Issue 24: the floors, measured in this run on this machine, that the
     * targets are ratios to (so they hold on any CPU). */
    double cold_floor_p50;   /* us: one bare crypto_pwhash_str_verify at the same cost */
    double cold_ratio;       /* median over call pairs of verify / bare */
    double warm_floor_rate;  /* /s, 1 thread: one LMDB read + one keyed BLAKE2b of the same record */
    double parse_floor_rate; /* /s, 1 thread: lk_keyfmt_secret_id_ok on the unknown ids */
    double unknown_sid_nt_core; /* unknown SecretId rejects, N threads, per core used */
    double unknown_sid_1t_paired; /* ... 1 thread, in rounds alternating with the N-thread ones */
} bench_targets;

typedef struct bench_env {
    bench_opts o;
    char dir[4096];
    bench_cred sid[NREAL], api[NREAL];
    bench_targets t;
    int failures; /* unexpected results or errors: the run is not to be trusted */
} bench_env;

/* ------------------------------------------------------------ helpers */

/* Calls per CPU-second the process used (its flusher thread included): a
 * shared machine may give a run fewer cores than threads. */
static double per_core(const bench_result *r, int threads)
{
    return r->cores > 0.05 ? r->rate / r->cores : r->rate / threads;
}

static void fail(bench_env *e, const char *what, lk_status st)
{
    fprintf(stderr, "bench: %s: %s: %s\n", what, lk_status_code(st), lk_errmsg(NULL));
    e->failures++;
}

static lk_status open_store(const bench_env *e, const char *backend, const char *path, const char *cache_entries,
                            lk_ctx **out)
{
    lk_config *cfg;
    lk_status st = lk_config_default(&cfg);
    if (st != LK_OK)
        return st;
    /* 4 GiB of map: room for 1M keys (about 0.6 GiB) with margin; disk is
     * only used as data is written. */
    if ((st = lk_config_set(cfg, "store.backend", backend)) == LK_OK &&
        (st = lk_config_set(cfg, "store.path", path)) == LK_OK &&
        (st = lk_config_set(cfg, "store.map_size_mb", "4096")) == LK_OK)
        st = lk_config_set(cfg, "cache.entries", cache_entries);
    if (st == LK_OK && e->o.flush_batch)
        st = lk_config_set(cfg, "records.flush_batch", e->o.flush_batch);
    if (st == LK_OK && e->o.flush_interval)
        st = lk_config_set(cfg, "records.flush_interval_ms", e->o.flush_interval);
    if (st == LK_OK)
        st = lk_store_create(cfg); /* an existing store is left as it is */
    if (st == LK_OK)
        st = lk_open_config(cfg, out);
    lk_config_free(cfg);
    return st;
}

static void shuffle(bench_cred *c, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = randombytes_uniform((uint32_t)i);
        bench_cred t = c[i - 1];
        c[i - 1] = c[j];
        c[j] = t;
    }
}

static double file_mib(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (double)sb.st_size / (1024.0 * 1024.0) : 0;
}

/* ------------------------------------------------------------ the operations */

typedef struct verify_arg {
    lk_ctx *ctx;
    const bench_cred *creds;
    size_t n;
    const lk_verify_req *req;
    lk_status expect;
    uint64_t base; /* first cred used */
} verify_arg;

static bool op_verify(void *p, uint64_t i)
{
    const verify_arg *a = p;
    const bench_cred *c = &a->creds[(a->base + i) % a->n];
    lk_status st = c->apikey ? lk_verify_apikey(a->ctx, c->secret, c->secret_len, a->req, NULL)
                             : lk_verify_key(a->ctx, c->id, c->secret, c->secret_len, a->req, NULL);
    return st == a->expect;
}

/* A realistic request: the gateway knows the client address and the service. */
static const lk_verify_req the_req = {.client_ip = "192.0.2.10", .service = "cvm"};

static bench_result timed_verify(bench_env *e, lk_ctx *ctx, const bench_cred *c, size_t n, lk_status expect,
                                 int threads, double seconds, uint64_t max_calls)
{
    verify_arg a = {ctx, c, n, &the_req, expect, 0};
    bench_op op = {op_verify, &a};
    bench_result r;
    if (bench_run(&op, threads, seconds, max_calls, &r) != 0)
        e->failures++;
    if (r.bad)
        e->failures++;
    return r;
}

/* Hold the deferred-record flush off so a loop measures the lookup path
 * alone: auto flush off, as latchkeyd runs it (the ctx's flusher thread, if
 * started, sleeps; records only queue). Restore with flush_restore. */
typedef struct flush_cfg {
    unsigned batch;
} flush_cfg;

static flush_cfg flush_hold(lk_ctx *ctx)
{
    flush_cfg saved = {ctx->cfg.flush_batch};
    lk_set_auto_flush(ctx, 0);
    return saved;
}

static void flush_restore(lk_ctx *ctx, flush_cfg saved)
{
    (void)saved;
    lk_set_auto_flush(ctx, 1);
}

/* Time `reps` flushes of one default batch each (attempts spread over the
 * creds); the result's p50 column holds the mean. */
static bench_result time_flushes(bench_env *e, lk_ctx *ctx, const bench_cred *c, size_t n, int reps)
{
    bench_result fr;
    double sum = 0, worst = 0;
    flush_cfg saved = flush_hold(ctx);
    memset(&fr, 0, sizeof fr);
    if (lk_flush(ctx) != LK_OK)
        e->failures++;
    for (int k = 0; k < reps; k++) {
        verify_arg a = {ctx, c, n, &the_req, LK_OK, (uint64_t)k * saved.batch};
        bench_op op = {op_verify, &a};
        bench_result r;
        /* a different slice of the creds each time, like live traffic */
        if (bench_run(&op, 1, 0, saved.batch, &r) != 0 || r.bad)
            e->failures++;
        uint64_t t0 = bench_now_ns();
        if (lk_flush(ctx) != LK_OK)
            e->failures++;
        double us = (double)(bench_now_ns() - t0) / 1e3;
        sum += us;
        worst = us > worst ? us : worst;
    }
    flush_restore(ctx, saved);
    fr.calls = (uint64_t)reps;
    fr.seconds = sum / 1e6;
    fr.rate = fr.seconds > 0 ? (double)reps / fr.seconds : 0;
    fr.p50_us = sum / reps;
    fr.max_us = worst;
    return fr;
}

/* ------------------------------------------------------------ floors (issue 24)
 *
 * A target in absolute figures measures the CPU as much as latchkey (an EPYC
 * guest runs Argon2id at half a Xeon's pace). So each target is a ratio to
 * a floor measured in the same run: the least work any implementation must
 * do for that answer. The floor and the case run in alternating rounds, so
 * a burst of load from other work hits both alike; the medians are kept. */

enum { FLOOR_ROUNDS = 5 };

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* FLOOR_ROUNDS rounds of (floor on fthreads, op on threads), each for
 * `seconds` / max_calls: the median rate (per core used when per_cpu) and p50 of each. */
typedef struct paired {
    double floor_rate, op_rate, floor_p50, op_p50;
} paired;

static paired run_paired(bench_env *e, const bench_op *floor, const bench_op *op, int fthreads, int threads,
                         double seconds, uint64_t max_calls, bool per_cpu)
{
    double fr[FLOOR_ROUNDS], orate[FLOOR_ROUNDS], fp[FLOOR_ROUNDS], op50[FLOOR_ROUNDS];
    paired p;
    for (int k = 0; k < FLOOR_ROUNDS; k++) {
        bench_result a, b;
        if (bench_run(floor, fthreads, seconds, max_calls, &a) != 0 || a.bad)
            e->failures++;
        if (bench_run(op, threads, seconds, max_calls, &b) != 0 || b.bad)
            e->failures++;
        fr[k] = per_cpu ? per_core(&a, fthreads) : a.rate;
        orate[k] = per_cpu ? per_core(&b, threads) : b.rate;
        fp[k] = a.p50_us;
        op50[k] = b.p50_us;
    }
    p.floor_rate = median(fr, FLOOR_ROUNDS);
    p.op_rate = median(orate, FLOOR_ROUNDS);
    p.floor_p50 = median(fp, FLOOR_ROUNDS);
    p.op_p50 = median(op50, FLOOR_ROUNDS);
    return p;
}

/* Cold floor: one bare crypto_pwhash_str_verify of a hash at the ctx's cost. */
typedef struct pwhash_arg {
    const char *hash, *secret;
    size_t len;
} pwhash_arg;

static bool op_pwhash(void *p, uint64_t i)
{
    const pwhash_arg *a = p;
    (void)i;
    return crypto_pwhash_str_verify(a->hash, a->secret, a->len) == 0;
}

/* Warm floor: what any store-backed verify must do at the least: read the
 * key's record in one LMDB read txn and compute one keyed BLAKE2b over the
 * id, the stored hash and the secret (the verified-secret cache's MAC). */
typedef struct lmdb_mac_arg {
    lk_ctx *ctx;
    const bench_cred *creds;
    size_t n;
    unsigned char key[crypto_generichash_KEYBYTES];
} lmdb_mac_arg;

static bool op_lmdb_mac(void *p, uint64_t i)
{
    const lmdb_mac_arg *a = p;
    const bench_cred *c = &a->creds[i % a->n];
    char key[LK_KEYBUF];
    const char *v;
    size_t vl;
    lk_txn txn;
    unsigned char mac[16];
    crypto_generichash_state st;
    lk_key_ak(key, c->id);
    if (lk_txn_begin(a->ctx, false, &txn) != LK_OK)
        return false;
    bool ok = lk_txn_get(&txn, key, &v, &vl) == LK_OK;
    if (ok) {
        crypto_generichash_init(&st, a->key, sizeof a->key, sizeof mac);
        crypto_generichash_update(&st, (const unsigned char *)c->id, strlen(c->id) + 1);
        crypto_generichash_update(&st, (const unsigned char *)v, vl);
        crypto_generichash_update(&st, (const unsigned char *)c->secret, c->secret_len);
        crypto_generichash_final(&st, mac, sizeof mac);
    }
    lk_txn_abort(&txn);
    return ok;
}

/* Reject floor: parsing the id (length, alphabet, checksum), nothing more. */
static bool op_parse_id(void *p, uint64_t i)
{
    const verify_arg *a = p;
    const bench_cred *c = &a->creds[(a->base + i) % a->n];
    return lk_keyfmt_secret_id_ok(c->id, strlen(c->id));
}

/* Target line helpers: a ratio with its floor; "not measured" when the case
 * did not run (never met, never MISSED). */
static int target_line(bool measured, bool ok, const char *text)
{
    bench_say("  [%s] %s\n", !measured ? "not measured" : ok ? "met" : "MISSED", text);
    return measured && !ok;
}

/* ------------------------------------------------------------ setup: real keys */

static lk_status create_real_keys(bench_env *e, lk_ctx *ctx)
{
    static const char *const scope[] = {"cvm", "cos"};
    static const char *const ips[] = {"192.0.2.0/24", "2001:db8::/32"};
    lk_status st;

    for (uint64_t u = 1; u <= NREAL / 2; u++)
        if ((st = lk_user_add(ctx, u, LK_USER_ROOT, 0)) != LK_OK)
            return st;
    for (size_t i = 0; i < NREAL; i++) {
        lk_access_key k;
        lk_secret *s;
        if ((st = lk_key_create(ctx, 1 + i / 2, &k, &s)) != LK_OK)
            return st;
        bench_cred *c = &e->sid[i];
        snprintf(c->id, sizeof c->id, "%s", k.secret_id);
        snprintf(c->secret, sizeof c->secret, "%s", lk_secret_str(s));
        c->secret_len = lk_secret_len(s);
        lk_secret_free(s);
    }
    for (size_t i = 0; i < NREAL; i++) {
        char name[32];
        lk_apikey k;
        lk_secret *s;
        snprintf(name, sizeof name, "bench-%zu", i);
        lk_apikey_spec spec = {.name = name, .scope = scope, .scope_count = 2, .allow_ip = ips, .allow_ip_count = 2};
        if ((st = lk_apikey_create(ctx, 1, &spec, &k, &s)) != LK_OK)
            return st;
        bench_cred *c = &e->api[i];
        snprintf(c->id, sizeof c->id, "%s", k.id);
        snprintf(c->secret, sizeof c->secret, "%s", lk_secret_str(s));
        c->secret_len = lk_secret_len(s);
        c->apikey = true;
        lk_apikey_release(&k);
        lk_secret_free(s);
    }
    return LK_OK;
}

/* ------------------------------------------------------------ 1. cold */

static void section_cold(bench_env *e, const char *store)
{
    lk_ctx *ctx;
    char note[160];
    bench_table_section("1. cold verify (Argon2id every call, cache.entries 0)");
    lk_status st = open_store(e, "lmdb", store, "0", &ctx);
    if (st != LK_OK)
        return fail(e, "open (cold)", st);
    bench_result r = timed_verify(e, ctx, e->sid, NREAL, LK_OK, 1, 2.0, 12);
    snprintf(note, sizeof note, "opslimit %llu, memlimit %zu MiB (default)",
             (unsigned long long)ctx->cfg.opslimit, ctx->cfg.memlimit >> 20);
    bench_table_row("cold SecretId verify, default params", 1, &r, note);
    e->t.cold_rate = r.rate;
    e->t.cold_p50 = r.p50_us;
    /* The floor: one bare crypto_pwhash_str_verify at the same cost, in
     * rounds alternating with the verify (issue 24). */
    char hash[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str(hash, e->sid[0].secret, e->sid[0].secret_len, ctx->cfg.opslimit, ctx->cfg.memlimit) != 0) {
        fprintf(stderr, "bench: crypto_pwhash_str: out of memory\n");
        e->failures++;
    } else {
        pwhash_arg pa = {hash, e->sid[0].secret, e->sid[0].secret_len};
        verify_arg va = {ctx, e->sid, NREAL, &the_req, LK_OK, 0};
        /* Call by call, alternating which goes first: a burst of other
         * work lands on both of a pair; the median ratio of the pairs. */
        enum { COLD_PAIRS = 24 };
        double ratio[COLD_PAIRS], tb[COLD_PAIRS], tl[COLD_PAIRS];
        for (int k = 0; k < COLD_PAIRS; k++) {
            for (int j = 0; j < 2; j++) {
                bool bare_now = (j == 0) == (k % 2 == 0);
                uint64_t t0 = bench_now_ns();
                if (!(bare_now ? op_pwhash(&pa, 0) : op_verify(&va, (uint64_t)k)))
                    e->failures++;
                (bare_now ? tb : tl)[k] = (double)(bench_now_ns() - t0) / 1e3;
            }
            ratio[k] = tl[k] / tb[k];
        }
        double x = median(ratio, COLD_PAIRS);
        e->t.cold_p50 = median(tl, COLD_PAIRS);
        e->t.cold_floor_p50 = median(tb, COLD_PAIRS);
        e->t.cold_ratio = x;
        snprintf(note, sizeof note,
                 "floor: bare crypto_pwhash_str_verify p50 %.2f ms; verify p50 %.2f ms; median of %d pairs %.2fx",
                 e->t.cold_floor_p50 / 1000, e->t.cold_p50 / 1000, COLD_PAIRS, x);
        bench_say("| %-52s |   1 |           |            | %8.0f |          |          |          | %s\n",
                  "cold verify vs one bare Argon2id (same cost)", e->t.cold_p50, note);
    }
    r = timed_verify(e, ctx, e->sid, NREAL, LK_OK, e->o.threads, 2.0, 6);
    snprintf(note, sizeof note, "one %zu MiB Argon2id per thread", ctx->cfg.memlimit >> 20);
    bench_table_row("cold SecretId verify, default params", e->o.threads, &r, note);
    lk_close(ctx);

    /* Moderate: a key hashed at libsodium's MODERATE cost (3 passes, 256 MiB). */
    lk_config *cfg;
    if ((st = lk_config_default(&cfg)) != LK_OK)
        return fail(e, "config", st);
    char ops[32], mem[32];
    snprintf(ops, sizeof ops, "%llu", (unsigned long long)crypto_pwhash_OPSLIMIT_MODERATE);
    snprintf(mem, sizeof mem, "%zu", (size_t)crypto_pwhash_MEMLIMIT_MODERATE / 1024);
    if ((st = lk_config_set(cfg, "store.path", store)) == LK_OK &&
        (st = lk_config_set(cfg, "store.map_size_mb", "4096")) == LK_OK &&
        (st = lk_config_set(cfg, "cache.entries", "0")) == LK_OK &&
        (st = lk_config_set(cfg, "hash.opslimit", ops)) == LK_OK &&
        (st = lk_config_set(cfg, "hash.memlimit_kib", mem)) == LK_OK &&
        (st = lk_store_create(cfg)) == LK_OK)
        st = lk_open_config(cfg, &ctx);
    lk_config_free(cfg);
    if (st != LK_OK)
        return fail(e, "open (moderate)", st);
    bench_cred c;
    lk_access_key k;
    lk_secret *s;
    memset(&c, 0, sizeof c);
    if ((st = lk_user_add(ctx, 99, LK_USER_ROOT, 0)) != LK_OK || (st = lk_key_create(ctx, 99, &k, &s)) != LK_OK) {
        lk_close(ctx);
        return fail(e, "create (moderate)", st);
    }
    snprintf(c.id, sizeof c.id, "%s", k.secret_id);
    snprintf(c.secret, sizeof c.secret, "%s", lk_secret_str(s));
    c.secret_len = lk_secret_len(s);
    lk_secret_free(s);
    r = timed_verify(e, ctx, &c, 1, LK_OK, 1, 0, 3);
    snprintf(note, sizeof note, "opslimit %s, memlimit %zu MiB (MODERATE)", ops,
             (size_t)crypto_pwhash_MEMLIMIT_MODERATE >> 20);
    bench_table_row("cold SecretId verify, moderate params", 1, &r, note);
    lk_close(ctx);
}

/* ------------------------------------------------------------ 2. warm */

static lk_status set_rate_limits(lk_ctx *ctx, bench_env *e, uint32_t limit, uint32_t window)
{
    lk_status st = LK_OK;
    for (size_t i = 0; i < NREAL && st == LK_OK; i++)
        st = lk_apikey_set_rate_limit(ctx, e->api[i].id, limit, window);
    if (st != LK_OK) {
        fprintf(stderr, "bench: setting a request limit: %s\n", lk_errmsg(ctx));
        e->failures++;
    }
    return st;
}

static void section_warm(bench_env *e, lk_ctx *ctx)
{
    lk_stats s0, s1;
    char note[200];
    int n = e->o.threads;
    bench_table_section("2. warm verify (verified-secret cache, LMDB)");

    /* Warm-up: one Argon2id per key puts it in the cache. */
    bench_result r = timed_verify(e, ctx, e->sid, NREAL, LK_OK, 1, 0, NREAL);
    r = timed_verify(e, ctx, e->api, NREAL, LK_OK, 1, 0, NREAL);
    lk_get_stats(ctx, &s0);

    r = timed_verify(e, ctx, e->sid, NREAL, LK_OK, 1, e->o.seconds, MAX_CALLS_PER_THREAD);
    e->t.warm_rate = r.rate;
    e->t.warm_p99 = r.p99_us;
    e->t.warm_core = per_core(&r, 1);
    snprintf(note, sizeof note, "%d keys, records flushed every %u attempts / %u ms", NREAL, ctx->cfg.flush_batch,
             ctx->cfg.flush_interval_ms);
    bench_table_row("warm SecretId verify", 1, &r, note);
    r = timed_verify(e, ctx, e->sid, NREAL, LK_OK, n, e->o.seconds, MAX_CALLS_PER_THREAD);
    bench_table_row("warm SecretId verify", n, &r, NULL);
    r = timed_verify(e, ctx, e->api, NREAL, LK_OK, 1, e->o.seconds, MAX_CALLS_PER_THREAD);
    e->t.warm_api_p99 = r.p99_us;
    e->t.warm_api_core = per_core(&r, 1);
    bench_table_row("warm API key verify (scope + IP allowlist checked)", 1, &r, "scope {cvm,cos}, 2 CIDRs");
    r = timed_verify(e, ctx, e->api, NREAL, LK_OK, n, e->o.seconds, MAX_CALLS_PER_THREAD);
    bench_table_row("warm API key verify (scope + IP allowlist checked)", n, &r, NULL);

    /* The floor: one LMDB read + one keyed BLAKE2b of the same record, in
     * rounds alternating with the verify (issue 24). */
    {
        static lmdb_mac_arg la; /* its key: a secret, kept off the stack */
        la.ctx = ctx, la.creds = e->sid, la.n = NREAL;
        randombytes_buf(la.key, sizeof la.key);
        verify_arg va = {ctx, e->sid, NREAL, &the_req, LK_OK, 0};
        bench_op fl = {op_lmdb_mac, &la}, op = {op_verify, &va};
        double secs = e->o.seconds / 4 > 0.1 ? e->o.seconds / 4 : 0.1;
        paired p = run_paired(e, &fl, &op, 1, 1, secs, MAX_CALLS_PER_THREAD, true);
        sodium_memzero(la.key, sizeof la.key);
        e->t.warm_floor_rate = p.floor_rate;
        e->t.warm_core = p.op_rate;
        snprintf(note, sizeof note,
                 "floor: LMDB read + keyed BLAKE2b %.0f/s per core; verify %.0f/s = %.0f%% of the floor (medians, %d rounds)",
                 p.floor_rate, p.op_rate, 100 * p.op_rate / p.floor_rate, FLOOR_ROUNDS);
        bench_say("| %-52s |   1 |           | %10.0f |          |          |          |          | %s\n",
                  "warm SecretId verify vs its floor", p.op_rate, note);
    }

    lk_get_stats(ctx, &s1);
    if (s1.argon2_verifies != s0.argon2_verifies) {
        fprintf(stderr, "bench: %llu Argon2id ran during the warm runs\n",
                (unsigned long long)(s1.argon2_verifies - s0.argon2_verifies));
        e->failures++;
    }

    /* The same API keys with a request limit (never reached): the cost of
     * the in-memory counter, one striped-lock update per verify. Setting a
     * limit evicts the key from the cache: warm it up again, before and after. */
    if (set_rate_limits(ctx, e, LK_RATE_MAX, 86400) == LK_OK) {
        r = timed_verify(e, ctx, e->api, NREAL, LK_OK, 1, 0, NREAL);
        r = timed_verify(e, ctx, e->api, NREAL, LK_OK, 1, e->o.seconds, MAX_CALLS_PER_THREAD);
        bench_table_row("warm API key verify with a request limit", 1, &r, "limit never reached: counter cost");
        r = timed_verify(e, ctx, e->api, NREAL, LK_OK, n, e->o.seconds, MAX_CALLS_PER_THREAD);
        bench_table_row("warm API key verify with a request limit", n, &r, NULL);
    }
    if (set_rate_limits(ctx, e, 0, 0) != LK_OK)
        e->failures++;
    r = timed_verify(e, ctx, e->api, NREAL, LK_OK, 1, 0, NREAL);

    /* The deferred-record flush, isolated: the same loop with flushing held
     * off, then flushes of one default batch timed alone. */
    if (lk_flush(ctx) != LK_OK)
        e->failures++;
    flush_cfg saved = flush_hold(ctx);
    r = timed_verify(e, ctx, e->sid, NREAL, LK_OK, 1, e->o.seconds, HELD_OFF_CALLS);
    bench_table_row("warm SecretId verify, record flush held off", 1, &r, "lookup + cache path alone");
    e->t.held_core = per_core(&r, 1);
    r = timed_verify(e, ctx, e->sid, NREAL, LK_OK, n, e->o.seconds, HELD_OFF_CALLS);
    bench_table_row("warm SecretId verify, record flush held off", n, &r, NULL);
    flush_restore(ctx, saved);
    bench_result fr = time_flushes(e, ctx, e->sid, NREAL, 8);
    snprintf(note, sizeof note, "p50 col = mean; %u attempts over %d keys: %.2f us per verify amortised",
             ctx->cfg.flush_batch, NREAL, fr.p50_us / ctx->cfg.flush_batch);
    bench_table_row("records flush of one batch (lk_flush, 1 write txn)", 1, &fr, note);
}

/* ------------------------------------------------------------ 3. garbage */

enum { NGARBAGE = 4096 };

static void make_garbage(bench_cred *g, int kind)
{
    static const char *const junk[] = {"", "AKID", "hello", "' OR 1=1 --", "akidAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                       "AKID-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "AKIDAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                       "lk-", "lk-AAAAAAAAAAAA", "sk-proj-0123456789"};
    for (size_t i = 0; i < NGARBAGE; i++) {
        bench_cred *c = &g[i];
        memset(c, 0, sizeof *c);
        switch (kind) {
        case 0: /* SecretId: malformed (prefix, length, alphabet) */
            snprintf(c->id, sizeof c->id, "%s", junk[i % 7]);
            lk_keyfmt_new_secret_key(c->secret);
            break;
        case 1: /* SecretId: right shape, wrong checksum */
        case 2: /* SecretId: valid checksum, not in the store */
            lk_keyfmt_new_secret_id(c->id);
            lk_keyfmt_new_secret_key(c->secret);
            if (kind == 1)
                c->id[LK_SECRET_ID_LEN - 1] = c->id[LK_SECRET_ID_LEN - 1] == 'A' ? 'B' : 'A';
            break;
        case 3: /* API key: malformed */
            snprintf(c->secret, sizeof c->secret, "%s", junk[7 + i % 3]);
            c->apikey = true;
            break;
        case 4: /* API key: wrong checksum */
        case 5: /* API key: valid checksum, unknown id */
            lk_keyfmt_new_apikey(c->secret);
            if (kind == 4)
                c->secret[LK_APIKEY_LEN - 1] = c->secret[LK_APIKEY_LEN - 1] == 'A' ? 'B' : 'A';
            c->apikey = true;
            break;
        }
        c->secret_len = strlen(c->secret);
    }
}

static void section_garbage(bench_env *e, lk_ctx *ctx)
{
    static const char *const names[] = {
        "reject SecretId: malformed (prefix/length/alphabet)", "reject SecretId: bad checksum",
        "reject SecretId: unknown id (valid checksum, lookup)", "reject API key: malformed",
        "reject API key: bad checksum", "reject API key: unknown id (valid checksum, lookup)"};
    static const lk_status expect[] = {LK_DENY_MALFORMED, LK_DENY_MALFORMED, LK_DENY_UNKNOWN_KEY,
                                       LK_DENY_MALFORMED, LK_DENY_MALFORMED, LK_DENY_UNKNOWN_KEY};
    bench_cred *g = malloc(NGARBAGE * sizeof *g);
    lk_stats s0, s1;
    if (g == NULL)
        return fail(e, "garbage", LK_ERR_NOMEM);
    bench_table_section("3. garbage / unknown-key rejects (no Argon2id)");
    lk_get_stats(ctx, &s0);
    e->t.garbage_min_1t = e->t.garbage_min_nt = -1;
    for (int kind = 0; kind < 6; kind++) {
        make_garbage(g, kind);
        for (int th = 1; th <= e->o.threads; th += (e->o.threads > 1 ? e->o.threads - 1 : 1)) {
            double secs = e->o.seconds / 2 > 0.3 ? e->o.seconds / 2 : 0.3;
            bench_result r = timed_verify(e, ctx, g, NGARBAGE, expect[kind], th, secs, MAX_CALLS_PER_THREAD);
            /* Per core = per CPU-second the run actually used (a shared
             * machine may give N threads fewer than N cores). */
            double pc = per_core(&r, th);
            char note[96];
            snprintf(note, sizeof note, "%.2f M/s per thread, %.2f M/s per core", r.rate / th / 1e6, pc / 1e6);
            bench_table_row(names[kind], th, &r, note);
            double *min = th == 1 ? &e->t.garbage_min_1t : &e->t.garbage_min_nt;
            const char **which = th == 1 ? &e->t.garbage_min_1t_case : &e->t.garbage_min_nt_case;
            if (*min < 0 || pc < *min) {
                *min = pc;
                *which = names[kind];
            }
            if (th == 1 && kind == 2)
                e->t.unknown_sid_core = pc;
            if (th > 1 && kind == 2)
                e->t.unknown_sid_nt_core = pc;
            if (th == 1 && kind == 5)
                e->t.unknown_api_core = pc;
        }
    }
    /* The floors of an unknown-id reject, in alternating rounds with it:
     * parsing the id alone, and 1 vs N threads per core (issue 24). */
    make_garbage(g, 2);
    {
        verify_arg a = {ctx, g, NGARBAGE, &the_req, LK_DENY_UNKNOWN_KEY, 0};
        bench_op parse = {op_parse_id, &a}, rej = {op_verify, &a};
        double secs = e->o.seconds / 4 > 0.1 ? e->o.seconds / 4 : 0.1;
        paired p1 = run_paired(e, &parse, &rej, 1, 1, secs, MAX_CALLS_PER_THREAD, true);
        char note[160];
        e->t.parse_floor_rate = p1.floor_rate;
        e->t.unknown_sid_core = p1.op_rate;
        snprintf(note, sizeof note, "floor: parse the id alone %.2f M/s; reject = %.1fx its cost (medians of %d rounds)",
                 p1.floor_rate / 1e6, p1.floor_rate / p1.op_rate, FLOOR_ROUNDS);
        bench_say("| %-52s |   1 |           | %8.2f M |          |          |          |          | %s\n",
                  "reject SecretId: unknown id vs parsing the id", p1.op_rate / 1e6, note);
        if (e->o.threads > 1) {
            /* 1 and N threads alternating: the ratio sees the same load. */
            paired pn = run_paired(e, &rej, &rej, 1, e->o.threads, secs, MAX_CALLS_PER_THREAD, true);
            e->t.unknown_sid_nt_core = pn.op_rate;
            e->t.unknown_sid_1t_paired = pn.floor_rate;
            snprintf(note, sizeof note, "per core used, medians of %d alternating rounds: %.2fx 1 thread's %.2f M/s",
                     FLOOR_ROUNDS, pn.op_rate / pn.floor_rate, pn.floor_rate / 1e6);
            bench_say("| %-52s | %3d |           | %8.2f M |          |          |          |          | %s\n",
                      "reject SecretId: unknown id, per core", e->o.threads, e->t.unknown_sid_nt_core / 1e6, note);
        }
    }
    lk_get_stats(ctx, &s1);
    if (s1.argon2_verifies != s0.argon2_verifies) {
        fprintf(stderr, "bench: a garbage credential reached Argon2id\n");
        e->failures++;
    }
    free(g);
}

/* ------------------------------------------------------------ 4. scale */

static void section_scale(bench_env *e, const char *backend, const char *file)
{
    static const size_t sizes[] = {1000, 100000, 1000000};
    char dir[4200], path[4300], what[96], note[200];
    lk_ctx *ctx;
    bench_filler f;
    size_t loaded = 0, got = 0;
    bool is_lmdb = strcmp(backend, "lmdb") == 0;

    snprintf(dir, sizeof dir, "%s/scale-%s", e->dir, backend);
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (mkdir(dir, 0700) != 0)
        return fail(e, "mkdir", LK_ERR_STORE);
    lk_status st = open_store(e, backend, path, "10000", &ctx);
    if (st != LK_OK)
        return fail(e, "open (scale)", st);
    if ((st = bench_filler_init(&f)) != LK_OK) {
        lk_close(ctx);
        return fail(e, "filler", st);
    }
    bench_cred *ws = calloc(WORKING_SET, sizeof *ws);
    char(*ids)[LK_SECRET_ID_LEN + 1] = calloc(WORKING_SET, sizeof *ids);
    bench_cred *unknown = calloc(NGARBAGE, sizeof *unknown);
    if (ws == NULL || ids == NULL || unknown == NULL) {
        fail(e, "scale", LK_ERR_NOMEM);
        goto out;
    }
    make_garbage(unknown, 2);

    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0] && sizes[si] <= e->o.max_keys; si++) {
        double load_s;
        size_t add = sizes[si] - loaded;
        st = bench_bulk_load(ctx, &f, add, ids, loaded == 0 ? WORKING_SET : 0, loaded == 0 ? &got : &(size_t){0},
                             &load_s);
        if (st != LK_OK) {
            fail(e, "bulk load", st);
            goto out;
        }
        loaded = sizes[si];
        if (si == 0) {
            /* The working set: the first keys loaded, spread over the whole
             * id space by their random ids, verified once (Argon2id at
             * minimal cost) to warm the cache. */
            for (size_t i = 0; i < got; i++) {
                snprintf(ws[i].id, sizeof ws[i].id, "%s", ids[i]);
                snprintf(ws[i].secret, sizeof ws[i].secret, "%s", f.secret);
                ws[i].secret_len = LK_SECRET_KEY_LEN;
            }
            if ((st = bench_bulk_check(ctx, &f, ws[0].id)) != LK_OK) {
                fail(e, "bulk-loaded key read back", st);
                goto out;
            }
            bench_result r = timed_verify(e, ctx, ws, got, LK_OK, 1, 0, got);
            (void)r;
        } else if ((st = bench_bulk_check(ctx, &f, ws[got - 1].id)) != LK_OK) {
            fail(e, "bulk-loaded key read back", st);
            goto out;
        }
        snprintf(what, sizeof what, "%s: warm verify, %zuk keys in store", backend, loaded / 1000);
        snprintf(note, sizeof note, "load %.1f s (1 txn), file %.0f MiB; working set %zu keys", load_s,
                 file_mib(path), got);
        bench_result r = timed_verify(e, ctx, ws, got, LK_OK, 1, e->o.seconds, MAX_CALLS_PER_THREAD);
        bench_table_row(what, 1, &r, note);
        double with_flusher = r.rate;
        if (is_lmdb && si == 0)
            e->t.scale_lmdb_1k = r.rate;
        if (is_lmdb) {
            e->t.scale_lmdb_max = r.rate;
            e->t.scale_max_keys = loaded;
        }
        if (is_lmdb) {
            r = timed_verify(e, ctx, ws, got, LK_OK, e->o.threads, e->o.seconds, MAX_CALLS_PER_THREAD);
            bench_table_row(what, e->o.threads, &r, NULL);
        }
        /* The same loop without the record flush, and one flush alone:
         * which part grows with the store. */
        flush_cfg saved = flush_hold(ctx);
        snprintf(what, sizeof what, "%s: ... record flush held off, %zuk keys", backend, loaded / 1000);
        r = timed_verify(e, ctx, ws, got, LK_OK, 1, e->o.seconds, HELD_OFF_CALLS);
        bench_table_row(what, 1, &r, "lookup + cache path alone");
        if (r.rate > 0) {
            /* What the automatic flush costs a verifying thread: the
             * ctx's flusher writes the records on a thread of its own. */
            snprintf(what, sizeof what, "%s: ... with flusher / held off, %zuk keys", backend, loaded / 1000);
            snprintf(note, sizeof note, "ratio %.0f%% (%.0f/s vs %.0f/s, 1 thread, working set %zu keys)",
                     100 * with_flusher / r.rate, with_flusher, r.rate, got);
            bench_say("| %-52s |     |           |            |          |          |          |          | %s\n", what,
                      note);
            if (is_lmdb && si == 0)
                e->t.flusher_ratio_1k = with_flusher / r.rate;
        }
        if (lk_flush(ctx) != LK_OK) /* the queue built up above, untimed */
            e->failures++;
        flush_restore(ctx, saved);
        bench_result fr = time_flushes(e, ctx, ws, got, is_lmdb ? 8 : 2);
        snprintf(what, sizeof what, "%s: ... one records flush, %zuk keys", backend, loaded / 1000);
        snprintf(note, sizeof note, "p50 col = mean; %u attempts over %zu keys: %.2f us per verify amortised",
                 ctx->cfg.flush_batch, got, fr.p50_us / ctx->cfg.flush_batch);
        bench_table_row(what, 1, &fr, note);
        snprintf(what, sizeof what, "%s: unknown-id reject, %zuk keys in store", backend, loaded / 1000);
        r = timed_verify(e, ctx, unknown, NGARBAGE, LK_DENY_UNKNOWN_KEY, 1, e->o.seconds / 2, MAX_CALLS_PER_THREAD);
        bench_table_row(what, 1, &r, NULL);
    }
    if (is_lmdb && e->t.scale_lmdb_1k > 0) {
        snprintf(note, sizeof note, "ratio %zuk/1k = %.2f (rate at %zuk keys / rate at 1k keys)",
                 e->t.scale_max_keys / 1000, e->t.scale_lmdb_max / e->t.scale_lmdb_1k, e->t.scale_max_keys / 1000);
        bench_say("| %-52s |     |           |            |          |          |          |          | %s\n",
                  "lmdb: scale ratio", note);
    }
out:
    free(ws);
    free(ids);
    free(unknown);
    lk_close(ctx);
}

/* ------------------------------------------------------------ 5. PAM */

typedef struct open_arg {
    const char *config;
    const bench_cred *creds;
    size_t n;
} open_arg;

static bool op_open_verify(void *p, uint64_t i)
{
    const open_arg *a = p;
    const bench_cred *c = &a->creds[i % a->n];
    lk_ctx *ctx;
    if (lk_open(a->config, &ctx) != LK_OK)
        return false;
    lk_status st = lk_verify_key(ctx, c->id, c->secret, c->secret_len, &the_req, NULL);
    lk_close(ctx);
    return st == LK_OK;
}

#ifdef LK_BENCH_NO_PAM
static void section_pam(bench_env *e, const char *store)
{
    (void)e, (void)store;
    bench_say("| %-52s |     |           |            |          |          |          |          | %s\n",
              "PAM part skipped", "built without PAM (libpam0g-dev)");
}
#else
/* latchkeyd on the bench's store (its own config: the daemon section),
 * started in the background; its pid, with *sock listening, or -1. */
static pid_t start_latchkeyd(bench_env *e, const char *store, char *sock, size_t socksz)
{
    char cfg[4300], log[4300], text[9000];
    snprintf(cfg, sizeof cfg, "%s/latchkeyd.yaml", e->dir);
    snprintf(log, sizeof log, "%s/latchkeyd.log", e->dir);
    snprintf(sock, socksz, "%s/lkd.sock", e->dir);
    snprintf(text, sizeof text, "store:\n  backend: lmdb\n  path: %s\ndaemon:\n  socket: %s\n  throttle_failures: 0\n",
             store, sock);
    FILE *f = fopen(cfg, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
        return -1;
    if (access(e->o.latchkeyd, X_OK) != 0) {
        fprintf(stderr, "bench: %s: %s (make latchkeyd)\n", e->o.latchkeyd, strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        FILE *l = freopen(log, "w", stderr);
        (void)l;
        execl(e->o.latchkeyd, e->o.latchkeyd, "--config", cfg, (char *)NULL);
        _exit(127);
    }
    if (pid < 0)
        return -1;
    struct stat st;
    for (int i = 0; i < 400; i++) { /* up to 20 s on a loaded machine */
        if (stat(sock, &st) == 0 && S_ISSOCK(st.st_mode))
            return pid;
        if (waitpid(pid, NULL, WNOHANG) == pid)
            break;
        usleep(50000);
    }
    fprintf(stderr, "bench: latchkeyd did not start (see %s)\n", log);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static double pam_rate(const bench_pam_result *r)
{
    return r->seconds > 0 ? (double)r->calls / r->seconds : 0;
}

static void say_ratio(const char *what, const char *note)
{
    bench_say("| %-52s |     |           |            |          |          |          |          | %s\n", what, note);
}

static void section_pam(bench_env *e, const char *store)
{
    char cfgpath[4300], text[4600], why[512], sock[4300];
    bench_pam_result res[BENCH_PAM_NSERVICES];
    bench_table_section("5. through libpam (pam_wrapper), 1 thread");
    snprintf(cfgpath, sizeof cfgpath, "%s/latchkey.yaml", e->dir);
    snprintf(text, sizeof text, "store:\n  backend: lmdb\n  path: %s\n", store);
    FILE *f = fopen(cfgpath, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
        return fail(e, "write config", LK_ERR_STORE);
    double secs = e->o.seconds * 2 > 3 ? e->o.seconds * 2 : 3;
    pid_t lkd = start_latchkeyd(e, store, sock, sizeof sock);
    if (lkd < 0)
        e->failures++; /* the socket= rows are missing; the others still run */
    int rc = bench_pam_run(e->dir, e->o.pam_module, cfgpath, lkd > 0 ? sock : NULL, e->sid, 8, secs, res, why,
                           sizeof why);
    if (lkd > 0) {
        kill(lkd, SIGTERM);
        waitpid(lkd, NULL, 0);
    }
    if (rc != 0) {
        say_ratio("PAM part skipped", why);
        fprintf(stderr, "bench: PAM part: %s\n", why);
        e->failures++;
        return;
    }
    static const char *const labels[BENCH_PAM_NSERVICES] = {
        [BENCH_PAM_LK] = "pam_latchkey.so config= (auth, in-process)",
        [BENCH_PAM_USERDB] = "pam_userdb.so crypt=crypt (auth)",
        [BENCH_PAM_PERMIT] = "pam_permit.so (libpam alone, module dlopen'd per handle)",
        [BENCH_PAM_LKD] = "pam_latchkey.so socket= (auth, via latchkeyd)",
        [BENCH_PAM_LK_FRESH] = "pam_latchkey.so config=, fresh process per login",
        [BENCH_PAM_LKD_FRESH] = "pam_latchkey.so socket=, fresh process per login",
        [BENCH_PAM_PERMIT_FRESH] = "pam_permit.so, fresh process per login",
    };
    for (int s = 0; s < BENCH_PAM_NSERVICES; s++) {
        bench_result r;
        char note[200];
        if (res[s].calls == 0)
            continue;
        memset(&r, 0, sizeof r);
        r.calls = res[s].calls;
        r.bad = res[s].bad;
        r.seconds = res[s].seconds;
        r.rate = pam_rate(&res[s]);
        r.p50_us = res[s].p50_us;
        r.p99_us = res[s].p99_us;
        note[0] = '\0';
        if (s == BENCH_PAM_LK)
            snprintf(note, sizeof note, "pam_start + pam_authenticate + pam_end per call; one long-lived host");
        if (s == BENCH_PAM_USERDB)
            snprintf(note, sizeof note, "same credentials, crypt() method %.40s (system default)", why);
        if (s == BENCH_PAM_LKD)
            snprintf(note, sizeof note, "the module's connection pool kept across logins");
        if (s == BENCH_PAM_LK_FRESH)
            snprintf(note, sizeof note, "fork + exec per login: store open, cold cache (Argon2id) each time");
        if (s == BENCH_PAM_LKD_FRESH)
            snprintf(note, sizeof note, "fork + exec per login: a new connection, latchkeyd's cache warm");
        bench_table_row(labels[s], 1, &r, note);
        if (r.bad)
            e->failures++;
    }
    /* What PAM would cost with a ctx per pam handle (no process-wide pool):
     * a store open and a cold cache, so one Argon2id, per login. */
    open_arg oa = {cfgpath, e->sid, 8};
    bench_op op = {op_open_verify, &oa};
    bench_result r;
    if (bench_run(&op, 1, 2.0, 20, &r) != 0 || r.bad)
        e->failures++;
    bench_table_row("in-process lk_open + verify + lk_close per attempt", 1, &r,
                    "= a ctx per PAM handle: store open + cold cache each time");
    e->t.pam_lk = pam_rate(&res[BENCH_PAM_LK]);
    e->t.pam_userdb = pam_rate(&res[BENCH_PAM_USERDB]);
    e->t.pam_lkd = pam_rate(&res[BENCH_PAM_LKD]);
    e->t.pam_ran = true;
    char note[256];
    snprintf(note, sizeof note, "pam_latchkey / pam_userdb = %.2f", e->t.pam_userdb > 0 ? e->t.pam_lk / e->t.pam_userdb : 0);
    say_ratio("PAM ratio", note);
    double permit = pam_rate(&res[BENCH_PAM_PERMIT]);
    if (e->t.pam_lkd > 0 && e->t.pam_lk > 0 && permit > 0) {
        snprintf(note, sizeof note, "socket= / config= = %.2f; socket= / pam_permit = %.2f; config= / pam_permit = %.2f",
                 e->t.pam_lkd / e->t.pam_lk, e->t.pam_lkd / permit, e->t.pam_lk / permit);
        say_ratio("PAM ratio, long-lived host", note);
    }
    double lkf = pam_rate(&res[BENCH_PAM_LK_FRESH]), lkdf = pam_rate(&res[BENCH_PAM_LKD_FRESH]),
           pf = pam_rate(&res[BENCH_PAM_PERMIT_FRESH]);
    if (lkf > 0 && lkdf > 0 && pf > 0) {
        snprintf(note, sizeof note, "socket= / config= = %.1f; socket= / pam_permit = %.2f; config= / pam_permit = %.3f",
                 lkdf / lkf, lkdf / pf, lkf / pf);
        say_ratio("PAM ratio, fresh process per login", note);
    }
}

#endif

/* ------------------------------------------------------------ targets */

/* Issue 14's rows: the base commit's figures (4a79c54, run on this
 * machine with the same --quick --no-pam options; see bench/RESULTS.md)
 * beside this run's. */
static void print_issue14(const bench_env *e)
{
    static const struct {
        const char *row;
        double before;
        const char *unit;
    } base[] = {
        {"cold SecretId verify p50, default hash cost (ms)", BEFORE_COLD_P50_MS, "ms"},
        {"warm SecretId verify, 16 keys, 1 thread (/s per core)", BEFORE_WARM_CORE, "/s"},
        {"warm API key verify, 1 thread (/s per core)", BEFORE_WARM_API_CORE, "/s"},
        {"warm SecretId verify, flush held off (/s per core)", BEFORE_HELD_CORE, "/s"},
        {"reject SecretId: unknown id, 1 thread (/s per core)", BEFORE_UNKNOWN_SID_CORE, "/s"},
        {"reject API key: unknown id, 1 thread (/s per core)", BEFORE_UNKNOWN_API_CORE, "/s"},
    };
    const bench_targets *t = &e->t;
    double now[] = {t->cold_p50 / 1000, t->warm_core, t->warm_api_core, t->held_core, t->unknown_sid_core,
                    t->unknown_api_core};
    bench_say("issue 14: before (base commit 4a79c54, measured on the Intel Xeon guest: absolute figures, compare only "
              "on that CPU) -> this run:\n");
    for (size_t i = 0; i < sizeof base / sizeof base[0]; i++) {
        if (now[i] <= 0)
            continue;
        bench_say("  %-56s %12.2f -> %12.2f  (%.2fx)\n", base[i].row, base[i].before, now[i],
                  strcmp(base[i].unit, "ms") == 0 ? base[i].before / now[i] : now[i] / base[i].before);
    }
}

/* Every target is a ratio to a floor measured in this run on this machine
 * (issue 24), so it holds on any CPU; the absolute figures are in the table
 * above, under the CPU model and the load average. */
static int print_targets(const bench_env *e)
{
    const bench_targets *t = &e->t;
    int missed = 0;
    char line[512];
    bench_say("targets (ratios to floors measured in this run):\n");
    double x = t->cold_rate > 0 ? t->warm_rate / t->cold_rate : 0;
    snprintf(line, sizeof line, "warm verify >= 100x cold (1 thread): %.0f/s vs %.2f/s = %.0fx", t->warm_rate,
             t->cold_rate, x);
    missed += target_line(t->cold_rate > 0 && t->warm_rate > 0, x >= 100, line);
    x = t->cold_ratio;
    snprintf(line, sizeof line,
             "cold verify <= 1.2x one bare crypto_pwhash_str_verify at the same cost: p50 %.2f ms vs %.2f ms; "
             "median of paired calls %.2fx",
             t->cold_p50 / 1000, t->cold_floor_p50 / 1000, x);
    missed += target_line(t->cold_floor_p50 > 0, x <= 1.2, line);
    x = t->warm_floor_rate > 0 ? t->warm_core / t->warm_floor_rate : 0;
    snprintf(line, sizeof line,
             "warm SecretId verify >= %.0f%% of its floor (one LMDB read + one keyed BLAKE2b, 1 thread): "
             "%.0f/s vs %.0f/s per core = %.0f%%",
             100 * WARM_FLOOR_SHARE, t->warm_core, t->warm_floor_rate, 100 * x);
    missed += target_line(t->warm_floor_rate > 0, x >= WARM_FLOOR_SHARE, line);
    double floor_us = t->warm_floor_rate > 0 ? 1e6 / t->warm_floor_rate : 0;
    snprintf(line, sizeof line,
             "warm p99 <= %.0fx the floor's mean call (%.2f us), 1 thread: SecretId %.2f us, API key %.2f us",
             WARM_P99_FLOORS, floor_us, t->warm_p99, t->warm_api_p99);
    missed += target_line(floor_us > 0 && t->warm_p99 > 0, t->warm_p99 <= WARM_P99_FLOORS * floor_us &&
                                                               t->warm_api_p99 <= WARM_P99_FLOORS * floor_us,
                          line);
    x = t->unknown_sid_core > 0 ? t->parse_floor_rate / t->unknown_sid_core : 0;
    snprintf(line, sizeof line,
             "unknown-id reject <= %.0fx the cost of parsing the id (1 thread): %.2f M/s vs parse %.2f M/s = %.1fx",
             REJECT_PARSES, t->unknown_sid_core / 1e6, t->parse_floor_rate / 1e6, x);
    missed += target_line(t->parse_floor_rate > 0, x <= REJECT_PARSES, line);
    x = t->unknown_sid_1t_paired > 0 ? t->unknown_sid_nt_core / t->unknown_sid_1t_paired : 0;
    snprintf(line, sizeof line,
             "unknown-id reject, %d threads >= 0.8x the 1-thread rate per core used: %.2f vs %.2f M/s = %.2fx",
             e->o.threads, t->unknown_sid_nt_core / 1e6, t->unknown_sid_1t_paired / 1e6, x);
    missed += target_line(e->o.threads > 1 && t->unknown_sid_1t_paired > 0, x >= 0.8, line);
    bool at_1m = t->scale_max_keys >= 1000000;
    x = t->scale_lmdb_max > 0 ? t->scale_lmdb_1k / t->scale_lmdb_max : 0;
    if (at_1m)
        snprintf(line, sizeof line, "LMDB warm verify at 1M keys within 2x of 1k: %.0f/s vs %.0f/s (1k is %.2fx faster)",
                 t->scale_lmdb_max, t->scale_lmdb_1k, x);
    else
        snprintf(line, sizeof line, "LMDB warm verify at 1M keys within 2x of 1k: the largest store run was %zuk keys",
                 t->scale_max_keys / 1000);
    missed += target_line(at_1m, x <= 2.0, line);
    snprintf(line, sizeof line, "LMDB warm verify, 1k keys, with the records flusher >= 90%% of flush held off: %.0f%%",
             100 * t->flusher_ratio_1k);
    missed += target_line(t->flusher_ratio_1k > 0, t->flusher_ratio_1k >= 0.9, line);
    x = t->pam_userdb > 0 ? t->pam_lk / t->pam_userdb : 0;
    snprintf(line, sizeof line, "PAM path >= 10x pam_userdb: %.2f/s vs %.2f/s = %.2fx", t->pam_lk, t->pam_userdb, x);
    missed += target_line(t->pam_ran && t->pam_userdb > 0, x >= 10, line);
    return missed;
}

/* ------------------------------------------------------------ main */

/* --argon2-floor N: the p50 in us of N bare crypto_pwhash_str_verify at the
 * default hash cost, on one line: the floor bench/mosquitto.sh divides its
 * cold CONNECT by (issue 24). */
static int argon2_floor(int n)
{
    lk_config *cfg;
    char hash[crypto_pwhash_STRBYTES], secret[LK_SECRET_KEY_LEN + 1];
    double us[64];
    if (n < 1 || n > 64 || sodium_init() < 0 || lk_config_default(&cfg) != LK_OK)
        return 2;
    lk_keyfmt_new_secret_key(secret);
    int rc = crypto_pwhash_str(hash, secret, strlen(secret), cfg->opslimit, cfg->memlimit);
    lk_config_free(cfg);
    if (rc != 0)
        return 2;
    pwhash_arg pa = {hash, secret, strlen(secret)};
    for (int i = 0; i < n; i++) {
        uint64_t t0 = bench_now_ns();
        if (!op_pwhash(&pa, 0))
            return 1;
        us[i] = (double)(bench_now_ns() - t0) / 1e3;
    }
    printf("p50=%.0f\n", median(us, n));
    return 0;
}

static int rm_cb(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb, (void)type, (void)ftw;
    return remove(path);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: latchkey-bench [--seconds S] [--max-keys N] [--threads N] [--no-pam] [--no-scale]\n"
            "                      [--no-flatfile] [--quick] [--only N] [--dir DIR] [--keep] [--strict]\n"
            "                      [--flush-batch N] [--flush-interval MS] [--pam-module PATH]\n"
            "                      [--latchkeyd PATH]\n"
            "  --seconds S     time per timed case (default 1.5)\n"
            "  --max-keys N    largest store in the scale runs: 1000, 100000 or 1000000 (default)\n"
            "  --quick         --seconds 0.5 --max-keys 100000\n"
            "  --only N        run only section N (1-5), e.g. under perf\n"
            "  --flush-batch N, --flush-interval MS  records.* settings to measure (default: the defaults)\n"
            "  --strict        exit 1 when a target is missed\n"
            "  --pam-module    pam_latchkey.so to measure (default: .libs/ next to bench/)\n"
            "  --latchkeyd     latchkeyd to start for the PAM socket= rows (default: next to bench/)\n"
            "latchkey-bench --argon2-floor N: print p50=US of N bare Argon2id verifies at the default cost\n");
}

static void default_module(char *out, size_t n)
{
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) {
        snprintf(out, n, ".libs/pam_latchkey.so");
        return;
    }
    self[len] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0'; /* .../bench */
    slash = strrchr(self, '/');
    if (slash)
        *slash = '\0'; /* the build dir */
    snprintf(out, n, "%s/.libs/pam_latchkey.so", self);
}

int main(int argc, char **argv)
{
    static bench_env e; /* large; zeroed */
    char module[4200];

#ifndef LK_BENCH_NO_PAM
    if (argc >= 2 && strcmp(argv[1], "--pam-child") == 0)
        return bench_pam_child(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "--pam-once") == 0)
        return bench_pam_once(argc - 2, argv + 2);
#endif
    char lkd_path[4200];
    if (argc == 3 && strcmp(argv[1], "--argon2-floor") == 0)
        return argon2_floor(atoi(argv[2]));

    e.o.seconds = 1.5;
    e.o.max_keys = 1000000;
    e.o.threads = bench_nproc();
    e.o.pam = e.o.scale = e.o.flatfile = true;
    default_module(module, sizeof module);
    e.o.pam_module = module;
    snprintf(lkd_path, sizeof lkd_path, "%s", module); /* <builddir>/.libs/pam_latchkey.so */
    char *cut = strstr(lkd_path, "/.libs/pam_latchkey.so");
    if (cut != NULL)
        snprintf(cut, sizeof lkd_path - (size_t)(cut - lkd_path), "/latchkeyd");
    e.o.latchkeyd = lkd_path;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--seconds") == 0 && v) {
            e.o.seconds = atof(v), i++;
        } else if (strcmp(a, "--max-keys") == 0 && v) {
            e.o.max_keys = (size_t)strtoull(v, NULL, 10), i++;
        } else if (strcmp(a, "--threads") == 0 && v) {
            e.o.threads = atoi(v), i++;
        } else if (strcmp(a, "--dir") == 0 && v) {
            e.o.dir = v, i++;
        } else if (strcmp(a, "--pam-module") == 0 && v) {
            e.o.pam_module = v, i++;
        } else if (strcmp(a, "--latchkeyd") == 0 && v) {
            e.o.latchkeyd = v, i++;
        } else if (strcmp(a, "--no-pam") == 0) {
            e.o.pam = false;
        } else if (strcmp(a, "--no-scale") == 0) {
            e.o.scale = false;
        } else if (strcmp(a, "--no-flatfile") == 0) {
            e.o.flatfile = false;
        } else if (strcmp(a, "--keep") == 0) {
            e.o.keep = true;
        } else if (strcmp(a, "--strict") == 0) {
            e.o.strict = true;
        } else if (strcmp(a, "--flush-batch") == 0 && v) {
            e.o.flush_batch = v, i++;
        } else if (strcmp(a, "--flush-interval") == 0 && v) {
            e.o.flush_interval = v, i++;
        } else if (strcmp(a, "--only") == 0 && v) {
            e.o.only = atoi(v), i++;
        } else if (strcmp(a, "--quick") == 0) {
            e.o.seconds = 0.5, e.o.max_keys = 100000;
        } else {
            usage();
            return 2;
        }
    }
    if (e.o.seconds <= 0 || e.o.threads < 1 || e.o.threads > 64) {
        usage();
        return 2;
    }
    if (sodium_init() < 0)
        return 2;

    const char *tmp = e.o.dir ? e.o.dir : getenv("TMPDIR");
    snprintf(e.dir, sizeof e.dir, "%s/latchkey-bench.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(e.dir) == NULL) {
        fprintf(stderr, "bench: mkdtemp %s: %s\n", e.dir, strerror(errno));
        return 2;
    }
    bench_say("latchkey-bench: work dir %s, %.2f s per case, N = %d threads\n", e.dir, e.o.seconds, e.o.threads);
    bench_print_machine();
    bench_print_load("at start");

    char realdir[4200], store[4300];
    lk_ctx *ctx = NULL;
    snprintf(realdir, sizeof realdir, "%s/real", e.dir);
    snprintf(store, sizeof store, "%s/store.mdb", realdir);
    mkdir(realdir, 0700);
    uint64_t t0 = bench_now_ns();
    lk_status st = open_store(&e, "lmdb", store, "10000", &ctx);
    if (st == LK_OK)
        st = create_real_keys(&e, ctx);
    if (st != LK_OK) {
        fail(&e, "creating the real keys", st);
        goto done;
    }
    bench_say("setup: %d SecretId pairs + %d API keys created through the API in %.1f s\n", NREAL, NREAL,
              (double)(bench_now_ns() - t0) / 1e9);
    shuffle(e.sid, NREAL);
    shuffle(e.api, NREAL);
    /* LMDB forbids two environments on one file in one process: each
     * section opens its own ctx after the previous one is closed. */
    lk_close(ctx);
    ctx = NULL;

#define RUN(n) (e.o.only == 0 || e.o.only == (n))
    bench_table_header();
    if (RUN(1))
        section_cold(&e, store);
    if (RUN(2) || RUN(3)) {
        if ((st = open_store(&e, "lmdb", store, "10000", &ctx)) != LK_OK) {
            fail(&e, "open (warm)", st);
            goto done;
        }
        if (RUN(2))
            section_warm(&e, ctx);
        if (RUN(3))
            section_garbage(&e, ctx);
        lk_close(ctx);
        ctx = NULL;
    }
    if (e.o.scale && RUN(4)) {
        bench_table_section("4. scale: warm verify vs store size (1 write txn bulk load)");
        section_scale(&e, "lmdb", "store.mdb");
        if (e.o.flatfile)
            section_scale(&e, "flatfile", "store.txt");
    }
    if (e.o.pam && RUN(5))
        section_pam(&e, store);
#undef RUN
    bench_table_end();

done:
    lk_close(ctx);
    bench_print_load("at end");
    print_issue14(&e);
    int missed = print_targets(&e);
    bench_say("total time %.1f s\n", (double)(bench_now_ns() - t0) / 1e9);
    if (!e.o.keep)
        nftw(e.dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    else
        bench_say("kept %s\n", e.dir);
    if (e.failures) {
        fprintf(stderr, "bench: %d unexpected result(s) or error(s): the numbers above are not to be trusted\n",
                e.failures);
        return 1;
    }
    return e.o.strict && missed ? 1 : 0;
}
