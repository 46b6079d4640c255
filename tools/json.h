/*
 * json.h — a small streaming JSON writer (compact, one line).
 *
 * Keys are NULL inside arrays. Strings are escaped and always come out as
 * valid UTF-8 (invalid bytes become U+FFFD), so the output stays parseable
 * whatever the store holds.
 */
#ifndef LK_TOOLS_JSON_H
#define LK_TOOLS_JSON_H

#include <stdint.h>
#include <stdio.h>

#define JW_MAX_DEPTH 16

struct jw {
    FILE *f;
    int depth;
    unsigned char first[JW_MAX_DEPTH]; /* no member written yet at this level */
};

void jw_init(struct jw *w, FILE *f);
void jw_obj(struct jw *w, const char *key);
void jw_obj_end(struct jw *w);
void jw_arr(struct jw *w, const char *key);
void jw_arr_end(struct jw *w);
void jw_str(struct jw *w, const char *key, const char *s);
void jw_u64(struct jw *w, const char *key, uint64_t v);
void jw_null(struct jw *w, const char *key);
void jw_strlist(struct jw *w, const char *key, char *const *items, size_t n);
/* A secret: written straight to the file descriptor, bypassing the stdio
 * buffer, so no copy of it stays in ordinary heap memory. */
void jw_secret(struct jw *w, const char *key, const char *s, size_t len);

/* Write s as a quoted, escaped JSON string. */
void jw_quote(FILE *f, const char *s);

/* Write s[0..len) straight to f's descriptor after flushing f. 0 or -1. */
int jw_write_direct(FILE *f, const char *s, size_t len);

#endif
