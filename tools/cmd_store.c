/* cmd_store.c — `store copy`: every record of one configuration's store into
 * another's (lk_store_copy), e.g. from LMDB to PostgreSQL. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "output.h"
#include "table.h"

static lk_status load(struct cli *c, enum opt_id o, lk_config **cfg)
{
    return lk_config_load(c->a.val[o], cfg);
}

int cmd_store_copy(struct cli *c)
{
    if (!(c->a.seen & OPT_BIT(OPT_FROM)) || !(c->a.seen & OPT_BIT(OPT_TO)))
        return out_usage(c, "'store copy' needs --from CONFIG and --to CONFIG");
    lk_config *from = NULL, *to = NULL;
    size_t n = 0;
    lk_status st = load(c, OPT_FROM, &from);
    if (st == LK_OK)
        st = load(c, OPT_TO, &to);
    if (st == LK_OK)
        st = lk_store_copy(from, to, (c->a.seen & OPT_BIT(OPT_REPLACE)) != 0, &n);
    lk_config_free(from);
    lk_config_free(to);
    if (st != LK_OK)
        return out_status_error(c, st);
    char num[32];
    snprintf(num, sizeof num, "%zu", n);
    if (c->json) {
        struct jdoc d;
        json_object *resp = out_begin(&d);
        jo_str(&d, resp, "From", c->a.val[OPT_FROM]);
        jo_str(&d, resp, "To", c->a.val[OPT_TO]);
        jo_u64(&d, resp, "Records", n);
        return out_end(c, &d, resp);
    }
    field_print(stdout, "From", c->a.val[OPT_FROM]);
    field_print(stdout, "To", c->a.val[OPT_TO]);
    field_print(stdout, "Records", num);
    return CLI_EXIT_OK;
}
