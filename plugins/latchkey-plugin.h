/*
 * latchkey-plugin.h — the stable dlopen ABI of latchkey.
 *
 * A host that must not link liblatchkey at build time (a server with its own
 * plugin loader, a program in another language through its C FFI) loads the
 * module at run time and calls one function:
 *
 *     void *m = dlopen(".../latchkey/latchkey_plugin.so", RTLD_NOW | RTLD_LOCAL);
 *     lk_plugin_api_fn *get = (lk_plugin_api_fn *)dlsym(m, LK_PLUGIN_SYMBOL);
 *     const struct lk_plugin_api *api = get(LK_PLUGIN_ABI_VERSION);
 *
 * Rules that keep old hosts and new modules working together:
 *   - Only C types of the C library cross the boundary: no latchkey.h type,
 *     no struct the host must allocate, no memory the host must free. Strings
 *     returned by the module are owned by it (see each member).
 *   - Members are only ever appended to struct lk_plugin_api; none is removed,
 *     reordered or changes its signature. abi_version grows when members are
 *     appended; struct_size says how many bytes of the table the module has.
 *   - A host checks struct_size before touching any member past the ones of
 *     the version it asked for (LK_PLUGIN_HAS), so a host built against a newer
 *     header degrades gracefully on an older module, and a host built against
 *     an older (smaller) table simply never looks past its end.
 *   - latchkey_plugin_api(v) returns NULL when v is 0 or higher than the
 *     module's abi_version: the module cannot promise what it does not know.
 *
 * Threads and processes: one handle may be used by any number of threads at
 * once, and across fork() (the child reopens the store on first use). Open one
 * handle per configuration and keep it for the life of the process: opening
 * is expensive, verifying with a warm handle is not.
 */
#ifndef LATCHKEY_PLUGIN_H
#define LATCHKEY_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LK_PLUGIN_ABI_VERSION 1u
#define LK_PLUGIN_SYMBOL "latchkey_plugin_api"

/*
 * Results of open and verify_*: 0 means allowed (or opened). A positive value
 * is the reason; these numbers are part of the ABI and never change.
 * Denials (the credential was checked and refused) are 13..18; anything else
 * is an error of the caller or the environment, never a verdict on the
 * credential: a host must then fail closed.
 */
#define LK_PLUGIN_OK              0
#define LK_PLUGIN_ERR_PARAM       1  /* InvalidParameter.ParamError */
#define LK_PLUGIN_ERR_NOT_FOUND   12 /* ResourceNotFound */
#define LK_PLUGIN_DENY_MALFORMED  13 /* AuthFailure.InvalidSecretId: bad prefix, length, checksum */
#define LK_PLUGIN_DENY_UNKNOWN    14 /* AuthFailure.SecretIdNotFound: no such key */
#define LK_PLUGIN_DENY_BAD_SECRET 15 /* AuthFailure.SignatureFailure: wrong secret */
/* 16-18: no longer answered by a verify (a request refused before its secret
 * is checked gets LK_PLUGIN_DENY_BAD_SECRET, whatever the secret); kept: the
 * numbers are the ABI. */
#define LK_PLUGIN_DENY_DISABLED   16 /* AuthFailure.SecretIdDisabled: key disabled */
#define LK_PLUGIN_DENY_IP         17 /* AuthFailure.IpNotAllowed: client IP not in allowlist */
#define LK_PLUGIN_DENY_SCOPE      18 /* AuthFailure.UnauthorizedOperation: service not in scope */
#define LK_PLUGIN_ERR_CONFIG      19 /* InvalidParameter.Config */
#define LK_PLUGIN_ERR_STORE       20 /* FailedOperation.Storage */
#define LK_PLUGIN_ERR_STORE_PERM  21 /* FailedOperation.StorePermission */
#define LK_PLUGIN_ERR_STORE_FULL  22 /* FailedOperation.StoreFull */
#define LK_PLUGIN_ERR_NOMEM       23 /* InternalError.OutOfMemory */
#define LK_PLUGIN_ERR_INTERNAL    24 /* InternalError */
/* Added later; numbers stay frozen too. An older host sees them as errors
 * (not in 13..18) and fails closed, which is the safe reading. */
