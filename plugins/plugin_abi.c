/*
 * plugin_abi.c — latchkey_plugin.so: the stable dlopen ABI
 * (latchkey-plugin.h) as a thin adapter over latchkey.h.
 *
 * The handle the host holds is the lk_ctx itself: the core already makes it
 * thread-safe and fork-safe, so the adapter keeps no state of its own.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "latchkey.h"
#include "latchkey-plugin.h"

/* The ABI numbers are frozen (latchkey-plugin.h) while lk_status may grow
 * in the middle: results cross the boundary through this table only. */
static const struct {
    lk_status st;
    int abi;
} abi_results[] = {
    {LK_OK, LK_PLUGIN_OK},
    {LK_ERR_PARAM, LK_PLUGIN_ERR_PARAM},
    {LK_ERR_USER_NOT_EXIST, 2},
    {LK_ERR_USER_EXISTS, 3},
    {LK_ERR_KEY_NOT_EXIST, 4},
    {LK_ERR_NAME_EXISTS, 5},
    {LK_ERR_KEY_OVER_LIMIT, 6},
    {LK_ERR_APIKEY_OVER_LIMIT, 7},
    {LK_ERR_SUB_UIN, 8},
    {LK_ERR_UIN_NOT_MATCH, 9},
    {LK_ERR_USER_HAS_KEYS, 10},
    {LK_ERR_KEY_ENABLED, 11},
    {LK_ERR_NOT_FOUND, LK_PLUGIN_ERR_NOT_FOUND},
    {LK_DENY_MALFORMED, LK_PLUGIN_DENY_MALFORMED},
    {LK_DENY_UNKNOWN_KEY, LK_PLUGIN_DENY_UNKNOWN},
    {LK_DENY_BAD_SECRET, LK_PLUGIN_DENY_BAD_SECRET},
    {LK_DENY_DISABLED, LK_PLUGIN_DENY_DISABLED},
    {LK_DENY_IP, LK_PLUGIN_DENY_IP},
    {LK_DENY_SCOPE, LK_PLUGIN_DENY_SCOPE},
    {LK_DENY_LOGIN, LK_PLUGIN_DENY_LOGIN},
    {LK_DENY_THROTTLED, LK_PLUGIN_DENY_THROTTLED},
    {LK_ERR_CONFIG, LK_PLUGIN_ERR_CONFIG},
    {LK_ERR_STORE, LK_PLUGIN_ERR_STORE},
    {LK_ERR_STORE_PERM, LK_PLUGIN_ERR_STORE_PERM},
    {LK_ERR_STORE_FULL, LK_PLUGIN_ERR_STORE_FULL},
    {LK_ERR_NOMEM, LK_PLUGIN_ERR_NOMEM},
    {LK_ERR_INTERNAL, LK_PLUGIN_ERR_INTERNAL},
    {LK_ERR_BUSY, LK_PLUGIN_ERR_BUSY},
    {LK_DENY_EXPIRED, LK_PLUGIN_DENY_EXPIRED},
    {LK_DENY_RATE_LIMIT, LK_PLUGIN_DENY_RATE_LIMIT},
    {LK_DENY_MISSING, LK_PLUGIN_DENY_MALFORMED}, /* the ABI's numbers stay: no credential is none valid */
    /* LK_ERR_NEEDS_HASH needs a flag the ABI never passes: InternalError */
};

#define NRESULTS (sizeof abi_results / sizeof abi_results[0])

static int to_abi(lk_status st)
{
    for (size_t i = 0; i < NRESULTS; i++)
        if (abi_results[i].st == st)
            return abi_results[i].abi;
    return LK_PLUGIN_ERR_INTERNAL;
}

/* An int from the host may be anything: only known values reach the core's
 * tables. */
static lk_status to_status(int result)
{
    for (size_t i = 0; i < NRESULTS; i++)
        if (abi_results[i].abi == result)
            return abi_results[i].st;
    return LK_ERR_INTERNAL;
}

/* "unix:PATH", or an existing socket: the host talks to latchkeyd. */
static const char *socket_path_of(const char *config_path)
{
    struct stat sb;
    if (strncmp(config_path, "unix:", 5) == 0)
        return config_path + 5;
    if (stat(config_path, &sb) == 0 && S_ISSOCK(sb.st_mode))
        return config_path;
    return NULL;
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

    if (config_path != NULL && socket_path_of(config_path) != NULL) {
        st = lk_connect(socket_path_of(config_path), &ctx);
    } else if (config_path != NULL) {
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
        return to_abi(st);
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
    return to_abi(st);
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
    return to_abi(st);
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
