/* cmd_records.c — the latest access records of a key, newest first. */
#include <stdio.h>

#include "cli.h"
#include "output.h"
#include "table.h"

static int json_records(struct cli *c, const char *key_id, const lk_access_record *r, size_t n, int64_t last)
{
    struct jdoc d;
    json_object *resp = out_begin(&d);
    jo_str(&d, resp, "KeyId", key_id);
    out_jtime(&d, resp, "LastAccessTime", last);
    json_object *a = jo_arr(&d, resp, "Records");
    for (size_t i = 0; i < n; i++) {
        json_object *o = jo_obj(&d, a, NULL);
        out_jtime_iso(&d, o, "Time", r[i].time);
        if (r[i].client_ip[0])
            jo_str(&d, o, "ClientIp", r[i].client_ip);
        else
            jo_null(&d, o, "ClientIp");
        if (r[i].service[0])
            jo_str(&d, o, "Service", r[i].service);
        else
            jo_null(&d, o, "Service");
        jo_str(&d, o, "Result", lk_status_code(r[i].result));
    }
    jo_u64(&d, resp, "TotalCount", n);
    return out_end(c, &d, resp);
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
    return json_records(c, c->arg[0], recs, n, last);
}

/* stats: the verification counters, of latchkeyd (--socket) or of this process. */
int cmd_stats(struct cli *c)
{
    lk_stats s;
    int rc = cli_open(c);
    if (rc != CLI_EXIT_OK)
        return rc;
    lk_get_stats(c->ctx, &s);
    if (c->json) {
        struct jdoc d;
        json_object *resp = out_begin(&d);
        jo_u64(&d, resp, "Argon2Verifies", s.argon2_verifies);
        jo_u64(&d, resp, "CacheHits", s.cache_hits);
        jo_u64(&d, resp, "EarlyRejects", s.early_rejects);
        jo_u64(&d, resp, "RecordsFlushed", s.records_flushed);
        return out_end(c, &d, resp);
    }
    printf("Argon2Verifies %llu\nCacheHits %llu\nEarlyRejects %llu\nRecordsFlushed %llu\n",
           (unsigned long long)s.argon2_verifies, (unsigned long long)s.cache_hits,
           (unsigned long long)s.early_rejects, (unsigned long long)s.records_flushed);
    return CLI_EXIT_OK;
}
