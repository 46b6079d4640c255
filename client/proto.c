/*
 * proto.c — the latchkeyd frame codec (lk_proto.h). Used by the service and
 * the client; the service's decoder is fuzzed (tests/fuzz/fuzz_proto.c).
 * No I/O here: bytes in, struct out, and back.
 */
#include <stddef.h>
#include <string.h>

#include <sodium.h>

#include "lk_proto.h"

enum kind { K_NONE, K_U32, K_U64, K_TEXT, K_SECRET, K_LIST, K_STATS };

struct field_def {
    enum kind kind;
    size_t max;    /* text: most bytes */
    size_t offset; /* text: where its const char * lives in lkp_msg */
};

#define TEXT(member, maxlen) {K_TEXT, (maxlen), offsetof(lkp_msg, member)}

static const struct field_def fields[LKP_F_COUNT_] = {
    [LKP_F_VERSION] = {K_U32, 4, 0},
    [LKP_F_SECRET_ID] = TEXT(secret_id, 64),
    [LKP_F_SECRET] = {K_SECRET, LKP_MAX_SECRET, 0},
    [LKP_F_CLIENT_IP] = TEXT(client_ip, 64),
    [LKP_F_SERVICE] = TEXT(service, 128),
    [LKP_F_LOGIN] = TEXT(login, 256),
    [LKP_F_FLAGS] = {K_U32, 4, 0},
    [LKP_F_KEY_ID] = TEXT(key_id, 64),
    [LKP_F_UIN] = {K_U64, 8, 0},
    [LKP_F_KEY_STATUS] = {K_U32, 4, 0},
    [LKP_F_SCOPE] = {K_LIST, LK_SERVICE_MAX, 0},
    [LKP_F_ALLOW_IP] = {K_LIST, LK_IP_STRLEN + 4, 0},
    [LKP_F_STATUS_CODE] = TEXT(status_code, 64),
    [LKP_F_MESSAGE] = TEXT(message, LKP_MAX_TEXT),
    [LKP_F_NAME] = TEXT(name, LK_NAME_MAX),
    [LKP_F_DESCRIPTION] = TEXT(description, LK_DESC_MAX),
    [LKP_F_MASKED] = TEXT(masked, LK_APIKEY_MASKED_LEN),
    [LKP_F_CREATE_TIME] = {K_U64, 8, 0},
    [LKP_F_LAST_ACCESS] = {K_U64, 8, 0},
    [LKP_F_STATS] = {K_STATS, 8 * LKP_NSTATS, 0},
    [LKP_F_EXPIRE_TIME] = {K_U64, 8, 0},
    [LKP_F_RATE_LIMIT] = {K_U64, 8, 0},
};

#define F(x) (1u << (x))
#define VERIFY_OPTIONAL (F(LKP_F_CLIENT_IP) | F(LKP_F_SERVICE) | F(LKP_F_LOGIN) | F(LKP_F_FLAGS))

/* Per op: the fields a request must hold and the ones it may hold. */
static const struct op_def {
    const char *name;
    uint32_t required, allowed;
} ops[LKP_OP_COUNT_] = {
    [LKP_OP_HELLO] = {"HELLO", F(LKP_F_VERSION), F(LKP_F_VERSION)},
    [LKP_OP_PING] = {"PING", 0, 0},
    [LKP_OP_VERIFY_KEY] = {"VERIFY_KEY", F(LKP_F_SECRET_ID) | F(LKP_F_SECRET),
                           F(LKP_F_SECRET_ID) | F(LKP_F_SECRET) | VERIFY_OPTIONAL},
    [LKP_OP_VERIFY_APIKEY] = {"VERIFY_APIKEY", F(LKP_F_SECRET), F(LKP_F_SECRET) | VERIFY_OPTIONAL},
    [LKP_OP_KEY_STATUS] = {"KEY_STATUS", F(LKP_F_KEY_ID), F(LKP_F_KEY_ID)},
    [LKP_OP_APIKEY_GET] = {"APIKEY_GET", F(LKP_F_KEY_ID), F(LKP_F_KEY_ID)},
    [LKP_OP_STATS] = {"STATS", 0, 0},
    [LKP_OP_LOGIN_CHECK] = {"LOGIN_CHECK", F(LKP_F_LOGIN), F(LKP_F_LOGIN)},
};

