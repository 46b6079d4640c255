/*
 * manage_bench.c — figures of latchkeyd's management API (bench/manage.sh):
 *
 *   manage_bench setup CONFIG N OUT   root account 100 and N sub-users granted
 *                                     manage, one access key each; "SID SK"
 *                                     lines into OUT (mode 0600)
 *   manage_bench list URL OUT T SECS  ListAccessKeys from T threads for SECS s,
 *                                     keep-alive (one connection per thread)
 *   manage_bench create URL OUT T [M] CreateAccessKey once per caller (the
 *                                     first M callers only)
 *
 * The API limits each caller (20 reads, 5 changes per second), so the load
 * is spread over the N callers, each thread cycling through its share;
 * every caller's pair is verified once before the clock starts (the
 * Argon2id of a first verify is the create figure's, not the list's). An
 * answer that is not a success is counted and shown, never hidden.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>

#include "latchkey.h"

#define MAX_CALLERS 4096
#define MAX_THREADS 16

struct caller {
    char auth[160]; /* "Authorization: Basic ..." */
};

struct run {
    const char *url;
    struct caller *callers;
    size_t ncallers, nthreads;
    const char *action;
    double secs;     /* 0: each caller once */
    int64_t start_ns;
};

struct worker {
    struct run *r;
    size_t id;
    uint64_t ok, refused;
    uint32_t *lat_us;
    size_t nlat, cap;
    char first_refusal[200];
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct body {
    char buf[8192];
    size_t len;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    struct body *b = arg;
    size_t add = size * n, room = sizeof b->buf - 1 - b->len;
    memcpy(b->buf + b->len, p, add < room ? add : room);
    b->len += add < room ? add : room;
    b->buf[b->len] = '\0';
    return add;
}

/* One request as caller c; true on a success answer. */
static bool request(CURL *h, struct run *r, const struct caller *c, struct body *b)
{
    char act[64];
    struct curl_slist *hd = NULL;
    snprintf(act, sizeof act, "X-TC-Action: %s", r->action);
    hd = curl_slist_append(hd, "Content-Type: application/json");
    hd = curl_slist_append(hd, "X-TC-Version: 2019-01-16");
    hd = curl_slist_append(hd, act);
    hd = curl_slist_append(hd, c->auth);
    b->len = 0;
    b->buf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    CURLcode e = curl_easy_perform(h);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hd);
    if (e != CURLE_OK) {
        snprintf(b->buf, sizeof b->buf, "transport: %s", curl_easy_strerror(e));
        return false;
    }
    return strstr(b->buf, "\"Error\"") == NULL;
}

