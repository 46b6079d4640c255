/* cmd_init.c — write a new configuration file and create its store. */
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

/* Default store file name, next to the config file. */
static const char *default_store(const char *backend)
{
    if (strcmp(backend, "flatfile") == 0)
        return "store.txt";
    return "store.mdb";
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

/* mkdir -p of the config file's directory. New directories are 0700: the
 * store is created beside the config, and only its owner should reach it. */
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

static void print_created(struct cli *c, const lk_config *cfg)
{
    const char *backend = lk_config_get(cfg, "store.backend");
    const char *store = lk_config_get(cfg, "store.path");
    if (c->json) {
        struct jw w;
        out_begin(&w);
        jw_str(&w, "Config", c->config_path);
        jw_str(&w, "Backend", backend);
        jw_str(&w, "Store", store);
        out_end(&w);
        return;
    }
    field_print(stdout, "Created config", c->config_path);
    field_print(stdout, "Backend", backend);
    field_print(stdout, "Store", store);
}

/* Open (create) the store the new file names. On failure the file is
 * removed again, so `init` can simply be rerun. */
static int create_store(struct cli *c)
{
    lk_config *cfg = NULL;
    lk_status st = lk_config_load(c->config_path, &cfg);
    if (st == LK_OK)
        st = lk_open_config(cfg, &c->ctx);
    if (st != LK_OK) {
        c->ctx = NULL;
        int rc = out_status_error(c, st);
        unlink(c->config_path);
        lk_config_free(cfg);
        return rc;
    }
    print_created(c, cfg);
    lk_config_free(cfg);
    return CLI_EXIT_OK;
}

int cmd_init(struct cli *c)
{
    const char *backend = c->a.val[OPT_BACKEND] ? c->a.val[OPT_BACKEND] : "lmdb";
    const char *store = c->a.val[OPT_STORE] ? c->a.val[OPT_STORE] : default_store(backend);
    int rc = check_values(c, backend, store);
    if (rc == CLI_EXIT_OK)
        rc = create_config(c, backend, store);
    if (rc == CLI_EXIT_OK)
        rc = create_store(c);
    return rc;
}
