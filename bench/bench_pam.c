/*
 * bench_pam.c — the same credentials verified through a real libpam loop
 * (pam_start / pam_authenticate / pam_end per attempt, a conversation that
 * answers the password prompt), under cwrap's pam_wrapper so the service
 * files come from our own directory and /etc/pam.d is never touched.
 *
 * The services, in one child process, one after the other:
 *   latchkey  auth required <builddir>/.libs/pam_latchkey.so config=<cfg>
 *   lkd       auth required <builddir>/.libs/pam_latchkey.so socket=<sock>
 *             (latchkeyd, started by bench.c on the same store)
 *   userdb    auth required pam_userdb.so db=<dir>/userdb crypt=crypt
 *             (Berkeley DB hash made by db_load, crypt() hashes of the same
 *             SecretKeys with the system's default method)
 *   permit    auth required pam_permit.so — libpam's own cost per attempt
 *             (libpam dlopens/dlcloses it per handle; pam_latchkey is
 *             linked -z nodelete, so it can come out cheaper than this).
 * and then latchkey, lkd and permit again with a fresh process per login
 * (the child forks and re-executes itself, --pam-once, for each): what a
 * host that forks per connection pays, where the in-process ctx pool starts
 * empty (store open, cold cache: Argon2id) and latchkeyd's cache stays warm.
 * pam_wrapper must be preloaded from process start, so the bench re-executes
 * itself (--pam-child) with LD_PRELOAD, PAM_WRAPPER=1 and
 * PAM_WRAPPER_SERVICE_DIR set, and reads one RESULT line per service.
 */
#include <crypt.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <security/pam_appl.h>

#include "bench.h"

#define NSERVICES BENCH_PAM_NSERVICES
const char *const bench_pam_services[NSERVICES] = {"latchkey", "userdb", "permit", "lkd",
                                                   "latchkey-fresh", "lkd-fresh", "permit-fresh"};
#define service_names bench_pam_services
#define FRESH_SUFFIX "-fresh"

/* dir + "/" + name into out; paths that do not fit stop the bench. */
static void join(char *out, size_t n, const char *dir, const char *name)
{
    int len = snprintf(out, n, "%s/%s", dir, name);
    if (len < 0 || (size_t)len >= n) {
        fprintf(stderr, "bench: path too long: %s/%s\n", dir, name);
        exit(2);
    }
}

/* First existing file among shell patterns. */
static bool find_file(const char *const *patterns, size_t n, char *out, size_t outsz)
{
    for (size_t i = 0; i < n; i++) {
        glob_t g;
        if (glob(patterns[i], 0, NULL, &g) == 0 && g.gl_pathc > 0) {
            snprintf(out, outsz, "%s", g.gl_pathv[0]);
            globfree(&g);
            return true;
        }
        globfree(&g);
    }
    return false;
}

/* A program in PATH, by any of its names. */
static bool find_program(const char *const *names, size_t n, char *out, size_t outsz)
{
    const char *path = getenv("PATH");
    for (size_t i = 0; i < n; i++) {
        const char *p = path ? path : "/usr/bin:/bin";
        while (*p) {
            size_t len = strcspn(p, ":");
            snprintf(out, outsz, "%.*s/%s", (int)len, p, names[i]);
            if (access(out, X_OK) == 0)
                return true;
            p += len;
            if (*p == ':')
                p++;
        }
    }
    return false;
}

/* Run argv, wait; 0 when it exited 0. stdout_fd >= 0 receives its stdout. */
static int run(char *const argv[], char *const envp[], int stdout_fd)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (stdout_fd >= 0 && dup2(stdout_fd, 1) < 0)
            _exit(127);
        if (envp)
            execve(argv[0], argv, envp);
        else
            execv(argv[0], argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fputs(text, f);
    return fclose(f);
}

/* The pam_userdb database: user = SecretId, value = crypt() of the SecretKey
 * with the system default method (crypt_gensalt(NULL, 0, ...)), loaded into a
 * Berkeley DB hash by db_load, as the pam_userdb manual describes. */
