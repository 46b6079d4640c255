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

#endif
