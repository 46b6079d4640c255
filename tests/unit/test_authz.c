/*
 * The management plane's rules (issue 20) through the public API: the
 * self-service grant on users, and lk_authorize over the whole matrix of
 * callers x targets x actions with the exact code of each cell, on a real
 * store of each backend (LMDB, flat file; with LK_TEST_PG_CONNINFO set, as
 * tests/pg/unit.sh does, PostgreSQL instead). Plus the caller that
 * lk_audit_caller puts in audit entries.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "latchkey.h"
#include "lk_backend.h"
#include "pg_empty.h"

/* Account A: root 100, its members 101..104. Account B: root 200, member 201. */
enum {
    ROOT_A = 100,
    SUB_MANAGE = 101,
    SUB_READ = 102,
    SUB_NONE = 103,
    COLLAB = 104,
    ROOT_B = 200,
    SUB_B = 201,
    MISSING = 999
};

typedef struct fixture {
    char dir[64];
    lk_config *cfg;
    lk_ctx *ctx;
} fixture;

static const char *backend = "lmdb"; /* of the group running; main sets it */

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char path[96];
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/lk-authz-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(path, sizeof path, "%s/store", f->dir);
    bool pg = strcmp(backend, "postgresql") == 0;
    /* the cheapest Argon2id: rules, not hashing, are under test */
    if (lk_config_default(&f->cfg) != LK_OK || lk_config_set(f->cfg, "store.backend", backend) != LK_OK ||
        lk_config_set(f->cfg, "store.path", path) != LK_OK || lk_config_set(f->cfg, "hash.opslimit", "1") != LK_OK ||
        lk_config_set(f->cfg, "hash.memlimit_kib", "8") != LK_OK ||
        (pg && (lk_config_set(f->cfg, "store.conninfo", getenv("LK_TEST_PG_CONNINFO")) != LK_OK || pg_empty() != 0)) ||
        lk_store_create(f->cfg) != LK_OK || lk_open_config(f->cfg, &f->ctx) != LK_OK)
        return -1;
    static const struct {
        uint64_t uin;
        lk_user_kind kind;
        uint64_t root;
        lk_self_service grant;
    } users[] = {
        {ROOT_A, LK_USER_ROOT, 0, LK_SELF_NONE},           {SUB_MANAGE, LK_USER_SUB, ROOT_A, LK_SELF_MANAGE},
        {SUB_READ, LK_USER_SUB, ROOT_A, LK_SELF_READ},     {SUB_NONE, LK_USER_SUB, ROOT_A, LK_SELF_NONE},
        {COLLAB, LK_USER_COLLABORATOR, ROOT_A, LK_SELF_NONE}, {ROOT_B, LK_USER_ROOT, 0, LK_SELF_NONE},
        {SUB_B, LK_USER_SUB, ROOT_B, LK_SELF_MANAGE},
    };
    for (size_t i = 0; i < sizeof users / sizeof users[0]; i++)
        if (lk_user_add_self_service(f->ctx, users[i].uin, users[i].kind, users[i].root, NULL, users[i].grant) !=
            LK_OK)
            return -1;
    /* the collaborator is granted afterwards, through the edit call */
    if (lk_user_set_self_service(f->ctx, COLLAB, LK_SELF_MANAGE) != LK_OK)
        return -1;
    *state = f;
    return 0;
}

/* The store's directory holds only files (the store and its lock). */
static int remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[64 + 256 + 2];
    int rc = d == NULL ? -1 : 0;
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        rc |= unlink(path);
    }
    if (d != NULL)
        closedir(d);
    return rc | rmdir(dir);
}

static int teardown(void **state)
{
    fixture *f = *state;
    lk_close(f->ctx);
    lk_config_free(f->cfg);
    int rc = remove_dir(f->dir);
    free(f);
    return rc == 0 ? 0 : -1;
}

static lk_caller caller_of(uint64_t uin)
{
    lk_caller c;
    memset(&c, 0, sizeof c);
    c.uin = uin;
    return c;
}

/* ------------------------------------------------------------ the grant */

