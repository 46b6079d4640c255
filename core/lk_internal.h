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
#include "lk_ip.h"
#include "lk_remote.h"

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
/* v in decimal, as printf's "%lld" writes it; the length (no NUL). */
#define LK_I64_STRLEN 21 /* "-9223372036854775808" and the NUL */
size_t lk_fmt_i64(char buf[LK_I64_STRLEN], int64_t v);
void lk_rec_add_list(lk_rec *r, const char *name, const char *const *items, size_t n);
/* A field copied from another record: val is already escaped. */
void lk_rec_add_escaped(lk_rec *r, const char *name, size_t nlen, const char *val, size_t vlen);
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
/* Several fields in one pass: vals[i]/vlens[i] get the first field called
 * names[i] (as lk_rec_find); bit i of the result is set for each one found.
 * n <= 32. */
uint32_t lk_rec_find_many(const char *rec, size_t len, const char *const *names, size_t n, const char **vals,
                          size_t *vlens);
bool lk_rec_parse_u64(const char *val, size_t vlen, uint64_t *out);
bool lk_rec_parse_i64(const char *val, size_t vlen, int64_t *out);
/* A ','-separated list into one malloc'd block: *items (array) followed by
 * the strings. max_items/max_len bound it. false on malformed or NOMEM (*oom). */
bool lk_rec_parse_list(const char *val, size_t vlen, size_t max_items, size_t max_len, char ***items, size_t *n,
                       bool *oom);
/* The same into the caller's buf (at least vlen + max_items bytes), items[]
 * pointing into it: no allocation. false when malformed or buf is short. */
bool lk_rec_parse_list_in(const char *val, size_t vlen, size_t max_items, size_t max_len, char *buf, size_t bufsz,
                          char **items, size_t *n);
/* Make room for one more element in a malloc'd array of *cap elements
 * holding n (doubling from `first`): the array, perhaps moved, or NULL on
 * NOMEM with the array and *cap unchanged. */
void *lk_grow(void *items, size_t *cap, size_t n, size_t elem_size, size_t first);
/* Copy a list of strings into one malloc'd block, as above. NULL on NOMEM. */
char **lk_strlist_dup(const char *const *items, size_t n);

/* ------------------------------------------------------------ text checks (text.c) */

bool lk_utf8_valid(const char *s, size_t len);
/* Printable: valid UTF-8 without C0/C1 control characters, DEL, bidi
 * formatting characters (U+061C, U+200E-F, U+202A-E, U+2066-9) or line
 * separators (U+2028-9). */
bool lk_text_ok(const char *s, size_t len);
/* Why s is not lk_text_ok, for a message ("contains a control character
 * (U+009B)"), written into buf; NULL when it is. */
const char *lk_text_fault(const char *s, size_t len, char *buf, size_t bufsz);
/* For a name that is lk_text_ok: why it cannot be a name ("is empty or only
 * white space", "begins with white space", "ends with white space"), or
 * NULL. White space includes no-break and zero-width spaces. */
const char *lk_name_fault(const char *s, size_t len);
bool lk_service_name_ok(const char *s, size_t len);
/* Quote untrusted text for a message: credentials cut to their public part
 * (lk_redact), printable ASCII kept, others as \xNN, cut at 40 chars with
 * "...". */
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
/* The stored hash was made with other parameters than hash.opslimit /
 * hash.memlimit_kib now say, and this ctx may write the store. */
bool lk_hash_outdated(const lk_ctx *ctx, const char *hash);
/* After a successful verify of secret against old_hash: store a hash with
 * the configured parameters in the record at store_key (one write txn),
 * unless the record no longer holds old_hash. Best effort: a failure keeps
 * the old hash (still valid) and the caller's verdict and message. */
void lk_hash_upgrade(lk_ctx *ctx, const char *id, const char *store_key, const char *old_hash, const char *secret,
                     size_t len);

/* ------------------------------------------------------------ verified-secret cache (cache.c) */

typedef struct lk_cache lk_cache;
typedef struct lk_rates lk_rates; /* ratelimit.c */
/* NULL (no cache) when entries == 0 or on NOMEM. */
lk_cache *lk_cache_new(size_t entries);
void lk_cache_free(lk_cache *c);
/* true when (id, stored hash, secret) passed Argon2id earlier in this process. */
bool lk_cache_check(lk_cache *c, const char *id, const char *hash, const char *secret, size_t len);
void lk_cache_put(lk_cache *c, const char *id, const char *hash, const char *secret, size_t len);
void lk_cache_evict(lk_cache *c, const char *id);
/* In a forked child, before any other thread can use c: new stripe locks
 * (a parent thread may have held one; it does not exist here) and no
 * entries (one may have been mid-update). */
