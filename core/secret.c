/*
 * secret.c — secrets in guarded memory, and their Argon2id hashes.
 *
 * sodium_malloc puts each secret between guard pages, mlocks it (no swap)
 * and marks it MADV_DONTDUMP (no core dump); sodium_free wipes it.
 */
#include <string.h>

#include <sodium.h>

#include "lk_internal.h"

lk_secret *lk_secret_new(size_t len)
{
    /* sodium_malloc places the block so that it ends at the guard page: the
     * address is only aligned when the size is a multiple of the alignment
     * (libsodium's documentation). Unrounded, s->len was a misaligned store
     * (UBSan: "misaligned address ... for type 'lk_secret'"; SIGBUS on
     * strict-alignment CPUs). */
    size_t align = _Alignof(lk_secret), size = sizeof(lk_secret) + len + 1;
    if (len > SIZE_MAX - sizeof(lk_secret) - align)
        return NULL;
    size = (size + align - 1) / align * align;
    lk_secret *s = sodium_malloc(size);
    if (s == NULL)
        return NULL;
    s->len = len;
    sodium_memzero(s->str, len + 1);
    return s;
}

const char *lk_secret_str(const lk_secret *s)
{
    return s ? s->str : "";
}

size_t lk_secret_len(const lk_secret *s)
{
    return s ? s->len : 0;
}

void lk_secret_free(lk_secret *s)
{
    if (s != NULL)
        sodium_free(s); /* wipes before unmapping */
}

lk_status lk_hash_secret(const lk_config *cfg, const char *secret, size_t len, char *out, size_t outsz)
{
    if (outsz < crypto_pwhash_STRBYTES)
        return lk_seterr(LK_ERR_INTERNAL, "hash buffer too small");
    if (crypto_pwhash_str(out, secret, len, cfg->opslimit, cfg->memlimit) != 0)
        return lk_seterr(LK_ERR_NOMEM, "Argon2id needs %zu KiB and the system refused it", cfg->memlimit / 1024);
    return LK_OK;
}

bool lk_hash_verify(const char *hash, const char *secret, size_t len)
{
    /* crypto_pwhash_str_verify recomputes Argon2id with the parameters in the
     * stored string and compares in constant time. */
    return crypto_pwhash_str_verify(hash, secret, len) == 0;
}