static void grant_names_and_parse(void **state)
{
    (void)state;
    lk_self_service s = LK_SELF_READ;
    assert_string_equal(lk_self_service_name(LK_SELF_NONE), "none");
    assert_string_equal(lk_self_service_name(LK_SELF_READ), "read");
    assert_string_equal(lk_self_service_name(LK_SELF_MANAGE), "manage");
    assert_string_equal(lk_self_service_name((lk_self_service)9), "unknown");
    assert_int_equal(lk_self_service_parse("manage", &s), LK_OK);
    assert_int_equal(s, LK_SELF_MANAGE);
    assert_int_equal(lk_self_service_parse("none", &s), LK_OK);
    assert_int_equal(s, LK_SELF_NONE);
    static const char *const bad[] = {"", "Manage", "write", "read ", "all"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s = LK_SELF_READ;
        assert_int_equal(lk_self_service_parse(bad[i], &s), LK_ERR_PARAM);
        assert_int_equal(s, LK_SELF_READ); /* unchanged */
        assert_non_null(strstr(lk_errmsg(NULL), "expected none, read or manage"));
    }
    assert_int_equal(lk_self_service_parse(NULL, &s), LK_ERR_PARAM);
}

static void grant_is_stored_and_audited(void **state)
{
    fixture *f = *state;
    lk_user u;
    assert_int_equal(lk_user_get(f->ctx, SUB_MANAGE, &u), LK_OK);
    assert_int_equal(u.self_service, LK_SELF_MANAGE);
    assert_int_equal(lk_user_get(f->ctx, SUB_NONE, &u), LK_OK);
    assert_int_equal(u.self_service, LK_SELF_NONE);
    assert_int_equal(lk_user_get(f->ctx, COLLAB, &u), LK_OK);
    assert_int_equal(u.self_service, LK_SELF_MANAGE);

    assert_int_equal(lk_user_set_self_service(f->ctx, SUB_NONE, LK_SELF_READ), LK_OK);
    assert_int_equal(lk_user_get(f->ctx, SUB_NONE, &u), LK_OK);
    assert_int_equal(u.self_service, LK_SELF_READ);
    assert_int_equal(lk_user_set_self_service(f->ctx, SUB_NONE, LK_SELF_NONE), LK_OK);
    assert_int_equal(lk_user_get(f->ctx, SUB_NONE, &u), LK_OK);
    assert_int_equal(u.self_service, LK_SELF_NONE);

    lk_audit_entry *e;
    size_t n;
    assert_int_equal(lk_audit_list(f->ctx, 0, NULL, SUB_NONE, &e, &n), LK_OK);
    assert_int_equal(n, 3); /* add, read, none */
    assert_string_equal(e[0].action, "user.add");
    assert_non_null(strstr(e[0].fields, "; self-service none"));
    assert_string_equal(e[1].action, "user.edit");
    assert_string_equal(e[1].fields, "self-service none \u2192 read");
    assert_string_equal(e[2].fields, "self-service read \u2192 none");
    assert_int_equal(e[2].caller_uin, 0); /* the local tool: no caller */
    lk_free(e);

    /* the same grant again changes nothing and writes no entry */
    assert_int_equal(lk_user_set_self_service(f->ctx, SUB_NONE, LK_SELF_NONE), LK_OK);
    assert_int_equal(lk_audit_list(f->ctx, 0, NULL, SUB_NONE, &e, &n), LK_OK);
    assert_int_equal(n, 3);
    lk_free(e);

    assert_int_equal(lk_user_set_self_service(f->ctx, MISSING, LK_SELF_READ), LK_ERR_USER_NOT_EXIST);
    assert_int_equal(lk_user_set_self_service(f->ctx, SUB_NONE, (lk_self_service)3), LK_ERR_PARAM);
    assert_int_equal(lk_user_set_self_service(f->ctx, 0, LK_SELF_READ), LK_ERR_PARAM);
    assert_int_equal(lk_user_add_self_service(f->ctx, 105, LK_USER_SUB, ROOT_A, NULL, (lk_self_service)-1),
                     LK_ERR_PARAM);
    assert_int_equal(lk_user_get(f->ctx, 105, &u), LK_ERR_USER_NOT_EXIST);
    /* the user list carries it too */
    lk_user *all;
    assert_int_equal(lk_user_list(f->ctx, ROOT_A, &all, &n), LK_OK);
    assert_int_equal(n, 5);
    assert_int_equal(all[1].uin, SUB_MANAGE);
    assert_int_equal(all[1].self_service, LK_SELF_MANAGE);
    assert_int_equal(all[2].self_service, LK_SELF_READ);
    lk_free(all);
}

