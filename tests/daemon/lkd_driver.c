/*
 * lkd_driver — drives latchkeyd for tests/daemon/daemon.sh and bench/daemon.sh.
 *
 *   lkd_driver conns SOCK N              open N connections at once (raw, with
 *                                        the handshake), PING on each; prints
 *                                        "answered K of N"
 *   lkd_driver hostile SOCK TIMEOUT_MS [SID]
 *                                        garbage, bad lengths, requests before
 *                                        the handshake, clients that vanish
 *                                        mid-request or never finish one (the
 *                                        service must close those within
 *                                        about TIMEOUT_MS); with SID (a wrong
 *                                        secret for it on stdin), clients that
 *                                        vanish while their Argon2id job waits;
 *                                        exit 0 when every case behaved and the
 *                                        service still answers
 *   lkd_driver idle SOCK MS              handshake, then nothing: the service
 *                                        must close the connection within MS
 *   lkd_driver flood SOCK SID T N        T threads × N verifies of SID with a
 *                                        wrong (well-formed) secret through
 *                                        lk_connect; prints a count per code.
 *                                        The secret line "random": a new
 *                                        well-formed wrong SecretKey for each
 *                                        request (a guesser's flood, which
 *                                        the service cannot coalesce)
 *   lkd_driver survive SOCK SID SECONDS  one long-lived client (one lk_connect
 *                                        ctx) verifying SID every 20 ms while
 *                                        the service is killed and restarted:
 *                                        prints the verdicts in order, merged
 *                                        ("Success x12, FailedOperation.Storage
 *                                        x30, Success x40")
 *   lkd_driver bench SOCK SID T SECONDS [SATURATE_SID]
 *                                        warm verifies of SID (secret on
 *                                        stdin) from T threads; prints rate,
 *                                        p50, p99; with SATURATE_SID, two more
 *                                        threads keep the Argon2id pool busy
 *                                        with wrong secrets for it meanwhile
 *   lkd_driver floor T SECONDS           the bare transport, for scale: T
 *                                        threads each send a verify-sized
 *                                        frame to a thread of a forked
 *                                        process that echoes an answer-sized
 *                                        one (blocking recv, send), waiting
 *                                        as the client library does (poll,
 *                                        recv); prints rate, p50, p99. No
 *                                        service can answer faster through a
 *                                        UNIX socket with one request in
 *                                        flight per thread
 *   lkd_driver peer SOCK                 the nginx bench's floor: listens on
 *                                        SOCK (mode 0666, in the caller's
 *                                        private directory) and answers every
 *                                        request Success at once, a verify with
 *                                        a fixed key id and uin, from one
 *                                        thread (epoll, every frame a read
 *                                        holds answered in one send): no
 *                                        service can answer the module faster.
 *                                        "ready" once listening; runs until
 *                                        killed
 *
 *   lkd_driver garbage SOCK K            K clients pipelining unknown-op frames
 *                                        as fast as the service reads, reading
 *                                        every answer, one after the other;
 *                                        "flooding" once all are going; runs
 *                                        until killed
 *   lkd_driver stall SOCK SID K          K clients that never read: a verify
 *                                        of SID (wrong secret on stdin), then
 *                                        STATS requests until the service
 *                                        stops taking them; "stalled", then
 *                                        holds them until killed
 *   lkd_driver hold SOCK                 a served connection ("ready"); after a
 *                                        line on stdin, PING again: "answered"
 *                                        or "closed" (exit 1)
 *   lkd_driver pipeline SOCK SID N [K]   K connections (1) together send N
 *                                        verifies of SID with the secret on
 *                                        stdin ("random": a new wrong one
 *                                        each), each without waiting; prints a
 *                                        count per code
 *   lkd_driver batch SOCK N              a handshake, then N PINGs in one
 *                                        write; reads the N answers: prints
 *                                        "answered K of N"
 *   lkd_driver slow SOCK GAP_MS          a handshake, then a request, each sent
 *                                        a byte every GAP_MS: exit 0 when the
 *                                        service cut both
 *   lkd_driver wrongkeys N               N well-formed random SecretKeys, a
 *                                        line each: a guesser's flood for
 *                                        hosts the driver cannot speak for
 *                                        (wrk through nginx)
 *
 * Secrets come from stdin (first line), never from the command line.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "latchkey.h"
#include "lk_proto.h"

/* core/keyfmt.c, compiled in: well-formed random SecretKeys for floods */
void lk_keyfmt_new_secret_key(char out[LK_SECRET_KEY_LEN + 1]);

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int raw_connect(const char *path)
{
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {.tv_sec = 10};
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Read one frame's answer; its status code, or NULL when the stream ended. */
static const char *read_answer(int fd, lkp_msg *m)
{
    static _Thread_local uint8_t buf[LKP_LEN_PREFIX + LKP_MAX_BODY];
    size_t got = 0, want = LKP_LEN_PREFIX;
    while (got < want) {
        ssize_t r = recv(fd, buf + got, want - got, 0);
        if (r <= 0)
            return NULL;
        got += (size_t)r;
        if (got == LKP_LEN_PREFIX && want == LKP_LEN_PREFIX) {
            size_t bl = lkp_frame_len(buf, LKP_MAX_BODY);
            if (bl == 0)
                return NULL;
            want += bl;
        }
    }
    if (lkp_decode(buf + LKP_LEN_PREFIX, want - LKP_LEN_PREFIX, m) != LKP_OK)
        return NULL;
    return m->status_code;
}

static int send_frame(int fd, uint8_t op, uint32_t id, void (*fill)(lkp_buf *))
{
    uint8_t out[512];
    lkp_buf b;
    lkp_begin(&b, out, sizeof out, op, false, id);
    if (fill)
        fill(&b);
    lkp_end(&b);
    return send_all(fd, out, b.len);
}

static void fill_hello(lkp_buf *b)
{
    lkp_put_u32(b, LKP_F_VERSION, LKP_VERSION);
}

static lkp_msg *new_msg(void)
{
    lkp_msg *m = malloc(sizeof *m);
    if (m == NULL)
        exit(1);
    return m;
}

/* ------------------------------------------------------------ conns */

static int cmd_conns(const char *path, int n)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n + 64) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)n + 64 ? rl.rlim_max : (rlim_t)n + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int *fds = calloc((size_t)n, sizeof *fds);
    lkp_msg *m = new_msg();
    int opened = 0, answered = 0;
    for (int i = 0; i < n; i++) {
        fds[i] = raw_connect(path);
        if (fds[i] >= 0 && send_frame(fds[i], LKP_OP_HELLO, 0, fill_hello) == 0)
            opened++;
    }
    /* every connection is open at once; now each handshake, then a PING */
    for (int i = 0; i < n; i++) {
        const char *code;
        if (fds[i] < 0 || (code = read_answer(fds[i], m)) == NULL || strcmp(code, "Success") != 0)
            continue;
        if (send_frame(fds[i], LKP_OP_PING, 1, NULL) == 0 && (code = read_answer(fds[i], m)) != NULL &&
            strcmp(code, "Success") == 0 && m->id == 1)
            answered++;
    }
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    printf("opened %d answered %d of %d\n", opened, answered, n);
    free(fds);
    free(m);
    return answered == n ? 0 : 1;
}

