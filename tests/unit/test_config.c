/*
 * test_config.c — lk_config_load / _default / _set / _get: every rule of the
 * YAML schema, and that each error names the file, line and dotted key.
 * Files are written under a fresh mkdtemp directory per test.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "latchkey.h"
#include "lk_config.h"

struct fx {
    char dir[PATH_MAX];      /* as created */
    char realdir[PATH_MAX];  /* realpath(dir): what relative store paths resolve against */
    char path[PATH_MAX + 32];
};

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof *fx);
    const char *tmp = getenv("TMPDIR");
    if (fx == NULL)
        return -1;
    snprintf(fx->dir, sizeof fx->dir, "%s/lk-test-config-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(fx->dir) == NULL || realpath(fx->dir, fx->realdir) == NULL) {
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    chmod(path, 0700); /* the unreadable-file test may have left it 0 */
    return remove(path);
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    int rc = nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return rc;
}

/* Write len bytes of text to dir/name; returns the full path (in fx). */
static const char *write_file_n(struct fx *fx, const char *name, const char *text, size_t len)
{
    snprintf(fx->path, sizeof fx->path, "%s/%s", fx->dir, name);
    FILE *f = fopen(fx->path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return fx->path;
}

static const char *write_file(struct fx *fx, const char *name, const char *text)
{
    return write_file_n(fx, name, text, strlen(text));
}

/* Every string of subs (NULL-terminated) must occur in the thread's message. */
static void assert_msg_has(const char *const *subs)
{
    const char *m = lk_errmsg(NULL);
    for (; *subs != NULL; subs++) {
        if (strstr(m, *subs) == NULL) {
            print_error("message \"%s\"\n    does not contain \"%s\"\n", m, *subs);
            fail();
        }
    }
}

#define MSG_HAS(...) assert_msg_has((const char *const[]){__VA_ARGS__, NULL})

static lk_config *load_ok(struct fx *fx, const char *yaml)
{
    lk_config *cfg = NULL;
    lk_status st = lk_config_load(write_file(fx, "x.yaml", yaml), &cfg);
    if (st != LK_OK) {
        print_error("loading:\n%s\nfailed: %s\n", yaml, lk_errmsg(NULL));
        fail();
    }
    assert_non_null(cfg);
    return cfg;
}

/* Load text (len bytes) as dir/x.yaml; it must fail with LK_ERR_CONFIG and
 * every string of subs in the message. */
static void load_fails_n(struct fx *fx, const char *yaml, size_t len, const char *const *subs)
{
    lk_config *cfg = (lk_config *)&cfg; /* must be reset to NULL */
    lk_status st = lk_config_load(write_file_n(fx, "x.yaml", yaml, len), &cfg);
    if (st != LK_ERR_CONFIG) {
        print_error("loading:\n%s\ngave status %d (%s), expected LK_ERR_CONFIG\n", yaml, (int)st, lk_errmsg(NULL));
        lk_config_free(st == LK_OK ? cfg : NULL);
        fail();
    }
    assert_null(cfg);
    assert_msg_has(subs);
}

#define LOAD_FAILS(fx, yaml, ...) load_fails_n((fx), (yaml), strlen(yaml), (const char *const[]){__VA_ARGS__, NULL})

static void assert_get(const lk_config *cfg, const char *key, const char *want)
{
    const char *got = lk_config_get(cfg, key);
    if (got == NULL || strcmp(got, want) != 0) {
        print_error("%s: got '%s', expected '%s'\n", key, got ? got : "(null)", want);
        fail();
    }
}

static void assert_all_defaults(const lk_config *cfg, const char *store_path)
{
    assert_string_equal(cfg->backend, "lmdb");
    assert_string_equal(cfg->store_path, store_path);
    assert_true(cfg->map_size == UINT64_C(1024) * 1024 * 1024);
    assert_true(cfg->opslimit == 2);
    assert_true(cfg->memlimit == (size_t)4096 * 1024);
    assert_int_equal(cfg->keys_per_user, 2);
    assert_int_equal(cfg->apikeys_per_account, 50);
    assert_int_equal(cfg->records_keep, 20);
    assert_int_equal(cfg->retention_days, 90);
    assert_int_equal(cfg->flush_interval_ms, 1000);
    assert_int_equal(cfg->flush_batch, 4096);
    assert_int_equal(cfg->cache_entries, 10000);
    assert_get(cfg, "store.backend", "lmdb");
    assert_get(cfg, "store.path", store_path);
    assert_get(cfg, "store.map_size_mb", "1024");
    assert_get(cfg, "store.cache_entries", "100000");
    assert_get(cfg, "hash.opslimit", "2");
    assert_get(cfg, "hash.memlimit_kib", "4096");
    assert_get(cfg, "limits.keys_per_user", "2");
    assert_get(cfg, "limits.apikeys_per_account", "50");
    assert_get(cfg, "records.keep", "20");
    assert_get(cfg, "records.retention_days", "90");
    assert_get(cfg, "records.flush_interval_ms", "1000");
    assert_get(cfg, "records.flush_batch", "4096");
    assert_get(cfg, "cache.entries", "10000");
}

/* ------------------------------------------------------------ valid files */

static void test_defaults(void **state)
{
    (void)state;
    lk_config *cfg = NULL;
    assert_int_equal(lk_config_default(&cfg), LK_OK);
    assert_non_null(cfg);
    assert_all_defaults(cfg, LK_DEFAULT_STORE);
    assert_null(cfg->source);
    assert_null(lk_config_get(cfg, "nope"));
    assert_null(lk_config_get(cfg, "store"));
    assert_null(lk_config_get(cfg, "store."));
    assert_null(lk_config_get(cfg, ".path"));
    assert_null(lk_config_get(cfg, "store.path.x"));
    assert_null(lk_config_get(cfg, NULL));
    assert_null(lk_config_get(NULL, "store.path"));
    lk_config_free(cfg);
    lk_config_free(NULL);
    assert_int_equal(lk_config_default(NULL), LK_ERR_PARAM);
}

static const char full_yaml[] =
    "# every key, none at its default\n"
    "store:\n"
    "  backend: flatfile\n"
    "  path: /srv/lk/store.db\n"
    "  map_size_mb: 2048\n"
    "hash:\n"
    "  opslimit: 3\n"
    "  memlimit_kib: 131072\n"
    "limits:\n"
    "  keys_per_user: 5\n"
    "  apikeys_per_account: 1000\n"
    "records:\n"
    "  keep: 10\n"
    "  retention_days: 30\n"
    "  flush_interval_ms: 0\n"
    "  flush_batch: 64\n"
    "cache:\n"
    "  entries: 0\n";

static void test_full_file(void **state)
{
    struct fx *fx = *state;
    lk_config *cfg = load_ok(fx, full_yaml);
    assert_string_equal(cfg->source, fx->path);
    assert_string_equal(cfg->backend, "flatfile");
    assert_string_equal(cfg->store_path, "/srv/lk/store.db");
    assert_true(cfg->map_size == UINT64_C(2048) * 1024 * 1024);
    assert_true(cfg->opslimit == 3);
    assert_true(cfg->memlimit == (size_t)131072 * 1024);
    assert_int_equal(cfg->keys_per_user, 5);
    assert_int_equal(cfg->apikeys_per_account, 1000);
    assert_int_equal(cfg->records_keep, 10);
    assert_int_equal(cfg->retention_days, 30);
    assert_int_equal(cfg->flush_interval_ms, 0);
    assert_int_equal(cfg->flush_batch, 64);
    assert_int_equal(cfg->cache_entries, 0);
    assert_get(cfg, "store.backend", "flatfile");
    assert_get(cfg, "store.map_size_mb", "2048");
    assert_get(cfg, "hash.memlimit_kib", "131072");
    assert_get(cfg, "cache.entries", "0");
    lk_config_free(cfg);

    /* Flow style, quoted scalars and key order do not matter. */
    cfg = load_ok(fx, "cache: {entries: 7}\nstore: {\"backend\": 'lmdb', map_size_mb: \"8\"}\n");
    assert_int_equal(cfg->cache_entries, 7);
    assert_true(cfg->map_size == UINT64_C(8) * 1024 * 1024);
    assert_string_equal(cfg->backend, "lmdb");
    lk_config_free(cfg);
}

static void test_partial_file_keeps_defaults(void **state)
{
    struct fx *fx = *state;
    lk_config *cfg = load_ok(fx, "limits:\n  keys_per_user: 3\n");
    assert_int_equal(cfg->keys_per_user, 3);
    assert_int_equal(cfg->apikeys_per_account, 50);
    assert_string_equal(cfg->store_path, LK_DEFAULT_STORE); /* not resolved: not from the file */
    lk_config_free(cfg);
}

static void test_empty_files(void **state)
{
    struct fx *fx = *state;
    static const char *const empties[] = {
        "",
        "\n\n\n",
        "# only a comment\n",
        "# two\n   # comments\n",
        "---\n",
        "--- # comment\n...\n",
        "{}\n",
        "records:\n  # keep: 20\n", /* a section with every key commented out */
        "store:\nhash:\nlimits:\nrecords:\ncache:\n",
    };
    for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
        lk_config *cfg = load_ok(fx, empties[i]);
        assert_all_defaults(cfg, LK_DEFAULT_STORE);
        lk_config_free(cfg);
    }
}

