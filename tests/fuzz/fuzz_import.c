/*
 * fuzz_import — the input of `latchkey import` (tools/import_parse.c): CSV
 * with a header row or JSON lines, from a file an operator was handed.
 *
 * Input: any bytes, parsed as the command parses a file.
 *
 * Invariants:
 *  - nothing is read outside the input (an exact-size heap copy: ASan), no
 *    leak (LeakSanitizer), no undefined behaviour (UBSan);
 *  - a refusal has a message, NUL-terminated, and leaves nothing allocated
 *    once freed;
 *  - an accepted input has at least one item, each of a known type, with a
 *    UIN in 1..INT64_MAX, its line inside the input and lines increasing,
 *    fields no longer than IMPORT_MAX_FIELD, an API key with a name, lists
 *    as long as their counts;
 *  - the same input parses the same way twice;
 *  - the accepted rows written back as CSV (every field quoted) parse to the
 *    same fields.
 */
#include <inttypes.h>

#include "fuzz_common.h"
#include "import_parse.h"

#define NOW 1765000000 /* relative expiries count from a fixed time */

static size_t lines_in(const char *t, size_t n)
{
    size_t l = 1;
    for (size_t i = 0; i < n; i++)
        l += t[i] == '\n';
    return l;
}

static void check_batch(const struct import_batch *b, size_t nlines)
{
    FUZZ_CHECK(b->n >= 1 && b->items != NULL);
    for (size_t i = 0; i < b->n; i++) {
        const struct import_row *r = &b->rows[i];
        const lk_import_item *it = &b->items[i];
        FUZZ_CHECK(r->line >= 1 && r->line <= nlines);
        FUZZ_CHECK(i == 0 || r->line > b->rows[i - 1].line);
        FUZZ_CHECK((unsigned)it->kind <= LK_IMPORT_KEY);
        FUZZ_CHECK(it->uin >= 1 && it->uin <= (uint64_t)INT64_MAX);
        for (int c = 0; c < COL_COUNT_; c++)
            FUZZ_CHECK(r->field[c] == NULL || (r->field[c][0] != '\0' && strlen(r->field[c]) <= IMPORT_MAX_FIELD));
        if (it->kind == LK_IMPORT_APIKEY) {
            FUZZ_CHECK(it->apikey.name != NULL && it->apikey.name == r->field[COL_NAME]);
            FUZZ_CHECK(it->apikey.scope_count == r->scope.n && it->apikey.allow_ip_count == r->allow_ip.n);
            for (size_t k = 0; k < it->apikey.scope_count; k++)
                FUZZ_CHECK(it->apikey.scope[k] != NULL && strchr(it->apikey.scope[k], ',') == NULL);
        }
    }
}

/* Every accepted row as CSV, every column, every field quoted. */
static char *write_back(const struct import_batch *b, size_t *len)
{
    size_t cap = 256;
    for (size_t i = 0; i < b->n; i++)
        for (int c = 0; c < COL_COUNT_; c++)
            cap += 3 + (b->rows[i].field[c] ? 2 * strlen(b->rows[i].field[c]) : 0);
    char *t = malloc(cap), *w = t;
    FUZZ_CHECK(t != NULL);
    for (int c = 0; c < COL_COUNT_; c++)
        w += sprintf(w, "%s%s", c ? "," : "", import_col_name((enum import_col)c));
    *w++ = '\n';
    for (size_t i = 0; i < b->n; i++) {
        for (int c = 0; c < COL_COUNT_; c++) {
            const char *f = b->rows[i].field[c];
            if (c)
                *w++ = ',';
            if (f == NULL)
                continue;
            *w++ = '"';
            for (; *f; f++) {
                if (*f == '"')
                    *w++ = '"';
                *w++ = *f;
            }
            *w++ = '"';
        }
        *w++ = '\n';
    }
    *len = (size_t)(w - t);
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1);
    FUZZ_CHECK(text != NULL);
    memcpy(text, data, size);
    struct import_batch b, again;
    char err[IMPORT_ERR_MAX], err2[IMPORT_ERR_MAX];
    int rc = import_parse(text, size, NOW, &b, err, sizeof err);
    int rc2 = import_parse(text, size, NOW, &again, err2, sizeof err2);
    FUZZ_CHECK(rc == rc2);
    if (rc != 0) {
        FUZZ_CHECK(rc == -1 && err[0] != '\0' && memchr(err, '\0', sizeof err) != NULL);
        FUZZ_CHECK(strcmp(err, err2) == 0);
    } else {
        check_batch(&b, lines_in(text, size));
        FUZZ_CHECK(again.n == b.n && again.jsonl == b.jsonl);
        size_t len;
        char *csv = write_back(&b, &len);
        struct import_batch back;
        int rc3 = import_parse(csv, len, NOW, &back, err2, sizeof err2);
        if (rc3 != 0)
            fprintf(stderr, "written back: %s\n", err2);
        FUZZ_CHECK(rc3 == 0 && back.n == b.n);
        for (size_t i = 0; i < b.n; i++)
            for (int c = 0; c < COL_COUNT_; c++)
                FUZZ_CHECK((b.rows[i].field[c] == NULL) == (back.rows[i].field[c] == NULL) &&
                           (b.rows[i].field[c] == NULL || strcmp(b.rows[i].field[c], back.rows[i].field[c]) == 0));
        import_batch_free(&back);
        free(csv);
    }
    import_batch_free(&b);
    import_batch_free(&again);
    free(text);
    return 0;
}
