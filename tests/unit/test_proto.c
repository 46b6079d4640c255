/*
 * latchkeyd's support in the library: the frame codec (client/proto.c) and
 * the core calls the service relies on — lk_verify_*_cached, lk_record_refusal,
 * lk_set_auto_flush — plus what a client-mode ctx refuses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "lk_internal.h"
#include "lk_proto.h"

static uint8_t buf[LKP_LEN_PREFIX + LKP_MAX_BODY];
static lkp_msg msg;

/* ------------------------------------------------------------ the codec */

static lkp_err decode_buf(const lkp_buf *b)
{
    assert_int_equal(lkp_end((lkp_buf *)b), 0);
    assert_int_equal(lkp_frame_len(b->p, LKP_MAX_BODY), b->len - LKP_LEN_PREFIX);
    return lkp_decode(b->p + LKP_LEN_PREFIX, b->len - LKP_LEN_PREFIX, &msg);
}

static void test_round_trip(void **state)
{
    lkp_buf b;
    (void)state;
    lkp_begin(&b, buf, sizeof buf, LKP_OP_VERIFY_KEY, false, 0xdeadbeef);
    lkp_put_text(&b, LKP_F_SECRET_ID, "AKIDxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    lkp_put_bytes(&b, LKP_F_SECRET, "LKSKsecret", 10);
    lkp_put_text(&b, LKP_F_CLIENT_IP, "10.0.0.1");
    lkp_put_text(&b, LKP_F_SERVICE, "cos");
    lkp_put_text(&b, LKP_F_LOGIN, "alice");
    lkp_put_u32(&b, LKP_F_FLAGS, LK_VERIFY_SCOPE_BY_CALLER);
    assert_int_equal(decode_buf(&b), LKP_OK);
    assert_int_equal(msg.op, LKP_OP_VERIFY_KEY);
    assert_false(msg.response);
    assert_true(msg.id == 0xdeadbeef);
    assert_string_equal(msg.secret_id, "AKIDxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    assert_string_equal(msg.secret, "LKSKsecret");
    assert_int_equal(msg.secret_len, 10);
    assert_string_equal(msg.client_ip, "10.0.0.1");
    assert_string_equal(msg.service, "cos");
    assert_string_equal(msg.login, "alice");
    assert_int_equal(msg.flags, LK_VERIFY_SCOPE_BY_CALLER);
    lkp_msg_wipe(&msg);
    assert_null(msg.secret);

    /* a response with repeated list fields and the stats block */
    uint8_t stats[8 * LKP_NSTATS] = {0};
    stats[8 * LKP_STAT_CACHE_HITS + 7] = 42;
    lkp_begin(&b, buf, sizeof buf, LKP_OP_APIKEY_GET, true, 7);
    lkp_put_text(&b, LKP_F_STATUS_CODE, "Success");
    lkp_put_u64(&b, LKP_F_UIN, UINT64_C(9223372036854775807));
    lkp_put_u64(&b, LKP_F_CREATE_TIME, (uint64_t)INT64_C(-5));
    for (int i = 0; i < LK_SCOPE_MAX; i++)
        lkp_put_text(&b, LKP_F_SCOPE, "svc");
    lkp_put_text(&b, LKP_F_ALLOW_IP, "10.0.0.0/8");
    lkp_put_bytes(&b, LKP_F_STATS, stats, sizeof stats);
    assert_int_equal(decode_buf(&b), LKP_OK);
    assert_true(msg.response);
    assert_true(msg.uin == UINT64_C(9223372036854775807));
    assert_true(msg.create_time == -5);
    assert_int_equal(msg.scope_count, LK_SCOPE_MAX);
    assert_int_equal(msg.allow_ip_count, 1);
    assert_true(msg.stats[LKP_STAT_CACHE_HITS] == 42);
    assert_int_equal(lkp_status_from_code(msg.status_code), LK_OK);
}

static void test_refusals(void **state)
{
    lkp_buf b;
    (void)state;
    /* a required field missing */
    lkp_begin(&b, buf, sizeof buf, LKP_OP_VERIFY_KEY, false, 1);
    lkp_put_text(&b, LKP_F_SECRET_ID, "AKID");
    assert_int_equal(decode_buf(&b), LKP_ERR_MISSING);
    /* a field the op does not take */
    lkp_begin(&b, buf, sizeof buf, LKP_OP_PING, false, 1);
    lkp_put_text(&b, LKP_F_KEY_ID, "AKID");
    assert_int_equal(decode_buf(&b), LKP_ERR_FIELD);
    /* a single field twice */
    lkp_begin(&b, buf, sizeof buf, LKP_OP_KEY_STATUS, false, 1);
    lkp_put_text(&b, LKP_F_KEY_ID, "a");
    lkp_put_text(&b, LKP_F_KEY_ID, "b");
    assert_int_equal(decode_buf(&b), LKP_ERR_DUPLICATE);
    /* NUL inside text and inside a secret */
    lkp_begin(&b, buf, sizeof buf, LKP_OP_KEY_STATUS, false, 1);
    lkp_put_bytes(&b, LKP_F_KEY_ID, "a\0b", 3);
    assert_int_equal(decode_buf(&b), LKP_ERR_NUL);
    lkp_begin(&b, buf, sizeof buf, LKP_OP_VERIFY_APIKEY, false, 1);
    lkp_put_bytes(&b, LKP_F_SECRET, "lk-\0", 4);
    assert_int_equal(decode_buf(&b), LKP_ERR_NUL);
    /* lengths: a u32 of 3 bytes, text past its maximum, an empty secret */
    lkp_begin(&b, buf, sizeof buf, LKP_OP_HELLO, false, 1);
    lkp_put_bytes(&b, LKP_F_VERSION, "abc", 3);
    assert_int_equal(decode_buf(&b), LKP_ERR_LENGTH);
    char big[200];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    lkp_begin(&b, buf, sizeof buf, LKP_OP_KEY_STATUS, false, 1);
    lkp_put_text(&b, LKP_F_KEY_ID, big);
    assert_int_equal(decode_buf(&b), LKP_ERR_LENGTH);
    lkp_begin(&b, buf, sizeof buf, LKP_OP_VERIFY_APIKEY, false, 1);
    lkp_put_bytes(&b, LKP_F_SECRET, "", 0);
    assert_int_equal(decode_buf(&b), LKP_ERR_LENGTH);
    /* an unknown op keeps a readable header; an unknown field type does not */
    lkp_begin(&b, buf, sizeof buf, 200, false, 99);
    assert_int_equal(decode_buf(&b), LKP_ERR_OP);
    assert_int_equal(msg.op, 200);
    assert_true(msg.id == 99);
    lkp_begin(&b, buf, sizeof buf, LKP_OP_PING, false, 1);
    lkp_put_text(&b, 77, "x");
    assert_int_equal(decode_buf(&b), LKP_ERR_FIELD);
    /* reserved header bytes; truncated field */
    lkp_begin(&b, buf, sizeof buf, LKP_OP_PING, false, 1);
    assert_int_equal(lkp_end(&b), 0);
    buf[LKP_LEN_PREFIX + 2] = 1;
    assert_int_equal(lkp_decode(buf + LKP_LEN_PREFIX, b.len - LKP_LEN_PREFIX, &msg), LKP_ERR_HEADER);
    const uint8_t trunc[] = {LKP_OP_KEY_STATUS, 0, 0, 0, 0, 0, 0, 1, LKP_F_KEY_ID, 0, 9, 'a'};
    assert_int_equal(lkp_decode(trunc, sizeof trunc, &msg), LKP_ERR_SHORT);
    assert_int_equal(lkp_decode(trunc, 7, &msg), LKP_ERR_SHORT);
    /* frame lengths */
    const uint8_t small[4] = {0, 0, 0, 7}, ok[4] = {0, 0, 0x10, 0}, huge[4] = {0, 0, 0x10, 1};
    assert_int_equal(lkp_frame_len(small, LKP_MAX_REQUEST), 0);
    assert_int_equal(lkp_frame_len(ok, LKP_MAX_REQUEST), 4096);
    assert_int_equal(lkp_frame_len(huge, LKP_MAX_REQUEST), 0);
    /* a frame that does not fit its storage */
    uint8_t tiny[16];
    lkp_begin(&b, tiny, sizeof tiny, LKP_OP_KEY_STATUS, false, 1);
    lkp_put_text(&b, LKP_F_KEY_ID, "AKID0123456789");
    assert_int_equal(lkp_end(&b), -1);
    /* status codes: unknown ones fail closed */
    assert_int_equal(lkp_status_from_code("AuthFailure.TooManyAttempts"), LK_DENY_THROTTLED);
    assert_int_equal(lkp_status_from_code("RequestLimitExceeded.Busy"), LK_ERR_BUSY);
    assert_int_equal(lkp_status_from_code("Success.Really"), LK_ERR_INTERNAL);
    assert_int_equal(lkp_status_from_code(NULL), LK_ERR_INTERNAL);
}

/* ------------------------------------------------------------ the core's side */

struct fx {
    char dir[64];
    lk_config *cfg;
    lk_ctx *ctx;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    char path[128];
    snprintf(f->dir, sizeof f->dir, "/tmp/lk-proto-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(path, sizeof path, "%s/store.mdb", f->dir);
    if (lk_config_default(&f->cfg) != LK_OK || lk_config_set(f->cfg, "store.path", path) != LK_OK ||
        lk_config_set(f->cfg, "hash.opslimit", "1") != LK_OK || lk_config_set(f->cfg, "hash.memlimit_kib", "8") != LK_OK ||
        lk_store_create(f->cfg) != LK_OK || lk_open_config(f->cfg, &f->ctx) != LK_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    lk_close(f->ctx);
    lk_config_free(f->cfg);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static void test_cached_only(void **state)
{
    struct fx *f = *state;
    lk_access_key k;
    lk_secret *sk;
    lk_verify_info info;
    lk_stats s;
    lk_access_record recs[LK_RECORDS_MAX];
    size_t n;
    assert_int_equal(lk_user_add(f->ctx, 100, LK_USER_ROOT, 0), LK_OK);
    assert_int_equal(lk_key_create(f->ctx, 100, &k, &sk), LK_OK);
    /* cold: needs a hash; nothing recorded, nothing hashed, but info filled */
    assert_int_equal(lk_verify_key_cached(f->ctx, k.secret_id, lk_secret_str(sk), lk_secret_len(sk), NULL, &info),
                     LK_ERR_NEEDS_HASH);
    assert_string_equal(info.key_id, k.secret_id);
    assert_true(info.uin == 100);
    assert_false(lk_status_is_denial(LK_ERR_NEEDS_HASH));
    lk_get_stats(f->ctx, &s);
    assert_true(s.argon2_verifies == 0);
    assert_int_equal(lk_records(f->ctx, k.secret_id, recs, &n, NULL), LK_OK);
    assert_int_equal(n, 0);
    /* verdicts without a hash come back as usual */
    assert_int_equal(lk_verify_key_cached(f->ctx, k.secret_id, "LKSKshort", 9, NULL, NULL), LK_DENY_BAD_SECRET);
    assert_int_equal(lk_verify_key_cached(f->ctx, "AKIDnope", lk_secret_str(sk), lk_secret_len(sk), NULL, NULL),
                     LK_DENY_MALFORMED);
    /* warm: answered from the cache */
    assert_int_equal(lk_verify_key(f->ctx, k.secret_id, lk_secret_str(sk), lk_secret_len(sk), NULL, NULL), LK_OK);
    assert_int_equal(lk_verify_key_cached(f->ctx, k.secret_id, lk_secret_str(sk), lk_secret_len(sk), NULL, NULL),
                     LK_OK);
    lk_get_stats(f->ctx, &s);
    assert_true(s.argon2_verifies == 1 && s.cache_hits == 1);
    /* a disable is seen at once, cached or not */
    assert_int_equal(lk_key_set_status(f->ctx, k.secret_id, 0, LK_KEY_INACTIVE), LK_OK);
    /* (answered as a wrong secret, without a hash: issue 19; recorded as disabled) */
    assert_int_equal(lk_verify_key_cached(f->ctx, k.secret_id, lk_secret_str(sk), lk_secret_len(sk), NULL, NULL),
                     LK_DENY_BAD_SECRET);
    assert_int_equal(lk_records(f->ctx, k.secret_id, recs, &n, NULL), LK_OK);
    assert_int_equal(n, 4); /* bad secret, success, cached success, disabled: the cold NEEDS_HASH left none */
    assert_int_equal(recs[0].result, LK_DENY_DISABLED);
    lk_secret_free(sk);
}

/* Until the ctx has written `want` records in all (5 s at most). */
static bool wait_flushed(lk_ctx *ctx, uint64_t want)
{
    for (int i = 0; i < 500; i++) {
        lk_stats s;
        lk_get_stats(ctx, &s);
        if (s.records_flushed >= want)
            return true;
        usleep(10000);
    }
    return false;
}

static void test_record_refusal_and_auto_flush(void **state)
{
    struct fx *f = *state;
    lk_access_key k;
    lk_secret *sk;
    lk_access_record recs[LK_RECORDS_MAX];
    size_t n;
    lk_stats s;
    lk_verify_req req = {.client_ip = "10.1.2.3", .service = "cos"};
    assert_int_equal(lk_user_add(f->ctx, 100, LK_USER_ROOT, 0), LK_OK);
    assert_int_equal(lk_key_create(f->ctx, 100, &k, &sk), LK_OK);
    lk_secret_free(sk);
    assert_int_equal(lk_config_set(f->cfg, "records.flush_batch", "1"), LK_OK);
    lk_close(f->ctx);
    assert_int_equal(lk_open_config(f->cfg, &f->ctx), LK_OK);
    lk_set_auto_flush(f->ctx, 0);
    assert_int_equal(lk_record_refusal(f->ctx, k.secret_id, &req, LK_DENY_THROTTLED), LK_OK);
    assert_int_equal(lk_record_refusal(f->ctx, k.secret_id, &req, LK_OK), LK_ERR_PARAM);
    assert_int_equal(lk_record_refusal(f->ctx, "nope", &req, LK_DENY_THROTTLED), LK_ERR_PARAM);
    /* flush_batch 1 would have written at once: with auto flush off it waits */
    lk_get_stats(f->ctx, &s);
    assert_true(s.records_flushed == 0);
    assert_int_equal(lk_records(f->ctx, k.secret_id, recs, &n, NULL), LK_OK);
    assert_int_equal(n, 1);
    assert_int_equal(recs[0].result, LK_DENY_THROTTLED);
    assert_string_equal(recs[0].client_ip, "10.1.2.3");
    assert_int_equal(lk_flush(f->ctx), LK_OK);
    lk_get_stats(f->ctx, &s);
    assert_true(s.records_flushed == 1);
    /* auto flush back on: the ctx's flusher thread writes a full batch, the
     * caller never calls lk_flush */
    lk_set_auto_flush(f->ctx, 1);
    assert_int_equal(lk_record_refusal(f->ctx, k.secret_id, &req, LK_DENY_THROTTLED), LK_OK);
    assert_true(wait_flushed(f->ctx, 2));
    /* a forked child has no flusher (the parent's thread is not there): its
     * first record starts its own, and the parent's keeps working */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(lk_record_refusal(f->ctx, k.secret_id, &req, LK_DENY_THROTTLED) == LK_OK && wait_flushed(f->ctx, 3)
                  ? 0
                  : 1);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(lk_record_refusal(f->ctx, k.secret_id, &req, LK_DENY_THROTTLED), LK_OK);
    assert_true(wait_flushed(f->ctx, 3));
    assert_int_equal(lk_records(f->ctx, k.secret_id, recs, &n, NULL), LK_OK);
    assert_int_equal(n, 4); /* the child's record too */
    assert_string_equal(lk_status_code(LK_DENY_THROTTLED), "AuthFailure.TooManyAttempts");
    assert_string_equal(lk_status_code(LK_DENY_LOGIN), "AuthFailure.LoginNotMatch");
    assert_true(lk_status_is_denial(LK_DENY_THROTTLED) && lk_status_is_denial(LK_DENY_LOGIN));
    assert_false(lk_status_is_denial(LK_ERR_BUSY));
}

/* A client-mode ctx (any remote table) refuses what needs the store. */
static lk_status no_verify_key(void *r, const char *a, const char *b, size_t c, const lk_verify_req *d,
                               lk_verify_info *e)
{
    (void)r, (void)a, (void)b, (void)c, (void)d, (void)e;
    return LK_DENY_UNKNOWN_KEY;
}
static lk_status no_verify_apikey(void *r, const char *a, size_t b, const lk_verify_req *c, lk_verify_info *d)
{
    (void)r, (void)a, (void)b, (void)c, (void)d;
    return LK_ERR_STORE;
}
static lk_status no_key_get(void *r, const char *a, lk_access_key *b)
{
    (void)r, (void)a, (void)b;
    return LK_ERR_STORE;
}
static lk_status no_apikey_get(void *r, const char *a, lk_apikey *b)
{
    (void)r, (void)a, (void)b;
    return LK_ERR_STORE;
}
static lk_status no_stats(void *r, lk_stats *s)
{
    (void)r;
    s->cache_hits = 5;
    return LK_OK;
}
static int closed;
static void count_close(void *r)
{
    (void)r;
    closed++;
}

static lk_status no_login_check(void *r, const char *login, lk_user *out)
{
    (void)r, (void)login, (void)out;
    return LK_ERR_INTERNAL;
}

static void test_remote_ctx(void **state)
{
    static const lk_remote_ops ops = {.verify_key = no_verify_key,
                                      .verify_apikey = no_verify_apikey,
                                      .key_get = no_key_get,
                                      .apikey_get = no_apikey_get,
                                      .stats = no_stats,
                                      .login_check = no_login_check,
                                      .close = count_close};
    lk_ctx *ctx;
    lk_stats s;
    lk_user u;
    lk_access_record recs[LK_RECORDS_MAX];
    size_t n;
    (void)state;
    assert_int_equal(lk_ctx_new_remote(&ops, NULL, &ctx), LK_OK);
    assert_int_equal(lk_verify_key(ctx, "x", "y", 1, NULL, NULL), LK_DENY_UNKNOWN_KEY);
    assert_int_equal(lk_verify_apikey(ctx, "x", 1, NULL, NULL), LK_ERR_STORE);
    assert_int_equal(lk_user_get(ctx, 1, &u), LK_ERR_PARAM);
    assert_non_null(strstr(lk_errmsg(NULL), "not available through latchkeyd"));
    assert_int_equal(lk_user_add(ctx, 1, LK_USER_ROOT, 0), LK_ERR_PARAM);
    assert_int_equal(lk_records(ctx, "AKIDx", recs, &n, NULL), LK_ERR_PARAM);
    assert_int_equal(lk_verify_key_cached(ctx, "x", "y", 1, NULL, NULL), LK_ERR_PARAM);
    assert_int_equal(lk_record_refusal(ctx, "x", NULL, LK_DENY_THROTTLED), LK_ERR_PARAM);
    assert_int_equal(lk_flush(ctx), LK_OK);
    lk_get_stats(ctx, &s);
    assert_true(s.cache_hits == 5 && s.argon2_verifies == 0);
    lk_close(ctx);
    assert_int_equal(closed, 1);
    /* lk_connect to nothing fails closed at once with a store-class status */
    assert_int_equal(lk_connect("/nonexistent/latchkeyd.sock", &ctx), LK_ERR_STORE);
    assert_null(ctx);
    assert_int_equal(lk_connect("/etc/passwd", &ctx), LK_ERR_STORE_PERM);
    assert_int_equal(lk_connect(NULL, &ctx), LK_ERR_PARAM);
}

/* ------------------------------------------------------------ lk_connect_endpoint */

/* A SecretId/SecretKey pair of the right shapes (no store needed). */
static void fake_pair(char id[LK_SECRET_ID_LEN + 1], char key[LK_SECRET_KEY_LEN + 1])
{
    lk_keyfmt_new_secret_id(id);
    lk_keyfmt_new_secret_key(key);
}

static lk_status connect_to(const char *url, const char *id, const char *key, lk_ctx **ctx)
{
    lk_endpoint_conf c = {.url = url, .secret_id = id, .secret_key = key, .secret_key_len = key ? strlen(key) : 0};
    return lk_connect_endpoint(&c, ctx);
}

/* The URL and credential checks, made before anything is sent; and an
 * endpoint ctx refuses what the API does not serve (the socket client's
 * members are NULL in its table), without crashing. */
static void test_endpoint(void **state)
{
    char id[LK_SECRET_ID_LEN + 1], key[LK_SECRET_KEY_LEN + 1], path[] = "/tmp/lk-test-cred.XXXXXX";
    lk_ctx *ctx = NULL;
    lk_stats st;
    lk_access_key k;
    lk_secret *sec = NULL;
    (void)state;
    fake_pair(id, key);
    assert_int_equal(connect_to("ftp://127.0.0.1:1/", id, key, &ctx), LK_ERR_PARAM);
    assert_int_equal(connect_to("http://192.0.2.1:1/", id, key, &ctx), LK_ERR_PARAM);
    assert_non_null(strstr(lk_errmsg(NULL), "only to a loopback address"));
    assert_int_equal(connect_to("https://user:pw@example.com/", id, key, &ctx), LK_ERR_PARAM);
    assert_int_equal(connect_to("not a url", id, key, &ctx), LK_ERR_PARAM);
    assert_int_equal(connect_to(NULL, id, key, &ctx), LK_ERR_PARAM);
    assert_null(ctx);
    /* an API key is not a caller; nor is a malformed pair; the secret is never in the message */
    assert_int_equal(connect_to("http://127.0.0.1:1/", "lk-abcdefghijkl", key, &ctx), LK_ERR_CONFIG);
    assert_non_null(strstr(lk_errmsg(NULL), "API key"));
    assert_int_equal(connect_to("http://127.0.0.1:1/", id, "LKSKshort", &ctx), LK_ERR_CONFIG);
    assert_null(strstr(lk_errmsg(NULL), "LKSKshort"));

    /* a credentials file: 0600 and well-formed, else refused */
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    dprintf(fd, "# test\n  secret_id = %s  \n\nsecret_key=%s\n", id, key);
    close(fd);
    lk_endpoint_conf c = {.url = "http://[::1]:1/", .credentials_file = path};
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(lk_connect_endpoint(&c, &ctx), LK_ERR_CONFIG);
    assert_non_null(strstr(lk_errmsg(NULL), "open to group or others"));
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(lk_connect_endpoint(&c, &ctx), LK_OK);
    assert_non_null(ctx);

    /* what the management API does not serve */
    assert_int_equal(lk_verify_key(ctx, id, key, strlen(key), NULL, NULL), LK_ERR_PARAM);
    assert_int_equal(lk_verify_apikey(ctx, "x", 1, NULL, NULL), LK_ERR_PARAM);
    assert_int_equal(lk_login_check(ctx, "alice", NULL), LK_ERR_PARAM);
    assert_int_equal(lk_user_add(ctx, 1, LK_USER_ROOT, 0), LK_ERR_PARAM);
    /* an expiry before 1970 is refused before anything is sent */
    assert_int_equal(lk_key_create_expiring(ctx, 1, -5, &k, &sec), LK_ERR_PARAM);
    assert_null(sec);
    lk_get_stats(ctx, &st);
    assert_true(st.argon2_verifies == 0 && st.cache_hits == 0);
    assert_int_equal(lk_flush(ctx), LK_OK);
    /* nothing listens on [::1]:1: fails closed, a store-class status */
    assert_int_equal(lk_key_set_status(ctx, id, 0, LK_KEY_INACTIVE), LK_ERR_STORE);
    assert_non_null(strstr(lk_errmsg(NULL), "cannot reach the management API"));
    /* a key with an expiry (CreateAccessKey's ExpireTime) and one key's description (ListAccessKeys by
     * AccessKeyId) are the API's: sent, so unreachable here */
    assert_int_equal(lk_key_get(ctx, id, &k), LK_ERR_STORE);
    assert_int_equal(lk_key_create_expiring(ctx, 1, 4102444800, &k, &sec), LK_ERR_STORE);
    assert_null(sec);
    assert_int_equal(lk_key_delete(ctx, "AKIDbad", 0), LK_ERR_PARAM); /* checked before sending */
    lk_close(ctx);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test_setup_teardown(test_cached_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_refusal_and_auto_flush, setup, teardown),
        cmocka_unit_test(test_remote_ctx),
        cmocka_unit_test(test_endpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