static void test_relative_path(void **state)
{
    struct fx *fx = *state;
    char want[PATH_MAX * 2], sub[PATH_MAX + 64], cwd[PATH_MAX];

    lk_config *cfg = load_ok(fx, "store:\n  path: data/s.mdb\n");
    snprintf(want, sizeof want, "%s/data/s.mdb", fx->realdir);
    assert_string_equal(cfg->store_path, want);
    assert_get(cfg, "store.path", want);
    lk_config_free(cfg);

    cfg = load_ok(fx, "store:\n  path: /abs/s.mdb\n");
    assert_string_equal(cfg->store_path, "/abs/s.mdb");
    lk_config_free(cfg);

    /* The directory is resolved (realpath), not used as written. */
    snprintf(sub, sizeof sub, "%s/sub", fx->dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    write_file(fx, "x.yaml", "store:\n  path: s.mdb\n");
    snprintf(sub, sizeof sub, "%s/sub/../x.yaml", fx->dir);
    assert_int_equal(lk_config_load(sub, &cfg), LK_OK);
    snprintf(want, sizeof want, "%s/s.mdb", fx->realdir);
    assert_string_equal(cfg->store_path, want);
    lk_config_free(cfg);

    /* A config named relative to the cwd still gives an absolute store path. */
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(fx->dir), 0);
    lk_status st = lk_config_load("x.yaml", &cfg);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(st, LK_OK);
    assert_string_equal(cfg->store_path, want);
    lk_config_free(cfg);
}

/* ------------------------------------------------------------ wrong types */

