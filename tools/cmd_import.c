/* cmd_import.c — `import FILE|-`: users and keys from CSV or JSON lines
 * (import_parse.c) added by lk_import in one transaction, and the new
 * secrets written once, to stdout or to a new 0600 file (--secrets-out). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "import_parse.h"
#include "output.h"
#include "secret_in.h"
#include "table.h"

#define SECRETS_NOTE                                                                                 \
    "latchkey: note: this is the only time these secrets are shown; they cannot be retrieved later. " \
    "Store them safely now.\n"

/* The whole input (at most IMPORT_MAX_BYTES + 1, so the parser can tell a
 * larger one). Holds no secret: it names users and keys to make. */
static int read_input(struct cli *c, const char *path, char **text, size_t *len)
{
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    size_t cap = 0, n = 0;
    char *buf = NULL;
    int err = 0; /* read's errno; -1: out of memory */
    *text = NULL;
    if (fd < 0)
        return out_error(c, CLI_EXIT_SYSTEM, lk_status_code(LK_ERR_STORE), "cannot open %s: %s", path,
                         strerror(errno));
    while (n <= IMPORT_MAX_BYTES) { /* a byte past the limit: enough for the parser to refuse it */
        if (n == cap) {
            char *g = realloc(buf, cap = cap ? 2 * cap : 1 << 16);
            if (g == NULL) {
                err = -1;
                break;
            }
            buf = g;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r == 0)
            break;
        if (r > 0) {
            n += (size_t)r;
        } else if (errno != EINTR) {
            err = errno;
            break;
        }
    }
    if (fd != STDIN_FILENO)
        close(fd);
    if (err != 0) {
        free(buf);
        return err < 0 ? out_nomem(c)
                       : out_error(c, CLI_EXIT_SYSTEM, lk_status_code(LK_ERR_STORE), "cannot read %s: %s", path,
                                   strerror(err));
    }
    *text = buf;
    *len = n;
    return CLI_EXIT_OK;
}

/* A new file for the secrets, readable by its owner only; never an existing
 * one (another run's secrets, or a link planted for us). */
static int open_secrets_file(struct cli *c, const char *path, FILE **out)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    *out = NULL;
    if (fd < 0 && errno == EEXIST)
        return out_usage(c, "--secrets-out %s: the file exists; refusing to overwrite it (give a new name)", path);
    if (fd < 0 || fchmod(fd, 0600) != 0 || (*out = fdopen(fd, "w")) == NULL) {
        int e = errno;
        if (fd >= 0) {
            close(fd);
            unlink(path);
        }
        return out_error(c, CLI_EXIT_SYSTEM, lk_status_code(LK_ERR_STORE), "cannot create %s: %s", path, strerror(e));
    }
    return CLI_EXIT_OK;
}

static void csv_quoted(FILE *f, const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void json_string(FILE *f, const char *s)
{
    json_object *o = json_object_new_string(s);
    fputs(o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) : "\"\"",
          f);
    json_object_put(o);
}

/* One line per new key, in the input's format; the secret goes straight
 * from guarded memory to the descriptor (secret_write_direct). */
static int write_secrets(FILE *f, const struct import_batch *b, const lk_import_result *res)
{
    static const char *const types[] = {"user", "apikey", "key"};
    bool header = !b->jsonl;
    for (size_t i = 0; i < b->n; i++) {
        const lk_import_item *it = &b->items[i];
        const char *name = it->kind == LK_IMPORT_APIKEY ? it->apikey.name : "";
        if (res[i].secret == NULL)
            continue;
        if (header) /* only above secrets: an import of users alone prints none */
            fputs("line,type,uin,name,id,secret\n", f);
        header = false;
        if (b->jsonl) {
            fprintf(f, "{\"line\":%zu,\"type\":\"%s\",\"uin\":%llu,\"name\":", b->rows[i].line, types[it->kind],
                    (unsigned long long)it->uin);
            json_string(f, name);
            fprintf(f, ",\"id\":\"%s\",\"secret\":\"", res[i].id);
        } else {
            fprintf(f, "%zu,%s,%llu,", b->rows[i].line, types[it->kind], (unsigned long long)it->uin);
            csv_quoted(f, name);
            fprintf(f, ",%s,", res[i].id);
        }
        /* generated secrets are base62 and '-': nothing to quote or escape */
        if (secret_write_direct(f, lk_secret_str(res[i].secret), lk_secret_len(res[i].secret)) != 0)
            return -1;
        fputs(b->jsonl ? "\"}\n" : "\n", f);
    }
    return fflush(f) == 0 && !ferror(f) ? 0 : -1;
}

static void results_free(lk_import_result *res, size_t n)
{
    for (size_t i = 0; res != NULL && i < n; i++)
        lk_secret_free(res[i].secret);
    free(res);
}