/* A user record as written before the grant existed (no "self" field)
 * reads as none; one whose grant is out of range is a corrupt record. */
static void record_without_grant_reads_as_none(void **state)
{
    fixture *f = *state;
    char path[96];
    lk_close(f->ctx);
    f->ctx = NULL;
    snprintf(path, sizeof path, "%s/store", f->dir);
    const lk_backend_ops *ops = lk_backend_find(backend);
    lk_backend_conf bc = {.path = path, .conninfo = getenv("LK_TEST_PG_CONNINFO")};
    void *h, *t;
    assert_int_equal(ops->open(&bc, &h), LK_OK);
    assert_int_equal(ops->begin(h, 1, &t), LK_OK);
    static const char old_rec[] = "kind=1 root=100 created=1700000000";
    static const char bad_rec[] = "kind=1 root=100 created=1700000000 self=3";
    assert_int_equal(ops->put(t, "u/00000000000000000106", 22, old_rec, sizeof old_rec - 1), LK_OK);
    assert_int_equal(ops->put(t, "u/00000000000000000107", 22, bad_rec, sizeof bad_rec - 1), LK_OK);
    assert_int_equal(ops->commit(t), LK_OK);
    ops->close(h);
    assert_int_equal(lk_open_config(f->cfg, &f->ctx), LK_OK);

    lk_user u;
    assert_int_equal(lk_user_get(f->ctx, 106, &u), LK_OK);
    assert_int_equal(u.kind, LK_USER_SUB);
    assert_int_equal(u.self_service, LK_SELF_NONE);
    lk_caller c = caller_of(106);
    assert_int_equal(lk_authorize(f->ctx, &c, LK_ACT_KEY_LIST, 0), LK_DENY_SCOPE);
    assert_int_equal(lk_user_get(f->ctx, 107, &u), LK_ERR_STORE);
    c = caller_of(107);
    assert_int_equal(lk_authorize(f->ctx, &c, LK_ACT_KEY_LIST, 0), LK_ERR_STORE); /* fail closed */
}

/* ------------------------------------------------------------ the matrix */

#define OK LK_OK
#define NE LK_ERR_USER_NOT_EXIST
#define NM LK_ERR_UIN_NOT_MATCH
#define SU LK_ERR_SUB_UIN
#define DS LK_DENY_SCOPE
#define PA LK_ERR_PARAM

/* One row: a caller on a target (0: itself), the code of each action in
 * lk_action order: key create, list, update, delete, last used, records;
 * API key create, describe, modify, delete; user list; audit read; user update. */
typedef struct cell_row {
    const char *what;
    uint64_t caller, target;
    lk_status want[LK_ACT_COUNT_];
} cell_row;

#define ALL(c) {c, c, c, c, c, c, c, c, c, c, c, c, c}
#define KEYS_THEN(k, rest) {k, k, k, k, k, k, rest, rest, rest, rest, rest, rest, rest}
/* a root account on itself: every action but a grant, which a root account never has */
#define ROOT_SELF {OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, PA}
#define ROOT_MEMBER {OK, OK, OK, OK, OK, OK, SU, SU, SU, SU, SU, OK, OK}

