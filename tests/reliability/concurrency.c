/*
 * concurrency — verifiers racing a writer on one store, across processes.
 *
 *   concurrency CONFIG SECONDS NVERIFIERS LOGDIR
 *
 * One writer process creates access keys and API keys, disables and deletes
 * them; NVERIFIERS processes verify them in a loop, each with its own lk_ctx
 * (and verified-secret cache) on the same store, for SECONDS.
 *
 * Shared memory (MAP_SHARED, before fork) holds, per key: its id and secret
 * (published only after the create call returned), and the CLOCK_MONOTONIC
 * times at which the writer started and finished ("reported") the disable
 * and the delete. The clock is system-wide, so times from different
 * processes compare.
 *
 * Each verifier takes t0 just before calling verify, and logs every success
 * as "slot t0" to LOGDIR/verifier-N.log. Checked, live and again from the
 * logs at the end:
 *  - no verify that started after a disable was reported succeeds
 *    (t0 > disable_reported ⇒ not LK_OK);
 *  - no phantom change: the right secret refused (LK_DENY_BAD_SECRET: a
 *    disabled key is refused before the secret is checked and answered as a
 *    wrong secret, issue 19) only once the disable had started,
 *    LK_DENY_UNKNOWN_KEY only once the delete had started;
 *  - a wrong secret never LK_OK; never LK_DENY_DISABLED (it would tell an
 *    unproven caller the key's state); no status outside OK/DENY_*
 *    (LK_ERR_STORE would be a torn read);
 *  - every process exits normally (no reader crashes);
 *  - at the end the store holds exactly the writer's reported state.
 * Exit 0 when all hold; 1 otherwise, with details on stderr.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "latchkey.h"

#define MAXSLOTS 65536
#define MAXLIVE 24
#define NUSERS 3

typedef struct slot {
    char id[LK_SECRET_ID_LEN + 1];
    char secret[LK_APIKEY_LEN + 1];
    bool api;
    _Atomic int published;
    _Atomic int64_t disable_started, disable_reported;
    _Atomic int64_t delete_started, delete_reported;
} slot;

typedef struct shared {
    _Atomic int nslots;
    _Atomic int stop;
    _Atomic uint64_t verifies, oks, disabled, unknown, bad_secret_wrong, problems, violations;
    _Atomic uint64_t creates, disables, deletes;
    slot s[MAXSLOTS];
} shared;

static shared *sh;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static lk_ctx *open_or_die(const char *config, const char *who)
{
    lk_ctx *ctx;
    lk_status st = lk_open(config, &ctx);
    if (st != LK_OK) {
        fprintf(stderr, "%s: open: %s: %s\n", who, lk_status_code(st), lk_errmsg(NULL));
        _exit(3);
    }
    return ctx;
}

/* ------------------------------------------------------------ writer */