void lk_cache_reset_after_fork(lk_cache *c);

/* ------------------------------------------------------------ the context (ctx.c) */

/* A queued attempt. The verifying thread parses; the flusher formats
 * (rec.client_ip is filled from ip when the record is written or read). */
typedef struct lk_pending_record {
    char key_id[LK_SECRET_ID_LEN + 1];
    bool has_ip;
    uint64_t key_hash;          /* of key_id: the flush groups by it, the last-access map finds by it */
    lk_cidr ip;
    lk_access_record rec;
} lk_pending_record;

/* key id -> newest attempt time among queued records (records.c), so the
 * last access time needs no scan of the queue. Open addressing. */
typedef struct lk_last_entry {
    char key_id[LK_SECRET_ID_LEN + 1]; /* "" = free */
    int64_t time;                       /* 0 after the key's records were dropped */
} lk_last_entry;
typedef struct lk_last_map {
    lk_last_entry *e;
    size_t cap, n; /* cap a power of two, or 0 */
} lk_last_map;

struct lk_ctx {
    const lk_remote_ops *remote_ops; /* non-NULL: a client of latchkeyd; nothing below is used */
    void *remote;
    lk_config cfg;              /* owned copies of the strings */
    const lk_backend_ops *ops;
    void *backend;
    _Atomic pid_t pid;          /* owner of `backend` (published after it); a forked child reopens */
    _Atomic pid_t lock_pid;     /* process whose lock, cache and queue are valid; -pid while it resets them */
    /* A page the kernel zeroes in a forked child (MADV_WIPEONFORK): non-zero
     * while lock_pid is this process's, so lk_ctx_adopt needs no getpid().
     * NULL where the kernel lacks it (then one getpid per call). */
    _Atomic int *fork_canary;
    /* "$argon2id$v=19$m=...,t=...,p=1$": a stored hash that begins so has the
     * configured cost (lk_hash_outdated without decoding it on every verify). */
    char hash_params[64];
    /* lk_store_generation (under `lock`): the backend's change token and
     * the stored counter last seen, and the number handed out. */
    uint64_t gen_epoch, gen_token, gen_stored, gen_public;
    bool read_only;             /* the store could only be opened for reading */
    pthread_mutex_t lock;       /* backend reopen, pending records: through lk_ctx_lock */
    lk_cache *cache;
    lk_pending_record *pending;
    size_t npending, pending_cap;
    int64_t pending_since_ms;   /* monotonic time of the oldest pending record */
    /* The automatic flush (records.c): a thread of the ctx's own, started on
     * the first queued record, so no verifying thread ever writes. */
    pthread_cond_t flush_cond;  /* with `lock`: a record queued, a batch full, stop */
    pthread_t flusher;
    bool flusher_running;       /* this process has started `flusher` (under `lock`) */
    bool flusher_stop;          /* lk_close asks it to end (under `lock`) */
    pthread_mutex_t flush_lock; /* one flush at a time, held from taking the queue to commit */
    lk_pending_record *inflight; /* the queue a flush took and has not committed (under `lock`) */
    size_t ninflight;
    lk_pending_record *spare;   /* a written queue's buffer, reused (under `lock`) */
    size_t spare_cap;
    lk_last_map last_pending, last_inflight; /* newest time per key in pending / inflight (under `lock`) */
    atomic_bool no_auto_flush;  /* lk_set_auto_flush(ctx, 0): only lk_flush writes records */
    int64_t (*now)(void *arg);
    void *now_arg;
    _Atomic(lk_rates *) rates;  /* per-key request limits (ratelimit.c); made by the first limited key */
    _Atomic uint64_t st_argon2, st_cache_hits, st_early, st_flushed;
};

int64_t lk_now(lk_ctx *ctx);
/* A page that a forked child sees zeroed (MADV_WIPEONFORK), holding 1:
 * reading 1 proves no fork happened since it was last set, with no system
 * call. NULL where the kernel lacks it (ask getpid()). */
_Atomic int *lk_fork_canary_new(void);
void lk_fork_canary_free(_Atomic int *c);

/* The refusal of a call a remote ctx cannot make (and NULL ctx): returns
 * LK_ERR_PARAM with a message naming fn, or LK_OK for a local ctx. */