static const cell_row matrix[] = {
    /* a root account: everything on itself and its members (API keys and the
     * user list are the account's: a member has none), nothing elsewhere */
    {"root on itself", ROOT_A, 0, ROOT_SELF},
    {"root on itself by UIN", ROOT_A, ROOT_A, ROOT_SELF},
    {"root on a sub-user", ROOT_A, SUB_NONE, ROOT_MEMBER},
    {"root on a collaborator", ROOT_A, COLLAB, ROOT_MEMBER},
    {"root on another root", ROOT_A, ROOT_B, ALL(NM)},
    {"root on another account's member", ROOT_A, SUB_B, ALL(NM)},
    {"root on a missing UIN", ROOT_A, MISSING, ALL(NE)},

    /* a sub-user granted manage */
    {"manage on itself", SUB_MANAGE, 0, KEYS_THEN(OK, DS)},
    {"manage on itself by UIN", SUB_MANAGE, SUB_MANAGE, KEYS_THEN(OK, DS)},
    {"manage on another member", SUB_MANAGE, SUB_NONE, ALL(DS)},
    {"manage on its root", SUB_MANAGE, ROOT_A, KEYS_THEN(SU, DS)},
    {"manage on another root", SUB_MANAGE, ROOT_B, ALL(NM)},
    {"manage on another account's member", SUB_MANAGE, SUB_B, ALL(NM)},
    {"manage on a missing UIN", SUB_MANAGE, MISSING, ALL(NE)},

    /* a sub-user granted read: list, last used, records */
    {"read on itself", SUB_READ, 0, {DS, OK, DS, DS, OK, OK, DS, DS, DS, DS, DS, DS, DS}},
    {"read on itself by UIN", SUB_READ, SUB_READ, {DS, OK, DS, DS, OK, OK, DS, DS, DS, DS, DS, DS, DS}},
    {"read on another member", SUB_READ, SUB_MANAGE, ALL(DS)},
    {"read on its root", SUB_READ, ROOT_A, KEYS_THEN(SU, DS)},
    {"read on another root", SUB_READ, ROOT_B, ALL(NM)},
    {"read on another account's member", SUB_READ, SUB_B, ALL(NM)},
    {"read on a missing UIN", SUB_READ, MISSING, ALL(NE)},

    /* a sub-user not granted (the default) */
    {"ungranted on itself", SUB_NONE, 0, ALL(DS)},
    {"ungranted on itself by UIN", SUB_NONE, SUB_NONE, ALL(DS)},
    {"ungranted on another member", SUB_NONE, SUB_MANAGE, ALL(DS)},
    {"ungranted on its root", SUB_NONE, ROOT_A, KEYS_THEN(SU, DS)},
    {"ungranted on another root", SUB_NONE, ROOT_B, ALL(NM)},
    {"ungranted on another account's member", SUB_NONE, SUB_B, ALL(NM)},
    {"ungranted on a missing UIN", SUB_NONE, MISSING, ALL(NE)},

    /* a collaborator granted manage: as a sub-user granted manage */
    {"collaborator on itself", COLLAB, 0, KEYS_THEN(OK, DS)},
    {"collaborator on itself by UIN", COLLAB, COLLAB, KEYS_THEN(OK, DS)},
    {"collaborator on a member", COLLAB, SUB_MANAGE, ALL(DS)},
    {"collaborator on its root", COLLAB, ROOT_A, KEYS_THEN(SU, DS)},
    {"collaborator on another root", COLLAB, ROOT_B, ALL(NM)},
    {"collaborator on another account's member", COLLAB, SUB_B, ALL(NM)},
    {"collaborator on a missing UIN", COLLAB, MISSING, ALL(NE)},

    /* another account's root: its own account only */
    {"other root on itself", ROOT_B, 0, ROOT_SELF},
    {"other root on itself by UIN", ROOT_B, ROOT_B, ROOT_SELF},
    {"other root on its member", ROOT_B, SUB_B, ROOT_MEMBER},
    {"other root on account A's root", ROOT_B, ROOT_A, ALL(NM)},
    {"other root on account A's member", ROOT_B, SUB_MANAGE, ALL(NM)},
    {"other root on a missing UIN", ROOT_B, MISSING, ALL(NE)},
};

