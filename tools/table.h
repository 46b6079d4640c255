/*
 * table.h — readable text output: aligned tables (one row per item) and
 * "Label: value" listings (one item).
 *
 * Control characters in cells are shown as '?', so stored text can never
 * drive the terminal.
 */
#ifndef LK_TOOLS_TABLE_H
#define LK_TOOLS_TABLE_H

#include <stddef.h>
#include <stdio.h>

#define TABLE_MAX_COLS 12

struct table {
    size_t ncols;
    const char *head[TABLE_MAX_COLS];
    size_t max[TABLE_MAX_COLS]; /* a column's widest cell; 0: any width */
    char **cells; /* nrows * ncols copies */
    size_t nrows, cap;
    int oom;
};

void table_init(struct table *t, size_t ncols, const char *const *head);
/* Cells of column col wider than max are cut to max, ending in "…". */
void table_limit(struct table *t, size_t col, size_t max);
/* Copies the cells (NULL shows as "-"). */
void table_row(struct table *t, const char *const *cells);
/* 0, or -1 (nothing printed) when a row could not be stored (out of memory). */
int table_print(const struct table *t, FILE *f);
void table_free(struct table *t);

/* One "Label:   value" line, labels padded to a common width. */
void field_print(FILE *f, const char *label, const char *value);
/* Same for a secret: the value bypasses the stdio buffer (see secret_write_direct). */
void field_print_secret(FILE *f, const char *label, const char *value, size_t len);

#endif
