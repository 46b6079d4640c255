/*
 * seterr.c — latchkeyd compiles core/ip.c (trusted proxies' ranges) without
 * the library's internals: its errors need no message here, the config
 * loader has already named every bad entry.
 */
#include "lk_error.h"

lk_status lk_seterr(lk_status st, const char *fmt, ...)
{
    (void)fmt;
    return st;
}