static void matrix_gives_the_exact_code(void **state)
{
    fixture *f = *state;
    uint64_t gen_before, gen_after;
    lk_audit_entry *e;
    size_t n_before, n_after, checked = 0;

    assert_int_equal(lk_store_generation(f->ctx, &gen_before), LK_OK);
    assert_int_equal(lk_audit_list(f->ctx, 0, NULL, 0, &e, &n_before), LK_OK);
    lk_free(e);
    for (size_t r = 0; r < sizeof matrix / sizeof matrix[0]; r++) {
        lk_caller c = caller_of(matrix[r].caller);
        for (int a = 0; a < LK_ACT_COUNT_; a++) {
            lk_status got = lk_authorize(f->ctx, &c, (lk_action)a, matrix[r].target);
            if (got != matrix[r].want[a])
                fail_msg("%s, action %d: %s (%s), want %s", matrix[r].what, a, lk_status_code(got),
                         lk_errmsg(NULL), lk_status_code(matrix[r].want[a]));
            /* every refusal says why, naming the caller or the target */
            if (got != LK_OK)
                assert_true(strlen(lk_errmsg(NULL)) > 10);
            checked++;
        }
    }
    assert_int_equal(checked, (sizeof matrix / sizeof matrix[0]) * LK_ACT_COUNT_);
    /* deciding wrote nothing: no store change (0 on PostgreSQL: it cannot tell), no audit entry */
    assert_int_equal(lk_store_generation(f->ctx, &gen_after), LK_OK);
    assert_true(gen_before == gen_after);
    assert_int_equal(lk_audit_list(f->ctx, 0, NULL, 0, &e, &n_after), LK_OK);
    lk_free(e);
    assert_int_equal(n_after, n_before);
}

/* The grant is read at every decision: a change applies at the next one. */
static void grant_change_applies_at_once(void **state)
{
    fixture *f = *state;
    lk_caller c = caller_of(SUB_NONE);
    assert_int_equal(lk_authorize(f->ctx, &c, LK_ACT_KEY_CREATE, 0), LK_DENY_SCOPE);
    assert_int_equal(lk_user_set_self_service(f->ctx, SUB_NONE, LK_SELF_MANAGE), LK_OK);
    assert_int_equal(lk_authorize(f->ctx, &c, LK_ACT_KEY_CREATE, 0), LK_OK);
    assert_int_equal(lk_user_set_self_service(f->ctx, SUB_NONE, LK_SELF_READ), LK_OK);
    assert_int_equal(lk_authorize(f->ctx, &c, LK_ACT_KEY_CREATE, 0), LK_DENY_SCOPE);
    assert_int_equal(lk_authorize(f->ctx, &c, LK_ACT_KEY_LIST, 0), LK_OK);
    /* a root account is never restricted, so never given a grant: it reads as manage */
    lk_user u;
    assert_int_equal(lk_user_set_self_service(f->ctx, ROOT_A, LK_SELF_NONE), LK_ERR_PARAM);
    assert_non_null(strstr(lk_errmsg(NULL), "is a root account"));
    assert_int_equal(lk_user_set_self_service(f->ctx, ROOT_A, LK_SELF_MANAGE), LK_ERR_PARAM);
    assert_int_equal(lk_user_add_self_service(f->ctx, 300, LK_USER_ROOT, 0, NULL, LK_SELF_READ), LK_ERR_PARAM);
    assert_int_equal(lk_user_get(f->ctx, 300, &u), LK_ERR_USER_NOT_EXIST);
    assert_int_equal(lk_user_get(f->ctx, ROOT_A, &u), LK_OK);
    assert_int_equal(u.self_service, LK_SELF_MANAGE);
    c = caller_of(ROOT_A);
    assert_int_equal(lk_authorize(f->ctx, &c, LK_ACT_KEY_DELETE, 0), LK_OK);
    assert_int_equal(lk_authorize(f->ctx, &c, LK_ACT_APIKEY_CREATE, 0), LK_OK);
    /* nor may it grant itself: a bad TargetUin, named as such */
    assert_int_equal(lk_authorize(f->ctx, &c, LK_ACT_USER_UPDATE, ROOT_A), LK_ERR_PARAM);
    assert_non_null(strstr(lk_errmsg(NULL), "TargetUin 100 is a root account"));
    assert_int_equal(lk_authorize(f->ctx, &c, LK_ACT_USER_UPDATE, SUB_NONE), LK_OK);
}

