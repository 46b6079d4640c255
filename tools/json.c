/* json.c — streaming JSON writer with string escaping. */
#include "json.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

void jw_init(struct jw *w, FILE *f)
{
    w->f = f;
    w->depth = 0;
    w->first[0] = 1;
}

/* Separator and key before a member. */
static void member(struct jw *w, const char *key)
{
    if (!w->first[w->depth])
        fputc(',', w->f);
    w->first[w->depth] = 0;
    if (key) {
        jw_quote(w->f, key);
        fputc(':', w->f);
    }
}

static void open_level(struct jw *w, const char *key, int c)
{
    member(w, key);
    fputc(c, w->f);
    /* Deeper nesting than we ever produce is a programming error; keep
     * the output balanced anyway by not tracking the extra level. */
    if (w->depth + 1 < JW_MAX_DEPTH)
        w->first[++w->depth] = 1;
}

static void close_level(struct jw *w, int c)
{
    fputc(c, w->f);
    if (w->depth > 0)
        w->depth--;
}

void jw_obj(struct jw *w, const char *key) { open_level(w, key, '{'); }
void jw_obj_end(struct jw *w) { close_level(w, '}'); }
void jw_arr(struct jw *w, const char *key) { open_level(w, key, '['); }
void jw_arr_end(struct jw *w) { close_level(w, ']'); }

void jw_str(struct jw *w, const char *key, const char *s)
{
    member(w, key);
    jw_quote(w->f, s ? s : "");
}

void jw_u64(struct jw *w, const char *key, uint64_t v)
{
    member(w, key);
    fprintf(w->f, "%llu", (unsigned long long)v);
}

void jw_null(struct jw *w, const char *key)
{
    member(w, key);
    fputs("null", w->f);
}

void jw_strlist(struct jw *w, const char *key, char *const *items, size_t n)
{
    jw_arr(w, key);
    for (size_t i = 0; i < n; i++)
        jw_str(w, NULL, items[i]);
    jw_arr_end(w);
}

int jw_write_direct(FILE *f, const char *s, size_t len)
{
    if (fflush(f) != 0)
        return -1;
    int fd = fileno(f);
    while (len > 0) {
        ssize_t n = write(fd, s, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        s += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Generated secrets are base62 plus '-': nothing to escape. Anything else
 * goes through the escaping path instead of being written raw. */
static int plain_ascii(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
            return 0;
    }
    return 1;
}

void jw_secret(struct jw *w, const char *key, const char *s, size_t len)
{
    member(w, key);
    if (!plain_ascii(s, len) || strlen(s) != len) {
        jw_quote(w->f, s);
        return;
    }
    fputc('"', w->f);
    if (jw_write_direct(w->f, s, len) != 0)
        return; /* the caller sees the error through ferror/fflush at the end */
    fputc('"', w->f);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t n;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    /* overlong forms, surrogates, beyond U+10FFFF */
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

void jw_quote(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', f);
    while (*p) {
        unsigned char c = *p;
        switch (c) {
        case '"': fputs("\\\"", f); p++; continue;
        case '\\': fputs("\\\\", f); p++; continue;
        case '\n': fputs("\\n", f); p++; continue;
        case '\r': fputs("\\r", f); p++; continue;
        case '\t': fputs("\\t", f); p++; continue;
        case '\b': fputs("\\b", f); p++; continue;
        case '\f': fputs("\\f", f); p++; continue;
        default: break;
        }
        if (c < 0x20 || c == 0x7f) {
            fprintf(f, "\\u%04x", c);
            p++;
            continue;
        }
        size_t n = utf8_seq(p);
        if (n == 0) {
            fputs("\\ufffd", f);
            p++;
            continue;
        }
        fwrite(p, 1, n, f);
        p += n;
    }
    fputc('"', f);
}