static int writer(const char *config, unsigned seed)
{
    lk_ctx *ctx = open_or_die(config, "writer");
    srandom(seed);
    int live[MAXSLOTS], nlive = 0;
    int rc = 0;

    while (!atomic_load(&sh->stop)) {
        int r = (int)(random() % 100);
        if ((nlive < MAXLIVE && r < 40) || nlive == 0) {
            int n = atomic_load(&sh->nslots);
            if (n >= MAXSLOTS)
                break;
            slot *s = &sh->s[n];
            uint64_t uin = 1 + (uint64_t)(random() % NUSERS);
            lk_secret *sec = NULL;
            lk_status st;
            s->api = random() % 2;
            if (s->api) {
                char name[32];
                lk_apikey a;
                snprintf(name, sizeof name, "k%d", n);
                lk_apikey_spec spec = {.name = name};
                st = lk_apikey_create(ctx, uin, &spec, &a, &sec);
                if (st == LK_OK) {
                    snprintf(s->id, sizeof s->id, "%s", a.id);
                    lk_apikey_release(&a);
                }
            } else {
                lk_access_key k;
                st = lk_key_create(ctx, uin, &k, &sec);
                if (st == LK_OK)
                    snprintf(s->id, sizeof s->id, "%s", k.secret_id);
            }
            if (st != LK_OK) {
                fprintf(stderr, "writer: create: %s: %s\n", lk_status_code(st), lk_errmsg(NULL));
                rc = 1;
                break;
            }
            snprintf(s->secret, sizeof s->secret, "%s", lk_secret_str(sec));
            lk_secret_free(sec);
            atomic_store(&s->published, 1);
            atomic_store(&sh->nslots, n + 1);
            atomic_fetch_add(&sh->creates, 1);
            live[nlive++] = n;
            continue;
        }
        int li = (int)(random() % nlive);
        slot *s = &sh->s[live[li]];
        lk_status st;
        if (atomic_load(&s->disable_reported) == 0) {
            atomic_store(&s->disable_started, now_ns());
            st = s->api ? lk_apikey_set_status(ctx, s->id, LK_KEY_INACTIVE)
                        : lk_key_set_status(ctx, s->id, 0, LK_KEY_INACTIVE);
            if (st == LK_OK) {
                atomic_store(&s->disable_reported, now_ns());
                atomic_fetch_add(&sh->disables, 1);
            }
        } else {
            atomic_store(&s->delete_started, now_ns());
            st = s->api ? lk_apikey_delete(ctx, s->id) : lk_key_delete(ctx, s->id, 0);
            if (st == LK_OK) {
                atomic_store(&s->delete_reported, now_ns());
                atomic_fetch_add(&sh->deletes, 1);
                live[li] = live[--nlive];
            }
        }
        if (st != LK_OK) {
            fprintf(stderr, "writer: change %s: %s: %s\n", s->id, lk_status_code(st), lk_errmsg(NULL));
            rc = 1;
            break;
        }
    }
    lk_close(ctx);
    return rc;
}

/* ------------------------------------------------------------ verifiers */