/* ------------------------------------------------------------ hostile */

/* The service must close fd (end of stream) within ms. */
static int closed_within(int fd, int ms, const char *what)
{
    char b[256];
    int64_t start = now_ns();
    struct pollfd p = {.fd = fd, .events = POLLIN};
    for (;;) {
        int left = ms - (int)((now_ns() - start) / 1000000);
        if (left <= 0 || poll(&p, 1, left) <= 0) {
            printf("FAIL %s: still open after %d ms\n", what, ms);
            return 1;
        }
        ssize_t r = recv(fd, b, sizeof b, 0);
        if (r <= 0) {
            printf("ok   %s: closed after %lld ms\n", what, (long long)((now_ns() - start) / 1000000));
            return 0;
        }
    }
}

static void fill_verify_partial(lkp_buf *b)
{
    lkp_put_text(b, LKP_F_SECRET_ID, "AKIDAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    lkp_put_bytes(b, LKP_F_SECRET, "LKSKnot-a-real-secret", 21);
}

static int still_serves(const char *path)
{
    lkp_msg *m = new_msg();
    int fd = raw_connect(path), rc = 1;
    const char *code;
    if (fd >= 0 && send_frame(fd, LKP_OP_HELLO, 0, fill_hello) == 0 && (code = read_answer(fd, m)) &&
        strcmp(code, "Success") == 0 && send_frame(fd, LKP_OP_PING, 5, NULL) == 0 && (code = read_answer(fd, m)) &&
        strcmp(code, "Success") == 0)
        rc = 0;
    if (fd >= 0)
        close(fd);
    free(m);
    return rc;
}

static int read_line(char *buf, size_t n);

static int cmd_hostile(const char *path, int timeout_ms, const char *sid)
{
    char wrong[128] = "";
    if (sid != NULL && read_line(wrong, sizeof wrong) != 0)
        return 2;
    int fails = 0, fd;
    lkp_msg *m = new_msg();
    const char *code;
    int limit = timeout_ms * 3 + 500;

    /* 1. garbage: random bytes as the first frame */
    fd = raw_connect(path);
    uint8_t junk[64];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 37 + 11);
    send_all(fd, junk, sizeof junk);
    fails += closed_within(fd, limit, "garbage instead of a handshake");
    close(fd);

    /* 2. a frame length far past the limit */
    fd = raw_connect(path);
    send_frame(fd, LKP_OP_HELLO, 0, fill_hello);
    read_answer(fd, m);
    const uint8_t huge[8] = {0x7f, 0xff, 0xff, 0xff, 1, 0, 0, 0};
    send_all(fd, huge, sizeof huge);
    fails += closed_within(fd, limit, "2 GiB frame length");
    close(fd);

    /* 3. a request before the handshake */
    fd = raw_connect(path);
    send_frame(fd, LKP_OP_PING, 1, NULL);
    fails += closed_within(fd, limit, "request before the handshake");
    close(fd);

    /* 4. a malformed body: answered with ParamError, then closed */
    fd = raw_connect(path);
    send_frame(fd, LKP_OP_HELLO, 0, fill_hello);
    read_answer(fd, m);
    send_frame(fd, LKP_OP_KEY_STATUS, 9, NULL); /* KEY_ID missing */
    code = read_answer(fd, m);
    if (code == NULL || strcmp(code, "InvalidParameter.ParamError") != 0) {
        printf("FAIL malformed body: answer %s\n", code ? code : "(none)");
        fails++;
    } else {
        fails += closed_within(fd, limit, "malformed body (answered ParamError first)");
    }
    close(fd);

    /* 5. an unknown op is answered and the connection goes on */
    fd = raw_connect(path);
    send_frame(fd, LKP_OP_HELLO, 0, fill_hello);
    read_answer(fd, m);
    send_frame(fd, 99, 3, NULL);
    code = read_answer(fd, m);
    int ok5 = code && strcmp(code, "InvalidParameter.ParamError") == 0 && m->id == 3;
    send_frame(fd, LKP_OP_PING, 4, NULL);
    code = read_answer(fd, m);
    ok5 = ok5 && code && strcmp(code, "Success") == 0 && m->id == 4;
    printf("%s unknown op answered, connection kept\n", ok5 ? "ok  " : "FAIL");
    fails += !ok5;
    close(fd);

    /* 5b. frames of the response kind are no requests: refused and closed,
     * as the handshake and after it */
    for (int after = 0; after < 2; after++) {
        uint8_t out[64];
        lkp_buf b;
        fd = raw_connect(path);
        if (after) {
            send_frame(fd, LKP_OP_HELLO, 0, fill_hello);
            read_answer(fd, m);
        }
        lkp_begin(&b, out, sizeof out, after ? LKP_OP_PING : LKP_OP_HELLO, true, 6);
        if (!after)
            fill_hello(&b);
        lkp_end(&b);
        send_all(fd, out, b.len);
        code = read_answer(fd, m);
        if (code != NULL && strcmp(code, "InvalidParameter.ParamError") != 0) {
            printf("FAIL a %s of the response kind was answered %s\n", after ? "PING" : "HELLO", code);
            fails++;
        } else {
            fails += closed_within(fd, limit, after ? "PING of the response kind" : "HELLO of the response kind");
        }
        close(fd);
    }

    /* 6. half a request, then the client never finishes it: read timeout */
    fd = raw_connect(path);
    send_frame(fd, LKP_OP_HELLO, 0, fill_hello);
    read_answer(fd, m);
    {
        uint8_t out[512];
        lkp_buf b;
        lkp_begin(&b, out, sizeof out, LKP_OP_VERIFY_KEY, false, 2);
        fill_verify_partial(&b);
        lkp_end(&b);
        send_all(fd, out, b.len / 2);
    }
    fails += closed_within(fd, limit, "request never finished (read timeout)");
    close(fd);

    /* 7. connected, no handshake ever */
    fd = raw_connect(path);
    fails += closed_within(fd, limit, "silent client (handshake timeout)");
    close(fd);

    /* 8. disconnect mid-request, and right after sending a request */
    for (int i = 0; i < 50; i++) {
        fd = raw_connect(path);
        send_frame(fd, LKP_OP_HELLO, 0, fill_hello);
        uint8_t out[512];
        lkp_buf b;
        lkp_begin(&b, out, sizeof out, LKP_OP_VERIFY_KEY, false, 2);
        fill_verify_partial(&b);
        lkp_end(&b);
        send_all(fd, out, i % 2 ? b.len : b.len / 3);
        close(fd);
    }
    printf("ok   50 clients vanished mid-request\n");

    /* 9. vanish while an Argon2id job for the request waits or runs: the
     * answer goes to a closed connection, which must cost nothing more */
    if (sid != NULL && wrong[0] != '\0') {
        for (int i = 0; i < 20; i++) {
            fd = raw_connect(path);
            send_frame(fd, LKP_OP_HELLO, 0, fill_hello);
            read_answer(fd, m);
            uint8_t out[512];
            lkp_buf b;
            lkp_begin(&b, out, sizeof out, LKP_OP_VERIFY_KEY, false, 2);
            lkp_put_text(&b, LKP_F_SECRET_ID, sid);
            lkp_put_bytes(&b, LKP_F_SECRET, wrong, strlen(wrong));
            lkp_end(&b);
            send_all(fd, out, b.len);
            close(fd);
        }
        printf("ok   20 clients vanished while their Argon2id jobs waited\n");
    }

    /* the service is still there */
    if (still_serves(path) != 0) {
        printf("FAIL the service no longer answers\n");
        fails++;
    } else {
        printf("ok   the service still answers\n");
    }
    free(m);
    return fails ? 1 : 0;
}

