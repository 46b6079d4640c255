/*
 * fuzz_flatfile — the flat-file store reader and writer
 * (backends/flatfile_parse.h).
 *
 * The input is a whole file image (any bytes), as the store would read it
 * from disk after a crash, a bad edit or an attack.
 *
 * Invariants:
 *  - LK_OK or LK_ERR_STORE (LK_ERR_NOMEM tolerated); on failure the table
 *    is empty and the message names the file;
 *  - on success: entries strictly ascending by lk_ff_keycmp (sorted, unique),
 *    every pointer inside the table's buffer;
 *  - round trip: lk_flatfile_format(table) parses back to the same entries,
 *    and formatting that again gives the same bytes (a canonical form);
 *  - the formatted image starts with the header line, ends with '\n', and
 *    has no control byte other than '\n' line ends.
 */
#include <stdbool.h>

#include "fuzz_common.h"
#include "flatfile_parse.h"
#include "latchkey.h"

static void same_tables(const lk_ff_table *a, const lk_ff_table *b)
{
    FUZZ_CHECK(a->n == b->n);
    for (size_t i = 0; i < a->n; i++) {
        FUZZ_CHECK(a->ent[i].klen == b->ent[i].klen && a->ent[i].vlen == b->ent[i].vlen);
        FUZZ_CHECK(memcmp(a->ent[i].key, b->ent[i].key, a->ent[i].klen) == 0);
        FUZZ_CHECK(memcmp(a->ent[i].val, b->ent[i].val, a->ent[i].vlen) == 0);
    }
}

static void check_image(const char *img, size_t len)
{
    size_t hl = strlen(LK_FLATFILE_HEADER);
    FUZZ_CHECK(len >= hl + 1 && memcmp(img, LK_FLATFILE_HEADER, hl) == 0 && img[hl] == '\n');
    FUZZ_CHECK(img[len - 1] == '\n');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)img[i];
        FUZZ_CHECK(c == '\n' || c == '\t' || (c >= 0x20 && c != 0x7f));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lk_ff_table t, t2;
    char *text = malloc(size ? size : 1); /* exact size: no NUL after it */
    FUZZ_CHECK(text != NULL);
    memcpy(text, data, size);

    memset(&t, 0xa5, sizeof t);
    lk_status st = lk_flatfile_parse("fuzz.txt", text, size, &t);
    FUZZ_CHECK(st == LK_OK || st == LK_ERR_STORE || st == LK_ERR_NOMEM);
    if (st != LK_OK) {
        FUZZ_CHECK(t.n == 0);
        if (st == LK_ERR_STORE)
            FUZZ_CHECK(strstr(lk_errmsg(NULL), "fuzz.txt") != NULL);
        lk_flatfile_table_free(&t); /* freeing an empty table is harmless */
        free(text);
        return 0;
    }
    free(text); /* the table must not point into the input */

    for (size_t i = 0; i < t.n; i++) {
        FUZZ_CHECK(t.ent[i].key != NULL || t.ent[i].klen == 0);
        FUZZ_CHECK(t.ent[i].val != NULL || t.ent[i].vlen == 0);
        if (i > 0)
            FUZZ_CHECK(lk_ff_keycmp(t.ent[i - 1].key, t.ent[i - 1].klen, t.ent[i].key, t.ent[i].klen) < 0);
        /* touch every byte: ASan proves they are inside live memory */
        volatile unsigned sum = 0;
        for (size_t k = 0; k < t.ent[i].klen; k++)
            sum += (unsigned char)t.ent[i].key[k];
        for (size_t k = 0; k < t.ent[i].vlen; k++)
            sum += (unsigned char)t.ent[i].val[k];
        (void)sum;
    }

    char *img, *img2;
    size_t len, len2;
    FUZZ_CHECK(lk_flatfile_format(t.ent, t.n, &img, &len) == LK_OK);
    check_image(img, len);
    st = lk_flatfile_parse("fuzz.txt", img, len, &t2);
    if (st != LK_OK)
        fprintf(stderr, "re-parse of the formatted image failed: %s\n", lk_errmsg(NULL));
    FUZZ_CHECK(st == LK_OK);
    same_tables(&t, &t2);
    FUZZ_CHECK(lk_flatfile_format(t2.ent, t2.n, &img2, &len2) == LK_OK);
    FUZZ_CHECK(len2 == len && memcmp(img, img2, len) == 0);

    free(img);
    free(img2);
    lk_flatfile_table_free(&t);
    lk_flatfile_table_free(&t2);
    return 0;
}
