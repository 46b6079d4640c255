/*
 * csv.h — comma-separated option values (--scope a,b  --allow-ip x,y) split
 * into the string arrays the library takes, and joined back for display.
 * Items are passed on as given (empty ones too): the library judges them.
 */
#ifndef LK_TOOLS_CSV_H
#define LK_TOOLS_CSV_H

#include <stddef.h>

struct csv {
    char *buf;          /* a copy of the value, cut at the commas */
    const char **items; /* pointers into buf */
    size_t n;
};

/* 0, or -1 on out of memory. */
int csv_split(const char *s, struct csv *out);
void csv_free(struct csv *c);

/* items joined with ","; `empty` when n == 0. malloc'd; NULL on out of memory. */
char *csv_join(char *const *items, size_t n, const char *empty);

#endif
