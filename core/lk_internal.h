/*
 * lk_internal.h — what the core's files share: the context, key formats,
 * the text record codec, hashing and the verified-secret cache.
 * Not installed; plugins and tools see only latchkey.h.
 */
#ifndef LK_INTERNAL_H
#define LK_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include "latchkey.h"
#include "lk_backend.h"
#include "lk_config.h"
#include "lk_error.h"

/* ------------------------------------------------------------ key formats (keyfmt.c) */

#define LK_CHECKSUM_LEN 6
#define LK_SECRET_ID_PREFIX "AKID"
#define LK_SECRET_KEY_PREFIX "LKSK"
#define LK_APIKEY_PREFIX "lk-"
#define LK_PREFIX_LEN 4
#define LK_APIKEY_PREFIX_LEN 3
#define LK_RANDOM_SECRET_CHARS 36 /* 36 * log2(62) = 214 bits */

/* Fill out[0..n) with uniformly random base62 characters (randombytes_buf). */
void lk_b62_random(char *out, size_t n);
uint32_t lk_crc32(const void *data, size_t len);
/* Generate a key into out (which holds len+1 bytes; NUL-terminated). */
void lk_keyfmt_new_secret_id(char out[LK_SECRET_ID_LEN + 1]);
void lk_keyfmt_new_secret_key(char out[LK_SECRET_KEY_LEN + 1]);
void lk_keyfmt_new_apikey(char out[LK_APIKEY_LEN + 1]);
/* true when s[0..len) has the right prefix, length, alphabet and checksum. */
bool lk_keyfmt_secret_id_ok(const char *s, size_t len);
bool lk_keyfmt_secret_key_ok(const char *s, size_t len);
bool lk_keyfmt_apikey_ok(const char *s, size_t len);
/* An API key id: "lk-" + 12 base62 (no checksum: ids are looked up, not trusted). */
bool lk_keyfmt_apikey_id_ok(const char *s, size_t len);
/* first 5 + "***" + last 4 */
void lk_keyfmt_mask(const char *key, size_t len, char out[LK_APIKEY_MASKED_LEN + 1]);

/* ------------------------------------------------------------ text records (record.c) */

/* A record is one line of printable text: `name=value name=value ...`.
 * Values are %XX-escaped (space, %, control bytes, and ',' inside lists), so
 * the flat-file store stays readable and diffable. */
typedef struct lk_rec {
    char *buf;
    size_t len, cap;
    bool oom;
} lk_rec;

void lk_rec_init(lk_rec *r);
void lk_rec_free(lk_rec *r);
void lk_rec_add(lk_rec *r, const char *name, const char *val);
void lk_rec_add_u64(lk_rec *r, const char *name, uint64_t v);
void lk_rec_add_i64(lk_rec *r, const char *name, int64_t v);
void lk_rec_add_list(lk_rec *r, const char *name, const char *const *items, size_t n);
/* LK_OK, or LK_ERR_NOMEM if any add ran out of memory. */
lk_status lk_rec_status(const lk_rec *r);

typedef struct lk_rec_iter {
    const char *p, *end;
} lk_rec_iter;
void lk_rec_iter_init(lk_rec_iter *it, const char *rec, size_t len);
/* Next field; false at the end. name/val point into the record (still escaped). */
bool lk_rec_next(lk_rec_iter *it, const char **name, size_t *nlen, const char **val, size_t *vlen);
/* The first field called name; false if absent. */
bool lk_rec_find(const char *rec, size_t len, const char *name, const char **val, size_t *vlen);
/* Unescape into out (NUL-terminated); false if it does not fit or is malformed. */
bool lk_rec_unescape(const char *val, size_t vlen, char *out, size_t outsz);
bool lk_rec_parse_u64(const char *val, size_t vlen, uint64_t *out);
bool lk_rec_parse_i64(const char *val, size_t vlen, int64_t *out);
/* A ','-separated list into one malloc'd block: *items (array) followed by
 * the strings. max_items/max_len bound it. false on malformed or NOMEM (*oom). */
bool lk_rec_parse_list(const char *val, size_t vlen, size_t max_items, size_t max_len, char ***items, size_t *n,
                       bool *oom);
/* Make room for one more element in a malloc'd array of *cap elements
 * holding n (doubling from `first`): the array, perhaps moved, or NULL on
 * NOMEM with the array and *cap unchanged. */
void *lk_grow(void *items, size_t *cap, size_t n, size_t elem_size, size_t first);
/* Copy a list of strings into one malloc'd block, as above. NULL on NOMEM. */
char **lk_strlist_dup(const char *const *items, size_t n);

/* ------------------------------------------------------------ text checks (text.c) */

bool lk_utf8_valid(const char *s, size_t len);
/* Printable: valid UTF-8 with no control characters. */
bool lk_text_ok(const char *s, size_t len);
bool lk_service_name_ok(const char *s, size_t len);
/* Quote untrusted text for a message: printable ASCII kept, others as \xNN,
 * cut at 40 chars with "...". */
const char *lk_quote(const char *s, char *buf, size_t bufsz);

