/*
 * lk_proto.h — the latchkeyd wire protocol (version 1), shared by the
 * service (daemon/) and the client in liblatchkey (client/). This header is
 * the protocol's documentation; client/proto.c is its only codec.
 *
 * Transport: an AF_UNIX SOCK_STREAM socket (daemon.socket). The service
 * checks the peer's uid/gid with SO_PEERCRED on every connection; the client
 * checks the socket's owner (stat) and the server's uid (SO_PEERCRED) before
 * it sends a secret.
 *
 * Frames: every message is
 *
 *     u32 length             big-endian, bytes of the body that follows:
 *                            LKP_HEADER_LEN .. LKP_MAX_BODY (requests: ..
 *                            LKP_MAX_REQUEST). Anything else ends the
 *                            connection: the stream cannot be trusted.
 *     body:
 *       u8  op               LKP_OP_*
 *       u8  kind             0 request, 1 response (the service refuses a
                            frame of kind 1 as malformed)
 *       u16 reserved         0
 *       u32 request id       chosen by the client; the response carries it
 *       fields...            each: u8 type (LKP_F_*), u16 length (big-endian),
 *                            then length bytes
 *
 * Field kinds: u32 and u64 fields are exactly 4 and 8 bytes, big-endian;
 * text fields are 0..max bytes without NUL; the secret field is 1..256
 * bytes. A field may appear once, except LKP_F_SCOPE and LKP_F_ALLOW_IP
 * (repeated, one entry each). Every op lists the fields a request must and
 * may hold; an unknown field type, a duplicate, a field an op does not take,
 * a missing required one, or a bad length makes the body malformed: the
 * service answers InvalidParameter.ParamError and closes the connection.
 *
 * Handshake: the first request on a connection must be LKP_OP_HELLO with
 * LKP_F_VERSION = the highest version the client speaks; the response holds
 * the version the service will speak (<= the client's) or an error status,
 * after which the service closes the connection. Anything else first closes
 * the connection at once.
 *
 * Requests: any number per connection, one after the other or pipelined;
 * the service answers each one, not necessarily in order (an answer that
 * needs an Argon2id may come after a later cached one): match on the
 * request id. Every response holds LKP_F_STATUS_CODE, the CAM code of the
 * lk_status ("Success", "AuthFailure.SignatureFailure", ...: the code, not
 * the enum's number, so the two sides may be built from different
 * versions), and for a failure LKP_F_MESSAGE (never a secret).
 *
 * Timeouts: the service closes a connection whose handshake (from the
 * connect) or request (from its first byte) is not complete within
 * daemon.read_timeout_ms, however it trickles in; one whose unread answers
 * make no progress for as long; and one idle for daemon.idle_timeout_s.
 * It stops reading a connection while 16 KiB of its answers wait unread.
 * The client waits at most LKP_CLIENT_TIMEOUT_MS for any read or write.
 *
 * Secrets: LKP_F_SECRET is the only field that holds one. Both sides keep
 * the frames in sodium_malloc memory and wipe them after use; neither logs
 * a frame.
 *
 * Adding an op: a new LKP_OP_* number, a row in proto.c's op table (its
 * request fields), a handler in daemon/ops.c. An old service answers an
 * unknown op with InvalidParameter.ParamError and keeps the connection.
 */
#ifndef LK_PROTO_H
#define LK_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "latchkey.h"

#define LKP_VERSION 1u
#define LKP_LEN_PREFIX 4
#define LKP_HEADER_LEN 8
#define LKP_MAX_BODY 16384  /* a response with a full scope and allowlist fits */
#define LKP_MAX_REQUEST 4096 /* the largest request the service reads */
#define LKP_MAX_SECRET 256
#define LKP_MAX_TEXT 512
#define LKP_CLIENT_TIMEOUT_MS 15000

