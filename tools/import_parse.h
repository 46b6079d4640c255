/*
 * import_parse.h — the input of `latchkey import`: users and keys to add,
 * as CSV with a header row or as JSON lines (one object per line), into the
 * items lk_import takes. The input is untrusted (a file from elsewhere): the
 * parser bounds what it reads and names the line and the column of the first
 * fault. It only parses; the library judges the values (names, scopes,
 * addresses, limits). Fuzzed by tests/fuzz/fuzz_import.c.
 *
 * Columns (CSV header names, JSON member names), after the options of the
 * single commands: type (user, apikey or key), uin (the user; an API key's
 * root account; an access key's owner), and
 *   user:   kind, root, login, self-service        (as `user add`)
 *   apikey: name, description, scope, allow-ip,
 *           expires, rate-limit                    (as `apikey create`)
 *   key:    expires                                (as `key create`)
 * An empty field is an absent one; a column that does not apply to a
 * line's type must be empty there.
 */
#ifndef LK_TOOLS_IMPORT_PARSE_H
#define LK_TOOLS_IMPORT_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "csv.h"
#include "latchkey.h"

#define IMPORT_MAX_BYTES ((size_t)64 << 20) /* the whole input */
#define IMPORT_MAX_ROWS 200000
#define IMPORT_MAX_FIELD 4096               /* bytes in one field */
#define IMPORT_ERR_MAX 320

enum import_col {
    COL_TYPE,
    COL_UIN,
    COL_KIND,
    COL_ROOT,
    COL_LOGIN,
    COL_SELF_SERVICE,
    COL_NAME,
    COL_DESCRIPTION,
    COL_SCOPE,
    COL_ALLOW_IP,
    COL_EXPIRES,
    COL_RATE_LIMIT,
    COL_COUNT_
};

struct import_row {
    size_t line;               /* where it starts in the input, from 1 */
    char *field[COL_COUNT_];   /* as given (malloc'd); NULL when absent or empty */
    struct csv scope, allow_ip; /* the lists, cut at the commas */
};

struct import_batch {
    struct import_row *rows;
    lk_import_item *items;     /* items[i] is rows[i]'s, pointing into it */
    size_t n, cap;
    int jsonl;                 /* the input was JSON lines (else CSV) */
};

/* The column's name ("self-service"). */
const char *import_col_name(enum import_col c);

/* Parse text[0..len) (any bytes) into *b; now is the time relative expiries
 * ("90d") count from. 0, or -1 with the first fault in err ("line 7:
 * column 'uin': ..."; "out of memory"). *b is freed with import_batch_free
 * either way. */
int import_parse(const char *text, size_t len, int64_t now, struct import_batch *b, char *err, size_t errsz);
void import_batch_free(struct import_batch *b);

#endif
