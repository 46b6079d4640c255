/* cmd_records.c — the latest access records of a key, newest first. */
#include <stdio.h>

#include "cli.h"
#include "output.h"
#include "table.h"

static void json_records(const char *key_id, const lk_access_record *r, size_t n, int64_t last)
{
    struct jw w;
    out_begin(&w);
    jw_str(&w, "KeyId", key_id);
    out_jtime(&w, "LastAccessTime", last);
    jw_arr(&w, "Records");
    for (size_t i = 0; i < n; i++) {
        jw_obj(&w, NULL);
        out_jtime(&w, "Time", r[i].time);
        if (r[i].client_ip[0])
            jw_str(&w, "ClientIp", r[i].client_ip);
        else
            jw_null(&w, "ClientIp");
        if (r[i].service[0])
            jw_str(&w, "Service", r[i].service);
        else
            jw_null(&w, "Service");
        jw_str(&w, "Result", lk_status_code(r[i].result));
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_u64(&w, "TotalCount", n);
    out_end(&w);
}

static int text_records(struct cli *c, const lk_access_record *r, size_t n, int64_t last)
{
    static const char *const head[] = {"Time", "ClientIp", "Service", "Result"};
    char t[OUT_TIME_LEN];
    struct table tb;
    field_print(stdout, "LastAccessTime", out_time(last, t));
    table_init(&tb, 4, head);
    for (size_t i = 0; i < n; i++) {
        const char *row[] = {out_time(r[i].time, t), r[i].client_ip[0] ? r[i].client_ip : NULL,
                             r[i].service[0] ? r[i].service : NULL, lk_status_code(r[i].result)};
        table_row(&tb, row);
    }
    int rc = table_print(&tb, stdout);
    table_free(&tb);
    return rc == 0 ? CLI_EXIT_OK : out_nomem(c);
}

int cmd_records(struct cli *c)
{
    int rc = cli_open(c);
    if (rc != CLI_EXIT_OK)
        return rc;
    lk_access_record recs[LK_RECORDS_MAX];
    size_t n = 0;
    int64_t last = 0;
    lk_status st = lk_records(c->ctx, c->arg[0], recs, &n, &last);
    if (st != LK_OK)
        return out_status_error(c, st);
    if (n > LK_RECORDS_MAX)
        n = LK_RECORDS_MAX; /* never trust a count past the array */
    if (!c->json)
        return text_records(c, recs, n, last);
    json_records(c->arg[0], recs, n, last);
    return CLI_EXIT_OK;
}
