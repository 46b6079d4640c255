/*
 * fuzz_keys — the key string checks (core/keyfmt.c) and the two verify
 * entry points, lk_verify_key and lk_verify_apikey, on small real stores
 * (one LMDB, one flat file, same keys; cheapest Argon2id parameters).
 *
 * First byte selects the mode:
 *  0  raw: lk_keyfmt_{secret_id,secret_key,apikey,apikey_id}_ok on the rest
 *     (an exact-size buffer, no NUL). Accepted ⇒ right length, prefix and
 *     alphabet.
 *  1  mutation: a real key with one character replaced (position and byte
 *     from the input) is always refused: the 32-bit CRC written as 6 base62
 *     digits catches every single-character change.
 *  2  lk_verify_key with a SecretId and SecretKey built from the input, each
 *     optionally starting from a real one (active or disabled) and then
 *     changed. The secret is passed as an exact-size buffer without NUL.
 *  3  lk_verify_apikey likewise, with a client address and service.
 *
 * Invariants for 2 and 3: the verdict is one of the documented statuses
 * (never LK_ERR_STORE/INTERNAL: the store is intact); LK_OK only for the
 * exact real secret of an active key whose allowlist and scope admit the
 * request; never LK_DENY_DISABLED, LK_DENY_IP or LK_DENY_SCOPE (refused
 * before the secret is checked, a request is answered as a wrong secret:
 * issue 19), and a well-formed secret for a disabled key gets
 * LK_DENY_BAD_SECRET whether right or wrong; both backends give the same
 * verdict; on LK_OK, info names the key and its owner.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "lk_internal.h"
#include "lk_ip.h"

#define NB 2
static lk_ctx *ctxs[NB];
static const char *const backends[NB] = {"lmdb", "flatfile"};

static char sid_on[LK_SECRET_ID_LEN + 1], sk_on[LK_SECRET_KEY_LEN + 1];
static char sid_off[LK_SECRET_ID_LEN + 1], sk_off[LK_SECRET_KEY_LEN + 1];
/* API keys: [0] allowlist + scope, [1] open, [2] disabled */
static char ak[3][LK_APIKEY_LEN + 1];
static const char *const allow[] = {"10.0.0.0/8", "2001:db8::/32", "192.0.2.7"};
static const char *const scope[] = {"cvm", "cos.read"};

#define ROOT 1000

static void die(const char *what, lk_status st)
{
    fprintf(stderr, "fuzz_keys setup: %s: %s: %s\n", what, lk_status_code(st), lk_errmsg(NULL));
    abort();
}

