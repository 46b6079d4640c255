/*
 * bench_util.c — timed loops on N threads, latency percentiles, the result
 * table and the machine description.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>
#include <sodium.h>

#include "bench.h"

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

typedef struct worker {
    const bench_op *op;
    pthread_barrier_t *start;
    uint64_t limit_ns, max_calls, offset;
    uint64_t *lat;         /* ns per call, max_calls entries */
    uint64_t calls, bad;
    uint64_t t0, t1;
} worker;

static void *worker_main(void *p)
{
    worker *w = p;
    pthread_barrier_wait(w->start);
    uint64_t t = bench_now_ns();
    w->t0 = t;
    uint64_t i = 0;
    /* One clock read per call: the end of one call starts the next. */
    for (; i < w->max_calls && t - w->t0 < w->limit_ns; i++) {
        uint64_t a = t;
        bool ok = w->op->fn(w->op->arg, w->offset + i);
        t = bench_now_ns();
        w->lat[i] = t - a;
        if (!ok)
            w->bad++;
    }
    w->calls = i;
    w->t1 = t;
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static double quantile_us(const uint64_t *sorted, uint64_t n, double q)
{
    if (n == 0)
        return 0;
    uint64_t k = (uint64_t)(q * (double)(n - 1) + 0.5);
    return (double)sorted[k] / 1000.0;
}

int bench_run(const bench_op *op, int threads, double seconds, uint64_t max_calls, bench_result *out)
{
    pthread_barrier_t start;
    pthread_t tid[64];
    worker w[64];
    int rc = 0;

    memset(out, 0, sizeof *out);
    if (threads < 1 || threads > 64)
        return -1;
    memset(w, 0, sizeof w);
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    for (int k = 0; k < threads; k++) {
        w[k].op = op;
        w[k].start = &start;
        w[k].limit_ns = seconds > 0 ? (uint64_t)(seconds * 1e9) : UINT64_MAX; /* 0: max_calls only */
        w[k].max_calls = max_calls;
        w[k].offset = (uint64_t)k * 7919u; /* threads start on different keys */
        w[k].lat = malloc(max_calls * sizeof(uint64_t));
        if (w[k].lat == NULL)
            rc = -1;
        else /* fault the pages in now, not as millisecond stalls inside the timed loop */
            memset(w[k].lat, 0, max_calls * sizeof(uint64_t));
    }
    /* CPU time of the process over the run: on a shared machine N threads
     * may get fewer than N cores, and "per core" means per CPU-second. */
    struct timespec c0, c1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    int started = 0;
    if (rc == 0)
        for (; started < threads; started++)
            if (pthread_create(&tid[started], NULL, worker_main, &w[started]) != 0)
                break;
    if (started != threads) {
        /* Threads already waiting at the barrier would wait forever: give up loudly. */
        fprintf(stderr, "bench: cannot start %d threads\n", threads);
        exit(2);
    }
    uint64_t total = 0, t0 = UINT64_MAX, t1 = 0;
    for (int k = 0; k < threads; k++) {
        pthread_join(tid[k], NULL);
        total += w[k].calls;
        out->bad += w[k].bad;
        if (w[k].t0 < t0)
            t0 = w[k].t0;
        if (w[k].t1 > t1)
            t1 = w[k].t1;
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    pthread_barrier_destroy(&start);

    uint64_t *all = malloc((total ? total : 1) * sizeof *all);
    if (all != NULL) {
        uint64_t o = 0;
        for (int k = 0; k < threads; k++) {
            memcpy(all + o, w[k].lat, w[k].calls * sizeof *all);
            o += w[k].calls;
        }
        qsort(all, total, sizeof *all, cmp_u64);
        out->p50_us = quantile_us(all, total, 0.50);
        out->p99_us = quantile_us(all, total, 0.99);
        out->p999_us = quantile_us(all, total, 0.999);
        out->max_us = total ? (double)all[total - 1] / 1000.0 : 0;
        free(all);
    } else {
        rc = -1;
    }
    for (int k = 0; k < threads; k++)
        free(w[k].lat);
    out->calls = total;
    out->seconds = (double)(t1 - t0) / 1e9;
    out->rate = out->seconds > 0 ? (double)total / out->seconds : 0;
    double cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
    out->cores = out->seconds > 0 ? cpu / out->seconds : 0;
    return rc;
}

/* ------------------------------------------------------------ table */

void bench_say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

static void fmt_rate(double r, char *buf, size_t n)
{
    if (r >= 1e6)
        snprintf(buf, n, "%.2f M", r / 1e6);
    else if (r >= 1e4)
        snprintf(buf, n, "%.1f k", r / 1e3);
    else if (r >= 100)
        snprintf(buf, n, "%.0f", r);
    else
        snprintf(buf, n, "%.2f", r);
}

static void fmt_us(double us, char *buf, size_t n)
{
    if (us <= 0)
        snprintf(buf, n, "-");
    else if (us >= 10000)
        snprintf(buf, n, "%.1f ms", us / 1000);
    else if (us >= 100)
        snprintf(buf, n, "%.0f", us);
    else
        snprintf(buf, n, "%.2f", us);
}

void bench_table_header(void)
{
    bench_say("\n| %-52s | %3s | %9s | %10s | %8s | %8s | %8s | %8s | %s\n", "case", "thr", "calls", "rate /s",
              "p50 us", "p99 us", "p99.9 us", "max us", "notes");
    bench_say("|%s|-----|-----------|------------|----------|----------|----------|----------|------\n",
              "------------------------------------------------------");
}

void bench_table_section(const char *title)
{
    int pad = 48 - (int)strlen(title);
    bench_say("| **%s**%*s |     |           |            |          |          |          |          |\n", title,
              pad > 0 ? pad : 0, "");
}

void bench_table_row(const char *what, int threads, const bench_result *r, const char *note)
{
    char rate[32], p50[32], p99[32], p999[32], mx[32];
    fmt_rate(r->rate, rate, sizeof rate);
    fmt_us(r->p50_us, p50, sizeof p50);
    fmt_us(r->p99_us, p99, sizeof p99);
    fmt_us(r->p999_us, p999, sizeof p999);
    fmt_us(r->max_us, mx, sizeof mx);
    char cores[48] = "";
    if (threads > 1 && r->cores > 0)
        snprintf(cores, sizeof cores, "%sgot %.2f of %d cores", note && *note ? "; " : "", r->cores, threads);
    bench_say("| %-52s | %3d | %9llu | %10s | %8s | %8s | %8s | %8s | %s%s%s\n", what, threads,
              (unsigned long long)r->calls, rate, p50, p99, p999, mx, note ? note : "", cores,
              r->bad ? " **UNEXPECTED RESULTS**" : "");
}

void bench_table_rate(const char *what, int threads, uint64_t calls, double seconds, const char *note)
{
    char rate[32];
    fmt_rate(seconds > 0 ? (double)calls / seconds : 0, rate, sizeof rate);
    bench_say("| %-52s | %3d | %9llu | %10s | %8s | %8s | %8s | %8s | %s\n", what, threads, (unsigned long long)calls,
              rate, "-", "-", "-", "-", note ? note : "");
}

void bench_table_end(void)
{
    bench_say("\n");
}

/* ------------------------------------------------------------ machine */

int bench_nproc(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

/* First line of /proc/<file> starting with key, value after the colon. */
static void proc_field(const char *file, const char *key, char *out, size_t n)
{
    char line[512];
    FILE *f = fopen(file, "r");
    snprintf(out, n, "?");
    if (f == NULL)
        return;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, strlen(key)) == 0) {
            char *v = strchr(line, ':');
            if (v == NULL)
                break;
            v++;
            v += strspn(v, " \t");
            v[strcspn(v, "\n")] = '\0';
            snprintf(out, n, "%s", v);
            break;
        }
    fclose(f);
}

void bench_print_machine(void)
{
    char cpu[256], mem[64];
    struct utsname u;
    proc_field("/proc/cpuinfo", "model name", cpu, sizeof cpu);
    proc_field("/proc/meminfo", "MemTotal", mem, sizeof mem);
    if (uname(&u) != 0)
        memset(&u, 0, sizeof u);
    bench_say("machine: nproc %d | CPU %s | RAM %s | kernel %s %s | compiler %s\n", bench_nproc(), cpu, mem,
              u.sysname, u.release,
#ifdef __VERSION__
              "gcc/clang " __VERSION__
#else
              "?"
#endif
    );
    bench_say("libraries: latchkey %s | libsodium %s | %s\n", LK_VERSION_STRING, sodium_version_string(),
              mdb_version(NULL, NULL, NULL));
}

void bench_print_load(const char *when)
{
    char line[128] = "?";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        if (fgets(line, sizeof line, f) == NULL)
            snprintf(line, sizeof line, "?");
        fclose(f);
    }
    line[strcspn(line, "\n")] = '\0';
    bench_say("load average %s: %s\n", when, line);
}
