/*
 * fuzz_proto — latchkeyd's request decoder (client/proto.c), as the service
 * runs it: the input is a byte stream from a client, cut into frames by
 * their length prefix (lkp_frame_len with LKP_MAX_REQUEST), each body
 * decoded by lkp_decode.
 *
 * Invariants:
 *  - nothing reads outside the frame (exact-size heap copies: ASan);
 *  - a frame length outside 8..LKP_MAX_REQUEST is refused (the service
 *    closes the connection), never read;
 *  - a decoded request has every required field of its op and only fields
 *    it takes; every text is NUL-terminated, NUL-free, inside the arena and
 *    no longer than the body; list counts are within their limits;
 *  - re-encoding a decoded request with the encoder and decoding it again
 *    gives the same fields (round trip), and the same bytes again (the
 *    codec is canonical up to field order).
 */
#include <stdbool.h>

#include "fuzz_common.h"
#include "lk_proto.h"

static lkp_msg m1, m2;
static uint8_t frame[LKP_LEN_PREFIX + LKP_MAX_BODY], frame2[LKP_LEN_PREFIX + LKP_MAX_BODY];

static void check_text(const lkp_msg *m, const char *s, size_t body_len)
{
    if (s == NULL)
        return;
    FUZZ_CHECK(s >= m->arena && s < m->arena + sizeof m->arena);
    size_t n = strlen(s);
    FUZZ_CHECK(n <= body_len);
    FUZZ_CHECK(s + n < m->arena + sizeof m->arena);
}

static void reencode(const lkp_msg *m, lkp_buf *b, uint8_t *out)
{
    lkp_begin(b, out, LKP_LEN_PREFIX + LKP_MAX_BODY, m->op, m->response, m->id);
    if (m->present & (1u << LKP_F_VERSION))
        lkp_put_u32(b, LKP_F_VERSION, m->version);
    lkp_put_text(b, LKP_F_SECRET_ID, m->secret_id);
    if (m->secret)
        lkp_put_bytes(b, LKP_F_SECRET, m->secret, m->secret_len);
    lkp_put_text(b, LKP_F_CLIENT_IP, m->client_ip);
    lkp_put_text(b, LKP_F_SERVICE, m->service);
    lkp_put_text(b, LKP_F_LOGIN, m->login);
    if (m->present & (1u << LKP_F_FLAGS))
        lkp_put_u32(b, LKP_F_FLAGS, m->flags);
    lkp_put_text(b, LKP_F_KEY_ID, m->key_id);
    (void)lkp_end(b);
}

static void same(const char *a, const char *b)
{
    FUZZ_CHECK((a == NULL) == (b == NULL));
    FUZZ_CHECK(a == NULL || strcmp(a, b) == 0);
}

static void one_body(const uint8_t *body, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1); /* exact size: ASan sees any overread */
    FUZZ_CHECK(copy != NULL);
    memcpy(copy, body, len);
    lkp_err e = lkp_decode(copy, len, &m1);
    free(copy);
    if (e != LKP_OK)
        return;
    FUZZ_CHECK(len >= LKP_HEADER_LEN);
    const char *texts[] = {m1.secret_id, m1.secret, m1.client_ip, m1.service, m1.login, m1.key_id,
                           m1.status_code, m1.message, m1.name, m1.description, m1.masked};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        check_text(&m1, texts[i], len);
    FUZZ_CHECK(m1.scope_count <= LK_SCOPE_MAX && m1.allow_ip_count <= LK_ALLOW_IP_MAX);
    if (m1.secret)
        FUZZ_CHECK(m1.secret_len >= 1 && m1.secret_len <= LKP_MAX_SECRET && strlen(m1.secret) == m1.secret_len);
    if (m1.response)
        return;
    /* requests: the op's fields only, so the re-encoding is complete */
    switch (m1.op) {
    case LKP_OP_VERIFY_KEY: FUZZ_CHECK(m1.secret_id && m1.secret); break;
    case LKP_OP_VERIFY_APIKEY: FUZZ_CHECK(m1.secret && !m1.secret_id); break;
    case LKP_OP_KEY_STATUS:
    case LKP_OP_APIKEY_GET: FUZZ_CHECK(m1.key_id && !m1.secret); break;
    case LKP_OP_HELLO: FUZZ_CHECK(m1.present == (1u << LKP_F_VERSION)); break;
    case LKP_OP_PING:
    case LKP_OP_STATS: FUZZ_CHECK(m1.present == 0); break;
    default: break;
    }
    lkp_buf b, b2;
    reencode(&m1, &b, frame);
    FUZZ_CHECK(!b.overflow);
    FUZZ_CHECK(lkp_frame_len(frame, LKP_MAX_BODY) == b.len - LKP_LEN_PREFIX);
    FUZZ_CHECK(lkp_decode(frame + LKP_LEN_PREFIX, b.len - LKP_LEN_PREFIX, &m2) == LKP_OK);
    FUZZ_CHECK(m2.op == m1.op && m2.id == m1.id && m2.present == m1.present && m2.flags == m1.flags &&
               m2.version == m1.version && m2.secret_len == m1.secret_len);
    same(m1.secret_id, m2.secret_id);
    same(m1.secret, m2.secret);
    same(m1.client_ip, m2.client_ip);
    same(m1.service, m2.service);
    same(m1.login, m2.login);
    same(m1.key_id, m2.key_id);
    reencode(&m2, &b2, frame2);
    FUZZ_CHECK(b2.len == b.len && memcmp(frame, frame2, b.len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a stream of frames, as read from one connection */
    while (size >= LKP_LEN_PREFIX) {
        size_t blen = lkp_frame_len(data, LKP_MAX_REQUEST);
        if (blen == 0) {
            FUZZ_CHECK(((uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 | (uint32_t)data[2] << 8 | data[3]) <
                           LKP_HEADER_LEN ||
                       ((uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 | (uint32_t)data[2] << 8 | data[3]) >
                           LKP_MAX_REQUEST);
            return 0; /* the service closes the connection */
        }
        data += LKP_LEN_PREFIX;
        size -= LKP_LEN_PREFIX;
        if (blen > size) /* incomplete: the service waits (read timeout) */
            return 0;
        one_body(data, blen);
        data += blen;
        size -= blen;
    }
    return 0;
}
