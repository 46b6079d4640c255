/*
 * host.c — a minimal host of the stable dlopen ABI (latchkey-plugin.h).
 *
 *   host [options] MODULE CONFIG secretid SECRET_ID   (SecretKey on stdin)
 *   host [options] MODULE CONFIG apikey               (API key on stdin)
 *
 * MODULE is the path of latchkey_plugin.so; CONFIG a latchkey.yaml, or "-"
 * for the compiled-in default. Options:
 *   --ip ADDR        client IP to check against the key's allowlist
 *   --service NAME   scope entry the request needs
 *   --abi N          ABI version to ask for (default: the one built against)
 *   --threads N      verify from N threads at once on one handle (default 1)
 *   --fork           verify again in a forked child on the same handle
 *
 * Prints "allowed uin=N" or "denied: R CODE" / "error: R CODE: message".
 * Exit: 0 allowed, 3 denied, 4 open failed, 5 other error, 6 module or ABI
 * unusable, 2 usage. The secret is read from stdin, never from argv, and is
 * never printed.
 *
 * Built twice: as examples/host, and with -DLK_HOST_OLD_ABI as a host that
 * knows only the first members of the table (tests/plugins/host_old), to
 * prove a smaller, older table keeps working against the current module.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "latchkey-plugin.h"

#ifdef LK_HOST_OLD_ABI
/* What a host compiled against an early header would have seen: only the
 * members up to close. It must never read past its own struct. */
struct host_api {
    uint32_t abi_version;
    uint32_t struct_size;
    int (*open)(const char *config_path, void **handle, char *err, size_t errlen);
    int (*verify_secretid)(void *handle, const char *secret_id, const char *secret_key, size_t keylen,
                           const char *client_ip, const char *service, uint64_t *uin_out);
    int (*verify_apikey)(void *handle, const char *key, size_t len, const char *client_ip, const char *service,
                         uint64_t *uin_out);
    void (*close)(void *handle);
};
#define HOST_HAS(api, m) 0
#define HOST_NAME "host_old"
#else
#define host_api lk_plugin_api
#define HOST_HAS(api, m) LK_PLUGIN_HAS(api, m)
#define HOST_NAME "host"
#endif

enum { EX_ALLOWED = 0, EX_USAGE = 2, EX_DENIED = 3, EX_OPEN = 4, EX_ERROR = 5, EX_MODULE = 6 };

struct job {
    const struct host_api *api;
    void *handle;
    int apikey;
    const char *secret_id;
    const char *secret;
    size_t secret_len;
    const char *ip;
    const char *service;
    int result;
    uint64_t uin;
};

static void usage(void)
{
    fprintf(stderr, "usage: " HOST_NAME " [--ip ADDR] [--service NAME] [--abi N] [--threads N] [--fork]\n"
                    "            MODULE CONFIG secretid SECRET_ID | MODULE CONFIG apikey\n"
                    "       the SecretKey or API key is read from stdin\n");
}

static void run_job(struct job *j)
{
    j->uin = 0;
    if (j->apikey)
        j->result = j->api->verify_apikey(j->handle, j->secret, j->secret_len, j->ip, j->service, &j->uin);
    else
        j->result = j->api->verify_secretid(j->handle, j->secret_id, j->secret, j->secret_len, j->ip, j->service,
                                            &j->uin);
}

static void *thread_main(void *arg)
{
    run_job(arg);
    return NULL;
}

static int report(const struct host_api *api, void *handle, int r, uint64_t uin)
{
    const char *code = "?";
    const char *msg = "";

#ifndef LK_HOST_OLD_ABI
    if (HOST_HAS(api, status_code))
        code = api->status_code(r);
    if (HOST_HAS(api, last_error))
        msg = api->last_error(handle);
#else
    (void)api;
    (void)handle;
#endif
    if (r == LK_PLUGIN_OK) {
        printf("allowed uin=%" PRIu64 "\n", uin);
        return EX_ALLOWED;
    }
    if (LK_PLUGIN_IS_DENIAL(r)) {
        printf("denied: %d %s\n", r, code);
        return EX_DENIED;
    }
    printf("error: %d %s: %s\n", r, code, msg);
    return EX_ERROR;
}

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HOST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define HOST_ASAN 1
#endif