const char *lkp_op_name(uint8_t op)
{
    return op < LKP_OP_COUNT_ && ops[op].name ? ops[op].name : "unknown";
}

const char *lkp_err_str(lkp_err e)
{
    switch (e) {
    case LKP_OK: return "ok";
    case LKP_ERR_SHORT: return "truncated body or field";
    case LKP_ERR_HEADER: return "bad header";
    case LKP_ERR_FIELD: return "unknown field, or a field the operation does not take";
    case LKP_ERR_DUPLICATE: return "field repeated";
    case LKP_ERR_LENGTH: return "field length wrong for its type";
    case LKP_ERR_NUL: return "NUL byte inside text";
    case LKP_ERR_MISSING: return "a required field is missing";
    case LKP_ERR_OP: return "unknown operation";
    }
    return "?";
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}

size_t lkp_frame_len(const uint8_t prefix[LKP_LEN_PREFIX], size_t max)
{
    uint32_t n = get_u32(prefix);
    return n >= LKP_HEADER_LEN && n <= max ? n : 0;
}

void lkp_msg_wipe(lkp_msg *m)
{
    sodium_memzero(m, sizeof *m);
}

/* Copy len bytes of text into the arena, NUL-terminated. The arena holds the
 * whole body plus one NUL per field: each field costs >= 3 header bytes, so
 * it cannot run out; the check is belt and braces. */
static const char *arena_copy(lkp_msg *m, size_t *used, const uint8_t *p, size_t len)
{
    if (*used + len + 1 > sizeof m->arena)
        return NULL;
    char *s = m->arena + *used;
    memcpy(s, p, len);
    s[len] = '\0';
    *used += len + 1;
    return s;
}

static lkp_err decode_field(lkp_msg *m, size_t *used, uint8_t type, const uint8_t *v, size_t vl)
{
    const struct field_def *d = &fields[type];
    const char *s;
    switch (d->kind) {
    case K_U32:
        if (vl != 4)
            return LKP_ERR_LENGTH;
        if (type == LKP_F_VERSION)
            m->version = get_u32(v);
        else if (type == LKP_F_FLAGS)
            m->flags = get_u32(v);
        else
            m->key_status = get_u32(v);
        return LKP_OK;
    case K_U64:
        if (vl != 8)
            return LKP_ERR_LENGTH;
        if (type == LKP_F_UIN)
            m->uin = get_u64(v);
        else if (type == LKP_F_CREATE_TIME)
            m->create_time = (int64_t)get_u64(v);
        else if (type == LKP_F_EXPIRE_TIME)
            m->expire_time = (int64_t)get_u64(v);
        else if (type == LKP_F_RATE_LIMIT)
            m->rate_limit = get_u64(v);
        else
            m->last_access = (int64_t)get_u64(v);
        return LKP_OK;
    case K_STATS:
        if (vl != d->max)
            return LKP_ERR_LENGTH;
        for (size_t i = 0; i < LKP_NSTATS; i++)
            m->stats[i] = get_u64(v + 8 * i);
        return LKP_OK;
    case K_SECRET:
        /* A secret may hold any byte but NUL: the core takes C strings too. */
        if (vl == 0 || vl > d->max)
            return LKP_ERR_LENGTH;
        if (memchr(v, '\0', vl) != NULL)
            return LKP_ERR_NUL;
        if ((m->secret = arena_copy(m, used, v, vl)) == NULL)
            return LKP_ERR_LENGTH;
        m->secret_len = vl;
        return LKP_OK;
    case K_TEXT:
    case K_LIST:
        if (vl > d->max || (d->kind == K_LIST && vl == 0))
            return LKP_ERR_LENGTH;
        if (memchr(v, '\0', vl) != NULL)
            return LKP_ERR_NUL;
        if ((s = arena_copy(m, used, v, vl)) == NULL)
            return LKP_ERR_LENGTH;
        if (d->kind == K_TEXT) {
            *(const char **)((char *)m + d->offset) = s;
        } else if (type == LKP_F_SCOPE) {
            if (m->scope_count == LK_SCOPE_MAX)
                return LKP_ERR_DUPLICATE;
            m->scope[m->scope_count++] = s;
        } else {
            if (m->allow_ip_count == LK_ALLOW_IP_MAX)
                return LKP_ERR_DUPLICATE;
            m->allow_ip[m->allow_ip_count++] = s;
        }
        return LKP_OK;
    case K_NONE:
    default:
        return LKP_ERR_FIELD;
    }
}