/* ------------------------------------------------------------ flood and bench */

/* Round-trip times of one thread, in ns. */
struct lat_log {
    int64_t *v;
    size_t n, cap;
    bool full; /* out of memory: the rate still counts, the percentiles do not */
};

static void lat_push(struct lat_log *l, int64_t ns)
{
    if (l->n == l->cap && !l->full) {
        size_t cap = l->cap ? l->cap * 2 : 65536;
        int64_t *v = realloc(l->v, cap * sizeof *v);
        if (v == NULL)
            l->full = true;
        else
            l->v = v, l->cap = cap;
    }
    if (l->n < l->cap)
        l->v[l->n++] = ns;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Print "RATE UNIT/s" and then "p50 .. us, p99 .. us" over every log
 * (freed), for count round trips in seconds. */
static void print_rate(struct lat_log *const *logs, int t, size_t count, double seconds, const char *unit,
                       const char *extra)
{
    size_t n = 0, o = 0;
    for (int i = 0; i < t; i++)
        n += logs[i]->n;
    int64_t *all = malloc((n ? n : 1) * sizeof *all);
    for (int i = 0; i < t; i++) {
        if (all != NULL && logs[i]->n)
            memcpy(all + o, logs[i]->v, logs[i]->n * sizeof *all);
        o += logs[i]->n;
        free(logs[i]->v);
        *logs[i] = (struct lat_log){0};
    }
    printf("threads %d: %.0f %s/s%s", t, (double)count / seconds, unit, extra);
    if (all != NULL && n > 0) {
        qsort(all, n, sizeof *all, cmp64);
        printf(", p50 %.1f us, p99 %.1f us", (double)all[n / 2] / 1000, (double)all[n * 99 / 100] / 1000);
    } else {
        printf(", no latencies recorded");
    }
    free(all);
}

static void sleep_s(double seconds)
{
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
}

struct worker {
    lk_ctx *ctx;
    const char *sid;
    const char *secret;
    size_t len;
    long n;
    double seconds;
    atomic_bool *stop;
    long counts[LK_STATUS_COUNT_];
    bool timed; /* records its latencies in lat */
    long done;
    struct lat_log lat;
};

static void *flood_main(void *arg)
{
    struct worker *w = arg;
    char guess[LK_SECRET_KEY_LEN + 1];
    bool random = strcmp(w->secret, "random") == 0;
    for (long i = 0; i < w->n; i++) {
        if (random)
            lk_keyfmt_new_secret_key(guess);
        lk_status st = random ? lk_verify_key(w->ctx, w->sid, guess, LK_SECRET_KEY_LEN, NULL, NULL)
                              : lk_verify_key(w->ctx, w->sid, w->secret, w->len, NULL, NULL);
        if ((int)st >= 0 && st < LK_STATUS_COUNT_)
            w->counts[st]++;
    }
    return NULL;
}

static void *bench_main(void *arg)
{
    struct worker *w = arg;
    while (!atomic_load(w->stop)) {
        int64_t t0 = now_ns();
        lk_status st = lk_verify_key(w->ctx, w->sid, w->secret, w->len, NULL, NULL);
        int64_t t1 = now_ns();
        if ((int)st >= 0 && st < LK_STATUS_COUNT_)
            w->counts[st]++;
        w->done++;
        if (w->timed)
            lat_push(&w->lat, t1 - t0);
    }
    return NULL;
}

/* One line of stdin. A wrong secret must be well formed to cost an
 * Argon2id: the scripts pass another key's SecretKey. */
static int read_line(char *buf, size_t n)
{
    if (fgets(buf, (int)n, stdin) == NULL)
        return -1;
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

static int cmd_flood(const char *path, const char *sid, int t, long n)
{
    char wrong[128];
    lk_ctx *ctx;
    if (read_line(wrong, sizeof wrong) != 0 || lk_connect(path, &ctx) != LK_OK) {
        fprintf(stderr, "flood: %s\n", lk_errmsg(NULL));
        return 2;
    }
    struct worker *w = calloc((size_t)t, sizeof *w);
    pthread_t *th = calloc((size_t)t, sizeof *th);
    for (int i = 0; i < t; i++) {
        w[i] = (struct worker){.ctx = ctx, .sid = sid, .secret = wrong, .len = strlen(wrong), .n = n};
        pthread_create(&th[i], NULL, flood_main, &w[i]);
    }
    long total[LK_STATUS_COUNT_] = {0};
    for (int i = 0; i < t; i++) {
        pthread_join(th[i], NULL);
        for (int s = 0; s < LK_STATUS_COUNT_; s++)
            total[s] += w[i].counts[s];
    }
    for (int s = 0; s < LK_STATUS_COUNT_; s++)
        if (total[s])
            printf("%s %ld\n", lk_status_code((lk_status)s), total[s]);
    lk_close(ctx);
    free(w);
    free(th);
    return 0;
}

static int cmd_bench(const char *path, const char *sid, int t, double seconds, const char *saturate_sid)
{
    char secret[128], wrong[128] = "";
    lk_ctx *ctx;
    atomic_bool stop = false;
    if (t < 1 || t > 64) {
        fprintf(stderr, "bench: 1 to 64 threads, not %d\n", t);
        return 2;
    }
    if (read_line(secret, sizeof secret) != 0 || (saturate_sid && read_line(wrong, sizeof wrong) != 0) ||
        lk_connect(path, &ctx) != LK_OK) {
        fprintf(stderr, "bench: %s\n", lk_errmsg(NULL));
        return 2;
    }
    /* warm it; a key that is refused measures the refusal path instead */
    lk_status first = lk_verify_key(ctx, sid, secret, strlen(secret), NULL, NULL);
    if (first != LK_OK && !lk_status_is_denial(first)) {
        fprintf(stderr, "bench: %s\n", lk_errmsg(NULL));
        return 2;
    }
    int nsat = saturate_sid ? 2 : 0;
    struct worker *w = calloc((size_t)(t + nsat), sizeof *w);
    pthread_t *th = calloc((size_t)(t + nsat), sizeof *th);
    for (int i = 0; i < t + nsat; i++) {
        bool sat = i >= t;
        w[i] = (struct worker){.ctx = ctx, .sid = sat ? saturate_sid : sid, .secret = sat ? wrong : secret,
                               .len = strlen(sat ? wrong : secret), .stop = &stop};
        w[i].timed = !sat;
        pthread_create(&th[i], NULL, bench_main, &w[i]);
    }
    sleep_s(seconds);
    atomic_store(&stop, true);
    size_t n = 0;
    long ok = 0, sat_busy = 0, sat_bad = 0;
    struct lat_log *logs[64];
    for (int i = 0; i < t + nsat; i++) {
        pthread_join(th[i], NULL);
        if (i < t) {
            n += (size_t)w[i].done;
            ok += w[i].counts[LK_OK];
            logs[i] = &w[i].lat;
        } else {
            sat_busy += w[i].counts[LK_ERR_BUSY];
            sat_bad += w[i].counts[LK_DENY_BAD_SECRET];
        }
    }
    char what[96];
    snprintf(what, sizeof what, " (%s %ld of %zu)", first == LK_OK ? "allowed" : lk_status_code(first),
             first == LK_OK ? ok : (long)n - ok, n);
    print_rate(logs, t, n, seconds, "verifies", what);
    if (saturate_sid)
        printf("; meanwhile wrong secrets: %ld Argon2id-refused, %ld busy", sat_bad, sat_busy);
    printf("\n");
    free(w);
    free(th);
    lk_close(ctx);
    return 0;
}

/* Sizes of a warm SecretId verify and its answer on the wire, near enough. */
#define FLOOR_REQ 112
#define FLOOR_ANS 64

struct floor_client {
    int fd;
    atomic_bool *stop;
    size_t done;
    struct lat_log lat;
};

static void *floor_client_main(void *arg)
{
    struct floor_client *f = arg;
    uint8_t req[FLOOR_REQ] = {0}, ans[FLOOR_ANS];
    while (!atomic_load(f->stop)) {
        int64_t t0 = now_ns();
        if (send(f->fd, req, sizeof req, MSG_NOSIGNAL) != (ssize_t)sizeof req)
            return NULL;
        size_t got = 0;
        while (got < sizeof ans) {
            struct pollfd pfd = {.fd = f->fd, .events = POLLIN};
            if (poll(&pfd, 1, 5000) <= 0)
                return NULL;
            ssize_t r = recv(f->fd, ans + got, sizeof ans - got, MSG_DONTWAIT);
            if (r <= 0)
                return NULL;
            got += (size_t)r;
        }
        f->done++;
        lat_push(&f->lat, now_ns() - t0);
    }
    return NULL;
}

static void *floor_echo_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    uint8_t buf[FLOOR_REQ], ans[FLOOR_ANS] = {0};
    for (;;) {
        size_t got = 0;
        while (got < sizeof buf) {
            ssize_t r = recv(fd, buf + got, sizeof buf - got, 0);
            if (r <= 0)
                return NULL;
            got += (size_t)r;
        }
        if (send(fd, ans, sizeof ans, MSG_NOSIGNAL) != (ssize_t)sizeof ans)
            return NULL;
    }
}

static int cmd_floor(int t, double seconds)
{
    if (t < 1 || t > 64) {
        fprintf(stderr, "floor: 1 to 64 threads, not %d\n", t);
        return 2;
    }
    int cfd[64], sfd[64];
    for (int i = 0; i < t; i++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
            return 2;
        cfd[i] = sv[0];
        sfd[i] = sv[1];
    }
    pid_t pid = fork();
    if (pid < 0)
        return 2;
    if (pid == 0) {
        pthread_t th[64];
        for (int i = 0; i < t; i++)
            close(cfd[i]);
        for (int i = 0; i < t; i++)
            pthread_create(&th[i], NULL, floor_echo_main, (void *)(intptr_t)sfd[i]);
        for (int i = 0; i < t; i++)
            pthread_join(th[i], NULL);
        _exit(0);
    }
    for (int i = 0; i < t; i++)
        close(sfd[i]);
    atomic_bool stop = false;
    struct floor_client f[64];
    pthread_t th[64];
    for (int i = 0; i < t; i++) {
        f[i] = (struct floor_client){.fd = cfd[i], .stop = &stop};
        pthread_create(&th[i], NULL, floor_client_main, &f[i]);
    }
    sleep_s(seconds);
    atomic_store(&stop, true);
    size_t n = 0;
    struct lat_log *logs[64];
    for (int i = 0; i < t; i++) {
        pthread_join(th[i], NULL);
        n += f[i].done;
        logs[i] = &f[i].lat;
        close(cfd[i]); /* the echo thread sees the end and exits */
    }
    waitpid(pid, NULL, 0);
    print_rate(logs, t, n, seconds, "round trips", "");
    printf("\n");
    return 0;
}

static int cmd_survive(const char *path, const char *sid, double seconds)
{
    char secret[128];
    lk_ctx *ctx;
    if (read_line(secret, sizeof secret) != 0 || lk_connect(path, &ctx) != LK_OK) {
        fprintf(stderr, "survive: %s\n", lk_errmsg(NULL));
        return 2;
    }
    int64_t end = now_ns() + (int64_t)(seconds * 1e9);
    int last = -1;
    long run = 0;
    while (now_ns() < end) {
        int64_t t0 = now_ns();
        lk_status st = lk_verify_key(ctx, sid, secret, strlen(secret), NULL, NULL);
        if (st != LK_OK && now_ns() - t0 > 2000000000LL)
            printf("slow failure (%lld ms) ", (long long)((now_ns() - t0) / 1000000));
        if ((int)st != last && last != -1) {
            printf("%s x%ld, ", lk_status_code((lk_status)last), run);
            run = 0;
        }
        last = (int)st;
        run++;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    printf("%s x%ld\n", last >= 0 ? lk_status_code((lk_status)last) : "none", run);
    lk_close(ctx);
    return 0;
}

static int cmd_idle(const char *path, int ms)
{
    lkp_msg *m = new_msg();
    int fd = raw_connect(path);
    int rc = 1;
    if (fd >= 0 && send_frame(fd, LKP_OP_HELLO, 0, fill_hello) == 0 && read_answer(fd, m) != NULL)
        rc = closed_within(fd, ms, "idle connection (idle timeout)");
    if (fd >= 0)
        close(fd);
    free(m);
    return rc;
}

/* ------------------------------------------------------------ abuse (issue 19) */

/* A connection after its handshake; -1 when the service did not answer it. */
static int hello_connect(const char *path, lkp_msg *m)
{
    int fd = raw_connect(path);
    const char *code;
    if (fd >= 0 && (send_frame(fd, LKP_OP_HELLO, 0, fill_hello) != 0 || (code = read_answer(fd, m)) == NULL ||
                    strcmp(code, "Success") != 0)) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Frames of op (no fields) back to back, as many as fit in n bytes. */
static size_t fill_frames(uint8_t *buf, size_t n, uint8_t op)
{
    size_t o = 0;
    while (o + LKP_LEN_PREFIX + LKP_HEADER_LEN <= n) {
        lkp_buf b;
        lkp_begin(&b, buf + o, LKP_LEN_PREFIX + LKP_HEADER_LEN, op, false, (uint32_t)o);
        lkp_end(&b);
        o += b.len;
    }
    return o;
}

static void *drain_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    uint8_t buf[65536];
    while (recv(fd, buf, sizeof buf, 0) > 0)
        ;
    return NULL;
}

/* garbage: k clients pipelining frames of an unknown op (each answered
 * ParamError, the connection kept) as fast as the service takes them,
 * reading every answer. Each connects once the ones before it have sent
 * 8 MiB (so a worker that never lets go of one is already held when the
 * next connects); "flooding" once all have. A 32 MiB send buffer (root:
 * past wmem_max) keeps the service's side full even when this process
 * waits long for a CPU on a loaded machine. Runs until killed. */
static int garbage_connect(const char *path, lkp_msg *m)
{
    int fd = hello_connect(path, m), sz = 32 << 20;
    pthread_t th;
    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof sz) != 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    pthread_create(&th, NULL, drain_main, (void *)(intptr_t)fd);
    pthread_detach(th);
    return fd;
}

static int cmd_garbage(const char *path, int k)
{
    static uint8_t buf[65536];
    size_t len = fill_frames(buf, sizeof buf, 99);
    lkp_msg *m = new_msg();
    int fds[64];
    size_t sent[64] = {0};
    int open = 0;
    bool said = false;
    if (k < 1 || k > 64)
        return 2;
    for (;;) {
        if (open < k && (open == 0 || sent[open - 1] >= (8u << 20))) {
            if ((fds[open] = garbage_connect(path, m)) < 0) {
                printf("garbage: no handshake\n");
                return 1;
            }
            open++;
        }
        for (int i = 0; i < open; i++) {
            ssize_t w = send(fds[i], buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w > 0) {
                sent[i] += (size_t)w;
            } else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
                close(fds[i]); /* closed by the service (a timeout on a loaded machine): again */
                if ((fds[i] = garbage_connect(path, m)) < 0)
                    return 1;
            }
        }
        if (open == k && sent[k - 1] >= (8u << 20) && !said) {
            printf("flooding\n");
            fflush(stdout);
            said = true;
        }
        struct pollfd p[64];
        for (int i = 0; i < open; i++)
            p[i] = (struct pollfd){.fd = fds[i], .events = POLLOUT};
        poll(p, (nfds_t)open, 1000);
    }
}