#ifdef HOST_ASAN
/* true when thread TID of this process is blocked in futex() (202 on
 * x86-64, 98 on arm64): the first field of /proc/self/task/TID/syscall. */
static int thread_in_futex(const char *tid)
{
    char path[64], buf[32];
    snprintf(path, sizeof path, "/proc/self/task/%s/syscall", tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 1; /* the thread has exited */
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    long nr = strtol(buf, NULL, 10);
    return nr == SYS_futex;
}

/* The ASan runtime of clang 14 (Debian 12) does not hold its allocator's
 * locks across fork(): a child forked while another thread is inside that
 * allocator inherits a lock nobody will release, and deadlocks in its first
 * allocation of that size (seen: the child's record flusher hung starting
 * up, because the parent's had been starting up at the fork). glibc's
 * malloc is fork-safe, so an uninstrumented host needs none of this. Under
 * ASan the host forks once its other threads (the core's flusher) are asleep
 * in a futex wait, giving up after 5 s. */
static void wait_for_quiet_threads(void)
{
    char self[32];
    snprintf(self, sizeof self, "%ld", (long)syscall(SYS_gettid));
    for (int tries = 0; tries < 5000; tries++) {
        DIR *d = opendir("/proc/self/task");
        if (d == NULL)
            return;
        int busy = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL)
            if (e->d_name[0] != '.' && strcmp(e->d_name, self) != 0 && !thread_in_futex(e->d_name))
                busy = 1;
        closedir(d);
        if (!busy)
            return;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
}
#else
static void wait_for_quiet_threads(void)
{
}
#endif

/* Reads one line; the trailing newline is not part of the secret. */
static int read_secret(char *buf, size_t size, size_t *len)
{
    size_t n = 0;
    int c;

    while ((c = getchar()) != EOF && c != '\n') {
        if (n + 1 >= size)
            return -1;
        buf[n++] = (char)c;
    }
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    *len = n;
    return 0;
}

int main(int argc, char **argv)
{
    const char *ip = NULL, *service = NULL;
    unsigned long abi = LK_PLUGIN_ABI_VERSION, threads = 1;
    int do_fork = 0, i, ex;
    char secret[1024];
    char err[512];
    struct job proto;

    for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        char *end;
        if (strcmp(argv[i], "--fork") == 0) {
            do_fork = 1;
        } else if (i + 1 >= argc) {
            usage();
            return EX_USAGE;
        } else if (strcmp(argv[i], "--ip") == 0) {
            ip = argv[++i];
        } else if (strcmp(argv[i], "--service") == 0) {
            service = argv[++i];
        } else if (strcmp(argv[i], "--abi") == 0) {
            errno = 0;
            abi = strtoul(argv[++i], &end, 10);
            if (errno || *end || abi > UINT32_MAX) {
                usage();
                return EX_USAGE;
            }
        } else if (strcmp(argv[i], "--threads") == 0) {
            errno = 0;
            threads = strtoul(argv[++i], &end, 10);
            if (errno || *end || threads < 1 || threads > 64) {
                usage();
                return EX_USAGE;
            }
        } else {
            usage();
            return EX_USAGE;
        }
    }
    argc -= i;
    argv += i;
    if (argc < 3 || (strcmp(argv[2], "secretid") == 0 ? argc != 4 : (strcmp(argv[2], "apikey") != 0 || argc != 3))) {
        usage();
        return EX_USAGE;
    }

    /* RTLD_LOCAL: the module's dependencies must not leak into the host. */
    void *mod = dlopen(argv[0], RTLD_NOW | RTLD_LOCAL);
    if (mod == NULL) {
        fprintf(stderr, HOST_NAME ": %s\n", dlerror());
        return EX_MODULE;
    }
    lk_plugin_api_fn *get_api;
    /* POSIX's blessed way of converting dlsym's object pointer. */
    *(void **)&get_api = dlsym(mod, LK_PLUGIN_SYMBOL);
    if (get_api == NULL) {
        fprintf(stderr, HOST_NAME ": %s\n", dlerror());
        dlclose(mod);
        return EX_MODULE;
    }
    const struct host_api *api = (const struct host_api *)get_api((uint32_t)abi);
    if (api == NULL) {
        fprintf(stderr, HOST_NAME ": module does not offer ABI version %lu\n", abi);
        dlclose(mod);
        return EX_MODULE;
    }
    /* Even the oldest host checks the table covers what it will call. */
    if (api->struct_size < sizeof(struct host_api)) {
        fprintf(stderr, HOST_NAME ": module table too small (%" PRIu32 " < %zu bytes)\n", api->struct_size,
                sizeof(struct host_api));
        dlclose(mod);
        return EX_MODULE;
    }
    fprintf(stderr, HOST_NAME ": module ABI %" PRIu32 ", table %" PRIu32 " bytes, host knows %zu\n",
            api->abi_version, api->struct_size, sizeof(struct host_api));

    void *handle = NULL;
    int r = api->open(strcmp(argv[1], "-") == 0 ? NULL : argv[1], &handle, err, sizeof err);
    if (r != LK_PLUGIN_OK) {
        printf("open failed: %d %s\n", r, err);
        dlclose(mod);
        return EX_OPEN;
    }

    memset(&proto, 0, sizeof proto);
    proto.api = api;
    proto.handle = handle;
    proto.apikey = strcmp(argv[2], "apikey") == 0;
    proto.secret_id = proto.apikey ? NULL : argv[3];
    proto.secret = secret;
    proto.ip = ip;
    proto.service = service;
    if (read_secret(secret, sizeof secret, &proto.secret_len) != 0) {
        fprintf(stderr, HOST_NAME ": secret too long\n");
        api->close(handle);
        dlclose(mod);
        return EX_USAGE;
    }

    struct job jobs[64];
    pthread_t tids[64];
    for (unsigned long t = 0; t < threads; t++)
        jobs[t] = proto;
    if (threads == 1) {
        run_job(&jobs[0]);
    } else {
        unsigned long started = 0;
        for (; started < threads; started++)
            if (pthread_create(&tids[started], NULL, thread_main, &jobs[started]) != 0)
                break;
        for (unsigned long t = 0; t < started; t++)
            pthread_join(tids[t], NULL);
        if (started != threads) {
            fprintf(stderr, HOST_NAME ": pthread_create failed\n");
            api->close(handle);
            dlclose(mod);
            return EX_ERROR;
        }
        /* One handle, many threads: every thread must reach the same verdict. */
        for (unsigned long t = 1; t < threads; t++) {
            if (jobs[t].result != jobs[0].result) {
                printf("threads disagree: %d vs %d\n", jobs[0].result, jobs[t].result);
                api->close(handle);
                dlclose(mod);
                return EX_ERROR;
            }
        }
    }
    ex = report(api, handle, jobs[0].result, jobs[0].uin);

    if (do_fork) {
        fflush(stdout);
        wait_for_quiet_threads();
        pid_t pid = fork();
        if (pid == 0) {
            /* The child keeps the parent's handle: the core reopens the store. */
            struct job cj = proto;
            run_job(&cj);
            printf("child: ");
            int cex = report(api, handle, cj.result, cj.uin);
            fflush(stdout);
            api->close(handle); /* flushes the child's own access records */
            _exit(cex == ex ? 0 : 1);
        }
        int wst = 0;
        if (pid < 0 || waitpid(pid, &wst, 0) != pid || !WIFEXITED(wst) || WEXITSTATUS(wst) != 0) {
            printf("forked child disagreed or failed\n");
            ex = EX_ERROR;
        }
    }

    explicit_bzero(secret, sizeof secret);
    api->close(handle);
    dlclose(mod);
    return ex;
}
