/* cmd_store.c — `store copy`: every record of one configuration's store into
 * another's (lk_store_copy_counted), e.g. from LMDB to PostgreSQL. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "output.h"
#include "table.h"

/* A progress line only for a person at a terminal (never in a pipe or a
 * log), and only for a copy long enough to want one: by the source's size,
 * so what is shown does not depend on the machine's speed. The library
 * calls back every few hundred records and at the end. */
#define PROGRESS_MIN_RECORDS 2000

struct progress {
    bool shown;
};

static void progress_cb(void *arg, size_t done, size_t total)
{
    struct progress *p = arg;
    if (total < PROGRESS_MIN_RECORDS)
        return;
    p->shown = true;
    fprintf(stderr, "\rlatchkey: copying: %zu of %zu records (%zu%%)", done, total, done * 100 / total);
    fflush(stderr);
}

static lk_status load(struct cli *c, enum opt_id o, lk_config **cfg)
{
    return lk_config_load(c->a.val[o], cfg);
}

static void json_counts(struct jdoc *d, json_object *parent, const char *key, const lk_copy_counts *n)
{
    json_object *o = jo_obj(d, parent, key);
    jo_u64(d, o, "Users", n->users);
    jo_u64(d, o, "AccessKeys", n->access_keys);
    jo_u64(d, o, "ApiKeys", n->apikeys);
    jo_u64(d, o, "AccessRecords", n->access_records);
    jo_u64(d, o, "AuditEntries", n->audit_entries);
}

static void field_count(const char *label, size_t n)
{
    char num[32];
    snprintf(num, sizeof num, "%zu", n);
    field_print(stdout, label, num);
}

int cmd_store_copy(struct cli *c)
{
    if (!(c->a.seen & OPT_BIT(OPT_FROM)) || !(c->a.seen & OPT_BIT(OPT_TO)))
        return out_usage(c, "'store copy' needs --from CONFIG and --to CONFIG");
    lk_config *from = NULL, *to = NULL;
    lk_copy_counts n, removed;
    struct progress p = {.shown = false};
    lk_copy_opts o = {.replace = (c->a.seen & OPT_BIT(OPT_REPLACE)) != 0};
    if (isatty(STDERR_FILENO)) {
        o.progress = progress_cb;
        o.progress_arg = &p;
    }
    lk_status st = load(c, OPT_FROM, &from);
    if (st == LK_OK)
        st = load(c, OPT_TO, &to);
    if (st == LK_OK)
        st = lk_store_copy_counted(from, to, &o, &n, &removed);
    lk_config_free(from);
    lk_config_free(to);
    if (p.shown)
        fputc('\n', stderr);
    if (st != LK_OK)
        return out_status_error(c, st);
    if (c->json) {
        struct jdoc d;
        json_object *resp = out_begin(&d);
        jo_str(&d, resp, "From", c->a.val[OPT_FROM]);
        jo_str(&d, resp, "To", c->a.val[OPT_TO]);
        jo_u64(&d, resp, "Records", n.records);
        json_counts(&d, resp, "Copied", &n);
        if (o.replace)
            json_counts(&d, resp, "Replaced", &removed);
        return out_end(c, &d, resp);
    }
    field_print(stdout, "From", c->a.val[OPT_FROM]);
    field_print(stdout, "To", c->a.val[OPT_TO]);
    field_count("Users", n.users);
    field_count("AccessKeys", n.access_keys);
    field_count("ApiKeys", n.apikeys);
    field_count("AccessRecords", n.access_records);
    field_count("AuditEntries", n.audit_entries);
    field_count("Records", n.records);
    if (o.replace) {
        char what[160];
        snprintf(what, sizeof what, "%zu users, %zu access keys, %zu API keys, %zu access records", removed.users,
                 removed.access_keys, removed.apikeys, removed.access_records);
        field_print(stdout, "Replaced", what);
    }
    return CLI_EXIT_OK;
}