enum lkp_op {
    LKP_OP_HELLO = 1,         /* VERSION → VERSION */
    LKP_OP_PING = 2,          /* → (status only) */
    LKP_OP_VERIFY_KEY = 3,    /* SECRET_ID SECRET [CLIENT_IP SERVICE LOGIN FLAGS] → KEY_ID UIN */
    LKP_OP_VERIFY_APIKEY = 4, /* SECRET [CLIENT_IP SERVICE LOGIN FLAGS] → KEY_ID UIN */
    LKP_OP_KEY_STATUS = 5,    /* KEY_ID (a SecretId) → UIN KEY_STATUS CREATE_TIME LAST_ACCESS */
    LKP_OP_APIKEY_GET = 6,    /* KEY_ID (lk-...) → UIN (root) KEY_STATUS NAME DESCRIPTION MASKED
                               * CREATE_TIME LAST_ACCESS SCOPE* ALLOW_IP* */
    LKP_OP_STATS = 7,         /* → STAT_* */
    LKP_OP_LOGIN_CHECK = 8,   /* LOGIN → UIN (the account phase of PAM: lk_login_check) */
    LKP_OP_COUNT_
};

/* Field types. */
enum lkp_field {
    LKP_F_VERSION = 1,      /* u32 */
    LKP_F_SECRET_ID = 2,    /* text */
    LKP_F_SECRET = 3,       /* secret: a SecretKey, or the whole API key */
    LKP_F_CLIENT_IP = 4,    /* text */
    LKP_F_SERVICE = 5,      /* text */
    LKP_F_LOGIN = 6,        /* text */
    LKP_F_FLAGS = 7,        /* u32: LK_VERIFY_* (the service honours LK_VERIFY_SCOPE_BY_CALLER) */
    LKP_F_KEY_ID = 8,       /* text: SecretId or API key id */
    LKP_F_UIN = 9,          /* u64 */
    LKP_F_KEY_STATUS = 10,  /* u32: lk_key_status */
    LKP_F_SCOPE = 11,       /* text, repeated */
    LKP_F_ALLOW_IP = 12,    /* text, repeated */
    LKP_F_STATUS_CODE = 13, /* text: lk_status_code() */
    LKP_F_MESSAGE = 14,     /* text: lk_errmsg() */
    LKP_F_NAME = 15,        /* text */
    LKP_F_DESCRIPTION = 16, /* text */
    LKP_F_MASKED = 17,      /* text */
    LKP_F_CREATE_TIME = 18, /* u64 (int64 bits) */
    LKP_F_LAST_ACCESS = 19, /* u64 (int64 bits) */
    LKP_F_STATS = 20,       /* LKP_NSTATS u64s: lkp_stat order */
    LKP_F_EXPIRE_TIME = 21, /* u64 (int64 bits): KEY_STATUS / APIKEY_GET answers, sent only for a key
                             * that has an expiry (a client older than the field refuses that
                             * answer as malformed: fails closed) */
    LKP_F_RATE_LIMIT = 22,  /* u64: requests << 32 | window seconds; APIKEY_GET answers, only for a
                             * key that has a limit (same compatibility note as EXPIRE_TIME) */
    LKP_F_COUNT_
};

/* The counters of a STATS response, in wire order. Appending is a new
 * version: the length of LKP_F_STATS is checked exactly. */
enum lkp_stat {
    LKP_STAT_ARGON2,      /* full Argon2id verifications */
    LKP_STAT_CACHE_HITS,  /* answered by the verified-secret cache */
    LKP_STAT_EARLY,       /* refused before any hash: malformed or unknown */
    LKP_STAT_FLUSHED,     /* access records written */
    LKP_STAT_CONNECTIONS, /* connections accepted (peer allowed) */
    LKP_STAT_REFUSED,     /* connections refused: peer uid/gid not allowed, or max_connections */
    LKP_STAT_REQUESTS,    /* requests answered */
    LKP_STAT_BUSY,        /* RequestLimitExceeded.Busy answers: Argon2id queue full */
    LKP_STAT_THROTTLED,   /* AuthFailure.TooManyAttempts answers */
    LKP_STAT_TIMEOUTS,    /* connections closed by read or idle timeout */
    LKP_STAT_BAD_FRAMES,  /* connections closed for a malformed frame */
    LKP_STAT_QUEUED,      /* Argon2id jobs waiting now */
    LKP_NSTATS
};

