/* text.c — checks on user-supplied text: names, descriptions, service names. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lk_internal.h"

bool lk_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p;
        size_t n;
        unsigned min;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1, min = 0x80, c &= 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2, min = 0x800, c &= 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3, min = 0x10000, c &= 0x07;
        } else {
            return false;
        }
        if ((size_t)(end - p) <= n)
            return false;
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            c = (c << 6) | (p[i] & 0x3f);
        }
        /* overlong forms, surrogates and values past U+10FFFF are not UTF-8 */
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return false;
        p += n + 1;
    }
    return true;
}

/* Code points a terminal acts on instead of showing: C0 and C1 controls and
 * DEL; bidi embeddings, overrides, isolates and marks, which reorder the text
 * around them (a name can then read as something else); line and paragraph
 * separators. What kind, or NULL when c is plain text. */
static const char *invisible_kind(uint32_t c)
{
    if (c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f))
        return "a control character";
    if ((c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || c == 0x200e || c == 0x200f || c == 0x061c)
        return "a bidirectional formatting character";
    if (c == 0x2028 || c == 0x2029)
        return "a line separator";
    return NULL;
}

/* One code point of valid UTF-8 (lk_utf8_valid passed): its length. */
static size_t decode_valid(const unsigned char *p, uint32_t *cp)
{
    uint32_t c = *p;
    size_t n = c < 0x80 ? 0 : c < 0xe0 ? 1 : c < 0xf0 ? 2 : 3;
    if (n > 0)
        c &= 0x3fu >> n; /* the lead byte's payload bits */
    for (size_t i = 1; i <= n; i++)
        c = (c << 6) | (p[i] & 0x3f);
    *cp = c;
    return n + 1;
}

const char *lk_text_fault(const char *s, size_t len, char *buf, size_t bufsz)
{
    if (!lk_utf8_valid(s, len)) {
        snprintf(buf, bufsz, "is not valid UTF-8");
        return buf;
    }
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        uint32_t c;
        p += decode_valid(p, &c);
        const char *kind = invisible_kind(c);
        if (kind != NULL) {
            snprintf(buf, bufsz, "contains %s (U+%04X)", kind, (unsigned)c);
            return buf;
        }
    }
    return NULL;
}

/* White space, and the characters that show as nothing at all: a name made
 * of them looks empty, and one that begins or ends with them looks like
 * another name (names are unique and looked up exactly). */
static bool blank_cp(uint32_t c)
{
    return c == 0x20 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200b) || c == 0x202f || c == 0x205f ||
           c == 0x2060 || c == 0x3000 || c == 0xfeff;
}

const char *lk_name_fault(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    bool all_blank = true, first_blank = false, last_blank = false;
    for (bool first = true; p < end; first = false) {
        uint32_t c;
        p += decode_valid(p, &c);
        last_blank = blank_cp(c);
        if (first)
            first_blank = last_blank;
        all_blank = all_blank && last_blank;
    }
    if (len == 0 || all_blank)
        return "is empty or only white space";
    if (first_blank)
        return "begins with white space";
    if (last_blank)
        return "ends with white space";
    return NULL;
}

bool lk_text_ok(const char *s, size_t len)
{
    char why[80];
    return lk_text_fault(s, len, why, sizeof why) == NULL;
}

bool lk_service_name_ok(const char *s, size_t len)
{
    if (len == 0 || len > LK_SERVICE_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '.' || c == '_' ||
              c == ':' || c == '/' || c == '-'))
            return false;
    }
    return true;
}

/* ------------------------------------------------------------ credentials in messages
 *
 * A key pasted where an id or a name is expected must not reach a terminal
 * or a log in full. Whatever quotes untrusted text shows a credential's
 * public part only: a SecretId whole (36), an API key its lookup id (15),
 * a SecretKey nothing but "LKSK". */

typedef struct cred_span {
    size_t shown;  /* public characters from the start of the credential */
    size_t hidden; /* secret characters after them */
} cred_span;

static bool is_b62(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static size_t b62_run(const char *s)
{
    size_t n = 0;
    while (is_b62(s[n]))
        n++;
    return n;
}

/* Public characters of a credential with a public part: its prefix
 * (prefix_len), then base62 up to public_len, stopping before a SecretKey
 * prefix (a SecretKey glued on: the caller hides it next). */
static cred_span public_part(const char *s, size_t prefix_len, size_t public_len)
{
    size_t run = prefix_len + b62_run(s + prefix_len), shown = prefix_len;
    while (shown < run && shown < public_len && strncmp(s + shown, LK_SECRET_KEY_PREFIX, LK_PREFIX_LEN) != 0)
        shown++;
    cred_span c = {shown, shown == public_len ? run - shown : 0};
    return c;
}

/* The credential starting at s[i], if any ({0, 0}: none). */
static cred_span credential_at(const char *s, size_t i)
{
    static const cred_span none = {0, 0};
    const char *p = s + i;
    if (strncmp(p, LK_SECRET_KEY_PREFIX, LK_PREFIX_LEN) == 0) {
        cred_span c = {LK_PREFIX_LEN, b62_run(p + LK_PREFIX_LEN)};
        return c;
    }
    if (strncmp(p, LK_SECRET_ID_PREFIX, LK_PREFIX_LEN) == 0)
        return public_part(p, LK_PREFIX_LEN, LK_SECRET_ID_LEN);
    if (strncmp(p, LK_APIKEY_PREFIX, LK_APIKEY_PREFIX_LEN) == 0)
        return public_part(p, LK_APIKEY_PREFIX_LEN, LK_APIKEY_ID_LEN);
    /* "lk-" whose "lk" ended the run of the credential just shown (a
     * SecretId with an API key glued on) */
    if (p[0] == '-' && i >= 2 && s[i - 2] == 'l' && s[i - 1] == 'k')
        return public_part(p, 1, LK_APIKEY_ID_LEN - 2);
    return none;
}

const char *lk_redact(const char *text, char *buf, size_t bufsz)
{
    size_t o = 0, i = 0;
    if (buf == NULL || bufsz == 0)
        return "";
    if (text == NULL)
        text = "";
    while (text[i] != '\0' && o + 1 < bufsz) {
        cred_span c = credential_at(text, i);
        if (c.shown == 0) {
            buf[o++] = text[i++];
            continue;
        }
        for (size_t k = 0; k < c.shown && o + 1 < bufsz; k++)
            buf[o++] = text[i++];
        if (c.hidden > 0) { /* at most as many dots as characters hidden */
            for (size_t k = 0; k < 3 && k < c.hidden && o + 1 < bufsz; k++)
                buf[o++] = '.';
            i += c.hidden;
        }
    }
    buf[o] = '\0';
    return buf;
}

#define QUOTE_MAX_CHARS 40

const char *lk_quote(const char *s, char *buf, size_t bufsz)
{
    char safe[QUOTE_MAX_CHARS + 2]; /* one more than is shown: tells whether to cut */
    size_t o = 0, i = 0;
    if (bufsz < 8)
        return "";
    if (s == NULL) {
        snprintf(buf, bufsz, "(null)");
        return buf;
    }
    lk_redact(s, safe, sizeof safe);
    for (; safe[i] && i < QUOTE_MAX_CHARS && o + 5 < bufsz; i++) {
        unsigned char c = (unsigned char)safe[i];
        if (c >= 0x20 && c < 0x7f && c != '\'') {
            buf[o++] = (char)c;
        } else {
            o += (size_t)snprintf(buf + o, bufsz - o, "\\x%02x", c);
        }
    }
    if (safe[i] && o + 4 < bufsz) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}