#define SETUP(call)                                                                                               \
    do {                                                                                                         \
        lk_status st_ = (call);                                                                                  \
        if (st_ != LK_OK)                                                                                        \
            die(#call, st_);                                                                                     \
    } while (0)

static void copy_secret(char *dst, lk_secret *s, size_t len)
{
    FUZZ_CHECK(lk_secret_len(s) == len);
    memcpy(dst, lk_secret_str(s), len + 1);
    lk_secret_free(s);
}

/* The same keys in both stores: created in the first, copied record by
 * record (hashes included) into the second through the backend vtable. */
static int copy_cb(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    lk_txn *dst = arg;
    lk_status st = dst->ctx->ops->put(dst->t, k, kl, v, vl);
    FUZZ_CHECK(st == LK_OK);
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    char dir[] = "/dev/shm/lk-fuzz-keys-XXXXXX";
    char dir2[] = "/tmp/lk-fuzz-keys-XXXXXX";
    const char *d = mkdtemp(dir);
    if (d == NULL)
        d = mkdtemp(dir2);
    FUZZ_CHECK(d != NULL);

    for (int b = 0; b < NB; b++) {
        lk_config *cfg;
        char path[256];
        snprintf(path, sizeof path, "%s/store-%s", d, backends[b]);
        SETUP(lk_config_default(&cfg));
        SETUP(lk_config_set(cfg, "store.backend", backends[b]));
        SETUP(lk_config_set(cfg, "store.path", path));
        SETUP(lk_config_set(cfg, "store.map_size_mb", "16"));
        SETUP(lk_config_set(cfg, "hash.opslimit", "1"));
        SETUP(lk_config_set(cfg, "hash.memlimit_kib", "8"));
        SETUP(lk_config_set(cfg, "cache.entries", "8"));
        SETUP(lk_store_create(cfg));
        SETUP(lk_open_config(cfg, &ctxs[b]));
        lk_config_free(cfg);
    }

    lk_ctx *c = ctxs[0];
    lk_secret *s;
    lk_access_key k;
    lk_apikey a;
    SETUP(lk_user_add(c, ROOT, LK_USER_ROOT, 0));
    SETUP(lk_key_create(c, ROOT, &k, &s));
    memcpy(sid_on, k.secret_id, sizeof sid_on);
    copy_secret(sk_on, s, LK_SECRET_KEY_LEN);
    SETUP(lk_key_create(c, ROOT, &k, &s));
    memcpy(sid_off, k.secret_id, sizeof sid_off);
    copy_secret(sk_off, s, LK_SECRET_KEY_LEN);
    SETUP(lk_key_set_status(c, sid_off, 0, LK_KEY_INACTIVE));

    lk_apikey_spec spec = {.name = "restricted", .description = "fuzz", .scope = scope, .scope_count = 2,
                           .allow_ip = allow, .allow_ip_count = 3};
    SETUP(lk_apikey_create(c, ROOT, &spec, &a, &s));
    lk_apikey_release(&a);
    copy_secret(ak[0], s, LK_APIKEY_LEN);
    lk_apikey_spec open_spec = {.name = "open"};
    SETUP(lk_apikey_create(c, ROOT, &open_spec, &a, &s));
    lk_apikey_release(&a);
    copy_secret(ak[1], s, LK_APIKEY_LEN);
    lk_apikey_spec off_spec = {.name = "off"};
    SETUP(lk_apikey_create(c, ROOT, &off_spec, &a, &s));
    copy_secret(ak[2], s, LK_APIKEY_LEN);
    SETUP(lk_apikey_set_status(c, a.id, LK_KEY_INACTIVE));
    lk_apikey_release(&a);

    lk_txn src, dst;
    SETUP(lk_txn_begin(ctxs[0], false, &src));
    SETUP(lk_txn_begin(ctxs[1], true, &dst));
    SETUP(lk_txn_scan(&src, "", copy_cb, &dst));
    lk_txn_abort(&src);
    SETUP(lk_txn_commit(&dst));
    return 0;
}

static void raw_mode(const uint8_t *d, size_t n)
{
    char *s = malloc(n ? n : 1);
    FUZZ_CHECK(s != NULL);
    memcpy(s, d, n);
    if (lk_keyfmt_secret_id_ok(s, n))
        FUZZ_CHECK(n == LK_SECRET_ID_LEN && memcmp(s, "AKID", 4) == 0);
    if (lk_keyfmt_secret_key_ok(s, n))
        FUZZ_CHECK(n == LK_SECRET_KEY_LEN && memcmp(s, "LKSK", 4) == 0);
    if (lk_keyfmt_apikey_ok(s, n))
        FUZZ_CHECK(n == LK_APIKEY_LEN && memcmp(s, "lk-", 3) == 0 && lk_keyfmt_apikey_id_ok(s, LK_APIKEY_ID_LEN));
    if (lk_keyfmt_apikey_id_ok(s, n))
        FUZZ_CHECK(n == LK_APIKEY_ID_LEN && memcmp(s, "lk-", 3) == 0);
    for (size_t i = 0; n > 4 && i < n; i++) /* accepted ⇒ base62 after the prefix */
        if (lk_keyfmt_secret_id_ok(s, n) || lk_keyfmt_secret_key_ok(s, n))
            FUZZ_CHECK(i < 4 || (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z') ||
                       (s[i] >= 'a' && s[i] <= 'z'));
    free(s);
}

static void mutation_mode(fz_in *in)
{
    const char *keys[] = {sid_on, sk_on, ak[0], ak[1]};
    const char *k = keys[fz_u8(in) % 4];
    size_t len = strlen(k);
    char buf[LK_APIKEY_LEN + 1];
    memcpy(buf, k, len + 1);
    size_t pos = fz_u8(in) % len;
    char c = (char)fz_u8(in);
    if (c == buf[pos])
        return;
    buf[pos] = c;
    FUZZ_CHECK(!lk_keyfmt_secret_id_ok(buf, len));
    FUZZ_CHECK(!lk_keyfmt_secret_key_ok(buf, len));
    FUZZ_CHECK(!lk_keyfmt_apikey_ok(buf, len));
    /* the unchanged key is still fine (sanity of the check itself) */
    FUZZ_CHECK(lk_keyfmt_secret_id_ok(k, len) || lk_keyfmt_secret_key_ok(k, len) || lk_keyfmt_apikey_ok(k, len));
}

/* A string that may start from `base`, then get edits from the input. */
static char *make_text(fz_in *in, const char *base, size_t *len)
{
    uint8_t how = fz_u8(in);
    if (base == NULL || (how & 3) == 0)
        return fz_str(in, 256, len);
    size_t bl = strlen(base);
    char *s = malloc(bl + 2);
    FUZZ_CHECK(s != NULL);
    memcpy(s, base, bl + 1);
    *len = bl;
    switch (how & 3) {
    case 1: /* exact */
        break;
    case 2: { /* one byte changed */
        size_t pos = fz_u8(in) % bl;
        s[pos] = (char)fz_u8(in);
        break;
    }
    default: /* cut or extended by one */
        if (how & 4)
            *len = fz_u8(in) % bl;
        else
            s[(*len)++] = (char)fz_u8(in);
        s[*len] = '\0';
        break;
    }
    return s;
}

static bool is_verdict(lk_status st)
{
    return st == LK_OK || lk_status_is_denial(st);
}

static void verify_key_mode(fz_in *in)
{
    uint8_t pick = fz_u8(in);
    const char *id_base = (pick & 3) == 1 ? sid_on : (pick & 3) == 2 ? sid_off : NULL;
    const char *sk_base = (pick & 12) == 4 ? sk_on : (pick & 12) == 8 ? sk_off : NULL;
    size_t idl, skl;
    char *id = make_text(in, id_base, &idl);
    char *skt = make_text(in, sk_base, &skl);
    char *sk = malloc(skl ? skl : 1); /* exact size, no NUL */
    FUZZ_CHECK(sk != NULL);
    memcpy(sk, skt, skl);

    bool id_is_on = strcmp(id, sid_on) == 0, id_is_off = strcmp(id, sid_off) == 0;
    bool right = id_is_on && skl == LK_SECRET_KEY_LEN && memcmp(sk, sk_on, skl) == 0;
    lk_status first = LK_OK;
    for (int b = 0; b < NB; b++) {
        lk_verify_info info;
        lk_verify_req req = {.client_ip = (pick & 16) ? "10.1.2.3" : NULL, .service = (pick & 32) ? "cvm" : NULL};
        lk_status st = lk_verify_key(ctxs[b], id, sk, skl, (pick & 64) ? &req : NULL, &info);
        if (!is_verdict(st))
            fprintf(stderr, "verify_key on %s: %s: %s\n", backends[b], lk_status_code(st), lk_errmsg(NULL));
        FUZZ_CHECK(is_verdict(st));
        FUZZ_CHECK((st == LK_OK) == right);
        FUZZ_CHECK(st != LK_DENY_DISABLED && st != LK_DENY_IP && st != LK_DENY_SCOPE);
        if (id_is_off && lk_keyfmt_secret_key_ok(sk, skl))
            FUZZ_CHECK(st == LK_DENY_BAD_SECRET); /* no hint whether the secret was right, or of the state */
        if (st == LK_OK) {
            FUZZ_CHECK(info.uin == ROOT && strcmp(info.key_id, sid_on) == 0);
        }
        if (b == 0)
            first = st;
        else
            FUZZ_CHECK(st == first);
    }
    free(id);
    free(skt);
    free(sk);
}

static void verify_apikey_mode(fz_in *in)
{
    uint8_t pick = fz_u8(in);
    const char *base = (pick & 3) == 3 ? NULL : ak[pick & 3];
    size_t kl, ipl, svl;
    char *kt = make_text(in, base, &kl);
    char *key = malloc(kl ? kl : 1);
    FUZZ_CHECK(key != NULL);
    memcpy(key, kt, kl);
    char *ip = fz_str(in, 80, &ipl);
    char *svc = fz_str(in, 80, &svl);
    lk_verify_req req = {.client_ip = (pick & 4) ? NULL : ip, .service = (pick & 8) ? NULL : svc};

    int which = -1;
    for (int i = 0; i < 3; i++)
        if (kl == LK_APIKEY_LEN && memcmp(key, ak[i], kl) == 0)
            which = i;
    bool expect_ok = which == 1;
    if (which == 0) {
        lk_cidr c;
        /* a key restricted to services needs one named: NULL and "" are refused */
        bool ip_ok = false, svc_ok = false;
        bool svc_named = req.service != NULL && req.service[0] != '\0';
        if (req.client_ip != NULL && lk_ip_parse(req.client_ip, &c) == LK_OK)
            for (int i = 0; i < 3; i++) {
                lk_cidr net;
                FUZZ_CHECK(lk_cidr_parse(allow[i], &net) == LK_OK);
                ip_ok |= lk_cidr_match(&net, &c) == 1;
            }
        for (int i = 0; i < 2 && svc_named && !svc_ok; i++)
            svc_ok = strcmp(req.service, scope[i]) == 0;
        expect_ok = ip_ok && svc_ok;
    }

    /* A malformed request is the caller's error, whatever the key. */
    lk_cidr any;
    bool req_ok = (req.client_ip == NULL || req.client_ip[0] == '\0' || lk_ip_parse(req.client_ip, &any) == LK_OK) &&
                  (req.service == NULL || req.service[0] == '\0' ||
                   lk_service_name_ok(req.service, strlen(req.service)));

    lk_status first = LK_OK;
    for (int b = 0; b < NB; b++) {
        lk_verify_info info;
        lk_status st = lk_verify_apikey(ctxs[b], key, kl, (pick & 16) ? NULL : &req, &info);
        if (!(pick & 16) && !req_ok) {
            FUZZ_CHECK(st == LK_ERR_PARAM);
            continue;
        }
        if (!is_verdict(st))
            fprintf(stderr, "verify_apikey on %s: %s: %s\n", backends[b], lk_status_code(st), lk_errmsg(NULL));
        FUZZ_CHECK(is_verdict(st));
        if (pick & 16) /* no request at all: the allowlisted key must refuse */
            FUZZ_CHECK((st == LK_OK) == (which == 1));
        else
            FUZZ_CHECK((st == LK_OK) == expect_ok);
        FUZZ_CHECK(st != LK_DENY_DISABLED && st != LK_DENY_IP && st != LK_DENY_SCOPE);
        if (st == LK_OK)
            FUZZ_CHECK(info.uin == ROOT && memcmp(info.key_id, key, LK_APIKEY_ID_LEN) == 0 &&
                       info.key_id[LK_APIKEY_ID_LEN] == '\0');
        if (b == 0)
            first = st;
        else
            FUZZ_CHECK(st == first);
    }
    free(kt);
    free(key);
    free(ip);
    free(svc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    fz_in in = {data + 1, size - 1};
    switch (data[0] % 4) {
    case 0: raw_mode(data + 1, size - 1); break;
    case 1: mutation_mode(&in); break;
    case 2: verify_key_mode(&in); break;
    default: verify_apikey_mode(&in); break;
    }
    return 0;
}