/* ------------------------------------------------------------ secrets and hashing (secret.c) */

struct lk_secret {
    size_t len;
    char str[];
};
/* A zeroed secret of len chars (+NUL) in sodium_malloc memory. */
lk_secret *lk_secret_new(size_t len);
/* Argon2id hash of secret into out (crypto_pwhash_STRBYTES). */
lk_status lk_hash_secret(const lk_config *cfg, const char *secret, size_t len, char *out, size_t outsz);
/* Constant-time in the secret. true when it matches. */
bool lk_hash_verify(const char *hash, const char *secret, size_t len);

/* ------------------------------------------------------------ verified-secret cache (cache.c) */

typedef struct lk_cache lk_cache;
/* NULL (no cache) when entries == 0 or on NOMEM. */
lk_cache *lk_cache_new(size_t entries);
void lk_cache_free(lk_cache *c);
/* true when (id, stored hash, secret) passed Argon2id earlier in this process. */
bool lk_cache_check(lk_cache *c, const char *id, const char *hash, const char *secret, size_t len);
void lk_cache_put(lk_cache *c, const char *id, const char *hash, const char *secret, size_t len);
void lk_cache_evict(lk_cache *c, const char *id);

/* ------------------------------------------------------------ the context (ctx.c) */

typedef struct lk_pending_record {
    char key_id[LK_SECRET_ID_LEN + 1];
    lk_access_record rec;
} lk_pending_record;

struct lk_ctx {
    lk_config cfg;              /* owned copies of the strings */
    const lk_backend_ops *ops;
    void *backend;
    pid_t pid;                  /* owner of `backend`; a forked child reopens */
    bool read_only;             /* the store could only be opened for reading */
    pthread_mutex_t lock;       /* backend reopen, pending records */
    lk_cache *cache;
    lk_pending_record *pending;
    size_t npending, pending_cap;
    int64_t pending_since_ms;   /* monotonic time of the oldest pending record */
    atomic_bool flushing;       /* an automatic records flush is running (records.c) */
    int64_t (*now)(void *arg);
    void *now_arg;
    _Atomic uint64_t st_argon2, st_cache_hits, st_early, st_flushed;
};

int64_t lk_now(lk_ctx *ctx);
/* Backend handle for this process (reopens after fork). */
lk_status lk_ctx_backend(lk_ctx *ctx, void **backend);

/* A transaction over the ctx's backend. */
typedef struct lk_txn {
    lk_ctx *ctx;
    void *t;
} lk_txn;
lk_status lk_txn_begin(lk_ctx *ctx, bool write, lk_txn *txn);
lk_status lk_txn_commit(lk_txn *txn);
void lk_txn_abort(lk_txn *txn);
lk_status lk_txn_get(lk_txn *txn, const char *key, const char **val, size_t *vlen);
lk_status lk_txn_put(lk_txn *txn, const char *key, const lk_rec *rec);
lk_status lk_txn_put_raw(lk_txn *txn, const char *key, const char *val, size_t vlen);
lk_status lk_txn_del(lk_txn *txn, const char *key);
lk_status lk_txn_scan(lk_txn *txn, const char *prefix, lk_scan_fn fn, void *arg);
/* Number of keys under prefix. */
lk_status lk_txn_count(lk_txn *txn, const char *prefix, size_t *count);

/* ------------------------------------------------------------ store layout (keys) */
/* u/UIN20            user
 * k/SECRETID         access key           uk/UIN20/SECRETID   index
 * a/APIKEYID         API key              ua/UIN20/APIKEYID   index
 * an/UIN20/NAME%     API key id by name
 * r/KEYID            access records + last access time
 * UINs are zero-padded to 20 digits so lists come out in numeric order. */
#define LK_KEYBUF 256
void lk_key_user(char *buf, uint64_t uin);
void lk_key_ak(char *buf, const char *secret_id);
void lk_key_ak_index(char *buf, uint64_t uin, const char *secret_id); /* secret_id "" → prefix */
void lk_key_api(char *buf, const char *id);
void lk_key_api_index(char *buf, uint64_t uin, const char *id);
void lk_key_api_name(char *buf, uint64_t uin, const char *name);
void lk_key_records(char *buf, const char *key_id);

/* users.c */
lk_status lk_user_load(lk_txn *txn, uint64_t uin, lk_user *out);
bool lk_uin_ok(uint64_t uin);

/* apikeys.c: load within an open transaction */
lk_status lk_apikey_load(lk_txn *txn, const char *id, lk_apikey *out);

/* records.c */
void lk_record_attempt(lk_ctx *ctx, const char *key_id, const lk_verify_req *req, lk_status result);
lk_status lk_records_flush(lk_ctx *ctx);
/* Drop a key's records in a write txn (key deleted) and its pending ones. */
lk_status lk_records_delete(lk_ctx *ctx, lk_txn *txn, const char *key_id);
int64_t lk_last_access(lk_ctx *ctx, lk_txn *txn, const char *key_id);
const char *lk_result_code(lk_status st);
lk_status lk_result_from_code(const char *code);

#endif
