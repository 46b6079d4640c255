/* cmd_init.c — write a new configuration file and create its store (the
 * only command that creates a store), or create the missing store of an
 * existing configuration. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "output.h"
#include "table.h"

#define CODE_CONFIG_EXISTS "FailedOperation.ConfigExists"

/* 1 when init writes the system configuration (no --config, no
 * $LATCHKEY_CONFIG, or the same path given explicitly). */
static int is_system_config(const struct cli *c)
{
    return strcmp(c->config_path, CLI_DEFAULT_CONFIG) == 0;
}

/* Default store: the system configuration's is in the system store
 * directory, LK_STATEDIR (the library's compiled-in default too); any other
 * configuration's is a file beside it. */
static const char *default_store(const struct cli *c, const char *backend)
{
    int flat = strcmp(backend, "flatfile") == 0;
    if (is_system_config(c))
        return flat ? LK_STATEDIR "/store.txt" : LK_STATEDIR "/store.mdb";
    return flat ? "store.txt" : "store.mdb";
}

/* Let the library judge the values before anything is written, so a bad
 * --backend leaves no file behind. */
static int check_values(struct cli *c, const char *backend, const char *store)
{
    lk_config *cfg = NULL;
    lk_status st = lk_config_default(&cfg);
    if (st != LK_OK)
        return out_status_error(c, st);
    int rc = CLI_EXIT_OK;
    if (lk_config_set(cfg, "store.backend", backend) != LK_OK)
        rc = out_usage(c, "--backend '%.40s': %s", backend, lk_errmsg(NULL));
    else if (lk_config_set(cfg, "store.path", store) != LK_OK)
        rc = out_usage(c, "--store '%.200s': %s", store, lk_errmsg(NULL));
    lk_config_free(cfg);
    return rc;
}

/* A YAML double-quoted scalar: any path survives, spaces, '#' and ':' too. */
static void yaml_quote(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f)
            fprintf(f, "\\x%02x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static int write_yaml(FILE *f, const char *backend, const char *store)
{
    fputs("# latchkey configuration, written by `latchkey init`.\n"
          "# Every setting and its default: etc/latchkey.yaml in the latchkey sources.\n"
          "store:\n"
          "  backend: ",
          f);
    yaml_quote(f, backend);
    fputs("\n  # a relative path is resolved against this file's directory\n  path: ", f);
    yaml_quote(f, store);
    fputc('\n', f);
    if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0)
        return -1;
    return 0;
}

/* mkdir -p of a file's directory (the config's; the system store's). New
 * directories are 0700: only the store's owner should reach it. */