static void test_wrong_types(void **state)
{
    struct fx *fx = *state;
    LOAD_FAILS(fx, "store: lmdb\n", "x.yaml:1: ", "store: expected a mapping", "got a scalar 'lmdb'");
    LOAD_FAILS(fx, "hash:\n  - 1\n  - 2\n", "x.yaml:2: ", "hash: expected a mapping", "got a sequence");
    LOAD_FAILS(fx, "store:\n  backend:\n    name: lmdb\n", "x.yaml:3: ",
               "store.backend: expected a single value, got a mapping");
    LOAD_FAILS(fx, "store: {path: {a: b}}\n", "x.yaml:1: ", "store.path: expected a single value, got a mapping");
    LOAD_FAILS(fx, "store:\n  path: [a, b]\n", "x.yaml:2: ", "store.path: expected a single value, got a sequence");
    LOAD_FAILS(fx, "store:\n  backend: redis\n", "x.yaml:2: ", "store.backend: expected lmdb, flatfile or postgresql, got 'redis'");
    LOAD_FAILS(fx, "store:\n  backend: LMDB\n", "x.yaml:2: ", "store.backend: expected lmdb, flatfile or postgresql, got 'LMDB'");
    LOAD_FAILS(fx, "store:\n  backend:\n", "store.backend: expected lmdb, flatfile or postgresql, got ''");
    LOAD_FAILS(fx, "store:\n  path: \"\"\n", "x.yaml:2: ", "store.path: must not be empty");
    LOAD_FAILS(fx, "store:\n  path:\n", "store.path: must not be empty");
    LOAD_FAILS(fx, "hash:\n  opslimit: fast\n", "x.yaml:2: ", "hash.opslimit: expected an integer, got 'fast'");
    LOAD_FAILS(fx, "cache:\n  entries: true\n", "x.yaml:2: ", "cache.entries: expected an integer, got 'true'");
    /* a non-scalar key */
    LOAD_FAILS(fx, "? [a, b]\n: 1\n", "x.yaml:1: ", "expected a section name, got a sequence");
    LOAD_FAILS(fx, "store:\n  ? {a: 1}\n  : x\n", "x.yaml:2: ", "store: expected a key name, got a mapping");
}

static void test_top_level_not_mapping(void **state)
{
    struct fx *fx = *state;
    LOAD_FAILS(fx, "- store\n- hash\n", "x.yaml:1: ", "top level must be a mapping", "got a sequence");
    LOAD_FAILS(fx, "hello\n", "x.yaml:1: ", "top level must be a mapping", "got a scalar");
    LOAD_FAILS(fx, "# comment\n42\n", "x.yaml:2: ", "top level must be a mapping");
    LOAD_FAILS(fx, "[]\n", "x.yaml:1: ", "top level must be a mapping");
    LOAD_FAILS(fx, "store:\n  backend: lmdb\n---\nhash:\n  opslimit: 3\n", "x.yaml:3: ",
               "only one YAML document is allowed");
}

static void test_bad_integers(void **state)
{
    struct fx *fx = *state;
    static const char *const bad[] = {
        "fast", "-1", "+1", "-0", "1e3", "0x10", "010", "00", "1.0", "1_000", "1,000", "\"\"", "\" 2\"", "\"2 \"",
        "'0x1F'", "0b1", "0o7", "~", "null", "2k", "１",
    };
    char yaml[128];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(yaml, sizeof yaml, "# c\nlimits:\n  keys_per_user: %s\n", bad[i]);
        LOAD_FAILS(fx, yaml, "x.yaml:3: ", "limits.keys_per_user: expected an integer, got '");
    }
    /* empty (null) value */
    LOAD_FAILS(fx, "limits:\n  keys_per_user:\n", "limits.keys_per_user: expected an integer, got ''");
    /* too large for any integer type: a range error, not a wrap-around */
    LOAD_FAILS(fx, "records:\n  keep: 18446744073709551616\n", "x.yaml:2: ",
               "records.keep: 18446744073709551616 is out of range (0..20)");
    LOAD_FAILS(fx, "records:\n  keep: 99999999999999999999999999999999\n", "x.yaml:2: ", "is out of range (0..20)");
    LOAD_FAILS(fx, "records:\n  keep: 18446744073709551615\n", "x.yaml:2: ", "is out of range (0..20)");
    LOAD_FAILS(fx, "store:\n  map_size_mb: 4294967297\n", "x.yaml:2: ", "store.map_size_mb: 4294967297 is out of range");
}

/* ------------------------------------------------------------ ranges */

struct range_case {
    const char *section, *key;
    uint64_t min, max;
};

static void test_ranges(void **state)
{
    struct fx *fx = *state;
    const struct range_case cases[] = {
        {"store", "map_size_mb", 1, 1048576},
        {"hash", "opslimit", crypto_pwhash_opslimit_min(), crypto_pwhash_opslimit_max()},
        {"hash", "memlimit_kib", crypto_pwhash_memlimit_min() / 1024, 4194304},
        {"limits", "keys_per_user", 1, 100},
        {"limits", "apikeys_per_account", 1, 100000},
        {"records", "keep", 0, 20},
        {"records", "retention_days", 1, 3650},
        {"records", "flush_interval_ms", 0, 60000},
        {"records", "flush_batch", 1, 100000},
        {"cache", "entries", 0, 10000000},
    };
    char yaml[256], dotted[64], num[32], want[160];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct range_case *c = &cases[i];
        snprintf(dotted, sizeof dotted, "%s.%s", c->section, c->key);

        /* both bounds are accepted, from a file and through lk_config_set */
        const uint64_t ok[2] = {c->min, c->max};
        for (int j = 0; j < 2; j++) {
            snprintf(num, sizeof num, "%llu", (unsigned long long)ok[j]);
            snprintf(yaml, sizeof yaml, "%s:\n  %s: %s\n", c->section, c->key, num);
            lk_config *cfg = load_ok(fx, yaml);
            assert_get(cfg, dotted, num);
            assert_int_equal(lk_config_set(cfg, dotted, num), LK_OK);
            assert_get(cfg, dotted, num);
            lk_config_free(cfg);
        }

        /* one past each bound is refused, naming line, key, value and range */
        uint64_t bad[2];
        int nbad = 0;
        if (c->min > 0)
            bad[nbad++] = c->min - 1;
        bad[nbad++] = c->max + 1;
        for (int j = 0; j < nbad; j++) {
            snprintf(num, sizeof num, "%llu", (unsigned long long)bad[j]);
            snprintf(yaml, sizeof yaml, "# range\n%s:\n  %s: %s\n", c->section, c->key, num);
            snprintf(want, sizeof want, "x.yaml:3: %s: %s is out of range (%llu..%llu)", dotted, num,
                     (unsigned long long)c->min, (unsigned long long)c->max);
            LOAD_FAILS(fx, yaml, want);

            lk_config *cfg = NULL;
            assert_int_equal(lk_config_default(&cfg), LK_OK);
            char before[64];
            snprintf(before, sizeof before, "%s", lk_config_get(cfg, dotted));
            assert_int_equal(lk_config_set(cfg, dotted, num), LK_ERR_CONFIG);
            snprintf(want, sizeof want, "%s: %s is out of range (%llu..%llu)", dotted, num,
                     (unsigned long long)c->min, (unsigned long long)c->max);
            assert_string_equal(lk_errmsg(NULL), want); /* no file:line for lk_config_set */
            assert_get(cfg, dotted, before);            /* unchanged */
            lk_config_free(cfg);
        }
    }
}

