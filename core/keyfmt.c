/*
 * keyfmt.c — the shape of SecretIds, SecretKeys and API keys.
 *
 *   SecretId   AKID + 26 random + 6 checksum              (36 chars, public)
 *   SecretKey  LKSK + 36 random + 6 checksum              (46 chars, 214 bits)
 *   API key    lk-  + 12 id + 36 random + 6 checksum      (57 chars; first 15 = id)
 *
 * Base62 keeps keys URL-safe and selectable with a double click. The
 * checksum (CRC32 of everything before it, as 6 base62 digits, GitHub's
 * token scheme) lets a mistyped or truncated key be refused before any
 * lookup or Argon2id. It is no secret: it only catches accidents.
 */
#include <string.h>

#include <sodium.h>

#include "lk_internal.h"

static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

void lk_b62_random(char *out, size_t n)
{
    unsigned char pool[64];
    size_t used = sizeof pool;

    while (n > 0) {
        if (used == sizeof pool) {
            randombytes_buf(pool, sizeof pool);
            used = 0;
        }
        unsigned char b = pool[used++];
        /* 248 = 4 * 62: rejecting the top 8 values keeps every digit equally likely. */
        if (b < 248) {
            *out++ = b62[b % 62];
            n--;
        }
    }
    sodium_memzero(pool, sizeof pool);
}

uint32_t lk_crc32(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint32_t crc = 0xffffffffu;

    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static void checksum_write(char *out, uint32_t crc)
{
    for (int i = LK_CHECKSUM_LEN - 1; i >= 0; i--) {
        out[i] = b62[crc % 62];
        crc /= 62;
    }
}

static bool is_b62(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
            return false;
    }
    return true;
}

static void new_key(char *out, size_t total, const char *prefix, size_t plen)
{
    memcpy(out, prefix, plen);
    lk_b62_random(out + plen, total - plen - LK_CHECKSUM_LEN);
    checksum_write(out + total - LK_CHECKSUM_LEN, lk_crc32(out, total - LK_CHECKSUM_LEN));
    out[total] = '\0';
}

static bool key_ok(const char *s, size_t len, size_t total, const char *prefix, size_t plen)
{
    char want[LK_CHECKSUM_LEN];

    if (s == NULL || len != total || memcmp(s, prefix, plen) != 0 || !is_b62(s + plen, total - plen))
        return false;
    checksum_write(want, lk_crc32(s, total - LK_CHECKSUM_LEN));
    return memcmp(want, s + total - LK_CHECKSUM_LEN, LK_CHECKSUM_LEN) == 0;
}

void lk_keyfmt_new_secret_id(char out[LK_SECRET_ID_LEN + 1])
{
    new_key(out, LK_SECRET_ID_LEN, LK_SECRET_ID_PREFIX, LK_PREFIX_LEN);
}

void lk_keyfmt_new_secret_key(char out[LK_SECRET_KEY_LEN + 1])
{
    new_key(out, LK_SECRET_KEY_LEN, LK_SECRET_KEY_PREFIX, LK_PREFIX_LEN);
}

void lk_keyfmt_new_apikey(char out[LK_APIKEY_LEN + 1])
{
    new_key(out, LK_APIKEY_LEN, LK_APIKEY_PREFIX, LK_APIKEY_PREFIX_LEN);
}

bool lk_keyfmt_secret_id_ok(const char *s, size_t len)
{
    return key_ok(s, len, LK_SECRET_ID_LEN, LK_SECRET_ID_PREFIX, LK_PREFIX_LEN);
}

bool lk_keyfmt_secret_key_ok(const char *s, size_t len)
{
    return key_ok(s, len, LK_SECRET_KEY_LEN, LK_SECRET_KEY_PREFIX, LK_PREFIX_LEN);
}

bool lk_keyfmt_apikey_ok(const char *s, size_t len)
{
    return key_ok(s, len, LK_APIKEY_LEN, LK_APIKEY_PREFIX, LK_APIKEY_PREFIX_LEN);
}

bool lk_keyfmt_apikey_id_ok(const char *s, size_t len)
{
    return s != NULL && len == LK_APIKEY_ID_LEN && memcmp(s, LK_APIKEY_PREFIX, LK_APIKEY_PREFIX_LEN) == 0 &&
           is_b62(s + LK_APIKEY_PREFIX_LEN, LK_APIKEY_ID_LEN - LK_APIKEY_PREFIX_LEN);
}

void lk_keyfmt_mask(const char *key, size_t len, char out[LK_APIKEY_MASKED_LEN + 1])
{
    if (len < 9) {
        memcpy(out, "***", 4);
        return;
    }
    memcpy(out, key, 5);
    memcpy(out + 5, "***", 3);
    memcpy(out + 8, key + len - 4, 4);
    out[LK_APIKEY_MASKED_LEN] = '\0';
}
