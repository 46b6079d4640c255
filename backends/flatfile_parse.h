/*
 * flatfile_parse.h — the flat store's file format, split out so a fuzz
 * target (and the unit test) can run the parser on a memory buffer.
 * Internal to the library.
 *
 * Format:
 *   # latchkey flat store v1\n
 *   KEY<TAB>VALUE\n          one record per line, sorted by key bytes
 * Bytes outside 0x21..0x7e are written as %XX, except bytes >= 0x80 (kept so
 * UTF-8 stays readable) and, in values, spaces (kept so text reads
 * naturally; a trailing space is escaped so editors cannot strip it). '%'
 * is always escaped. The reader accepts %xx in either case.
 */
#ifndef LK_FLATFILE_PARSE_H
#define LK_FLATFILE_PARSE_H

#include <stddef.h>

#include "latchkey.h"

#define LK_FLATFILE_HEADER "# latchkey flat store v1"

/* One record; key and val point into the owning table's buffer. */
typedef struct lk_ff_entry {
    const char *key;
    size_t klen;
    const char *val;
    size_t vlen;
} lk_ff_entry;

/* Records sorted by key bytes, keys unique. */
typedef struct lk_ff_table {
    char *buf;          /* decoded keys and values */
    lk_ff_entry *ent;
    size_t n;
} lk_ff_table;

/* Parse a whole file image text[0..len) (any bytes). `name` (the path) is
 * only used in messages. On LK_OK *out holds the records (lines out of order
 * are sorted; duplicate keys are an error); release it with
 * lk_flatfile_table_free. On failure *out is empty and the message names
 * `name` and the line: LK_ERR_STORE for a malformed file, LK_ERR_NOMEM. */
lk_status lk_flatfile_parse(const char *name, const char *text, size_t len, lk_ff_table *out);
void lk_flatfile_table_free(lk_ff_table *t);

/* Encode records (sorted, unique keys) as a file image in one malloc'd
 * buffer (*out, *outlen; free with free()). LK_OK or LK_ERR_NOMEM. */
lk_status lk_flatfile_format(const lk_ff_entry *ent, size_t n, char **out, size_t *outlen);

/* Byte order of keys: memcmp, then the shorter first. */
int lk_ff_keycmp(const char *a, size_t alen, const char *b, size_t blen);

#endif
