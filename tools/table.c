/* table.c — aligned text tables and label/value listings. */
#include "table.h"

#include <stdlib.h>
#include <string.h>

#include "secret_in.h"

#define FIELD_LABEL_WIDTH 20 /* "RerolledExpireTime:", the longest label, and a space */

void table_init(struct table *t, size_t ncols, const char *const *head)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols < TABLE_MAX_COLS ? ncols : TABLE_MAX_COLS;
    for (size_t i = 0; i < t->ncols; i++)
        t->head[i] = head[i];
}

void table_row(struct table *t, const char *const *cells)
{
    if (t->oom)
        return;
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **n = realloc(t->cells, cap * t->ncols * sizeof *n);
        if (!n) {
            t->oom = 1;
            return;
        }
        t->cells = n;
        t->cap = cap;
    }
    char **row = t->cells + t->nrows * t->ncols;
    for (size_t i = 0; i < t->ncols; i++) {
        row[i] = strdup(cells[i] ? cells[i] : "-");
        if (!row[i]) {
            for (size_t j = 0; j < i; j++)
                free(row[j]);
            t->oom = 1;
            return;
        }
    }
    t->nrows++;
}

/* Display width: UTF-8 code points (continuation bytes do not count). */
static size_t text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

void table_limit(struct table *t, size_t col, size_t max)
{
    if (col < t->ncols) /* never narrower than its heading */
        t->max[col] = max > text_width(t->head[col]) ? max : text_width(t->head[col]);
}

static void put_clean(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        fputc(c < 0x20 || c == 0x7f ? '?' : c, f);
    }
}

/* s cut to max code points (0: whole), its last one "…" when cut; the width written. */
static size_t put_cut(FILE *f, const char *s, size_t max)
{
    size_t w = text_width(s);
    if (max == 0 || w <= max) {
        put_clean(f, s);
        return w;
    }
    size_t n = 0;
    for (const char *p = s; *p; p++) {
        if (((unsigned char)*p & 0xc0) != 0x80 && ++n == max)
            break;
        unsigned char c = (unsigned char)*p;
        fputc(c < 0x20 || c == 0x7f ? '?' : c, f);
    }
    fputs("\u2026", f);
    return max;
}

static void put_cell(FILE *f, const char *s, size_t width, size_t max, int last)
{
    size_t w = put_cut(f, s, max);
    if (last)
        return;
    for (; w < width + 2; w++)
        fputc(' ', f);
}

int table_print(const struct table *t, FILE *f)
{
    size_t width[TABLE_MAX_COLS];
    if (t->oom)
        return -1; /* a table missing rows would mislead: print nothing */
    for (size_t c = 0; c < t->ncols; c++) {
        width[c] = text_width(t->head[c]);
        for (size_t r = 0; r < t->nrows; r++) {
            size_t w = text_width(t->cells[r * t->ncols + c]);
            if (w > width[c])
                width[c] = w;
        }
        if (t->max[c] != 0 && width[c] > t->max[c])
            width[c] = t->max[c];
    }
    for (size_t c = 0; c < t->ncols; c++)
        put_cell(f, t->head[c], width[c], 0, c + 1 == t->ncols);
    fputc('\n', f);
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++)
            put_cell(f, t->cells[r * t->ncols + c], width[c], t->max[c], c + 1 == t->ncols);
        fputc('\n', f);
    }
    return 0;
}

void table_free(struct table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->nrows = t->cap = 0;
}

static void put_label(FILE *f, const char *label)
{
    fputs(label, f);
    fputc(':', f);
    for (size_t w = strlen(label) + 1; w < FIELD_LABEL_WIDTH; w++)
        fputc(' ', f);
    fputc(' ', f);
}

void field_print(FILE *f, const char *label, const char *value)
{
    put_label(f, label);
    put_clean(f, value ? value : "-");
    fputc('\n', f);
}

void field_print_secret(FILE *f, const char *label, const char *value, size_t len)
{
    put_label(f, label);
    if (secret_write_direct(f, value, len) == 0)
        fputc('\n', f);
}