static void *work(void *arg)
{
    struct worker *w = arg;
    struct run *r = w->r;
    struct body *b = malloc(sizeof *b);
    CURL *h = curl_easy_init();
    if (b == NULL || h == NULL)
        return NULL;
    curl_easy_setopt(h, CURLOPT_URL, r->url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, "{}");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    int64_t end = r->start_ns + (int64_t)(r->secs * 1e9);
    size_t per = r->ncallers / r->nthreads;
    for (size_t i = 0;; i++) {
        /* this thread's callers: id, id + T, id + 2T, ... */
        size_t ci = w->id + (i % per) * r->nthreads;
        if (r->secs == 0 && i >= per)
            break;
        int64_t t0 = now_ns();
        if (r->secs > 0 && t0 >= end)
            break;
        bool ok = request(h, r, &r->callers[ci], b);
        int64_t t1 = now_ns();
        if (ok)
            w->ok++;
        else if (w->refused++ == 0)
            snprintf(w->first_refusal, sizeof w->first_refusal, "%.190s", b->buf);
        if (w->nlat == w->cap) {
            size_t cap = w->cap ? w->cap * 2 : 65536;
            uint32_t *n = realloc(w->lat_us, cap * sizeof *n);
            if (n == NULL)
                break;
            w->lat_us = n;
            w->cap = cap;
        }
        w->lat_us[w->nlat++] = (uint32_t)((t1 - t0) / 1000);
    }
    curl_easy_cleanup(h);
    free(b);
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static size_t load_callers(const char *path, struct caller *out)
{
    FILE *f = fopen(path, "r");
    char sid[64], sk[128], pair[200];
    size_t n = 0;
    if (f == NULL)
        return 0;
    while (n < MAX_CALLERS && fscanf(f, "%63s %127s", sid, sk) == 2) {
        int l = snprintf(pair, sizeof pair, "%s:%s", sid, sk);
        strcpy(out[n].auth, "Authorization: Basic ");
        sodium_bin2base64(out[n].auth + 21, sizeof out[n].auth - 21, (const unsigned char *)pair, (size_t)l,
                          sodium_base64_VARIANT_ORIGINAL);
        n++;
    }
    sodium_memzero(pair, sizeof pair);
    sodium_memzero(sk, sizeof sk);
    fclose(f);
    return n;
}

/* Run action on T threads; print rate and latency. */
static int drive(struct run *r, const char *label)
{
    struct worker w[MAX_THREADS];
    pthread_t th[MAX_THREADS];
    memset(w, 0, sizeof w);
    r->start_ns = now_ns();
    for (size_t i = 0; i < r->nthreads; i++) {
        w[i].r = r;
        w[i].id = i;
        pthread_create(&th[i], NULL, work, &w[i]);
    }
    for (size_t i = 0; i < r->nthreads; i++)
        pthread_join(th[i], NULL);
    double el = (double)(now_ns() - r->start_ns) / 1e9;
    uint64_t ok = 0, refused = 0;
    size_t total = 0;
    for (size_t i = 0; i < r->nthreads; i++) {
        ok += w[i].ok;
        refused += w[i].refused;
        total += w[i].nlat;
    }
    uint32_t *all = malloc((total ? total : 1) * sizeof *all);
    size_t k = 0;
    for (size_t i = 0; i < r->nthreads; i++) {
        if (all != NULL)
            memcpy(all + k, w[i].lat_us, w[i].nlat * sizeof *all);
        k += w[i].nlat;
        free(w[i].lat_us);
    }
    if (all == NULL || total == 0) {
        printf("%s: no requests made\n", label);
        free(all);
        return 1;
    }
    qsort(all, total, sizeof *all, cmp_u32);
    printf("%s: %zu threads, %.1f s: %.0f requests/s, p50 %.2f ms, p99 %.2f ms, max %.2f ms; %llu ok, %llu refused\n",
           label, r->nthreads, el, (double)ok / el, all[total / 2] / 1000.0, all[(size_t)(total * 0.99)] / 1000.0,
           all[total - 1] / 1000.0, (unsigned long long)ok, (unsigned long long)refused);
    for (size_t i = 0; i < r->nthreads; i++)
        if (w[i].refused) {
            printf("  first refusal: %s\n", w[i].first_refusal);
            break;
        }
    free(all);
    return 0;
}

static int setup(const char *config, size_t n, const char *out)
{
    lk_ctx *ctx;
    if (lk_open(config, &ctx) != LK_OK) {
        fprintf(stderr, "manage_bench: %s\n", lk_errmsg(NULL));
        return 1;
    }
    FILE *f = fopen(out, "w");
    if (f == NULL || lk_user_add(ctx, 100, LK_USER_ROOT, 0) != LK_OK)
        return 1;
    for (size_t i = 0; i < n; i++) {
        lk_access_key k;
        lk_secret *s;
        uint64_t uin = 1000 + i;
        if (lk_user_add_self_service(ctx, uin, LK_USER_SUB, 100, NULL, LK_SELF_MANAGE) != LK_OK ||
            lk_key_create(ctx, uin, &k, &s) != LK_OK) {
            fprintf(stderr, "manage_bench: %s\n", lk_errmsg(NULL));
            return 1;
        }
        fprintf(f, "%s %s\n", k.secret_id, lk_secret_str(s));
        lk_secret_free(s);
    }
    fclose(f);
    lk_close(ctx);
    return 0;
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    if (argc == 5 && strcmp(argv[1], "setup") == 0)
        return setup(argv[2], strtoul(argv[3], NULL, 10), argv[4]);
    if (argc < 5) {
        fprintf(stderr, "usage: manage_bench setup CONFIG N OUT | list URL OUT T SECS | create URL OUT T [M]\n");
        return 2;
    }
    static struct caller callers[MAX_CALLERS];
    struct run r = {.url = argv[2], .callers = callers};
    r.ncallers = load_callers(argv[3], callers);
    r.nthreads = strtoul(argv[4], NULL, 10);
    if (r.ncallers < r.nthreads || r.nthreads == 0 || r.nthreads > MAX_THREADS)
        return 2;
    if (strcmp(argv[1], "list") == 0 && argc == 6) {
        /* every caller verified once (Argon2id) before the clock starts */
        r.action = "ListAccessKeys";
        r.secs = 0;
        struct run warm = r;
        warm.nthreads = 2;
        drive(&warm, "warm-up (first verify of each caller: one Argon2id each)");
        r.secs = strtod(argv[5], NULL);
        return drive(&r, "ListAccessKeys, keep-alive");
    }
    if (strcmp(argv[1], "create") == 0) {
        if (argc == 6 && strtoul(argv[5], NULL, 10) >= r.nthreads && strtoul(argv[5], NULL, 10) < r.ncallers)
            r.ncallers = strtoul(argv[5], NULL, 10);
        r.action = "CreateAccessKey";
        return drive(&r, "CreateAccessKey (one Argon2id hash each), each of the callers once");
    }
    return 2;
}