static void test_out_of_range_example(void **state)
{
    struct fx *fx = *state;
    LOAD_FAILS(fx, "store:\n  backend: lmdb\nhash:\n  opslimit: 2\n\nlimits:\n  keys_per_user: 0\n",
               "x.yaml:7: limits.keys_per_user: 0 is out of range (1..100)");
}

/* ------------------------------------------------------------ keys */

static void test_unknown_keys(void **state)
{
    struct fx *fx = *state;
    LOAD_FAILS(fx, "# typo below\n\nstroe:\n  backend: lmdb\n",
               "x.yaml:3: unknown key 'stroe' (expected one of: store, hash, limits, records, cache, daemon, audit)");
    LOAD_FAILS(fx, "store:\n  backend: lmdb\n  bakend: lmdb\n",
               "x.yaml:3: unknown key 'store.bakend' (expected one of: backend, path, conninfo, map_size_mb, cache_entries)");
    LOAD_FAILS(fx, "records:\n  keep: 1\n  max: 3\n", "x.yaml:3: unknown key 'records.max'",
               "keep, retention_days, flush_interval_ms, flush_batch");
    LOAD_FAILS(fx, "Store:\n  backend: lmdb\n", "x.yaml:1: unknown key 'Store'");
    LOAD_FAILS(fx, "cache:\n  entries.x: 1\n", "x.yaml:2: unknown key 'cache.entries.x'");
    /* a key with a NUL in it is not a known key, and is shown escaped */
    LOAD_FAILS(fx, "\"store\\0x\":\n  backend: lmdb\n", "x.yaml:1: unknown key 'store\\x00x'");
}

static void test_duplicate_keys(void **state)
{
    struct fx *fx = *state;
    LOAD_FAILS(fx, "store:\n  backend: lmdb\ncache:\n  entries: 1\nstore:\n  path: /x\n",
               "x.yaml:5: duplicate key 'store'");
    LOAD_FAILS(fx, "hash:\n  opslimit: 2\n  memlimit_kib: 65536\n  opslimit: 3\n",
               "x.yaml:4: duplicate key 'hash.opslimit'");
    LOAD_FAILS(fx, "store: {path: /a, path: /b}\n", "x.yaml:1: duplicate key 'store.path'");
}

/* ------------------------------------------------------------ syntax */

static void test_syntax_errors(void **state)
{
    struct fx *fx = *state;
    /* tab indentation */
    LOAD_FAILS(fx, "store:\n\tbackend: lmdb\n", "x.yaml:2: ", "YAML syntax error", "cannot start any token");
    LOAD_FAILS(fx, "store:\n  backend: lmdb\n path: /x\n", "x.yaml:3: ", "YAML syntax error",
               "did not find expected key (while parsing a block mapping at line 1)");
    /* errors at the end of input are reported on the last line */
    LOAD_FAILS(fx, "store:\n  path: \"unterminated\n", "x.yaml:2: ", "YAML syntax error", "end of stream");
    LOAD_FAILS(fx, "store: {backend: lmdb\n", "x.yaml:1: ", "YAML syntax error");
    LOAD_FAILS(fx, "store:\n  backend: lmdb\n  - x\n", "x.yaml:3: ", "YAML syntax error");
    /* invalid UTF-8 (a reader error: the line is counted from the byte offset) */
    LOAD_FAILS(fx, "store:\n  backend: lmdb\n  path: /a\xc3\x28\n", "x.yaml:3: ", "YAML syntax error", "UTF-8");
    /* a raw control byte */
    LOAD_FAILS(fx, "store:\n  path: /a\x01\n", "x.yaml:2: ", "YAML syntax error", "0x01");
}

static void test_truncated(void **state)
{
    struct fx *fx = *state;
    LOAD_FAILS(fx, "store:\n  backend: lmdb\n  pa", "x.yaml:3: ", "YAML syntax error");
    LOAD_FAILS(fx, "store: {backend: lmdb, path: /x", "x.yaml:1: ", "YAML syntax error");
    LOAD_FAILS(fx, "store: {backend: lmdb, pa", "x.yaml:1: ", "unknown key 'store.pa'"); /* seen before the end */
    LOAD_FAILS(fx, "store:\n  backend: lmdb\nhash:\n  opslimit: \"3", "x.yaml:4: ", "YAML syntax error");
    LOAD_FAILS(fx, "store:\n  backend: lm", "x.yaml:2: ", "store.backend: expected lmdb, flatfile or postgresql, got 'lm'");

    /* Every prefix of a valid file either loads or fails cleanly with a
     * message that names the file (valgrind checks the error paths). */
    size_t n = strlen(full_yaml), ok = 0;
    for (size_t len = 0; len <= n; len++) {
        lk_config *cfg = NULL;
        lk_status st = lk_config_load(write_file_n(fx, "t.yaml", full_yaml, len), &cfg);
        if (st == LK_OK) {
            assert_non_null(cfg);
            lk_config_free(cfg);
            ok++;
        } else {
            assert_int_equal(st, LK_ERR_CONFIG);
            assert_null(cfg);
            MSG_HAS("t.yaml:");
        }
    }
    assert_true(ok > 0 && ok < n);
}

