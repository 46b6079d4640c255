/*
 * fuzz_scan — the leaked-credential scanner (lk_scan_text, core/keyfmt.c).
 *
 * Input: any bytes, scanned as text. A real key of each kind is generated
 * once and, when the first byte says so, spliced into the input at a place
 * the input chooses, so the fuzzer explores the text around real finds.
 *
 * Invariants:
 *  - nothing is read outside the text (an exact-size heap copy: ASan);
 *  - every find lies inside the text, in order, without overlap, and is
 *    exactly what the format checks accept (prefix, length, checksum), with
 *    no letter or digit right after it, and none right before it unless an
 *    escape ends there (%3D, \n, \x3d, \u003d...);
 *  - public_id is the SecretId / the API key's first 15 characters, "" for a
 *    SecretKey;
 *  - the count returned equals the finds reported, and a stop from the
 *    callback stops the scan;
 *  - a real key spliced in with a separator on both sides is always found,
 *    also when the separator before it is an escape ending in a letter or
 *    digit (URL encoding, JSON and C escapes: issue 19, finding 7).
 */
#include <ctype.h>
#include <strings.h>

#include "fuzz_common.h"
#include "lk_internal.h"

static char real[3][LK_APIKEY_LEN + 1];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    lk_keyfmt_new_secret_id(real[0]);
    lk_keyfmt_new_secret_key(real[1]);
    lk_keyfmt_new_apikey(real[2]);
    return 0;
}

typedef struct seen {
    const char *text;
    size_t len, n, end, stop_after;
    size_t spliced_at, spliced_len; /* 0 len: none */
    bool spliced_found;
} seen;

static bool alnum_at(const char *t, size_t len, size_t i)
{
    return i < len && isalnum((unsigned char)t[i]);
}

/* Escapes that stand for a separator (what lk_scan_text accepts before a key). */
static const char *const escapes[] = {"%3D", "%3d", "%20", "\\n", "\\t", "\\r", "\\x3d", "\\u003d"};
#define N_ESCAPES (sizeof escapes / sizeof escapes[0])

static bool escape_ends_at(const char *t, size_t i)
{
    for (size_t k = 0; k < N_ESCAPES; k++) {
        size_t el = strlen(escapes[k]);
        if (i >= el && strncasecmp(t + i - el, escapes[k], el) == 0)
            return true;
    }
    /* the scanner takes any hex digits after % and \x, \u, and more letters after \ */
    return (i >= 3 && t[i - 3] == '%' && isxdigit((unsigned char)t[i - 2]) && isxdigit((unsigned char)t[i - 1])) ||
           (i >= 4 && t[i - 4] == '\\' && t[i - 3] == 'x' && isxdigit((unsigned char)t[i - 2]) &&
            isxdigit((unsigned char)t[i - 1])) ||
           (i >= 6 && t[i - 6] == '\\' && t[i - 5] == 'u' && isxdigit((unsigned char)t[i - 4]) &&
            isxdigit((unsigned char)t[i - 3]) && isxdigit((unsigned char)t[i - 2]) &&
            isxdigit((unsigned char)t[i - 1])) ||
           (i >= 2 && t[i - 2] == '\\' && t[i - 1] != '\0' && strchr("nrtbfv0", t[i - 1]) != NULL);
}

static int check(void *arg, const lk_found_cred *f)
{
    seen *s = arg;
    FUZZ_CHECK(f->offset >= s->end && f->len <= s->len && f->offset <= s->len - f->len);
    const char *p = s->text + f->offset;
    switch (f->kind) {
    case LK_CRED_SECRET_ID:
        FUZZ_CHECK(f->len == LK_SECRET_ID_LEN && lk_keyfmt_secret_id_ok(p, f->len));
        FUZZ_CHECK(strlen(f->public_id) == LK_SECRET_ID_LEN && memcmp(f->public_id, p, f->len) == 0);
        break;
    case LK_CRED_SECRET_KEY:
        FUZZ_CHECK(f->len == LK_SECRET_KEY_LEN && lk_keyfmt_secret_key_ok(p, f->len));
        FUZZ_CHECK(f->public_id[0] == '\0');
        break;
    case LK_CRED_APIKEY:
        FUZZ_CHECK(f->len == LK_APIKEY_LEN && lk_keyfmt_apikey_ok(p, f->len));
        FUZZ_CHECK(strlen(f->public_id) == LK_APIKEY_ID_LEN && memcmp(f->public_id, p, LK_APIKEY_ID_LEN) == 0);
        break;
    default:
        FUZZ_CHECK(!"unknown kind");
    }
    FUZZ_CHECK(f->offset == 0 || !alnum_at(s->text, s->len, f->offset - 1) || escape_ends_at(s->text, f->offset));
    FUZZ_CHECK(!alnum_at(s->text, s->len, f->offset + f->len));
    if (s->spliced_len && f->offset == s->spliced_at && f->len == s->spliced_len)
        s->spliced_found = true;
    s->end = f->offset + f->len;
    s->n++;
    return s->n == s->stop_after;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t mode = data[0], where = data[1];
    data += 2, size -= 2;
    /* modes 0-2: " KEY "; 3-5: ESCAPE KEY " " (an escape right before it) */
    const char *before = mode < 3 ? " " : mode < 6 ? escapes[where % N_ESCAPES] : "";
    const char *key = mode < 6 ? real[mode % 3] : "";
    size_t bl = strlen(before), extra = mode < 6 ? bl + strlen(key) + 1 : 0;
    char *text = malloc(size + extra ? size + extra : 1);
    FUZZ_CHECK(text != NULL);
    seen s = {.text = text, .stop_after = (size_t)-1};
    size_t at = size ? where % (size + 1) : 0;
    memcpy(text, data, at);
    if (extra) { /* separators on both sides */
        memcpy(text + at, before, bl);
        memcpy(text + at + bl, key, extra - bl - 1);
        text[at + extra - 1] = ' ';
        s.spliced_at = at + bl;
        s.spliced_len = extra - bl - 1;
    }
    memcpy(text + at + extra, data + at, size - at);
    s.len = size + extra;
    size_t n = lk_scan_text(text, s.len, check, &s);
    FUZZ_CHECK(n == s.n);
    FUZZ_CHECK(!s.spliced_len || s.spliced_found);
    /* a stop after the first find reports exactly one */
    if (n > 0) {
        seen one = {.text = text, .len = s.len, .stop_after = 1};
        FUZZ_CHECK(lk_scan_text(text, s.len, check, &one) == 1 && one.n == 1);
    }
    FUZZ_CHECK(lk_scan_text(text, s.len, NULL, NULL) == n);
    free(text);
    return 0;
}