lk_status lk_ctx_local_only(const lk_ctx *ctx, const char *fn);
/* On a remote ctx: the call through the remote table's member op, or
 * LK_ERR_PARAM when that client does not serve it (lk_ctx_local_only's
 * message). On a local ctx: nothing, the caller goes on. */
#define LK_REMOTE_CALL(ctx, op, ...)                                                                     \
    do {                                                                                                 \
        if ((ctx) != NULL && (ctx)->remote_ops != NULL)                                                  \
            return (ctx)->remote_ops->op != NULL ? (ctx)->remote_ops->op((ctx)->remote, __VA_ARGS__)     \
                                                 : lk_ctx_local_only(ctx, __func__);                     \
    } while (0)
#define LK_LOCAL_ONLY(ctx)                                     \
    do {                                                       \
        lk_status local_only_st_ = lk_ctx_local_only(ctx, __func__); \
        if (local_only_st_ != LK_OK)                           \
            return local_only_st_;                             \
    } while (0)
/* Make the ctx's in-memory state usable in the calling process: in a forked
 * child, the first call re-initialises its locks, wipes its cache and drops
 * the parent's queued records. Cheap otherwise (one load of the fork
 * canary; no system call). Returns the calling process's pid. */
pid_t lk_ctx_adopt(lk_ctx *ctx);
/* ctx->lock, after lk_ctx_adopt: every user of ctx->lock goes through these. */
void lk_ctx_lock(lk_ctx *ctx);
void lk_ctx_unlock(lk_ctx *ctx);
/* Backend handle for this process (adopts, and reopens the store after fork). */
lk_status lk_ctx_backend(lk_ctx *ctx, void **backend);

/* A transaction over the ctx's backend. */
typedef struct lk_txn {
    lk_ctx *ctx;
    void *t;
    bool keys_changed; /* wrote something other than access records: commit bumps LK_KEY_GENERATION */
} lk_txn;
/* The store's change counter (lk_store_generation): one more in every write
 * txn that changes anything but access records ("r/..."). */
#define LK_KEY_GENERATION "g"
lk_status lk_txn_begin(lk_ctx *ctx, bool write, lk_txn *txn);
lk_status lk_txn_commit(lk_txn *txn);
void lk_txn_abort(lk_txn *txn);
lk_status lk_txn_get(lk_txn *txn, const char *key, const char **val, size_t *vlen);
lk_status lk_txn_put(lk_txn *txn, const char *key, const lk_rec *rec);
lk_status lk_txn_put_raw(lk_txn *txn, const char *key, const char *val, size_t vlen);
lk_status lk_txn_del(lk_txn *txn, const char *key);
lk_status lk_txn_scan(lk_txn *txn, const char *prefix, lk_scan_fn fn, void *arg);
/* The txn will get these keys: a backend that can fetches them at once. */
lk_status lk_txn_prefetch(lk_txn *txn, const char *const *keys, size_t n);
/* Number of keys under prefix. */
lk_status lk_txn_count(lk_txn *txn, const char *prefix, size_t *count);

/* ------------------------------------------------------------ store layout (keys) */
/* u/UIN20            user
 * k/SECRETID         access key           uk/UIN20/SECRETID   index
 * a/APIKEYID         API key              ua/UIN20/APIKEYID   index
 * an/UIN20/NAME%     API key id by name
 * r/KEYID            access records + last access time
 * g                  change counter: + 1 by every write txn that changes anything but r/
 * ul/LOGIN           uin bound to a login name
 * UINs are zero-padded to 20 digits so lists come out in numeric order. */
#define LK_KEYBUF 256
void lk_key_user(char *buf, uint64_t uin);
void lk_key_ak(char *buf, const char *secret_id);
void lk_key_ak_index(char *buf, uint64_t uin, const char *secret_id); /* secret_id "" → prefix */
void lk_key_api(char *buf, const char *id);
void lk_key_api_index(char *buf, uint64_t uin, const char *id);
void lk_key_api_name(char *buf, uint64_t uin, const char *name);
void lk_key_records(char *buf, const char *key_id);
void lk_key_login(char *buf, const char *login);

/* users.c */
lk_status lk_user_load(lk_txn *txn, uint64_t uin, lk_user *out);
bool lk_uin_ok(uint64_t uin);

/* users.c: the two halves of lk_user_add_self_service, for lk_import too.
 * The checks that need no store (*root_uin becomes uin for a root), then the
 * insert inside a write txn, with its audit entry. */
lk_status lk_user_new_check(uint64_t uin, lk_user_kind kind, uint64_t *root_uin, const char *login,
                            lk_self_service self);