/* stall: k clients that never read an answer: each sends a verify of SID
 * with a wrong secret (stdin: it waits for an Argon2id thread), then STATS
 * requests until the service stops taking them (no progress for 3 s);
 * "stalled" once all have, then holds them open until killed. */
static int cmd_stall(const char *path, const char *sid, int k)
{
    char wrong[128];
    static uint8_t buf[4096];
    size_t len = fill_frames(buf, sizeof buf, LKP_OP_STATS);
    lkp_msg *m = new_msg();
    if (k < 1 || k > 64 || read_line(wrong, sizeof wrong) != 0)
        return 2;
    for (int i = 0; i < k; i++) {
        int fd = hello_connect(path, m);
        uint8_t out[512];
        lkp_buf b;
        if (fd < 0) {
            printf("stall: no handshake\n");
            return 1;
        }
        lkp_begin(&b, out, sizeof out, LKP_OP_VERIFY_KEY, false, 1);
        lkp_put_text(&b, LKP_F_SECRET_ID, sid);
        lkp_put_bytes(&b, LKP_F_SECRET, wrong, strlen(wrong));
        lkp_end(&b);
        send_all(fd, out, b.len);
        for (;;) {
            ssize_t w = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
                break; /* closed by the service: also no longer holding it */
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            if (w <= 0 && poll(&p, 1, 3000) == 0)
                break;
        }
    }
    printf("stalled\n");
    fflush(stdout);
    for (;;)
        pause();
}