#define LK_PLUGIN_DENY_LOGIN      25 /* AuthFailure.LoginNotMatch: credential not the login's */
#define LK_PLUGIN_DENY_THROTTLED  26 /* AuthFailure.TooManyAttempts: too many wrong secrets lately */
#define LK_PLUGIN_ERR_BUSY        27 /* RequestLimitExceeded.Busy: latchkeyd overloaded, try later */
#define LK_PLUGIN_DENY_EXPIRED    28 /* AuthFailure.SecretIdExpired: the key's expiry has passed */
#define LK_PLUGIN_DENY_RATE_LIMIT 29 /* LimitExceeded.RequestLimit: the API key's request limit is used up */

/* 1 when a result is a denial (a verdict on the credential). */
#define LK_PLUGIN_IS_DENIAL(r)                                                      \
    (((r) >= LK_PLUGIN_DENY_MALFORMED && (r) <= LK_PLUGIN_DENY_SCOPE) ||            \
     (r) == LK_PLUGIN_DENY_LOGIN || (r) == LK_PLUGIN_DENY_THROTTLED || (r) == LK_PLUGIN_DENY_EXPIRED || \
     (r) == LK_PLUGIN_DENY_RATE_LIMIT)

/* Version 1 of the table. */
struct lk_plugin_api {
    uint32_t abi_version; /* the module's version, >= the one asked for */
    uint32_t struct_size; /* sizeof the module's table, in bytes */

    /* Open the configuration at config_path (NULL: the compiled-in default)
     * and its store. A config_path of "unix:PATH", or the path of a UNIX
     * socket, connects to latchkeyd there instead (see lk_connect): the host
     * then needs no access to the store. On 0, *handle is set; on failure *handle is NULL and err
     * (when errlen > 0) holds a NUL-terminated message, truncated to fit. */
    int (*open)(const char *config_path, void **handle, char *err, size_t errlen);

    /* Verify a SecretId/SecretKey pair. secret_key is keylen bytes (need not
     * be NUL-terminated; it is never copied outside guarded memory).
     * client_ip: the peer's IPv4/IPv6 address text, or NULL when unknown (a
     * key with an IP allowlist then denies). service: the scope entry the
     * request needs, or NULL for none. Any other client_ip (a host name, a
     * range) or a malformed service is LK_PLUGIN_ERR_PARAM, not a verdict.
     * uin_out (may be NULL) receives the key's owner UIN on 0. */
    int (*verify_secretid)(void *handle, const char *secret_id, const char *secret_key, size_t keylen,
                           const char *client_ip, const char *service, uint64_t *uin_out);

    /* Verify an API key ("lk-..."), len bytes. Other arguments as above;
     * uin_out receives the key's root account UIN. */
    int (*verify_apikey)(void *handle, const char *key, size_t len, const char *client_ip, const char *service,
                         uint64_t *uin_out);

    /* Write deferred access records, close the store, wipe what the handle
     * held. NULL is a no-op. */
    void (*close)(void *handle);

    /* Detailed message of the last failed call made by the calling thread.
     * Never NULL, never contains a secret. Owned by the module; valid until
     * that thread's next call into it. handle may be NULL. */
    const char *(*last_error)(void *handle);

    /* CAM-style code of a result, e.g. "AuthFailure.SignatureFailure";
     * "Success" for 0. Static string, never NULL. */
    const char *(*status_code)(int result);

    /* Fixed one-line description of a result. Static string, never NULL. */
    const char *(*strerror)(int result);

    /* Append new members here only, and bump LK_PLUGIN_ABI_VERSION. */
};

/* 1 when the table the module returned includes member m. */
#define LK_PLUGIN_HAS(api, m) \
    ((api)->struct_size >= offsetof(struct lk_plugin_api, m) + sizeof((api)->m) && (api)->m != NULL)

/* The one exported symbol. host_abi_version: the LK_PLUGIN_ABI_VERSION the
 * host was built against. The table is static: never freed, valid until
 * dlclose. */
typedef const struct lk_plugin_api *lk_plugin_api_fn(uint32_t host_abi_version);

#if defined(__GNUC__) || defined(__clang__)
__attribute__((visibility("default")))
#endif
const struct lk_plugin_api *latchkey_plugin_api(uint32_t host_abi_version);

#ifdef __cplusplus
}
#endif
#endif /* LATCHKEY_PLUGIN_H */