static int make_userdb(const char *dir, const bench_cred *creds, size_t n, char *why, size_t whysz, char *method,
                       size_t methodsz)
{
    static const char *const loaders[] = {"db_load", "db5.3_load"};
    char txt[4096], db[4096], loader[4096];

    if (!find_program(loaders, 2, loader, sizeof loader)) {
        snprintf(why, whysz, "db_load not found (apt-get install db-util, or db5.3-util)");
        return -1;
    }
    join(txt, sizeof txt, dir, "userdb.txt");
    join(db, sizeof db, dir, "userdb.db");
    FILE *f = fopen(txt, "w");
    if (f == NULL) {
        snprintf(why, whysz, "cannot write %s: %s", txt, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const char *setting = crypt_gensalt(NULL, 0, NULL, 0);
        const char *h = setting ? crypt(creds[i].secret, setting) : NULL;
        if (h == NULL || h[0] == '*') {
            fclose(f);
            snprintf(why, whysz, "crypt() failed: %s", strerror(errno));
            return -1;
        }
        if (i == 0)
            snprintf(method, methodsz, "%.*s", (int)strcspn(h + 1, "$") + 2, h); /* "$y$", "$6$"... */
        fprintf(f, "%s\n%s\n", creds[i].id, h);
    }
    fclose(f);
    unlink(db);
    char *argv[] = {loader, "-T", "-t", "hash", "-f", txt, db, NULL};
    if (run(argv, NULL, -1) != 0) {
        snprintf(why, whysz, "%s -T -t hash failed", loader);
        return -1;
    }
    return 0;
}

int bench_pam_run(const char *dir, const char *module, const char *config, const char *socket,
                  const bench_cred *creds, size_t n, double seconds, bench_pam_result res[NSERVICES], char *why,
                  size_t whysz)
{
    static const char *const wrappers[] = {"/usr/lib/*/libpam_wrapper.so", "/usr/lib64/libpam_wrapper.so",
                                           "/usr/lib/libpam_wrapper.so", "/usr/local/lib/libpam_wrapper.so"};
    static const char *const userdbs[] = {"/usr/lib/*/security/pam_userdb.so", "/lib/*/security/pam_userdb.so",
                                          "/usr/lib64/security/pam_userdb.so", "/usr/lib/security/pam_userdb.so"};
    static const char *const permits[] = {"/usr/lib/*/security/pam_permit.so", "/lib/*/security/pam_permit.so",
                                          "/usr/lib64/security/pam_permit.so", "/usr/lib/security/pam_permit.so"};
    static const char *const denies[] = {"/usr/lib/*/security/pam_deny.so", "/lib/*/security/pam_deny.so",
                                         "/usr/lib64/security/pam_deny.so", "/usr/lib/security/pam_deny.so"};
    char wrapper[4096], userdb[4096], permit[4096], deny[4096], svcdir[4096], path[4096], line[8192], credfile[4096];
    char method[32] = "?";

    memset(res, 0, NSERVICES * sizeof *res);
    const char *env_wrapper = getenv("LK_PAM_WRAPPER");
    if (env_wrapper && *env_wrapper)
        snprintf(wrapper, sizeof wrapper, "%s", env_wrapper);
    else if (!find_file(wrappers, 4, wrapper, sizeof wrapper)) {
        snprintf(why, whysz, "libpam_wrapper.so not found (apt-get install libpam-wrapper)");
        return -1;
    }
    if (!find_file(userdbs, 4, userdb, sizeof userdb) || !find_file(permits, 4, permit, sizeof permit) ||
        !find_file(denies, 4, deny, sizeof deny)) {
        snprintf(why, whysz, "pam_userdb.so / pam_permit.so not found (apt-get install libpam-modules)");
        return -1;
    }
    if (access(module, R_OK) != 0) {
        snprintf(why, whysz, "%s: %s (build it: make pam_latchkey.la)", module, strerror(errno));
        return -1;
    }
    if (make_userdb(dir, creds, n, why, whysz, method, sizeof method) != 0)
        return -1;

    join(svcdir, sizeof svcdir, dir, "pam.d");
    if (mkdir(svcdir, 0700) != 0 && errno != EEXIST) {
        snprintf(why, whysz, "mkdir %s: %s", svcdir, strerror(errno));
        return -1;
    }
    join(path, sizeof path, svcdir, "latchkey");
    snprintf(line, sizeof line, "auth required %s config=%s\n", module, config);
    int bad = write_text(path, line);
    if (socket != NULL) {
        join(path, sizeof path, svcdir, "lkd");
        snprintf(line, sizeof line, "auth required %s socket=%s\n", module, socket);
        bad |= write_text(path, line);
    }
    join(path, sizeof path, svcdir, "userdb");
    snprintf(line, sizeof line, "auth required %s db=%s/userdb crypt=crypt\n", userdb, dir);
    bad |= write_text(path, line);
    join(path, sizeof path, svcdir, "permit");
    snprintf(line, sizeof line, "auth required %s\n", permit);
    bad |= write_text(path, line);
    /* libpam falls back to "other" and complains on every pam_start without one. */
    join(path, sizeof path, svcdir, "other");
    snprintf(line, sizeof line, "auth required %s\n", deny);
    bad |= write_text(path, line);
    /* The child reads the credentials from a file in our 0700 directory,
     * never from its command line (visible in ps). */
    join(credfile, sizeof credfile, dir, "creds");
    FILE *cf = fopen(credfile, "w");
    if (bad || cf == NULL) {
        if (cf)
            fclose(cf);
        snprintf(why, whysz, "cannot write the PAM services in %s", svcdir);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        fprintf(cf, "%s %s\n", creds[i].id, creds[i].secret);
    fclose(cf);

    /* The child: ourselves, under pam_wrapper. */
    char self[4096], secs[32], preload[4200], svcenv[4200];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0) {
        snprintf(why, whysz, "readlink /proc/self/exe: %s", strerror(errno));
        return -1;
    }
    self[sl] = '\0';
    snprintf(secs, sizeof secs, "%.3f", seconds);
    snprintf(preload, sizeof preload, "LD_PRELOAD=%s", wrapper);
    snprintf(svcenv, sizeof svcenv, "PAM_WRAPPER_SERVICE_DIR=%s", svcdir);
    size_t ne = 0;
    for (char **e = environ; *e; e++)
        ne++;
    char **envp = calloc(ne + 4, sizeof *envp);
    if (envp == NULL)
        return -1;
    size_t o = 0;
    for (char **e = environ; *e; e++)
        if (strncmp(*e, "LD_PRELOAD=", 11) != 0 && strncmp(*e, "PAM_WRAPPER", 11) != 0)
            envp[o++] = *e;
    envp[o++] = preload;
    envp[o++] = "PAM_WRAPPER=1";
    envp[o++] = svcenv;
    envp[o] = NULL;
    char *argv[] = {self, "--pam-child", svcdir, credfile, secs, NULL};

    int fds[2];
    if (pipe(fds) != 0) {
        free(envp);
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 1);
        execve(self, argv, envp);
        _exit(127);
    }
    free(envp);
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return -1;
    }
    FILE *in = fdopen(fds[0], "r");
    int got = 0;
    while (in && fgets(line, sizeof line, in)) {
        bench_pam_result r;
        unsigned long long calls, nbad;
        memset(&r, 0, sizeof r);
        if (sscanf(line, "RESULT %31s %llu %llu %lf %lf %lf", r.service, &calls, &nbad, &r.seconds, &r.p50_us,
                   &r.p99_us) == 6) {
            r.calls = calls;
            r.bad = nbad;
            for (int s = 0; s < NSERVICES; s++)
                if (strcmp(r.service, service_names[s]) == 0) {
                    res[s] = r;
                    got++;
                }
        } else {
            fputs(line, stderr); /* the child's complaints */
        }
    }
    if (in)
        fclose(in);
    int status = 0;
    waitpid(pid, &status, 0);
    int want = socket != NULL ? NSERVICES : NSERVICES - 2;
    if (got != want || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(why, whysz, "the PAM child failed (exit %d, %d of %d services measured)",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1, got, want);
        return -1;
    }
    snprintf(why, whysz, "%s", method);
    return 0;
}