/* hold: a connection open with a handshake and a PING answered ("ready");
 * after a line on stdin, another PING: "answered", or "closed" when the
 * service has closed it meanwhile (exit 1). */
static int cmd_hold(const char *path)
{
    lkp_msg *m = new_msg();
    char line[16];
    const char *code;
    int fd = hello_connect(path, m);
    if (fd < 0 || send_frame(fd, LKP_OP_PING, 1, NULL) != 0 || (code = read_answer(fd, m)) == NULL ||
        strcmp(code, "Success") != 0) {
        printf("not served\n");
        return 2;
    }
    printf("ready\n");
    fflush(stdout);
    if (read_line(line, sizeof line) != 0)
        return 2;
    bool ok = send_frame(fd, LKP_OP_PING, 2, NULL) == 0 && (code = read_answer(fd, m)) != NULL &&
              strcmp(code, "Success") == 0;
    printf("%s\n", ok ? "answered" : "closed");
    return ok ? 0 : 1;
}

/* batch: N PINGs in one write (one turn of the service's worker), then
 * their answers. */
static int cmd_batch(const char *path, int n)
{
    lkp_msg *m = new_msg();
    uint8_t buf[64 * (LKP_LEN_PREFIX + LKP_HEADER_LEN)];
    int fd = hello_connect(path, m), got = 0;
    if (n < 1 || (size_t)n * (LKP_LEN_PREFIX + LKP_HEADER_LEN) > sizeof buf)
        n = 0;
    size_t len = fill_frames(buf, (size_t)n * (LKP_LEN_PREFIX + LKP_HEADER_LEN), LKP_OP_PING);
    if (fd >= 0 && n > 0 && send(fd, buf, len, MSG_NOSIGNAL) == (ssize_t)len) {
        const char *code;
        while (got < n && (code = read_answer(fd, m)) != NULL && strcmp(code, "Success") == 0)
            got++;
    }
    printf("answered %d of %d\n", got, n);
    if (fd >= 0)
        close(fd);
    free(m);
    return got == n && n > 0 ? 0 : 1;
}