/* A decoded body. Text fields are NUL-terminated copies in arena (NULL when
 * absent); the struct may hold a secret: keep it in sodium_malloc memory and
 * wipe it (lkp_msg_wipe). */
typedef struct lkp_msg {
    uint8_t op;
    bool response;
    uint32_t id;
    uint32_t present; /* 1u << LKP_F_* for every field seen */
    uint32_t version, flags, key_status;
    uint64_t uin;
    int64_t create_time, last_access, expire_time;
    uint64_t rate_limit;
    const char *secret_id, *secret, *client_ip, *service, *login, *key_id, *status_code, *message, *name,
        *description, *masked;
    size_t secret_len;
    const char *scope[LK_SCOPE_MAX];
    size_t scope_count;
    const char *allow_ip[LK_ALLOW_IP_MAX];
    size_t allow_ip_count;
    uint64_t stats[LKP_NSTATS];
    char arena[LKP_MAX_BODY];
} lkp_msg;

/* What was wrong with a body (lkp_decode). */
typedef enum lkp_err {
    LKP_OK = 0,
    LKP_ERR_SHORT,       /* shorter than the header, or a field runs past the end */
    LKP_ERR_HEADER,      /* reserved bits set, bad kind */
    LKP_ERR_FIELD,       /* unknown field type, or a field the op does not take */
    LKP_ERR_DUPLICATE,   /* a single field given twice, or too many list entries */
    LKP_ERR_LENGTH,      /* a field's length is wrong for its kind */
    LKP_ERR_NUL,         /* a NUL byte inside text */
    LKP_ERR_MISSING,     /* a required field of the op is absent */
    LKP_ERR_OP           /* unknown op (the header is sound: the service answers and goes on) */
} lkp_err;

const char *lkp_err_str(lkp_err e);
const char *lkp_op_name(uint8_t op);

/* Decode a body (without its length prefix). A request is checked against
 * its op's field table; a response is checked field by field only. On
 * LKP_ERR_OP the header (op, id) is valid. */
lkp_err lkp_decode(const uint8_t *body, size_t len, lkp_msg *m);

/* Wipe everything a message held (sodium_memzero of the struct). */
void lkp_msg_wipe(lkp_msg *m);

/* Length of a frame from its 4-byte prefix; 0 when outside
 * LKP_HEADER_LEN..max (the connection must be closed). */
size_t lkp_frame_len(const uint8_t prefix[LKP_LEN_PREFIX], size_t max);

/* ---------------------------------------------------------------- encoding */

/* Building one frame into caller storage (LKP_LEN_PREFIX + LKP_MAX_BODY
 * bytes is always enough). Puts past the end set overflow; lkp_end then
 * fails. */
typedef struct lkp_buf {
    uint8_t *p;
    size_t len, cap;
    bool overflow;
} lkp_buf;

void lkp_begin(lkp_buf *b, uint8_t *storage, size_t cap, uint8_t op, bool response, uint32_t id);
/* NULL s: the field is left out. */
void lkp_put_text(lkp_buf *b, uint8_t type, const char *s);
void lkp_put_bytes(lkp_buf *b, uint8_t type, const void *p, size_t n);
void lkp_put_u32(lkp_buf *b, uint8_t type, uint32_t v);
void lkp_put_u64(lkp_buf *b, uint8_t type, uint64_t v);
/* Writes the length prefix. 0, or -1 when the frame did not fit. */
int lkp_end(lkp_buf *b);

/* The lk_status of a CAM code; LK_ERR_INTERNAL for an unknown one (fail closed). */
lk_status lkp_status_from_code(const char *code);

#endif
