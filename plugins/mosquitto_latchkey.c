/*
 * mosquitto_latchkey.c — Mosquitto 2.0 auth plugin (plugin API v5) over
 * latchkey.h.
 *
 *   plugin /usr/lib/.../latchkey/mosquitto_latchkey.so
 *   plugin_opt_config /etc/latchkey/latchkey.yaml      (opens the store itself)
 *   plugin_opt_socket /run/latchkey/latchkeyd.sock     (or asks latchkeyd)
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
 * the CAM model) may use every topic. Every check answers from the key's
 * current record, so disabling or deleting a key cuts off an already
 * connected client at its next publish or delivery: the plugin keeps the
 * records it read (a small table by key id) together with
 * lk_store_generation at the time, and reads again once that number has
 * changed, i.e. after any change of key data by any process (access
 * records do not change it). Where the store cannot tell (PostgreSQL,
 * latchkeyd: generation 0) every check reads. Clients we did not
 * authenticate are deferred to other plugins.
 *
 * State: one lk_ctx, opened in init, kept in the plugin's user_data (the
 * broker hands it back to every callback); no global variables. The broker
 * is single-threaded, so one warm ctx serves every client without locking.
 * Errors fail closed: a store error refuses the CONNECT or the ACL check and
 * logs why.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include "latchkey.h"

/* A key record as the ACL check last read it, valid while the store's
 * generation is `gen`. */
struct acl_entry {
    char id[LK_SECRET_ID_LEN + 1]; /* "" = free */
    uint64_t gen;
    lk_key_status status;
    int64_t expire_time; /* 0: never; a key that expires while connected is refused from then on */
    bool is_api;
    lk_apikey api; /* its scope, owned (API keys) */
};

#define ACL_SLOTS 4096 /* direct-mapped by key id: a collision costs one read */