static void test_anchors_aliases_tags(void **state)
{
    struct fx *fx = *state;
    LOAD_FAILS(fx, "store: &s\n  backend: lmdb\n", "x.yaml:1: ", "anchors");
    LOAD_FAILS(fx, "store:\n  backend: lmdb\n  path: &p /x\n", "x.yaml:3: ", "anchors");
    LOAD_FAILS(fx, "store:\n  backend: *b\n", "x.yaml:2: ", "aliases");
    LOAD_FAILS(fx, "store: {path: &x /a,\n  backend: *x}\n", "x.yaml:1: ", "anchors"); /* met first */
    LOAD_FAILS(fx, "store:\n  map_size_mb: !!int 5\n", "x.yaml:2: ", "tags");
    LOAD_FAILS(fx, "--- !config\nstore: {}\n", "x.yaml:1: ", "tags");
}

static void test_nul_bytes(void **state)
{
    struct fx *fx = *state;
    /* an escaped NUL inside a quoted scalar */
    LOAD_FAILS(fx, "store:\n  path: \"/a\\0b\"\n", "x.yaml:2: ", "store.path: value contains a NUL byte",
               "'/a\\x00b'");
    LOAD_FAILS(fx, "limits:\n  keys_per_user: \"2\\0\"\n", "x.yaml:2: ", "limits.keys_per_user: value contains a NUL");
    /* a raw NUL byte in the file */
    static const char raw[] = "store:\n  path: /a\0b\n";
    load_fails_n(fx, raw, sizeof raw - 1, (const char *const[]){"x.yaml:2: ", "YAML syntax error", NULL});
}

/* ------------------------------------------------------------ the file itself */

static void test_file_errors(void **state)
{
    struct fx *fx = *state;
    char p[PATH_MAX + 32];
    lk_config *cfg = (lk_config *)&cfg;

    snprintf(p, sizeof p, "%s/missing.yaml", fx->dir);
    assert_int_equal(lk_config_load(p, &cfg), LK_ERR_CONFIG);
    assert_null(cfg);
    MSG_HAS(p, "No such file or directory");

    assert_int_equal(lk_config_load(fx->dir, &cfg), LK_ERR_CONFIG);
    assert_null(cfg);
    MSG_HAS(fx->dir, "Is a directory");

    assert_int_equal(lk_config_load("", &cfg), LK_ERR_CONFIG);
    MSG_HAS("No such file or directory");

    assert_int_equal(lk_config_load("/dev/null", &cfg), LK_ERR_CONFIG);
    MSG_HAS("/dev/null", "not a regular file");

    /* NULL: the build's default file (a missing one is a config error naming it) */
    if (access(LK_DEFAULT_CONFIG, F_OK) != 0) {
        assert_int_equal(lk_config_load(NULL, &cfg), LK_ERR_CONFIG);
        MSG_HAS(LK_DEFAULT_CONFIG);
        assert_null(cfg);
    }
    assert_int_equal(lk_config_load(p, NULL), LK_ERR_PARAM);

    /* unreadable: meaningless for root, who reads anything */
    const char *path = write_file(fx, "secret.yaml", "store: {}\n");
    assert_int_equal(chmod(path, 0), 0);
    if (geteuid() != 0) {
        assert_int_equal(lk_config_load(path, &cfg), LK_ERR_CONFIG);
        assert_null(cfg);
        MSG_HAS(path, "Permission denied");
    }
}

static void test_size_limit(void **state)
{
    struct fx *fx = *state;
    size_t n = 1024 * 1024;
    char *big = malloc(n + 1);
    assert_non_null(big);
    /* comment lines of 64 bytes: exactly 1 MiB loads */
    for (size_t i = 0; i < n; i += 64) {
        memset(big + i, ' ', 64);
        big[i] = '#';
        big[i + 63] = '\n';
    }
    lk_config *cfg = NULL;
    assert_int_equal(lk_config_load(write_file_n(fx, "big.yaml", big, n), &cfg), LK_OK);
    lk_config_free(cfg);

    big[n] = '\n';
    assert_int_equal(lk_config_load(write_file_n(fx, "big.yaml", big, n + 1), &cfg), LK_ERR_CONFIG);
    assert_null(cfg);
    MSG_HAS("big.yaml", "1048577 bytes", "at most 1048576");
    free(big);
}

/* ------------------------------------------------------------ set / get */

static void test_set_get(void **state)
{
    (void)state;
    lk_config *cfg = NULL;
    assert_int_equal(lk_config_default(&cfg), LK_OK);

    assert_int_equal(lk_config_set(cfg, "limits.keys_per_user", "3"), LK_OK);
    assert_int_equal(cfg->keys_per_user, 3);
    assert_get(cfg, "limits.keys_per_user", "3");

    assert_int_equal(lk_config_set(cfg, "store.backend", "flatfile"), LK_OK);
    assert_get(cfg, "store.backend", "flatfile");
    assert_int_equal(lk_config_set(cfg, "store.backend", "redis"), LK_ERR_CONFIG);
    assert_string_equal(lk_errmsg(NULL), "store.backend: expected lmdb, flatfile or postgresql, got 'redis'");
    assert_get(cfg, "store.backend", "flatfile");

    /* store.path through set is taken as given */
    assert_int_equal(lk_config_set(cfg, "store.path", "rel/s.mdb"), LK_OK);
    assert_get(cfg, "store.path", "rel/s.mdb");
    assert_int_equal(lk_config_set(cfg, "store.path", ""), LK_ERR_CONFIG);
    assert_string_equal(lk_errmsg(NULL), "store.path: must not be empty");
    assert_get(cfg, "store.path", "rel/s.mdb");

    assert_int_equal(lk_config_set(cfg, "store.map_size_mb", "16"), LK_OK);
    assert_true(cfg->map_size == UINT64_C(16) * 1024 * 1024);
    assert_int_equal(lk_config_set(cfg, "hash.memlimit_kib", "1024"), LK_OK);
    assert_true(cfg->memlimit == (size_t)1024 * 1024);

    assert_int_equal(lk_config_set(cfg, "hash.opslimit", "fast"), LK_ERR_CONFIG);
    MSG_HAS("hash.opslimit: expected an integer, got 'fast'");
    assert_int_equal(lk_config_set(cfg, "hash.opslimit", "-1"), LK_ERR_CONFIG);
    MSG_HAS("hash.opslimit: expected an integer, got '-1'");
    assert_int_equal(lk_config_set(cfg, "limits.keys_per_user", "0"), LK_ERR_CONFIG);
    assert_string_equal(lk_errmsg(NULL), "limits.keys_per_user: 0 is out of range (1..100)");
    assert_int_equal(cfg->keys_per_user, 3);

    assert_int_equal(lk_config_set(cfg, "limits.nope", "1"), LK_ERR_CONFIG);
    MSG_HAS("unknown key 'limits.nope'", "limits.keys_per_user", "cache.entries");
    assert_int_equal(lk_config_set(cfg, "store", "1"), LK_ERR_CONFIG);
    MSG_HAS("unknown key 'store'");
    assert_int_equal(lk_config_set(cfg, "bad\x01key", "1"), LK_ERR_CONFIG);
    MSG_HAS("unknown key 'bad\\x01key'");

    assert_int_equal(lk_config_set(NULL, "store.path", "/x"), LK_ERR_PARAM);
    assert_int_equal(lk_config_set(cfg, NULL, "/x"), LK_ERR_PARAM);
    assert_int_equal(lk_config_set(cfg, "store.path", NULL), LK_ERR_PARAM);
    lk_config_free(cfg);
}