/* ------------------------------------------------------------ the child */

struct conv_data {
    const char *password;
};

static int converse(int n, const struct pam_message **msg, struct pam_response **resp, void *appdata)
{
    const struct conv_data *d = appdata;
    if (n <= 0 || n > PAM_MAX_NUM_MSG)
        return PAM_CONV_ERR;
    struct pam_response *r = calloc((size_t)n, sizeof *r);
    if (r == NULL)
        return PAM_BUF_ERR;
    for (int i = 0; i < n; i++) {
        if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF || msg[i]->msg_style == PAM_PROMPT_ECHO_ON) {
            if ((r[i].resp = strdup(d->password)) == NULL) {
                for (int j = 0; j < i; j++)
                    free(r[j].resp);
                free(r);
                return PAM_BUF_ERR;
            }
        }
    }
    *resp = r; /* libpam frees the answers */
    return PAM_SUCCESS;
}

static int authenticate(const char *service, const char *user, const char *password)
{
    struct conv_data d = {password};
    struct pam_conv conv = {converse, &d};
    pam_handle_t *pamh = NULL;
    int rc = pam_start(service, user, &conv, &pamh);
    if (rc != PAM_SUCCESS)
        return rc;
    rc = pam_authenticate(pamh, 0);
    pam_end(pamh, rc);
    return rc;
}