lk_status lk_user_new_insert(lk_ctx *ctx, lk_txn *txn, uint64_t uin, lk_user_kind kind, uint64_t root_uin,
                             const char *login, lk_self_service self);

/* apikeys.c, access_keys.c: a new key in three steps, for lk_import: _new
 * checks what needs no store, _hash makes the secret (handed to the
 * caller) and its Argon2id hash (outside any write txn), _insert stores it
 * inside the write txn with its audit entry (the owner, limits and name
 * checked there) and writes the new key's id; _free wipes what is left. */
typedef struct lk_api_draft lk_api_draft;
lk_status lk_api_draft_new(lk_ctx *ctx, uint64_t root_uin, const lk_apikey_spec *spec, lk_api_draft **out);
lk_status lk_api_draft_hash(lk_ctx *ctx, lk_api_draft *d, lk_secret **secret);
lk_status lk_api_draft_insert(lk_ctx *ctx, lk_txn *txn, const lk_api_draft *d, char id[LK_SECRET_ID_LEN + 1]);
void lk_api_draft_free(lk_api_draft *d);
typedef struct lk_ak_draft lk_ak_draft;
lk_status lk_ak_draft_new(lk_ctx *ctx, uint64_t uin, int64_t expire_time, lk_ak_draft **out);
lk_status lk_ak_draft_hash(lk_ctx *ctx, lk_ak_draft *d, lk_secret **secret);
lk_status lk_ak_draft_insert(lk_ctx *ctx, lk_txn *txn, lk_ak_draft *d, char id[LK_SECRET_ID_LEN + 1]);
void lk_ak_draft_free(lk_ak_draft *d);

/* logins.c: the login-name index (ul/LOGIN → uin) */
bool lk_login_ok(const char *login);
lk_status lk_login_invalid(const char *login); /* sets and returns LK_ERR_PARAM */
/* Index login → uin; LK_ERR_LOGIN_EXISTS when another user holds it. */
lk_status lk_login_bind(lk_txn *txn, uint64_t uin, const char *login);
lk_status lk_login_unbind(lk_txn *txn, const char *login);
/* May the credential key_id, owned by owner_uin, act as login? Sets *match. */
lk_status lk_login_matches(lk_txn *txn, uint64_t owner_uin, const char *key_id, const char *login, bool *match);
/* After the secret was checked: LK_OK, or LK_DENY_LOGIN with its message. */
lk_status lk_login_verdict(const char *key_id, const char *login, bool match);

/* access_keys.c: an access key's public record, inside txn (no last access time). */
lk_status lk_key_load(lk_txn *txn, const char *secret_id, lk_access_key *out);
/* Disable one access key / API key inside a write txn; *changed when it was Active. */
lk_status lk_key_disable_in(lk_txn *txn, const char *secret_id, bool *changed);
lk_status lk_apikey_disable_in(lk_txn *txn, const char *id, bool *changed);

/* audit.c: append an entry about target (owned by uin) inside the write txn
 * of the change; fields is printf-style (never a secret; "" for none). */
lk_status lk_audit(lk_ctx *ctx, lk_txn *txn, const char *action, const char *target, uint64_t uin,
                   const char *fields, ...) __attribute__((format(printf, 6, 7)));

/* ctx.c: lk_open_config, and where the store is for a person: its path, or
 * a database server as host:port/db (never a password). */
lk_status lk_open_described(const lk_config *cfg, char *where, size_t where_size, lk_ctx **out);

/* A time as a person reads it everywhere (audit entries, messages):
 * lk_format_time's LK_TIMEFMT_TEXT. */
#define lk_fmt_time(t, buf) lk_format_time((t), LK_TIMEFMT_TEXT, (buf))

/* audit.c: what a change did, in words, for lk_audit_change: items
 * "what value" or "what from → to", joined by "; ", in the growable text
 * buffer of a record (lk_rec_init, lk_rec_free; not escaped). Adds that run
 * out of memory are remembered and reported by lk_audit_change. */