/* ------------------------------------------------------------ etc/latchkey.yaml */

static void test_example_file(void **state)
{
    (void)state;
    const char *src = getenv("LK_SRCDIR");
    char path[PATH_MAX];
    if (src == NULL || src[0] == '\0')
        skip();
    snprintf(path, sizeof path, "%s/etc/latchkey.yaml", src);
    lk_config *cfg = NULL;
    lk_status st = lk_config_load(path, &cfg);
    if (st != LK_OK) {
        print_error("%s\n", lk_errmsg(NULL));
        fail();
    }
    assert_all_defaults(cfg, "/var/lib/latchkey/store.mdb");
    /* the daemon: section documents the defaults too */
    assert_get(cfg, "daemon.socket", "/run/latchkey/latchkeyd.sock");
    assert_get(cfg, "daemon.allow_uids", "");
    assert_get(cfg, "daemon.workers", "2");
    assert_get(cfg, "daemon.argon2_queue", "64");
    assert_get(cfg, "daemon.throttle_failures", "10");
    assert_get(cfg, "daemon.read_timeout_ms", "5000");
    assert_get(cfg, "daemon.max_connections", "1024");
    assert_get(cfg, "daemon.log_denials", "first");
    lk_config_free(cfg);
}

/* The example's commented daemon.http block, uncommented as an operator
 * would ("  # http:" -> "  http:", "  #   key:" -> "    key:"), loads: the
 * block sits inside the example's one daemon: section, so enabling the
 * endpoint never means pasting a second daemon: (a duplicate key). */
static void test_example_http_block(void **state)
{
    struct fx *fx = *state;
    const char *src = getenv("LK_SRCDIR");
    char path[PATH_MAX], line[512];
    if (src == NULL || src[0] == '\0')
        skip();
    snprintf(path, sizeof path, "%s/etc/latchkey.yaml", src);
    FILE *in = fopen(path, "r");
    assert_non_null(in);
    size_t cap = 1 << 16, n = 0, opened = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    int in_block = 0; /* between "  # http:" and the end of its commented lines */
    while (fgets(line, sizeof line, in) != NULL) {
        const char *out = line;
        char fixed[sizeof line];
        if (strcmp(line, "  # http:\n") == 0) {
            out = "  http:\n";
            opened++;
            in_block = 1;
        } else if (in_block && strncmp(line, "  #   ", 6) != 0) {
            in_block = 0;
        } else if (in_block && line[6] >= 'a' && line[6] <= 'z') {
            snprintf(fixed, sizeof fixed, "    %s", line + 6);
            out = fixed;
        }
        size_t l = strlen(out);
        assert_true(n + l < cap);
        memcpy(text + n, out, l);
        n += l;
    }
    fclose(in);
    assert_int_equal(opened, 1);
    text[n] = '\0';
    lk_config *cfg = load_ok(fx, text);
    assert_get(cfg, "daemon.http.listen", "127.0.0.1:8087");
    assert_get(cfg, "daemon.http.service_map", "/api/=api,/web/=web");
    assert_get(cfg, "daemon.socket", "/run/latchkey/latchkeyd.sock");
    lk_config_free(cfg);
    free(text);
}

/* ------------------------------------------------------------ daemon: (latchkeyd) */

