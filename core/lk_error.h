/*
 * lk_error.h — the per-thread "last error" message behind lk_errmsg().
 * Internal to the library (core and backends).
 */
#ifndef LK_ERROR_H
#define LK_ERROR_H

#include "latchkey.h"

#if defined(__GNUC__) || defined(__clang__)
#define LK_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LK_PRINTF(a, b)
#endif

/* Record a message for the calling thread and return st, so callers can
 * write `return lk_seterr(LK_ERR_PARAM, "uin %s is not a number", s);`.
 * Never pass secret material. */
lk_status lk_seterr(lk_status st, const char *fmt, ...) LK_PRINTF(2, 3);
/* lk_seterr(st, "%s%s%s", before, id, after) without the formatting cost:
 * for the rejects that must run at millions per second. */
lk_status lk_seterr_id(lk_status st, const char *before, const char *id, const char *after);

/* Keep the calling thread's message across work whose own failures must not
 * replace it (recording a verify attempt after its verdict was set). */
#define LK_ERRMSG_MAX 512
void lk_errmsg_save(char saved[LK_ERRMSG_MAX]);
void lk_errmsg_restore(const char saved[LK_ERRMSG_MAX]);

#endif