static int make_parent_dirs(const char *path)
{
    char *dir = strdup(path);
    if (dir == NULL)
        return -1;
    char *slash = strrchr(dir, '/');
    int rc = 0;
    if (slash != NULL && slash != dir) {
        *slash = '\0';
        for (char *p = dir + 1; rc == 0; p++) {
            if (*p != '/' && *p != '\0')
                continue;
            char saved = *p;
            *p = '\0';
            if (mkdir(dir, 0700) != 0 && errno != EEXIST)
                rc = -1;
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
    free(dir);
    return rc;
}

/* O_EXCL: an existing config (maybe with tuned settings) is never replaced. */
static int create_config(struct cli *c, const char *backend, const char *store)
{
    if (make_parent_dirs(c->config_path) != 0)
        return out_error(c, CLI_EXIT_SYSTEM, lk_status_code(LK_ERR_STORE), "cannot create the directory of %s: %s",
                         c->config_path, strerror(errno));
    int fd = open(c->config_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST)
        return out_error(c, CLI_EXIT_REFUSED, CODE_CONFIG_EXISTS, "%s already exists; refusing to overwrite it",
                         c->config_path);
    if (fd < 0)
        return out_error(c, CLI_EXIT_SYSTEM, lk_status_code(LK_ERR_STORE), "cannot create %s: %s",
                         c->config_path, strerror(errno));
    FILE *f = fdopen(fd, "w");
    int err = f ? write_yaml(f, backend, store) : -1;
    int saved = errno;
    if (f ? fclose(f) != 0 : close(fd) != 0)
        err = -1;
    if (err != 0) {
        unlink(c->config_path);
        return out_error(c, CLI_EXIT_SYSTEM, lk_status_code(LK_ERR_STORE), "cannot write %s: %s",
                         c->config_path, strerror(saved ? saved : errno));
    }
    return CLI_EXIT_OK;
}

/* where: the store's path, or a database server as host:port/db; done:
 * what was done to a database schema ("" for a file store). */
static int print_created(struct cli *c, const lk_config *cfg, const char *what, const char *where, const char *done)
{
    const char *backend = lk_config_get(cfg, "store.backend");
    if (c->json) {
        struct jdoc d;
        json_object *resp = out_begin(&d);
        jo_str(&d, resp, "Config", c->config_path);
        jo_str(&d, resp, "Backend", backend);
        jo_str(&d, resp, "Store", where);
        if (*done)
            jo_str(&d, resp, "Schema", done);
        return out_end(c, &d, resp);
    }
    field_print(stdout, what, c->config_path);
    field_print(stdout, "Backend", backend);
    field_print(stdout, "Store", where);
    if (*done)
        field_print(stdout, "Schema", done);
    return CLI_EXIT_OK;
}

/* Create the store the new file names. On failure the file is removed
 * again, so `init` can simply be rerun. */
static int create_store(struct cli *c, int make_store_dir)
{
    lk_config *cfg = NULL;
    lk_status st = lk_config_load(c->config_path, &cfg);
    if (st == LK_OK && make_store_dir && make_parent_dirs(lk_config_get(cfg, "store.path")) != 0) {
        int rc = out_error(c, CLI_EXIT_SYSTEM, lk_status_code(LK_ERR_STORE), "cannot create the directory of %s: %s",
                           lk_config_get(cfg, "store.path"), strerror(errno));
        unlink(c->config_path);
        lk_config_free(cfg);
        return rc;
    }
    char where[512] = "", done[512] = "";
    if (st == LK_OK)
        st = lk_store_create_described(cfg, where, sizeof where, done, sizeof done);
    if (st != LK_OK) {
        int rc = out_status_error(c, st);
        unlink(c->config_path);
        lk_config_free(cfg);
        return rc;
    }
    int rc = print_created(c, cfg, "Created config", where, done);
    lk_config_free(cfg);
    return rc;
}

/* `init` on an existing configuration (one written by hand or installed
 * from the example) whose store does not exist yet: create that store and
 * leave the file alone. Returns -1 when this does not apply. */
static int create_store_of_existing(struct cli *c)
{
    if (c->a.val[OPT_BACKEND] || c->a.val[OPT_STORE])
        return -1; /* options for a new file: the existing one wins, refuse */
    lk_config *cfg = NULL;
    if (lk_config_load(c->config_path, &cfg) != LK_OK)
        return -1;
    const char *store = lk_config_get(cfg, "store.path");
    /* A database store has no file to look for: its init creates the schema
     * or upgrades it, and leaves a current one alone. */
    const char *backend = lk_config_get(cfg, "store.backend");
    int remote = backend != NULL && strcmp(backend, "postgresql") == 0;
    struct stat st;
    if (store == NULL || (!remote && (lstat(store, &st) == 0 || errno != ENOENT))) {
        lk_config_free(cfg);
        return -1;
    }
    int rc = CLI_EXIT_OK;
    if (!remote && is_system_config(c) && make_parent_dirs(store) != 0)
        rc = out_error(c, CLI_EXIT_SYSTEM, lk_status_code(LK_ERR_STORE), "cannot create the directory of %s: %s", store,
                       strerror(errno));
    if (rc == CLI_EXIT_OK) {
        /* a database: its schema line says whether anything was created */
        char where[512] = "", done[512] = "";
        lk_status ls = lk_store_create_described(cfg, where, sizeof where, done, sizeof done);
        rc = ls == LK_OK ? print_created(c, cfg, remote ? "Store for" : "Created store for", where, done)
                         : out_status_error(c, ls);
    }
    lk_config_free(cfg);
    return rc;
}

int cmd_init(struct cli *c)
{
    if (c->a.seen & OPT_BIT(OPT_SOCKET))
        return out_usage(c, "init writes a configuration and its store here; it does not go through --socket");
    const char *backend = c->a.val[OPT_BACKEND] ? c->a.val[OPT_BACKEND] : "lmdb";
    const char *store = c->a.val[OPT_STORE] ? c->a.val[OPT_STORE] : default_store(c, backend);
    int rc = check_values(c, backend, store);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (access(c->config_path, F_OK) == 0 && (rc = create_store_of_existing(c)) >= 0)
        return rc;
    rc = create_config(c, backend, store);
    if (rc == CLI_EXIT_OK)
        rc = create_store(c, c->a.val[OPT_STORE] == NULL && is_system_config(c));
    return rc;
}