static void test_daemon_section(void **state)
{
    struct fx *fx = *state;
    lk_config *cfg = load_ok(fx, "daemon:\n  socket: run/lkd.sock\n  allow_uids: [0, 998]\n"
                                 "  allow_gids:\n    - 120\n    - 7\n  workers: 4\n  argon2_workers: 1\n"
                                 "  argon2_queue: 0\n  throttle_failures: 5\n  throttle_window_s: 60\n"
                                 "  read_timeout_ms: 250\n  idle_timeout_s: 30\n  max_connections: 2000\n");
    assert_true(cfg->daemon_socket[0] == '/');
    assert_non_null(strstr(cfg->daemon_socket, "/run/lkd.sock"));
    assert_get(cfg, "daemon.allow_uids", "0,998");
    assert_get(cfg, "daemon.allow_gids", "120,7");
    assert_get(cfg, "daemon.workers", "4");
    assert_get(cfg, "daemon.argon2_queue", "0");
    assert_get(cfg, "daemon.max_connections", "2000");
    /* the comma form, through the same validator */
    assert_int_equal(lk_config_set(cfg, "daemon.allow_uids", "1000, 1001"), LK_OK);
    assert_get(cfg, "daemon.allow_uids", "1000,1001");
    assert_int_equal(lk_config_set(cfg, "daemon.allow_uids", ""), LK_OK);
    assert_get(cfg, "daemon.allow_uids", "");
    assert_int_equal(lk_config_set(cfg, "daemon.allow_uids", "1,,2"), LK_ERR_CONFIG);
    assert_int_equal(lk_config_set(cfg, "daemon.allow_gids", "-1"), LK_ERR_CONFIG);
    lk_config_free(cfg);

    cfg = load_ok(fx, "store:\n  path: s.mdb\n");
    assert_get(cfg, "daemon.socket", "/run/latchkey/latchkeyd.sock");
    assert_get(cfg, "daemon.allow_uids", "");
    assert_get(cfg, "daemon.workers", "2");
    assert_get(cfg, "daemon.argon2_queue", "64");
    assert_get(cfg, "daemon.log_denials", "first");
    /* a word, not a number */
    static const char *const levels[] = {"all", "none", "first"};
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        assert_int_equal(lk_config_set(cfg, "daemon.log_denials", levels[i]), LK_OK);
        assert_get(cfg, "daemon.log_denials", levels[i]);
    }
    assert_int_equal(lk_config_set(cfg, "daemon.log_denials", "2"), LK_ERR_CONFIG);
    lk_config_free(cfg);

    LOAD_FAILS(fx, "daemon:\n  log_denials: every\n",
               "x.yaml:2: daemon.log_denials: expected none, first or all, got 'every'");
    LOAD_FAILS(fx, "daemon:\n  workers: 0\n", "x.yaml:2: daemon.workers: 0 is out of range (1..256)");
    LOAD_FAILS(fx, "daemon:\n  allow_uids: [0, root]\n", "x.yaml:2: daemon.allow_uids: expected numeric uids");
    LOAD_FAILS(fx, "daemon:\n  allow_gids: [[1]]\n", "x.yaml:2: daemon.allow_gids: expected a list of numbers");
    LOAD_FAILS(fx, "daemon:\n  workers: [1]\n", "x.yaml:2: daemon.workers: expected a single value, got a sequence");
    LOAD_FAILS(fx, "daemon:\n  sock: x\n", "x.yaml:2: unknown key 'daemon.sock'");
    LOAD_FAILS(fx, "daemon:\n  allow_uids: 4294967295\n", "daemon.allow_uids: expected numeric uids");
}

/* daemon.http.*: flat or nested, validated, canonical lists. */
static void test_daemon_http(void **state)
{
    struct fx *fx = *state;
    lk_config *cfg = load_ok(fx, "store:\n  path: s.mdb\n");
    assert_get(cfg, "daemon.http.listen", "");
    assert_get(cfg, "daemon.http.api_key_header", "X-Api-Key");
    assert_get(cfg, "daemon.http.client_ip_header", "X-Forwarded-For");
    assert_get(cfg, "daemon.http.service_header", "X-Latchkey-Service");
    assert_get(cfg, "daemon.http.trusted_proxies", "");
    assert_get(cfg, "daemon.http.service_map", "");
    assert_get(cfg, "daemon.http.threads", "2");
    assert_get(cfg, "daemon.http.timeout_s", "10");
    assert_get(cfg, "daemon.http.max_connections", "1024");
    assert_get(cfg, "daemon.http.max_connections_per_ip", "64");
    assert_get(cfg, "daemon.http.basic_any_user", "0");
    lk_config_free(cfg);

    cfg = load_ok(fx, "daemon:\n  http:\n    listen: 127.0.0.1:8087\n    trusted_proxies: [127.0.0.1, \"2001:db8::/32\"]\n"
                      "    service_map: [\"/api/=api\", \" /b=billing \"]\n    client_ip_header: X-Real-IP\n"
                      "    threads: 4\n  http.service_header: \"\"\n");
    assert_get(cfg, "daemon.http.listen", "127.0.0.1:8087");
    assert_get(cfg, "daemon.http.trusted_proxies", "127.0.0.1,2001:db8::/32");
    assert_get(cfg, "daemon.http.service_map", "/api/=api,/b=billing");
    assert_get(cfg, "daemon.http.client_ip_header", "X-Real-IP");
    assert_get(cfg, "daemon.http.service_header", "");
    assert_get(cfg, "daemon.http.threads", "4");
    assert_int_equal(lk_config_set(cfg, "daemon.http.listen", "[::1]:80"), LK_OK);
    assert_int_equal(lk_config_set(cfg, "daemon.http.listen", ""), LK_OK);
    assert_int_equal(lk_config_set(cfg, "daemon.http.listen", "localhost:80"), LK_ERR_CONFIG);
    assert_int_equal(lk_config_set(cfg, "daemon.http.listen", "127.0.0.1:0"), LK_ERR_CONFIG);
    assert_int_equal(lk_config_set(cfg, "daemon.http.listen", "127.0.0.1:65536"), LK_ERR_CONFIG);
    assert_int_equal(lk_config_set(cfg, "daemon.http.listen", "::1:80"), LK_ERR_CONFIG);
    assert_int_equal(lk_config_set(cfg, "daemon.http.listen", "[::1]"), LK_ERR_CONFIG);
    assert_int_equal(lk_config_set(cfg, "daemon.http.api_key_header", "X Api"), LK_ERR_CONFIG);
    assert_int_equal(lk_config_set(cfg, "daemon.http.api_key_header", "authorization"), LK_ERR_CONFIG);
    assert_int_equal(lk_config_set(cfg, "daemon.http.trusted_proxies", "10.0.0.1/8"), LK_ERR_CONFIG);
    assert_int_equal(lk_config_set(cfg, "daemon.http.service_map", "api=api"), LK_ERR_CONFIG);
    assert_int_equal(lk_config_set(cfg, "daemon.http.service_map", "/api/=a b"), LK_ERR_CONFIG);
    assert_int_equal(lk_config_set(cfg, "daemon.http.basic_any_user", "2"), LK_ERR_CONFIG);
    assert_int_equal(lk_config_set(cfg, "daemon.http.max_connections_per_ip", "0"), LK_ERR_CONFIG);
    assert_int_equal(lk_config_set(cfg, "daemon.http.max_connections_per_ip", "8"), LK_OK);
    assert_get(cfg, "daemon.http.max_connections_per_ip", "8");
    /* a refused value leaves the old one */
    assert_get(cfg, "daemon.http.trusted_proxies", "127.0.0.1,2001:db8::/32");
    lk_config_free(cfg);

    LOAD_FAILS(fx, "daemon:\n  http:\n    bogus: 1\n",
               "x.yaml:3: unknown key 'daemon.http.bogus' (expected one of: listen, threads, max_connections, "
               "max_connections_per_ip, timeout_s, api_key_header, client_ip_header, trusted_proxies, service_header, service_map, "
               "basic_any_user)");
    LOAD_FAILS(fx, "daemon:\n  http: 1\n", "x.yaml:2: daemon.http: expected a mapping of daemon.http settings, got a scalar");
    LOAD_FAILS(fx, "daemon:\n  http.listen: 127.0.0.1:1\n  http: {listen: 127.0.0.1:2}\n",
               "x.yaml:3: duplicate key 'daemon.http.listen'");
}