typedef lk_rec lk_change;
void lk_change_add(lk_change *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "what from → to", only when from and to differ. */
void lk_change_diff(lk_change *c, const char *what, const char *from, const char *to);
/* An expiry in words: "never" for 0, else lk_fmt_time. */
const char *lk_expiry_words(int64_t t, char buf[LK_TIME_STRLEN]);
/* lk_audit with c's text as its fields. */
lk_status lk_audit_change(lk_ctx *ctx, lk_txn *txn, const char *action, const char *target, uint64_t uin,
                          const lk_change *c);

/* authz.c: the caller set by lk_audit_caller, added to an entry's record
 * (nothing when none is set), and read back (false when malformed). */
void lk_audit_add_caller(lk_rec *rec);
/* The calling thread's lk_audit_reason ("" none): the endpoint client sends it as Reason. */
const char *lk_audit_reason_get(void);
bool lk_audit_read_caller(const char *v, size_t vl, lk_audit_entry *e);

/* lifecycle.c: the expiry rule, shared by both kinds of key. After the
 * secret was checked: LK_OK, or LK_DENY_EXPIRED with its message. */
lk_status lk_expiry_verdict(lk_ctx *ctx, const char *key_id, int64_t expire_time);
/* A new key's expiry: 0 or in the future, else LK_ERR_PARAM. */
lk_status lk_expiry_check_new(lk_ctx *ctx, int64_t expire_time);
/* The state of a key to be rotated, for lk_rotation_plan. */
typedef struct lk_rotation_state {
    const char *what, *id; /* "access key", its id: for messages */
    int64_t revoked;       /* when lk_revoke_user disabled it; 0: not */
    const char *next;      /* its successor from an earlier rotation; "": none */
    const char *next_key;  /* the successor's store key (looked up in the txn) */
    int64_t expire_time;
} lk_rotation_state;
/* Whether a key in state s may be rotated with o (inside txn), and the new key's expiry. */
lk_status lk_rotation_plan(lk_ctx *ctx, lk_txn *txn, const lk_rotation_state *s, const lk_rotate_opts *o,
                           int64_t *new_expiry);
/* The old key's expiry after a rotation with grace_seconds (>= 0, else LK_ERR_PARAM). */
lk_status lk_expiry_after_grace(lk_ctx *ctx, int64_t current, int64_t grace_seconds, int64_t *out);
/* The optional "expires" field of a record: 0 when absent; false when malformed. */
bool lk_rec_expires(const char *v, size_t vl, int64_t *out);
/* An API key record's optional fields in one pass: "expires" and "rate"
 * (N/W); 0 when absent; false when malformed. */
bool lk_rec_api_options(const char *v, size_t vl, int64_t *expires, uint32_t *rate, uint32_t *window);

/* ratelimit.c: per-key request counters of a ctx (fixed memory, striped locks). */
void lk_rates_free(lk_rates *r);
void lk_rates_reset_after_fork(lk_rates *r);
/* Count one request of key id under limit/window at now: LK_OK, or
 * LK_DENY_RATE_LIMIT (not counted) with its message. */
lk_status lk_rate_take(lk_ctx *ctx, const char *id, uint32_t limit, uint32_t window, int64_t now);

/* apikeys.c: load within an open transaction */
lk_status lk_apikey_load(lk_txn *txn, const char *id, lk_apikey *out);

/* records.c */
/* ip: req's client address as lk_verify_req_parse gave it, or NULL (none, or
 * not parsed yet: parsed here). */
void lk_record_attempt(lk_ctx *ctx, const char *key_id, const lk_verify_req *req, const lk_cidr *ip,
                       lk_status result);
/* lk_verify_req_check, keeping the client address it parsed (*has_ip false
 * when req names none): a verify parses it once. */
lk_status lk_verify_req_parse(const lk_verify_req *req, lk_cidr *ip, bool *has_ip);
lk_status lk_records_flush(lk_ctx *ctx);
/* Locks and state of the automatic flush: init at open; after fork (the
 * parent's flusher does not exist in the child); stop, join and destroy at close. */
void lk_flusher_init(lk_ctx *ctx);
void lk_flusher_reset_after_fork(lk_ctx *ctx);
void lk_flusher_stop(lk_ctx *ctx);
void lk_flusher_destroy(lk_ctx *ctx);
/* Wake the flusher to look again (lk_set_auto_flush changed). */
void lk_flusher_poke(lk_ctx *ctx);
/* In a forked child: the parent's queue, its buffers and maps are
 * abandoned (perhaps mid-update), not freed. At close: freed. */
void lk_records_forget(lk_ctx *ctx, bool free_them);
/* Drop a key's records in a write txn (key deleted) and its pending ones. */
lk_status lk_records_delete(lk_ctx *ctx, lk_txn *txn, const char *key_id);
int64_t lk_last_access(lk_ctx *ctx, lk_txn *txn, const char *key_id);
const char *lk_result_code(lk_status st);
lk_status lk_result_from_code(const char *code);

#endif