struct pipe_writer {
    int fd;
    const char *sid, *secret;
    long n;
};

static void *pipe_writer_main(void *arg)
{
    struct pipe_writer *p = arg;
    static _Thread_local uint8_t buf[65536]; /* one per connection's writer */
    size_t o = 0;
    bool random = strcmp(p->secret, "random") == 0;
    char guess[LK_SECRET_KEY_LEN + 1];
    for (long i = 0; i < p->n; i++) {
        lkp_buf b;
        if (random)
            lk_keyfmt_new_secret_key(guess);
        const char *s = random ? guess : p->secret;
        lkp_begin(&b, buf + o, sizeof buf - o, LKP_OP_VERIFY_KEY, false, (uint32_t)i);
        lkp_put_text(&b, LKP_F_SECRET_ID, p->sid);
        lkp_put_bytes(&b, LKP_F_SECRET, s, strlen(s));
        lkp_end(&b);
        o += b.len;
        if (o > sizeof buf - 512 || i == p->n - 1) {
            if (send_all(p->fd, buf, o) != 0)
                break;
            o = 0;
        }
    }
    return NULL;
}

/* One pipelining connection: its answers counted per code. */
struct pipe_conn {
    const char *path;
    struct pipe_writer w;
    char codes[16][64];
    long counts[16], got;
    int ncodes;
};

