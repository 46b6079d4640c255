/*
 * The seed rules and error codes, through the public API, run once per
 * backend (LMDB and flat file) on a real store on disk.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "latchkey.h"

typedef struct fixture {
    const char *backend;
    char dir[64];
    char path[128];
    lk_config *cfg;
    lk_ctx *ctx;
} fixture;

static const char *backend_for_group; /* set by main before each group; tests read it via the fixture */

static lk_config *make_config(const char *backend, const char *path)
{
    lk_config *cfg;
    assert_int_equal(lk_config_default(&cfg), LK_OK);
    assert_int_equal(lk_config_set(cfg, "store.backend", backend), LK_OK);
    assert_int_equal(lk_config_set(cfg, "store.path", path), LK_OK);
    /* the cheapest Argon2id libsodium allows: rules, not hashing, are under test */
    assert_int_equal(lk_config_set(cfg, "hash.opslimit", "1"), LK_OK);
    assert_int_equal(lk_config_set(cfg, "hash.memlimit_kib", "8"), LK_OK);
    return cfg;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->backend = backend_for_group;
    snprintf(f->dir, sizeof f->dir, "/tmp/lk-rules-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof f->path, "%s/store", f->dir);
    f->cfg = make_config(f->backend, f->path);
    if (lk_open_config(f->cfg, &f->ctx) != LK_OK) {
        fprintf(stderr, "open: %s\n", lk_errmsg(NULL));
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[160];
    lk_close(f->ctx);
    lk_config_free(f->cfg);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static void reopen(fixture *f)
{
    lk_close(f->ctx);
    assert_int_equal(lk_open_config(f->cfg, &f->ctx), LK_OK);
}

/* The store file's bytes, to prove what is (not) in it. */
static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

static void users_follow_cam_rules(void **state)
{
    fixture *f = *state;
    lk_user u;
    assert_int_equal(lk_user_add(f->ctx, 100001, LK_USER_ROOT, 0), LK_OK);
    assert_int_equal(lk_user_add(f->ctx, 100001, LK_USER_ROOT, 0), LK_ERR_USER_EXISTS);
    assert_int_equal(lk_user_add(f->ctx, 200001, LK_USER_SUB, 100001), LK_OK);
    assert_int_equal(lk_user_add(f->ctx, 200002, LK_USER_COLLABORATOR, 100001), LK_OK);
    assert_int_equal(lk_user_add(f->ctx, 200003, LK_USER_SUB, 999), LK_ERR_USER_NOT_EXIST);
    assert_int_equal(lk_user_add(f->ctx, 200004, LK_USER_SUB, 200001), LK_ERR_SUB_UIN);
    assert_int_equal(lk_user_add(f->ctx, 0, LK_USER_ROOT, 0), LK_ERR_PARAM);
    assert_int_equal(lk_user_add(f->ctx, (uint64_t)INT64_MAX + 1, LK_USER_ROOT, 0), LK_ERR_PARAM);
    assert_int_equal(lk_user_add(f->ctx, 300001, LK_USER_SUB, 0), LK_ERR_PARAM);
    assert_int_equal(lk_user_add(f->ctx, 300002, (lk_user_kind)7, 0), LK_ERR_PARAM);
    assert_int_equal(lk_user_get(f->ctx, 200001, &u), LK_OK);
    assert_int_equal(u.kind, LK_USER_SUB);
    assert_true(u.root_uin == 100001);
    assert_int_equal(lk_user_get(f->ctx, 555, &u), LK_ERR_USER_NOT_EXIST);
    assert_string_equal(lk_status_code(LK_ERR_USER_NOT_EXIST), "InvalidParameter.UserNotExist");

    lk_user *list;
    size_t n;
    assert_int_equal(lk_user_list(f->ctx, 100001, &list, &n), LK_OK);
    assert_int_equal(n, 3);
    lk_free(list);
    assert_int_equal(lk_user_list(f->ctx, 200001, &list, &n), LK_ERR_SUB_UIN);

    /* a root with members cannot go; members can */
    assert_int_equal(lk_user_delete(f->ctx, 100001, 1), LK_ERR_USER_HAS_KEYS);
    assert_int_equal(lk_user_delete(f->ctx, 200002, 0), LK_OK);
    assert_int_equal(lk_user_get(f->ctx, 200002, &u), LK_ERR_USER_NOT_EXIST);
}

static void at_most_two_pairs_per_user(void **state)
{
    fixture *f = *state;
    lk_access_key k1, k2, k3;
    lk_secret *s1, *s2, *s3;
    assert_int_equal(lk_key_create(f->ctx, 7, &k1, &s1), LK_ERR_USER_NOT_EXIST);
    assert_null(s1);
    assert_int_equal(lk_user_add(f->ctx, 7, LK_USER_ROOT, 0), LK_OK);
    assert_int_equal(lk_key_create(f->ctx, 7, &k1, &s1), LK_OK);
    assert_int_equal(lk_key_create(f->ctx, 7, &k2, &s2), LK_OK);
    assert_int_equal(lk_key_create(f->ctx, 7, &k3, &s3), LK_ERR_KEY_OVER_LIMIT);
    assert_null(s3);
    assert_string_equal(lk_status_code(LK_ERR_KEY_OVER_LIMIT), "OperationDenied.AccessKeyOverLimit");
    assert_non_null(strstr(lk_errmsg(f->ctx), "limit is 2"));
    assert_string_not_equal(k1.secret_id, k2.secret_id);
    assert_int_equal(k1.status, LK_KEY_ACTIVE);
    assert_true(k1.create_time > 0);

    /* freeing a slot (disable + delete) allows a new pair */
    assert_int_equal(lk_key_set_status(f->ctx, k1.secret_id, 0, LK_KEY_INACTIVE), LK_OK);
    assert_int_equal(lk_key_delete(f->ctx, k1.secret_id, 0), LK_OK);
    assert_int_equal(lk_key_create(f->ctx, 7, &k3, &s3), LK_OK);

    lk_access_key *list;
    size_t n;
    assert_int_equal(lk_key_list(f->ctx, 7, &list, &n), LK_OK);
    assert_int_equal(n, 2);
    lk_free(list);
    lk_secret_free(s1);
    lk_secret_free(s2);
    lk_secret_free(s3);
}

static void pair_limit_is_configurable(void **state)
{
    fixture *f = *state;
    lk_access_key k;
    lk_secret *s;
    lk_close(f->ctx);
    assert_int_equal(lk_config_set(f->cfg, "limits.keys_per_user", "3"), LK_OK);
    assert_int_equal(lk_open_config(f->cfg, &f->ctx), LK_OK);
    assert_int_equal(lk_user_add(f->ctx, 8, LK_USER_ROOT, 0), LK_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(lk_key_create(f->ctx, 8, &k, &s), LK_OK);
        lk_secret_free(s);
    }
    assert_int_equal(lk_key_create(f->ctx, 8, &k, &s), LK_ERR_KEY_OVER_LIMIT);
}

static void pair_lifecycle_and_verify(void **state)
{
    fixture *f = *state;
    lk_access_key k, got;
    lk_secret *s;
    lk_verify_info info;
    assert_int_equal(lk_user_add(f->ctx, 9, LK_USER_ROOT, 0), LK_OK);
    assert_int_equal(lk_user_add(f->ctx, 10, LK_USER_SUB, 9), LK_OK);
    assert_int_equal(lk_key_create(f->ctx, 10, &k, &s), LK_OK);
    const char *sk = lk_secret_str(s);
    size_t skl = lk_secret_len(s);
    assert_int_equal(skl, LK_SECRET_KEY_LEN);

    assert_int_equal(lk_verify_key(f->ctx, k.secret_id, sk, skl, NULL, &info), LK_OK);
    assert_true(info.uin == 10);
    assert_string_equal(info.key_id, k.secret_id);

    char wrong[LK_SECRET_KEY_LEN + 1];
    memcpy(wrong, sk, skl + 1);
    wrong[10] = wrong[10] == 'x' ? 'y' : 'x'; /* breaks the checksum: a wrong secret, found without Argon2id */
    lk_stats before, after;
    lk_get_stats(f->ctx, &before);
    assert_int_equal(lk_verify_key(f->ctx, k.secret_id, wrong, skl, NULL, NULL), LK_DENY_BAD_SECRET);
    assert_int_equal(lk_verify_key(f->ctx, k.secret_id, wrong, skl - 1, NULL, NULL), LK_DENY_BAD_SECRET);
    assert_int_equal(lk_verify_key(f->ctx, k.secret_id, NULL, 0, NULL, NULL), LK_DENY_BAD_SECRET);
    lk_get_stats(f->ctx, &after);
    assert_int_equal(after.argon2_verifies, before.argon2_verifies);
    assert_int_equal(lk_verify_key(f->ctx, "AKID-not-an-id", sk, skl, NULL, NULL), LK_DENY_MALFORMED);

    /* the owner check */
    assert_int_equal(lk_key_set_status(f->ctx, k.secret_id, 9, LK_KEY_INACTIVE), LK_ERR_UIN_NOT_MATCH);
    assert_int_equal(lk_key_delete(f->ctx, k.secret_id, 0), LK_ERR_KEY_ENABLED);
    assert_string_equal(lk_status_code(LK_ERR_KEY_ENABLED), "FailedOperation.Accesskey");

    assert_int_equal(lk_key_set_status(f->ctx, k.secret_id, 10, LK_KEY_INACTIVE), LK_OK);
    assert_int_equal(lk_key_get(f->ctx, k.secret_id, &got), LK_OK);
    assert_int_equal(got.status, LK_KEY_INACTIVE);
    assert_true(got.last_access_time > 0);
    assert_int_equal(lk_verify_key(f->ctx, k.secret_id, sk, skl, NULL, NULL), LK_DENY_DISABLED);
    assert_int_equal(lk_key_set_status(f->ctx, k.secret_id, 0, LK_KEY_ACTIVE), LK_OK);
    assert_int_equal(lk_verify_key(f->ctx, k.secret_id, sk, skl, NULL, NULL), LK_OK);
    assert_int_equal(lk_key_set_status(f->ctx, k.secret_id, 0, LK_KEY_INACTIVE), LK_OK);
    assert_int_equal(lk_key_delete(f->ctx, k.secret_id, 0), LK_OK);
    assert_int_equal(lk_verify_key(f->ctx, k.secret_id, sk, skl, NULL, NULL), LK_DENY_UNKNOWN_KEY);
    assert_int_equal(lk_key_get(f->ctx, k.secret_id, &got), LK_ERR_KEY_NOT_EXIST);
    assert_int_equal(lk_key_delete(f->ctx, k.secret_id, 0), LK_ERR_KEY_NOT_EXIST);
    assert_int_equal(lk_key_get(f->ctx, "AKIDnot-a-key", &got), LK_ERR_PARAM);
    lk_secret_free(s);
}

static void secrets_are_never_stored(void **state)
{
    fixture *f = *state;
    lk_access_key k;
    lk_apikey a;
    lk_secret *s, *ak;
    lk_apikey_spec spec = {.name = "prod"};
    assert_int_equal(lk_user_add(f->ctx, 11, LK_USER_ROOT, 0), LK_OK);
    assert_int_equal(lk_key_create(f->ctx, 11, &k, &s), LK_OK);
    assert_int_equal(lk_apikey_create(f->ctx, 11, &spec, &a, &ak), LK_OK);
    assert_int_equal(lk_verify_key(f->ctx, k.secret_id, lk_secret_str(s), lk_secret_len(s), NULL, NULL), LK_OK);
    assert_int_equal(lk_flush(f->ctx), LK_OK);
    lk_close(f->ctx);
    f->ctx = NULL;
    size_t len;
    char *bytes = slurp(f->path, &len);
    assert_non_null(memmem(bytes, len, k.secret_id, strlen(k.secret_id))); /* the id is there... */
    assert_null(memmem(bytes, len, lk_secret_str(s), lk_secret_len(s)));   /* ...the secret is not */
    assert_null(memmem(bytes, len, lk_secret_str(ak), lk_secret_len(ak)));
    assert_null(memmem(bytes, len, lk_secret_str(ak) + LK_APIKEY_ID_LEN, 20)); /* nor its random part */
    assert_non_null(memmem(bytes, len, "$argon2id$", 10));
    free(bytes);
    struct stat sb;
    assert_int_equal(stat(f->path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    lk_apikey_release(&a);
    lk_secret_free(s);
    lk_secret_free(ak);
    assert_int_equal(lk_open_config(f->cfg, &f->ctx), LK_OK);
}

static void apikey_rules(void **state)
{
    fixture *f = *state;
    lk_apikey a, got;
    lk_secret *key;
    const char *scope[] = {"svc-a", "hunyuan-t1"};
    const char *ips[] = {"10.0.0.0/8", "2001:DB8::/32", "192.0.2.7"};
    lk_apikey_spec spec = {.name = "Production Environment-Text Service",
                           .description = "for the chat frontend",
                           .scope = scope,
                           .scope_count = 2,
                           .allow_ip = ips,
                           .allow_ip_count = 3};
    assert_int_equal(lk_user_add(f->ctx, 12, LK_USER_ROOT, 0), LK_OK);
    assert_int_equal(lk_user_add(f->ctx, 13, LK_USER_SUB, 12), LK_OK);
    assert_int_equal(lk_apikey_create(f->ctx, 13, &spec, &a, &key), LK_ERR_SUB_UIN);
    assert_int_equal(lk_apikey_create(f->ctx, 14, &spec, &a, &key), LK_ERR_USER_NOT_EXIST);
    assert_int_equal(lk_apikey_create(f->ctx, 12, &spec, &a, &key), LK_OK);
    const char *kv = lk_secret_str(key);
    assert_int_equal(strlen(kv), LK_APIKEY_LEN);
    assert_memory_equal(a.id, kv, LK_APIKEY_ID_LEN); /* the key carries its id */
    assert_memory_equal(a.masked, kv, 5);
    assert_memory_equal(a.masked + 5, "***", 3);
    assert_memory_equal(a.masked + 8, kv + LK_APIKEY_LEN - 4, 4);
    assert_int_equal(a.allow_ip_count, 3);
    assert_string_equal(a.allow_ip[1], "2001:db8::/32"); /* canonical */
    char id[LK_APIKEY_ID_LEN + 1];
    memcpy(id, a.id, sizeof id);
    lk_apikey_release(&a);

    lk_apikey *dupe_out = &a;
    lk_secret *k2;
    assert_int_equal(lk_apikey_create(f->ctx, 12, &spec, dupe_out, &k2), LK_ERR_NAME_EXISTS);

    lk_verify_req ok = {.client_ip = "10.1.2.3", .service = "svc-a"};
    lk_verify_req v6 = {.client_ip = "2001:db8:1::5", .service = "hunyuan-t1"};
    lk_verify_req mapped = {.client_ip = "::ffff:192.0.2.7", .service = NULL};
    lk_verify_req bad_ip = {.client_ip = "192.168.1.1", .service = "svc-a"};
    lk_verify_req no_ip = {.client_ip = NULL, .service = "svc-a"};
    lk_verify_req bad_scope = {.client_ip = "10.1.2.3", .service = "svc-c"};
    lk_verify_info info;
    assert_int_equal(lk_verify_apikey(f->ctx, kv, LK_APIKEY_LEN, &ok, &info), LK_OK);
    assert_true(info.uin == 12);
    assert_int_equal(lk_verify_apikey(f->ctx, kv, LK_APIKEY_LEN, &v6, NULL), LK_OK);
    assert_int_equal(lk_verify_apikey(f->ctx, kv, LK_APIKEY_LEN, &mapped, NULL), LK_OK);
    assert_int_equal(lk_verify_apikey(f->ctx, kv, LK_APIKEY_LEN, &bad_ip, NULL), LK_DENY_IP);
    assert_int_equal(lk_verify_apikey(f->ctx, kv, LK_APIKEY_LEN, &no_ip, NULL), LK_DENY_IP);
    assert_int_equal(lk_verify_apikey(f->ctx, kv, LK_APIKEY_LEN, &bad_scope, NULL), LK_DENY_SCOPE);
    assert_string_equal(lk_status_code(LK_DENY_SCOPE), "AuthFailure.UnauthorizedOperation");

    /* edit: description and scope change; the new scope replaces the old */
    const char *scope2[] = {"svc-c"};
    lk_apikey_edit e = {.description = "moved", .set_scope = 1, .scope = scope2, .scope_count = 1};
    assert_int_equal(lk_apikey_edit_key(f->ctx, "lk-short", &e), LK_ERR_PARAM);
    assert_int_equal(lk_apikey_find(f->ctx, 12, "Production Environment-Text Service", &got), LK_OK);
    assert_string_equal(got.id, id);
    assert_int_equal(lk_apikey_edit_key(f->ctx, got.id, &e), LK_OK);
    assert_int_equal(lk_verify_apikey(f->ctx, kv, LK_APIKEY_LEN, &bad_scope, NULL), LK_OK);
    assert_int_equal(lk_verify_apikey(f->ctx, kv, LK_APIKEY_LEN, &ok, NULL), LK_DENY_SCOPE);
    lk_apikey_edit all = {.set_scope = 1, .scope_count = 0, .set_allow_ip = 1, .allow_ip_count = 0};
    assert_int_equal(lk_apikey_edit_key(f->ctx, got.id, &all), LK_OK);
    lk_verify_req anywhere = {.client_ip = "203.0.113.9", .service = "anything"};
    assert_int_equal(lk_verify_apikey(f->ctx, kv, LK_APIKEY_LEN, &anywhere, NULL), LK_OK);
    lk_apikey_release(&got);
    assert_int_equal(lk_apikey_get(f->ctx, id, &got), LK_OK);
    assert_string_equal(got.description, "moved");
    assert_string_equal(got.name, "Production Environment-Text Service");
    assert_int_equal(got.scope_count, 0);
    assert_true(got.last_access_time > 0);

    /* disable is immediate, delete needs disable */
    assert_int_equal(lk_apikey_delete(f->ctx, got.id), LK_ERR_KEY_ENABLED);
    assert_int_equal(lk_apikey_set_status(f->ctx, got.id, LK_KEY_INACTIVE), LK_OK);
    assert_int_equal(lk_verify_apikey(f->ctx, kv, LK_APIKEY_LEN, &anywhere, NULL), LK_DENY_DISABLED);
    assert_int_equal(lk_apikey_delete(f->ctx, got.id), LK_OK);
    assert_int_equal(lk_verify_apikey(f->ctx, kv, LK_APIKEY_LEN, &anywhere, NULL), LK_DENY_UNKNOWN_KEY);
    assert_int_equal(lk_apikey_find(f->ctx, 12, "Production Environment-Text Service", &a), LK_ERR_KEY_NOT_EXIST);
    /* the name is free again */
    assert_int_equal(lk_apikey_create(f->ctx, 12, &spec, NULL, &k2), LK_OK);
    lk_secret_free(k2);
    lk_apikey_release(&got);
    lk_secret_free(key);
}

static void apikey_input_is_validated(void **state)
{
    fixture *f = *state;
    lk_secret *key;
    char longname[LK_NAME_MAX + 2];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    const char *bad_svc[] = {"has space"};
    const char *dup_svc[] = {"a", "a"};
    const char *bad_ip[] = {"10.0.0.1/8"};
    const char *junk_ip[] = {"10.0.0.256"};
    const char *dup_ip[] = {"10.0.0.0/8", "10.0.0.0/8"};
    const char *many_ip[LK_ALLOW_IP_MAX + 1];
    char ipbuf[LK_ALLOW_IP_MAX + 1][20];
    for (int i = 0; i <= LK_ALLOW_IP_MAX; i++) {
        snprintf(ipbuf[i], sizeof ipbuf[i], "10.0.%d.1", i);
        many_ip[i] = ipbuf[i];
    }
    assert_int_equal(lk_user_add(f->ctx, 15, LK_USER_ROOT, 0), LK_OK);
    struct {
        lk_apikey_spec spec;
        const char *msg;
    } cases[] = {
        {{.name = NULL}, "needs a name"},
        {{.name = ""}, "needs a name"},
        {{.name = longname}, "at most 64"},
        {{.name = "bad\xff"}, "UTF-8"},
        {{.name = "tab\there"}, "control"},
        {{.name = "x", .description = "line\nbreak"}, "description"},
        {{.name = "x", .scope = bad_svc, .scope_count = 1}, "has space"},
        {{.name = "x", .scope = dup_svc, .scope_count = 2}, "twice"},
        {{.name = "x", .allow_ip = bad_ip, .allow_ip_count = 1}, "10.0.0.1/8"},
        {{.name = "x", .allow_ip = junk_ip, .allow_ip_count = 1}, "10.0.0.256"},
        {{.name = "x", .allow_ip = dup_ip, .allow_ip_count = 2}, "twice"},
        {{.name = "x", .allow_ip = many_ip, .allow_ip_count = LK_ALLOW_IP_MAX + 1}, "at most 50"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(lk_apikey_create(f->ctx, 15, &cases[i].spec, NULL, &key), LK_ERR_PARAM);
        assert_null(key);
        if (strstr(lk_errmsg(f->ctx), cases[i].msg) == NULL)
            fail_msg("case %zu: message '%s' lacks '%s'", i, lk_errmsg(f->ctx), cases[i].msg);
    }
    lk_apikey_spec fifty = {.name = "fifty", .allow_ip = many_ip, .allow_ip_count = LK_ALLOW_IP_MAX};
    assert_int_equal(lk_apikey_create(f->ctx, 15, &fifty, NULL, &key), LK_OK);
    lk_secret_free(key);
    lk_apikey *list;
    size_t n;
    assert_int_equal(lk_apikey_list(f->ctx, 15, &list, &n), LK_OK);
    assert_int_equal(n, 1); /* nothing half-created by the refused calls */
    assert_int_equal(list[0].allow_ip_count, LK_ALLOW_IP_MAX);
    lk_apikey_list_free(list, n);
}

static void fifty_apikeys_per_account(void **state)
{
    fixture *f = *state;
    lk_secret *key;
    char name[32];
    assert_int_equal(lk_user_add(f->ctx, 16, LK_USER_ROOT, 0), LK_OK);
    for (int i = 0; i < 50; i++) {
        snprintf(name, sizeof name, "key-%02d", i);
        lk_apikey_spec spec = {.name = name};
        assert_int_equal(lk_apikey_create(f->ctx, 16, &spec, NULL, &key), LK_OK);
        lk_secret_free(key);
    }
    lk_apikey_spec spec = {.name = "one-too-many"};
    assert_int_equal(lk_apikey_create(f->ctx, 16, &spec, NULL, &key), LK_ERR_APIKEY_OVER_LIMIT);
    assert_string_equal(lk_status_code(LK_ERR_APIKEY_OVER_LIMIT), "OperationDenied.ApiKeyOverLimit");
    lk_apikey *list;
    size_t n;
    assert_int_equal(lk_apikey_list(f->ctx, 16, &list, &n), LK_OK);
    assert_int_equal(n, 50);
    lk_apikey_list_free(list, n);
}

static int64_t fake_now;
static int64_t fake_clock(void *arg)
{
    (void)arg;
    return fake_now;
}

static void access_records_keep_latest_twenty_within_retention(void **state)
{
    fixture *f = *state;
    lk_access_key k;
    lk_secret *s;
    lk_access_record recs[LK_RECORDS_MAX];
    size_t n;
    int64_t last;

    fake_now = 1700000000;
    lk_set_clock(f->ctx, fake_clock, NULL);
    assert_int_equal(lk_user_add(f->ctx, 17, LK_USER_ROOT, 0), LK_OK);
    assert_int_equal(lk_key_create(f->ctx, 17, &k, &s), LK_OK);
    char wrong[LK_SECRET_KEY_LEN + 1];
    memcpy(wrong, lk_secret_str(s), sizeof wrong);
    assert_int_equal(lk_records(f->ctx, k.secret_id, recs, &n, &last), LK_OK);
    assert_int_equal(n, 0);
    assert_int_equal(last, 0);

    lk_verify_req req = {.client_ip = "198.51.100.4", .service = "cvm"};
    for (int i = 0; i < 25; i++) {
        fake_now++;
        lk_status want = (i % 5 == 4) ? LK_DENY_DISABLED : LK_OK;
        if (want == LK_DENY_DISABLED)
            assert_int_equal(lk_key_set_status(f->ctx, k.secret_id, 0, LK_KEY_INACTIVE), LK_OK);
        assert_int_equal(lk_verify_key(f->ctx, k.secret_id, lk_secret_str(s), lk_secret_len(s), &req, NULL), want);
        if (want == LK_DENY_DISABLED)
            assert_int_equal(lk_key_set_status(f->ctx, k.secret_id, 0, LK_KEY_ACTIVE), LK_OK);
        if (i == 12)
            assert_int_equal(lk_flush(f->ctx), LK_OK); /* half stored, half pending */
    }
    assert_int_equal(lk_records(f->ctx, k.secret_id, recs, &n, &last), LK_OK);
    assert_int_equal(n, 20);
    assert_int_equal(last, 1700000025);
    assert_int_equal(recs[0].time, 1700000025); /* newest first */
    assert_int_equal(recs[19].time, 1700000006);
    assert_int_equal(recs[0].result, LK_DENY_DISABLED);
    assert_int_equal(recs[1].result, LK_OK);
    assert_string_equal(recs[1].client_ip, "198.51.100.4");
    assert_string_equal(recs[1].service, "cvm");

    /* the same after a flush and a reopen: records persist */
    reopen(f);
    lk_set_clock(f->ctx, fake_clock, NULL);
    assert_int_equal(lk_records(f->ctx, k.secret_id, recs, &n, &last), LK_OK);
    assert_int_equal(n, 20);
    assert_int_equal(recs[0].time, 1700000025);

    /* 3 months on, all of them have aged out; the last access time stays */
    fake_now += 91 * 86400;
    assert_int_equal(lk_records(f->ctx, k.secret_id, recs, &n, &last), LK_OK);
    assert_int_equal(n, 0);
    assert_int_equal(last, 1700000025);
    assert_int_equal(lk_verify_key(f->ctx, k.secret_id, lk_secret_str(s), lk_secret_len(s), &req, NULL), LK_OK);
    assert_int_equal(lk_flush(f->ctx), LK_OK);
    assert_int_equal(lk_records(f->ctx, k.secret_id, recs, &n, &last), LK_OK);
    assert_int_equal(n, 1);
    assert_int_equal(last, fake_now);
    assert_int_equal(lk_records(f->ctx, "AKIDbogus", recs, &n, &last), LK_ERR_PARAM);
    lk_secret_free(s);
}

/* One flush carrying interleaved attempts on several keys keeps each key's
 * own records, in order, and nothing of the others'. */
static void one_flush_many_keys(void **state)
{
    fixture *f = *state;
    enum { KEYS = 3, ROUNDS = 9 };
    lk_access_key k[KEYS];
    lk_secret *s[KEYS];
    lk_access_record recs[LK_RECORDS_MAX];
    size_t n;
    int64_t last;
    char svc[16];

    fake_now = 1800000000;
    lk_set_clock(f->ctx, fake_clock, NULL);
    assert_int_equal(lk_user_add(f->ctx, 25, LK_USER_ROOT, 0), LK_OK);
    assert_int_equal(lk_user_add(f->ctx, 26, LK_USER_ROOT, 0), LK_OK);
    for (int i = 0; i < KEYS; i++)
        assert_int_equal(lk_key_create(f->ctx, i < 2 ? 25 : 26, &k[i], &s[i]), LK_OK);
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < KEYS; i++) {
            fake_now++;
            snprintf(svc, sizeof svc, "k%d-r%d", i, r);
            lk_verify_req req = {.service = svc};
            assert_int_equal(lk_verify_key(f->ctx, k[i].secret_id, lk_secret_str(s[i]), lk_secret_len(s[i]), &req, NULL),
                             LK_OK);
        }
    }
    assert_int_equal(lk_flush(f->ctx), LK_OK);
    reopen(f); /* only what the flush wrote */
    lk_set_clock(f->ctx, fake_clock, NULL);
    for (int i = 0; i < KEYS; i++) {
        assert_int_equal(lk_records(f->ctx, k[i].secret_id, recs, &n, &last), LK_OK);
        assert_int_equal(n, ROUNDS);
        assert_int_equal(last, 1800000000 + (ROUNDS - 1) * KEYS + i + 1);
        for (int r = 0; r < ROUNDS; r++) { /* newest first */
            snprintf(svc, sizeof svc, "k%d-r%d", i, ROUNDS - 1 - r);
            assert_string_equal(recs[r].service, svc);
        }
    }
    for (int i = 0; i < KEYS; i++)
        lk_secret_free(s[i]);
}

/* Wrong and right secrets take the same path: one Argon2id each; only a
 * verified secret is cached; malformed and unknown ids cost no Argon2id. */
static void verify_code_path_is_the_same_for_right_and_wrong(void **state)
{
    fixture *f = *state;
    lk_access_key k;
    lk_secret *s, *s2;
    lk_stats a, b;
    lk_close(f->ctx);
    assert_int_equal(lk_config_set(f->cfg, "cache.entries", "0"), LK_OK);
    assert_int_equal(lk_open_config(f->cfg, &f->ctx), LK_OK);
    assert_int_equal(lk_user_add(f->ctx, 18, LK_USER_ROOT, 0), LK_OK);
    assert_int_equal(lk_key_create(f->ctx, 18, &k, &s), LK_OK);
    assert_int_equal(lk_key_create(f->ctx, 18, &k, &s2), LK_OK); /* a well-formed but wrong SecretKey */

    lk_get_stats(f->ctx, &a);
    assert_int_equal(lk_verify_key(f->ctx, k.secret_id, lk_secret_str(s2), lk_secret_len(s2), NULL, NULL), LK_OK);
    lk_get_stats(f->ctx, &b);
    assert_int_equal(b.argon2_verifies - a.argon2_verifies, 1);
    assert_int_equal(lk_verify_key(f->ctx, k.secret_id, lk_secret_str(s), lk_secret_len(s), NULL, NULL),
                     LK_DENY_BAD_SECRET);
    lk_get_stats(f->ctx, &a);
    assert_int_equal(a.argon2_verifies - b.argon2_verifies, 1);
    assert_int_equal(a.cache_hits, 0);

    /* garbage and unknown ids: no Argon2id at all */
    assert_int_equal(lk_verify_key(f->ctx, "AKIDgarbage", "x", 1, NULL, NULL), LK_DENY_MALFORMED);
    char other[LK_SECRET_ID_LEN + 1];
    memcpy(other, "AKID", 4);
    { /* a well-formed id that does not exist: reuse a deleted key's id */
        lk_access_key gone;
        lk_secret *gs;
        assert_int_equal(lk_user_add(f->ctx, 19, LK_USER_ROOT, 0), LK_OK);
        assert_int_equal(lk_key_create(f->ctx, 19, &gone, &gs), LK_OK);
        assert_int_equal(lk_key_set_status(f->ctx, gone.secret_id, 0, LK_KEY_INACTIVE), LK_OK);
        assert_int_equal(lk_key_delete(f->ctx, gone.secret_id, 0), LK_OK);
        memcpy(other, gone.secret_id, sizeof other);
        lk_secret_free(gs);
    }
    lk_get_stats(f->ctx, &b);
    assert_int_equal(lk_verify_key(f->ctx, other, lk_secret_str(s), lk_secret_len(s), NULL, NULL),
                     LK_DENY_UNKNOWN_KEY);
    lk_get_stats(f->ctx, &a);
    assert_int_equal(a.argon2_verifies, b.argon2_verifies);
    assert_int_equal(a.early_rejects - b.early_rejects, 1);
    lk_secret_free(s);
    lk_secret_free(s2);
}

static void cache_skips_argon2_but_never_a_status_check(void **state)
{
    fixture *f = *state;
    lk_access_key k;
    lk_secret *s;
    lk_stats a, b;
    lk_ctx *other;
    assert_int_equal(lk_user_add(f->ctx, 20, LK_USER_ROOT, 0), LK_OK);
    assert_int_equal(lk_key_create(f->ctx, 20, &k, &s), LK_OK);
    for (int i = 0; i < 10; i++)
        assert_int_equal(lk_verify_key(f->ctx, k.secret_id, lk_secret_str(s), lk_secret_len(s), NULL, NULL), LK_OK);
    lk_get_stats(f->ctx, &a);
    assert_int_equal(a.argon2_verifies, 1);
    assert_int_equal(a.cache_hits, 9);

    /* a wrong secret after a cached good one still pays Argon2id and fails */
    char wrong[LK_SECRET_KEY_LEN + 1];
    lk_secret *s2;
    assert_int_equal(lk_key_create(f->ctx, 20, NULL, &s2), LK_OK);
    memcpy(wrong, lk_secret_str(s2), sizeof wrong);
    lk_secret_free(s2);
    assert_int_equal(lk_verify_key(f->ctx, k.secret_id, wrong, LK_SECRET_KEY_LEN, NULL, NULL), LK_DENY_BAD_SECRET);
    lk_get_stats(f->ctx, &b);
    assert_int_equal(b.argon2_verifies, 2);
    assert_int_equal(lk_verify_key(f->ctx, k.secret_id, wrong, LK_SECRET_KEY_LEN, NULL, NULL), LK_DENY_BAD_SECRET);

    /* another handle (another process in production) disables: the cached
     * handle refuses on its very next verify */
    assert_int_equal(lk_open_config(f->cfg, &other), LK_OK);
    assert_int_equal(lk_key_set_status(other, k.secret_id, 0, LK_KEY_INACTIVE), LK_OK);
    assert_int_equal(lk_verify_key(f->ctx, k.secret_id, lk_secret_str(s), lk_secret_len(s), NULL, NULL),
                     LK_DENY_DISABLED);
    assert_int_equal(lk_key_delete(other, k.secret_id, 0), LK_OK);
    assert_int_equal(lk_verify_key(f->ctx, k.secret_id, lk_secret_str(s), lk_secret_len(s), NULL, NULL),
                     LK_DENY_UNKNOWN_KEY);
    lk_close(other);
    lk_secret_free(s);
}

static void user_delete_needs_force_when_keys_remain(void **state)
{
    fixture *f = *state;
    lk_access_key k;
    lk_secret *s, *ak;
    lk_apikey_spec spec = {.name = "n"};
    lk_user u;
    assert_int_equal(lk_user_add(f->ctx, 21, LK_USER_ROOT, 0), LK_OK);
    assert_int_equal(lk_key_create(f->ctx, 21, &k, &s), LK_OK);
    assert_int_equal(lk_apikey_create(f->ctx, 21, &spec, NULL, &ak), LK_OK);
    assert_int_equal(lk_user_delete(f->ctx, 21, 0), LK_ERR_USER_HAS_KEYS);
    assert_int_equal(lk_user_get(f->ctx, 21, &u), LK_OK);
    assert_int_equal(lk_user_delete(f->ctx, 21, 1), LK_OK);
    assert_int_equal(lk_user_get(f->ctx, 21, &u), LK_ERR_USER_NOT_EXIST);
    assert_int_equal(lk_verify_key(f->ctx, k.secret_id, lk_secret_str(s), lk_secret_len(s), NULL, NULL),
                     LK_DENY_UNKNOWN_KEY);
    assert_int_equal(lk_verify_apikey(f->ctx, lk_secret_str(ak), lk_secret_len(ak), NULL, NULL), LK_DENY_UNKNOWN_KEY);
    /* and the user can come back with a clean slate */
    assert_int_equal(lk_user_add(f->ctx, 21, LK_USER_ROOT, 0), LK_OK);
    assert_int_equal(lk_apikey_create(f->ctx, 21, &spec, NULL, &ak), LK_OK);
    lk_secret_free(ak);
    lk_secret_free(s);
}

/* Hosts fork after loading a plugin: the child keeps using the inherited ctx
 * (the store is reopened: LMDB forbids using an environment across fork). */
static void forked_child_keeps_working(void **state)
{
    fixture *f = *state;
    lk_access_key k;
    lk_secret *s;
    assert_int_equal(lk_user_add(f->ctx, 22, LK_USER_ROOT, 0), LK_OK);
    assert_int_equal(lk_key_create(f->ctx, 22, &k, &s), LK_OK);
    assert_int_equal(lk_verify_key(f->ctx, k.secret_id, lk_secret_str(s), lk_secret_len(s), NULL, NULL), LK_OK);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        lk_status st = lk_verify_key(f->ctx, k.secret_id, lk_secret_str(s), lk_secret_len(s), NULL, NULL);
        if (st == LK_OK)
            st = lk_key_set_status(f->ctx, k.secret_id, 0, LK_KEY_INACTIVE);
        if (st == LK_OK)
            st = lk_flush(f->ctx);
        if (st != LK_OK)
            fprintf(stderr, "child: %s: %s\n", lk_status_code(st), lk_errmsg(NULL));
        _exit(st != LK_OK);
    }
    int wst;
    assert_int_equal(waitpid(pid, &wst, 0), pid);
    assert_true(WIFEXITED(wst));
    assert_int_equal(WEXITSTATUS(wst), 0);
    /* the parent sees the child's disable on its next verify */
    assert_int_equal(lk_verify_key(f->ctx, k.secret_id, lk_secret_str(s), lk_secret_len(s), NULL, NULL),
                     LK_DENY_DISABLED);
    lk_secret_free(s);
}

/* Two handles on one store in one process (a host with two plugin
 * instances): LMDB forbids opening an environment twice per process, so
 * they must share it; closing one must not break the other, nor the
 * locking against another process writing at the same time. */
static void two_handles_on_one_store(void **state)
{
    fixture *f = *state;
    lk_ctx *second;
    lk_user u;
    assert_int_equal(lk_open_config(f->cfg, &second), LK_OK);
    assert_int_equal(lk_user_add(second, 23, LK_USER_ROOT, 0), LK_OK);
    assert_int_equal(lk_user_get(f->ctx, 23, &u), LK_OK);
    lk_close(second);
    assert_int_equal(lk_user_add(f->ctx, 24, LK_USER_ROOT, 0), LK_OK);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* another process: its own handle, writing concurrently */
        lk_ctx *c;
        int bad = lk_open_config(f->cfg, &c) != LK_OK;
        for (uint64_t uin = 1000; uin < 1050 && !bad; uin++)
            bad = lk_user_add(c, uin, LK_USER_ROOT, 0) != LK_OK;
        lk_close(c);
        _exit(bad);
    }
    for (uint64_t uin = 2000; uin < 2050; uin++)
        assert_int_equal(lk_user_add(f->ctx, uin, LK_USER_ROOT, 0), LK_OK);
    int wst;
    assert_int_equal(waitpid(pid, &wst, 0), pid);
    assert_true(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
    lk_user *list;
    size_t n;
    assert_int_equal(lk_user_list(f->ctx, 0, &list, &n), LK_OK);
    assert_int_equal(n, 102);
    lk_free(list);
}

static void every_status_has_a_code_and_text(void **state)
{
    (void)state;
    for (int i = 0; i < LK_STATUS_COUNT_; i++) {
        assert_non_null(lk_status_code((lk_status)i));
        assert_non_null(strchr(lk_status_code((lk_status)i), i == LK_OK || i == LK_ERR_NOT_FOUND || i == LK_ERR_INTERNAL ? '\0' : '.'));
        assert_true(strlen(lk_strerror((lk_status)i)) > 3);
    }
    assert_string_equal(lk_status_code((lk_status)999), "InternalError.UnknownStatus");
    assert_true(lk_status_is_denial(LK_DENY_BAD_SECRET));
    assert_false(lk_status_is_denial(LK_ERR_STORE));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(users_follow_cam_rules),
        T(at_most_two_pairs_per_user),
        T(pair_limit_is_configurable),
        T(pair_lifecycle_and_verify),
        T(secrets_are_never_stored),
        T(apikey_rules),
        T(apikey_input_is_validated),
        T(fifty_apikeys_per_account),
        T(access_records_keep_latest_twenty_within_retention),
        T(one_flush_many_keys),
        T(verify_code_path_is_the_same_for_right_and_wrong),
        T(cache_skips_argon2_but_never_a_status_check),
        T(user_delete_needs_force_when_keys_remain),
        T(forked_child_keeps_working),
        T(two_handles_on_one_store),
        cmocka_unit_test(every_status_has_a_code_and_text),
    };
    int failed = 0;
    backend_for_group = "lmdb";
    failed += cmocka_run_group_tests_name("rules on lmdb", tests, NULL, NULL);
    backend_for_group = "flatfile";
    failed += cmocka_run_group_tests_name("rules on flatfile", tests, NULL, NULL);
    return failed ? 1 : 0;
}