struct mlk {
    mosquitto_plugin_id_t *id;
    lk_ctx *ctx;
    struct acl_entry *acl; /* ACL_SLOTS */
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

/* The peer's address when it is an IP address; NULL otherwise (a client on
 * a unix socket), which the core reads as "unknown": a key with an IP
 * allowlist then denies, and any other text would be a caller error. */
static const char *client_ip(const struct mosquitto *client)
{
    const char *a = mosquitto_client_address(client);
    unsigned char buf[sizeof(struct in6_addr)];
    if (a != NULL && (inet_pton(AF_INET, a, buf) == 1 || inet_pton(AF_INET6, a, buf) == 1))
        return a;
    return NULL;
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
    memset(&req, 0, sizeof req);
    req.client_ip = client_ip(ed->client);
    /* Scope entries are topic prefixes, checked per message (acl_check). */
    req.flags = LK_VERIFY_SCOPE_BY_CALLER;
    memset(&info, 0, sizeof info);
    if (as_secretid)
        st = lk_verify_key(p->ctx, ed->username, ed->password, strlen(ed->password), &req, &info);
    else
        st = lk_verify_apikey(p->ctx, ed->password, strlen(ed->password), &req, &info);

    /* Name the key by its public id only: never any part of the password,
     * nor of a key typed in as the user name. */
    char user[LK_SECRET_ID_LEN + 8];
    shown = info.key_id[0] ? info.key_id
            : as_secretid  ? lk_redact(ed->username, user, sizeof user)
                           : "unrecognised API key";
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

static void acl_entry_clear(struct acl_entry *e)
{
    if (e->id[0] != '\0' && e->is_api)
        lk_apikey_release(&e->api);
    memset(e, 0, sizeof *e);
}

static struct acl_entry *acl_slot(struct mlk *p, const char *id)
{
    uint32_t h = 2166136261u; /* FNV-1a: ids are random */
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 16777619u;
    return &p->acl[h % ACL_SLOTS];
}

static int acl_verdict(const struct acl_entry *e, const char *topic)
{
    if (e->status != LK_KEY_ACTIVE)
        return MOSQ_ERR_ACL_DENIED;
    if (e->expire_time != LK_EXPIRES_NEVER && (int64_t)time(NULL) >= e->expire_time) /* expiry changes no generation */
        return MOSQ_ERR_ACL_DENIED;
    if (!e->is_api || e->api.scope_count == 0)
        return MOSQ_ERR_SUCCESS;
    for (size_t i = 0; i < e->api.scope_count; i++)
        if (topic_in_scope(topic, e->api.scope[i]))
            return MOSQ_ERR_SUCCESS;
    return MOSQ_ERR_ACL_DENIED;
}

/* Read the key's record into e (stamped with gen, read before it). */
static lk_status acl_read(struct mlk *p, const char *user, bool is_api, uint64_t gen, struct acl_entry *e)
{
    lk_status st;
    acl_entry_clear(e);
    if (is_api) {
        st = lk_apikey_get(p->ctx, user, &e->api);
        e->status = e->api.status;
        e->expire_time = e->api.expire_time;
    } else {
        lk_access_key k;
        memset(&k, 0, sizeof k);
        st = lk_key_get(p->ctx, user, &k);
        e->status = k.status;
        e->expire_time = k.expire_time;
    }
    if (st != LK_OK) {
        memset(e, 0, sizeof *e);
        return st;
    }
    e->is_api = is_api;
    e->gen = gen;
    snprintf(e->id, sizeof e->id, "%s", user);
    return LK_OK;
}

static int on_acl_check(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_acl_check *ed = event_data;
    struct mlk *p = userdata;
    const char *user = mosquitto_client_username(ed->client);
    lk_status st;
    uint64_t gen = 0;

    (void)event;
    bool is_api = is_apikey_id(user);
    if (!is_api && !is_secret_id(user))
        return MOSQ_ERR_PLUGIN_DEFER; /* not a client of ours */
    /* The generation first, then the record: a change between the two
     * shows as a new generation at the next check. 0 (cannot tell, or an
     * error): read every time. */
    if (lk_store_generation(p->ctx, &gen) != LK_OK)
        gen = 0;
    struct acl_entry *e = acl_slot(p, user);
    if (gen != 0 && e->gen == gen && e->is_api == is_api && strcmp(e->id, user) == 0)
        return acl_verdict(e, ed->topic);
    st = acl_read(p, user, is_api, gen, e);
    if (st == LK_OK) {
        int rc = acl_verdict(e, ed->topic);
        if (gen == 0)
            acl_entry_clear(e); /* nothing tells when it goes stale */
        return rc;
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
    const char *config = NULL, *socket = NULL;
    struct mlk *p;
    lk_status st;
    int rc;

    for (int i = 0; i < option_count; i++) {
        if (strcasecmp(options[i].key, "config") == 0) {
            config = options[i].value;
        } else if (strcasecmp(options[i].key, "socket") == 0) {
            socket = options[i].value;
        } else {
            mosquitto_log_printf(MOSQ_LOG_ERR, "latchkey: unknown option plugin_opt_%s", options[i].key);
            return MOSQ_ERR_INVAL;
        }
    }
    if ((config == NULL) == (socket == NULL) || (config && config[0] == '\0') || (socket && socket[0] == '\0')) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "latchkey: one of plugin_opt_config /path/to/latchkey.yaml or "
                                           "plugin_opt_socket /path/to/latchkeyd.sock is required");
        return MOSQ_ERR_INVAL;
    }
    /* With a socket the broker (often running as user mosquitto) never
     * opens the store: latchkeyd answers every check. */
    const char *source = socket ? socket : config;

    p = calloc(1, sizeof *p);
    if (p == NULL)
        return MOSQ_ERR_NOMEM;
    p->id = identifier;
    p->acl = calloc(ACL_SLOTS, sizeof *p->acl);
    if (p->acl == NULL) {
        free(p);
        return MOSQ_ERR_NOMEM;
    }
    st = socket ? lk_connect(socket, &p->ctx) : lk_open(config, &p->ctx);
    if (st != LK_OK) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "latchkey: cannot open %s: %s: %s", source, lk_status_code(st),
                             lk_errmsg(NULL));
        free(p->acl);
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
        free(p->acl);
        free(p);
        return rc;
    }
    mosquitto_log_printf(MOSQ_LOG_INFO, "latchkey: using %s", source);
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
    for (size_t i = 0; i < ACL_SLOTS; i++)
        acl_entry_clear(&p->acl[i]);
    free(p->acl);
    free(p);
    return MOSQ_ERR_SUCCESS;
}
