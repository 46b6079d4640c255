/*
 * mqtt_bench.c — the MQTT 3.1.1 client of bench/mosquitto.sh: raw sockets,
 * a handful of packet types, no library, so the client is never what is
 * measured (one CONNECT is two small writes and one read; publishes go
 * out 256 to a write()).
 *
 *   mqtt_bench connect PORT USER PASS SECONDS
 *       CONNECT + CONNACK + DISCONNECT in a loop, the same credential
 *       (warm): "rate=N/s p50=US p99=US n=N"
 *   mqtt_bench cold PORT CREDFILE
 *       one CONNECT per "user password" line (each a first login):
 *       "n=N p50=US p99=US refused=N"
 *   mqtt_bench publish PORT USER PASS SUBUSER SUBPASS TOPIC COUNT
 *       a subscriber on TOPIC (its own connection) and a publisher sending
 *       COUNT QoS 0 messages to it; rate = messages the subscriber got per
 *       second, from the first send to the last delivery:
 *       "rate=N/s got=N of N"
 *
 * Empty USER: no user name nor password (for a broker without
 * authentication). Host: 127.0.0.1. Exit 1 on a refused CONNECT or a
 * broken connection (a figure from a failing run would mislead).
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t put_len(unsigned char *p, size_t n) /* MQTT remaining length */
{
    size_t i = 0;
    do {
        unsigned char b = n % 128;
        n /= 128;
        p[i++] = (unsigned char)(n > 0 ? b | 128 : b);
    } while (n > 0);
    return i;
}

