/*
 * plugin_abi.c — latchkey_plugin.so: the stable dlopen ABI
 * (latchkey-plugin.h) as a thin adapter over latchkey.h.
 *
 * The handle the host holds is the lk_ctx itself: the core already makes it
 * thread-safe and fork-safe, so the adapter keeps no state of its own.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "latchkey.h"
#include "latchkey-plugin.h"

/* The ABI numbers are frozen; if the core ever renumbers lk_status, the build
 * breaks here instead of hosts silently misreading results. */
static_assert(LK_PLUGIN_OK == LK_OK, "ABI result numbers");
static_assert(LK_PLUGIN_ERR_PARAM == LK_ERR_PARAM, "ABI result numbers");
static_assert(LK_PLUGIN_ERR_NOT_FOUND == LK_ERR_NOT_FOUND, "ABI result numbers");
static_assert(LK_PLUGIN_DENY_MALFORMED == LK_DENY_MALFORMED, "ABI result numbers");
static_assert(LK_PLUGIN_DENY_UNKNOWN == LK_DENY_UNKNOWN_KEY, "ABI result numbers");
static_assert(LK_PLUGIN_DENY_BAD_SECRET == LK_DENY_BAD_SECRET, "ABI result numbers");
static_assert(LK_PLUGIN_DENY_DISABLED == LK_DENY_DISABLED, "ABI result numbers");
static_assert(LK_PLUGIN_DENY_IP == LK_DENY_IP, "ABI result numbers");
static_assert(LK_PLUGIN_DENY_SCOPE == LK_DENY_SCOPE, "ABI result numbers");
static_assert(LK_PLUGIN_ERR_CONFIG == LK_ERR_CONFIG, "ABI result numbers");
static_assert(LK_PLUGIN_ERR_STORE == LK_ERR_STORE, "ABI result numbers");
static_assert(LK_PLUGIN_ERR_STORE_PERM == LK_ERR_STORE_PERM, "ABI result numbers");
static_assert(LK_PLUGIN_ERR_STORE_FULL == LK_ERR_STORE_FULL, "ABI result numbers");
static_assert(LK_PLUGIN_ERR_NOMEM == LK_ERR_NOMEM, "ABI result numbers");
static_assert(LK_PLUGIN_ERR_INTERNAL == LK_ERR_INTERNAL, "ABI result numbers");

/* An int from the host may be anything: only known values reach the core's
 * tables. */
static lk_status to_status(int result)
{
    if (result < 0 || result >= (int)LK_STATUS_COUNT_)
        return LK_ERR_INTERNAL;
    return (lk_status)result;
}

static int abi_open(const char *config_path, void **handle, char *err, size_t errlen)
{
    lk_ctx *ctx = NULL;
    lk_status st;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (handle == NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "open: handle is NULL");
        return LK_PLUGIN_ERR_PARAM;
    }
    *handle = NULL;

    if (config_path != NULL) {
        st = lk_open(config_path, &ctx);
    } else {
        lk_config *cfg = NULL;
        st = lk_config_default(&cfg);
        if (st == LK_OK)
            st = lk_open_config(cfg, &ctx);
        lk_config_free(cfg);
    }
    if (st != LK_OK) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s: %s", lk_status_code(st), lk_errmsg(NULL));
        return (int)st;
    }
    *handle = ctx;
    return LK_PLUGIN_OK;
}

static int abi_verify_secretid(void *handle, const char *secret_id, const char *secret_key, size_t keylen,
                               const char *client_ip, const char *service, uint64_t *uin_out)
{
    lk_verify_req req = {.client_ip = client_ip, .service = service};
    lk_verify_info info;
    lk_status st;

    if (handle == NULL || secret_id == NULL || secret_key == NULL)
        return LK_PLUGIN_ERR_PARAM;
    memset(&info, 0, sizeof info);
    st = lk_verify_key(handle, secret_id, secret_key, keylen, &req, &info);
    if (st == LK_OK && uin_out != NULL)
        *uin_out = info.uin;
    return (int)st;
}

static int abi_verify_apikey(void *handle, const char *key, size_t len, const char *client_ip,
                             const char *service, uint64_t *uin_out)
{
    lk_verify_req req = {.client_ip = client_ip, .service = service};
    lk_verify_info info;
    lk_status st;

    if (handle == NULL || key == NULL)
        return LK_PLUGIN_ERR_PARAM;
    memset(&info, 0, sizeof info);
    st = lk_verify_apikey(handle, key, len, &req, &info);
    if (st == LK_OK && uin_out != NULL)
        *uin_out = info.uin;
    return (int)st;
}

static void abi_close(void *handle)
{
    lk_close(handle);
}

static const char *abi_last_error(void *handle)
{
    return lk_errmsg(handle);
}

static const char *abi_status_code(int result)
{
    return lk_status_code(to_status(result));
}

static const char *abi_strerror(int result)
{
    return lk_strerror(to_status(result));
}

/* Constant data, not mutable state: the one table every caller shares. */
static const struct lk_plugin_api api_v1 = {
    .abi_version = LK_PLUGIN_ABI_VERSION,
    .struct_size = (uint32_t)sizeof(struct lk_plugin_api),
    .open = abi_open,
    .verify_secretid = abi_verify_secretid,
    .verify_apikey = abi_verify_apikey,
    .close = abi_close,
    .last_error = abi_last_error,
    .status_code = abi_status_code,
    .strerror = abi_strerror,
};

const struct lk_plugin_api *latchkey_plugin_api(uint32_t host_abi_version)
{
    if (host_abi_version == 0 || host_abi_version > LK_PLUGIN_ABI_VERSION)
        return NULL;
    return &api_v1;
}
