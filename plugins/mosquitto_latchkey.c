/*
 * mosquitto_latchkey.c — Mosquitto 2.0 auth plugin (plugin API v5) over
 * latchkey.h.
 *
 *   plugin /usr/lib/.../latchkey/mosquitto_latchkey.so
 *   plugin_opt_config /etc/latchkey/latchkey.yaml
 *
 * CONNECT: username = SecretId and password = SecretKey, or any username and
 * password = API key ("lk-..."). The client's address is checked against the
 * key's IP allowlist. A client without a password is left to other plugins
 * (MOSQ_ERR_PLUGIN_DEFER; if every plugin defers the broker refuses).
 *
 * After an API key connects, the client's username becomes the key's public
 * id ("lk-" + 12): the broker keeps no password, and that is how the ACL
 * check below finds the key again (it also makes the broker's log name the
 * key, not whatever the client typed).
 *
 * ACL: an API key's scope entries are topic prefixes, on level boundaries:
 * "sensors" allows "sensors" and "sensors/..." (and subscriptions to
 * "sensors/#"), not "sensorsX"; an entry ending in '/' is a raw prefix. An
 * empty scope or an entry "all" allows every topic. A SecretId (no scope in
 * the CAM model) may use every topic. Every check reads the key's current
 * record, so disabling or deleting a key cuts off an already connected
 * client at its next publish or delivery. Clients we did not authenticate are
 * deferred to other plugins.
 *
 * State: one lk_ctx, opened in init, kept in the plugin's user_data (the
 * broker hands it back to every callback); no global variables. The broker
 * is single-threaded, so one warm ctx serves every client without locking.
 * Errors fail closed: a store error refuses the CONNECT or the ACL check and
 * logs why.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include "latchkey.h"

struct mlk {
    mosquitto_plugin_id_t *id;
    lk_ctx *ctx;
};

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
    for (int i = 0; i < supported_version_count; i++)
        if (supported_versions[i] == 5)
            return 5;
    return -1;
}

static bool is_secret_id(const char *s)
{
    return s != NULL && strncmp(s, "AKID", 4) == 0 && strlen(s) == LK_SECRET_ID_LEN;
}

static bool is_apikey_id(const char *s)
{
    return s != NULL && strncmp(s, "lk-", 3) == 0 && strlen(s) == LK_APIKEY_ID_LEN;
}

static int on_basic_auth(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_basic_auth *ed = event_data;
    struct mlk *p = userdata;
    lk_verify_req req;
    lk_verify_info info;
    lk_status st;
    bool as_secretid;
    const char *shown;

    (void)event;
    if (ed->password == NULL)
        return MOSQ_ERR_PLUGIN_DEFER;

    /* A SecretId user name with anything but an API key as password is a
     * SecretId login; every other combination is an API key login. */
    as_secretid = ed->username != NULL && strncmp(ed->username, "AKID", 4) == 0 &&
                  strncmp(ed->password, "lk-", 3) != 0;
    req.client_ip = mosquitto_client_address(ed->client);
    req.service = NULL;
    memset(&info, 0, sizeof info);
    if (as_secretid)
        st = lk_verify_key(p->ctx, ed->username, ed->password, strlen(ed->password), &req, &info);
    else
        st = lk_verify_apikey(p->ctx, ed->password, strlen(ed->password), &req, &info);

    /* Name the key by its public id only: never any part of the password. */
    shown = info.key_id[0] ? info.key_id : as_secretid ? ed->username : "unrecognised API key";
    if (st != LK_OK) {
        mosquitto_log_printf(lk_status_is_denial(st) ? MOSQ_LOG_NOTICE : MOSQ_LOG_ERR,
                             "latchkey: client %s from %s refused (%s): %s: %s",
                             mosquitto_client_id(ed->client) ? mosquitto_client_id(ed->client) : "?",
                             req.client_ip ? req.client_ip : "?", shown, lk_status_code(st), lk_errmsg(p->ctx));
        return MOSQ_ERR_AUTH;
    }
    if (!as_secretid) {
        /* ed->username is freed by this call: not used afterwards. */
        int rc = mosquitto_set_username(ed->client, info.key_id);
        if (rc != MOSQ_ERR_SUCCESS) {
            mosquitto_log_printf(MOSQ_LOG_ERR, "latchkey: cannot bind client to API key %s: %s", info.key_id,
                                 mosquitto_strerror(rc));
            return MOSQ_ERR_AUTH;
        }
    }
    return MOSQ_ERR_SUCCESS;
}