static void gone_caller_and_bad_arguments(void **state)
{
    fixture *f = *state;
    lk_caller c = caller_of(SUB_NONE);
    assert_int_equal(lk_user_delete(f->ctx, SUB_NONE, 0), LK_OK);
    for (int a = 0; a < LK_ACT_COUNT_; a++) {
        assert_int_equal(lk_authorize(f->ctx, &c, (lk_action)a, 0), LK_DENY_UNKNOWN_KEY);
        assert_int_equal(lk_authorize(f->ctx, &c, (lk_action)a, MISSING), LK_DENY_UNKNOWN_KEY);
    }
    assert_non_null(strstr(lk_errmsg(NULL), "no longer exists"));
    c = caller_of(MISSING);
    assert_int_equal(lk_authorize(f->ctx, &c, LK_ACT_KEY_LIST, ROOT_A), LK_DENY_UNKNOWN_KEY);

    c = caller_of(ROOT_A);
    assert_int_equal(lk_authorize(f->ctx, NULL, LK_ACT_KEY_LIST, 0), LK_ERR_PARAM);
    assert_int_equal(lk_authorize(f->ctx, &c, LK_ACT_COUNT_, 0), LK_ERR_PARAM);
    assert_int_equal(lk_authorize(f->ctx, &c, (lk_action)-1, 0), LK_ERR_PARAM);
    assert_int_equal(lk_authorize(f->ctx, &c, LK_ACT_KEY_LIST, (uint64_t)INT64_MAX + 1), LK_ERR_PARAM);
    assert_int_equal(lk_authorize(NULL, &c, LK_ACT_KEY_LIST, 0), LK_ERR_PARAM);
    c = caller_of(0);
    assert_int_equal(lk_authorize(f->ctx, &c, LK_ACT_KEY_LIST, ROOT_A), LK_ERR_PARAM);
}

/* ------------------------------------------------------------ the audited caller */

static void audit_records_the_caller(void **state)
{
    fixture *f = *state;
    lk_access_key k;
    lk_secret *sk;
    lk_caller c = caller_of(SUB_MANAGE);

    /* the caller's own key, as it would present it */
    assert_int_equal(lk_key_create(f->ctx, SUB_MANAGE, &k, &sk), LK_OK);
    snprintf(c.secret_id, sizeof c.secret_id, "%s", k.secret_id);
    snprintf(c.peer, sizeof c.peer, "192.0.2.7");
    snprintf(c.request_id, sizeof c.request_id, "6f1c2e9a-8b4d-4c3e-9f70-2a5b1d0e4c11");
    assert_int_equal(lk_audit_caller(&c), LK_OK);
    assert_int_equal(lk_key_set_status(f->ctx, k.secret_id, SUB_MANAGE, LK_KEY_INACTIVE), LK_OK);

    /* a proxy-named caller: the login instead of a SecretId */
    lk_caller p = caller_of(ROOT_A);
    snprintf(p.login, sizeof p.login, "alice");
    snprintf(p.peer, sizeof p.peer, "2001:db8::1");
    snprintf(p.request_id, sizeof p.request_id, "0b7e4f0e-1111-4222-8333-944455556666");
    assert_int_equal(lk_audit_caller(&p), LK_OK);
    assert_int_equal(lk_key_delete(f->ctx, k.secret_id, SUB_MANAGE), LK_OK);

    /* NULL: back to the process's own uid only */
    assert_int_equal(lk_audit_caller(NULL), LK_OK);
    assert_int_equal(lk_user_set_self_service(f->ctx, SUB_READ, LK_SELF_NONE), LK_OK);

    lk_audit_entry *e;
    size_t n;
    assert_int_equal(lk_audit_list(f->ctx, 0, k.secret_id, 0, &e, &n), LK_OK);
    assert_int_equal(n, 3); /* create (no caller), disable, delete */
    assert_int_equal(e[0].caller_uin, 0);
    assert_string_equal(e[0].caller_peer, "");
    assert_int_equal(e[1].caller_uin, SUB_MANAGE);
    assert_string_equal(e[1].caller_secret_id, k.secret_id);
    assert_string_equal(e[1].caller_login, "");
    assert_string_equal(e[1].caller_peer, "192.0.2.7");
    assert_string_equal(e[1].request_id, c.request_id);
    assert_int_equal(e[1].uid, (uint32_t)getuid()); /* beside the process's own uid */
    assert_int_equal(e[2].caller_uin, ROOT_A);
    assert_string_equal(e[2].caller_secret_id, "");
    assert_string_equal(e[2].caller_login, "alice");
    assert_string_equal(e[2].caller_peer, "2001:db8::1");
    assert_string_equal(e[2].request_id, p.request_id);
    lk_free(e);
    assert_int_equal(lk_audit_list(f->ctx, 0, NULL, SUB_READ, &e, &n), LK_OK);
    assert_int_equal(n, 2);
    assert_int_equal(e[1].caller_uin, 0);
    lk_free(e);
    lk_secret_free(sk);
}

