/*
 * http_parse.h — the HTTP endpoint's request reading, without the server:
 * credentials from Authorization (Bearer, Basic) or the API-key header,
 * the client address behind trusted proxies, the service from a header or
 * the original URI, and the verdict's HTTP status. Pure functions over
 * strings (http.c feeds them libmicrohttpd's header values), so unit tests
 * and the fuzzer (tests/fuzz/fuzz_http.c) reach them without a socket.
 */
#ifndef LKD_HTTP_PARSE_H
#define LKD_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "latchkey.h"
#include "lk_ip.h"

/* Room for one decoded credential (Basic "user:SecretId:SecretKey" at most):
 * the caller's buffer, in guarded memory. */
#define LKH_CRED_BUF 1024

enum lkh_cred_kind {
    LKH_CRED_NONE,   /* nothing offered: 401 */
    LKH_CRED_BAD,    /* offered but unreadable (scheme without a token, bad base64, no ':'): 401 */
    LKH_CRED_APIKEY, /* secret is an API key */
    LKH_CRED_PAIR    /* id is a SecretId, secret its SecretKey */
};

struct lkh_cred {
    enum lkh_cred_kind kind;
    const char *id;     /* PAIR: the SecretId ("" when the user name was too long to be one) */
    const char *secret; /* APIKEY, PAIR */
    size_t secret_len;
    const char *login;  /* Basic: the user name (the identity claimed), else NULL */
};

/* Read the credential of a request: "Authorization: Bearer KEY" or
 * "Authorization: Basic base64(USER:PASSWORD)" first, then the API-key
 * header's value (apikey NULL when absent or not configured). Basic follows
 * mod_authn_latchkey and pam_latchkey's mode=any: a password
 * "SecretId:SecretKey" is a pair; a SecretId user with anything but an API
 * key ("lk-...") as password is a pair; anything else is USER:API-key. An
 * empty user is unreadable (BAD), as Apache has it, whatever basic_any_user. The
 * results point into buf (bufsz >= LKH_CRED_BUF), which the caller wipes. */
enum lkh_cred_kind lkh_credentials(const char *authorization, const char *apikey, char *buf, size_t bufsz,
                                   struct lkh_cred *out);

/* "10.0.0.0/8,::1" (daemon.http.trusted_proxies, already validated) into at
 * most max ranges; returns how many. */
size_t lkh_parse_ranges(const char *list, lk_cidr *out, size_t max);

/* The client's address, into out (at least 64 bytes): the TCP peer's,
 * unless the peer is a trusted proxy and sent the client-address header
 * (hdr; "a, b, c" as X-Forwarded-For or one address as X-Real-IP): then the
 * right-most entry that is not itself a trusted proxy (the left-most when
 * all are). false when that header is malformed: out is "" (no address, so
 * a key with an allowlist is refused). */
bool lkh_client_ip(const char *peer, const char *hdr, const lk_cidr *trusted, size_t ntrusted, char *out,
                   size_t outsz);

/* The peer is one of the trusted proxies. */
bool lkh_trusted(const char *peer, const lk_cidr *trusted, size_t ntrusted);

/* Room for a normalised request path: nginx's default request line buffer
 * (8 KiB); a longer path is refused. */
#define LKH_PATH_MAX 8192

/* The path of uri (an origin-form request target, "/a/b?query") as the
 * proxies route it, into out: the query and fragment cut; escapes of
 * unreserved characters decoded, others kept with upper-case hex (RFC 3986
 * §6.2.2); "//" merged into one '/' (nginx's merge_slashes, Caddy); "." and
 * ".." segments removed (§5.2.4), a trailing '/' kept. false, and out "",
 * for a target that proxies route differently or that no client means: not
 * starting with '/', an encoded '/' (%2F) or '\' (%5C), a NUL (%00), a raw
 * '\' or control byte, a bad escape, ".." above the root, a segment still
 * starting with ".." ("..;"), or longer than outsz. */
bool lkh_normalize_path(const char *uri, char *out, size_t outsz);

/* The service to verify against, into out (LK_SERVICE_MAX + 1 bytes at
 * least): the service header's value (hdr) when sent, else the map entry
 * ("/prefix=service,...") whose prefix is the longest that covers uri (the
 * original request's target) after lkh_normalize_path, on whole segments
 * ("/api" covers "/api" and "/api/x", not "/apifoo"), else none: returns
 * NULL. *refused when the map was to decide and lkh_normalize_path refused
 * uri (the request is then refused, whatever the key's scope). A header
 * value that is no service name is returned as it is, and the verify
 * refuses it. */
const char *lkh_service(const char *hdr, const char *uri, const char *map, char *out, size_t outsz, bool *refused);

/* The HTTP status for a verdict: 200 allowed; 401 for no, a malformed,
 * unknown or wrong credential, or one that is not the Basic user's; 403 for
 * a policy refusal (disabled, address, scope, throttled, a malformed
 * request field); 503 when the store
 * or the Argon2id queue cannot answer now; 500 for anything else. Never 200
 * but for LK_OK. */
int lkh_http_status(lk_status st);

#endif
