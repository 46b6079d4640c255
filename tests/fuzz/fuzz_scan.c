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
 *    no letter or digit right before or after it;
 *  - public_id is the SecretId / the API key's first 15 characters, "" for a
 *    SecretKey;
 *  - the count returned equals the finds reported, and a stop from the
 *    callback stops the scan;
 *  - a real key spliced in with a separator on both sides is always found.
 */
#include <ctype.h>

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
    FUZZ_CHECK(f->offset == 0 || !alnum_at(s->text, s->len, f->offset - 1));
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
    size_t extra = mode < 3 ? strlen(real[mode]) + 2 : 0;
    char *text = malloc(size + extra ? size + extra : 1);
    FUZZ_CHECK(text != NULL);
    seen s = {.text = text, .stop_after = (size_t)-1};
    size_t at = size ? where % (size + 1) : 0;
    memcpy(text, data, at);
    if (extra) { /* " KEY " at `at`: separators on both sides */
        text[at] = ' ';
        memcpy(text + at + 1, real[mode], extra - 2);
        text[at + extra - 1] = ' ';
        s.spliced_at = at + 1;
        s.spliced_len = extra - 2;
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