static size_t put_str(unsigned char *p, const char *s)
{
    size_t n = strlen(s);
    p[0] = (unsigned char)(n >> 8);
    p[1] = (unsigned char)n;
    memcpy(p + 2, s, n);
    return n + 2;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* A connected, authenticated socket, or -1 (refused: *refused = 1). */
static int mqtt_connect(const char *user, const char *pass, int *refused)
{
    static unsigned long seq;
    char id[64];
    unsigned char body[1024], pkt[1100], ack[4];
    size_t n = 0;
    *refused = 0;
    snprintf(id, sizeof id, "b%ld-%lu", (long)getpid(), __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    int auth = user != NULL && user[0] != '\0';
    n += put_str(body + n, "MQTT");
    body[n++] = 4;                          /* 3.1.1 */
    body[n++] = (unsigned char)(auth ? 0xC2 : 0x02); /* user, password, clean session */
    body[n++] = 0;
    body[n++] = 60; /* keep alive */
    n += put_str(body + n, id);
    if (auth) {
        n += put_str(body + n, user);
        n += put_str(body + n, pass);
    }
    size_t h = 0;
    pkt[h++] = 0x10;
    h += put_len(pkt + h, n);
    memcpy(pkt + h, body, n);
    if (write_all(fd, pkt, h + n) != 0 || read_all(fd, ack, 4) != 0 || ack[0] != 0x20) {
        close(fd);
        return -1;
    }
    if (ack[3] != 0) {
        *refused = 1;
        close(fd);
        return -1;
    }
    return fd;
}

static void mqtt_disconnect(int fd)
{
    static const unsigned char d[2] = {0xE0, 0};
    (void)write_all(fd, d, 2);
    close(fd);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

static int cmd_connect(const char *user, const char *pass, double secs)
{
    size_t cap = 1 << 20, n = 0;
    double *lat = malloc(cap * sizeof *lat);
    double t0 = now(), t;
    while ((t = now()) - t0 < secs && n < cap) {
        int refused;
        int fd = mqtt_connect(user, pass, &refused);
        if (fd < 0) {
            fprintf(stderr, "mqtt_bench: CONNECT %s\n", refused ? "refused" : "failed");
            return 1;
        }
        lat[n++] = (now() - t) * 1e6;
        mqtt_disconnect(fd);
    }
    double el = now() - t0;
    qsort(lat, n, sizeof *lat, cmp_d);
    printf("rate=%.0f/s p50=%.0f p99=%.0f max=%.0f n=%zu\n", (double)n / el, pct(lat, n, 0.5), pct(lat, n, 0.99),
           n ? lat[n - 1] : 0, n);
    free(lat);
    return 0;
}

static int cmd_cold(const char *file)
{
    FILE *fp = fopen(file, "r");
    char user[256], pass[256];
    size_t n = 0, refused_n = 0;
    double lat[100000];
    if (fp == NULL) {
        perror(file);
        return 1;
    }
    while (n < sizeof lat / sizeof lat[0] && fscanf(fp, "%255s %255s", user, pass) == 2) {
        int refused;
        double t = now();
        int fd = mqtt_connect(user, pass, &refused);
        if (fd < 0) {
            refused_n++;
            continue;
        }
        lat[n++] = (now() - t) * 1e6;
        mqtt_disconnect(fd);
    }
    fclose(fp);
    qsort(lat, n, sizeof *lat, cmp_d);
    printf("n=%zu p50=%.0f p99=%.0f refused=%zu\n", n, pct(lat, n, 0.5), pct(lat, n, 0.99), refused_n);
    return refused_n > 0;
}

typedef struct sub_arg {
    int fd;
    long want, got;
    double last;
} sub_arg;

/* Count PUBLISH packets until `want` or 10 s without one. */
static void *sub_main(void *arg)
{
    sub_arg *s = arg;
    static unsigned char buf[1 << 16];
    size_t have = 0;
    struct timeval tv = {.tv_sec = 10};
    setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (s->got < s->want) {
        ssize_t r = read(s->fd, buf + have, sizeof buf - have);
        if (r <= 0)
            break;
        have += (size_t)r;
        size_t off = 0;
        for (;;) { /* whole packets in buf[off..have) */
            if (have - off < 2)
                break;
            size_t len = 0, mul = 1, i = 1;
            while (i < have - off && (buf[off + i] & 128)) {
                len += (buf[off + i] & 127) * mul;
                mul *= 128;
                i++;
            }
            if (i >= have - off)
                break;
            len += (buf[off + i] & 127) * mul;
            i++;
            if (have - off < i + len)
                break;
            if ((buf[off] & 0xF0) == 0x30)
                s->got++;
            off += i + len;
        }
        memmove(buf, buf + off, have - off);
        have -= off;
        s->last = now();
    }
    return NULL;
}

static int cmd_publish(const char *user, const char *pass, const char *suser, const char *spass, const char *topic,
                       long count)
{
    int refused;
    int sfd = mqtt_connect(suser, spass, &refused);
    if (sfd < 0) {
        fprintf(stderr, "mqtt_bench: subscriber CONNECT %s\n", refused ? "refused" : "failed");
        return 1;
    }
    unsigned char pkt[512], ack[5];
    size_t n = 0, b = 0;
    unsigned char body[300];
    body[b++] = 0;
    body[b++] = 1; /* packet id */
    b += put_str(body + b, topic);
    body[b++] = 0; /* QoS 0 */
    pkt[n++] = 0x82;
    n += put_len(pkt + n, b);
    memcpy(pkt + n, body, b);
    if (write_all(sfd, pkt, n + b) != 0 || read_all(sfd, ack, 5) != 0 || ack[0] != 0x90 || ack[4] == 0x80) {
        fprintf(stderr, "mqtt_bench: SUBSCRIBE refused\n");
        return 1;
    }
    int pfd = mqtt_connect(user, pass, &refused);
    if (pfd < 0) {
        fprintf(stderr, "mqtt_bench: publisher CONNECT %s\n", refused ? "refused" : "failed");
        return 1;
    }
    /* one PUBLISH, 16 bytes of payload, repeated 256 times per write */
    unsigned char one[300];
    size_t ol = 0, vb = 0;
    unsigned char var[280];
    vb += put_str(var, topic);
    memcpy(var + vb, "0123456789abcdef", 16);
    vb += 16;
    one[ol++] = 0x30;
    ol += put_len(one + ol, vb);
    memcpy(one + ol, var, vb);
    ol += vb;
    enum { BATCH = 256 };
    unsigned char *batch = malloc(ol * BATCH);
    for (int i = 0; i < BATCH; i++)
        memcpy(batch + (size_t)i * ol, one, ol);
    sub_arg s = {.fd = sfd, .want = count};
    pthread_t th;
    pthread_create(&th, NULL, sub_main, &s);
    double t0 = now();
    for (long sent = 0; sent < count; sent += BATCH) {
        long k = count - sent < BATCH ? count - sent : BATCH;
        if (write_all(pfd, batch, ol * (size_t)k) != 0) {
            fprintf(stderr, "mqtt_bench: publisher connection lost\n");
            return 1;
        }
    }
    pthread_join(th, NULL);
    double el = (s.got > 0 ? s.last : now()) - t0;
    printf("rate=%.0f/s got=%ld of %ld\n", el > 0 ? (double)s.got / el : 0, s.got, count);
    mqtt_disconnect(pfd);
    mqtt_disconnect(sfd);
    free(batch);
    return s.got == 0;
}

int main(int argc, char **argv)
{
    if (argc >= 6 && strcmp(argv[1], "connect") == 0) {
        port = atoi(argv[2]);
        return cmd_connect(argv[3], argv[4], atof(argv[5]));
    }
    if (argc >= 4 && strcmp(argv[1], "cold") == 0) {
        port = atoi(argv[2]);
        return cmd_cold(argv[3]);
    }
    if (argc >= 9 && strcmp(argv[1], "publish") == 0) {
        port = atoi(argv[2]);
        return cmd_publish(argv[3], argv[4], argv[5], argv[6], argv[7], atol(argv[8]));
    }
    fprintf(stderr, "usage: mqtt_bench connect PORT USER PASS SECONDS | cold PORT CREDFILE |\n"
                    "       publish PORT USER PASS SUBUSER SUBPASS TOPIC COUNT\n");
    return 2;
}