/* One login in a new process: fork, re-execute ourselves (--pam-once,
 * under the same pam_wrapper environment), the password through a pipe. */
static int authenticate_fresh(const char *service, const char *user, const char *password)
{
    char self[4096];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    int fds[2];
    if (sl <= 0 || pipe(fds) != 0)
        return PAM_SYSTEM_ERR;
    self[sl] = '\0';
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[0], 0);
        close(fds[0]);
        close(fds[1]);
        char *argv[] = {self, "--pam-once", (char *)service, (char *)user, NULL};
        execv(self, argv);
        _exit(127);
    }
    close(fds[0]);
    if (pid > 0) {
        FILE *w = fdopen(fds[1], "w");
        if (w != NULL) {
            fprintf(w, "%s\n", password);
            fclose(w);
        } else {
            close(fds[1]);
        }
    } else {
        close(fds[1]);
        return PAM_SYSTEM_ERR;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return PAM_SYSTEM_ERR;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? PAM_SUCCESS : PAM_AUTH_ERR;
}

int bench_pam_once(int argc, char **argv)
{
    char pw[128];
    if (argc != 2 || fgets(pw, sizeof pw, stdin) == NULL)
        return 2;
    pw[strcspn(pw, "\n")] = '\0';
    return authenticate(argv[0], argv[1], pw) == PAM_SUCCESS ? 0 : 1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

int bench_pam_child(int argc, char **argv)
{
    enum { MAX_CREDS = 64, MAX_CALLS = 200000, MIN_CALLS = 5 };
    static bench_cred creds[MAX_CREDS];
    size_t n = 0;

    if (argc != 3 || getenv("PAM_WRAPPER") == NULL) {
        fprintf(stderr, "bench: --pam-child SVCDIR CREDFILE SECONDS, under pam_wrapper\n");
        return 2;
    }
    double seconds = atof(argv[2]);
    FILE *f = fopen(argv[1], "r");
    if (f == NULL) {
        fprintf(stderr, "bench: %s: %s\n", argv[1], strerror(errno));
        return 2;
    }
    while (n < MAX_CREDS && fscanf(f, "%57s %57s", creds[n].id, creds[n].secret) == 2)
        n++;
    fclose(f);
    if (n == 0)
        return 2;

    uint64_t *lat = malloc(MAX_CALLS * sizeof *lat);
    if (lat == NULL)
        return 2;
    int rc = 0;
    for (int s = 0; s < NSERVICES; s++) {
        char svc[32], file[4200];
        const char *name = service_names[s];
        size_t base = strlen(name);
        bool fresh = base > strlen(FRESH_SUFFIX) && strcmp(name + base - strlen(FRESH_SUFFIX), FRESH_SUFFIX) == 0;
        if (fresh)
            base -= strlen(FRESH_SUFFIX);
        snprintf(svc, sizeof svc, "%.*s", (int)base, name); /* the service file */
        snprintf(file, sizeof file, "%s/%s", argv[0], svc);
        if (access(file, R_OK) != 0) /* lkd: no latchkeyd to measure */
            continue;
        /* A wrong password must be refused, or the service proves nothing. */
        if (!fresh && strcmp(svc, "permit") != 0 && authenticate(svc, creds[0].id, "LKSKwrong") == PAM_SUCCESS) {
            fprintf(stderr, "bench: service %s accepted a wrong password\n", svc);
            rc = 1;
        }
        /* The second login is what is timed: each credential's first one
         * (Argon2id in whichever cache is cold) happens here, untimed. */
        for (size_t i = 0; i < n && !fresh; i++)
            (void)authenticate(svc, creds[i].id, creds[i].secret);
        uint64_t calls = 0, bad = 0, t0 = bench_now_ns(), t = t0;
        while (calls < MAX_CALLS && (calls < MIN_CALLS || (double)(t - t0) < seconds * 1e9)) {
            const bench_cred *c = &creds[calls % n];
            uint64_t a = t;
            if ((fresh ? authenticate_fresh(svc, c->id, c->secret) : authenticate(svc, c->id, c->secret)) !=
                PAM_SUCCESS)
                bad++;
            t = bench_now_ns();
            lat[calls++] = t - a;
        }
        qsort(lat, calls, sizeof *lat, cmp_u64);
        printf("RESULT %s %llu %llu %.6f %.3f %.3f\n", name, (unsigned long long)calls, (unsigned long long)bad,
               (double)(t - t0) / 1e9, (double)lat[calls / 2] / 1e3, (double)lat[(calls * 99) / 100] / 1e3);
        fflush(stdout);
    }
    free(lat);
    return rc;
}