lkp_err lkp_decode(const uint8_t *body, size_t len, lkp_msg *m)
{
    size_t used = 0;
    /* Not a full wipe: the arena is overwritten before it is read. */
    memset(m, 0, offsetof(lkp_msg, arena));
    if (len < LKP_HEADER_LEN || len > LKP_MAX_BODY)
        return LKP_ERR_SHORT;
    m->op = body[0];
    if (body[1] > 1 || body[2] != 0 || body[3] != 0)
        return LKP_ERR_HEADER;
    m->response = body[1] == 1;
    m->id = get_u32(body + 4);
    bool known_op = m->op < LKP_OP_COUNT_ && ops[m->op].name != NULL;
    if (!m->response && !known_op)
        return LKP_ERR_OP;
    for (size_t i = LKP_HEADER_LEN; i < len;) {
        if (len - i < 3)
            return LKP_ERR_SHORT;
        uint8_t type = body[i];
        size_t vl = (size_t)body[i + 1] << 8 | body[i + 2];
        i += 3;
        if (vl > len - i)
            return LKP_ERR_SHORT;
        if (type == 0 || type >= LKP_F_COUNT_ || fields[type].kind == K_NONE)
            return LKP_ERR_FIELD;
        if (!m->response && !(ops[m->op].allowed & F(type)))
            return LKP_ERR_FIELD;
        if ((m->present & F(type)) && fields[type].kind != K_LIST)
            return LKP_ERR_DUPLICATE;
        m->present |= F(type);
        lkp_err e = decode_field(m, &used, type, body + i, vl);
        if (e != LKP_OK)
            return e;
        i += vl;
    }
    if (!m->response && (m->present & ops[m->op].required) != ops[m->op].required)
        return LKP_ERR_MISSING;
    return LKP_OK;
}

/* ---------------------------------------------------------------- encoding */

static void put_raw(lkp_buf *b, const void *p, size_t n)
{
    if (b->overflow || n > b->cap - b->len) {
        b->overflow = true;
        return;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void put_be(uint8_t *out, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--, v >>= 8)
        out[i] = (uint8_t)v;
}

void lkp_begin(lkp_buf *b, uint8_t *storage, size_t cap, uint8_t op, bool response, uint32_t id)
{
    uint8_t h[LKP_LEN_PREFIX + LKP_HEADER_LEN] = {0};
    b->p = storage;
    b->cap = cap < LKP_LEN_PREFIX + LKP_MAX_BODY ? cap : LKP_LEN_PREFIX + LKP_MAX_BODY;
    b->len = 0;
    b->overflow = false;
    h[4] = op;
    h[5] = response ? 1 : 0;
    put_be(h + 8, id, 4);
    put_raw(b, h, sizeof h);
}

void lkp_put_bytes(lkp_buf *b, uint8_t type, const void *p, size_t n)
{
    uint8_t h[3];
    if (n > 0xffff) {
        b->overflow = true;
        return;
    }
    h[0] = type;
    put_be(h + 1, n, 2);
    put_raw(b, h, sizeof h);
    put_raw(b, p, n);
}

void lkp_put_text(lkp_buf *b, uint8_t type, const char *s)
{
    if (s != NULL)
        lkp_put_bytes(b, type, s, strlen(s));
}

void lkp_put_u32(lkp_buf *b, uint8_t type, uint32_t v)
{
    uint8_t x[4];
    put_be(x, v, 4);
    lkp_put_bytes(b, type, x, 4);
}

void lkp_put_u64(lkp_buf *b, uint8_t type, uint64_t v)
{
    uint8_t x[8];
    put_be(x, v, 8);
    lkp_put_bytes(b, type, x, 8);
}

int lkp_end(lkp_buf *b)
{
    if (b->overflow || b->len < LKP_LEN_PREFIX + LKP_HEADER_LEN)
        return -1;
    put_be(b->p, b->len - LKP_LEN_PREFIX, 4);
    return 0;
}

lk_status lkp_status_from_code(const char *code)
{
    if (code == NULL)
        return LK_ERR_INTERNAL;
    for (int i = 0; i < LK_STATUS_COUNT_; i++)
        if (strcmp(lk_status_code((lk_status)i), code) == 0)
            return (lk_status)i;
    return LK_ERR_INTERNAL;
}