/* topic (a topic or a subscription filter) lies under scope entry e. */
static bool topic_in_scope(const char *topic, const char *e)
{
    size_t n = strlen(e);

    if (strcmp(e, "all") == 0)
        return true;
    if (n == 0 || strncmp(topic, e, n) != 0)
        return false;
    return e[n - 1] == '/' || topic[n] == '\0' || topic[n] == '/';
}

static int on_acl_check(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_acl_check *ed = event_data;
    struct mlk *p = userdata;
    const char *user = mosquitto_client_username(ed->client);
    lk_status st;
    int rc;

    (void)event;
    if (is_secret_id(user)) {
        lk_access_key k;
        memset(&k, 0, sizeof k);
        st = lk_key_get(p->ctx, user, &k);
        if (st == LK_OK)
            return k.status == LK_KEY_ACTIVE ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
    } else if (is_apikey_id(user)) {
        lk_apikey k;
        memset(&k, 0, sizeof k);
        st = lk_apikey_get(p->ctx, user, &k);
        if (st == LK_OK) {
            rc = MOSQ_ERR_ACL_DENIED;
            if (k.status == LK_KEY_ACTIVE) {
                if (k.scope_count == 0)
                    rc = MOSQ_ERR_SUCCESS;
                for (size_t i = 0; i < k.scope_count && rc != MOSQ_ERR_SUCCESS; i++)
                    if (topic_in_scope(ed->topic, k.scope[i]))
                        rc = MOSQ_ERR_SUCCESS;
            }
            lk_apikey_release(&k);
            return rc;
        }
    } else {
        return MOSQ_ERR_PLUGIN_DEFER; /* not a client of ours */
    }
    if (st == LK_ERR_KEY_NOT_EXIST || st == LK_ERR_NOT_FOUND || st == LK_DENY_UNKNOWN_KEY)
        return MOSQ_ERR_PLUGIN_DEFER; /* deleted, or another plugin's user */
    mosquitto_log_printf(MOSQ_LOG_ERR, "latchkey: ACL check for %s failed: %s: %s", user, lk_status_code(st),
                         lk_errmsg(p->ctx));
    return MOSQ_ERR_ACL_DENIED;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata, struct mosquitto_opt *options,
                          int option_count)
{
    const char *config = NULL;
    struct mlk *p;
    lk_status st;
    int rc;

    for (int i = 0; i < option_count; i++) {
        if (strcasecmp(options[i].key, "config") == 0) {
            config = options[i].value;
        } else {
            mosquitto_log_printf(MOSQ_LOG_ERR, "latchkey: unknown option plugin_opt_%s", options[i].key);
            return MOSQ_ERR_INVAL;
        }
    }
    if (config == NULL || config[0] == '\0') {
        mosquitto_log_printf(MOSQ_LOG_ERR, "latchkey: plugin_opt_config /path/to/latchkey.yaml is required");
        return MOSQ_ERR_INVAL;
    }

    p = calloc(1, sizeof *p);
    if (p == NULL)
        return MOSQ_ERR_NOMEM;
    p->id = identifier;
    st = lk_open(config, &p->ctx);
    if (st != LK_OK) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "latchkey: cannot open %s: %s: %s", config, lk_status_code(st),
                             lk_errmsg(NULL));
        free(p);
        return st == LK_ERR_NOMEM ? MOSQ_ERR_NOMEM : MOSQ_ERR_INVAL;
    }

    rc = mosquitto_callback_register(identifier, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL, p);
    if (rc == MOSQ_ERR_SUCCESS) {
        rc = mosquitto_callback_register(identifier, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL, p);
        if (rc != MOSQ_ERR_SUCCESS)
            mosquitto_callback_unregister(identifier, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
    }
    if (rc != MOSQ_ERR_SUCCESS) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "latchkey: cannot register callbacks: %s", mosquitto_strerror(rc));
        lk_close(p->ctx);
        free(p);
        return rc;
    }
    mosquitto_log_printf(MOSQ_LOG_INFO, "latchkey: using %s", config);
    *userdata = p;
    return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count)
{
    struct mlk *p = userdata;

    (void)options;
    (void)option_count;
    if (p == NULL)
        return MOSQ_ERR_SUCCESS;
    mosquitto_callback_unregister(p->id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
    mosquitto_callback_unregister(p->id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL);
    lk_close(p->ctx); /* flushes deferred access records */
    free(p);
    return MOSQ_ERR_SUCCESS;
}
