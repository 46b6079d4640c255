/* csv.c — split and join comma-separated lists. */
#include "csv.h"

#include <stdlib.h>
#include <string.h>

int csv_split(const char *s, struct csv *out)
{
    size_t n = 1;
    for (const char *p = s; *p; p++)
        n += *p == ',';
    out->buf = strdup(s);
    out->items = calloc(n, sizeof *out->items);
    out->n = 0;
    if (!out->buf || !out->items) {
        csv_free(out);
        return -1;
    }
    char *p = out->buf;
    for (;;) {
        out->items[out->n++] = p;
        char *comma = strchr(p, ',');
        if (!comma)
            break;
        *comma = '\0';
        p = comma + 1;
    }
    return 0;
}

void csv_free(struct csv *c)
{
    free(c->buf);
    free(c->items);
    c->buf = NULL;
    c->items = NULL;
    c->n = 0;
}

char *csv_join(char *const *items, size_t n, const char *empty)
{
    if (n == 0)
        return strdup(empty);
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += strlen(items[i]) + 1;
    char *s = malloc(len);
    if (!s)
        return NULL;
    char *p = s;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(items[i]);
        if (i)
            *p++ = ',';
        memcpy(p, items[i], l);
        p += l;
    }
    *p = '\0';
    return s;
}
