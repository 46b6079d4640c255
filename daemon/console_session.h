/*
 * console_session.h — the key console's server-side sessions (issue 21): a
 * bounded table of signed-in callers, each named by a random 256-bit id
 * (the cookie) and carrying a CSRF token that every request made with the
 * session must repeat in X-CSRF-Token. An idle timeout and an absolute
 * lifetime end a session; the caller passes the clock (Unix seconds), so the
 * unit test drives time. Only a hash of each id is kept: a memory dump
 * names no live cookie. Thread-safe (one mutex).
 */
#ifndef LKD_CONSOLE_SESSION_H
#define LKD_CONSOLE_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "latchkey.h"

#define LKC_TOKEN_HEX 64 /* 32 random bytes as hex: the session id and the CSRF token */

struct lkc_table;

/* Who a session speaks for: the access key that signed in, or the login a
 * trusted proxy named (secret_id ""). */
struct lkc_who {
    uint64_t uin;
    char secret_id[LK_SECRET_ID_LEN + 1];
    char login[LK_LOGIN_MAX + 1];
};

/* cap sessions at most (the oldest-used is evicted when full). NULL: out of memory. */
struct lkc_table *lkc_new(size_t cap, unsigned idle_s, unsigned max_s);
void lkc_free(struct lkc_table *t);

/* A new session for who at now: its id and CSRF token as hex (NUL-terminated). */
lk_status lkc_create(struct lkc_table *t, const struct lkc_who *who, int64_t now, char id[LKC_TOKEN_HEX + 1],
                     char csrf[LKC_TOKEN_HEX + 1]);

enum lkc_result {
    LKC_OK,        /* live; its last use is now */
    LKC_NONE,      /* no such session (never, ended, evicted or malformed) */
    LKC_EXPIRED,   /* idle or past its lifetime: ended now */
    LKC_BAD_CSRF   /* live, but the token does not match (the session is not touched) */
};
/* The session id (the cookie's value) at now. csrf: the request's
 * X-CSRF-Token (NULL: not checked, for the session probe that hands the
 * token back). On LKC_OK *who and (when csrf_out) its token are filled. */
enum lkc_result lkc_use(struct lkc_table *t, const char *id, const char *csrf, int64_t now, struct lkc_who *who,
                        char csrf_out[LKC_TOKEN_HEX + 1]);
/* End one session (sign-out); false when it did not exist. */
bool lkc_end(struct lkc_table *t, const char *id);
/* End every session of uin whose sign-in key is secret_id (a key disabled or deleted). */
void lkc_end_key(struct lkc_table *t, const char *secret_id);
/* Live sessions (for the tests). */
size_t lkc_count(struct lkc_table *t);



/* A console file's path below the console directory, as libmicrohttpd hands
 * it (decoded, after "/console/"): true only for 1..200 bytes of
 * [A-Za-z0-9._-] segments separated by single '/', none empty or starting
 * with '.' (no "..", no hidden file, no "//", no '\', no encoded byte). */
bool lkc_static_path_ok(const char *rel);
/* The Content-Type of a console file by its extension; NULL: not served. */
const char *lkc_content_type(const char *rel);

#endif