/* daemon.manage.*: the management API's listener, validated like daemon.http; TLS files
 * relative to the config file's directory. */
static void test_daemon_manage(void **state)
{
    struct fx *fx = *state;
    lk_config *cfg = load_ok(fx, "store:\n  path: s.mdb\n");
    assert_get(cfg, "daemon.manage.listen", "");
    assert_get(cfg, "daemon.manage.tls_cert", "");
    assert_get(cfg, "daemon.manage.tls_key", "");
    assert_get(cfg, "daemon.manage.trusted_proxies", "");
    assert_get(cfg, "daemon.manage.user_header", "");
    assert_get(cfg, "daemon.manage.threads", "2");
    assert_get(cfg, "daemon.manage.max_connections", "256");
    assert_get(cfg, "daemon.manage.max_body_bytes", "65536");
    assert_get(cfg, "daemon.manage.timeout_s", "10");
    lk_config_free(cfg);

    cfg = load_ok(fx, "daemon:\n  manage:\n    listen: \"[::1]:8443\"\n    tls_cert: /etc/c.pem\n    tls_key: k.pem\n"
                      "    trusted_proxies: [10.0.0.0/8]\n    user_header: X-Webauth-User\n    max_body_bytes: 1024\n"
                      "  manage.timeout_s: 3\n");
    assert_get(cfg, "daemon.manage.listen", "[::1]:8443");
    assert_get(cfg, "daemon.manage.tls_cert", "/etc/c.pem");
    const char *key = lk_config_get(cfg, "daemon.manage.tls_key");
    assert_true(key[0] == '/' && strcmp(key + strlen(key) - 6, "/k.pem") == 0);
    assert_get(cfg, "daemon.manage.trusted_proxies", "10.0.0.0/8");
    assert_get(cfg, "daemon.manage.user_header", "X-Webauth-User");
    assert_get(cfg, "daemon.manage.max_body_bytes", "1024");
    assert_get(cfg, "daemon.manage.timeout_s", "3");
    assert_int_equal(lk_config_set(cfg, "daemon.manage.listen", "localhost:80"), LK_ERR_CONFIG);
    assert_int_equal(lk_config_set(cfg, "daemon.manage.user_header", "Authorization"), LK_ERR_CONFIG);
    assert_int_equal(lk_config_set(cfg, "daemon.manage.trusted_proxies", "10.0.0.1/8"), LK_ERR_CONFIG);
    assert_int_equal(lk_config_set(cfg, "daemon.manage.max_body_bytes", "100"), LK_ERR_CONFIG);
    assert_get(cfg, "daemon.manage.listen", "[::1]:8443");
    lk_config_free(cfg);

    LOAD_FAILS(fx, "daemon:\n  manage:\n    tls: 1\n",
               "x.yaml:3: unknown key 'daemon.manage.tls' (expected one of: listen, tls_cert, tls_key, trusted_proxies, "
               "user_header, console_dir, session_idle_s, session_max_s, threads, max_connections, max_body_bytes, "
               "timeout_s)");
    /* the key console's settings (issue 21): defaults, a relative directory made absolute, ranges */
    cfg = load_ok(fx, "daemon:\n  manage:\n    console_dir: web/console\n    session_idle_s: 60\n"
                      "    session_max_s: 3600\n");
    const char *dir = lk_config_get(cfg, "daemon.manage.console_dir");
    assert_true(dir[0] == '/' && strstr(dir, "/web/console") != NULL);
    assert_get(cfg, "daemon.manage.session_idle_s", "60");
    assert_get(cfg, "daemon.manage.session_max_s", "3600");
    lk_config_free(cfg);
    cfg = load_ok(fx, "daemon: {}\n");
    assert_get(cfg, "daemon.manage.session_idle_s", "900");
    assert_get(cfg, "daemon.manage.session_max_s", "28800");
    assert_true(strstr(lk_config_get(cfg, "daemon.manage.console_dir"), "latchkey/console") != NULL);
    lk_config_free(cfg);
    LOAD_FAILS(fx, "daemon:\n  manage:\n    session_idle_s: 0\n", "daemon.manage.session_idle_s");
    LOAD_FAILS(fx, "daemon:\n  manage:\n    session_max_s: 604801\n", "daemon.manage.session_max_s");
    LOAD_FAILS(fx, "daemon:\n  manage.listen: 127.0.0.1:1\n  manage: {listen: 127.0.0.1:2}\n",
               "x.yaml:3: duplicate key 'daemon.manage.listen'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test_setup_teardown(test_full_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_file_keeps_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relative_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_top_level_not_mapping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_integers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_range_example, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_syntax_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_anchors_aliases_tags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nul_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_size_limit, setup, teardown),
        cmocka_unit_test(test_set_get),
        cmocka_unit_test(test_example_file),
        cmocka_unit_test_setup_teardown(test_example_http_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_section, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_http, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_manage, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