static void problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void problem(const char *fmt, ...)
{
    va_list ap;
    if (atomic_fetch_add(&sh->problems, 1) < 20) {
        va_start(ap, fmt);
        fputs("concurrency: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
}

static int verifier(const char *config, int idx, const char *logdir, unsigned seed)
{
    char who[32], path[512];
    snprintf(who, sizeof who, "verifier %d", idx);
    snprintf(path, sizeof path, "%s/verifier-%d.log", logdir, idx);
    FILE *log = fopen(path, "w");
    if (log == NULL) {
        perror(path);
        return 3;
    }
    lk_ctx *ctx = open_or_die(config, who);
    srandom(seed);
    while (!atomic_load(&sh->stop)) {
        int n = atomic_load(&sh->nslots);
        if (n == 0) {
            usleep(1000);
            continue;
        }
        /* mostly recent keys: they are the ones changing */
        int i = random() % 4 ? n - 1 - (int)(random() % (n < 8 ? n : 8)) : (int)(random() % n);
        slot *s = &sh->s[i];
        if (!atomic_load(&s->published))
            continue;
        /* now and then another access key's SecretKey: well-formed, wrong
         * (an API key carries its own id, so it has no "other" secret) */
        const char *secret = s->secret;
        bool wrong = false;
        if (!s->api && random() % 8 == 0) {
            for (int j = (i + 1) % n; j != i; j = (j + 1) % n)
                if (!sh->s[j].api && atomic_load(&sh->s[j].published)) {
                    secret = sh->s[j].secret;
                    wrong = true;
                    break;
                }
        }
        size_t slen = strlen(secret);
        lk_verify_req req = {.client_ip = "192.0.2.1", .service = "cvm"};

        int64_t t0 = now_ns();
        lk_status st = s->api ? lk_verify_apikey(ctx, secret, slen, &req, NULL)
                              : lk_verify_key(ctx, s->id, secret, slen, &req, NULL);
        int64_t dis_rep = atomic_load(&s->disable_reported), dis_start = atomic_load(&s->disable_started);
        int64_t del_start = atomic_load(&s->delete_started);
        atomic_fetch_add(&sh->verifies, 1);

        switch (st) {
        case LK_OK:
            atomic_fetch_add(&sh->oks, 1);
            fprintf(log, "%d %" PRId64 "\n", i, t0);
            if (wrong)
                problem("%s: a wrong secret verified", s->id);
            if (dis_rep != 0 && t0 > dis_rep) {
                atomic_fetch_add(&sh->violations, 1);
                problem("%s: verify started %.3f ms after its disable was reported, and succeeded", s->id,
                        (double)(t0 - dis_rep) / 1e6);
            }
            break;
        case LK_DENY_UNKNOWN_KEY:
            atomic_fetch_add(&sh->unknown, 1);
            if (del_start == 0)
                problem("%s: unknown before any delete started", s->id);
            break;
        case LK_DENY_BAD_SECRET:
            if (!wrong) { /* refused before the secret was checked: disabled */
                atomic_fetch_add(&sh->disabled, 1);
                if (dis_start == 0)
                    problem("%s: the right secret was refused before any disable started (%s)", s->id,
                            lk_errmsg(NULL));
                break;
            }
            atomic_fetch_add(&sh->bad_secret_wrong, 1);
            break;
        default:
            problem("%s: verify returned %s: %s", s->id, lk_status_code(st), lk_errmsg(NULL));
            break;
        }
    }
    lk_close(ctx);
    return fclose(log) == 0 ? 0 : 3;
}

/* ------------------------------------------------------------ main */

static pid_t spawn(int (*fn)(const char *, int, const char *, unsigned), const char *config, int idx,
                   const char *logdir, unsigned seed)
{
    pid_t p = fork();
    if (p < 0) {
        perror("fork");
        exit(3);
    }
    if (p == 0) {
        fflush(NULL);
        _exit(fn(config, idx, logdir, seed));
    }
    return p;
}

static int writer_entry(const char *config, int idx, const char *logdir, unsigned seed)
{
    (void)idx, (void)logdir;
    return writer(config, seed);
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: concurrency CONFIG SECONDS NVERIFIERS LOGDIR\n");
        return 2;
    }
    const char *config = argv[1], *logdir = argv[4];
    double seconds = atof(argv[2]);
    int nver = atoi(argv[3]);
    if (nver < 1 || nver > 64 || seconds <= 0)
        return 2;
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    if (getenv("CONC_SEED"))
        seed = (unsigned)strtoul(getenv("CONC_SEED"), NULL, 10);
    printf("concurrency: seed %u, %d verifiers, %.1f s\n", seed, nver, seconds);
    fflush(stdout);

    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        perror("mmap");
        return 3;
    }
    lk_config *cfg;
    if (lk_config_load(config, &cfg) != LK_OK || lk_store_create(cfg) != LK_OK) {
        fprintf(stderr, "setup: create store: %s\n", lk_errmsg(NULL));
        return 3;
    }
    lk_config_free(cfg);
    lk_ctx *ctx = open_or_die(config, "setup");
    for (uint64_t u = 1; u <= NUSERS; u++)
        if (lk_user_add(ctx, u, LK_USER_ROOT, 0) != LK_OK) {
            fprintf(stderr, "setup: user add: %s\n", lk_errmsg(NULL));
            return 3;
        }
    lk_close(ctx);

    pid_t pids[65];
    pids[0] = spawn(writer_entry, config, 0, logdir, seed);
    for (int i = 1; i <= nver; i++)
        pids[i] = spawn(verifier, config, i, logdir, seed + (unsigned)i);
    usleep((useconds_t)(seconds * 1e6));
    atomic_store(&sh->stop, 1);

    int bad = 0;
    for (int i = 0; i <= nver; i++) {
        int status;
        if (waitpid(pids[i], &status, 0) < 0) {
            perror("waitpid");
            bad = 1;
            continue;
        }
        if (WIFSIGNALED(status)) {
            fprintf(stderr, "concurrency: %s %d died of signal %d\n", i ? "verifier" : "writer", i, WTERMSIG(status));
            bad = 1;
        } else if (WEXITSTATUS(status) != 0) {
            fprintf(stderr, "concurrency: %s %d exited %d\n", i ? "verifier" : "writer", i, WEXITSTATUS(status));
            bad = 1;
        }
    }

    /* the logs, checked again after the fact */
    uint64_t logged = 0;
    for (int i = 1; i <= nver; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/verifier-%d.log", logdir, i);
        FILE *f = fopen(path, "r");
        int slotno;
        int64_t t0;
        if (f == NULL) {
            perror(path);
            bad = 1;
            continue;
        }
        while (fscanf(f, "%d %" SCNd64, &slotno, &t0) == 2) {
            logged++;
            int64_t rep = atomic_load(&sh->s[slotno].disable_reported);
            if (slotno < 0 || slotno >= MAXSLOTS || (rep != 0 && t0 > rep)) {
                fprintf(stderr, "concurrency: log %d: success at %" PRId64 " after disable of slot %d at %" PRId64 "\n",
                        i, t0, slotno, rep);
                bad = 1;
            }
        }
        fclose(f);
    }
    if (logged != atomic_load(&sh->oks)) {
        fprintf(stderr, "concurrency: %" PRIu64 " successes logged, %" PRIu64 " counted\n", logged,
                atomic_load(&sh->oks));
        bad = 1;
    }

    /* every reported change landed */
    ctx = open_or_die(config, "final check");
    int n = atomic_load(&sh->nslots);
    for (int i = 0; i < n; i++) {
        slot *s = &sh->s[i];
        lk_status st;
        lk_key_status ks = LK_KEY_ACTIVE;
        if (s->api) {
            lk_apikey a;
            st = lk_apikey_get(ctx, s->id, &a);
            ks = a.status;
            lk_apikey_release(&a);
        } else {
            lk_access_key k;
            memset(&k, 0, sizeof k);
            st = lk_key_get(ctx, s->id, &k);
            ks = k.status;
        }
        const char *want = s->delete_reported ? "deleted" : s->disable_reported ? "inactive" : "active";
        const char *got = st == LK_ERR_KEY_NOT_EXIST ? "deleted"
                          : st != LK_OK              ? lk_status_code(st)
                          : ks == LK_KEY_ACTIVE      ? "active"
                                                     : "inactive";
        if (strcmp(want, got) != 0) {
            fprintf(stderr, "concurrency: %s: writer reported %s, store has %s\n", s->id, want, got);
            bad = 1;
        }
    }
    lk_close(ctx);

    uint64_t problems = atomic_load(&sh->problems), violations = atomic_load(&sh->violations);
    printf("concurrency: %" PRIu64 " verifies (%" PRIu64 " allowed, %" PRIu64 " disabled, %" PRIu64
           " unknown, %" PRIu64 " wrong secret refused); writer: %" PRIu64 " creates, %" PRIu64 " disables, %" PRIu64
           " deletes; %" PRIu64 " violations, %" PRIu64 " problems\n",
           atomic_load(&sh->verifies), atomic_load(&sh->oks), atomic_load(&sh->disabled), atomic_load(&sh->unknown),
           atomic_load(&sh->bad_secret_wrong), atomic_load(&sh->creates), atomic_load(&sh->disables),
           atomic_load(&sh->deletes), violations, problems);
    if (atomic_load(&sh->disables) == 0 || atomic_load(&sh->verifies) == 0) {
        fprintf(stderr, "concurrency: nothing was exercised\n");
        bad = 1;
    }
    return bad || problems || violations ? 1 : 0;
}