static int summary(struct cli *c, const struct import_batch *b, const char *secrets_path)
{
    size_t k[3] = {0, 0, 0};
    for (size_t i = 0; i < b->n; i++)
        k[b->items[i].kind]++;
    if (c->json) {
        struct jdoc d;
        json_object *resp = out_begin(&d);
        jo_u64(&d, resp, "Users", k[LK_IMPORT_USER]);
        jo_u64(&d, resp, "ApiKeys", k[LK_IMPORT_APIKEY]);
        jo_u64(&d, resp, "AccessKeys", k[LK_IMPORT_KEY]);
        jo_str(&d, resp, "SecretsFile", secrets_path);
        return out_end(c, &d, resp);
    }
    if (secrets_path == NULL) { /* stdout holds the secrets */
        fprintf(stderr, "latchkey: imported %zu user(s), %zu API key(s) and %zu access key(s)\n", k[LK_IMPORT_USER],
                k[LK_IMPORT_APIKEY], k[LK_IMPORT_KEY]);
        if (k[LK_IMPORT_APIKEY] + k[LK_IMPORT_KEY] > 0)
            fputs(SECRETS_NOTE, stderr);
        return CLI_EXIT_OK;
    }
    char num[3][24];
    for (int i = 0; i < 3; i++)
        snprintf(num[i], sizeof num[i], "%zu", k[i]);
    field_print(stdout, "Users", num[LK_IMPORT_USER]);
    field_print(stdout, "ApiKeys", num[LK_IMPORT_APIKEY]);
    field_print(stdout, "AccessKeys", num[LK_IMPORT_KEY]);
    field_print(stdout, "SecretsFile", secrets_path);
    if (k[LK_IMPORT_APIKEY] + k[LK_IMPORT_KEY] > 0)
        fputs(SECRETS_NOTE, stderr);
    return CLI_EXIT_OK;
}

int cmd_import(struct cli *c)
{
    const char *path = c->arg[0], *secrets_path = c->a.val[OPT_SECRETS_OUT];
    struct import_batch b;
    char err[IMPORT_ERR_MAX], *text;
    size_t len = 0, failed = 0, keys = 0;
    FILE *sf = NULL;
    lk_import_result *res = NULL;
    int rc = read_input(c, path, &text, &len);
    if (rc != CLI_EXIT_OK)
        return rc;
    int bad = import_parse(text, len, (int64_t)time(NULL), &b, err, sizeof err);
    free(text);
    if (bad) {
        import_batch_free(&b);
        return out_error(c, CLI_EXIT_USAGE, CLI_CODE_USAGE, "%s: %s; nothing was imported",
                         strcmp(path, "-") == 0 ? "stdin" : path, err);
    }
    for (size_t i = 0; i < b.n; i++)
        keys += b.items[i].kind != LK_IMPORT_USER;
    if (c->json && keys > 0 && secrets_path == NULL)
        rc = out_usage(c, "with --json, give --secrets-out FILE for the new keys' secrets (the JSON answer holds "
                          "none)");
    if (rc == CLI_EXIT_OK && secrets_path != NULL)
        rc = open_secrets_file(c, secrets_path, &sf);
    if (rc == CLI_EXIT_OK)
        rc = cli_open(c);
    if (rc == CLI_EXIT_OK && (res = calloc(b.n, sizeof *res)) == NULL)
        rc = out_nomem(c);
    if (rc != CLI_EXIT_OK)
        goto out;
    lk_status st = lk_import(c->ctx, b.items, b.n, res, &failed);
    if (st != LK_OK && failed >= b.n) { /* not a line's fault (the store, --socket) */
        rc = out_status_error(c, st);
        goto out;
    }
    if (st != LK_OK) {
        rc = out_error(c, out_exit_for(st), lk_status_code(st), "%s line %zu: %s; nothing was imported",
                       strcmp(path, "-") == 0 ? "stdin" : path, b.rows[failed].line, lk_errmsg(c->ctx));
        goto out;
    }
    if (write_secrets(sf ? sf : stdout, &b, res) != 0) {
        /* committed: the keys exist, and their secrets could not be shown */
        rc = out_error(c, CLI_EXIT_SYSTEM, lk_status_code(LK_ERR_STORE),
                       "the import was committed but writing the secrets to %s failed (%s): disable the new keys "
                       "(apikey disable, key disable) and import them again",
                       sf ? secrets_path : "stdout", strerror(errno));
        goto out;
    }
    if (sf != NULL) {
        int closed = fclose(sf);
        sf = NULL;
        if (closed != 0) {
            rc = out_error(c, CLI_EXIT_SYSTEM, lk_status_code(LK_ERR_STORE),
                           "the import was committed but closing %s failed (%s)", secrets_path, strerror(errno));
            goto out;
        }
    }
    rc = summary(c, &b, secrets_path);
    results_free(res, b.n);
    import_batch_free(&b);
    return rc;
out:
    if (sf != NULL) { /* nothing was written to it, or it is incomplete: it goes */
        fclose(sf);
        unlink(secrets_path);
    }
    results_free(res, b.n);
    import_batch_free(&b);
    return rc;
}