static void audit_caller_refuses_bad_fields(void **state)
{
    fixture *f = *state;
    lk_caller good = caller_of(ROOT_A);
    snprintf(good.peer, sizeof good.peer, "127.0.0.1");
    snprintf(good.request_id, sizeof good.request_id, "req-1");
    assert_int_equal(lk_audit_caller(&good), LK_OK);

    lk_caller c = good;
    c.uin = 0;
    assert_int_equal(lk_audit_caller(&c), LK_ERR_PARAM);
    c = good;
    /* something that is not a SecretId (a secret pasted in the wrong place) is never recorded */
    snprintf(c.secret_id, sizeof c.secret_id, "LKSKabcdefghijklmnopqrstuvwxyz0123");
    assert_int_equal(lk_audit_caller(&c), LK_ERR_PARAM);
    c = good;
    memset(c.secret_id, 'A', sizeof c.secret_id); /* no NUL inside the field */
    assert_int_equal(lk_audit_caller(&c), LK_ERR_PARAM);
    c = good;
    snprintf(c.login, sizeof c.login, "bad login");
    assert_int_equal(lk_audit_caller(&c), LK_ERR_PARAM);
    c = good;
    snprintf(c.peer, sizeof c.peer, "1.2.3.4\nforged");
    assert_int_equal(lk_audit_caller(&c), LK_ERR_PARAM);
    c = good;
    memset(c.request_id, 'x', sizeof c.request_id);
    assert_int_equal(lk_audit_caller(&c), LK_ERR_PARAM);

    /* each refusal left the good caller in place */
    assert_int_equal(lk_user_set_self_service(f->ctx, SUB_READ, LK_SELF_MANAGE), LK_OK);
    assert_int_equal(lk_audit_caller(NULL), LK_OK);
    lk_audit_entry *e;
    size_t n;
    assert_int_equal(lk_audit_list(f->ctx, 0, NULL, SUB_READ, &e, &n), LK_OK);
    assert_int_equal(n, 2);
    assert_int_equal(e[1].caller_uin, ROOT_A);
    assert_string_equal(e[1].request_id, "req-1");
    lk_free(e);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(grant_names_and_parse),
        T(grant_is_stored_and_audited),
        T(record_without_grant_reads_as_none),
        T(matrix_gives_the_exact_code),
        T(grant_change_applies_at_once),
        T(gone_caller_and_bad_arguments),
        T(audit_records_the_caller),
        T(audit_caller_refuses_bad_fields),
    };
    if (getenv("LK_TEST_PG_CONNINFO") != NULL) {
        backend = "postgresql";
        return cmocka_run_group_tests_name("authz on postgresql", tests, NULL, NULL) ? 1 : 0;
    }
    int failed = cmocka_run_group_tests_name("authz on lmdb", tests, NULL, NULL);
    backend = "flatfile";
    failed += cmocka_run_group_tests_name("authz on flatfile", tests, NULL, NULL);
    return failed ? 1 : 0;
}