static void *pipe_conn_main(void *arg)
{
    struct pipe_conn *pc = arg;
    lkp_msg *m = new_msg();
    int fd = hello_connect(pc->path, m);
    if (fd < 0) {
        free(m);
        return NULL;
    }
    struct timeval tv = {.tv_sec = 60};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    pc->w.fd = fd;
    pthread_t th;
    pthread_create(&th, NULL, pipe_writer_main, &pc->w);
    const char *code;
    while (pc->got < pc->w.n && (code = read_answer(fd, m)) != NULL) {
        int i = 0;
        while (i < pc->ncodes && strcmp(pc->codes[i], code) != 0)
            i++;
        if (i == pc->ncodes && pc->ncodes < 16)
            snprintf(pc->codes[pc->ncodes++], sizeof pc->codes[0], "%s", code);
        if (i < 16)
            pc->counts[i]++;
        pc->got++;
    }
    shutdown(fd, SHUT_RDWR);
    pthread_join(th, NULL);
    close(fd);
    free(m);
    return NULL;
}

/* pipeline: k connections (default 1) together send n verifies of SID with
 * the secret on stdin ("random": a new wrong one each), each without
 * waiting, while reading the answers; prints a count per code and
 * "answered K of N". */
static int cmd_pipeline(const char *path, const char *sid, long n, int k)
{
    char secret[128];
    if (k < 1 || k > 1000 || read_line(secret, sizeof secret) != 0)
        return 2;
    struct pipe_conn *pc = calloc((size_t)k, sizeof *pc);
    pthread_t *th = calloc((size_t)k, sizeof *th);
    for (int i = 0; i < k; i++) {
        pc[i].path = path;
        pc[i].w = (struct pipe_writer){.fd = -1, .sid = sid, .secret = secret, .n = n / k + (i < n % k)};
        pthread_create(&th[i], NULL, pipe_conn_main, &pc[i]);
    }
    char codes[16][64];
    long counts[16] = {0}, got = 0;
    int ncodes = 0;
    for (int i = 0; i < k; i++) {
        pthread_join(th[i], NULL);
        got += pc[i].got;
        for (int c = 0; c < pc[i].ncodes; c++) {
            int j = 0;
            while (j < ncodes && strcmp(codes[j], pc[i].codes[c]) != 0)
                j++;
            if (j == ncodes && ncodes < 16)
                snprintf(codes[ncodes++], sizeof codes[0], "%s", pc[i].codes[c]);
            if (j < 16)
                counts[j] += pc[i].counts[c];
        }
    }
    for (int i = 0; i < ncodes; i++)
        printf("%s %ld\n", codes[i], counts[i]);
    printf("answered %ld of %ld\n", got, n);
    free(pc);
    free(th);
    return got == n ? 0 : 1;
}

/* Send frame f one byte every gap_ms; "cut after K of L bytes" when the
 * service closed the connection first (0), "completed" (1). */
