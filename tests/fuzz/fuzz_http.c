/*
 * fuzz_http — latchkeyd's HTTP request reading (daemon/http_parse.c): what
 * a client or a proxy puts in Authorization, the API-key header,
 * X-Forwarded-For, the service header and the original URI.
 *
 * Input: pieces separated by 0xff bytes: Authorization (empty piece: no
 * header when the flag byte says so), API-key header, peer address,
 * client-address header, service header, URI, trusted ranges, service map.
 *
 * Invariants:
 *  - no crash, no read or write outside the buffers (ASan);
 *  - a credential's strings lie inside the caller's buffer, are
 *    NUL-terminated there, and secret_len is the secret's strlen; a pair's
 *    id is "" or starts with AKID and is at most LK_SECRET_ID_LEN bytes
 *    (a shorter one is the verify's to refuse); NONE/BAD carry no secret;
 *  - the client address is "" or an address lk_ip_parse accepts, and the
 *    peer itself whenever the peer is not trusted or sends no header;
 *  - the service is NULL or a NUL-terminated string within its buffer, and
 *    without a header it is a service the map names; a refused URI names none;
 *  - a normalised path starts with '/', has no "//", dot-segment, encoded
 *    '/' or '\\' left, and normalises to itself;
 *  - lkh_http_status is 200 only for LK_OK.
 */
#include "fuzz_common.h"
#include <sodium.h>

#include "http_parse.h"

static char cred[LKH_CRED_BUF];

static int inside(const char *p)
{
    return p >= cred && p < cred + sizeof cred;
}

/* s holds an escape of byte c ("%2F", "%2f") */
static int has_escape(const char *s, unsigned c)
{
    for (; (s = strchr(s, '%')) != NULL; s++) {
        unsigned v;
        if (sscanf(s + 1, "%2x", &v) == 1 && v == c)
            return 1;
    }
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return sodium_init() < 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = {data, size};
    uint8_t flags = fz_u8(&in);
    char *authz = fz_str(&in, 2048, NULL), *apikey = fz_str(&in, 2048, NULL), *peer = fz_str(&in, 80, NULL);
    char *xff = fz_str(&in, 1024, NULL), *svc = fz_str(&in, 200, NULL), *uri = fz_str(&in, 512, NULL);
    char *ranges = fz_str(&in, 512, NULL), *map = fz_str(&in, 1024, NULL);

    struct lkh_cred c;
    enum lkh_cred_kind k =
        lkh_credentials(flags & 1 ? authz : NULL, flags & 2 ? apikey : NULL, cred, sizeof cred, &c);
    FUZZ_CHECK(k == c.kind);
    if (k == LKH_CRED_APIKEY || k == LKH_CRED_PAIR) {
        FUZZ_CHECK(inside(c.secret));
        FUZZ_CHECK(strnlen(c.secret, (size_t)(cred + sizeof cred - c.secret)) == c.secret_len);
        FUZZ_CHECK(c.login == NULL || (inside(c.login) && c.login[0] != '\0')); /* an empty user is refused */
    } else {
        FUZZ_CHECK(c.secret_len == 0);
    }
    if (k == LKH_CRED_PAIR)
        FUZZ_CHECK(c.id[0] == '\0' ||
                   (inside(c.id) && strncmp(c.id, "AKID", 4) == 0 && strlen(c.id) <= LK_SECRET_ID_LEN));
    sodium_memzero(cred, sizeof cred);

    lk_cidr t[16];
    size_t n = lkh_parse_ranges(ranges, t, 16);
    FUZZ_CHECK(n <= 16);
    char ip[64];
    const char *hdr = flags & 4 ? xff : NULL;
    bool ok = lkh_client_ip(peer, hdr, t, n, ip, sizeof ip);
    FUZZ_CHECK(memchr(ip, '\0', sizeof ip) != NULL);
    if (hdr == NULL || !lkh_trusted(peer, t, n)) {
        FUZZ_CHECK(ok);
        FUZZ_CHECK(strlen(peer) >= sizeof ip ? ip[0] == '\0' : strcmp(ip, peer) == 0);
    } else if (ok) {
        lk_cidr a;
        FUZZ_CHECK(lk_ip_parse(ip, &a) == LK_OK);
    } else {
        FUZZ_CHECK(ip[0] == '\0');
    }

    char out[LK_SERVICE_MAX + 2];
    bool refused;
    const char *s = lkh_service(flags & 8 ? svc : NULL, uri, map, out, sizeof out, &refused);
    FUZZ_CHECK(!refused || s == NULL);
    if (s != NULL) {
        FUZZ_CHECK(s == out && memchr(out, '\0', sizeof out) != NULL);
        if (!(flags & 8)) { /* from the map: "=<service>" is in it */
            char needle[LK_SERVICE_MAX + 3];
            snprintf(needle, sizeof needle, "=%s", out);
            FUZZ_CHECK(strstr(map, needle) != NULL);
        }
    }

    static char path[LKH_PATH_MAX];
    if (lkh_normalize_path(uri, path, sizeof path)) {
        /* what the map is matched on: no dot-segment, "//", encoded '/' or '\' left, idempotent */
        size_t plen = strlen(path);
        FUZZ_CHECK(path[0] == '/' && strstr(path, "//") == NULL && strstr(path, "/./") == NULL &&
                   strstr(path, "/..") == NULL && !has_escape(path, 0x2f) &&
                   !has_escape(path, 0x5c) && strchr(path, '\\') == NULL);
        FUZZ_CHECK(!(plen >= 2 && strcmp(path + plen - 2, "/.") == 0));
        static char again[LKH_PATH_MAX];
        FUZZ_CHECK(lkh_normalize_path(path, again, sizeof again) && strcmp(again, path) == 0);
    } else {
        FUZZ_CHECK(path[0] == '\0');
    }

    FUZZ_CHECK((lkh_http_status((lk_status)(flags >> 3)) == 200) == (flags >> 3 == LK_OK));
    free(authz);
    free(apikey);
    free(peer);
    free(xff);
    free(svc);
    free(uri);
    free(ranges);
    free(map);
    return 0;
}
