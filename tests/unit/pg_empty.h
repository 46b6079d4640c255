/*
 * pg_empty.h — for the unit suites that also run on PostgreSQL
 * (tests/pg/unit.sh sets LK_TEST_PG_CONNINFO): one database serves every
 * test, emptied through the backend vtable before each.
 */
#ifndef LK_TEST_PG_EMPTY_H
#define LK_TEST_PG_EMPTY_H

#include <stdlib.h>

#include "lk_backend.h"

static int pg_del_fn(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    (void)v, (void)vl;
    void **t = arg;
    return lk_backend_find("postgresql")->del(*t, k, kl) != LK_OK;
}

/* 0 when the database LK_TEST_PG_CONNINFO names is empty now. */
static int pg_empty(void)
{
    const lk_backend_ops *ops = lk_backend_find("postgresql");
    lk_backend_conf bc = {.conninfo = getenv("LK_TEST_PG_CONNINFO"), .create = 1};
    void *h, *t;
    if (ops == NULL || ops->open(&bc, &h) != LK_OK)
        return -1;
    int rc = ops->begin(h, 1, &t) == LK_OK && ops->scan(t, "", 0, pg_del_fn, &t) == LK_OK && ops->commit(t) == LK_OK
                 ? 0
                 : -1;
    ops->close(h);
    return rc;
}

#endif