static int trickle(int fd, const uint8_t *f, size_t len, int gap_ms, const char *what)
{
    lkp_msg *m = new_msg();
    size_t i;
    for (i = 0; i < len; i++) {
        char c;
        if (recv(fd, &c, 1, MSG_DONTWAIT) == 0 || send(fd, f + i, 1, MSG_NOSIGNAL) != 1)
            break;
        struct timespec ts = {gap_ms / 1000, (long)(gap_ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
    const char *code = i == len ? read_answer(fd, m) : NULL;
    free(m);
    if (code != NULL) {
        printf("FAIL %s: completed one byte every %d ms (%s)\n", what, gap_ms, code);
        return 1;
    }
    printf("ok   %s: cut after %zu of %zu bytes\n", what, i, len);
    return 0;
}

/* slow: a handshake, then a request after it, each sent one byte every
 * gap_ms: the service must cut both at its read deadline. */
static int cmd_slow(const char *path, int gap_ms)
{
    uint8_t out[64];
    lkp_buf b;
    lkp_msg *m = new_msg();
    int fails = 0;
    int fd = raw_connect(path);
    lkp_begin(&b, out, sizeof out, LKP_OP_HELLO, false, 0);
    fill_hello(&b);
    lkp_end(&b);
    fails += trickle(fd, out, b.len, gap_ms, "handshake sent a byte at a time");
    close(fd);
    fd = hello_connect(path, m);
    lkp_begin(&b, out, sizeof out, LKP_OP_KEY_STATUS, false, 7);
    lkp_put_text(&b, LKP_F_KEY_ID, "AKIDAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    lkp_end(&b);
    fails += fd < 0 ? 1 : trickle(fd, out, b.len, gap_ms, "request sent a byte at a time");
    if (fd >= 0)
        close(fd);
    free(m);
    return fails ? 1 : 0;
}

struct peer_conn {
    int fd;
    size_t len;
    uint8_t rx[LKP_LEN_PREFIX + LKP_MAX_REQUEST];
};

/* Every whole frame in pc->rx answered into out: the answers' length, or
 * -1 when the stream is broken (the connection is then closed). */
static ssize_t peer_answer(struct peer_conn *pc, lkp_msg *m, uint8_t *out, size_t cap)
{
    size_t off = 0, olen = 0;
    while (pc->len - off >= LKP_LEN_PREFIX) {
        size_t blen = lkp_frame_len(pc->rx + off, LKP_MAX_REQUEST);
        if (blen == 0)
            return -1;
        if (pc->len - off < LKP_LEN_PREFIX + blen)
            break; /* the rest of the frame is still coming */
        if (lkp_decode(pc->rx + off + LKP_LEN_PREFIX, blen, m) != LKP_OK)
            return -1;
        lkp_buf b;
        lkp_begin(&b, out + olen, cap - olen, m->op, true, m->id);
        lkp_put_text(&b, LKP_F_STATUS_CODE, lk_status_code(LK_OK));
        if (m->op == LKP_OP_HELLO)
            lkp_put_u32(&b, LKP_F_VERSION, LKP_VERSION);
        if (m->op == LKP_OP_VERIFY_KEY || m->op == LKP_OP_VERIFY_APIKEY) {
            lkp_put_text(&b, LKP_F_KEY_ID, "lk-floor");
            lkp_put_u64(&b, LKP_F_UIN, 100);
        }
        if (lkp_end(&b) != 0)
            return -1;
        olen += b.len;
        off += LKP_LEN_PREFIX + blen;
    }
    explicit_bzero(pc->rx, off); /* the requests held secrets */
    memmove(pc->rx, pc->rx + off, pc->len - off);
    pc->len -= off;
    return (ssize_t)olen;
}

static int cmd_peer(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "peer: socket path too long: %s\n", path);
        return 2;
    }
    strcpy(sa.sun_path, path);
    unlink(path);
    int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ls < 0 || ep < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0 || chmod(path, 0666) != 0 ||
        listen(ls, 64) != 0) {
        fprintf(stderr, "peer: cannot listen on %s: %s\n", path, strerror(errno));
        return 2;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    lkp_msg *m = malloc(sizeof *m);
    uint8_t *out = malloc(64 * 1024);
    if (m == NULL || out == NULL || epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev) != 0)
        return 2;
    puts("ready");
    fflush(stdout);
    for (;;) {
        struct epoll_event evs[16];
        int n = epoll_wait(ep, evs, 16, -1);
        for (int i = 0; i < n; i++) {
            struct peer_conn *pc = evs[i].data.ptr;
            if (pc == NULL) {
                int fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
                pc = fd < 0 ? NULL : calloc(1, sizeof *pc);
                struct epoll_event cev = {.events = EPOLLIN, .data.ptr = pc};
                if (pc == NULL || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev) != 0) {
                    if (fd >= 0)
                        close(fd);
                    free(pc);
                    continue;
                }
                pc->fd = fd;
                continue;
            }
            ssize_t r = recv(pc->fd, pc->rx + pc->len, sizeof pc->rx - pc->len, MSG_DONTWAIT);
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            ssize_t olen = -1;
            if (r > 0) {
                pc->len += (size_t)r;
                olen = peer_answer(pc, m, out, 64 * 1024);
            }
            if (olen < 0 || (olen > 0 && send(pc->fd, out, (size_t)olen, MSG_NOSIGNAL) != olen)) {
                close(pc->fd); /* epoll forgets it */
                free(pc);
            }
        }
    }
}

static int cmd_wrongkeys(long n)
{
    char k[LK_SECRET_KEY_LEN + 1];
    for (long i = 0; i < n; i++) {
        lk_keyfmt_new_secret_key(k);
        puts(k);
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "wrongkeys") == 0)
        return cmd_wrongkeys(atol(argv[2]));
    if (argc >= 4 && strcmp(argv[1], "garbage") == 0)
        return cmd_garbage(argv[2], atoi(argv[3]));
    if (argc >= 5 && strcmp(argv[1], "stall") == 0)
        return cmd_stall(argv[2], argv[3], atoi(argv[4]));
    if (argc >= 3 && strcmp(argv[1], "hold") == 0)
        return cmd_hold(argv[2]);
    if (argc >= 5 && strcmp(argv[1], "pipeline") == 0)
        return cmd_pipeline(argv[2], argv[3], atol(argv[4]), argc > 5 ? atoi(argv[5]) : 1);
    if (argc >= 4 && strcmp(argv[1], "batch") == 0)
        return cmd_batch(argv[2], atoi(argv[3]));
    if (argc >= 4 && strcmp(argv[1], "slow") == 0)
        return cmd_slow(argv[2], atoi(argv[3]));
    if (argc >= 4 && strcmp(argv[1], "idle") == 0)
        return cmd_idle(argv[2], atoi(argv[3]));
    if (argc >= 5 && strcmp(argv[1], "survive") == 0)
        return cmd_survive(argv[2], argv[3], atof(argv[4]));
    if (argc >= 4 && strcmp(argv[1], "conns") == 0)
        return cmd_conns(argv[2], atoi(argv[3]));
    if (argc >= 4 && strcmp(argv[1], "hostile") == 0)
        return cmd_hostile(argv[2], atoi(argv[3]), argc > 4 ? argv[4] : NULL);
    if (argc >= 6 && strcmp(argv[1], "flood") == 0)
        return cmd_flood(argv[2], argv[3], atoi(argv[4]), atol(argv[5]));
    if (argc >= 3 && strcmp(argv[1], "peer") == 0)
        return cmd_peer(argv[2]);
    if (argc >= 4 && strcmp(argv[1], "floor") == 0)
        return cmd_floor(atoi(argv[2]), atof(argv[3]));
    if (argc >= 6 && strcmp(argv[1], "bench") == 0)
        return cmd_bench(argv[2], argv[3], atoi(argv[4]), atof(argv[5]), argc > 6 ? argv[6] : NULL);
    fprintf(stderr, "usage: lkd_driver conns|hostile|flood|bench|floor ... (see the source)\n");
    return 2;
}
